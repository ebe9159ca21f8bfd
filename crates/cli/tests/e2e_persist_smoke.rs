//! Issue 10 smoke test: what `lantern serve` acknowledged survives a SIGKILL. A retained
//! message and a QoS 1 message queued for an offline persistent session are published with
//! `mosquitto_pub` (whose PUBACK, under the default `durability = "sync"`, leaves only once the
//! store has fsynced them), the broker is killed with SIGKILL, restarted on the same data
//! directory, and `mosquitto_sub` resuming the session receives both. Both protocol versions.
//! The exhaustive restart and crash tests live in e2e_persist.

mod common;

use std::time::{Duration, Instant};

use common::{mosquitto_pub, skip_on_mosquitto, Broker, Sub, TempDir, V, WAIT};

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
