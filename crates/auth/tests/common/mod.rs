//! Helpers shared by the integration tests: scratch directories, the mosquitto tools, bounded
//! waits.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // shared test helpers; a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lantern-auth-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails the test (never skips it) when a mosquitto program is missing.
pub fn require_tool(program: &str, package: &str) {
    match Command::new(program)
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => {}
        Err(e) => panic!(
            "`{program}` cannot be run ({e}): install the Debian package `{package}` \
             (`apt-get install -y {package}`; CI's .ci/run installs it)"
        ),
    }
}

/// Runs a command to completion, killing it after `limit`.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    wait_bounded(child, limit)
}

/// Waits for a child, killing it after `limit` (the test then fails).
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "a command did not finish within {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `mosquitto_passwd` with `args`, asserting success.
pub fn mosquitto_passwd(args: &[&str]) {
    require_tool("mosquitto_passwd", "mosquitto");
    let out = run_bounded(
        Command::new("mosquitto_passwd").args(args),
        Duration::from_secs(20),
    );
    assert!(
        succeeded(out.status),
        "mosquitto_passwd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn succeeded(status: ExitStatus) -> bool {
    status.success()
}
