//! RFC 9605 Appendix C test vectors, from the one JSON file the wasm build is checked against
//! too (`tests/vectors/rfc9605.json`, as published by the SFrame working group): header
//! encodings (C.2) and whole-frame encryption for every cipher suite (C.5), run through the
//! SFrame code the key ring uses.

use serde::Deserialize;
use veil_e2ee::frame::rfc;

#[derive(Deserialize)]
struct Vectors {
    header: Vec<HeaderVector>,
    sframe: Vec<SframeVector>,
}

#[derive(Deserialize)]
struct HeaderVector {
    kid: u64,
    ctr: u64,
    encoded: String,
}

#[derive(Deserialize)]
struct SframeVector {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: String,
    metadata: String,
    pt: String,
    ct: String,
}

fn vectors() -> Vectors {
    let text = include_str!("vectors/rfc9605.json");
    serde_json::from_str(text).expect("the vector file parses")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn every_header_vector_encodes_and_decodes() {
    let vectors = vectors().header;
    assert_eq!(vectors.len(), 289);
    for v in vectors {
        let encoded = unhex(&v.encoded);
        assert_eq!(rfc::encode_header(v.kid, v.ctr), encoded, "kid {} ctr {}", v.kid, v.ctr);
        assert_eq!(rfc::decode_header(&encoded), Some((v.kid, v.ctr, encoded.len())));
    }
}

#[test]
fn suite_4_aes_128_gcm_matches_the_rfc() {
    let v = vectors().sframe.into_iter().find(|v| v.cipher_suite == 4).expect("suite 4 vector");
    assert_eq!((v.kid, v.ctr), (0x123, 0x4567));
    let ct = rfc::encrypt(4, v.kid, v.ctr, &unhex(&v.base_key), &unhex(&v.metadata), &unhex(&v.pt))
        .unwrap();
    assert_eq!(ct, unhex(&v.ct));
    assert_eq!(
        rfc::decrypt(4, &unhex(&v.base_key), &unhex(&v.metadata), &ct).unwrap(),
        unhex(&v.pt)
    );
}

#[test]
fn every_suite_encrypts_and_decrypts_like_the_rfc() {
    let vectors = vectors().sframe;
    let suites: Vec<u16> = vectors.iter().map(|v| v.cipher_suite).collect();
    assert_eq!(suites, [1, 2, 3, 4, 5], "the rust-crypto backend covers all five");
    for v in vectors {
        let (key, metadata, pt, ct) =
            (unhex(&v.base_key), unhex(&v.metadata), unhex(&v.pt), unhex(&v.ct));
        let suite = v.cipher_suite;
        assert_eq!(
            rfc::encrypt(suite, v.kid, v.ctr, &key, &metadata, &pt).unwrap(),
            ct,
            "suite {suite}"
        );
        assert_eq!(rfc::decrypt(suite, &key, &metadata, &ct).unwrap(), pt, "suite {suite}");

        let mut tampered = ct.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(rfc::decrypt(suite, &key, &metadata, &tampered).is_err(), "suite {suite}");
        assert!(rfc::decrypt(suite, &key, b"other metadata", &ct).is_err(), "suite {suite}");
    }
}
