//! One client connection as a sans-IO state machine: bytes and time in, bytes, deadlines and
//! events out. The network layer drives it:
//!
//! ```text
//! conn.handle_bytes(now, &mut read_buf);        // decode and act on every complete packet
//! conn.poll_transmit(now, &mut write_buf);      // control packets + queued deliveries
//! conn.poll_timeout() / conn.handle_timeout(now) // connect timeout, keep alive
//! conn.poll_event()                             // connected / closed, for the logs
//! ```
//!
//! The driver calls `poll_transmit` again whenever the waker given to [`Connection::new`] fires
//! (a message was queued for this session, or another connection took it over).

use std::collections::{HashMap, VecDeque};
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use lantern_codec::{
    decode, Ack, AckProperties, ConnAck, ConnAckProperties, Connect, DecodeError, DecodeErrorKind,
    Disconnect, DisconnectProperties, Limits, MqttString, Packet, PacketType, ProtocolVersion,
    Publish, QoS, ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe,
};

use crate::auth::{self, Access, AccessPolicy, Acl, AclSubject, CertIdentity};
use crate::broker::{AttachRequest, Broker};
use crate::events::{CloseReason, ConnEvent};
use crate::message::Message;
use crate::session::{
    Delivery, InflightStage, Owner, Reader, Session, SessionState, SubEntry, NEVER_EXPIRES,
};
use crate::topic::{check_topic_limits, parse_filter, validate_topic_name};

/// Stop encoding queued deliveries once this much is waiting for the socket; the driver writes
/// it and calls again. Bounds per-connection memory while still batching many packets into one
/// write.
const TRANSMIT_BATCH: usize = 64 * 1024;

/// Acknowledgements held back for durability beyond which the connection reads no more from
/// its client until the store catches up: bounds the held packets (issue 9's guarantee).
const MAX_HELD_ACKS: usize = 1024;

/// One client connection.
pub struct Connection {
    broker: Arc<Broker>,
    access: Arc<AccessPolicy>,
    /// The identity of a verified client certificate (mTLS), from the network layer.
    cert: Option<CertIdentity>,
    id: u64,
    waker: Waker,
    state: State,
    /// Encoded control packets waiting for `poll_transmit`.
    out: BytesMut,
    events: Vec<ConnEvent>,
    last_rx: Instant,
    /// Bytes received and not yet part of a complete packet (reported by a connect timeout).
    pending_bytes: u64,
    packets_after_connect: u64,
    stats: ConnStats,
    /// The first bytes of a packet the codec rejected, for the story.
    offending: Option<Box<[u8]>>,
    /// Sessions whose full queue this connection published QoS 1/2 messages to: it reads no
    /// more from its client until they drain ([`Connection::wants_read`]).
    held_by: Vec<Arc<Session>>,
    /// Acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK) waiting until the
    /// persistence events before them are durable: the event sequence number each waits for,
    /// and its encoded bytes, in the order they must leave.
    held_acks: VecDeque<(u64, BytesMut)>,
    /// The event number the waker is registered with the sink for (0: none), so repeated
    /// polls do not pile up registrations.
    durable_wake: u64,
}

/// Packet counts of a connection, for its story.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct ConnStats {
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent (queued for the socket).
    pub packets_out: u64,
    /// The last packet received.
    pub last_in: Option<PacketType>,
    /// The last packet sent.
    pub last_out: Option<PacketType>,
}

/// Where the connection is, named for what it waits for.
enum State {
    AwaitConnect { deadline: Instant, since: Instant },
    Open(Box<Open>),
    Closed,
}

/// An accepted connection with its session.
struct Open {
    session: Arc<Session>,
    client_id: Arc<str>,
    /// The authenticated user name (or certificate identity), for ACLs.
    username: Option<Arc<str>>,
    acl: Option<Arc<dyn Acl>>,
    version: ProtocolVersion,
    keep_alive: Option<Duration>,
    will: Option<(Arc<Message>, u32)>,
    /// Session expiry requested at CONNECT; v5 forbids raising 0 at DISCONNECT.
    connect_expiry: u32,
    /// The broker's cap on session expiry, which DISCONNECT cannot exceed either.
    max_session_expiry: Option<u32>,
    /// Client → broker topic aliases (v5 §3.3.2.3.4), index = alias - 1.
    aliases_in: Vec<Option<MqttString>>,
    /// Broker → client topic aliases.
    aliases_out: HashMap<MqttString, NonZeroU16>,
    alias_out_max: u16,
    /// How many QoS 1/2 deliveries may be unacknowledged at once.
    window: usize,
    /// The client's Maximum Packet Size.
    client_max_packet: Option<NonZeroU32>,
    /// Resend unacknowledged deliveries before anything new (session resumed).
    resend_inflight: bool,
    /// Resumed PUBLISH flows not re-sent yet: they wait for room in the window like new
    /// deliveries [MQTT-3.3.4-9] (the new connection may have a smaller Receive Maximum).
    resend_pending: VecDeque<lantern_codec::PacketId>,
    /// QoS 2 flows started and not sent yet, with the event that started each: a QoS 2
    /// PUBLISH leaves only once its flow is durable, so a restarted broker never sends the
    /// client that message again under another packet id (exactly once). In send order.
    unsent: VecDeque<(lantern_codec::PacketId, u64)>,
    /// The event the last `drain` stopped at because it was not durable yet: the connection
    /// asks to be woken when it is (at once if it became durable since).
    blocked_on: Option<u64>,
    /// Packets `drain` encoded since the last `poll_transmit` (deliveries and re-sent PUBRELs),
    /// counted where they are encoded rather than re-parsed from the output.
    encoded: u64,
    last_encoded: Option<PacketType>,
    /// `max_queued_messages`: congestion ends when the queue drains to half of it.
    max_queued: usize,
    /// How long the queue may stay congested before the client is disconnected.
    slow_subscriber_timeout: Duration,
}

impl Connection {
    /// A new connection accepted at `now`; `waker` is woken when there is something to send.
    pub fn new(broker: Arc<Broker>, waker: Waker, now: Instant) -> Self {
        Self::with_access(broker, Arc::new(AccessPolicy::open()), None, waker, now)
    }

    /// A new connection under the access rules of its listener and tenant; `cert` is the
    /// identity of the client certificate the TLS layer verified, if any.
    pub fn with_access(
        broker: Arc<Broker>,
        access: Arc<AccessPolicy>,
        cert: Option<CertIdentity>,
        waker: Waker,
        now: Instant,
    ) -> Self {
        let deadline = now + broker.config().connect_timeout;
        Self {
            id: broker.next_id(),
            broker,
            access,
            cert,
            waker,
            state: State::AwaitConnect {
                deadline,
                since: now,
            },
            out: BytesMut::new(),
            events: Vec::new(),
            last_rx: now,
            pending_bytes: 0,
            packets_after_connect: 0,
            stats: ConnStats::default(),
            offending: None,
            held_by: Vec::new(),
            held_acks: VecDeque::new(),
            durable_wake: 0,
        }
    }

    /// False while a session this connection published QoS 1/2 messages to is congested (its
    /// connected client's queue is full): the driver then stops reading from the socket —
    /// flow control instead of dropping — and keeps writing, running timers and taking wakes.
    /// The connection's waker fires when the queue drains or its client goes away.
    ///
    /// Also false while [`MAX_HELD_ACKS`] acknowledgements wait for the store to make their
    /// events durable; the waker fires when it does.
    pub fn wants_read(&self) -> bool {
        self.held_acks.len() < MAX_HELD_ACKS && self.held_by.iter().all(|s| !s.is_congested())
    }

