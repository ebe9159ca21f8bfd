//! Will messages: when they are published, delayed, cancelled or discarded
//! [MQTT-3.1.2-8], [MQTT-3.1.2-10], [MQTT-3.1.3-9], v5 §3.1.2.5 and §3.1.3.2.2.

use std::sync::Arc;
use std::time::Instant;

use lantern_broker::{Broker, CloseReason};
use lantern_codec::{Connect, ProtocolVersion, QoS, ReasonCode};

use crate::harness::*;

/// A client with a will on "wills/dev" ("gone", QoS 1) and a subscriber watching it.
fn device_and_watcher(
    broker: &Arc<Broker>,
    t0: Instant,
    mut connect_packet: Connect,
) -> (Client, Client) {
    let version = connect_packet.protocol;
    let watcher = subscriber(broker, t0, version, "watcher", "wills/#", QoS::AtLeastOnce);
    connect_packet.will = Some(will("wills/dev", "gone", QoS::AtLeastOnce, false));
    let device = connect_ok(broker, t0, connect_packet);
    (device, watcher)
}

#[track_caller]
fn assert_will_delivered(watcher: &mut Client, now: Instant) {
    let publishes = watcher.recv_publishes(now);
    assert_eq!(
        publishes.len(),
        1,
        "expected the will exactly once, got {publishes:#?}"
    );
    assert_eq!(publishes[0].topic.as_str(), "wills/dev");
    assert_eq!(payload(&publishes[0]), "gone");
    assert_eq!(publishes[0].qos, QoS::AtLeastOnce);
}

/// [MQTT-3.1.2-8] The will is published when the connection closes without DISCONNECT: the
/// peer closed the socket.
fn mqtt_3_1_2_8_will_published_when_peer_closes(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = device_and_watcher(&broker, t0, clean(version, "dev"));
    watcher.recv_nothing(t0);

    device.conn.handle_peer_closed(t0 + secs(1));
    assert_eq!(device.expect_closed(), CloseReason::PeerClosed);
    assert!(
        watcher.flag.take(),
        "the watcher's connection was not woken for the will"
    );
    assert_will_delivered(&mut watcher, t0 + secs(1));
}

/// [MQTT-3.1.2-8] … or the network failed …
fn mqtt_3_1_2_8_will_published_on_network_error(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = device_and_watcher(&broker, t0, clean(version, "dev"));
    device
        .conn
        .handle_network_error(t0 + secs(1), "connection reset by peer".into());
    assert_eq!(
        device.expect_closed(),
        CloseReason::NetworkError("connection reset by peer".into())
    );
    assert_will_delivered(&mut watcher, t0 + secs(1));
}

/// [MQTT-3.1.2-8] … or the keep alive expired [MQTT-3.1.2-24].
fn mqtt_3_1_2_8_will_published_on_keepalive_expiry(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) =
        device_and_watcher(&broker, t0, connect_with_keepalive(version, "dev", 4));
    device.conn.handle_timeout(t0 + millis(5_999));
    watcher.recv_nothing(t0 + millis(5_999));
    device.conn.handle_timeout(t0 + secs(6));
    assert!(matches!(
        device.expect_closed(),
        CloseReason::KeepAliveTimeout { .. }
    ));
    assert_will_delivered(&mut watcher, t0 + secs(6));
}

/// [MQTT-3.1.2-10] (v5: [MQTT-3.1.2-8]) DISCONNECT with reason 0x00 removes the will without
/// publishing it.
fn mqtt_3_1_2_10_will_discarded_on_normal_disconnect(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = device_and_watcher(&broker, t0, clean(version, "dev"));
    device.disconnect(t0 + secs(1), ReasonCode::NORMAL_DISCONNECTION);
    let reason = device.expect_closed();
    assert_eq!(
        reason,
        CloseReason::ClientDisconnect {
            reason: ReasonCode::Success
        }
    );
    assert!(reason.is_normal());
    watcher.recv_nothing(t0 + secs(1));
    // Nothing later either (no delayed will was scheduled).
    assert_eq!(broker.tick(t0 + secs(3600)), None);
    watcher.recv_nothing(t0 + secs(3600));
}

both_versions!(
    mqtt_3_1_2_8_will_published_when_peer_closes,
    mqtt_3_1_2_8_will_published_on_network_error,
    mqtt_3_1_2_8_will_published_on_keepalive_expiry,
    mqtt_3_1_2_10_will_discarded_on_normal_disconnect,
);

