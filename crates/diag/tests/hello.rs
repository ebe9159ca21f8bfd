//! ClientHello parser tests: real hellos captured from clients on this machine
//! (`tests/fixtures/*.hex`, made by `tests/fixtures/capture.py`), the hello from field report
//! 002 byte for byte, hand-built hellos for JA4 and error paths, and robustness loops (every
//! prefix, random bytes, mutations, record splits).

use std::path::Path;

use lantern_diag::hello::{
    device_hint, parse_client_hello, sha256, ClientHello, HelloError, FAMILY_EMBEDDED_NO_SNI,
    FAMILY_LEGACY_ONLY, FAMILY_MBEDTLS2, FAMILY_MBEDTLS2_LEGACY,
};
use lantern_diag::suites::{
    extension_name, is_forward_secret, is_grease, is_legacy_suite, is_signaling_suite,
    signature_scheme_name, suite_iana_name, suite_name, version_name,
};
use lantern_diag::{Cause, EventKind, Story};

// --- helpers -------------------------------------------------------------------------------

const FIXTURES: &[&str] = &[
    "openssl_sni_a",
    "openssl_sni_b",
    "openssl_noservername",
    "openssl_tls12",
    "openssl_tls13",
    "openssl_aes128_sha",
    "openssl_alpn_mqtt",
    "python_ssl",
    "mosquitto_pub_ip",
    "mosquitto_pub_localhost",
];

/// Reads `tests/fixtures/<name>.hex` (lines starting with `#` are comments).
fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.hex"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let hex: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    from_hex(&hex)
}

