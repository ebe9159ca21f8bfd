//! The catalogue of explanations (test tier 7: golden tests for diagnostics text).
//!
//! `samples()` builds one realistic story for every [`Cause`], with the values a real device
//! produces (the field reports in `shared/seeds`: SIMCom SIM7600/A7670 modems, ESP32 with
//! ESP-IDF, STM32 + W5500 + mbedTLS, nRF91/nRF70, SNI-routing cloud brokers). Each verdict is
//! rendered as text and compared with `tests/golden/<cause id>.txt`; `extra_samples()` covers
//! the branches of the text that change the sentence or the fixes (`<cause id>+<branch>.txt`).
//!
//! The sentences are product output: to accept a change, run
//! `UPDATE_GOLDEN=1 cargo test -p lantern-diag --test catalogue` and review the diff.
//!
//! `Cause` is `#[non_exhaustive]`, so a `match` here cannot prove that every variant has a
//! sample. Instead the ids of the samples are compared with the `#[serde(rename = "…")]` ids in
//! `src/cause.rs`: a new variant without a sample fails `every_cause_has_a_sample`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use lantern_diag::{Cause, Event, EventKind, HelloSummary, Initiator, Outcome, Story, Verdict};

/// 2025-01-10T09:06:40Z: when every sample story starts.
const STARTED_MS: u64 = 1_736_500_000_000;

/// The host names the sample TLS listener serves (tenant "acme").
const SERVED: [&str; 2] = ["mqtt.acme.example", "*.devices.acme.example"];

/// What a default Lantern TLS listener accepts: rustls's ring provider, named as
/// `lantern_net::tls::suite_name` names them.
const RUSTLS_SUITES: [&str; 9] = [
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];

