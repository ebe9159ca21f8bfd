//! MQTT over TLS with real peers: mosquitto_pub/mosquitto_sub with `--cafile`, `openssl s_client`
//! for versions, cipher suites and SNI, wrong protocols on each port, certificate reload on
//! SIGHUP, and the refusal to start an open broker on the network. Lantern only.

mod common;

use std::time::Duration;

use common::tls::{
    fingerprint, listener, s_client_text, served_cert, subject_and_san, DevPki, ForeignCa,
};
use common::{
    lantern, mosquitto_at, mosquitto_pub_at, output_text, skip_on_mosquitto, Broker, Sub, TempDir,
    V, WAIT,
};

const LANTERN_ONLY: &str = "Lantern's TLS configuration and log causes";

/// A broker with one plain TCP listener and one TLS listener without a configured certificate:
/// the development PKI is created in a fresh data directory, as on a first run.
fn first_run_broker() -> (Broker, DevPki) {
    let data = TempDir::new("data");
    let toml = format!(
        "data_dir = \"{}\"\n{}{}",
        data.path().display(),
        listener("tcp", ""),
        listener("tls", "")
    );
    let b = Broker::builder().config_file(&toml).start();
    let pki = DevPki::at(data);
    assert!(
        std::path::Path::new(&pki.ca).is_file(),
        "the first TLS run should create {}",
        pki.ca
    );
    (b, pki)
}

// ------------------------------------------------------------------------------------------------
// 1. TLS basics
// ------------------------------------------------------------------------------------------------

both_versions!(
    /// mosquitto_sub and mosquitto_pub over TLS, trusting the development CA the broker created.
    tls_round_trip_with_dev_ca,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let (b, pki) = first_run_broker();
        let port = b.port_of("tls");
        let mut sub = Sub::start_at(port, v, &["--cafile", &pki.ca, "-t", "tls/#", "-q", "1"]);
        mosquitto_pub_at(
            port,
            v,
            &["--cafile", &pki.ca, "-t", "tls/t", "-m", "over-tls", "-q", "1"],
        );
        let m = sub.recv("the message published over TLS");
        assert_eq!((m.topic.as_str(), m.payload.as_slice()), ("tls/t", &b"over-tls"[..]));
        // Both connections were TLS on the TLS listener.
        let tls_conns = b.log_lines(&["listener=listener2", "connected version="]);
        assert_eq!(tls_conns.len(), 2, "two MQTT connections over TLS:\n{}", b.log());
    }
);

#[test]
fn wrong_ca_is_refused_by_the_client_and_explained() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _pki) = first_run_broker();
    let foreign = ForeignCa::create();
    let out = mosquitto_at(
        "mosquitto_pub",
        b.port_of("tls"),
        V::V5,
        &["--cafile", &foreign.ca, "-t", "x", "-m", "never"],
        None,
    );
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "a client trusting another CA connected: {text}"
    );
    assert!(text.contains("TLS error"), "mosquitto_pub said: {text}");
    // The client aborts the handshake with an alert (OpenSSL: unknown_ca); Lantern names it.
    b.wait_log(&["cause=\"tls.client_rejected_server_cert\""], 1, WAIT);
}

#[test]
fn s_client_negotiates_tls12_and_tls13() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, pki) = first_run_broker();
    let port = b.port_of("tls");
    for (flag, version) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let (out, text) = s_client_text(
            port,
            &[
                flag,
                "-CAfile",
                &pki.ca,
                "-verify_return_error",
                "-verify_ip",
                "127.0.0.1",
            ],
        );
        assert!(out.status.success(), "s_client {flag} failed:\n{text}");
        assert!(
            text.contains(&format!("New, {version}, Cipher is")),
            "s_client {flag} did not negotiate {version}:\n{text}"
        );
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    }
}

#[test]
fn tls_min_version_13_refuses_a_tls12_client() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let data = TempDir::new("data");
    let toml = format!(
        "data_dir = \"{}\"\n{}",
        data.path().display(),
        listener("tls", "tls_min_version = \"1.3\"")
    );
    let b = Broker::builder().config_file(&toml).start();
    let port = b.port_of("tls");
    let (out, text) = s_client_text(port, &["-tls1_2"]);
    assert!(
        !out.status.success(),
        "a TLS 1.2-only client got through:\n{text}"
    );
    assert!(
        text.contains("protocol version"),
        "expected a protocol_version alert:\n{text}"
    );
    b.wait_log(&["cause=\"tls.no_shared_version\""], 1, WAIT);
    // TLS 1.3 still works there.
    let (out, text) = s_client_text(port, &["-tls1_3"]);
    assert!(
        out.status.success() && text.contains("New, TLSv1.3,"),
        "{text}"
    );
}