    /// The broker this connection belongs to.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// The connection's id (unique within the broker).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The first bytes (at most 64) of the packet the codec rejected, if one was.
    pub fn offending_bytes(&self) -> Option<&[u8]> {
        self.offending.as_deref()
    }

    /// Packet counts so far.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// The client id, once CONNECT was accepted.
    pub fn client_id(&self) -> Option<&Arc<str>> {
        match &self.state {
            State::Open(open) => Some(&open.client_id),
            _ => None,
        }
    }

    /// The protocol version, once CONNECT was accepted.
    pub fn version(&self) -> Option<ProtocolVersion> {
        match &self.state {
            State::Open(open) => Some(open.version),
            _ => None,
        }
    }

    /// True once the connection is over: the driver writes what `poll_transmit` still returns
    /// and closes the socket.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The next event for the logs.
    pub fn poll_event(&mut self) -> Option<ConnEvent> {
        if self.events.is_empty() {
            None
        } else {
            Some(self.events.remove(0))
        }
    }

    /// Decodes and handles every complete packet at the front of `buf`, leaving a partial one.
    pub fn handle_bytes(&mut self, now: Instant, buf: &mut BytesMut) {
        if let (State::AwaitConnect { .. }, Some(&first)) = (&self.state, buf.first()) {
            // [MQTT-3.1.0-1] A connection starts with CONNECT, whose first byte is 0x10: any
            // other first byte means another protocol (or garbage) spoke to this port, and
            // saying which helps more than "malformed packet".
            if first != 0x10 {
                let foreign = crate::events::Foreign::classify(buf);
                self.pending_bytes = buf.len() as u64;
                buf.clear();
                self.close(now, CloseReason::NotMqtt(foreign), None);
                return;
            }
        }
        while !self.is_closed() && !buf.is_empty() {
            let version = match &self.state {
                State::Open(open) => open.version,
                _ => ProtocolVersion::V311, // CONNECT carries its own version
            };
            // Per packet: the limit grows once CONNECT is accepted, even within one read.
            let limits = self.decode_limits();
            match decode(buf, version, &limits) {
                Ok(Some(packet)) => {
                    self.stats.packets_in += 1;
                    self.stats.last_in = Some(packet.packet_type());
                    self.last_rx = now;
                    self.handle_packet(now, packet);
                }
                Ok(None) => break,
                Err(e) => {
                    self.decode_failed(now, e, buf);
                    break;
                }
            }
        }
        self.pending_bytes = buf.len() as u64;
    }

    /// The decoder's limits now. Before CONNECT is accepted the client is unauthenticated: it
    /// may announce (and make the driver buffer) no more than `max_connect_packet_size`.
    fn decode_limits(&self) -> Limits {
        let config = self.broker.config();
        let max_packet_size = match self.state {
            State::AwaitConnect { .. } => {
                config.max_packet_size.min(config.max_connect_packet_size)
            }
            _ => config.max_packet_size,
        };
        Limits { max_packet_size }
    }

    /// The socket reached end of file.
    pub fn handle_peer_closed(&mut self, now: Instant) {
        self.close(now, CloseReason::PeerClosed, None);
    }

    /// The socket failed.
    pub fn handle_network_error(&mut self, now: Instant, error: String) {
        self.close(now, CloseReason::NetworkError(error), None);
    }

    /// The broker is shutting down: v5 clients get DISCONNECT 0x8B.
    pub fn shutdown(&mut self, now: Instant) {
        self.close(
            now,
            CloseReason::ServerShutdown,
            Some(ReasonCode::ServerShuttingDown),
        );
    }

