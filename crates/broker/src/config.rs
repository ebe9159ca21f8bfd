//! Broker-wide limits and policy, already validated (the CLI turns the TOML file into this).

use core::num::{NonZeroU16, NonZeroU32};
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
    /// How many messages may wait in one session's queue, connected or not; the oldest QoS 0
    /// messages are dropped first, then new messages are refused and counted.
    pub max_queued_messages: usize,
    /// Largest session expiry interval granted, in seconds (`None`: as the client asks).
    pub max_session_expiry: Option<u32>,
    /// Topic aliases a v5 client may use towards the broker (Topic Alias Maximum).
    pub topic_alias_maximum: u16,
    /// How long a new connection may take to send CONNECT.
    pub connect_timeout: Duration,
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
        }
    }
}
