//! Drives the broker's sans-IO `Connection`s with an arbitrary sequence of operations decoded
//! from the input: up to four clients connect (3.1.1 or 5.0, clean or not, same or different
//! client ids and user names, so sessions are resumed and taken over), subscribe (wildcards,
//! shared), publish at every QoS, acknowledge deliveries in any order or for ids that do not
//! exist, let time pass (keep alive, session expiry, delayed wills), disconnect, drop the
//! network or send garbage. Packets are built with the codec's encoder, so most inputs are
//! valid MQTT. After every step it checks:
//!
//! - nothing panics, and everything the broker sends decodes at the client's version;
//! - the QoS 1/2 deliveries in flight towards a client never exceed its Receive Maximum (v5)
//!   nor the broker's `max_inflight`;
//! - no delivery reaches a client whose ACL denies it the topic (the target's [`FuzzAcl`]);
//! - a connection that is closed reported exactly one `Closed` event, an open one none.
//!
//! Input format: a sequence of operations, each an opcode byte followed by its argument bytes
//! (missing bytes read as 0), so any byte string is a valid program. `fuzz/README.md` shows
//! how to run it on stable.
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use lantern_broker::auth::{Access, AccessPolicy, Acl, AclDecision, AclSubject};
use lantern_broker::{Broker, BrokerConfig, ConnEvent, Connection};
use lantern_codec::{
    decode, Ack, Connect, ConnectProperties, Disconnect, DisconnectProperties, Limits, MqttString,
    Packet, ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode, RetainHandling,
    Subscribe, SubscribeProperties, SubscriptionOptions, Unsubscribe, UnsubscribeProperties, Will,
    WillProperties,
};
use libfuzzer_sys::fuzz_target;

/// Client slots: enough for takeovers, shared subscriptions and fan-out.
const SLOTS: usize = 4;
/// Operations per input, so one input cannot run for long.
const MAX_OPS: usize = 256;
/// The broker's in-flight window: small, so the limit is reached often.
const MAX_INFLIGHT: u16 = 3;

const CLIENT_IDS: [&str; 4] = ["c0", "c1", "c2", ""];
const USERNAMES: [Option<&str>; 4] = [None, Some("c0"), Some("c1"), Some("c2")];
const TOPICS: [&str; 10] = [
    "a",
    "a/b",
    "a/b/c",
    "deny/x",
    "private/c0/t",
    "private/c1/t",
    "b/deny",
    "c/d",
    "private/c2",
    "$SYS/x",
];
const FILTERS: [&str; 14] = [
    "#",
    "+",
    "a/#",
    "a/+",
    "+/b",
    "deny/#",
    "private/+/t",
    "$share/g/a/#",
    "$share/g/#",
    "a/b",
    "+/+/+",
    "private/#",
    "private/c0/#",
    "$share/h/private/#",
];

/// A deterministic ACL: no client may publish or read a topic with a level `deny`, or
/// subscribe to a filter with one; `private/<name>/...` may be read only by user `<name>`.
struct FuzzAcl;

impl FuzzAcl {
    fn allows(username: Option<&str>, access: Access, topic: &str) -> bool {
        if topic.split('/').any(|level| level == "deny") {
            return false;
        }
        if access == Access::Read {
            let mut levels = topic.split('/');
            if levels.next() == Some("private") {
                return levels.next().is_some_and(|owner| Some(owner) == username);
            }
        }
        true
    }
}

impl Acl for FuzzAcl {
    fn check(&self, subject: &AclSubject<'_>, access: Access, topic: &str) -> AclDecision {
        AclDecision {
            allowed: Self::allows(subject.username, access, topic),
            rule: Arc::from("fuzz acl"),
        }
    }

    fn check_subscribe(&self, _subject: &AclSubject<'_>, filter: &str) -> AclDecision {
        AclDecision {
            allowed: !filter.split('/').any(|level| level == "deny"),
            rule: Arc::from("fuzz acl"),
        }
    }
}

/// Reads operation arguments; past the end every byte is 0.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }
}

/// Where a QoS 1/2 delivery to the client stands, named for what it waits for (STYLE.md
/// idiom 7), as the client sees it.
#[allow(clippy::enum_variant_names)]
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Outstanding {
    /// QoS 1, waiting for the client's PUBACK.
    AwaitPubAck,
    /// QoS 2, waiting for the client's PUBREC.
    AwaitPubRec,
    /// QoS 2, PUBREC sent; the broker's PUBREL and the client's PUBCOMP are to come.
    AwaitPubComp,
}

