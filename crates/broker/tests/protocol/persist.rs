//! The persistence seam (issue 10): every durable change leaves the broker as a
//! [`PersistEvent`]; acknowledgements wait until their events are durable; a broker restored
//! from the folded events carries on where the old one stopped.
//!
//! Wall-clock times are exact here: both "processes" get a [`WallClock`] chosen by the test,
//! so expiry across downtime runs on the simulated clock too.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lantern_broker::{
    Broker, BrokerConfig, PersistEvent, PersistSink, PersistStage, RecordingSink, Snapshot,
    WallClock,
};
use lantern_codec::{Ack, Packet, ProtocolVersion, QoS, ReasonCode, SubscriptionOptions};

use crate::harness::*;

/// Unix milliseconds at `t0` of the first run.
const WALL0: u64 = 1_800_000_000_000;

fn wall(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// A broker whose events go to `sink`, with `t0` at [`WALL0`].
fn recorded(sink: &Arc<RecordingSink>, t0: Instant) -> Arc<Broker> {
    Broker::with_sink(
        BrokerConfig::default(),
        sink.clone(),
        WallClock::at(t0, wall(WALL0)),
    )
}

/// The events about `client_id`, without their global sequence numbers.
fn of(sink: &RecordingSink, client_id: &str) -> Vec<PersistEvent> {
    sink.events()
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| client_of(e) == Some(client_id))
        .collect()
}

fn client_of(e: &PersistEvent) -> Option<&str> {
    match e {
        PersistEvent::SessionUpserted { client_id, .. }
        | PersistEvent::SessionOffline { client_id, .. }
        | PersistEvent::SessionExpiryChanged { client_id, .. }
        | PersistEvent::SessionEnded { client_id }
        | PersistEvent::SubscriptionAdded { client_id, .. }
        | PersistEvent::SubscriptionRemoved { client_id, .. }
        | PersistEvent::Queued { client_id, .. }
        | PersistEvent::Dequeued { client_id, .. }
        | PersistEvent::Inflight { client_id, .. }
        | PersistEvent::Acknowledged { client_id, .. }
        | PersistEvent::IncomingStored { client_id, .. }
        | PersistEvent::IncomingReleased { client_id, .. }
        | PersistEvent::WillScheduled { client_id, .. }
        | PersistEvent::WillCancelled { client_id } => Some(client_id),
        _ => None,
    }
}

