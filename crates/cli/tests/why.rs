//! `lantern why` as a user runs it, and the story log `lantern serve` writes.
//!
//! These run the `lantern` binary: they need the `why` subcommand and the journal wired into
//! `serve` (stories.jsonl in the data directory).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lantern_diag::{Cause, Event, EventKind, Initiator, Story};

/// A fresh directory under the system temp dir.
fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lantern-why-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn lantern(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lantern"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn story(id: u64, peer: &str, client: Option<&str>, cause: Cause) -> Story {
    let mut s = Story {
        id,
        listener: "tls".into(),
        transport: "tls".into(),
        peer: peer.into(),
        started_ms: 1_795_383_601_000,
        tenant: Some("acme".into()),
        client_id: client.map(str::to_owned),
        events: vec![Event {
            at_ms: 0,
            kind: EventKind::Accepted {
                local: "127.0.0.1:8883".into(),
            },
        }],
        closed_by: Initiator::Broker,
        ..Default::default()
    };
    s.finish(cause);
    s
}

fn write_log(path: &Path, stories: &[Story]) {
    let mut text = String::new();
    for s in stories {
        text.push_str(&serde_json::to_string(s).unwrap());
        text.push('\n');
    }
    fs::write(path, text).unwrap();
}

#[test]
fn why_file_prints_the_sentence_and_fixes() {
    let dir = scratch_dir("file");
    let log = dir.join("stories.jsonl");
    let no_sni = story(
        1,
        "127.0.0.1:51442",
        Some("dev-1"),
        Cause::NoSni {
            served: vec!["acme.example".into()],
        },
    );
    write_log(&log, std::slice::from_ref(&no_sni));

    let out = lantern(&["why", "--file", log.to_str().unwrap()]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("2026-11-22T21:40:01Z 127.0.0.1:51442 tls tenant=acme client=dev-1 FAILED tls.no_sni")
    );
    assert_eq!(
        lines.next(),
        Some(format!("  {}", no_sni.verdict.sentence).as_str())
    );
    assert!(lines.next().unwrap().starts_with("  fix: "), "{stdout}");

    // A data directory works too.
    let out = lantern(&["why", "--file", dir.to_str().unwrap(), "--summary"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("1 of 1 story failed."));

    // Nothing matches: exit 1.
    let out = lantern(&["why", "--file", log.to_str().unwrap(), "--client", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("no matching story"));
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn why_without_a_broker_says_how_to_start_one() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = lantern(&["why", "--admin", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("cannot reach the admin API"), "{stderr}");
    assert!(stderr.contains("lantern serve"), "{stderr}");
    assert!(stderr.contains("--file"), "{stderr}");
}

/// A running broker, killed on drop.
struct Serve {
    child: std::process::Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data_dir: &Path) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lantern"))
        .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut serve = Serve { child, port: 0 };
    let deadline = Instant::now() + Duration::from_secs(15);
    while serve.port == 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("lantern serve printed no listening line");
        if let Some(rest) = line.strip_prefix("lantern listening on ") {
            let addr = rest.split(' ').next().unwrap();
            serve.port = addr.rsplit_once(':').unwrap().1.parse().unwrap();
        }
    }
    serve
}

/// Issue: "Secrets never appear". A device logs in with a password; its story, in the log file
/// and in `lantern why`, says a password was present and never contains it, in any encoding.
#[test]
fn story_log_never_contains_the_password() {
    let password = b"PW-zq9-secret-value";
    let dir = scratch_dir("secret");
    let broker = serve(&dir);

    // MQTT 3.1.1 CONNECT with a short client id and user name, so that the password falls
    // within the first 32 bytes (the first bytes a story may record).
    let mut connect = vec![
        0x00,
        0x04,
        b'M',
        b'Q',
        b'T',
        b'T',
        0x04, // protocol name, level 4
        0b1100_0010,
        0x00,
        0x3c, // flags: user name, password, clean session; keep alive 60 s
        0x00,
        0x01,
        b'd', // client id "d"
        0x00,
        0x01,
        b'u', // user name "u"
    ];
    connect.extend_from_slice(&(password.len() as u16).to_be_bytes());
    connect.extend_from_slice(password);
    let mut packet = vec![0x10, connect.len() as u8];
    packet.extend_from_slice(&connect);
    let mut socket = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
    socket.write_all(&packet).unwrap();
    socket.write_all(&[0xe0, 0x00]).unwrap(); // DISCONNECT
    drop(socket);

    let log = dir.join("stories.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains(r#""client_id":"d""#) {
            break text;
        }
        assert!(Instant::now() < deadline, "no story in {}", log.display());
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(broker);

    let needles = secret_encodings(password);
    assert!(text.contains(r#""password_present":true"#), "{text}");
    for needle in &needles {
        assert!(
            !text.to_ascii_lowercase().contains(needle),
            "the story log contains the password as {needle:?}:\n{text}"
        );
    }
    let out = lantern(&["why", "--file", dir.to_str().unwrap(), "--verbose", "--all"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("password_present=true"), "{stdout}");
    for needle in &needles {
        assert!(
            !stdout.to_ascii_lowercase().contains(needle),
            "lantern why shows the password as {needle:?}:\n{stdout}"
        );
    }
    let _ = fs::remove_dir_all(dir);
}

/// The password as text, and its first four bytes as hex (`50 57 2d 7a`, `50572d7a`), in lower
/// case.
fn secret_encodings(password: &[u8]) -> Vec<String> {
    let head = &password[..4];
    vec![
        String::from_utf8_lossy(password).to_ascii_lowercase(),
        String::from_utf8_lossy(head).to_ascii_lowercase(),
        head.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
        head.iter().map(|b| format!("{b:02x}")).collect::<String>(),
    ]
}
