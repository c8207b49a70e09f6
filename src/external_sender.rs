//! The server's MLS external-sender key, for signaling's delivery service.
//!
//! Signaling never parses MLS; it asks this key for signed Remove proposals when someone leaves.
//! A fresh key per process is enough for one node: groups live only as long as their rooms,
//! which a restart ends anyway.

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use veil_e2ee::ds::ExternalSender;
use veil_proto::signal::ExternalSenderKey;

/// openmls-backed [`veil_signaling::ExternalSender`].
pub struct DeliveryServiceKey(ExternalSender);

impl DeliveryServiceKey {
    pub fn generate() -> anyhow::Result<Self> {
        let key =
            ExternalSender::generate().context("cannot create the MLS external-sender key")?;
        Ok(Self(key))
    }
}

impl veil_signaling::ExternalSender for DeliveryServiceKey {
    fn key(&self) -> ExternalSenderKey {
        let info = self.0.info();
        ExternalSenderKey {
            signature_key: B64.encode(info.signature_key),
            identity: B64.encode(info.identity),
        }
    }

    fn remove_proposal(&self, group_id: &[u8], epoch: u64, leaf: u32) -> Result<Vec<u8>, String> {
        self.0.remove_proposal(group_id, epoch, leaf).map_err(|e| e.to_string())
    }
}
