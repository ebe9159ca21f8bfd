//! What is stored, as plain data, and its byte encoding.
//!
//! Keys are `tenant | kind | ...` so one tenant is one contiguous key range, and everything a
//! session owns sits under one prefix (`tenant | 'S' | client id | ...`) so ending a session is
//! one prefix delete. Values are length-prefixed fields; decoding checks every length, so a
//! flipped byte is a [`DecodeError`], never a panic.

use std::fmt;

/// A message as stored: retained, queued for a session, in flight or a pending will.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct StoredMessage {
    /// Topic name.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// QoS it was published with (0, 1 or 2).
    pub qos: u8,
    /// RETAIN flag as published.
    pub retain: bool,
    /// Wall-clock expiry, milliseconds since the Unix epoch, if the message expires.
    pub expires_at_ms: Option<u64>,
    /// The v5 pass-through properties, encoded by the broker side (opaque here).
    pub properties: Vec<u8>,
}

/// A delivery of a message to one session: the message plus how it is delivered.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct StoredDelivery {
    /// The message.
    pub msg: StoredMessage,
    /// QoS of this delivery.
    pub qos: u8,
    /// RETAIN flag of this delivery.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions.
    pub sub_ids: Vec<u32>,
}

/// A persistent session's own fields.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct SessionMeta {
    /// Protocol level (4 = 3.1.1, 5 = 5.0).
    pub version: u8,
    /// Session Expiry Interval in seconds (`u32::MAX`: never).
    pub expiry_interval: u32,
    /// Identity that created the session.
    pub identity: Option<String>,
    /// When the session ends unless resumed (wall clock, ms since the epoch); `None` while
    /// connected, or never. Session expiry counts wall-clock time across a restart.
    pub expires_at_ms: Option<u64>,
}

/// One stored item of one session, or a retained message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Record {
    /// A retained message (keyed by its topic).
    Retained(StoredMessage),
    /// A session's own fields.
    Session {
        /// Client identifier.
        client_id: String,
        /// The fields.
        meta: SessionMeta,
    },
    /// A subscription of a session.
    Subscription {
        /// Client identifier.
        client_id: String,
        /// Raw filter, including any `$share/group/` prefix.
        filter: String,
        /// Subscription options byte as in SUBSCRIBE (QoS as granted).
        options: u8,
        /// Subscription Identifier, 0 for none.
        id: u32,
    },
    /// A message queued for a session, in queue order by `seq`.
    Queued {
        /// Client identifier.
        client_id: String,
        /// Position in the queue (increasing).
        seq: u64,
        /// The delivery.
        delivery: StoredDelivery,
    },
    /// An outgoing QoS 1/2 message sent and not yet completely acknowledged.
    Inflight {
        /// Client identifier.
        client_id: String,
        /// Packet identifier.
        packet_id: u16,
        /// Stage: 0 awaiting PUBACK, 1 awaiting PUBREC, 2 PUBREL sent, awaiting PUBCOMP.
        stage: u8,
        /// Resend order (increasing).
        order: u64,
        /// The delivery (none once only PUBREL is left to send).
        delivery: Option<StoredDelivery>,
    },
    /// An incoming QoS 2 packet id received and not yet released by PUBREL.
    IncomingQos2 {
        /// Client identifier.
        client_id: String,
        /// Packet identifier.
        packet_id: u16,
    },
    /// A will waiting for its delay.
    Will {
        /// Client identifier.
        client_id: String,
        /// When to publish it (wall clock, ms since the epoch).
        due_ms: u64,
        /// The will message.
        msg: StoredMessage,
    },
}

