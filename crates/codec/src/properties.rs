//! MQTT 5.0 properties, one struct per packet holding exactly the properties that packet may
//! carry (v5 §2.2.2.2). A property the packet may not carry, or a single-valued property sent
//! twice, is a decode error; user properties may repeat and keep their order.

use alloc::vec::Vec;
use core::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;

use crate::packet::QoS;
use crate::string::MqttString;

/// A user property: a UTF-8 string pair; keys may repeat [MQTT-3.1.3-10].
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct UserProperty {
    /// Name.
    pub key: MqttString,
    /// Value.
    pub value: MqttString,
}

/// CONNECT properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ConnectProperties {
    /// 0x11 Session Expiry Interval, seconds; absent means 0.
    pub session_expiry_interval: Option<u32>,
    /// 0x21 Receive Maximum; 0 is a protocol error.
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x27 Maximum Packet Size; 0 is a protocol error.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// 0x22 Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x19 Request Response Information (0 or 1).
    pub request_response_information: Option<bool>,
    /// 0x17 Request Problem Information (0 or 1).
    pub request_problem_information: Option<bool>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
    /// 0x15 Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data (only with a method).
    pub authentication_data: Option<Bytes>,
}

/// Will properties (in the CONNECT payload).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct WillProperties {
    /// 0x18 Will Delay Interval, seconds.
    pub will_delay_interval: Option<u32>,
    /// 0x01 Payload Format Indicator: true = UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// 0x02 Message Expiry Interval, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x03 Content Type.
    pub content_type: Option<MqttString>,
    /// 0x08 Response Topic.
    pub response_topic: Option<MqttString>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
}

/// CONNACK properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct ConnAckProperties {
    /// 0x11 Session Expiry Interval.
    pub session_expiry_interval: Option<u32>,
    /// 0x21 Receive Maximum.
    pub receive_maximum: Option<NonZeroU16>,
    /// 0x24 Maximum QoS (0 or 1 only; absent means 2).
    pub maximum_qos: Option<QoS>,
    /// 0x25 Retain Available.
    pub retain_available: Option<bool>,
    /// 0x27 Maximum Packet Size.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// 0x12 Assigned Client Identifier.
    pub assigned_client_identifier: Option<MqttString>,
    /// 0x22 Topic Alias Maximum.
    pub topic_alias_maximum: Option<u16>,
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
    /// 0x28 Wildcard Subscription Available.
    pub wildcard_subscription_available: Option<bool>,
    /// 0x29 Subscription Identifiers Available.
    pub subscription_identifiers_available: Option<bool>,
    /// 0x2A Shared Subscription Available.
    pub shared_subscription_available: Option<bool>,
    /// 0x13 Server Keep Alive.
    pub server_keep_alive: Option<u16>,
    /// 0x1A Response Information.
    pub response_information: Option<MqttString>,
    /// 0x1C Server Reference.
    pub server_reference: Option<MqttString>,
    /// 0x15 Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data.
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct PublishProperties {
    /// 0x01 Payload Format Indicator: true = UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// 0x02 Message Expiry Interval, seconds.
    pub message_expiry_interval: Option<u32>,
    /// 0x23 Topic Alias; 0 is a protocol error.
    pub topic_alias: Option<NonZeroU16>,
    /// 0x08 Response Topic.
    pub response_topic: Option<MqttString>,
    /// 0x09 Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
    /// 0x0B Subscription Identifier: none from a client, one per matching subscription to a
    /// client. Values are 1..=268 435 455.
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// 0x03 Content Type.
    pub content_type: Option<MqttString>,
}

impl PublishProperties {
    /// True when no property is set, the common case on the hot path.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP / SUBACK / UNSUBACK properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct AckProperties {
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// SUBSCRIBE properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct SubscribeProperties {
    /// 0x0B Subscription Identifier, 1..=268 435 455; 0 is a protocol error.
    pub subscription_identifier: Option<NonZeroU32>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
}

/// UNSUBSCRIBE properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct UnsubscribeProperties {
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
}

/// DISCONNECT properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct DisconnectProperties {
    /// 0x11 Session Expiry Interval.
    pub session_expiry_interval: Option<u32>,
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
    /// 0x1C Server Reference.
    pub server_reference: Option<MqttString>,
}

/// AUTH properties.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct AuthProperties {
    /// 0x15 Authentication Method.
    pub authentication_method: Option<MqttString>,
    /// 0x16 Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// 0x1F Reason String.
    pub reason_string: Option<MqttString>,
    /// 0x26 User Property.
    pub user_properties: Vec<UserProperty>,
}
