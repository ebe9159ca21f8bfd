//! Sessions: the state that outlives a network connection (v5 §4.1) — subscriptions, the queue
//! of messages waiting for the client, QoS 1/2 messages in flight both ways.
//!
//! A session is shared (`Arc<Session>`) between the connection that owns it and every
//! publisher whose messages it receives. Publishers only ever push onto its queue under the
//! session's own mutex — there is no broker-wide lock on the publish path — and wake the owning
//! connection when the queue goes from empty to non-empty.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use lantern_codec::{PacketId, ProtocolVersion, QoS, SubscriptionOptions};
use parking_lot::{Mutex, MutexGuard};

use crate::auth::{Access, Acl, AclSubject};
use crate::message::Message;
use crate::persist::{Emitter, PersistDelivery, PersistEvent, PersistStage, WallClock};

/// Session expiry interval meaning "never expires" (v5 §3.1.2.11.2).
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// One client's session.
pub struct Session {
    id: u64,
    client_id: Arc<str>,
    /// How many subscriptions the session holds; read without the lock by the router to skip
    /// the overlap merge for the common case of one subscription.
    subscription_count: AtomicUsize,
    /// True while a connected client's queue is full and not yet drained to half: publishers
    /// of QoS 1/2 messages to it stop reading. Read without the lock by those publishers.
    congested: AtomicBool,
    state: Mutex<SessionState>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// The mutable part of a session.
pub(crate) struct SessionState {
    /// The connection currently attached, if any.
    pub(crate) owner: Option<Owner>,
    /// Bumped whenever a connection attaches: timers scheduled for an older generation
    /// (session expiry, delayed will) are stale.
    pub(crate) generation: u64,
    /// True once the session has ended; nothing may be queued on it any more.
    pub(crate) ended: bool,
    pub(crate) version: ProtocolVersion,
    /// Session Expiry Interval in seconds; `NEVER_EXPIRES` for 3.1.1 persistent sessions.
    pub(crate) expiry_interval: u32,
    /// Messages waiting to be sent, oldest first.
    pub(crate) queue: VecDeque<Delivery>,
    /// QoS 1/2 messages sent and not yet completely acknowledged, in send order.
    pub(crate) inflight: VecDeque<Inflight>,
    /// Packet identifiers of QoS 2 messages received and not yet released by PUBREL: a repeat
    /// PUBLISH with one of these ids is not routed again (exactly once, v5 §4.3.3 method B).
    pub(crate) incoming_qos2: HashSet<u16>,
    next_packet_id: u16,
    /// Subscriptions by raw filter, including any `$share/group/` prefix.
    pub(crate) subscriptions: HashMap<Box<str>, SubEntry>,
    /// Deliveries dropped by policy since the counts were last reported (taken by the
    /// connection at attach for the offline period, and at close).
    pub(crate) drops: DropCounts,
    /// The identity that created the session: its user name or certificate identity, `None`
    /// for anonymous clients. Another identity never resumes it.
    pub(crate) identity: Option<Arc<str>>,
    /// Since when a connected client's queue has been full (not yet drained to half).
    pub(crate) congested_since: Option<Instant>,
    /// Publishing connections holding back because this queue is full, woken when it drains
    /// or the client goes away. One entry per connection id; bounded by the connections.
    pub(crate) held_publishers: Vec<(u64, Waker)>,
    /// A will waiting for its delay while no connection is attached; published when the delay
    /// passes or the session ends, whichever comes first, and cancelled by a reconnection
    /// (v5 §3.1.3.2.2, [MQTT-3.1.3-9]).
    pub(crate) pending_will: Option<Arc<Message>>,
    /// Read access rules of the client, checked before each delivery.
    pub(crate) reader: Option<Reader>,
    /// The sequence number of the last delivery queued (per session, for the store).
    pub(crate) queue_seq: u64,
    /// Whether the store knows this session (it was upserted with an expiry, or restored).
    /// A session with expiry 0 ends with its connection: nothing about it is emitted unless
    /// the store knew it from before (it then learns the new expiry and the end).
    pub(crate) stored: bool,
    /// Where durable changes go; every change below that must outlive the process is made
    /// through a method that emits its event, under this state's lock.
    emitter: Arc<Emitter>,
    client_id: Arc<str>,
}

/// Who reads through a session, for the ACL check before each delivery.
pub(crate) struct Reader {
    pub(crate) acl: Arc<dyn Acl>,
    pub(crate) username: Option<Arc<str>>,
    pub(crate) client_id: Arc<str>,
}

/// The connection attached to a session.
pub(crate) struct Owner {
    pub(crate) conn_id: u64,
    pub(crate) waker: Waker,
}

/// What the topic tree stores per subscription.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct SubEntry {
    /// Options from SUBSCRIBE, with the QoS as granted.
    pub options: SubscriptionOptions,
    /// Subscription Identifier (v5).
    pub id: Option<NonZeroU32>,
}