/// One realistic sample of every cause, keyed by nothing but the cause's own id.
fn samples() -> Vec<(Cause, Story)> {
    vec![
        // --- TLS ---
        (
            Cause::NoSni { served: strings(&SERVED) },
            // Field reports 000 and 001: a SIMCom modem without AT+CSSLCFG="enableSNI".
            tls_refused(simcom_hello(None)),
        ),
        (
            Cause::SniUnknown {
                name: "mqtt.acme-staging.example".into(),
                served: strings(&SERVED),
            },
            // Field report 004: an nRF91 application still naming an old host.
            tls_refused(nrf91_hello(Some("mqtt.acme-staging.example"))),
        ),
        (
            Cause::SniMalformed {
                detail: "received corrupt message of type InvalidServerName".into(),
            },
            closed(
                first_bytes(tls_story(), "tls_client_hello", TLS_HELLO_HEX),
                12,
                Initiator::Client,
            ),
        ),
        (
            Cause::NoSharedVersion {
                offered: strings(&["TLSv1.1", "TLSv1.0"]),
                accepted: strings(&["TLSv1.3", "TLSv1.2"]),
            },
            tls_refused(HelloSummary {
                versions: strings(&["TLSv1.1", "TLSv1.0"]),
                cipher_suites: strings(&[
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
                ]),
                ..simcom_hello(Some("mqtt.acme.example"))
            }),
        ),
        (
            Cause::NoSharedCipher {
                offered: strings(&MBEDTLS_RSA_ONLY_SUITES),
                accepted: strings(&RUSTLS_SUITES),
            },
            // Field report 002: STM32 + W5500 with an mbedTLS 2 build that has only RSA key
            // exchange ("Ciphersuite is TLS-RSA-WITH-AES-256-CBC-SHA256" against mosquitto).
            tls_failed(mbedtls_rsa_hello(), "peer is incompatible: NoCipherSuitesInCommon", Initiator::Broker),
        ),
        (
            Cause::NoSharedSignature {
                offered: strings(&["RSA_PKCS1_SHA512", "RSA_PKCS1_SHA384", "RSA_PKCS1_SHA256", "RSA_PKCS1_SHA1"]),
                server_key: "ECDSA P-256".into(),
            },
            tls_failed(
                HelloSummary {
                    cipher_suites: strings(&[
                        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                        "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
                    ]),
                    signature_schemes: strings(&["RSA_PKCS1_SHA512", "RSA_PKCS1_SHA384", "RSA_PKCS1_SHA256", "RSA_PKCS1_SHA1"]),
                    ..mbedtls_rsa_hello()
                },
                "peer is incompatible: NoSignatureSchemesInCommon",
                Initiator::Broker,
            ),
        ),
        (
            Cause::ClientRejectedServerCert {
                alert: "alert unknown_ca".into(),
                root: "CN=Lantern Development CA".into(),
                validity: "2025-01-03 .. 2025-04-03".into(),
                clock_suspect: false,
            },
            // Field report 000: ESP32 + A7670 with the wrong root certificate loaded.
            tls_failed(esp_idf_hello(), "received fatal alert: UnknownCA", Initiator::Client),
        ),
        (Cause::ClientCertMissing, mtls_failed("peer sent no certificates", Initiator::Broker)),
        (
            Cause::ClientCertUntrusted {
                issuer: "CN=Acme Factory CA 2019,O=Acme".into(),
                trusted: strings(&["CN=Acme Devices CA,O=Acme"]),
            },
            mtls_failed("invalid peer certificate: UnknownIssuer", Initiator::Broker),
        ),
        (
            Cause::ClientCertExpired {
                subject: "CN=sensor-0042,O=Acme".into(),
                not_after: "2024-12-01".into(),
            },
            mtls_failed("invalid peer certificate: Expired", Initiator::Broker),
        ),
        (
            Cause::ClientCertNotYetValid {
                subject: "CN=sensor-0042,O=Acme".into(),
                not_before: "2025-03-01".into(),
            },
            mtls_failed("invalid peer certificate: NotValidYet", Initiator::Broker),
        ),
        (
            Cause::ClientCertRevoked { subject: "CN=sensor-0013,O=Acme".into() },
            mtls_failed("invalid peer certificate: Revoked", Initiator::Broker),
        ),
        (
            Cause::ClientCertInvalid { detail: "InvalidPurpose".into() },
            mtls_failed("invalid peer certificate: InvalidPurpose", Initiator::Broker),
        ),
        (
            Cause::RenegotiationRefused,
            // Field report 003: nRF7002 with CONFIG_MBEDTLS_SSL_RENEGOTIATION.
            closed(
                push(
                    established(tls_story(), nrf70_hello()),
                    900,
                    EventKind::TlsFailed {
                        error: "peer misbehaved: TooManyRenegotiationRequests".into(),
                        by: Initiator::Broker,
                    },
                ),
                901,
                Initiator::Broker,
            ),
        ),
        (
            Cause::HandshakeTimeout { timeout_s: 10.0, bytes: 517 },
            closed(with_hello(tls_story(), simcom_hello(Some("mqtt.acme.example"))), 10_000, Initiator::Client),
        ),
        (
            Cause::HandshakeFailed {
                detail: "the client sent the alert DecodeError".into(),
                by_client: true,
            },
            tls_failed(simcom_hello(Some("mqtt.acme.example")), "received fatal alert: DecodeError", Initiator::Client),
        ),
        (
            Cause::ClosedAfterHandshake,
            closed(established(tls_story(), esp_idf_hello()), 2_140, Initiator::Client),
        ),
        // --- wrong protocol on a port ---
        (
            Cause::PlainMqttOnTlsPort,
            closed(first_bytes(tls_story(), "mqtt_connect", CONNECT_HEX), 35, Initiator::Client),
        ),
        (
            Cause::PlainHttpOnTlsPort,
            closed(
                first_bytes(story("wss", "wss", 443), "http", "47 45 54 20 2f 6d 71 74 74 20 48 54 54 50 2f 31 2e 31 0d 0a"),
                4,
                Initiator::Client,
            ),
        ),
        (
            Cause::TlsOnPlainPort,
            closed(first_bytes(tcp_story(), "tls_client_hello", TLS_HELLO_HEX), 3, Initiator::Broker),
        ),
        (
            Cause::HttpOnMqttPort { request_line: "GET /mqtt HTTP/1.1".into() },
            closed(
                first_bytes(tcp_story(), "http", "47 45 54 20 2f 6d 71 74 74 20 48 54 54 50 2f 31 2e 31 0d 0a"),
                3,
                Initiator::Broker,
            ),
        ),
        (
            Cause::MqttOnWsPort,
            closed(first_bytes(story("ws", "ws", 8080), "mqtt_connect", CONNECT_HEX), 3, Initiator::Client),
        ),
        (
            Cause::TextInsteadOfPacket { text: "AT+CIPSEND=0,77".into() },
            // Field report 000: an AT-command modem whose commands end up in the socket.
            closed(
                first_bytes(tcp_story(), "text", "41 54 2b 43 49 50 53 45 4e 44 3d 30 2c 37 37 0d 0a"),
                6,
                Initiator::Broker,
            ),
        ),
        (
            Cause::NotAConnect {
                hex: "82 0e 00 01 00 09 64 65 76 2f 63 6d 64 2f 23 01".into(),
                packet: Some("SUBSCRIBE".into()),
            },
            closed(
                first_bytes(tcp_story(), "binary", "82 0e 00 01 00 09 64 65 76 2f 63 6d 64 2f 23 01"),
                5,
                Initiator::Broker,
            ),
        ),
        (Cause::ClosedBeforeData, closed(tls_story(), 2, Initiator::Client)),
        // --- MQTT ---
        (
            Cause::Malformed {
                packet: Some("CONNECT".into()),
                detail: "CONNECT: connect flags 0x03 set reserved bit 0, but it must be 0 [MQTT-3.1.2-3]".into(),
                rule: Some("MQTT-3.1.2-3".into()),
                bytes: MALFORMED_CONNECT_HEX.into(),
            },
            closed(first_bytes(tcp_story(), "mqtt_connect", MALFORMED_CONNECT_HEX), 8, Initiator::Broker),
        ),
        (
            Cause::ProtocolViolation { detail: "CONNACK is sent by servers only, never by clients".into() },
            closed(connected(tcp_story(), 4, 60), 1_200, Initiator::Broker),
        ),
        (
            Cause::SecondConnect,
            // The shape of field report 002: a W5500 + mbedTLS read loop that misses its CONNACK.
            closed(
                push(connected(established(tls_story(), mbedtls_ecdhe_hello()), 4, 60), 5_100, connect_event(4, 60, true, true)),
                5_101,
                Initiator::Broker,
            ),
        ),
        (
            Cause::ConnectTimeout { waited_s: 10.0, bytes: 0 },
            closed(established(tls_story(), esp_idf_hello()), 10_400, Initiator::Broker),
        ),
        (
            Cause::Refused {
                code: 0x85,
                detail: "CONNECT carried an empty client id with clean session 0 [MQTT-3.1.3-8]".into(),
            },
            closed(
                push(
                    push(
                        tcp_story(),
                        30,
                        EventKind::Connect {
                            protocol_name: "MQTT".into(),
                            protocol_level: 4,
                            client_id: String::new(),
                            clean_start: false,
                            keep_alive: 60,
                            will_topic: None,
                            username_present: false,
                            password_present: false,
                        },
                    ),
                    31,
                    EventKind::ConnAck { code: 0x02, session_present: false },
                ),
                32,
                Initiator::Broker,
            ),
        ),
        // --- authentication ---
        (Cause::NoCredentials, refused_connect(tls_story(), false, false, 0x05)),
        (Cause::UnknownUser { username: "mallory".into() }, refused_connect(tls_story(), true, true, 0x04)),
        (
            Cause::BadPassword { username: "alice".into(), password_sent: true },
            // Field report 001: AT+CMQTTCONNECT with the user name and password as arguments.
            refused_connect(tls_story(), true, true, 0x04),
        ),
        (Cause::PasswordWithoutUsername, refused_connect(tls_story(), false, true, 0x86)),
        (
            Cause::CertIdentityMismatch {
                client_id: "ESP32-7C9EBD4A1F20".into(),
                identity: "sensor-0042".into(),
            },
            refused_connect_as(mtls_story(), "ESP32-7C9EBD4A1F20", false, false, 0x02),
        ),
        // --- session ---
        (
            Cause::KeepAliveExpired { keep_alive_s: 60, idle_s: 90.4, packets_after_connect: 0 },
            // Field report 002: CONNACK sent, never read, nothing more from the device.
            closed(connected(established(tls_story(), mbedtls_ecdhe_hello()), 4, 60), 90_700, Initiator::Broker),
        ),
        (
            Cause::TakenOver,
            closed(connected(tls_story(), 4, 60), 3_600_000, Initiator::Broker),
        ),
        (
            Cause::SessionOtherIdentity {
                client_id: "sensor-0042".into(),
                owner: Some("sensor-0042".into()),
                identity: Some("provisioning".into()),
            },
            closed(
                push(tls_story(), 700, connect_event(5, 60, true, true)),
                706,
                Initiator::Broker,
            ),
        ),
        (
            Cause::SlowSubscriber {
                queued: 1000,
                max_queued: 1000,
                inflight: 64,
                window: 64,
                stuck_s: 30.0,
                timeout_s: 30.0,
            },
            // A gateway subscribed to `#` at QoS 1 that stopped reading during a burst.
            closed(
                push(
                    connected(tls_story(), 5, 60),
                    95_000,
                    EventKind::Disconnect { code: 0x97, by: Initiator::Broker },
                ),
                95_001,
                Initiator::Broker,
            ),
        ),
        (
            Cause::ClientDisconnect { code: 0x00 },
            closed(
                push(connected(tls_story(), 5, 60), 61_000, EventKind::Disconnect { code: 0x00, by: Initiator::Client }),
                61_001,
                Initiator::Client,
            ),
        ),
        (Cause::PeerClosed, {
            let mut s = closed(connected(tls_story(), 4, 60), 600_000, Initiator::Client);
            s.counters.packets_in = 12;
            s.counters.last_packet_in = Some("PUBLISH".into());
            s
        }),
        (
            Cause::NetworkError { detail: "Connection reset by peer (os error 104)".into() },
            closed(connected(tls_story(), 4, 300), 1_800_000, Initiator::Network),
        ),
        (
            Cause::ServerShutdown,
            closed(connected(tls_story(), 5, 60), 86_400_000, Initiator::Broker),
        ),
        (
            Cause::StoreUnavailable { topic: "plant/7/temp".into(), qos: 1 },
            // The data disk filled up under a fleet publishing at QoS 1.
            closed(
                push(
                    connected(tls_story(), 5, 60),
                    42_000,
                    EventKind::Disconnect { code: 0x97, by: Initiator::Broker },
                ),
                42_001,
                Initiator::Broker,
            ),
        ),
        (Cause::HandshakeCapacity, closed(tls_story(), 10_000, Initiator::Broker)),
        (Cause::FirstByteTimeout { timeout_s: 3.0 }, silent(closed(tls_story(), 3_000, Initiator::Client))),
        (
            Cause::HandshakeEvicted { held_s: 4.2, max_handshakes: 1024, bytes: 517 },
            closed(tls_story(), 4_200, Initiator::Broker),
        ),
        (
            Cause::ConnectionLimit {
                limit: "max_connections_per_ip".into(),
                max: 10_000,
                scope: "address 100.64.17.9".into(),
                counts: "connections open".into(),
            },
            silent(closed(tls_story(), 0, Initiator::Broker)),
        ),
        (
            Cause::ConnectRate { address: "100.64.17.9".into(), per_second: 200, burst: 2_000 },
            silent(closed(tls_story(), 0, Initiator::Broker)),
        ),
        (
            Cause::Internal { detail: "the connection task ended early".into() },
            closed(tls_story(), 12, Initiator::Broker),
        ),
        // --- WebSocket ---
        (
            Cause::WsWrongPath { path: "/$iothub/websocket".into(), expected: "/mqtt".into() },
            // Field report 003: an Azure IoT Hub sample pointed at another broker.
            ws_refused("/$iothub/websocket", &["mqtt"], 404),
        ),
        (Cause::WsNoSubprotocol, ws_refused("/mqtt", &[], 400)),
        (
            Cause::WsUnknownSubprotocol { offered: strings(&["binary", "base64"]) },
            ws_refused("/mqtt", &["binary", "base64"], 400),
        ),
        (Cause::WsNotAnUpgrade { request: "GET /".into() }, ws_refused("/", &[], 426)),
        (
            Cause::WsBadRequest {
                detail: "the upgrade asked for WebSocket version 8, this listener speaks version 13".into(),
            },
            ws_refused("/mqtt", &["mqtt"], 426),
        ),
        (Cause::Open, connected(tls_story(), 5, 60)),
    ]
}