/// A short name per event, for readable sequence assertions.
fn names(events: &[PersistEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            PersistEvent::SessionUpserted { .. } => "upserted".into(),
            PersistEvent::SessionOffline { .. } => "offline".into(),
            PersistEvent::SessionExpiryChanged {
                expiry_interval, ..
            } => format!("expiry {expiry_interval}"),
            PersistEvent::SessionEnded { .. } => "ended".into(),
            PersistEvent::SubscriptionAdded { filter, .. } => format!("sub {filter}"),
            PersistEvent::SubscriptionRemoved { filter, .. } => format!("unsub {filter}"),
            PersistEvent::Queued { seq, .. } => format!("queued {seq}"),
            PersistEvent::Dequeued { seq, .. } => format!("dequeued {seq}"),
            PersistEvent::Inflight {
                packet_id, stage, ..
            } => format!("inflight {packet_id} {stage:?}"),
            PersistEvent::Acknowledged { packet_id, .. } => format!("acked {packet_id}"),
            PersistEvent::IncomingStored { packet_id, .. } => format!("in {packet_id}"),
            PersistEvent::IncomingReleased { packet_id, .. } => format!("rel {packet_id}"),
            PersistEvent::RetainedSet { msg } => format!("retained {}", msg.topic.as_str()),
            PersistEvent::RetainedRemoved { topic } => format!("unretained {topic}"),
            PersistEvent::WillScheduled { .. } => "will".into(),
            PersistEvent::WillCancelled { .. } => "will cancelled".into(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Folds everything the sink recorded into a snapshot, as a store would on load.
fn snapshot(sink: &RecordingSink) -> Snapshot {
    let mut snap = Snapshot::default();
    for (seq, event) in sink.events() {
        snap.apply(seq, &event);
    }
    snap
}

/// Every durable change of a subscriber's session, in order, with the exact values: session
/// created, subscription, a QoS 1 message queued, sent, acknowledged, the connection lost
/// (expiry deadline in wall-clock time), resumed.
fn events_of_a_session_lifecycle(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "t/#", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "t/1", "one");
    let got = sub.recv_publishes(t0);
    assert_eq!(payloads(&got), ["one"]);
    let id = got[0].packet_id.expect("QoS 1 has a packet id");
    sub.send(t0, Packet::PubAck(Ack::new(id)));
    sub.conn.handle_peer_closed(t0 + secs(2));

    let events = of(&sink, "sub");
    assert_eq!(
        names(&events),
        [
            "upserted".to_string(),
            "sub t/#".into(),
            "queued 1".into(),
            "dequeued 1".into(),
            format!("inflight {} AwaitPubAck", id.get()),
            format!("acked {}", id.get()),
            "offline".into(),
        ]
    );
    let expiry = match version {
        ProtocolVersion::V5 => PERSISTENT_EXPIRY,
        _ => u32::MAX,
    };
    assert_eq!(
        events[0],
        PersistEvent::SessionUpserted {
            client_id: "sub".into(),
            version,
            expiry_interval: expiry,
            identity: None,
        }
    );
    let PersistEvent::Queued { delivery, .. } = &events[2] else {
        unreachable!()
    };
    assert_eq!(delivery.msg.topic.as_str(), "t/1");
    assert_eq!(&delivery.msg.payload[..], b"one");
    assert_eq!(delivery.qos, QoS::AtLeastOnce);
    assert_eq!(delivery.msg.expires_at, None);
    let expected_deadline = match version {
        ProtocolVersion::V5 => Some(WALL0 + 2_000 + u64::from(PERSISTENT_EXPIRY) * 1000),
        _ => None,
    };
    assert_eq!(
        events[6],
        PersistEvent::SessionOffline {
            client_id: "sub".into(),
            expires_at: expected_deadline,
        }
    );
    // A clean session (expiry 0) ends with its connection: the store never hears of it.
    assert_eq!(names(&of(&sink, "pub")), Vec::<String>::new());

    // Resumed: upserted again, nothing else.
    let before = sink.events().len();
    let (_sub, connack) = connect(&broker, t0 + secs(3), persistent(version, "sub"));
    assert!(connack.session_present);
    assert_eq!(
        names(
            &sink.events()[before..]
                .iter()
                .map(|(_, e)| e.clone())
                .collect::<Vec<_>>()
        ),
        ["upserted"]
    );
}

/// Both QoS 2 directions, retained set and removed, unsubscribe, and the end of a session.
fn events_of_qos2_retained_and_end(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "q", QoS::ExactlyOnce);
    let mut publisher = connect_ok(&broker, t0, persistent(version, "pub"));
    publisher.publish_qos2(t0, "q", "two");
    assert_eq!(
        names(&of(&sink, "pub")),
        ["upserted", "in 1", "rel 1"],
        "incoming QoS 2 id stored, then released by PUBREL"
    );
    let got = sub.recv_publishes(t0);
    let id = got[0].packet_id.expect("QoS 2 has a packet id").get();
    sub.send(t0, Packet::PubRec(Ack::new(pid(id))));
    assert!(matches!(sub.recv(t0).as_slice(), [Packet::PubRel(_)]));
    sub.send(t0, Packet::PubComp(Ack::new(pid(id))));
    assert_eq!(
        names(&of(&sink, "sub"))[2..],
        [
            "queued 1".to_string(),
            "dequeued 1".into(),
            format!("inflight {id} AwaitPubRec"),
            format!("inflight {id} AwaitPubComp"),
            format!("acked {id}"),
        ]
    );
    let before = sink.last_seq();
    publisher.publish(t0, retained("r/x", "kept"));
    publisher.publish(t0, retained("r/x", ""));
    let tail: Vec<_> = sink
        .events()
        .into_iter()
        .filter(|(s, _)| *s > before)
        .map(|(_, e)| e)
        .collect();
    assert_eq!(names(&tail), ["retained r/x", "unretained r/x"]);

    let id = sub.packet_id();
    sub.send(t0, Packet::Unsubscribe(unsubscribe(id.get(), &["q"])));
    sub.recv(t0);
    // A clean start ends the old session.
    let _sub2 = connect_ok(&broker, t0 + secs(1), clean(version, "sub"));
    let names_sub = names(&of(&sink, "sub"));
    assert_eq!(
        names_sub[names_sub.len() - 2..],
        ["unsub q", "ended"],
        "the old session ended; the new clean one is not stored"
    );
}

/// A stored session resumed with expiry 0 (v5): the store learns the new expiry, nothing of
/// what the session does meanwhile, and its end with the connection.
#[test]
fn stored_session_resumed_with_expiry_zero() {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.conn.handle_peer_closed(t0);
    let mut sub = connect_ok(&broker, t0, connect_v5("sub", false, 0, Some(0)));
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos1(t0, "t", "x");
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["x"]);
    sub.conn.handle_peer_closed(t0);
    assert_eq!(
        names(&of(&sink, "sub")),
        ["upserted", "sub t", "offline", "upserted", "ended"]
    );
    let mut snap = Snapshot::default();
    for (seq, e) in sink.events() {
        snap.apply(seq, &e);
    }
    assert!(snap.sessions.is_empty());
}

