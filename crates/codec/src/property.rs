//! MQTT 5.0 property identifiers (v5 §2.2.2.2), shared by the decoder and the encoder.

/// 0x01 Payload Format Indicator (byte).
pub(crate) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
/// 0x02 Message Expiry Interval (four byte integer).
pub(crate) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
/// 0x03 Content Type (string).
pub(crate) const CONTENT_TYPE: u8 = 0x03;
/// 0x08 Response Topic (string).
pub(crate) const RESPONSE_TOPIC: u8 = 0x08;
/// 0x09 Correlation Data (binary).
pub(crate) const CORRELATION_DATA: u8 = 0x09;
/// 0x0B Subscription Identifier (variable byte integer).
pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
/// 0x11 Session Expiry Interval (four byte integer).
pub(crate) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
/// 0x12 Assigned Client Identifier (string).
pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
/// 0x13 Server Keep Alive (two byte integer).
pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
/// 0x15 Authentication Method (string).
pub(crate) const AUTHENTICATION_METHOD: u8 = 0x15;
/// 0x16 Authentication Data (binary).
pub(crate) const AUTHENTICATION_DATA: u8 = 0x16;
/// 0x17 Request Problem Information (byte).
pub(crate) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
/// 0x18 Will Delay Interval (four byte integer).
pub(crate) const WILL_DELAY_INTERVAL: u8 = 0x18;
/// 0x19 Request Response Information (byte).
pub(crate) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
/// 0x1A Response Information (string).
pub(crate) const RESPONSE_INFORMATION: u8 = 0x1A;
/// 0x1C Server Reference (string).
pub(crate) const SERVER_REFERENCE: u8 = 0x1C;
/// 0x1F Reason String (string).
pub(crate) const REASON_STRING: u8 = 0x1F;
/// 0x21 Receive Maximum (two byte integer).
pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
/// 0x22 Topic Alias Maximum (two byte integer).
pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
/// 0x23 Topic Alias (two byte integer).
pub(crate) const TOPIC_ALIAS: u8 = 0x23;
/// 0x24 Maximum QoS (byte).
pub(crate) const MAXIMUM_QOS: u8 = 0x24;
/// 0x25 Retain Available (byte).
pub(crate) const RETAIN_AVAILABLE: u8 = 0x25;
/// 0x26 User Property (string pair).
pub(crate) const USER_PROPERTY: u8 = 0x26;
/// 0x27 Maximum Packet Size (four byte integer).
pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
/// 0x28 Wildcard Subscription Available (byte).
pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
/// 0x29 Subscription Identifier Available (byte).
pub(crate) const SUBSCRIPTION_IDENTIFIERS_AVAILABLE: u8 = 0x29;
/// 0x2A Shared Subscription Available (byte).
pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

/// The property's name as the specification writes it; `None` for an undefined identifier.
pub(crate) const fn name(id: u32) -> Option<&'static str> {
    if id > 0xFF {
        return None;
    }
    // INVARIANT: checked to fit in a byte just above.
    Some(match id as u8 {
        PAYLOAD_FORMAT_INDICATOR => "Payload Format Indicator",
        MESSAGE_EXPIRY_INTERVAL => "Message Expiry Interval",
        CONTENT_TYPE => "Content Type",
        RESPONSE_TOPIC => "Response Topic",
        CORRELATION_DATA => "Correlation Data",
        SUBSCRIPTION_IDENTIFIER => "Subscription Identifier",
        SESSION_EXPIRY_INTERVAL => "Session Expiry Interval",
        ASSIGNED_CLIENT_IDENTIFIER => "Assigned Client Identifier",
        SERVER_KEEP_ALIVE => "Server Keep Alive",
        AUTHENTICATION_METHOD => "Authentication Method",
        AUTHENTICATION_DATA => "Authentication Data",
        REQUEST_PROBLEM_INFORMATION => "Request Problem Information",
        WILL_DELAY_INTERVAL => "Will Delay Interval",
        REQUEST_RESPONSE_INFORMATION => "Request Response Information",
        RESPONSE_INFORMATION => "Response Information",
        SERVER_REFERENCE => "Server Reference",
        REASON_STRING => "Reason String",
        RECEIVE_MAXIMUM => "Receive Maximum",
        TOPIC_ALIAS_MAXIMUM => "Topic Alias Maximum",
        TOPIC_ALIAS => "Topic Alias",
        MAXIMUM_QOS => "Maximum QoS",
        RETAIN_AVAILABLE => "Retain Available",
        USER_PROPERTY => "User Property",
        MAXIMUM_PACKET_SIZE => "Maximum Packet Size",
        WILDCARD_SUBSCRIPTION_AVAILABLE => "Wildcard Subscription Available",
        SUBSCRIPTION_IDENTIFIERS_AVAILABLE => "Subscription Identifier Available",
        SHARED_SUBSCRIPTION_AVAILABLE => "Shared Subscription Available",
        _ => return None,
    })
}
