//! Where openmls keeps a member's state between calls: the keys, and nothing else.
//!
//! openmls writes a group's whole state to its storage provider after every change (the
//! ratchet tree, the secret tree of every sender's message ratchets, the group context and
//! transcript, ...) so that the group can be loaded again later (`MlsGroup::load`). A Veil
//! member lives as long as its meeting, in memory, and never loads a group: the `MlsGroup` it
//! holds is authoritative, and processing reads none of that state back (openmls 0.9 reads it
//! only in `load`). Serializing it (as JSON, in the memory store) on every commit and every
//! application message was most of a member's work in a room of a few hundred, so this store
//! drops those snapshots and keeps only what openmls does read back while running: signature
//! and encryption key pairs, key packages (their private keys open a Welcome), pre-shared keys
//! and the proposal queue.
//!
//! The list of what is dropped is the trait's list of group-state methods; a new openmls
//! version that reads one of them outside `load` would show up in the session tests, which
//! run members through every kind of commit.

use openmls_memory_storage::{MemoryStorage, MemoryStorageError};
use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use openmls_traits::storage::{CURRENT_VERSION, StorageProvider, traits};

const V: u16 = CURRENT_VERSION;

/// A member's openmls provider: Rust crypto, and the [`KeyStore`].
#[derive(Debug, Default)]
pub struct Provider {
    crypto: RustCrypto,
    storage: KeyStore,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = KeyStore;

    fn storage(&self) -> &KeyStore {
        &self.storage
    }

    fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }

    fn rand(&self) -> &RustCrypto {
        &self.crypto
    }
}

/// Keys and proposals in memory; group-state snapshots dropped (see the module docs).
#[derive(Debug, Default)]
pub struct KeyStore {
    keys: MemoryStorage,
}

impl StorageProvider<V> for KeyStore {
    type Error = MemoryStorageError;

