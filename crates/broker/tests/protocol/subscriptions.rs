//! Subscriptions: topic filter matching (§4.7), overlapping subscriptions, No Local, shared
//! subscriptions (§4.8.2), SUBACK / UNSUBACK reason codes.

use std::num::NonZeroU32;
use std::time::Instant;

use lantern_codec::{Packet, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions, UnsubAck};

use crate::harness::*;

/// Subscribes a fresh client to `filter`, publishes every topic of `topics` (QoS 0) from
/// another client, and returns the topics that arrived, in order.
fn received_topics(version: ProtocolVersion, filter: &str, topics: &[&str]) -> Vec<String> {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", filter, QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for topic in topics {
        publisher.publish_qos0(t0, topic, topic);
    }
    sub.recv_publishes(t0)
        .iter()
        .map(|p| p.topic.as_str().to_owned())
        .collect()
}

/// §4.7.1: `+` matches exactly one level (possibly empty), `#` any number of levels including
/// the parent [MQTT-4.7.1-2]; matching is case sensitive and level by level.
fn mqtt_4_7_1_wildcards_match_levels(version: ProtocolVersion) {
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "a/+/c",
            &["a/b/c", "a/b/d", "a//c", "a/b/c/d", "a/c"],
            &["a/b/c", "a//c"],
        ),
        (
            "x/#",
            &["x", "x/y", "x/y/z", "xy", "y/x"],
            &["x", "x/y", "x/y/z"],
        ),
        ("+", &["a", "a/b", "/a"], &["a"]),
        ("+/+", &["/a", "a/b", "a", "a/b/c"], &["/a", "a/b"]),
        ("#", &["a", "a/b", "/"], &["a", "a/b", "/"]),
        ("a/b", &["a/b", "A/b", "a/b/", "a"], &["a/b"]),
        (
            "+/b/#",
            &["a/b", "a/b/c", "b/b/c/d", "a/c/b"],
            &["a/b", "a/b/c", "b/b/c/d"],
        ),
    ];
    for (filter, published, expected) in cases {
        assert_eq!(
            received_topics(version, filter, published),
            expected.to_vec(),
            "filter {filter:?}"
        );
    }
}

/// [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with `$`;
/// a filter naming the `$` level does.
fn mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcards(version: ProtocolVersion) {
    assert_eq!(received_topics(version, "#", &["$SYS/x", "a"]), ["a"]);
    assert_eq!(received_topics(version, "+/x", &["$SYS/x", "a/x"]), ["a/x"]);
    assert_eq!(received_topics(version, "+", &["$SYS", "a"]), ["a"]);
    assert_eq!(
        received_topics(version, "$SYS/#", &["$SYS/x", "$SYS/x/y", "a"]),
        ["$SYS/x", "$SYS/x/y"]
    );
    assert_eq!(received_topics(version, "$SYS/+", &["$SYS/x"]), ["$SYS/x"]);
}

/// [MQTT-3.3.4-2] (v5) / 3.1.1 §3.3.5: a client whose subscriptions overlap gets the message
/// once, at the highest QoS granted among the matching subscriptions; in v5 it carries the
/// identifiers of all of them [MQTT-3.3.4-3].
fn mqtt_3_3_4_2_overlapping_subscriptions_deliver_one_copy_at_highest_qos(
    version: ProtocolVersion,
) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, clean(version, "sub"));
    let v5 = version.is_v5();
    sub.subscribe_with(t0, "a/#", opts(QoS::AtLeastOnce), v5.then_some(1));
    sub.subscribe_with(t0, "a/b", opts(QoS::ExactlyOnce), v5.then_some(2));
    sub.subscribe_with(t0, "+/b", opts(QoS::AtMostOnce), None);

    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos2(t0, "a/b", "m");
    let got = sub.recv_publishes(t0);
    assert_eq!(
        got.len(),
        1,
        "overlapping subscriptions must give one copy: {got:#?}"
    );
    assert_eq!(got[0].qos, QoS::ExactlyOnce, "the highest granted QoS");
    if v5 {
        let mut ids = got[0].properties.subscription_identifiers.clone();
        ids.sort();
        assert_eq!(
            ids,
            [NonZeroU32::new(1).unwrap(), NonZeroU32::new(2).unwrap()]
        );
    }

    // A topic matching only one of them: that one's QoS and identifier.
    publisher.publish_qos2(t0, "a/c", "only a/#");
    let got = sub.recv_publishes(t0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    if v5 {
        assert_eq!(
            got[0].properties.subscription_identifiers,
            [NonZeroU32::new(1).unwrap()]
        );
    }
}

