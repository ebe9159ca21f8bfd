//! What a connection reports to its driver: that it connected, and why it closed. The broker
//! crate does not log; the network layer turns these into log lines (and, with the diagnostics
//! issue, into connection stories).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lantern_codec::{DecodeError, ProtocolVersion, ReasonCode};

use crate::auth::{Access, AuthFailure};
use crate::session::DropCounts;

/// Something that happened on a connection.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// CONNECT arrived (before authentication). Never the password: only whether one was sent.
    ConnectReceived {
        /// Protocol version.
        version: ProtocolVersion,
        /// Client id as sent (possibly empty).
        client_id: Box<str>,
        /// Clean start / clean session.
        clean_start: bool,
        /// Keep alive as asked.
        keep_alive: u16,
        /// Will topic, if a will was set.
        will_topic: Option<Box<str>>,
        /// Whether a user name was sent.
        username_present: bool,
        /// Whether a password was sent.
        password_present: bool,
    },
    /// CONNACK queued.
    ConnAckSent {
        /// Its reason code (a 3.1.1 client gets the mapped return code).
        reason: ReasonCode,
        /// The byte the client received: the reason code (v5) or the return code (3.1/3.1.1).
        wire_code: u8,
        /// Session present.
        session_present: bool,
    },
    /// DISCONNECT queued for a v5 client.
    DisconnectSent {
        /// Its reason code.
        reason: ReasonCode,
    },
    /// CONNECT accepted and CONNACK 0 queued.
    Connected {
        /// Client identifier (assigned by the broker if the client sent none).
        client_id: Arc<str>,
        /// Protocol version.
        version: ProtocolVersion,
        /// Clean Start / Clean Session.
        clean_start: bool,
        /// Keep alive in force, in seconds (after any Server Keep Alive).
        keep_alive: u16,
        /// Whether an existing session was resumed.
        session_present: bool,
        /// Whether CONNECT carried a user name (its value is never reported here).
        username: Option<Arc<str>>,
    },
    /// An ACL refused a publish or a subscription (the connection goes on).
    Denied {
        /// Write for PUBLISH, Read for SUBSCRIBE.
        access: Access,
        /// The topic or filter.
        topic: Box<str>,
        /// The rule that decided.
        rule: Arc<str>,
    },
    /// Deliveries for this client's session were dropped by policy (issue 9): reported once
    /// per period, at CONNECT for the time no connection was attached (`while_offline`), and
    /// at close for the connection's own time.
    Dropped {
        /// The counts by reason.
        counts: DropCounts,
        /// True for drops while no connection was attached (reported by the next one).
        while_offline: bool,
    },
    /// The client id's session belonged to another identity and was ended: this connection
    /// got a fresh one (`other_identity = "new-session"`).
    SessionReplaced {
        /// The identity that owned the old session (`None`: anonymous).
        previous_owner: Option<Arc<str>>,
    },
    /// The connection is over; the driver flushes what is queued and closes the socket.
    Closed {
        /// Client identifier, when CONNECT got that far.
        client_id: Option<Arc<str>>,
        /// Why.
        reason: CloseReason,
    },
}

