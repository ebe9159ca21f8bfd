//! The broker side: one [`TenantSink`] per tenant turns the broker's [`PersistEvent`]s into
//! store changes, and [`snapshot`] turns what was loaded back into the broker's [`Snapshot`].

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::task::Waker;

use bytes::Bytes;
use lantern_broker::{
    PassThrough, PersistDelivery, PersistEvent, PersistMessage, PersistSink, PersistStage,
    SessionSnapshot, Snapshot,
};
use lantern_codec::UserProperty;
use lantern_codec::{MqttString, ProtocolVersion, QoS, RetainHandling, SubscriptionOptions};

use crate::record::{DecodeError, Reader};
use crate::{
    Change, Record, RecordKey, SessionMeta, StoreWriter, StoredDelivery, StoredMessage, TenantState,
};

/// The store as one tenant broker's [`PersistSink`]. `accept` only encodes and queues; the
/// writer thread does the IO. When the writer is 8192 submissions behind (the disk is slower
/// than the load for a long while), `accept` waits for room: back-pressure on the broker
/// rather than unbounded memory.
pub struct TenantSink {
    tenant: String,
    writer: StoreWriter,
    /// `Durability::Interval`: acknowledgements do not wait for the disk, so every accepted
    /// event counts as durable for the broker (the writer still writes it within the window).
    ack_early: bool,
    state: Mutex<SinkState>,
}

#[derive(Default)]
struct SinkState {
    /// The stored meta record of each session, so an event that changes one field rewrites
    /// the whole record.
    sessions: HashMap<Arc<str>, SessionMeta>,
    /// The resend order of each outgoing in-flight flow: the sequence of the event that
    /// started it (kept when the flow moves on to PUBREL, as `Snapshot::apply` does).
    inflight_order: HashMap<(Arc<str>, u16), u64>,
    /// Tenant sequence numbers not yet known durable, with the writer's sequence of each.
    pending: VecDeque<(u64, u64)>,
    /// Every tenant event up to this one is durable.
    durable: u64,
    /// The last event accepted.
    accepted: u64,
}

impl std::fmt::Debug for TenantSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSink")
            .field("tenant", &self.tenant)
            .finish()
    }
}

impl TenantSink {
    /// The sink of `tenant`, writing through `writer`; `loaded` is what was restored for the
    /// tenant (its sessions' meta records seed the sink's cache).
    pub fn new(
        tenant: &str,
        writer: StoreWriter,
        durability: crate::Durability,
        loaded: &Snapshot,
    ) -> Self {
        let sessions = loaded
            .sessions
            .iter()
            .map(|(id, s)| (id.clone(), meta_of(s)))
            .collect();
        let inflight_order = loaded
            .sessions
            .iter()
            .flat_map(|(id, s)| {
                s.inflight
                    .iter()
                    .map(move |(pid, f)| ((id.clone(), *pid), f.order))
            })
            .collect();
        Self {
            tenant: tenant.to_owned(),
            writer,
            ack_early: matches!(durability, crate::Durability::Interval(_)),
            state: Mutex::new(SinkState {
                sessions,
                inflight_order,
                ..SinkState::default()
            }),
        }
    }

