//! MQTT 5.0 flow control and limits: Receive Maximum, Maximum Packet Size, topic aliases both
//! ways, message expiry, pass-through properties, assigned client identifiers; and the 3.1.1
//! client identifier rules next to their v5 counterpart.

use std::num::{NonZeroU16, NonZeroU32};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lantern_broker::{Broker, BrokerConfig, CloseReason, ConnEvent};
use lantern_codec::{
    Ack, Packet, ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode, UserProperty,
};

use crate::harness::*;

/// [MQTT-3.3.4-9] The server sends no more unacknowledged QoS 1/2 PUBLISH packets than the
/// client's Receive Maximum; the next one goes out once a PUBACK frees a slot.
#[test]
fn mqtt_3_3_4_9_client_receive_maximum_limits_inflight_deliveries() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("sub", true, 0, None);
    c.properties.receive_maximum = NonZeroU16::new(2);
    let mut sub = connect_ok(&broker, t0, c);
    sub.subscribe(t0, "t", QoS::AtLeastOnce);

    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    for payload in ["m1", "m2", "m3"] {
        publisher.publish_qos1(t0, "t", payload);
    }
    let first = sub.recv_publishes(t0);
    assert_eq!(
        payloads(&first),
        ["m1", "m2"],
        "only Receive Maximum (2) in flight"
    );
    sub.recv_nothing(t0);

    sub.send(t0, Packet::PubAck(Ack::new(first[0].packet_id.unwrap())));
    assert_eq!(
        payloads(&sub.recv_publishes(t0)),
        ["m3"],
        "a PUBACK frees one slot"
    );
}

/// The client's Receive Maximum also bounds QoS 2 flows, which occupy a slot until PUBCOMP.
#[test]
fn mqtt_3_3_4_9_receive_maximum_counts_qos2_until_pubcomp() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("sub", true, 0, None);
    c.properties.receive_maximum = NonZeroU16::new(1);
    let mut sub = connect_ok(&broker, t0, c);
    sub.subscribe(t0, "t", QoS::ExactlyOnce);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos2(t0, "t", "a");
    publisher.publish_qos2(t0, "t", "b");

    let got = sub.recv_publishes(t0);
    assert_eq!(payloads(&got), ["a"]);
    let id = got[0].packet_id.unwrap();
    sub.send(t0, Packet::PubRec(Ack::new(id)));
    assert!(
        matches!(sub.recv(t0).as_slice(), [Packet::PubRel(_)]),
        "PUBREL, and no new PUBLISH"
    );
    sub.send(t0, Packet::PubComp(Ack::new(id)));
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["b"]);
}

/// [MQTT-3.3.4-7]..: the server's Receive Maximum (announced in CONNACK) bounds the QoS 2
/// PUBLISH packets a client may leave unreleased; one more is DISCONNECT 0x93.
#[test]
fn mqtt_3_3_4_9_server_receive_maximum_exceeded_is_disconnect_0x93() {
    let broker = Broker::new(BrokerConfig {
        max_inflight: NonZeroU16::new(2).unwrap(),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let (mut client, connack) = connect(&broker, t0, clean(ProtocolVersion::V5, "c"));
    assert_eq!(connack.properties.receive_maximum, NonZeroU16::new(2));
    for id in 1..=2 {
        let packets = client.publish(t0, publish("t", "x", QoS::ExactlyOnce, id));
        assert!(matches!(packets.as_slice(), [Packet::PubRec(_)]));
    }
    client.send(t0, Packet::Publish(publish("t", "x", QoS::ExactlyOnce, 3)));
    assert_eq!(
        client.recv_disconnect(t0),
        ReasonCode::ReceiveMaximumExceeded
    );
    assert!(matches!(
        client.expect_closed(),
        CloseReason::ProtocolViolation {
            reason: ReasonCode::ReceiveMaximumExceeded,
            ..
        }
    ));
}

/// [MQTT-3.1.2-25] The server must not send a packet larger than the client's Maximum Packet
/// Size; the message is dropped for that client (as if delivered), later ones still arrive.
#[test]
fn mqtt_3_1_2_25_client_maximum_packet_size_drops_larger_messages() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("sub", true, 0, None);
    c.properties.maximum_packet_size = NonZeroU32::new(64);
    let mut sub = connect_ok(&broker, t0, c);
    sub.subscribe(t0, "t", QoS::AtLeastOnce);

    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos1(t0, "t", &"x".repeat(200));
    publisher.publish_qos1(t0, "t", "small");
    let wire = sub.recv_bytes(t0);
    assert!(
        wire.len() <= 64,
        "{} bytes sent in one PUBLISH to a 64-byte client",
        wire.len()
    );
    let mut wire = wire;
    let packet = lantern_codec::decode(
        &mut wire,
        ProtocolVersion::V5,
        &lantern_codec::Limits::default(),
    );
    match packet {
        Ok(Some(Packet::Publish(p))) => assert_eq!(payload(&p), "small"),
        other => panic!("expected the small PUBLISH only, got {other:#?}"),
    }
    assert!(wire.is_empty());
    assert!(!sub.conn.is_closed());
}

/// v5 §3.3.2.3.4: a client sets a topic alias with a topic name and then uses it with an
/// empty topic; subscribers see the full topic name, never the client's alias.
#[test]
fn mqtt_3_3_2_3_4_topic_alias_from_client_set_then_used() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "sensors/#",
        QoS::AtMostOnce,
    );
    let (mut publisher, connack) = connect(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    assert_eq!(connack.properties.topic_alias_maximum, Some(64));

    let mut first = publish("sensors/temp", "20", QoS::AtMostOnce, 0);
    first.properties.topic_alias = NonZeroU16::new(1);
    publisher.publish(t0, first);
    let mut second = publish("", "21", QoS::AtMostOnce, 0);
    second.properties.topic_alias = NonZeroU16::new(1);
    publisher.publish(t0, second);

    let got = sub.recv_publishes(t0);
    assert_eq!(payloads(&got), ["20", "21"]);
    for p in &got {
        assert_eq!(p.topic.as_str(), "sensors/temp");
        assert_eq!(
            p.properties.topic_alias, None,
            "the client's alias must not be forwarded"
        );
    }
    assert!(!publisher.conn.is_closed());
}

