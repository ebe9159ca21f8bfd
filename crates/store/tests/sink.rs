//! The store as the broker's sink: every kind of `PersistEvent` written through `TenantSink`
//! and read back gives the same `Snapshot` as `Snapshot::apply` over the same events; the
//! tenant's durable sequence follows the writer's fsyncs.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lantern_broker::{
    PassThrough, PersistDelivery, PersistEvent, PersistMessage, PersistSink, PersistStage, Snapshot,
};
use lantern_codec::{
    MqttString, ProtocolVersion, QoS, RetainHandling, SubscriptionOptions, UserProperty,
};
use lantern_store::{snapshot, Durability, Store, TenantSink};

fn s(text: &str) -> MqttString {
    MqttString::copy_from_str(text).unwrap()
}

fn message(topic: &str, with_properties: bool) -> Arc<PersistMessage> {
    Arc::new(PersistMessage {
        topic: s(topic),
        payload: Bytes::from(format!("payload of {topic}")),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: with_properties.then(|| {
            Box::new(PassThrough {
                payload_format_indicator: Some(true),
                response_topic: Some(s("reply/here")),
                correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
                user_properties: vec![
                    UserProperty {
                        key: s("k1"),
                        value: s("v1"),
                    },
                    UserProperty {
                        key: s("k1"),
                        value: s("v2"),
                    },
                ],
                content_type: Some(s("text/plain")),
            })
        }),
        expires_at: with_properties.then_some(1_900_000_000_000),
        origin: 0,
    })
}

fn delivery(topic: &str, qos: QoS) -> PersistDelivery {
    PersistDelivery {
        msg: message(topic, true),
        qos,
        retain: false,
        sub_ids: vec![
            NonZeroU32::new(3).unwrap(),
            NonZeroU32::new(70_000).unwrap(),
        ],
    }
}

fn events() -> Vec<PersistEvent> {
    let a: Arc<str> = Arc::from("dev-a");
    let b: Arc<str> = Arc::from("dev-b");
    vec![
        PersistEvent::SessionUpserted {
            client_id: a.clone(),
            version: ProtocolVersion::V5,
            expiry_interval: 3600,
            identity: Some(Arc::from("alice")),
        },
        PersistEvent::SessionUpserted {
            client_id: b.clone(),
            version: ProtocolVersion::V311,
            expiry_interval: u32::MAX,
            identity: None,
        },
        PersistEvent::SubscriptionAdded {
            client_id: a.clone(),
            filter: "x/#".into(),
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend,
            },
            sub_id: NonZeroU32::new(3),
        },
        PersistEvent::SubscriptionAdded {
            client_id: a.clone(),
            filter: "$share/g/y".into(),
            options: SubscriptionOptions::default(),
            sub_id: None,
        },
        PersistEvent::SubscriptionAdded {
            client_id: a.clone(),
            filter: "gone".into(),
            options: SubscriptionOptions::default(),
            sub_id: None,
        },
        PersistEvent::SubscriptionRemoved {
            client_id: a.clone(),
            filter: "gone".into(),
        },
        PersistEvent::Queued {
            client_id: a.clone(),
            seq: 1,
            delivery: delivery("x/1", QoS::AtLeastOnce),
        },
        PersistEvent::Queued {
            client_id: a.clone(),
            seq: 2,
            delivery: delivery("x/2", QoS::ExactlyOnce),
        },
        PersistEvent::Queued {
            client_id: a.clone(),
            seq: 3,
            delivery: delivery("x/3", QoS::AtLeastOnce),
        },
        PersistEvent::Dequeued {
            client_id: a.clone(),
            seq: 1,
        },
        PersistEvent::Inflight {
            client_id: a.clone(),
            packet_id: 1,
            stage: PersistStage::AwaitPubAck,
            delivery: Some(delivery("x/1", QoS::AtLeastOnce)),
        },
        PersistEvent::Inflight {
            client_id: a.clone(),
            packet_id: 2,
            stage: PersistStage::AwaitPubRec,
            delivery: Some(delivery("x/2", QoS::ExactlyOnce)),
        },
        PersistEvent::Inflight {
            client_id: a.clone(),
            packet_id: 2,
            stage: PersistStage::AwaitPubComp,
            delivery: None,
        },
        PersistEvent::Inflight {
            client_id: a.clone(),
            packet_id: 9,
            stage: PersistStage::AwaitPubAck,
            delivery: Some(delivery("x/9", QoS::AtLeastOnce)),
        },
        PersistEvent::Acknowledged {
            client_id: a.clone(),
            packet_id: 9,
        },
        PersistEvent::IncomingStored {
            client_id: a.clone(),
            packet_id: 500,
        },
        PersistEvent::IncomingStored {
            client_id: a.clone(),
            packet_id: 501,
        },
        PersistEvent::IncomingReleased {
            client_id: a.clone(),
            packet_id: 500,
        },
        PersistEvent::SessionExpiryChanged {
            client_id: a.clone(),
            expiry_interval: 60,
        },
        PersistEvent::SessionOffline {
            client_id: a.clone(),
            expires_at: Some(1_800_000_060_000),
        },
        PersistEvent::WillScheduled {
            client_id: a.clone(),
            msg: message("will/a", true),
            due_at: 1_800_000_030_000,
        },
        PersistEvent::RetainedSet {
            msg: message("r/1", false),
        },
        PersistEvent::RetainedSet {
            msg: message("r/2", true),
        },
        PersistEvent::RetainedSet {
            msg: message("r/3", false),
        },
        PersistEvent::RetainedRemoved {
            topic: "r/3".into(),
        },
        PersistEvent::SessionOffline {
            client_id: b.clone(),
            expires_at: None,
        },
        PersistEvent::WillScheduled {
            client_id: b.clone(),
            msg: message("will/b", false),
            due_at: 1,
        },
        PersistEvent::WillCancelled {
            client_id: b.clone(),
        },
        PersistEvent::SubscriptionAdded {
            client_id: b.clone(),
            filter: "b/#".into(),
            options: SubscriptionOptions::default(),
            sub_id: None,
        },
        PersistEvent::SessionUpserted {
            client_id: Arc::from("dev-c"),
            version: ProtocolVersion::V5,
            expiry_interval: 10,
            identity: None,
        },
        PersistEvent::Queued {
            client_id: Arc::from("dev-c"),
            seq: 1,
            delivery: delivery("c/1", QoS::AtLeastOnce),
        },
        PersistEvent::SessionEnded {
            client_id: Arc::from("dev-c"),
        },
    ]
}