/// v5 §3.14.2.1: DISCONNECT 0x04 "Disconnect with Will Message" closes normally from the
/// client's point of view but publishes the will.
#[test]
fn mqtt_3_14_2_1_disconnect_with_will_message_publishes_will() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) =
        device_and_watcher(&broker, t0, clean(ProtocolVersion::V5, "dev"));
    device.disconnect(t0 + secs(1), ReasonCode::DisconnectWithWillMessage);
    assert_eq!(
        device.expect_closed(),
        CloseReason::ClientDisconnect {
            reason: ReasonCode::DisconnectWithWillMessage
        }
    );
    device.recv_nothing(t0 + secs(1)); // the server answers a client DISCONNECT with nothing
    assert_will_delivered(&mut watcher, t0 + secs(1));
}

/// A v5 device ("dev", clean start 1, session expiry `expiry`) whose will has Will Delay
/// Interval `delay`, and a watcher subscribed to the will topic.
fn delayed_setup(broker: &Arc<Broker>, t0: Instant, expiry: u32, delay: u32) -> (Client, Client) {
    let watcher = subscriber(
        broker,
        t0,
        ProtocolVersion::V5,
        "watcher",
        "wills/#",
        QoS::AtLeastOnce,
    );
    let mut c = connect_v5("dev", true, 0, Some(expiry));
    let mut w = will("wills/dev", "gone", QoS::AtLeastOnce, false);
    w.properties.will_delay_interval = Some(delay);
    c.will = Some(w);
    let device = connect_ok(broker, t0, c);
    (device, watcher)
}

/// [MQTT-3.1.3-9] / v5 §3.1.3.2.2: with Will Delay Interval 5 and session expiry 60, the will
/// waits 5 s after the connection is lost.
#[test]
fn mqtt_3_1_3_9_will_delay_publishes_after_interval() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = delayed_setup(&broker, t0, 60, 5);

    device.conn.handle_peer_closed(t0);
    watcher.recv_nothing(t0);

    assert_eq!(
        broker.tick(t0 + millis(4_900)),
        Some(t0 + secs(5)),
        "next timer is the will"
    );
    watcher.recv_nothing(t0 + millis(4_900));

    broker.tick(t0 + secs(5));
    assert_will_delivered(&mut watcher, t0 + secs(5));
    assert!(
        broker.session("dev").is_some(),
        "the session outlives the will (expiry 60 s)"
    );
}

/// [MQTT-3.1.3-9] Reconnecting (clean start 0) before the delay has passed cancels the will.
#[test]
fn mqtt_3_1_3_9_reconnect_within_will_delay_cancels_will() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = delayed_setup(&broker, t0, 60, 5);
    device.conn.handle_peer_closed(t0);

    let (_device2, connack) = connect(&broker, t0 + secs(3), connect_v5("dev", false, 0, Some(60)));
    assert!(connack.session_present);

    broker.tick(t0 + secs(5));
    broker.tick(t0 + secs(120));
    watcher.recv_nothing(t0 + secs(120));
}

/// v5 §3.1.2.5: the will is published when the session ends if that comes before the will
/// delay: session expiry 2, will delay 10 → the will at 2 s, together with the end of the
/// session.
#[test]
fn mqtt_3_1_2_5_session_expiry_before_will_delay_publishes_will_at_session_end() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = delayed_setup(&broker, t0, 2, 10);
    device.conn.handle_peer_closed(t0);

    broker.tick(t0 + millis(1_999));
    watcher.recv_nothing(t0 + millis(1_999));
    assert!(broker.session("dev").is_some());

    broker.tick(t0 + secs(2));
    assert_will_delivered(&mut watcher, t0 + secs(2));
    assert!(broker.session("dev").is_none(), "session expired at 2 s");

    // And not a second time at the will delay.
    broker.tick(t0 + secs(10));
    watcher.recv_nothing(t0 + secs(10));
}

/// v5 §3.1.2.5 with session expiry 0: the session ends with the connection, so a delayed will
/// is published at once.
#[test]
fn mqtt_3_1_2_5_will_delay_with_session_expiry_zero_publishes_at_once() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = delayed_setup(&broker, t0, 0, 30);
    device.conn.handle_peer_closed(t0);
    assert_will_delivered(&mut watcher, t0);
    assert!(broker.session("dev").is_none());
}

