//! CONNACK vectors, 3.1.1 and 5.0.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use common::*;
use lantern_codec::{
    ConnAck, ConnAckProperties, DecodeErrorKind, Packet, QoS, ReasonCode, SpecRule,
};

#[test]
fn connack_311_accepted() {
    let bytes = [
        0x20, 0x02, // CONNACK, remaining length 2
        0x01, // session present
        0x00, // return code 0: accepted
    ];
    let packet = round_trip(&bytes, V311);
    assert_eq!(
        packet,
        Packet::ConnAck(ConnAck {
            session_present: true,
            reason: ReasonCode::Success,
            properties: ConnAckProperties::default()
        })
    );
}

#[test]
fn issue_field_report_connack_with_remaining_length_0_is_malformed() {
    // The field report: a client parsed `20 00` as a CONNACK.
    let bytes = [
        0x20, 0x00, // CONNACK, remaining length 0
    ];
    let err = decode_err(&bytes, V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::RemainingLengthMismatch {
            declared: 0,
            expected: 2,
            version: V311
        }
    );
    assert_eq!(err.field, "remaining length");
    assert_eq!(err.rule(), Some(SpecRule::RemainingLength));
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(
        err.to_string(),
        "CONNACK: remaining length 0, but a 3.1.1 CONNACK has exactly 2 bytes [MQTT-2.1.4]"
    );
    // In 5.0 the same bytes end before the acknowledge flags.
    let err = decode_err(&bytes, V5);
    assert!(matches!(
        err.kind,
        DecodeErrorKind::Truncated {
            declared: 0,
            needed: 1,
            ..
        }
    ));
}

#[test]
fn connack_311_with_3_bytes_is_malformed() {
    let err = decode_err(&[0x20, 0x03, 0x00, 0x00, 0x00], V311);
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
fn connack_311_return_codes_map_to_reason_codes() {
    for (code, reason) in [
        (1u8, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ] {
        let bytes = [0x20, 0x02, 0x00, code];
        let Packet::ConnAck(c) = round_trip(&bytes, V311) else {
            panic!()
        };
        assert_eq!(c.reason, reason);
    }
}

#[test]
fn mqtt_3_2_2_3_return_code_6_is_reserved() {
    let err = decode_err(&[0x20, 0x02, 0x00, 0x06], V311);
    assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code: 6 });
    assert_eq!(err.rule(), Some(SpecRule::ConnAckReasonCode));
}

#[test]
fn mqtt_3_2_2_1_reserved_acknowledge_flags_are_malformed() {
    let err = decode_err(&[0x20, 0x02, 0x02, 0x00], V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::ConnAckReservedFlags { flags: 0x02 }
    );
}

#[test]
fn connack_311_session_present_with_refusal_still_decodes() {
    // [MQTT-3.2.2-4] says a server must not send this; a client can still read it.
    let Packet::ConnAck(c) = decode_one(&[0x20, 0x02, 0x01, 0x05], V311) else {
        panic!()
    };
    assert!(c.session_present);
    assert_eq!(c.reason, ReasonCode::NotAuthorized);
}

#[test]
fn connack_31_has_no_session_present_flag() {
    let Packet::ConnAck(c) = decode_one(&[0x20, 0x02, 0x00, 0x00], V31) else {
        panic!()
    };
    assert!(!c.session_present);
}

#[test]
fn connack_5_with_properties() {
    let bytes = [
        0x20, 0x0c, // CONNACK, remaining length 12
        0x00, // no session present
        0x00, // reason: success
        0x09, // property length 9
        0x21, 0x00, 0x14, //   receive maximum 20
        0x24, 0x01, //   maximum QoS 1
        0x25, 0x00, //   retain available: no
        0x13, 0x00, // (two bytes: server keep alive is the next property)
    ];
    // Server keep alive needs 2 bytes, and the property length ends inside it.
    let err = decode_err(&bytes, V5);
    assert!(matches!(
        err.kind,
        DecodeErrorKind::Truncated {
            scope: "property length",
            ..
        }
    ));

    let bytes = [
        0x20, 0x0d, // CONNACK, remaining length 13
        0x00, // no session present
        0x00, // reason: success
        0x0a, // property length 10
        0x21, 0x00, 0x14, //   receive maximum 20
        0x24, 0x01, //   maximum QoS 1
        0x25, 0x00, //   retain available: no
        0x13, 0x00, 0x1e, //   server keep alive 30 s
    ];
    let Packet::ConnAck(c) = round_trip(&bytes, V5) else {
        panic!()
    };
    assert_eq!(c.properties.receive_maximum.map(|r| r.get()), Some(20));
    assert_eq!(c.properties.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(c.properties.retain_available, Some(false));
    assert_eq!(c.properties.server_keep_alive, Some(30));
}

#[test]
fn mqtt_3_2_2_3_4_maximum_qos_2_is_a_protocol_error() {
    let err = decode_err(&[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x24, value: 2 }
    );
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn mqtt_3_2_2_8_connack_reason_not_in_the_connect_table_is_refused() {
    // 0x10 No matching subscribers exists, but not in CONNACK; 0x03 does not exist at all.
    for code in [0x10u8, 0x03] {
        let err = decode_err(&[0x20, 0x03, 0x00, code, 0x00], V5);
        assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code });
        assert_eq!(err.rule(), Some(SpecRule::ConnAckReasonCode));
    }
    let Packet::ConnAck(c) = round_trip(&[0x20, 0x03, 0x00, 0x87, 0x00], V5) else {
        panic!()
    };
    assert_eq!(c.reason, ReasonCode::NotAuthorized);
}

#[test]
fn connack_encodes_v5_reasons_as_311_return_codes() {
    let c = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Banned,
        properties: ConnAckProperties {
            receive_maximum: core::num::NonZeroU16::new(5),
            ..Default::default()
        },
    });
    encode_eq(&c, V311, &[0x20, 0x02, 0x00, 0x05]); // properties dropped; Banned -> 5
}
