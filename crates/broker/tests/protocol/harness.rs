//! The test harness: an in-memory MQTT client wired straight to a sans-IO [`Connection`], on a
//! simulated clock (STYLE.md test pyramid, tier 4).
//!
//! Nothing here sleeps or opens a socket. Every call takes `now`; tests start from
//! `let t0 = Instant::now();` and pass `t0 + secs(n)` / `t0 + millis(n)` everywhere.
//!
//! The [`Client`] plays the part of both the device and the network driver: packets the test
//! sends are encoded into a read buffer that persists between calls (a partial packet stays in
//! it, as in the real driver), and everything the connection transmits is decoded back into
//! [`Packet`]s with the same codec the broker uses.

#![allow(dead_code)] // not every test file uses every helper

use std::collections::VecDeque;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use lantern_broker::{Broker, BrokerConfig, CloseReason, ConnEvent, Connection};
use lantern_codec::{
    decode, Ack, ConnAck, Connect, ConnectProperties, Disconnect, DisconnectProperties, Limits,
    MqttString, Packet, PacketId, ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode,
    RetainHandling, Subscribe, SubscribeProperties, SubscriptionOptions, Unsubscribe,
    UnsubscribeProperties, Will, WillProperties,
};

/// Session expiry a "persistent" v5 client asks for in these tests: long enough that no test
/// runs into it by accident.
pub const PERSISTENT_EXPIRY: u32 = 3600;

