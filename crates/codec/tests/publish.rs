//! PUBLISH, PUBACK, PUBREC, PUBREL and PUBCOMP vectors.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use core::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use common::*;
use lantern_codec::{
    decode, Ack, AckProperties, DecodeErrorKind, InvalidString, Limits, Packet, PacketId, Publish,
    PublishProperties, QoS, ReasonCode, SpecRule,
};

const PUBLISH_311_QOS1: &[u8] = &[
    0x32, 0x09, // PUBLISH QoS 1, remaining length 9
    0x00, 0x03, b'a', b'/', b'b', // topic "a/b"
    0x00, 0x07, // packet identifier 7
    b'h', b'i', // payload "hi"
];

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

#[test]
fn publish_311_qos1() {
    let packet = round_trip(PUBLISH_311_QOS1, V311);
    assert_eq!(
        packet,
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: s("a/b"),
            packet_id: Some(pid(7)),
            properties: PublishProperties::default(),
            payload: Bytes::from_static(b"hi"),
        })
    );
}

#[test]
fn publish_311_qos0_dup_clear_retain_set() {
    let bytes = [
        0x31, 0x04, // PUBLISH QoS 0 retain, remaining length 4
        0x00, 0x01, b't', // topic "t"
        b'x', // payload "x"
    ];
    let Packet::Publish(p) = round_trip(&bytes, V311) else {
        panic!()
    };
    assert!(p.retain);
    assert_eq!(p.packet_id, None);
}

#[test]
fn publish_payload_is_a_slice_of_the_read_buffer() {
    let mut buf = BytesMut::from(PUBLISH_311_QOS1);
    let start = buf.as_ptr() as usize;
    let end = start + buf.len();
    let Some(Packet::Publish(p)) = decode(&mut buf, V311, &Limits::default()).unwrap() else {
        panic!()
    };
    let at = p.payload.as_ptr() as usize;
    assert!((start..end).contains(&at), "payload was copied");
    let at = p.topic.as_bytes().as_ptr() as usize;
    assert!((start..end).contains(&at), "topic was copied");
}

#[test]
fn publish_encode_without_packet_matches_packet_encode() {
    let Packet::Publish(p) = decode_one(PUBLISH_311_QOS1, V311) else {
        panic!()
    };
    let mut buf = BytesMut::new();
    p.encode(V311, &mut buf).unwrap();
    assert_eq!(&buf[..], PUBLISH_311_QOS1);
    assert_eq!(p.encoded_len(V311), PUBLISH_311_QOS1.len());
}

#[test]
fn mqtt_3_3_1_4_publish_qos_3_is_malformed() {
    let err = decode_err(&[0x36, 0x03, 0x00, 0x01, b't'], V311);
    assert_eq!(err.kind, DecodeErrorKind::PublishQos3 { flags: 0b0110 });
    assert_eq!(err.rule(), Some(SpecRule::PublishQos3));
}

#[test]
fn mqtt_3_3_1_2_dup_with_qos_0_is_malformed() {
    let err = decode_err(&[0x38, 0x03, 0x00, 0x01, b't'], V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::PublishDupWithQos0 { flags: 0b1000 }
    );
    assert_eq!(err.rule(), Some(SpecRule::PublishDupQos0));
}

#[test]
fn mqtt_3_3_2_2_topic_name_with_wildcards_is_malformed() {
    for (topic, at) in [(&b"a/+"[..], 2usize), (b"#", 0)] {
        let mut bytes = vec![0x30, (2 + topic.len()) as u8, 0x00, topic.len() as u8];
        bytes.extend_from_slice(topic);
        let err = decode_err(&bytes, V311);
        assert_eq!(
            err.kind,
            DecodeErrorKind::WildcardInTopicName {
                topic: s(core::str::from_utf8(topic).unwrap()),
                at
            }
        );
        assert_eq!(err.rule(), Some(SpecRule::TopicNameWildcard));
    }
}