/// Why a connection closed, with the values needed to explain it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent DISCONNECT.
    ClientDisconnect {
        /// Its reason code (0 = normal; 0x04 = publish my will).
        reason: ReasonCode,
    },
    /// The client closed the socket without DISCONNECT.
    PeerClosed,
    /// The socket failed (reset, broken pipe, …).
    NetworkError(String),
    /// No packet within 1.5 × keep alive [MQTT-3.1.2-24].
    KeepAliveTimeout {
        /// Keep alive in force.
        keep_alive: Duration,
        /// Time since the last packet from the client.
        idle: Duration,
        /// Packets received after CONNECT; 0 means the client never sent anything after its
        /// CONNECT although CONNACK was delivered — it likely never read the CONNACK.
        packets_after_connect: u64,
    },
    /// No CONNECT within the connect timeout.
    ConnectTimeout {
        /// How long the broker waited.
        waited: Duration,
        /// Bytes that did arrive (a partial packet, or nothing).
        bytes_received: u64,
    },
    /// The first bytes were not MQTT at all: another protocol spoke to this port.
    NotMqtt(Foreign),
    /// A packet the codec rejected.
    Malformed(DecodeError),
    /// A well-formed packet that breaks the protocol here.
    ProtocolViolation {
        /// The reason code sent (or that would be sent in v5).
        reason: ReasonCode,
        /// What happened, naming the rule.
        detail: String,
    },
    /// A second CONNECT on an open connection [MQTT-3.1.0-2]: the client did not read its
    /// CONNACK and tried again.
    SecondConnect,
    /// CONNECT was refused with this CONNACK code.
    Refused {
        /// The CONNACK reason code sent.
        reason: ReasonCode,
        /// What was wrong.
        detail: String,
    },
    /// CONNECT failed authentication; CONNACK carried `failure.reason_code()`.
    NotAuthenticated(AuthFailure),
    /// Another connection took over the session with the same client id [MQTT-3.1.4-3].
    TakenOver,
    /// The client id belongs to a persistent session another identity created, and the policy
    /// (`other_identity = "refuse"`) refuses it: CONNACK 0x87 Not authorized.
    SessionOfOtherIdentity {
        /// The client id.
        client_id: Arc<str>,
        /// The identity owning the session (`None`: anonymous).
        owner: Option<Arc<str>>,
        /// The identity of this connection (`None`: anonymous).
        identity: Option<Arc<str>>,
    },
    /// The client's queue stayed full longer than `slow_subscriber_timeout` (issue 9): v5
    /// DISCONNECT 0x97 Quota exceeded.
    SlowSubscriber {
        /// Messages waiting in its queue.
        queued: usize,
        /// The queue limit (`max_queued_messages`).
        max_queued: usize,
        /// QoS 1/2 deliveries sent and not acknowledged.
        inflight: usize,
        /// The in-flight window.
        window: usize,
        /// How long the queue had been full.
        stuck_for: Duration,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The broker is shutting down.
    ServerShutdown,
    /// The broker's store cannot write (disk full, write errors): a QoS 1/2 PUBLISH was
    /// refused unacknowledged rather than accepted and lost (issue 10); v5 DISCONNECT 0x97.
    StoreUnavailable {
        /// The topic of the refused PUBLISH.
        topic: Box<str>,
        /// Its QoS.
        qos: u8,
    },
}