#[test]
fn restricted_cipher_suites_refuse_another_suite() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let data = TempDir::new("data");
    let toml = format!(
        "data_dir = \"{}\"\n{}",
        data.path().display(),
        listener(
            "tls",
            "cipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]"
        )
    );
    let b = Broker::builder().config_file(&toml).start();
    let port = b.port_of("tls");
    let (out, text) = s_client_text(
        port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"],
    );
    assert!(
        !out.status.success(),
        "a client offering only another suite got through:\n{text}"
    );
    assert!(
        text.contains("handshake failure"),
        "expected a handshake_failure alert:\n{text}"
    );
    let lines = b.wait_log(&["cause=\"tls.no_shared_cipher\""], 1, WAIT);
    // The explanation lists what the client offered.
    assert!(
        lines[0].contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
        "{}",
        lines[0]
    );
    // The configured suite itself is accepted.
    let (out, text) = s_client_text(
        port,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    );
    assert!(
        out.status.success() && text.contains("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"),
        "{text}"
    );
}

// ------------------------------------------------------------------------------------------------
// 2. SNI
// ------------------------------------------------------------------------------------------------

/// Two tenants with their own certificates (a.test, b.test) from one development CA.
fn two_tenant_toml(pki: &DevPki, listener_keys: &str) -> String {
    let (a_cert, a_key) = pki.server(&["a.test"], "a");
    let (b_cert, b_key) = pki.server(&["b.test"], "b");
    format!(
        "data_dir = \"{}\"\n{}\n\
         [[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\ncert = \"{a_cert}\"\nkey = \"{a_key}\"\n\n\
         [[tenant]]\nname = \"b\"\nhosts = [\"b.test\"]\ncert = \"{b_cert}\"\nkey = \"{b_key}\"\n",
        pki.data_dir(),
        listener("tls", listener_keys)
    )
}

/// The certificate served for `-servername NAME` (or `-noservername`), verified against the CA.
fn cert_for(port: u16, pki: &DevPki, sni: Option<&str>) -> String {
    let mut args = vec!["-CAfile", pki.ca.as_str(), "-verify_return_error"];
    match sni {
        Some(name) => args.extend_from_slice(&["-servername", name, "-verify_hostname", name]),
        None => args.push("-noservername"),
    }
    let (out, text) = s_client_text(port, &args);
    assert!(out.status.success(), "s_client {args:?} failed:\n{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    subject_and_san(&served_cert(&text))
}

#[test]
fn sni_required_serves_each_tenant_its_certificate() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let b = Broker::builder()
        .config_file(&two_tenant_toml(&pki, "sni = \"required\""))
        .start();
    let port = b.port_of("tls");
    let a = cert_for(port, &pki, Some("a.test"));
    assert!(a.contains("CN = a.test") && a.contains("DNS:a.test"), "{a}");
    assert!(!a.contains("b.test"), "{a}");
    let bb = cert_for(port, &pki, Some("b.test"));
    assert!(
        bb.contains("CN = b.test") && bb.contains("DNS:b.test"),
        "{bb}"
    );
    assert!(!bb.contains("a.test"), "{bb}");
}

#[test]
fn sni_required_refuses_missing_and_unknown_names() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let b = Broker::builder()
        .config_file(&two_tenant_toml(&pki, "sni = \"required\""))
        .start();
    let port = b.port_of("tls");

    let (out, text) = s_client_text(port, &["-noservername", "-CAfile", &pki.ca]);
    assert!(!out.status.success(), "no SNI got through:\n{text}");
    assert!(
        text.contains("unrecognized name") && text.contains("alert number 112"),
        "expected an unrecognized_name alert (112):\n{text}"
    );
    b.wait_log(&["cause=\"tls.no_sni\""], 1, WAIT);

    let (out, text) = s_client_text(port, &["-servername", "c.test", "-CAfile", &pki.ca]);
    assert!(
        !out.status.success(),
        "an unknown name got through:\n{text}"
    );
    assert!(text.contains("alert number 112"), "{text}");
    let lines = b.wait_log(&["cause=\"tls.sni_unknown\""], 1, WAIT);
    assert!(
        lines[0].contains("\"c.test\"") && lines[0].contains("a.test, b.test"),
        "the log should name the requested and the served names: {}",
        lines[0]
    );
}

#[test]
fn sni_optional_falls_back_to_the_default_tenant() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let b = Broker::builder()
        .config_file(&two_tenant_toml(
            &pki,
            "sni = \"optional\"\ndefault_tenant = \"b\"",
        ))
        .start();
    let port = b.port_of("tls");
    assert!(cert_for(port, &pki, Some("a.test")).contains("CN = a.test"));
    let none = cert_for(port, &pki, None);
    assert!(
        none.contains("CN = b.test"),
        "no SNI → default tenant b: {none}"
    );
    // An unknown name also falls back (its certificate is b.test's, so verify without a name).
    let (out, text) = s_client_text(port, &["-servername", "c.test", "-CAfile", &pki.ca]);
    assert!(out.status.success(), "{text}");
    let c = subject_and_san(&served_cert(&text));
    assert!(
        c.contains("CN = b.test"),
        "unknown SNI → default tenant b: {c}"
    );
    assert!(
        b.log_lines(&["cause=\"tls.sni_unknown\""]).is_empty(),
        "{}",
        b.log()
    );
}

