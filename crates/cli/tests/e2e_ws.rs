//! MQTT over WebSocket with paho-mqtt (tests/e2e/secure.py): ws and wss listeners, the right
//! and a wrong path and subprotocol, raw HTTP requests that are not MQTT upgrades, and
//! WebSocket on the shared TLS port next to native MQTT over TLS. Lantern only.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::tls::{listener, s_client_text, DevPki};
use common::{mosquitto_pub_at, python_at, skip_on_mosquitto, Broker, Sub, TempDir, V, WAIT};

const LANTERN_ONLY: &str = "Lantern's WebSocket listeners and log causes";

/// A broker with a ws listener (default path /mqtt), a wss listener on /custom/mq and a tls
/// listener, all with the development PKI in a fresh data directory.
fn ws_broker() -> (Broker, DevPki) {
    let data = TempDir::new("data");
    let toml = format!(
        "data_dir = \"{}\"\n{}{}{}",
        data.path().display(),
        listener("ws", ""),
        listener("wss", "ws_path = \"/custom/mq\""),
        listener("tls", "")
    );
    (
        Broker::builder().config_file(&toml).start(),
        DevPki::at(data),
    )
}

/// Sends `request` on a plain connection and returns the whole response (until the broker
/// closes), bounded.
fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the response to {request:?}: {e}; so far {response:?}"),
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

const UPGRADE: &str = "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                       Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                       Sec-WebSocket-Version: 13\r\n";

both_versions!(
    /// paho over ws on /mqtt: QoS 0 and 1 round trip.
    ws_round_trip,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let (b, _pki) = ws_broker();
        python_at(&b, b.port_of("ws"), "secure.py", v, &["--case", "roundtrip", "--ws", "/mqtt"]);
        assert_eq!(b.log_lines(&["listener=listener1", "connected version="]).len(), 2, "{}", b.log());
    }
);

#[test]
fn ws_wrong_path_and_wrong_subprotocol_are_refused() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _pki) = ws_broker();
    let port = b.port_of("ws");
    python_at(
        &b,
        port,
        "secure.py",
        V::V5,
        &["--case", "refused", "--ws", "/nope"],
    );
    let lines = b.wait_log(&["cause=\"ws.wrong_path\""], 1, WAIT);
    assert!(
        lines[0].contains("/nope") && lines[0].contains("/mqtt"),
        "{}",
        lines[0]
    );
    python_at(
        &b,
        port,
        "secure.py",
        V::V311,
        &["--case", "refused", "--ws", "/mqtt", "--ws-protocol", "foo"],
    );
    let lines = b.wait_log(&["cause=\"ws.unknown_subprotocol\""], 1, WAIT);
    assert!(lines[0].contains("foo"), "{}", lines[0]);
}

#[test]
fn ws_raw_http_refusals() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, _pki) = ws_broker();
    let port = b.port_of("ws");

    let r = http(port, &format!("{UPGRADE}\r\n"));
    assert!(
        r.starts_with("HTTP/1.1 400 "),
        "upgrade without Sec-WebSocket-Protocol:\n{r}"
    );
    assert!(
        r.contains("mqtt"),
        "the 400 should say the subprotocol is mqtt:\n{r}"
    );
    b.wait_log(&["cause=\"ws.no_subprotocol\""], 1, WAIT);

    let r = http(
        port,
        &format!("{UPGRADE}Sec-WebSocket-Protocol: foo\r\n\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 400 "), "subprotocol foo:\n{r}");
    let body = r.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    assert!(
        body.contains("mqtt") && body.contains("foo"),
        "the body names mqtt: {body:?}"
    );
    b.wait_log(&["cause=\"ws.unknown_subprotocol\""], 1, WAIT);

    let r = http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 426 "), "plain GET /:\n{r}");
    assert!(
        r.to_ascii_lowercase().contains("upgrade: websocket"),
        "426 must carry Upgrade:\n{r}"
    );
    b.wait_log(&["cause=\"ws.not_an_upgrade\""], 1, WAIT);

    // Still serving WebSocket clients.
    python_at(
        &b,
        port,
        "secure.py",
        V::V5,
        &["--case", "roundtrip", "--ws", "/mqtt"],
    );
}

both_versions!(
    /// paho over wss with the CA and a custom ws_path; the default path is refused there.
    wss_custom_path,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let (b, pki) = ws_broker();
        let port = b.port_of("wss");
        python_at(
            &b,
            port,
            "secure.py",
            v,
            &["--case", "roundtrip", "--tls", "--ca", &pki.ca, "--ws", "/custom/mq"],
        );
        python_at(
            &b,
            port,
            "secure.py",
            v,
            &["--case", "refused", "--tls", "--ca", &pki.ca, "--ws", "/mqtt"],
        );
        let lines = b.wait_log(&["listener=listener2", "cause=\"ws.wrong_path\""], 1, WAIT);
        assert!(lines[0].contains("/custom/mq"), "{}", lines[0]);
    }
);

both_versions!(
    /// One TLS port serves WebSocket (paho, wss to /mqtt) and native MQTT over TLS (paho and
    /// mosquitto), and they talk to each other.
    websocket_on_the_shared_tls_port,
    |v: V| {
        if skip_on_mosquitto(LANTERN_ONLY) {
            return;
        }
        let (b, pki) = ws_broker();
        let port = b.port_of("tls");
        python_at(
            &b,
            port,
            "secure.py",
            v,
            &["--case", "roundtrip", "--tls", "--ca", &pki.ca, "--ws", "/mqtt"],
        );
        python_at(&b, port, "secure.py", v, &["--case", "roundtrip", "--tls", "--ca", &pki.ca]);
        // A native TLS subscriber receives what a mosquitto TLS publisher sends, on that port.
        let mut sub = Sub::start_at(port, v, &["--cafile", &pki.ca, "-t", "shared/#", "-q", "1"]);
        mosquitto_pub_at(port, v, &["--cafile", &pki.ca, "-t", "shared/t", "-m", "native", "-q", "1"]);
        assert_eq!(sub.recv("native TLS message").payload, b"native");
        assert_eq!(
            b.log_lines(&["listener=listener3", "connected version="]).len(),
            6,
            "{}",
            b.log()
        );
    }
);

#[test]
fn plain_http_get_on_the_tls_port_gets_426() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, pki) = ws_broker();
    // s_client sends the request after the handshake and, with -ign_eof, prints the response
    // until the broker closes.
    let mut cmd = std::process::Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{}", b.port_of("tls")),
        "-quiet",
        "-ign_eof",
        "-CAfile",
        &pki.ca,
    ]);
    let out = common::run_bounded(
        &mut cmd,
        Some(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        Duration::from_secs(15),
    );
    let text = common::output_text(&out);
    assert!(text.contains("HTTP/1.1 426 "), "GET / over TLS:\n{text}");
    b.wait_log(
        &["listener=listener3", "cause=\"ws.not_an_upgrade\""],
        1,
        WAIT,
    );
    // And a TLS handshake alone still succeeds there.
    let (out, text) = s_client_text(b.port_of("tls"), &["-CAfile", &pki.ca]);
    assert!(out.status.success(), "{text}");
}