/// [MQTT-3.8.4-8] (v5) / 3.1.1 §3.8.4: the delivered QoS is the minimum of the published QoS
/// and the granted QoS.
fn mqtt_3_8_4_8_delivery_qos_is_minimum_of_published_and_granted(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut q1 = subscriber(&broker, t0, version, "q1", "t", QoS::AtLeastOnce);
    let mut q2 = subscriber(&broker, t0, version, "q2", "t", QoS::ExactlyOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos2(t0, "t", "two");
    publisher.publish_qos0(t0, "t", "zero");
    let got: Vec<_> = q1.recv_publishes(t0).iter().map(|p| p.qos).collect();
    assert_eq!(got, [QoS::AtLeastOnce, QoS::AtMostOnce]);
    let got: Vec<_> = q2.recv_publishes(t0).iter().map(|p| p.qos).collect();
    assert_eq!(got, [QoS::ExactlyOnce, QoS::AtMostOnce]);
}

/// [MQTT-3.8.4-3] A SUBSCRIBE for an existing filter replaces it: still one subscription,
/// with the new QoS.
fn mqtt_3_8_4_3_resubscribe_replaces_subscription(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "t", QoS::AtMostOnce);
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    assert_eq!(broker.subscription_count(), 1);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "t", "m");
    let got = sub.recv_publishes(t0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
}

/// [MQTT-4.7.3] An invalid filter is refused in SUBACK — 0x8F Topic Filter invalid in v5,
/// 0x80 Failure in 3.1.1 — while the valid filters of the same SUBSCRIBE are granted.
fn mqtt_4_7_1_invalid_filter_refused_in_suback(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, clean(version, "sub"));
    let packet = subscribe(
        5,
        &[
            ("a/#/b", opts(QoS::AtLeastOnce)), // '#' not last [MQTT-4.7.1-1]
            ("ok", opts(QoS::AtLeastOnce)),
            ("a+/b", opts(QoS::AtLeastOnce)), // '+' not alone in its level [MQTT-4.7.1-2]
        ],
    );
    sub.send(t0, Packet::Subscribe(packet));
    let refused = if version.is_v5() {
        ReasonCode::TopicFilterInvalid
    } else {
        ReasonCode::UnspecifiedError
    };
    match sub.recv(t0).as_slice() {
        [Packet::SubAck(ack)] => {
            assert_eq!(ack.packet_id, pid(5));
            assert_eq!(ack.reasons, [refused, ReasonCode::GrantedQoS1, refused]);
        }
        other => panic!("expected SUBACK, got {other:#?}"),
    }
    assert!(
        !sub.conn.is_closed(),
        "a refused filter does not close the connection"
    );
    assert_eq!(broker.subscription_count(), 1);
}

both_versions!(
    mqtt_4_7_1_wildcards_match_levels,
    mqtt_4_7_2_1_dollar_topics_not_matched_by_leading_wildcards,
    mqtt_3_3_4_2_overlapping_subscriptions_deliver_one_copy_at_highest_qos,
    mqtt_3_8_4_8_delivery_qos_is_minimum_of_published_and_granted,
    mqtt_3_8_4_3_resubscribe_replaces_subscription,
    mqtt_4_7_1_invalid_filter_refused_in_suback,
);

/// [MQTT-3.8.3-3] v5 No Local: messages are not forwarded to the connection that published
/// them; without No Local they are (the 3.1.1 behaviour).
#[test]
fn mqtt_3_8_3_3_no_local_suppresses_own_messages() {
    let broker = broker();
    let t0 = Instant::now();
    let mut local = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "local"));
    let no_local = SubscriptionOptions {
        no_local: true,
        ..opts(QoS::AtMostOnce)
    };
    local.subscribe_with(t0, "t", no_local, None);
    let mut other = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "other",
        "t",
        QoS::AtMostOnce,
    );

    local.publish_qos0(t0, "t", "mine");
    local.recv_nothing(t0);
    assert_eq!(payloads(&other.recv_publishes(t0)), ["mine"]);

    // `other` subscribed without No Local: its own message comes back to it.
    other.send(
        t0,
        Packet::Publish(publish("t", "theirs", QoS::AtMostOnce, 0)),
    );
    assert_eq!(
        payloads(&other.recv_publishes(t0)),
        ["theirs"],
        "No Local 0: own messages come back"
    );
    assert_eq!(payloads(&local.recv_publishes(t0)), ["theirs"]);
}