/// One simulated client and the broker's connection for it.
struct Client {
    conn: Connection,
    version: ProtocolVersion,
    username: Option<&'static str>,
    /// Receive Maximum the client announced (v5), else the protocol's unlimited.
    receive_max: u16,
    /// Bytes from the broker not yet decoded.
    rx: BytesMut,
    /// Deliveries in flight towards the client, by packet id.
    outstanding: BTreeMap<u16, Outstanding>,
    /// The client's own QoS 2 publishes the broker has PUBREC'd (the client owes PUBREL).
    own_qos2: Vec<u16>,
    /// Topic aliases the broker set up towards the client.
    aliases: HashMap<u16, String>,
    next_id: u16,
    /// Raw garbage was written: the broker's answers are no longer predictable.
    tainted: bool,
    closed_events: usize,
}

struct World {
    broker: Arc<Broker>,
    access: Arc<AccessPolicy>,
    start: Instant,
    elapsed: Duration,
    clients: [Option<Client>; SLOTS],
    /// SERVER_CONN_OPS_TRACE set: print each operation and packet (for minimising a crash).
    trace: bool,
}

impl World {
    fn now(&self) -> Instant {
        self.start + self.elapsed
    }

    fn send(&mut self, slot: usize, packet: &Packet) {
        if self.trace {
            eprintln!("  slot {slot} sends {packet:?}");
        }
        let now = self.now();
        let Some(c) = self.clients[slot].as_mut() else {
            return;
        };
        let mut buf = BytesMut::new();
        if packet.encode(c.version, &mut buf).is_err() {
            return;
        }
        c.conn.handle_bytes(now, &mut buf);
    }

    fn next_id(&mut self, slot: usize) -> NonZeroU16 {
        let c = self.clients[slot]
            .as_mut()
            .expect("slot checked by the caller");
        c.next_id = c.next_id.wrapping_add(1).max(1);
        NonZeroU16::new(c.next_id).expect("never 0")
    }

    fn op(&mut self, input: &mut Input<'_>) {
        let at = input.pos;
        let opcode = input.byte() % 12;
        let slot = usize::from(input.byte()) % SLOTS;
        if self.trace {
            let args = &input.data[input.pos.min(input.data.len())..];
            eprintln!(
                "op {opcode} slot {slot} at byte {at}, next bytes {:?}",
                &args[..args.len().min(8)]
            );
        }
        match opcode {
            0 => self.connect(slot, input),
            1 => self.subscribe(slot, input),
            2 => self.unsubscribe(slot, input),
            3 | 4 => self.publish(slot, input),
            5 => self.ack_outstanding(slot, input),
            6 => self.ack_unknown(slot, input),
            7 => self.release_own(slot, input),
            8 => {
                let ms = u64::from(input.u16()) * 16;
                self.elapsed += Duration::from_millis(ms);
                let now = self.now();
                self.broker.tick(now);
                for c in self.clients.iter_mut().flatten() {
                    c.conn.handle_timeout(now);
                }
            }
            9 => self.disconnect(slot, input),
            10 => {
                let now = self.now();
                if let Some(c) = self.clients[slot].as_mut() {
                    if input.byte().is_multiple_of(2) {
                        c.conn.handle_peer_closed(now);
                    } else {
                        c.conn.handle_network_error(now, "reset".into());
                    }
                }
            }
            _ => {
                let len = usize::from(input.byte() % 16);
                let bytes: Vec<u8> = (0..len).map(|_| input.byte()).collect();
                let now = self.now();
                if let Some(c) = self.clients[slot].as_mut() {
                    c.tainted = true;
                    c.conn.handle_bytes(now, &mut BytesMut::from(&bytes[..]));
                } else if input.byte().is_multiple_of(4) {
                    self.send(slot, &Packet::PingReq);
                }
            }
        }
    }

