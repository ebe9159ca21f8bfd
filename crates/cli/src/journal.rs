//! Where finished connection stories go: a bounded in-memory ring of recent stories (read by the
//! admin API and `lantern why`) and a JSON-lines event log in the data directory, rotated by
//! size.
//!
//! Recording never blocks a connection task. The ring is a short critical section; the log line
//! goes to a writer thread through a bounded channel, and when that channel is full the story is
//! counted as dropped from the log (it still reaches the ring). The filters ([`StoryFilter`]) and
//! the failure summary ([`Summary`]) used by the admin API and by `lantern why` live here too.
//!
//! This module does not explain stories (`lantern-diag` does) and does no network IO
//! (`admin.rs` does). Stories carry no secrets by construction (a CONNECT event records only
//! whether a password was present), so nothing here redacts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use lantern_diag::{EventKind, Outcome, Story};
use serde::{Deserialize, Serialize};
use tracing::warn;

/// Stories waiting for the log writer; beyond this, new ones are dropped from the log.
const WRITER_QUEUE: usize = 1024;

/// How long [`Journal::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// The JSON-lines event log: one story per line, rotated by size.
#[derive(Clone, Debug)]
pub(crate) struct JsonlConfig {
    /// The live file, e.g. `<data dir>/stories.jsonl`. Rotated files are `<path>.1` (the
    /// newest) to `<path>.<keep>` (the oldest).
    pub(crate) path: PathBuf,
    /// A file is rotated before a line would take it past this size (a single line larger than
    /// this still gets a file of its own).
    pub(crate) max_bytes: u64,
    /// How many rotated files to keep; with 0 the live file is simply started afresh.
    pub(crate) keep: usize,
}

/// The story journal: the ring and the log writer. Cheap to clone; all clones share one ring.
#[derive(Clone)]
pub(crate) struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    /// Ring size; 0 keeps no stories in memory.
    capacity: usize,
    /// Oldest first.
    ring: Mutex<VecDeque<Arc<Story>>>,
    /// To the writer thread, when there is a log.
    log: Option<SyncSender<ToWriter>>,
    /// Stories that did not reach the log.
    dropped: AtomicU64,
}

enum ToWriter {
    Story(Arc<Story>),
    /// Write out everything before this, then answer.
    Flush(SyncSender<()>),
}

impl Journal {
    /// A journal keeping the newest `ring_capacity` stories in memory and, with `jsonl`, writing
    /// every story to that log. Fails when the log file cannot be created (its directory is
    /// created if missing).
    pub(crate) fn new(ring_capacity: usize, jsonl: Option<JsonlConfig>) -> anyhow::Result<Self> {
        let log = match jsonl {
            None => None,
            Some(config) => {
                let path = config.path.clone();
                let writer = LogWriter::open(config)
                    .with_context(|| format!("cannot open the story log {}", path.display()))?;
                let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE);
                std::thread::Builder::new()
                    .name("lantern-story-log".into())
                    .spawn(move || writer.run(rx))
                    .context("cannot start the story log writer")?;
                Some(tx)
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                capacity: ring_capacity,
                ring: Mutex::new(VecDeque::with_capacity(ring_capacity.min(4096))),
                log,
                dropped: AtomicU64::new(0),
            }),
        })
    }

    /// Records a finished story. Never blocks on IO: safe to call from a connection task.
    pub(crate) fn record(&self, story: Story) {
        let story = Arc::new(story);
        if self.inner.capacity > 0 {
            let mut ring = self.inner.lock_ring();
            while ring.len() >= self.inner.capacity {
                ring.pop_front();
            }
            ring.push_back(Arc::clone(&story));
        }
        if let Some(log) = &self.inner.log {
            match log.try_send(ToWriter::Story(story)) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    let n = self.inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        warn!(
                            dropped = n,
                            "the story log writer is behind; stories dropped from the log (they stay in memory)"
                        );
                    }
                }
            }
        }
    }

    /// The sink handed to `lantern-net`: every finished story goes to [`Journal::record`].
    pub(crate) fn sink(&self) -> Arc<dyn Fn(Story) + Send + Sync> {
        let journal = self.clone();
        Arc::new(move |story| journal.record(story))
    }

    /// The stories in the ring that match, newest first.
    pub(crate) fn query(&self, filter: &StoryFilter) -> Vec<Story> {
        // Copy the pointers under the lock, filter and clone outside it.
        let snapshot: Vec<Arc<Story>> = self.inner.lock_ring().iter().cloned().collect();
        filter
            .select(snapshot.iter().rev().map(|s| &**s))
            .cloned()
            .collect()
    }

    /// How many stories did not reach the log because the writer was behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Waits (at most a few seconds) until every story recorded so far is written to the log.
    /// Blocking: call it at shutdown or in tests, never from a connection task.
    pub(crate) fn flush(&self) {
        if let Some(log) = &self.inner.log {
            let (tx, rx) = mpsc::sync_channel(1);
            if log.send(ToWriter::Flush(tx)).is_ok() {
                let _ = rx.recv_timeout(FLUSH_WAIT);
            }
        }
    }
}

