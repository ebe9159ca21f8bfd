//! Issue 10: what outlives a restart of `lantern serve` on the same data directory, seen through
//! real clients (mosquitto_pub/sub, raw sockets, `lantern why`), at both protocol versions.
//!
//! Each test runs its broker with [`Persistent`]: killed with SIGKILL (or stopped with SIGTERM)
//! and started again on the same data directory and the same port.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{lantern, mosquitto_pub_at, output_text, unique, Message, Persistent, Sub, V, WAIT};

/// The broker's config: the store with the default policy stated.
const SYNC: &str = "[persistence]\ndurability = \"sync\"\n";

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
    // What a crash in the middle of a write leaves, and junk: skipped and counted, no panic.
    let log = b.data_dir().join("stories.jsonl");
    let mut text = std::fs::read(&log).unwrap();
    text.extend_from_slice(b"not a story\n{\"id\": 7, \"listen");
    std::fs::write(&log, text).unwrap();
    b.restart();
    b.wait_log(
        &["lines of the story log that are not stories", "skipped=2"],
        1,
        WAIT,
    );
    b.wait_log(
        &[
            "stories of previous runs read from the story log",
            "stories=2",
        ],
        1,
        WAIT,
    );

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

// ------------------------------------------------------------------------------------------------
// Each stored item across a restart, with mosquitto_pub/sub at both protocol versions
// ------------------------------------------------------------------------------------------------

/// `mosquitto_sub` arguments of a persistent session `id`: clean session 0, and at 5.0 a
/// session expiry of `expiry` seconds.
fn session_args(v: V, id: &str, expiry: u32, qos: &str, topic: &str) -> Vec<String> {
    let mut a: Vec<String> = ["-c", "-i", id, "-q", qos, "-t", topic]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if v == V::V5 {
        a.extend(["-x".to_owned(), expiry.to_string()]);
    }
    a
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// (topic, payload, qos, retain) of a message, for exact comparisons.
fn shape(m: &Message) -> (String, String, u8, bool) {
    (
        m.topic.clone(),
        String::from_utf8_lossy(&m.payload).into_owned(),
        m.qos,
        m.retain,
    )
}

fn owned(t: &str, p: &str, qos: u8, retain: bool) -> (String, String, u8, bool) {
    (t.to_owned(), p.to_owned(), qos, retain)
}

/// Kills a mosquitto_sub (no DISCONNECT) and waits until the broker has seen it go, so its
/// session is offline before what follows.
fn drop_client(b: &Persistent, sub: Sub, gone_so_far: &mut usize) {
    sub.kill();
    *gone_so_far += 1;
    b.wait_log(&["cause=\"net.peer_closed\""], *gone_so_far, WAIT);
}

both_versions!(
    /// Retained messages are as last set after SIGKILL: a replaced one has its new value, a
    /// removed one stays removed, a QoS 2 one is there.
    issue_10_retained_survives_sigkill,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("ret");
        let (a, gone, c) = (format!("{t}/a"), format!("{t}/b"), format!("{t}/c"));
        mosquitto_pub_at(b.port, v, &["-r", "-q", "1", "-t", &a, "-m", "one"]);
        mosquitto_pub_at(b.port, v, &["-r", "-q", "1", "-t", &a, "-m", "two"]);
        mosquitto_pub_at(b.port, v, &["-r", "-q", "1", "-t", &gone, "-m", "soon gone"]);
        mosquitto_pub_at(b.port, v, &["-r", "-q", "1", "-t", &gone, "-n"]);
        mosquitto_pub_at(b.port, v, &["-r", "-q", "2", "-t", &c, "-m", "three"]);
        b.kill();
        b.restart();

        let mut sub = Sub::start_at(b.port, v, &["-q", "2", "-t", &format!("{t}/#")]);
        let mut got: Vec<_> = sub.drain(Duration::from_millis(700)).iter().map(shape).collect();
        got.sort();
        assert_eq!(got, [owned(&a, "two", 1, true), owned(&c, "three", 2, true)]);
    }
);

