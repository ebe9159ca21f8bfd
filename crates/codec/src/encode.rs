//! Encoding: one sizing pass that also validates, one `reserve`, one writing pass straight
//! into the caller's `BytesMut`.
//!
//! Both passes run the same code over a [`Sink`]: a counter the first time, the buffer the
//! second, so the length written in the fixed header cannot disagree with the bytes that follow.

mod packets;
mod props;

use core::fmt;

use bytes::{BufMut, BytesMut};

use crate::packet::{Packet, PacketType, ProtocolVersion, Publish, QoS};
use crate::string::MqttString;
use crate::varint::{self, MAX_REMAINING_LENGTH};

/// Why a packet cannot be encoded.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet would exceed the protocol's maximum remaining length (268 435 455).
    TooLarge {
        /// The remaining length the packet would need.
        remaining_length: usize,
    },
    /// A binary field longer than its two byte length prefix can say (65 535).
    BinaryTooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A value above the variable byte integer maximum (268 435 455).
    VarintTooLarge {
        /// The field.
        field: &'static str,
        /// The value.
        value: u32,
    },
    /// A PUBLISH whose packet identifier does not match its QoS: QoS 1 and 2 need one, QoS 0
    /// must not have one [MQTT-2.2.1-2].
    PacketIdMismatch {
        /// The PUBLISH QoS.
        qos: QoS,
        /// Whether a packet identifier was given.
        has_packet_id: bool,
    },
    /// A packet that does not exist in the protocol version (AUTH before 5.0).
    NotInVersion {
        /// The packet.
        packet: PacketType,
        /// The version asked for.
        version: ProtocolVersion,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { remaining_length } => write!(
                f,
                "remaining length {remaining_length}, but the maximum is {MAX_REMAINING_LENGTH}"
            ),
            Self::BinaryTooLong { field, len } => {
                write!(
                    f,
                    "{field} is {len} bytes, but binary data holds at most 65535"
                )
            }
            Self::VarintTooLarge { field, value } => write!(
                f,
                "{field} is {value}, but a variable byte integer holds at most {}",
                varint::MAX_VARINT
            ),
            Self::PacketIdMismatch {
                qos,
                has_packet_id: false,
            } => {
                write!(
                    f,
                    "PUBLISH at QoS {} without a packet identifier [MQTT-2.2.1-2]",
                    *qos as u8
                )
            }
            Self::PacketIdMismatch { .. } => {
                f.write_str("PUBLISH at QoS 0 with a packet identifier [MQTT-2.2.1-2]")
            }
            Self::NotInVersion { packet, version } => {
                write!(
                    f,
                    "{} does not exist in MQTT {}",
                    packet.name(),
                    version.as_str()
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

impl Packet {
    /// Appends the packet's wire form for `version` to `buf`.
    ///
    /// For 3.1 / 3.1.1, 5.0-only fields (properties, most reason codes) are left out; CONNECT
    /// uses its own `protocol` instead of `version`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if let Self::Publish(publish) = self {
            return publish.encode(version, buf);
        }
        let mut counter = Counter::default();
        packets::body(self, version, &mut counter);
        let remaining = counter.finish()?;
        let first =
            (self.packet_type() as u8) << 4 | crate::wire::required_flags(self.packet_type());
        write_header(buf, first, remaining);
        packets::body(self, version, buf);
        Ok(())
    }
}

impl Publish {
    /// Appends this PUBLISH's wire form for `version` to `buf`, without wrapping it in a
    /// [`Packet`]: the broker's fan-out path.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let mut counter = Counter::default();
        packets::publish(self, version, &mut counter);
        let remaining = counter.finish()?;
        write_header(buf, packets::publish_first_byte(self), remaining);
        packets::publish(self, version, buf);
        Ok(())
    }

    /// The number of bytes this PUBLISH takes on the wire for `version`.
    pub fn encoded_len(&self, version: ProtocolVersion) -> usize {
        let mut counter = Counter::default();
        packets::publish(self, version, &mut counter);
        with_header(counter.len)
    }
}

/// The number of bytes `packet` takes on the wire for `version`, fixed header included.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let mut counter = Counter::default();
    packets::body(packet, version, &mut counter);
    with_header(counter.len)
}

/// Header plus body.
fn with_header(remaining: usize) -> usize {
    let varint_len = u32::try_from(remaining).map_or(4, varint::len);
    1 + varint_len + remaining
}

/// Reserves room for the whole packet once and writes the fixed header.
fn write_header(buf: &mut BytesMut, first: u8, remaining: u32) {
    buf.reserve(1 + varint::len(remaining) + remaining as usize);
    buf.put_u8(first);
    varint::write(buf, remaining);
}

/// Where the encoding passes write: a [`Counter`] or the output buffer.
pub(crate) trait Sink {
    /// A byte.
    fn u8(&mut self, v: u8);
    /// A two byte integer.
    fn u16(&mut self, v: u16);
    /// A four byte integer.
    fn u32(&mut self, v: u32);
    /// A variable byte integer, checked by the counting pass.
    fn varint(&mut self, v: u32);
    /// Raw bytes.
    fn slice(&mut self, v: &[u8]);
    /// Records that the packet cannot be encoded (only the counting pass sees this).
    fn fail(&mut self, e: EncodeError);

