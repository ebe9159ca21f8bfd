//! Issue 10, the crash test: nothing acknowledged is lost when the broker is killed.
//!
//! `lantern serve` runs with `durability = "sync"` on a data directory. The clients of
//! `tests/e2e/crash.py` (paho-mqtt) subscribe persistently (3.1.1 clean session false; 5.0
//! with a session expiry), then publish numbered QoS 1 and QoS 2 messages at both protocol
//! versions, some of them retained, while this test SIGKILLs the broker at random moments, at
//! least five times, and restarts it each time on the same data directory and port. The clients
//! reconnect on their own and re-send what was not acknowledged (with DUP, or PUBREL). At the
//! end: every message a publisher got a PUBACK/PUBCOMP for reached every persistent subscriber,
//! QoS 2 messages exactly once, the retained messages are as last set, and every reconnect
//! resumed its session (session present = 1). The counts are printed.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{e2e_dir, Persistent};

/// The broker's config after its listener.
const CONFIG: &str = "[persistence]\ndurability = \"sync\"\n";
/// How long the publishers publish (the kills happen in this window).
const PUBLISH_SECONDS: u64 = 16;
/// How long the clients may take afterwards to settle what is outstanding.
const DRAIN_SECONDS: u64 = 15;
/// At least this many SIGKILLs.
const KILLS: usize = 6;

/// xorshift64*: random kill moments from a seed that is printed, so a failing run can be
/// read again.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `lo..hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

fn n(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn issue_10_sigkill_loses_nothing_acknowledged() {
    let started = Instant::now();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);

    let mut broker = Persistent::start(CONFIG, false);
    let port = broker.port;
    let mut py = Command::new("python3")
        .arg(e2e_dir().join("crash.py"))
        .args(["--port", &port.to_string()])
        .args(["--seconds", &PUBLISH_SECONDS.to_string()])
        .args(["--drain", &DRAIN_SECONDS.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python3 tests/e2e/crash.py (paho-mqtt 2.x; scripts/test installs it)");
    let stdout = py.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_line = |prefix: &str, limit: Duration| -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(line) => println!("crash.py: {line}"),
                Err(e) => panic!("no {prefix} line from crash.py within {limit:?}: {e}"),
            }
        }
    };
    wait_line("READY", Duration::from_secs(20));
    let ready = Instant::now();
    let window = Instant::now() + Duration::from_secs(PUBLISH_SECONDS);

    // Let the sessions settle, then kill at random moments through the publishing window.
    thread::sleep(Duration::from_millis(700));
    let mut kills = 0;
    let mut restarts = Vec::new();
    let mut kill_times = Vec::new();
    while kills < KILLS {
        thread::sleep(rng.millis(600, 1_800));
        kill_times.push(ready.elapsed());
        broker.kill();
        kills += 1;
        // Sometimes straight back, sometimes after clients have found it down.
        thread::sleep(rng.millis(0, 400));
        restarts.push(broker.restart());
        assert_eq!(
            broker.port, port,
            "the restarted broker listens on the same port"
        );
    }
    assert!(
        Instant::now() + Duration::from_secs(1) < window,
        "the kills must fall inside the publishing window"
    );
    println!("{kills} SIGKILLs at {kill_times:.2?} after READY; restarts took {restarts:.1?}");

    let line = wait_line(
        "RESULT ",
        Duration::from_secs(PUBLISH_SECONDS + DRAIN_SECONDS + 20),
    );
    let status = py.wait().expect("wait for crash.py");
    assert!(status.success(), "crash.py exited with {status}");
    let r: serde_json::Value = serde_json::from_str(&line["RESULT ".len()..]).unwrap();

    let subs = r["subscribers"].as_object().unwrap();
    let delivered: u64 = subs.values().map(|s| n(&s["delivered"])).sum();
    let lost: u64 = subs.values().map(|s| n(&s["lost"])).sum();
    let dup2: u64 = subs.values().map(|s| n(&s["qos2_duplicated"])).sum();
    let dup1: u64 = subs.values().map(|s| n(&s["qos1_duplicated"])).sum();
    println!(
        "crash test: {kills} kills; published {}, acknowledged {}, delivered {delivered} \
         (to {} subscribers), lost {lost}, duplicated {dup2} (QoS 2) / {dup1} (QoS 1, allowed); \
         {:.1?} in all",
        r["published"],
        r["acknowledged"],
        subs.len(),
        started.elapsed()
    );
    println!("{}", serde_json::to_string_pretty(&r).unwrap());

    assert!(
        n(&r["acknowledged"]) >= 500,
        "too few acknowledged messages to show anything: {r}"
    );
    for (name, s) in subs {
        assert_eq!(n(&s["lost"]), 0, "{name} lost acknowledged messages: {s}");
        assert_eq!(
            n(&s["qos2_duplicated"]),
            0,
            "{name} got QoS 2 messages twice: {s}"
        );
        assert_eq!(
            s["first_session_present"], false,
            "{name}: a fresh session first: {s}"
        );
        assert!(
            n(&s["reconnects"]) >= 5,
            "{name} reconnected after each kill: {s}"
        );
        assert_eq!(
            n(&s["not_resumed"]),
            0,
            "{name}: every reconnect resumed its session: {s}"
        );
    }
    for (name, p) in r["publishers"].as_object().unwrap() {
        assert!(
            n(&p["reconnects"]) >= 5,
            "{name} reconnected after each kill: {p}"
        );
        assert_eq!(
            n(&p["not_resumed"]),
            0,
            "{name}: every reconnect resumed its session: {p}"
        );
        assert!(
            n(&p["acknowledged"]) > 0,
            "{name} got acknowledgements: {p}"
        );
    }
    for (topic, t) in r["retained"].as_object().unwrap() {
        assert!(
            !t["last_acknowledged"].is_null(),
            "{topic}: a retained message was acknowledged: {t}"
        );
        assert_eq!(
            t["as_last_set"], true,
            "{topic}: the retained message as last set: {t}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the crash test is bounded: {:?}",
        started.elapsed()
    );
}
