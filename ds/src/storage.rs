//! Where openmls keeps a public group between calls: nowhere.
//!
//! openmls writes a public group's state (ratchet tree, group context, transcript hash,
//! confirmation tag, queued proposals) to its storage provider after every change, so that the
//! group can be loaded again later (`PublicGroup::load`). The delivery service keeps each group
//! in memory for as long as its room lives and never loads one, and the state it holds is
//! authoritative in the `PublicGroup` itself (processing reads nothing back). Serializing the
//! whole tree on every commit was most of the cost of verifying one in a room of a few hundred,
//! so this provider accepts every write and keeps nothing. Reads find nothing, which only
//! `load` would notice.

use std::convert::Infallible;

use openmls_traits::public_storage::PublicStorageProvider;
use openmls_traits::storage::{CURRENT_VERSION, traits};

/// A [`PublicStorageProvider`] that keeps nothing (see the module docs).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSnapshots;

/// Never happens: nothing is stored, so nothing can fail.
#[derive(Debug, thiserror::Error)]
#[error("unreachable")]
pub struct Never(Infallible);

const V: u16 = CURRENT_VERSION;

impl PublicStorageProvider<V> for NoSnapshots {
    type PublicError = Never;

    fn write_tree<G: traits::GroupId<V>, T: traits::TreeSync<V>>(
        &self,
        _: &G,
        _: &T,
    ) -> Result<(), Never> {
        Ok(())
    }

    fn write_interim_transcript_hash<G: traits::GroupId<V>, H: traits::InterimTranscriptHash<V>>(
        &self,
        _: &G,
        _: &H,
    ) -> Result<(), Never> {
        Ok(())
    }

    fn write_context<G: traits::GroupId<V>, C: traits::GroupContext<V>>(
        &self,
        _: &G,
        _: &C,
    ) -> Result<(), Never> {
        Ok(())
    }

    fn write_confirmation_tag<G: traits::GroupId<V>, T: traits::ConfirmationTag<V>>(
        &self,
        _: &G,
        _: &T,
    ) -> Result<(), Never> {
        Ok(())
    }

    fn queue_proposal<
        G: traits::GroupId<V>,
        R: traits::ProposalRef<V>,
        P: traits::QueuedProposal<V>,
    >(
        &self,
        _: &G,
        _: &R,
        _: &P,
    ) -> Result<(), Never> {
        Ok(())
    }

    fn queued_proposals<
        G: traits::GroupId<V>,
        R: traits::ProposalRef<V>,
        P: traits::QueuedProposal<V>,
    >(
        &self,
        _: &G,
    ) -> Result<Vec<(R, P)>, Never> {
        Ok(Vec::new())
    }

    fn tree<G: traits::GroupId<V>, T: traits::TreeSync<V>>(
        &self,
        _: &G,
    ) -> Result<Option<T>, Never> {
        Ok(None)
    }

    fn group_context<G: traits::GroupId<V>, C: traits::GroupContext<V>>(
        &self,
        _: &G,
    ) -> Result<Option<C>, Never> {
        Ok(None)
    }

    fn interim_transcript_hash<G: traits::GroupId<V>, H: traits::InterimTranscriptHash<V>>(
        &self,
        _: &G,
    ) -> Result<Option<H>, Never> {
        Ok(None)
    }

    fn confirmation_tag<G: traits::GroupId<V>, T: traits::ConfirmationTag<V>>(
        &self,
        _: &G,
    ) -> Result<Option<T>, Never> {
        Ok(None)
    }

    fn delete_tree<G: traits::GroupId<V>>(&self, _: &G) -> Result<(), Never> {
        Ok(())
    }

    fn delete_confirmation_tag<G: traits::GroupId<V>>(&self, _: &G) -> Result<(), Never> {
        Ok(())
    }

    fn delete_context<G: traits::GroupId<V>>(&self, _: &G) -> Result<(), Never> {
        Ok(())
    }

    fn delete_interim_transcript_hash<G: traits::GroupId<V>>(&self, _: &G) -> Result<(), Never> {
        Ok(())
    }

    fn remove_proposal<G: traits::GroupId<V>, R: traits::ProposalRef<V>>(
        &self,
        _: &G,
        _: &R,
    ) -> Result<(), Never> {
        Ok(())
    }

    fn clear_proposal_queue<G: traits::GroupId<V>, R: traits::ProposalRef<V>>(
        &self,
        _: &G,
    ) -> Result<(), Never> {
        Ok(())
    }
}
