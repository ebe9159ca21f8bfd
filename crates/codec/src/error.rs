//! Decode errors: what was wrong, in which packet and field, with the values seen, so that
//! `Display` can say it in one sentence and [`DecodeError::rule`] can cite the clause.

use core::fmt;

use crate::packet::{PacketType, ProtocolVersion};
use crate::property;
use crate::reason::ReasonCode;
use crate::rules::SpecRule;
use crate::string::{InvalidString, MqttString};
use crate::varint;

/// A malformed or forbidden packet: what was wrong, where, and which rule it breaks.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// The packet being decoded, once the fixed header was read.
    pub packet: Option<PacketType>,
    /// The field being decoded ("remaining length", "topic name", "property 0x21", …).
    pub field: &'static str,
}

/// What went wrong.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The CONNECT protocol level is not 3, 4 or 5; the broker answers with CONNACK 0x01 / 0x84.
    UnsupportedProtocolVersion(u8),
    /// Packet type 0, or 15 (AUTH) on a 3.1 / 3.1.1 connection.
    ReservedPacketType {
        /// The type nibble.
        nibble: u8,
    },
    /// The fixed header flags differ from the value the packet type requires.
    ReservedFlags {
        /// The flags received.
        flags: u8,
        /// The flags required.
        expected: u8,
    },
    /// PUBLISH with both QoS bits set.
    PublishQos3 {
        /// The fixed header flags received.
        flags: u8,
    },
    /// PUBLISH with DUP set and QoS 0.
    PublishDupWithQos0 {
        /// The fixed header flags received.
        flags: u8,
    },
    /// A variable byte integer whose fourth byte still says "more follows".
    VarintTooLong,
    /// A variable byte integer encoded in more bytes than its value needs.
    VarintNotMinimal {
        /// The value decoded.
        value: u32,
        /// The bytes it took.
        len: usize,
    },
    /// The packet is larger than [`Limits::max_packet_size`](crate::Limits).
    PacketTooLarge {
        /// The whole packet's size, fixed header included.
        size: usize,
        /// The limit.
        max: u32,
    },
    /// A packet with a fixed-size body declared another remaining length.
    RemainingLengthMismatch {
        /// The remaining length in the fixed header.
        declared: u32,
        /// The body size the packet has in this version.
        expected: u32,
        /// The protocol version the packet was decoded as.
        version: ProtocolVersion,
    },
    /// The remaining length (or a property length) ends before a field does.
    Truncated {
        /// "remaining length" or "property length".
        scope: &'static str,
        /// That length's value.
        declared: u32,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the scope.
        available: usize,
    },
    /// Bytes left over after the last field of the packet.
    TrailingBytes {
        /// The remaining length in the fixed header.
        declared: u32,
        /// How many bytes were not used.
        unused: usize,
    },
    /// A string that is not MQTT UTF-8.
    InvalidString(InvalidString),
    /// CONNECT protocol name and level that do not belong together.
    ProtocolNameMismatch {
        /// The protocol name received.
        name: MqttString,
        /// The protocol level received.
        level: u8,
    },
    /// CONNECT flags with the reserved bit 0 set.
    ConnectReservedFlag {
        /// The connect flags byte.
        flags: u8,
    },
    /// Will QoS 3 with the will flag set.
    InvalidWillQos {
        /// The connect flags byte.
        flags: u8,
    },
    /// Will QoS non-zero without the will flag.
    WillQosWithoutWill {
        /// The will QoS bits.
        qos: u8,
    },
    /// Will retain set without the will flag.
    WillRetainWithoutWill,
    /// Password flag without user name flag (3.1 / 3.1.1).
    PasswordWithoutUsername,
    /// Authentication Data without Authentication Method.
    AuthDataWithoutMethod,
    /// Packet identifier 0 where a non-zero one is required.
    ZeroPacketId,
    /// A PUBLISH topic name containing `+` or `#`.
    WildcardInTopicName {
        /// The topic name.
        topic: MqttString,
        /// Byte offset of the wildcard.
        at: usize,
    },
    /// An empty topic name (without a topic alias) or topic filter.
    EmptyTopic,
    /// SUBSCRIBE or UNSUBSCRIBE without topic filters.
    NoTopicFilters,
    /// Subscription options with reserved bits set.
    SubscriptionOptionsReserved {
        /// The options byte.
        options: u8,
    },
    /// Subscription options with maximum QoS 3.
    InvalidSubscriptionQos {
        /// The options byte.
        options: u8,
    },
    /// Subscription options with retain handling 3.
    InvalidRetainHandling {
        /// The options byte.
        options: u8,
    },
    /// CONNACK acknowledge flags with bits 7-1 set.
    ConnAckReservedFlags {
        /// The acknowledge flags byte.
        flags: u8,
    },
    /// A reason or return code that this packet may not carry.
    InvalidReasonCode {
        /// The code received.
        code: u8,
    },
    /// A property identifier that this packet may not carry (or an undefined one).
    PropertyNotAllowed {
        /// The property identifier.
        id: u32,
    },
    /// A single-valued property sent twice.
    DuplicateProperty {
        /// The property identifier.
        id: u8,
    },
    /// A property value outside the property's range.
    InvalidPropertyValue {
        /// The property identifier.
        id: u8,
        /// The value received.
        value: u32,
    },
}

