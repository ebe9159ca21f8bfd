//! Golden tests for `lantern decode`: the field reports' logs (tests/fixtures/decode/seed*.txt)
//! and hand-made dumps, rendered as text and compared with tests/golden/decode/*.txt.
//!
//! The explanations are product output, so they are checked in. `UPDATE_GOLDEN=1 cargo test
//! -p lantern-probe --test decode_golden` rewrites the expected files; review the diff.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fs;
use std::path::PathBuf;

use lantern_probe::decode::{decode_text, Dir, Report};

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
        .join("decode")
}

/// Whether golden files are to be rewritten: only `UPDATE_GOLDEN=1` does it. Any other value
/// (`0`, `false`, empty) compares, so a stray variable never turns a mismatch into a pass.
fn update_golden() -> bool {
    update_requested(std::env::var_os("UPDATE_GOLDEN").as_deref())
}

fn update_requested(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| v == "1")
}

#[test]
fn only_update_golden_1_rewrites() {
    use std::ffi::OsStr;
    assert!(update_requested(Some(OsStr::new("1"))));
    for other in ["0", "", "false", "no", "true", "yes", "2"] {
        assert!(!update_requested(Some(OsStr::new(other))), "{other:?}");
    }
    assert!(!update_requested(None));
}

fn fixture(name: &str) -> String {
    fs::read_to_string(dir("fixtures").join(name)).unwrap()
}

/// Decodes a fixture and compares its text rendering with the golden file of the same name.
fn golden(name: &str) -> Report {
    let report = decode_text(&fixture(name));
    let actual = report.to_text();
    let path = dir("golden").join(name);
    if update_golden() {
        fs::write(&path, &actual).unwrap();
    } else {
        let expected = fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
        assert_eq!(
            actual, expected,
            "golden mismatch for {name}; UPDATE_GOLDEN=1 regenerates"
        );
    }
    // The JSON rendering is always valid JSON.
    let _: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    report
}

fn has_finding(r: &Report, id: &str) -> bool {
    r.findings.iter().any(|f| f.id == id)
}

fn code<'a>(r: &'a Report, text: &str) -> &'a lantern_probe::decode::CodeExplanation {
    r.codes
        .iter()
        .find(|c| c.text == text)
        .unwrap_or_else(|| panic!("no code {text:?} in {:#?}", r.codes))
}

// ---------------------------------------------------------------------------------------------
// The field reports

#[test]
fn seed_000_tls_ok_then_closed_after_first_application_data() {
    let r = golden("seed000_esp_modem_hivemq.txt");
    // The device's 77-byte application-data record (confirmed by +CIPSEND: 0,77,77) …
    let sent = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::FromDevice))
        .unwrap();
    assert_eq!((sent.protocol, sent.len), ("tls", 77));
    assert!(
        sent.items[0].summary.contains("application data"),
        "{}",
        sent.items[0].summary
    );
    // … the 5-byte record header the modem delivered after +CIPRXGET: 2,0,5,59 …
    let got = r
        .streams
        .iter()
        .find(|s| s.source.starts_with("+CIPRXGET"))
        .unwrap();
    assert_eq!(got.direction, Some(Dir::ToDevice));
    assert!(got.items[0]
        .summary
        .contains("application data, TLSv1.2, 28 bytes"));
    // … and the remote close.
    assert!(
        has_finding(&r, "tls.closed_after_first_application_data"),
        "{:#?}",
        r.findings
    );
    assert_eq!(code(&r, "+IPCLOSE: 0,1").name, "closed by remote");
    assert_eq!(code(&r, "0x103").name, "ESP_ERR_INVALID_STATE");
    assert!(r.has_problems());
}

