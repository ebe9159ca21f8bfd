//! The persistence seam: every change of broker state that must outlive the process leaves the
//! broker as one [`PersistEvent`], numbered by a global sequence, handed to a [`PersistSink`].
//!
//! The store (crate `lantern-store`) is one consumer; metrics and clustering can hang off the
//! same stream through [`FanOut`]. The broker never waits for a sink: `accept` must return at
//! once (push onto a channel, say). A sink tells the broker how far it is durable with
//! [`PersistSink::durable`]; a connection holds back a PUBACK, PUBREC, PUBCOMP or SUBACK whose
//! events are not yet durable (`durability = "sync"`), and asks to be woken when they are.
//!
//! Ordering: events are numbered and handed to the sink in one total order (one small mutex
//! around "take the next number, call `accept`"), so `accept` sees sequence numbers 1, 2, 3, …
//! without gaps. Events of one session are emitted while its lock is held, so they are in the
//! order the session changed. `durable() >= n` means every event numbered `n` or lower is
//! durable.
//!
//! Times that must survive a restart (message expiry, a session's expiry deadline, a will's
//! due time) are wall-clock unix milliseconds in events; the sans-IO core still runs on
//! [`Instant`]s given to it, and a [`WallClock`] maps one to the other.
//!
//! A [`Snapshot`] is the plain-data state those events describe: [`Snapshot::apply`] folds an
//! event into it, and [`crate::Broker::restore`] builds a broker from one.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lantern_codec::{MqttString, ProtocolVersion, QoS, SubscriptionOptions};
use parking_lot::{Condvar, Mutex};

use crate::message::PassThrough;

/// Unix time in milliseconds: how events carry wall-clock times.
pub type UnixMillis = u64;

/// A message as stored: the routed message with its expiry as wall-clock time. Shared by the
/// events of every session it was queued for.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PersistMessage {
    /// Topic name.
    pub topic: MqttString,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// The v5 properties passed through to subscribers.
    pub properties: Option<Box<PassThrough>>,
    /// When the message expires (Message Expiry Interval), if it does.
    pub expires_at: Option<UnixMillis>,
    /// The session id of the publisher (for No Local; 0 for wills and broker messages). Session
    /// ids are not stable across a restart: a restored message's origin is 0.
    pub origin: u64,
}

/// A delivery to one session as stored.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PersistDelivery {
    /// The message.
    pub msg: Arc<PersistMessage>,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN flag of this delivery.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions.
    pub sub_ids: Vec<NonZeroU32>,
}

/// Where an outgoing QoS 1/2 flow is.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PersistStage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitPubComp,
}