both_versions!(
    /// Messages queued for an offline persistent session are delivered after SIGKILL, in
    /// order, each once, at the QoS they were queued with.
    issue_10_offline_queue_survives_sigkill,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("queue");
        let id = unique("q-sub");
        let args = session_args(v, &id, 3600, "2", &format!("{t}/#"));
        let mut gone = 0;
        drop_client(&b, Sub::start_at(b.port, v, &strs(&args)), &mut gone);
        let topic = format!("{t}/x");
        // QoS 2 last: mosquitto_sub prints a QoS 2 message at PUBREL, after a round trip, so
        // a QoS 1 message sent after it could be printed before it.
        mosquitto_pub_at(b.port, v, &["-q", "1", "-t", &topic, "-m", "m1"]);
        mosquitto_pub_at(b.port, v, &["-q", "1", "-t", &topic, "-m", "m2"]);
        mosquitto_pub_at(b.port, v, &["-q", "1", "-t", &topic, "-m", "m3"]);
        mosquitto_pub_at(b.port, v, &["-q", "2", "-t", &topic, "-m", "m4"]);
        b.kill();
        b.restart();

        let mut sub = Sub::start_at(b.port, v, &strs(&args));
        let got: Vec<_> = sub.drain(Duration::from_millis(900)).iter().map(shape).collect();
        assert_eq!(
            got,
            [
                owned(&topic, "m1", 1, false),
                owned(&topic, "m2", 1, false),
                owned(&topic, "m3", 1, false),
                owned(&topic, "m4", 2, false)
            ]
        );
    }
);

both_versions!(
    /// A subscription acknowledged before SIGKILL still routes after the restart: the resumed
    /// client subscribes only to an unrelated topic and still receives its old filter's
    /// messages.
    issue_10_subscription_survives_sigkill,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("subs");
        let id = unique("s-sub");
        let first = session_args(v, &id, 3600, "1", &format!("{t}/kept/#"));
        let sub = Sub::start_at(b.port, v, &strs(&first));
        // Killed while connected: the SUBACK was the promise.
        b.kill();
        sub.kill();
        b.restart();

        let again = session_args(v, &id, 3600, "1", &format!("{t}/unrelated"));
        let mut sub = Sub::start_at(b.port, v, &strs(&again));
        let topic = format!("{t}/kept/1");
        mosquitto_pub_at(b.port, v, &["-q", "1", "-t", &topic, "-m", "routed"]);
        let m = sub.recv("a message for the subscription made before the restart");
        assert_eq!(shape(&m), owned(&topic, "routed", 1, false));
        sub.expect_none(Duration::from_millis(500), "one message was published");
    }
);

both_versions!(
    /// Session expiry counts wall-clock time across the downtime: a 5.0 session with a 2 s
    /// expiry is gone after 3.5 s down (although the broker has been up for less than 2 s), a
    /// session that does not expire (3.1.1) or expires in an hour (5.0) is present.
    issue_10_session_expiry_counts_across_downtime,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("exp");
        let short_id = unique("short");
        let long_id = unique("long");
        let short = session_args(V::V5, &short_id, 2, "1", &format!("{t}/short"));
        let long = session_args(v, &long_id, 3600, "1", &format!("{t}/long"));
        let mut gone = 0;
        drop_client(&b, Sub::start_at(b.port, V::V5, &strs(&short)), &mut gone);
        drop_client(&b, Sub::start_at(b.port, v, &strs(&long)), &mut gone);
        b.term();
        thread::sleep(Duration::from_millis(3_500));
        let up = Instant::now();
        b.restart();

        mosquitto_pub_at(b.port, v, &["-q", "1", "-t", &format!("{t}/short"), "-m", "late"]);
        mosquitto_pub_at(b.port, v, &["-q", "1", "-t", &format!("{t}/long"), "-m", "kept"]);
        let short_again = session_args(V::V5, &short_id, 2, "1", &format!("{t}/other"));
        let mut s = Sub::start_at(b.port, V::V5, &strs(&short_again));
        assert!(
            up.elapsed() < Duration::from_secs(2),
            "the short session must be checked within its 2 s of uptime: {:?}",
            up.elapsed()
        );
        s.expect_none(
            Duration::from_millis(700),
            "the 2 s session expired while the broker was down: no subscription, no queue",
        );
        let long_again = session_args(v, &long_id, 3600, "1", &format!("{t}/other"));
        let mut l = Sub::start_at(b.port, v, &strs(&long_again));
        let m = l.recv("the message queued for the long-lived session");
        assert_eq!(shape(&m), owned(&format!("{t}/long"), "kept", 1, false));
    }
);