/// A delayed will: scheduled at the wall-clock due time, cancelled by a reconnection.
#[test]
fn will_scheduled_with_wall_clock_due_time_and_cancelled() {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut c = connect_v5("dev", true, 0, Some(60));
    let mut w = will("wills/dev", "gone", QoS::AtLeastOnce, false);
    w.properties.will_delay_interval = Some(5);
    c.will = Some(w);
    let mut device = connect_ok(&broker, t0, c);
    device.conn.handle_peer_closed(t0 + secs(1));
    let events = of(&sink, "dev");
    let PersistEvent::WillScheduled { msg, due_at, .. } = &events[1] else {
        panic!("expected the will scheduled, got {events:#?}");
    };
    assert_eq!(*due_at, WALL0 + 6_000);
    assert_eq!(msg.topic.as_str(), "wills/dev");
    assert_eq!(
        events[2],
        PersistEvent::SessionOffline {
            client_id: "dev".into(),
            expires_at: Some(WALL0 + 61_000),
        }
    );
    let _device = connect_ok(&broker, t0 + secs(2), connect_v5("dev", false, 0, Some(60)));
    assert_eq!(
        names(&of(&sink, "dev")),
        ["upserted", "will", "offline", "will cancelled", "upserted"]
    );
}

/// `durability = "sync"`: a PUBACK leaves only once the sink says the events of its PUBLISH
/// are durable; acknowledgements keep their order even when a later one caused no event of
/// its own; the connection's waker fires when durability advances.
fn puback_waits_for_durability_in_order(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::manual());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    // SUBACK is held too.
    let id = sub.packet_id();
    sub.send(
        t0,
        Packet::Subscribe(subscribe(id.get(), &[("t", opts(QoS::AtLeastOnce))])),
    );
    sub.recv_nothing(t0);
    sink.set_durable(sink.last_seq());
    assert!(sub.flag.take(), "durability woke the subscriber");
    assert!(matches!(sub.recv(t0).as_slice(), [Packet::SubAck(a)] if a.packet_id == id));

    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    let packets = publisher.publish(t0, publish("t", "a", QoS::AtLeastOnce, 1));
    assert!(packets.is_empty(), "PUBACK before durable: {packets:#?}");
    let first = sink.last_seq();
    // No subscriber: no event of its own, but it must not overtake PUBACK 1.
    let packets = publisher.publish(t0, publish("nobody", "b", QoS::AtLeastOnce, 2));
    assert!(
        packets.is_empty(),
        "PUBACK 2 overtook PUBACK 1: {packets:#?}"
    );
    let packets = publisher.publish(t0, publish("t", "c", QoS::AtLeastOnce, 3));
    assert!(packets.is_empty());
    publisher.flag.take();
    // Nor does a subscriber see a message before it is durable: a crash could lose it, and
    // its publisher, never acknowledged, would send it again.
    sub.recv_nothing(t0);
    sub.flag.take();

    // Polling again and again registers the waker once, not once per poll.
    for _ in 0..10 {
        publisher.recv_nothing(t0);
        sub.recv_nothing(t0);
    }
    assert_eq!(sink.waiters(), 2, "one registration per connection");
    sink.set_durable(first - 1);
    publisher.recv_nothing(t0);
    sink.set_durable(first);
    assert!(publisher.flag.take(), "durability woke the publisher");
    let ids: Vec<u16> = publisher
        .recv(t0)
        .iter()
        .map(|p| match p {
            Packet::PubAck(a) => a.packet_id.get(),
            other => panic!("expected PUBACK, got {other:#?}"),
        })
        .collect();
    assert_eq!(ids, [1, 2], "PUBACK 1 and 2 (2 waited only for 1)");
    assert!(sub.flag.take(), "durability woke the subscriber");
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["a"]);
    sink.set_durable(sink.last_seq());
    let ids: Vec<u16> = publisher
        .recv(t0)
        .iter()
        .map(|p| match p {
            Packet::PubAck(a) => a.packet_id.get(),
            other => panic!("expected PUBACK, got {other:#?}"),
        })
        .collect();
    assert_eq!(ids, [3]);
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["c"]);
}

/// QoS 2 inbound: PUBREC and PUBCOMP each wait for their events (id stored / released).
#[test]
fn pubrec_and_pubcomp_wait_for_durability() {
    let sink = Arc::new(RecordingSink::manual());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut publisher = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "pub"));
    let packets = publisher.publish(t0, publish("q", "x", QoS::ExactlyOnce, 9));
    assert!(packets.is_empty());
    sink.set_durable(sink.last_seq());
    assert!(matches!(publisher.recv(t0).as_slice(), [Packet::PubRec(a)] if a.packet_id == pid(9)));
    publisher.send(t0, Packet::PubRel(Ack::new(pid(9))));
    publisher.recv_nothing(t0);
    sink.set_durable(sink.last_seq());
    assert!(
        matches!(publisher.recv(t0).as_slice(), [Packet::PubComp(a)] if a.packet_id == pid(9) && a.reason == ReasonCode::Success)
    );
}

