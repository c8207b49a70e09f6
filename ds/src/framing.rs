//! The clear header of MLS PublicMessages and PrivateMessages: group, epoch, content type.
//!
//! The delivery service reads it to route application messages (which it cannot decrypt) and
//! to tell one kind of handshake message from another before verifying it.

use openmls::prelude::{ContentType, MlsMessageBodyIn, MlsMessageIn, ProtocolMessage};
use tls_codec::Deserialize as _;

/// The content type of a handshake or application message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// An MLS application message: names, chat.
    Application,
    /// A standalone proposal.
    Proposal,
    /// A commit: the one per epoch the server must order.
    Commit,
}

/// The clear framing header of an MLS PublicMessage or PrivateMessage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framing {
    /// The group (meeting) the message belongs to.
    pub group_id: Vec<u8>,
    /// The epoch the message was made in.
    pub epoch: u64,
    /// What the message carries.
    pub content: ContentKind,
}

/// Reads group id, epoch and content type of a serialized MLS message; `None` if the bytes
/// are not a PublicMessage or PrivateMessage (a Welcome, a KeyPackage, or garbage).
pub fn read(bytes: &[u8]) -> Option<Framing> {
    let message: ProtocolMessage = match MlsMessageIn::tls_deserialize_exact(bytes).ok()?.extract()
    {
        MlsMessageBodyIn::PublicMessage(m) => m.into(),
        MlsMessageBodyIn::PrivateMessage(m) => m.into(),
        _ => return None,
    };
    let content = match message.content_type() {
        ContentType::Application => ContentKind::Application,
        ContentType::Proposal => ContentKind::Proposal,
        ContentType::Commit => ContentKind::Commit,
    };
    Some(Framing {
        group_id: message.group_id().to_vec(),
        epoch: message.epoch().as_u64(),
        content,
    })
}
