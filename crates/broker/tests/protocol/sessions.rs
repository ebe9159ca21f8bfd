//! Sessions: what is kept while the client is away, clean start, session expiry, and client
//! takeover (v5 §3.1.2.4, §3.1.2.11, §4.1; 3.1.1 §3.1.2.4).

use std::time::Instant;

use lantern_broker::{CloseReason, ConnEvent};
use lantern_codec::{Disconnect, DisconnectProperties, Packet, ProtocolVersion, QoS, ReasonCode};

use crate::harness::*;

/// [MQTT-3.1.2-5] (3.1.1) / v5 §3.1.2.4, §4.1: a persistent session keeps the subscriptions
/// and queues QoS 1 and 2 messages while the client is away; QoS 0 messages are not kept
/// (v5 §3.1.2.4 lets the server drop them; this broker does). On reconnect CONNACK says
/// session present [MQTT-3.2.2-2] and the queued messages follow, in order.
fn mqtt_3_1_2_5_persistent_session_queues_qos1_and_qos2_while_offline(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "t/#", QoS::ExactlyOnce);
    sub.conn.handle_peer_closed(t0 + secs(1));
    assert!(broker.session("sub").is_some_and(|s| !s.is_online()));
    assert_eq!(
        broker.subscription_count(),
        1,
        "the subscription outlives the connection"
    );

    let mut publisher = connect_ok(&broker, t0 + secs(2), clean(version, "pub"));
    publisher.publish_qos0(t0 + secs(2), "t/0", "qos0");
    publisher.publish_qos1(t0 + secs(2), "t/1", "qos1");
    publisher.publish_qos2(t0 + secs(2), "t/2", "qos2");
    assert_eq!(
        broker.session("sub").unwrap().queued(),
        2,
        "QoS 1 and 2 queued, QoS 0 not"
    );

    let (mut sub, connack) = connect(&broker, t0 + secs(3), persistent(version, "sub"));
    assert_eq!(connack.reason, ReasonCode::Success);
    assert!(connack.session_present, "CONNACK session present must be 1");
    assert!(matches!(
        sub.connected_event(),
        Some(ConnEvent::Connected {
            session_present: true,
            ..
        })
    ));
    let publishes = sub.recv_publishes(t0 + secs(3));
    assert_eq!(payloads(&publishes), ["qos1", "qos2"]);
    assert_eq!(publishes[0].qos, QoS::AtLeastOnce);
    assert_eq!(publishes[1].qos, QoS::ExactlyOnce);
    assert!(
        publishes.iter().all(|p| !p.dup),
        "never sent before, so DUP 0"
    );
}

/// [MQTT-3.1.2-4] (v5 [MQTT-3.1.2-4]) Clean session / clean start 1 discards the existing
/// session: session present 0 [MQTT-3.2.2-1 / -2], and its subscriptions are gone.
fn mqtt_3_1_2_4_clean_start_discards_existing_session(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0 + secs(1));

    let mut publisher = connect_ok(&broker, t0 + secs(1), clean(version, "pub"));
    publisher.publish_qos1(t0 + secs(1), "t", "for the old session");

    let (mut sub, connack) = connect(&broker, t0 + secs(2), clean(version, "sub"));
    assert!(
        !connack.session_present,
        "clean start must not resume the session"
    );
    sub.recv_nothing(t0 + secs(2)); // the queued message went with the old session
    assert_eq!(
        broker.subscription_count(),
        0,
        "old subscriptions must be removed"
    );

    publisher.publish_qos1(t0 + secs(3), "t", "after");
    sub.recv_nothing(t0 + secs(3));
}

