//! QoS 1 and 2 flows, and what survives a lost connection: exactly once across a reconnect in
//! both directions, and re-delivery of unacknowledged messages [MQTT-4.4.0-1].

use std::time::Instant;

use lantern_codec::{Ack, Packet, ProtocolVersion, Publish, QoS, ReasonCode};

use crate::harness::*;

/// v5 §4.3.3 (method B) / 3.1.1 §4.3.3: the receiver of a QoS 2 PUBLISH must not route it
/// again until it has seen the PUBREL, even when the sender re-sends the PUBLISH (DUP) on a new
/// connection of the same session. The subscriber sees the message exactly once.
fn mqtt_4_3_3_inbound_qos2_exactly_once_across_reconnect(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "t", QoS::ExactlyOnce);
    let mut publisher = connect_ok(&broker, t0, persistent(version, "pub"));

    // PUBLISH id 7 → PUBREC 7; the message is routed now (method B).
    let packets = publisher.publish(t0, publish("t", "once", QoS::ExactlyOnce, 7));
    assert!(
        matches!(packets.as_slice(), [Packet::PubRec(a)] if a.packet_id == pid(7) && a.reason == ReasonCode::Success),
        "expected PUBREC 7, got {packets:#?}"
    );
    let first = sub.recv_publishes(t0);
    assert_eq!(payloads(&first), ["once"]);

    // The connection drops before PUBREL arrives.
    publisher.conn.handle_peer_closed(t0 + secs(1));

    // The publisher reconnects to its session and re-sends PUBLISH 7 with DUP set.
    let (mut publisher, connack) = connect(&broker, t0 + secs(2), persistent(version, "pub"));
    assert!(
        connack.session_present,
        "the publisher's session was not kept"
    );
    publisher.recv_nothing(t0 + secs(2));
    let resent = Publish {
        dup: true,
        ..publish("t", "once", QoS::ExactlyOnce, 7)
    };
    let packets = publisher.publish(t0 + secs(2), resent);
    assert!(
        matches!(packets.as_slice(), [Packet::PubRec(a)] if a.packet_id == pid(7)),
        "expected PUBREC 7 for the re-sent PUBLISH, got {packets:#?}"
    );
    sub.recv_nothing(t0 + secs(2)); // not routed a second time

    // PUBREL 7 → PUBCOMP 7 (Success: the id was known).
    publisher.send(t0 + secs(3), Packet::PubRel(Ack::new(pid(7))));
    let packets = publisher.recv(t0 + secs(3));
    assert!(
        matches!(packets.as_slice(), [Packet::PubComp(a)] if a.packet_id == pid(7) && a.reason == ReasonCode::Success),
        "expected PUBCOMP 7, got {packets:#?}"
    );
    sub.recv_nothing(t0 + secs(3));

    // The id is free again: a new PUBLISH 7 is a new message.
    let packets = publisher.publish(t0 + secs(4), publish("t", "twice", QoS::ExactlyOnce, 7));
    assert!(matches!(packets.as_slice(), [Packet::PubRec(_)]));
    assert_eq!(payloads(&sub.recv_publishes(t0 + secs(4))), ["twice"]);
}

/// A persistent QoS 2 subscriber and one delivered PUBLISH; returns the subscriber and the
/// PUBLISH it received.
fn qos2_delivery(
    broker: &std::sync::Arc<lantern_broker::Broker>,
    t0: Instant,
    version: ProtocolVersion,
    qos: QoS,
) -> (Client, Publish) {
    let mut sub = connect_ok(broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "t", qos);
    let mut publisher = connect_ok(broker, t0, clean(version, "pub"));
    match qos {
        QoS::ExactlyOnce => publisher.publish_qos2(t0, "t", "m"),
        _ => publisher.publish_qos1(t0, "t", "m"),
    }
    let publishes = sub.recv_publishes(t0);
    assert_eq!(publishes.len(), 1);
    let delivered = publishes.into_iter().next().unwrap();
    assert_eq!(delivered.qos, qos);
    assert!(
        !delivered.dup,
        "first delivery must have DUP 0 [MQTT-3.3.1-1]"
    );
    assert!(delivered.packet_id.is_some());
    (sub, delivered)
}