impl DecodeError {
    /// An error in `packet`'s `field`.
    pub(crate) const fn new(
        kind: DecodeErrorKind,
        packet: Option<PacketType>,
        field: &'static str,
    ) -> Self {
        Self {
            kind,
            packet,
            field,
        }
    }

    /// The spec rule broken, when one clause says so.
    pub fn rule(&self) -> Option<SpecRule> {
        use DecodeErrorKind as K;
        Some(match &self.kind {
            K::UnsupportedProtocolVersion(_) => SpecRule::ProtocolLevel,
            K::ReservedPacketType { .. } => SpecRule::PacketTypeReserved,
            K::ReservedFlags { .. } => SpecRule::FixedHeaderFlags,
            K::PublishQos3 { .. } => SpecRule::PublishQos3,
            K::PublishDupWithQos0 { .. } => SpecRule::PublishDupQos0,
            K::VarintTooLong => SpecRule::VarintMaxFourBytes,
            K::VarintNotMinimal { .. } => SpecRule::VarintMinimal,
            K::PacketTooLarge { .. } => SpecRule::MaximumPacketSize,
            K::RemainingLengthMismatch { .. } | K::TrailingBytes { .. } => {
                SpecRule::RemainingLength
            }
            K::Truncated { scope, .. } if *scope == REMAINING_LENGTH => SpecRule::RemainingLength,
            K::Truncated { .. } => return None,
            K::InvalidString(InvalidString::Nul { .. }) => SpecRule::Utf8NoNul,
            K::InvalidString(_) => SpecRule::Utf8WellFormed,
            K::ProtocolNameMismatch { .. } => SpecRule::ProtocolName,
            K::ConnectReservedFlag { .. } => SpecRule::ConnectReservedFlag,
            K::InvalidWillQos { .. } => SpecRule::WillQos3,
            K::WillQosWithoutWill { .. } => SpecRule::WillQosWithoutWill,
            K::WillRetainWithoutWill => SpecRule::WillRetainWithoutWill,
            K::PasswordWithoutUsername => SpecRule::PasswordWithoutUsername,
            K::AuthDataWithoutMethod => SpecRule::AuthDataWithoutMethod,
            K::ZeroPacketId => SpecRule::PacketIdNonZero,
            K::WildcardInTopicName { .. } => SpecRule::TopicNameWildcard,
            K::EmptyTopic => SpecRule::TopicNonEmpty,
            K::NoTopicFilters => match self.packet {
                Some(PacketType::Unsubscribe) => SpecRule::UnsubscribeNoFilters,
                _ => SpecRule::SubscribeNoFilters,
            },
            K::SubscriptionOptionsReserved { .. } => SpecRule::SubscribeReservedBits,
            K::InvalidSubscriptionQos { .. } => SpecRule::SubscribeQos3,
            K::InvalidRetainHandling { .. } => SpecRule::RetainHandling3,
            K::ConnAckReservedFlags { .. } => SpecRule::ConnAckReservedFlags,
            K::InvalidReasonCode { .. } => match self.packet? {
                PacketType::ConnAck => SpecRule::ConnAckReasonCode,
                PacketType::PubAck => SpecRule::PubAckReasonCode,
                PacketType::PubRec => SpecRule::PubRecReasonCode,
                PacketType::PubRel => SpecRule::PubRelReasonCode,
                PacketType::PubComp => SpecRule::PubCompReasonCode,
                PacketType::SubAck => SpecRule::SubAckReasonCode,
                PacketType::UnsubAck => SpecRule::UnsubAckReasonCode,
                PacketType::Disconnect => SpecRule::DisconnectReasonCode,
                PacketType::Auth => SpecRule::AuthReasonCode,
                _ => return None,
            },
            K::PropertyNotAllowed { .. } => SpecRule::PropertyNotAllowed,
            K::DuplicateProperty { .. } => SpecRule::PropertyRepeated,
            K::InvalidPropertyValue {
                id: property::TOPIC_ALIAS,
                ..
            } => SpecRule::TopicAliasZero,
            K::InvalidPropertyValue { .. } => SpecRule::PropertyValueRange,
        })
    }