/// The key of a record, for removal.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum RecordKey {
    /// A retained message's topic.
    Retained(String),
    /// A subscription.
    Subscription {
        /// Client identifier.
        client_id: String,
        /// Raw filter.
        filter: String,
    },
    /// A queued message.
    Queued {
        /// Client identifier.
        client_id: String,
        /// Queue position.
        seq: u64,
    },
    /// An outgoing in-flight message.
    Inflight {
        /// Client identifier.
        client_id: String,
        /// Packet identifier.
        packet_id: u16,
    },
    /// An incoming QoS 2 id.
    IncomingQos2 {
        /// Client identifier.
        client_id: String,
        /// Packet identifier.
        packet_id: u16,
    },
    /// A pending will.
    Will {
        /// Client identifier.
        client_id: String,
    },
}

/// One change to one tenant's stored state.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Change {
    /// Insert or replace a record.
    Put(Record),
    /// Remove a record (absent is fine).
    Remove(RecordKey),
    /// A session ended: remove it and everything it owns.
    SessionEnded {
        /// Client identifier.
        client_id: String,
    },
}

/// A stored key or value that cannot be decoded.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DecodeError {
    /// What was being read.
    pub field: &'static str,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "undecodable record ({} truncated or invalid)",
            self.field
        )
    }
}

impl std::error::Error for DecodeError {}

// Key layout bytes.
const RETAINED: u8 = b'R';
const SESSION: u8 = b'S';
// Kinds under a session prefix.
const META: u8 = b'm';
const SUB: u8 = b's';
const QUEUED: u8 = b'q';
const INFLIGHT: u8 = b'i';
const INCOMING: u8 = b'r';
const WILL: u8 = b'w';

/// The encoded key and value of a put, or the key of a remove; `Prefix` deletes a range.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeletePrefix(Vec<u8>),
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    // Lengths above u32 cannot occur for MQTT strings and payloads (at most 256 MiB).
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

fn tenant_prefix(tenant: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 48);
    put_str(&mut k, tenant.as_bytes());
    k
}

fn session_prefix(tenant: &str, client_id: &str) -> Vec<u8> {
    let mut k = tenant_prefix(tenant);
    k.push(SESSION);
    put_str(&mut k, client_id.as_bytes());
    k
}

fn session_key(tenant: &str, client_id: &str, kind: u8) -> Vec<u8> {
    let mut k = session_prefix(tenant, client_id);
    k.push(kind);
    k
}

pub(crate) fn key_of(tenant: &str, key: &RecordKey) -> Vec<u8> {
    match key {
        RecordKey::Retained(topic) => {
            let mut k = tenant_prefix(tenant);
            k.push(RETAINED);
            k.extend_from_slice(topic.as_bytes());
            k
        }
        RecordKey::Subscription { client_id, filter } => {
            let mut k = session_key(tenant, client_id, SUB);
            k.extend_from_slice(filter.as_bytes());
            k
        }
        RecordKey::Queued { client_id, seq } => {
            let mut k = session_key(tenant, client_id, QUEUED);
            k.extend_from_slice(&seq.to_be_bytes());
            k
        }
        RecordKey::Inflight {
            client_id,
            packet_id,
        } => {
            let mut k = session_key(tenant, client_id, INFLIGHT);
            k.extend_from_slice(&packet_id.to_be_bytes());
            k
        }
        RecordKey::IncomingQos2 {
            client_id,
            packet_id,
        } => {
            let mut k = session_key(tenant, client_id, INCOMING);
            k.extend_from_slice(&packet_id.to_be_bytes());
            k
        }
        RecordKey::Will { client_id } => session_key(tenant, client_id, WILL),
    }
}

/// The key a record is stored under.
fn put_key(tenant: &str, record: &Record) -> Vec<u8> {
    let key = match record {
        Record::Retained(m) => RecordKey::Retained(m.topic.clone()),
        Record::Session { client_id, .. } => return session_key(tenant, client_id, META),
        Record::Subscription {
            client_id, filter, ..
        } => RecordKey::Subscription {
            client_id: client_id.clone(),
            filter: filter.clone(),
        },
        Record::Queued { client_id, seq, .. } => RecordKey::Queued {
            client_id: client_id.clone(),
            seq: *seq,
        },
        Record::Inflight {
            client_id,
            packet_id,
            ..
        } => RecordKey::Inflight {
            client_id: client_id.clone(),
            packet_id: *packet_id,
        },
        Record::IncomingQos2 {
            client_id,
            packet_id,
        } => RecordKey::IncomingQos2 {
            client_id: client_id.clone(),
            packet_id: *packet_id,
        },
        Record::Will { client_id, .. } => RecordKey::Will {
            client_id: client_id.clone(),
        },
    };
    key_of(tenant, &key)
}