impl CloseReason {
    /// A stable id for the cause, for logs and tests.
    pub fn id(&self) -> &'static str {
        match self {
            Self::ClientDisconnect { .. } => "session.client_disconnect",
            Self::PeerClosed => "net.peer_closed",
            Self::NetworkError(_) => "net.error",
            Self::KeepAliveTimeout {
                packets_after_connect: 0,
                ..
            } => "session.keepalive_expired_connack_unread",
            Self::KeepAliveTimeout { .. } => "session.keepalive_expired",
            Self::ConnectTimeout { .. } => "mqtt.connect_timeout",
            Self::NotMqtt(foreign) => foreign.id(),
            Self::Malformed(_) => "mqtt.malformed",
            Self::ProtocolViolation { .. } => "mqtt.protocol_violation",
            Self::Refused { .. } => "mqtt.refused",
            Self::SecondConnect => "mqtt.second_connect",
            Self::NotAuthenticated(failure) => failure.id(),
            Self::TakenOver => "session.taken_over",
            Self::SessionOfOtherIdentity { .. } => "session.other_identity",
            Self::SlowSubscriber { .. } => "session.slow_subscriber",
            Self::ServerShutdown => "broker.shutdown",
            Self::StoreUnavailable { .. } => "store.unavailable",
        }
    }

    /// True when the connection ended as the client intended.
    pub fn is_normal(&self) -> bool {
        matches!(self, Self::ClientDisconnect { reason } if !reason.is_error())
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientDisconnect { reason } => {
                write!(f, "the client disconnected with DISCONNECT ({reason})")
            }
            Self::PeerClosed => f.write_str("the client closed the connection without DISCONNECT"),
            Self::NetworkError(e) => write!(f, "network error: {e}"),
            Self::KeepAliveTimeout { keep_alive, idle, packets_after_connect } => {
                write!(
                    f,
                    "keep alive expired: keep alive {}s allows {:.1}s of silence, nothing arrived for {:.1}s",
                    keep_alive.as_secs(),
                    keep_alive.as_secs_f64() * 1.5,
                    idle.as_secs_f64()
                )?;
                if *packets_after_connect == 0 {
                    f.write_str("; nothing at all arrived after CONNECT although CONNACK was delivered (the client likely never read its CONNACK)")?;
                }
                Ok(())
            }
            Self::ConnectTimeout { waited, bytes_received: 0 } => write!(
                f,
                "no CONNECT within {:.1}s: not a single byte arrived (a port check, or a client waiting for the server to speak first)",
                waited.as_secs_f64()
            ),
            Self::ConnectTimeout { waited, bytes_received } => write!(
                f,
                "no complete CONNECT within {:.1}s: {bytes_received} bytes arrived",
                waited.as_secs_f64()
            ),
            Self::NotMqtt(foreign) => fmt::Display::fmt(foreign, f),
            Self::Malformed(e) => write!(f, "malformed packet: {e}"),
            Self::ProtocolViolation { reason, detail } => {
                write!(f, "protocol violation: {detail} ({reason})")
            }
            Self::SecondConnect => f.write_str(
                "a second CONNECT on an open connection [MQTT-3.1.0-2]: the client did not read its CONNACK and tried again",
            ),
            Self::Refused { reason, detail } => write!(f, "CONNECT refused with {reason}: {detail}"),
            Self::NotAuthenticated(failure) => {
                write!(f, "CONNECT refused with {}: {failure}", failure.reason_code())
            }
            Self::TakenOver => {
                f.write_str("another connection with the same client id took over the session")
            }
            Self::SessionOfOtherIdentity { client_id, owner, identity } => write!(
                f,
                "client id {client_id:?} belongs to a persistent session of {}, and this client connected as {}; other_identity = \"refuse\"",
                identity_name(owner.as_deref()),
                identity_name(identity.as_deref())
            ),
            Self::SlowSubscriber { queued, max_queued, inflight, window, stuck_for, timeout } => write!(
                f,
                "slow subscriber: {queued} messages queued (max_queued_messages {max_queued}) and {inflight} of {window} in flight unacknowledged for {:.1}s (slow_subscriber_timeout {:.1}s)",
                stuck_for.as_secs_f64(),
                timeout.as_secs_f64()
            ),
            Self::ServerShutdown => f.write_str("the broker is shutting down"),
            Self::StoreUnavailable { topic, qos } => write!(
                f,
                "the broker's store cannot write (disk full or failing): QoS {qos} PUBLISH to {topic:?} refused, not acknowledged"
            ),
        }
    }
}

/// `user "alice"` or `anonymous`.
fn identity_name(identity: Option<&str>) -> String {
    match identity {
        Some(name) => format!("user {name:?}"),
        None => "anonymous".to_owned(),
    }
}

/// What arrived instead of an MQTT CONNECT, recognised from the first bytes.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Foreign {
    /// A TLS ClientHello (record type 0x16): a TLS client on a plain MQTT port.
    TlsClientHello,
    /// An HTTP request: a WebSocket client or a browser on a native MQTT port.
    Http {
        /// The request line, e.g. `GET /mqtt HTTP/1.1`.
        request_line: String,
    },
    /// Printable text, such as AT commands a modem sent to the socket instead of through it.
    Text {
        /// The printable start of it.
        text: String,
    },
    /// Bytes that are neither: the first ones, in hex.
    Binary {
        /// Up to 16 bytes in hex.
        hex: String,
        /// The packet the first byte announces, if it is a packet type ("PINGREQ").
        packet: Option<&'static str>,
    },
}

