//! CONNECT vectors, 3.1, 3.1.1 and 5.0.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use bytes::Bytes;
use common::*;
use lantern_codec::{
    Connect, ConnectProperties, DecodeErrorKind, InvalidString, Packet, ProtocolVersion, QoS,
    ReasonCode, SpecRule, UserProperty, Will, WillProperties,
};

const CONNECT_311_MIN: &[u8] = &[
    0x10,
    0x0d, // CONNECT, remaining length 13
    0x00,
    0x04,
    b'M',
    b'Q',
    b'T',
    b'T',
    0x04, // protocol name "MQTT", level 4
    0b0000_0010,
    0x00,
    0x3c, // flags: clean session; keep alive 60 s
    0x00,
    0x01,
    b'd', // client id "d"
];

/// CONNECT_311_MIN with another connect flags byte.
fn connect_311_with_flags(flags: u8) -> Vec<u8> {
    let mut v = CONNECT_311_MIN.to_vec();
    v[9] = flags;
    v
}

fn minimal(protocol: ProtocolVersion) -> Connect {
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: s("d"),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

#[test]
fn connect_311_minimal() {
    let packet = round_trip(CONNECT_311_MIN, V311);
    assert_eq!(packet, Packet::Connect(minimal(V311)));
}

#[test]
fn connect_311_ignores_the_connection_version() {
    // CONNECT carries its own version: the argument does not matter.
    assert_eq!(
        decode_one(CONNECT_311_MIN, V5),
        Packet::Connect(minimal(V311))
    );
}

#[test]
fn connect_31_mqisdp_level_3() {
    let bytes = [
        0x10,
        0x0f, // CONNECT, remaining length 15
        0x00,
        0x06,
        b'M',
        b'Q',
        b'I',
        b's',
        b'd',
        b'p',
        0x03, // "MQIsdp", level 3
        0b0000_0010,
        0x00,
        0x3c, // clean session; keep alive 60 s
        0x00,
        0x01,
        b'd', // client id "d"
    ];
    assert_eq!(round_trip(&bytes, V311), Packet::Connect(minimal(V31)));
}

const CONNECT_5_FULL: &[u8] = &[
    0x10,
    0x36, // CONNECT, remaining length 54
    0x00,
    0x04,
    b'M',
    b'Q',
    b'T',
    b'T',
    0x05,        // protocol name "MQTT", level 5
    0b1110_1110, // user name, password, will retain, will QoS 1, will, clean start
    0x00,
    0x0a, // keep alive 10 s
    0x0f, // property length 15
    0x11,
    0x00,
    0x00,
    0x00,
    0x78, //   session expiry interval 120 s
    0x21,
    0x00,
    0x0a, //   receive maximum 10
    0x26,
    0x00,
    0x01,
    b'k',
    0x00,
    0x01,
    b'v', //   user property "k" = "v"
    0x00,
    0x02,
    b'i',
    b'd', // client id "id"
    0x07, // will property length 7
    0x18,
    0x00,
    0x00,
    0x00,
    0x05, //   will delay interval 5 s
    0x01,
    0x01, //   payload format indicator: UTF-8
    0x00,
    0x03,
    b'w',
    b'/',
    b't', // will topic "w/t"
    0x00,
    0x02,
    b'b',
    b'y', // will payload "by"
    0x00,
    0x01,
    b'u', // user name "u"
    0x00,
    0x02,
    0xff,
    0x00, // password: two binary bytes
];

#[test]
fn connect_5_with_will_credentials_and_properties() {
    let packet = round_trip(CONNECT_5_FULL, V5);
    let Packet::Connect(c) = packet else { panic!() };
    assert_eq!(c.protocol, V5);
    assert_eq!(c.keep_alive, 10);
    assert_eq!(c.client_id, "id");
    assert_eq!(c.properties.session_expiry_interval, Some(120));
    assert_eq!(c.properties.receive_maximum.map(|r| r.get()), Some(10));
    assert_eq!(
        c.properties.user_properties,
        vec![UserProperty {
            key: s("k"),
            value: s("v")
        }]
    );
    assert_eq!(
        c.will,
        Some(Will {
            topic: s("w/t"),
            payload: Bytes::from_static(b"by"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties {
                will_delay_interval: Some(5),
                payload_format_indicator: Some(true),
                ..Default::default()
            },
        })
    );
    assert_eq!(c.username, Some(s("u")));
    assert_eq!(
        c.password.as_ref().map(|p| p.expose()),
        Some(&[0xff, 0x00][..])
    );
    assert_eq!(format!("{:?}", c.password), "Some(Password(..))");
}

#[test]
fn mqtt_3_1_2_3_reserved_flag_set_is_malformed() {
    let err = decode_err(&connect_311_with_flags(0b0000_0011), V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::ConnectReservedFlag { flags: 0x03 }
    );
    assert_eq!(err.rule(), Some(SpecRule::ConnectReservedFlag));
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(
        err.to_string(),
        "CONNECT: connect flags 0x03 set reserved bit 0, but it must be 0 [MQTT-3.1.2-3]"
    );
}

#[test]
fn mqtt_3_1_2_1_protocol_name_and_level_must_agree() {
    // (name, level) pairs that do not belong together.
    for (name, level) in [
        (&b"MQTT"[..], 3u8),
        (b"MQIsdp", 4),
        (b"MQIsdp", 5),
        (b"HTTP", 4),
    ] {
        let mut bytes = vec![0x10, (2 + name.len() + 1 + 1 + 2 + 3) as u8];
        bytes.extend_from_slice(&(name.len() as u16).to_be_bytes());
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(&[level, 0x02, 0x00, 0x3c, 0x00, 0x01, b'd']);
        let err = decode_err(&bytes, V311);
        assert_eq!(
            err.kind,
            DecodeErrorKind::ProtocolNameMismatch {
                name: s(core::str::from_utf8(name).unwrap()),
                level
            }
        );
        assert_eq!(err.rule(), Some(SpecRule::ProtocolName));
        assert_eq!(err.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    }
    let err = decode_err(
        &[
            0x10, 0x0f, // CONNECT, remaining length 15
            0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x04, // "MQIsdp", level 4
            0x02, 0x00, 0x3c, 0x00, 0x01, b'd',
        ],
        V311,
    );
    assert_eq!(
        err.to_string(),
        "CONNECT: protocol name \"MQIsdp\" with level 4, but the name must be \"MQIsdp\" with level 3 or \"MQTT\" with level 4 or 5 [MQTT-3.1.2-1]"
    );
}

#[test]
fn mqtt_3_1_2_2_unknown_level_is_unsupported_protocol_version() {
    let mut bytes = CONNECT_311_MIN.to_vec();
    bytes[8] = 6; // "MQTT", level 6
    let err = decode_err(&bytes, V311);
    assert_eq!(err.kind, DecodeErrorKind::UnsupportedProtocolVersion(6));
    assert_eq!(err.field, "protocol level");
    assert_eq!(err.rule(), Some(SpecRule::ProtocolLevel));
    assert_eq!(err.reason_code(), ReasonCode::UnsupportedProtocolVersion);
}

#[test]
fn mqtt_3_1_2_12_will_qos_3_is_malformed() {
    let err = decode_err(&connect_311_with_flags(0b0001_1110), V311); // will, will QoS 3, clean
    assert_eq!(err.kind, DecodeErrorKind::InvalidWillQos { flags: 0x1E });
    assert_eq!(err.rule(), Some(SpecRule::WillQos3));
    assert_eq!(SpecRule::WillQos3.id_v311(), Some("MQTT-3.1.2-14"));
}

#[test]
fn mqtt_3_1_2_11_will_qos_without_will_flag_is_malformed() {
    let err = decode_err(&connect_311_with_flags(0b0000_1010), V311); // will QoS 1, clean
    assert_eq!(err.kind, DecodeErrorKind::WillQosWithoutWill { qos: 1 });
    assert_eq!(err.rule(), Some(SpecRule::WillQosWithoutWill));
}

#[test]
fn mqtt_3_1_2_13_will_retain_without_will_flag_is_malformed() {
    let err = decode_err(&connect_311_with_flags(0b0010_0010), V311); // will retain, clean
    assert_eq!(err.kind, DecodeErrorKind::WillRetainWithoutWill);
    assert_eq!(err.rule(), Some(SpecRule::WillRetainWithoutWill));
}

#[test]
fn mqtt_3_1_2_22_password_without_username_is_refused_in_311() {
    let bytes = [
        0x10,
        0x11, // CONNECT, remaining length 17
        0x00,
        0x04,
        b'M',
        b'Q',
        b'T',
        b'T',
        0x04, // "MQTT", level 4
        0b0100_0010,
        0x00,
        0x3c, // password, clean session; keep alive 60 s
        0x00,
        0x01,
        b'd', // client id "d"
        0x00,
        0x02,
        b'p',
        b'w', // password "pw"
    ];
    let err = decode_err(&bytes, V311);
    assert_eq!(err.kind, DecodeErrorKind::PasswordWithoutUsername);
    assert_eq!(err.rule(), Some(SpecRule::PasswordWithoutUsername));
    assert_eq!(SpecRule::PasswordWithoutUsername.id(), "MQTT-3.1.2-22");
}

#[test]
fn password_without_username_is_allowed_in_5() {
    let bytes = [
        0x10,
        0x12, // CONNECT, remaining length 18
        0x00,
        0x04,
        b'M',
        b'Q',
        b'T',
        b'T',
        0x05, // "MQTT", level 5
        0b0100_0010,
        0x00,
        0x3c, // password, clean start; keep alive 60 s
        0x00, // no properties
        0x00,
        0x01,
        b'd', // client id "d"
        0x00,
        0x02,
        b'p',
        b'w', // password "pw"
    ];
    let Packet::Connect(c) = round_trip(&bytes, V5) else {
        panic!()
    };
    assert!(c.username.is_none());
    assert_eq!(c.password.unwrap().expose(), b"pw");
}

#[test]
fn mqtt_1_5_4_1_client_id_with_invalid_utf8_is_malformed() {
    let bytes = [
        0x10, 0x0e, // CONNECT, remaining length 14
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, 0xc3,
        0x28, // client id: 0xC3 starts a 2-byte sequence, 0x28 does not continue it
    ];
    let err = decode_err(&bytes, V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidString(InvalidString::Utf8 { valid_up_to: 0 })
    );
    assert_eq!(err.field, "client identifier");
    assert_eq!(err.rule(), Some(SpecRule::Utf8WellFormed));
}

#[test]
fn mqtt_2_1_4_trailing_bytes_after_connect_are_malformed() {
    let mut bytes = CONNECT_311_MIN.to_vec();
    bytes[1] = 0x0e; // remaining length 14
    bytes.push(0x00); // one byte no field accounts for
    let err = decode_err(&bytes, V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::TrailingBytes {
            declared: 14,
            unused: 1
        }
    );
    assert_eq!(err.rule(), Some(SpecRule::RemainingLength));
}

#[test]
fn mqtt_2_1_4_remaining_length_ending_inside_client_id_is_malformed() {
    let mut bytes = CONNECT_311_MIN.to_vec();
    bytes[1] = 0x0c; // remaining length 12: the client id's last byte is outside
    bytes.pop();
    let err = decode_err(&bytes, V311);
    assert_eq!(
        err.kind,
        DecodeErrorKind::Truncated {
            scope: "remaining length",
            declared: 12,
            needed: 1,
            available: 0
        }
    );
    assert_eq!(err.field, "client identifier");
    assert_eq!(
        err.to_string(),
        "CONNECT: client identifier needs 1 bytes, but the remaining length 12 leaves only 0 [MQTT-2.1.4]"
    );
}

/// A 5.0 CONNECT with client id "d" and the given property bytes.
fn connect_5_with_properties(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x3c];
    body.push(props.len() as u8);
    body.extend_from_slice(props);
    body.extend_from_slice(&[0x00, 0x01, b'd']);
    let mut v = vec![0x10, body.len() as u8];
    v.extend_from_slice(&body);
    v
}

#[test]
fn mqtt_2_2_2_2_duplicate_property_is_a_protocol_error() {
    let err = decode_err(
        &connect_5_with_properties(&[
            0x11, 0x00, 0x00, 0x00, 0x01, // session expiry interval 1
            0x11, 0x00, 0x00, 0x00, 0x02, // session expiry interval 2: again
        ]),
        V5,
    );
    assert_eq!(err.kind, DecodeErrorKind::DuplicateProperty { id: 0x11 });
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    assert_eq!(
        err.to_string(),
        "CONNECT: property 0x11 (Session Expiry Interval) appears twice in the properties, but it may appear at most once [MQTT-2.2.2.2]"
    );
}

#[test]
fn mqtt_2_2_2_2_user_properties_repeat_in_order() {
    let bytes = connect_5_with_properties(&[
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'1', // user property a=1
        0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'2', // user property a=2
    ]);
    let Packet::Connect(c) = round_trip(&bytes, V5) else {
        panic!()
    };
    assert_eq!(
        c.properties.user_properties,
        vec![
            UserProperty {
                key: s("a"),
                value: s("1")
            },
            UserProperty {
                key: s("a"),
                value: s("2")
            }
        ]
    );
}

#[test]
fn mqtt_2_2_2_2_property_not_allowed_in_connect_is_malformed() {
    let err = decode_err(&connect_5_with_properties(&[0x23, 0x00, 0x01]), V5); // topic alias 1
    assert_eq!(err.kind, DecodeErrorKind::PropertyNotAllowed { id: 0x23 });
    assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    let err = decode_err(&connect_5_with_properties(&[0x7F, 0x00]), V5); // undefined id
    assert_eq!(err.kind, DecodeErrorKind::PropertyNotAllowed { id: 0x7F });
}

#[test]
fn mqtt_3_1_2_11_3_receive_maximum_0_is_a_protocol_error() {
    let err = decode_err(&connect_5_with_properties(&[0x21, 0x00, 0x00]), V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x21, value: 0 }
    );
    assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    assert_eq!(err.rule(), Some(SpecRule::PropertyValueRange));
}

#[test]
fn mqtt_3_1_2_11_4_maximum_packet_size_0_is_a_protocol_error() {
    let err = decode_err(
        &connect_5_with_properties(&[0x27, 0x00, 0x00, 0x00, 0x00]),
        V5,
    );
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x27, value: 0 }
    );
}

