//! Where finished connection stories go: a bounded in-memory ring of recent stories (read by the
//! admin API and `lantern why`) and a JSON-lines event log in the data directory, rotated by
//! size.
//!
//! Recording never blocks a connection task. The ring is a short critical section; the log line
//! goes to a writer thread through a bounded channel, and when that channel is full the story is
//! counted as dropped from the log (it still reaches the ring). The filters ([`StoryFilter`]) and
//! the failure summary ([`Summary`]) used by the admin API and by `lantern why` live here too.
//!
//! At start the journal reads the stories of the previous runs back from the log and its rotated
//! files into the ring and the device index (their bounds decide what stays; a line that is not a
//! story is skipped and counted), so the admin API answers about connections from before a
//! restart.
//!
//! Repeated identical failures before authentication fold into one story with a count, and besides the ring the
//! latest story of each device is kept (see [`Journal`]), so that a flood of failing connections
//! cannot push real devices' evidence out of memory or bury it in the log.
//!
//! This module does not explain stories (`lantern-diag` does) and does no network IO
//! (`admin.rs` does). Stories carry no secrets by construction: a CONNECT event records only
//! whether a password was present, and quoted client input is redacted when it is recorded
//! (`lantern_diag::redact`), so nothing here redacts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use lantern_diag::{EventKind, Outcome, Repeated, Story};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// Stories waiting for the log writer; beyond this, new ones are dropped from the log.
const WRITER_QUEUE: usize = 1024;

/// How long [`Journal::flush`] waits for the writer.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

/// Identical failures (same tenant, listener, peer address, cause and client id) that follow
/// each other within this time fold into one story with a count.
pub(crate) const REPEAT_WINDOW_MS: u64 = 10_000;

/// A folded story is closed (and its summary line written) at the latest this long after its
/// first failure, so a sustained flood still leaves one line a minute in the log.
pub(crate) const REPEAT_SPAN_MS: u64 = 60_000;

/// How often the writer closes folded stories that have gone quiet.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Distinct devices whose latest story is kept, per story in the recent ring.
const DEVICES_PER_RING_SLOT: usize = 10;

/// One address may hold at most 1/N of the device index with devices that never connected.
const ADDRESS_SHARE: usize = 10;

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

/// The story journal: the ring, the per-device index and the log writer. Cheap to clone; all
/// clones share one state.
///
/// Memory holds two views of the stories, each bounded: the newest `capacity` stories (the
/// recent ring), and the latest story of each of up to `devices` distinct devices (a client id,
/// or the peer's address when there is none). A device that has connected successfully is
/// evicted from the index only when no device that never did is left to evict, so a flood of
/// failing connections cannot push a working device's last story out. Repeated identical
/// failures fold into one story with a [`Repeated`] count (in both views and in the log), so a
/// flood from one address costs one story, not thousands.
#[derive(Clone)]
pub(crate) struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    /// Ring size; 0 keeps no stories in memory.
    capacity: usize,
    /// Devices indexed; 0 keeps none.
    devices: usize,
    state: Mutex<State>,
    /// To the writer thread, when there is a log.
    log: Option<SyncSender<ToWriter>>,
    /// Stories that did not reach the log.
    dropped: AtomicU64,
    /// Stories read back from the log at start (before the bounds of the ring and the index).
    loaded: AtomicU64,
    /// Lines of the log read at start that were not stories.
    skipped: AtomicU64,
}

enum ToWriter {
    Story(Arc<Story>),
    /// Write out everything before this, then answer.
    Flush(SyncSender<()>),
}

/// A device: its client id (within its tenant), or its address when it sent none.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
enum DeviceKey {
    Client(Option<String>, String),
    Address(String),
}

/// What makes two failures "the same" for folding.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
struct RepeatKey {
    tenant: Option<String>,
    listener: String,
    address: String,
    cause: String,
    client: Option<String>,
}

/// One story kept in memory.
struct Entry {
    story: Arc<Story>,
    repeated: Option<Repeated>,
    /// The count last written to the log for this story (1: the story itself).
    logged: u64,
    /// Position in time: the newest entry has the highest.
    order: u64,
    device: DeviceKey,
    repeat: Option<RepeatKey>,
}

impl Entry {
    fn current(&self) -> Story {
        let mut s = (*self.story).clone();
        s.repeated = self.repeated;
        s
    }
}

struct Device {
    slot: u64,
    order: u64,
    /// Has connected successfully at least once.
    trusted: bool,
    /// The peer address of its latest story.
    address: String,
}

#[derive(Default)]
struct State {
    next: u64,
    entries: HashMap<u64, Entry>,
    /// The recent ring: order → slot, newest last.
    recent: BTreeMap<u64, u64>,
    devices: HashMap<DeviceKey, Device>,
    /// Devices by the order of their latest story, oldest first: [never connected, connected].
    lru: [BTreeMap<u64, DeviceKey>; 2],
    /// The devices that never connected, per address, oldest first: one address may hold only
    /// a share of the index, so a flood with a new client id each time evicts its own.
    untrusted_by_address: HashMap<String, BTreeMap<u64, DeviceKey>>,
    /// Folded stories still taking repeats.
    open: HashMap<RepeatKey, u64>,
}

