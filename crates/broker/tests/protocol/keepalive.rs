//! Keep alive [MQTT-3.1.2-24] and the connect timeout.

use std::time::Instant;

use lantern_broker::{Broker, BrokerConfig, CloseReason, ConnEvent};
use lantern_codec::{Packet, ProtocolVersion, ReasonCode};

use crate::harness::*;

/// [MQTT-3.1.2-24] The server closes a connection that sent nothing for one and a half times
/// the keep alive — and not a moment earlier. With nothing at all after CONNECT, the close
/// reason says the client probably never read its CONNACK; a v5 client is told 0x8D.
fn mqtt_3_1_2_24_keepalive_expires_at_one_and_a_half_times(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_with_keepalive(version, "ka", 10));

    assert_eq!(
        client.conn.poll_timeout(),
        Some(t0 + secs(15)),
        "deadline is 1.5 × 10 s"
    );

    client.conn.handle_timeout(t0 + millis(14_999));
    assert!(
        !client.conn.is_closed(),
        "closed 1 ms before 1.5 × keep alive"
    );
    client.recv_nothing(t0 + millis(14_999));

    client.conn.handle_timeout(t0 + secs(15));
    assert!(client.conn.is_closed(), "still open at 1.5 × keep alive");
    let reason = client.expect_closed();
    assert_eq!(
        reason,
        CloseReason::KeepAliveTimeout {
            keep_alive: secs(10),
            idle: secs(15),
            packets_after_connect: 0,
        }
    );
    assert_eq!(reason.id(), "session.keepalive_expired_connack_unread");
    assert!(!reason.is_normal());

    if version.is_v5() {
        // v5 §4.13: the server may send DISCONNECT with a reason code before closing.
        assert_eq!(
            client.recv_disconnect(t0 + secs(15)),
            ReasonCode::KeepAliveTimeout
        );
        assert_eq!(ReasonCode::KeepAliveTimeout.to_u8(), 0x8D);
    } else {
        client.recv_nothing(t0 + secs(15)); // 3.1.1 has no server DISCONNECT
    }
    assert_eq!(client.conn.poll_timeout(), None, "no timer once closed");
}

/// [MQTT-3.1.2-24] Any control packet restarts the keep alive clock; PINGREQ gets PINGRESP
/// [MQTT-3.12.4-1]. The close reason then counts the packets that did arrive.
fn mqtt_3_1_2_24_any_packet_resets_keepalive(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_with_keepalive(version, "ka", 10));

    client.send(t0 + secs(10), Packet::PingReq);
    assert_eq!(client.recv_one(t0 + secs(10)), Packet::PingResp);
    assert_eq!(
        client.conn.poll_timeout(),
        Some(t0 + secs(25)),
        "deadline moved to 10 + 15 s"
    );

    // Past the original deadline, before the new one.
    client.conn.handle_timeout(t0 + secs(15));
    client.conn.handle_timeout(t0 + millis(24_999));
    assert!(
        !client.conn.is_closed(),
        "PINGREQ at 10 s did not restart the keep alive clock"
    );

    // Any packet, not only PINGREQ: a SUBSCRIBE at 20 s.
    client.subscribe(t0 + secs(20), "a/b", lantern_codec::QoS::AtMostOnce);
    assert_eq!(client.conn.poll_timeout(), Some(t0 + secs(35)));
    client.conn.handle_timeout(t0 + millis(34_999));
    assert!(!client.conn.is_closed());

    client.conn.handle_timeout(t0 + secs(35));
    let reason = client.expect_closed();
    assert_eq!(
        reason,
        CloseReason::KeepAliveTimeout {
            keep_alive: secs(10),
            idle: secs(15),
            packets_after_connect: 2,
        }
    );
    assert_eq!(reason.id(), "session.keepalive_expired");
}

/// [MQTT-3.1.2-10 v3.1.1 / v5 §3.1.2.10] Keep alive 0 turns the mechanism off: no deadline
/// at all while the connection is open.
fn mqtt_3_1_2_10_keepalive_zero_has_no_deadline(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_with_keepalive(version, "ka0", 0));
    assert_eq!(client.conn.poll_timeout(), None);
    client.conn.handle_timeout(t0 + secs(86_400 * 30));
    assert!(
        !client.conn.is_closed(),
        "keep alive 0 closed after 30 idle days"
    );
    assert_eq!(
        client.connected_event(),
        Some(ConnEvent::Connected {
            client_id: "ka0".into(),
            version,
            clean_start: true,
            keep_alive: 0,
            session_present: false,
            username: None,
        })
    );
}

both_versions!(
    mqtt_3_1_2_24_keepalive_expires_at_one_and_a_half_times,
    mqtt_3_1_2_24_any_packet_resets_keepalive,
    mqtt_3_1_2_10_keepalive_zero_has_no_deadline,
);

fn capped_broker() -> std::sync::Arc<Broker> {
    Broker::new(BrokerConfig {
        max_keepalive: Some(30),
        ..BrokerConfig::default()
    })
}

