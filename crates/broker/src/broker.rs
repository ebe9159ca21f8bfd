//! The broker: the session registry, the subscription tree, retained messages, and the timers
//! for delayed wills and session expiry. Connections ([`crate::Connection`]) call into it; it
//! never touches a socket and takes the time as an argument.
//!
//! Lock order, to stay deadlock-free: `sessions` (registry) → one `Session` → `subscriptions` /
//! `retained` → `timers`, and no session lock is ever held while taking the tree's lock. The
//! publish path takes the tree's read lock and, inside it, one session mutex at a time.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lantern_codec::{MqttString, PublishProperties, QoS, RetainHandling};
use parking_lot::{Mutex, RwLock};

use crate::config::{BrokerConfig, OtherIdentity};
use crate::message::Message;
use crate::persist::{
    Emitter, NoopSink, PersistDelivery, PersistEvent, PersistSink, PersistStage, SessionSnapshot,
    Snapshot, UnixMillis, WallClock,
};
use crate::retained::RetainedIndex;
use crate::session::{
    Delivery, DropCounts, Inflight, InflightStage, Owner, PushOutcome, Reader, Session, SessionRef,
    SubEntry, SubIds, NEVER_EXPIRES,
};
use crate::topic::Filter;
use crate::tree::TopicTree;

/// The broker engine, shared by all connections (`Arc<Broker>`).
pub struct Broker {
    config: BrokerConfig,
    sessions: Mutex<HashMap<Arc<str>, Arc<Session>>>,
    subscriptions: RwLock<TopicTree<SessionRef, SubEntry>>,
    retained: RwLock<RetainedIndex<Arc<Message>>>,
    timers: Mutex<BTreeMap<(Instant, u64), Timer>>,
    next_id: AtomicU64,
    /// Where durable changes go (the persistence seam, see [`crate::persist`]).
    emitter: Arc<Emitter>,
    /// When expired retained messages were last swept out.
    last_sweep: Mutex<Option<Instant>>,
}

/// How often `tick` drops expired retained messages (they are never delivered once expired;
/// the sweep only returns their memory).
const RETAINED_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Something the broker must do at a given time.
enum Timer {
    /// End the session unless a connection attached since (generation changed).
    SessionExpiry {
        session: Arc<Session>,
        generation: u64,
    },
    /// Publish the session's pending will unless a connection attached since [MQTT-3.1.3-9].
    Will {
        session: Arc<Session>,
        generation: u64,
    },
}

/// The result of attaching a connection to a session at CONNECT.
pub(crate) struct Attached {
    pub(crate) session: Arc<Session>,
    pub(crate) session_present: bool,
    /// What was dropped for the resumed session while no connection was attached, including
    /// deliveries the ACL check at this attach removed.
    pub(crate) offline_drops: DropCounts,
    /// A session of another identity with this client id was ended (`other_identity =
    /// "new-session"`); its identity, for the story.
    pub(crate) replaced_identity: Option<Option<Arc<str>>>,
}

/// Why `attach` refused: the client id belongs to a session of another identity and the
/// policy is `refuse`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) struct OwnedByOther {
    /// The identity that owns the session (`None`: anonymous).
    pub(crate) owner: Option<Arc<str>>,
}

/// Who is attaching to a session, as CONNECT and authentication said.
pub(crate) struct AttachRequest<'a> {
    pub(crate) client_id: &'a Arc<str>,
    pub(crate) clean_start: bool,
    pub(crate) expiry_interval: u32,
    pub(crate) version: lantern_codec::ProtocolVersion,
    pub(crate) owner: Owner,
    pub(crate) reader: Option<Reader>,
    /// The authenticated identity (user name or certificate identity; `None`: anonymous).
    pub(crate) identity: Option<Arc<str>>,
}

thread_local! {
    /// Scratch space for the overlapping-subscription merge, reused across publishes so the
    /// publish path does not allocate.
    static OVERLAPS: RefCell<Vec<(SessionRef, SubEntry)>> = const { RefCell::new(Vec::new()) };
}