    fn changes(state: &mut SinkState, seq: u64, event: &PersistEvent) -> Vec<Change> {
        let put_meta = |state: &mut SinkState, id: &Arc<str>| -> Vec<Change> {
            match state.sessions.get(id) {
                Some(meta) => vec![Change::Put(Record::Session {
                    client_id: id.to_string(),
                    meta: meta.clone(),
                })],
                None => Vec::new(),
            }
        };
        match event {
            PersistEvent::SessionUpserted {
                client_id,
                version,
                expiry_interval,
                identity,
            } => {
                state.sessions.insert(
                    client_id.clone(),
                    SessionMeta {
                        version: version.level(),
                        expiry_interval: *expiry_interval,
                        identity: identity.as_deref().map(str::to_owned),
                        expires_at_ms: None,
                    },
                );
                let mut out = put_meta(state, client_id);
                // A resumed session's pending will is cancelled (as in Snapshot::apply).
                out.push(Change::Remove(RecordKey::Will {
                    client_id: client_id.to_string(),
                }));
                out
            }
            PersistEvent::SessionOffline {
                client_id,
                expires_at,
            } => {
                if let Some(meta) = state.sessions.get_mut(client_id) {
                    meta.expires_at_ms = *expires_at;
                }
                put_meta(state, client_id)
            }
            PersistEvent::SessionExpiryChanged {
                client_id,
                expiry_interval,
            } => {
                if let Some(meta) = state.sessions.get_mut(client_id) {
                    meta.expiry_interval = *expiry_interval;
                }
                put_meta(state, client_id)
            }
            PersistEvent::SessionEnded { client_id } => {
                state.sessions.remove(client_id);
                state.inflight_order.retain(|(id, _), _| id != client_id);
                vec![Change::SessionEnded {
                    client_id: client_id.to_string(),
                }]
            }
            PersistEvent::SubscriptionAdded {
                client_id,
                filter,
                options,
                sub_id,
            } => vec![Change::Put(Record::Subscription {
                client_id: client_id.to_string(),
                filter: filter.to_string(),
                options: options_byte(options),
                id: sub_id.map_or(0, NonZeroU32::get),
            })],
            PersistEvent::SubscriptionRemoved { client_id, filter } => {
                vec![Change::Remove(RecordKey::Subscription {
                    client_id: client_id.to_string(),
                    filter: filter.to_string(),
                })]
            }
            PersistEvent::Queued {
                client_id,
                seq,
                delivery,
            } => vec![Change::Put(Record::Queued {
                client_id: client_id.to_string(),
                seq: *seq,
                delivery: stored_delivery(delivery),
            })],
            PersistEvent::Dequeued { client_id, seq } => vec![Change::Remove(RecordKey::Queued {
                client_id: client_id.to_string(),
                seq: *seq,
            })],
            PersistEvent::Inflight {
                client_id,
                packet_id,
                stage,
                delivery,
            } => {
                if !state.sessions.contains_key(client_id) {
                    return Vec::new();
                }
                let order = *state
                    .inflight_order
                    .entry((client_id.clone(), *packet_id))
                    .or_insert(seq);
                vec![Change::Put(Record::Inflight {
                    client_id: client_id.to_string(),
                    packet_id: *packet_id,
                    stage: match stage {
                        PersistStage::AwaitPubAck => 0,
                        PersistStage::AwaitPubRec => 1,
                        PersistStage::AwaitPubComp => 2,
                    },
                    order,
                    delivery: delivery.as_ref().map(stored_delivery),
                })]
            }
            PersistEvent::Acknowledged {
                client_id,
                packet_id,
            } => {
                state
                    .inflight_order
                    .remove(&(client_id.clone(), *packet_id));
                vec![Change::Remove(RecordKey::Inflight {
                    client_id: client_id.to_string(),
                    packet_id: *packet_id,
                })]
            }
            PersistEvent::IncomingStored {
                client_id,
                packet_id,
            } => vec![Change::Put(Record::IncomingQos2 {
                client_id: client_id.to_string(),
                packet_id: *packet_id,
            })],
            PersistEvent::IncomingReleased {
                client_id,
                packet_id,
            } => vec![Change::Remove(RecordKey::IncomingQos2 {
                client_id: client_id.to_string(),
                packet_id: *packet_id,
            })],
            PersistEvent::RetainedSet { msg } => {
                vec![Change::Put(Record::Retained(stored_message(msg)))]
            }
            PersistEvent::RetainedRemoved { topic } => {
                vec![Change::Remove(RecordKey::Retained(topic.to_string()))]
            }
            PersistEvent::WillScheduled {
                client_id,
                msg,
                due_at,
            } => vec![Change::Put(Record::Will {
                client_id: client_id.to_string(),
                due_ms: *due_at,
                msg: stored_message(msg),
            })],
            PersistEvent::WillCancelled { client_id } => vec![Change::Remove(RecordKey::Will {
                client_id: client_id.to_string(),
            })],
            // A new kind of event this store does not know yet is not stored.
            #[allow(unreachable_patterns)]
            _ => Vec::new(),
        }
    }
}