/// Without a sink (`Broker::new`), nothing is held: covered by every other protocol test; this
/// one checks the no-op sink explicitly on a QoS 2 flow.
#[test]
fn noop_sink_acknowledges_at_once() {
    let broker = broker();
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "pub"));
    publisher.publish_qos2(t0, "q", "x");
    publisher.publish_qos1(t0, "q", "y");
}

/// Round trip: record a run, fold the events into a snapshot, restore a new broker from it
/// (a restart), and carry on: the subscriber's session is present with its subscription, its
/// queued message and its unacknowledged in-flight message (re-sent with DUP); the
/// publisher's incoming QoS 2 id survives, so its re-sent PUBLISH is not routed twice; the
/// retained message is there.
fn restore_round_trip(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "t/#", QoS::ExactlyOnce);
    let mut publisher = connect_ok(&broker, t0, persistent(version, "pub"));
    publisher.publish(t0, retained("r/x", "kept"));
    publisher.publish_qos1(t0, "t/a", "in flight");
    let inflight = sub.recv_publishes(t0);
    assert_eq!(payloads(&inflight), ["in flight"]);
    // Not acknowledged. The subscriber goes away; a message is queued for it.
    sub.conn.handle_peer_closed(t0 + secs(1));
    publisher.publish_qos1(t0 + secs(1), "t/b", "queued");
    // The publisher's QoS 2 PUBLISH 7 is routed; PUBREL never comes before the crash.
    let packets = publisher.publish(t0 + secs(1), publish("t/c", "once", QoS::ExactlyOnce, 7));
    assert!(matches!(packets.as_slice(), [Packet::PubRec(_)]));

    // Crash: the process is gone. A new one starts 10 s later (wall clock) with a fresh
    // monotonic clock.
    let snap = snapshot(&sink);
    drop((sub, publisher, broker));
    let t1 = t0 + secs(500);
    let sink2 = Arc::new(RecordingSink::auto());
    let broker = Broker::restore(
        BrokerConfig::default(),
        sink2.clone(),
        WallClock::at(t1, wall(WALL0 + 11_000)),
        t1,
        snap.clone(),
    );
    assert_eq!(broker.session_count(), 2);
    assert_eq!(broker.retained_count(), 1);
    assert_eq!(broker.subscription_count(), 1);
    // The publisher was connected at the crash: its session now counts from the restart.
    let pub_offline = of(&sink2, "pub");
    assert_eq!(
        pub_offline,
        match version {
            ProtocolVersion::V5 => vec![PersistEvent::SessionOffline {
                client_id: "pub".into(),
                expires_at: Some(WALL0 + 11_000 + u64::from(PERSISTENT_EXPIRY) * 1000),
            }],
            _ => vec![PersistEvent::SessionOffline {
                client_id: "pub".into(),
                expires_at: None,
            }],
        }
    );

    let (mut sub, connack) = connect(&broker, t1, persistent(version, "sub"));
    assert!(connack.session_present, "restored session is present");
    let got = sub.recv_publishes(t1);
    assert_eq!(payloads(&got), ["in flight", "queued", "once"]);
    assert!(got[0].dup, "the in-flight message is re-sent with DUP");
    assert_eq!(got[0].packet_id, inflight[0].packet_id);
    assert!(!got[1].dup && !got[2].dup);
    assert_eq!(got[2].qos, QoS::ExactlyOnce);

    let (mut publisher, connack) = connect(&broker, t1, persistent(version, "pub"));
    assert!(connack.session_present);
    let resent = lantern_codec::Publish {
        dup: true,
        ..publish("t/c", "once", QoS::ExactlyOnce, 7)
    };
    let packets = publisher.publish(t1, resent);
    assert!(matches!(packets.as_slice(), [Packet::PubRec(a)] if a.packet_id == pid(7)));
    sub.recv_nothing(t1); // exactly once across the restart
    publisher.send(t1, Packet::PubRel(Ack::new(pid(7))));
    assert!(
        matches!(publisher.recv(t1).as_slice(), [Packet::PubComp(a)] if a.packet_id == pid(7) && a.reason == ReasonCode::Success)
    );
    // The subscription is live: a new message arrives.
    publisher.publish_qos1(t1, "t/d", "after");
    assert_eq!(payloads(&sub.recv_publishes(t1)), ["after"]);
    // A new subscription gets the restored retained message.
    let retained = sub.subscribe_with(t1, "r/x", opts(QoS::AtMostOnce), None);
    assert!(
        matches!(retained.as_slice(), [Packet::Publish(p)] if &p.payload[..] == b"kept" && p.retain)
    );

    // The snapshot holds exactly what was open at the crash.
    let s = &snap.sessions["sub"];
    assert_eq!(s.queue.len(), 2, "queued + once");
    assert_eq!(s.inflight.len(), 1);
    assert_eq!(
        s.inflight.values().next().map(|f| f.stage),
        Some(PersistStage::AwaitPubAck)
    );
    assert_eq!(
        s.subscriptions.get("t/#"),
        Some(&(opts(QoS::ExactlyOnce), None::<NonZeroU32>))
    );
    assert_eq!(
        snap.sessions["pub"]
            .incoming_qos2
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        [7]
    );
}