    /// When `handle_timeout` must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::AwaitConnect { deadline, .. } => Some(*deadline),
            State::Open(open) => {
                let keep_alive = open.keep_alive.map(|ka| self.last_rx + ka * 3 / 2);
                let slow = open.slow_subscriber_deadline(&self.broker);
                match (keep_alive, slow) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            State::Closed => None,
        }
    }

    /// Enforces the connect timeout and keep alive [MQTT-3.1.2-24].
    pub fn handle_timeout(&mut self, now: Instant) {
        match &self.state {
            State::AwaitConnect { deadline, since } if now >= *deadline => {
                let reason = CloseReason::ConnectTimeout {
                    waited: now.saturating_duration_since(*since),
                    bytes_received: self.pending_bytes,
                };
                self.close(now, reason, None);
            }
            State::Open(open) => {
                if let Some(reason) = open.slow_subscriber(&self.broker, now) {
                    return self.close(now, reason, Some(ReasonCode::QuotaExceeded));
                }
                let Some(ka) = open.keep_alive else { return };
                if !self.wants_read() {
                    // Held back: the broker is not reading, so the client's PINGREQs wait in
                    // the socket. Silence now is ours, not the client's.
                    self.last_rx = now;
                    return;
                }
                if now >= self.last_rx + ka * 3 / 2 {
                    let reason = CloseReason::KeepAliveTimeout {
                        keep_alive: ka,
                        idle: now.saturating_duration_since(self.last_rx),
                        packets_after_connect: self.packets_after_connect,
                    };
                    self.close(now, reason, Some(ReasonCode::KeepAliveTimeout));
                }
            }
            _ => {}
        }
    }

    /// Appends everything ready to send to `dst`: control packets first, then re-sent and new
    /// deliveries up to the in-flight window. Returns true when more deliveries are ready than
    /// one batch holds; the driver writes `dst` and calls again.
    pub fn poll_transmit(&mut self, now: Instant, dst: &mut BytesMut) -> bool {
        if let State::Open(open) = &self.state {
            if !open.session.lock().is_owned_by(self.id) {
                self.close(
                    now,
                    CloseReason::TakenOver,
                    Some(ReasonCode::SessionTakenOver),
                );
            }
        }
        self.held_by.retain(|s| s.is_congested());
        let ack_waits = self.release_acks();
        let start = dst.len();
        if dst.is_empty() {
            std::mem::swap(dst, &mut self.out);
        } else {
            dst.extend_from_slice(&self.out);
            self.out.clear();
        }
        // The control packets (few) are counted from their headers; deliveries are counted
        // by `drain` as it encodes them, so the hot path parses nothing twice.
        self.count_out(&dst[start..]);
        let (more, delivery_waits) = match &mut self.state {
            State::Open(open) => {
                let more = open.drain(now, dst);
                if open.encoded > 0 {
                    self.stats.packets_out += std::mem::take(&mut open.encoded);
                    self.stats.last_out = open.last_encoded;
                }
                let waits = if self.broker.emitter().enabled() {
                    open.waits_for()
                } else {
                    None
                };
                (more, waits)
            }
            _ => (false, None),
        };
        if let Some(need) = ack_waits.into_iter().chain(delivery_waits).min() {
            self.wake_when_durable(need);
        }
        more
    }

    /// Moves the held acknowledgements whose events are durable now to the output, in order;
    /// returns the event the next one waits for.
    fn release_acks(&mut self) -> Option<u64> {
        let emitter = self.broker.emitter();
        while let Some((seq, _)) = self.held_acks.front() {
            if !emitter.is_durable(*seq) {
                return Some(*seq);
            }
            if let Some((_, bytes)) = self.held_acks.pop_front() {
                self.out.extend_from_slice(&bytes);
            }
        }
        None
    }

    /// Asks the sink to wake this connection once event `need` is durable, unless a
    /// registration that fires no later is still pending.
    fn wake_when_durable(&mut self, need: u64) {
        let emitter = self.broker.emitter();
        let pending = self.durable_wake != 0 && !emitter.is_durable(self.durable_wake);
        if pending && need >= self.durable_wake {
            return;
        }
        emitter.wake_when_durable(need, &self.waker);
        self.durable_wake = need;
    }

    /// The acknowledgement a packet handler just encoded after `mark` leaves only once every
    /// persistence event so far is durable (`durability = "sync"`): it is held back, behind
    /// any acknowledgement held before it, until then. Without persistence it goes at once.
    fn hold_ack(&mut self, mark: usize) {
        let emitter = self.broker.emitter();
        if !emitter.enabled() || self.out.len() <= mark || self.is_closed() {
            return;
        }
        let seq = emitter.last();
        if self.held_acks.is_empty() && emitter.is_durable(seq) {
            return;
        }
        let ack = self.out.split_off(mark);
        self.held_acks.push_back((seq, ack));
    }

    /// Counts the control packets moved to the output (their fixed headers only).
    fn count_out(&mut self, mut bytes: &[u8]) {
        while let Ok(Some(header)) = lantern_codec::parse_fixed_header(bytes) {
            self.stats.packets_out += 1;
            self.stats.last_out = Some(header.packet_type);
            match bytes.get(header.packet_len()..) {
                Some(rest) => bytes = rest,
                None => break,
            }
        }
    }

    fn handle_packet(&mut self, now: Instant, packet: Packet) {
        let open = match &mut self.state {
            State::AwaitConnect { .. } => {
                match packet {
                    Packet::Connect(connect) => self.on_connect(now, connect),
                    // [MQTT-3.1.0-1] The first packet from the client MUST be CONNECT.
                    other => self.close(
                        now,
                        CloseReason::ProtocolViolation {
                            reason: ReasonCode::ProtocolError,
                            detail: format!(
                                "the first packet was {}, not CONNECT [MQTT-3.1.0-1]",
                                other.packet_type().name()
                            ),
                        },
                        None,
                    ),
                }
                return;
            }
            State::Open(open) => open,
            State::Closed => return,
        };
        self.packets_after_connect += 1;
        // Acknowledgements of durable changes wait for the store; see `hold_ack`.
        let ack_mark = match &packet {
            Packet::Publish(p) if p.qos != QoS::AtMostOnce => Some(self.out.len()),
            Packet::PubRec(_)
            | Packet::PubRel(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_) => Some(self.out.len()),
            _ => None,
        };
        let result = match packet {
            Packet::Publish(publish) => {
                let mut congested = Vec::new();
                let result = open.on_publish(
                    &self.broker,
                    now,
                    publish,
                    &mut self.out,
                    &mut self.events,
                    &mut congested,
                );
                for session in congested {
                    // Never held back by its own queue: it must go on reading its PUBACKs.
                    if Arc::ptr_eq(&session, &open.session)
                        || self.held_by.iter().any(|s| Arc::ptr_eq(s, &session))
                    {
                        continue;
                    }
                    if session.hold_publisher(self.id, &self.waker) {
                        self.held_by.push(session);
                    }
                }
                result
            }
            Packet::PubAck(ack) => {
                open.on_ack(ack, InflightStage::AwaitPubAck);
                Ok(())
            }
            Packet::PubRec(ack) => {
                open.on_pubrec(ack, &mut self.out);
                Ok(())
            }
            Packet::PubRel(ack) => {
                open.on_pubrel(ack, &mut self.out);
                Ok(())
            }
            Packet::PubComp(ack) => {
                open.on_ack(ack, InflightStage::AwaitPubComp);
                Ok(())
            }
            Packet::Subscribe(sub) => {
                open.on_subscribe(&self.broker, now, sub, &mut self.out, &mut self.events)
            }
            Packet::Unsubscribe(unsub) => {
                open.on_unsubscribe(&self.broker, unsub, &mut self.out);
                Ok(())
            }
            Packet::PingReq => {
                encode(&Packet::PingResp, open.version, &mut self.out);
                Ok(())
            }
            Packet::Disconnect(disconnect) => {
                let result = open.on_disconnect(&disconnect);
                if result.is_ok() {
                    let reason = CloseReason::ClientDisconnect {
                        reason: disconnect.reason,
                    };
                    self.close(now, reason, None);
                    return;
                }
                result
            }
            // [MQTT-3.1.0-2] A second CONNECT is a protocol violation.
            Packet::Connect(_) => Err(CloseReason::SecondConnect),
            Packet::Auth(_) => Err(violation(
                ReasonCode::ProtocolError,
                "AUTH without an authentication method in CONNECT [MQTT-4.12.0-1]",
            )),
            other => Err(CloseReason::ProtocolViolation {
                reason: ReasonCode::ProtocolError,
                detail: format!(
                    "{} is sent by servers only, never by clients",
                    other.packet_type().name()
                ),
            }),
        };
        match result {
            Ok(()) => {
                if let Some(mark) = ack_mark {
                    self.hold_ack(mark);
                }
            }
            Err(reason) => {
                let code = match &reason {
                    CloseReason::ProtocolViolation { reason, .. } => Some(*reason),
                    CloseReason::SecondConnect => Some(ReasonCode::ProtocolError),
                    CloseReason::StoreUnavailable { .. } => Some(ReasonCode::QuotaExceeded),
                    _ => Some(ReasonCode::ProtocolError),
                };
                self.close(now, reason, code);
            }
        }
    }

    fn on_connect(&mut self, now: Instant, connect: Connect) {
        let config = self.broker.config().clone();
        let version = connect.protocol;
        let v5 = version.is_v5();
        self.events.push(ConnEvent::ConnectReceived {
            version,
            client_id: connect.client_id.as_str().into(),
            clean_start: connect.clean_start,
            keep_alive: connect.keep_alive,
            will_topic: connect.will.as_ref().map(|w| w.topic.as_str().into()),
            username_present: connect.username.is_some(),
            password_present: connect.password.is_some(),
        });

        // Authentication comes first: a certificate identity may supply the client id.
        let authenticated = match auth::authenticate(
            &self.access,
            self.cert.as_ref(),
            connect.client_id.as_str(),
            connect.username.as_deref(),
            connect.password.as_ref().map(|p| p.expose()),
        ) {
            Ok(a) => a,
            Err(failure) => {
                let reason = failure.reason_code();
                // The wire says what kind of refusal it is, never whether the user exists;
                // the operator's story has the specifics.
                let wire = match &failure {
                    auth::AuthFailure::NoCredentials => {
                        "credentials required: send a user name and password, or a client certificate"
                    }
                    auth::AuthFailure::CertIdentityMismatch { .. } => {
                        "the client id must equal the client certificate identity"
                    }
                    _ => "bad user name or password",
                };
                let connack = ConnAck {
                    session_present: false,
                    reason,
                    properties: v5_reason_string(version, wire),
                };
                self.send_connack(connack, version);
                return self.close(now, CloseReason::NotAuthenticated(failure), None);
            }
        };
        let sent_id = match &authenticated.client_id {
            Some(id) => id.clone(),
            None => Arc::from(connect.client_id.as_str()),
        };

        // Client identifier (v5 §3.1.3.1, 3.1.1 §3.1.3.1).
        let mut assigned = None;
        let client_id: Arc<str> = if sent_id.is_empty() {
            if version == ProtocolVersion::V31 {
                return self.refuse(
                    now,
                    version,
                    ReasonCode::ClientIdentifierNotValid,
                    "an empty client id, which MQTT 3.1 does not allow",
                );
            }
            if version == ProtocolVersion::V311 && !connect.clean_start {
                // [MQTT-3.1.3-8]
                return self.refuse(
                    now,
                    version,
                    ReasonCode::ClientIdentifierNotValid,
                    "an empty client id with clean session 0 [MQTT-3.1.3-8]",
                );
            }
            let id: Arc<str> = format!("lantern-{:016x}", self.id ^ 0x9e37_79b9_7f4a_7c15).into();
            assigned = Some(id.clone());
            id
        } else {
            sent_id
        };
        let subject = AclSubject {
            username: authenticated.username.as_deref(),
            client_id: &client_id,
        };

        if connect.properties.authentication_method.is_some() {
            return self.refuse(
                now,
                version,
                ReasonCode::BadAuthenticationMethod,
                "an authentication method; this broker supports no enhanced authentication",
            );
        }

        // The will, validated now so a bad one refuses the connection rather than failing later.
        let mut will = None;
        if let Some(w) = connect.will {
            if let Err(e) = validate_topic_name(w.topic.as_str()) {
                return self.refuse(
                    now,
                    version,
                    ReasonCode::TopicNameInvalid,
                    &format!("will topic {:?}: {e}", w.topic.as_str()),
                );
            }
            if let Err(e) = check_topic_limits(
                w.topic.as_str(),
                config.max_topic_length.get(),
                config.max_topic_levels.get(),
            ) {
                return self.refuse(
                    now,
                    version,
                    ReasonCode::TopicNameInvalid,
                    &format!("will topic {:?}…: {e}", prefix(w.topic.as_str())),
                );
            }
            if let Some(e) = w
                .properties
                .response_topic
                .as_ref()
                .and_then(|t| validate_topic_name(t.as_str()).err())
            {
                return self.refuse(
                    now,
                    version,
                    ReasonCode::ProtocolError,
                    &format!("a will Response Topic that is not a topic name: {e} [MQTT-3.3.2-14]"),
                );
            }
            if let Some(acl) = &self.access.acl {
                let decision = acl.check(&subject, Access::Write, w.topic.as_str());
                if !decision.allowed {
                    return self.refuse(
                        now,
                        version,
                        ReasonCode::NotAuthorized,
                        &format!(
                            "a will on topic {:?}, which this client may not publish to ({})",
                            w.topic.as_str(),
                            decision.rule
                        ),
                    );
                }
            }
            let delay = w.properties.will_delay_interval.unwrap_or(0);
            let props = lantern_codec::PublishProperties {
                payload_format_indicator: w.properties.payload_format_indicator,
                message_expiry_interval: w.properties.message_expiry_interval,
                response_topic: w.properties.response_topic,
                correlation_data: w.properties.correlation_data,
                user_properties: w.properties.user_properties,
                content_type: w.properties.content_type,
                ..Default::default()
            };
            will = Some((w.topic, w.payload, w.qos, w.retain, props, delay));
        }

        // Keep alive: v5 clients get the broker's maximum as Server Keep Alive.
        let mut server_keep_alive = None;
        let mut keep_alive = connect.keep_alive;
        if let (true, Some(max)) = (v5, config.max_keepalive) {
            if keep_alive == 0 || keep_alive > max {
                keep_alive = max;
                server_keep_alive = Some(max);
            }
        }

        // Session expiry.
        let requested_expiry = if v5 {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            NEVER_EXPIRES
        };
        let mut expiry = requested_expiry;
        let mut announced_expiry = None;
        if let (true, Some(max)) = (v5, config.max_session_expiry) {
            if expiry > max {
                expiry = max;
                announced_expiry = Some(max);
            }
        }

        let owner = Owner {
            conn_id: self.id,
            waker: self.waker.clone(),
        };
        let reader = self.access.acl.clone().map(|acl| Reader {
            acl,
            username: authenticated.username.clone(),
            client_id: client_id.clone(),
        });
        // The identity that owns a session: the authenticated user name, else the verified
        // certificate's identity, else none (anonymous).
        let identity = authenticated
            .username
            .clone()
            .or_else(|| self.cert.as_ref().map(|c| c.identity.clone()));
        let request = AttachRequest {
            client_id: &client_id,
            clean_start: connect.clean_start,
            expiry_interval: expiry,
            version,
            owner,
            reader,
            identity: identity.clone(),
        };
        let attached = match self.broker.attach(now, request) {
            Ok(attached) => attached,
            Err(other) => {
                // The wire says no more than "not authorised": whose session it is stays in
                // the operator's story.
                let connack = ConnAck {
                    session_present: false,
                    reason: ReasonCode::NotAuthorized,
                    properties: v5_reason_string(
                        version,
                        "the client id belongs to a session of another identity",
                    ),
                };
                self.send_connack(connack, version);
                let reason = CloseReason::SessionOfOtherIdentity {
                    client_id,
                    owner: other.owner,
                    identity,
                };
                return self.close(now, reason, None);
            }
        };
        let session_id = attached.session.id();
        let will = will.map(|(topic, payload, qos, retain, props, delay)| {
            (
                Message::new(topic, payload, qos, retain, props, now, session_id),
                delay,
            )
        });

        let mut properties = ConnAckProperties::default();
        if v5 {
            properties.receive_maximum = Some(config.max_inflight);
            properties.maximum_packet_size = Some(config.max_packet_size);
            properties.topic_alias_maximum =
                (config.topic_alias_maximum > 0).then_some(config.topic_alias_maximum);
            properties.assigned_client_identifier = assigned
                .as_ref()
                .and_then(|id| MqttString::copy_from_str(id).ok());
            properties.server_keep_alive = server_keep_alive;
            properties.session_expiry_interval = announced_expiry;
        }
        let connack = ConnAck {
            session_present: attached.session_present,
            reason: ReasonCode::Success,
            properties,
        };
        self.send_connack(connack, version);

        let client_receive_max = connect
            .properties
            .receive_maximum
            .map_or(u16::MAX, NonZeroU16::get);
        let window = usize::from(client_receive_max.min(config.max_inflight.get()));
        self.events.push(ConnEvent::Connected {
            client_id: client_id.clone(),
            version,
            clean_start: connect.clean_start,
            keep_alive,
            session_present: attached.session_present,
            username: authenticated.username.clone(),
        });
        if let Some(previous_owner) = attached.replaced_identity {
            self.events
                .push(ConnEvent::SessionReplaced { previous_owner });
        }
        if !attached.offline_drops.is_empty() {
            self.events.push(ConnEvent::Dropped {
                counts: attached.offline_drops,
                while_offline: true,
            });
        }
        self.state = State::Open(Box::new(Open {
            session: attached.session,
            client_id,
            username: authenticated.username,
            acl: self.access.acl.clone(),
            version,
            keep_alive: (keep_alive > 0).then(|| Duration::from_secs(u64::from(keep_alive))),
            will,
            connect_expiry: requested_expiry,
            max_session_expiry: config.max_session_expiry,
            aliases_in: vec![None; usize::from(if v5 { config.topic_alias_maximum } else { 0 })],
            aliases_out: HashMap::new(),
            alias_out_max: if v5 {
                connect.properties.topic_alias_maximum.unwrap_or(0)
            } else {
                0
            },
            window: window.max(1),
            client_max_packet: connect.properties.maximum_packet_size,
            resend_inflight: attached.session_present,
            resend_pending: VecDeque::new(),
            unsent: VecDeque::new(),
            blocked_on: None,
            encoded: 0,
            last_encoded: None,
            max_queued: config.max_queued_messages,
            slow_subscriber_timeout: config.slow_subscriber_timeout,
        }));
    }

    fn send_connack(&mut self, connack: ConnAck, version: ProtocolVersion) {
        self.events.push(ConnEvent::ConnAckSent {
            reason: connack.reason,
            wire_code: if version.is_v5() {
                connack.reason.to_u8()
            } else {
                connack.reason.to_v3_connack()
            },
            session_present: connack.session_present,
        });
        encode(&Packet::ConnAck(connack), version, &mut self.out);
    }

    /// Refuses CONNECT with a CONNACK carrying `reason` and closes [MQTT-3.2.2-6].
    fn refuse(&mut self, now: Instant, version: ProtocolVersion, reason: ReasonCode, detail: &str) {
        let detail = format!("CONNECT carried {detail}");
        let connack = ConnAck {
            session_present: false,
            reason,
            properties: v5_reason_string(version, &detail),
        };
        self.send_connack(connack, version);
        self.close(now, CloseReason::Refused { reason, detail }, None);
    }

    fn decode_failed(&mut self, now: Instant, error: DecodeError, buf: &BytesMut) {
        self.offending = Some(buf[..buf.len().min(64)].into());
        match &self.state {
            State::AwaitConnect { .. } => {
                if let DecodeErrorKind::UnsupportedProtocolVersion(level) = error.kind {
                    // [MQTT-3.1.2-2] CONNACK 0x01 in the 3.1.1 form, which every version reads.
                    let connack = ConnAck {
                        session_present: false,
                        reason: ReasonCode::UnsupportedProtocolVersion,
                        properties: ConnAckProperties::default(),
                    };
                    encode(
                        &Packet::ConnAck(connack),
                        ProtocolVersion::V311,
                        &mut self.out,
                    );
                    let detail = format!("protocol level {level}; this broker speaks 3 (MQTT 3.1), 4 (3.1.1) and 5 (5.0)");
                    let reason = CloseReason::Refused {
                        reason: ReasonCode::UnsupportedProtocolVersion,
                        detail,
                    };
                    self.close(now, reason, None);
                    return;
                }
                // A malformed v5 CONNECT may be answered with CONNACK 0x81/0x82 (v5 §3.1.4).
                if error.packet == Some(PacketType::Connect) && peek_connect_level(buf) == Some(5) {
                    let connack = ConnAck {
                        session_present: false,
                        reason: error.reason_code(),
                        properties: ConnAckProperties::default(),
                    };
                    encode(
                        &Packet::ConnAck(connack),
                        ProtocolVersion::V5,
                        &mut self.out,
                    );
                }
                self.close(now, CloseReason::Malformed(error), None);
            }
            State::Open(_) => {
                let code = error.reason_code();
                self.close(now, CloseReason::Malformed(error), Some(code));
            }
            State::Closed => {}
        }
    }

    /// The one way a connection ends: v5 clients get DISCONNECT with `code` when one is given,
    /// the will is published (or scheduled) unless the client disconnected normally, the
    /// session is detached, and a `Closed` event is queued.
    fn close(&mut self, now: Instant, reason: CloseReason, code: Option<ReasonCode>) {
        if self.is_closed() {
            return;
        }
        let state = std::mem::replace(&mut self.state, State::Closed);
        for session in self.held_by.drain(..) {
            session.release_publisher(self.id);
        }
        let client_id = match state {
            State::Open(mut open) => {
                if let (true, Some(code)) = (open.version.is_v5(), code) {
                    let mut disconnect = Disconnect {
                        reason: code,
                        properties: DisconnectProperties {
                            reason_string: MqttString::try_from(reason.to_string()).ok(),
                            ..Default::default()
                        },
                    };
                    // [MQTT-3.1.2-24] Never exceed the client's Maximum Packet Size: the reason
                    // string is the part that can go.
                    let packet = Packet::Disconnect(disconnect.clone());
                    if open.client_max_packet.is_some_and(|max| {
                        lantern_codec::encoded_len(&packet, open.version) > max.get() as usize
                    }) {
                        disconnect.properties.reason_string = None;
                    }
                    self.events.push(ConnEvent::DisconnectSent {
                        reason: disconnect.reason,
                    });
                    encode(&Packet::Disconnect(disconnect), open.version, &mut self.out);
                }
                let drops = {
                    let mut st = open.session.lock();
                    if st.is_owned_by(self.id) {
                        std::mem::take(&mut st.drops)
                    } else {
                        Default::default()
                    }
                };
                if !drops.is_empty() {
                    self.events.push(ConnEvent::Dropped {
                        counts: drops,
                        while_offline: false,
                    });
                }
                let will = match &reason {
                    // [MQTT-3.1.2-8] DISCONNECT 0x00 discards the will; 0x04 keeps it.
                    CloseReason::ClientDisconnect { reason }
                        if *reason != ReasonCode::DisconnectWithWillMessage =>
                    {
                        None
                    }
                    // Wills are for clients that vanish; a broker going down is not one.
                    CloseReason::ServerShutdown => None,
                    _ => open.will.take(),
                };
                self.broker.detach(now, &open.session, self.id, will);
                Some(open.client_id.clone())
            }
            _ => None,
        };
        self.events.push(ConnEvent::Closed { client_id, reason });
    }
}

