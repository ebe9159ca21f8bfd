//! Issue 10: what outlives a restart of `lantern serve` on the same data directory, seen through
//! real clients (mosquitto_pub/sub, raw sockets, `lantern why`), at both protocol versions.
//!
//! Each test runs its broker with [`Persistent`]: killed with SIGKILL (or stopped with SIGTERM)
//! and started again on the same data directory and the same port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{lantern, output_text, Persistent, WAIT};

/// `lantern why ARGS`: exit code and output.
fn why(args: &[&str]) -> (Option<i32>, String) {
    let mut full = vec!["why"];
    full.extend_from_slice(args);
    let out = lantern(&full, None);
    (out.status.code(), output_text(&out))
}

/// A 3.1.1 CONNECT with client id `client` and clean session, then a reserved packet type
/// (AUTH does not exist in 3.1.1): the broker closes the connection as a protocol violation.
fn connect_then_violate(port: u16, client: &str) {
    let mut connect = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c];
    connect.extend_from_slice(&u16::try_from(client.len()).unwrap().to_be_bytes());
    connect.extend_from_slice(client.as_bytes());
    let mut bytes = vec![0x10, u8::try_from(connect.len()).unwrap()];
    bytes.extend_from_slice(&connect);
    bytes.extend_from_slice(&[0xf0, 0x00]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&bytes).unwrap();
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

/// Waits (bounded) until the story log of `b` holds `n` lines.
fn wait_story_lines(b: &Persistent, n: usize) {
    let path = b.data_dir().join("stories.jsonl");
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} stories in {}:\n{text}",
            path.display()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 10: after a restart (SIGKILL, then SIGTERM), `lantern why --client X` through the admin
/// API, without `--file`, still shows X's failed and successful connections of the runs before.
#[test]
fn stories_survive_a_restart() {
    let mut b = Persistent::start("", true);
    let admin = b.admin.clone().unwrap();
    connect_then_violate(b.port, "dev-before");
    common::mosquitto_pub_at(
        b.port,
        common::V::V311,
        &["-i", "dev-before", "-t", "t/1", "-m", "x"],
    );
    // The log writer flushes each batch: both lines are on disk before the kill.
    wait_story_lines(&b, 2);
    b.kill();
    b.restart();

    let (code, text) = why(&[
        "--admin",
        &admin,
        "--client",
        "dev-before",
        "--all",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let stories: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let outcomes: Vec<&str> = stories
        .iter()
        .map(|s| s["verdict"]["outcome"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(outcomes, ["ok", "failed"], "newest first: {text}");
    let (code, text) = why(&["--admin", &admin, "--client", "dev-before"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("client=dev-before ok"), "{text}");

    // A connection of the second run, then a clean stop and a third run: all three remain.
    common::mosquitto_pub_at(
        b.port,
        common::V::V5,
        &["-i", "dev-before", "-t", "t/1", "-m", "y"],
    );
    wait_story_lines(&b, 3);
    b.term();
    b.restart();
    let (code, text) = why(&[
        "--admin",
        &admin,
        "--client",
        "dev-before",
        "--all",
        "--format",
        "json",
    ]);
    assert_eq!(code, Some(0), "{text}");
    let stories: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(stories.len(), 3, "{text}");
    assert_eq!(stories[2]["verdict"]["outcome"], "failed", "{text}");
}