    fn connect(&mut self, slot: usize, input: &mut Input<'_>) {
        let flags = input.byte();
        let version = if flags & 1 == 0 {
            ProtocolVersion::V311
        } else {
            ProtocolVersion::V5
        };
        let client_id = input.pick(&CLIENT_IDS);
        let username = input.pick(&USERNAMES);
        let keep_alive = u16::from(input.byte() % 4) * 5;
        let receive_max = NonZeroU16::new(u16::from(input.byte() % 5));
        let expiry = [None, Some(0), Some(5), Some(u32::MAX)][usize::from(input.byte() % 4)];
        let will = (flags & 4 != 0).then(|| Will {
            topic: MqttString::copy_from_str(TOPICS[usize::from(flags >> 4) % TOPICS.len()])
                .expect("static topic"),
            payload: Bytes::from_static(b"will"),
            qos: QoS::from_u8((flags >> 3) % 3).unwrap_or_default(),
            retain: flags & 0x80 != 0,
            properties: WillProperties {
                will_delay_interval: (flags & 0x40 != 0).then_some(2),
                ..Default::default()
            },
        });
        let packet = Packet::Connect(Connect {
            protocol: version,
            clean_start: flags & 2 != 0,
            keep_alive,
            client_id: MqttString::copy_from_str(client_id).expect("static id"),
            will,
            username: username.map(|u| MqttString::copy_from_str(u).expect("static name")),
            password: None,
            properties: ConnectProperties {
                session_expiry_interval: if version.is_v5() { expiry } else { None },
                receive_maximum: if version.is_v5() { receive_max } else { None },
                topic_alias_maximum: (version.is_v5() && flags & 0x20 != 0).then_some(2),
                ..Default::default()
            },
        });
        let fresh = match &self.clients[slot] {
            // A second CONNECT on an open connection [MQTT-3.1.0-2], in the version it spoke.
            Some(c) if !c.conn.is_closed() => false,
            _ => true,
        };
        if fresh {
            let conn = Connection::with_access(
                self.broker.clone(),
                self.access.clone(),
                None,
                Waker::noop().clone(),
                self.now(),
            );
            self.clients[slot] = Some(Client {
                conn,
                version,
                username,
                receive_max: match (version.is_v5(), receive_max) {
                    (true, Some(rm)) => rm.get(),
                    _ => u16::MAX,
                },
                rx: BytesMut::new(),
                outstanding: BTreeMap::new(),
                own_qos2: Vec::new(),
                aliases: HashMap::new(),
                next_id: 0,
                tainted: false,
                closed_events: 0,
            });
        }
        // On an open connection the second CONNECT is encoded in the version it speaks.
        self.send(slot, &packet);
    }