/// A message on its way to one session.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The shared message.
    pub msg: Arc<Message>,
    /// QoS of this delivery: the minimum of the published and the granted QoS.
    pub qos: QoS,
    /// RETAIN flag of this delivery.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions.
    pub sub_ids: SubIds,
    /// Its sequence number in the session's queue (set when queued; 0 before).
    pub(crate) seq: u64,
    /// The global number of the event that queued it (0: none); it is not sent before that
    /// event is durable, so a subscriber never sees a message a crash could lose and its
    /// publisher would send again.
    pub(crate) event: u64,
}

/// Subscription identifiers of a delivery, without an allocation in the usual cases.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub enum SubIds {
    /// No identifier.
    #[default]
    None,
    /// One identifier.
    One(NonZeroU32),
    /// Several (overlapping subscriptions merged into one delivery).
    Many(Box<[NonZeroU32]>),
}

impl SubIds {
    /// The identifiers as a vector, for the PUBLISH properties.
    pub fn to_vec(&self) -> Vec<NonZeroU32> {
        match self {
            Self::None => Vec::new(),
            Self::One(id) => vec![*id],
            Self::Many(ids) => ids.to_vec(),
        }
    }
}

/// A QoS 1/2 message sent to the client and waiting for its acknowledgement.
#[derive(Clone, Debug)]
pub(crate) struct Inflight {
    pub(crate) packet_id: PacketId,
    pub(crate) delivery: Delivery,
    pub(crate) stage: InflightStage,
}

/// Where an outgoing QoS 1/2 flow is, named for the packet it waits for (STYLE.md idiom 7).
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum InflightStage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitPubComp,
}

impl InflightStage {
    pub(crate) fn persisted(self) -> PersistStage {
        match self {
            Self::AwaitPubAck => PersistStage::AwaitPubAck,
            Self::AwaitPubRec => PersistStage::AwaitPubRec,
            Self::AwaitPubComp => PersistStage::AwaitPubComp,
        }
    }
}

impl Delivery {
    /// The delivery as persistence events carry it.
    pub(crate) fn persisted(&self, clock: &WallClock) -> PersistDelivery {
        PersistDelivery {
            msg: self.msg.persisted(clock),
            qos: self.qos,
            retain: self.retain,
            sub_ids: self.sub_ids.to_vec(),
        }
    }
}

/// Deliveries dropped by policy, by reason: a QoS 1/2 message to a connected client is never
/// one of them (its publisher is held back instead).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct DropCounts {
    /// QoS 0 messages to a connected client whose queue was full.
    pub qos0_queue_full: u64,
    /// Messages to a session without a connection whose queue was full.
    pub offline_queue_full: u64,
    /// Retained messages beyond `max_retained_per_subscription` for a new subscription.
    pub retained_limit: u64,
    /// Queued or in-flight deliveries the client's ACL no longer allows, removed when a
    /// connection attached to the session.
    pub acl_revoked: u64,
    /// Deliveries larger than the client's Maximum Packet Size [MQTT-3.1.2-25].
    pub too_large: u64,
    /// Messages whose Message Expiry Interval passed while they waited.
    pub expired: u64,
}

