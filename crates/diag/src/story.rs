//! The connection story: timestamped events from accept to close.

use serde::{Deserialize, Serialize};

use crate::cause::{Cause, Verdict};

/// Everything Lantern saw of one accepted socket.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct Story {
    /// Unique id within this broker run.
    pub id: u64,
    /// Listener name.
    pub listener: String,
    /// Transport of the listener: tcp, tls, ws, wss.
    pub transport: String,
    /// The peer's address and port.
    pub peer: String,
    /// When the socket was accepted, milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// How long it lasted, in milliseconds.
    pub duration_ms: u64,
    /// The tenant, once known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tenant: Option<String>,
    /// The client id, once known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_id: Option<String>,
    /// Stable fingerprint of the TLS ClientHello, when there was one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub hello_fingerprint: Option<String>,
    /// The events, in order.
    pub events: Vec<Event>,
    /// Bytes and packets both ways.
    pub counters: Counters,
    /// Who ended it.
    pub closed_by: Initiator,
    /// Why it ended.
    pub cause: Cause,
    /// The explanation of `cause`.
    pub verdict: Verdict,
    /// Set when this story stands for repeated identical failures (the same peer address,
    /// cause and client id, each within a short time of the last), which the journal folds
    /// into one story so that a flood cannot push other devices' stories out.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub repeated: Option<Repeated>,
}

/// How often a folded failure happened.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Repeated {
    /// Connections this story stands for, itself included (at least 2).
    pub count: u64,
    /// When the first of them ended, milliseconds since the Unix epoch.
    pub first_ms: u64,
    /// When the last of them ended.
    pub last_ms: u64,
}

