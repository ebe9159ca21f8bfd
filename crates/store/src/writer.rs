//! The writer thread: changes arrive over a bounded channel, are written in batches (group
//! commit) and fsynced once per batch or per window; then the durable sequence advances and
//! waiters wake.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use tracing::error;

use crate::record::{op_of, Op};
use crate::{Change, Durability, Store, StoreError};

/// How many submissions may wait for the writer before submitters block.
const CHANNEL_BOUND: usize = 8192;
/// At most this many operations go into one batch.
const MAX_BATCH_OPS: usize = 16_384;

/// One submission on its way to the writer: its sequence number and operations.
type Submission = (u64, Vec<Op>);

/// Handle on the writer thread. Cheap to clone; the thread stops when every handle is dropped
/// (after writing what it was sent).
#[derive(Clone)]
pub struct StoreWriter {
    /// `None` once closed.
    tx: Arc<Mutex<Option<SyncSender<Submission>>>>,
    next_seq: Arc<Mutex<u64>>,
    durable: Durable,
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreWriter")
            .field("durable", &self.durable.get())
            .field("healthy", &self.durable.healthy())
            .finish()
    }
}

/// The durable sequence number and the health of the store, shared with whoever waits.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    inner: Arc<DurableInner>,
}

#[derive(Debug, Default)]
struct DurableInner {
    seq: AtomicU64,
    failed: AtomicBool,
    commits: AtomicU64,
    lock: Mutex<Vec<(u64, Waker)>>,
    cond: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Durable {
    /// Every submission with a sequence number up to this one is on disk.
    pub fn get(&self) -> u64 {
        self.inner.seq.load(Ordering::Acquire)
    }

    /// False once a write or fsync failed (until restart): new QoS 1/2 publishes should be
    /// refused, since nothing submitted after the failure becomes durable.
    pub fn healthy(&self) -> bool {
        !self.inner.failed.load(Ordering::Acquire)
    }

    /// How many batches were committed (each with one fsync).
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// Blocks until `seq` is durable or `timeout` passes; true if durable.
    pub fn wait(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.get() < seq {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .inner
                .cond
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Wakes `waker` once `seq` is durable (at once if it already is).
    pub fn wake_when(&self, seq: u64, waker: Waker) {
        let mut waiters = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.get() >= seq {
            drop(waiters);
            waker.wake();
        } else {
            waiters.push((seq, waker));
        }
    }

    fn advance(&self, seq: u64) {
        let woken: Vec<Waker> = {
            let mut waiters = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.inner.seq.store(seq, Ordering::Release);
            let (ready, waiting): (Vec<_>, Vec<_>) =
                waiters.drain(..).partition(|(s, _)| *s <= seq);
            *waiters = waiting;
            ready.into_iter().map(|(_, w)| w).collect()
        };
        self.inner.cond.notify_all();
        for w in woken {
            w.wake();
        }
    }
}

impl StoreWriter {
    /// Queues `changes` of `tenant` for the writer and returns their sequence number, durable
    /// once [`Durable::get`] reaches it. Blocks only while the channel is full (the disk is
    /// slower than the load): back-pressure rather than unbounded memory.
    pub fn submit(&self, tenant: &str, changes: &[Change]) -> u64 {
        let ops: Vec<Op> = changes.iter().map(|c| op_of(tenant, c)).collect();
        // The sequence is taken and sent under one lock so the channel carries increasing
        // sequence numbers, which is what lets `durable` be a single number.
        let mut next = self.next_seq.lock().unwrap_or_else(|p| p.into_inner());
        *next += 1;
        let seq = *next;
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = tx.as_ref() {
            match tx.try_send((seq, ops)) {
                Ok(()) => {}
                Err(TrySendError::Full(item)) => {
                    // The writer is behind: wait for room (the writer never takes these locks).
                    let _ = tx.send(item);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        }
        seq
    }

    /// The durable sequence number and health, to share with waiters.
    pub fn durable(&self) -> &Durable {
        &self.durable
    }

    /// Stops the writer after it has written everything submitted so far.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self
            .durable
            .inner
            .thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

pub(crate) fn start(store: Store, durability: Durability) -> Result<StoreWriter, StoreError> {
    let (tx, rx) = sync_channel(CHANNEL_BOUND);
    let durable = Durable::default();
    let shared = durable.clone();
    let thread = std::thread::Builder::new()
        .name("lantern-store".into())
        .spawn(move || run(store, durability, rx, shared))
        .map_err(|e| StoreError::Io {
            path: std::path::PathBuf::from(crate::STORE_DIR),
            detail: format!("cannot start the writer thread: {e}"),
        })?;
    *durable
        .inner
        .thread
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = Some(thread);
    Ok(StoreWriter {
        tx: Arc::new(Mutex::new(Some(tx))),
        next_seq: Arc::new(Mutex::new(0)),
        durable,
    })
}

fn run(store: Store, durability: Durability, rx: Receiver<Submission>, durable: Durable) {
    let mut pending: Vec<Op> = Vec::new();
    let mut pending_seq = 0u64;
    let mut open = true;
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match rx.recv() {
                Ok((seq, ops)) => {
                    pending_seq = seq;
                    pending.extend(ops);
                }
                Err(_) => break,
            }
        }
        if let Durability::Interval(window) = durability {
            // Collect for one window after the first change.
            let until = Instant::now() + window;
            while open && pending.len() < MAX_BATCH_OPS {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                match rx.recv_timeout(until - now) {
                    Ok((seq, ops)) => {
                        pending_seq = seq;
                        pending.extend(ops);
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
        }
        // Group commit: whatever else already arrived joins this batch.
        while open && pending.len() < MAX_BATCH_OPS {
            match rx.try_recv() {
                Ok((seq, ops)) => {
                    pending_seq = seq;
                    pending.extend(ops);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => open = false,
            }
        }
        match store.write(&pending).and_then(|()| store.sync()) {
            Ok(()) => {
                pending.clear();
                durable.inner.commits.fetch_add(1, Ordering::Relaxed);
                durable.advance(pending_seq);
            }
            Err(e) => {
                // The engine refuses every write after a failed one (its state on disk is
                // unknown), so the store stays failed until a restart replays the journal.
                // Durable never advances again: nothing submitted from here on is acknowledged.
                // Later submissions are read and dropped so no caller blocks on a full channel.
                durable.inner.failed.store(true, Ordering::Release);
                error!(error = %e, "store write failed; QoS 1/2 publishes are refused until restart");
                while rx.recv().is_ok() {}
                return;
            }
        }
    }
}