/// [MQTT-3.2.2-21] v5: a server with a maximum keep alive sends Server Keep Alive and the
/// client must use it; the server enforces 1.5 × the announced value.
#[test]
fn mqtt_3_2_2_21_server_keep_alive_caps_v5_client() {
    let broker = capped_broker();
    let t0 = Instant::now();
    let (mut client, connack) = connect(&broker, t0, connect_v5("ka60", true, 60, None));
    assert_eq!(connack.reason, ReasonCode::Success);
    assert_eq!(connack.properties.server_keep_alive, Some(30));
    match client.connected_event() {
        Some(ConnEvent::Connected { keep_alive, .. }) => assert_eq!(keep_alive, 30),
        other => panic!("expected Connected, got {other:?}"),
    }
    assert_eq!(client.conn.poll_timeout(), Some(t0 + secs(45)));
    client.conn.handle_timeout(t0 + millis(44_999));
    assert!(!client.conn.is_closed(), "closed before 1.5 × 30 s");
    client.conn.handle_timeout(t0 + secs(45));
    assert!(matches!(
        client.expect_closed(),
        CloseReason::KeepAliveTimeout { keep_alive, .. } if keep_alive == secs(30)
    ));
    assert_eq!(
        client.recv_disconnect(t0 + secs(45)),
        ReasonCode::KeepAliveTimeout
    );
}

/// v5 §3.2.2.3.14: a client asking for keep alive 0 (off) also gets the server's maximum.
#[test]
fn mqtt_3_2_2_21_server_keep_alive_replaces_v5_keepalive_zero() {
    let broker = capped_broker();
    let t0 = Instant::now();
    let (client, connack) = connect(&broker, t0, connect_v5("ka0", true, 0, None));
    assert_eq!(connack.properties.server_keep_alive, Some(30));
    assert_eq!(client.conn.poll_timeout(), Some(t0 + secs(45)));
}

/// A v5 client asking for less than the maximum keeps its own value, and no Server Keep Alive
/// is sent.
#[test]
fn mqtt_3_2_2_21_v5_keepalive_below_maximum_is_kept() {
    let broker = capped_broker();
    let t0 = Instant::now();
    let (client, connack) = connect(&broker, t0, connect_v5("ka20", true, 20, None));
    assert_eq!(connack.properties.server_keep_alive, None);
    assert_eq!(client.conn.poll_timeout(), Some(t0 + secs(30)));
}

/// 3.1.1 has no Server Keep Alive, so a 3.1.1 client keeps the keep alive it asked for, even
/// above the broker's maximum (closing it at 45 s would cut off a client behaving correctly).
#[test]
fn v311_client_keeps_its_own_keepalive_above_server_maximum() {
    let broker = capped_broker();
    let t0 = Instant::now();
    let mut client = connect_ok(&broker, t0, connect_v311("ka60", true, 60));
    assert_eq!(client.conn.poll_timeout(), Some(t0 + secs(90)));
    client.conn.handle_timeout(t0 + secs(45));
    assert!(
        !client.conn.is_closed(),
        "3.1.1 client closed at the v5 cap"
    );
    client.conn.handle_timeout(t0 + secs(90));
    assert!(matches!(
        client.expect_closed(),
        CloseReason::KeepAliveTimeout { keep_alive, .. } if keep_alive == secs(60)
    ));
}

/// A connection that sends no CONNECT within `connect_timeout` is closed, nothing is sent, and
/// the reason says that not a single byte arrived.
#[test]
fn connect_timeout_closes_silent_connection() {
    let broker = broker(); // connect_timeout 10 s
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V5, t0);
    assert_eq!(client.conn.poll_timeout(), Some(t0 + secs(10)));

    client.conn.handle_timeout(t0 + millis(9_999));
    assert!(!client.conn.is_closed());

    client.conn.handle_timeout(t0 + secs(10));
    assert_eq!(
        client.expect_closed(),
        CloseReason::ConnectTimeout {
            waited: secs(10),
            bytes_received: 0
        }
    );
    assert_eq!(client.expect_closed().id(), "mqtt.connect_timeout");
    client.recv_nothing(t0 + secs(10));
    assert_eq!(broker.session_count(), 0);
}

/// The connect timeout counts the bytes of a CONNECT that never completed, even when they
/// arrived in several reads (the driver keeps the partial packet in its buffer between calls).
#[test]
fn connect_timeout_counts_bytes_of_partial_connect() {
    let broker = Broker::new(BrokerConfig {
        connect_timeout: secs(5),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V311, t0);

    // The first 7 bytes of a 3.1.1 CONNECT, in two reads of 3 and 4 bytes.
    client.send_raw(t0 + secs(1), &[0x10, 0x0d, 0x00]);
    client.send_raw(t0 + secs(2), &[0x04, b'M', b'Q', b'T']);
    assert!(
        !client.conn.is_closed(),
        "a partial CONNECT is not an error"
    );

    client.conn.handle_timeout(t0 + secs(5));
    assert_eq!(
        client.expect_closed(),
        CloseReason::ConnectTimeout {
            waited: secs(5),
            bytes_received: 7
        }
    );
    client.recv_nothing(t0 + secs(5));
}

/// Bytes of a single partial read are counted.
#[test]
fn connect_timeout_counts_bytes_of_single_partial_read() {
    let broker = broker();
    let t0 = Instant::now();
    let mut client = Client::open(&broker, ProtocolVersion::V311, t0);
    client.send_raw(t0, &[0x10, 0x0d, 0x00, 0x04, b'M']);
    client.conn.handle_timeout(t0 + secs(10));
    assert_eq!(
        client.expect_closed(),
        CloseReason::ConnectTimeout {
            waited: secs(10),
            bytes_received: 5
        }
    );
}
