//! Issue 10 smoke test: what `lantern serve` acknowledged survives a SIGKILL. A retained
//! message and a QoS 1 message queued for an offline persistent session are published with
//! `mosquitto_pub` (whose PUBACK, under the default `durability = "sync"`, leaves only once the
//! store has fsynced them), the broker is killed with SIGKILL, restarted on the same data
//! directory, and `mosquitto_sub` resuming the session receives both. Both protocol versions.
//! The exhaustive restart and crash tests live in e2e_persist.

mod common;

use std::time::{Duration, Instant};

use std::process::{Command, Stdio};

use common::{mosquitto_pub, noise, output_text, skip_on_mosquitto, Broker, Sub, TempDir, V, WAIT};

fn start_on(dir: &TempDir) -> Broker {
    Broker::builder()
        .serve_args(&["--data-dir", dir.path().to_str().expect("utf-8 path")])
        .start()
}

fn kill_hard(mut b: Broker) {
    b.signal("KILL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.is_running() {
        assert!(Instant::now() < deadline, "broker survived SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn persistent(v: V, client_id: &str) -> Vec<String> {
    let mut args: Vec<String> = ["-c", "-i", client_id, "-q", "1", "-t", "p/#"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    if v == V::V5 {
        args.extend(["-x".to_owned(), "3600".to_owned()]);
    }
    args
}

both_versions!(
    /// Retained message and offline QoS 1 queue survive SIGKILL + restart on the same data dir.
    issue_10_retained_and_offline_queue_survive_sigkill,
    |v: V| {
        if skip_on_mosquitto("Lantern's store and --data-dir") {
            return;
        }
        let dir = TempDir::new("persist-smoke");
        let b = start_on(&dir);
        let args = persistent(v, "smoke-sub");
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let sub = Sub::start(&b, v, &args);
        sub.kill();
        b.wait_log(&["cause=\"net.peer_closed\""], 1, WAIT);
        // Outside the persistent subscription, so it comes back only as the retained message.
        mosquitto_pub(&b, v, &["-r", "-q", "1", "-t", "r/kept", "-m", "kept"], None);
        mosquitto_pub(&b, v, &["-q", "1", "-t", "p/queued", "-m", "queued-1"], None);

        kill_hard(b);

        let b = start_on(&dir);
        let loaded = b.wait_log(&["store loaded"], 1, WAIT);
        assert!(
            loaded[0].contains("sessions=1") && loaded[0].contains("retained=1"),
            "{loaded:?}"
        );
        let mut sub = Sub::start(&b, v, &args);
        let m = sub.recv("the queued message after the restart");
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice(), m.qos),
            ("p/queued", &b"queued-1"[..], 1)
        );
        sub.expect_none(Duration::from_millis(500), "nothing else was queued");
        sub.kill();
        let mut fresh = Sub::start(&b, v, &["-q", "1", "-t", "r/#"]);
        let m = fresh.recv("the retained message after the restart");
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice(), m.retain),
            ("r/kept", &b"kept"[..], true)
        );
        fresh.kill();
    }
);

both_versions!(
    /// `durability = "interval"`: acknowledged at once, on disk within the window; what was
    /// published a few windows before the SIGKILL is there after the restart.
    issue_10_interval_durability_keeps_what_a_window_has_written,
    |v: V| {
        if skip_on_mosquitto("Lantern's store and --data-dir") {
            return;
        }
        let dir = TempDir::new("persist-interval");
        let config = "[persistence]\ndurability = \"interval\"\ndurability_interval = \"50ms\"\n";
        let data_dir = dir.path().to_str().expect("utf-8 path").to_owned();
        let start = || {
            Broker::builder()
                .config_toml(config)
                .serve_args(&["--data-dir", &data_dir])
                .start()
        };
        let b = start();
        mosquitto_pub(&b, v, &["-r", "-q", "1", "-t", "r/interval", "-m", "windowed"], None);
        // Four windows.
        std::thread::sleep(Duration::from_millis(200));
        kill_hard(b);
        let b = start();
        let mut fresh = Sub::start(&b, v, &["-q", "1", "-t", "r/#"]);
        let m = fresh.recv("the retained message after the restart");
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice(), m.retain),
            ("r/interval", &b"windowed"[..], true)
        );
        fresh.kill();
    }
);