/// [MQTT-3.3.2-9] A topic alias above the Topic Alias Maximum the server announced is
/// DISCONNECT 0x94 Topic Alias invalid.
#[test]
fn mqtt_3_3_2_9_topic_alias_above_maximum_is_disconnect_0x94() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "#",
        QoS::AtMostOnce,
    );
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let mut p = publish("t", "x", QoS::AtMostOnce, 0);
    p.properties.topic_alias = NonZeroU16::new(65);
    publisher.send(t0, Packet::Publish(p));
    assert_eq!(publisher.recv_disconnect(t0), ReasonCode::TopicAliasInvalid);
    assert!(matches!(
        publisher.expect_closed(),
        CloseReason::ProtocolViolation {
            reason: ReasonCode::TopicAliasInvalid,
            ..
        }
    ));
    sub.recv_nothing(t0);
}

/// [MQTT-3.3.2-12]..: using an alias that was never set (empty topic) is a protocol error.
#[test]
fn mqtt_3_3_2_3_4_unset_topic_alias_is_protocol_error() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let mut p = publish("", "x", QoS::AtMostOnce, 0);
    p.properties.topic_alias = NonZeroU16::new(3);
    publisher.send(t0, Packet::Publish(p));
    assert_eq!(publisher.recv_disconnect(t0), ReasonCode::ProtocolError);
}

/// v5 §3.3.2.3.4 / [MQTT-3.3.2-11]: when the client announced a Topic Alias Maximum, the
/// server may replace a topic it already sent by an alias: first delivery topic + alias,
/// later ones an empty topic + the same alias; never more aliases than announced.
#[test]
fn mqtt_3_3_2_3_4_server_uses_topic_aliases_towards_client() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("sub", true, 0, None);
    c.properties.topic_alias_maximum = Some(1);
    let mut sub = connect_ok(&broker, t0, c);
    sub.subscribe(t0, "t/#", QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos0(t0, "t/a", "1");
    publisher.publish_qos0(t0, "t/a", "2");
    publisher.publish_qos0(t0, "t/b", "3");

    let got = sub.recv_publishes(t0);
    assert_eq!(payloads(&got), ["1", "2", "3"]);
    let alias1 = NonZeroU16::new(1);
    assert_eq!(
        (got[0].topic.as_str(), got[0].properties.topic_alias),
        ("t/a", alias1)
    );
    assert_eq!(
        (got[1].topic.as_str(), got[1].properties.topic_alias),
        ("", alias1)
    );
    // The only alias is taken: t/b is sent with its name and no (or a valid) alias.
    assert_eq!(got[2].topic.as_str(), "t/b");
    assert!(got[2].properties.topic_alias.is_none_or(|a| a.get() <= 1));
}