both_versions!(
    /// A will whose delay ran out while the broker was down is published at start, once: the
    /// watcher (a persistent session at the test's version) finds it queued when it resumes.
    issue_10_will_delay_across_downtime,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("will");
        let will_topic = format!("{t}/gone");
        let watch_id = unique("watch");
        let watch = session_args(v, &watch_id, 3600, "1", &will_topic);
        let mut watcher = Sub::start_at(b.port, v, &strs(&watch));
        let will_id = unique("dev");
        let dev = Sub::start_at(
            b.port,
            V::V5,
            &[
                "-c", "-i", &will_id, "-x", "3600", "-q", "1", "-t", &format!("{t}/in"),
                "--will-topic", &will_topic, "--will-payload", "device gone", "--will-qos", "1",
                "-D", "will", "will-delay-interval", "3",
            ],
        );
        let mut gone = 0;
        let dropped = Instant::now();
        drop_client(&b, dev, &mut gone);
        watcher.expect_none(Duration::from_millis(700), "the will waits 3 s");
        drop_client(&b, watcher, &mut gone);
        b.kill();
        assert!(
            dropped.elapsed() < Duration::from_millis(2_500),
            "the broker must go down before the will is due: {:?}",
            dropped.elapsed()
        );
        thread::sleep(Duration::from_millis(3_000));
        b.restart();

        let again = session_args(v, &watch_id, 3600, "1", &format!("{t}/other"));
        let mut watcher = Sub::start_at(b.port, v, &strs(&again));
        let got: Vec<_> = watcher.drain(Duration::from_millis(900)).iter().map(shape).collect();
        assert_eq!(got, [owned(&will_topic, "device gone", 1, false)]);
    }
);

// ------------------------------------------------------------------------------------------------
// In-flight QoS 2 across a restart, both directions, over raw sockets
// ------------------------------------------------------------------------------------------------

/// A minimal MQTT client over a raw socket: packets built by hand, read with a bounded wait.
struct Raw {
    s: TcpStream,
    v5: bool,
}

impl Raw {
    /// Connects with clean session/start 0 (5.0: session expiry 3600 s); returns the client and
    /// the CONNACK's session-present flag.
    fn connect(port: u16, v: V, id: &str) -> (Raw, bool) {
        let v5 = v == V::V5;
        let mut body = vec![
            0x00,
            0x04,
            b'M',
            b'Q',
            b'T',
            b'T',
            if v5 { 5 } else { 4 },
            0x00,
            0x00,
            0x3c,
        ];
        if v5 {
            body.extend_from_slice(&[0x05, 0x11, 0x00, 0x00, 0x0e, 0x10]);
        }
        put_str(&mut body, id);
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut raw = Raw { s, v5 };
        raw.send(0x10, &body);
        let (kind, body) = raw.read();
        assert_eq!(kind >> 4, 2, "CONNACK expected");
        assert_eq!(body[1], 0, "CONNACK accepted: {body:?}");
        (raw, body[0] & 1 == 1)
    }

    fn send(&mut self, first: u8, body: &[u8]) {
        let mut p = vec![first];
        let mut len = body.len();
        loop {
            let mut byte = u8::try_from(len % 128).unwrap();
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            p.push(byte);
            if len == 0 {
                break;
            }
        }
        p.extend_from_slice(body);
        self.s.write_all(&p).unwrap();
    }