/// Samples of the branches that change a sentence or its fixes, named `<cause id>+<branch>`.
fn extra_samples() -> Vec<(&'static str, Cause, Story)> {
    vec![
        (
            "sni_ip",
            Cause::NoSni {
                served: strings(&SERVED),
            },
            tls_refused(HelloSummary {
                sni_ip: Some("203.0.113.7".into()),
                ..esp_idf_hello()
            }),
        ),
        (
            "tls13_listener",
            Cause::NoSharedVersion {
                offered: strings(&["TLSv1.2"]),
                accepted: strings(&["TLSv1.3"]),
            },
            tls_refused(simcom_hello(Some("mqtt.acme.example"))),
        ),
        (
            "suite_not_listed",
            Cause::NoSharedCipher {
                offered: strings(&[
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
                ]),
                accepted: strings(&RUSTLS_SUITES[..3]),
            },
            tls_refused(HelloSummary {
                cipher_suites: strings(&[
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
                ]),
                ..simcom_hello(Some("mqtt.acme.example"))
            }),
        ),
        (
            "clock",
            Cause::ClientRejectedServerCert {
                alert: "alert certificate_expired".into(),
                root: "CN=ISRG Root X1,O=Internet Security Research Group,C=US".into(),
                validity: "2024-12-20 .. 2025-03-20".into(),
                clock_suspect: true,
            },
            tls_failed(
                simcom_hello(Some("mqtt.acme.example")),
                "received fatal alert: CertificateExpired",
                Initiator::Client,
            ),
        ),
        (
            "silent_close",
            Cause::ClientRejectedServerCert {
                alert:
                    "closed the connection right after the server's certificate, without an alert"
                        .into(),
                root: "CN=ISRG Root X1,O=Internet Security Research Group,C=US".into(),
                validity: "2024-12-20 .. 2025-03-20".into(),
                clock_suspect: false,
            },
            closed(
                with_hello(tls_story(), simcom_hello(Some("mqtt.acme.example"))),
                1_900,
                Initiator::Client,
            ),
        ),
        (
            "same_name",
            Cause::ClientCertUntrusted {
                issuer: "CN=Lantern Development CA".into(),
                trusted: strings(&["CN=Lantern Development CA"]),
            },
            mtls_failed("invalid peer certificate: BadSignature", Initiator::Broker),
        ),
        (
            "no_bytes",
            Cause::HandshakeTimeout {
                timeout_s: 10.0,
                bytes: 0,
            },
            closed(tls_story(), 10_000, Initiator::Client),
        ),
        (
            "partial",
            Cause::ConnectTimeout {
                waited_s: 10.0,
                bytes: 14,
            },
            closed(
                first_bytes(
                    tcp_story(),
                    "mqtt_connect",
                    "10 2a 00 04 4d 51 54 54 04 c2 00 3c 00 0b",
                ),
                10_000,
                Initiator::Broker,
            ),
        ),
        (
            "no_password",
            Cause::BadPassword {
                username: "alice".into(),
                password_sent: false,
            },
            refused_connect(tls_story(), true, false, 0x04),
        ),
        (
            "traffic",
            Cause::KeepAliveExpired {
                keep_alive_s: 300,
                idle_s: 452.0,
                packets_after_connect: 37,
            },
            closed(connected(tls_story(), 4, 300), 3_000_000, Initiator::Broker),
        ),
        (
            "error_code",
            Cause::ClientDisconnect { code: 0x83 },
            closed(connected(tls_story(), 5, 60), 20_000, Initiator::Client),
        ),
        (
            // Issue 9 defect 5: a SIMCom CONNECT command with its credentials, recorded raw (as
            // a story written before redaction would hold it): the sentence hides them.
            "at_password",
            Cause::TextInsteadOfPacket {
                text: r#"AT+CMQTTCONNECT=0,"tcp://broker.example:1883",60,1,"dev-7","s3cret-pw""#
                    .into(),
            },
            closed(
                first_bytes(tcp_story(), "text", "41 54 2b 43 4d 51 54 54"),
                5,
                Initiator::Broker,
            ),
        ),
        (
            "query_token",
            Cause::HttpOnMqttPort {
                request_line: "GET /mqtt?token=s3cret-tok HTTP/1.1".into(),
            },
            closed(
                first_bytes(tcp_story(), "http", "47 45 54 20"),
                3,
                Initiator::Broker,
            ),
        ),
        (
            "other_text",
            Cause::TextInsteadOfPacket {
                text: "hello from sensor-0042".into(),
            },
            closed(
                first_bytes(tcp_story(), "text", "68 65 6c 6c 6f"),
                4,
                Initiator::Broker,
            ),
        ),
    ]
}