/// [MQTT-4.4.0-1] (v5) / [MQTT-4.4.0-1] (3.1.1): after PUBREC the sender has released the
/// message; on reconnect it re-sends the PUBREL, never the PUBLISH again.
fn mqtt_4_4_0_1_outbound_qos2_resends_pubrel_not_publish(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut sub, delivered) = qos2_delivery(&broker, t0, version, QoS::ExactlyOnce);
    let id = delivered.packet_id.unwrap();

    sub.send(t0 + secs(1), Packet::PubRec(Ack::new(id)));
    let packets = sub.recv(t0 + secs(1));
    assert!(
        matches!(packets.as_slice(), [Packet::PubRel(a)] if a.packet_id == id),
        "expected PUBREL {id}, got {packets:#?}"
    );

    // Lost before PUBCOMP.
    sub.conn.handle_peer_closed(t0 + secs(2));
    let (mut sub, connack) = connect(&broker, t0 + secs(3), persistent(version, "sub"));
    assert!(connack.session_present);
    let packets = sub.recv(t0 + secs(3));
    assert!(
        matches!(packets.as_slice(), [Packet::PubRel(a)] if a.packet_id == id),
        "expected only PUBREL {id} on reconnect, got {packets:#?}"
    );

    // PUBCOMP ends the flow: nothing is re-sent on the next reconnect.
    sub.send(t0 + secs(3), Packet::PubComp(Ack::new(id)));
    sub.recv_nothing(t0 + secs(3));
    sub.conn.handle_peer_closed(t0 + secs(4));
    let (mut sub, _) = connect(&broker, t0 + secs(5), persistent(version, "sub"));
    sub.recv_nothing(t0 + secs(5));
}

/// [MQTT-4.4.0-1] A QoS 2 PUBLISH not yet acknowledged with PUBREC is re-sent on reconnect
/// with DUP 1 [MQTT-3.3.1-1] and the same packet identifier; the flow then completes.
fn mqtt_4_4_0_1_outbound_qos2_resends_publish_with_dup_before_pubrec(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut sub, delivered) = qos2_delivery(&broker, t0, version, QoS::ExactlyOnce);
    let id = delivered.packet_id.unwrap();

    sub.conn.handle_peer_closed(t0 + secs(1));
    let (mut sub, connack) = connect(&broker, t0 + secs(2), persistent(version, "sub"));
    assert!(connack.session_present);
    let publishes = sub.recv_publishes(t0 + secs(2));
    assert_eq!(
        publishes.len(),
        1,
        "expected the PUBLISH again, got {publishes:#?}"
    );
    let again = &publishes[0];
    assert!(again.dup, "re-sent PUBLISH must have DUP 1");
    assert_eq!(
        again.packet_id,
        Some(id),
        "re-sent PUBLISH must keep its packet id"
    );
    assert_eq!(again.qos, QoS::ExactlyOnce);
    assert_eq!(again.topic.as_str(), "t");
    assert_eq!(payload(again), "m");

    sub.send(t0 + secs(2), Packet::PubRec(Ack::new(id)));
    assert!(matches!(sub.recv(t0 + secs(2)).as_slice(), [Packet::PubRel(a)] if a.packet_id == id));
    sub.send(t0 + secs(2), Packet::PubComp(Ack::new(id)));
    sub.recv_nothing(t0 + secs(2));
}

/// [MQTT-4.4.0-1] A QoS 1 PUBLISH without PUBACK is re-sent with DUP 1 and the same id; after
/// the PUBACK it is gone for good.
fn mqtt_4_4_0_1_outbound_qos1_resends_publish_with_dup(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut sub, delivered) = qos2_delivery(&broker, t0, version, QoS::AtLeastOnce);
    let id = delivered.packet_id.unwrap();

    sub.conn.handle_peer_closed(t0 + secs(1));
    let (mut sub, connack) = connect(&broker, t0 + secs(2), persistent(version, "sub"));
    assert!(connack.session_present);
    let publishes = sub.recv_publishes(t0 + secs(2));
    assert_eq!(
        publishes.len(),
        1,
        "expected the PUBLISH again, got {publishes:#?}"
    );
    assert!(publishes[0].dup);
    assert_eq!(publishes[0].packet_id, Some(id));
    assert_eq!(publishes[0].qos, QoS::AtLeastOnce);

    sub.send(t0 + secs(2), Packet::PubAck(Ack::new(id)));
    sub.conn.handle_peer_closed(t0 + secs(3));
    let (mut sub, _) = connect(&broker, t0 + secs(4), persistent(version, "sub"));
    sub.recv_nothing(t0 + secs(4));
}