/// 3.1.1 §3.1.2.4: a clean session 0 session lasts until a clean session 1 connection ends it;
/// there is no expiry, and the broker schedules none.
#[test]
fn v311_clean_session_0_session_never_expires() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, persistent(ProtocolVersion::V311, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0);
    assert_eq!(
        broker.tick(t0 + secs(400 * 86_400)),
        None,
        "no timer for a 3.1.1 session"
    );
    assert!(broker.session("sub").is_some());
    let (_sub, connack) = connect(
        &broker,
        t0 + secs(400 * 86_400),
        persistent(ProtocolVersion::V311, "sub"),
    );
    assert!(connack.session_present);
}

/// [MQTT-3.1.2-23] v5: the session ends exactly Session Expiry Interval seconds after the
/// connection closed, with its subscriptions; not before.
#[test]
fn mqtt_3_1_2_23_session_expires_after_interval() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, connect_v5("sub", true, 0, Some(10)));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0);

    assert_eq!(broker.tick(t0 + millis(9_999)), Some(t0 + secs(10)));
    assert!(
        broker.session("sub").is_some(),
        "session ended before its expiry"
    );
    assert_eq!(broker.subscription_count(), 1);

    broker.tick(t0 + secs(10));
    assert!(
        broker.session("sub").is_none(),
        "session still there at its expiry"
    );
    assert_eq!(broker.session_count(), 0);
    assert_eq!(broker.subscription_count(), 0);

    let (_sub, connack) = connect(
        &broker,
        t0 + secs(11),
        connect_v5("sub", false, 0, Some(10)),
    );
    assert!(!connack.session_present);
}

/// v5 §3.1.2.11.2: a reconnection before the expiry keeps the session, and the old expiry
/// timer does not end the session of the new connection.
#[test]
fn mqtt_3_1_2_23_reconnect_before_expiry_keeps_session() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, connect_v5("sub", true, 0, Some(10)));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0);

    let (_sub, connack) = connect(&broker, t0 + secs(5), connect_v5("sub", false, 0, Some(10)));
    assert!(connack.session_present);
    broker.tick(t0 + secs(30));
    assert!(broker.session("sub").is_some_and(|s| s.is_online()));
    assert_eq!(broker.subscription_count(), 1);
}

/// v5 §3.1.2.11.2: with no Session Expiry Interval (0) the session ends with the connection;
/// 3.1.1 clean session 1 likewise.
fn mqtt_3_1_2_11_session_expiry_zero_ends_session_with_connection(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, clean(version, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    assert_eq!(broker.session_count(), 1);
    sub.conn.handle_peer_closed(t0);
    assert_eq!(broker.session_count(), 0);
    assert_eq!(broker.subscription_count(), 0);
}

both_versions!(
    mqtt_3_1_2_5_persistent_session_queues_qos1_and_qos2_while_offline,
    mqtt_3_1_2_4_clean_start_discards_existing_session,
    mqtt_3_1_2_11_session_expiry_zero_ends_session_with_connection,
);

fn disconnect_with_expiry(expiry: u32) -> Packet {
    Packet::Disconnect(Disconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        properties: DisconnectProperties {
            session_expiry_interval: Some(expiry),
            ..DisconnectProperties::default()
        },
    })
}

/// v5 §3.14.2.2.2: DISCONNECT may change the Session Expiry Interval; here it lowers 60 to 5.
#[test]
fn mqtt_3_14_2_2_disconnect_lowers_session_expiry() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_v5("c", true, 0, Some(60)));
    client.send(t0, disconnect_with_expiry(5));
    assert!(client.expect_closed().is_normal());

    broker.tick(t0 + millis(4_999));
    assert!(broker.session("c").is_some());
    broker.tick(t0 + secs(5));
    assert!(
        broker.session("c").is_none(),
        "DISCONNECT lowered the expiry to 5 s"
    );
}

/// v5 §3.14.2.2.2: DISCONNECT may also set the expiry to 0, ending the session at once.
#[test]
fn mqtt_3_14_2_2_disconnect_sets_session_expiry_zero() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_v5("c", true, 0, Some(60)));
    client.send(t0, disconnect_with_expiry(0));
    assert!(client.conn.is_closed());
    assert!(broker.session("c").is_none());
}

