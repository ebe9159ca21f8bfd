//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK vectors.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use lantern_codec::{
    DecodeErrorKind, Packet, PacketId, QoS, ReasonCode, RetainHandling, SpecRule, SubAck,
    Subscribe, SubscribeProperties, SubscriptionOptions, UnsubAck, Unsubscribe,
};

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

const SUBSCRIBE_311: &[u8] = &[
    0x82, 0x0b, // SUBSCRIBE, remaining length 11
    0x00, 0x0a, // packet identifier 10
    0x00, 0x03, b'a', b'/', b'#', // filter "a/#"
    0x01, //   QoS 1
    0x00, 0x01, b'b', // filter "b"
          // (options byte follows)
];

#[test]
fn subscribe_311_two_filters() {
    let mut bytes = SUBSCRIBE_311.to_vec();
    bytes.push(0x02); // "b": QoS 2
    bytes[1] = 0x0c;
    let packet = round_trip(&bytes, V311);
    let opts = |qos| SubscriptionOptions {
        qos,
        ..Default::default()
    };
    assert_eq!(
        packet,
        Packet::Subscribe(Subscribe {
            packet_id: pid(10),
            filters: vec![
                (s("a/#"), opts(QoS::AtLeastOnce)),
                (s("b"), opts(QoS::ExactlyOnce))
            ],
            properties: SubscribeProperties::default(),
        })
    );
}

#[test]
fn mqtt_3_8_3_2_subscribe_without_filters_is_a_protocol_error() {
    let bytes = [
        0x82, 0x02, // SUBSCRIBE, remaining length 2
        0x00, 0x0a, // packet identifier 10, and no payload
    ];
    let err = decode_err(&bytes, V311);
    assert_eq!(err.kind, DecodeErrorKind::NoTopicFilters);
    assert_eq!(err.rule(), Some(SpecRule::SubscribeNoFilters));
    assert_eq!(SpecRule::SubscribeNoFilters.id_v311(), Some("MQTT-3.8.3-3"));
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    assert_eq!(
        err.to_string(),
        "SUBSCRIBE: no topic filters, but SUBSCRIBE must carry at least one [MQTT-3.8.3-2]"
    );
}

#[test]
fn mqtt_3_8_3_5_subscription_options_reserved_bits_are_malformed() {
    // 3.1.1 reserves bits 7-2; 5.0 reserves bits 7-6.
    for (version, options) in [(V311, 0b0000_0100u8), (V5, 0b0100_0000)] {
        let mut bytes = vec![0x82, 0x06, 0x00, 0x0a];
        if version == V5 {
            bytes.push(0x00); // no properties
            bytes[1] += 1;
        }
        bytes.extend_from_slice(&[0x00, 0x01, b't', options]);
        let err = decode_err(&bytes, version);
        assert_eq!(
            err.kind,
            DecodeErrorKind::SubscriptionOptionsReserved { options }
        );
        assert_eq!(err.rule(), Some(SpecRule::SubscribeReservedBits));
    }
}

#[test]
fn mqtt_3_8_3_4_subscription_qos_3_is_refused() {
    let err = decode_err(&[0x82, 0x06, 0x00, 0x0a, 0x00, 0x01, b't', 0x03], V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidSubscriptionQos { options: 3 }
    );
    assert_eq!(err.rule(), Some(SpecRule::SubscribeQos3));
}

#[test]
fn mqtt_3_8_3_1_retain_handling_3_is_a_protocol_error() {
    let err = decode_err(&[0x82, 0x07, 0x00, 0x0a, 0x00, 0x00, 0x01, b't', 0x30], V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidRetainHandling { options: 0x30 }
    );
    assert_eq!(err.rule(), Some(SpecRule::RetainHandling3));
}

#[test]
fn subscribe_5_options_and_subscription_identifier() {
    let bytes = [
        0x82,
        0x09, // SUBSCRIBE, remaining length 9
        0x00,
        0x0a, // packet identifier 10
        0x02,
        0x0b,
        0x05, // properties: subscription identifier 5
        0x00,
        0x01,
        b't',        // filter "t"
        0b0010_1101, // retain handling 2, retain as published, no local, QoS 1
    ];
    let Packet::Subscribe(sub) = round_trip(&bytes, V5) else {
        panic!()
    };
    assert_eq!(
        sub.properties.subscription_identifier.map(|n| n.get()),
        Some(5)
    );
    assert_eq!(
        sub.filters[0].1,
        SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        }
    );
    // For 3.1.1 only the QoS survives, and there are no properties.
    encode_eq(
        &Packet::Subscribe(sub),
        V311,
        &[0x82, 0x06, 0x00, 0x0a, 0x00, 0x01, b't', 0x01],
    );
}