fn from_hex(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| (b as char).to_digit(16).expect("hex digit") as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

fn parse(name: &str) -> ClientHello {
    parse_client_hello(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ext_names(hello: &ClientHello) -> Vec<String> {
    hello.summary().extensions
}

/// The handshake message (header + body) inside a single-record input.
fn message_of(record: &[u8]) -> Vec<u8> {
    record[5..].to_vec()
}

/// Frames a handshake message into records, cutting it at `cuts` (offsets into the message).
fn records(message: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&message.len())) {
        let part = &message[start..end];
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
        start = end;
    }
    out
}

/// Builds a one-record ClientHello from its parts.
fn build_hello(legacy_version: u16, suites: &[u16], extensions: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&legacy_version.to_be_bytes());
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // legacy_session_id: empty
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for s in suites {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    let mut ext_block = Vec::new();
    for (id, data) in extensions {
        ext_block.extend_from_slice(&id.to_be_bytes());
        ext_block.extend_from_slice(&(data.len() as u16).to_be_bytes());
        ext_block.extend_from_slice(data);
    }
    body.extend_from_slice(&(ext_block.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext_block);
    let mut message = vec![1];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(&body);
    records(&message, &[])
}

fn u16s_u16len(values: &[u16]) -> Vec<u8> {
    let mut out = ((values.len() * 2) as u16).to_be_bytes().to_vec();
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

fn sni_ext(host: &[u8]) -> Vec<u8> {
    let mut out = ((host.len() + 3) as u16).to_be_bytes().to_vec();
    out.push(0);
    out.extend_from_slice(&(host.len() as u16).to_be_bytes());
    out.extend_from_slice(host);
    out
}

fn alpn_ext(names: &[&str]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend_from_slice(n.as_bytes());
    }
    let mut out = (list.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&list);
    out
}

/// A deterministic xorshift generator (no proptest in this crate's dependencies).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// --- field report 002: the real hello of an STM32 + W5500 + mbedTLS device -----------------

/// Copied from the report's mbedTLS debug log ("Port:[0]/Send(66)").
const SEED_002_HELLO: &[u8] = &[
    0x16, 0x03, 0x03, 0x00, 0x3D, // handshake record, TLS 1.2, 61 bytes
    0x01, 0x00, 0x00, 0x39, // ClientHello, 57 bytes
    0x03, 0x03, // legacy_version TLS 1.2
    0xCB, 0x4E, 0x3E, 0xA4, 0x39, 0xA1, 0x32, 0x11, 0x92, 0x4F, 0x3B, 0xD8, 0x2E, 0xAE, 0x01, 0x02,
    0xF7, 0x9F, 0x85, 0xB8, 0xF0, 0xC8, 0x18, 0xE1, 0xAB, 0x10, 0xE9, 0xCE, 0xC9, 0x47, 0x60,
    0xCC, // random
    0x00, // legacy_session_id: empty
    0x00, 0x06, // cipher_suites: 3 suites
    0x00, 0x9C, // TLS_RSA_WITH_AES_128_GCM_SHA256
    0x00, 0x3D, // TLS_RSA_WITH_AES_256_CBC_SHA256 (the suite the report negotiated)
    0x00, 0xFF, // TLS_EMPTY_RENEGOTIATION_INFO_SCSV (mbedTLS always adds it, last)
    0x01, 0x00, // compression: null
    0x00, 0x0A, // extensions: 10 bytes
    0x00, 0x0D, 0x00, 0x06, // signature_algorithms, 6 bytes
    0x00, 0x04, 0x04, 0x01, 0x03, 0x01, // rsa_pkcs1_sha256, rsa_pkcs1_sha224
];

/// The ServerHello the broker answered with in the same report.
const SEED_002_SERVER_HELLO_START: &[u8] = &[0x16, 0x03, 0x03, 0x00, 0x51, 0x02, 0x00, 0x00, 0x4D];

#[test]
fn seed_002_hello_parses_field_by_field() {
    let hello = parse_client_hello(SEED_002_HELLO).unwrap();
    assert_eq!(hello.record_version, 0x0303);
    assert_eq!(hello.legacy_version, 0x0303);
    assert_eq!(hello.random[..4], [0xCB, 0x4E, 0x3E, 0xA4]);
    assert_eq!(hello.session_id_len, 0);
    assert_eq!(hello.cipher_suites, [0x009C, 0x003D, 0x00FF]);
    assert_eq!(hello.compression_methods, [0]);
    assert_eq!(hello.signature_algorithms, [0x0401, 0x0301]);
    assert_eq!(hello.sni, None);
    assert!(hello.alpn.is_empty());
    assert!(
        hello.renegotiation_info,
        "the SCSV signals secure renegotiation"
    );
    assert_eq!(hello.versions_offered(), [0x0303, 0x0302, 0x0301]);

    let summary = hello.summary();
    assert_eq!(summary.versions, ["TLSv1.2", "TLSv1.1", "TLSv1.0"]);
    assert_eq!(
        summary.cipher_suites,
        [
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_CBC_SHA256",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"
        ]
    );
    assert_eq!(summary.extensions, ["signature_algorithms"]);
    assert_eq!(
        summary.signature_schemes,
        ["rsa_pkcs1_sha256", "rsa_pkcs1_sha224"]
    );
    assert!(
        summary.fingerprint.starts_with("t12i030100_"),
        "{}",
        summary.fingerprint
    );
}

#[test]
fn seed_002_suites_are_all_legacy() {
    for suite in [0x009C, 0x003D] {
        assert!(is_legacy_suite(suite), "{}", suite_name(suite));
        assert!(!is_forward_secret(suite), "{}", suite_name(suite));
    }
    assert!(is_signaling_suite(0x00FF));
    assert!(!is_legacy_suite(0x00FF), "an SCSV is not a cipher suite");
}

#[test]
fn seed_002_device_hint_is_mbedtls_without_ecdhe() {
    let hello = parse_client_hello(SEED_002_HELLO).unwrap();
    let hint = device_hint(&hello).expect("a hint");
    assert_eq!(hint.family, FAMILY_MBEDTLS2_LEGACY);
    assert!(
        hint.evidence.contains("TLS_RSA_WITH_AES_256_CBC_SHA256"),
        "{}",
        hint.evidence
    );
    assert!(hint.evidence.contains("no SNI"), "{}", hint.evidence);
    assert!(hint.advice[0].contains("MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED"));
    assert!(hint
        .advice
        .iter()
        .any(|a| a.contains("mbedtls_ssl_set_hostname")));
    assert!(hint
        .advice
        .iter()
        .any(|a| a.contains("AT+CSSLCFG=\"enableSNI\",0,1")));
}

#[test]
fn seed_002_like_hello_with_ecdhe_and_sni_is_plain_mbedtls() {
    // The same stack configured as the hint advises: SNI set, ECDHE-GCM enabled.
    let hello = build_hello(
        0x0303,
        &[0xC02F, 0xC030, 0x009C, 0x00FF],
        &[
            (0x0000, sni_ext(b"abc.s1.eu.hivemq.cloud")),
            (0x000D, u16s_u16len(&[0x0401, 0x0403])),
            (0x000A, u16s_u16len(&[0x0017])),
            (0x000B, vec![1, 0]),
            (0x0016, vec![]),
            (0x0017, vec![]),
        ],
    );
    let hello = parse_client_hello(&hello).unwrap();
    let hint = device_hint(&hello).expect("a hint");
    assert_eq!(hint.family, FAMILY_MBEDTLS2);
    assert!(hint.advice.is_empty(), "{:?}", hint.advice);
}

#[test]
fn seed_002_server_hello_is_not_a_client_hello() {
    let err = parse_client_hello(SEED_002_SERVER_HELLO_START).unwrap_err();
    assert_eq!(err, HelloError::NotClientHello { handshake_type: 2 });
}

#[test]
fn device_hint_feeds_the_no_shared_cipher_explanation() {
    // The cause catalogue adds the same advice when it sees the hello in the story.
    let hello = parse_client_hello(SEED_002_HELLO).unwrap();
    let summary = hello.summary();
    let mut story = Story {
        events: vec![lantern_diag::Event {
            at_ms: 1,
            kind: EventKind::ClientHello(Box::new(summary.clone())),
        }],
        ..Story::default()
    };
    story.finish(Cause::NoSharedCipher {
        offered: summary.cipher_suites.clone(),
        accepted: vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()],
    });
    assert!(
        story.verdict.fixes.iter().any(|f| f.contains("ECDHE-GCM")),
        "{:?}",
        story.verdict.fixes
    );
}

// --- real clients on this machine ------------------------------------------------------------

#[test]
fn every_fixture_parses() {
    for name in FIXTURES {
        let hello = parse(name);
        assert_eq!(hello.compression_methods, [0], "{name}");
        assert!(!hello.cipher_suites.is_empty(), "{name}");
        assert!(hello.summary().fingerprint.starts_with('t'), "{name}");
    }
}

#[test]
fn openssl_default_sends_sni_and_offers_tls13_and_tls12() {
    let hello = parse("openssl_sni_a");
    assert_eq!(hello.sni.as_deref(), Some("broker.example.com"));
    // OpenSSL 3.0 lists every version it was built with, 1.3 first.
    assert_eq!(hello.versions_offered()[..2], [0x0304, 0x0303]);
    let summary = hello.summary();
    assert_eq!(summary.versions[..2], ["TLSv1.3", "TLSv1.2"]);
    assert!(summary
        .cipher_suites
        .contains(&"TLS_AES_256_GCM_SHA384".to_owned()));
    assert!(summary
        .cipher_suites
        .contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_owned()));
    for ext in [
        "server_name",
        "supported_versions",
        "key_share",
        "signature_algorithms",
        "supported_groups",
    ] {
        assert!(
            summary.extensions.contains(&ext.to_owned()),
            "{ext} in {:?}",
            summary.extensions
        );
    }
    assert!(summary
        .signature_schemes
        .contains(&"rsa_pss_rsae_sha256".to_owned()));
    assert!(summary
        .signature_schemes
        .contains(&"ecdsa_secp256r1_sha256".to_owned()));
    assert!(summary.signature_schemes.contains(&"ed25519".to_owned()));
    assert!(hello.alpn.is_empty());
    assert!(
        summary.fingerprint.starts_with("t13d"),
        "{}",
        summary.fingerprint
    );
    assert_eq!(device_hint(&hello), None, "a general-purpose client");
}

