use super::*;

const SECRET_A: [u8; 16] = [0xa5; 16];
const SECRET_B: [u8; 16] = [0x5b; 16];

fn ring(epoch: u64, secret: &[u8], leaf: u32) -> KeyRing {
    let mut ring = KeyRing::new();
    ring.set_epoch(epoch, secret, leaf, 0).unwrap();
    ring
}

#[test]
fn round_trip_keeps_metadata_clear_and_names_the_sender() {
    let mut alice = ring(7, &SECRET_A, 3);
    let mut bob = ring(7, &SECRET_A, 1);
    let frame = b"VP8HEADER!the secret picture";

    let sealed = alice.encrypt(1, 10, frame).unwrap();
    assert_eq!(&sealed[..10], &frame[..10], "metadata stays in the clear");
    assert!(!sealed.windows(6).any(|w| w == b"secret"), "payload is encrypted");
    // header: KID = 1 << 24 | 3 << 8 | 7, CTR 0
    assert_eq!(rfc::decode_header(&sealed[10..]).map(|h| (h.0, h.1)), Some((0x0100_0307, 0)));

    let opened = bob.decrypt(10, &sealed).unwrap();
    assert_eq!(opened.plaintext, frame);
    assert_eq!((opened.sender_leaf, opened.epoch, opened.context_id), (3, 7, 1));
}

#[test]
fn each_context_counts_on_its_own() {
    let mut alice = ring(1, &SECRET_A, 0);
    let ctrs: Vec<(u64, u64)> = [0u8, 0, 1, 0, 1]
        .iter()
        .map(|&ctx| {
            let sealed = alice.encrypt(ctx, 0, b"x").unwrap();
            let (kid, ctr, _) = rfc::decode_header(&sealed).unwrap();
            (kid >> 24, ctr)
        })
        .collect();
    assert_eq!(ctrs, [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1)]);
}

#[test]
fn a_new_epoch_restarts_counters_under_a_new_kid() {
    let mut alice = ring(1, &SECRET_A, 0);
    alice.encrypt(0, 0, b"x").unwrap();
    alice.set_epoch(2, &SECRET_B, 0, 5).unwrap();
    let sealed = alice.encrypt(0, 0, b"x").unwrap();
    assert_eq!(rfc::decode_header(&sealed).map(|h| (h.0, h.1)), Some((2, 0)));
}

#[test]
fn set_epoch_refuses_going_back_or_rekeying_an_epoch() {
    let mut r = ring(5, &SECRET_A, 0);
    assert_eq!(r.set_epoch(5, &SECRET_A, 0, 0), Ok(()), "repeating is a no-op");
    assert_eq!(
        r.set_epoch(4, &SECRET_B, 0, 0),
        Err(FrameError::StaleEpoch { given: 4, current: 5 })
    );
    assert_eq!(r.set_epoch(5, &SECRET_B, 0, 0), Err(FrameError::EpochConflict { epoch: 5 }));
    assert_eq!(
        r.set_epoch(6, &[0; 32], 0, 0),
        Err(FrameError::BadSecretLength { len: 32, expected: 16 })
    );
    assert_eq!(
        r.set_epoch(6, &SECRET_B, 1 << 16, 0),
        Err(FrameError::LeafOutOfRange { leaf: 1 << 16, max: 65_535 })
    );
}

#[test]
fn a_repeated_set_epoch_does_not_reset_counters() {
    let mut alice = ring(1, &SECRET_A, 0);
    alice.encrypt(0, 0, b"x").unwrap();
    alice.set_epoch(1, &SECRET_A, 0, 0).unwrap();
    let sealed = alice.encrypt(0, 0, b"x").unwrap();
    assert_eq!(rfc::decode_header(&sealed).map(|h| h.1), Some(1));
}