/// One event of a story.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub struct Event {
    /// Milliseconds since the socket was accepted.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The socket was accepted.
    Accepted {
        /// Local address.
        local: String,
    },
    /// What the first bytes looked like.
    FirstBytes {
        /// "tls_client_hello", "mqtt_connect", "http", "text", "binary".
        looks_like: String,
        /// Up to 32 bytes in hex: a CONNECT only up to its keep alive, and text or HTTP after
        /// [`crate::redact`] has replaced the credentials in it.
        hex: String,
    },
    /// The TLS ClientHello (boxed: it is large, and most events are small).
    ClientHello(Box<HelloSummary>),
    /// The TLS handshake completed.
    TlsEstablished {
        /// "TLSv1.3", "TLSv1.2".
        version: String,
        /// IANA name of the negotiated suite.
        suite: String,
        /// The verified client certificate's subject, if one was sent.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_cert_subject: Option<String>,
        /// Its issuer.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_cert_issuer: Option<String>,
        /// Its validity, "not_before .. not_after" (RFC 3339).
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_cert_validity: Option<String>,
    },
    /// The TLS handshake completed with a weak version or suite (legacy listeners only); follows
    /// `TlsEstablished`.
    TlsWeak {
        /// Why, e.g. "static RSA key exchange: no forward secrecy; CBC mode (…)".
        why: String,
    },
    /// The TLS handshake failed.
    TlsFailed {
        /// rustls's description.
        error: String,
        /// Which side raised it.
        by: Initiator,
    },
    /// A WebSocket upgrade request.
    WsUpgrade {
        /// Requested path.
        path: String,
        /// Offered subprotocols.
        subprotocols: Vec<String>,
        /// HTTP status sent (101 on success).
        status: u16,
    },
    /// CONNECT (never the password or auth data; only whether they were there).
    Connect {
        /// "MQTT" or "MQIsdp".
        protocol_name: String,
        /// 3, 4 or 5.
        protocol_level: u8,
        /// Client id as sent (possibly empty).
        client_id: String,
        /// Clean start / clean session.
        clean_start: bool,
        /// Keep alive in seconds.
        keep_alive: u16,
        /// Will topic, if a will was set.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        will_topic: Option<String>,
        /// Whether a user name was sent.
        username_present: bool,
        /// Whether a password was sent.
        password_present: bool,
    },
    /// The authentication decision.
    Auth {
        /// Whether CONNECT was accepted.
        allowed: bool,
        /// How: "anonymous", "password file", "client certificate", or why not.
        detail: String,
    },
    /// An ACL decision.
    Acl {
        /// "read" or "write".
        access: String,
        /// Topic or filter.
        topic: String,
        /// Allowed?
        allowed: bool,
        /// The rule that decided.
        rule: String,
    },
    /// CONNACK sent.
    ConnAck {
        /// Reason code (v5) or mapped return code (3.1.1), as a number.
        code: u8,
        /// Session present.
        session_present: bool,
    },
    /// DISCONNECT sent or received.
    Disconnect {
        /// Reason code.
        code: u8,
        /// Who sent it.
        by: Initiator,
    },
    /// Deliveries to this client dropped by policy, by reason (QoS 1/2 to a connected client
    /// are never dropped: their publishers are held back instead).
    Dropped {
        /// True for drops while no connection was attached, reported by the next one.
        while_offline: bool,
        /// All of them.
        total: u64,
        /// QoS 0 messages to a full queue while connected.
        #[serde(default, skip_serializing_if = "is_zero")]
        qos0_queue_full: u64,
        /// Messages to a full queue while offline.
        #[serde(default, skip_serializing_if = "is_zero")]
        offline_queue_full: u64,
        /// Retained messages beyond `max_retained_per_subscription`.
        #[serde(default, skip_serializing_if = "is_zero")]
        retained_limit: u64,
        /// Queued or in-flight deliveries the read ACL no longer allowed at attach.
        #[serde(default, skip_serializing_if = "is_zero")]
        acl_revoked: u64,
        /// Larger than the client's Maximum Packet Size.
        #[serde(default, skip_serializing_if = "is_zero")]
        too_large: u64,
        /// Message expiry passed while waiting.
        #[serde(default, skip_serializing_if = "is_zero")]
        expired: u64,
    },
    /// The client id's session belonged to another identity and was ended; this connection
    /// started a fresh one (`[session] other_identity = "new-session"`).
    SessionReplaced {
        /// Whose it was: `user "alice"` or `anonymous`.
        previous_owner: String,
    },
    /// The connection closed.
    Closed {
        /// Who closed it.
        by: Initiator,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The TLS ClientHello as offered.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct HelloSummary {
    /// SNI host name; `None` when absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sni: Option<String>,
    /// Offered versions, highest first ("TLSv1.3", "TLSv1.2", …).
    pub versions: Vec<String>,
    /// Offered cipher suites by IANA name (or 0xNNNN).
    pub cipher_suites: Vec<String>,
    /// Offered ALPN protocols.
    pub alpn: Vec<String>,
    /// Offered signature schemes.
    pub signature_schemes: Vec<String>,
    /// Extension names in order.
    pub extensions: Vec<String>,
    /// Stable fingerprint of the hello (JA4).
    pub fingerprint: String,
    /// An IP address sent as SNI (not a valid server_name: connecting by IP sends this).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sni_ip: Option<String>,
    /// The device family the hello looks like, and why ("looks like", not certainty).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub device: Option<DeviceGuess>,
}

/// What a ClientHello suggests about the device.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct DeviceGuess {
    /// The family, e.g. "mbedTLS 2.x".
    pub family: String,
    /// The facts pointing there.
    pub evidence: String,
    /// Device-side fixes worth trying.
    pub advice: Vec<String>,
}

/// Who did something.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Initiator {
    /// The device.
    Client,
    /// Lantern.
    Broker,
    /// The network (reset, timeout on the wire).
    #[default]
    Network,
}

/// Bytes and packets both ways.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct Counters {
    /// Bytes received from the client (on the socket).
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
    /// MQTT packets received.
    pub packets_in: u64,
    /// MQTT packets sent.
    pub packets_out: u64,
    /// The last packet received, by name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_packet_in: Option<String>,
    /// The last packet sent, by name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_packet_out: Option<String>,
}

impl Story {
    /// Finishes the story with its cause, computing the verdict.
    pub fn finish(&mut self, cause: Cause) {
        self.verdict = cause.explain(self);
        self.cause = cause;
    }
}