/// A small tmpfs mounted for one test (the tests run as root, as CI does), lazily unmounted on
/// drop (the broker may still hold files on it).
struct SmallDisk {
    dir: TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = TempDir::new("small-disk");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed: {status}");
        SmallDisk { dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// What a bounded mosquitto_pub did.
#[derive(Debug)]
enum Published {
    /// Exited 0: acknowledged.
    Acknowledged,
    /// Still waiting for its acknowledgement at the limit (killed then).
    NoAck,
    /// Exited with an error, with what it printed.
    Refused(String),
}

/// mosquitto_pub bounded to `limit`; a publish whose PUBACK never comes is killed.
fn publish_within(b: &Broker, v: V, args: &[&str], limit: Duration) -> Published {
    let mut child = Command::new("mosquitto_pub")
        .args([
            "-d",
            "-h",
            "127.0.0.1",
            "-p",
            &b.port.to_string(),
            "-V",
            v.mosquitto_flag(),
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mosquitto_pub (apt-get install mosquitto-clients)");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait for mosquitto_pub").is_some() {
            let out = child.wait_with_output().expect("mosquitto_pub output");
            return if out.status.success() {
                Published::Acknowledged
            } else {
                Published::Refused(output_text(&out))
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Published::NoAck;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

both_versions!(
    /// The disk fills at run time: what was written was acknowledged; the publish whose batch
    /// could not be written never gets its PUBACK; every QoS 1 publish after that is refused
    /// (v5: DISCONNECT 0x97), with the cause `store.unavailable` in the story.
    issue_10_full_disk_never_acknowledges_what_was_not_written,
    |v: V| {
        if skip_on_mosquitto("Lantern's store and --data-dir") {
            return;
        }
        let disk = SmallDisk::mount("2m");
        let data_dir = disk.dir.join("data");
        let b = Broker::builder()
            .serve_args(&["--data-dir", &data_dir])
            .start();
        let files = TempDir::new("full-disk-payload");
        let payload = files.join("payload.bin");
        std::fs::write(&payload, noise(200 * 1024, 10)).expect("write the payload file");
        let mut acknowledged = 0;
        let mut first_failure = None;
        for i in 0..20 {
            let topic = format!("big/{i}");
            match publish_within(
                &b,
                v,
                &["-q", "1", "-r", "-t", &topic, "-f", &payload],
                Duration::from_secs(3),
            ) {
                Published::Acknowledged => acknowledged += 1,
                other => {
                    first_failure = Some(other);
                    break;
                }
            }
        }
        // 2 MiB holds about ten 200 KiB messages.
        assert!(
            (3..=11).contains(&acknowledged),
            "{acknowledged} acknowledged on a 2 MiB disk; then {first_failure:?}"
        );
        // The publish whose batch failed waits for a PUBACK that never comes (or, if the
        // failure was seen first, is refused): never acknowledged.
        assert!(
            matches!(first_failure, Some(Published::NoAck | Published::Refused(_))),
            "{first_failure:?}"
        );
        b.wait_log(&["store write failed"], 1, WAIT);
        match publish_within(&b, v, &["-q", "1", "-t", "small", "-m", "x"], Duration::from_secs(5)) {
            Published::Refused(text) => {
                if v == V::V5 {
                    assert!(text.contains("Received DISCONNECT (151)"), "{text}");
                }
            }
            other => panic!("a QoS 1 publish after the store failed: {other:?}"),
        }
        b.wait_log(&["cause=\"store.unavailable\""], 1, WAIT);
    }
);