    /// The reason code to send (CONNACK before a session, DISCONNECT after): Malformed Packet,
    /// Protocol Error, Packet too large or Unsupported Protocol Version.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeErrorKind as K;
        match &self.kind {
            // A 3.1.1 client learns "unacceptable protocol version" (CONNACK 0x01) either way.
            K::UnsupportedProtocolVersion(_) | K::ProtocolNameMismatch { .. } => {
                ReasonCode::UnsupportedProtocolVersion
            }
            K::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            // The clauses that say "Protocol Error" rather than "Malformed Packet".
            K::DuplicateProperty { .. }
            | K::InvalidPropertyValue { .. }
            | K::AuthDataWithoutMethod
            | K::PasswordWithoutUsername
            | K::NoTopicFilters
            | K::InvalidRetainHandling { .. }
            | K::InvalidSubscriptionQos { .. }
            | K::EmptyTopic => ReasonCode::ProtocolError,
            _ => ReasonCode::MalformedPacket,
        }
    }
}

/// The scope name used for the fixed header's remaining length.
pub(crate) const REMAINING_LENGTH: &str = "remaining length";

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind as K;
        let packet = self.packet.map_or("packet", PacketType::name);
        let field = self.field;
        write!(f, "{packet}: ")?;
        match &self.kind {
            K::UnsupportedProtocolVersion(level) => write!(
                f,
                "protocol level {level}, but only 3 (\"MQIsdp\", 3.1), 4 (3.1.1) and 5 (5.0) exist"
            )?,
            K::ReservedPacketType { nibble: 15 } => {
                f.write_str("packet type 15 (AUTH), but AUTH exists only in MQTT 5.0")?;
            }
            K::ReservedPacketType { nibble } => {
                write!(f, "packet type {nibble}, which is reserved and forbidden")?;
            }
            K::ReservedFlags { flags, expected } => write!(
                f,
                "fixed header flags 0b{flags:04b}, but {packet} requires 0b{expected:04b}"
            )?,
            K::PublishQos3 { flags } => write!(
                f,
                "fixed header flags 0b{flags:04b} set both QoS bits, but QoS must be 0, 1 or 2"
            )?,
            K::PublishDupWithQos0 { flags } => write!(
                f,
                "fixed header flags 0b{flags:04b} set DUP on a QoS 0 message, but DUP must be 0 for QoS 0"
            )?,
            K::VarintTooLong => write!(
                f,
                "{field} has the continuation bit set in its 4th byte, but a variable byte integer has at most 4 bytes"
            )?,
            K::VarintNotMinimal { value, len } => write!(
                f,
                "{field} encodes {value} in {len} bytes, but its shortest form has {}",
                varint::len(*value)
            )?,
            K::PacketTooLarge { size, max } => write!(
                f,
                "packet of {size} bytes (from the fixed header), but the maximum packet size is {max}"
            )?,
            K::RemainingLengthMismatch { declared, expected, version } => write!(
                f,
                "remaining length {declared}, but a {} {packet} has exactly {expected} bytes",
                version.as_str()
            )?,
            K::Truncated { scope, declared, needed, available } => write!(
                f,
                "{field} needs {needed} bytes, but the {scope} {declared} leaves only {available}"
            )?,
            K::TrailingBytes { declared, unused } => write!(
                f,
                "remaining length {declared}, but the packet's fields end {unused} bytes before it"
            )?,
            K::InvalidString(e) => {
                write!(f, "{field} is not a valid MQTT UTF-8 string: {e}")?;
            }
            K::ProtocolNameMismatch { name, level } => write!(
                f,
                "protocol name {name:?} with level {level}, but the name must be \"MQIsdp\" with level 3 or \"MQTT\" with level 4 or 5"
            )?,
            K::ConnectReservedFlag { flags } => write!(
                f,
                "connect flags 0x{flags:02X} set reserved bit 0, but it must be 0"
            )?,
            K::InvalidWillQos { flags } => write!(
                f,
                "connect flags 0x{flags:02X} carry will QoS 3, but will QoS must be 0, 1 or 2"
            )?,
            K::WillQosWithoutWill { qos } => write!(
                f,
                "will QoS {qos} without the will flag, but will QoS must be 0 when there is no will"
            )?,
            K::WillRetainWithoutWill => f.write_str(
                "will retain set without the will flag, but will retain must be 0 when there is no will",
            )?,
            K::PasswordWithoutUsername => f.write_str(
                "password flag set without the user name flag, which 3.1.1 forbids (only 5.0 allows it)",
            )?,
            K::AuthDataWithoutMethod => f.write_str(
                "Authentication Data (0x16) without an Authentication Method (0x15), but data needs a method",
            )?,
            K::ZeroPacketId => write!(f, "{field} 0, but it must be non-zero")?,
            K::WildcardInTopicName { topic, at } => write!(
                f,
                "{field} {topic:?} has a wildcard at byte {at}, but a topic name must not contain '+' or '#'"
            )?,
            K::EmptyTopic => write!(
                f,
                "{field} is empty, but it must be at least one character long (in 5.0 PUBLISH, unless a Topic Alias is set)"
            )?,
            K::NoTopicFilters => {
                write!(f, "no topic filters, but {packet} must carry at least one")?;
            }
            K::SubscriptionOptionsReserved { options } => write!(
                f,
                "{field} 0x{options:02X} set reserved bits, but they must be 0"
            )?,
            K::InvalidSubscriptionQos { options } => write!(
                f,
                "{field} 0x{options:02X} carry maximum QoS 3, but it must be 0, 1 or 2"
            )?,
            K::InvalidRetainHandling { options } => write!(
                f,
                "{field} 0x{options:02X} carry retain handling 3, but it must be 0, 1 or 2"
            )?,
            K::ConnAckReservedFlags { flags } => write!(
                f,
                "acknowledge flags 0x{flags:02X}, but bits 7-1 are reserved and must be 0"
            )?,
            K::InvalidReasonCode { code } => write!(
                f,
                "{field} 0x{code:02X}, which is not one of the codes a {packet} may carry"
            )?,
            K::PropertyNotAllowed { id } => match property::name(*id) {
                Some(name) => write!(
                    f,
                    "property 0x{id:02X} ({name}) in the {field}, but {packet} may not carry it"
                )?,
                None => write!(
                    f,
                    "property identifier 0x{id:02X} in the {field}, but no such property exists"
                )?,
            },
            K::DuplicateProperty { id } => write!(
                f,
                "property 0x{id:02X} ({}) appears twice in the {field}, but it may appear at most once",
                property::name(u32::from(*id)).unwrap_or("unknown")
            )?,
            K::InvalidPropertyValue { id, value } => write!(
                f,
                "property 0x{id:02X} ({}) has value {value}, but it must be {}",
                property::name(u32::from(*id)).unwrap_or("unknown"),
                expected_property_value(*id)
            )?,
        }
        if let Some(rule) = self.rule() {
            write!(f, " [{}]", rule.id())?;
        }
        Ok(())
    }
}