#[test]
fn the_previous_epoch_decrypts_until_the_grace_period_ends() {
    let mut alice = ring(1, &SECRET_A, 0);
    let late = alice.encrypt(0, 0, b"sent in epoch 1").unwrap();
    let later = alice.encrypt(0, 0, b"also epoch 1").unwrap();

    let mut bob = KeyRing::with_grace(10_000);
    bob.set_epoch(1, &SECRET_A, 1, 0).unwrap();
    bob.set_epoch(2, &SECRET_B, 1, 1_000).unwrap();
    assert_eq!(bob.epochs(), [1, 2]);
    assert_eq!(bob.next_expiry(), Some(11_000));

    bob.expire(10_999);
    assert_eq!(bob.decrypt(0, &late).unwrap().epoch, 1);
    bob.expire(11_000);
    assert_eq!(bob.epochs(), [2]);
    assert_eq!(
        bob.decrypt(0, &later),
        Err(FrameError::UnknownEpoch { epoch_bits: 1, sender_leaf: 0 })
    );
    assert_eq!(bob.failures().unknown_epoch, 1);
}

#[test]
fn an_epoch_reusing_low_bits_evicts_the_old_one() {
    let mut bob = ring(3, &SECRET_A, 0);
    bob.set_epoch(3 + 256, &SECRET_B, 0, 0).unwrap();
    assert_eq!(bob.epochs(), [259]);
}

#[test]
fn replayed_and_tampered_frames_are_counted_by_kind() {
    let mut alice = ring(9, &SECRET_A, 2);
    let mut bob = ring(9, &SECRET_A, 0);
    let sealed = alice.encrypt(0, 1, b"Opus frame").unwrap();
    bob.decrypt(1, &sealed).unwrap();
    assert_eq!(bob.decrypt(1, &sealed), Err(FrameError::Replayed { sender_leaf: 2, counter: 0 }));

    let mut tampered = alice.encrypt(0, 1, b"Opus frame").unwrap();
    tampered[0] ^= 1; // metadata is authenticated too
    assert_eq!(
        bob.decrypt(1, &tampered),
        Err(FrameError::AuthenticationFailed { sender_leaf: 2, epoch: 9 })
    );
    // The forged copy did not consume the counter: the genuine frame still decrypts.
    tampered[0] ^= 1;
    assert!(bob.decrypt(1, &tampered).is_ok());

    let counts = bob.failures();
    assert_eq!((counts.replayed, counts.authentication_failed, counts.total()), (1, 1, 2));
}

#[test]
fn structurally_impossible_frames_are_not_encrypted() {
    let mut bob = ring(1, &SECRET_A, 0);
    let cases: [(usize, &[u8]); 3] = [
        (4, b"abc"),      // shorter than its metadata
        (0, &[0x00; 10]), // 1-byte header, no room for a tag
        (0, &[0xf7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), // 8-byte KID
    ];
    for (metadata_len, data) in cases {
        let err = bob.decrypt(metadata_len, data).unwrap_err();
        assert_eq!(err.kind(), Some(FailureKind::NotEncrypted), "{data:?}: {err}");
    }
    assert_eq!(bob.failures().not_encrypted, 3);
}

#[test]
fn caller_errors_are_not_counted_as_failures() {
    let mut empty = KeyRing::new();
    assert_eq!(empty.encrypt(0, 0, b"x"), Err(FrameError::NoEpoch));
    let mut r = ring(1, &SECRET_A, 0);
    assert_eq!(
        r.encrypt(0, 5, b"abc"),
        Err(FrameError::MetadataTooLong { metadata_len: 5, frame_len: 3 })
    );
    assert_eq!(r.failures().total(), 0);
}

#[test]
fn debug_output_redacts_keys_and_payloads() {
    let mut alice = ring(1, &SECRET_A, 0);
    let mut bob = ring(1, &SECRET_A, 1);
    let opened = bob.decrypt(0, &alice.encrypt(0, 0, b"private words").unwrap()).unwrap();
    let shown = format!("{alice:?} {bob:?} {opened:?}");
    assert!(!shown.contains("165"), "secret bytes (0xa5 = 165) leaked: {shown}");
    assert!(!shown.contains("private"), "{shown}");
}