impl Inner {
    fn lock_ring(&self) -> MutexGuard<'_, VecDeque<Arc<Story>>> {
        // A panic while holding the lock cannot leave the deque half-updated in a way that
        // matters here (push and pop are each complete), so a poisoned lock is still usable.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Appends lines to the live file and rotates it.
struct LogWriter {
    config: JsonlConfig,
    file: Option<BufWriter<File>>,
    /// Size of the live file.
    size: u64,
    /// Whether the last write failed (to warn once per run of failures, not per line).
    failing: bool,
}

impl LogWriter {
    fn open(config: JsonlConfig) -> io::Result<Self> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)?;
        }
        let file = open_append(&config.path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            config,
            file: Some(BufWriter::new(file)),
            size,
            failing: false,
        })
    }

    fn run(mut self, rx: Receiver<ToWriter>) {
        while let Ok(first) = rx.recv() {
            // Write everything queued, then flush once.
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    ToWriter::Story(story) => self.write_story(&story),
                    ToWriter::Flush(done) => {
                        self.flush();
                        let _ = done.send(());
                    }
                }
                next = rx.try_recv().ok();
            }
            self.flush();
        }
    }

    fn write_story(&mut self, story: &Story) {
        let mut line = match serde_json::to_vec(story) {
            Ok(line) => line,
            Err(e) => {
                warn!(
                    story = story.id,
                    "cannot serialize a story for the log: {e}"
                );
                return;
            }
        };
        line.push(b'\n');
        let result = self.append(&line);
        self.note(result);
    }

    fn flush(&mut self) {
        let result = match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        };
        self.note(result);
    }

    fn note(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    warn!(path = %self.config.path.display(), "cannot write the story log: {e}");
                }
                self.failing = true;
            }
        }
    }

    fn append(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.config.max_bytes {
            self.rotate()?;
        }
        let file = match &mut self.file {
            Some(f) => f,
            // After a failed rotation: try again to open the live file.
            None => {
                let f = open_append(&self.config.path)?;
                self.size = f.metadata()?.len();
                self.file.insert(BufWriter::new(f))
            }
        };
        file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// `path` → `path.1` → … → `path.<keep>`; the oldest is deleted.
    fn rotate(&mut self) -> io::Result<()> {
        if let Some(mut f) = self.file.take() {
            f.flush()?;
        }
        let path = &self.config.path;
        let keep = self.config.keep;
        if keep == 0 {
            remove_if_present(path)?;
        } else {
            remove_if_present(&rotated_path(path, keep))?;
            for i in (1..keep).rev() {
                rename_if_present(&rotated_path(path, i), &rotated_path(path, i + 1))?;
            }
            rename_if_present(path, &rotated_path(path, 1))?;
        }
        self.file = Some(BufWriter::new(open_append(path)?));
        self.size = 0;
        Ok(())
    }
}

/// `<path>.<n>`: the n-th rotated log file (1 is the newest).
pub(crate) fn rotated_path(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Opens the live log for appending, creating it readable and writable by the owner only
/// (0600): stories name devices, addresses and user names. A log that already exists with a
/// looser mode is tightened to 0600. Rotated files are renamed live files, so they keep it.
fn open_append(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        Ok(file)
    }
    #[cfg(not(unix))]
    options.open(path)
}

/// Creates `dir` and its missing parents readable by the owner only (0700). A directory that
/// already exists keeps the mode the operator gave it.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

// ------------------------------------------------------------------------------------------------
// Filters
// ------------------------------------------------------------------------------------------------

/// Which stories to show. Every set field must match; `last` keeps the newest N of those.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct StoryFilter {
    /// Exact client id.
    pub(crate) client: Option<String>,
    /// The peer: an address (`10.0.0.7`, `::1`), an address with port (`10.0.0.7:51442`), a
    /// network (`10.0.0.0/8`) or a textual prefix of the address (`10.0.`).
    pub(crate) ip: Option<String>,
    /// Exact tenant name.
    pub(crate) tenant: Option<String>,
    /// A cause id (`tls.no_sni`) or a family of them (`tls` or `tls.`).
    pub(crate) cause: Option<String>,
    /// Ok or failed.
    pub(crate) outcome: Option<Outcome>,
    /// At most this many stories, the newest.
    pub(crate) last: Option<usize>,
}