#[test]
fn mqtt_3_1_2_11_7_request_problem_information_2_is_a_protocol_error() {
    let err = decode_err(&connect_5_with_properties(&[0x17, 0x02]), V5);
    assert_eq!(
        err.kind,
        DecodeErrorKind::InvalidPropertyValue { id: 0x17, value: 2 }
    );
}

#[test]
fn mqtt_3_1_2_11_10_authentication_data_without_method_is_a_protocol_error() {
    let err = decode_err(&connect_5_with_properties(&[0x16, 0x00, 0x01, 0xAA]), V5);
    assert_eq!(err.kind, DecodeErrorKind::AuthDataWithoutMethod);
    assert_eq!(err.rule(), Some(SpecRule::AuthDataWithoutMethod));
}

#[test]
fn property_length_ending_inside_a_property_is_malformed() {
    // Property length 2, but session expiry interval needs 4 bytes after its identifier.
    let mut bytes = connect_5_with_properties(&[0x11, 0x00]);
    bytes.truncate(bytes.len() - 3);
    bytes.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, b'd']);
    bytes[1] = (bytes.len() - 2) as u8;
    let err = decode_err(&bytes, V5);
    assert!(
        matches!(
            err.kind,
            DecodeErrorKind::Truncated {
                scope: "property length",
                ..
            }
        ),
        "{err}"
    );
}