#[test]
fn mqtt_1_5_4_1_topic_with_invalid_utf8_is_malformed() {
    let bytes = [
        0x30, 0x05, // PUBLISH QoS 0, remaining length 5
        0x00, 0x03, b'a', 0xff, b'b', // topic "a", 0xFF (never valid in UTF-8), "b"
    ];
    let err = decode_err(&bytes, V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidString(InvalidString::Utf8 { valid_up_to: 1 })
    );
    assert_eq!(err.field, "topic name");
    assert_eq!(err.rule(), Some(SpecRule::Utf8WellFormed));
    assert_eq!(
        err.to_string(),
        "PUBLISH: topic name is not a valid MQTT UTF-8 string: invalid UTF-8 after 1 valid bytes [MQTT-1.5.4-1]"
    );
}

#[test]
fn mqtt_1_5_4_2_topic_with_nul_is_malformed() {
    let bytes = [
        0x30, 0x05, // PUBLISH QoS 0, remaining length 5
        0x00, 0x03, b'a', 0x00, b'b', // topic "a\0b"
    ];
    let err = decode_err(&bytes, V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidString(InvalidString::Nul { at: 1 })
    );
    assert_eq!(err.rule(), Some(SpecRule::Utf8NoNul));
}

#[test]
fn mqtt_2_2_1_3_packet_id_0_is_malformed() {
    let err = decode_err(&[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00], V311);
    assert_eq!(err.kind, DecodeErrorKind::ZeroPacketId);
    assert_eq!(err.field, "packet identifier");
    assert_eq!(err.rule(), Some(SpecRule::PacketIdNonZero));
}

#[test]
fn mqtt_2_1_4_one_byte_remaining_length_shorter_than_the_body() {
    // The remaining length claims 3 bytes; the topic length says 5 follow.
    let bytes = [
        0x30, 0x03, // PUBLISH QoS 0, remaining length 3
        0x00, 0x05, b'h', // topic length 5, only 1 byte inside the packet
        b'e', b'l', b'l', b'o', // the rest of the topic, beyond the remaining length
    ];
    let mut buf = BytesMut::from(&bytes[..]);
    let err = decode(&mut buf, V311, &Limits::default()).unwrap_err();
    assert_eq!(
        err.kind,
        DecodeErrorKind::Truncated {
            scope: "remaining length",
            declared: 3,
            needed: 5,
            available: 1
        }
    );
    assert_eq!(err.field, "topic name");
    assert_eq!(buf.len(), bytes.len(), "nothing consumed on error");
}

#[test]
fn mqtt_4_7_3_1_empty_topic_name_is_refused_in_311() {
    let err = decode_err(&[0x30, 0x02, 0x00, 0x00], V311);
    assert_eq!(err.kind, DecodeErrorKind::EmptyTopic);
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn publish_5_empty_topic_with_topic_alias() {
    let bytes = [
        0x30, 0x07, // PUBLISH QoS 0, remaining length 7
        0x00, 0x00, // empty topic name
        0x03, 0x23, 0x00, 0x02, // properties: topic alias 2
        b'x', // payload
    ];
    let Packet::Publish(p) = round_trip(&bytes, V5) else {
        panic!()
    };
    assert_eq!(p.properties.topic_alias, NonZeroU16::new(2));
    // Without the alias it is a protocol error.
    let err = decode_err(&[0x30, 0x04, 0x00, 0x00, 0x00, b'x'], V5);
    assert_eq!(err.kind, DecodeErrorKind::EmptyTopic);
}

#[test]
fn mqtt_3_3_2_8_topic_alias_0_is_a_protocol_error() {
    let err = decode_err(&[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00], V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x23, value: 0 }
    );
    assert_eq!(err.rule(), Some(SpecRule::TopicAliasZero));
    assert_eq!(
        err.to_string(),
        "PUBLISH: property 0x23 (Topic Alias) has value 0, but it must be non-zero [MQTT-3.3.2-8]"
    );
}