/// The range of a property whose value can be out of range, for the error message.
fn expected_property_value(id: u8) -> &'static str {
    match id {
        property::RECEIVE_MAXIMUM
        | property::MAXIMUM_PACKET_SIZE
        | property::TOPIC_ALIAS
        | property::SUBSCRIPTION_IDENTIFIER => "non-zero",
        _ => "0 or 1",
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    fn err(kind: DecodeErrorKind, packet: PacketType, field: &'static str) -> DecodeError {
        DecodeError::new(kind, Some(packet), field)
    }

    #[test]
    fn display_names_packet_field_values_and_rule() {
        let cases = [
            (
                err(DecodeErrorKind::VarintTooLong, PacketType::Publish, REMAINING_LENGTH),
                "PUBLISH: remaining length has the continuation bit set in its 4th byte, but a variable byte integer has at most 4 bytes [MQTT-1.5.5]",
            ),
            (
                err(DecodeErrorKind::PacketTooLarge { size: 2000, max: 1024 }, PacketType::Publish, REMAINING_LENGTH),
                "PUBLISH: packet of 2000 bytes (from the fixed header), but the maximum packet size is 1024 [MQTT-3.2.2-15]",
            ),
            (
                err(DecodeErrorKind::PropertyNotAllowed { id: 0x23 }, PacketType::Connect, "properties"),
                "CONNECT: property 0x23 (Topic Alias) in the properties, but CONNECT may not carry it [MQTT-2.2.2.2]",
            ),
            (
                err(DecodeErrorKind::UnsupportedProtocolVersion(6), PacketType::Connect, "protocol level"),
                "CONNECT: protocol level 6, but only 3 (\"MQIsdp\", 3.1), 4 (3.1.1) and 5 (5.0) exist [MQTT-3.1.2-2]",
            ),
            (
                err(
                    DecodeErrorKind::Truncated { scope: "property length", declared: 2, needed: 4, available: 1 },
                    PacketType::Connect,
                    "properties",
                ),
                "CONNECT: properties needs 4 bytes, but the property length 2 leaves only 1",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn reason_codes() {
        let e = |kind| err(kind, PacketType::Connect, "x").reason_code();
        assert_eq!(
            e(DecodeErrorKind::UnsupportedProtocolVersion(9)),
            ReasonCode::UnsupportedProtocolVersion
        );
        assert_eq!(
            e(DecodeErrorKind::PacketTooLarge { size: 9, max: 8 }),
            ReasonCode::PacketTooLarge
        );
        assert_eq!(
            e(DecodeErrorKind::DuplicateProperty { id: 0x11 }),
            ReasonCode::ProtocolError
        );
        assert_eq!(
            e(DecodeErrorKind::VarintTooLong),
            ReasonCode::MalformedPacket
        );
    }
}