impl Journal {
    /// A journal keeping the newest `ring_capacity` stories in memory, the latest story of up
    /// to ten times as many devices, and, with `jsonl`, writing every story to that log. Fails
    /// when the log file cannot be created (its directory is created if missing).
    pub(crate) fn new(ring_capacity: usize, jsonl: Option<JsonlConfig>) -> anyhow::Result<Self> {
        Self::with_devices(
            ring_capacity,
            ring_capacity.saturating_mul(DEVICES_PER_RING_SLOT),
            jsonl,
        )
    }

    /// [`Journal::new`] with the size of the device index given.
    pub(crate) fn with_devices(
        ring_capacity: usize,
        devices: usize,
        jsonl: Option<JsonlConfig>,
    ) -> anyhow::Result<Self> {
        let (log, writer) = match jsonl.clone() {
            None => (None, None),
            Some(config) => {
                let path = config.path.clone();
                let writer = LogWriter::open(config)
                    .with_context(|| format!("cannot open the story log {}", path.display()))?;
                let (tx, rx) = mpsc::sync_channel(WRITER_QUEUE);
                (Some(tx), Some((writer, rx)))
            }
        };
        let inner = Arc::new(Inner {
            capacity: ring_capacity,
            devices,
            state: Mutex::new(State::default()),
            log,
            dropped: AtomicU64::new(0),
            loaded: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        });
        // The stories of the previous runs, read before the writer starts appending.
        if let Some(config) = &jsonl {
            inner.load(config);
        }
        if let Some((writer, rx)) = writer {
            // A weak reference: the writer ends when the last journal is dropped (its sender
            // with it), not kept alive by itself.
            let weak = Arc::downgrade(&inner);
            std::thread::Builder::new()
                .name("lantern-story-log".into())
                .spawn(move || writer.run(rx, weak))
                .context("cannot start the story log writer")?;
        }
        Ok(Self { inner })
    }

    /// Records a finished story. Never blocks on IO: safe to call from a connection task.
    pub(crate) fn record(&self, story: Story) {
        let story = Arc::new(story);
        let mut to_log = Vec::with_capacity(2);
        if self.inner.capacity > 0 || self.inner.devices > 0 {
            let mut state = self.inner.lock_state();
            let folded = state.record(&self.inner, &story, &mut to_log);
            if folded {
                drop(state);
                self.send_all(to_log);
                return;
            }
        }
        to_log.push(story);
        self.send_all(to_log);
    }

    fn send_all(&self, stories: Vec<Arc<Story>>) {
        for story in stories {
            self.inner.send(story);
        }
    }

    /// The sink handed to `lantern-net`: every finished story goes to [`Journal::record`].
    pub(crate) fn sink(&self) -> Arc<dyn Fn(Story) + Send + Sync> {
        let journal = self.clone();
        Arc::new(move |story| journal.record(story))
    }

    /// The stories in memory (the recent ring and the latest story of each device) that match,
    /// newest first; folded stories carry their count.
    pub(crate) fn query(&self, filter: &StoryFilter) -> Vec<Story> {
        // Copy the pointers under the lock, filter and clone outside it.
        let snapshot: Vec<(Arc<Story>, Option<Repeated>)> = {
            let state = self.inner.lock_state();
            let mut all: Vec<&Entry> = state.entries.values().collect();
            all.sort_unstable_by_key(|e| std::cmp::Reverse(e.order));
            all.into_iter()
                .map(|e| (Arc::clone(&e.story), e.repeated))
                .collect()
        };
        let mut out = Vec::new();
        let limit = filter.last.unwrap_or(usize::MAX);
        for (story, repeated) in &snapshot {
            if out.len() >= limit {
                break;
            }
            if filter.matches(story) {
                let mut s = (**story).clone();
                s.repeated = *repeated;
                out.push(s);
            }
        }
        out
    }

    /// How many stories were read back from the log at start, and how many lines of it were
    /// skipped because they were not stories.
    #[cfg(test)]
    pub(crate) fn loaded(&self) -> (u64, u64) {
        (
            self.inner.loaded.load(Ordering::Relaxed),
            self.inner.skipped.load(Ordering::Relaxed),
        )
    }

    /// How many stories did not reach the log because the writer was behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Closes folded stories that took no repeat for [`REPEAT_WINDOW_MS`] (or are older than
    /// [`REPEAT_SPAN_MS`]) at `now_ms`, writing their summary lines. The writer does this every
    /// second; tests call it with their own clock.
    #[cfg(test)]
    pub(crate) fn close_quiet(&self, now_ms: u64) {
        let summaries = self.inner.close_quiet(now_ms);
        self.send_all(summaries);
    }