impl StoryFilter {
    /// Parses a URL query string such as `client=dev-1&failed=1&last=20&cause=tls.` (percent
    /// encoding and `+` for space are decoded). Empty values are ignored; unknown keys are an
    /// error, so that a typo does not silently show everything.
    pub(crate) fn from_query(query: &str) -> Result<Self, String> {
        let mut f = Self::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key)?;
            let value = percent_decode(value)?;
            let text = (!value.is_empty()).then(|| value.clone());
            match key.as_str() {
                "client" => f.client = text,
                "ip" => f.ip = text,
                "tenant" => f.tenant = text,
                "cause" => f.cause = text,
                "outcome" => {
                    f.outcome = match value.as_str() {
                        "" => None,
                        "ok" => Some(Outcome::Ok),
                        "failed" => Some(Outcome::Failed),
                        _ => return Err(format!("outcome={value:?}: expected ok or failed")),
                    }
                }
                "failed" => match value.as_str() {
                    "" | "1" | "true" | "yes" => f.outcome = Some(Outcome::Failed),
                    "0" | "false" | "no" => {}
                    _ => return Err(format!("failed={value:?}: expected 1 or 0")),
                },
                "last" => {
                    f.last = match value.as_str() {
                        "" => None,
                        v => Some(v.parse().map_err(|_| {
                            format!("last={value:?}: expected a number of stories")
                        })?),
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown filter {key:?}: use client, ip, tenant, cause, outcome, failed or last"
                    ))
                }
            }
        }
        f.check()?;
        Ok(f)
    }

    /// The query string for this filter (without `?`), as [`StoryFilter::from_query`] reads it.
    pub(crate) fn to_query(&self) -> String {
        let mut q = String::new();
        let mut add = |key: &str, value: &str| {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(key);
            q.push('=');
            q.push_str(&percent_encode(value));
        };
        for (key, value) in [
            ("client", &self.client),
            ("ip", &self.ip),
            ("tenant", &self.tenant),
            ("cause", &self.cause),
        ] {
            if let Some(v) = value {
                add(key, v);
            }
        }
        match self.outcome {
            Some(Outcome::Ok) => add("outcome", "ok"),
            Some(Outcome::Failed) => add("outcome", "failed"),
            None => {}
        }
        if let Some(n) = self.last {
            add("last", &n.to_string());
        }
        q
    }

    /// Checks the parts that have a syntax (the address pattern).
    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(ip) = &self.ip {
            AddrPattern::parse(ip)?;
        }
        Ok(())
    }

    /// Whether one story matches (ignoring `last`).
    pub(crate) fn matches(&self, story: &Story) -> bool {
        if let Some(client) = &self.client {
            if story.client_id.as_deref() != Some(client) {
                return false;
            }
        }
        if let Some(tenant) = &self.tenant {
            if story.tenant.as_deref() != Some(tenant) {
                return false;
            }
        }
        if let Some(outcome) = self.outcome {
            if story.verdict.outcome != outcome {
                return false;
            }
        }
        if let Some(family) = &self.cause {
            if !cause_matches(family, &cause_id(story)) {
                return false;
            }
        }
        if let Some(ip) = &self.ip {
            match AddrPattern::parse(ip) {
                Ok(pattern) => pattern.matches(&story.peer),
                Err(_) => false,
            }
        } else {
            true
        }
    }

    /// The matching stories of `newest_first`, at most `last` of them.
    pub(crate) fn select<'a>(
        &'a self,
        newest_first: impl Iterator<Item = &'a Story> + 'a,
    ) -> impl Iterator<Item = &'a Story> + 'a {
        newest_first
            .filter(|s| self.matches(s))
            .take(self.last.unwrap_or(usize::MAX))
    }
}

/// The story's cause id (from its verdict; computed from the cause if the verdict is empty).
pub(crate) fn cause_id(story: &Story) -> String {
    if story.verdict.cause.is_empty() {
        story.cause.id().to_owned()
    } else {
        story.verdict.cause.clone()
    }
}

/// `tls.no_sni` matches `tls.no_sni`, `tls.` and `tls`; `tls.no` matches neither.
fn cause_matches(family: &str, id: &str) -> bool {
    match id.strip_prefix(family) {
        Some(rest) => rest.is_empty() || family.ends_with('.') || rest.starts_with('.'),
        None => false,
    }
}

