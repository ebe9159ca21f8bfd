//! Protocol violations and refusals: what the client is told on the wire (v5 DISCONNECT /
//! CONNACK reason codes, 3.1.1 a closed connection) and what the operator is told (the
//! `CloseReason`).

use std::num::NonZeroU32;
use std::time::Instant;

use lantern_broker::{Broker, BrokerConfig, CloseReason, Foreign};
use lantern_codec::{
    AckProperties, ConnAck, ConnAckProperties, DecodeErrorKind, Packet, ProtocolVersion, QoS,
    ReasonCode, SubAck,
};

use crate::harness::*;

/// [MQTT-3.1.0-1] The first packet must be CONNECT; anything else closes the connection
/// without a reply (there is no session to send a DISCONNECT on).
fn mqtt_3_1_0_1_first_packet_must_be_connect(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = Client::open(&broker, version, t0);
    client.send(t0, Packet::PingReq);
    assert!(client.conn.is_closed());
    client.recv_nothing(t0);
    let reason = client.expect_closed();
    // Refused from the first byte alone, naming the packet it announces.
    assert!(
        matches!(
            &reason,
            CloseReason::NotMqtt(Foreign::Binary {
                packet: Some("PINGREQ"),
                ..
            })
        ),
        "got {reason:?}"
    );
    assert!(reason.to_string().contains("must be CONNECT"), "{reason}");
    assert_eq!(broker.session_count(), 0);
}

/// [MQTT-3.1.0-2] A second CONNECT is a protocol violation: v5 DISCONNECT 0x82, 3.1.1 close.
fn mqtt_3_1_0_2_second_connect_is_protocol_violation(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(version, "c"));
    client.send(t0, Packet::Connect(clean(version, "c")));
    if version.is_v5() {
        assert_eq!(client.recv_disconnect(t0), ReasonCode::ProtocolError);
    } else {
        client.recv_nothing(t0);
    }
    let reason = client.expect_closed();
    assert_eq!(reason, CloseReason::SecondConnect);
    assert_eq!(reason.id(), "mqtt.second_connect");
    assert!(reason.to_string().contains("did not read its CONNACK"));
}

/// [MQTT-2.1.3-1] / v5 §4.13: bytes that do not decode after CONNECT close the connection;
/// v5 is told DISCONNECT 0x81 Malformed Packet. Here: PINGREQ with a reserved flag set.
fn mqtt_2_1_3_1_malformed_packet_after_connect_closes(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(version, "c"));
    client.send_raw(t0, &[0xC1, 0x00]); // PINGREQ, flags 0b0001 (must be 0), length 0
    if version.is_v5() {
        assert_eq!(client.recv_disconnect(t0), ReasonCode::MalformedPacket);
    } else {
        client.recv_nothing(t0);
    }
    let reason = client.expect_closed();
    match &reason {
        CloseReason::Malformed(e) => assert!(
            matches!(
                e.kind,
                DecodeErrorKind::ReservedFlags {
                    flags: 1,
                    expected: 0
                }
            ),
            "decode error {e:?}"
        ),
        other => panic!("expected Malformed, got {other:?}"),
    }
    assert_eq!(reason.id(), "mqtt.malformed");
}

/// [MQTT-3.3.2-2] A PUBLISH topic name must not contain wildcards. The codec rejects it as a
/// malformed packet: v5 is told DISCONNECT 0x81 (0x90 Topic Name invalid would also do), 3.1.1
/// is closed; the operator sees which topic and where the wildcard was; nothing is routed.
fn mqtt_3_3_2_2_publish_topic_with_wildcard_refused(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "#", QoS::AtMostOnce);
    for topic in ["a/+", "a/#"] {
        let mut client = connect_ok(&broker, t0, clean(version, "c"));
        client.send(
            t0,
            Packet::Publish(publish(topic, "x", QoS::AtLeastOnce, 1)),
        );
        if version.is_v5() {
            let code = client.recv_disconnect(t0);
            assert!(
                matches!(
                    code,
                    ReasonCode::MalformedPacket | ReasonCode::TopicNameInvalid
                ),
                "{topic}: DISCONNECT {code:?}"
            );
        } else {
            client.recv_nothing(t0);
        }
        let reason = client.expect_closed();
        match &reason {
            CloseReason::Malformed(e) => assert!(
                matches!(&e.kind, DecodeErrorKind::WildcardInTopicName { at: 2, .. }),
                "{topic}: {e:?}"
            ),
            CloseReason::ProtocolViolation {
                reason: ReasonCode::TopicNameInvalid,
                ..
            } => {}
            other => panic!("{topic}: expected a refusal of the topic name, got {other:?}"),
        }
    }
    sub.recv_nothing(t0);
}