    fn subscribe(&mut self, slot: usize, input: &mut Input<'_>) {
        if self.clients[slot].is_none() {
            return;
        }
        let n = 1 + usize::from(input.byte() % 3);
        let filters = (0..n)
            .map(|_| {
                let filter = input.pick(&FILTERS);
                let o = input.byte();
                (
                    MqttString::copy_from_str(filter).expect("static filter"),
                    SubscriptionOptions {
                        qos: QoS::from_u8(o % 3).unwrap_or_default(),
                        no_local: o & 4 != 0 && !filter.starts_with("$share/"),
                        retain_as_published: o & 8 != 0,
                        retain_handling: match (o >> 4) % 3 {
                            0 => RetainHandling::SendAtSubscribe,
                            1 => RetainHandling::SendIfNew,
                            _ => RetainHandling::DoNotSend,
                        },
                    },
                )
            })
            .collect();
        let sub_id = NonZeroU32::new(u32::from(input.byte() % 3));
        let packet_id = self.next_id(slot);
        self.send(
            slot,
            &Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties: SubscribeProperties {
                    subscription_identifier: sub_id,
                    ..Default::default()
                },
            }),
        );
    }

    fn unsubscribe(&mut self, slot: usize, input: &mut Input<'_>) {
        if self.clients[slot].is_none() {
            return;
        }
        let filter = input.pick(&FILTERS);
        let packet_id = self.next_id(slot);
        self.send(
            slot,
            &Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters: vec![MqttString::copy_from_str(filter).expect("static filter")],
                properties: UnsubscribeProperties::default(),
            }),
        );
    }

    fn publish(&mut self, slot: usize, input: &mut Input<'_>) {
        if self.clients[slot].is_none() {
            return;
        }
        let topic = input.pick(&TOPICS);
        let flags = input.byte();
        let qos = QoS::from_u8(flags % 3).unwrap_or_default();
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ if flags & 0x40 != 0 => NonZeroU16::new(u16::from(input.byte() % 4) + 1),
            _ => Some(self.next_id(slot)),
        };
        let payload = Bytes::from(vec![b'p'; usize::from(input.byte() % 8)]);
        self.send(
            slot,
            &Packet::Publish(Publish {
                dup: flags & 0x20 != 0,
                qos,
                retain: flags & 4 != 0,
                topic: MqttString::copy_from_str(topic).expect("static topic"),
                packet_id,
                properties: PublishProperties {
                    message_expiry_interval: (flags & 8 != 0).then_some(1),
                    ..Default::default()
                },
                payload,
            }),
        );
    }

    /// The client acknowledges one of its outstanding deliveries, in any order: PUBACK for
    /// QoS 1, PUBREC then (once the broker released it) PUBCOMP for QoS 2.
    fn ack_outstanding(&mut self, slot: usize, input: &mut Input<'_>) {
        let k = usize::from(input.byte());
        let Some(c) = self.clients[slot].as_mut() else {
            return;
        };
        if c.outstanding.is_empty() {
            return;
        }
        let (&id, &stage) = c
            .outstanding
            .iter()
            .nth(k % c.outstanding.len())
            .expect("index within the map");
        let pid = NonZeroU16::new(id).expect("ids are non-zero");
        let packet = match stage {
            Outstanding::AwaitPubAck => {
                c.outstanding.remove(&id);
                Packet::PubAck(Ack::new(pid))
            }
            Outstanding::AwaitPubRec => {
                c.outstanding.insert(id, Outstanding::AwaitPubComp);
                Packet::PubRec(Ack::new(pid))
            }
            Outstanding::AwaitPubComp => {
                c.outstanding.remove(&id);
                Packet::PubComp(Ack::new(pid))
            }
        };
        self.send(slot, &packet);
    }

    /// An acknowledgement of any kind for a packet id that is not in flight.
    fn ack_unknown(&mut self, slot: usize, input: &mut Input<'_>) {
        let kind = input.byte();
        let id = input.u16().max(1);
        let Some(c) = self.clients[slot].as_ref() else {
            return;
        };
        if c.outstanding.contains_key(&id) || c.own_qos2.contains(&id) {
            return;
        }
        let ack = Ack::new(NonZeroU16::new(id).expect("max(1)"));
        let packet = match kind % 4 {
            0 => Packet::PubAck(ack),
            1 => Packet::PubRec(ack),
            2 => Packet::PubRel(ack),
            _ => Packet::PubComp(ack),
        };
        self.send(slot, &packet);
    }

    /// The client releases one of its own QoS 2 publishes (PUBREL), in any order.
    fn release_own(&mut self, slot: usize, input: &mut Input<'_>) {
        let k = usize::from(input.byte());
        let Some(c) = self.clients[slot].as_mut() else {
            return;
        };
        if c.own_qos2.is_empty() {
            return;
        }
        let id = c.own_qos2.remove(k % c.own_qos2.len());
        self.send(
            slot,
            &Packet::PubRel(Ack::new(NonZeroU16::new(id).expect("non-zero"))),
        );
    }

    fn disconnect(&mut self, slot: usize, input: &mut Input<'_>) {
        let b = input.byte();
        let reason = if b & 1 != 0 {
            ReasonCode::DisconnectWithWillMessage
        } else {
            ReasonCode::Success
        };
        let expiry = [None, Some(0), Some(7)][usize::from(b >> 1) % 3];
        self.send(
            slot,
            &Packet::Disconnect(Disconnect {
                reason,
                properties: DisconnectProperties {
                    session_expiry_interval: expiry,
                    ..Default::default()
                },
            }),
        );
    }

    /// Collects what every connection sends and checks the invariants.
    fn settle(&mut self) {
        let now = self.now();
        for slot in 0..SLOTS {
            let Some(c) = self.clients[slot].as_mut() else {
                continue;
            };
            let mut out = BytesMut::new();
            // Bounded: each round encodes at most one batch; the window bounds deliveries.
            for _ in 0..64 {
                let more = c.conn.poll_transmit(now, &mut out);
                c.rx.extend_from_slice(&out);
                out.clear();
                if !more {
                    break;
                }
            }
            c.receive(self.trace);
            while let Some(event) = c.conn.poll_event() {
                if self.trace {
                    eprintln!("  slot {slot} event {event:?}");
                }
                if let ConnEvent::Closed { .. } = event {
                    c.closed_events += 1;
                }
            }
            let expected = usize::from(c.conn.is_closed());
            assert_eq!(
                c.closed_events,
                expected,
                "slot {slot}: {} Closed events, closed = {}",
                c.closed_events,
                c.conn.is_closed()
            );
            if c.conn.is_closed() {
                self.clients[slot] = None;
            }
        }
    }
}