impl DropCounts {
    /// All drops together.
    pub fn total(&self) -> u64 {
        self.qos0_queue_full
            + self.offline_queue_full
            + self.retained_limit
            + self.acl_revoked
            + self.too_large
            + self.expired
    }

    /// True when nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The counts by reason id, only the non-zero ones, in a fixed order.
    pub fn by_reason(&self) -> Vec<(&'static str, u64)> {
        [
            ("qos0_queue_full", self.qos0_queue_full),
            ("offline_queue_full", self.offline_queue_full),
            ("retained_limit", self.retained_limit),
            ("acl_revoked", self.acl_revoked),
            ("too_large", self.too_large),
            ("expired", self.expired),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }
}

/// Why a delivery was not queued.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PushOutcome {
    /// Queued (and the owner woken if needed).
    Queued,
    /// Queued beyond `max_queued_messages` for a connected client: a QoS 1/2 message is never
    /// dropped for it, so its publisher must hold back until the queue drains.
    QueuedCongested,
    /// QoS 0 message for a session with no connection: not kept (v5 §3.1.2.4 allows it).
    OfflineQos0,
    /// The queue is full; the message was dropped (and counted).
    QueueFull,
    /// The session has ended.
    Ended,
    /// The client's ACL does not let it read this topic.
    Denied,
}

impl Session {
    pub(crate) fn new(
        id: u64,
        client_id: Arc<str>,
        version: ProtocolVersion,
        expiry_interval: u32,
        owner: Option<Owner>,
        emitter: Arc<Emitter>,
    ) -> Self {
        Self {
            id,
            client_id: client_id.clone(),
            subscription_count: AtomicUsize::new(0),
            congested: AtomicBool::new(false),
            state: Mutex::new(SessionState {
                owner,
                generation: 0,
                ended: false,
                version,
                expiry_interval,
                queue: VecDeque::new(),
                inflight: VecDeque::new(),
                incoming_qos2: HashSet::new(),
                next_packet_id: 1,
                subscriptions: HashMap::new(),
                drops: DropCounts::default(),
                identity: None,
                congested_since: None,
                held_publishers: Vec::new(),
                pending_will: None,
                reader: None,
                queue_seq: 0,
                stored: false,
                emitter,
                client_id,
            }),
        }
    }

    /// The session's unique id inside this broker (not the client id, which can be reused).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client identifier.
    pub fn client_id(&self) -> &Arc<str> {
        &self.client_id
    }

    /// Whether a connection is attached.
    pub fn is_online(&self) -> bool {
        self.state.lock().owner.is_some()
    }