impl PersistSink for TenantSink {
    fn accept(&self, seq: u64, event: &PersistEvent) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let changes = Self::changes(&mut state, seq, event);
        // Submitted under the sink's lock so the writer sees this tenant's events in order.
        let global = self.writer.submit(&self.tenant, &changes);
        state.accepted = seq;
        if !self.ack_early {
            state.pending.push_back((seq, global));
        }
    }

    /// One submission for the whole unit: the writer never splits a submission, and writes
    /// each batch as one engine batch, so the unit is durable all together or not at all.
    fn accept_all(&self, events: &[(u64, PersistEvent)]) {
        let Some(&(last, _)) = events.last() else {
            return;
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut changes = Vec::new();
        for (seq, event) in events {
            changes.extend(Self::changes(&mut state, *seq, event));
        }
        let global = self.writer.submit(&self.tenant, &changes);
        state.accepted = last;
        if !self.ack_early {
            // Every event of the unit becomes durable with the one submission.
            for (seq, _) in events {
                state.pending.push_back((*seq, global));
            }
        }
    }

    fn durable(&self) -> u64 {
        let written = self.writer.durable().get();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if self.ack_early {
            // Until the store fails: then nothing new is acknowledged.
            if self.writer.durable().healthy() {
                state.durable = state.accepted;
            }
            return state.durable;
        }
        while let Some(&(seq, global)) = state.pending.front() {
            if global > written {
                break;
            }
            state.durable = seq;
            state.pending.pop_front();
        }
        state.durable
    }

    /// False once a store write failed (until restart): the broker refuses new QoS 1/2
    /// publishes, since they would never become durable.
    fn healthy(&self) -> bool {
        self.writer.durable().healthy()
    }

    fn wake_when_durable(&self, seq: u64, waker: &Waker) {
        if self.ack_early && self.healthy() {
            waker.wake_by_ref();
            return;
        }
        let global = {
            let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            // Sorted by tenant sequence: the first pending entry at or after `seq`.
            let at = state.pending.partition_point(|(s, _)| *s < seq);
            state.pending.get(at).map(|&(_, g)| g)
        };
        match global {
            Some(g) => self.writer.durable().wake_when(g, waker.clone()),
            None => waker.wake_by_ref(),
        }
    }
}

fn meta_of(s: &SessionSnapshot) -> SessionMeta {
    SessionMeta {
        version: s.version.level(),
        expiry_interval: s.expiry_interval,
        identity: s.identity.as_deref().map(str::to_owned),
        expires_at_ms: s.expires_at,
    }
}