/// One durable change of broker state. Keyed by client id (sessions) or topic (retained); the
/// tenant is added by whoever consumes the event.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum PersistEvent {
    /// A session was created, or resumed by a connection (which may change its version and
    /// expiry interval). The session is connected: no expiry deadline runs.
    SessionUpserted {
        /// Client identifier.
        client_id: Arc<str>,
        /// Protocol version of the attached connection.
        version: ProtocolVersion,
        /// Session Expiry Interval in seconds (`u32::MAX`: never).
        expiry_interval: u32,
        /// The identity that owns the session (`None`: anonymous).
        identity: Option<Arc<str>>,
    },
    /// The connection of a session went away; the session lives until `expires_at`
    /// (`None`: never).
    SessionOffline {
        /// Client identifier.
        client_id: Arc<str>,
        /// When the session ends unless a connection resumes it.
        expires_at: Option<UnixMillis>,
    },
    /// The session's expiry interval changed (DISCONNECT with a Session Expiry Interval).
    SessionExpiryChanged {
        /// Client identifier.
        client_id: Arc<str>,
        /// The new interval in seconds.
        expiry_interval: u32,
    },
    /// The session ended (expired, replaced by a clean start, or expiry 0 at disconnect):
    /// forget everything about it.
    SessionEnded {
        /// Client identifier.
        client_id: Arc<str>,
    },
    /// A subscription was added or replaced.
    SubscriptionAdded {
        /// Client identifier.
        client_id: Arc<str>,
        /// The raw filter, including any `$share/group/` prefix.
        filter: Box<str>,
        /// Options, with the QoS as granted.
        options: SubscriptionOptions,
        /// Subscription Identifier (v5).
        sub_id: Option<NonZeroU32>,
    },
    /// A subscription was removed.
    SubscriptionRemoved {
        /// Client identifier.
        client_id: Arc<str>,
        /// The raw filter.
        filter: Box<str>,
    },
    /// A QoS 1/2 delivery was queued for the session (QoS 0 deliveries are not durable).
    Queued {
        /// Client identifier.
        client_id: Arc<str>,
        /// Per-session sequence number, increasing in queue order.
        seq: u64,
        /// The delivery.
        delivery: PersistDelivery,
    },
    /// A queued delivery left the queue: sent (its in-flight state follows), expired or dropped.
    Dequeued {
        /// Client identifier.
        client_id: Arc<str>,
        /// The sequence number it was queued with.
        seq: u64,
    },
    /// An outgoing QoS 1/2 flow started or moved on.
    Inflight {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: u16,
        /// The stage it is at now.
        stage: PersistStage,
        /// The delivery, for `AwaitPubAck` and `AwaitPubRec` (a PUBREL carries no message).
        delivery: Option<PersistDelivery>,
    },
    /// An outgoing QoS 1/2 flow completed (PUBACK, PUBCOMP, PUBREC with an error) or was
    /// dropped.
    Acknowledged {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: u16,
    },
    /// An incoming QoS 2 PUBLISH was accepted: a repeat of its packet id is not routed again
    /// until PUBREL releases it.
    IncomingStored {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: u16,
    },
    /// PUBREL released an incoming QoS 2 packet id.
    IncomingReleased {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: u16,
    },
    /// A retained message was set or replaced.
    RetainedSet {
        /// The message (its topic is the key).
        msg: Arc<PersistMessage>,
    },
    /// The retained message of a topic was removed (empty retained publish or expiry).
    RetainedRemoved {
        /// The topic.
        topic: Box<str>,
    },
    /// A will waits for its delay while the session has no connection.
    WillScheduled {
        /// Client identifier.
        client_id: Arc<str>,
        /// The will message.
        msg: Arc<PersistMessage>,
        /// When it is due.
        due_at: UnixMillis,
    },
    /// The pending will was cancelled (a connection resumed the session) or published.
    WillCancelled {
        /// Client identifier.
        client_id: Arc<str>,
    },
}

/// A consumer of the event stream.
pub trait PersistSink: Send + Sync {
    /// Whether this sink wants events at all. The broker builds no events when it does not.
    fn enabled(&self) -> bool {
        true
    }

    /// Takes event number `seq` (1, 2, 3, … without gaps). Must not block or do IO: it is
    /// called with broker locks held.
    fn accept(&self, seq: u64, event: &PersistEvent);

    /// Takes several consecutive events as ONE unit: they must become durable all together
    /// or not at all — a sink that writes in batches must not cut a batch inside them. The
    /// broker uses it for the routing of a QoS 2 PUBLISH together with its incoming packet id
    /// (exactly once across a crash needs both or neither). The default hands them to
    /// [`PersistSink::accept`] one by one, which is right only for a sink that makes each
    /// event durable on its own.
    fn accept_all(&self, events: &[(u64, PersistEvent)]) {
        for (seq, event) in events {
            self.accept(*seq, event);
        }
    }

    /// The highest sequence number such that it and every lower one are durable.
    fn durable(&self) -> u64;

    /// Wakes `waker` once `durable() >= seq` (at once if it already is). A sink may wake it
    /// early; the woken side checks `durable()` again.
    fn wake_when_durable(&self, seq: u64, waker: &Waker);

    /// False while the sink cannot make events durable (disk full, write errors): the broker
    /// then refuses new QoS 1/2 publishes rather than accept what it cannot keep.
    fn healthy(&self) -> bool {
        true
    }
}

/// The sink of a broker that persists nothing: every event is durable at once.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopSink;