/// [MQTT-4.6.0-2..4] Re-sent messages keep their order, ahead of messages queued while the
/// client was away.
fn mqtt_4_6_0_resent_messages_come_before_queued_ones(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut sub, delivered) = qos2_delivery(&broker, t0, version, QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0 + secs(1));

    let mut publisher = connect_ok(&broker, t0 + secs(1), clean(version, "pub2"));
    publisher.publish_qos1(t0 + secs(1), "t", "queued");

    let (mut sub, _) = connect(&broker, t0 + secs(2), persistent(version, "sub"));
    let publishes = sub.recv_publishes(t0 + secs(2));
    assert_eq!(payloads(&publishes), ["m", "queued"]);
    assert!(publishes[0].dup);
    assert_eq!(publishes[0].packet_id, delivered.packet_id);
    assert!(!publishes[1].dup);
    assert_ne!(
        publishes[1].packet_id, delivered.packet_id,
        "packet id reused while in flight"
    );
}

both_versions!(
    mqtt_4_3_3_inbound_qos2_exactly_once_across_reconnect,
    mqtt_4_4_0_1_outbound_qos2_resends_pubrel_not_publish,
    mqtt_4_4_0_1_outbound_qos2_resends_publish_with_dup_before_pubrec,
    mqtt_4_4_0_1_outbound_qos1_resends_publish_with_dup,
    mqtt_4_6_0_resent_messages_come_before_queued_ones,
);

/// v5 §3.6.2.1: PUBREL for a packet id the server does not know gets PUBCOMP 0x92.
#[test]
fn mqtt_3_7_2_1_pubrel_for_unknown_id_gets_pubcomp_0x92() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "c"));
    client.send(t0, Packet::PubRel(Ack::new(pid(42))));
    let packets = client.recv(t0);
    assert!(
        matches!(packets.as_slice(), [Packet::PubComp(a)] if a.packet_id == pid(42) && a.reason == ReasonCode::PacketIdentifierNotFound),
        "got {packets:#?}"
    );
    assert!(!client.conn.is_closed());
}

/// v5 §3.4.2.1: PUBACK says 0x10 No matching subscribers when nobody is subscribed.
#[test]
fn mqtt_3_4_2_1_puback_no_matching_subscribers() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "c"));
    let packets = client.publish(t0, publish("nobody/listens", "x", QoS::AtLeastOnce, 3));
    assert!(
        matches!(packets.as_slice(), [Packet::PubAck(a)] if a.reason == ReasonCode::NoMatchingSubscribers),
        "got {packets:#?}"
    );
}

/// The story's packet counts: control packets and deliveries are both counted, in order.
fn packet_counts_cover_control_packets_and_deliveries(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, clean(version, "counted"));
    sub.subscribe(t0, "c/#", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..3 {
        publisher.publish_qos0(t0, "c/x", &format!("m{i}"));
    }
    assert_eq!(sub.recv_publishes(t0).len(), 3);
    let stats = sub.conn.stats();
    // CONNACK + SUBACK + 3 PUBLISH out; CONNECT + SUBSCRIBE in.
    assert_eq!(stats.packets_out, 5, "{stats:?}");
    assert_eq!(stats.last_out, Some(lantern_codec::PacketType::Publish));
    assert_eq!(stats.packets_in, 2, "{stats:?}");
    assert_eq!(stats.last_in, Some(lantern_codec::PacketType::Subscribe));
}

both_versions!(packet_counts_cover_control_packets_and_deliveries);
