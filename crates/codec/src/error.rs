//! Decode errors. (Contract; the implementation is being written.)

use crate::packet::PacketType;
use crate::reason::ReasonCode;
use crate::rules::SpecRule;

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
}

impl DecodeError {
    /// The spec rule broken, when one clause says so.
    pub fn rule(&self) -> Option<SpecRule> {
        unimplemented!("codec helper")
    }

    /// The reason code to send (CONNACK before a session, DISCONNECT after): Malformed Packet,
    /// Protocol Error, Packet too large or Unsupported Protocol Version.
    pub fn reason_code(&self) -> ReasonCode {
        unimplemented!("codec helper")
    }
}