/// [MQTT-3.3.2-14]: without a Topic Alias Maximum from the client, the server sends no alias.
#[test]
fn mqtt_3_3_2_14_no_server_aliases_without_client_topic_alias_maximum() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "t",
        QoS::AtMostOnce,
    );
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos0(t0, "t", "1");
    publisher.publish_qos0(t0, "t", "2");
    for p in sub.recv_publishes(t0) {
        assert_eq!(p.topic.as_str(), "t");
        assert_eq!(p.properties.topic_alias, None);
    }
}

/// A persistent v5 subscriber that goes away at `t0`, a QoS 1 message with expiry 5 s
/// published at `t0`, and the subscriber back at `t0 + back_after`.
fn expiring_message_for_offline_session(back_after: Duration) -> Vec<Publish> {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0);

    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let mut p = publish("t", "expiring", QoS::AtLeastOnce, 1);
    p.properties.message_expiry_interval = Some(5);
    let packets = publisher.publish(t0, p);
    assert!(matches!(packets.as_slice(), [Packet::PubAck(_)]));

    let (mut sub, connack) = connect(
        &broker,
        t0 + back_after,
        persistent(ProtocolVersion::V5, "sub"),
    );
    assert!(connack.session_present);
    sub.recv_publishes(t0 + back_after)
}

/// [MQTT-3.3.2-5] A message whose expiry passed while queued is not delivered.
#[test]
fn mqtt_3_3_2_5_expired_message_not_delivered_to_reconnecting_session() {
    assert!(expiring_message_for_offline_session(secs(6)).is_empty());
    assert!(
        expiring_message_for_offline_session(secs(5)).is_empty(),
        "expired exactly at 5 s"
    );
}

/// [MQTT-3.3.2-6] A message delivered before it expires carries the time left, rounded up to
/// whole seconds.
#[test]
fn mqtt_3_3_2_6_message_expiry_forwarded_as_remaining_time() {
    let got = expiring_message_for_offline_session(secs(2));
    assert_eq!(payloads(&got), ["expiring"]);
    assert_eq!(got[0].properties.message_expiry_interval, Some(3));

    let got = expiring_message_for_offline_session(millis(1_500));
    assert_eq!(
        got[0].properties.message_expiry_interval,
        Some(4),
        "3.5 s rounds up to 4"
    );
}

/// [MQTT-3.3.2-4], [MQTT-3.3.2-15..20] User properties (in order), content type, response
/// topic, correlation data and the payload format indicator reach the subscriber unchanged.
#[test]
fn mqtt_3_3_2_17_pass_through_properties_reach_subscriber_unchanged() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "req",
        QoS::AtLeastOnce,
    );
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let props = PublishProperties {
        payload_format_indicator: Some(true),
        response_topic: Some(mstr("reply/here")),
        correlation_data: Some(Bytes::from_static(&[0x01, 0x00, 0xff])),
        user_properties: vec![
            UserProperty {
                key: mstr("k"),
                value: mstr("v1"),
            },
            UserProperty {
                key: mstr("a"),
                value: mstr("b"),
            },
            UserProperty {
                key: mstr("k"),
                value: mstr("v2"),
            },
        ],
        content_type: Some(mstr("application/json")),
        ..PublishProperties::default()
    };
    let mut p = publish("req", "{}", QoS::AtLeastOnce, 1);
    p.properties = props.clone();
    publisher.publish(t0, p);

    let got = sub.recv_publishes(t0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].properties, props);
}

/// [MQTT-3.1.3-6], [MQTT-3.2.2-16] v5: an empty client id gets a unique identifier from the
/// server, returned as Assigned Client Identifier; the session is kept under it.
#[test]
fn mqtt_3_2_2_16_empty_client_id_gets_assigned_identifier() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut a, connack_a) = connect(&broker, t0, clean(ProtocolVersion::V5, ""));
    assert_eq!(connack_a.reason, ReasonCode::Success);
    let assigned = connack_a
        .properties
        .assigned_client_identifier
        .clone()
        .expect("Assigned Client Identifier in CONNACK");
    assert!(!assigned.is_empty());
    assert!(broker.session(assigned.as_str()).is_some());
    assert!(matches!(
        a.connected_event(),
        Some(ConnEvent::Connected { client_id, .. }) if &*client_id == assigned.as_str()
    ));

    let (_b, connack_b) = connect(&broker, t0, clean(ProtocolVersion::V5, ""));
    let other = connack_b
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    assert_ne!(assigned, other, "assigned identifiers must be unique");
    assert_eq!(broker.session_count(), 2);
}