// --- the tests ---

#[test]
fn every_cause_has_a_sample() {
    let declared = declared_ids();
    assert!(
        declared.len() > 40,
        "found only {} ids in src/cause.rs: {declared:?}",
        declared.len()
    );
    let mut sampled = BTreeSet::new();
    for (cause, _) in samples() {
        let id = cause.id().to_owned();
        assert!(sampled.insert(id.clone()), "two samples for {id}");
    }
    let missing: Vec<_> = declared.difference(&sampled).collect();
    let unknown: Vec<_> = sampled.difference(&declared).collect();
    assert!(
        missing.is_empty(),
        "causes without a sample in samples(): {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "samples whose id is not declared in src/cause.rs: {unknown:?}"
    );
}

#[test]
fn golden_files_match() {
    let dir = golden_dir();
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut expected_files = BTreeSet::new();
    let mut mismatches = Vec::new();
    for (name, cause, story) in all_samples() {
        let text = render(&cause.explain(&story));
        let path = dir.join(format!("{name}.txt"));
        expected_files.insert(path.clone());
        if update {
            fs::create_dir_all(&dir).expect("create tests/golden");
            fs::write(&path, &text).expect("write a golden file");
            continue;
        }
        match fs::read_to_string(&path) {
            Ok(golden) if golden == text => {}
            Ok(golden) => mismatches.push(format!(
                "{}:\n--- golden\n{golden}--- now\n{text}",
                path.display()
            )),
            Err(e) => mismatches.push(format!("{}: {e}\n--- now\n{text}", path.display())),
        }
    }
    // A golden file without a sample is a cause that was renamed or removed.
    for entry in fs::read_dir(&dir).expect("read tests/golden") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "txt") && !expected_files.contains(&path) {
            if update {
                fs::remove_file(&path).expect("remove a stale golden file");
            } else {
                mismatches.push(format!("{}: no sample renders this file", path.display()));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} golden file(s) differ; review, then rerun with UPDATE_GOLDEN=1 to accept:\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// The house rules for the text, checked on every sample: one sentence, and a fix for every
/// failure.
#[test]
fn verdicts_are_one_sentence_with_fixes() {
    for (name, cause, story) in all_samples() {
        let v = cause.explain(&story);
        let s = &v.sentence;
        assert_eq!(v.cause, cause.id(), "{name}");
        assert!(
            s.starts_with(|c: char| c.is_ascii_uppercase()),
            "{name}: starts lower case: {s}"
        );
        assert!(
            s.ends_with('.') && !s.ends_with(".."),
            "{name}: must end with one full stop: {s}"
        );
        assert!(!s.contains('\n'), "{name}: spans lines: {s}");
        let inner = &s[..s.len() - 1];
        let second = inner
            .match_indices(". ")
            .any(|(i, _)| inner[i + 2..].starts_with(|c: char| c.is_ascii_uppercase()));
        assert!(!second, "{name}: more than one sentence: {s}");
        // (An escaped quote ending a quoted value, `…\"x\""`, is not an empty value.)
        assert!(
            !s.replace("\\\"", "'").contains("\"\""),
            "{name}: an empty value in the sentence: {s}"
        );
        if v.outcome == Outcome::Failed {
            assert!(!v.fixes.is_empty(), "{name}: a failure without a fix");
        }
        let mut seen = BTreeSet::new();
        for fix in &v.fixes {
            assert!(
                !fix.is_empty() && !fix.contains('\n'),
                "{name}: fix {fix:?}"
            );
            assert!(
                !fix.ends_with('.'),
                "{name}: fixes are phrases without a full stop: {fix}"
            );
            assert!(seen.insert(fix), "{name}: the fix {fix:?} appears twice");
        }
    }
}

/// The id is what operators grep for and what the journal counts: it must survive JSON, and
/// so must the whole story.
#[test]
fn stories_round_trip_through_json() {
    for (name, cause, mut story) in all_samples() {
        story.finish(cause.clone());
        let json = serde_json::to_string(&story).expect("serialize");
        let back: Story = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, story, "{name}");
        let value: serde_json::Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(value["cause"]["id"], cause.id(), "{name}");
        assert_eq!(value["verdict"]["cause"], cause.id(), "{name}");
    }
}