impl Broker {
    /// A broker with the given limits whose state lives only in memory.
    pub fn new(config: BrokerConfig) -> Arc<Self> {
        Self::with_sink(config, Arc::new(NoopSink), WallClock::now())
    }

    /// A broker with the given limits that hands every durable change to `sink`, with
    /// wall-clock times mapped from its `Instant`s by `clock`.
    pub fn with_sink(
        config: BrokerConfig,
        sink: Arc<dyn PersistSink>,
        clock: WallClock,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            sessions: Mutex::new(HashMap::new()),
            subscriptions: RwLock::new(TopicTree::default()),
            retained: RwLock::new(RetainedIndex::default()),
            timers: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            emitter: Arc::new(Emitter::new(sink, clock)),
            last_sweep: Mutex::new(None),
        })
    }

    pub(crate) fn emitter(&self) -> &Arc<Emitter> {
        &self.emitter
    }

    /// A broker rebuilt at `now` from the state a store saved: sessions (without a connection,
    /// with their subscriptions in the tree, queues, in-flight flows both ways, expiry timers
    /// and pending wills) and retained messages. Wall-clock times are mapped by `clock`.
    ///
    /// What expired while the broker was down is dropped, and `sink` told so: a session whose
    /// expiry passed ends (its will goes), as do expired messages; a will whose delay passed
    /// is published now. A session a connection held when the broker stopped counts its
    /// expiry interval from `now`. A client resuming a restored session gets Session Present.
    pub fn restore(
        config: BrokerConfig,
        sink: Arc<dyn PersistSink>,
        clock: WallClock,
        now: Instant,
        snapshot: Snapshot,
    ) -> Arc<Self> {
        let broker = Self::with_sink(config, sink, clock);
        let wall_now = clock.to_wall(now);
        {
            let mut retained = broker.retained.write();
            for (topic, stored) in snapshot.retained {
                if stored.expires_at.is_some_and(|at| at <= wall_now) {
                    broker
                        .emitter
                        .emit(|_| PersistEvent::RetainedRemoved { topic });
                    continue;
                }
                retained.set(&topic, Message::from_persisted(&stored, &clock));
            }
        }
        let mut wills = Vec::new();
        for (client_id, saved) in snapshot.sessions {
            if let Some(will) = broker.restore_session(now, wall_now, client_id, saved) {
                wills.push(will);
            }
        }
        // Wills go once every session is back, so restored subscribers receive them.
        for will in wills {
            broker.publish(now, &will);
        }
        broker
    }

    /// Rebuilds one saved session; returns a will to publish now (the session expired while
    /// the broker was down, or the will's delay passed).
    fn restore_session(
        &self,
        now: Instant,
        wall_now: UnixMillis,
        client_id: Arc<str>,
        saved: SessionSnapshot,
    ) -> Option<Arc<Message>> {
        let clock = *self.emitter.clock();
        let will = saved
            .will
            .as_ref()
            .map(|(msg, due)| (Message::from_persisted(msg, &clock), *due));
        // Held by a connection when the broker stopped: it went away now.
        let expires_at = match saved.expires_at {
            Some(at) => Some(clock.to_instant(at)),
            None if saved.expiry_interval == NEVER_EXPIRES => None,
            None => Some(now + Duration::from_secs(u64::from(saved.expiry_interval))),
        };
        let session = Arc::new(Session::new(
            self.next_id(),
            client_id.clone(),
            saved.version,
            saved.expiry_interval,
            None,
            self.emitter.clone(),
        ));
        let mut st = session.lock();
        st.identity = saved.identity;
        st.stored = true;
        if saved.expiry_interval == 0 || expires_at.is_some_and(|at| at <= now) {
            // Expired while down: gone, and its will goes now [MQTT-3.1.3-9].
            st.pending_will = will.map(|(w, _)| w);
            let (_, will) = session.end(&mut st);
            return will;
        }
        if saved.expires_at.is_none() {
            st.went_offline(expires_at);
        }
        let key = SessionRef(session.clone());
        {
            let mut tree = self.subscriptions.write();
            for (raw, (options, id)) in &saved.subscriptions {
                if let Ok(filter) = crate::topic::parse_filter(raw) {
                    tree.subscribe(
                        &filter,
                        key.clone(),
                        SubEntry {
                            options: *options,
                            id: *id,
                        },
                    );
                    st.subscriptions.insert(
                        raw.clone(),
                        SubEntry {
                            options: *options,
                            id: *id,
                        },
                    );
                }
            }
        }
        session.set_subscription_count(st.subscriptions.len());
        for (seq, saved) in saved.queue {
            let delivery = restored_delivery(&saved, &clock, seq);
            if delivery.msg.is_expired(now) {
                st.drops.expired += 1;
                st.dequeued(&delivery);
                continue;
            }
            st.queue.push_back(delivery);
            st.queue_seq = st.queue_seq.max(seq);
        }
        let mut flows: Vec<_> = saved.inflight.into_iter().collect();
        flows.sort_by_key(|(_, f)| f.order);
        for (packet_id, flow) in flows {
            let Some(packet_id) = lantern_codec::PacketId::new(packet_id) else {
                continue;
            };
            let stage = match flow.stage {
                PersistStage::AwaitPubAck => InflightStage::AwaitPubAck,
                PersistStage::AwaitPubRec => InflightStage::AwaitPubRec,
                PersistStage::AwaitPubComp => InflightStage::AwaitPubComp,
            };
            let delivery = match &flow.delivery {
                Some(saved) => restored_delivery(saved, &clock, 0),
                // A PUBREL-stage flow needs no message: only its packet id is sent again.
                None if stage == InflightStage::AwaitPubComp => Delivery {
                    msg: Message::new(
                        MqttString::default(),
                        Bytes::new(),
                        QoS::ExactlyOnce,
                        false,
                        PublishProperties::default(),
                        now,
                        0,
                    ),
                    qos: QoS::ExactlyOnce,
                    retain: false,
                    sub_ids: SubIds::None,
                    seq: 0,
                    event: 0,
                },
                None => continue,
            };
            st.inflight.push_back(Inflight {
                packet_id,
                delivery,
                stage,
            });
        }
        st.incoming_qos2 = saved.incoming_qos2.into_iter().collect();
        let mut publish_now = None;
        if let Some((will, due)) = will {
            st.pending_will = Some(will);
            if due <= wall_now {
                publish_now = st.take_will();
            } else {
                drop(st);
                self.schedule(
                    clock.to_instant(due),
                    Timer::Will {
                        session: session.clone(),
                        generation: 0,
                    },
                );
                st = session.lock();
            }
        }
        drop(st);
        if let Some(at) = expires_at {
            self.schedule(
                at,
                Timer::SessionExpiry {
                    session: session.clone(),
                    generation: 0,
                },
            );
        }
        self.sessions.lock().insert(client_id, session);
        publish_now
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// A fresh id for a connection or a session (never 0, which marks broker messages).
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Number of sessions, connected or not.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.retained.read().len()
    }

    /// Number of subscriptions across all sessions.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.read().len()
    }

    /// The session of a client id, if one exists.
    pub fn session(&self, client_id: &str) -> Option<Arc<Session>> {
        self.sessions.lock().get(client_id).cloned()
    }

    /// Attaches a connection to the session of `client_id`, creating it or ending the old one
    /// as Clean Start asks (v5 §3.1.2.4). A connection already attached is woken; it notices
    /// it lost the session and closes (session taken over, [MQTT-3.1.4-3]).
    ///
    /// A session belongs to the identity that created it: another identity gets a fresh
    /// session or is refused, as `other_identity` says (issue 9). A resumed session's queued
    /// and in-flight deliveries are checked against the reader's ACL again.
    pub(crate) fn attach(
        &self,
        now: Instant,
        req: AttachRequest<'_>,
    ) -> Result<Attached, OwnedByOther> {
        let client_id = req.client_id;
        let mut sessions = self.sessions.lock();
        let mut ended_will = None;
        let mut replaced_identity = None;
        if let Some(existing) = sessions.get(client_id).cloned() {
            let mut st = existing.lock();
            let other = !st.ended && st.identity != req.identity;
            if other && self.config.other_identity == OtherIdentity::Refuse {
                return Err(OwnedByOther {
                    owner: st.identity.clone(),
                });
            }
            if let Some(old) = st.owner.take() {
                old.waker.wake_by_ref();
            }
            existing.clear_congestion(&mut st);
            if !req.clean_start && !st.ended && !other {
                st.owner = Some(req.owner);
                st.reader = req.reader;
                st.generation += 1;
                // [MQTT-3.1.3-9] A reconnection before the will delay passed cancels the will.
                st.take_will();
                st.attached(req.version, req.expiry_interval);
                // The ACL may have changed (SIGHUP) since these were queued.
                st.recheck_read_access();
                let offline_drops = std::mem::take(&mut st.drops);
                drop(st);
                return Ok(Attached {
                    session: existing,
                    session_present: true,
                    offline_drops,
                    replaced_identity: None,
                });
            }
            if other {
                replaced_identity = Some(st.identity.clone());
            }
            // The session ends before the will delay passed: the will goes now.
            let (filters, will) = existing.end(&mut st);
            drop(st);
            self.unsubscribe_all(&existing, &filters);
            if let Some(will) = will {
                ended_will = Some(will);
            }
        }
        let session = Arc::new(Session::new(
            self.next_id(),
            client_id.clone(),
            req.version,
            req.expiry_interval,
            Some(req.owner),
            self.emitter.clone(),
        ));
        {
            let mut st = session.lock();
            st.reader = req.reader;
            st.identity = req.identity;
            st.attached(req.version, req.expiry_interval);
        }
        sessions.insert(client_id.clone(), session.clone());
        drop(sessions);
        if let Some(will) = ended_will {
            self.publish(now, &will);
        }
        Ok(Attached {
            session,
            session_present: false,
            offline_drops: DropCounts::default(),
            replaced_identity,
        })
    }

    /// Detaches connection `conn_id` from its session when it closes: the session ends now
    /// (expiry 0) or at its expiry; the will is published now, after its delay, or at the end of
    /// the session, whichever comes first (v5 §3.1.2.5, §3.1.3.2.2).
    pub(crate) fn detach(
        &self,
        now: Instant,
        session: &Arc<Session>,
        conn_id: u64,
        will: Option<(Arc<Message>, u32)>,
    ) {
        let mut st = session.lock();
        if !st.is_owned_by(conn_id) {
            // Taken over: the new connection owns the session. A will without delay is
            // published; a delayed one is cancelled by that reconnection [MQTT-3.1.3-9],
            // unless the new connection ended the session with a clean start.
            let ended = st.ended;
            drop(st);
            if let Some((will, delay)) = will {
                if delay == 0 || ended {
                    self.publish(now, &will);
                }
            }
            return;
        }
        st.owner = None;
        // Publishers held back by this client's full queue go on: what it cannot take now
        // is counted as dropped while it is away.
        session.clear_congestion(&mut st);
        // QoS 0 messages are not kept for a session without a connection.
        st.drop_qos0();
        let expiry = st.expiry_interval;
        let generation = st.generation;
        if expiry == 0 {
            let (filters, _) = session.end(&mut st);
            drop(st);
            self.remove_session(session);
            self.unsubscribe_all(session, &filters);
            if let Some((will, _)) = will {
                self.publish(now, &will);
            }
            return;
        }
        let mut publish_now = None;
        if let Some((will, delay)) = will {
            if delay == 0 {
                publish_now = Some(will);
            } else {
                let at = now + Duration::from_secs(u64::from(delay.min(expiry)));
                st.schedule_will(will, at);
                drop(st);
                self.schedule(
                    at,
                    Timer::Will {
                        session: session.clone(),
                        generation,
                    },
                );
                st = session.lock();
            }
        }
        let expires_at =
            (expiry != NEVER_EXPIRES).then(|| now + Duration::from_secs(u64::from(expiry)));
        st.went_offline(expires_at);
        drop(st);
        if let Some(will) = publish_now {
            self.publish(now, &will);
        }
        if let Some(at) = expires_at {
            self.schedule(
                at,
                Timer::SessionExpiry {
                    session: session.clone(),
                    generation,
                },
            );
        }
    }

    fn remove_session(&self, session: &Arc<Session>) {
        let mut sessions = self.sessions.lock();
        if sessions
            .get(session.client_id())
            .is_some_and(|s| Arc::ptr_eq(s, session))
        {
            sessions.remove(session.client_id());
        }
    }

    fn unsubscribe_all(&self, session: &Arc<Session>, filters: &[Box<str>]) {
        if filters.is_empty() {
            return;
        }
        let key = SessionRef(session.clone());
        let mut tree = self.subscriptions.write();
        for raw in filters {
            if let Ok(filter) = crate::topic::parse_filter(raw) {
                tree.unsubscribe(&filter, &key);
            }
        }
        drop(tree);
        session.set_subscription_count(0);
    }

    fn schedule(&self, at: Instant, timer: Timer) {
        let seq = self.next_id();
        self.timers.lock().insert((at, seq), timer);
    }

    /// Runs the timers due at `now` (delayed wills, session expiry) and returns when the next
    /// one is due. The network layer calls this from one timer task; tests call it with a
    /// simulated clock.
    pub fn tick(&self, now: Instant) -> Option<Instant> {
        self.sweep_retained(now);
        loop {
            let due = {
                let mut timers = self.timers.lock();
                match timers.first_key_value() {
                    Some((&(at, _), _)) if at <= now => timers.pop_first().map(|(_, t)| t),
                    Some((&(at, _), _)) => return Some(at),
                    None => return None,
                }
            };
            match due {
                Some(Timer::Will {
                    session,
                    generation,
                }) => {
                    let will = {
                        let mut st = session.lock();
                        if st.generation == generation && st.owner.is_none() {
                            st.take_will()
                        } else {
                            None
                        }
                    };
                    if let Some(will) = will {
                        self.publish(now, &will);
                    }
                }
                Some(Timer::SessionExpiry {
                    session,
                    generation,
                }) => {
                    let mut st = session.lock();
                    if st.generation != generation || st.owner.is_some() || st.ended {
                        continue;
                    }
                    let (filters, will) = session.end(&mut st);
                    drop(st);
                    self.remove_session(&session);
                    self.unsubscribe_all(&session, &filters);
                    if let Some(will) = will {
                        self.publish(now, &will);
                    }
                }
                None => {}
            }
        }
    }

    fn sweep_retained(&self, now: Instant) {
        {
            let mut last = self.last_sweep.lock();
            match *last {
                Some(at) if now.saturating_duration_since(at) < RETAINED_SWEEP_INTERVAL => return,
                _ => *last = Some(now),
            }
        }
        let mut expired = Vec::new();
        self.retained.read().for_each(|topic, msg| {
            if msg.is_expired(now) {
                expired.push(Box::<str>::from(topic));
            }
        });
        if expired.is_empty() {
            return;
        }
        let mut retained = self.retained.write();
        for topic in expired {
            // Re-check: it may have been replaced since the read lock was released.
            if retained.get(&topic).is_some_and(|m| m.is_expired(now)) {
                retained.remove(&topic);
                self.emitter
                    .emit(|_| PersistEvent::RetainedRemoved { topic });
            }
        }
    }

    /// Accepts a message: updates the retained store if it is retained, then delivers it to
    /// every matching subscription. Returns how many sessions it was queued for.
    pub fn publish(&self, now: Instant, msg: &Arc<Message>) -> usize {
        self.publish_noting_congestion(now, msg, &mut Vec::new())
    }

    /// As [`Broker::publish`], and adds to `congested` each connected session whose full
    /// queue took a QoS 1/2 copy beyond `max_queued_messages`: the publisher holds back.
    pub(crate) fn publish_noting_congestion(
        &self,
        now: Instant,
        msg: &Arc<Message>,
        congested: &mut Vec<Arc<Session>>,
    ) -> usize {
        if msg.retain {
            let mut retained = self.retained.write();
            if msg.payload.is_empty() {
                // [MQTT-3.3.1-6] / [MQTT-3.3.1-10]: an empty retained message deletes.
                if retained.remove(msg.topic.as_str()).is_some() {
                    self.emitter.emit(|_| PersistEvent::RetainedRemoved {
                        topic: msg.topic.as_str().into(),
                    });
                }
            } else {
                retained.set(msg.topic.as_str(), msg.clone());
                self.emitter.emit(|clock| PersistEvent::RetainedSet {
                    msg: msg.persisted(clock),
                });
            }
        }
        self.route(now, msg, congested)
    }

    fn route(&self, now: Instant, msg: &Arc<Message>, congested: &mut Vec<Arc<Session>>) -> usize {
        let max_queued = self.config.max_queued_messages;
        // Shared by the two match callbacks below; each borrows it only inside one push.
        let congested = RefCell::new(congested);
        let push = |session: &Arc<Session>, delivery: Delivery| match session
            .push(now, delivery, max_queued)
        {
            PushOutcome::Queued => true,
            PushOutcome::QueuedCongested => {
                congested.borrow_mut().push(session.clone());
                true
            }
            _ => false,
        };
        let mut delivered = 0;
        let mut delivered_shared = 0;
        let tree = self.subscriptions.read();
        OVERLAPS.with(|cell| {
            let mut overlaps = cell.borrow_mut();
            overlaps.clear();
            tree.for_each_match(
                msg.topic.as_str(),
                |key, entry| {
                    // [MQTT-3.8.3-3] No Local: not back to the publishing session.
                    if entry.options.no_local && key.0.id() == msg.origin {
                        return;
                    }
                    if key.0.subscription_count() > 1 {
                        overlaps.push((key.clone(), *entry));
                    } else if push(&key.0, delivery(msg, entry)) {
                        delivered += 1;
                    }
                },
                |group| {
                    // One member of each shared group, preferring one that is connected.
                    let pick = group
                        .pick(|k| k.0.is_online())
                        .or_else(|| group.pick(|_| true));
                    if let Some((key, entry)) = pick {
                        if push(&key.0, delivery(msg, entry)) {
                            delivered_shared += 1;
                        }
                    }
                },
            );
            delivered += deliver_overlapping(&mut overlaps, msg, &push);
        });
        delivered + delivered_shared
    }

    /// Adds or replaces one subscription of `session` and returns whether it existed before.
    pub(crate) fn subscribe(
        &self,
        session: &Arc<Session>,
        raw_filter: &str,
        filter: &Filter<'_>,
        entry: SubEntry,
    ) -> bool {
        let count = { session.lock().add_subscription(raw_filter, entry) };
        session.set_subscription_count(count);
        let existed =
            self.subscriptions
                .write()
                .subscribe(filter, SessionRef(session.clone()), entry);
        existed.is_some()
    }

    /// Removes one subscription; returns whether it existed.
    pub(crate) fn unsubscribe(
        &self,
        session: &Arc<Session>,
        raw_filter: &str,
        filter: &Filter<'_>,
    ) -> bool {
        let count = { session.lock().remove_subscription(raw_filter) };
        session.set_subscription_count(count);
        self.subscriptions
            .write()
            .unsubscribe(filter, &SessionRef(session.clone()))
            .is_some()
    }

    /// Queues the retained messages matching a new subscription (v5 §3.3.1.3): not for shared
    /// subscriptions, and as the Retain Handling option says.
    pub(crate) fn send_retained(
        &self,
        now: Instant,
        session: &Arc<Session>,
        filter: &Filter<'_>,
        entry: &SubEntry,
        existed: bool,
    ) {
        if filter.share_group.is_some() {
            return;
        }
        match entry.options.retain_handling {
            RetainHandling::DoNotSend => return,
            RetainHandling::SendIfNew if existed => return,
            _ => {}
        }
        let mut matched = Vec::new();
        self.retained
            .read()
            .for_each_match(filter.filter, |_, msg| {
                if !msg.is_expired(now) {
                    matched.push(msg.clone());
                }
            });
        // [Issue 9] Every match is delivered, however many: they bypass the queue cap (the
        // retained store bounds them) and go out as the in-flight window allows. Only an
        // explicit `max_retained_per_subscription` cuts, and the cut is counted.
        if let Some(max) = self.config.max_retained_per_subscription {
            if matched.len() > max.get() {
                let cut = (matched.len() - max.get()) as u64;
                matched.truncate(max.get());
                session.lock().drops.retained_limit += cut;
            }
        }
        for msg in matched {
            let delivery = Delivery {
                qos: msg.qos.min(entry.options.qos),
                retain: true, // [MQTT-3.3.1-8]
                sub_ids: entry.id.map_or(SubIds::None, SubIds::One),
                msg,
                seq: 0,
                event: 0,
            };
            session.push_retained(delivery);
        }
    }

    /// Ends every session's connection-independent state for shutdown; nothing to do for the
    /// in-memory store beyond dropping it.
    pub fn sessions_snapshot(&self) -> Vec<Arc<Session>> {
        self.sessions.lock().values().cloned().collect()
    }
}