/// v5 §3.1.3.2.2: the delay runs "until the Will Delay Interval has passed or the Session
/// ends, whichever happens first". A reconnection with Clean Start 1 ends the old session, so
/// the pending will is due then — not 5 s later — and is published exactly once.
#[test]
fn mqtt_3_1_3_2_2_clean_start_reconnect_ends_session_and_publishes_delayed_will() {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = delayed_setup(&broker, t0, 60, 5);
    device.conn.handle_peer_closed(t0);

    let (_device2, connack) = connect(&broker, t0 + secs(1), connect_v5("dev", true, 0, Some(60)));
    assert!(!connack.session_present);
    broker.tick(t0 + secs(1));
    let at_reconnect = watcher.recv_publishes(t0 + secs(1));

    broker.tick(t0 + secs(5));
    let later = watcher.recv_publishes(t0 + secs(5));
    assert_eq!(
        at_reconnect.len() + later.len(),
        1,
        "the will must be published exactly once (at {} / at 5 s: {})",
        at_reconnect.len(),
        later.len()
    );
    assert_eq!(
        at_reconnect.len(),
        1,
        "will published at the delay, not when the session ended"
    );
}

/// [MQTT-3.1.2-17] (v5 [MQTT-3.1.2-15]) A will with the retain flag is published as a retained
/// message: a later subscriber gets it with RETAIN set.
fn mqtt_3_1_2_17_will_retain_sets_retained_message(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = clean(version, "dev");
    c.will = Some(will("status/dev", "offline", QoS::AtLeastOnce, true));
    let mut device = connect_ok(&broker, t0, c);
    assert_eq!(broker.retained_count(), 0);

    device.conn.handle_peer_closed(t0 + secs(1));
    assert_eq!(broker.retained_count(), 1);

    let mut late = connect_ok(&broker, t0 + secs(2), clean(version, "late"));
    let after_suback = late.subscribe_with(t0 + secs(2), "status/+", opts(QoS::AtLeastOnce), None);
    let publishes: Vec<_> = after_suback
        .into_iter()
        .map(|p| match p {
            lantern_codec::Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        })
        .collect();
    assert_eq!(publishes.len(), 1);
    assert!(
        publishes[0].retain,
        "retained will delivered without RETAIN"
    );
    assert_eq!(payload(&publishes[0]), "offline");
    assert_eq!(publishes[0].qos, QoS::AtLeastOnce);
}

/// A will without the retain flag leaves the retained store alone.
fn mqtt_3_1_2_16_will_without_retain_is_not_retained(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = clean(version, "dev");
    c.will = Some(will("status/dev", "offline", QoS::AtMostOnce, false));
    let mut device = connect_ok(&broker, t0, c);
    device.conn.handle_peer_closed(t0 + secs(1));
    assert_eq!(broker.retained_count(), 0);
}

both_versions!(
    mqtt_3_1_2_17_will_retain_sets_retained_message,
    mqtt_3_1_2_16_will_without_retain_is_not_retained,
);

/// [MQTT-3.1.4-3] / v5 §3.1.3.2.2: when a new connection takes the session over, the old
/// connection's will (without delay) is published.
fn mqtt_3_1_4_3_takeover_publishes_old_connections_will(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = device_and_watcher(&broker, t0, persistent(version, "dev"));
    let _new = connect_ok(&broker, t0 + secs(1), persistent(version, "dev"));
    device.recv(t0 + secs(1)); // the old connection notices it was taken over
    assert_eq!(device.expect_closed(), CloseReason::TakenOver);
    assert_will_delivered(&mut watcher, t0 + secs(1));
}

both_versions!(mqtt_3_1_4_3_takeover_publishes_old_connections_will);

/// [MQTT-3.1.4-3] / v5 §3.1.3.2.2: "the Will Message for the existing connection is sent
/// unless the new connection specifies Clean Start of 0 and the Will Delay is greater than
/// zero". The old connection may learn of its end from its socket (EOF, reset) before its
/// driver calls `poll_transmit` — the will (no delay) must be published all the same.
fn mqtt_3_1_4_3_takeover_publishes_will_when_old_connection_sees_eof_first(
    version: ProtocolVersion,
) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut device, mut watcher) = device_and_watcher(&broker, t0, persistent(version, "dev"));
    let _new = connect_ok(&broker, t0 + secs(1), persistent(version, "dev"));
    // The old socket reports EOF before the old connection is polled.
    device.conn.handle_peer_closed(t0 + secs(1));
    assert!(device.conn.is_closed());
    let publishes = watcher.recv_publishes(t0 + secs(1));
    assert_eq!(
        payloads(&publishes),
        ["gone"],
        "the old connection's will was lost because it closed before noticing the takeover"
    );
}

both_versions!(mqtt_3_1_4_3_takeover_publishes_will_when_old_connection_sees_eof_first);