impl Open {
    fn on_publish(
        &mut self,
        broker: &Broker,
        now: Instant,
        mut publish: Publish,
        out: &mut BytesMut,
        events: &mut Vec<ConnEvent>,
        congested: &mut Vec<Arc<Session>>,
    ) -> Result<(), CloseReason> {
        let v5 = self.version.is_v5();
        // Topic alias (v5 §3.3.2.3.4).
        if let Some(alias) = publish.properties.topic_alias.take() {
            let slot = usize::from(alias.get()) - 1;
            if slot >= self.aliases_in.len() {
                return Err(violation(
                    ReasonCode::TopicAliasInvalid,
                    "topic alias larger than the Topic Alias Maximum announced in CONNACK [MQTT-3.3.2-9]",
                ));
            }
            if publish.topic.is_empty() {
                match &self.aliases_in[slot] {
                    Some(topic) => publish.topic = topic.clone(),
                    None => {
                        return Err(violation(
                            ReasonCode::ProtocolError,
                            "topic alias used before it was set with a topic name [MQTT-3.3.2-12]",
                        ))
                    }
                }
            } else {
                self.aliases_in[slot] = Some(publish.topic.clone());
            }
        }
        if let Err(e) = validate_topic_name(publish.topic.as_str()) {
            return Err(CloseReason::ProtocolViolation {
                reason: ReasonCode::TopicNameInvalid,
                detail: format!("PUBLISH topic {:?}: {e}", publish.topic.as_str()),
            });
        }
        let config = broker.config();
        if let Err(e) = check_topic_limits(
            publish.topic.as_str(),
            config.max_topic_length.get(),
            config.max_topic_levels.get(),
        ) {
            // Quoted only in part: the topic is the oversized thing.
            return Err(CloseReason::ProtocolViolation {
                reason: ReasonCode::TopicNameInvalid,
                detail: format!("PUBLISH topic {:?}…: {e}", prefix(publish.topic.as_str())),
            });
        }
        if let Some(e) = publish
            .properties
            .response_topic
            .as_ref()
            .and_then(|t| validate_topic_name(t.as_str()).err())
        {
            return Err(CloseReason::ProtocolViolation {
                reason: ReasonCode::ProtocolError,
                detail: format!("PUBLISH Response Topic: {e}; a Response Topic is a topic name, never a filter [MQTT-3.3.2-14]"),
            });
        }
        if !publish.properties.subscription_identifiers.is_empty() {
            return Err(violation(
                ReasonCode::ProtocolError,
                "a client PUBLISH carried a subscription identifier [MQTT-3.3.4-6]",
            ));
        }

        let qos = publish.qos;
        let packet_id = publish.packet_id;
        if let Some(acl) = &self.acl {
            let subject = AclSubject {
                username: self.username.as_deref(),
                client_id: &self.client_id,
            };
            let decision = acl.check(&subject, Access::Write, publish.topic.as_str());
            if !decision.allowed {
                events.push(ConnEvent::Denied {
                    access: Access::Write,
                    topic: publish.topic.as_str().into(),
                    rule: decision.rule,
                });
                // v5 says so in the acknowledgement; 3.1.1 has no way to, so the message is
                // acknowledged and dropped (the client must not retry forever).
                let reason = if v5 {
                    ReasonCode::NotAuthorized
                } else {
                    ReasonCode::Success
                };
                if let (QoS::ExactlyOnce, Some(pid), false) = (qos, packet_id, v5) {
                    // 3.1.1: the flow completes normally, so PUBREL must find the id.
                    self.session.lock().store_incoming(pid.get());
                }
                self.acknowledge(qos, packet_id, reason, out);
                return Ok(());
            }
        }
        if qos != QoS::AtMostOnce && !broker.emitter().healthy() {
            // [Issue 10] Never acknowledge what cannot be written: refused, and the client
            // (which keeps the message) is disconnected, v5 with 0x97 Quota exceeded.
            return Err(CloseReason::StoreUnavailable {
                topic: publish.topic.as_str().into(),
                qos: qos as u8,
            });
        }
        if qos == QoS::ExactlyOnce {
            let Some(pid) = packet_id else {
                return Err(violation(
                    ReasonCode::ProtocolError,
                    "QoS 2 PUBLISH without packet id",
                ));
            };
            let mut st = self.session.lock();
            if st.incoming_qos2.contains(&pid.get()) {
                // A re-sent PUBLISH we already routed: acknowledge, do not deliver twice.
                drop(st);
                encode(&Packet::PubRec(Ack::new(pid)), self.version, out);
                return Ok(());
            }
            if v5 && st.incoming_qos2.len() >= usize::from(broker.config().max_inflight.get()) {
                return Err(violation(
                    ReasonCode::ReceiveMaximumExceeded,
                    "more unacknowledged QoS 2 messages than the Receive Maximum [MQTT-3.3.4-9]",
                ));
            }
            // Held from now on (a re-sent PUBLISH is not routed twice); the store hears of it
            // once the routing's events are out, below.
            st.incoming_qos2.insert(pid.get());
        }

        let msg = Message::new(
            publish.topic,
            publish.payload,
            qos,
            publish.retain,
            publish.properties,
            now,
            self.session.id(),
        );
        // A QoS 2 message's routing and its incoming packet id are durable together or not
        // at all: partly durable, a crash would lose it (id kept, copies gone: the re-sent
        // PUBLISH is taken for a duplicate) or deliver it twice (copies kept, id gone).
        let group = qos == QoS::ExactlyOnce;
        if group {
            broker.emitter().begin_group();
        }
        let delivered = broker.publish_noting_congestion(now, &msg, congested);
        if let (QoS::ExactlyOnce, Some(pid)) = (qos, packet_id) {
            self.session.lock().incoming_stored(pid.get());
        }
        if group {
            broker.emitter().end_group();
        }
        let reason = if v5 && delivered == 0 {
            ReasonCode::NoMatchingSubscribers
        } else {
            ReasonCode::Success
        };
        self.acknowledge(qos, packet_id, reason, out);
        Ok(())
    }