/// Generates one `#[test]` per protocol version for a `fn name(version: ProtocolVersion)`:
/// `name::v311` and `name::v5`, so a failure names the version. Attributes before a name
macro_rules! both_versions {
    ($($(#[$attr:meta])* $name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            $(#[$attr])*
            fn v311() {
                super::$name(lantern_codec::ProtocolVersion::V311)
            }
            #[test]
            $(#[$attr])*
            fn v5() {
                super::$name(lantern_codec::ProtocolVersion::V5)
            }
        }
    )+};
}
pub(crate) use both_versions;

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Whole seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Milliseconds, for "just before" checks.
pub fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---------------------------------------------------------------------------------------------
// Brokers and wakers
// ---------------------------------------------------------------------------------------------

/// A broker with the default configuration.
pub fn broker() -> Arc<Broker> {
    Broker::new(BrokerConfig::default())
}

/// A waker that records that it was woken.
#[derive(Debug, Default)]
pub struct Flag(AtomicBool);

impl Flag {
    /// Whether the waker fired since the last call; clears the flag.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// One simulated client and the broker-side connection it talks to.
pub struct Client {
    /// The broker's side of the connection.
    pub conn: Connection,
    /// The protocol version the client encodes and decodes with.
    pub version: ProtocolVersion,
    /// Records wake-ups of the connection's waker.
    pub flag: Arc<Flag>,
    /// Bytes sent by the client and not yet consumed by the connection (the driver's read
    /// buffer: a partial packet stays here until the rest arrives).
    to_broker: BytesMut,
    /// Packets already received but not yet handed to the test (deliveries that arrived in the
    /// same transmit as CONNACK).
    pending: VecDeque<Packet>,
    /// Connection events drained so far.
    events: Vec<ConnEvent>,
    next_packet_id: u16,
}

impl Client {
    /// A new connection accepted at `now`; nothing sent yet.
    pub fn open(broker: &Arc<Broker>, version: ProtocolVersion, now: Instant) -> Self {
        let flag = Arc::new(Flag::default());
        let conn = Connection::new(broker.clone(), Waker::from(flag.clone()), now);
        Self {
            conn,
            version,
            flag,
            to_broker: BytesMut::new(),
            pending: VecDeque::new(),
            events: Vec::new(),
            next_packet_id: 1,
        }
    }

    /// A new connection under an access policy, with an optional verified certificate identity.
    pub fn open_with(
        broker: &Arc<Broker>,
        version: ProtocolVersion,
        now: Instant,
        access: lantern_broker::auth::AccessPolicy,
        cert: Option<lantern_broker::auth::CertIdentity>,
    ) -> Self {
        let mut client = Self::open(broker, version, now);
        let flag = client.flag.clone();
        client.conn = Connection::with_access(
            broker.clone(),
            Arc::new(access),
            cert,
            Waker::from(flag),
            now,
        );
        client
    }

    /// Encodes `packet` for this client's version and hands it to the connection.
    pub fn send(&mut self, now: Instant, packet: Packet) {
        packet
            .encode(self.version, &mut self.to_broker)
            .expect("test packet encodes");
        self.conn.handle_bytes(now, &mut self.to_broker);
    }

    /// Hands raw bytes to the connection (hand-written or malformed packets).
    pub fn send_raw(&mut self, now: Instant, bytes: &[u8]) {
        self.to_broker.extend_from_slice(bytes);
        self.conn.handle_bytes(now, &mut self.to_broker);
    }

    /// Everything the connection transmits at `now`, decoded. Calls `poll_transmit` until it
    /// says nothing more is ready, moving each batch out as the driver would.
    pub fn recv(&mut self, now: Instant) -> Vec<Packet> {
        let mut wire = self.recv_bytes(now);
        let mut packets: Vec<Packet> = self.pending.drain(..).collect();
        while !wire.is_empty() {
            match decode(&mut wire, self.version, &Limits::default()) {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => panic!("the broker transmitted a partial packet: {wire:?}"),
                Err(e) => panic!("the broker transmitted an undecodable packet: {e}"),
            }
        }
        packets
    }

    /// The raw bytes the connection transmits at `now`, undecoded (for byte-exact checks).
    pub fn recv_bytes(&mut self, now: Instant) -> BytesMut {
        let mut wire = BytesMut::new();
        loop {
            let mut batch = BytesMut::new();
            let more = self.conn.poll_transmit(now, &mut batch);
            wire.extend_from_slice(&batch);
            if !more {
                break;
            }
        }
        wire
    }

    /// Asserts that nothing is transmitted at `now`.
    #[track_caller]
    pub fn recv_nothing(&mut self, now: Instant) {
        let packets = self.recv(now);
        assert!(packets.is_empty(), "expected nothing, got {packets:#?}");
    }

    /// Receives and asserts that every packet is a PUBLISH.
    #[track_caller]
    pub fn recv_publishes(&mut self, now: Instant) -> Vec<Publish> {
        self.recv(now)
            .into_iter()
            .map(|p| match p {
                Packet::Publish(publish) => publish,
                other => panic!("expected only PUBLISH packets, got {other:#?}"),
            })
            .collect()
    }

    /// Receives and asserts exactly one packet.
    #[track_caller]
    pub fn recv_one(&mut self, now: Instant) -> Packet {
        let mut packets = self.recv(now);
        assert_eq!(
            packets.len(),
            1,
            "expected exactly one packet, got {packets:#?}"
        );
        packets.remove(0)
    }

    /// Receives and asserts exactly one PUBLISH.
    #[track_caller]
    pub fn recv_publish(&mut self, now: Instant) -> Publish {
        match self.recv_one(now) {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:#?}"),
        }
    }

    /// Receives and asserts exactly one DISCONNECT; returns its reason code.
    #[track_caller]
    pub fn recv_disconnect(&mut self, now: Instant) -> ReasonCode {
        match self.recv_one(now) {
            Packet::Disconnect(d) => d.reason,
            other => panic!("expected DISCONNECT, got {other:#?}"),
        }
    }

    /// A fresh packet identifier for SUBSCRIBE / UNSUBSCRIBE / PUBLISH.
    pub fn packet_id(&mut self) -> PacketId {
        let id = pid(self.next_packet_id);
        self.next_packet_id = self.next_packet_id.wrapping_add(1).max(1);
        id
    }

    /// Subscribes to one filter and asserts the SUBACK grants `qos`.
    #[track_caller]
    pub fn subscribe(&mut self, now: Instant, filter: &str, qos: QoS) {
        let options = opts(qos);
        self.subscribe_with(now, filter, options, None);
    }

    /// Subscribes with explicit options and (v5) a subscription identifier; asserts success and
    /// returns whatever arrived after the SUBACK (retained messages).
    #[track_caller]
    pub fn subscribe_with(
        &mut self,
        now: Instant,
        filter: &str,
        options: SubscriptionOptions,
        sub_id: Option<u32>,
    ) -> Vec<Packet> {
        let packet_id = self.packet_id();
        let mut sub = subscribe(packet_id.get(), &[(filter, options)]);
        sub.properties.subscription_identifier = sub_id.and_then(NonZeroU32::new);
        self.send(now, Packet::Subscribe(sub));
        let mut packets = self.recv(now);
        assert!(!packets.is_empty(), "no SUBACK for {filter:?}");
        match packets.remove(0) {
            Packet::SubAck(ack) => {
                assert_eq!(ack.packet_id, packet_id, "SUBACK packet id");
                assert_eq!(
                    ack.reasons,
                    vec![granted(options.qos)],
                    "SUBACK for {filter:?}"
                );
            }
            other => panic!("expected SUBACK, got {other:#?}"),
        }
        packets
    }

    /// Sends a PUBLISH and returns what came back (PUBACK / PUBREC / nothing).
    pub fn publish(&mut self, now: Instant, publish: Publish) -> Vec<Packet> {
        self.send(now, Packet::Publish(publish));
        self.recv(now)
    }

    /// Sends a QoS 0 PUBLISH and asserts nothing comes back.
    #[track_caller]
    pub fn publish_qos0(&mut self, now: Instant, topic: &str, payload: &str) {
        let packets = self.publish(now, publish(topic, payload, QoS::AtMostOnce, 0));
        assert!(
            packets.is_empty(),
            "QoS 0 PUBLISH answered with {packets:#?}"
        );
    }

    /// Sends a QoS 1 PUBLISH and asserts a PUBACK with the same id.
    #[track_caller]
    pub fn publish_qos1(&mut self, now: Instant, topic: &str, payload: &str) {
        let id = self.packet_id();
        let packets = self.publish(now, publish(topic, payload, QoS::AtLeastOnce, id.get()));
        match packets.as_slice() {
            [Packet::PubAck(ack)] => assert_eq!(ack.packet_id, id),
            other => panic!("expected PUBACK {id}, got {other:#?}"),
        }
    }

    /// Sends a QoS 2 PUBLISH and completes the flow (PUBREC, PUBREL, PUBCOMP).
    #[track_caller]
    pub fn publish_qos2(&mut self, now: Instant, topic: &str, payload: &str) {
        let id = self.packet_id();
        let packets = self.publish(now, publish(topic, payload, QoS::ExactlyOnce, id.get()));
        match packets.as_slice() {
            [Packet::PubRec(ack)] => assert_eq!(ack.packet_id, id),
            other => panic!("expected PUBREC {id}, got {other:#?}"),
        }
        self.send(now, Packet::PubRel(Ack::new(id)));
        match self.recv(now).as_slice() {
            [Packet::PubComp(ack)] => assert_eq!(ack.packet_id, id),
            other => panic!("expected PUBCOMP {id}, got {other:#?}"),
        }
    }

    /// Sends DISCONNECT with a reason code (0x00 for 3.1.1).
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        self.send(
            now,
            Packet::Disconnect(Disconnect {
                reason,
                properties: DisconnectProperties::default(),
            }),
        );
    }

    /// Drains the connection's events into the log and returns the whole log.
    pub fn events(&mut self) -> &[ConnEvent] {
        while let Some(event) = self.conn.poll_event() {
            self.events.push(event);
        }
        &self.events
    }

    /// Why the connection closed, if it did.
    pub fn closed_reason(&mut self) -> Option<CloseReason> {
        self.events().iter().find_map(|e| match e {
            ConnEvent::Closed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    /// The `Connected` event, if there was one.
    pub fn connected_event(&mut self) -> Option<ConnEvent> {
        self.events()
            .iter()
            .find(|e| matches!(e, ConnEvent::Connected { .. }))
            .cloned()
    }

    /// Asserts the connection is closed and returns the reason.
    #[track_caller]
    pub fn expect_closed(&mut self) -> CloseReason {
        assert!(self.conn.is_closed(), "connection still open");
        self.closed_reason().expect("a Closed event")
    }
}

/// Opens a connection, sends `connect` and returns the client and its CONNACK. Anything that
/// arrived with the CONNACK (re-sent or queued deliveries) is kept for the next `recv`.
#[track_caller]
pub fn connect(broker: &Arc<Broker>, now: Instant, connect: Connect) -> (Client, ConnAck) {
    let mut client = Client::open(broker, connect.protocol, now);
    client.send(now, Packet::Connect(connect));
    let mut packets: VecDeque<Packet> = client.recv(now).into();
    let connack = match packets.pop_front() {
        Some(Packet::ConnAck(connack)) => connack,
        other => panic!("expected CONNACK, got {other:#?} (then {packets:#?})"),
    };
    client.pending = packets;
    (client, connack)
}

/// Connects and asserts CONNACK Success.
#[track_caller]
pub fn connect_ok(broker: &Arc<Broker>, now: Instant, packet: Connect) -> Client {
    let (client, connack) = connect(broker, now, packet);
    assert_eq!(connack.reason, ReasonCode::Success, "CONNACK: {connack:#?}");
    client
}

/// A clean (non-persistent) client subscribed to `filter` at `qos`.
#[track_caller]
pub fn subscriber(
    broker: &Arc<Broker>,
    now: Instant,
    version: ProtocolVersion,
    client_id: &str,
    filter: &str,
    qos: QoS,
) -> Client {
    let mut client = connect_ok(broker, now, clean(version, client_id));
    client.subscribe(now, filter, qos);
    client
}

// ---------------------------------------------------------------------------------------------
// Packet builders
// ---------------------------------------------------------------------------------------------

/// A packet identifier (panics on 0).
pub fn pid(n: u16) -> PacketId {
    NonZeroU16::new(n).expect("packet id is not 0")
}

/// An MQTT string.
pub fn mstr(s: &str) -> MqttString {
    MqttString::copy_from_str(s).expect("valid MQTT string")
}

/// CONNECT for 3.1.1.
pub fn connect_v311(client_id: &str, clean_session: bool, keep_alive: u16) -> Connect {
    Connect {
        protocol: ProtocolVersion::V311,
        clean_start: clean_session,
        keep_alive,
        client_id: mstr(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// CONNECT for 5.0 with an optional Session Expiry Interval.
pub fn connect_v5(
    client_id: &str,
    clean_start: bool,
    keep_alive: u16,
    session_expiry: Option<u32>,
) -> Connect {
    Connect {
        protocol: ProtocolVersion::V5,
        clean_start,
        keep_alive,
        client_id: mstr(client_id),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties {
            session_expiry_interval: session_expiry,
            ..ConnectProperties::default()
        },
    }
}

/// CONNECT with keep alive as given, clean session / clean start, session expiry 0.
pub fn connect_with_keepalive(
    version: ProtocolVersion,
    client_id: &str,
    keep_alive: u16,
) -> Connect {
    match version {
        ProtocolVersion::V5 => connect_v5(client_id, true, keep_alive, None),
        _ => connect_v311(client_id, true, keep_alive),
    }
}

/// A clean connection (3.1.1 clean session 1 / v5 clean start 1, expiry 0), keep alive off.
pub fn clean(version: ProtocolVersion, client_id: &str) -> Connect {
    connect_with_keepalive(version, client_id, 0)
}

/// A connection that resumes or creates a persistent session: 3.1.1 clean session 0 (never
/// expires) / v5 clean start 0 with [`PERSISTENT_EXPIRY`]. Keep alive off.
pub fn persistent(version: ProtocolVersion, client_id: &str) -> Connect {
    match version {
        ProtocolVersion::V5 => connect_v5(client_id, false, 0, Some(PERSISTENT_EXPIRY)),
        _ => connect_v311(client_id, false, 0),
    }
}

/// A will message.
pub fn will(topic: &str, payload: &str, qos: QoS, retain: bool) -> Will {
    Will {
        topic: mstr(topic),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos,
        retain,
        properties: WillProperties::default(),
    }
}

/// A PUBLISH; `packet_id` 0 means none (QoS 0).
pub fn publish(topic: &str, payload: &str, qos: QoS, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: mstr(topic),
        packet_id: NonZeroU16::new(packet_id),
        properties: PublishProperties::default(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

/// A retained QoS 0 PUBLISH.
pub fn retained(topic: &str, payload: &str) -> Publish {
    Publish {
        retain: true,
        ..publish(topic, payload, QoS::AtMostOnce, 0)
    }
}

/// Subscription options with a maximum QoS and everything else at its default.
pub fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    }
}

/// Subscription options with a Retain Handling value.
pub fn opts_rh(qos: QoS, retain_handling: RetainHandling) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        retain_handling,
        ..SubscriptionOptions::default()
    }
}

/// SUBSCRIBE with one or more filters.
pub fn subscribe(packet_id: u16, filters: &[(&str, SubscriptionOptions)]) -> Subscribe {
    Subscribe {
        packet_id: pid(packet_id),
        filters: filters.iter().map(|(f, o)| (mstr(f), *o)).collect(),
        properties: SubscribeProperties::default(),
    }
}

/// UNSUBSCRIBE.
pub fn unsubscribe(packet_id: u16, filters: &[&str]) -> Unsubscribe {
    Unsubscribe {
        packet_id: pid(packet_id),
        filters: filters.iter().map(|f| mstr(f)).collect(),
        properties: UnsubscribeProperties::default(),
    }
}

/// The SUBACK reason code granting `qos`.
pub fn granted(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

/// The payloads of some PUBLISH packets, as strings, in order.
pub fn payloads(publishes: &[Publish]) -> Vec<String> {
    publishes
        .iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

/// The payload of one PUBLISH as a string.
pub fn payload(publish: &Publish) -> String {
    String::from_utf8_lossy(&publish.payload).into_owned()
}
