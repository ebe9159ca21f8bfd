//! Spec rules as data: one variant per normative statement the decoder checks.
//!
//! [`SpecRule::id`] is the conformance statement number of MQTT 5.0 when the statement is in
//! 5.0, otherwise the number of 3.1.1; [`SpecRule::id_v311`] gives the 3.1.1 number where the
//! two differ. A few rules are stated in the text of a section without a numbered statement;
//! their id is the section (`MQTT-2.1.4`, no trailing statement number).
//!
//! Specifications: <https://docs.oasis-open.org/mqtt/mqtt/v5.0/mqtt-v5.0.html> and
//! <https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/mqtt-v3.1.1.html>.

/// A normative statement of MQTT 3.1.1 or 5.0 that a packet or a connection can break.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum SpecRule {
    /// [MQTT-1.5.4-1] The character data in a UTF-8 Encoded String MUST be well-formed UTF-8
    /// as defined by the Unicode specification and restated in RFC 3629.
    Utf8WellFormed,
    /// [MQTT-1.5.4-2] A UTF-8 Encoded String MUST NOT include an encoding of the null character
    /// U+0000.
    Utf8NoNul,
    /// [MQTT-1.5.5] The maximum number of bytes in the Variable Byte Integer field is four.
    VarintMaxFourBytes,
    /// [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes necessary to
    /// represent the value.
    VarintMinimal,
    /// [MQTT-2.1.2] Packet type 0 is Reserved: Forbidden (and 15, AUTH, before MQTT 5.0).
    PacketTypeReserved,
    /// [MQTT-2.1.3-1] Where a flag bit is marked as "Reserved", it is reserved for future use
    /// and MUST be set to the value listed.
    FixedHeaderFlags,
    /// [MQTT-2.1.4] The Remaining Length is the number of bytes remaining within the current
    /// Control Packet, including data in the Variable Header and the Payload.
    RemainingLength,
    /// [MQTT-2.2.1-3] Each time a Client sends a new SUBSCRIBE, UNSUBSCRIBE, or PUBLISH (where
    /// QoS > 0) MQTT Control Packet it MUST assign it a non-zero Packet Identifier.
    PacketIdNonZero,
    /// [MQTT-2.2.2.2] A Control Packet which contains an Identifier which is not valid for its
    /// packet type, or contains a value not of the specified data type, is a Malformed Packet.
    PropertyNotAllowed,
    /// [MQTT-2.2.2.2] It is a Protocol Error to include a single-valued property more than
    /// once (stated in the description of each property; only User Property, and Subscription
    /// Identifier in PUBLISH, may repeat).
    PropertyRepeated,
    /// [MQTT-2.2.2.2] Each property has a range: Receive Maximum, Maximum Packet Size and
    /// Subscription Identifier are non-zero; Payload Format Indicator, Request Response
    /// Information, Request Problem Information and the "Available" flags are 0 or 1;
    /// Maximum QoS is 0 or 1. A value outside it is a Protocol Error.
    PropertyValueRange,
    /// [MQTT-3.1.2-1] The protocol name is "MQTT" (and "MQIsdp" for 3.1); if the Protocol
    /// Name is incorrect the Server MAY disconnect the Client.
    ProtocolName,
    /// [MQTT-3.1.2-2] If the Protocol Version is not supported the Server responds with
    /// CONNACK 0x84 (0x01 in 3.1.1) Unsupported Protocol Version and then MUST close the
    /// Network Connection.
    ProtocolLevel,
    /// [MQTT-3.1.2-3] The Server MUST validate that the reserved flag in the CONNECT packet is
    /// set to 0.
    ConnectReservedFlag,
    /// [MQTT-3.1.2-11] If the Will Flag is set to 0, then the Will QoS MUST be set to 0
    /// (3.1.1: MQTT-3.1.2-13).
    WillQosWithoutWill,
    /// [MQTT-3.1.2-12] If the Will Flag is set to 1, the value of Will QoS can be 0, 1, or 2.
    /// A value of 3 is a Malformed Packet (3.1.1: MQTT-3.1.2-14).
    WillQos3,
    /// [MQTT-3.1.2-13] If the Will Flag is set to 0, then Will Retain MUST be set to 0
    /// (3.1.1: MQTT-3.1.2-15).
    WillRetainWithoutWill,
    /// [MQTT-3.1.2-22] (3.1.1 only) If the User Name Flag is set to 0, the Password Flag MUST
    /// be set to 0. MQTT 5.0 allows a password without a user name.
    PasswordWithoutUsername,
    /// [MQTT-3.1.2.11.10] It is a Protocol Error to include Authentication Data if there is
    /// no Authentication Method.
    AuthDataWithoutMethod,
    /// [MQTT-3.2.2.1] Byte 1 of CONNACK is the Connect Acknowledge Flags. Bits 7-1 are
    /// reserved and MUST be set to 0.
    ConnAckReservedFlags,
    /// [MQTT-3.2.2-8] The Server sending the CONNACK packet MUST use one of the Connect Reason
    /// Code values (3.1.1 §3.2.2.3: return codes 6-255 are reserved).
    ConnAckReasonCode,
    /// [MQTT-3.3.1-2] The DUP flag MUST be set to 0 for all QoS 0 messages.
    PublishDupQos0,
    /// [MQTT-3.3.1-4] A PUBLISH Packet MUST NOT have both QoS bits set to 1.
    PublishQos3,
    /// [MQTT-3.3.2-2] The Topic Name in the PUBLISH packet MUST NOT contain wildcard
    /// characters.
    TopicNameWildcard,
    /// [MQTT-3.3.2-8] A sender MUST NOT send a PUBLISH packet containing a Topic Alias which
    /// has the value 0.
    TopicAliasZero,
    /// [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long
    /// (in 5.0 a PUBLISH may carry an empty Topic Name together with a Topic Alias).
    TopicNonEmpty,
    /// [MQTT-3.4.2-1] The Client or Server sending the PUBACK packet MUST use one of the PUBACK
    /// Reason Codes.
    PubAckReasonCode,
    /// [MQTT-3.5.2-1] The Client or Server sending the PUBREC packet MUST use one of the PUBREC
    /// Reason Codes.
    PubRecReasonCode,
    /// [MQTT-3.6.2-1] The Client or Server sending the PUBREL packet MUST use one of the PUBREL
    /// Reason Codes.
    PubRelReasonCode,
    /// [MQTT-3.7.2-1] The Client or Server sending the PUBCOMP packet MUST use one of the
    /// PUBCOMP Reason Codes.
    PubCompReasonCode,
    /// [MQTT-3.8.3-2] The Payload of SUBSCRIBE MUST contain at least one Topic Filter and
    /// Subscription Options pair (3.1.1: MQTT-3.8.3-3).
    SubscribeNoFilters,
    /// [MQTT-3.8.3-5] The Server MUST treat a SUBSCRIBE packet as malformed if any of Reserved
    /// bits in the Payload are non-zero (3.1.1: MQTT-3.8.3-4, which also covers QoS 3).
    SubscribeReservedBits,
    /// [MQTT-3.8.3.1] It is a Protocol Error if the Maximum QoS field has the value 3
    /// (3.1.1: MQTT-3.8.3-4).
    SubscribeQos3,
    /// [MQTT-3.8.3.1] It is a Protocol Error to send a Retain Handling value of 3.
    RetainHandling3,
    /// [MQTT-3.9.3-2] The Server sending a SUBACK packet MUST use one of the Subscribe Reason
    /// Codes for each Topic Filter received (3.1.1: 0x00, 0x01, 0x02 and 0x80 only).
    SubAckReasonCode,
    /// [MQTT-3.10.3-2] The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic
    /// Filter.
    UnsubscribeNoFilters,
    /// [MQTT-3.11.3-2] The Server sending an UNSUBACK packet MUST use one of the Unsubscribe
    /// Reason Code values for each Topic Filter received.
    UnsubAckReasonCode,
    /// [MQTT-3.14.2-1] The Client or Server sending the DISCONNECT packet MUST use one of the
    /// DISCONNECT Reason Code values.
    DisconnectReasonCode,
    /// [MQTT-3.15.2-1] The sender of the AUTH Packet MUST use one of the Authenticate Reason
    /// Codes.
    AuthReasonCode,
    /// [MQTT-3.2.2-15] The Client MUST NOT send packets exceeding Maximum Packet Size to the
    /// Server (and [MQTT-3.1.2-24] the Server to the Client).
    MaximumPacketSize,
}