fn options_byte(o: &SubscriptionOptions) -> u8 {
    o.qos as u8
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

fn options_of(b: u8) -> Result<SubscriptionOptions, DecodeError> {
    let bad = DecodeError {
        field: "subscription options",
    };
    Ok(SubscriptionOptions {
        qos: QoS::from_u8(b & 0b11).ok_or(bad.clone())?,
        no_local: b & 0b100 != 0,
        retain_as_published: b & 0b1000 != 0,
        retain_handling: match (b >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(bad),
        },
    })
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

/// The v5 pass-through properties, encoded: flags byte, then the present fields.
fn encode_properties(p: &PassThrough) -> Vec<u8> {
    let mut out = Vec::new();
    match p.payload_format_indicator {
        None => out.push(0),
        Some(false) => out.push(1),
        Some(true) => out.push(2),
    }
    for field in [&p.response_topic, &p.content_type] {
        match field {
            Some(s) => {
                out.push(1);
                put_bytes(&mut out, s.as_bytes());
            }
            None => out.push(0),
        }
    }
    match &p.correlation_data {
        Some(d) => {
            out.push(1);
            put_bytes(&mut out, d);
        }
        None => out.push(0),
    }
    out.extend_from_slice(&(p.user_properties.len() as u32).to_be_bytes());
    for u in &p.user_properties {
        put_bytes(&mut out, u.key.as_bytes());
        put_bytes(&mut out, u.value.as_bytes());
    }
    out
}

fn decode_properties(buf: &[u8]) -> Result<PassThrough, DecodeError> {
    let mut r = Reader::new(buf);
    let string = |r: &mut Reader<'_>, field| {
        MqttString::try_from(r.string(field)?).map_err(|_| DecodeError { field })
    };
    let mut p = PassThrough {
        payload_format_indicator: match r.u8("payload format")? {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            _ => {
                return Err(DecodeError {
                    field: "payload format",
                })
            }
        },
        ..PassThrough::default()
    };
    if r.u8("response topic")? == 1 {
        p.response_topic = Some(string(&mut r, "response topic")?);
    }
    if r.u8("content type")? == 1 {
        p.content_type = Some(string(&mut r, "content type")?);
    }
    if r.u8("correlation data")? == 1 {
        p.correlation_data = Some(Bytes::copy_from_slice(r.bytes("correlation data")?));
    }
    let count = r.u32("user properties")?;
    for _ in 0..count {
        let key = string(&mut r, "user property")?;
        let value = string(&mut r, "user property")?;
        p.user_properties.push(UserProperty { key, value });
    }
    r.end("message properties")?;
    Ok(p)
}

fn stored_message(m: &PersistMessage) -> StoredMessage {
    StoredMessage {
        topic: m.topic.as_str().to_owned(),
        payload: m.payload.to_vec(),
        qos: m.qos as u8,
        retain: m.retain,
        expires_at_ms: m.expires_at,
        properties: m
            .properties
            .as_deref()
            .map(encode_properties)
            .unwrap_or_default(),
    }
}

fn stored_delivery(d: &PersistDelivery) -> StoredDelivery {
    StoredDelivery {
        msg: stored_message(&d.msg),
        qos: d.qos as u8,
        retain: d.retain,
        sub_ids: d.sub_ids.iter().map(|id| id.get()).collect(),
    }
}

fn qos_of(q: u8, field: &'static str) -> Result<QoS, DecodeError> {
    QoS::from_u8(q).ok_or(DecodeError { field })
}

fn persist_message(m: StoredMessage) -> Result<Arc<PersistMessage>, DecodeError> {
    let properties = if m.properties.is_empty() {
        None
    } else {
        Some(Box::new(decode_properties(&m.properties)?))
    };
    Ok(Arc::new(PersistMessage {
        topic: MqttString::try_from(m.topic).map_err(|_| DecodeError {
            field: "message topic",
        })?,
        payload: Bytes::from(m.payload),
        qos: qos_of(m.qos, "message qos")?,
        retain: m.retain,
        properties,
        expires_at: m.expires_at_ms,
        origin: 0,
    }))
}

fn persist_delivery(d: StoredDelivery) -> Result<PersistDelivery, DecodeError> {
    Ok(PersistDelivery {
        msg: persist_message(d.msg)?,
        qos: qos_of(d.qos, "delivery qos")?,
        retain: d.retain,
        sub_ids: d
            .sub_ids
            .into_iter()
            .map(|id| {
                NonZeroU32::new(id).ok_or(DecodeError {
                    field: "subscription identifier",
                })
            })
            .collect::<Result<_, _>>()?,
    })
}

/// The broker's snapshot of one tenant's loaded state. Records of a session whose own record
/// is missing (never written before a crash) are dropped: the broker would not know its
/// version or expiry.
pub fn snapshot(state: TenantState) -> Result<Snapshot, DecodeError> {
    let mut snap = Snapshot::default();
    for m in state.retained {
        let msg = persist_message(m)?;
        snap.retained.insert(msg.topic.as_str().into(), msg);
    }
    for (client_id, s) in state.sessions {
        let Some(meta) = s.meta else { continue };
        let version = match meta.version {
            3 => ProtocolVersion::V31,
            4 => ProtocolVersion::V311,
            5 => ProtocolVersion::V5,
            _ => {
                return Err(DecodeError {
                    field: "protocol version",
                })
            }
        };
        let mut session = SessionSnapshot {
            version,
            expiry_interval: meta.expiry_interval,
            identity: meta.identity.map(Arc::from),
            expires_at: meta.expires_at_ms,
            subscriptions: Default::default(),
            queue: Default::default(),
            inflight: Default::default(),
            incoming_qos2: s.incoming_qos2.into_iter().collect(),
            will: None,
        };
        for (filter, options, id) in s.subscriptions {
            session
                .subscriptions
                .insert(filter.into(), (options_of(options)?, NonZeroU32::new(id)));
        }
        for (seq, d) in s.queue {
            session.queue.insert(seq, persist_delivery(d)?);
        }
        for (packet_id, stage, order, delivery) in s.inflight {
            let stage = match stage {
                0 => PersistStage::AwaitPubAck,
                1 => PersistStage::AwaitPubRec,
                _ => PersistStage::AwaitPubComp,
            };
            session.inflight.insert(
                packet_id,
                lantern_broker::InflightSnapshot {
                    order,
                    stage,
                    delivery: delivery.map(persist_delivery).transpose()?,
                },
            );
        }
        if let Some((due, msg)) = s.will {
            session.will = Some((persist_message(msg)?, due));
        }
        snap.sessions.insert(Arc::from(client_id), session);
    }
    Ok(snap)
}