/// [MQTT-3.14.2-2] v5: raising the expiry from 0 at DISCONNECT is a protocol error; the
/// server answers DISCONNECT 0x82 and the session still ends with the connection.
#[test]
fn mqtt_3_14_2_2_disconnect_cannot_raise_session_expiry_from_zero() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_v5("c", true, 0, None));
    client.send(t0, disconnect_with_expiry(30));
    assert_eq!(client.recv_disconnect(t0), ReasonCode::ProtocolError);
    assert!(matches!(
        client.expect_closed(),
        CloseReason::ProtocolViolation {
            reason: ReasonCode::ProtocolError,
            ..
        }
    ));
    assert!(
        broker.session("c").is_none(),
        "the session kept the forbidden expiry"
    );
    assert_eq!(broker.tick(t0 + secs(30)), None);
}

/// v5 §3.2.2.3.2: a server maximum for the session expiry is applied and announced in CONNACK.
#[test]
fn mqtt_3_2_2_3_2_session_expiry_capped_by_server_and_announced() {
    let broker = lantern_broker::Broker::new(lantern_broker::BrokerConfig {
        max_session_expiry: Some(20),
        ..lantern_broker::BrokerConfig::default()
    });
    let t0 = Instant::now();
    let (mut client, connack) = connect(&broker, t0, connect_v5("c", true, 0, Some(3600)));
    assert_eq!(connack.properties.session_expiry_interval, Some(20));
    client.conn.handle_peer_closed(t0);
    broker.tick(t0 + millis(19_999));
    assert!(broker.session("c").is_some());
    broker.tick(t0 + secs(20));
    assert!(broker.session("c").is_none());
}

/// [MQTT-3.1.4-3] A second connection with the same client id takes the session over: the
/// first connection is woken, closes on its next `poll_transmit` with `TakenOver`, and a v5
/// client is told DISCONNECT 0x8E. With clean start 0 the session continues, with its
/// subscriptions, for the new connection only.
fn mqtt_3_1_4_3_client_takeover_closes_existing_connection(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut first = connect_ok(&broker, t0, persistent(version, "dev"));
    first.subscribe(t0, "t", QoS::AtLeastOnce);
    first.flag.take();

    let (mut second, connack) = connect(&broker, t0 + secs(1), persistent(version, "dev"));
    assert_eq!(connack.reason, ReasonCode::Success);
    assert!(
        connack.session_present,
        "clean start 0 continues the session"
    );
    assert!(first.flag.take(), "the first connection was not woken");
    assert!(
        !first.conn.is_closed(),
        "closes on its next poll, not synchronously"
    );

    let packets = first.recv(t0 + secs(1));
    if version.is_v5() {
        assert!(
            matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::SessionTakenOver),
            "expected DISCONNECT 0x8E, got {packets:#?}"
        );
    } else {
        assert!(
            packets.is_empty(),
            "3.1.1 has no server DISCONNECT, got {packets:#?}"
        );
    }
    let reason = first.expect_closed();
    assert_eq!(reason, CloseReason::TakenOver);
    assert_eq!(reason.id(), "session.taken_over");

    // The session (and its subscription) belongs to the new connection.
    assert_eq!(broker.session_count(), 1);
    assert_eq!(broker.subscription_count(), 1);
    assert!(broker.session("dev").is_some_and(|s| s.is_online()));
    let mut publisher = connect_ok(&broker, t0 + secs(2), clean(version, "pub"));
    publisher.publish_qos1(t0 + secs(2), "t", "to the new connection");
    assert_eq!(
        payloads(&second.recv_publishes(t0 + secs(2))),
        ["to the new connection"]
    );
    first.recv_nothing(t0 + secs(2));

    // The old connection's end does not end or detach the session it lost.
    first.conn.handle_peer_closed(t0 + secs(3));
    assert!(broker.session("dev").is_some_and(|s| s.is_online()));
}