#[test]
fn every_event_kind_written_and_reloaded_equals_snapshot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Snapshot::default();
    {
        let writer = Store::open(dir.path())
            .unwrap()
            .into_writer(Durability::Sync)
            .unwrap();
        let sink = TenantSink::new(
            "acme",
            writer.clone(),
            Durability::Sync,
            &Snapshot::default(),
        );
        for (i, event) in events().iter().enumerate() {
            let seq = i as u64 + 1;
            sink.accept(seq, event);
            expected.apply(seq, event);
        }
        let last = events().len() as u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.durable() < last {
            assert!(std::time::Instant::now() < deadline, "never durable");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(sink.durable(), last);
        assert!(sink.healthy());
        writer.close();
    }
    // A flow at the PUBREL stage needs no message: the store keeps none.
    for session in expected.sessions.values_mut() {
        for flow in session.inflight.values_mut() {
            if flow.stage == PersistStage::AwaitPubComp {
                flow.delivery = None;
            }
        }
    }
    let mut loaded = Store::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(loaded.len(), 1);
    let got = snapshot(loaded.remove("acme").unwrap()).unwrap();
    assert_eq!(got, expected);
    assert_eq!(got.sessions.len(), 2);
    assert_eq!(got.retained.len(), 2);
}

#[test]
fn a_sink_seeded_from_a_restore_keeps_writing_the_sessions_it_restored() {
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Snapshot::default();
    let evs = events();
    let (first, second) = evs.split_at(10);
    let write = |events: &[PersistEvent], seed: &Snapshot, from: u64| {
        let writer = Store::open(dir.path())
            .unwrap()
            .into_writer(Durability::Interval(Duration::from_millis(20)))
            .unwrap();
        let sink = TenantSink::new(
            "acme",
            writer.clone(),
            Durability::Interval(Duration::from_millis(20)),
            seed,
        );
        for (i, event) in events.iter().enumerate() {
            sink.accept(from + i as u64, event);
        }
        // Interval: acknowledged at once, on disk by close.
        assert_eq!(sink.durable(), from + events.len() as u64 - 1);
        writer.close();
    };
    write(first, &Snapshot::default(), 1);
    for (i, e) in first.iter().enumerate() {
        expected.apply(i as u64 + 1, e);
    }
    let mut loaded = Store::open(dir.path()).unwrap().load().unwrap();
    let restored = snapshot(loaded.remove("acme").unwrap()).unwrap();
    assert_eq!(restored, expected);
    // After a restart the broker numbers events from 1 again.
    write(second, &restored, 1);
    for (i, e) in second.iter().enumerate() {
        expected.apply(100 + i as u64, e);
    }
    for session in expected.sessions.values_mut() {
        for flow in session.inflight.values_mut() {
            if flow.stage == PersistStage::AwaitPubComp {
                flow.delivery = None;
            }
        }
    }
    let mut loaded = Store::open(dir.path()).unwrap().load().unwrap();
    let got = snapshot(loaded.remove("acme").unwrap()).unwrap();
    assert_eq!(got.sessions["dev-a"].expires_at, Some(1_800_000_060_000));
    assert_eq!(got.sessions["dev-a"].expiry_interval, 60);
    assert_eq!(got.sessions["dev-a"].version, ProtocolVersion::V5);
    assert_eq!(got.retained, expected.retained);
    assert_eq!(
        got.sessions.keys().collect::<Vec<_>>(),
        expected.sessions.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_unit_of_events_becomes_durable_together() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path())
        .unwrap()
        .into_writer(Durability::Sync)
        .unwrap();
    let sink = TenantSink::new(
        "acme",
        writer.clone(),
        Durability::Sync,
        &Snapshot::default(),
    );
    let unit: Vec<(u64, PersistEvent)> = events()
        .into_iter()
        .take(12)
        .enumerate()
        .map(|(i, e)| (i as u64 + 1, e))
        .collect();
    sink.accept_all(&unit);
    assert!(writer.durable().wait(1, Duration::from_secs(10)));
    // One submission: durable jumps from 0 to the unit's last event.
    assert_eq!(sink.durable(), 12);
    assert_eq!(writer.durable().get(), 1);
    writer.close();
    let mut expected = Snapshot::default();
    for (seq, e) in &unit {
        expected.apply(*seq, e);
    }
    for session in expected.sessions.values_mut() {
        for flow in session.inflight.values_mut() {
            if flow.stage == PersistStage::AwaitPubComp {
                flow.delivery = None;
            }
        }
    }
    let mut loaded = Store::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(snapshot(loaded.remove("acme").unwrap()).unwrap(), expected);
}