/// A saved delivery as the broker holds it.
fn restored_delivery(saved: &PersistDelivery, clock: &WallClock, seq: u64) -> Delivery {
    let sub_ids = match saved.sub_ids.as_slice() {
        [] => SubIds::None,
        [one] => SubIds::One(*one),
        many => SubIds::Many(many.into()),
    };
    Delivery {
        msg: Message::from_persisted(&saved.msg, clock),
        qos: saved.qos,
        retain: saved.retain,
        sub_ids,
        seq,
        event: 0,
    }
}

/// The delivery of `msg` for one subscription.
fn delivery(msg: &Arc<Message>, entry: &SubEntry) -> Delivery {
    Delivery {
        msg: msg.clone(),
        qos: msg.qos.min(entry.options.qos),
        // [MQTT-3.3.1-9] 3.1.1: retain is 0 when forwarding to existing subscribers; v5
        // [MQTT-3.3.1-12]/[MQTT-3.3.1-13]: as published only with Retain As Published.
        retain: entry.options.retain_as_published && msg.retain,
        sub_ids: entry.id.map_or(SubIds::None, SubIds::One),
        seq: 0,
        event: 0,
    }
}

/// Delivers one copy per session for sessions that matched through several subscriptions:
/// the highest QoS of them [MQTT-3.3.5-1], every subscription identifier [MQTT-3.3.4-3], and
/// the retain flag if any of them keeps it.
fn deliver_overlapping(
    overlaps: &mut Vec<(SessionRef, SubEntry)>,
    msg: &Arc<Message>,
    push: &impl Fn(&Arc<Session>, Delivery) -> bool,
) -> usize {
    if overlaps.is_empty() {
        return 0;
    }
    overlaps.sort_unstable_by_key(|(k, _)| k.0.id());
    let mut delivered = 0;
    let mut i = 0;
    while i < overlaps.len() {
        let mut j = i + 1;
        while j < overlaps.len() && overlaps[j].0 == overlaps[i].0 {
            j += 1;
        }
        let group = &overlaps[i..j];
        let qos = group
            .iter()
            .map(|(_, e)| e.options.qos)
            .max()
            .unwrap_or_default();
        let keep_retain = group.iter().any(|(_, e)| e.options.retain_as_published);
        let ids: Vec<_> = group.iter().filter_map(|(_, e)| e.id).collect();
        let sub_ids = match ids.len() {
            0 => SubIds::None,
            1 => SubIds::One(ids[0]),
            _ => SubIds::Many(ids.into_boxed_slice()),
        };
        let delivery = Delivery {
            msg: msg.clone(),
            qos: msg.qos.min(qos),
            retain: keep_retain && msg.retain,
            sub_ids,
            seq: 0,
            event: 0,
        };
        if push(&group[0].0 .0, delivery) {
            delivered += 1;
        }
        i = j;
    }
    overlaps.clear();
    delivered
}