    /// The next packet: (first byte, body).
    fn read(&mut self) -> (u8, Vec<u8>) {
        let mut first = [0u8; 1];
        self.s
            .read_exact(&mut first)
            .expect("a packet within the wait");
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let mut b = [0u8; 1];
            self.s.read_exact(&mut b).unwrap();
            len |= usize::from(b[0] & 0x7f) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; len];
        self.s.read_exact(&mut body).unwrap();
        (first[0], body)
    }

    fn subscribe(&mut self, topic: &str) {
        let mut body = vec![0x00, 0x01];
        if self.v5 {
            body.push(0);
        }
        put_str(&mut body, topic);
        body.push(2);
        self.send(0x82, &body);
        let (kind, _) = self.read();
        assert_eq!(kind >> 4, 9, "SUBACK expected");
    }

    fn publish_qos2(&mut self, topic: &str, pid: u16, payload: &[u8], dup: bool) {
        let mut body = Vec::new();
        put_str(&mut body, topic);
        body.extend_from_slice(&pid.to_be_bytes());
        if self.v5 {
            body.push(0);
        }
        body.extend_from_slice(payload);
        self.send(if dup { 0x3c } else { 0x34 }, &body);
    }

    /// A QoS 2 PUBLISH: (packet id, payload, dup).
    fn expect_publish(&mut self) -> (u16, Vec<u8>, bool) {
        let (kind, body) = self.read();
        assert_eq!(kind >> 4, 3, "PUBLISH expected, got {kind:#x} {body:?}");
        assert_eq!((kind >> 1) & 3, 2, "QoS 2");
        let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
        let at = 2 + tlen;
        let pid = u16::from_be_bytes([body[at], body[at + 1]]);
        let mut rest = at + 2;
        if self.v5 {
            // Properties: a one-byte length is enough for what the broker adds here.
            rest += 1 + usize::from(body[rest]);
        }
        (pid, body[rest..].to_vec(), kind & 0x08 != 0)
    }

    /// An acknowledgement of type `kind` (5 PUBREC, 6 PUBREL, 7 PUBCOMP) for `pid`.
    fn expect_ack(&mut self, kind: u8, pid: u16) {
        let (first, body) = self.read();
        assert_eq!(
            first >> 4,
            kind,
            "packet type {kind} expected, got {first:#x} {body:?}"
        );
        assert_eq!(u16::from_be_bytes([body[0], body[1]]), pid);
        if body.len() > 2 {
            assert!(body[2] < 0x80, "a success reason code: {body:?}");
        }
    }

    fn ack(&mut self, kind: u8, pid: u16) {
        let first = match kind {
            6 => 0x62,
            k => k << 4,
        };
        self.send(first, &pid.to_be_bytes());
    }

    /// Nothing arrives within `window`.
    fn expect_silence(&mut self, window: Duration) {
        self.s.set_read_timeout(Some(window)).unwrap();
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("expected nothing, got {other:?} {b:?}"),
        }
        self.s.set_read_timeout(Some(WAIT)).unwrap();
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

