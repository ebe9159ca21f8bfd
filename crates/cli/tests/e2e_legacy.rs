//! The `legacy` TLS backend (the system OpenSSL) with real peers: `openssl s_client` with static
//! RSA and CBC suites, TLS 1.0 when configured, mosquitto_pub/sub with `--ciphers`; the weak
//! marker on each connection's story line; the same clients refused by a rustls listener with
//! the offered suite named; a configuration naming an unknown suite refused at start. Lantern
//! only.

mod common;

use common::tls::{fingerprint, listener, s_client_text, served_cert};
use common::{
    lantern, mosquitto_pub_at, openssl, output_text, skip_on_mosquitto, Broker, Sub, TempDir, V,
    WAIT,
};

const LANTERN_ONLY: &str = "Lantern's legacy TLS backend";

/// The suites the legacy listener of these tests offers.
const SUITES: &str = r#"cipher_suites = ["TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]"#;

/// A self-signed RSA server certificate for 127.0.0.1 (static RSA suites need an RSA key; the
/// development PKI is ECDSA). Returns (dir, cert, key).
fn rsa_server_cert() -> (TempDir, String, String) {
    let dir = TempDir::new("legacy-pki");
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &cert,
        ],
        None,
    );
    (dir, cert, key)
}

/// A broker with a legacy TLS listener (listed first) and a rustls one, both serving the RSA
/// certificate. `versions` is the legacy listener's `tls_versions` line, if any.
fn legacy_broker(versions: &str) -> (Broker, TempDir, String) {
    let (dir, cert, key) = rsa_server_cert();
    let toml = format!(
        "data_dir = \"{data}\"\n[[tenant]]\nname = \"default\"\ncert = \"{cert}\"\nkey = \"{key}\"\n{legacy}{modern}",
        data = dir.join("data"),
        legacy = listener(
            "tls",
            &format!("name = \"legacy\"\ntls_backend = \"legacy\"\n{versions}\n{SUITES}")
        ),
        modern = listener("tls", "name = \"modern\""),
    );
    let b = Broker::builder().config_file(&toml).start();
    (b, dir, cert)
}

fn ports(b: &Broker) -> (u16, u16) {
    let tls = b.ports_of("tls");
    (tls[0], tls[1])
}