    fn write_mls_join_config<
        GroupId: traits::GroupId<V>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<V>,
    >(
        &self,
        _group_id: &GroupId,
        _config: &MlsGroupJoinConfig,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn append_own_leaf_node<GroupId: traits::GroupId<V>, LeafNode: traits::LeafNode<V>>(
        &self,
        _group_id: &GroupId,
        _leaf_node: &LeafNode,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn queue_proposal<
        GroupId: traits::GroupId<V>,
        ProposalRef: traits::ProposalRef<V>,
        QueuedProposal: traits::QueuedProposal<V>,
    >(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
        proposal: &QueuedProposal,
    ) -> Result<(), MemoryStorageError> {
        self.keys.queue_proposal(group_id, proposal_ref, proposal)
    }

    fn write_tree<GroupId: traits::GroupId<V>, TreeSync: traits::TreeSync<V>>(
        &self,
        _group_id: &GroupId,
        _tree: &TreeSync,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_interim_transcript_hash<
        GroupId: traits::GroupId<V>,
        InterimTranscriptHash: traits::InterimTranscriptHash<V>,
    >(
        &self,
        _group_id: &GroupId,
        _interim_transcript_hash: &InterimTranscriptHash,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_context<GroupId: traits::GroupId<V>, GroupContext: traits::GroupContext<V>>(
        &self,
        _group_id: &GroupId,
        _group_context: &GroupContext,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_confirmation_tag<
        GroupId: traits::GroupId<V>,
        ConfirmationTag: traits::ConfirmationTag<V>,
    >(
        &self,
        _group_id: &GroupId,
        _confirmation_tag: &ConfirmationTag,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_group_state<GroupState: traits::GroupState<V>, GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
        _group_state: &GroupState,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_message_secrets<
        GroupId: traits::GroupId<V>,
        MessageSecrets: traits::MessageSecrets<V>,
    >(
        &self,
        _group_id: &GroupId,
        _message_secrets: &MessageSecrets,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_resumption_psk_store<
        GroupId: traits::GroupId<V>,
        ResumptionPskStore: traits::ResumptionPskStore<V>,
    >(
        &self,
        _group_id: &GroupId,
        _resumption_psk_store: &ResumptionPskStore,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_own_leaf_index<
        GroupId: traits::GroupId<V>,
        LeafNodeIndex: traits::LeafNodeIndex<V>,
    >(
        &self,
        _group_id: &GroupId,
        _own_leaf_index: &LeafNodeIndex,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_group_epoch_secrets<
        GroupId: traits::GroupId<V>,
        GroupEpochSecrets: traits::GroupEpochSecrets<V>,
    >(
        &self,
        _group_id: &GroupId,
        _group_epoch_secrets: &GroupEpochSecrets,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn write_signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<V>,
        SignatureKeyPair: traits::SignatureKeyPair<V>,
    >(
        &self,
        public_key: &SignaturePublicKey,
        signature_key_pair: &SignatureKeyPair,
    ) -> Result<(), MemoryStorageError> {
        self.keys.write_signature_key_pair(public_key, signature_key_pair)
    }

    fn write_encryption_key_pair<
        EncryptionKey: traits::EncryptionKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        public_key: &EncryptionKey,
        key_pair: &HpkeKeyPair,
    ) -> Result<(), MemoryStorageError> {
        self.keys.write_encryption_key_pair(public_key, key_pair)
    }

    fn write_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
        key_pairs: &[HpkeKeyPair],
    ) -> Result<(), MemoryStorageError> {
        self.keys.write_encryption_epoch_key_pairs(group_id, epoch, leaf_index, key_pairs)
    }

    fn write_key_package<
        HashReference: traits::HashReference<V>,
        KeyPackage: traits::KeyPackage<V>,
    >(
        &self,
        hash_ref: &HashReference,
        key_package: &KeyPackage,
    ) -> Result<(), MemoryStorageError> {
        self.keys.write_key_package(hash_ref, key_package)
    }

    fn write_psk<PskId: traits::PskId<V>, PskBundle: traits::PskBundle<V>>(
        &self,
        psk_id: &PskId,
        psk: &PskBundle,
    ) -> Result<(), MemoryStorageError> {
        self.keys.write_psk(psk_id, psk)
    }

    fn mls_group_join_config<
        GroupId: traits::GroupId<V>,
        MlsGroupJoinConfig: traits::MlsGroupJoinConfig<V>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<MlsGroupJoinConfig>, MemoryStorageError> {
        Ok(None)
    }

    fn own_leaf_nodes<GroupId: traits::GroupId<V>, LeafNode: traits::LeafNode<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<Vec<LeafNode>, MemoryStorageError> {
        Ok(Vec::new())
    }

    fn queued_proposal_refs<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<ProposalRef>, MemoryStorageError> {
        self.keys.queued_proposal_refs(group_id)
    }

    fn queued_proposals<
        GroupId: traits::GroupId<V>,
        ProposalRef: traits::ProposalRef<V>,
        QueuedProposal: traits::QueuedProposal<V>,
    >(
        &self,
        group_id: &GroupId,
    ) -> Result<Vec<(ProposalRef, QueuedProposal)>, MemoryStorageError> {
        self.keys.queued_proposals(group_id)
    }

    fn tree<GroupId: traits::GroupId<V>, TreeSync: traits::TreeSync<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<TreeSync>, MemoryStorageError> {
        Ok(None)
    }

    fn group_context<GroupId: traits::GroupId<V>, GroupContext: traits::GroupContext<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<GroupContext>, MemoryStorageError> {
        Ok(None)
    }

    fn interim_transcript_hash<
        GroupId: traits::GroupId<V>,
        InterimTranscriptHash: traits::InterimTranscriptHash<V>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<InterimTranscriptHash>, MemoryStorageError> {
        Ok(None)
    }

    fn confirmation_tag<
        GroupId: traits::GroupId<V>,
        ConfirmationTag: traits::ConfirmationTag<V>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<ConfirmationTag>, MemoryStorageError> {
        Ok(None)
    }

    fn group_state<GroupState: traits::GroupState<V>, GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<GroupState>, MemoryStorageError> {
        Ok(None)
    }

    fn message_secrets<GroupId: traits::GroupId<V>, MessageSecrets: traits::MessageSecrets<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<MessageSecrets>, MemoryStorageError> {
        Ok(None)
    }

    fn resumption_psk_store<
        GroupId: traits::GroupId<V>,
        ResumptionPskStore: traits::ResumptionPskStore<V>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<ResumptionPskStore>, MemoryStorageError> {
        Ok(None)
    }

    fn own_leaf_index<GroupId: traits::GroupId<V>, LeafNodeIndex: traits::LeafNodeIndex<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<LeafNodeIndex>, MemoryStorageError> {
        Ok(None)
    }

    fn group_epoch_secrets<
        GroupId: traits::GroupId<V>,
        GroupEpochSecrets: traits::GroupEpochSecrets<V>,
    >(
        &self,
        _group_id: &GroupId,
    ) -> Result<Option<GroupEpochSecrets>, MemoryStorageError> {
        Ok(None)
    }

    fn signature_key_pair<
        SignaturePublicKey: traits::SignaturePublicKey<V>,
        SignatureKeyPair: traits::SignatureKeyPair<V>,
    >(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<Option<SignatureKeyPair>, MemoryStorageError> {
        self.keys.signature_key_pair(public_key)
    }

    fn encryption_key_pair<
        HpkeKeyPair: traits::HpkeKeyPair<V>,
        EncryptionKey: traits::EncryptionKey<V>,
    >(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<Option<HpkeKeyPair>, MemoryStorageError> {
        self.keys.encryption_key_pair(public_key)
    }

    fn encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
        HpkeKeyPair: traits::HpkeKeyPair<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<Vec<HpkeKeyPair>, MemoryStorageError> {
        self.keys.encryption_epoch_key_pairs(group_id, epoch, leaf_index)
    }

    fn key_package<KeyPackageRef: traits::HashReference<V>, KeyPackage: traits::KeyPackage<V>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<Option<KeyPackage>, MemoryStorageError> {
        self.keys.key_package(hash_ref)
    }

    fn psk<PskBundle: traits::PskBundle<V>, PskId: traits::PskId<V>>(
        &self,
        psk_id: &PskId,
    ) -> Result<Option<PskBundle>, MemoryStorageError> {
        self.keys.psk(psk_id)
    }

    fn remove_proposal<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
        proposal_ref: &ProposalRef,
    ) -> Result<(), MemoryStorageError> {
        self.keys.remove_proposal(group_id, proposal_ref)
    }

    fn delete_own_leaf_nodes<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_group_config<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_tree<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_confirmation_tag<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_group_state<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_context<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_interim_transcript_hash<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_message_secrets<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_all_resumption_psk_secrets<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_own_leaf_index<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn delete_group_epoch_secrets<GroupId: traits::GroupId<V>>(
        &self,
        _group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        Ok(())
    }

    fn clear_proposal_queue<GroupId: traits::GroupId<V>, ProposalRef: traits::ProposalRef<V>>(
        &self,
        group_id: &GroupId,
    ) -> Result<(), MemoryStorageError> {
        self.keys.clear_proposal_queue::<GroupId, ProposalRef>(group_id)
    }

    fn delete_signature_key_pair<SignaturePublicKey: traits::SignaturePublicKey<V>>(
        &self,
        public_key: &SignaturePublicKey,
    ) -> Result<(), MemoryStorageError> {
        self.keys.delete_signature_key_pair(public_key)
    }

    fn delete_encryption_key_pair<EncryptionKey: traits::EncryptionKey<V>>(
        &self,
        public_key: &EncryptionKey,
    ) -> Result<(), MemoryStorageError> {
        self.keys.delete_encryption_key_pair(public_key)
    }

    fn delete_encryption_epoch_key_pairs<
        GroupId: traits::GroupId<V>,
        EpochKey: traits::EpochKey<V>,
    >(
        &self,
        group_id: &GroupId,
        epoch: &EpochKey,
        leaf_index: u32,
    ) -> Result<(), MemoryStorageError> {
        self.keys.delete_encryption_epoch_key_pairs(group_id, epoch, leaf_index)
    }

    fn delete_key_package<KeyPackageRef: traits::HashReference<V>>(
        &self,
        hash_ref: &KeyPackageRef,
    ) -> Result<(), MemoryStorageError> {
        self.keys.delete_key_package(hash_ref)
    }

    fn delete_psk<PskKey: traits::PskId<V>>(
        &self,
        psk_id: &PskKey,
    ) -> Result<(), MemoryStorageError> {
        self.keys.delete_psk(psk_id)
    }
}