both_versions!(
    /// QoS 2 exactly once across SIGKILL, both directions. Inbound: the broker sent PUBREC for
    /// packet id 7, then died; the publisher re-sends the PUBLISH with DUP (as if it had not
    /// seen the PUBREC), then PUBREL: PUBCOMP, and the message is routed once. Outbound: the
    /// subscriber got PUBREL for a delivery (its application has the message), then the broker
    /// died before PUBCOMP; on resume the broker sends PUBREL again, never the message.
    issue_10_inflight_qos2_exactly_once_across_sigkill,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("q2");
        let (sub_id, pub_id) = (unique("q2-sub"), unique("q2-pub"));
        let (mut sub, present) = Raw::connect(b.port, v, &sub_id);
        assert!(!present, "a new session");
        sub.subscribe(&format!("{t}/#"));
        let (mut publ, _) = Raw::connect(b.port, v, &pub_id);
        let topic = format!("{t}/x");

        // Inbound, first half: PUBLISH id 7 → PUBREC (on disk before it leaves, under sync).
        publ.publish_qos2(&topic, 7, b"once", false);
        publ.expect_ack(5, 7);
        // Outbound, first half: the subscriber takes the delivery (a 5.0 or 3.1.1 client hands
        // a QoS 2 message to its application at PUBREL) and answers PUBREC; the broker answers
        // PUBREL, which may leave only once "PUBREC received" is on disk; no PUBCOMP is sent,
        // and the broker is killed at once.
        let (out_pid, payload, _) = sub.expect_publish();
        assert_eq!(payload, b"once");
        sub.ack(5, out_pid);
        sub.expect_ack(6, out_pid);
        b.kill();
        drop((sub, publ));
        b.restart();

        let (mut publ, present) = Raw::connect(b.port, v, &pub_id);
        assert!(present, "the publisher's session resumed");
        publ.publish_qos2(&topic, 7, b"once", true);
        publ.expect_ack(5, 7);
        publ.ack(6, 7);
        publ.expect_ack(7, 7);

        let (mut sub, present) = Raw::connect(b.port, v, &sub_id);
        assert!(present, "the subscriber's session resumed");
        // Only the PUBREL of the delivery whose PUBREC the broker had: not the message again.
        sub.expect_ack(6, out_pid);
        sub.ack(7, out_pid);
        sub.expect_silence(Duration::from_millis(800));
    }
);

both_versions!(
    /// QoS 2 exactly once when the publisher never saw its PUBREC: the broker routed the
    /// message (the subscriber has it), then died — twice, the second time after both clients
    /// had resumed without doing anything; the publisher re-sends the PUBLISH with DUP under
    /// the same packet id, as MQTT requires. The broker must recognise the id it stored
    /// with the routing and answer PUBREC without routing again: the subscriber gets the
    /// restored delivery (DUP, same packet id) and then nothing more.
    issue_10_qos2_resent_by_the_publisher_after_sigkill_is_not_routed_again,
    |v: V| {
        let mut b = Persistent::start(SYNC, false);
        let t = unique("q2r");
        let (sub_id, pub_id) = (unique("q2r-sub"), unique("q2r-pub"));
        let (mut sub, _) = Raw::connect(b.port, v, &sub_id);
        sub.subscribe(&format!("{t}/#"));
        let (mut publ, _) = Raw::connect(b.port, v, &pub_id);
        let topic = format!("{t}/x");
        publ.publish_qos2(&topic, 9, b"only once", false);
        // The delivery leaves once the routing is on disk; the publisher does not read its
        // PUBREC, the subscriber does not answer.
        let (out_pid, payload, _) = sub.expect_publish();
        assert_eq!(payload, b"only once");
        b.kill();
        drop((sub, publ));
        b.restart();
        // Both resume once, do nothing, and the broker dies again.
        let (sub, present) = Raw::connect(b.port, v, &sub_id);
        assert!(present);
        let (publ, present) = Raw::connect(b.port, v, &pub_id);
        assert!(present);
        thread::sleep(Duration::from_millis(300));
        b.kill();
        drop((sub, publ));
        b.restart();

        let (mut publ, present) = Raw::connect(b.port, v, &pub_id);
        assert!(present, "the publisher's session resumed");
        publ.publish_qos2(&topic, 9, b"only once", true);
        publ.expect_ack(5, 9);
        publ.ack(6, 9);
        publ.expect_ack(7, 9);

        let (mut sub, present) = Raw::connect(b.port, v, &sub_id);
        assert!(present, "the subscriber's session resumed");
        let (pid, payload, dup) = sub.expect_publish();
        assert_eq!((pid, payload.as_slice(), dup), (out_pid, &b"only once"[..], true));
        sub.ack(5, pid);
        sub.expect_ack(6, pid);
        sub.ack(7, pid);
        sub.expect_silence(Duration::from_millis(800));
    }
);