/// [MQTT-3.1.4-3] with clean start 1 on the new connection: the old one is still closed, and
/// the session starts afresh.
fn mqtt_3_1_4_3_takeover_with_clean_start_discards_session(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut first = connect_ok(&broker, t0, persistent(version, "dev"));
    first.subscribe(t0, "t", QoS::AtLeastOnce);

    let (_second, connack) = connect(&broker, t0 + secs(1), clean(version, "dev"));
    assert!(!connack.session_present);
    first.recv(t0 + secs(1));
    assert_eq!(first.expect_closed(), CloseReason::TakenOver);
    assert_eq!(broker.subscription_count(), 0);
    assert_eq!(broker.session_count(), 1);
}

both_versions!(
    mqtt_3_1_4_3_client_takeover_closes_existing_connection,
    mqtt_3_1_4_3_takeover_with_clean_start_discards_session,
);

/// Tenet 3 (bounded by construction) and v5 §3.1.2.11.2: the broker's maximum session expiry
/// also bounds a Session Expiry Interval set at DISCONNECT, or any client could keep its
/// session for up to 136 years by saying so on the way out.
#[test]
fn mqtt_3_14_2_2_max_session_expiry_also_bounds_disconnect_session_expiry() {
    let broker = lantern_broker::Broker::new(lantern_broker::BrokerConfig {
        max_session_expiry: Some(20),
        ..lantern_broker::BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_v5("c", true, 0, Some(10)));
    client.send(t0, disconnect_with_expiry(3600));
    assert!(client.conn.is_closed());
    broker.tick(t0 + secs(20));
    assert!(
        broker.session("c").is_none(),
        "DISCONNECT raised the session expiry above the broker's maximum (20 s)"
    );
}

/// [MQTT-3.1.4-3] with [MQTT-4.4.0-1]: a message in flight on the old connection is re-sent
/// (DUP 1, same id) to the connection that took the session over.
fn mqtt_4_4_0_1_takeover_resends_inflight_to_new_connection(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut first = connect_ok(&broker, t0, persistent(version, "dev"));
    first.subscribe(t0, "t", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "t", "m");
    let delivered = first.recv_publishes(t0);
    assert_eq!(delivered.len(), 1);

    let (mut second, connack) = connect(&broker, t0 + secs(1), persistent(version, "dev"));
    assert!(connack.session_present);
    let again = second.recv_publishes(t0 + secs(1));
    assert_eq!(payloads(&again), ["m"]);
    assert!(again[0].dup);
    assert_eq!(again[0].packet_id, delivered[0].packet_id);
}

// Tenet 3: a session's queue is bounded by `max_queued_messages`; what happens when it is
// full (hold the publisher back, drop and count) is in `hardening.rs` (issue 9).

/// The driver may hand over CONNECT and the packets after it in one read: all are handled,
/// the later ones with the version CONNECT chose.
fn connect_and_subscribe_in_one_read_are_both_handled(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = Client::open(&broker, version, t0);
    let mut bytes = bytes::BytesMut::new();
    Packet::Connect(clean(version, "c"))
        .encode(version, &mut bytes)
        .unwrap();
    Packet::Subscribe(subscribe(1, &[("t", opts(QoS::AtLeastOnce))]))
        .encode(version, &mut bytes)
        .unwrap();
    Packet::PingReq.encode(version, &mut bytes).unwrap();
    client.send_raw(t0, &bytes);
    let packets = client.recv(t0);
    assert!(
        matches!(
            packets.as_slice(),
            [Packet::ConnAck(c), Packet::SubAck(s), Packet::PingResp]
                if c.reason == ReasonCode::Success && s.reasons == [ReasonCode::GrantedQoS1]
        ),
        "got {packets:#?}"
    );
}

both_versions!(
    mqtt_4_4_0_1_takeover_resends_inflight_to_new_connection,
    connect_and_subscribe_in_one_read_are_both_handled,
);
