//! The control packets, one type per packet, shared by all protocol versions.
//!
//! Fields that exist only in MQTT 5.0 (properties, most reason codes) are ignored when a packet
//! is encoded for 3.1 / 3.1.1 and are at their defaults when a 3.1.1 packet is decoded.

use alloc::vec::Vec;
use core::num::NonZeroU16;

use bytes::Bytes;

use crate::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, WillProperties,
};
use crate::reason::ReasonCode;
use crate::string::{MqttString, Password};

/// A packet identifier: [MQTT-2.2.1-3] a non-zero 16-bit integer.
pub type PacketId = NonZeroU16;

/// The protocol level carried by CONNECT.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum ProtocolVersion {
    /// MQTT 3.1: protocol name `MQIsdp`, level 3.
    V31,
    /// MQTT 3.1.1: protocol name `MQTT`, level 4.
    V311,
    /// MQTT 5.0: protocol name `MQTT`, level 5.
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT.
    pub const fn level(self) -> u8 {
        match self {
            Self::V31 => 3,
            Self::V311 => 4,
            Self::V5 => 5,
        }
    }

    /// The protocol name that goes with this level.
    pub const fn protocol_name(self) -> &'static str {
        match self {
            Self::V31 => "MQIsdp",
            Self::V311 | Self::V5 => "MQTT",
        }
    }

    /// True for MQTT 5.0, the only version with properties and reason codes everywhere.
    pub const fn is_v5(self) -> bool {
        matches!(self, Self::V5)
    }

    /// How people write the version: "3.1", "3.1.1", "5.0".
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V31 => "3.1",
            Self::V311 => "3.1.1",
            Self::V5 => "5.0",
        }
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum QoS {
    /// QoS 0: at most once.
    #[default]
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a wire value 0..=2; `None` for 3 and above.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// The type nibble of the fixed header.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[allow(missing_docs)] // the variant names are the packet names of the specification
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    /// The packet type for a type nibble; `None` for 0, which is reserved.
    pub const fn from_nibble(nibble: u8) -> Option<Self> {
        Some(match nibble {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            15 => Self::Auth,
            _ => return None,
        })
    }

    /// The name of the packet as the specification writes it ("CONNECT", "PUBACK", …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Connect => "CONNECT",
            Self::ConnAck => "CONNACK",
            Self::Publish => "PUBLISH",
            Self::PubAck => "PUBACK",
            Self::PubRec => "PUBREC",
            Self::PubRel => "PUBREL",
            Self::PubComp => "PUBCOMP",
            Self::Subscribe => "SUBSCRIBE",
            Self::SubAck => "SUBACK",
            Self::Unsubscribe => "UNSUBSCRIBE",
            Self::UnsubAck => "UNSUBACK",
            Self::PingReq => "PINGREQ",
            Self::PingResp => "PINGRESP",
            Self::Disconnect => "DISCONNECT",
            Self::Auth => "AUTH",
        }
    }
}

/// Any MQTT control packet.
#[derive(Clone, Debug, Eq, PartialEq)]
#[allow(missing_docs)] // the variant names are the packet names of the specification
pub enum Packet {
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(Ack),
    PubRec(Ack),
    PubRel(Ack),
    PubComp(Ack),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }
}

/// CONNECT (§3.1 of MQTT 5.0, §3.1 of 3.1.1).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Connect {
    /// Protocol name and level, which the decoder has checked agree.
    pub protocol: ProtocolVersion,
    /// Clean Start (v5) / Clean Session (3.1.1).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 turns the mechanism off.
    pub keep_alive: u16,
    /// The client identifier; may be empty.
    pub client_id: MqttString,
    /// The will message, when the will flag is set.
    pub will: Option<Will>,
    /// User name, when the user name flag is set.
    pub username: Option<MqttString>,
    /// Password, when the password flag is set (binary data; never printed).
    pub password: Option<Password>,
    /// MQTT 5.0 properties.
    pub properties: ConnectProperties,
}