    /// Waits (at most a few seconds) until every story recorded so far is written to the log,
    /// with a summary line for each folded story whose count the log does not have yet.
    /// Blocking: call it at shutdown or in tests, never from a connection task.
    pub(crate) fn flush(&self) {
        let summaries = self.inner.lock_state().pending_summaries();
        self.send_all(summaries);
        if let Some(log) = &self.inner.log {
            let (tx, rx) = mpsc::sync_channel(1);
            if log.send(ToWriter::Flush(tx)).is_ok() {
                let _ = rx.recv_timeout(FLUSH_WAIT);
            }
        }
    }
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        // Every method of State leaves it consistent before it can panic (no panics on the
        // way, only map operations), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a line to the writer without waiting; counts it when the writer is behind.
    fn send(&self, story: Arc<Story>) {
        let Some(log) = &self.log else { return };
        match log.try_send(ToWriter::Story(story)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    warn!(
                        dropped = n,
                        "the story log writer is behind; stories dropped from the log (they stay in memory)"
                    );
                }
            }
        }
    }

    /// Reads the stories of the previous runs from the log and its rotated files, oldest first,
    /// into the ring and the device index (whose bounds keep what stays). A line that is not a
    /// story is counted and skipped; a file that cannot be read is skipped with a warning.
    fn load(&self, config: &JsonlConfig) {
        let keep = self.capacity > 0 || self.devices > 0;
        let (mut loaded, mut skipped) = (0u64, 0u64);
        read_log_files(config, |line| match serde_json::from_slice::<Story>(line) {
            Ok(story) => {
                loaded += 1;
                if keep {
                    self.lock_state().load(self, story);
                }
            }
            Err(_) => skipped += 1,
        });
        self.loaded.store(loaded, Ordering::Relaxed);
        self.skipped.store(skipped, Ordering::Relaxed);
        if loaded > 0 {
            info!(
                stories = loaded,
                "stories of previous runs read from the story log"
            );
        }
        if skipped > 0 {
            warn!(
                skipped,
                "lines of the story log that are not stories were skipped (a line cut short by a crash, or an edited file)"
            );
        }
    }

    fn close_quiet(&self, now_ms: u64) -> Vec<Arc<Story>> {
        let mut state = self.lock_state();
        let quiet: Vec<RepeatKey> = state
            .open
            .iter()
            .filter(|(_, slot)| {
                state.entries.get(slot).is_some_and(|e| match e.repeated {
                    Some(r) => {
                        now_ms.saturating_sub(r.last_ms) > REPEAT_WINDOW_MS
                            || now_ms.saturating_sub(r.first_ms) > REPEAT_SPAN_MS
                    }
                    None => now_ms.saturating_sub(end_ms(&e.story)) > REPEAT_WINDOW_MS,
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in quiet {
            out.extend(state.close(&key));
        }
        out
    }
}

impl State {
    /// Adds a story; `true` when it folded into an open one (nothing new to log). Lines for the
    /// log (the story, or the summary of a folded story that closed) go to `to_log`.
    fn record(&mut self, limits: &Inner, story: &Arc<Story>, to_log: &mut Vec<Arc<Story>>) -> bool {
        let at = end_ms(story);
        // Only failures before authentication fold: a connection that was let in had a session
        // of its own (deliveries, drops, a close), and its story is kept whole.
        let repeat = (story.verdict.outcome == Outcome::Failed && !connected(story))
            .then(|| repeat_key(story));
        if let Some(key) = &repeat {
            if let Some(&slot) = self.open.get(key) {
                if let Some(entry) = self.entries.get_mut(&slot) {
                    let first = end_ms(&entry.story);
                    let r = entry.repeated.unwrap_or(Repeated {
                        count: 1,
                        first_ms: first,
                        last_ms: first,
                    });
                    if at.saturating_sub(r.last_ms) <= REPEAT_WINDOW_MS
                        && at.saturating_sub(r.first_ms) <= REPEAT_SPAN_MS
                    {
                        entry.repeated = Some(Repeated {
                            count: r.count + 1,
                            last_ms: r.last_ms.max(at),
                            ..r
                        });
                        self.touch(limits, slot, to_log);
                        return true;
                    }
                }
                to_log.extend(self.close(key));
            }
        }
        let slot = self.next;
        let order = self.bump();
        let device = device_key(story);
        let trusted = connected(story);
        self.entries.insert(
            slot,
            Entry {
                story: Arc::clone(story),
                repeated: None,
                logged: 1,
                order,
                device: device.clone(),
                repeat: repeat.clone(),
            },
        );
        if let Some(key) = repeat {
            self.open.insert(key, slot);
        }
        self.recent.insert(order, slot);
        self.index_device(limits, device, slot, order, trusted, to_log);
        self.trim_recent(limits, to_log);
        false
    }

    fn bump(&mut self) -> u64 {
        let n = self.next;
        self.next += 1;
        n
    }

    /// Makes `slot` the newest story (a repeat arrived): first in the ring and in its device's
    /// place in the index.
    fn touch(&mut self, limits: &Inner, slot: u64, to_log: &mut Vec<Arc<Story>>) {
        let order = self.bump();
        let Some(entry) = self.entries.get_mut(&slot) else {
            return;
        };
        let old = std::mem::replace(&mut entry.order, order);
        let device = entry.device.clone();
        self.recent.remove(&old);
        self.recent.insert(order, slot);
        // The device's latest story is this one again (only failures fold: no trust gained).
        self.index_device(limits, device, slot, order, false, to_log);
        self.trim_recent(limits, to_log);
    }

    /// Points the device's index entry at `slot`, evicting the least valuable device when full.
    fn index_device(
        &mut self,
        limits: &Inner,
        device: DeviceKey,
        slot: u64,
        order: u64,
        trusted: bool,
        to_log: &mut Vec<Arc<Story>>,
    ) {
        if limits.devices == 0 {
            return;
        }
        let address = match &device {
            DeviceKey::Address(a) => a.clone(),
            DeviceKey::Client(..) => self
                .entries
                .get(&slot)
                .map(|e| peer_ip(&e.story.peer))
                .unwrap_or_default(),
        };
        let (trusted, previous) = match self.devices.remove(&device) {
            Some(d) => {
                self.unlist(&d);
                (d.trusted || trusted, Some(d.slot))
            }
            None => (trusted, None),
        };
        let d = Device {
            slot,
            order,
            trusted,
            address: address.clone(),
        };
        self.list(&d, device.clone());
        self.devices.insert(device, d);
        if let Some(previous) = previous {
            self.forget_if_unused(previous, to_log);
        }
        if !trusted {
            // One address holds at most its share of the index with devices that never
            // connected: beyond it, its own oldest goes.
            let share = (limits.devices / ADDRESS_SHARE).max(1);
            let oldest_of_address = self
                .untrusted_by_address
                .get(&address)
                .filter(|m| m.len() > share)
                .and_then(|m| m.first_key_value().map(|(_, k)| k.clone()));
            if let Some(victim) = oldest_of_address {
                self.evict(&victim, to_log);
            }
        }
        while self.devices.len() > limits.devices {
            // Devices that never connected go first; then the oldest of those that did.
            let victim = self.lru[0]
                .first_key_value()
                .or_else(|| self.lru[1].first_key_value())
                .map(|(_, k)| k.clone());
            match victim {
                Some(victim) => self.evict(&victim, to_log),
                None => break,
            }
        }
    }

    fn evict(&mut self, device: &DeviceKey, to_log: &mut Vec<Arc<Story>>) {
        if let Some(d) = self.devices.remove(device) {
            self.unlist(&d);
            self.forget_if_unused(d.slot, to_log);
        }
    }

    /// Adds a device to the eviction orders.
    fn list(&mut self, d: &Device, key: DeviceKey) {
        if !d.trusted {
            self.untrusted_by_address
                .entry(d.address.clone())
                .or_default()
                .insert(d.order, key.clone());
        }
        self.lru[usize::from(d.trusted)].insert(d.order, key);
    }

    /// Removes a device from the eviction orders.
    fn unlist(&mut self, d: &Device) {
        self.lru[usize::from(d.trusted)].remove(&d.order);
        if !d.trusted {
            if let Some(m) = self.untrusted_by_address.get_mut(&d.address) {
                m.remove(&d.order);
                if m.is_empty() {
                    self.untrusted_by_address.remove(&d.address);
                }
            }
        }
    }

    fn trim_recent(&mut self, limits: &Inner, to_log: &mut Vec<Arc<Story>>) {
        while self.recent.len() > limits.capacity {
            let Some((_, slot)) = self.recent.pop_first() else {
                break;
            };
            self.forget_if_unused(slot, to_log);
        }
    }

    /// Drops an entry that is neither in the ring nor a device's latest story; a folded story
    /// that goes leaves its summary line.
    fn forget_if_unused(&mut self, slot: u64, to_log: &mut Vec<Arc<Story>>) {
        let Some(entry) = self.entries.get(&slot) else {
            return;
        };
        let in_ring = self.recent.get(&entry.order) == Some(&slot);
        let indexed = self
            .devices
            .get(&entry.device)
            .is_some_and(|d| d.slot == slot);
        if in_ring || indexed {
            return;
        }
        if let Some(key) = entry.repeat.clone() {
            if self.open.get(&key) == Some(&slot) {
                to_log.extend(self.close(&key));
            }
        }
        self.entries.remove(&slot);
    }

    /// Stops folding into the story open under `key`; its summary line if the log lacks it.
    fn close(&mut self, key: &RepeatKey) -> Option<Arc<Story>> {
        let slot = self.open.remove(key)?;
        self.summary(slot)
    }

    fn summary(&mut self, slot: u64) -> Option<Arc<Story>> {
        let entry = self.entries.get_mut(&slot)?;
        let count = entry.repeated.map_or(1, |r| r.count);
        if count <= entry.logged {
            return None;
        }
        entry.logged = count;
        Some(Arc::new(entry.current()))
    }

    /// Adds a story read back from the log at start. It keeps the count it was written with,
    /// takes no more repeats (a new failure starts a story of its own) and, being in the log
    /// already, is never written again.
    fn load(&mut self, limits: &Inner, story: Story) {
        let mut discard = Vec::new();
        // A summary line of a folded story replaces the line it counts (the same story,
        // written first with no count), as `lantern why --file` reads it.
        if story.repeated.is_some() {
            let same = self
                .entries
                .iter()
                .find(|(_, e)| {
                    (e.story.id, e.story.started_ms, &e.story.peer)
                        == (story.id, story.started_ms, &story.peer)
                })
                .map(|(slot, _)| *slot);
            if let Some(slot) = same {
                self.remove(slot);
            }
        }
        let slot = self.next;
        let order = self.bump();
        let device = device_key(&story);
        let trusted = connected(&story);
        let repeated = story.repeated;
        let logged = repeated.map_or(1, |r| r.count);
        self.entries.insert(
            slot,
            Entry {
                story: Arc::new(story),
                repeated,
                logged,
                order,
                device: device.clone(),
                repeat: None,
            },
        );
        self.recent.insert(order, slot);
        self.index_device(limits, device, slot, order, trusted, &mut discard);
        self.trim_recent(limits, &mut discard);
    }

    /// Takes an entry out of the ring and the device index (its device goes from the index).
    fn remove(&mut self, slot: u64) {
        let Some(entry) = self.entries.remove(&slot) else {
            return;
        };
        if self.recent.get(&entry.order) == Some(&slot) {
            self.recent.remove(&entry.order);
        }
        if self
            .devices
            .get(&entry.device)
            .is_some_and(|d| d.slot == slot)
        {
            if let Some(d) = self.devices.remove(&entry.device) {
                self.unlist(&d);
            }
        }
    }

    /// Summary lines for every open folded story with repeats the log does not have yet.
    fn pending_summaries(&mut self) -> Vec<Arc<Story>> {
        let slots: Vec<u64> = self.open.values().copied().collect();
        slots.into_iter().filter_map(|s| self.summary(s)).collect()
    }
}

/// Now, in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When the story ended, milliseconds since the Unix epoch.
fn end_ms(story: &Story) -> u64 {
    story.started_ms.saturating_add(story.duration_ms)
}

fn device_key(story: &Story) -> DeviceKey {
    match story.client_id.as_deref().filter(|c| !c.is_empty()) {
        Some(id) => DeviceKey::Client(story.tenant.clone(), id.to_owned()),
        None => DeviceKey::Address(peer_ip(&story.peer)),
    }
}

fn repeat_key(story: &Story) -> RepeatKey {
    RepeatKey {
        tenant: story.tenant.clone(),
        listener: story.listener.clone(),
        address: peer_ip(&story.peer),
        cause: cause_id(story),
        client: story.client_id.clone(),
    }
}

/// Whether the story shows a successful connection (authenticated and accepted).
fn connected(story: &Story) -> bool {
    story
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::Auth { allowed: true, .. }))
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
        let mut file = open_append(&config.path)?;
        let mut size = file.metadata()?.len();
        // A crash in the middle of a write leaves a last line without its newline: end it, so
        // the next story starts a line of its own instead of being glued to the broken one.
        if size > 0 && !ends_with_newline(&config.path)? {
            file.write_all(b"\n")?;
            size += 1;
        }
        Ok(Self {
            config,
            file: Some(BufWriter::new(file)),
            size,
            failing: false,
        })
    }

    fn run(mut self, rx: Receiver<ToWriter>, journal: Weak<Inner>) {
        let mut last_sweep = Instant::now();
        loop {
            let first = match rx.recv_timeout(SWEEP_EVERY) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // Folded stories that went quiet get their summary line, written here directly.
            if last_sweep.elapsed() >= SWEEP_EVERY {
                last_sweep = Instant::now();
                let Some(inner) = journal.upgrade() else {
                    return;
                };
                for story in inner.close_quiet(now_ms()) {
                    self.write_story(&story);
                }
                drop(inner);
                self.flush();
            }
            let Some(first) = first else { continue };
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

/// Calls `each` with every non-blank line of the log's files, oldest file first: `<path>.<keep>`
/// … `<path>.1`, `<path>`. Bounded by the log's own bounds (`keep + 1` files of about
/// `max_bytes` each); a line longer than that is cut there (and will not parse).
fn read_log_files(config: &JsonlConfig, mut each: impl FnMut(&[u8])) {
    let mut files: Vec<PathBuf> = (1..=config.keep)
        .rev()
        .map(|n| rotated_path(&config.path, n))
        .collect();
    files.push(config.path.clone());
    let limit = config.max_bytes.saturating_mul(2).max(1 << 20);
    for path in files {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                warn!(path = %path.display(), "cannot read the story log; its stories are not loaded: {e}");
                continue;
            }
        };
        let mut reader = BufReader::new(file);
        let mut line = Vec::new();
        loop {
            line.clear();
            match (&mut reader).take(limit).read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    warn!(path = %path.display(), "cannot read the story log: {e}");
                    break;
                }
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                each(&line);
            }
        }
    }
}

