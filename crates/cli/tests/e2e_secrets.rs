//! Secrets never appear in any output: not in the log, not in the story log, not in `lantern
//! why`. A device's password and MQTT 5 authentication data travel in CONNECT; the broker
//! reads them and records only that they were there.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const PASSWORD: &[u8] = b"hunter2-secret";
const AUTH_DATA: &[u8] = b"s3cr3t-auth-data";

fn utf8(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

fn binary(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

/// A v5 CONNECT with user name, password, and authentication method and data properties.
fn connect_v5_with_secrets(flags_extra: u8) -> Vec<u8> {
    let mut props = vec![0x15];
    props.extend(utf8("SCRAM-SHA-256"));
    props.push(0x16);
    props.extend(binary(AUTH_DATA));
    let mut body = utf8("MQTT");
    body.push(5);
    body.push(0b1100_0010 | flags_extra); // user name, password, clean start
    body.extend_from_slice(&[0x00, 0x3C]);
    body.push(props.len() as u8);
    body.extend(props);
    body.extend(utf8("secret-keeper"));
    body.extend(utf8("alice"));
    body.extend(binary(PASSWORD));
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    packet
}

fn exchange(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("set a read timeout");
    s.write_all(bytes).expect("send to the broker");
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits (bounded) until the story log holds `n` stories.
fn story_log(dir: &Path, n: usize) -> String {
    let path = dir.join("lantern-data").join("stories.jsonl");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= n || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in [PASSWORD, AUTH_DATA] {
        let plain = String::from_utf8_lossy(secret);
        assert!(
            !text.contains(&*plain),
            "{what} contains {plain:?}:\n{text}"
        );
        // Also not as hex (the story shows bytes in hex), nor a long enough piece of it.
        assert!(
            !text.contains(&hex(&secret[..6])),
            "{what} contains {plain:?} in hex:\n{text}"
        );
    }
}

#[test]
fn password_and_authentication_data_appear_nowhere() {
    let b = Broker::start();
    // 1. Refused for its authentication method: CONNACK 0x8C.
    let reply = exchange(b.port, &connect_v5_with_secrets(0));
    // CONNACK (its reason string makes the length vary), session present 0, reason 0x8C.
    assert_eq!(reply.first(), Some(&0x20), "{reply:02x?}");
    assert_eq!(reply.get(2..4), Some(&[0x00, 0x8C][..]), "{reply:02x?}");
    // 2. Malformed (reserved flag set): the story shows the CONNECT's bytes, but only up to
    //    its keep alive.
    exchange(b.port, &connect_v5_with_secrets(0b0000_0001));
    b.wait_log(&["cause=\"mqtt.refused\""], 1, Duration::from_secs(5));
    let malformed = b.wait_log(&["cause=\"mqtt.malformed\""], 1, Duration::from_secs(5));
    assert!(
        malformed[0].contains("MQTT-3.1.2-3"),
        "the story names the rule: {malformed:?}"
    );
    assert_no_secret("the broker log", &b.log());

    let stories = story_log(b.dir(), 2);
    assert!(stories.contains("\"password_present\":true"), "{stories}");
    assert_no_secret("stories.jsonl", &stories);

    let file = b.dir().join("lantern-data").join("stories.jsonl");
    let why = lantern(
        &[
            "why",
            "--file",
            file.to_str().unwrap(),
            "--all",
            "--verbose",
        ],
        None,
    );
    let out = String::from_utf8_lossy(&why.stdout).into_owned();
    assert!(out.contains("mqtt.malformed"), "{out}");
    assert_no_secret("lantern why --verbose", &out);
}