/// Expiry counts wall-clock time across the downtime: a session whose expiry passed is gone
/// (and its will published to a restored subscriber), a will whose delay passed is published
/// at start, a session and a will not yet due are kept and fire at their wall-clock time, an
/// expired queued message and an expired retained message are dropped.
#[test]
fn restore_counts_expiry_across_downtime() {
    let version = ProtocolVersion::V5;
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut watcher = connect_ok(&broker, t0, persistent(version, "watcher"));
    watcher.subscribe(t0, "#", QoS::AtLeastOnce);
    watcher.conn.handle_peer_closed(t0);
    // "short": expiry 10 s, will delay 100 s (goes at session end).
    let mut c = connect_v5("short", true, 0, Some(10));
    let mut w = will("wills/short", "short gone", QoS::AtLeastOnce, false);
    w.properties.will_delay_interval = Some(100);
    c.will = Some(w);
    connect_ok(&broker, t0, c).conn.handle_peer_closed(t0);
    // "late": expiry 1000 s, will delay 5 s (overdue at restart).
    let mut c = connect_v5("late", true, 0, Some(1000));
    let mut w = will("wills/late", "late gone", QoS::AtLeastOnce, false);
    w.properties.will_delay_interval = Some(5);
    c.will = Some(w);
    connect_ok(&broker, t0, c).conn.handle_peer_closed(t0);
    // "keep": expiry 1000 s, will delay 100 s (not yet due at restart).
    let mut c = connect_v5("keep", true, 0, Some(1000));
    let mut w = will("wills/keep", "keep gone", QoS::AtLeastOnce, false);
    w.properties.will_delay_interval = Some(100);
    c.will = Some(w);
    connect_ok(&broker, t0, c).conn.handle_peer_closed(t0);
    // Messages: one expiring after 5 s (queued and retained), one not expiring.
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    let mut m = publish("m/short", "expires", QoS::AtLeastOnce, 1);
    m.properties.message_expiry_interval = Some(5);
    m.retain = true;
    publisher.publish(t0, m);
    publisher.publish_qos1(t0, "m/long", "stays");

    let snap = snapshot(&sink);
    drop((watcher, publisher, broker));
    // Restart 20 s later (wall clock).
    let t1 = t0 + secs(3);
    let sink2 = Arc::new(RecordingSink::auto());
    let broker = Broker::restore(
        BrokerConfig::default(),
        sink2.clone(),
        WallClock::at(t1, wall(WALL0 + 20_000)),
        t1,
        snap,
    );
    assert!(broker.session("short").is_none(), "expired while down");
    assert!(broker.session("late").is_some());
    assert!(broker.session("keep").is_some());
    assert_eq!(broker.retained_count(), 0, "expired retained dropped");
    assert_eq!(names(&of(&sink2, "short")), ["ended"]);
    assert_eq!(names(&of(&sink2, "late")), ["will cancelled"]);

    let (mut watcher, connack) = connect(&broker, t1, persistent(version, "watcher"));
    assert!(connack.session_present);
    let got = watcher.recv_publishes(t1);
    let mut got = payloads(&got);
    got.sort();
    assert_eq!(got, ["late gone", "short gone", "stays"]);
    watcher.recv_nothing(t1);
    // "keep"'s will is due 100 s after its disconnect: 80 s after the restart.
    assert_eq!(broker.tick(t1 + secs(79)), Some(t1 + secs(80)));
    broker.tick(t1 + secs(80));
    assert_eq!(
        payloads(&watcher.recv_publishes(t1 + secs(80))),
        ["keep gone"]
    );
    // "keep" expires 1000 s after its disconnect.
    broker.tick(t1 + secs(979));
    assert!(broker.session("keep").is_some());
    broker.tick(t1 + secs(980));
    assert!(broker.session("keep").is_none());
}

/// Subscription options and identifiers survive a restore exactly.
#[test]
fn restore_keeps_subscription_options_and_ids() {
    let version = ProtocolVersion::V5;
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    let options = SubscriptionOptions {
        qos: QoS::AtLeastOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: lantern_codec::RetainHandling::SendIfNew,
    };
    sub.subscribe_with(t0, "a/+", options, Some(42));
    let snap = snapshot(&sink);
    drop((sub, broker));
    let t1 = t0 + secs(1);
    let broker = Broker::restore(
        BrokerConfig::default(),
        Arc::new(RecordingSink::auto()),
        WallClock::at(t1, wall(WALL0 + 1_000)),
        t1,
        snap,
    );
    let (mut sub, connack) = connect(&broker, t1, persistent(version, "sub"));
    assert!(connack.session_present);
    let mut publisher = connect_ok(&broker, t1, clean(version, "pub"));
    let mut m = publish("a/b", "x", QoS::AtLeastOnce, 1);
    m.retain = true;
    publisher.publish(t1, m);
    let got = sub.recv_publishes(t1);
    assert_eq!(payloads(&got), ["x"]);
    assert!(got[0].retain, "retain as published kept");
    assert_eq!(
        got[0].properties.subscription_identifiers,
        [NonZeroU32::new(42).unwrap()]
    );
}