/// Field report 002's device: the device hint names mbedTLS's configuration macros.
#[test]
fn legacy_only_hello_gets_the_mbedtls_hint() {
    let (cause, story) = sample("tls.no_shared_cipher");
    let v = cause.explain(&story);
    assert!(
        v.sentence.contains("TLS_RSA_WITH_AES_128_GCM_SHA256"),
        "{}",
        v.sentence
    );
    assert!(
        v.sentence.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
        "{}",
        v.sentence
    );
    assert!(
        v.fixes[0].contains("MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED"),
        "{:?}",
        v.fixes
    );
    // Without the ClientHello there is no evidence about the device, so no device hint.
    let bare = cause.explain(&Story::default());
    assert!(
        !bare
            .fixes
            .iter()
            .any(|f| f.contains("MBEDTLS_KEY_EXCHANGE")),
        "{:?}",
        bare.fixes
    );
}

/// Field reports 000 and 001: the SIMCom fix for a missing SNI.
#[test]
fn missing_sni_names_the_simcom_command() {
    let (cause, story) = sample("tls.no_sni");
    let v = cause.explain(&story);
    assert!(
        v.fixes
            .iter()
            .any(|f| f.contains("AT+CSSLCFG=\"enableSNI\",0,1")),
        "{:?}",
        v.fixes
    );
    assert!(v.sentence.contains("mqtt.acme.example"), "{}", v.sentence);
}