/// A client sending a server-only packet (CONNACK) breaks the protocol: v5 DISCONNECT 0x82.
fn client_sending_connack_is_protocol_violation(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(version, "c"));
    client.send(
        t0,
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        }),
    );
    if version.is_v5() {
        assert_eq!(client.recv_disconnect(t0), ReasonCode::ProtocolError);
    } else {
        client.recv_nothing(t0);
    }
    let reason = client.expect_closed();
    assert!(
        matches!(&reason, CloseReason::ProtocolViolation { reason: ReasonCode::ProtocolError, detail } if detail.contains("CONNACK")),
        "got {reason:?}"
    );
}

/// … and so does SUBACK.
fn client_sending_suback_is_protocol_violation(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(version, "c"));
    client.send(
        t0,
        Packet::SubAck(SubAck {
            packet_id: pid(1),
            reasons: vec![ReasonCode::Success],
            properties: AckProperties::default(),
        }),
    );
    if version.is_v5() {
        assert_eq!(client.recv_disconnect(t0), ReasonCode::ProtocolError);
    } else {
        client.recv_nothing(t0);
    }
    assert!(matches!(
        client.expect_closed(),
        CloseReason::ProtocolViolation {
            reason: ReasonCode::ProtocolError,
            ..
        }
    ));
}

/// A violation is an abnormal close: the will is published [MQTT-3.1.2-8].
fn mqtt_3_1_2_8_will_published_after_protocol_violation(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut watcher = subscriber(&broker, t0, version, "watcher", "wills/#", QoS::AtMostOnce);
    let mut c = clean(version, "dev");
    c.will = Some(will("wills/dev", "gone", QoS::AtMostOnce, false));
    let mut client = connect_ok(&broker, t0, c);
    client.send(t0, Packet::Connect(clean(version, "dev")));
    assert!(client.conn.is_closed());
    assert_eq!(payloads(&watcher.recv_publishes(t0)), ["gone"]);
}

both_versions!(
    mqtt_3_1_0_1_first_packet_must_be_connect,
    mqtt_3_1_0_2_second_connect_is_protocol_violation,
    mqtt_2_1_3_1_malformed_packet_after_connect_closes,
    mqtt_3_3_2_2_publish_topic_with_wildcard_refused,
    client_sending_connack_is_protocol_violation,
    client_sending_suback_is_protocol_violation,
    mqtt_3_1_2_8_will_published_after_protocol_violation,
);

/// A 3.1.1 CONNECT with protocol name "MQTT" and level 6, byte by byte.
const CONNECT_LEVEL_6: &[u8] = &[
    0x10,
    0x0d, // CONNECT, remaining length 13
    0x00,
    0x04,
    b'M',
    b'Q',
    b'T',
    b'T',
    0x06, // protocol name "MQTT", level 6 (no such version)
    0b0000_0010,
    0x00,
    0x3c, // flags: clean session; keep alive 60 s
    0x00,
    0x01,
    b'd', // client id "d"
];

/// [MQTT-3.1.2-2] An unsupported protocol level gets CONNACK return code 0x01 (in the 3.1.1
/// form, which every client can read) and the connection is closed.
#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level_gets_connack_0x01() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V311, t0);
    client.send_raw(t0, CONNECT_LEVEL_6);
    let wire = client.recv_bytes(t0);
    assert_eq!(
        &wire[..],
        &[0x20, 0x02, 0x00, 0x01],
        "CONNACK, session present 0, return code 1"
    );
    assert!(matches!(
        client.expect_closed(),
        CloseReason::Refused {
            reason: ReasonCode::UnsupportedProtocolVersion,
            ..
        }
    ));
    assert_eq!(broker.session_count(), 0);
}

