//! DISCONNECT, AUTH, PINGREQ and PINGRESP vectors.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use bytes::Bytes;
use common::*;
use lantern_codec::{
    Auth, AuthProperties, DecodeErrorKind, Disconnect, DisconnectProperties, EncodeError, Packet,
    PacketType, ReasonCode, SpecRule,
};

#[test]
fn pingreq_and_pingresp() {
    assert_eq!(round_trip(&[0xc0, 0x00], V311), Packet::PingReq);
    assert_eq!(round_trip(&[0xd0, 0x00], V5), Packet::PingResp);
}

#[test]
fn disconnect_311() {
    assert_eq!(
        round_trip(&[0xe0, 0x00], V311),
        Packet::Disconnect(Disconnect::default())
    );
    let err = decode_err(&[0xe0, 0x01, 0x00], V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::RemainingLengthMismatch {
            declared: 1,
            expected: 0,
            version: V311
        }
    );
}

#[test]
fn disconnect_5_remaining_length_0_is_normal_disconnection() {
    let Packet::Disconnect(d) = round_trip(&[0xe0, 0x00], V5) else {
        panic!()
    };
    assert_eq!(d.reason, ReasonCode::NORMAL_DISCONNECTION);
}

#[test]
fn disconnect_5_reason_only_and_with_properties() {
    let Packet::Disconnect(d) = round_trip(&[0xe0, 0x01, 0x04], V5) else {
        panic!()
    };
    assert_eq!(d.reason, ReasonCode::DisconnectWithWillMessage);
    let bytes = [
        0xe0, 0x07, // DISCONNECT, remaining length 7
        0x8e, // session taken over
        0x05, 0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
    ];
    let packet = round_trip(&bytes, V5);
    assert_eq!(
        packet,
        Packet::Disconnect(Disconnect {
            reason: ReasonCode::SessionTakenOver,
            properties: DisconnectProperties {
                session_expiry_interval: Some(0),
                ..Default::default()
            },
        })
    );
    // 3.1.1 DISCONNECT has no body whatever the packet carries.
    encode_eq(&packet, V311, &[0xe0, 0x00]);
}

#[test]
fn mqtt_3_14_2_1_disconnect_reason_not_in_its_table_is_refused() {
    let err = decode_err(&[0xe0, 0x01, 0x91], V5); // packet identifier in use: not a DISCONNECT code
    assert_eq!(err.kind, DecodeErrorKind::InvalidReasonCode { code: 0x91 });
    assert_eq!(err.rule(), Some(SpecRule::DisconnectReasonCode));
    assert_eq!(
        err.to_string(),
        "DISCONNECT: disconnect reason code 0x91, which is not one of the codes a DISCONNECT may carry [MQTT-3.14.2-1]"
    );
}

#[test]
fn auth_5_remaining_length_0_is_success() {
    assert_eq!(round_trip(&[0xf0, 0x00], V5), Packet::Auth(Auth::default()));
}

#[test]
fn auth_5_continue_with_method_and_data() {
    let bytes = [
        0xf0, 0x0d, // AUTH, remaining length 13
        0x18, // continue authentication
        0x0b, // property length 11
        0x15, 0x00, 0x04, b'S', b'C', b'R', b'M', // authentication method "SCRM"
        0x16, 0x00, 0x01, 0x2a, // authentication data 0x2A
    ];
    let packet = round_trip(&bytes, V5);
    assert_eq!(
        packet,
        Packet::Auth(Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: AuthProperties {
                authentication_method: Some(s("SCRM")),
                authentication_data: Some(Bytes::from_static(&[0x2a])),
                ..Default::default()
            },
        })
    );
}

#[test]
fn mqtt_3_15_2_1_auth_reason_not_in_its_table_is_refused() {
    let err = decode_err(&[0xf0, 0x01, 0x87], V5);
    assert_eq!(err.rule(), Some(SpecRule::AuthReasonCode));
}

#[test]
fn auth_cannot_be_encoded_for_311() {
    let mut buf = bytes::BytesMut::new();
    assert_eq!(
        Packet::Auth(Auth::default()).encode(V311, &mut buf),
        Err(EncodeError::NotInVersion {
            packet: PacketType::Auth,
            version: V311
        })
    );
    assert!(buf.is_empty());
}