/// [MQTT-3.1.3-8] 3.1.1: an empty client id with clean session 0 is refused with CONNACK
/// return code 0x02 (Identifier rejected) and the connection closed.
#[test]
fn v311_mqtt_3_1_3_8_empty_client_id_with_clean_session_0_refused() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V311, t0);
    client.send(t0, Packet::Connect(connect_v311("", false, 0)));
    let wire = client.recv_bytes(t0);
    assert_eq!(
        &wire[..],
        &[0x20, 0x02, 0x00, 0x02],
        "CONNACK, session present 0, return code 2"
    );

    let mut wire = wire;
    match lantern_codec::decode(
        &mut wire,
        ProtocolVersion::V311,
        &lantern_codec::Limits::default(),
    ) {
        Ok(Some(Packet::ConnAck(connack))) => {
            assert_eq!(connack.reason, ReasonCode::ClientIdentifierNotValid)
        }
        other => panic!("expected CONNACK, got {other:#?}"),
    }
    assert!(matches!(
        client.expect_closed(),
        CloseReason::Refused {
            reason: ReasonCode::ClientIdentifierNotValid,
            ..
        }
    ));
    assert_eq!(broker.session_count(), 0);
}

/// [MQTT-3.1.3-6] 3.1.1: an empty client id with clean session 1 is accepted.
#[test]
fn v311_mqtt_3_1_3_6_empty_client_id_with_clean_session_1_accepted() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut client, connack) = connect(&broker, t0, connect_v311("", true, 0));
    assert_eq!(connack.reason, ReasonCode::Success);
    assert!(!connack.session_present);
    assert_eq!(broker.session_count(), 1);
    client.subscribe(t0, "t", QoS::AtMostOnce);
}

/// [MQTT-3.14.2-3] The Reason String must not be sent if it would make the DISCONNECT larger
/// than the client's Maximum Packet Size; more generally the server must never send a packet
/// above it [MQTT-3.1.2-24].
#[test]
fn mqtt_3_14_2_3_disconnect_reason_string_respects_client_maximum_packet_size() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("dev", true, 10, None);
    c.properties.maximum_packet_size = NonZeroU32::new(32);
    let mut client = connect_ok(&broker, t0, c);
    client.conn.handle_timeout(t0 + secs(15));
    assert!(client.conn.is_closed());
    let mut wire = client.recv_bytes(t0 + secs(15));
    assert!(
        wire.len() <= 32,
        "DISCONNECT of {} bytes sent to a client whose Maximum Packet Size is 32",
        wire.len()
    );
    match lantern_codec::decode(
        &mut wire,
        ProtocolVersion::V5,
        &lantern_codec::Limits::default(),
    ) {
        Ok(Some(Packet::Disconnect(d))) => assert_eq!(d.reason, ReasonCode::KeepAliveTimeout),
        other => panic!("expected DISCONNECT, got {other:#?}"),
    }
}

/// [MQTT-3.1.2-24] Adding a Topic Alias property makes a PUBLISH 3 bytes longer; a message
/// that fits the client's Maximum Packet Size without the alias must not be sent above it
/// with one (send it without the alias, or drop it — never exceed the limit).
#[test]
fn mqtt_3_1_2_24_topic_alias_never_pushes_publish_over_client_maximum_packet_size() {
    let max = 64u32;
    // The payload length that makes a QoS 0 PUBLISH on "t" exactly `max` bytes.
    let fits = (0..max as usize)
        .find(|&n| {
            publish("t", &"x".repeat(n), QoS::AtMostOnce, 0).encoded_len(ProtocolVersion::V5)
                == max as usize
        })
        .expect("some payload length fits exactly");

    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("sub", true, 0, None);
    c.properties.maximum_packet_size = NonZeroU32::new(max);
    c.properties.topic_alias_maximum = Some(4);
    let mut sub = connect_ok(&broker, t0, c);
    sub.subscribe(t0, "t", QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos0(t0, "t", &"x".repeat(fits));

    let wire = sub.recv_bytes(t0);
    assert!(
        wire.len() <= max as usize,
        "PUBLISH of {} bytes sent to a client whose Maximum Packet Size is {max}",
        wire.len()
    );
}

/// v5 §3.3.2.3.4: topic alias mappings belong to one network connection; a resumed session
/// starts with none, so using an alias set on the previous connection is a protocol error.
#[test]
fn mqtt_3_3_2_3_4_topic_aliases_do_not_survive_reconnect() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "pub"));
    let mut set = publish("a/b", "1", QoS::AtMostOnce, 0);
    set.properties.topic_alias = NonZeroU16::new(1);
    publisher.publish(t0, set);
    publisher.conn.handle_peer_closed(t0);

    let (mut publisher, connack) = connect(&broker, t0, persistent(ProtocolVersion::V5, "pub"));
    assert!(connack.session_present);
    let mut reuse = publish("", "2", QoS::AtMostOnce, 0);
    reuse.properties.topic_alias = NonZeroU16::new(1);
    publisher.send(t0, Packet::Publish(reuse));
    assert_eq!(publisher.recv_disconnect(t0), ReasonCode::ProtocolError);
}

