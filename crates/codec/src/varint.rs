//! The variable byte integer (v5 §1.5.5, 3.1.1 §2.2.3): 7 bits per byte, least significant
//! group first, the high bit saying "more follows", at most four bytes.

use bytes::BufMut;

/// Largest remaining length: 268 435 455.
pub const MAX_REMAINING_LENGTH: u32 = 268_435_455;
/// Largest variable byte integer (same value, used for subscription identifiers too).
pub const MAX_VARINT: u32 = MAX_REMAINING_LENGTH;

/// The bit that says another byte follows.
const CONTINUATION: u8 = 0x80;
/// The value bits of each byte.
const VALUE_MASK: u8 = 0x7F;
/// The longest encoding.
const MAX_LEN: usize = 4;

/// Why bytes are not a variable byte integer.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum VarintError {
    /// The fourth byte still has its continuation bit set.
    TooLong,
    /// The value took more bytes than it needs [MQTT-1.5.5-1].
    NotMinimal { value: u32, len: usize },
}

/// Reads a variable byte integer from the start of `buf`: `Ok(None)` when `buf` ends before
/// the last byte, otherwise the value and how many bytes it took.
pub(crate) fn read(buf: &[u8]) -> Result<Option<(u32, usize)>, VarintError> {
    let mut value: u32 = 0;
    for (i, &byte) in buf.iter().take(MAX_LEN).enumerate() {
        value |= u32::from(byte & VALUE_MASK) << (7 * i);
        if byte & CONTINUATION == 0 {
            let len = i + 1;
            // A last byte of zero after other bytes means the value fits in fewer.
            if len > 1 && byte == 0 {
                return Err(VarintError::NotMinimal { value, len });
            }
            return Ok(Some((value, len)));
        }
    }
    if buf.len() >= MAX_LEN {
        Err(VarintError::TooLong)
    } else {
        Ok(None)
    }
}

/// The number of bytes `value` takes (1..=4; values above [`MAX_VARINT`] count as 4 and are
/// refused by the encoder before they are written).
pub(crate) const fn len(value: u32) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value`, which the caller has checked is at most [`MAX_VARINT`].
pub(crate) fn write(buf: &mut impl BufMut, mut value: u32) {
    loop {
        // INVARIANT: masked to 7 bits, so the cast keeps every bit.
        let mut byte = (value & u32::from(VALUE_MASK)) as u8;
        value >>= 7;
        if value != 0 {
            byte |= CONTINUATION;
        }
        buf.put_u8(byte);
        if value == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn boundaries_round_trip() {
        for (value, bytes) in [
            (0u32, &[0x00u8][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            let mut out = Vec::new();
            write(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(len(value), bytes.len());
            assert_eq!(read(bytes), Ok(Some((value, bytes.len()))));
            assert_eq!(read(&bytes[..bytes.len() - 1]), Ok(None));
        }
    }

    #[test]
    fn five_bytes_is_too_long() {
        assert_eq!(
            read(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(VarintError::TooLong)
        );
        assert_eq!(read(&[0x80, 0x80, 0x80, 0x80]), Err(VarintError::TooLong));
    }

    #[test]
    fn mqtt_1_5_5_1_non_minimal_is_refused() {
        assert_eq!(
            read(&[0x80, 0x00]),
            Err(VarintError::NotMinimal { value: 0, len: 2 })
        );
        assert_eq!(
            read(&[0xFF, 0x80, 0x00]),
            Err(VarintError::NotMinimal { value: 127, len: 3 })
        );
    }
}