/// The engine operation of one change.
pub(crate) fn op_of(tenant: &str, change: &Change) -> Op {
    match change {
        Change::Put(record) => {
            let key = put_key(tenant, record);
            let mut value = Vec::with_capacity(64);
            encode_value(record, &mut value);
            Op::Put(key, value)
        }
        Change::Remove(key) => Op::Delete(key_of(tenant, key)),
        Change::SessionEnded { client_id } => Op::DeletePrefix(session_prefix(tenant, client_id)),
    }
}

fn put_msg(out: &mut Vec<u8>, m: &StoredMessage) {
    put_str(out, m.topic.as_bytes());
    put_str(out, &m.payload);
    out.push(m.qos);
    out.push(u8::from(m.retain));
    match m.expires_at_ms {
        Some(at) => {
            out.push(1);
            out.extend_from_slice(&at.to_be_bytes());
        }
        None => out.push(0),
    }
    put_str(out, &m.properties);
}

fn put_delivery(out: &mut Vec<u8>, d: &StoredDelivery) {
    put_msg(out, &d.msg);
    out.push(d.qos);
    out.push(u8::from(d.retain));
    out.extend_from_slice(&(d.sub_ids.len() as u32).to_be_bytes());
    for id in &d.sub_ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
}

/// Values hold only what the key does not: the key is decoded for the rest.
fn encode_value(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Retained(m) => put_msg(out, m),
        Record::Session { meta, .. } => {
            out.push(meta.version);
            out.extend_from_slice(&meta.expiry_interval.to_be_bytes());
            match &meta.identity {
                Some(id) => {
                    out.push(1);
                    put_str(out, id.as_bytes());
                }
                None => out.push(0),
            }
            match meta.expires_at_ms {
                Some(at) => {
                    out.push(1);
                    out.extend_from_slice(&at.to_be_bytes());
                }
                None => out.push(0),
            }
        }
        Record::Subscription { options, id, .. } => {
            out.push(*options);
            out.extend_from_slice(&id.to_be_bytes());
        }
        Record::Queued { delivery, .. } => put_delivery(out, delivery),
        Record::Inflight {
            stage,
            order,
            delivery,
            ..
        } => {
            out.push(*stage);
            out.extend_from_slice(&order.to_be_bytes());
            match delivery {
                Some(d) => {
                    out.push(1);
                    put_delivery(out, d);
                }
                None => out.push(0),
            }
        }
        Record::IncomingQos2 { .. } => {}
        Record::Will { due_ms, msg, .. } => {
            out.extend_from_slice(&due_ms.to_be_bytes());
            put_msg(out, msg);
        }
    }
}