#[test]
fn s_client_with_static_rsa_cbc_connects_and_the_story_marks_it_weak() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker("");
    let (legacy, _) = ports(&b);
    let (_, text) = s_client_text(
        legacy,
        &["-tls1_2", "-cipher", "AES128-SHA", "-CAfile", &cert],
    );
    assert!(text.contains("Cipher is AES128-SHA"), "{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    // The warning at start names the weak suites.
    let warning = b.wait_log(&["WARN", r#"tls_backend = "legacy""#], 1, WAIT);
    assert!(
        warning[0]
            .contains("TLS_RSA_WITH_AES_128_CBC_SHA (static RSA key exchange: no forward secrecy"),
        "{warning:?}"
    );
    let line = b.wait_log(
        &[
            "listener=legacy",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "weak_tls=",
        ],
        1,
        WAIT,
    );
    assert!(line[0].contains("TLSv1.2"), "{line:?}");
    assert!(
        line[0].contains("no forward secrecy") && line[0].contains("CBC mode"),
        "{line:?}"
    );
}

#[test]
fn s_client_with_gcm_or_sha256_static_rsa_connects() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker("");
    let (legacy, _) = ports(&b);
    let (_, text) = s_client_text(
        legacy,
        &[
            "-tls1_2",
            "-cipher",
            "AES128-GCM-SHA256:AES256-SHA256",
            "-CAfile",
            &cert,
        ],
    );
    assert!(
        text.contains("Cipher is AES128-GCM-SHA256") || text.contains("Cipher is AES256-SHA256"),
        "{text}"
    );
    // GCM under static RSA: weak for the key exchange only.
    let line = b.wait_log(
        &["listener=legacy", "TLS_RSA_WITH_AES_", "weak_tls="],
        1,
        WAIT,
    );
    assert!(line[0].contains("no forward secrecy"), "{line:?}");
}

#[test]
fn tls_1_0_connects_when_configured() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker(r#"tls_versions = ["1.0", "1.2"]"#);
    let (legacy, modern) = ports(&b);
    // The client's own OpenSSL needs security level 0 to offer TLS 1.0 at all.
    let args = [
        "-tls1",
        "-cipher",
        "AES128-SHA:@SECLEVEL=0",
        "-CAfile",
        cert.as_str(),
    ];
    let (_, text) = s_client_text(legacy, &args);
    assert!(text.contains("Cipher is AES128-SHA"), "{text}");
    assert!(text.contains("Protocol  : TLSv1\n"), "{text}");
    let line = b.wait_log(&["listener=legacy", "TLSv1.0", "weak_tls="], 1, WAIT);
    assert!(
        line[0].contains("TLS 1.0, deprecated by RFC 8996"),
        "{line:?}"
    );
    // The rustls listener refuses the same client. (Its cause today is tls.handshake_failed,
    // "SignatureAlgorithmsExtensionRequired": rustls rejects a TLS 1.0 hello while parsing it,
    // before any version negotiation; naming it as no_shared_version is a rustls-side change.)
    let (_, text) = s_client_text(modern, &args);
    assert!(!text.contains("Cipher is AES128-SHA"), "{text}");
    b.wait_log(&["listener=modern", "outcome=\"failed\""], 1, WAIT);
}

#[test]
fn tls_1_0_is_refused_unless_configured() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker("");
    let (legacy, _) = ports(&b);
    let args = [
        "-tls1",
        "-cipher",
        "AES128-SHA:@SECLEVEL=0",
        "-CAfile",
        cert.as_str(),
    ];
    let (_, text) = s_client_text(legacy, &args);
    assert!(!text.contains("Cipher is AES128-SHA"), "{text}");
    let line = b.wait_log(
        &["listener=legacy", "cause=\"tls.no_shared_version\""],
        1,
        WAIT,
    );
    assert!(line[0].contains("TLSv1.2"), "{line:?}");
}

#[test]
fn rustls_listener_refuses_static_rsa_naming_the_offered_suite() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker("");
    let (_, modern) = ports(&b);
    let (_, text) = s_client_text(
        modern,
        &["-tls1_2", "-cipher", "AES128-SHA", "-CAfile", &cert],
    );
    assert!(!text.contains("Cipher is AES128-SHA"), "{text}");
    let line = b.wait_log(
        &["listener=modern", "cause=\"tls.no_shared_cipher\""],
        1,
        WAIT,
    );
    assert!(line[0].contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{line:?}");
}

#[test]
fn legacy_listener_refuses_an_unlisted_suite_naming_it() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker("");
    let (legacy, _) = ports(&b);
    let (_, text) = s_client_text(
        legacy,
        &["-tls1_2", "-cipher", "AES256-SHA", "-CAfile", &cert],
    );
    assert!(!text.contains("Cipher is AES256-SHA"), "{text}");
    let line = b.wait_log(
        &["listener=legacy", "cause=\"tls.no_shared_cipher\""],
        1,
        WAIT,
    );
    assert!(
        line[0].contains("offered only TLS_RSA_WITH_AES_256_CBC_SHA"),
        "{line:?}"
    );
    assert!(line[0].contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{line:?}");
}

#[test]
fn mosquitto_clients_with_ciphers_exchange_messages_over_the_legacy_listener() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_broker("");
    let (legacy, modern) = ports(&b);
    let tls = [
        "--cafile",
        cert.as_str(),
        "--ciphers",
        "AES128-SHA",
        "--tls-version",
        "tlsv1.2",
    ];
    let mut sub = Sub::start_at(
        legacy,
        V::V311,
        &[&tls[..], &["-t", "legacy/#", "-q", "1"]].concat(),
    );
    mosquitto_pub_at(
        legacy,
        V::V5,
        &[
            &tls[..],
            &["-t", "legacy/t", "-m", "weak-but-working", "-q", "1"],
        ]
        .concat(),
    );
    let m = sub.recv("the message published over static RSA + CBC");
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        ("legacy/t", &b"weak-but-working"[..])
    );
    // The publisher's story: it ended normally, and its line carries the weak marker.
    let line = b.wait_log(
        &["listener=legacy", "session.client_disconnect", "weak_tls="],
        1,
        WAIT,
    );
    assert!(
        line[0].contains("static RSA key exchange: no forward secrecy"),
        "{line:?}"
    );

    // Not asserted: the same mosquitto_pub against the rustls listener. mosquitto's
    // `--tls-version tlsv1.2` is a minimum, so it negotiates TLS 1.3 there and succeeds; the
    // rustls refusal of AES128-SHA is checked with `s_client -tls1_2` above.
    let _ = modern;
}

