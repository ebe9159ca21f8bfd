//! Retained messages (v5 §3.3.1.3, 3.1.1 §3.3.1.3) and the v5 subscription options that govern
//! them: Retain As Published and Retain Handling.

use std::time::Instant;

use lantern_codec::{Packet, ProtocolVersion, Publish, QoS, RetainHandling, SubscriptionOptions};

use crate::harness::*;

fn only_publishes(packets: Vec<Packet>) -> Vec<Publish> {
    packets
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH after SUBACK, got {other:#?}"),
        })
        .collect()
}

/// [MQTT-3.3.1-5] (v5) / [MQTT-3.3.1-5] (3.1.1): a retained message is stored and sent to a
/// new matching subscription, with RETAIN 1 [MQTT-3.3.1-8 / 3.1.1 MQTT-3.3.1-8].
fn mqtt_3_3_1_5_retained_message_sent_on_subscribe(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish(t0, retained("r/1", "v1"));
    assert_eq!(broker.retained_count(), 1);

    let mut sub = connect_ok(&broker, t0 + secs(1), clean(version, "sub"));
    let got = only_publishes(sub.subscribe_with(t0 + secs(1), "r/#", opts(QoS::AtLeastOnce), None));
    assert_eq!(got.len(), 1);
    assert!(
        got[0].retain,
        "retained message sent on subscribe must have RETAIN 1"
    );
    assert_eq!(got[0].topic.as_str(), "r/1");
    assert_eq!(payload(&got[0]), "v1");
    assert_eq!(
        got[0].qos,
        QoS::AtMostOnce,
        "min(published QoS 0, granted QoS 1)"
    );
}

/// [MQTT-3.3.1-5] A new retained message replaces the previous one on the same topic.
fn mqtt_3_3_1_5_retained_message_replaced(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish(t0, retained("r/1", "v1"));
    publisher.publish(t0, retained("r/1", "v2"));
    assert_eq!(broker.retained_count(), 1);

    let mut sub = connect_ok(&broker, t0, clean(version, "sub"));
    let got = only_publishes(sub.subscribe_with(t0, "r/1", opts(QoS::AtMostOnce), None));
    assert_eq!(payloads(&got), ["v2"]);
}

/// [MQTT-3.3.1-6], [MQTT-3.3.1-7] (v5) / [MQTT-3.3.1-10], [MQTT-3.3.1-11] (3.1.1): a retained
/// PUBLISH with an empty payload deletes the retained message and is not stored itself; it is
/// still forwarded to current subscribers.
fn mqtt_3_3_1_6_empty_retained_payload_deletes(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut watcher = subscriber(&broker, t0, version, "watcher", "r/1", QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish(t0, retained("r/1", "v1"));
    watcher.recv(t0);
    assert_eq!(broker.retained_count(), 1);

    publisher.publish(t0 + secs(1), retained("r/1", ""));
    assert_eq!(broker.retained_count(), 0);
    let forwarded = watcher.recv_publishes(t0 + secs(1));
    assert_eq!(
        forwarded.len(),
        1,
        "the empty message is still delivered normally"
    );
    assert!(forwarded[0].payload.is_empty());

    let mut sub = connect_ok(&broker, t0 + secs(2), clean(version, "sub"));
    let got = sub.subscribe_with(t0 + secs(2), "r/#", opts(QoS::AtMostOnce), None);
    assert!(
        got.is_empty(),
        "deleted retained message still sent: {got:#?}"
    );
}

/// [MQTT-3.3.1-9] (3.1.1) / [MQTT-3.3.1-12] (v5, Retain As Published 0): a retained message
/// forwarded to an existing subscription has RETAIN 0.
fn mqtt_3_3_1_9_forward_to_existing_subscriber_clears_retain(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "r/#", QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish(t0, retained("r/1", "live"));
    let got = sub.recv_publishes(t0);
    assert_eq!(got.len(), 1);
    assert!(!got[0].retain, "forwarded live message must have RETAIN 0");
}

both_versions!(
    mqtt_3_3_1_5_retained_message_sent_on_subscribe,
    mqtt_3_3_1_5_retained_message_replaced,
    mqtt_3_3_1_6_empty_retained_payload_deletes,
    mqtt_3_3_1_9_forward_to_existing_subscriber_clears_retain,
);

/// [MQTT-3.3.1-13] v5 Retain As Published 1: the RETAIN flag is forwarded as published.
#[test]
fn mqtt_3_3_1_13_retain_as_published_keeps_retain_flag() {
    let broker = broker();
    let t0 = Instant::now();
    let mut rap = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "rap"));
    let options = SubscriptionOptions {
        retain_as_published: true,
        ..opts(QoS::AtMostOnce)
    };
    rap.subscribe_with(t0, "r/#", options, None);
    let mut plain = subscriber(
        &broker,
        t0,
        ProtocolVersion::V5,
        "plain",
        "r/#",
        QoS::AtMostOnce,
    );

    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish(t0, retained("r/1", "kept"));
    publisher.publish_qos0(t0, "r/2", "not retained");

    let got = rap.recv_publishes(t0);
    assert_eq!(payloads(&got), ["kept", "not retained"]);
    assert!(got[0].retain, "Retain As Published 1 must keep RETAIN 1");
    assert!(!got[1].retain);
    let got = plain.recv_publishes(t0);
    assert!(
        got.iter().all(|p| !p.retain),
        "Retain As Published 0 must clear RETAIN"
    );
}