both_versions!(
    events_of_a_session_lifecycle,
    events_of_qos2_retained_and_end,
    puback_waits_for_durability_in_order,
    restore_round_trip,
);

/// Disk full: while the sink is unhealthy a QoS 1/2 PUBLISH is refused — not routed, not
/// acknowledged, the client disconnected (v5 DISCONNECT 0x97; 3.1.1 just closed) with the
/// cause `store.unavailable`. QoS 0 still flows. Healthy again, publishing works.
fn store_unavailable_refuses_qos1_and_qos2(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = subscriber(&broker, t0, version, "sub", "t", QoS::ExactlyOnce);
    sink.set_healthy(false);
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
        publisher.publish_qos0(t0, "t", "zero");
        assert_eq!(payloads(&sub.recv_publishes(t0)), ["zero"]);
        publisher.send(
            t0,
            Packet::Publish(publish("t", "kept by the device", qos, 5)),
        );
        let packets = publisher.recv(t0);
        match version {
            ProtocolVersion::V5 => assert!(
                matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::QuotaExceeded),
                "{packets:#?}"
            ),
            _ => assert!(packets.is_empty(), "{packets:#?}"),
        }
        assert_eq!(
            publisher.expect_closed(),
            lantern_broker::CloseReason::StoreUnavailable {
                topic: "t".into(),
                qos: qos as u8,
            }
        );
        assert_eq!(publisher.expect_closed().id(), "store.unavailable");
        sub.recv_nothing(t0);
    }
    sink.set_healthy(true);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "t", "again");
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["again"]);
}

both_versions!(store_unavailable_refuses_qos1_and_qos2);

/// Outgoing QoS 2 across a restart: a flow at the PUBREL stage is restored as such — the
/// resumed subscriber gets PUBREL again, never the PUBLISH a second time [MQTT-4.4.0-1].
fn restore_keeps_outgoing_qos2_at_pubrel_stage(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "q", QoS::ExactlyOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos2(t0, "q", "exactly once");
    let got = sub.recv_publishes(t0);
    assert_eq!(payloads(&got), ["exactly once"]);
    let id = got[0].packet_id.expect("QoS 2 has a packet id");
    sub.send(t0, Packet::PubRec(Ack::new(id)));
    assert!(matches!(sub.recv(t0).as_slice(), [Packet::PubRel(a)] if a.packet_id == id));
    // Crash before PUBCOMP.
    let snap = snapshot(&sink);
    drop((sub, publisher, broker));
    let t1 = t0 + secs(10);
    let broker = Broker::restore(
        BrokerConfig::default(),
        Arc::new(RecordingSink::auto()),
        WallClock::at(t1, wall(WALL0 + 10_000)),
        t1,
        snap,
    );
    let (mut sub, connack) = connect(&broker, t1, persistent(version, "sub"));
    assert!(connack.session_present);
    let packets = sub.recv(t1);
    assert!(
        matches!(packets.as_slice(), [Packet::PubRel(a)] if a.packet_id == id),
        "expected only PUBREL {id}, got {packets:#?}"
    );
    sub.send(t1, Packet::PubComp(Ack::new(id)));
    sub.recv_nothing(t1);
    assert_eq!(broker.session("sub").map(|s| s.queued()), Some(0));
}

both_versions!(restore_keeps_outgoing_qos2_at_pubrel_stage);