#[test]
fn seed_001_simcom_codes_are_explained() {
    let r = golden("seed001_simcom_cmqtt.txt");
    let c32 = code(&r, "+CMQTTCONNECT: 0,32");
    assert_eq!(c32.name, "handshake fail");
    assert!(c32.occurrences >= 2);
    assert_eq!(
        code(&r, "+CMQTTCONNECT: 0,34").name,
        "open SSL session failed"
    );
    assert_eq!(
        code(&r, "+CMQTTCONNECT: 0,31").name,
        "connection refused: not authorized"
    );
    assert!(!code(&r, "+CMQTTCONNECT: 0,0").is_error);
    assert!(has_finding(&r, "simcom.cmqtt_connect_failed"));
    assert_eq!(r.cert_downloads.len(), 1);
    assert_eq!(r.cert_downloads[0].declared, 1338);
}

#[test]
fn seed_002_connack_with_remaining_length_zero() {
    let r = golden("seed002_connack.txt");
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "mqtt.connack_remaining_length_0")
        .unwrap();
    assert!(f.message.contains("must have 2 bytes"), "{}", f.message);
    assert!(
        has_finding(&r, "mqtt.client_disconnected_early"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn seed_002_w5500_client_hello_without_sni_and_bad_record_length() {
    let r = golden("seed002_w5500_handshake.txt");
    let hello = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::FromDevice))
        .unwrap();
    assert_eq!(hello.protocol, "tls");
    assert!(hello.items[0].summary.contains("ClientHello"));
    assert!(hello.items[0]
        .details
        .iter()
        .any(|d| d == "SNI: none (no server_name extension)"));
    let server = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::ToDevice))
        .unwrap();
    assert!(server.items[0]
        .details
        .iter()
        .any(|d| d.contains("TLS_RSA_WITH_AES_128_GCM_SHA256")));
    assert!(has_finding(&r, "tls.no_sni"));
    assert!(
        has_finding(&r, "tls.record_exceeds_buffer"),
        "{:#?}",
        r.findings
    );
    assert_eq!(code(&r, "-0x7200").name, "MBEDTLS_ERR_SSL_INVALID_RECORD");
    // "ssl->f_send() returned 66 (-0xffffffbe)" is a byte count, not an error code.
    assert!(!r.codes.iter().any(|c| c.text.contains("FFFF")));
}

#[test]
fn seed_003_mbedtls_conn_eof_is_explained() {
    let r = golden("seed003_zephyr_azure_ws.txt");
    assert_eq!(code(&r, "-0x7280").name, "MBEDTLS_ERR_SSL_CONN_EOF");
    // Zephyr's "DNS recv error (-103)" is an errno, not an mbedTLS code.
    assert_eq!(r.codes.len(), 1, "{:#?}", r.codes);
}

#[test]
fn seed_004_nrf91_credentials() {
    let r = golden("seed004_nrf9160_cmng.txt");
    assert_eq!(code(&r, "AT%CMNG type 0").name, "root CA certificate");
    assert_eq!(code(&r, "AT%CMNG type 2").name, "client private key");
    assert!(!r.has_problems());
}

// ---------------------------------------------------------------------------------------------
// Hand-made dumps

#[test]
fn handmade_connect_connack_v311_wireshark() {
    let r = golden("wireshark_v311.txt");
    let dev = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::FromDevice))
        .unwrap();
    assert!(
        dev.items[0]
            .summary
            .starts_with("CONNECT MQTT 3.1.1, client id \"dev1\""),
        "{}",
        dev.items[0].summary
    );
    let brk = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::ToDevice))
        .unwrap();
    assert!(
        brk.items[0].summary.contains("return code 0"),
        "{}",
        brk.items[0].summary
    );
    assert!(!r.has_problems(), "{:#?}", r.findings);
}

#[test]
fn handmade_connect_connack_v5_refused() {
    let r = golden("c_array_v5.txt");
    assert!(r.streams[0].items[0]
        .summary
        .starts_with("CONNECT MQTT 5.0"));
    assert!(
        r.streams[1].items[0].summary.contains("Not authorized"),
        "{:#?}",
        r.streams[1]
    );
    assert!(has_finding(&r, "mqtt.connack_refused"));
}