/// [MQTT-3.3.1-10] v5 Retain Handling 1: retained messages only when the subscription is new;
/// re-subscribing to the same filter sends nothing. (Retain Handling 0 sends them again.)
#[test]
fn mqtt_3_3_1_10_retain_handling_1_only_for_new_subscription() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish(t0, retained("r/1", "v1"));

    let mut sub = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "sub"));
    let rh1 = opts_rh(QoS::AtMostOnce, RetainHandling::SendIfNew);
    assert_eq!(
        only_publishes(sub.subscribe_with(t0, "r/#", rh1, None)).len(),
        1
    );
    assert!(
        sub.subscribe_with(t0, "r/#", rh1, None).is_empty(),
        "sent again to an existing subscription"
    );

    let rh0 = opts_rh(QoS::AtMostOnce, RetainHandling::SendAtSubscribe);
    assert_eq!(
        only_publishes(sub.subscribe_with(t0, "r/#", rh0, None)).len(),
        1,
        "[MQTT-3.3.1-9] Retain Handling 0 sends on every SUBSCRIBE"
    );
}

/// [MQTT-3.3.1-11] v5 Retain Handling 2: never send retained messages at subscribe.
#[test]
fn mqtt_3_3_1_11_retain_handling_2_never_sends() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish(t0, retained("r/1", "v1"));
    let mut sub = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "sub"));
    let rh2 = opts_rh(QoS::AtMostOnce, RetainHandling::DoNotSend);
    assert!(sub.subscribe_with(t0, "r/#", rh2, None).is_empty());
    // Live messages still arrive.
    publisher.publish_qos0(t0, "r/1", "live");
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["live"]);
}

/// v5 §4.8.2 / §3.8.3.1: retained messages are not sent when a shared subscription is
/// made.
#[test]
fn mqtt_4_8_2_shared_subscription_gets_no_retained_messages() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish(t0, retained("r/1", "v1"));
    let mut sub = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "sub"));
    let got = sub.subscribe_with(t0, "$share/g/r/#", opts(QoS::AtMostOnce), None);
    assert!(
        got.is_empty(),
        "shared subscription got retained messages: {got:#?}"
    );
}

/// [MQTT-3.8.4-8] A retained message is sent at the minimum of its QoS and the granted QoS,
/// and carries the subscription identifier of the subscription (v5 §3.3.2.3.8).
#[test]
fn mqtt_3_8_4_8_retained_message_qos_is_downgraded_and_carries_subscription_id() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let packets = publisher.publish(
        t0,
        Publish {
            retain: true,
            ..publish("r/1", "q2", QoS::ExactlyOnce, 1)
        },
    );
    assert!(matches!(packets.as_slice(), [Packet::PubRec(_)]));
    assert_eq!(broker.retained_count(), 1);
    let mut sub = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "sub"));
    let got = only_publishes(sub.subscribe_with(t0, "r/#", opts(QoS::AtLeastOnce), Some(9)));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    assert!(got[0].retain);
    assert_eq!(
        got[0].properties.subscription_identifiers,
        vec![std::num::NonZeroU32::new(9).unwrap()]
    );
}

/// [MQTT-3.3.2-5] A retained message whose Message Expiry Interval has passed is no longer
/// sent to new subscriptions; before that it is sent with the time left [MQTT-3.3.2-6].
#[test]
fn mqtt_3_3_2_5_expired_retained_message_not_sent() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let mut p = retained("r/1", "short-lived");
    p.properties.message_expiry_interval = Some(5);
    publisher.publish(t0, p);

    let mut early = connect_ok(&broker, t0 + secs(2), clean(ProtocolVersion::V5, "early"));
    let got =
        only_publishes(early.subscribe_with(t0 + secs(2), "r/#", opts(QoS::AtMostOnce), None));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].properties.message_expiry_interval, Some(3));

    let mut late = connect_ok(&broker, t0 + secs(6), clean(ProtocolVersion::V5, "late"));
    let got = late.subscribe_with(t0 + secs(6), "r/#", opts(QoS::AtMostOnce), None);
    assert!(got.is_empty(), "expired retained message sent: {got:#?}");
}
