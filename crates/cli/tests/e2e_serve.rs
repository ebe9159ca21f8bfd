//! The `lantern serve` process contract the other end-to-end tests rely on: the listening line on
//! stdout, a config file, and a clean exit on SIGTERM. Lantern only (skipped for mosquitto).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{skip_on_mosquitto, Broker};

/// CONNECT 3.1.1, clean session, keepalive 30 s, client id "s".
const CONNECT_311: &[u8] = &[
    0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x1e, 0x00, 0x01, b's',
];

fn connack_ok(port: u16) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(CONNECT_311).expect("send CONNECT");
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).expect("read CONNACK");
    assert_eq!(
        buf,
        [0x20, 0x02, 0x00, 0x00],
        "CONNACK accepted, no session"
    );
}

#[test]
fn serve_zero_config_accepts_and_stops_cleanly_on_sigterm() {
    if skip_on_mosquitto("tests the lantern binary itself") {
        return;
    }
    let broker = Broker::start();
    connack_ok(broker.port);
    // Once the listening line is out (and a client has been served), SIGTERM must already mean
    // a clean stop: a supervisor may send it at any moment. If this fails now and then with
    // "signal: 15", the signal handler is installed after the broker starts serving.
    let status = broker.stop();
    assert!(
        status.success(),
        "lantern serve exited with {status} after SIGTERM"
    );
}

#[test]
fn serve_with_config_file() {
    if skip_on_mosquitto("tests the lantern binary itself") {
        return;
    }
    let broker = Broker::builder()
        .config_toml("[limits]\nmax_keepalive = 60\n")
        .start();
    connack_ok(broker.port);
    let status = broker.stop();
    assert!(
        status.success(),
        "lantern serve --config exited with {status} after SIGTERM"
    );
}
