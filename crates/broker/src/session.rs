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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

use lantern_codec::{PacketId, ProtocolVersion, QoS, SubscriptionOptions};
use parking_lot::{Mutex, MutexGuard};

use crate::auth::{Access, Acl, AclSubject};
use crate::message::Message;

/// Session expiry interval meaning "never expires" (v5 §3.1.2.11.2).
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// One client's session.
pub struct Session {
    id: u64,
    client_id: Arc<str>,
    /// How many subscriptions the session holds; read without the lock by the router to skip
    /// the overlap merge for the common case of one subscription.
    subscription_count: AtomicUsize,
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
    /// Messages dropped because the queue was full.
    pub(crate) dropped: u64,
    /// A will waiting for its delay while no connection is attached; published when the delay
    /// passes or the session ends, whichever comes first, and cancelled by a reconnection
    /// (v5 §3.1.3.2.2, [MQTT-3.1.3-9]).
    pub(crate) pending_will: Option<Arc<Message>>,
    /// Read access rules of the client, checked before each delivery.
    pub(crate) reader: Option<Reader>,
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

/// Why a delivery was not queued.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PushOutcome {
    /// Queued (and the owner woken if needed).
    Queued,
    /// QoS 0 message for a session with no connection: not kept (v5 §3.1.2.4 allows it).
    OfflineQos0,
    /// The queue is full; the message was dropped.
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
    ) -> Self {
        Self {
            id,
            client_id,
            subscription_count: AtomicUsize::new(0),
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
                dropped: 0,
                pending_will: None,
                reader: None,
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

    pub(crate) fn subscription_count(&self) -> usize {
        self.subscription_count.load(Ordering::Relaxed)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock()
    }

    /// Queues a delivery, bounded by `max_queued`, and wakes the owning connection when the
    /// queue was empty (a non-empty queue means a wake-up is already on its way).
    pub(crate) fn push(&self, delivery: Delivery, max_queued: usize) -> PushOutcome {
        let mut st = self.state.lock();
        if st.ended {
            return PushOutcome::Ended;
        }
        if st.owner.is_none() && delivery.qos == QoS::AtMostOnce {
            return PushOutcome::OfflineQos0;
        }
        if let Some(reader) = &st.reader {
            let subject = AclSubject {
                username: reader.username.as_deref(),
                client_id: &reader.client_id,
            };
            if !reader
                .acl
                .check(&subject, Access::Read, delivery.msg.topic.as_str())
                .allowed
            {
                return PushOutcome::Denied;
            }
        }
        if st.queue.len() >= max_queued {
            // Make room by dropping the oldest QoS 0 message, which nobody was promised.
            let oldest_qos0 = st.queue.iter().position(|d| d.qos == QoS::AtMostOnce);
            match oldest_qos0 {
                Some(i) if delivery.qos != QoS::AtMostOnce => {
                    st.queue.remove(i);
                    st.dropped += 1;
                }
                _ => {
                    st.dropped += 1;
                    return PushOutcome::QueueFull;
                }
            }
        }
        let was_empty = st.queue.is_empty();
        st.queue.push_back(delivery);
        if was_empty {
            if let Some(owner) = &st.owner {
                owner.waker.wake_by_ref();
            }
        }
        PushOutcome::Queued
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
