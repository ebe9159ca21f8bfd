//! Named wire bits shared by the decoder and the encoder (smoltcp's `field` idiom).

use crate::packet::PacketType;

/// PUBLISH fixed header flags (§3.3.1).
pub(crate) mod publish_flags {
    /// DUP: this might be a re-delivery.
    pub(crate) const DUP: u8 = 0b1000;
    /// The two QoS bits.
    pub(crate) const QOS_MASK: u8 = 0b0110;
    /// Shift of the QoS bits.
    pub(crate) const QOS_SHIFT: u8 = 1;
    /// RETAIN.
    pub(crate) const RETAIN: u8 = 0b0001;
}

/// CONNECT flags (§3.1.2.3).
pub(crate) mod connect_flags {
    /// Reserved, must be 0 [MQTT-3.1.2-3].
    pub(crate) const RESERVED: u8 = 0b0000_0001;
    /// Clean Start / Clean Session.
    pub(crate) const CLEAN_START: u8 = 0b0000_0010;
    /// Will Flag.
    pub(crate) const WILL: u8 = 0b0000_0100;
    /// Will QoS, two bits.
    pub(crate) const WILL_QOS_MASK: u8 = 0b0001_1000;
    /// Shift of the will QoS bits.
    pub(crate) const WILL_QOS_SHIFT: u8 = 3;
    /// Will Retain.
    pub(crate) const WILL_RETAIN: u8 = 0b0010_0000;
    /// Password Flag.
    pub(crate) const PASSWORD: u8 = 0b0100_0000;
    /// User Name Flag.
    pub(crate) const USERNAME: u8 = 0b1000_0000;
}

/// CONNACK acknowledge flags (§3.2.2.1).
pub(crate) mod connack_flags {
    /// Session Present.
    pub(crate) const SESSION_PRESENT: u8 = 0b0000_0001;
    /// Bits 7-1, reserved.
    pub(crate) const RESERVED: u8 = 0b1111_1110;
}

/// Subscription options (v5 §3.8.3.1; in 3.1.1 only the QoS bits exist).
pub(crate) mod subscription_options {
    /// Maximum QoS, two bits.
    pub(crate) const QOS_MASK: u8 = 0b0000_0011;
    /// No Local.
    pub(crate) const NO_LOCAL: u8 = 0b0000_0100;
    /// Retain As Published.
    pub(crate) const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
    /// Retain Handling, two bits.
    pub(crate) const RETAIN_HANDLING_MASK: u8 = 0b0011_0000;
    /// Shift of the retain handling bits.
    pub(crate) const RETAIN_HANDLING_SHIFT: u8 = 4;
    /// Reserved bits in 5.0.
    pub(crate) const RESERVED_V5: u8 = 0b1100_0000;
    /// Reserved bits in 3.1 / 3.1.1.
    pub(crate) const RESERVED_V3: u8 = 0b1111_1100;
}

/// The fixed header flags every packet but PUBLISH must carry (v5 §2.1.3, Table 2-2).
pub(crate) const fn required_flags(packet: PacketType) -> u8 {
    match packet {
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    }
}