#[test]
fn fingerprint_is_stable_across_captures_with_different_randoms() {
    let a = parse("openssl_sni_a");
    let b = parse("openssl_sni_b");
    assert_ne!(a.random, b.random);
    assert_ne!(fixture("openssl_sni_a"), fixture("openssl_sni_b"));
    assert_eq!(a.fingerprint(), b.fingerprint());
}

#[test]
fn noservername_has_no_sni_and_only_the_first_fingerprint_part_changes() {
    let with = parse("openssl_sni_a");
    let without = parse("openssl_noservername");
    assert_eq!(without.sni, None);
    assert!(!ext_names(&without).contains(&"server_name".to_owned()));
    let (fw, fwo) = (with.fingerprint(), without.fingerprint());
    assert!(fwo.starts_with("t13i"), "{fwo}");
    // JA4 leaves SNI out of the hashed parts, so they match.
    assert_eq!(fw[10..], fwo[10..], "{fw} vs {fwo}");
}

#[test]
fn tls12_only_offers_tls12_and_below_and_no_tls13_suites() {
    let hello = parse("openssl_tls12");
    assert!(hello.supported_versions.is_empty());
    assert_eq!(hello.summary().versions, ["TLSv1.2", "TLSv1.1", "TLSv1.0"]);
    assert!(hello
        .cipher_suites
        .iter()
        .all(|s| !(0x1301..=0x1305).contains(s)));
    assert!(hello.cipher_suites.contains(&0xC02F));
    assert!(hello.fingerprint().starts_with("t12d"));
}

#[test]
fn tls13_only_offers_tls13_suites() {
    let hello = parse("openssl_tls13");
    assert_eq!(hello.summary().versions, ["TLSv1.3"]);
    assert!(hello
        .cipher_suites
        .iter()
        .all(|s| (0x1301..=0x1305).contains(s) || is_signaling_suite(*s)));
    assert!(hello
        .cipher_suites
        .iter()
        .all(|s| is_forward_secret(*s) || is_signaling_suite(*s)));
    assert!(!hello.key_share_groups.is_empty());
}

#[test]
fn cipher_aes128_sha_offers_one_legacy_suite() {
    let hello = parse("openssl_aes128_sha");
    let real: Vec<u16> = hello
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| !is_signaling_suite(*s))
        .collect();
    assert_eq!(real, [0x002F]);
    assert_eq!(suite_name(0x002F), "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert!(!hello.cipher_suites.contains(&0xC02F));
    let hint = device_hint(&hello).expect("legacy-only suites");
    // OpenSSL writes ec_point_formats before supported_groups: not the mbedTLS order.
    assert_eq!(hint.family, FAMILY_LEGACY_ONLY);
    assert!(hint.evidence.contains("TLS_RSA_WITH_AES_128_CBC_SHA"));
}

#[test]
fn alpn_mqtt_is_read_and_fingerprinted() {
    let hello = parse("openssl_alpn_mqtt");
    assert_eq!(hello.alpn, ["mqtt"]);
    assert_eq!(hello.summary().alpn, ["mqtt"]);
    assert!(ext_names(&hello).contains(&"application_layer_protocol_negotiation".to_owned()));
    let fp = hello.fingerprint();
    assert_eq!(&fp[8..10], "mt", "{fp}");
    // ALPN is left out of JA4's hashed extension list.
    assert_eq!(fp[10..], parse("openssl_sni_a").fingerprint()[10..]);
}

