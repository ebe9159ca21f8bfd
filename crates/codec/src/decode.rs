//! Streaming decoding: the fixed header first (so that limits and header flags are checked
//! before the body is buffered), then one function per packet family.

mod connect;
mod props;
mod publish;
mod reader;
mod subscribe;

use core::num::NonZeroU32;

use bytes::{Buf, Bytes, BytesMut};

use self::reader::Reader;
use crate::error::{DecodeError, DecodeErrorKind, REMAINING_LENGTH};
use crate::packet::{Packet, PacketType, ProtocolVersion, QoS};
use crate::varint::{self, VarintError};
use crate::wire::{publish_flags, required_flags};

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
        Self {
            max_packet_size: NonZeroU32::MAX,
        }
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

/// The longest fixed header: one type byte and four remaining length bytes.
const MAX_HEADER_LEN: usize = 5;

/// Parses the fixed header at the start of `buf`: `Ok(None)` when more bytes are needed.
///
/// Only the packet type and the remaining length are checked here; [`decode`] also checks
/// the flags, which depend on the type, and the version.
pub fn parse_fixed_header(buf: &[u8]) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let nibble = first >> 4;
    let Some(packet_type) = PacketType::from_nibble(nibble) else {
        return Err(DecodeError::new(
            DecodeErrorKind::ReservedPacketType { nibble },
            None,
            "packet type",
        ));
    };
    let err = |kind| DecodeError::new(kind, Some(packet_type), REMAINING_LENGTH);
    match varint::read(&buf[1..]) {
        Ok(Some((remaining_length, len))) => Ok(Some(FixedHeader {
            packet_type,
            flags: first & 0x0F,
            remaining_length,
            header_len: 1 + len,
        })),
        Ok(None) => Ok(None),
        Err(VarintError::TooLong) => Err(err(DecodeErrorKind::VarintTooLong)),
        Err(VarintError::NotMinimal { value, len }) => {
            Err(err(DecodeErrorKind::VarintNotMinimal { value, len }))
        }
    }
}

/// Decodes one packet from the front of `buf`, removing its bytes on success.
///
/// `version` is the connection's protocol version; a CONNECT carries its own and ignores it.
/// Returns `Ok(None)`, consuming nothing, when `buf` holds only part of a packet; the size
/// limit and the fixed header flags are checked as soon as the header is complete, before the
/// body arrives. On error `buf` is left as it was.
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    limits: &Limits,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = parse_fixed_header(buf)? else {
        return Ok(None);
    };
    check_header(&header, version)?;
    let size = header.packet_len();
    let max = limits.max_packet_size.get();
    if size > max as usize {
        return Err(DecodeError::new(
            DecodeErrorKind::PacketTooLarge { size, max },
            Some(header.packet_type),
            REMAINING_LENGTH,
        ));
    }
    if buf.len() < size {
        // No `reserve` here: a 5-byte header must not make us allocate up to the limit on
        // the peer's word. The caller grows its read buffer as bytes actually arrive.
        return Ok(None);
    }

    let mut head = [0u8; MAX_HEADER_LEN];
    head[..header.header_len].copy_from_slice(&buf[..header.header_len]);
    buf.advance(header.header_len);
    let body = buf.split_to(header.remaining_length as usize).freeze();
    match decode_body(&header, &body, version) {
        Ok(packet) => Ok(Some(packet)),
        Err(e) => {
            // Put the packet back so that the caller sees the buffer as it was.
            let rest = core::mem::take(buf);
            buf.reserve(size + rest.len());
            buf.extend_from_slice(&head[..header.header_len]);
            buf.extend_from_slice(&body);
            buf.extend_from_slice(&rest);
            Err(e)
        }
    }
}

/// The checks that need only the fixed header: the type exists in this version, and the
/// flags are as specified [MQTT-2.1.3-1], [MQTT-3.3.1-2], [MQTT-3.3.1-4].
fn check_header(header: &FixedHeader, version: ProtocolVersion) -> Result<(), DecodeError> {
    let packet = header.packet_type;
    let flags = header.flags;
    let err = |kind| Err(DecodeError::new(kind, Some(packet), "fixed header flags"));
    match packet {
        PacketType::Auth if !version.is_v5() => Err(DecodeError::new(
            DecodeErrorKind::ReservedPacketType {
                nibble: PacketType::Auth as u8,
            },
            Some(packet),
            "packet type",
        )),
        PacketType::Publish => {
            let qos = (flags & publish_flags::QOS_MASK) >> publish_flags::QOS_SHIFT;
            if qos == 3 {
                err(DecodeErrorKind::PublishQos3 { flags })
            } else if qos == 0 && flags & publish_flags::DUP != 0 {
                err(DecodeErrorKind::PublishDupWithQos0 { flags })
            } else {
                Ok(())
            }
        }
        _ => {
            let expected = required_flags(packet);
            if flags == expected {
                Ok(())
            } else {
                err(DecodeErrorKind::ReservedFlags { flags, expected })
            }
        }
    }
}

/// Decodes a complete body whose header has been checked.
fn decode_body(
    header: &FixedHeader,
    body: &Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let mut r = Reader::new(body, header.packet_type);
    let packet = match header.packet_type {
        PacketType::Connect => Packet::Connect(connect::connect(&mut r)?),
        PacketType::ConnAck => Packet::ConnAck(connect::connack(&mut r, version)?),
        PacketType::Publish => Packet::Publish(publish::publish(&mut r, header.flags, version)?),
        PacketType::PubAck => Packet::PubAck(publish::ack(&mut r, version)?),
        PacketType::PubRec => Packet::PubRec(publish::ack(&mut r, version)?),
        PacketType::PubRel => Packet::PubRel(publish::ack(&mut r, version)?),
        PacketType::PubComp => Packet::PubComp(publish::ack(&mut r, version)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe::subscribe(&mut r, version)?),
        PacketType::SubAck => Packet::SubAck(subscribe::suback(&mut r, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(subscribe::unsubscribe(&mut r, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(subscribe::unsuback(&mut r, version)?),
        PacketType::PingReq => {
            expect_len(&r, 0, version)?;
            Packet::PingReq
        }
        PacketType::PingResp => {
            expect_len(&r, 0, version)?;
            Packet::PingResp
        }
        PacketType::Disconnect => Packet::Disconnect(connect::disconnect(&mut r, version)?),
        PacketType::Auth => Packet::Auth(connect::auth(&mut r)?),
    };
    r.finish()?;
    Ok(packet)
}

/// Checks the remaining length of a packet whose body has a fixed size in `version`.
fn expect_len(r: &Reader<'_>, expected: u32, version: ProtocolVersion) -> Result<(), DecodeError> {
    let declared = r.declared();
    if declared == expected {
        Ok(())
    } else {
        Err(r.err(
            DecodeErrorKind::RemainingLengthMismatch {
                declared,
                expected,
                version,
            },
            REMAINING_LENGTH,
        ))
    }
}

/// The QoS from PUBLISH fixed header flags already checked by [`check_header`].
fn publish_qos(flags: u8) -> QoS {
    QoS::from_u8((flags & publish_flags::QOS_MASK) >> publish_flags::QOS_SHIFT).unwrap_or_default()
}