impl PersistSink for NoopSink {
    fn enabled(&self) -> bool {
        false
    }

    fn accept(&self, _seq: u64, _event: &PersistEvent) {}

    fn durable(&self) -> u64 {
        u64::MAX
    }

    fn wake_when_durable(&self, _seq: u64, waker: &Waker) {
        waker.wake_by_ref();
    }
}

/// Several consumers of one stream: each takes every event; durable is the lowest of theirs.
pub struct FanOut {
    sinks: Vec<Arc<dyn PersistSink>>,
}

impl FanOut {
    /// Fans the stream out to `sinks`.
    pub fn new(sinks: Vec<Arc<dyn PersistSink>>) -> Self {
        Self { sinks }
    }
}

impl std::fmt::Debug for FanOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanOut")
            .field("sinks", &self.sinks.len())
            .finish()
    }
}

impl PersistSink for FanOut {
    fn enabled(&self) -> bool {
        self.sinks.iter().any(|s| s.enabled())
    }

    fn accept(&self, seq: u64, event: &PersistEvent) {
        for sink in &self.sinks {
            sink.accept(seq, event);
        }
    }

    fn accept_all(&self, events: &[(u64, PersistEvent)]) {
        for sink in &self.sinks {
            sink.accept_all(events);
        }
    }

    fn durable(&self) -> u64 {
        self.sinks
            .iter()
            .map(|s| s.durable())
            .min()
            .unwrap_or(u64::MAX)
    }

    fn healthy(&self) -> bool {
        self.sinks.iter().all(|s| s.healthy())
    }

    fn wake_when_durable(&self, seq: u64, waker: &Waker) {
        // Woken by whichever advances first; the woken side checks `durable()` again.
        for sink in &self.sinks {
            if sink.durable() < seq {
                sink.wake_when_durable(seq, waker);
                return;
            }
        }
        waker.wake_by_ref();
    }
}

/// A sink for tests: records every event; durability advances at once (`auto`) or by hand
/// with [`RecordingSink::set_durable`].
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<(u64, PersistEvent)>>,
    manual: bool,
    /// The units taken by `accept_all`, first and last sequence number: durability never
    /// stops inside one.
    units: Mutex<Vec<(u64, u64)>>,
    unhealthy: std::sync::atomic::AtomicBool,
    durable: AtomicU64,
    waiters: Mutex<Vec<(u64, Waker)>>,
}

impl RecordingSink {
    /// A recording sink where every event is durable as soon as it is accepted.
    pub fn auto() -> Self {
        Self::default()
    }

    /// A recording sink whose durable sequence moves only by [`RecordingSink::set_durable`].
    pub fn manual() -> Self {
        Self {
            manual: true,
            ..Self::default()
        }
    }

    /// The events so far, with their sequence numbers.
    pub fn events(&self) -> Vec<(u64, PersistEvent)> {
        self.events.lock().clone()
    }

    /// Takes the events so far.
    pub fn take(&self) -> Vec<(u64, PersistEvent)> {
        std::mem::take(&mut *self.events.lock())
    }

    /// The sequence number of the last accepted event (0: none).
    pub fn last_seq(&self) -> u64 {
        self.events.lock().last().map_or(0, |(s, _)| *s)
    }

    /// How many wakers wait for durability.
    pub fn waiters(&self) -> usize {
        self.waiters.lock().len()
    }

    /// Makes the sink report itself unhealthy (`false`) or healthy again.
    pub fn set_healthy(&self, healthy: bool) {
        self.unhealthy.store(!healthy, Ordering::Release);
    }

    /// Declares every event up to `seq` durable and wakes whoever waits for it. A `seq`
    /// inside a unit taken by `accept_all` stops before the unit (all or nothing).
    pub fn set_durable(&self, seq: u64) {
        let seq = self
            .units
            .lock()
            .iter()
            .find(|(first, last)| *first <= seq && seq < *last)
            .map_or(seq, |(first, _)| first - 1);
        self.durable.fetch_max(seq, Ordering::AcqRel);
        let now = self.durable.load(Ordering::Acquire);
        let ready: Vec<Waker> = {
            let mut waiters = self.waiters.lock();
            let (ready, wait): (Vec<_>, Vec<_>) = waiters.drain(..).partition(|(s, _)| *s <= now);
            *waiters = wait;
            ready.into_iter().map(|(_, w)| w).collect()
        };
        for w in ready {
            w.wake();
        }
    }
}