impl Foreign {
    /// Classifies the first bytes of a connection whose first byte is not CONNECT's 0x10.
    pub fn classify(bytes: &[u8]) -> Self {
        if bytes.first() == Some(&0x16) && bytes.get(1).is_none_or(|&b| b == 0x03) {
            return Self::TlsClientHello;
        }
        let printable = |b: &u8| b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t');
        let head = &bytes[..bytes.len().min(200)];
        if head.iter().all(printable) {
            let text = String::from_utf8_lossy(head).into_owned();
            const METHODS: [&str; 8] = [
                "GET ", "POST ", "PUT ", "HEAD ", "OPTIONS ", "DELETE ", "PATCH ", "CONNECT ",
            ];
            if METHODS.iter().any(|m| text.starts_with(m)) {
                let request_line = text.lines().next().unwrap_or_default().to_owned();
                return Self::Http { request_line };
            }
            return Self::Text {
                text: text.trim_end().to_owned(),
            };
        }
        let hex = bytes
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        let packet = bytes
            .first()
            .and_then(|b| lantern_codec::PacketType::from_nibble(b >> 4))
            .map(lantern_codec::PacketType::name);
        Self::Binary { hex, packet }
    }

    /// A stable id for the cause.
    pub fn id(&self) -> &'static str {
        match self {
            Self::TlsClientHello => "tls.on_plain_port",
            Self::Http { .. } => "http.on_mqtt_port",
            Self::Text { .. } => "mqtt.text_instead_of_packet",
            Self::Binary { .. } => "mqtt.not_a_connect",
        }
    }
}

impl fmt::Display for Foreign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TlsClientHello => f.write_str(
                "a TLS ClientHello arrived on a plain MQTT port; the client must connect without TLS (mqtt://) or to the TLS port (mqtts://)",
            ),
            Self::Http { request_line } => write!(
                f,
                "an HTTP request ({request_line:?}) arrived on a native MQTT port; WebSocket clients must use the WebSocket port (ws:// or wss://)"
            ),
            Self::Text { text } => write!(
                f,
                "text arrived where an MQTT CONNECT was expected: {text:?}; the device is writing its modem's AT commands or a debug print into the socket instead of MQTT packets"
            ),
            Self::Binary { hex, packet: Some(packet) } => write!(
                f,
                "the first packet must be CONNECT [MQTT-3.1.0-1], but the connection began with {hex}, a {packet}"
            ),
            Self::Binary { hex, packet: None } => write!(
                f,
                "the first packet must be CONNECT (first byte 0x10) [MQTT-3.1.0-1], but the connection began with {hex}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_bytes_are_recognised() {
        assert_eq!(
            Foreign::classify(&[0x16, 0x03, 0x01, 0x02, 0x00]),
            Foreign::TlsClientHello
        );
        assert_eq!(
            Foreign::classify(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n"),
            Foreign::Http {
                request_line: "GET /mqtt HTTP/1.1".into()
            }
        );
        let at = Foreign::classify(b"AT+CMQTTCONNECT=0,\"tcp://x:1883\",60,1\r\n");
        assert_eq!(at.id(), "mqtt.text_instead_of_packet");
        assert!(at.to_string().contains("AT+CMQTTCONNECT"));
        let bin = Foreign::classify(&[0x82, 0x00, 0xff]);
        assert_eq!(
            bin,
            Foreign::Binary {
                hex: "82 00 ff".into(),
                packet: Some("SUBSCRIBE")
            }
        );
        assert!(bin.to_string().contains("CONNECT"));
        assert_eq!(Foreign::classify(&[0x00, 0xff]).id(), "mqtt.not_a_connect");
    }
}