/// v5 §3.1.2.1 / §4.13: a packet larger than the Maximum Packet Size the server announced is
/// DISCONNECT 0x95 Packet too large.
#[test]
fn mqtt_3_2_2_3_6_packet_above_server_maximum_is_disconnect_0x95() {
    let broker = Broker::new(BrokerConfig {
        max_packet_size: NonZeroU32::new(128).unwrap(),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "t",
        QoS::AtMostOnce,
    );
    let (mut client, connack) = connect(&broker, t0, clean(ProtocolVersion::V5, "c"));
    assert_eq!(connack.properties.maximum_packet_size, NonZeroU32::new(128));
    client.send(
        t0,
        Packet::Publish(publish("t", &"x".repeat(300), QoS::AtMostOnce, 0)),
    );
    assert_eq!(client.recv_disconnect(t0), ReasonCode::PacketTooLarge);
    assert!(matches!(client.expect_closed(), CloseReason::Malformed(_)));
    sub.recv_nothing(t0);
}

/// v5 §4.13: on shutdown a v5 client is told DISCONNECT 0x8B Server shutting down, and the
/// operator sees `ServerShutdown`. (Whether the will is then published is not asserted here:
/// v5 §3.1.2.5 lists "the Server closes the Network Connection without first receiving a
/// DISCONNECT" among the cases that publish it, while this broker deliberately discards it.)
#[test]
fn shutdown_sends_disconnect_0x8b() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "dev"));
    client.conn.shutdown(t0);
    assert_eq!(client.recv_disconnect(t0), ReasonCode::ServerShuttingDown);
    let reason = client.expect_closed();
    assert_eq!(reason, CloseReason::ServerShutdown);
    assert_eq!(reason.id(), "broker.shutdown");
}

/// A CONNECT that announces `remaining` bytes at protocol level `level`, of which only the
/// first few arrive: the fixed header, "MQTT", the level and the flags.
fn connect_header_announcing(remaining: u32, level: u8) -> Vec<u8> {
    let mut bytes = vec![0x10];
    let mut n = remaining;
    loop {
        let mut byte = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            byte |= 0x80;
        }
        bytes.push(byte);
        if n == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&[0x00, 0x04, b'M', b'Q', b'T', b'T', level, 0b0000_0010]);
    bytes
}

/// Issue 9, defect 6: before CONNECT is accepted, a packet is limited to
/// `max_connect_packet_size`, checked from the fixed header before the body is buffered. A
/// v5 client announcing a 1 MiB CONNECT is refused at once with CONNACK 0x95 (v5 §3.2.2.2).
#[test]
fn issue_9_v5_connect_above_max_connect_packet_size_gets_connack_0x95() {
    let broker = broker();
    assert_eq!(broker.config().max_connect_packet_size.get(), 64 * 1024);
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V5, t0);
    client.send_raw(t0, &connect_header_announcing(1024 * 1024, 5));
    let packets = client.recv(t0);
    assert!(
        matches!(
            &packets[..],
            [Packet::ConnAck(ConnAck {
                reason: ReasonCode::PacketTooLarge,
                session_present: false,
                ..
            })]
        ),
        "{packets:?}"
    );
    match client.expect_closed() {
        CloseReason::Malformed(e) => assert_eq!(
            e.kind,
            DecodeErrorKind::PacketTooLarge {
                size: 1024 * 1024 + 4,
                max: 64 * 1024
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(broker.session_count(), 0);
}

/// The same for 3.1.1, which has no CONNACK code for it: the connection closes without one.
#[test]
fn issue_9_v311_connect_above_max_connect_packet_size_is_closed() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V311, t0);
    client.send_raw(t0, &connect_header_announcing(200_000, 4));
    client.recv_nothing(t0);
    assert!(matches!(
        client.expect_closed(),
        CloseReason::Malformed(e) if matches!(e.kind, DecodeErrorKind::PacketTooLarge { max: 65536, .. })
    ));
}

/// Once CONNECT is accepted the full `max_packet_size` applies, even to a packet that arrived
/// in the same read as the CONNECT.
#[test]
fn issue_9_packet_after_connect_in_the_same_read_gets_max_packet_size() {
    let broker = Broker::new(BrokerConfig {
        max_connect_packet_size: NonZeroU32::new(256).unwrap(),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V5, t0);
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "t",
        QoS::AtMostOnce,
    );
    let mut wire = bytes::BytesMut::new();
    Packet::Connect(clean(ProtocolVersion::V5, "big"))
        .encode(ProtocolVersion::V5, &mut wire)
        .unwrap();
    Packet::Publish(publish("t", &"x".repeat(10_000), QoS::AtMostOnce, 0))
        .encode(ProtocolVersion::V5, &mut wire)
        .unwrap();
    client.send_raw(t0, &wire);
    assert!(!client.conn.is_closed());
    assert_eq!(sub.recv_publish(t0).payload.len(), 10_000);
}