impl PersistSink for RecordingSink {
    fn accept(&self, seq: u64, event: &PersistEvent) {
        self.events.lock().push((seq, event.clone()));
        if !self.manual {
            self.set_durable(seq);
        }
    }

    fn accept_all(&self, events: &[(u64, PersistEvent)]) {
        if let (Some((first, _)), Some((last, _))) = (events.first(), events.last()) {
            self.units.lock().push((*first, *last));
        }
        self.events.lock().extend(events.iter().cloned());
        if !self.manual {
            self.set_durable(self.last_seq());
        }
    }

    fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    fn healthy(&self) -> bool {
        !self.unhealthy.load(Ordering::Acquire)
    }

    fn wake_when_durable(&self, seq: u64, waker: &Waker) {
        let mut waiters = self.waiters.lock();
        if self.durable() >= seq {
            drop(waiters);
            waker.wake_by_ref();
        } else {
            waiters.push((seq, waker.clone()));
        }
    }
}

/// Maps the broker's [`Instant`]s to wall-clock time: `instant` was `wall` unix milliseconds.
/// Tests on a simulated clock pick both; a real broker takes `Instant::now()` and
/// `SystemTime::now()` at start.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct WallClock {
    /// The reference instant.
    pub instant: Instant,
    /// Unix milliseconds at `instant`.
    pub wall: UnixMillis,
}

impl WallClock {
    /// The mapping at this moment.
    pub fn now() -> Self {
        Self::at(Instant::now(), SystemTime::now())
    }

    /// `instant` happened at `wall`.
    pub fn at(instant: Instant, wall: SystemTime) -> Self {
        let wall = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self { instant, wall }
    }

    /// Unix milliseconds at `t`.
    pub fn to_wall(&self, t: Instant) -> UnixMillis {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if t >= self.instant {
            self.wall.saturating_add(ms(t - self.instant))
        } else {
            self.wall.saturating_sub(ms(self.instant - t))
        }
    }

    /// The instant of unix milliseconds `wall` (clamped to the reference instant when it lies
    /// too far in the past to be an `Instant`).
    pub fn to_instant(&self, wall: UnixMillis) -> Instant {
        if wall >= self.wall {
            let ahead = Duration::from_millis(wall - self.wall);
            self.instant
                .checked_add(ahead)
                .unwrap_or(self.instant + Duration::from_secs(u64::from(u32::MAX)))
        } else {
            let behind = Duration::from_millis(self.wall - wall);
            self.instant.checked_sub(behind).unwrap_or(self.instant)
        }
    }
}

/// The plain-data state of a broker (one tenant) that survives a restart.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Snapshot {
    /// Sessions by client id.
    pub sessions: BTreeMap<Arc<str>, SessionSnapshot>,
    /// Retained messages by topic.
    pub retained: BTreeMap<Box<str>, Arc<PersistMessage>>,
}

/// One session's durable state.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SessionSnapshot {
    /// Protocol version of the last connection.
    pub version: ProtocolVersion,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    pub expiry_interval: u32,
    /// The identity that owns it.
    pub identity: Option<Arc<str>>,
    /// When it ends, if it was offline; `None` while a connection was attached (the restore
    /// counts the expiry interval from the restore time) or when it never expires.
    pub expires_at: Option<UnixMillis>,
    /// Subscriptions by raw filter.
    pub subscriptions: BTreeMap<Box<str>, (SubscriptionOptions, Option<NonZeroU32>)>,
    /// Queued deliveries by per-session sequence number.
    pub queue: BTreeMap<u64, PersistDelivery>,
    /// Outgoing QoS 1/2 flows by packet id, with the order they started in.
    pub inflight: BTreeMap<u16, InflightSnapshot>,
    /// Incoming QoS 2 packet ids not yet released.
    pub incoming_qos2: BTreeSet<u16>,
    /// A will waiting for its delay, and when it is due.
    pub will: Option<(Arc<PersistMessage>, UnixMillis)>,
}