/// The will message carried in CONNECT.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Will {
    /// Will topic (no wildcards; the broker checks that, not the codec).
    pub topic: MqttString,
    /// Will payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will retain.
    pub retain: bool,
    /// MQTT 5.0 will properties.
    pub properties: WillProperties,
}

/// CONNACK.
///
/// The reason code is always a [`ReasonCode`]; for 3.1 / 3.1.1 it is mapped to and from the
/// CONNACK return codes 0..=5 (see [`ReasonCode::to_v3_connack`]).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ConnAck {
    /// Session present flag.
    pub session_present: bool,
    /// Connect reason code (v5) / return code (v3).
    pub reason: ReasonCode,
    /// MQTT 5.0 properties.
    pub properties: ConnAckProperties,
}

/// PUBLISH.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Publish {
    /// DUP flag: this may be a re-delivery.
    pub dup: bool,
    /// QoS of this delivery.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; empty in v5 when a topic alias stands for it.
    pub topic: MqttString,
    /// Packet identifier: present if and only if `qos` is 1 or 2 [MQTT-2.2.1-2].
    pub packet_id: Option<PacketId>,
    /// MQTT 5.0 properties.
    pub properties: PublishProperties,
    /// Application payload, shared, never copied.
    pub payload: Bytes,
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP, which share one shape.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Ack {
    /// The packet identifier acknowledged.
    pub packet_id: PacketId,
    /// Reason code (v5; always `Success` when decoded from 3.1.1).
    pub reason: ReasonCode,
    /// MQTT 5.0 properties.
    pub properties: AckProperties,
}

impl Ack {
    /// A successful acknowledgement without properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            reason: ReasonCode::Success,
            properties: AckProperties::default(),
        }
    }
}

/// Retain handling subscription option (v5 §3.8.3.1).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send retained messages only if the subscription did not exist.
    SendIfNew = 1,
    /// 2: do not send retained messages.
    DoNotSend = 2,
}

/// Subscription options: the byte after each topic filter in SUBSCRIBE.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (v5).
    pub no_local: bool,
    /// Retain As Published (v5).
    pub retain_as_published: bool,
    /// Retain Handling (v5).
    pub retain_handling: RetainHandling,
}

/// SUBSCRIBE.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters and their options; at least one [MQTT-3.8.3-3].
    pub filters: Vec<(MqttString, SubscriptionOptions)>,
    /// MQTT 5.0 properties.
    pub properties: SubscribeProperties,
}

/// SUBACK: one reason code per filter, in order.
///
/// 3.1.1 return codes 0x00, 0x01, 0x02 and 0x80 are the v5 codes `GrantedQoS0..2` and
/// `UnspecifiedError`; every other v5 failure code is sent to a 3.1.1 client as 0x80.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SubAck {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// One code per topic filter.
    pub reasons: Vec<ReasonCode>,
    /// MQTT 5.0 properties.
    pub properties: AckProperties,
}

/// UNSUBSCRIBE.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Topic filters; at least one [MQTT-3.10.3-2].
    pub filters: Vec<MqttString>,
    /// MQTT 5.0 properties.
    pub properties: UnsubscribeProperties,
}

/// UNSUBACK. 3.1.1 has no payload: `reasons` is empty when decoded from, and ignored when
/// encoded for, 3.1 / 3.1.1.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct UnsubAck {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// One code per topic filter (v5).
    pub reasons: Vec<ReasonCode>,
    /// MQTT 5.0 properties.
    pub properties: AckProperties,
}

/// DISCONNECT. In 3.1.1 it has no variable header: `reason` is `NormalDisconnection`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Disconnect {
    /// Disconnect reason code (v5).
    pub reason: ReasonCode,
    /// MQTT 5.0 properties.
    pub properties: DisconnectProperties,
}

/// AUTH (v5 only).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Auth {
    /// Authenticate reason code: `Success`, `ContinueAuthentication` or `ReAuthenticate`.
    pub reason: ReasonCode,
    /// MQTT 5.0 properties.
    pub properties: AuthProperties,
}