#[test]
fn an_unknown_suite_refuses_to_start_naming_it() {
    let (dir, cert, key) = rsa_server_cert();
    let path = dir.join("lantern.toml");
    let toml = format!(
        "data_dir = \"{}\"\n[[tenant]]\nname = \"default\"\ncert = \"{cert}\"\nkey = \"{key}\"\n{}",
        dir.join("data"),
        listener(
            "tls",
            "tls_backend = \"legacy\"\ncipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_RSA_WITH_SEED_CBC_SHA\"]"
        )
    );
    std::fs::write(&path, toml).unwrap();
    let out = lantern(&["serve", "-c", &path, "--admin", "127.0.0.1:0"], None);
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("\"TLS_RSA_WITH_SEED_CBC_SHA\" is not available"),
        "{text}"
    );
}

/// A broker whose only TLS listener is legacy with these extra keys, the tenant having these
/// extra keys too. Returns the broker, the scratch dir and the server certificate.
fn legacy_only(
    transport: &str,
    listener_keys: &str,
    tenant_keys: &str,
) -> (Broker, TempDir, String) {
    let (dir, cert, key) = rsa_server_cert();
    let toml = format!(
        "data_dir = \"{data}\"\n[[tenant]]\nname = \"default\"\ncert = \"{cert}\"\nkey = \"{key}\"\n{tenant_keys}\n{legacy}",
        data = dir.join("data"),
        legacy = listener(
            transport,
            &format!("name = \"legacy\"\ntls_backend = \"legacy\"\n{SUITES}\n{listener_keys}")
        ),
    );
    let b = Broker::builder().config_file(&toml).start();
    (b, dir, cert)
}

#[test]
fn websocket_over_the_legacy_listener() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _dir, cert) = legacy_only("wss", "", "");
    let port = b.port_of("wss");
    common::python_at(
        &b,
        port,
        "secure.py",
        V::V5,
        &[
            "--case",
            "roundtrip",
            "--tls",
            "--ca",
            &cert,
            "--ws",
            "/mqtt",
        ],
    );
    // Python's default suites pick ECDHE + GCM here: established over OpenSSL, not weak.
    b.wait_log(&["listener=legacy", "connected version="], 2, WAIT);
    assert!(b.log_lines(&["weak_tls="]).is_empty(), "{}", b.log());
}

#[test]
fn mtls_and_identity_over_the_legacy_listener() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    // A throwaway client CA and one device certificate.
    let ca = TempDir::new("legacy-client-ca");
    let (ca_cert, ca_key) = (ca.join("ca.pem"), ca.join("ca.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=Legacy Devices CA",
            "-keyout",
            &ca_key,
            "-out",
            &ca_cert,
        ],
        None,
    );
    let (dev_key, dev_csr, dev_cert) = (ca.join("dev.key"), ca.join("dev.csr"), ca.join("dev.pem"));
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=dev-legacy-7",
            "-keyout",
            &dev_key,
            "-out",
            &dev_csr,
        ],
        None,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &dev_csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "30",
            "-out",
            &dev_cert,
        ],
        None,
    );
    let (b, _dir, cert) = legacy_only(
        "tls",
        "mtls = \"required\"\nallow_anonymous = false",
        &format!("client_ca = \"{ca_cert}\"\ncert_identity_as_username = true"),
    );
    let port = b.port_of("tls");
    let tls = [
        "--cafile",
        cert.as_str(),
        "--cert",
        dev_cert.as_str(),
        "--key",
        dev_key.as_str(),
        "--ciphers",
        "AES128-SHA",
        "--tls-version",
        "tlsv1.2",
    ];
    mosquitto_pub_at(port, V::V5, &[&tls[..], &["-t", "m/t", "-m", "x"]].concat());
    let line = b.wait_log(
        &[
            "listener=legacy",
            "connected version=",
            "username=\"dev-legacy-7\"",
        ],
        1,
        WAIT,
    );
    assert!(!line.is_empty());
    b.wait_log(
        &["listener=legacy", "session.client_disconnect", "weak_tls="],
        1,
        WAIT,
    );
    // Without a client certificate: refused, and explained.
    let out = common::mosquitto_at(
        "mosquitto_pub",
        port,
        V::V5,
        &[
            "--cafile",
            &cert,
            "--ciphers",
            "AES128-SHA",
            "--tls-version",
            "tlsv1.2",
            "-t",
            "m/t",
            "-m",
            "x",
        ],
        None,
    );
    assert!(!out.status.success(), "{}", output_text(&out));
    b.wait_log(
        &["listener=legacy", "cause=\"tls.client_cert_missing\""],
        1,
        WAIT,
    );
}