/// DISCONNECT changing the session expiry, and a queued message expiring while its session
/// was offline: the store hears the new interval, the deadline it gives, and the message
/// leaving the queue.
#[test]
fn expiry_change_and_expired_message_events() {
    let sink = Arc::new(RecordingSink::auto());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(ProtocolVersion::V5, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.send(
        t0 + secs(1),
        Packet::Disconnect(lantern_codec::Disconnect {
            reason: ReasonCode::Success,
            properties: lantern_codec::DisconnectProperties {
                session_expiry_interval: Some(100),
                ..Default::default()
            },
        }),
    );
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    let mut m = publish("t", "short-lived", QoS::AtLeastOnce, 1);
    m.properties.message_expiry_interval = Some(2);
    publisher.publish(t0 + secs(1), m);
    let (mut sub, connack) = connect(
        &broker,
        t0 + secs(5),
        connect_v5("sub", false, 0, Some(PERSISTENT_EXPIRY)),
    );
    assert!(connack.session_present);
    sub.recv_nothing(t0 + secs(5));
    let events = of(&sink, "sub");
    assert_eq!(
        names(&events),
        [
            "upserted",
            "sub t",
            "expiry 100",
            "offline",
            "queued 1",
            "upserted",
            "dequeued 1"
        ]
    );
    assert_eq!(
        events[3],
        PersistEvent::SessionOffline {
            client_id: "sub".into(),
            expires_at: Some(WALL0 + 101_000),
        }
    );
    let PersistEvent::Queued { delivery, .. } = &events[4] else {
        unreachable!()
    };
    assert_eq!(delivery.msg.expires_at, Some(WALL0 + 3_000));
}

/// A QoS 2 PUBLISH to a stored session leaves only once its flow (the packet id it goes out
/// with) is durable: a restarted broker then re-sends it under the same id, which the client
/// recognises, never under a new one (a duplicate). A QoS 1 message queued behind it does not
/// overtake it; a QoS 1 message on its own waits only for being queued.
fn qos2_delivery_waits_for_its_flow_to_be_durable(version: ProtocolVersion) {
    let sink = Arc::new(RecordingSink::manual());
    let t0 = Instant::now();
    let broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    let id = sub.packet_id();
    sub.send(
        t0,
        Packet::Subscribe(subscribe(id.get(), &[("t", opts(QoS::ExactlyOnce))])),
    );
    sink.set_durable(sink.last_seq());
    assert!(matches!(sub.recv(t0).as_slice(), [Packet::SubAck(_)]));
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));

    // QoS 1 alone: delivered once queued durably.
    publisher.publish(t0, publish("t", "one", QoS::AtLeastOnce, 1));
    sink.set_durable(sink.last_seq());
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["one"]);

    // QoS 2, then QoS 1 behind it.
    publisher.publish(t0, publish("t", "two", QoS::ExactlyOnce, 2));
    publisher.publish(t0, publish("t", "three", QoS::AtLeastOnce, 3));
    sink.set_durable(sink.last_seq());
    sub.flag.take();
    // Queued durably; now the QoS 2 flow starts and waits for its own event.
    sub.recv_nothing(t0);
    let started = sink.last_seq();
    let flow = sink
        .events()
        .into_iter()
        .find(|(s, _)| *s == started)
        .map(|(_, e)| e);
    assert!(
        matches!(&flow, Some(PersistEvent::Inflight { stage: PersistStage::AwaitPubRec, delivery: Some(d), .. }) if &d.msg.payload[..] == b"two"),
        "{flow:#?}"
    );
    sink.set_durable(started);
    assert!(sub.flag.take(), "the flow's durability woke the subscriber");
    let got = sub.recv_publishes(t0);
    assert_eq!(payloads(&got), ["two", "three"]);
    assert!(!got[0].dup);
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
}

both_versions!(qos2_delivery_waits_for_its_flow_to_be_durable);