#[test]
fn mqtt_4_7_3_1_empty_topic_filter_is_refused() {
    let err = decode_err(&[0x82, 0x05, 0x00, 0x0a, 0x00, 0x00, 0x00], V311);
    assert_eq!(err.kind, DecodeErrorKind::EmptyTopic);
    assert_eq!(err.field, "topic filter");
}

#[test]
fn suback_311_return_codes() {
    let bytes = [
        0x90, 0x06, // SUBACK, remaining length 6
        0x00, 0x0a, // packet identifier 10
        0x00, 0x01, 0x02, 0x80, // granted 0, 1, 2, failure
    ];
    let packet = round_trip(&bytes, V311);
    assert_eq!(
        packet,
        Packet::SubAck(SubAck {
            packet_id: pid(10),
            reasons: vec![
                ReasonCode::Success,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS2,
                ReasonCode::UnspecifiedError
            ],
            properties: Default::default(),
        })
    );
}

#[test]
fn mqtt_3_9_3_2_suback_311_reserved_return_code_is_refused() {
    let err = decode_err(&[0x90, 0x03, 0x00, 0x0a, 0x03], V311);
    assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code: 3 });
    assert_eq!(err.rule(), Some(SpecRule::SubAckReasonCode));
    // 0x87 Not authorized is a 5.0 SUBACK code, not a 3.1.1 one.
    let err = decode_err(&[0x90, 0x03, 0x00, 0x0a, 0x87], V311);
    assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code: 0x87 });
}

#[test]
fn suback_5_failure_codes_become_0x80_for_311() {
    let packet = round_trip(&[0x90, 0x05, 0x00, 0x0a, 0x00, 0x01, 0x87], V5);
    encode_eq(&packet, V311, &[0x90, 0x04, 0x00, 0x0a, 0x01, 0x80]);
    let err = decode_err(&[0x90, 0x04, 0x00, 0x0a, 0x00, 0x04], V5); // 0x04 is not a SUBACK code
    assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code: 0x04 });
}

#[test]
fn unsubscribe_311() {
    let bytes = [
        0xa2, 0x07, // UNSUBSCRIBE, remaining length 7
        0x00, 0x0b, // packet identifier 11
        0x00, 0x03, b'a', b'/', b'+', // filter "a/+"
    ];
    assert_eq!(
        round_trip(&bytes, V311),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: pid(11),
            filters: vec![s("a/+")],
            properties: Default::default()
        })
    );
}

#[test]
fn mqtt_3_10_3_2_unsubscribe_without_filters_is_a_protocol_error() {
    let err = decode_err(&[0xa2, 0x03, 0x00, 0x0b, 0x00], V5);
    assert_eq!(err.kind, DecodeErrorKind::NoTopicFilters);
    assert_eq!(err.rule(), Some(SpecRule::UnsubscribeNoFilters));
}

#[test]
fn unsuback_311_has_no_payload() {
    let bytes = [
        0xb0, 0x02, // UNSUBACK, remaining length 2
        0x00, 0x0b, // packet identifier 11
    ];
    let packet = round_trip(&bytes, V311);
    assert_eq!(
        packet,
        Packet::UnsubAck(UnsubAck {
            packet_id: pid(11),
            reasons: vec![],
            properties: Default::default()
        })
    );
    let err = decode_err(&[0xb0, 0x03, 0x00, 0x0b, 0x00], V311);
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
fn unsuback_5_reason_codes() {
    let bytes = [
        0xb0, 0x05, // UNSUBACK, remaining length 5
        0x00, 0x0b, // packet identifier 11
        0x00, // no properties
        0x00, 0x11, // success, no subscription existed
    ];
    let packet = round_trip(&bytes, V5);
    let Packet::UnsubAck(a) = &packet else {
        panic!()
    };
    assert_eq!(
        a.reasons,
        vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
    );
    // For 3.1.1 the codes are dropped.
    encode_eq(&packet, V311, &[0xb0, 0x02, 0x00, 0x0b]);
    let err = decode_err(&[0xb0, 0x04, 0x00, 0x0b, 0x00, 0x10], V5);
    assert_eq!(err.rule(), Some(SpecRule::UnsubAckReasonCode));
}