#[test]
fn sighup_reloads_the_legacy_certificate() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, dir, first) = legacy_only("tls", "", "");
    let port = b.port_of("tls");
    let served = || {
        let (_, text) = s_client_text(port, &["-tls1_2", "-cipher", "AES128-SHA"]);
        assert!(text.contains("Cipher is AES128-SHA"), "{text}");
        fingerprint(&served_cert(&text))
    };
    let before = served();
    assert_eq!(
        before,
        fingerprint(&std::fs::read_to_string(&first).unwrap())
    );
    // A new key and certificate in the same files, then SIGHUP.
    let (_other, cert, key) = rsa_server_cert();
    std::fs::copy(&cert, dir.join("server.pem")).unwrap();
    std::fs::copy(&key, dir.join("server.key")).unwrap();
    b.signal("HUP");
    b.wait_log(&["certificates reloaded"], 1, WAIT);
    let after = served();
    assert_ne!(
        before, after,
        "SIGHUP did not switch the legacy listener's certificate"
    );
    assert_eq!(after, fingerprint(&std::fs::read_to_string(&cert).unwrap()));
}

/// A device that offers only a static-RSA CBC suite, as old modem firmware does: it connects
/// through the legacy listener, and the story log then names it — by client id — in the
/// summary's legacy section and in `lantern why --would-break no-legacy`.
#[test]
fn summary_and_dry_run_name_the_legacy_device_by_client_id() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, dir, _cert) = legacy_broker("");
    let (legacy, _modern) = ports(&b);
    // TLS 1.2 only, AES128-SHA only (plus the renegotiation SCSV OpenSSL adds): CONNECT as
    // "old-modem-7", read CONNACK, DISCONNECT.
    let script = format!(
        r#"
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_ciphers("AES128-SHA")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", {legacy}), timeout=5))
cid = b"old-modem-7"
body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(cid).to_bytes(2, "big") + cid
s.sendall(bytes([0x10, len(body)]) + body)
ack = s.recv(4)
assert ack[:2] == b"\x20\x02" and ack[3] == 0, ack
s.sendall(b"\xe0\x00")
print(s.cipher()[0])
s.close()
"#
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "AES128-SHA");
    b.wait_log(
        &["client_id=\"old-modem-7\"", "session.client_disconnect"],
        1,
        WAIT,
    );

    // legacy_broker sets data_dir to <dir>/data.
    let log = std::path::PathBuf::from(dir.join("data")).join("stories.jsonl");
    let deadline = std::time::Instant::now() + WAIT;
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("old-modem-7")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the story log never got the story"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let why = |args: &[&str]| {
        let out = lantern(
            &[&["why", "--file", log.to_str().unwrap()][..], args].concat(),
            None,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dry = why(&["--would-break", "no-legacy"]);
    assert!(
        dry.contains("1 device seen in the last 7 days would fail under no-legacy"),
        "{dry}"
    );
    assert!(
        dry.contains("old-modem-7") && dry.contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{dry}"
    );
    let summary = why(&["--summary"]);
    assert!(
        summary.contains("1 device still needs TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{summary}"
    );
}