#[test]
fn handmade_plain_hex_forms() {
    let r = golden("plain_hex_forms.txt");
    // Four spellings of PINGREQ / PINGRESP / DISCONNECT, each its own stream.
    let summaries: Vec<&str> = r
        .streams
        .iter()
        .map(|s| s.items[0].summary.as_str())
        .collect();
    assert_eq!(summaries, ["PINGREQ", "PINGRESP", "DISCONNECT", "PINGREQ"]);
    assert!(!r.has_problems());
}

#[test]
fn handmade_malformed_publish() {
    let r = golden("malformed.txt");
    assert!(
        has_finding(&r, "mqtt.malformed_packet"),
        "{:#?}",
        r.findings
    );
}

#[test]
fn handmade_client_hello_and_alert() {
    let r = golden("tls_hello_alert.txt");
    let alert = r.findings.iter().find(|f| f.id == "tls.alert").unwrap();
    assert!(
        alert
            .message
            .contains("The broker sent the TLS alert fatal unrecognized_name"),
        "{}",
        alert.message
    );
    assert!(!has_finding(&r, "tls.no_sni"), "this hello carries SNI");
}

#[test]
fn handmade_interleaved_at_data() {
    let r = golden("at_interleaved.txt");
    let sent = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::FromDevice))
        .unwrap();
    assert!(sent.items[0].summary.starts_with("CONNECT"), "{:#?}", sent);
    let got = r
        .streams
        .iter()
        .find(|s| s.direction == Some(Dir::ToDevice))
        .unwrap();
    assert!(
        got.items[0].summary.contains("Bad User Name or Password"),
        "{:#?}",
        got
    );
    assert_eq!(code(&r, "+CME ERROR: 10").name, "SIM not inserted");
}

#[test]
fn handmade_esp_idf_with_direction_words() {
    let r = golden("esp_idf_pingreq.txt");
    assert_eq!(r.streams.len(), 2);
    assert_eq!(r.streams[0].direction, Some(Dir::FromDevice));
    assert_eq!(r.streams[1].direction, Some(Dir::ToDevice));
}

#[test]
fn handmade_simcom_ssl_and_connlost_codes() {
    let r = golden("simcom_cch_connlost.txt");
    let hs = code(&r, "+CCHOPEN: 0,15");
    assert_eq!(hs.table, "SIMCom SSL (CCH)");
    assert_eq!(hs.name, "handshake error");
    assert!(hs.is_error);
    assert_eq!(code(&r, "+CCHOPEN: 0,13").name, "get DNS error");
    assert_eq!(code(&r, "+CCHOPEN: 1,19").name, "not set certificates");
    assert_eq!(code(&r, "+CCH_RECV_CLOSED: 0,4").name, "peer closed");
    assert!(!code(&r, "+CCHSTART: 0").is_error);
    assert!(!code(&r, "+CCHSTOP: 0").is_error);
    // A value outside the manual's 0–19 is reported as unknown, not guessed.
    assert_eq!(code(&r, "+CCHOPEN: 0,42").name, "unknown code");
    let lost = code(&r, "+CMQTTCONNLOST: 0,1");
    assert_eq!(lost.table, "SIMCom +CMQTTCONNLOST");
    assert_eq!(lost.name, "socket is closed passively");
    assert_eq!(code(&r, "+CMQTTCONNLOST: 0,2").name, "socket is reset");
    assert_eq!(code(&r, "+CMQTTCONNLOST: 0,3").name, "network is closed");
    assert_eq!(code(&r, "+CMQTTCONNLOST: 1,9").name, "unknown code");
    // The CCH/CONNLOST codes do not leak into the CMQTT result-code table.
    assert!(r
        .codes
        .iter()
        .filter(|c| c.text.starts_with("+CCH") || c.text.starts_with("+CMQTTCONNLOST"))
        .all(|c| c.table != "SIMCom CMQTT"));
}
