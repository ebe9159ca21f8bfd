//! Lantern's embedded on-disk store: what the broker must not forget across a restart
//! (retained messages, persistent sessions with their subscriptions, queues, in-flight QoS 1/2
//! state and pending wills), per tenant, in one directory (`<data dir>/store/`).
//!
//! It sits beside the broker (`broker → store` through the broker's persistence events; the
//! `lantern` binary wires them). The engine is fjall, an LSM tree with a journal; the README
//! records why (measured against redb). Writes go through one writer thread that batches
//! whatever arrived (group commit) and fsyncs once per batch (`Durability::Sync`) or once per
//! window (`Durability::Interval`), then publishes the durable sequence number. No caller ever
//! waits on the disk while holding a lock: changes travel over a bounded channel.
//!
//! What it does not do: decide what to store (the broker's events do), or interpret messages
//! (topics and payloads are plain bytes here; v5 properties are opaque).

mod error;
mod record;
mod sink;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use error::StoreError;
pub use record::{
    Change, DecodeError, Record, RecordKey, SessionMeta, StoredDelivery, StoredMessage,
};
pub use sink::{snapshot, TenantSink};
pub use writer::{Durable, StoreWriter};

/// The on-disk format this build reads and writes. Bump it with any change to the key or value
/// layout in `record.rs`, and say in the README what an upgrade does.
pub const FORMAT_VERSION: u32 = 1;

/// The subdirectory of the data directory that holds the store.
pub const STORE_DIR: &str = "store";

const META_PARTITION: &str = "meta";
const DATA_PARTITION: &str = "data";
const VERSION_KEY: &[u8] = b"format_version";
/// The number of the last committed batch, written in every batch.
const COMMIT_KEY: &[u8] = b"commit";
/// A file beside the engine's: the number of the last batch known fsynced, written (without
/// an fsync of its own) after each batch's fsync. The engine's journal recovery silently drops
/// everything after a damaged entry, as it does with a torn tail after a power cut; a
/// recovered commit number below this one means acknowledged batches were lost to damage.
const COMMIT_FILE: &str = "last-commit";
/// Locked by the process that has the store open: two brokers on one store would corrupt it.
const LOCK_FILE: &str = "lock";

/// When a batch of changes is durable.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Durability {
    /// Each batch is written and fsynced before its sequence number counts as durable; many
    /// callers' changes share one fsync (group commit).
    Sync,
    /// Changes are collected for this window, then written and fsynced together: at most one
    /// window of acknowledged changes is lost in a crash.
    Interval(Duration),
}

/// One tenant's stored state, as read at start.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TenantState {
    /// Retained messages.
    pub retained: Vec<StoredMessage>,
    /// Sessions by client identifier.
    pub sessions: BTreeMap<String, StoredSession>,
}

/// One stored session and everything it owns.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct StoredSession {
    /// Its own fields; `None` when only owned records were found (a session whose meta record
    /// was never written: the loader's caller decides, usually to drop it).
    pub meta: Option<SessionMeta>,
    /// Subscriptions: (raw filter, options byte, subscription identifier or 0).
    pub subscriptions: Vec<(String, u8, u32)>,
    /// Queued deliveries in queue order, with their queue positions.
    pub queue: Vec<(u64, StoredDelivery)>,
    /// Outgoing in-flight flows in packet id order: (packet id, stage, order, delivery).
    pub inflight: Vec<(u16, u8, u64, Option<StoredDelivery>)>,
    /// Incoming QoS 2 packet ids not yet released.
    pub incoming_qos2: Vec<u16>,
    /// A pending will: (due, ms since the epoch; message).
    pub will: Option<(u64, StoredMessage)>,
}