/// A parsed `ip` filter.
#[derive(Debug)]
enum AddrPattern {
    Ip(IpAddr),
    Socket(SocketAddr),
    Net(IpAddr, u8),
    Prefix(String),
}

impl AddrPattern {
    fn parse(s: &str) -> Result<Self, String> {
        if let Some((net, len)) = s.split_once('/') {
            let ip: IpAddr = net
                .parse()
                .map_err(|_| format!("ip={s:?}: {net:?} is not an IP address"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("ip={s:?}: the prefix length must be 0 to {max}"))?;
            return Ok(Self::Net(ip.to_canonical(), len));
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(Self::Ip(ip.to_canonical()));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self::Socket(addr));
        }
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        {
            return Ok(Self::Prefix(s.to_owned()));
        }
        Err(format!(
            "ip={s:?}: expected an address (10.0.0.7), address:port, a network (10.0.0.0/8) or a prefix (10.0.)"
        ))
    }

    fn matches(&self, peer: &str) -> bool {
        let Ok(addr) = peer.parse::<SocketAddr>() else {
            return matches!(self, Self::Prefix(p) if peer.starts_with(p.as_str()));
        };
        let ip = addr.ip().to_canonical();
        match self {
            Self::Ip(want) => ip == *want,
            Self::Socket(want) => addr == *want,
            Self::Net(net, len) => in_network(ip, *net, *len),
            Self::Prefix(p) => {
                ip.to_string().starts_with(p.as_str()) || peer.starts_with(p.as_str())
            }
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Decodes `%XX` and `+` (application/x-www-form-urlencoded).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad percent escape in {s:?}"))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} does not decode to UTF-8"))
}

/// Encodes everything but unreserved characters (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Summary
// ------------------------------------------------------------------------------------------------

/// Failures grouped by cause and by ClientHello fingerprint.
///
/// A *device* is a client id when the story has one, otherwise the peer's IP address (TLS
/// failures happen before CONNECT, so they only have the address; devices behind one NAT then
/// count as one).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub(crate) struct Summary {
    /// Stories looked at.
    pub(crate) stories: usize,
    /// Of which failed.
    pub(crate) failed: usize,
    /// Failures by cause, most frequent first.
    pub(crate) by_cause: Vec<CauseCount>,
    /// Failures by (ClientHello fingerprint, cause), most devices first.
    pub(crate) by_hello: Vec<HelloCount>,
    /// Devices per weak (legacy) suite they negotiated, most devices first.
    #[serde(default)]
    pub(crate) legacy: Vec<crate::wouldbreak::LegacyCount>,
}

/// Failures with one cause.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub(crate) struct CauseCount {
    /// Cause id.
    pub(crate) cause: String,
    /// Failed connections.
    pub(crate) failures: usize,
    /// Distinct devices.
    pub(crate) devices: usize,
    /// Distinct client ids.
    pub(crate) clients: usize,
    /// Distinct peer IP addresses.
    pub(crate) addresses: usize,
    /// The newest explanation.
    pub(crate) sentence: String,
    /// Its fixes.
    pub(crate) fixes: Vec<String>,
}

/// Failures of devices sending the same ClientHello, with one cause.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub(crate) struct HelloCount {
    /// The ClientHello fingerprint.
    pub(crate) fingerprint: String,
    /// Cause id.
    pub(crate) cause: String,
    /// Distinct devices.
    pub(crate) devices: usize,
    /// Failed connections.
    pub(crate) failures: usize,
}

/// Summarises the failures among `newest_first`.
pub(crate) fn summary<'a>(newest_first: impl IntoIterator<Item = &'a Story>) -> Summary {
    let stories: Vec<&Story> = newest_first.into_iter().collect();
    let mut out = failure_summary(stories.iter().copied());
    out.legacy = crate::wouldbreak::legacy_counts(stories.iter().copied());
    out
}