// ------------------------------------------------------------------------------------------------
// 8. The wrong protocol on a port
// ------------------------------------------------------------------------------------------------

#[test]
fn plaintext_mqtt_on_the_tls_port_is_explained() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, pki) = first_run_broker();
    let out = mosquitto_at(
        "mosquitto_pub",
        b.port_of("tls"),
        V::V311,
        &["-t", "x", "-m", "plain"],
        None,
    );
    assert!(
        !out.status.success(),
        "plain MQTT on the TLS port: {}",
        output_text(&out)
    );
    b.wait_log(&["cause=\"mqtt.plain_on_tls_port\""], 1, WAIT);
    // The TLS port still serves TLS clients.
    mosquitto_pub_at(
        b.port_of("tls"),
        V::V311,
        &["--cafile", &pki.ca, "-t", "x", "-m", "tls"],
    );
}

#[test]
fn tls_on_the_plain_port_is_closed_and_the_broker_keeps_serving() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (mut b, pki) = first_run_broker();
    let tcp = b.port_of("tcp");
    let out = mosquitto_at(
        "mosquitto_pub",
        tcp,
        V::V5,
        &["--cafile", &pki.ca, "-t", "x", "-m", "tls"],
        None,
    );
    assert!(
        !out.status.success(),
        "TLS on the plain port: {}",
        output_text(&out)
    );
    b.wait_log(
        &["listener=listener1", "cause=\"tls.on_plain_port\""],
        1,
        WAIT,
    );
    assert!(b.is_running());
    mosquitto_pub_at(tcp, V::V5, &["-t", "x", "-m", "plain"]);
}

// ------------------------------------------------------------------------------------------------
// 9. Certificate reload on SIGHUP
// ------------------------------------------------------------------------------------------------

#[test]
fn sighup_reloads_the_certificate_and_keeps_connections() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki");
    let live = TempDir::new("live");
    let (cert, key) = (live.join("server.pem"), live.join("server.key"));
    let (x_cert, x_key) = pki.server(&["localhost", "127.0.0.1"], "x");
    std::fs::copy(&x_cert, &cert).expect("copy cert");
    std::fs::copy(&x_key, &key).expect("copy key");
    let toml = format!(
        "data_dir = \"{}\"\n{}\n[[tenant]]\nname = \"default\"\ncert = \"{cert}\"\nkey = \"{key}\"\n",
        pki.data_dir(),
        listener("tls", "")
    );
    let b = Broker::builder().config_file(&toml).start();
    let port = b.port_of("tls");
    let served = |what: &str| {
        let (out, text) = s_client_text(port, &["-CAfile", &pki.ca, "-verify_return_error"]);
        assert!(out.status.success(), "s_client ({what}):\n{text}");
        fingerprint(&served_cert(&text))
    };
    let x_fp = fingerprint(&std::fs::read_to_string(&x_cert).expect("read cert X"));
    assert_eq!(served("before the reload"), x_fp);

    // A connection opened before the reload.
    let mut sub = Sub::start_at(
        port,
        V::V5,
        &["--cafile", &pki.ca, "-t", "reload/#", "-q", "1"],
    );

    let (y_cert, y_key) = pki.server(&["localhost", "127.0.0.1"], "y");
    std::fs::copy(&y_cert, &cert).expect("copy cert");
    std::fs::copy(&y_key, &key).expect("copy key");
    let y_fp = fingerprint(&std::fs::read_to_string(&y_cert).expect("read cert Y"));
    assert_ne!(x_fp, y_fp);
    b.signal("HUP");
    b.wait_log(&["certificates reloaded"], 1, WAIT);
    assert_eq!(
        served("after the reload"),
        y_fp,
        "SIGHUP did not switch the certificate"
    );

    // The old connection still works: a new TLS client publishes, the old one receives.
    mosquitto_pub_at(
        port,
        V::V5,
        &[
            "--cafile", &pki.ca, "-t", "reload/t", "-m", "after", "-q", "1",
        ],
    );
    let m = sub.recv("a message on the connection opened before the reload");
    assert_eq!(m.payload, b"after");
    assert!(!sub.exited(), "the pre-reload connection was closed");
}

// ------------------------------------------------------------------------------------------------
// 10. Refusing to start an open broker on the network
// ------------------------------------------------------------------------------------------------

#[test]
fn open_listener_on_the_network_refuses_to_start() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let dir = TempDir::new("open");
    let file = dir.join("lantern.toml");
    std::fs::write(&file, "[[listener]]\nbind = \"0.0.0.0\"\nport = 0\n").expect("write config");
    let started = std::time::Instant::now();
    // lantern() gives up (and fails the test) if the process keeps running for 30 s.
    let out = lantern(&["serve", "--config", &file], None);
    let text = output_text(&out);
    assert!(
        !out.status.success(),
        "lantern serve started an open broker on 0.0.0.0:\n{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "refusal took {:?}",
        started.elapsed()
    );
    assert!(
        text.contains("allow_anonymous"),
        "the refusal should name allow_anonymous:\n{text}"
    );
    assert!(!text.contains("lantern listening on"), "{text}");
}