/// One outgoing QoS 1/2 flow.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct InflightSnapshot {
    /// Order the flows started in (the global event sequence number of its start).
    pub order: u64,
    /// Stage.
    pub stage: PersistStage,
    /// The delivery (`None` only at `AwaitPubComp`, where it may be dropped).
    pub delivery: Option<PersistDelivery>,
}

impl SessionSnapshot {
    fn new(version: ProtocolVersion, expiry_interval: u32, identity: Option<Arc<str>>) -> Self {
        Self {
            version,
            expiry_interval,
            identity,
            expires_at: None,
            subscriptions: BTreeMap::new(),
            queue: BTreeMap::new(),
            inflight: BTreeMap::new(),
            incoming_qos2: BTreeSet::new(),
            will: None,
        }
    }
}

impl Snapshot {
    /// Folds event number `seq` into the state. Events about a session that does not exist
    /// (it ended) are ignored.
    pub fn apply(&mut self, seq: u64, event: &PersistEvent) {
        match event {
            PersistEvent::SessionUpserted {
                client_id,
                version,
                expiry_interval,
                identity,
            } => {
                let s = self.sessions.entry(client_id.clone()).or_insert_with(|| {
                    SessionSnapshot::new(*version, *expiry_interval, identity.clone())
                });
                s.version = *version;
                s.expiry_interval = *expiry_interval;
                s.identity = identity.clone();
                s.expires_at = None;
                s.will = None;
            }
            PersistEvent::SessionOffline {
                client_id,
                expires_at,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.expires_at = *expires_at;
                }
            }
            PersistEvent::SessionExpiryChanged {
                client_id,
                expiry_interval,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.expiry_interval = *expiry_interval;
                }
            }
            PersistEvent::SessionEnded { client_id } => {
                self.sessions.remove(client_id);
            }
            PersistEvent::SubscriptionAdded {
                client_id,
                filter,
                options,
                sub_id,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.subscriptions.insert(filter.clone(), (*options, *sub_id));
                }
            }
            PersistEvent::SubscriptionRemoved { client_id, filter } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.subscriptions.remove(filter);
                }
            }
            PersistEvent::Queued {
                client_id,
                seq,
                delivery,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.queue.insert(*seq, delivery.clone());
                }
            }
            PersistEvent::Dequeued { client_id, seq } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.queue.remove(seq);
                }
            }
            PersistEvent::Inflight {
                client_id,
                packet_id,
                stage,
                delivery,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    let entry = s
                        .inflight
                        .entry(*packet_id)
                        .or_insert_with(|| InflightSnapshot {
                            order: seq,
                            stage: *stage,
                            delivery: None,
                        });
                    entry.stage = *stage;
                    if delivery.is_some() {
                        entry.delivery = delivery.clone();
                    }
                }
            }
            PersistEvent::Acknowledged {
                client_id,
                packet_id,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.inflight.remove(packet_id);
                }
            }
            PersistEvent::IncomingStored {
                client_id,
                packet_id,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.incoming_qos2.insert(*packet_id);
                }
            }
            PersistEvent::IncomingReleased {
                client_id,
                packet_id,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.incoming_qos2.remove(packet_id);
                }
            }
            PersistEvent::RetainedSet { msg } => {
                self.retained.insert(msg.topic.as_str().into(), msg.clone());
            }
            PersistEvent::RetainedRemoved { topic } => {
                self.retained.remove(topic);
            }
            PersistEvent::WillScheduled {
                client_id,
                msg,
                due_at,
            } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.will = Some((msg.clone(), *due_at));
                }
            }
            PersistEvent::WillCancelled { client_id } => {
                if let Some(s) = self.sessions.get_mut(client_id) {
                    s.will = None;
                }
            }
        }
    }
}