/// v5 §4.8.2: each message on a shared subscription goes to one member of the group; this
/// broker rotates between connected members. Non-shared subscribers still get every message.
#[test]
fn mqtt_4_8_2_shared_subscription_round_robins_between_members() {
    let broker = broker();
    let t0 = Instant::now();
    let mut m1 = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "m1",
        "$share/g/t",
        QoS::AtMostOnce,
    );
    let mut m2 = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "m2",
        "$share/g/t",
        QoS::AtMostOnce,
    );
    let mut plain = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "plain",
        "t",
        QoS::AtMostOnce,
    );
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));

    let mut got1 = Vec::new();
    let mut got2 = Vec::new();
    for n in 0..4 {
        publisher.publish_qos0(t0, "t", &n.to_string());
        let a = payloads(&m1.recv_publishes(t0));
        let b = payloads(&m2.recv_publishes(t0));
        assert_eq!(
            a.len() + b.len(),
            1,
            "message {n} must reach exactly one member"
        );
        got1.extend(a);
        got2.extend(b);
    }
    assert_eq!(got1.len(), 2, "m1 got {got1:?}, m2 got {got2:?}");
    assert_eq!(got2.len(), 2, "m1 got {got1:?}, m2 got {got2:?}");
    assert_eq!(payloads(&plain.recv_publishes(t0)), ["0", "1", "2", "3"]);
}

/// [MQTT-3.8.3-4] v5: No Local on a shared subscription is a protocol error.
#[test]
fn mqtt_3_8_3_4_no_local_on_shared_subscription_is_protocol_error() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "sub"));
    let no_local = SubscriptionOptions {
        no_local: true,
        ..opts(QoS::AtMostOnce)
    };
    sub.send(
        t0,
        Packet::Subscribe(subscribe(1, &[("$share/g/t", no_local)])),
    );
    assert_eq!(sub.recv_disconnect(t0), ReasonCode::ProtocolError);
    assert!(sub.conn.is_closed());
}

/// [MQTT-3.11.3-1] v5 UNSUBACK has one reason code per filter: 0x00 for a removed
/// subscription, 0x11 No subscription existed otherwise. The removed one no longer delivers.
#[test]
fn mqtt_3_11_3_unsuback_reports_no_subscription_existed() {
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
    sub.send(
        t0,
        Packet::Unsubscribe(unsubscribe(9, &["t", "never/subscribed"])),
    );
    match sub.recv(t0).as_slice() {
        [Packet::UnsubAck(UnsubAck {
            packet_id, reasons, ..
        })] => {
            assert_eq!(*packet_id, pid(9));
            assert_eq!(
                reasons.as_slice(),
                [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            );
            assert_eq!(ReasonCode::NoSubscriptionExisted.to_u8(), 0x11);
        }
        other => panic!("expected UNSUBACK, got {other:#?}"),
    }
    assert_eq!(broker.subscription_count(), 0);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos0(t0, "t", "after");
    sub.recv_nothing(t0);
}

/// [MQTT-3.10.4-4] 3.1.1: UNSUBSCRIBE is answered with UNSUBACK (same packet id, no payload),
/// whether or not the subscription existed, and the subscription stops.
#[test]
fn v311_mqtt_3_10_4_4_unsubscribe_answered_with_unsuback() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(
        &broker,
        t0,
        ProtocolVersion::V311,
        "sub",
        "t",
        QoS::AtMostOnce,
    );
    sub.send(
        t0,
        Packet::Unsubscribe(unsubscribe(4, &["t", "never/subscribed"])),
    );
    match sub.recv(t0).as_slice() {
        [Packet::UnsubAck(ack)] => assert_eq!(ack.packet_id, pid(4)),
        other => panic!("expected UNSUBACK, got {other:#?}"),
    }
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V311, "pub"));
    publisher.publish_qos0(t0, "t", "after");
    sub.recv_nothing(t0);
}