/// A bounds-checked reader over stored bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError { field });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError { field }),
        }
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u32(field)? as usize;
        self.take(n, field)
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes(field)?.to_vec()).map_err(|_| DecodeError { field })
    }

    fn rest_string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let all = self.take(self.buf.len(), field)?;
        String::from_utf8(all.to_vec()).map_err(|_| DecodeError { field })
    }

    fn opt_u64(&mut self, field: &'static str) -> Result<Option<u64>, DecodeError> {
        Ok(if self.bool(field)? {
            Some(self.u64(field)?)
        } else {
            None
        })
    }

    pub(crate) fn end(&self, field: &'static str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError { field })
        }
    }

    fn msg(&mut self) -> Result<StoredMessage, DecodeError> {
        Ok(StoredMessage {
            topic: self.string("message topic")?,
            payload: self.bytes("message payload")?.to_vec(),
            qos: self.qos("message qos")?,
            retain: self.bool("message retain")?,
            expires_at_ms: self.opt_u64("message expiry")?,
            properties: self.bytes("message properties")?.to_vec(),
        })
    }

    fn qos(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        match self.u8(field)? {
            q @ 0..=2 => Ok(q),
            _ => Err(DecodeError { field }),
        }
    }

    fn delivery(&mut self) -> Result<StoredDelivery, DecodeError> {
        let msg = self.msg()?;
        let qos = self.qos("delivery qos")?;
        let retain = self.bool("delivery retain")?;
        let n = self.u32("subscription identifiers")? as usize;
        if n > self.buf.len() / 4 {
            return Err(DecodeError {
                field: "subscription identifiers",
            });
        }
        let mut sub_ids = Vec::with_capacity(n);
        for _ in 0..n {
            sub_ids.push(self.u32("subscription identifier")?);
        }
        Ok(StoredDelivery {
            msg,
            qos,
            retain,
            sub_ids,
        })
    }
}

/// Decodes one stored key and value into its tenant and record.
pub(crate) fn decode(key: &[u8], value: &[u8]) -> Result<(String, Record), DecodeError> {
    let mut k = Reader { buf: key };
    let mut v = Reader { buf: value };
    let tenant = k.string("tenant")?;
    let record = match k.u8("record kind")? {
        RETAINED => {
            let topic = k.rest_string("retained topic")?;
            let msg = v.msg()?;
            if msg.topic != topic {
                return Err(DecodeError {
                    field: "retained topic",
                });
            }
            Record::Retained(msg)
        }
        SESSION => {
            let client_id = k.string("client id")?;
            match k.u8("session record kind")? {
                META => {
                    k.end("session key")?;
                    let version = v.u8("protocol version")?;
                    let expiry_interval = v.u32("session expiry")?;
                    let identity = if v.bool("identity")? {
                        Some(v.string("identity")?)
                    } else {
                        None
                    };
                    let expires_at_ms = v.opt_u64("disconnected at")?;
                    Record::Session {
                        client_id,
                        meta: SessionMeta {
                            version,
                            expiry_interval,
                            identity,
                            expires_at_ms,
                        },
                    }
                }
                SUB => Record::Subscription {
                    client_id,
                    filter: k.rest_string("subscription filter")?,
                    options: v.u8("subscription options")?,
                    id: v.u32("subscription identifier")?,
                },
                QUEUED => {
                    let seq = k.u64("queue position")?;
                    k.end("queue key")?;
                    Record::Queued {
                        client_id,
                        seq,
                        delivery: v.delivery()?,
                    }
                }
                INFLIGHT => {
                    let packet_id = k.u16("packet id")?;
                    k.end("in-flight key")?;
                    let stage = match v.u8("in-flight stage")? {
                        s @ 0..=2 => s,
                        _ => {
                            return Err(DecodeError {
                                field: "in-flight stage",
                            })
                        }
                    };
                    let order = v.u64("in-flight order")?;
                    let delivery = if v.bool("in-flight delivery")? {
                        Some(v.delivery()?)
                    } else {
                        None
                    };
                    Record::Inflight {
                        client_id,
                        packet_id,
                        stage,
                        order,
                        delivery,
                    }
                }
                INCOMING => {
                    let packet_id = k.u16("packet id")?;
                    k.end("incoming QoS 2 key")?;
                    Record::IncomingQos2 {
                        client_id,
                        packet_id,
                    }
                }
                WILL => {
                    k.end("will key")?;
                    Record::Will {
                        client_id,
                        due_ms: v.u64("will due")?,
                        msg: v.msg()?,
                    }
                }
                _ => {
                    return Err(DecodeError {
                        field: "session record kind",
                    })
                }
            }
        }
        _ => {
            return Err(DecodeError {
                field: "record kind",
            })
        }
    };
    v.end("value")?;
    Ok((tenant, record))
}