    /// PUBACK for QoS 1, PUBREC for QoS 2, nothing for QoS 0.
    fn acknowledge(
        &self,
        qos: QoS,
        packet_id: Option<lantern_codec::PacketId>,
        reason: ReasonCode,
        out: &mut BytesMut,
    ) {
        let Some(packet_id) = packet_id else { return };
        let ack = Ack {
            packet_id,
            reason,
            properties: AckProperties::default(),
        };
        match qos {
            QoS::AtLeastOnce => encode(&Packet::PubAck(ack), self.version, out),
            QoS::ExactlyOnce => encode(&Packet::PubRec(ack), self.version, out),
            QoS::AtMostOnce => {}
        }
    }

    /// PUBACK or PUBCOMP: the end of an outgoing flow.
    fn on_ack(&mut self, ack: Ack, stage: InflightStage) {
        let mut st = self.session.lock();
        if let Some(i) = st
            .inflight
            .iter()
            .position(|f| f.packet_id == ack.packet_id && f.stage == stage)
        {
            st.complete_inflight(i);
        }
    }

    fn on_pubrec(&mut self, ack: Ack, out: &mut BytesMut) {
        let mut st = self.session.lock();
        let found = st
            .inflight
            .iter()
            .position(|f| f.packet_id == ack.packet_id && f.stage == InflightStage::AwaitPubRec);
        let reason = match found {
            Some(i) if ack.reason.is_error() => {
                // v5 §4.3.3: a PUBREC with an error code ends the flow.
                st.complete_inflight(i);
                return;
            }
            Some(i) => {
                st.await_pubcomp(i);
                ReasonCode::Success
            }
            None => ReasonCode::PacketIdentifierNotFound,
        };
        drop(st);
        let reason = if self.version.is_v5() {
            reason
        } else {
            ReasonCode::Success
        };
        let rel = Ack {
            packet_id: ack.packet_id,
            reason,
            properties: AckProperties::default(),
        };
        encode(&Packet::PubRel(rel), self.version, out);
    }