impl SpecRule {
    /// Every rule, in declaration order (for catalogues such as docs/DIAGNOSTICS.md).
    pub const ALL: &'static [SpecRule] = &[
        Self::Utf8WellFormed,
        Self::Utf8NoNul,
        Self::VarintMaxFourBytes,
        Self::VarintMinimal,
        Self::PacketTypeReserved,
        Self::FixedHeaderFlags,
        Self::RemainingLength,
        Self::PacketIdNonZero,
        Self::PropertyNotAllowed,
        Self::PropertyRepeated,
        Self::PropertyValueRange,
        Self::ProtocolName,
        Self::ProtocolLevel,
        Self::ConnectReservedFlag,
        Self::WillQosWithoutWill,
        Self::WillQos3,
        Self::WillRetainWithoutWill,
        Self::PasswordWithoutUsername,
        Self::AuthDataWithoutMethod,
        Self::ConnAckReservedFlags,
        Self::ConnAckReasonCode,
        Self::PublishDupQos0,
        Self::PublishQos3,
        Self::TopicNameWildcard,
        Self::TopicAliasZero,
        Self::TopicNonEmpty,
        Self::PubAckReasonCode,
        Self::PubRecReasonCode,
        Self::PubRelReasonCode,
        Self::PubCompReasonCode,
        Self::SubscribeNoFilters,
        Self::SubscribeReservedBits,
        Self::SubscribeQos3,
        Self::RetainHandling3,
        Self::SubAckReasonCode,
        Self::UnsubscribeNoFilters,
        Self::UnsubAckReasonCode,
        Self::DisconnectReasonCode,
        Self::AuthReasonCode,
        Self::MaximumPacketSize,
    ];

    /// The conformance statement id, e.g. "MQTT-3.1.2-3" (5.0 numbering where the statement
    /// is in 5.0).
    pub const fn id(self) -> &'static str {
        match self {
            Self::Utf8WellFormed => "MQTT-1.5.4-1",
            Self::Utf8NoNul => "MQTT-1.5.4-2",
            Self::VarintMaxFourBytes => "MQTT-1.5.5",
            Self::VarintMinimal => "MQTT-1.5.5-1",
            Self::PacketTypeReserved => "MQTT-2.1.2",
            Self::FixedHeaderFlags => "MQTT-2.1.3-1",
            Self::RemainingLength => "MQTT-2.1.4",
            Self::PacketIdNonZero => "MQTT-2.2.1-3",
            Self::PropertyNotAllowed | Self::PropertyRepeated | Self::PropertyValueRange => {
                "MQTT-2.2.2.2"
            }
            Self::ProtocolName => "MQTT-3.1.2-1",
            Self::ProtocolLevel => "MQTT-3.1.2-2",
            Self::ConnectReservedFlag => "MQTT-3.1.2-3",
            Self::WillQosWithoutWill => "MQTT-3.1.2-11",
            Self::WillQos3 => "MQTT-3.1.2-12",
            Self::WillRetainWithoutWill => "MQTT-3.1.2-13",
            Self::PasswordWithoutUsername => "MQTT-3.1.2-22",
            Self::AuthDataWithoutMethod => "MQTT-3.1.2.11.10",
            Self::ConnAckReservedFlags => "MQTT-3.2.2.1",
            Self::ConnAckReasonCode => "MQTT-3.2.2-8",
            Self::PublishDupQos0 => "MQTT-3.3.1-2",
            Self::PublishQos3 => "MQTT-3.3.1-4",
            Self::TopicNameWildcard => "MQTT-3.3.2-2",
            Self::TopicAliasZero => "MQTT-3.3.2-8",
            Self::TopicNonEmpty => "MQTT-4.7.3-1",
            Self::PubAckReasonCode => "MQTT-3.4.2-1",
            Self::PubRecReasonCode => "MQTT-3.5.2-1",
            Self::PubRelReasonCode => "MQTT-3.6.2-1",
            Self::PubCompReasonCode => "MQTT-3.7.2-1",
            Self::SubscribeNoFilters => "MQTT-3.8.3-2",
            Self::SubscribeReservedBits => "MQTT-3.8.3-5",
            Self::SubscribeQos3 | Self::RetainHandling3 => "MQTT-3.8.3.1",
            Self::SubAckReasonCode => "MQTT-3.9.3-2",
            Self::UnsubscribeNoFilters => "MQTT-3.10.3-2",
            Self::UnsubAckReasonCode => "MQTT-3.11.3-2",
            Self::DisconnectReasonCode => "MQTT-3.14.2-1",
            Self::AuthReasonCode => "MQTT-3.15.2-1",
            Self::MaximumPacketSize => "MQTT-3.2.2-15",
        }
    }

    /// The 3.1.1 id of the same statement when it differs from [`SpecRule::id`]; `None` when
    /// the ids agree or 3.1.1 has no such statement.
    pub const fn id_v311(self) -> Option<&'static str> {
        Some(match self {
            Self::Utf8WellFormed => "MQTT-1.5.3-1",
            Self::Utf8NoNul => "MQTT-1.5.3-2",
            Self::VarintMaxFourBytes | Self::RemainingLength => "MQTT-2.2.3",
            Self::PacketTypeReserved => "MQTT-2.2.1",
            Self::FixedHeaderFlags => "MQTT-2.2.2-1",
            Self::PacketIdNonZero => "MQTT-2.3.1-1",
            Self::WillQosWithoutWill => "MQTT-3.1.2-13",
            Self::WillQos3 => "MQTT-3.1.2-14",
            Self::WillRetainWithoutWill => "MQTT-3.1.2-15",
            Self::ConnAckReasonCode => "MQTT-3.2.2.3",
            Self::SubscribeNoFilters => "MQTT-3.8.3-3",
            Self::SubscribeReservedBits | Self::SubscribeQos3 => "MQTT-3.8.3-4",
            _ => return None,
        })
    }

    /// The normative statement, quoted (shortened where the clause is long).
    pub const fn text(self) -> &'static str {
        match self {
            Self::Utf8WellFormed => {
                "The character data in a UTF-8 Encoded String MUST be well-formed UTF-8."
            }
            Self::Utf8NoNul => {
                "A UTF-8 Encoded String MUST NOT include an encoding of the null character U+0000."
            }
            Self::VarintMaxFourBytes => {
                "The maximum number of bytes in the Variable Byte Integer field is four."
            }
            Self::VarintMinimal => {
                "The encoded value MUST use the minimum number of bytes necessary to represent the value."
            }
            Self::PacketTypeReserved => {
                "Packet type 0 is Reserved: Forbidden (15 is reserved in 3.1.1; AUTH in 5.0)."
            }
            Self::FixedHeaderFlags => {
                "Where a flag bit is marked as Reserved, it is reserved for future use and MUST be set to the value listed."
            }
            Self::RemainingLength => {
                "The Remaining Length is the number of bytes remaining within the current Control Packet, including data in the Variable Header and the Payload."
            }
            Self::PacketIdNonZero => {
                "SUBSCRIBE, UNSUBSCRIBE, and PUBLISH (where QoS > 0) MUST carry a non-zero Packet Identifier."
            }
            Self::PropertyNotAllowed => {
                "A Control Packet which contains an Identifier which is not valid for its packet type is a Malformed Packet."
            }
            Self::PropertyRepeated => {
                "It is a Protocol Error to include a single-valued property more than once."
            }
            Self::PropertyValueRange => {
                "It is a Protocol Error for a property to have a value outside its range (zero where it must be non-zero, other than 0 or 1 for a flag)."
            }
            Self::ProtocolName => {
                "The protocol name is \"MQTT\"; if the Protocol Name is incorrect the Server MAY disconnect the Client."
            }
            Self::ProtocolLevel => {
                "If the Protocol Version is not supported the Server sends CONNACK Unsupported Protocol Version and MUST close the Network Connection."
            }
            Self::ConnectReservedFlag => {
                "The Server MUST validate that the reserved flag in the CONNECT packet is set to 0."
            }
            Self::WillQosWithoutWill => {
                "If the Will Flag is set to 0, then the Will QoS MUST be set to 0."
            }
            Self::WillQos3 => {
                "If the Will Flag is set to 1, the value of Will QoS can be 0, 1, or 2; 3 is a Malformed Packet."
            }
            Self::WillRetainWithoutWill => {
                "If the Will Flag is set to 0, then Will Retain MUST be set to 0."
            }
            Self::PasswordWithoutUsername => {
                "If the User Name Flag is set to 0, the Password Flag MUST be set to 0 (3.1.1)."
            }
            Self::AuthDataWithoutMethod => {
                "It is a Protocol Error to include Authentication Data if there is no Authentication Method."
            }
            Self::ConnAckReservedFlags => {
                "Bits 7-1 of the Connect Acknowledge Flags are reserved and MUST be set to 0."
            }
            Self::ConnAckReasonCode => {
                "The Server sending the CONNACK packet MUST use one of the Connect Reason Code values."
            }
            Self::PublishDupQos0 => "The DUP flag MUST be set to 0 for all QoS 0 messages.",
            Self::PublishQos3 => "A PUBLISH Packet MUST NOT have both QoS bits set to 1.",
            Self::TopicNameWildcard => {
                "The Topic Name in the PUBLISH packet MUST NOT contain wildcard characters."
            }
            Self::TopicAliasZero => {
                "A sender MUST NOT send a PUBLISH packet containing a Topic Alias which has the value 0."
            }
            Self::TopicNonEmpty => {
                "All Topic Names and Topic Filters MUST be at least one character long."
            }
            Self::PubAckReasonCode => {
                "The Client or Server sending the PUBACK packet MUST use one of the PUBACK Reason Codes."
            }
            Self::PubRecReasonCode => {
                "The Client or Server sending the PUBREC packet MUST use one of the PUBREC Reason Codes."
            }
            Self::PubRelReasonCode => {
                "The Client or Server sending the PUBREL packet MUST use one of the PUBREL Reason Codes."
            }
            Self::PubCompReasonCode => {
                "The Client or Server sending the PUBCOMP packet MUST use one of the PUBCOMP Reason Codes."
            }
            Self::SubscribeNoFilters => {
                "The Payload MUST contain at least one Topic Filter and Subscription Options pair."
            }
            Self::SubscribeReservedBits => {
                "The Server MUST treat a SUBSCRIBE packet as malformed if any of Reserved bits in the Payload are non-zero."
            }
            Self::SubscribeQos3 => {
                "It is a Protocol Error if the Maximum QoS field has the value 3."
            }
            Self::RetainHandling3 => "It is a Protocol Error to send a Retain Handling value of 3.",
            Self::SubAckReasonCode => {
                "The Server sending a SUBACK packet MUST use one of the Subscribe Reason Codes for each Topic Filter received."
            }
            Self::UnsubscribeNoFilters => {
                "The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic Filter."
            }
            Self::UnsubAckReasonCode => {
                "The Server sending an UNSUBACK packet MUST use one of the Unsubscribe Reason Code values."
            }
            Self::DisconnectReasonCode => {
                "The Client or Server sending the DISCONNECT packet MUST use one of the DISCONNECT Reason Code values."
            }
            Self::AuthReasonCode => {
                "The sender of the AUTH Packet MUST use one of the Authenticate Reason Codes."
            }
            Self::MaximumPacketSize => {
                "A Client or Server MUST NOT send packets exceeding the Maximum Packet Size of its peer."
            }
        }
    }
}

impl core::fmt::Display for SpecRule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use alloc::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_rule_has_an_id_and_a_text() {
        for rule in SpecRule::ALL {
            assert!(rule.id().starts_with("MQTT-"), "{rule:?}");
            assert!(rule.text().ends_with('.'), "{rule:?}");
            if let Some(id) = rule.id_v311() {
                assert!(id.starts_with("MQTT-") && id != rule.id(), "{rule:?}");
            }
        }
    }

    #[test]
    fn ids_are_distinct_except_for_shared_sections() {
        let mut seen = BTreeSet::new();
        for rule in SpecRule::ALL {
            // Section-level ids (three dots, no statement number) may cover several rules.
            let statement = rule.id().contains('-')
                && rule
                    .id()
                    .rsplit('-')
                    .next()
                    .is_some_and(|n| !n.contains('.'));
            if statement {
                assert!(seen.insert(rule.id()), "duplicate id {}", rule.id());
            }
        }
    }
}