#[test]
fn publish_5_subscription_identifiers_repeat_in_order() {
    let bytes = [
        0x30, 0x0b, // PUBLISH QoS 0, remaining length 11
        0x00, 0x01, b't', // topic "t"
        0x05, // property length 5
        0x0b, 0x01, //   subscription identifier 1
        0x0b, 0x80, 0x01, //   subscription identifier 128
        b'p', b'l', // payload
    ];
    let Packet::Publish(p) = round_trip(&bytes, V5) else {
        panic!()
    };
    assert_eq!(
        p.properties.subscription_identifiers,
        vec![NonZeroU32::new(1).unwrap(), NonZeroU32::new(128).unwrap()]
    );
}

#[test]
fn subscription_identifier_0_is_a_protocol_error() {
    let err = decode_err(&[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x0b, 0x00], V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x0b, value: 0 }
    );
}

#[test]
fn payload_format_indicator_2_is_a_protocol_error() {
    let err = decode_err(&[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x01, 0x02], V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x01, value: 2 }
    );
}

#[test]
fn publish_5_duplicate_topic_alias_is_a_protocol_error() {
    let err = decode_err(
        &[
            0x30, 0x0a, 0x00, 0x01, b't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02,
        ],
        V5,
    );
    assert_eq!(err.kind, DecodeErrorKind::DuplicateProperty { id: 0x23 });
}

#[test]
fn puback_311() {
    let bytes = [
        0x40, 0x02, // PUBACK, remaining length 2
        0x00, 0x07, // packet identifier 7
    ];
    assert_eq!(round_trip(&bytes, V311), Packet::PubAck(Ack::new(pid(7))));
}

#[test]
fn mqtt_2_1_4_puback_311_with_trailing_bytes_is_malformed() {
    let err = decode_err(&[0x40, 0x03, 0x00, 0x07, 0x00], V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::RemainingLengthMismatch {
            declared: 3,
            expected: 2,
            version: V311
        }
    );
}

#[test]
fn ack_5_short_forms() {
    // Remaining length 2: Success, no properties.
    assert_eq!(
        round_trip(&[0x50, 0x02, 0x00, 0x07], V5),
        Packet::PubRec(Ack::new(pid(7)))
    );
    // Remaining length 3: a reason code, no properties.
    let Packet::PubAck(a) = round_trip(&[0x40, 0x03, 0x00, 0x07, 0x10], V5) else {
        panic!()
    };
    assert_eq!(a.reason, ReasonCode::NoMatchingSubscribers);
    // Remaining length 4: a reason code and an empty property block decode, and encode short.
    let packet = decode_one(&[0x70, 0x04, 0x00, 0x07, 0x92, 0x00], V5);
    encode_eq(&packet, V5, &[0x70, 0x03, 0x00, 0x07, 0x92]);
    // Success with an empty property block re-encodes as the 2-byte form.
    let packet = decode_one(&[0x62, 0x04, 0x00, 0x07, 0x00, 0x00], V5);
    encode_eq(&packet, V5, &[0x62, 0x02, 0x00, 0x07]);
}

#[test]
fn ack_5_with_reason_string() {
    let bytes = [
        0x40, 0x08, // PUBACK, remaining length 8
        0x00, 0x07, // packet identifier 7
        0x87, // not authorized
        0x04, 0x1f, 0x00, 0x01, b'n', // reason string "n"
    ];
    let packet = round_trip(&bytes, V5);
    assert_eq!(
        packet,
        Packet::PubAck(Ack {
            packet_id: pid(7),
            reason: ReasonCode::NotAuthorized,
            properties: AckProperties {
                reason_string: Some(s("n")),
                user_properties: vec![]
            },
        })
    );
    // The same ack for 3.1.1 is only the packet identifier.
    encode_eq(&packet, V311, &[0x40, 0x02, 0x00, 0x07]);
}

#[test]
fn mqtt_3_6_2_1_pubrel_reason_not_in_its_table_is_refused() {
    let err = decode_err(&[0x62, 0x03, 0x00, 0x07, 0x10], V5);
    assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code: 0x10 });
    assert_eq!(err.rule(), Some(SpecRule::PubRelReasonCode));
}

#[test]
fn ack_packet_id_0_is_malformed() {
    let err = decode_err(&[0x40, 0x02, 0x00, 0x00], V311);
    assert_eq!(err.kind, DecodeErrorKind::ZeroPacketId);
}
