//! Shared harness for the end-to-end tests (test pyramid tier 6 in STYLE.md).
//!
//! Every test starts its own broker on a port the OS picks, talks to it only through real clients
//! (`mosquitto_pub`/`mosquitto_sub`, the paho-mqtt scripts in `tests/e2e/`, raw sockets there), and
//! kills it when the [`Broker`] is dropped. Every wait here is bounded.
//!
//! The broker under test is the `lantern` binary of this package. With
//! `LANTERN_E2E_BROKER=mosquitto` the same tests run against a local Eclipse Mosquitto instead;
//! that is how the tests themselves are validated against a broker known to follow the spec.
//! Where mosquitto deviates from what the spec (or Lantern's documented choice) requires, the
//! test says so and skips that check with [`skip_on_mosquitto`].
//!
//! ```ignore
//! let broker = Broker::start();                       // zero config: `lantern serve --bind 127.0.0.1 --port 0`
//! let broker = Broker::builder()                      // with a config file
//!     .config_toml("[limits]\nmax_keepalive = 10\n")  //   appended after a 127.0.0.1:0 [[listener]]
//!     .mosquitto_conf("max_keepalive 10\n")           //   the equivalent for mosquitto
//!     .start();
//! python(&broker, "qos.py", V::V5, &["--case", "qos1"]);
//! ```

#![allow(dead_code, unreachable_pub)]

pub mod tls;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a broker may take to start listening.
const STARTUP: Duration = Duration::from_secs(15);
/// Default bound for one step of a test (a message, a SUBACK, a client run).
pub const WAIT: Duration = Duration::from_secs(5);
/// How long "nothing (else) arrives" is watched for.
pub const QUIET: Duration = Duration::from_millis(700);
/// Hard bound for one Python scenario script (each has its own, shorter, internal watchdog).
const SCRIPT_LIMIT: Duration = Duration::from_secs(90);

// ------------------------------------------------------------------------------------------------
// Which broker
// ------------------------------------------------------------------------------------------------

/// The broker implementation the tests run against.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Kind {
    /// This package's `lantern` binary (the default).
    Lantern,
    /// `mosquitto` from PATH or /usr/sbin, selected with `LANTERN_E2E_BROKER=mosquitto`.
    Mosquitto,
}

/// The broker selected by `LANTERN_E2E_BROKER` (`lantern`, the default, or `mosquitto`).
pub fn kind() -> Kind {
    match std::env::var("LANTERN_E2E_BROKER").as_deref() {
        Ok("mosquitto") => Kind::Mosquitto,
        Ok("") | Ok("lantern") | Err(_) => Kind::Lantern,
        Ok(other) => panic!("LANTERN_E2E_BROKER={other:?}: expected `lantern` or `mosquitto`"),
    }
}

/// True when validating against mosquitto.
pub fn is_mosquitto() -> bool {
    kind() == Kind::Mosquitto
}

/// Returns true (and says why on stderr) when running against mosquitto, for checks that only
/// Lantern is expected to pass. Use as `if skip_on_mosquitto("...") { return; }`.
pub fn skip_on_mosquitto(why: &str) -> bool {
    if is_mosquitto() {
        eprintln!("SKIPPED against mosquitto: {why}");
        true
    } else {
        false
    }
}

/// MQTT protocol version of a test variant.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum V {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0.
    V5,
}