fn failure_summary<'a>(newest_first: impl IntoIterator<Item = &'a Story>) -> Summary {
    #[derive(Default)]
    struct Acc {
        failures: usize,
        devices: BTreeSet<String>,
        clients: BTreeSet<String>,
        addresses: BTreeSet<String>,
        sentence: String,
        fixes: Vec<String>,
    }
    let mut out = Summary::default();
    let mut causes: BTreeMap<String, Acc> = BTreeMap::new();
    let mut hellos: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for story in newest_first {
        out.stories += 1;
        if story.verdict.outcome != Outcome::Failed {
            continue;
        }
        out.failed += 1;
        let id = cause_id(story);
        let address = peer_ip(&story.peer);
        let client = story.client_id.clone().filter(|c| !c.is_empty());
        let device = client.clone().unwrap_or_else(|| address.clone());

        let acc = causes.entry(id.clone()).or_default();
        if acc.failures == 0 {
            acc.sentence = story.verdict.sentence.clone();
            acc.fixes = story.verdict.fixes.clone();
        }
        acc.failures += 1;
        acc.devices.insert(device.clone());
        acc.addresses.insert(address);
        acc.clients.extend(client);

        if let Some(fp) = fingerprint(story) {
            let acc = hellos.entry((fp.to_owned(), id)).or_default();
            acc.failures += 1;
            acc.devices.insert(device);
        }
    }
    out.by_cause = causes
        .into_iter()
        .map(|(cause, a)| CauseCount {
            cause,
            failures: a.failures,
            devices: a.devices.len(),
            clients: a.clients.len(),
            addresses: a.addresses.len(),
            sentence: a.sentence,
            fixes: a.fixes,
        })
        .collect();
    out.by_cause
        .sort_by(|a, b| b.failures.cmp(&a.failures).then(a.cause.cmp(&b.cause)));
    out.by_hello = hellos
        .into_iter()
        .map(|((fingerprint, cause), a)| HelloCount {
            fingerprint,
            cause,
            devices: a.devices.len(),
            failures: a.failures,
        })
        .collect();
    out.by_hello.sort_by(|a, b| {
        (b.devices, b.failures)
            .cmp(&(a.devices, a.failures))
            .then_with(|| (&a.fingerprint, &a.cause).cmp(&(&b.fingerprint, &b.cause)))
    });
    out
}

impl Summary {
    /// The summary for a terminal.
    pub(crate) fn render_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} of {} {} failed.",
            self.failed,
            self.stories,
            plural(self.stories, "story", "stories")
        );
        if !self.by_cause.is_empty() {
            s.push_str("\nFailures by cause:\n");
            for c in &self.by_cause {
                let _ = writeln!(
                    s,
                    "  {:>5}  {}  ({} {}: {} {}, {} {})",
                    c.failures,
                    c.cause,
                    c.devices,
                    plural(c.devices, "device", "devices"),
                    c.clients,
                    plural(c.clients, "client id", "client ids"),
                    c.addresses,
                    plural(c.addresses, "address", "addresses"),
                );
                let _ = writeln!(s, "         {}", c.sentence);
                for fix in &c.fixes {
                    let _ = writeln!(s, "         fix: {fix}");
                }
            }
        }
        if !self.legacy.is_empty() {
            s.push_str("\nLegacy TLS still in use:\n");
            for l in &self.legacy {
                let _ = writeln!(
                    s,
                    "  {} {} still {} {} ({} distinct {})",
                    l.devices,
                    plural(l.devices, "device", "devices"),
                    plural(l.devices, "needs", "need"),
                    l.suite,
                    l.hellos,
                    plural(l.hellos, "ClientHello", "ClientHellos"),
                );
            }
        }
        if !self.by_hello.is_empty() {
            s.push_str("\nFailures by ClientHello fingerprint:\n");
            for h in &self.by_hello {
                let _ = writeln!(
                    s,
                    "  {} {} the same hello ({}) {} {} ({} {})",
                    h.devices,
                    plural(h.devices, "device with", "devices with"),
                    h.fingerprint,
                    plural(h.devices, "fails", "fail"),
                    h.cause,
                    h.failures,
                    plural(h.failures, "failure", "failures"),
                );
            }
        }
        s
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// The IP part of `addr:port` (or the whole string when it does not parse).
fn peer_ip(peer: &str) -> String {
    match peer.parse::<SocketAddr>() {
        Ok(a) => a.ip().to_canonical().to_string(),
        Err(_) => peer.to_owned(),
    }
}

