//! Fixed header vectors: packet types, flags, the variable byte integer and the limits.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use bytes::{BufMut, BytesMut};
use common::*;
use lantern_codec::{
    decode, parse_fixed_header, DecodeErrorKind, FixedHeader, Limits, Packet, PacketType,
    ReasonCode, SpecRule,
};

/// A PUBLISH header for QoS 0 and the given remaining length bytes.
fn publish_header(remaining: &[u8]) -> Vec<u8> {
    let mut v = vec![0x30];
    v.extend_from_slice(remaining);
    v
}

#[test]
fn mqtt_2_1_4_remaining_length_boundaries_parse() {
    // (value, encoding): every boundary of the variable byte integer.
    let cases: &[(u32, &[u8])] = &[
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (16_383, &[0xFF, 0x7F]),
        (16_384, &[0x80, 0x80, 0x01]),
        (2_097_151, &[0xFF, 0xFF, 0x7F]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
        (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
    ];
    for &(value, encoding) in cases {
        let bytes = publish_header(encoding);
        let header = parse_fixed_header(&bytes)
            .unwrap()
            .expect("complete header");
        assert_eq!(
            header,
            FixedHeader {
                packet_type: PacketType::Publish,
                flags: 0,
                remaining_length: value,
                header_len: 1 + encoding.len(),
            }
        );
        // Every shorter prefix is incomplete, never an error.
        for cut in 0..bytes.len() {
            assert_eq!(
                parse_fixed_header(&bytes[..cut]),
                Ok(None),
                "{value} cut at {cut}"
            );
        }
    }
}

#[test]
fn mqtt_2_1_4_remaining_length_boundaries_decode() {
    // Whole PUBLISH packets whose remaining length sits on each boundary the test can afford.
    for remaining in [127usize, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
        let topic = b"t";
        let payload_len = remaining - 2 - topic.len();
        let mut bytes = BytesMut::new();
        bytes.put_u8(0x30); // PUBLISH QoS 0
        let mut r = remaining as u32;
        loop {
            let mut b = (r & 0x7F) as u8;
            r >>= 7;
            if r != 0 {
                b |= 0x80;
            }
            bytes.put_u8(b);
            if r == 0 {
                break;
            }
        }
        bytes.put_u16(1);
        bytes.put_slice(topic);
        bytes.put_bytes(0xAB, payload_len);
        let expected = bytes.clone();
        let packet = decode_one(&bytes, V311);
        let Packet::Publish(p) = &packet else {
            panic!("{packet:?}")
        };
        assert_eq!(p.payload.len(), payload_len);
        encode_eq(&packet, V311, &expected);
    }
}

#[test]
fn mqtt_2_1_4_largest_remaining_length_counts_the_header() {
    // 268 435 455 bytes of body plus a 5-byte header: one byte over a limit of 268 435 459.
    let bytes = publish_header(&[0xFF, 0xFF, 0xFF, 0x7F]);
    let limits = Limits {
        max_packet_size: core::num::NonZeroU32::new(268_435_459).unwrap(),
    };
    let mut buf = BytesMut::from(&bytes[..]);
    let err = decode(&mut buf, V5, &limits).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::PacketTooLarge {
            size: 268_435_460,
            max: 268_435_459
        }
    );
}

#[test]
fn mqtt_1_5_5_five_byte_remaining_length_is_malformed() {
    // 268 435 456, one past the maximum, needs a fifth byte.
    let bytes = publish_header(&[0x80, 0x80, 0x80, 0x80, 0x01]);
    let err = decode_err(&bytes, V311);
    assert_eq!(err.kind, DecodeErrorKind::VarintTooLong);
    assert_eq!(err.packet, Some(PacketType::Publish));
    assert_eq!(err.field, "remaining length");
    assert_eq!(err.rule(), Some(SpecRule::VarintMaxFourBytes));
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    // Four continuation bytes are already enough to know.
    assert!(parse_fixed_header(&bytes[..5]).is_err());
}

#[test]
fn mqtt_1_5_5_1_non_minimal_remaining_length_is_malformed() {
    let bytes = [
        0xC0, // PINGREQ
        0x80, 0x00, // remaining length 0 in two bytes
    ];
    let err = decode_err(&bytes, V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::VarintNotMinimal { value: 0, len: 2 }
    );
    assert_eq!(err.rule(), Some(SpecRule::VarintMinimal));
}

#[test]
fn mqtt_2_1_2_packet_type_0_is_reserved() {
    let err = decode_err(&[0x00, 0x00], V5);
    assert_eq!(err.kind, DecodeErrorKind::ReservedPacketType { nibble: 0 });
    assert_eq!(err.packet, None);
    assert_eq!(err.rule(), Some(SpecRule::PacketTypeReserved));
    assert_eq!(
        err.to_string(),
        "packet: packet type 0, which is reserved and forbidden [MQTT-2.1.2]"
    );
}

#[test]
fn mqtt_2_1_2_auth_in_a_311_stream_is_malformed() {
    let bytes = [0xF0, 0x00]; // AUTH, remaining length 0
    let err = decode_err(&bytes, V311);
    assert_eq!(err.kind, DecodeErrorKind::ReservedPacketType { nibble: 15 });
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    assert!(matches!(decode_one(&bytes, V5), Packet::Auth(_)));
}

#[test]
fn mqtt_2_1_3_1_reserved_flags_are_checked_for_every_type() {
    // (first byte with correct flags, a minimal valid 5.0 body)
    let valid: &[(u8, &[u8])] = &[
        (0x20, &[0x00, 0x00, 0x00]),                         // CONNACK
        (0x40, &[0x00, 0x01]),                               // PUBACK
        (0x50, &[0x00, 0x01]),                               // PUBREC
        (0x62, &[0x00, 0x01]),                               // PUBREL
        (0x70, &[0x00, 0x01]),                               // PUBCOMP
        (0x82, &[0x00, 0x01, 0x00, 0x00, 0x01, b'a', 0x00]), // SUBSCRIBE "a"
        (0x90, &[0x00, 0x01, 0x00, 0x00]),                   // SUBACK
        (0xA2, &[0x00, 0x01, 0x00, 0x00, 0x01, b'a']),       // UNSUBSCRIBE "a"
        (0xB0, &[0x00, 0x01, 0x00]),                         // UNSUBACK
        (0xC0, &[]),                                         // PINGREQ
        (0xD0, &[]),                                         // PINGRESP
        (0xE0, &[]),                                         // DISCONNECT
        (0xF0, &[]),                                         // AUTH
    ];
    for &(first, body) in valid {
        let mut bytes = vec![first, body.len() as u8];
        bytes.extend_from_slice(body);
        decode_one(&bytes, V5);
        for flags in 0u8..16 {
            if flags == first & 0x0F {
                continue;
            }
            bytes[0] = (first & 0xF0) | flags;
            let err = decode_err(&bytes, V5);
            assert_eq!(
                err.kind,
                DecodeErrorKind::ReservedFlags {
                    flags,
                    expected: first & 0x0F
                },
                "{bytes:02X?}"
            );
            assert_eq!(err.rule(), Some(SpecRule::FixedHeaderFlags));
        }
    }
}

#[test]
fn mqtt_2_1_3_1_flags_are_refused_before_the_body_arrives() {
    // PUBREL with flags 0 and a body still on its way.
    let err = decode_err(&[0x60, 0x02], V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::ReservedFlags {
            flags: 0,
            expected: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "PUBREL: fixed header flags 0b0000, but PUBREL requires 0b0010 [MQTT-2.1.3-1]"
    );
}

#[test]
fn mqtt_3_2_2_15_packet_too_large_is_detected_from_the_header_alone() {
    let limits = Limits {
        max_packet_size: core::num::NonZeroU32::new(1024).unwrap(),
    };
    let mut buf = BytesMut::from(
        &[
            0x30, // PUBLISH QoS 0
            0x80, 0x08, // remaining length 1024: 1027 bytes with the header
        ][..],
    );
    let err = decode(&mut buf, V5, &limits).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::PacketTooLarge {
            size: 1027,
            max: 1024
        }
    );
    assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
    assert_eq!(err.rule(), Some(SpecRule::MaximumPacketSize));
    assert_eq!(buf.len(), 3, "nothing consumed");

    // Exactly at the limit is fine (and incomplete here).
    let mut buf = BytesMut::from(&[0x30, 0xFD, 0x07][..]); // remaining length 1021
    assert_eq!(decode(&mut buf, V5, &limits), Ok(None));
}

#[test]
fn incomplete_input_is_none_and_consumes_nothing() {
    let bytes = [
        0x30, 0x05, // PUBLISH QoS 0, remaining length 5
        0x00, 0x01, b't', // topic "t"
        b'h', b'i', // payload "hi"
    ];
    for cut in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..cut]);
        assert_eq!(
            decode(&mut buf, V311, &Limits::default()),
            Ok(None),
            "cut at {cut}"
        );
        assert_eq!(&buf[..], &bytes[..cut]);
    }
    decode_one(&bytes, V311);
}

#[test]
fn two_packets_in_one_buffer_decode_one_at_a_time() {
    let mut buf = BytesMut::from(
        &[
            0xC0, 0x00, // PINGREQ
            0xD0, 0x00, // PINGRESP
            0xE0, // DISCONNECT, header incomplete
        ][..],
    );
    let limits = Limits::default();
    assert_eq!(decode(&mut buf, V311, &limits), Ok(Some(Packet::PingReq)));
    assert_eq!(decode(&mut buf, V311, &limits), Ok(Some(Packet::PingResp)));
    assert_eq!(decode(&mut buf, V311, &limits), Ok(None));
    assert_eq!(&buf[..], &[0xE0]);
}

#[test]
fn mqtt_2_1_4_pingreq_with_a_body_is_malformed() {
    let err = decode_err(&[0xC0, 0x01, 0x00], V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::RemainingLengthMismatch {
            declared: 1,
            expected: 0,
            version: V311
        }
    );
    assert_eq!(
        err.to_string(),
        "PINGREQ: remaining length 1, but a 3.1.1 PINGREQ has exactly 0 bytes [MQTT-2.1.4]"
    );
}