#[test]
fn diagnostics_md_covers_every_id_and_no_other() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/DIAGNOSTICS.md");
    let doc = fs::read_to_string(&path).expect("docs/DIAGNOSTICS.md");
    let declared = declared_ids();
    let headed: BTreeSet<String> = doc
        .lines()
        .filter(|l| l.starts_with('#'))
        .flat_map(|l| {
            l.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let unheaded: Vec<_> = declared.iter().filter(|id| !headed.contains(*id)).collect();
    assert!(
        unheaded.is_empty(),
        "ids without a `### `id`` heading in DIAGNOSTICS.md: {unheaded:?}"
    );
    let prefixes: BTreeSet<&str> = declared
        .iter()
        .filter_map(|id| id.split_once('.'))
        .map(|(p, _)| p)
        .collect();
    let mentioned: BTreeSet<String> = doc
        // Host names such as mqtt.acme-staging.example stay one token: ids never hold '-'.
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| {
            t.split_once('.').is_some_and(|(p, rest)| {
                prefixes.contains(p)
                    && !rest.is_empty()
                    && rest.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        })
        .map(str::to_owned)
        .collect();
    let stale: Vec<_> = mentioned.difference(&declared).collect();
    assert!(
        stale.is_empty(),
        "DIAGNOSTICS.md mentions ids that do not exist: {stale:?}"
    );
}

/// The example log lines in DIAGNOSTICS.md quote the sentences the code produces today.
#[test]
fn diagnostics_md_log_lines_match_the_sentences() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/DIAGNOSTICS.md");
    let doc = fs::read_to_string(&path).expect("docs/DIAGNOSTICS.md");
    let mut checked = 0;
    for line in doc.lines().filter(|l| l.contains(" INFO conn{")) {
        let id = line
            .split_once(" cause=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(id, _)| id)
            .expect("a cause field");
        let (cause, story) = sample(id);
        let v = cause.explain(&story);
        assert!(
            line.contains(&v.sentence),
            "the example for {id} is stale:\n{line}\nnow: {}",
            v.sentence
        );
        checked += 1;
    }
    assert!(
        checked > declared_ids().len(),
        "only {checked} example log lines"
    );
}

/// Stories carry no secrets because their types have no field for one: CONNECT records only
/// whether a password was present. This documents that invariant for the password a user
/// typed into the device.
#[test]
fn stories_and_verdicts_never_carry_the_password() {
    let typed = "hunter2-secret";
    let mut story = tls_story();
    story.client_id = Some("sensor-0042".into());
    let story = push(story, 40, connect_event(4, 60, true, true));
    let mut story = closed(
        push(
            story,
            41,
            EventKind::ConnAck {
                code: 0x04,
                session_present: false,
            },
        ),
        42,
        Initiator::Broker,
    );
    story.finish(Cause::BadPassword {
        username: "alice".into(),
        password_sent: true,
    });

    let json = serde_json::to_string_pretty(&story).expect("serialize");
    let text = render(&story.verdict);
    let debug = format!("{story:?}");
    for (what, out) in [("JSON", &json), ("verdict", &text), ("Debug", &debug)] {
        assert!(
            !out.contains(typed),
            "the password is in the {what}:\n{out}"
        );
    }
    assert!(json.contains("\"password_present\": true"), "{json}");
    assert!(
        text.contains("\"alice\""),
        "the user name is named:\n{text}"
    );

    let back: Story = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, story);
}

// --- rendering and the id list ---

/// A verdict as the golden files hold it.
fn render(v: &Verdict) -> String {
    let outcome = match v.outcome {
        Outcome::Ok => "ok",
        Outcome::Failed => "failed",
    };
    let mut s = format!(
        "cause: {}\noutcome: {outcome}\nsentence: {}\n",
        v.cause, v.sentence
    );
    for fix in &v.fixes {
        let _ = writeln!(s, "fix: {fix}");
    }
    s
}

/// The ids declared in src/cause.rs, from its `#[serde(rename = "…")]` attributes.
fn declared_ids() -> BTreeSet<String> {
    const SOURCE: &str = include_str!("../src/cause.rs");
    const MARK: &str = "#[serde(rename = \"";
    SOURCE
        .lines()
        .filter_map(|l| l.trim().strip_prefix(MARK))
        .filter_map(|rest| rest.split_once('"').map(|(id, _)| id.to_owned()))
        .collect()
}

/// Every sample with its golden file name.
fn all_samples() -> Vec<(String, Cause, Story)> {
    let mut all: Vec<_> = samples()
        .into_iter()
        .map(|(c, s)| (c.id().to_owned(), c, s))
        .collect();
    all.extend(
        extra_samples()
            .into_iter()
            .map(|(branch, c, s)| (format!("{}+{branch}", c.id()), c, s)),
    );
    all
}

fn sample(id: &str) -> (Cause, Story) {
    samples()
        .into_iter()
        .find(|(c, _)| c.id() == id)
        .expect("a sample")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

// --- story builders ---

/// A ClientHello record header and the start of its body, as the story's first bytes show it.
const TLS_HELLO_HEX: &str = "16 03 01 00 a5 01 00 00 a1 03 03 5e 9a 0c 41 7d 22 b6 01 ee 4f 93 0a 12 9b 6c 58 d1 34 ab 77 20 fe";

/// CONNECT, MQTT 3.1.1, clean session, user name and password, keep alive 60, client id
/// "sensor-0042" (first 32 bytes).
const CONNECT_HEX: &str = "10 28 00 04 4d 51 54 54 04 c2 00 3c 00 0b 73 65 6e 73 6f 72 2d 30 30 34 32 00 05 61 6c 69 63 65";

/// CONNECT with reserved connect flag bit 0 set (flags 0x03).
const MALFORMED_CONNECT_HEX: &str =
    "10 17 00 04 4d 51 54 54 04 03 00 3c 00 0b 73 65 6e 73 6f 72 2d 30 30 34 32";

/// Field report 002's offer: mbedTLS 2 built with RSA key exchange only.
const MBEDTLS_RSA_ONLY_SUITES: [&str; 3] = [
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA256",
    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn story(listener: &str, transport: &str, port: u16) -> Story {
    Story {
        id: 4711,
        listener: listener.into(),
        transport: transport.into(),
        // A carrier-grade NAT address, as cellular devices arrive from.
        peer: "100.64.17.9:50122".into(),
        started_ms: STARTED_MS,
        events: vec![Event {
            at_ms: 0,
            kind: EventKind::Accepted {
                local: format!("0.0.0.0:{port}"),
            },
        }],
        ..Story::default()
    }
}

fn tls_story() -> Story {
    let mut s = story("mqtts", "tls", 8883);
    s.tenant = Some("acme".into());
    s
}

fn mtls_story() -> Story {
    let mut s = story("mqtts-mtls", "tls", 8884);
    s.tenant = Some("acme".into());
    s
}

fn tcp_story() -> Story {
    story("mqtt", "tcp", 1883)
}

fn push(mut story: Story, at_ms: u64, kind: EventKind) -> Story {
    story.events.push(Event { at_ms, kind });
    story
}

fn first_bytes(story: Story, looks_like: &str, hex: &str) -> Story {
    push(
        story,
        1,
        EventKind::FirstBytes {
            looks_like: looks_like.into(),
            hex: hex.into(),
        },
    )
}

fn with_hello(story: Story, hello: HelloSummary) -> Story {
    let mut s = push(
        first_bytes(story, "tls_client_hello", TLS_HELLO_HEX),
        2,
        EventKind::ClientHello(Box::new(hello.clone())),
    );
    s.hello_fingerprint = Some(hello.fingerprint);
    s
}

/// A closed story whose client sent nothing (`closed` counts a ClientHello's bytes).
fn silent(mut story: Story) -> Story {
    story.counters.bytes_in = 0;
    story
}

fn closed(mut story: Story, at_ms: u64, by: Initiator) -> Story {
    story.events.push(Event {
        at_ms,
        kind: EventKind::Closed { by },
    });
    story.duration_ms = at_ms;
    story.closed_by = by;
    story.counters.bytes_in = story.counters.bytes_in.max(517);
    story
}

/// Refused at the ClientHello (SNI, version).
fn tls_refused(hello: HelloSummary) -> Story {
    closed(with_hello(tls_story(), hello), 40, Initiator::Broker)
}

/// Failed during the handshake, with rustls's error.
fn tls_failed(hello: HelloSummary, error: &str, by: Initiator) -> Story {
    let s = push(
        with_hello(tls_story(), hello),
        380,
        EventKind::TlsFailed {
            error: error.into(),
            by,
        },
    );
    closed(s, 381, by)
}

fn mtls_failed(error: &str, by: Initiator) -> Story {
    let s = with_hello(mtls_story(), esp_idf_hello());
    closed(
        push(
            s,
            420,
            EventKind::TlsFailed {
                error: error.into(),
                by,
            },
        ),
        421,
        by,
    )
}

fn established(story: Story, hello: HelloSummary) -> Story {
    let suite = if hello.versions.first().is_some_and(|v| v == "TLSv1.3") {
        ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
    } else {
        ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
    };
    push(
        with_hello(story, hello),
        640,
        EventKind::TlsEstablished {
            version: suite.0.into(),
            suite: suite.1.into(),
            client_cert_subject: None,
            client_cert_issuer: None,
            client_cert_validity: None,
        },
    )
}

fn connect_as(
    client_id: &str,
    level: u8,
    keep_alive: u16,
    username: bool,
    password: bool,
) -> EventKind {
    EventKind::Connect {
        protocol_name: "MQTT".into(),
        protocol_level: level,
        client_id: client_id.into(),
        clean_start: true,
        keep_alive,
        will_topic: Some("devices/sensor-0042/status".into()),
        username_present: username,
        password_present: password,
    }
}

fn connect_event(level: u8, keep_alive: u16, username: bool, password: bool) -> EventKind {
    connect_as("sensor-0042", level, keep_alive, username, password)
}

/// CONNECT accepted: CONNECT, the auth decision, CONNACK.
fn connected(mut story: Story, level: u8, keep_alive: u16) -> Story {
    story.client_id = Some("sensor-0042".into());
    let s = push(story, 700, connect_event(level, keep_alive, true, true));
    let s = push(
        s,
        705,
        EventKind::Auth {
            allowed: true,
            detail: "as user \"alice\"".into(),
        },
    );
    push(
        s,
        706,
        EventKind::ConnAck {
            code: 0x00,
            session_present: false,
        },
    )
}

/// CONNECT refused with `code` (the 3.1.1 return code on the wire).
fn refused_connect(story: Story, username: bool, password: bool, code: u8) -> Story {
    refused_connect_as(story, "sensor-0042", username, password, code)
}

fn refused_connect_as(
    story: Story,
    client_id: &str,
    username: bool,
    password: bool,
    code: u8,
) -> Story {
    let mut s = with_hello(story, esp_idf_hello());
    s.client_id = Some(client_id.into());
    let s = push(s, 700, connect_as(client_id, 4, 60, username, password));
    let s = push(
        s,
        705,
        EventKind::Auth {
            allowed: false,
            detail: "refused".into(),
        },
    );
    closed(
        push(
            s,
            706,
            EventKind::ConnAck {
                code,
                session_present: false,
            },
        ),
        707,
        Initiator::Broker,
    )
}

fn ws_refused(path: &str, subprotocols: &[&str], status: u16) -> Story {
    let s = first_bytes(story("ws", "ws", 8080), "http", "47 45 54 20 2f");
    let s = push(
        s,
        3,
        EventKind::WsUpgrade {
            path: path.into(),
            subprotocols: strings(subprotocols),
            status,
        },
    );
    closed(s, 4, Initiator::Client)
}

// --- ClientHellos of the field reports' devices ---

/// SIMCom SIM7600/A7670 modem firmware: TLS 1.2 only, a short suite list, no SNI unless
/// enabled (reports 000, 001).
fn simcom_hello(sni: Option<&str>) -> HelloSummary {
    HelloSummary {
        sni: sni.map(str::to_owned),
        versions: strings(&["TLSv1.2"]),
        cipher_suites: strings(&[
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        ]),
        alpn: Vec::new(),
        signature_schemes: strings(&[
            "RSA_PKCS1_SHA256",
            "RSA_PKCS1_SHA384",
            "ECDSA_NISTP256_SHA256",
            "RSA_PKCS1_SHA1",
        ]),
        extensions: strings(&[
            "supported_groups",
            "ec_point_formats",
            "signature_algorithms",
            "extended_master_secret",
        ]),
        fingerprint: "t12i050400_6d8a2c1f0b3e_4f1e9a7c2d05".into(),
        ..HelloSummary::default()
    }
}

/// mbedTLS 2 on an STM32 + W5500 built with RSA key exchange only (report 002).
fn mbedtls_rsa_hello() -> HelloSummary {
    HelloSummary {
        sni: Some("mqtt.acme.example".into()),
        versions: strings(&["TLSv1.2"]),
        cipher_suites: strings(&MBEDTLS_RSA_ONLY_SUITES),
        alpn: Vec::new(),
        signature_schemes: strings(&[
            "RSA_PKCS1_SHA512",
            "RSA_PKCS1_SHA384",
            "RSA_PKCS1_SHA256",
            "RSA_PKCS1_SHA1",
        ]),
        extensions: strings(&[
            "server_name",
            "signature_algorithms",
            "encrypt_then_mac",
            "extended_master_secret",
        ]),
        fingerprint: "t12d030400_9a41c7e2b5d0_0c6f2e8a1b94".into(),
        ..HelloSummary::default()
    }
}

/// The same board after enabling ECDHE (report 002, once fixed).
fn mbedtls_ecdhe_hello() -> HelloSummary {
    HelloSummary {
        cipher_suites: strings(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        ]),
        fingerprint: "t12d040600_51be0d7a93c2_0c6f2e8a1b94".into(),
        ..mbedtls_rsa_hello()
    }
}

/// ESP32 with ESP-IDF 5 (esp-tls over mbedTLS 3): TLS 1.3 and 1.2.
fn esp_idf_hello() -> HelloSummary {
    HelloSummary {
        sni: Some("mqtt.acme.example".into()),
        versions: strings(&["TLSv1.3", "TLSv1.2"]),
        cipher_suites: strings(&[
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ]),
        alpn: strings(&["mqtt"]),
        signature_schemes: strings(&[
            "ECDSA_NISTP256_SHA256",
            "ECDSA_NISTP384_SHA384",
            "RSA_PSS_SHA256",
            "RSA_PKCS1_SHA256",
        ]),
        extensions: strings(&[
            "server_name",
            "supported_groups",
            "signature_algorithms",
            "application_layer_protocol_negotiation",
            "supported_versions",
            "key_share",
        ]),
        fingerprint: "t13d0609mq_3b7c1a9e4f20_8d2e6c0a5b71".into(),
        ..HelloSummary::default()
    }
}

/// nRF9160 modem firmware 1.2.x (report 004): TLS 1.2, SNI from the application's host name.
fn nrf91_hello(sni: Option<&str>) -> HelloSummary {
    HelloSummary {
        sni: sni.map(str::to_owned),
        cipher_suites: strings(&[
            "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_128_CBC_SHA256",
        ]),
        fingerprint: "t12d040500_77ad3e19c0b4_2a9f5d1e6c38".into(),
        ..simcom_hello(None)
    }
}

/// nRF7002 with nRF Connect SDK 2.7 (Zephyr mbedTLS, report 003).
fn nrf70_hello() -> HelloSummary {
    HelloSummary {
        sni: Some("mqtt.acme.example".into()),
        extensions: strings(&[
            "server_name",
            "renegotiation_info",
            "supported_groups",
            "signature_algorithms",
        ]),
        fingerprint: "t12d040600_51be0d7a93c2_1f7b3a9d0e42".into(),
        ..mbedtls_ecdhe_hello()
    }
}