/// The story's ClientHello fingerprint, from the story or its ClientHello event.
pub(crate) fn fingerprint(story: &Story) -> Option<&str> {
    story
        .hello_fingerprint
        .as_deref()
        .or_else(|| {
            story.events.iter().find_map(|e| match &e.kind {
                EventKind::ClientHello(h) => Some(h.fingerprint.as_str()),
                _ => None,
            })
        })
        .filter(|f| !f.is_empty())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::BufRead;
    use std::sync::atomic::AtomicUsize;

    use lantern_diag::{Cause, Event, HelloSummary, Initiator};

    use super::*;

    /// A finished story, built by hand.
    pub(crate) fn story(id: u64, peer: &str, client: Option<&str>, cause: Cause) -> Story {
        let mut s = Story {
            id,
            listener: "tls".into(),
            transport: "tls".into(),
            peer: peer.into(),
            started_ms: 1_795_383_601_000 + id,
            duration_ms: 5,
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

    /// A story whose ClientHello has fingerprint `fp`.
    pub(crate) fn with_hello(mut s: Story, fp: &str) -> Story {
        s.hello_fingerprint = Some(fp.into());
        s.events.push(Event {
            at_ms: 1,
            kind: EventKind::ClientHello(Box::new(HelloSummary {
                sni: None,
                versions: vec!["TLSv1.2".into()],
                cipher_suites: vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into()],
                fingerprint: fp.into(),
                ..Default::default()
            })),
        });
        s
    }

    /// Adds the CONNECT event of a device that sent a user name and a password.
    pub(crate) fn with_connect(mut s: Story) -> Story {
        s.events.push(Event {
            at_ms: 2,
            kind: EventKind::Connect {
                protocol_name: "MQTT".into(),
                protocol_level: 4,
                client_id: s.client_id.clone().unwrap_or_default(),
                clean_start: true,
                keep_alive: 60,
                will_topic: None,
                username_present: true,
                password_present: true,
            },
        });
        s
    }

    pub(crate) fn no_sni() -> Cause {
        Cause::NoSni {
            served: vec!["acme.example".into()],
        }
    }

    pub(crate) fn no_cipher() -> Cause {
        Cause::NoSharedCipher {
            offered: vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into()],
            accepted: vec!["TLS13_AES_128_GCM_SHA256".into()],
        }
    }

    pub(crate) fn ok() -> Cause {
        Cause::ClientDisconnect { code: 0 }
    }

    /// A fresh, empty directory under the system temp dir.
    pub(crate) fn temp_dir(name: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lantern-journal-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn ids(stories: &[Story]) -> Vec<u64> {
        stories.iter().map(|s| s.id).collect()
    }

    #[test]
    fn ring_keeps_the_newest_n() {
        let journal = Journal::new(3, None).unwrap();
        for id in 1..=5 {
            journal.record(story(id, "10.0.0.1:1000", Some("d"), ok()));
        }
        assert_eq!(ids(&journal.query(&StoryFilter::default())), [5, 4, 3]);
        assert_eq!(journal.dropped(), 0);
    }

    #[test]
    fn ring_of_zero_keeps_nothing() {
        let journal = Journal::new(0, None).unwrap();
        journal.record(story(1, "10.0.0.1:1000", Some("d"), ok()));
        assert!(journal.query(&StoryFilter::default()).is_empty());
    }

    #[test]
    fn sink_records() {
        let journal = Journal::new(2, None).unwrap();
        let sink = journal.sink();
        sink(story(7, "10.0.0.1:1000", Some("d"), ok()));
        assert_eq!(ids(&journal.query(&StoryFilter::default())), [7]);
    }

    fn read_lines(path: &Path) -> Vec<Story> {
        let file = File::open(path).unwrap();
        io::BufReader::new(file)
            .lines()
            .map(|l| serde_json::from_str::<Story>(&l.unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn jsonl_is_written_and_rotated() {
        let dir = temp_dir("rotate");
        let path = dir.join("sub").join("stories.jsonl");
        let one_line = serde_json::to_vec(&story(1, "10.0.0.1:1000", Some("d"), no_sni()))
            .unwrap()
            .len() as u64
            + 1;
        // Room for two lines per file.
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: one_line * 2 + one_line / 2,
            keep: 2,
        };
        let journal = Journal::new(100, Some(config)).unwrap();
        for id in 1..=9 {
            journal.record(story(id, "10.0.0.1:1000", Some("d"), no_sni()));
        }
        journal.flush();

        // 9 stories, two per file: live has 9, .1 has 7 8, .2 has 5 6; 1-4 are gone.
        assert_eq!(ids(&read_lines(&path)), [9]);
        assert_eq!(ids(&read_lines(&rotated_path(&path, 1))), [7, 8]);
        assert_eq!(ids(&read_lines(&rotated_path(&path, 2))), [5, 6]);
        assert!(!rotated_path(&path, 3).exists());
        for file in [path.clone(), rotated_path(&path, 1)] {
            assert!(fs::metadata(&file).unwrap().len() <= one_line * 2 + one_line / 2);
        }
        let back = read_lines(&rotated_path(&path, 1));
        assert_eq!(back[0], story(7, "10.0.0.1:1000", Some("d"), no_sni()));
        assert_eq!(back[0].verdict.cause, "tls.no_sni");
        let _ = fs::remove_dir_all(dir);
    }

    /// Issue 9 defect 5: the story log and its rotated files are 0600, a data directory
    /// Lantern creates is 0700, and a log left with a looser mode is tightened.
    #[cfg(unix)]
    #[test]
    fn log_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = temp_dir("modes");
        let data = dir.join("data").join("nested");
        let path = data.join("stories.jsonl");
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: 10,
            keep: 2,
        };
        let journal = Journal::new(10, Some(config.clone())).unwrap();
        for id in 1..=3 {
            journal.record(story(id, "10.0.0.1:1000", None, no_sni()));
        }
        journal.flush();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&dir.join("data")), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&rotated_path(&path, 1)), 0o600);
        assert_eq!(mode(&rotated_path(&path, 2)), 0o600);
        drop(journal);

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let _again = Journal::new(10, Some(config)).unwrap();
        assert_eq!(mode(&path), 0o600, "an existing log is tightened");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn jsonl_appends_to_an_existing_log() {
        let dir = temp_dir("append");
        let path = dir.join("stories.jsonl");
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: 1 << 20,
            keep: 1,
        };
        for id in [1, 2] {
            let journal = Journal::new(10, Some(config.clone())).unwrap();
            journal.record(story(id, "10.0.0.1:1000", None, no_sni()));
            journal.flush();
        }
        assert_eq!(ids(&read_lines(&path)), [1, 2]);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn jsonl_keep_zero_starts_afresh() {
        let dir = temp_dir("keep0");
        let path = dir.join("stories.jsonl");
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: 10,
            keep: 0,
        };
        let journal = Journal::new(10, Some(config)).unwrap();
        for id in 1..=3 {
            journal.record(story(id, "10.0.0.1:1000", None, no_sni()));
        }
        journal.flush();
        assert_eq!(ids(&read_lines(&path)), [3]);
        assert!(!rotated_path(&path, 1).exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn unwritable_log_is_an_error_at_start() {
        let dir = temp_dir("unwritable");
        let blocker = dir.join("file");
        fs::write(&blocker, b"x").unwrap();
        let config = JsonlConfig {
            path: blocker.join("stories.jsonl"),
            max_bytes: 10,
            keep: 1,
        };
        let err = Journal::new(10, Some(config)).err().unwrap();
        assert!(format!("{err:#}").contains("cannot open the story log"));
        let _ = fs::remove_dir_all(dir);
    }

    /// Issue: "Secrets never appear". A story has no field that could hold a password (CONNECT
    /// records only `password_present`); this documents that the log line has none.
    #[test]
    fn password_is_absent_from_the_jsonl() {
        let password = "hunter2-correct-horse";
        let dir = temp_dir("secret");
        let path = dir.join("stories.jsonl");
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: 1 << 20,
            keep: 1,
        };
        let journal = Journal::new(10, Some(config)).unwrap();
        journal.record(with_connect(story(
            1,
            "10.0.0.1:1000",
            Some("dev-1"),
            Cause::BadPassword {
                username: "dev-1".into(),
                password_sent: true,
            },
        )));
        journal.flush();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""password_present":true"#), "{text}");
        assert!(!text.contains(password), "{text}");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn filter_parses_a_query_string() {
        let f =
            StoryFilter::from_query("client=dev%2D1+a&failed=1&last=20&cause=tls.&ip=10.0.0.0%2F8")
                .unwrap();
        assert_eq!(
            f,
            StoryFilter {
                client: Some("dev-1 a".into()),
                ip: Some("10.0.0.0/8".into()),
                tenant: None,
                cause: Some("tls.".into()),
                outcome: Some(Outcome::Failed),
                last: Some(20),
            }
        );
        assert_eq!(StoryFilter::from_query(&f.to_query()).unwrap(), f);
        assert_eq!(StoryFilter::from_query("").unwrap(), StoryFilter::default());
        assert_eq!(
            StoryFilter::from_query("outcome=ok&client=&failed=0").unwrap(),
            StoryFilter {
                outcome: Some(Outcome::Ok),
                ..Default::default()
            }
        );
        for bad in [
            "clinet=x",
            "last=x",
            "failed=maybe",
            "ip=10.0.0.0/40",
            "ip=host",
            "client=%zz",
            "client=%ff",
        ] {
            assert!(StoryFilter::from_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filter_matches_client_ip_cause_failed_last() {
        let stories = [
            story(1, "10.0.0.1:1000", Some("dev-1"), no_sni()),
            story(2, "10.0.0.2:1000", Some("dev-2"), ok()),
            story(3, "192.168.1.9:2000", Some("dev-1"), no_cipher()),
            story(4, "[::ffff:10.0.0.1]:3000", None, Cause::TakenOver),
            story(
                5,
                "[2001:db8::7]:4000",
                Some("dev-3"),
                Cause::ClosedBeforeData,
            ),
        ];
        let pick = |q: &str| -> Vec<u64> {
            let f = StoryFilter::from_query(q).unwrap();
            f.select(stories.iter().rev()).map(|s| s.id).collect()
        };
        assert_eq!(pick(""), [5, 4, 3, 2, 1]);
        assert_eq!(pick("client=dev-1"), [3, 1]);
        assert_eq!(pick("ip=10.0.0.1"), [4, 1]);
        assert_eq!(pick("ip=10.0.0.1:1000"), [1]);
        assert_eq!(pick("ip=10.0.0.0/24"), [4, 2, 1]);
        assert_eq!(pick("ip=192.168."), [3]);
        assert_eq!(pick("ip=2001:db8::/32"), [5]);
        assert_eq!(pick("cause=tls."), [3, 1]);
        assert_eq!(pick("cause=tls"), [3, 1]);
        assert_eq!(pick("cause=tls.no"), Vec::<u64>::new());
        assert_eq!(pick("cause=tls.no_sni"), [1]);
        assert_eq!(pick("failed=1"), [5, 4, 3, 1]);
        assert_eq!(pick("outcome=ok"), [2]);
        assert_eq!(pick("failed=1&last=2"), [5, 4]);
        assert_eq!(pick("tenant=acme&last=1"), [5]);
        assert_eq!(pick("tenant=other"), Vec::<u64>::new());
    }

    #[test]
    fn summary_counts_distinct_devices_per_hello() {
        let mut stories = Vec::new();
        // 37 devices with one hello fail no_shared_cipher, 4 of them twice; they have no client
        // id (the handshake failed), so devices are addresses.
        for d in 0..37u64 {
            stories.push(with_hello(
                story(d, &format!("10.1.0.{d}:5000"), None, no_cipher()),
                "fp-old-modem",
            ));
        }
        for d in 0..4u64 {
            stories.push(with_hello(
                story(100 + d, &format!("10.1.0.{d}:5001"), None, no_cipher()),
                "fp-old-modem",
            ));
        }
        // Another hello with the same cause, and one without SNI.
        stories.push(with_hello(
            story(200, "10.2.0.1:1", None, no_cipher()),
            "fp-other",
        ));
        stories.push(with_hello(
            story(201, "10.2.0.2:1", Some("dev-x"), no_sni()),
            "fp-other",
        ));
        // Failures after CONNECT: two client ids from one address.
        stories.push(story(300, "10.3.0.1:1", Some("a"), Cause::TakenOver));
        stories.push(story(301, "10.3.0.1:2", Some("b"), Cause::TakenOver));
        stories.push(story(302, "10.3.0.1:3", Some("b"), Cause::TakenOver));
        // Successes do not count.
        stories.push(story(400, "10.4.0.1:1", Some("ok"), ok()));
        stories.reverse();

        let s = summary(&stories);
        assert_eq!(s.stories, 47);
        assert_eq!(s.failed, 46);
        assert_eq!(s.by_cause[0].cause, "tls.no_shared_cipher");
        assert_eq!(
            (
                s.by_cause[0].failures,
                s.by_cause[0].devices,
                s.by_cause[0].addresses
            ),
            (42, 38, 38)
        );
        assert_eq!(s.by_cause[0].clients, 0);
        let taken = s
            .by_cause
            .iter()
            .find(|c| c.cause == "session.taken_over")
            .unwrap();
        assert_eq!(
            (
                taken.failures,
                taken.devices,
                taken.clients,
                taken.addresses
            ),
            (3, 2, 2, 1)
        );
        assert_eq!(
            s.by_hello[0],
            HelloCount {
                fingerprint: "fp-old-modem".into(),
                cause: "tls.no_shared_cipher".into(),
                devices: 37,
                failures: 41,
            }
        );
        assert_eq!(s.by_hello.len(), 3);
        let text = s.render_text();
        assert!(text.contains("37 devices with the same hello (fp-old-modem) fail tls.no_shared_cipher (41 failures)"), "{text}");
        assert!(
            text.contains("1 device with the same hello (fp-other) fails tls.no_sni (1 failure)"),
            "{text}"
        );
        assert!(text.contains("46 of 47 stories failed."), "{text}");
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), s);
    }

    #[test]
    fn summary_of_nothing() {
        let s = summary(&[] as &[Story]);
        assert_eq!(s, Summary::default());
        assert_eq!(s.render_text(), "0 of 0 stories failed.\n");
    }
}