/// An open store: load it once, then hand it to a writer.
pub struct Store {
    path: PathBuf,
    keyspace: fjall::Keyspace,
    meta: fjall::PartitionHandle,
    data: fjall::PartitionHandle,
    /// The number of the last committed batch.
    commit: AtomicU64,
    /// `COMMIT_FILE`, open for writing.
    commit_file: std::fs::File,
    /// `LOCK_FILE`, exclusively locked while the store is open (released by the kernel when
    /// the process ends, however it ends).
    _lock: std::fs::File,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) the store in `<data_dir>/store/`, checking its format version.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(STORE_DIR);
        std::fs::create_dir_all(&path).map_err(|e| StoreError::from_io(path.clone(), &e))?;
        probe_writable(&path)?;
        let lock = lock(&path)?;
        let keyspace = fjall::Config::new(&path)
            .manual_journal_persist(true)
            .open()
            .map_err(|e| StoreError::from_engine(&path, e))?;
        let engine = |e| StoreError::from_engine(&path, e);
        let meta = keyspace
            .open_partition(META_PARTITION, fjall::PartitionCreateOptions::default())
            .map_err(engine)?;
        let data = keyspace
            .open_partition(DATA_PARTITION, fjall::PartitionCreateOptions::default())
            .map_err(engine)?;
        match meta.get(VERSION_KEY).map_err(engine)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(&v[..])
                    .map(u32::from_be_bytes)
                    .map_err(|_| StoreError::Corrupt {
                        path: path.clone(),
                        detail: format!("the format version record is {} bytes, not 4", v.len()),
                    })?;
                if found != FORMAT_VERSION {
                    return Err(StoreError::Version {
                        path,
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
            }
            None => {
                if !data.is_empty().map_err(engine)? {
                    return Err(StoreError::Corrupt {
                        path,
                        detail: "records without a format version record".into(),
                    });
                }
                meta.insert(VERSION_KEY, FORMAT_VERSION.to_be_bytes())
                    .map_err(engine)?;
                keyspace
                    .persist(fjall::PersistMode::SyncAll)
                    .map_err(engine)?;
            }
        }
        let commit = match meta.get(COMMIT_KEY).map_err(engine)? {
            Some(v) => <[u8; 8]>::try_from(&v[..])
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    path: path.clone(),
                    detail: format!("the commit record is {} bytes, not 8", v.len()),
                })?,
            None => 0,
        };
        let file_path = path.join(COMMIT_FILE);
        // A missing or short file (a crash while it was first written) proves nothing.
        if let Ok(bytes) = std::fs::read(&file_path) {
            if let Ok(b) = <[u8; 8]>::try_from(&bytes[..]) {
                let written = u64::from_be_bytes(b);
                if written > commit {
                    return Err(StoreError::Corrupt {
                        path,
                        detail: format!(
                            "the journal recovers up to batch {commit}, but batch {written} had been written: a damaged journal lost acknowledged data"
                        ),
                    });
                }
            }
        }
        let commit_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&file_path)
            .map_err(|e| StoreError::from_io(path.clone(), &e))?;
        Ok(Self {
            path,
            keyspace,
            meta,
            data,
            commit: AtomicU64::new(commit),
            commit_file,
            _lock: lock,
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads every record, grouped by tenant. An undecodable record is a
    /// [`StoreError::Corrupt`] naming the store, never a panic.
    pub fn load(&self) -> Result<BTreeMap<String, TenantState>, StoreError> {
        let mut tenants: BTreeMap<String, TenantState> = BTreeMap::new();
        for kv in self.data.iter() {
            let (key, value) = kv.map_err(|e| StoreError::from_engine(&self.path, e))?;
            let (tenant, record) =
                record::decode(&key, &value).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })?;
            let state = tenants.entry(tenant).or_default();
            match record {
                Record::Retained(m) => state.retained.push(m),
                Record::Session { client_id, meta } => {
                    state.sessions.entry(client_id).or_default().meta = Some(meta);
                }
                Record::Subscription {
                    client_id,
                    filter,
                    options,
                    id,
                } => state
                    .sessions
                    .entry(client_id)
                    .or_default()
                    .subscriptions
                    .push((filter, options, id)),
                Record::Queued {
                    client_id,
                    seq,
                    delivery,
                } => state
                    .sessions
                    .entry(client_id)
                    .or_default()
                    .queue
                    .push((seq, delivery)),
                Record::Inflight {
                    client_id,
                    packet_id,
                    stage,
                    order,
                    delivery,
                } => state
                    .sessions
                    .entry(client_id)
                    .or_default()
                    .inflight
                    .push((packet_id, stage, order, delivery)),
                Record::IncomingQos2 {
                    client_id,
                    packet_id,
                } => state
                    .sessions
                    .entry(client_id)
                    .or_default()
                    .incoming_qos2
                    .push(packet_id),
                Record::Will {
                    client_id,
                    due_ms,
                    msg,
                } => {
                    state.sessions.entry(client_id).or_default().will = Some((due_ms, msg));
                }
            }
        }
        Ok(tenants)
    }

    /// Starts the writer thread; the store is written only through it from now on.
    pub fn into_writer(self, durability: Durability) -> Result<StoreWriter, StoreError> {
        writer::start(self, durability)
    }

    /// Writes `changes` of `tenant` at once and fsyncs: for tests and tools; the broker's
    /// changes go through [`StoreWriter`].
    pub fn apply(&self, tenant: &str, changes: &[Change]) -> Result<(), StoreError> {
        let ops: Vec<record::Op> = changes.iter().map(|c| record::op_of(tenant, c)).collect();
        self.write(&ops)?;
        self.sync()
    }

    /// Writes `ops` as ONE engine batch: all of them or none survive a crash, so a unit of
    /// events the broker needs together is never cut. Later operations on a key win.
    fn write(&self, ops: &[record::Op]) -> Result<(), StoreError> {
        use std::borrow::Cow;
        let engine = |e| StoreError::from_engine(&self.path, e);
        // key -> Some(value) to put, None to delete.
        let mut net: BTreeMap<Cow<'_, [u8]>, Option<&[u8]>> = BTreeMap::new();
        for op in ops {
            match op {
                record::Op::Put(k, v) => {
                    net.insert(Cow::Borrowed(k), Some(v));
                }
                record::Op::Delete(k) => {
                    net.insert(Cow::Borrowed(k), None);
                }
                record::Op::DeletePrefix(prefix) => {
                    // What this batch put under the prefix, and what is stored under it.
                    for (k, v) in net.range_mut::<[u8], _>((
                        std::ops::Bound::Included(prefix.as_slice()),
                        std::ops::Bound::Unbounded,
                    )) {
                        if !k.starts_with(prefix) {
                            break;
                        }
                        *v = None;
                    }
                    for kv in self.data.prefix(prefix) {
                        let (key, _) = kv.map_err(engine)?;
                        net.insert(Cow::Owned(key.to_vec()), None);
                    }
                }
            }
        }
        let mut batch = self.keyspace.batch();
        for (k, v) in &net {
            match v {
                Some(v) => batch.insert(&self.data, k.as_ref(), *v),
                None => batch.remove(&self.data, k.as_ref()),
            }
        }
        let commit = self.commit.load(Ordering::Relaxed) + 1;
        batch.insert(&self.meta, COMMIT_KEY, commit.to_be_bytes());
        batch.commit().map_err(engine)?;
        self.commit.store(commit, Ordering::Relaxed);
        Ok(())
    }

    /// Fsyncs what was written, then records the batch number beside the journal.
    fn sync(&self) -> Result<(), StoreError> {
        self.keyspace
            .persist(fjall::PersistMode::SyncAll)
            .map_err(|e| StoreError::from_engine(&self.path, e))?;
        use std::os::unix::fs::FileExt;
        self.commit_file
            .write_all_at(&self.commit.load(Ordering::Relaxed).to_be_bytes(), 0)
            .map_err(|e| StoreError::from_io(self.path.clone(), &e))
    }
}

/// Takes the store's exclusive lock, or says who holds it.
fn lock(path: &Path) -> Result<std::fs::File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path.join(LOCK_FILE))
        .map_err(|e| StoreError::from_io(path.to_path_buf(), &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::from_io(path.to_path_buf(), &e)),
    }
}

/// A read-only directory or file system is found at open, with a clear message, rather than at
/// the first write.
fn probe_writable(path: &Path) -> Result<(), StoreError> {
    let probe = path.join(".write-test");
    std::fs::write(&probe, b"lantern")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| StoreError::from_io(path.to_path_buf(), &e))
}