    fn on_pubrel(&mut self, ack: Ack, out: &mut BytesMut) {
        let found = self.session.lock().release_incoming(ack.packet_id.get());
        let reason = if found || !self.version.is_v5() {
            ReasonCode::Success
        } else {
            ReasonCode::PacketIdentifierNotFound
        };
        let comp = Ack {
            packet_id: ack.packet_id,
            reason,
            properties: AckProperties::default(),
        };
        encode(&Packet::PubComp(comp), self.version, out);
    }

    fn on_subscribe(
        &mut self,
        broker: &Broker,
        now: Instant,
        sub: Subscribe,
        out: &mut BytesMut,
        events: &mut Vec<ConnEvent>,
    ) -> Result<(), CloseReason> {
        let mut reasons = Vec::with_capacity(sub.filters.len());
        let mut accepted = Vec::with_capacity(sub.filters.len());
        for (raw, options) in &sub.filters {
            let filter = match parse_filter(raw.as_str()) {
                Ok(f) => f,
                Err(_) => {
                    reasons.push(ReasonCode::TopicFilterInvalid);
                    continue;
                }
            };
            let config = broker.config();
            if raw.len() > config.max_topic_length.get()
                || check_topic_limits(
                    filter.filter,
                    config.max_topic_length.get(),
                    config.max_topic_levels.get(),
                )
                .is_err()
            {
                reasons.push(ReasonCode::TopicFilterInvalid);
                continue;
            }
            if filter.share_group.is_some() && options.no_local && self.version.is_v5() {
                return Err(violation(
                    ReasonCode::ProtocolError,
                    "No Local set on a shared subscription [MQTT-3.8.3-4]",
                ));
            }
            if let Some(acl) = &self.acl {
                let subject = AclSubject {
                    username: self.username.as_deref(),
                    client_id: &self.client_id,
                };
                let decision = acl.check_subscribe(&subject, filter.filter);
                if !decision.allowed {
                    events.push(ConnEvent::Denied {
                        access: Access::Read,
                        topic: raw.as_str().into(),
                        rule: decision.rule,
                    });
                    reasons.push(ReasonCode::NotAuthorized);
                    continue;
                }
            }
            if let Some(max) = broker.config().max_subscriptions_per_client {
                if self.session.subscription_count() >= max.get()
                    && !self.session.has_subscription(raw.as_str())
                {
                    reasons.push(ReasonCode::QuotaExceeded);
                    continue;
                }
            }
            let entry = SubEntry {
                options: *options,
                id: sub.properties.subscription_identifier,
            };
            let existed = broker.subscribe(&self.session, raw.as_str(), &filter, entry);
            reasons.push(match options.qos {
                QoS::AtMostOnce => ReasonCode::Success,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            accepted.push((raw.clone(), entry, existed));
        }
        let suback = SubAck {
            packet_id: sub.packet_id,
            reasons,
            properties: AckProperties::default(),
        };
        encode(&Packet::SubAck(suback), self.version, out);
        // Retained messages go after the SUBACK, through the session queue.
        for (raw, entry, existed) in accepted {
            if let Ok(filter) = parse_filter(raw.as_str()) {
                broker.send_retained(now, &self.session, &filter, &entry, existed);
            }
        }
        Ok(())
    }

    fn on_unsubscribe(&mut self, broker: &Broker, unsub: Unsubscribe, out: &mut BytesMut) {
        let reasons = unsub
            .filters
            .iter()
            .map(|raw| match parse_filter(raw.as_str()) {
                Ok(filter) if broker.unsubscribe(&self.session, raw.as_str(), &filter) => {
                    ReasonCode::Success
                }
                Ok(_) => ReasonCode::NoSubscriptionExisted,
                Err(_) => ReasonCode::TopicFilterInvalid,
            })
            .collect();
        let unsuback = UnsubAck {
            packet_id: unsub.packet_id,
            reasons,
            properties: AckProperties::default(),
        };
        encode(&Packet::UnsubAck(unsuback), self.version, out);
    }

    fn on_disconnect(&mut self, disconnect: &Disconnect) -> Result<(), CloseReason> {
        if let Some(expiry) = disconnect.properties.session_expiry_interval {
            if self.connect_expiry == 0 && expiry != 0 {
                return Err(violation(
                    ReasonCode::ProtocolError,
                    "DISCONNECT set a session expiry after CONNECT had 0 (v5 §3.14.2.2.2)",
                ));
            }
            let expiry = self
                .max_session_expiry
                .map_or(expiry, |max| expiry.min(max));
            self.session.lock().set_expiry_interval(expiry);
        }
        Ok(())
    }

    /// Moves deliveries from the session into `dst`; true when a full batch was written and
    /// more are ready. Ends the queue's congestion once it is down to half its limit.
    fn drain(&mut self, now: Instant, dst: &mut BytesMut) -> bool {
        let more = self.drain_queue(now, dst);
        if self.session.is_congested() {
            let mut st = self.session.lock();
            if st.queue.len() <= self.max_queued / 2 {
                self.session.clear_congestion(&mut st);
            }
        }
        more
    }

    /// When the client's queue has been congested for `slow_subscriber_timeout`, if it is.
    fn slow_subscriber_deadline(&self, _broker: &Broker) -> Option<Instant> {
        if !self.session.is_congested() {
            return None;
        }
        let since = self.session.lock().congested_since?;
        Some(since + self.slow_subscriber_timeout)
    }

    /// The close reason when the client's queue has stayed congested too long at `now`.
    fn slow_subscriber(&self, broker: &Broker, now: Instant) -> Option<CloseReason> {
        let deadline = self.slow_subscriber_deadline(broker)?;
        if now < deadline {
            return None;
        }
        let st = self.session.lock();
        let since = st.congested_since?;
        Some(CloseReason::SlowSubscriber {
            queued: st.queue.len(),
            max_queued: self.max_queued,
            inflight: st.inflight.len(),
            window: self.window,
            stuck_for: now.saturating_duration_since(since),
            timeout: self.slow_subscriber_timeout,
        })
    }

    /// Sends queued deliveries in order, each once its queueing event is durable; notes the
    /// event it stopped at if it waits for one.
    fn drain_queue(&mut self, now: Instant, dst: &mut BytesMut) -> bool {
        self.blocked_on = None;
        let more = self.drain_queue_inner(now, dst);
        if self.blocked_on.is_none() {
            // Started QoS 2 flows left unsent (the window filled behind them, say).
            self.blocked_on = self.unsent.front().map(|&(_, event)| event);
        }
        more
    }

    fn drain_queue_inner(&mut self, now: Instant, dst: &mut BytesMut) -> bool {
        let session = self.session.clone();
        let mut st = session.lock();
        if self.resend_inflight {
            self.resend_inflight = false;
            self.resend(&mut st, dst);
        }
        self.resend_within_window(now, &mut st, dst);
        loop {
            self.send_unsent(now, &mut st, dst);
            let Some(front) = st.queue.front() else {
                break;
            };
            if dst.len() >= TRANSMIT_BATCH {
                return true;
            }
            if front.qos != QoS::AtMostOnce && st.inflight.len() >= self.window {
                return false;
            }
            if let Some(event) = st.front_waits_for() {
                self.blocked_on = Some(event);
                return false;
            }
            // Behind a QoS 2 PUBLISH waiting for its flow to be durable, only more QoS 2
            // flows start (they share the wait); anything else would overtake it.
            if let (Some(&(_, event)), false) = (self.unsent.front(), front.qos == QoS::ExactlyOnce)
            {
                self.blocked_on = Some(event);
                return false;
            }
            let Some(delivery) = st.queue.pop_front() else {
                break;
            };
            if delivery.msg.is_expired(now) {
                st.drops.expired += 1;
                st.dequeued(&delivery);
                continue;
            }
            let packet_id = if delivery.qos == QoS::AtMostOnce {
                None
            } else {
                match st.allocate_packet_id() {
                    Some(id) => Some(id),
                    None => {
                        st.queue.push_front(delivery);
                        return false;
                    }
                }
            };
            if let (Some(packet_id), QoS::ExactlyOnce, true) =
                (packet_id, delivery.qos, st.persists())
            {
                let event = st.start_inflight(packet_id, delivery);
                self.unsent.push_back((packet_id, event));
                continue;
            }
            if !self.encode_delivery(now, &delivery, packet_id, false, dst) {
                // Too large for this client: dropped [MQTT-3.1.2-25].
                st.drops.too_large += 1;
                st.dequeued(&delivery);
                continue;
            }
            match packet_id {
                Some(packet_id) => {
                    st.start_inflight(packet_id, delivery);
                }
                None => st.dequeued(&delivery),
            }
        }
        self.send_unsent(now, &mut st, dst);
        false
    }

    /// Sends the started QoS 2 flows whose events are durable, in order.
    fn send_unsent(&mut self, now: Instant, st: &mut SessionState, dst: &mut BytesMut) {
        while let Some(&(id, event)) = self.unsent.front() {
            if !st.is_durable(event) {
                return;
            }
            self.unsent.pop_front();
            let Some(i) = st
                .inflight
                .iter()
                .position(|f| f.packet_id == id && f.stage == InflightStage::AwaitPubRec)
            else {
                continue;
            };
            let delivery = st.inflight[i].delivery.clone();
            if !self.encode_delivery(now, &delivery, Some(id), false, dst) {
                // Too large for this client: dropped [MQTT-3.1.2-25], its flow ended.
                st.drops.too_large += 1;
                st.complete_inflight(i);
            }
        }
    }

    /// The event the last `drain` stopped at, waiting for it to be durable.
    fn waits_for(&self) -> Option<u64> {
        self.blocked_on
    }

    /// [MQTT-4.4.0-1] On a resumed session, re-send PUBREL for the flows already received at
    /// once, and the unacknowledged PUBLISH packets with DUP set, in their original order, as
    /// the window allows ([`Open::resend_within_window`]).
    fn resend(&mut self, st: &mut SessionState, dst: &mut BytesMut) {
        for f in &st.inflight {
            match f.stage {
                InflightStage::AwaitPubComp => {
                    encode(&Packet::PubRel(Ack::new(f.packet_id)), self.version, dst);
                    self.encoded += 1;
                    self.last_encoded = Some(PacketType::PubRel);
                }
                _ => self.resend_pending.push_back(f.packet_id),
            }
        }
    }

    /// Re-sends resumed PUBLISH flows while fewer than `window` flows are in flight on this
    /// connection [MQTT-3.3.4-9]: a session resumed with a smaller Receive Maximum than it had
    /// gets its old flows a few at a time, as acknowledgements make room.
    fn resend_within_window(&mut self, now: Instant, st: &mut SessionState, dst: &mut BytesMut) {
        while let Some(&id) = self.resend_pending.front() {
            let flow = st
                .inflight
                .iter()
                .find(|f| f.packet_id == id && f.stage != InflightStage::AwaitPubComp)
                .map(|f| f.delivery.clone());
            let Some(delivery) = flow else {
                // Acknowledged (or PUBREC'd) since the resume: nothing to re-send.
                self.resend_pending.pop_front();
                continue;
            };
            let not_resent = self
                .resend_pending
                .iter()
                .filter(|p| st.inflight.iter().any(|f| f.packet_id == **p))
                .count();
            if st.inflight.len() - not_resent >= self.window {
                return;
            }
            if !st.is_durable(delivery.event) {
                // Started on the last connection and not durable yet: as for a first send.
                self.blocked_on = Some(delivery.event);
                return;
            }
            self.resend_pending.pop_front();
            self.encode_delivery(now, &delivery, Some(id), true, dst);
        }
    }

    /// Encodes one PUBLISH for this client; false when it exceeds the client's Maximum Packet
    /// Size and was not sent.
    fn encode_delivery(
        &mut self,
        now: Instant,
        delivery: &Delivery,
        packet_id: Option<lantern_codec::PacketId>,
        dup: bool,
        dst: &mut BytesMut,
    ) -> bool {
        let msg = &delivery.msg;
        let mut publish = Publish {
            dup,
            qos: delivery.qos,
            retain: delivery.retain,
            topic: msg.topic.clone(),
            packet_id,
            properties: Default::default(),
            payload: msg.payload.clone(),
        };
        if self.version.is_v5() {
            publish.properties = msg.delivery_properties(now);
            publish.properties.subscription_identifiers = delivery.sub_ids.to_vec();
            let mut new_alias = None;
            if self.alias_out_max > 0 && !dup {
                if let Some(alias) = self.aliases_out.get(&msg.topic) {
                    publish.properties.topic_alias = Some(*alias);
                    publish.topic = MqttString::default();
                } else if self.aliases_out.len() < usize::from(self.alias_out_max) {
                    let next = u16::try_from(self.aliases_out.len() + 1).unwrap_or(u16::MAX);
                    new_alias = NonZeroU16::new(next);
                    publish.properties.topic_alias = new_alias;
                }
            }
            if let Some(max) = self.client_max_packet {
                let max = max.get() as usize;
                if publish.encoded_len(self.version) > max && new_alias.is_some() {
                    // Setting up the alias costs 3 bytes; send this one without it.
                    publish.properties.topic_alias = None;
                    new_alias = None;
                }
                // [MQTT-3.1.2-25] Too large for the client: not sent, as if delivered.
                if publish.encoded_len(self.version) > max {
                    return false;
                }
            }
            if let Some(alias) = new_alias {
                self.aliases_out.insert(msg.topic.clone(), alias);
            }
        }
        if publish.encode(self.version, dst).is_err() {
            return false;
        }
        self.encoded += 1;
        self.last_encoded = Some(PacketType::Publish);
        true
    }
}

/// CONNACK properties carrying a Reason String for a v5 client (v5 §3.2.2.3.7); empty for 3.1.1,
/// which has no properties.
fn v5_reason_string(version: ProtocolVersion, text: &str) -> ConnAckProperties {
    ConnAckProperties {
        reason_string: version
            .is_v5()
            .then(|| MqttString::copy_from_str(text).ok())
            .flatten(),
        ..ConnAckProperties::default()
    }
}

fn violation(reason: ReasonCode, detail: &str) -> CloseReason {
    CloseReason::ProtocolViolation {
        reason,
        detail: detail.to_owned(),
    }
}

/// Encodes a control packet the broker built itself. These are always encodable (they are far
/// below the protocol's size limit); a failure would be a broker bug, and dropping the packet
/// is the least harmful response.
fn encode(packet: &Packet, version: ProtocolVersion, out: &mut BytesMut) {
    let _ = packet.encode(version, out);
}

/// The start of an oversized topic, for a message (at most 64 bytes, on a char boundary).
fn prefix(topic: &str) -> &str {
    let mut end = topic.len().min(64);
    while !topic.is_char_boundary(end) {
        end -= 1;
    }
    &topic[..end]
}

/// The protocol level byte of a CONNECT at the front of `buf`, if it is there.
fn peek_connect_level(buf: &[u8]) -> Option<u8> {
    let header = lantern_codec::parse_fixed_header(buf).ok()??;
    let body = buf.get(header.header_len..)?;
    let name_len = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    body.get(2 + name_len).copied()
}