    /// Number of queued (not yet sent) messages.
    pub fn queued(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether the session holds a subscription with this raw filter.
    pub(crate) fn has_subscription(&self, raw_filter: &str) -> bool {
        self.state.lock().subscriptions.contains_key(raw_filter)
    }

    pub(crate) fn subscription_count(&self) -> usize {
        self.subscription_count.load(Ordering::Relaxed)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock()
    }

    /// Whether a connected client's queue is full: its QoS 1/2 publishers hold back.
    pub fn is_congested(&self) -> bool {
        self.congested.load(Ordering::Acquire)
    }

    /// Queues a delivery at `now`, bounded by `max_queued`, and wakes the owning connection
    /// when the queue was empty (a non-empty queue means a wake-up is already on its way).
    ///
    /// A full queue of a connected client drops QoS 0 and still queues QoS 1/2, returning
    /// [`PushOutcome::QueuedCongested`]: the caller holds its publisher back. A full queue of
    /// a session without a connection drops. Every drop is counted.
    pub(crate) fn push(&self, now: Instant, delivery: Delivery, max_queued: usize) -> PushOutcome {
        let mut st = self.state.lock();
        if st.ended {
            return PushOutcome::Ended;
        }
        if st.owner.is_none() && delivery.qos == QoS::AtMostOnce {
            return PushOutcome::OfflineQos0;
        }
        if !st.may_read(&delivery) {
            return PushOutcome::Denied;
        }
        let mut outcome = PushOutcome::Queued;
        if st.queue.len() >= max_queued {
            if st.owner.is_none() {
                st.drops.offline_queue_full += 1;
                return PushOutcome::QueueFull;
            }
            self.set_congested(&mut st, now);
            if delivery.qos == QoS::AtMostOnce {
                st.drops.qos0_queue_full += 1;
                return PushOutcome::QueueFull;
            }
            outcome = PushOutcome::QueuedCongested;
        }
        let was_empty = st.queue.is_empty();
        st.enqueue(delivery);
        if was_empty {
            if let Some(owner) = &st.owner {
                owner.waker.wake_by_ref();
            }
        }
        outcome
    }

    /// Queues a retained message for a new subscription: not bounded by `max_queued` (the
    /// retained store bounds it) and paced by the in-flight window like any delivery.
    pub(crate) fn push_retained(&self, delivery: Delivery) -> PushOutcome {
        let mut st = self.state.lock();
        if st.ended {
            return PushOutcome::Ended;
        }
        if !st.may_read(&delivery) {
            return PushOutcome::Denied;
        }
        let was_empty = st.queue.is_empty();
        st.enqueue(delivery);
        if was_empty {
            if let Some(owner) = &st.owner {
                owner.waker.wake_by_ref();
            }
        }
        PushOutcome::Queued
    }

    /// Registers a publishing connection to be woken when this queue is no longer congested.
    /// Returns false (and registers nothing) when it no longer is.
    pub(crate) fn hold_publisher(&self, conn_id: u64, waker: &Waker) -> bool {
        let mut st = self.state.lock();
        if !self.is_congested() {
            return false;
        }
        if !st.held_publishers.iter().any(|(id, _)| *id == conn_id) {
            st.held_publishers.push((conn_id, waker.clone()));
        }
        true
    }

    /// Forgets a held publisher that closed.
    pub(crate) fn release_publisher(&self, conn_id: u64) {
        self.state
            .lock()
            .held_publishers
            .retain(|(id, _)| *id != conn_id);
    }

    /// Marks the queue congested from `now` (if it was not) and wakes the owner, whose
    /// slow-subscriber deadline starts now.
    fn set_congested(&self, st: &mut SessionState, now: Instant) {
        if st.congested_since.is_none() {
            st.congested_since = Some(now);
            self.congested.store(true, Ordering::Release);
            if let Some(owner) = &st.owner {
                owner.waker.wake_by_ref();
            }
        }
    }

    /// Ends congestion (the queue drained to `low_water`, or the client went away) and wakes
    /// every held publisher.
    pub(crate) fn clear_congestion(&self, st: &mut SessionState) {
        if st.congested_since.take().is_some() || !st.held_publishers.is_empty() {
            self.congested.store(false, Ordering::Release);
            for (_, waker) in st.held_publishers.drain(..) {
                waker.wake();
            }
        }
    }

    /// Ends the session under its lock: nothing may be queued on it any more, its state is
    /// forgotten and the store told so. Returns the filters to remove from the topic tree and
    /// the pending will, which goes now.
    pub(crate) fn end(&self, st: &mut SessionState) -> (Vec<Box<str>>, Option<Arc<Message>>) {
        st.ended = true;
        let filters: Vec<Box<str>> = st.subscriptions.drain().map(|(f, _)| f).collect();
        st.queue.clear();
        st.inflight.clear();
        st.incoming_qos2.clear();
        let will = st.pending_will.take();
        st.emit_if_stored(|client_id| PersistEvent::SessionEnded { client_id });
        (filters, will)
    }

    pub(crate) fn set_subscription_count(&self, n: usize) {
        self.subscription_count.store(n, Ordering::Relaxed);
    }
}

impl SessionState {
    /// The next free packet identifier for an outgoing QoS 1/2 message, skipping ids still in
    /// flight [MQTT-2.2.1-3]. `None` when all 65 535 are in use.
    pub(crate) fn allocate_packet_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            let candidate = self.next_packet_id;
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            if let Some(id) = PacketId::new(candidate) {
                if !self.inflight.iter().any(|f| f.packet_id == id) {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Whether the reader's ACL lets it receive `delivery` (true without an ACL).
    pub(crate) fn may_read(&self, delivery: &Delivery) -> bool {
        let Some(reader) = &self.reader else {
            return true;
        };
        let subject = AclSubject {
            username: reader.username.as_deref(),
            client_id: &reader.client_id,
        };
        reader
            .acl
            .check(&subject, Access::Read, delivery.msg.topic.as_str())
            .allowed
    }

    /// [Issue 9] Checks every queued and in-flight delivery against the reader's ACL again
    /// (it may have changed, or the reader is someone else now): denied queued deliveries are
    /// removed, denied PUBLISH packets awaiting PUBACK/PUBREC are dropped and their packet ids
    /// released. A flow at the PUBREL stage carries no payload and stays. Counts the removals.
    pub(crate) fn recheck_read_access(&mut self) {
        if self.reader.is_none() {
            return;
        }
        let before = self.queue.len() + self.inflight.len();
        let queue = std::mem::take(&mut self.queue);
        let (queue, denied): (VecDeque<_>, VecDeque<_>) =
            queue.into_iter().partition(|d| self.may_read(d));
        self.queue = queue;
        for d in &denied {
            self.dequeued(d);
        }
        let inflight = std::mem::take(&mut self.inflight);
        let (inflight, denied): (VecDeque<_>, VecDeque<_>) = inflight
            .into_iter()
            .partition(|f| f.stage == InflightStage::AwaitPubComp || self.may_read(&f.delivery));
        self.inflight = inflight;
        for f in &denied {
            let packet_id = f.packet_id.get();
            self.emit(|client_id, _| PersistEvent::Acknowledged {
                client_id,
                packet_id,
            });
        }
        let removed = before - (self.queue.len() + self.inflight.len());
        self.drops.acl_revoked += removed as u64;
    }

    /// Emits the event `build` makes from the client id and the wall clock; returns its
    /// global sequence number (0 when nothing persists).
    pub(crate) fn emit(&self, build: impl FnOnce(Arc<str>, &WallClock) -> PersistEvent) -> u64 {
        if self.expiry_interval == 0 {
            return 0;
        }
        self.emitter
            .emit(|clock| build(self.client_id.clone(), clock))
    }

    /// Emits an event about the session itself (its expiry, its end) if the store knows it.
    fn emit_if_stored(&self, build: impl FnOnce(Arc<str>) -> PersistEvent) {
        if self.stored {
            self.emitter.emit(|_| build(self.client_id.clone()));
        }
    }

    /// Appends a delivery to the queue with the next sequence number; a QoS 1/2 one is
    /// durable (QoS 0 is never kept across a restart).
    pub(crate) fn enqueue(&mut self, mut delivery: Delivery) {
        self.queue_seq += 1;
        delivery.seq = self.queue_seq;
        if delivery.qos != QoS::AtMostOnce && self.emitter.enabled() {
            let seq = delivery.seq;
            delivery.event = self.emit(|client_id, clock| PersistEvent::Queued {
                client_id,
                seq,
                delivery: delivery.persisted(clock),
            });
        }
        self.queue.push_back(delivery);
    }

    /// The event the front of the queue waits for before it may be sent, if it is not
    /// durable yet.
    pub(crate) fn front_waits_for(&self) -> Option<u64> {
        self.queue
            .front()
            .filter(|d| !self.emitter.is_durable(d.event))
            .map(|d| d.event)
    }

    /// Says a delivery taken off the queue (sent, expired, dropped) is gone from it.
    pub(crate) fn dequeued(&self, delivery: &Delivery) {
        if delivery.qos != QoS::AtMostOnce {
            let seq = delivery.seq;
            self.emit(|client_id, _| PersistEvent::Dequeued { client_id, seq });
        }
    }

    /// Drops the queued QoS 0 deliveries (a session without a connection keeps none).
    pub(crate) fn drop_qos0(&mut self) {
        self.queue.retain(|d| d.qos != QoS::AtMostOnce);
    }

    /// Whether this session's changes are emitted (persistence on, expiry not 0).
    pub(crate) fn persists(&self) -> bool {
        self.emitter.enabled() && self.expiry_interval != 0
    }

    /// Whether event `event` is durable (0: no event, always).
    pub(crate) fn is_durable(&self, event: u64) -> bool {
        self.emitter.is_durable(event)
    }

    /// Starts an outgoing QoS 1/2 flow for a delivery taken off the queue; returns the number
    /// of its event (0: none). "Off the queue" and "in flight" are one unit for the store: cut
    /// between them by a crash, the message would be lost (neither) or sent twice (both).
    pub(crate) fn start_inflight(&mut self, packet_id: PacketId, mut delivery: Delivery) -> u64 {
        let stage = if delivery.qos == QoS::AtLeastOnce {
            InflightStage::AwaitPubAck
        } else {
            InflightStage::AwaitPubRec
        };
        let mut event = 0;
        if self.emitter.enabled() && self.expiry_interval != 0 {
            let pid = packet_id.get();
            let client_id = &self.client_id;
            let queued = delivery.seq;
            event = self.emitter.emit_unit(|clock| {
                vec![
                    PersistEvent::Dequeued {
                        client_id: client_id.clone(),
                        seq: queued,
                    },
                    PersistEvent::Inflight {
                        client_id: client_id.clone(),
                        packet_id: pid,
                        stage: stage.persisted(),
                        delivery: Some(delivery.persisted(clock)),
                    },
                ]
            });
        }
        // From now on the flow's own event is the one a (re-)send waits for.
        delivery.event = event;
        self.inflight.push_back(Inflight {
            packet_id,
            delivery,
            stage,
        });
        event
    }

    /// Ends the outgoing flow at index `i` (acknowledged, or refused by a PUBREC error).
    pub(crate) fn complete_inflight(&mut self, i: usize) {
        if let Some(f) = self.inflight.remove(i) {
            let packet_id = f.packet_id.get();
            self.emit(|client_id, _| PersistEvent::Acknowledged {
                client_id,
                packet_id,
            });
        }
    }

    /// PUBREC received for the flow at index `i`: it waits for PUBCOMP now.
    pub(crate) fn await_pubcomp(&mut self, i: usize) {
        if let Some(f) = self.inflight.get_mut(i) {
            f.stage = InflightStage::AwaitPubComp;
            let packet_id = f.packet_id.get();
            self.emit(|client_id, _| PersistEvent::Inflight {
                client_id,
                packet_id,
                stage: PersistStage::AwaitPubComp,
                delivery: None,
            });
        }
    }

    /// Remembers an incoming QoS 2 packet id until PUBREL (exactly once).
    pub(crate) fn store_incoming(&mut self, packet_id: u16) {
        if self.incoming_qos2.insert(packet_id) {
            self.incoming_stored(packet_id);
        }
    }

    /// Tells the store an incoming QoS 2 packet id is held. For a routed PUBLISH this comes
    /// after the routing's events: durable, it says they all are (the publisher gets PUBREC
    /// only then); not durable after a crash, the publisher re-sends and the message is routed
    /// again — a copy that was durable is then delivered twice, but none is lost.
    pub(crate) fn incoming_stored(&self, packet_id: u16) {
        self.emit(|client_id, _| PersistEvent::IncomingStored {
            client_id,
            packet_id,
        });
    }

    /// PUBREL: forgets an incoming QoS 2 packet id; false when it was not known.
    pub(crate) fn release_incoming(&mut self, packet_id: u16) -> bool {
        let found = self.incoming_qos2.remove(&packet_id);
        if found {
            self.emit(|client_id, _| PersistEvent::IncomingReleased {
                client_id,
                packet_id,
            });
        }
        found
    }

    /// A connection attached (new or resumed session) with this version and expiry.
    pub(crate) fn attached(&mut self, version: ProtocolVersion, expiry_interval: u32) {
        self.version = version;
        self.expiry_interval = expiry_interval;
        let identity = self.identity.clone();
        self.stored |= expiry_interval != 0;
        self.emit_if_stored(|client_id| PersistEvent::SessionUpserted {
            client_id,
            version,
            expiry_interval,
            identity,
        });
    }

    /// The Session Expiry Interval changed (DISCONNECT).
    pub(crate) fn set_expiry_interval(&mut self, expiry_interval: u32) {
        if self.expiry_interval != expiry_interval {
            self.expiry_interval = expiry_interval;
            self.emit_if_stored(|client_id| PersistEvent::SessionExpiryChanged {
                client_id,
                expiry_interval,
            });
        }
    }

    /// The connection went away: the session ends at `expires_at` (`None`: never).
    pub(crate) fn went_offline(&mut self, expires_at: Option<Instant>) {
        self.emit(|client_id, clock| PersistEvent::SessionOffline {
            client_id,
            expires_at: expires_at.map(|at| clock.to_wall(at)),
        });
    }

    /// A will waits for its delay, due at `due`.
    pub(crate) fn schedule_will(&mut self, will: Arc<Message>, due: Instant) {
        if self.emitter.enabled() {
            self.emit(|client_id, clock| PersistEvent::WillScheduled {
                client_id,
                msg: will.persisted(clock),
                due_at: clock.to_wall(due),
            });
        }
        self.pending_will = Some(will);
    }

    /// Takes the pending will (published, or cancelled by a reconnection).
    pub(crate) fn take_will(&mut self) -> Option<Arc<Message>> {
        let will = self.pending_will.take();
        if will.is_some() {
            self.emit(|client_id, _| PersistEvent::WillCancelled { client_id });
        }
        will
    }

    /// Adds or replaces a subscription; returns how many the session holds.
    pub(crate) fn add_subscription(&mut self, raw_filter: &str, entry: SubEntry) -> usize {
        self.subscriptions.insert(raw_filter.into(), entry);
        self.emit(|client_id, _| PersistEvent::SubscriptionAdded {
            client_id,
            filter: raw_filter.into(),
            options: entry.options,
            sub_id: entry.id,
        });
        self.subscriptions.len()
    }

    /// Removes a subscription; returns how many the session holds.
    pub(crate) fn remove_subscription(&mut self, raw_filter: &str) -> usize {
        if self.subscriptions.remove(raw_filter).is_some() {
            self.emit(|client_id, _| PersistEvent::SubscriptionRemoved {
                client_id,
                filter: raw_filter.into(),
            });
        }
        self.subscriptions.len()
    }

    /// Whether `conn_id` is the attached connection.
    pub(crate) fn is_owned_by(&self, conn_id: u64) -> bool {
        self.owner.as_ref().is_some_and(|o| o.conn_id == conn_id)
    }
}

/// A session as a key in the topic tree: compared by identity.
#[derive(Clone, Debug)]
pub(crate) struct SessionRef(pub(crate) Arc<Session>);

impl PartialEq for SessionRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for SessionRef {}

impl Hash for SessionRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}
