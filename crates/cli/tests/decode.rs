//! `lantern decode` as a user runs it. Needs the subcommand wired in main.rs
//! (`Decode(decode::DecodeArgs)` → `decode::run(args)`).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../probe/tests/fixtures/decode")
        .join(name)
}

#[test]
fn decode_file_with_a_finding_exits_1() {
    let out = Command::new(env!("CARGO_BIN_EXE_lantern"))
        .args(["decode"])
        .arg(fixture("seed002_connack.txt"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CONNACK with remaining length 0"));
}

#[test]
fn decode_stdin_json_clean_exchange_exits_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lantern"))
        .args(["decode", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"c0 00\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["streams"][0]["items"][0]["summary"], "PINGREQ");
}

#[test]
fn decode_missing_file_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_lantern"))
        .args(["decode", "/nonexistent/lantern-decode-input.txt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