    /// Binary data: two byte length, then the bytes.
    fn binary(&mut self, field: &'static str, v: &[u8]) {
        match u16::try_from(v.len()) {
            Ok(len) => {
                self.u16(len);
                self.slice(v);
            }
            Err(_) => self.fail(EncodeError::BinaryTooLong {
                field,
                len: v.len(),
            }),
        }
    }

    /// A UTF-8 string; [`MqttString`] guarantees it fits.
    fn string(&mut self, v: &MqttString) {
        self.binary("string", v.as_bytes());
    }

    /// A variable byte integer that may be out of range.
    fn checked_varint(&mut self, field: &'static str, v: u32) {
        if v > varint::MAX_VARINT {
            self.fail(EncodeError::VarintTooLarge { field, value: v });
        } else {
            self.varint(v);
        }
    }
}

/// The sizing pass: counts bytes and keeps the first error.
#[derive(Default)]
pub(crate) struct Counter {
    len: usize,
    error: Option<EncodeError>,
}

impl Counter {
    /// The remaining length, or why the packet cannot be encoded.
    fn finish(self) -> Result<u32, EncodeError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match u32::try_from(self.len) {
            Ok(len) if len <= MAX_REMAINING_LENGTH => Ok(len),
            _ => Err(EncodeError::TooLarge {
                remaining_length: self.len,
            }),
        }
    }

    /// The byte count so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Sink for Counter {
    fn u8(&mut self, _: u8) {
        self.len += 1;
    }
    fn u16(&mut self, _: u16) {
        self.len += 2;
    }
    fn u32(&mut self, _: u32) {
        self.len += 4;
    }
    fn varint(&mut self, v: u32) {
        self.len += varint::len(v);
    }
    fn slice(&mut self, v: &[u8]) {
        self.len += v.len();
    }
    fn fail(&mut self, e: EncodeError) {
        self.error.get_or_insert(e);
    }
}

impl Sink for BytesMut {
    fn u8(&mut self, v: u8) {
        self.put_u8(v);
    }
    fn u16(&mut self, v: u16) {
        self.put_u16(v);
    }
    fn u32(&mut self, v: u32) {
        self.put_u32(v);
    }
    fn varint(&mut self, v: u32) {
        varint::write(self, v);
    }
    fn slice(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
    fn fail(&mut self, _: EncodeError) {
        // Unreachable in practice: the counting pass ran the same code and refused first.
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;
    use core::num::NonZeroU32;

    use bytes::Bytes;

    use super::*;
    use crate::packet::{Ack, PacketId};
    use crate::properties::PublishProperties;

    fn publish() -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: MqttString::copy_from_str("t").unwrap(),
            packet_id: None,
            properties: PublishProperties::default(),
            payload: Bytes::from_static(b"p"),
        }
    }

    #[test]
    fn publish_packet_id_must_match_qos() {
        let mut buf = BytesMut::new();
        let p = Publish {
            qos: QoS::AtLeastOnce,
            ..publish()
        };
        let e = p.encode(ProtocolVersion::V311, &mut buf).unwrap_err();
        assert_eq!(
            e,
            EncodeError::PacketIdMismatch {
                qos: QoS::AtLeastOnce,
                has_packet_id: false
            }
        );
        assert_eq!(
            e.to_string(),
            "PUBLISH at QoS 1 without a packet identifier [MQTT-2.2.1-2]"
        );
        let p = Publish {
            packet_id: PacketId::new(1),
            ..publish()
        };
        assert!(p.encode(ProtocolVersion::V5, &mut buf).is_err());
        assert!(buf.is_empty(), "nothing written on error");
    }

    #[test]
    fn oversized_fields_are_refused() {
        let mut buf = BytesMut::new();
        let mut p = publish();
        p.properties.correlation_data = Some(Bytes::from(vec![0u8; 70_000]));
        let e = p.encode(ProtocolVersion::V5, &mut buf).unwrap_err();
        assert_eq!(
            e,
            EncodeError::BinaryTooLong {
                field: "correlation data",
                len: 70_000
            }
        );
        // Ignored for 3.1.1, which has no properties.
        assert!(p.encode(ProtocolVersion::V311, &mut buf).is_ok());

        let mut p = publish();
        p.properties.subscription_identifiers = vec![NonZeroU32::MAX];
        let e = Packet::Publish(p)
            .encode(ProtocolVersion::V5, &mut BytesMut::new())
            .unwrap_err();
        assert!(matches!(e, EncodeError::VarintTooLarge { .. }));

        let p = Publish {
            payload: Bytes::from(vec![0u8; 268_435_456]),
            ..publish()
        };
        let e = p
            .encode(ProtocolVersion::V311, &mut BytesMut::new())
            .unwrap_err();
        assert_eq!(
            e,
            EncodeError::TooLarge {
                remaining_length: 268_435_459
            }
        );
    }

    #[test]
    fn one_reservation_fits_the_packet() {
        let mut buf = BytesMut::new();
        let p = Packet::PubAck(Ack::new(PacketId::MIN));
        p.encode(ProtocolVersion::V5, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0x40, 0x02, 0x00, 0x01]);
        assert_eq!(encoded_len(&p, ProtocolVersion::V5), 4);
    }
}