impl V {
    /// The `-V` value of mosquitto_pub / mosquitto_sub.
    pub fn mosquitto_flag(self) -> &'static str {
        match self {
            V::V311 => "mqttv311",
            V::V5 => "mqttv5",
        }
    }

    /// The `--version` value of the Python scripts.
    pub fn script_flag(self) -> &'static str {
        match self {
            V::V311 => "311",
            V::V5 => "5",
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Broker process
// ------------------------------------------------------------------------------------------------

/// Options for starting a broker; see [`Broker::builder`].
#[derive(Clone, Debug, Default)]
pub struct BrokerBuilder {
    config_toml: Option<String>,
    /// Whether `config_toml` is the whole file (no 127.0.0.1:0 TCP listener prepended).
    whole_file: bool,
    mosquitto_conf: String,
    /// Extra arguments after `lantern serve ...` (e.g. `--admin 127.0.0.1:PORT`).
    serve_args: Vec<String>,
}

impl BrokerBuilder {
    /// Run lantern with `serve --config FILE`, where FILE is a `[[listener]]` on 127.0.0.1 port 0
    /// followed by `extra` (e.g. `"[limits]\nmax_keepalive = 10\n"`). Ignored for mosquitto.
    pub fn config_toml(mut self, extra: &str) -> Self {
        self.config_toml = Some(extra.to_owned());
        self.whole_file = false;
        self
    }

    /// Run lantern with `serve --config FILE`, where FILE is exactly `toml` (its own
    /// `[[listener]]`s, which should use port 0). The harness waits for one listening line per
    /// `[[listener]]`. Ignored for mosquitto.
    pub fn config_file(mut self, toml: &str) -> Self {
        self.config_toml = Some(toml.to_owned());
        self.whole_file = true;
        self
    }

    /// Lines appended to the generated mosquitto.conf (the mosquitto equivalent of
    /// [`config_toml`](Self::config_toml)). Ignored for lantern.
    pub fn mosquitto_conf(mut self, extra: &str) -> Self {
        self.mosquitto_conf.push_str(extra);
        self
    }

    /// Extra arguments for `lantern serve` (after `--config FILE` or `--bind/--port`), e.g.
    /// `["--admin", "127.0.0.1:PORT"]`. Ignored for mosquitto.
    pub fn serve_args(mut self, args: &[&str]) -> Self {
        self.serve_args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Start the broker and wait until it accepts connections.
    pub fn start(self) -> Broker {
        match kind() {
            Kind::Lantern => Broker::start_lantern(&self),
            Kind::Mosquitto => Broker::start_mosquitto(&self),
        }
    }
}

/// A running broker, killed (and its scratch directory removed) on drop.
pub struct Broker {
    /// The port of its first plain TCP listener at 127.0.0.1 (of its first listener, when none
    /// is plain TCP).
    pub port: u16,
    /// Every listener as announced on stdout, in config order: (transport, port), where
    /// transport is "tcp", "tls", "ws" or "wss".
    pub listeners: Vec<(String, u16)>,
    /// Which implementation this is.
    pub kind: Kind,
    child: Option<Child>,
    dir: PathBuf,
    log: PathBuf,
    stdout_lines: Option<Receiver<String>>,
}

impl Broker {
    /// A broker with zero configuration: anonymous clients, loopback only.
    pub fn start() -> Broker {
        BrokerBuilder::default().start()
    }

    /// A builder for a broker with a config file.
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A private scratch directory that lives as long as the broker.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The port of the first listener of `transport` ("tcp", "tls", "ws", "wss"); panics if
    /// there is none.
    pub fn port_of(&self, transport: &str) -> u16 {
        self.ports_of(transport)
            .first()
            .copied()
            .unwrap_or_else(|| {
                panic!(
                    "no {transport} listener; the broker announced {:?}",
                    self.listeners
                )
            })
    }

    /// The ports of every listener of `transport`, in config order.
    pub fn ports_of(&self, transport: &str) -> Vec<u16> {
        self.listeners
            .iter()
            .filter(|(t, _)| t == transport)
            .map(|(_, p)| *p)
            .collect()
    }

    /// The broker's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker already stopped").id()
    }

    /// Sends a signal by name ("HUP", "TERM", ...) with the shell's builtin `kill`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{name} {}", self.pid())])
            .status()
            .expect("run `sh -c kill`");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (bounded) until the log holds `count` lines containing every one of `needles`;
    /// returns those lines, or panics with the log.
    pub fn wait_log(&self, needles: &[&str], count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.log_lines(needles);
            if found.len() >= count {
                return found;
            }
            if Instant::now() > deadline {
                panic!(
                    "expected {count} broker log line(s) containing {needles:?} within {timeout:?}; \
                     log:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log lines so far that contain every one of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }

    /// The broker's stderr (its log) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the broker process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stop with SIGTERM and return the exit status (bounded; SIGKILL after 10 s).
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("broker already stopped");
        // The shell's builtin `kill`: no dependency on procps, no libc crate needed.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", child.id())])
            .status()
            .expect("run `sh -c kill`");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = child.try_wait().expect("wait for broker") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "broker did not exit within 10 s of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Further `lantern listening on ...` lines after the first (other listeners), bounded.
    pub fn next_stdout_line(&self, timeout: Duration) -> Option<String> {
        self.stdout_lines.as_ref()?.recv_timeout(timeout).ok()
    }

    fn start_lantern(opts: &BrokerBuilder) -> Broker {
        let dir = scratch_dir("lantern");
        let log = dir.join("broker.log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lantern"));
        // Each broker's default data directory (story log, development PKI) is its own.
        cmd.current_dir(&dir);
        cmd.arg("serve");
        let mut expected_listeners = 1;
        match &opts.config_toml {
            Some(extra) => {
                let file = dir.join("lantern.toml");
                let toml = if opts.whole_file {
                    extra.clone()
                } else {
                    format!("[[listener]]\nbind = \"127.0.0.1\"\nport = 0\n\n{extra}\n")
                };
                expected_listeners = toml
                    .lines()
                    .filter(|l| l.trim() == "[[listener]]")
                    .count()
                    .max(1);
                fs::write(&file, toml).expect("write lantern.toml");
                cmd.arg("--config").arg(&file);
            }
            None => {
                cmd.args(["--bind", "127.0.0.1", "--port", "0"]);
            }
        }
        cmd.args(&opts.serve_args);
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "debug".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).expect("create broker log"));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", env!("CARGO_BIN_EXE_lantern")));

        // The broker prints one `lantern listening on 127.0.0.1:PORT (tcp)` line per listener.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut broker = Broker {
            port: 0,
            listeners: Vec::new(),
            kind: Kind::Lantern,
            child: Some(child),
            dir,
            log,
            stdout_lines: None,
        };
        let deadline = Instant::now() + STARTUP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    // One line per listener, in config order; other stdout lines (the
                    // development PKI's first-run instructions) come before them.
                    if let Some((transport, port)) = parse_listening_line(&line) {
                        broker.listeners.push((transport, port));
                        if broker.listeners.len() == expected_listeners {
                            broker.port = broker
                                .listeners
                                .iter()
                                .find(|(t, _)| t == "tcp")
                                .unwrap_or(&broker.listeners[0])
                                .1;
                            broker.stdout_lines = Some(rx);
                            return broker;
                        }
                        continue;
                    }
                    eprintln!("lantern stdout (ignored): {line}");
                }
                Err(RecvTimeoutError::Timeout) if left > Duration::ZERO => {
                    if !broker.is_running() {
                        panic!(
                            "lantern exited before listening ({:?}); stderr:\n{}",
                            broker
                                .child
                                .as_mut()
                                .and_then(|c| c.try_wait().ok().flatten()),
                            broker.log()
                        );
                    }
                }
                Err(_) => panic!(
                    "lantern printed {} of {expected_listeners} `lantern listening on \
                     127.0.0.1:PORT (tcp)` lines within {STARTUP:?}; stderr:\n{}",
                    broker.listeners.len(),
                    broker.log()
                ),
            }
        }
    }

    fn start_mosquitto(opts: &BrokerBuilder) -> Broker {
        let exe = find_mosquitto();
        let dir = scratch_dir("mosquitto");
        let log = dir.join("broker.log");
        // The free port is found by binding port 0 here and releasing it; another process could
        // grab it in between, so a failed start is retried with a new port.
        for attempt in 1..=5 {
            let port = free_port();
            let conf = dir.join("mosquitto.conf");
            let text = format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 log_dest stderr\nlog_type all\n{}\n",
                opts.mosquitto_conf
            );
            fs::write(&conf, text).expect("write mosquitto.conf");
            let child = Command::new(&exe)
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).expect("create broker log"))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let mut broker = Broker {
                port,
                kind: Kind::Mosquitto,
                child: Some(child),
                dir: dir.clone(),
                log: log.clone(),
                stdout_lines: None,
                listeners: vec![("tcp".to_owned(), port)],
            };
            let deadline = Instant::now() + STARTUP;
            while Instant::now() < deadline && broker.is_running() {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return broker;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let log_text = broker.log();
            if let Some(mut c) = broker.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            std::mem::forget(broker); // keep the directory for the next attempt
            eprintln!("mosquitto did not start on port {port} (attempt {attempt}):\n{log_text}");
        }
        panic!("mosquitto did not start after 5 attempts; see the logs above");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            let log = self.log();
            let tail: String = log
                .lines()
                .rev()
                .take(200)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            eprintln!(
                "---- {:?} broker log (last 200 lines) ----\n{tail}\n----",
                self.kind
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Parses `lantern listening on 127.0.0.1:PORT (tcp)` (or `tls`, `ws`, `wss`) into
/// `("tcp", PORT)`.
fn parse_listening_line(line: &str) -> Option<(String, u16)> {
    let rest = line.trim().strip_prefix("lantern listening on ")?;
    let (addr, transport) = rest.split_once(' ')?;
    let transport = transport.strip_prefix('(')?.strip_suffix(')')?;
    if !matches!(transport, "tcp" | "tls" | "ws" | "wss") {
        return None;
    }
    let port = addr.rsplit_once(':')?.1.parse().ok()?;
    Some((transport.to_owned(), port))
}

fn find_mosquitto() -> PathBuf {
    if let Some(p) = which("mosquitto") {
        return p;
    }
    for p in ["/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("LANTERN_E2E_BROKER=mosquitto but no `mosquitto` binary: apt-get install mosquitto");
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A port that was free a moment ago (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A fresh directory under the system temp dir.
pub fn scratch_dir(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "lantern-e2e-{what}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A short name unique to this test process, for topic prefixes and client ids.
pub fn unique(label: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{label}-{:x}{:x}{:x}",
        std::process::id() & 0xffff,
        N.fetch_add(1, Ordering::Relaxed),
        nanos & 0xfff
    )
}

// ------------------------------------------------------------------------------------------------
// Running processes with a bound
// ------------------------------------------------------------------------------------------------

/// Runs `cmd` to completion with `stdin` fed in, killing it after `limit`. Panics on timeout.
pub fn run_bounded(cmd: &mut Command, stdin: Option<&[u8]>, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let out = read_all_in_thread(child.stdout.take().expect("piped stdout"));
    let err = read_all_in_thread(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = String::from_utf8_lossy(&out.recv().unwrap_or_default()).into_owned();
            let stderr = String::from_utf8_lossy(&err.recv().unwrap_or_default()).into_owned();
            panic!("{shown} did not finish within {limit:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.recv().unwrap_or_default(),
        stderr: err.recv().unwrap_or_default(),
    }
}

fn read_all_in_thread<R: Read + Send + 'static>(mut r: R) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn require_tool(name: &str, hint: &str) -> PathBuf {
    which(name)
        .unwrap_or_else(|| panic!("`{name}` is not installed: {hint} (scripts/test installs it)"))
}

// ------------------------------------------------------------------------------------------------
// Python / paho scenarios
// ------------------------------------------------------------------------------------------------

/// Directory of the Python scenario scripts (`<repo>/tests/e2e`).
pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e")
}

/// Runs `python3 tests/e2e/<script> --port P --version V <extra>` and asserts it exits 0.
/// The script's own output is shown on failure (and with `--nocapture`).
pub fn python(broker: &Broker, script: &str, v: V, extra: &[&str]) {
    python_at(broker, broker.port, script, v, extra);
}

/// [`python`] against another of the broker's ports (a TLS or WebSocket listener).
pub fn python_at(broker: &Broker, port: u16, script: &str, v: V, extra: &[&str]) {
    let py = require_tool(
        "python3",
        "install Python 3 and `pip install 'paho-mqtt>=2,<3'`",
    );
    let path = e2e_dir().join(script);
    assert!(path.is_file(), "no scenario script {}", path.display());
    let mut cmd = Command::new(py);
    cmd.arg(&path)
        .args(["--port", &port.to_string(), "--version", v.script_flag()])
        .args(extra)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    let out = run_bounded(&mut cmd, None, SCRIPT_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "{script} {extra:?} at MQTT {v:?} against {:?} port {port} failed ({}):\n{stderr}",
        broker.kind,
        out.status
    );
}

// ------------------------------------------------------------------------------------------------
// mosquitto_pub / mosquitto_sub
// ------------------------------------------------------------------------------------------------

/// Runs `mosquitto_pub -h 127.0.0.1 -p PORT -V v <args>` (stdin fed from `stdin`) and asserts exit 0.
pub fn mosquitto_pub(broker: &Broker, v: V, args: &[&str], stdin: Option<&[u8]>) {
    let exe = require_tool("mosquitto_pub", "apt-get install mosquitto-clients");
    let mut cmd = Command::new(exe);
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &broker.port.to_string(),
        "-V",
        v.mosquitto_flag(),
    ])
    .args(args);
    let shown = format!("{cmd:?}");
    let out = run_bounded(&mut cmd, stdin, Duration::from_secs(15));
    assert!(
        out.status.success(),
        "{shown} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `TOOL -h 127.0.0.1 -p PORT -V v <args>` (mosquitto_pub or mosquitto_sub, bounded to
/// 15 s) and returns its output whatever the exit status, for refusals.
pub fn mosquitto_at(tool: &str, port: u16, v: V, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let exe = require_tool(tool, "apt-get install mosquitto-clients");
    let mut cmd = Command::new(exe);
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-V",
        v.mosquitto_flag(),
    ])
    .args(args);
    run_bounded(&mut cmd, stdin, Duration::from_secs(15))
}

/// [`mosquitto_at`] for mosquitto_pub, asserting it exits 0.
pub fn mosquitto_pub_at(port: u16, v: V, args: &[&str]) {
    let out = mosquitto_at("mosquitto_pub", port, v, args, None);
    assert!(
        out.status.success(),
        "mosquitto_pub -p {port} -V {} {args:?} failed ({}): {}{}",
        v.mosquitto_flag(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stdout and stderr of a finished process, as one string.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ------------------------------------------------------------------------------------------------
// The lantern binary, openssl, scratch directories
// ------------------------------------------------------------------------------------------------

/// Runs `lantern <args>` (e.g. `cert client dev-7 --data-dir D`) bounded to 30 s.
pub fn lantern(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lantern"));
    cmd.args(args);
    run_bounded(&mut cmd, stdin, Duration::from_secs(30))
}

/// [`lantern`], asserting it exits 0; returns its stdout.
pub fn lantern_ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = lantern(args, stdin);
    assert!(
        out.status.success(),
        "lantern {args:?} failed ({}): {}",
        out.status,
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `openssl s_client -connect 127.0.0.1:PORT <args>` with stdin closed (so it ends the
/// session once the handshake is done), bounded to 15 s.
pub fn s_client(port: u16, args: &[&str]) -> Output {
    let exe = require_tool("openssl", "apt-get install openssl");
    let mut cmd = Command::new(exe);
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args);
    run_bounded(&mut cmd, None, Duration::from_secs(15))
}

/// Runs `openssl <args>` bounded to 15 s, asserting it exits 0; returns its stdout.
pub fn openssl(args: &[&str], stdin: Option<&[u8]>) -> String {
    let exe = require_tool("openssl", "apt-get install openssl");
    let mut cmd = Command::new(exe);
    cmd.args(args);
    let out = run_bounded(&mut cmd, stdin, Duration::from_secs(15));
    assert!(
        out.status.success(),
        "openssl {args:?} failed ({}): {}",
        out.status,
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A scratch directory removed on drop (data directories, certificates, password files).
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new(what: &str) -> TempDir {
        TempDir(scratch_dir(what))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `self/name`, as a string (for TOML and command lines).
    pub fn join(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One message as printed by [`Sub`]'s `-F` format.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Message {
    /// The retain flag as delivered.
    pub retain: bool,
    /// The QoS as delivered.
    pub qos: u8,
    /// The topic name.
    pub topic: String,
    /// The exact payload bytes.
    pub payload: Vec<u8>,
    /// v5 subscription identifier(s), as mosquitto_sub prints them (`%S`), or "".
    pub sub_id: String,
    /// v5 message expiry interval (`%E`), or "".
    pub expiry: String,
    /// v5 content type (`%C`), or "".
    pub content_type: String,
    /// v5 response topic (`%R`), or "".
    pub response_topic: String,
    /// v5 correlation data (`%D`, printable test values only), or "".
    pub correlation: String,
    /// v5 user properties (`%P`: `k:v k2:v2`), or "".
    pub user_props: String,
}

const SUB_FORMAT: &str = "MSG|%r|%q|%t|%x|%S|%E|%C|%R|%D|%P";

fn parse_message(line: &str) -> Option<Message> {
    let rest = line.strip_prefix("MSG|")?;
    let f: Vec<&str> = rest.splitn(10, '|').collect();
    if f.len() != 10 {
        return None;
    }
    Some(Message {
        retain: f[0] == "1",
        qos: f[1].parse().ok()?,
        topic: f[2].to_owned(),
        payload: unhex(f[3])?,
        sub_id: f[4].to_owned(),
        expiry: f[5].to_owned(),
        content_type: f[6].to_owned(),
        response_topic: f[7].to_owned(),
        correlation: f[8].to_owned(),
        user_props: f[9].to_owned(),
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => u8::from_str_radix(std::str::from_utf8(&[*hi, *lo]).ok()?, 16).ok(),
            _ => None,
        })
        .collect()
}

enum SubEvent {
    Msg(Message),
    Debug(String),
    Eof,
}

/// A running `mosquitto_sub` (with `-d`, so its protocol events can be awaited), killed on drop.
pub struct Sub {
    child: Child,
    rx: Receiver<SubEvent>,
    pending: std::collections::VecDeque<Message>,
    /// Every debug line seen so far (CONNECT, SUBACK, ...).
    pub debug: Vec<String>,
    eof: bool,
    shown: String,
}

impl Sub {
    /// Starts `mosquitto_sub -d -F <format> <args>` and waits for its SUBACK.
    pub fn start(broker: &Broker, v: V, args: &[&str]) -> Sub {
        let mut sub = Sub::spawn(broker, v, args);
        sub.wait_debug("received SUBACK", 1, WAIT);
        sub
    }

    /// Starts it without waiting for anything.
    pub fn spawn(broker: &Broker, v: V, args: &[&str]) -> Sub {
        Sub::spawn_at(broker.port, v, args)
    }

    /// [`Sub::start`] against another port of the broker (a TLS listener: pass `--cafile` etc.).
    pub fn start_at(port: u16, v: V, args: &[&str]) -> Sub {
        let mut sub = Sub::spawn_at(port, v, args);
        sub.wait_debug("received SUBACK", 1, WAIT);
        sub
    }

    /// [`Sub::spawn`] against another port of the broker.
    pub fn spawn_at(port: u16, v: V, args: &[&str]) -> Sub {
        let exe = require_tool("mosquitto_sub", "apt-get install mosquitto-clients");
        // mosquitto_sub's debug lines go through stdio, block-buffered on a pipe: force line
        // buffering (coreutils `stdbuf`) so each event is seen when it happens.
        let mut cmd = match which("stdbuf") {
            Some(stdbuf) => {
                let mut c = Command::new(stdbuf);
                c.arg("-oL").arg(exe);
                c
            }
            None => Command::new(exe),
        };
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-V",
            v.mosquitto_flag(),
        ])
        .args(["-d", "-F", SUB_FORMAT])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let ev = match parse_message(&line) {
                    Some(m) => SubEvent::Msg(m),
                    None => SubEvent::Debug(line),
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
            let _ = tx.send(SubEvent::Eof);
        });
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx2
                    .send(SubEvent::Debug(format!("stderr: {line}")))
                    .is_err()
                {
                    return;
                }
            }
        });
        Sub {
            child,
            rx,
            pending: Default::default(),
            debug: Vec::new(),
            eof: false,
            shown,
        }
    }

    fn pump(&mut self, timeout: Duration) -> bool {
        if self.eof {
            thread::sleep(timeout.min(Duration::from_millis(50)));
            return false;
        }
        match self.rx.recv_timeout(timeout) {
            Ok(SubEvent::Msg(m)) => self.pending.push_back(m),
            Ok(SubEvent::Debug(l)) => self.debug.push(l),
            Ok(SubEvent::Eof) | Err(RecvTimeoutError::Disconnected) => self.eof = true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
        true
    }

    /// Waits until `count` debug lines contain `needle` (e.g. "received SUBACK").
    pub fn wait_debug(&mut self, needle: &str, count: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.debug_count(needle) < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: expected {count} x {needle:?} within {timeout:?}; output so far:\n{}",
                    self.shown,
                    self.debug.join("\n")
                );
            }
            self.pump(left);
        }
    }

    /// Waits (bounded) until `done(self)` holds; `what` describes it for the failure message.
    pub fn wait_until(&mut self, what: &str, timeout: Duration, done: impl Fn(&Sub) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: expected {what} within {timeout:?}; output so far:\n{}",
                    self.shown,
                    self.debug.join("\n")
                );
            }
            self.pump(left);
        }
    }

    /// Whether mosquitto_sub has closed its output (it exited).
    pub fn exited(&self) -> bool {
        self.eof
    }

    /// How many debug lines so far contain `needle`.
    pub fn debug_count(&self, needle: &str) -> usize {
        self.debug.iter().filter(|l| l.contains(needle)).count()
    }

    /// The next message, or a panic after `WAIT`.
    pub fn recv(&mut self, what: &str) -> Message {
        self.recv_within(WAIT, what)
    }

    /// The next message, or a panic after `timeout`.
    pub fn recv_within(&mut self, timeout: Duration, what: &str) -> Message {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.pending.pop_front() {
                return m;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: expected {what} within {timeout:?}, got nothing; output:\n{}",
                    self.shown,
                    self.debug.join("\n")
                );
            }
            self.pump(left);
        }
    }

    /// Exactly the messages that arrive within `window` (collects until it is quiet that long).
    pub fn drain(&mut self, window: Duration) -> Vec<Message> {
        let deadline = Instant::now() + window;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.pump(left);
        }
        self.pending.drain(..).collect()
    }

    /// Asserts that no message arrives within `window`.
    pub fn expect_none(&mut self, window: Duration, why: &str) {
        let got = self.drain(window);
        assert!(
            got.is_empty(),
            "{}: expected no message ({why}), got {got:?}",
            self.shown
        );
    }

    /// Kill with SIGKILL: the connection ends without DISCONNECT.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits (bounded) for the process to exit by itself, e.g. after `-C n` or `-E`.
    pub fn wait_exit(mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("wait for mosquitto_sub") {
                return st;
            }
            if Instant::now() > deadline {
                panic!("{} did not exit within {timeout:?}", self.shown);
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deterministic pseudo-random bytes (xorshift), for large payloads without a rand dependency.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Generates one `#[test]` per protocol version: `mod name { fn v311(); fn v5(); }`.
#[macro_export]
macro_rules! both_versions {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn v311() {
                ($body)($crate::common::V::V311)
            }
            #[test]
            fn v5() {
                ($body)($crate::common::V::V5)
            }
        }
    };
}