/// Whether the last byte of the file at `path` is a newline.
fn ends_with_newline(path: &Path) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
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
    #[cfg(test)]
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
        // A folded story stands for `count` connections.
        let n = story
            .repeated
            .map_or(1, |r| usize::try_from(r.count).unwrap_or(usize::MAX));
        out.stories += n;
        if story.verdict.outcome != Outcome::Failed {
            continue;
        }
        out.failed += n;
        let id = cause_id(story);
        let address = peer_ip(&story.peer);
        let client = story.client_id.clone().filter(|c| !c.is_empty());
        let device = client.clone().unwrap_or_else(|| address.clone());

        let acc = causes.entry(id.clone()).or_default();
        if acc.failures == 0 {
            acc.sentence = story.verdict.sentence.clone();
            acc.fixes = story.verdict.fixes.clone();
        }
        acc.failures += n;
        acc.devices.insert(device.clone());
        acc.addresses.insert(address);
        acc.clients.extend(client);

        if let Some(fp) = fingerprint(story) {
            let acc = hellos.entry((fp.to_owned(), id)).or_default();
            acc.failures += n;
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

    use lantern_diag::{Cause, Event, HelloSummary, Initiator, Repeated};

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

    /// A device that connected: its story has an accepted Auth event.
    pub(crate) fn connected_story(id: u64, peer: &str, client: &str) -> Story {
        let mut s = with_connect(story(id, peer, Some(client), ok()));
        s.events.push(Event {
            at_ms: 3,
            kind: EventKind::Auth {
                allowed: true,
                detail: "as user \"dev\"".into(),
            },
        });
        s
    }

    /// A failed CONNECT without credentials from `peer`, ending at `end_ms`.
    fn refused_at(id: u64, peer: &str, client: Option<&str>, end_ms: u64) -> Story {
        let mut s = story(id, peer, client, Cause::NoCredentials);
        s.started_ms = end_ms - s.duration_ms;
        s
    }

    fn read_ids_and_counts(path: &Path) -> Vec<(u64, u64)> {
        read_lines(path)
            .iter()
            .map(|s| (s.id, s.repeated.map_or(1, |r| r.count)))
            .collect()
    }

    /// Issue 9 defect 7: 5,000 identical failures from one address (any source port) become one
    /// story with a count, in memory and in the log, and the device that connected before the
    /// flood keeps its story although the ring holds only 10.
    #[test]
    fn a_flood_of_identical_failures_folds_into_one_story() {
        let dir = temp_dir("flood");
        let path = dir.join("stories.jsonl");
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: 1 << 20,
            keep: 1,
        };
        let journal = Journal::new(10, Some(config)).unwrap();
        let t0 = 1_795_383_601_000;
        journal.record(connected_story(1, "10.9.0.7:4000", "real-device"));
        for i in 0..5_000u64 {
            let peer = format!("127.0.0.1:{}", 20_000 + i % 30_000);
            journal.record(refused_at(100 + i, &peer, None, t0 + i));
        }
        let all = journal.query(&StoryFilter::default());
        assert_eq!(all.len(), 2, "{:?}", ids(&all));
        assert_eq!(
            all[0].id, 100,
            "the flood's first story stands for all of it"
        );
        assert_eq!(
            all[0].repeated,
            Some(Repeated {
                count: 5_000,
                first_ms: t0,
                last_ms: t0 + 4_999
            })
        );
        let real = journal.query(&StoryFilter {
            client: Some("real-device".into()),
            ..Default::default()
        });
        assert_eq!(ids(&real), [1]);
        let s = summary(&all);
        assert_eq!((s.stories, s.failed), (5_001, 5_000));
        assert_eq!(s.by_cause[0].failures, 5_000);

        // The log: the real device, the flood's first story, and (at flush) one summary line
        // with the same id and the count.
        journal.flush();
        assert_eq!(read_ids_and_counts(&path), [(1, 1), (100, 1), (100, 5_000)]);
        // A second flush adds nothing: the log has that count already.
        journal.flush();
        assert_eq!(read_lines(&path).len(), 3);
        let _ = fs::remove_dir_all(dir);
    }

    /// Only failures before authentication fold: two sessions of one device that each ended
    /// without DISCONNECT are two stories (each has its own deliveries, drops and close).
    #[test]
    fn failures_after_authentication_do_not_fold() {
        let journal = Journal::new(10, None).unwrap();
        for id in [1, 2] {
            let mut s = connected_story(id, "10.0.0.1:1000", "d");
            s.finish(Cause::PeerClosed);
            assert_eq!(s.verdict.outcome, Outcome::Failed);
            journal.record(s);
        }
        let all = journal.query(&StoryFilter::default());
        assert_eq!(ids(&all), [2, 1]);
        assert!(all.iter().all(|s| s.repeated.is_none()));
    }

    /// A device whose failures alternate between two causes has the fold it repeated last as
    /// its latest story.
    #[test]
    fn a_repeat_makes_its_story_the_devices_latest_again() {
        let journal = Journal::with_devices(2, 10, None).unwrap();
        let t0 = 1_795_383_601_000;
        journal.record(refused_at(1, "10.0.0.5:1", Some("dev"), t0));
        let mut other = story(2, "10.0.0.5:2", Some("dev"), no_sni());
        other.started_ms = t0 + 10;
        journal.record(other);
        journal.record(refused_at(3, "10.0.0.5:3", Some("dev"), t0 + 20));
        // Ring of two (stories 1 and 4): story 2 is gone, and the device index holds story 1
        // (×2), its latest.
        journal.record(story(4, "10.9.9.9:1", Some("someone-else"), ok()));
        let dev = journal.query(&StoryFilter {
            client: Some("dev".into()),
            ..Default::default()
        });
        let got: Vec<_> = dev
            .iter()
            .map(|s| (s.id, s.repeated.map(|r| r.count)))
            .collect();
        assert_eq!(got, [(1, Some(2))]);
    }

    /// A pause longer than the window starts a new story; the closed one leaves its summary;
    /// a quiet folded story is closed by the sweep.
    #[test]
    fn folding_stops_after_a_quiet_window() {
        let dir = temp_dir("window");
        let path = dir.join("stories.jsonl");
        let config = JsonlConfig {
            path: path.clone(),
            max_bytes: 1 << 20,
            keep: 1,
        };
        let journal = Journal::new(100, Some(config)).unwrap();
        let t0 = 1_795_383_601_000;
        for i in 0..3 {
            journal.record(refused_at(1 + i, "10.0.0.5:1", Some("dev"), t0 + i * 1_000));
        }
        // Another cause, client id or address does not fold with them.
        journal.record(refused_at(10, "10.0.0.5:1", Some("other"), t0 + 2_500));
        journal.record(refused_at(11, "10.0.0.6:1", Some("dev"), t0 + 2_600));
        let later = t0 + 2_000 + REPEAT_WINDOW_MS + 1;
        journal.record(refused_at(20, "10.0.0.5:2", Some("dev"), later));
        journal.record(refused_at(21, "10.0.0.5:3", Some("dev"), later + 5));
        journal.close_quiet(later + 5 + REPEAT_WINDOW_MS + 1);
        journal.flush();
        assert_eq!(
            read_ids_and_counts(&path),
            [(1, 1), (10, 1), (11, 1), (1, 3), (20, 1), (20, 2)]
        );
        let dev = journal.query(&StoryFilter {
            client: Some("dev".into()),
            ip: Some("10.0.0.5".into()),
            ..Default::default()
        });
        let counts: Vec<_> = dev
            .iter()
            .map(|s| (s.id, s.repeated.map(|r| r.count)))
            .collect();
        assert_eq!(counts, [(20, Some(2)), (1, Some(3))]);
        // A failure that is not repeated within the window carries no count.
        let lone_at = later + 5 + 2 * REPEAT_WINDOW_MS;
        journal.record(refused_at(30, "10.0.0.6:9", Some("dev"), lone_at));
        journal.record(refused_at(
            31,
            "10.0.0.6:9",
            Some("dev"),
            lone_at + REPEAT_WINDOW_MS + 1,
        ));
        let six = journal.query(&StoryFilter {
            ip: Some("10.0.0.6".into()),
            ..Default::default()
        });
        let counts: Vec<_> = six
            .iter()
            .map(|s| (s.id, s.repeated.map(|r| r.count)))
            .collect();
        assert_eq!(counts, [(31, None), (30, None), (11, None)]);
        let _ = fs::remove_dir_all(dir);
    }

    /// A flood that changes its client id every time is not folded, but it evicts only devices
    /// that never connected: a device that did keeps its last story, and memory stays bounded.
    #[test]
    fn distinct_failing_clients_cannot_evict_a_connected_device() {
        let journal = Journal::with_devices(10, 50, None).unwrap();
        journal.record(connected_story(1, "10.9.0.7:4000", "real-device"));
        let t0 = 1_795_383_601_000;
        for i in 0..10_000u64 {
            let client = format!("flood-{i}");
            journal.record(refused_at(100 + i, "127.0.0.1:5000", Some(&client), t0 + i));
        }
        let real = journal.query(&StoryFilter {
            client: Some("real-device".into()),
            ..Default::default()
        });
        assert_eq!(ids(&real), [1]);
        let all = journal.query(&StoryFilter::default());
        assert!(all.len() <= 10 + 50, "{}", all.len());
        assert_eq!(all[0].id, 100 + 9_999);
        let state = journal.inner.lock_state();
        assert!(state.entries.len() <= 60 && state.devices.len() <= 50);
        assert!(
            state.open.len() <= 60,
            "open folds are bounded with the entries"
        );
    }

    /// A flood with a new client id each time from one address evicts only its own devices
    /// that never connected: another address's failing device keeps its story.
    #[test]
    fn one_address_holds_only_its_share_of_the_device_index() {
        let journal = Journal::with_devices(10, 100, None).unwrap();
        let t0 = 1_795_383_601_000;
        journal.record(refused_at(1, "10.7.0.9:4000", Some("stuck-device"), t0));
        for i in 0..5_000u64 {
            let client = format!("flood-{i}");
            journal.record(refused_at(100 + i, "127.0.0.1:5000", Some(&client), t0 + i));
        }
        let stuck = journal.query(&StoryFilter {
            client: Some("stuck-device".into()),
            ..Default::default()
        });
        assert_eq!(ids(&stuck), [1]);
        let state = journal.inner.lock_state();
        assert_eq!(state.untrusted_by_address["127.0.0.1"].len(), 10);
        assert_eq!(state.devices.len(), 11);
        assert_eq!(state.lru[0].len() + state.lru[1].len(), state.devices.len());
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
        let one_line = serde_json::to_vec(&story(1, "10.0.0.1:1000", Some("d1"), no_sni()))
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
            // Distinct devices: identical failures would fold into one story.
            journal.record(story(
                id,
                "10.0.0.1:1000",
                Some(&format!("d{id}")),
                no_sni(),
            ));
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
        assert_eq!(back[0], story(7, "10.0.0.1:1000", Some("d7"), no_sni()));
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
            journal.record(story(id, &format!("10.0.0.{id}:1000"), None, no_sni()));
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
            journal.record(story(id, &format!("10.0.0.{id}:1000"), None, no_sni()));
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
            journal.record(story(id, &format!("10.0.0.{id}:1000"), None, no_sni()));
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

    fn log_config(dir: &Path, max_bytes: u64, keep: usize) -> JsonlConfig {
        JsonlConfig {
            path: dir.join("stories.jsonl"),
            max_bytes,
            keep,
        }
    }

    /// Issue 10: a journal opened on the log of a previous run answers about that run's
    /// connections: a failed one and a successful one of the same device, newest first.
    #[test]
    fn stories_of_a_previous_run_are_loaded_at_start() {
        let dir = temp_dir("reload");
        let before = Journal::new(10, Some(log_config(&dir, 1 << 20, 2))).unwrap();
        before.record(story(1, "10.0.0.5:4000", Some("dev-7"), no_sni()));
        before.record(connected_story(2, "10.0.0.5:4001", "dev-7"));
        before.record(story(3, "10.0.0.6:4000", Some("other"), no_cipher()));
        before.flush();
        drop(before);

        let after = Journal::new(10, Some(log_config(&dir, 1 << 20, 2))).unwrap();
        assert_eq!(after.loaded(), (3, 0));
        let dev = after.query(&StoryFilter {
            client: Some("dev-7".into()),
            ..Default::default()
        });
        assert_eq!(ids(&dev), [2, 1]);
        assert_eq!(cause_id(&dev[1]), "tls.no_sni");
        // New stories come after the loaded ones, and the loaded ones are not written again.
        after.record(story(4, "10.0.0.5:4002", Some("dev-7"), ok()));
        assert_eq!(ids(&after.query(&StoryFilter::default())), [4, 3, 2, 1]);
        after.flush();
        assert_eq!(
            read_ids_and_counts(&dir.join("stories.jsonl")),
            [(1, 1), (2, 1), (3, 1), (4, 1)]
        );
    }

    /// The rotated files are read oldest first, and the ring's bound holds: with a ring of 4
    /// and no device index, the newest 4 of 30 stories spread over several files are kept.
    #[test]
    fn loading_reads_rotated_files_within_the_bounds() {
        let dir = temp_dir("reload-rotated");
        let before = Journal::new(100, Some(log_config(&dir, 2_000, 20))).unwrap();
        for id in 1..=30 {
            before.record(story(id, "10.0.0.1:1000", Some(&format!("d{id}")), ok()));
        }
        before.flush();
        drop(before);
        assert!(rotated_path(&dir.join("stories.jsonl"), 3).exists());

        let after = Journal::with_devices(4, 0, Some(log_config(&dir, 2_000, 20))).unwrap();
        assert_eq!(after.loaded(), (30, 0));
        assert_eq!(ids(&after.query(&StoryFilter::default())), [30, 29, 28, 27]);
        assert_eq!(after.inner.lock_state().entries.len(), 4);
    }

    /// A line cut short by a crash, binary junk and a JSON line that is not a story are
    /// skipped and counted; the stories around them load.
    #[test]
    fn corrupt_lines_are_skipped_and_counted() {
        let dir = temp_dir("reload-corrupt");
        let path = dir.join("stories.jsonl");
        let good =
            |id| serde_json::to_string(&story(id, "10.0.0.1:1000", Some("d"), ok())).unwrap();
        let cut = good(3);
        let mut text = format!("{}\n{}\n", good(1), &cut[..cut.len() / 2]);
        text.push_str("\u{1b}[31m\u{0}\u{7f} not json\n{\"id\": \"x\"}\n\n");
        text.push_str(&format!("{}\n", good(2)));
        fs::write(&path, text.as_bytes()).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0xff, 0xfe, b'{', b'\n']);
        bytes.extend_from_slice(&cut.as_bytes()[..10]);
        fs::write(&path, bytes).unwrap();

        let journal = Journal::new(10, Some(log_config(&dir, 1 << 20, 1))).unwrap();
        assert_eq!(journal.loaded(), (2, 5));
        assert_eq!(ids(&journal.query(&StoryFilter::default())), [2, 1]);
        // The cut last line is ended, so a new story starts a line of its own and loads next
        // time.
        journal.record(story(4, "10.0.0.1:1000", Some("d"), ok()));
        journal.flush();
        drop(journal);
        let again = Journal::new(10, Some(log_config(&dir, 1 << 20, 1))).unwrap();
        assert_eq!(again.loaded(), (3, 5));
        assert_eq!(ids(&again.query(&StoryFilter::default())), [4, 2, 1]);
    }

    /// A folded flood reads back as one story with its count: the summary line replaces the
    /// first line of the same story, as `lantern why --file` reads it.
    #[test]
    fn a_folded_story_loads_with_its_count() {
        let dir = temp_dir("reload-folded");
        let before = Journal::new(10, Some(log_config(&dir, 1 << 20, 1))).unwrap();
        let t0 = 1_795_383_601_000;
        before.record(connected_story(1, "10.9.0.7:4000", "real-device"));
        for i in 0..50u64 {
            before.record(refused_at(100 + i, "127.0.0.1:5000", None, t0 + i));
        }
        before.flush();
        drop(before);
        assert_eq!(
            read_ids_and_counts(&dir.join("stories.jsonl")),
            [(1, 1), (100, 1), (100, 50)]
        );

        let after = Journal::new(10, Some(log_config(&dir, 1 << 20, 1))).unwrap();
        let all = after.query(&StoryFilter::default());
        assert_eq!(ids(&all), [100, 1]);
        assert_eq!(all[0].repeated.map(|r| r.count), Some(50));
        // A new failure of the same kind starts a story of its own; the loaded one is closed.
        after.record(refused_at(200, "127.0.0.1:5000", None, now_ms()));
        assert_eq!(ids(&after.query(&StoryFilter::default())), [200, 100, 1]);
    }
}