/// The broker's end of the seam: numbers events and hands them to the sink in that order.
pub(crate) struct Emitter {
    sink: Arc<dyn PersistSink>,
    enabled: bool,
    clock: WallClock,
    /// Numbering and hand-over; held while the sink takes an event, so the sink sees the
    /// numbers in order.
    state: Mutex<EmitState>,
    /// Signalled when the last open group closes.
    groups_closed: Condvar,
}

/// The numbering state of the seam.
#[derive(Default)]
struct EmitState {
    /// The last sequence number handed out.
    seq: u64,
    /// Groups open (see [`Emitter::begin_group`]).
    open_groups: usize,
    /// Events numbered while a group was open, not yet handed to the sink.
    held: Vec<(u64, PersistEvent)>,
    /// Wakers waiting for held events, handed to the sink with them.
    waiters: Vec<(u64, Waker)>,
}

impl Emitter {
    pub(crate) fn new(sink: Arc<dyn PersistSink>, clock: WallClock) -> Self {
        Self {
            enabled: sink.enabled(),
            sink,
            clock,
            state: Mutex::new(EmitState::default()),
            groups_closed: Condvar::new(),
        }
    }

    /// Opens a group: the events emitted until [`Emitter::end_group`] reach the sink all
    /// together or not at all, so a crash never leaves part of them durable (the routing of a
    /// QoS 2 PUBLISH and its incoming packet id: exactly once needs both or neither). While a
    /// group is open, every event (of any thread) is held back and handed over, in order, when
    /// the last open group closes. A new group waits while held events wait for open ones, so
    /// overlapping groups cannot hold events back forever. Call it with no lock held.
    pub(crate) fn begin_group(&self) {
        if !self.enabled {
            return;
        }
        let mut st = self.state.lock();
        while st.open_groups > 0 && !st.held.is_empty() {
            self.groups_closed.wait(&mut st);
        }
        st.open_groups += 1;
    }

    /// Closes a group opened by [`Emitter::begin_group`].
    pub(crate) fn end_group(&self) {
        if !self.enabled {
            return;
        }
        let mut st = self.state.lock();
        st.open_groups = st.open_groups.saturating_sub(1);
        if st.open_groups == 0 {
            let held = std::mem::take(&mut st.held);
            if !held.is_empty() {
                self.sink.accept_all(&held);
            }
            for (seq, waker) in std::mem::take(&mut st.waiters) {
                self.sink.wake_when_durable(seq, &waker);
            }
            self.groups_closed.notify_all();
        }
    }

    /// Whether events are wanted; when not, callers skip building them.
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(crate) fn clock(&self) -> &WallClock {
        &self.clock
    }

    /// Emits the event `build` makes and returns its sequence number (0 when disabled: then
    /// nothing is built and everything counts as durable).
    pub(crate) fn emit(&self, build: impl FnOnce(&WallClock) -> PersistEvent) -> u64 {
        if !self.enabled {
            return 0;
        }
        let event = build(&self.clock);
        let mut st = self.state.lock();
        st.seq += 1;
        let seq = st.seq;
        if st.open_groups > 0 {
            st.held.push((seq, event));
        } else {
            self.sink.accept(seq, &event);
        }
        seq
    }

    /// Emits the events `build` makes as one unit (durable all or nothing, see
    /// [`PersistSink::accept_all`]) and returns the number of the last (0 when disabled).
    /// Never blocks: fine under a session lock.
    pub(crate) fn emit_unit(&self, build: impl FnOnce(&WallClock) -> Vec<PersistEvent>) -> u64 {
        if !self.enabled {
            return 0;
        }
        let events = build(&self.clock);
        let mut st = self.state.lock();
        let numbered: Vec<(u64, PersistEvent)> = events
            .into_iter()
            .map(|e| {
                st.seq += 1;
                (st.seq, e)
            })
            .collect();
        let seq = st.seq;
        if st.open_groups > 0 {
            // Handed over with the open group's events: one unit with them.
            st.held.extend(numbered);
        } else if !numbered.is_empty() {
            self.sink.accept_all(&numbered);
        }
        seq
    }