/// v5 §4.8.2: UNSUBSCRIBE with the full `$share/{group}/{filter}` removes that member; the
/// group's messages then all go to the remaining member.
#[test]
fn mqtt_4_8_2_unsubscribe_shared_subscription_removes_member() {
    let broker = broker();
    let t0 = Instant::now();
    let mut m1 = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "m1",
        "$share/g/t",
        QoS::AtMostOnce,
    );
    let mut m2 = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "m2",
        "$share/g/t",
        QoS::AtMostOnce,
    );
    m1.send(t0, Packet::Unsubscribe(unsubscribe(7, &["$share/g/t"])));
    match m1.recv(t0).as_slice() {
        [Packet::UnsubAck(ack)] => assert_eq!(ack.reasons, [ReasonCode::Success]),
        other => panic!("expected UNSUBACK, got {other:#?}"),
    }
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    for n in 0..3 {
        publisher.publish_qos0(t0, "t", &n.to_string());
    }
    m1.recv_nothing(t0);
    assert_eq!(payloads(&m2.recv_publishes(t0)), ["0", "1", "2"]);
}

/// v5 §4.8.2: a member whose session ends leaves the group.
#[test]
fn mqtt_4_8_2_shared_member_leaving_hands_group_to_others() {
    let broker = broker();
    let t0 = Instant::now();
    let mut m1 = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "m1",
        "$share/g/t",
        QoS::AtMostOnce,
    );
    let mut m2 = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "m2",
        "$share/g/t",
        QoS::AtMostOnce,
    );
    m1.conn.handle_peer_closed(t0);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    for n in 0..3 {
        publisher.publish_qos0(t0, "t", &n.to_string());
    }
    assert_eq!(payloads(&m2.recv_publishes(t0)), ["0", "1", "2"]);
}

/// v5 §4.8.2: a persistent member that is offline keeps its subscription, but the broker
/// prefers connected members, so no message waits in the offline member's queue while another
/// member could take it.
#[test]
fn mqtt_4_8_2_shared_subscription_prefers_connected_members() {
    let broker = broker();
    let t0 = Instant::now();
    let mut away = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "away"));
    away.subscribe(t0, "$share/g/t", QoS::AtLeastOnce);
    let mut here = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "here",
        "$share/g/t",
        QoS::AtLeastOnce,
    );
    away.conn.handle_peer_closed(t0);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    for n in 0..4 {
        publisher.publish_qos1(t0, "t", &n.to_string());
    }
    assert_eq!(payloads(&here.recv_publishes(t0)), ["0", "1", "2", "3"]);
    assert_eq!(broker.session("away").unwrap().queued(), 0);
}

/// v5 §4.8.2: `$share/{ShareName}/{filter}` needs a non-empty share name without wildcards
/// and a filter [MQTT-4.8.2-1], [MQTT-4.8.2-2]; anything else is refused with 0x8F. UNSUBSCRIBE
/// with an invalid filter gets 0x8F too (v5 §3.11.3).
#[test]
fn mqtt_4_8_2_1_malformed_shared_subscriptions_refused() {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "sub"));
    let filters = ["$share/g", "$share//t", "$share/g+/t", "$share/g#/t"];
    let list: Vec<_> = filters
        .iter()
        .map(|f| (*f, opts(QoS::AtMostOnce)))
        .collect();
    sub.send(t0, Packet::Subscribe(subscribe(1, &list)));
    match sub.recv(t0).as_slice() {
        [Packet::SubAck(ack)] => assert_eq!(
            ack.reasons,
            vec![ReasonCode::TopicFilterInvalid; filters.len()],
            "for {filters:?}"
        ),
        other => panic!("expected SUBACK, got {other:#?}"),
    }
    assert_eq!(broker.subscription_count(), 0);

    sub.send(t0, Packet::Unsubscribe(unsubscribe(2, &["a/#/b"])));
    match sub.recv(t0).as_slice() {
        [Packet::UnsubAck(ack)] => assert_eq!(ack.reasons, [ReasonCode::TopicFilterInvalid]),
        other => panic!("expected UNSUBACK, got {other:#?}"),
    }
}
