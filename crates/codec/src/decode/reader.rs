//! A cursor over a packet body that hands out zero-copy slices and turns every shortfall into
//! a [`DecodeError`] naming the field.

use bytes::Bytes;

use crate::error::{DecodeError, DecodeErrorKind, REMAINING_LENGTH};
use crate::packet::{PacketId, PacketType};
use crate::string::MqttString;
use crate::varint::{self, VarintError};

/// The body of one packet (or one property block within it), read front to back. It borrows
/// the body so that the decoder can hand the bytes back to the caller after an error.
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    /// Where this reader's scope ends in `buf`.
    end: usize,
    packet: PacketType,
    /// "remaining length" or "property length": what ends this reader, for error messages.
    scope: &'static str,
    declared: u32,
}

impl<'a> Reader<'a> {
    /// A reader over a whole packet body.
    pub(crate) fn new(body: &'a Bytes, packet: PacketType) -> Self {
        // INVARIANT: bodies come from a remaining length, which is at most 268 435 455.
        let declared = u32::try_from(body.len()).unwrap_or(u32::MAX);
        Self {
            buf: body,
            pos: 0,
            end: body.len(),
            packet,
            scope: REMAINING_LENGTH,
            declared,
        }
    }

    /// The packet being read.
    pub(crate) fn packet(&self) -> PacketType {
        self.packet
    }

    /// The declared length of this reader's scope.
    pub(crate) fn declared(&self) -> u32 {
        self.declared
    }

    /// An error in this packet.
    pub(crate) fn err(&self, kind: DecodeErrorKind, field: &'static str) -> DecodeError {
        DecodeError::new(kind, Some(self.packet), field)
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// True when every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn truncated(&self, needed: usize, field: &'static str) -> DecodeError {
        self.err(
            DecodeErrorKind::Truncated {
                scope: self.scope,
                declared: self.declared,
                needed,
                available: self.remaining(),
            },
            field,
        )
    }

    /// The next `n` bytes as a slice of the packet.
    fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        if self.remaining() < n {
            return Err(self.truncated(n, field));
        }
        let slice = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(slice)
    }

    /// The next `N` bytes, copied.
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        if self.remaining() < N {
            return Err(self.truncated(N, field));
        }
        out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
        self.pos += N;
        Ok(out)
    }

    /// A byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [b] = self.array::<1>(field)?;
        Ok(b)
    }

    /// A two byte integer, big-endian.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// A four byte integer, big-endian.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// A variable byte integer.
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match varint::read(&self.buf[self.pos..self.end]) {
            Ok(Some((value, len))) => {
                self.pos += len;
                Ok(value)
            }
            // The scope ends inside the integer: at least one more byte was needed.
            Ok(None) => Err(self.truncated(self.remaining() + 1, field)),
            Err(VarintError::TooLong) => Err(self.err(DecodeErrorKind::VarintTooLong, field)),
            Err(VarintError::NotMinimal { value, len }) => {
                Err(self.err(DecodeErrorKind::VarintNotMinimal { value, len }, field))
            }
        }
    }

    /// Binary data: a two byte length and that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// A UTF-8 encoded string, checked [MQTT-1.5.4-1/2].
    pub(crate) fn string(&mut self, field: &'static str) -> Result<MqttString, DecodeError> {
        let bytes = self.binary(field)?;
        MqttString::from_bytes(bytes)
            .map_err(|e| self.err(DecodeErrorKind::InvalidString(e), field))
    }

    /// A packet identifier, which must be non-zero [MQTT-2.2.1-3].
    pub(crate) fn packet_id(&mut self) -> Result<PacketId, DecodeError> {
        const FIELD: &str = "packet identifier";
        let id = self.u16(FIELD)?;
        PacketId::new(id).ok_or_else(|| self.err(DecodeErrorKind::ZeroPacketId, FIELD))
    }

    /// Everything not read yet (the payload).
    pub(crate) fn rest(&mut self) -> Bytes {
        let rest = self.buf.slice(self.pos..self.end);
        self.pos = self.end;
        rest
    }

    /// A reader over the next `len` bytes, which hold properties.
    pub(crate) fn properties(&mut self, field: &'static str) -> Result<Reader<'a>, DecodeError> {
        let len = self.varint(field)?;
        let n = len as usize;
        if self.remaining() < n {
            return Err(self.truncated(n, field));
        }
        let start = self.pos;
        self.pos += n;
        Ok(Reader {
            buf: self.buf,
            pos: start,
            end: start + n,
            packet: self.packet,
            scope: "property length",
            declared: len,
        })
    }

    /// Checks that the whole body was read.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(
                DecodeErrorKind::TrailingBytes {
                    declared: self.declared,
                    unused: self.remaining(),
                },
                "end of packet",
            ))
        }
    }
}
