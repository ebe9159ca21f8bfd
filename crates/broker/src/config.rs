//! Broker-wide limits and policy, already validated (the CLI turns the TOML file into this).

use core::num::{NonZeroU16, NonZeroU32, NonZeroUsize};
use std::time::Duration;

/// Limits and policy of one broker.
///
/// "Unlimited" is `None`, never 0 (STYLE.md, idiom 8).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct BrokerConfig {
    /// Largest packet accepted from a client, fixed header included; announced to v5 clients as
    /// Maximum Packet Size. A larger packet closes the connection (v5: DISCONNECT 0x95).
    pub max_packet_size: NonZeroU32,
    /// Largest packet accepted before CONNECT is accepted (the CONNECT itself, or whatever a
    /// client sends first); bounds what an unauthenticated client can make the broker buffer.
    /// A CONNECT is small (client id, credentials, a will); a larger one is refused like any
    /// packet over `max_packet_size` (v5: CONNACK 0x95). The smaller of the two applies.
    pub max_connect_packet_size: NonZeroU32,
    /// Largest keep alive granted to v5 clients, announced as Server Keep Alive when the client
    /// asked for more (or for 0). 3.1.1 has no way to announce it, so 3.1.1 clients keep theirs.
    pub max_keepalive: Option<u16>,
    /// How many QoS 1/2 messages may be in flight towards one client (further messages wait in
    /// its queue); also announced to v5 clients as Receive Maximum for QoS 2 messages they send.
    pub max_inflight: NonZeroU16,
    /// How many messages may wait in one session's queue. For a connected client a full queue
    /// drops new QoS 0 messages and holds back the publishers of QoS 1/2 messages (they are
    /// still queued: flow control, not loss); for a session without a connection it drops new
    /// messages. Every drop is counted per session and reason.
    pub max_queued_messages: usize,
    /// Largest session expiry interval granted, in seconds (`None`: as the client asks).
    pub max_session_expiry: Option<u32>,
    /// Topic aliases a v5 client may use towards the broker (Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// How long a new connection may take to send CONNECT.
    pub connect_timeout: Duration,
    /// What happens when a client connects with the client id of a session another identity
    /// created.
    pub other_identity: OtherIdentity,
    /// How long a connected subscriber's queue may stay full (at `max_queued_messages`, not yet
    /// drained to half) before the subscriber is disconnected (v5: DISCONNECT 0x97).
    pub slow_subscriber_timeout: Duration,
    /// How many retained messages one new subscription receives at most (`None`: all of them,
    /// paced by the client's in-flight window). A cut is counted and recorded in the story.
    pub max_retained_per_subscription: Option<NonZeroUsize>,
    /// How many subscriptions one session may hold (`None`: no limit); beyond it SUBACK says
    /// 0x97 Quota exceeded (3.1.1: 0x80).
    pub max_subscriptions_per_client: Option<NonZeroUsize>,
    /// Longest topic name or filter accepted, in bytes (the protocol's own cap is 65 535).
    pub max_topic_length: NonZeroUsize,
    /// Most levels (`/`-separated parts) a topic name or filter may have.
    pub max_topic_levels: NonZeroUsize,
}

/// Who may use a persistent session: the identity that created it (its authenticated user name
/// or certificate identity; anonymous clients share the identity "anonymous").
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum OtherIdentity {
    /// Another identity gets a fresh session: the old one ends as if with Clean Start, and its
    /// queued messages are discarded, never delivered to the newcomer.
    #[default]
    NewSession,
    /// Another identity is refused: CONNACK 0x87 Not authorized (3.1.1: 0x05), and the
    /// session and its connection are left alone.
    Refuse,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            max_packet_size: NonZeroU32::new(1024 * 1024).unwrap_or(NonZeroU32::MIN),
            max_connect_packet_size: NonZeroU32::new(64 * 1024).unwrap_or(NonZeroU32::MIN),
            max_keepalive: None,
            max_inflight: NonZeroU16::new(64).unwrap_or(NonZeroU16::MIN),
            max_queued_messages: 1000,
            max_session_expiry: None,
            topic_alias_maximum: 64,
            connect_timeout: Duration::from_secs(10),
            other_identity: OtherIdentity::NewSession,
            slow_subscriber_timeout: Duration::from_secs(30),
            max_retained_per_subscription: None,
            max_subscriptions_per_client: NonZeroUsize::new(1000),
            max_topic_length: NonZeroUsize::new(65_535).unwrap_or(NonZeroUsize::MIN),
            max_topic_levels: NonZeroUsize::new(128).unwrap_or(NonZeroUsize::MIN),
        }
    }
}