// ------------------------------------------------------------------------------------------------
// Admin API and story log (issue 9: evidence)
// ------------------------------------------------------------------------------------------------

/// The admin API address a broker started with `--admin 127.0.0.1:0` announced in its log
/// (`admin API (lantern why) listening addr=127.0.0.1:PORT`).
pub fn admin_addr(b: &Broker) -> String {
    let lines = b.wait_log(&["admin API (lantern why) listening"], 1, WAIT);
    let line = &lines[0];
    let at = line
        .find("addr=")
        .unwrap_or_else(|| panic!("no addr= in {line:?}"));
    line[at + 5..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches('"')
        .to_owned()
}

/// The story log of a broker started in its scratch directory (default data directory).
pub fn story_path(b: &Broker) -> PathBuf {
    b.dir().join("lantern-data").join("stories.jsonl")
}

/// The story log's text once it has at least `n` lines (bounded by [`WAIT`]).
pub fn story_lines(b: &Broker, n: usize) -> String {
    let path = story_path(b);
    let deadline = Instant::now() + WAIT;
    loop {
        let text = fs::read_to_string(&path).unwrap_or_default();
        if text.lines().count() >= n {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} stories in {}:\n{text}",
            path.display()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `GET target` from the admin API at `addr` over a raw socket, bounded; the whole answer.
pub fn admin_get(addr: &str, target: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the admin API");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("send the request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the answer");
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------------------------------------------
// A broker that is killed and restarted on the same data directory and port (issue 10)
// ------------------------------------------------------------------------------------------------

/// A `lantern serve` on a data directory that outlives its process: [`Persistent::kill`]
/// (SIGKILL) or [`Persistent::term`] (SIGTERM) it, then [`Persistent::restart`] it on the same
/// data directory and the same port (the one the first run picked). Lantern only: mosquitto has
/// no `--data-dir`. The scratch directory is removed on drop.
pub struct Persistent {
    /// The TCP port, the same for every run.
    pub port: u16,
    /// The admin API address, with `admin` true at start (the same for every run).
    pub admin: Option<String>,
    /// The scratch directory: `data/` is the data directory, `lantern.toml` the config,
    /// `broker-N.log` the log of the N-th run.
    dir: PathBuf,
    /// The config file's text after the listener (e.g. `durability = "sync"`).
    extra: String,
    child: Option<Child>,
    runs: usize,
}

impl Persistent {
    /// Starts `lantern serve --config FILE --data-dir DIR/data` with a 127.0.0.1:0 listener
    /// followed by `extra`, and (with `admin`) the admin API on a port of its own.
    pub fn start(extra: &str, admin: bool) -> Persistent {
        let dir = scratch_dir("persistent");
        let mut p = Persistent {
            port: 0,
            admin: admin.then(|| format!("127.0.0.1:{}", free_port())),
            dir,
            extra: extra.to_owned(),
            child: None,
            runs: 0,
        };
        p.spawn();
        p
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The broker's process id (panics when it is not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker not running").id()
    }

    /// SIGKILL and reap: the process gets no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (bounded, 10 s) for a clean exit; panics if it does not exit cleanly.
    pub fn term(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", child.id())])
            .status()
            .expect("run `sh -c kill`");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = child.try_wait().expect("wait for broker") {
                assert!(
                    st.success(),
                    "lantern exited with {st} after SIGTERM:\n{}",
                    self.log()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "lantern did not exit within 10 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the broker again on the same data directory and port; returns how long it took
    /// until the listener was announced.
    pub fn restart(&mut self) -> Duration {
        self.kill();
        let t0 = Instant::now();
        self.spawn();
        t0.elapsed()
    }

    /// The log of the current (latest) run.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    /// Waits (bounded) until the current run's log holds `count` lines containing every one of
    /// `needles`; returns them, or panics with the logs.
    pub fn wait_log(&self, needles: &[&str], count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found: Vec<String> = self
                .log()
                .lines()
                .filter(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_owned)
                .collect();
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} log line(s) containing {needles:?} within {timeout:?}:\n{}",
                self.all_logs()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The logs of every run so far, oldest first.
    pub fn all_logs(&self) -> String {
        (1..=self.runs)
            .map(|n| {
                format!(
                    "---- run {n} ----\n{}",
                    fs::read_to_string(self.log_path(n)).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn log_path(&self, run: usize) -> PathBuf {
        self.dir.join(format!("broker-{run}.log"))
    }

    fn spawn(&mut self) {
        // The port a previous run used may still be held for a moment by the kernel after a
        // SIGKILL (or, rarely, taken by another test's client): retry, bounded.
        let deadline = Instant::now() + STARTUP;
        loop {
            self.runs += 1;
            let port = self.port;
            let file = self.dir.join("lantern.toml");
            fs::write(
                &file,
                format!(
                    "[[listener]]\nbind = \"127.0.0.1\"\nport = {port}\n\n{}\n",
                    self.extra
                ),
            )
            .expect("write lantern.toml");
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_lantern"));
            cmd.current_dir(&self.dir)
                .arg("serve")
                .arg("--config")
                .arg(&file)
                .arg("--data-dir")
                .arg(self.data_dir());
            if let Some(admin) = &self.admin {
                cmd.args(["--admin", admin]);
            }
            cmd.env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(self.log_path(self.runs)).expect("create broker log"));
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", env!("CARGO_BIN_EXE_lantern")));
            let stdout = child.stdout.take().expect("piped stdout");
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(line) => {
                        if let Some(("tcp", p)) = parse_listening_line(&line)
                            .as_ref()
                            .map(|(t, p)| (t.as_str(), *p))
                        {
                            self.port = p;
                            self.child = Some(child);
                            // Keep draining stdout so the broker never blocks on it.
                            thread::spawn(move || while rx.recv().is_ok() {});
                            return;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if matches!(child.try_wait(), Ok(Some(_))) {
                            break;
                        }
                        if Instant::now() > deadline {
                            let _ = child.kill();
                            let _ = child.wait();
                            panic!(
                                "lantern did not listen within {STARTUP:?}:\n{}",
                                self.all_logs()
                            );
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        let _ = child.wait();
                        break;
                    }
                }
            }
            // It exited before listening.
            let _ = child.wait();
            let log = self.log();
            let port_busy = log.contains("in use") || log.contains("AddrInUse");
            assert!(
                port_busy && Instant::now() < deadline,
                "lantern (run {}) exited before listening:\n{}",
                self.runs,
                self.all_logs()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Persistent {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let logs = self.all_logs();
            let tail: Vec<&str> = logs.lines().rev().take(300).collect();
            eprintln!(
                "---- lantern logs (last 300 lines) ----\n{}\n----",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