    /// The sequence number of the last event emitted.
    pub(crate) fn last(&self) -> u64 {
        self.state.lock().seq
    }

    /// Whether event `seq` is durable.
    pub(crate) fn is_durable(&self, seq: u64) -> bool {
        seq == 0 || self.sink.durable() >= seq
    }

    /// Whether the sink can make events durable (always, without persistence).
    pub(crate) fn healthy(&self) -> bool {
        !self.enabled || self.sink.healthy()
    }

    /// Wakes `waker` once event `seq` is durable.
    pub(crate) fn wake_when_durable(&self, seq: u64, waker: &Waker) {
        let mut st = self.state.lock();
        if st.held.first().is_some_and(|(first, _)| seq >= *first) {
            // The sink has not seen it yet: asked when it does.
            st.waiters.push((seq, waker.clone()));
            return;
        }
        drop(st);
        self.sink.wake_when_durable(seq, waker);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicBool;
    use std::task::Wake;

    use super::*;

    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn ended(id: &str) -> PersistEvent {
        PersistEvent::SessionEnded {
            client_id: id.into(),
        }
    }

    #[test]
    fn fan_out_is_as_durable_as_its_slowest_sink_and_wakes_when_it_catches_up() {
        let fast = Arc::new(RecordingSink::auto());
        let slow = Arc::new(RecordingSink::manual());
        let fan = FanOut::new(vec![fast.clone(), slow.clone()]);
        fan.accept(1, &ended("a"));
        fan.accept(2, &ended("b"));
        assert_eq!(fast.events().len(), 2);
        assert_eq!(slow.events().len(), 2);
        assert_eq!(fan.durable(), 0);
        let flag = Arc::new(Flag::default());
        fan.wake_when_durable(2, &Waker::from(flag.clone()));
        assert!(!flag.0.load(Ordering::SeqCst));
        slow.set_durable(1);
        assert!(!flag.0.load(Ordering::SeqCst), "1 is not 2");
        slow.set_durable(2);
        assert!(flag.0.load(Ordering::SeqCst));
        assert_eq!(fan.durable(), 2);
        assert!(fan.healthy());
        slow.set_healthy(false);
        assert!(!fan.healthy());
        assert_eq!(FanOut::new(Vec::new()).durable(), u64::MAX);
    }

    #[test]
    fn emitter_numbers_events_without_gaps_and_builds_nothing_when_disabled() {
        let sink = Arc::new(RecordingSink::auto());
        let emitter = Emitter::new(sink.clone(), WallClock::now());
        assert_eq!(emitter.emit(|_| ended("a")), 1);
        assert_eq!(emitter.emit(|_| ended("b")), 2);
        assert_eq!(emitter.last(), 2);
        let seqs: Vec<u64> = sink.events().iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2]);
        let noop = Emitter::new(Arc::new(NoopSink), WallClock::now());
        assert_eq!(
            noop.emit(|_| unreachable!("no event is built without persistence")),
            0
        );
        assert!(noop.is_durable(0) && noop.is_durable(u64::MAX) && noop.healthy());
    }

    #[test]
    fn wall_clock_maps_both_ways() {
        let t0 = Instant::now();
        let clock = WallClock::at(t0, UNIX_EPOCH + Duration::from_millis(5_000_000));
        assert_eq!(clock.to_wall(t0), 5_000_000);
        assert_eq!(clock.to_wall(t0 + Duration::from_millis(1_500)), 5_001_500);
        assert_eq!(clock.to_instant(5_002_000), t0 + Duration::from_secs(2));
        // Earlier than `t0`: before it, or clamped to it when no `Instant` is that old.
        assert!(clock.to_instant(4_999_000) <= t0);
        assert!(clock.to_instant(0) <= t0);
    }

    #[test]
    fn snapshot_ignores_events_of_sessions_that_do_not_exist() {
        let mut snap = Snapshot::default();
        snap.apply(
            1,
            &PersistEvent::IncomingStored {
                client_id: "ghost".into(),
                packet_id: 3,
            },
        );
        snap.apply(2, &ended("ghost"));
        assert_eq!(snap, Snapshot::default());
    }
}