impl Client {
    /// Decodes the broker's packets and checks each delivery.
    fn receive(&mut self, trace: bool) {
        let limits = Limits {
            max_packet_size: NonZeroU32::MAX,
        };
        loop {
            let packet = match decode(&mut self.rx, self.version, &limits) {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    assert!(
                        self.tainted,
                        "the broker sent bytes a {:?} client cannot decode: {e}",
                        self.version
                    );
                    self.rx.clear();
                    break;
                }
            };
            if trace {
                eprintln!("  broker sends {packet:?}");
            }
            match packet {
                Packet::Publish(p) => self.delivered(p),
                Packet::PubRel(ack) => {
                    let id = ack.packet_id.get();
                    if self.outstanding.get(&id) == Some(&Outstanding::AwaitPubRec) {
                        // The broker releases only after PUBREC; not a limit matter.
                        assert!(self.tainted, "PUBREL {id} before the client's PUBREC");
                    }
                }
                Packet::PubRec(ack) if !self.own_qos2.contains(&ack.packet_id.get()) => {
                    self.own_qos2.push(ack.packet_id.get());
                }
                Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => {
                    // A new connection: what was in flight on the previous one is re-sent.
                    self.outstanding.clear();
                    self.aliases.clear();
                }
                _ => {}
            }
        }
        if !self.tainted {
            let limit = usize::from(self.receive_max.min(MAX_INFLIGHT));
            assert!(
                self.outstanding.len() <= limit,
                "{} deliveries in flight, limit {limit}: {:?}",
                self.outstanding.len(),
                self.outstanding
            );
        }
    }

    fn delivered(&mut self, p: Publish) {
        let alias = p.properties.topic_alias.map(NonZeroU16::get);
        let topic = if p.topic.is_empty() {
            match alias.and_then(|a| self.aliases.get(&a)) {
                Some(t) => t.clone(),
                None => {
                    assert!(
                        self.tainted,
                        "PUBLISH with an empty topic and no known alias"
                    );
                    return;
                }
            }
        } else {
            if let Some(a) = alias {
                self.aliases.insert(a, p.topic.as_str().to_owned());
            }
            p.topic.as_str().to_owned()
        };
        assert!(
            FuzzAcl::allows(self.username, Access::Read, &topic),
            "delivered {topic:?} to user {:?}, whose ACL denies it",
            self.username
        );
        if let Some(id) = p.packet_id {
            let stage = match p.qos {
                QoS::AtLeastOnce => Outstanding::AwaitPubAck,
                _ => Outstanding::AwaitPubRec,
            };
            // A re-sent QoS 2 delivery the client already PUBREC'd keeps its stage.
            self.outstanding.entry(id.get()).or_insert(stage);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let config = BrokerConfig {
        max_inflight: NonZeroU16::new(MAX_INFLIGHT).expect("non-zero"),
        max_queued_messages: 8,
        max_session_expiry: Some(30),
        topic_alias_maximum: 2,
        connect_timeout: Duration::from_secs(5),
        ..BrokerConfig::default()
    };
    let mut world = World {
        broker: Broker::new(config),
        access: Arc::new(AccessPolicy {
            acl: Some(Arc::new(FuzzAcl)),
            ..AccessPolicy::open()
        }),
        start: Instant::now(),
        elapsed: Duration::ZERO,
        clients: Default::default(),
        trace: std::env::var_os("SERVER_CONN_OPS_TRACE").is_some(),
    };
    let mut input = Input { data, pos: 0 };
    for _ in 0..MAX_OPS {
        if input.done() {
            break;
        }
        world.op(&mut input);
        world.settle();
    }
});
