//! Streaming decoding. (Contract; the implementation is being written.)

use core::num::NonZeroU32;

use bytes::BytesMut;

use crate::error::DecodeError;
use crate::packet::{Packet, PacketType, ProtocolVersion};

/// Limits enforced while decoding.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Largest packet accepted, counting the fixed header (as MQTT 5.0's Maximum Packet Size
    /// does). Checked as soon as the remaining length is known, before the body is buffered.
    pub max_packet_size: NonZeroU32,
}

impl Default for Limits {
    /// The protocol maximum: 268 435 455 bytes of remaining length plus the 5-byte header.
    fn default() -> Self {
        Self { max_packet_size: NonZeroU32::MAX }
    }
}

/// The fixed header of a packet (§2.1).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct FixedHeader {
    /// Packet type from the high nibble.
    pub packet_type: PacketType,
    /// The low nibble: flags.
    pub flags: u8,
    /// Remaining length: bytes after the fixed header.
    pub remaining_length: u32,
    /// Length of the fixed header itself, 2..=5 bytes.
    pub header_len: usize,
}

impl FixedHeader {
    /// Total packet length: header plus body.
    pub fn packet_len(&self) -> usize {
        self.header_len + self.remaining_length as usize
    }
}

/// Parses the fixed header at the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let _ = buf;
    unimplemented!("codec helper")
}

/// Decodes one packet from the front of `buf`, removing its bytes on success.
///
/// `version` is the connection's protocol version; a CONNECT carries its own and ignores it.
/// Returns `Ok(None)`, consuming nothing, when `buf` holds only part of a packet.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    limits: &Limits,
) -> Result<Option<Packet>, DecodeError> {
    let _ = (buf, version, limits);
    unimplemented!("codec helper")
}