#[test]
fn python_ssl_sends_sni() {
    let hello = parse("python_ssl");
    assert_eq!(hello.sni.as_deref(), Some("broker.example.com"));
    assert_eq!(hello.versions_offered()[0], 0x0304);
    assert_eq!(device_hint(&hello), None);
}

#[test]
fn mosquitto_pub_with_an_ip_sends_it_as_sni_which_counts_as_none() {
    let hello = parse("mosquitto_pub_ip");
    assert_eq!(hello.sni, None);
    assert_eq!(hello.sni_ip.as_deref(), Some("127.0.0.1"));
    assert!(ext_names(&hello).contains(&"server_name".to_owned()));
    assert_eq!(hello.summary().sni, None);

    let named = parse("mosquitto_pub_localhost");
    assert_eq!(named.sni.as_deref(), Some("localhost"));
    assert_eq!(named.sni_ip, None);
}

// --- JA4 ---------------------------------------------------------------------------------

fn hash12(text: &str) -> String {
    sha256(text.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn sha256_known_answers() {
    let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(sha256(
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
        )),
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    );
    // Lengths around the 55/56/64-byte padding boundaries.
    assert_eq!(
        hex(sha256(&[b'a'; 64])),
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"
    );
    assert_eq!(
        hex(sha256(&vec![b'a'; 1_000_000])),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn ja4_spec_hash_examples() {
    // FoxIO JA4 technical details, "Cipher hash" and "Extension hash".
    assert_eq!(
        hash12("002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9"),
        "8daaf6152771"
    );
    assert_eq!(
        hash12("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"),
        "e5627efa2ab1"
    );
    assert_eq!(
        hash12("0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"),
        "6d807ffa2a79"
    );
}

/// The JA4 specification's example hello (Chrome-like), rebuilt with GREASE added.
fn ja4_spec_hello(extension_order: &[u16]) -> Vec<u8> {
    let suites = [
        0x3A3A, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
        0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
    ];
    let data = |id: u16| -> Vec<u8> {
        match id {
            0x0000 => sni_ext(b"example.com"),
            0x0010 => alpn_ext(&["h2", "http/1.1"]),
            0x000D => u16s_u16len(&[
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ]),
            0x000A => u16s_u16len(&[0x8A8A, 0x001D, 0x0017, 0x0018]),
            0x000B => vec![1, 0],
            0x002B => vec![6, 0x7A, 0x7A, 0x03, 0x04, 0x03, 0x03],
            0x0033 => {
                let mut shares = vec![0x8A, 0x8A, 0x00, 0x01, 0x00, 0x00, 0x1D, 0x00, 0x20];
                shares.extend_from_slice(&[7; 32]);
                let mut out = (shares.len() as u16).to_be_bytes().to_vec();
                out.extend_from_slice(&shares);
                out
            }
            0x002D => vec![1, 1],
            0xFF01 => vec![0],
            0x0015 => vec![0; 20],
            0x0005 => vec![1, 0, 0, 0, 0],
            0x001B => vec![2, 0, 2],
            0x4469 => vec![0, 3, 2, b'h', b'2'],
            _ => vec![],
        }
    };
    let mut extensions = vec![(0x0A0A, vec![])];
    extensions.extend(extension_order.iter().map(|&id| (id, data(id))));
    extensions.push((0xFAFA, vec![0]));
    build_hello(0x0303, &suites, &extensions)
}

const JA4_SPEC_EXTENSIONS: [u16; 16] = [
    0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012, 0x002B,
    0xFF01, 0x000B, 0x000A, 0x0015,
];

#[test]
fn ja4_of_the_spec_example() {
    let hello = parse_client_hello(&ja4_spec_hello(&JA4_SPEC_EXTENSIONS)).unwrap();
    assert_eq!(
        hello.fingerprint_raw(),
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
    );
    assert_eq!(hello.fingerprint(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
}

#[test]
fn grease_is_skipped_in_versions_fingerprint_and_named_in_the_summary() {
    let hello = parse_client_hello(&ja4_spec_hello(&JA4_SPEC_EXTENSIONS)).unwrap();
    assert_eq!(hello.supported_versions, [0x7A7A, 0x0304, 0x0303]);
    assert_eq!(hello.versions_offered(), [0x0304, 0x0303]);
    assert_eq!(hello.key_share_groups, [0x8A8A, 0x001D]);
    let summary = hello.summary();
    assert_eq!(summary.cipher_suites[0], "GREASE 0x3A3A");
    assert_eq!(summary.extensions[0], "GREASE 0x0A0A");
    assert_eq!(summary.alpn, ["h2", "http/1.1"]);
    assert!(!hello.fingerprint_raw().contains("3a3a"));
    assert!(!hello.fingerprint_raw().contains("0a0a"));
    assert_eq!(device_hint(&hello), None);
}

#[test]
fn ja4_does_not_change_when_extensions_are_shuffled() {
    let reference = parse_client_hello(&ja4_spec_hello(&JA4_SPEC_EXTENSIONS))
        .unwrap()
        .fingerprint();
    let mut rng = Rng(0x5EED);
    for _ in 0..20 {
        let mut order = JA4_SPEC_EXTENSIONS;
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let hello = parse_client_hello(&ja4_spec_hello(&order)).unwrap();
        assert_eq!(hello.fingerprint(), reference, "order {order:04x?}");
    }
}

#[test]
fn ja4_alpn_characters() {
    let fp_with_alpn = |names: &[&str]| {
        let hello = build_hello(0x0303, &[0xC02F], &[(0x0010, alpn_ext(names))]);
        parse_client_hello(&hello).unwrap().fingerprint()[8..10].to_owned()
    };
    assert_eq!(fp_with_alpn(&["http/1.1"]), "h1");
    assert_eq!(fp_with_alpn(&["h2"]), "h2");
    assert_eq!(fp_with_alpn(&["m"]), "mm");
    assert_eq!(fp_with_alpn(&["mqtt"]), "mt");
    // Non-alphanumeric ends: first and last hex digits (JA4 spec examples).
    let raw = |bytes: &[u8]| {
        let mut data = ((bytes.len() + 1) as u16).to_be_bytes().to_vec();
        data.push(bytes.len() as u8);
        data.extend_from_slice(bytes);
        let hello = build_hello(0x0303, &[0xC02F], &[(0x0010, data)]);
        parse_client_hello(&hello).unwrap().fingerprint()[8..10].to_owned()
    };
    assert_eq!(raw(&[0xAB]), "ab");
    assert_eq!(raw(&[0xAB, 0xCD]), "ad");
    assert_eq!(raw(&[0x30, 0xAB]), "3b");
}

#[test]
fn ja4_without_extensions_or_signatures() {
    let hello = build_hello(0x0301, &[0x002F, 0x000A], &[]);
    let hello = parse_client_hello(&hello).unwrap();
    assert_eq!(
        hello.fingerprint(),
        format!("t10i0200{}_{}_000000000000", "00", hash12("000a,002f"))
    );
}

// --- records --------------------------------------------------------------------------------

#[test]
fn a_hello_split_across_records_parses_the_same() {
    for name in ["openssl_sni_a", "python_ssl"] {
        let bytes = fixture(name);
        let whole = parse_client_hello(&bytes).unwrap();
        let message = message_of(&bytes);
        for cut in 1..message.len() {
            let split = parse_client_hello(&records(&message, &[cut]))
                .unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            assert_eq!(split.random, whole.random);
            assert_eq!(split.extensions, whole.extensions);
            assert_eq!(split.fingerprint(), whole.fingerprint());
        }
    }
    // One byte per record.
    let message = message_of(SEED_002_HELLO);
    let cuts: Vec<usize> = (1..message.len()).collect();
    let tiny = parse_client_hello(&records(&message, &cuts)).unwrap();
    assert_eq!(tiny.cipher_suites, [0x009C, 0x003D, 0x00FF]);
    assert_eq!(tiny.record_version, 0x0301);
}

#[test]
fn bytes_after_the_hello_are_ignored() {
    let mut bytes = SEED_002_HELLO.to_vec();
    bytes.extend_from_slice(&[0x14, 0x03, 0x03, 0x00, 0x01, 0x01]); // ChangeCipherSpec
    assert!(parse_client_hello(&bytes).is_ok());
}

#[test]
fn every_prefix_of_a_real_hello_is_incomplete() {
    for name in FIXTURES {
        let bytes = fixture(name);
        for len in 0..bytes.len() {
            match parse_client_hello(&bytes[..len]) {
                Err(e) => assert!(e.is_incomplete(), "{name}[..{len}]: {e:?}"),
                Ok(_) => panic!("{name}[..{len}] parsed"),
            }
        }
    }
    for len in 0..SEED_002_HELLO.len() {
        assert!(parse_client_hello(&SEED_002_HELLO[..len])
            .unwrap_err()
            .is_incomplete());
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1A2B_3C4D_5E6F_7788);
    for i in 0..20_000 {
        let len = rng.below(600);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Most of them start like a hello so that the parser goes deep.
        if i % 4 != 0 && bytes.len() > 9 {
            bytes[..6].copy_from_slice(&[0x16, 0x03, 0x01, (len >> 8) as u8, len as u8, 0x01]);
        }
        let _ = parse_client_hello(&bytes).map(|h| (h.summary(), device_hint(&h)));
    }
}

#[test]
fn mutated_real_hellos_never_panic() {
    let mut rng = Rng(42);
    for name in FIXTURES {
        let original = fixture(name);
        for _ in 0..2_000 {
            let mut bytes = original.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            let _ = parse_client_hello(&bytes).map(|h| (h.summary(), device_hint(&h)));
        }
    }
}

// --- errors ---------------------------------------------------------------------------------

#[test]
fn not_tls() {
    // MQTT CONNECT on a TLS port.
    let connect = [
        0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c,
    ];
    assert_eq!(
        parse_client_hello(&connect).unwrap_err(),
        HelloError::NotTls { first_byte: 0x10 }
    );
    assert_eq!(
        parse_client_hello(b"GET /mqtt HTTP/1.1\r\n").unwrap_err(),
        HelloError::NotTls { first_byte: b'G' }
    );
    // SSL 2.0-compatible hello: 2-byte length with the top bit set, message type 1.
    assert_eq!(
        parse_client_hello(&[0x80, 0x2e, 0x01, 0x03, 0x01]).unwrap_err(),
        HelloError::Ssl2Hello
    );
    assert_eq!(
        parse_client_hello(&[0x16, 0x01, 0x00, 0x00, 0x10]).unwrap_err(),
        HelloError::BadRecordVersion { version: 0x0100 }
    );
}

#[test]
fn record_rules() {
    let message = message_of(SEED_002_HELLO);
    // An alert record in the middle of a split hello.
    let mut bytes = records(&message[..10], &[]);
    bytes.extend_from_slice(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
    assert_eq!(
        parse_client_hello(&bytes).unwrap_err(),
        HelloError::UnexpectedRecord { content_type: 21 }
    );
    // Empty and oversized handshake records (RFC 8446 §5.1).
    assert_eq!(
        parse_client_hello(&[0x16, 0x03, 0x03, 0x00, 0x00]).unwrap_err(),
        HelloError::BadRecordLength { len: 0 }
    );
    assert_eq!(
        parse_client_hello(&[0x16, 0x03, 0x03, 0x40, 0x01]).unwrap_err(),
        HelloError::BadRecordLength { len: 0x4001 }
    );
}

/// SEED_002_HELLO with its body edited by `f`, lengths recomputed.
fn edit_seed_body(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut body = SEED_002_HELLO[9..].to_vec();
    f(&mut body);
    let mut message = vec![1];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    message.extend_from_slice(&body);
    records(&message, &[])
}

#[test]
fn body_length_rules() {
    // Session id of 33 bytes (RFC 8446 §4.1.2 allows 0..32).
    let long_session = edit_seed_body(|b| {
        b[34] = 33;
        b.splice(35..35, [0u8; 33]);
    });
    assert!(matches!(
        parse_client_hello(&long_session).unwrap_err(),
        HelloError::BadLength { len: 33, .. }
    ));
    // Odd cipher_suites length.
    let odd = edit_seed_body(|b| {
        b[36] = 5;
        b.remove(41);
    });
    assert!(matches!(
        parse_client_hello(&odd).unwrap_err(),
        HelloError::BadLength { len: 5, .. }
    ));
    // Bytes after the extensions block.
    let trailing = edit_seed_body(|b| b.push(0));
    assert_eq!(
        parse_client_hello(&trailing).unwrap_err(),
        HelloError::Trailing { extra: 1 }
    );
    // No extensions at all is valid TLS 1.2 (RFC 5246 §7.4.1.2).
    let bare = edit_seed_body(|b| b.truncate(b.len() - 12));
    let hello = parse_client_hello(&bare).unwrap();
    assert!(hello.extensions.is_empty());
    assert!(hello.fingerprint().ends_with("_000000000000"));
}

fn ext_error(extensions: &[(u16, Vec<u8>)]) -> HelloError {
    parse_client_hello(&build_hello(0x0303, &[0xC02F], extensions)).expect_err("should be refused")
}

#[test]
fn malformed_server_names() {
    let detail = |e: HelloError| match e {
        HelloError::BadServerName { detail } => detail,
        other => panic!("{other:?}"),
    };
    assert!(detail(ext_error(&[(0, sni_ext(b"broker..example.com"))])).contains("label"));
    assert!(detail(ext_error(&[(0, sni_ext(b"broker example.com"))])).contains("' '"));
    assert!(detail(ext_error(&[(0, sni_ext(b""))])).contains("empty"));
    assert!(detail(ext_error(&[(0, sni_ext("brökér.de".as_bytes()))])).contains("ASCII"));
    assert!(detail(ext_error(&[(0, vec![0, 0])])).contains("empty"));
    assert!(detail(ext_error(&[(0, vec![])])).contains("cut short"));
    assert!(detail(ext_error(&[(0, vec![0, 9, 0, 0, 3, b'a', b'b'])])).contains("does not match"));
    let mut two = sni_ext(b"a.example");
    two.extend_from_slice(&[0, 0, 1, b'b']);
    two[1] += 4;
    assert!(detail(ext_error(&[(0, two)])).contains("more than one"));

    // The error's detail is what the tls.sni_malformed explanation shows.
    let err = ext_error(&[(0, sni_ext(b"broker..example.com"))]);
    let HelloError::BadServerName { detail } = err.clone() else {
        unreachable!()
    };
    let mut story = Story::default();
    story.finish(Cause::SniMalformed { detail });
    assert_eq!(story.verdict.cause, "tls.sni_malformed");
    assert!(
        story.verdict.sentence.contains("broker..example.com"),
        "{}",
        story.verdict.sentence
    );
    assert!(err.to_string().starts_with("server_name: "));
}

#[test]
fn tolerated_server_names() {
    let sni = |host: &[u8]| {
        parse_client_hello(&build_hello(0x0303, &[0xC02F], &[(0, sni_ext(host))])).unwrap()
    };
    assert_eq!(
        sni(b"broker.example.com.").sni.as_deref(),
        Some("broker.example.com")
    );
    assert_eq!(
        sni(b"_mqtt.example.com").sni.as_deref(),
        Some("_mqtt.example.com")
    );
    let v6 = sni(b"::1");
    assert_eq!((v6.sni, v6.sni_ip.as_deref()), (None, Some("::1")));
}

#[test]
fn malformed_extensions() {
    let id_of = |e: HelloError| match e {
        HelloError::BadExtension { id, detail } => {
            assert!(!detail.is_empty());
            id
        }
        other => panic!("{other:?}"),
    };
    // Duplicate extension (RFC 8446 §4.2).
    assert_eq!(id_of(ext_error(&[(23, vec![]), (23, vec![])])), 23);
    // pre_shared_key not last (RFC 8446 §4.2.11).
    assert_eq!(id_of(ext_error(&[(41, vec![0; 4]), (23, vec![])])), 41);
    // Non-empty renegotiation_info in an initial hello (RFC 5746 §3.4).
    assert_eq!(id_of(ext_error(&[(0xFF01, vec![1, 9])])), 0xFF01);
    // extended_master_secret with data.
    assert_eq!(id_of(ext_error(&[(23, vec![0])])), 23);
    // Signature list of odd length, and an empty one.
    assert_eq!(id_of(ext_error(&[(13, vec![0, 3, 4, 1, 3])])), 13);
    assert_eq!(id_of(ext_error(&[(13, vec![0, 0])])), 13);
    // ALPN with an empty name.
    assert_eq!(id_of(ext_error(&[(16, vec![0, 1, 0])])), 16);
    // supported_versions with trailing bytes, and one of odd length.
    assert_eq!(id_of(ext_error(&[(43, vec![2, 3, 4, 0])])), 43);
    assert_eq!(id_of(ext_error(&[(43, vec![1, 3])])), 43);
    // max_fragment_length out of range; record_size_limit below 64.
    assert_eq!(id_of(ext_error(&[(1, vec![5])])), 1);
    assert_eq!(id_of(ext_error(&[(28, vec![0, 63])])), 28);
    // An extension whose length overruns the block.
    let mut hello = build_hello(0x0303, &[0xC02F], &[(5, vec![1, 0, 0, 0, 0])]);
    let at = hello.len() - 7; // length field of the last extension (5 data bytes follow it)
    hello[at] = 0x00;
    hello[at + 1] = 0x09;
    assert_eq!(id_of(parse_client_hello(&hello).unwrap_err()), 5);
}

#[test]
fn known_extensions_are_read() {
    let hello = build_hello(
        0x0303,
        &[0xC02F],
        &[
            (1, vec![2]),
            (28, vec![0x40, 0x01]),
            (11, vec![2, 0, 1]),
            (0xFF01, vec![0]),
        ],
    );
    let hello = parse_client_hello(&hello).unwrap();
    assert_eq!(hello.max_fragment_length, Some(2));
    assert_eq!(hello.record_size_limit, Some(0x4001));
    assert_eq!(hello.ec_point_formats, [0, 1]);
    assert!(hello.renegotiation_info);
    assert_eq!(
        hello.summary().extensions,
        [
            "max_fragment_length",
            "record_size_limit",
            "ec_point_formats",
            "renegotiation_info"
        ]
    );
}

#[test]
fn errors_display_their_values() {
    assert_eq!(
        HelloError::NotTls { first_byte: 0x10 }.to_string(),
        "not TLS: the first byte is 0x10, a TLS handshake record starts with 0x16"
    );
    assert!(HelloError::BadExtension {
        id: 41,
        detail: "x".into()
    }
    .to_string()
    .starts_with("extension pre_shared_key"));
    assert!(HelloError::Truncated { field: "random" }.is_incomplete());
    assert!(!HelloError::Trailing { extra: 1 }.is_incomplete());
}

// --- versions ---------------------------------------------------------------------------------

#[test]
fn versions_without_the_extension() {
    let offered = |legacy| {
        parse_client_hello(&build_hello(legacy, &[0x002F], &[]))
            .unwrap()
            .versions_offered()
    };
    assert_eq!(offered(0x0303), [0x0303, 0x0302, 0x0301]);
    assert_eq!(offered(0x0302), [0x0302, 0x0301]);
    assert_eq!(offered(0x0301), [0x0301]);
    assert_eq!(offered(0x0300), [0x0300]);
    // Without supported_versions a server negotiates at most TLS 1.2 (RFC 8446 §4.2.1).
    assert_eq!(offered(0x0304), [0x0303, 0x0302, 0x0301]);
    assert_eq!(version_name(0x0300), "SSLv3");
    assert_eq!(version_name(0x7F1C), "TLSv1.3-draft28");
}

#[test]
fn embedded_hello_without_sni_gets_modem_advice() {
    // A small TLS 1.2 hello in OpenSSL's extension order (so not mbedTLS), no SNI.
    let hello = build_hello(
        0x0303,
        &[0xC02F, 0xC030, 0x00FF],
        &[
            (11, vec![1, 0]),
            (10, u16s_u16len(&[0x0017])),
            (13, u16s_u16len(&[0x0401])),
        ],
    );
    let hello = parse_client_hello(&hello).unwrap();
    let hint = device_hint(&hello).expect("a hint");
    assert_eq!(hint.family, FAMILY_EMBEDDED_NO_SNI);
    assert!(
        hint.advice[0].contains("AT+CSSLCFG=\"enableSNI\",0,1"),
        "{:?}",
        hint.advice
    );
    assert!(hint.advice.iter().any(|a| a.contains("nRF91")));
}

// --- suites ---------------------------------------------------------------------------------

#[test]
fn suite_names() {
    assert_eq!(suite_name(0x1301), "TLS_AES_128_GCM_SHA256");
    assert_eq!(suite_name(0x1303), "TLS_CHACHA20_POLY1305_SHA256");
    assert_eq!(
        suite_name(0xC02B),
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    );
    assert_eq!(
        suite_name(0xCCA8),
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
    );
    assert_eq!(suite_name(0x000A), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
    assert_eq!(suite_name(0x0005), "TLS_RSA_WITH_RC4_128_SHA");
    assert_eq!(suite_name(0xC0AE), "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8");
    assert_eq!(suite_name(0x00A8), "TLS_PSK_WITH_AES_128_GCM_SHA256");
    assert_eq!(suite_name(0x00FF), "TLS_EMPTY_RENEGOTIATION_INFO_SCSV");
    assert_eq!(suite_name(0x5600), "TLS_FALLBACK_SCSV");
    assert_eq!(suite_name(0x1234), "0x1234");
    assert_eq!(suite_name(0x0A0A), "GREASE 0x0A0A");
    assert_eq!(extension_name(0x002B), "supported_versions");
    assert_eq!(extension_name(0xFF01), "renegotiation_info");
    assert_eq!(extension_name(0x9999), "0x9999");
    assert_eq!(signature_scheme_name(0x0804), "rsa_pss_rsae_sha256");
    assert_eq!(signature_scheme_name(0x0807), "ed25519");
}

#[test]
fn grease_values() {
    let all: Vec<u16> = (0..=u16::MAX).filter(|v| is_grease(*v)).collect();
    assert_eq!(all.len(), 16);
    assert_eq!(all[0], 0x0A0A);
    assert_eq!(all[15], 0xFAFA);
    assert!(!is_grease(0x0A1A));
}

#[test]
fn legacy_and_forward_secret_classification() {
    // (suite, legacy, forward secret)
    let table = [
        (0x1301, false, true),  // TLS 1.3
        (0xC02F, false, true),  // ECDHE-RSA AES-GCM
        (0xCCA9, false, true),  // ECDHE-ECDSA ChaCha20
        (0x009E, false, true),  // DHE-RSA AES-GCM
        (0xC0AC, false, true),  // ECDHE-ECDSA AES-CCM
        (0x009C, true, false),  // static RSA AES-GCM
        (0x002F, true, false),  // static RSA AES-CBC
        (0xC013, true, true),   // ECDHE but CBC
        (0x0033, true, true),   // DHE but CBC
        (0x000A, true, false),  // 3DES
        (0x0005, true, false),  // RC4
        (0x0002, true, false),  // NULL
        (0x0014, true, false),  // export DHE
        (0xC031, true, false),  // static ECDH
        (0x00A8, false, false), // plain PSK AES-GCM
        (0xC0A4, false, false), // plain PSK AES-CCM
        (0x00AC, true, false),  // RSA-PSK
        (0x00FF, false, false), // SCSV
        (0x0A0A, false, false), // GREASE
        (0x1234, false, false), // unknown
    ];
    for (suite, legacy, fs) in table {
        assert_eq!(
            is_legacy_suite(suite),
            legacy,
            "legacy {}",
            suite_name(suite)
        );
        assert_eq!(
            is_forward_secret(suite),
            fs,
            "forward secret {}",
            suite_name(suite)
        );
    }
}

#[test]
fn legacy_agrees_with_the_cause_catalogue_by_name() {
    // cause.rs judges suites by name (TLS_RSA_*, _CBC_, 3DES, RC4); ours must agree on those.
    for id in 0..=u16::MAX {
        if let Some(name) = suite_iana_name(id) {
            let by_name = name.starts_with("TLS_RSA_")
                || name.contains("_CBC_")
                || name.contains("3DES")
                || name.contains("RC4");
            if by_name {
                assert!(is_legacy_suite(id), "{name}");
            }
        }
    }
}

#[test]
fn suite_names_map_back_to_the_tables() {
    use lantern_diag::suites::{is_legacy_suite_name, is_signaling_suite_name, suite_id};
    assert_eq!(suite_id("TLS_RSA_WITH_AES_128_CBC_SHA"), Some(0x002F));
    assert_eq!(suite_id("0x1A1A"), Some(0x1A1A));
    assert_eq!(suite_id("GREASE 0x2A2A"), Some(0x2A2A));
    assert_eq!(suite_id("NOT_A_SUITE"), None);
    assert!(is_legacy_suite_name("TLS_RSA_WITH_AES_128_GCM_SHA256"));
    assert!(is_legacy_suite_name("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"));
    assert!(!is_legacy_suite_name(
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
    ));
    assert!(!is_legacy_suite_name("TLS_AES_128_GCM_SHA256"));
    assert!(is_signaling_suite_name("TLS_EMPTY_RENEGOTIATION_INFO_SCSV"));
    assert!(is_signaling_suite_name("GREASE 0x2A2A"));
    assert!(!is_signaling_suite_name("TLS_RSA_WITH_AES_128_CBC_SHA"));
}
