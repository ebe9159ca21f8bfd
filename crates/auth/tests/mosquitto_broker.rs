//! A password file written by `set_password` is accepted by mosquitto itself.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lantern_auth::set_password;

use common::{require_tool, run_bounded, TempDir};

/// A mosquitto process, killed on drop.
struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    fn start(dir: &TempDir, password_file: &std::path::Path) -> Self {
        require_tool("mosquitto", "mosquitto");
        // Pick a free port by binding port 0, then hand it to mosquitto.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("mosquitto.conf");
        // `user root` stops mosquitto started as root from dropping to the `mosquitto` user,
        // who could not read a 0600 file owned by root; started as anyone else it is ignored.
        fs::write(
            &config,
            format!(
                "user root\nlistener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
                password_file.display()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut broker = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = broker.child.try_wait().unwrap() {
                let mut stderr = String::new();
                if let Some(mut pipe) = broker.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
                }
                panic!("mosquitto exited with {status}: {stderr}");
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// Publishes one message as `user`; returns whether the broker accepted the connection.
    fn publish_as(&self, user: &str, password: &str) -> bool {
        require_tool("mosquitto_pub", "mosquitto-clients");
        let out = run_bounded(
            Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-u", user, "-P", password, "-t", "lantern/test", "-m", "hi"]),
            Duration::from_secs(15),
        );
        out.status.success()
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn file_written_by_set_password_is_accepted_by_mosquitto() {
    let dir = TempDir::new("broker");
    let path = dir.join("passwords");
    set_password(&path, "alice", b"correct horse").unwrap();
    set_password(&path, "bob", b"p\xc3\xa4ss word").unwrap();
    set_password(&path, "alice", b"battery staple").unwrap();

    let broker = Mosquitto::start(&dir, &path);
    assert!(
        broker.publish_as("alice", "battery staple"),
        "right password refused"
    );
    assert!(
        broker.publish_as("bob", "päss word"),
        "right password refused"
    );
    assert!(
        !broker.publish_as("alice", "correct horse"),
        "old password accepted"
    );
    assert!(
        !broker.publish_as("alice", "wrong"),
        "wrong password accepted"
    );
    assert!(
        !broker.publish_as("carol", "battery staple"),
        "unknown user accepted"
    );
}