/// A crash at any moment loses only what was not durable. Model clients (a QoS 2 publisher
/// that re-sends what was not acknowledged, a QoS 2 subscriber that delivers on PUBREL and
/// keeps its packet-id state across reconnects, as paho does) run against a broker whose
/// durability advances by random steps; the broker "crashes" at random moments and is
/// restored from the durable prefix of its events. At the end every acknowledged message was
/// delivered, and no message was delivered twice.
fn random_crashes_lose_nothing_acknowledged_and_duplicate_nothing(version: ProtocolVersion) {
    for seed in 1..=100u64 {
        crash_run(version, seed);
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Out {
    AwaitRec,
    AwaitComp,
}

fn crash_run(version: ProtocolVersion, seed: u64) {
    use std::collections::{BTreeMap, HashMap};
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let t0 = Instant::now();
    let mut all_events: Vec<(u64, PersistEvent)> = Vec::new();
    let mut snap = Snapshot::default();
    let mut sink = Arc::new(RecordingSink::manual());
    let mut broker = recorded(&sink, t0);
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    let id = sub.packet_id();
    sub.send(
        t0,
        Packet::Subscribe(subscribe(id.get(), &[("t", opts(QoS::ExactlyOnce))])),
    );
    let mut publisher = connect_ok(&broker, t0, persistent(version, "pub"));
    // Publisher state: pid -> (payload, stage); subscriber: pid -> payload awaiting PUBREL.
    let mut outgoing: BTreeMap<u16, (String, Out)> = BTreeMap::new();
    let mut acked: Vec<String> = Vec::new();
    let mut incoming: HashMap<u16, String> = HashMap::new();
    let mut delivered: HashMap<String, u32> = HashMap::new();
    let mut next = 1u16;
    let total = 60u16;
    let mut crashes = 0;
    // While Some: the subscriber is away after a crash and comes back at that step.
    let mut sub_back_at: Option<u32> = None;
    for step in 0..600u32 {
        let now = t0 + millis(u64::from(step));
        if next <= total && outgoing.len() < 8 && rng.below(2) == 0 {
            let payload = format!("m{next}");
            publisher.send(
                now,
                Packet::Publish(publish("t", &payload, QoS::ExactlyOnce, next)),
            );
            outgoing.insert(next, (payload, Out::AwaitRec));
            next += 1;
        }
        for p in publisher.recv(now) {
            match p {
                Packet::PubRec(a) => {
                    let pid = a.packet_id.get();
                    if let Some(entry) = outgoing.get_mut(&pid) {
                        entry.1 = Out::AwaitComp;
                        publisher.send(now, Packet::PubRel(Ack::new(a.packet_id)));
                    }
                }
                Packet::PubComp(a) => {
                    if let Some((payload, _)) = outgoing.remove(&a.packet_id.get()) {
                        acked.push(payload);
                    }
                }
                _ => {}
            }
        }
        if sub_back_at == Some(step) {
            let (s, ack) = connect(&broker, now, persistent(version, "sub"));
            assert!(ack.session_present, "seed {seed}: sub resumed");
            sub = s;
            sub_back_at = None;
        }
        let sub_packets = if sub_back_at.is_none() {
            sub.recv(now)
        } else {
            Vec::new()
        };
        for p in sub_packets {
            match p {
                Packet::Publish(p) => {
                    let pid = p.packet_id.expect("QoS 2");
                    incoming.insert(pid.get(), String::from_utf8_lossy(&p.payload).into());
                    sub.send(now, Packet::PubRec(Ack::new(pid)));
                }
                Packet::PubRel(a) => {
                    if let Some(payload) = incoming.remove(&a.packet_id.get()) {
                        *delivered.entry(payload).or_default() += 1;
                    }
                    sub.send(now, Packet::PubComp(Ack::new(a.packet_id)));
                }
                _ => {}
            }
        }
        // The store makes some of what it has durable.
        let last = sink.last_seq();
        let durable = sink.durable();
        if last > durable && rng.below(3) == 0 {
            sink.set_durable(durable + 1 + rng.below(last - durable));
        }
        if step % 50 == 25 && rng.below(2) == 0 {
            // Crash: only the durable prefix survives.
            crashes += 1;
            let durable = sink.durable();
            for (seq, event) in sink.take() {
                if seq <= durable {
                    snap.apply(seq, &event);
                    all_events.push((seq, event));
                }
            }
            drop((publisher, broker));
            sink = Arc::new(RecordingSink::manual());
            let wall_now = WALL0 + 1_000 * u64::from(step);
            broker = Broker::restore(
                BrokerConfig::default(),
                sink.clone(),
                WallClock::at(now, wall(wall_now)),
                now,
                snap.clone(),
            );
            // The old connection is gone with the old broker; the subscriber comes back at
            // once or some steps later (after the publisher).
            sub = Client::open(&broker, version, now);
            let delay = rng.below(3) as u32 * 7;
            sub_back_at = Some(step + 1 + delay);
            let (p, ack) = connect(&broker, now, persistent(version, "pub"));
            assert!(ack.session_present, "seed {seed}: pub resumed");
            publisher = p;
            for (&pid, (payload, stage)) in &outgoing {
                let packet = match stage {
                    Out::AwaitRec => Packet::Publish(lantern_codec::Publish {
                        dup: true,
                        ..publish("t", payload, QoS::ExactlyOnce, pid)
                    }),
                    Out::AwaitComp => Packet::PubRel(Ack::new(pid_of(pid))),
                };
                publisher.send(now, packet);
            }
        } else if step >= 500 {
            sink.set_durable(sink.last_seq());
        }
    }
    assert!(next > total, "seed {seed}: all published");
    assert!(
        outgoing.is_empty(),
        "seed {seed}: all settled: {:?}",
        outgoing.keys()
    );
    for payload in &acked {
        assert_eq!(
            delivered.get(payload).copied().unwrap_or(0),
            1,
            "seed {seed} ({crashes} crashes): {payload} acknowledged, delivered {:?} times; sub queue {:?}, sub awaiting PUBREL {incoming:?}, events about it {:#?}",
            delivered.get(payload),
            broker.session("sub").map(|s| s.queued()),
            all_events.iter().chain(sink.events().iter()).filter(|(_, e)| format!("{e:?}").contains(&format!("b\"{payload}\"")) ).map(|(s, e)| format!("{s} {}", names(std::slice::from_ref(e))[0])).collect::<Vec<_>>()
        );
    }
    for (payload, n) in &delivered {
        assert_eq!(*n, 1, "seed {seed}: {payload} delivered {n} times");
    }
}

fn pid_of(n: u16) -> lantern_codec::PacketId {
    pid(n)
}

both_versions!(random_crashes_lose_nothing_acknowledged_and_duplicate_nothing);