/// The broker → client aliases also start afresh on a new connection: the first delivery
/// after a reconnect carries the topic name again.
#[test]
fn mqtt_3_3_2_3_4_server_aliases_restart_on_new_connection() {
    let broker = broker();
    let t0 = Instant::now();
    let with_aliases = || {
        let mut c = persistent(ProtocolVersion::V5, "sub");
        c.properties.topic_alias_maximum = Some(4);
        c
    };
    let mut sub = connect_ok(&broker, t0, with_aliases());
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos1(t0, "t", "1");
    let got = sub.recv_publishes(t0);
    sub.send(t0, Packet::PubAck(Ack::new(got[0].packet_id.unwrap())));
    sub.conn.handle_peer_closed(t0);

    let mut sub = connect_ok(&broker, t0 + secs(1), with_aliases());
    publisher.publish_qos1(t0 + secs(1), "t", "2");
    let got = sub.recv_publishes(t0 + secs(1));
    assert_eq!(payloads(&got), ["2"]);
    assert_eq!(
        got[0].topic.as_str(),
        "t",
        "the new connection knows no alias yet"
    );
}

/// `poll_transmit` returns true when one batch is full; the driver writes and calls again.
/// A burst larger than one batch arrives complete and in order.
#[test]
fn large_burst_is_delivered_across_transmit_batches_in_order() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "sub",
        "t",
        QoS::AtMostOnce,
    );
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let body = "x".repeat(1000);
    for n in 0..200 {
        publisher.publish_qos0(t0, "t", &format!("{n:03}{body}"));
    }
    let got = sub.recv_publishes(t0);
    assert_eq!(got.len(), 200);
    for (n, p) in got.iter().enumerate() {
        assert!(
            payload(p).starts_with(&format!("{n:03}")),
            "message {n} out of order"
        );
    }
}

/// Found by the `server_conn_ops` fuzz target: a session with three deliveries in flight,
/// resumed by a v5 connection with Receive Maximum 1, had all three re-sent at once
/// [MQTT-3.3.4-9]. They are re-sent one at a time (DUP, same packet ids, original order), each
/// PUBACK making room for the next, and a new message waits behind them.
#[test]
fn issue_9_fuzz_resumed_inflight_respects_the_new_receive_maximum() {
    let broker = broker();
    let t0 = Instant::now();
    let mut first = connect_ok(&broker, t0, persistent(ProtocolVersion::V311, "dev"));
    first.subscribe(t0, "t", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    for payload in ["m1", "m2", "m3"] {
        publisher.publish_qos1(t0, "t", payload);
    }
    let delivered = first.recv_publishes(t0);
    assert_eq!(payloads(&delivered), ["m1", "m2", "m3"]);

    let t1 = t0 + secs(1);
    let mut c = connect_v5("dev", false, 0, Some(60));
    c.properties.receive_maximum = NonZeroU16::new(1);
    let (mut second, connack) = connect(&broker, t1, c);
    assert!(connack.session_present);
    publisher.publish_qos1(t1, "t", "m4");
    for (i, expected) in ["m1", "m2", "m3"].into_iter().enumerate() {
        let again = second.recv_publishes(t1);
        assert_eq!(
            payloads(&again),
            [expected],
            "one flow at a time (step {i})"
        );
        assert!(again[0].dup);
        assert_eq!(again[0].packet_id, delivered[i].packet_id);
        second.recv_nothing(t1);
        second.send(
            t1,
            Packet::PubAck(Ack::new(delivered[i].packet_id.unwrap())),
        );
    }
    let new = second.recv_publishes(t1);
    assert_eq!(payloads(&new), ["m4"]);
    assert!(!new[0].dup);
}
