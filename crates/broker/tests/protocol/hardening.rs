//! Issue 9 (hardening): sessions belong to the identity that created it, the read ACL is checked
//! again when a connection attaches, every retained match is delivered, QoS 1/2 to a connected
//! client are held back rather than dropped, every policy drop is counted, slow subscribers are
//! disconnected with 0x97, Response Topics are topic names, and topic and subscription limits.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use lantern_broker::auth::{
    Access, AccessPolicy, Acl, AclDecision, AclSubject, PasswordCheck, PasswordVerifier,
};
use lantern_broker::{Broker, BrokerConfig, CloseReason, ConnEvent, DropCounts, OtherIdentity};
use lantern_codec::{
    Ack, ConnAck, Connect, Packet, Password, ProtocolVersion, Publish, QoS, ReasonCode,
};

use crate::harness::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// alice/secret and bob/secret.
struct TwoUsers;
impl PasswordVerifier for TwoUsers {
    fn verify(&self, username: &str, password: &[u8]) -> PasswordCheck {
        match (username, password) {
            ("alice" | "bob", b"secret") => PasswordCheck::Valid,
            ("alice" | "bob", _) => PasswordCheck::WrongPassword,
            _ => PasswordCheck::UnknownUser,
        }
    }
}

/// Read access to `a/#` that the test can revoke, as a SIGHUP with a new ACL file would.
#[derive(Default)]
struct Revocable {
    revoked: AtomicBool,
}
impl Acl for Revocable {
    fn check(&self, _subject: &AclSubject<'_>, access: Access, topic: &str) -> AclDecision {
        let allowed = access == Access::Write
            || (topic.starts_with("a/") && !self.revoked.load(Ordering::SeqCst));
        AclDecision {
            allowed,
            rule: "test: read a/# unless revoked".into(),
        }
    }
    fn check_subscribe(&self, _subject: &AclSubject<'_>, _filter: &str) -> AclDecision {
        AclDecision {
            allowed: true,
            rule: "test: subscribe anything".into(),
        }
    }
}

fn users(acl: Option<Arc<dyn Acl>>) -> AccessPolicy {
    AccessPolicy {
        allow_anonymous: true,
        passwords: Some(Arc::new(TwoUsers)),
        acl,
        ..AccessPolicy::open()
    }
}

fn as_user(mut connect: Connect, user: &str) -> Connect {
    connect.username = Some(mstr(user));
    connect.password = Some(Password(bytes::Bytes::from_static(b"secret")));
    connect
}

/// Connects under `access`; returns the client, its CONNACK and what came with it.
fn connect_with(
    broker: &Arc<Broker>,
    now: Instant,
    access: AccessPolicy,
    connect: Connect,
) -> (Client, ConnAck, Vec<Packet>) {
    let mut client = Client::open_with(broker, connect.protocol, now, access, None);
    client.send(now, Packet::Connect(connect));
    let mut packets = client.recv(now);
    assert!(!packets.is_empty(), "no CONNACK");
    match packets.remove(0) {
        Packet::ConnAck(connack) => (client, connack, packets),
        other => panic!("expected CONNACK, got {other:#?}"),
    }
}

fn broker_with(config: BrokerConfig) -> Arc<Broker> {
    Broker::new(config)
}

fn nz(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

/// The `Dropped` events of a client: (counts, while_offline).
fn drops(client: &mut Client) -> Vec<(DropCounts, bool)> {
    client
        .events()
        .iter()
        .filter_map(|e| match e {
            ConnEvent::Dropped {
                counts,
                while_offline,
            } => Some((*counts, *while_offline)),
            _ => None,
        })
        .collect()
}

fn qos1(topic: &str, payload: &str, id: u16) -> Publish {
    publish(topic, payload, QoS::AtLeastOnce, id)
}

/// Acknowledges QoS 1 deliveries.
fn ack_all(client: &mut Client, now: Instant, publishes: &[Publish]) {
    for p in publishes {
        if let Some(id) = p.packet_id {
            client.send(now, Packet::PubAck(Ack::new(id)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Defect 1: session ownership and the ACL re-check
// ---------------------------------------------------------------------------------------------

/// Issue 9 defect 1: bob connecting with alice's client id gets a fresh session (session
/// present 0) and none of the messages queued for alice.
fn issue_9_other_identity_gets_a_fresh_session_without_the_queue(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let (mut alice, connack, _) = connect_with(
        &broker,
        t0,
        users(None),
        as_user(persistent(version, "dev"), "alice"),
    );
    assert_eq!(connack.reason, ReasonCode::Success);
    alice.subscribe(t0, "a/secret", QoS::AtLeastOnce);
    alice.disconnect(t0, ReasonCode::Success);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "a/secret", "for alice only");
    assert_eq!(broker.session("dev").unwrap().queued(), 1);

    let (mut bob, connack, rest) = connect_with(
        &broker,
        t0 + secs(1),
        users(None),
        as_user(persistent(version, "dev"), "bob"),
    );
    assert_eq!(connack.reason, ReasonCode::Success);
    assert!(
        !connack.session_present,
        "bob must not resume alice's session"
    );
    assert!(rest.is_empty(), "bob received {rest:#?}");
    bob.recv_nothing(t0 + secs(1));
    assert!(bob.events().iter().any(|e| matches!(
        e,
        ConnEvent::SessionReplaced { previous_owner: Some(o) } if &**o == "alice"
    )));
    // The old session's subscription is gone too: nothing new reaches bob.
    publisher.publish_qos1(t0 + secs(2), "a/secret", "later");
    bob.recv_nothing(t0 + secs(2));
}

/// Issue 9 defect 1 with `other_identity = "refuse"`: CONNACK 0x87 (3.1.1: 5), the owner's
/// connection and session are untouched, and the owner resumes with its queue.
fn issue_9_other_identity_refused_by_policy(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        other_identity: OtherIdentity::Refuse,
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let (mut alice, _, _) = connect_with(
        &broker,
        t0,
        users(None),
        as_user(persistent(version, "dev"), "alice"),
    );
    alice.subscribe(t0, "a/x", QoS::AtLeastOnce);

    // While alice is connected: no takeover by bob.
    let (mut bob, connack, _) = connect_with(
        &broker,
        t0,
        users(None),
        as_user(persistent(version, "dev"), "bob"),
    );
    assert_eq!(connack.reason, ReasonCode::NotAuthorized);
    assert!(!connack.session_present);
    assert!(bob.conn.is_closed());
    match bob.expect_closed() {
        CloseReason::SessionOfOtherIdentity {
            owner, identity, ..
        } => {
            assert_eq!(owner.as_deref(), Some("alice"));
            assert_eq!(identity.as_deref(), Some("bob"));
        }
        other => panic!("expected SessionOfOtherIdentity, got {other:?}"),
    }
    assert_eq!(bob.expect_closed().id(), "session.other_identity");
    assert!(
        !alice.conn.is_closed(),
        "the refused connection took alice's over"
    );
    alice.recv_nothing(t0);

    // While alice is away: anonymous is another identity too.
    alice.disconnect(t0, ReasonCode::Success);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "a/x", "kept");
    let (_anon, connack, _) = connect_with(&broker, t0, users(None), persistent(version, "dev"));
    assert_eq!(connack.reason, ReasonCode::NotAuthorized);

    let (mut alice, connack, rest) = connect_with(
        &broker,
        t0 + secs(1),
        users(None),
        as_user(persistent(version, "dev"), "alice"),
    );
    assert!(connack.session_present);
    let mut got: Vec<Publish> = rest
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    got.extend(alice.recv_publishes(t0 + secs(1)));
    assert_eq!(payloads(&got), ["kept"]);
}

/// Anonymous reconnecting as anonymous is the same identity: the session resumes.
fn issue_9_anonymous_resumes_anonymous_session(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        other_identity: OtherIdentity::Refuse,
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut c = connect_ok(&broker, t0, persistent(version, "dev"));
    c.subscribe(t0, "t", QoS::AtLeastOnce);
    c.disconnect(t0, ReasonCode::Success);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    publisher.publish_qos1(t0, "t", "m");
    let (mut c, connack) = connect(&broker, t0 + secs(1), persistent(version, "dev"));
    assert!(connack.session_present);
    assert_eq!(payloads(&c.recv_publishes(t0 + secs(1))), ["m"]);
}

/// Issue 9 defect 1: the read ACL is checked again when a connection attaches. Queued and
/// in-flight PUBLISHes the ACL no longer allows are removed (ids released) and counted; a
/// QoS 2 flow at the PUBREL stage carries no payload and stays.
fn issue_9_acl_rechecked_for_queued_and_inflight_on_attach(version: ProtocolVersion) {
    let broker = broker();
    let acl = Arc::new(Revocable::default());
    let access = || users(Some(acl.clone() as Arc<dyn Acl>));
    let t0 = Instant::now();
    let (mut alice, _, _) = connect_with(
        &broker,
        t0,
        access(),
        as_user(persistent(version, "dev"), "alice"),
    );
    alice.subscribe(t0, "a/#", QoS::ExactlyOnce);
    let (mut publisher, _, _) =
        connect_with(&broker, t0, access(), as_user(clean(version, "pub"), "bob"));
    publisher.publish_qos2(t0, "a/q2", "rel-stage");
    publisher.publish_qos1(t0, "a/q1", "inflight");
    let got = alice.recv_publishes(t0);
    assert_eq!(payloads(&got), ["rel-stage", "inflight"]);
    // The QoS 2 one reaches the PUBREL stage; the QoS 1 one stays unacknowledged.
    alice.send(t0, Packet::PubRec(Ack::new(got[0].packet_id.unwrap())));
    assert!(matches!(alice.recv_one(t0), Packet::PubRel(_)));
    alice.send(
        t0,
        Packet::Disconnect(lantern_codec::Disconnect {
            reason: ReasonCode::Success,
            properties: Default::default(),
        }),
    );
    publisher.publish_qos1(t0, "a/q3", "queued-1");
    publisher.publish_qos1(t0, "a/q4", "queued-2");
    assert_eq!(broker.session("dev").unwrap().queued(), 2);

    acl.revoked.store(true, Ordering::SeqCst); // SIGHUP with a stricter ACL
    let (mut alice, connack, rest) = connect_with(
        &broker,
        t0 + secs(1),
        access(),
        as_user(persistent(version, "dev"), "alice"),
    );
    assert!(connack.session_present);
    let mut after: Vec<Packet> = rest;
    after.extend(alice.recv(t0 + secs(1)));
    assert!(
        matches!(after.as_slice(), [Packet::PubRel(rel)] if rel.packet_id == got[0].packet_id.unwrap()),
        "only the PUBREL may be re-sent, got {after:#?}"
    );
    assert_eq!(broker.session("dev").unwrap().queued(), 0);
    let reported = drops(&mut alice);
    assert_eq!(
        reported,
        [(
            DropCounts {
                acl_revoked: 3,
                ..DropCounts::default()
            },
            true
        )]
    );
    // The QoS 1 delivery's packet id was released: the next delivery may reuse it.
    acl.revoked.store(false, Ordering::SeqCst);
    publisher.publish_qos1(t0 + secs(2), "a/q5", "new");
    let next = alice.recv_publish(t0 + secs(2));
    assert_eq!(payload(&next), "new");
    assert_ne!(
        next.packet_id, got[0].packet_id,
        "the PUBREL flow still holds its id"
    );
}

both_versions!(
    issue_9_other_identity_gets_a_fresh_session_without_the_queue,
    issue_9_other_identity_refused_by_policy,
    issue_9_anonymous_resumes_anonymous_session,
    issue_9_acl_rechecked_for_queued_and_inflight_on_attach,
);

// ---------------------------------------------------------------------------------------------
// Defect 3: retained messages
// ---------------------------------------------------------------------------------------------

/// Issue 9 defect 3: 1,500 retained messages all reach a new subscription although the queue
/// holds 1,000, paced by the in-flight window (never more than it unacknowledged).
fn issue_9_every_retained_match_is_delivered_paced_by_the_window(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        max_inflight: std::num::NonZeroU16::new(20).unwrap(),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..1500 {
        let mut p = qos1(&format!("r/{i}"), &format!("v{i}"), 0);
        p.retain = true;
        p.packet_id = Some(pid(1 + (i % 60000) as u16));
        publisher.send(t0, Packet::Publish(p));
    }
    publisher.recv(t0);
    assert_eq!(broker.retained_count(), 1500);

    let mut sub = connect_ok(&broker, t0, clean(version, "sub"));
    let mut got = only_publishes(sub.subscribe_with(t0, "r/#", opts(QoS::AtLeastOnce), None));
    let mut total = 0;
    let mut rounds = 0;
    while !got.is_empty() {
        assert!(
            got.len() <= 20,
            "more than the window unacknowledged: {}",
            got.len()
        );
        total += got.len();
        ack_all(&mut sub, t0, &got);
        got = sub.recv_publishes(t0);
        rounds += 1;
        assert!(rounds < 1000);
    }
    assert_eq!(total, 1500);
    sub.disconnect(t0, ReasonCode::Success);
    assert!(drops(&mut sub).is_empty());
}

/// Issue 9 defect 3: `max_retained_per_subscription` cuts, and the cut is counted and reported.
fn issue_9_retained_limit_cuts_and_counts(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        max_retained_per_subscription: Some(nz(100)),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..150 {
        publisher.publish(t0, retained(&format!("r/{i}"), "v"));
    }
    let mut sub = connect_ok(&broker, t0, clean(version, "sub"));
    let got = only_publishes(sub.subscribe_with(t0, "r/#", opts(QoS::AtMostOnce), None));
    assert_eq!(got.len() + sub.recv_publishes(t0).len(), 100);
    sub.disconnect(t0, ReasonCode::Success);
    assert_eq!(
        drops(&mut sub),
        [(
            DropCounts {
                retained_limit: 50,
                ..DropCounts::default()
            },
            false
        )]
    );
}

fn only_publishes(packets: Vec<Packet>) -> Vec<Publish> {
    packets
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => p,
            other => panic!("expected PUBLISH, got {other:#?}"),
        })
        .collect()
}

both_versions!(
    issue_9_every_retained_match_is_delivered_paced_by_the_window,
    issue_9_retained_limit_cuts_and_counts,
);

// ---------------------------------------------------------------------------------------------
// Defect 4: flow control instead of drops; counted drops; slow subscribers
// ---------------------------------------------------------------------------------------------

fn small_queue(max_queued: usize) -> Arc<Broker> {
    broker_with(BrokerConfig {
        max_queued_messages: max_queued,
        slow_subscriber_timeout: secs(5),
        ..BrokerConfig::default()
    })
}

/// Issue 9 defect 4: a connected QoS 1 subscriber's full queue holds its publisher back
/// (`wants_read` false) instead of dropping; nothing is lost, and the publisher is woken and
/// reads again once the queue drained to half.
fn issue_9_full_queue_holds_qos1_publisher_back_and_loses_nothing(version: ProtocolVersion) {
    let broker = small_queue(4);
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "t", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..4 {
        publisher.publish_qos1(t0, "t", &format!("m{i}"));
    }
    assert!(publisher.conn.wants_read(), "not full yet");
    publisher.publish_qos1(t0, "t", "m4"); // the fifth: beyond the limit, still queued
    assert!(
        !publisher.conn.wants_read(),
        "a full queue must hold the publisher back"
    );
    // What the publisher had already read is still handled (bounded overshoot).
    publisher.publish_qos1(t0, "t", "m5");
    assert_eq!(broker.session("sub").unwrap().queued(), 6);
    publisher.flag.take();

    let mut got = Vec::new();
    loop {
        let batch = sub.recv_publishes(t0);
        if batch.is_empty() {
            break;
        }
        ack_all(&mut sub, t0, &batch);
        got.extend(batch);
    }
    assert_eq!(payloads(&got), ["m0", "m1", "m2", "m3", "m4", "m5"]);
    assert!(
        publisher.conn.wants_read(),
        "drained: the publisher reads again"
    );
    assert!(publisher.flag.take(), "the held publisher was woken");
    sub.disconnect(t0, ReasonCode::Success);
    assert!(
        drops(&mut sub).is_empty(),
        "no QoS 1 drop for a connected client"
    );
}

/// Issue 9 defect 4: QoS 0 to a connected client's full queue is dropped, counted and
/// reported in its story (at close); the publisher is not held back for QoS 0.
fn issue_9_qos0_to_full_connected_queue_is_counted(version: ProtocolVersion) {
    let broker = small_queue(2);
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "t", QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..5 {
        publisher.publish_qos0(t0, "t", &format!("m{i}"));
    }
    assert!(publisher.conn.wants_read());
    assert_eq!(payloads(&sub.recv_publishes(t0)), ["m0", "m1"]);
    sub.disconnect(t0, ReasonCode::Success);
    assert_eq!(
        drops(&mut sub),
        [(
            DropCounts {
                qos0_queue_full: 3,
                ..DropCounts::default()
            },
            false
        )]
    );
}

/// Issue 9 defect 4: QoS 1 to an offline persistent session's full queue is dropped, counted,
/// and reported by the next connection that attaches.
fn issue_9_offline_queue_full_is_reported_at_the_next_attach(version: ProtocolVersion) {
    let broker = small_queue(2);
    let t0 = Instant::now();
    let mut sub = connect_ok(&broker, t0, persistent(version, "sub"));
    sub.subscribe(t0, "t", QoS::AtLeastOnce);
    sub.disconnect(t0, ReasonCode::Success);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..5 {
        publisher.publish_qos1(t0, "t", &format!("m{i}"));
    }
    assert!(
        publisher.conn.wants_read(),
        "an offline session never holds publishers"
    );
    let (mut sub, connack) = connect(&broker, t0 + secs(1), persistent(version, "sub"));
    assert!(connack.session_present);
    assert_eq!(payloads(&sub.recv_publishes(t0 + secs(1))), ["m0", "m1"]);
    assert_eq!(
        drops(&mut sub),
        [(
            DropCounts {
                offline_queue_full: 3,
                ..DropCounts::default()
            },
            true
        )]
    );
}

/// Issue 9 defect 4: a subscriber whose queue stays full past `slow_subscriber_timeout` is
/// disconnected, v5 with DISCONNECT 0x97 and a reason string naming the numbers; its held
/// publisher goes on.
fn issue_9_slow_subscriber_disconnected_after_timeout(version: ProtocolVersion) {
    let broker = small_queue(2);
    let t0 = Instant::now();
    let mut sub = subscriber(&broker, t0, version, "sub", "t", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, clean(version, "pub"));
    for i in 0..3 {
        publisher.publish_qos1(t0 + secs(1), "t", &format!("m{i}"));
    }
    assert!(!publisher.conn.wants_read());
    assert_eq!(
        sub.conn.poll_timeout(),
        Some(t0 + secs(6)),
        "congested at 1 s, timeout 5 s"
    );
    sub.conn.handle_timeout(t0 + secs(6) - millis(1));
    assert!(!sub.conn.is_closed(), "closed before the timeout");
    sub.conn.handle_timeout(t0 + secs(6));
    assert!(sub.conn.is_closed());
    let packets = sub.recv(t0 + secs(6));
    if version.is_v5() {
        match packets.last() {
            Some(Packet::Disconnect(d)) => {
                assert_eq!(d.reason, ReasonCode::QuotaExceeded);
                let text = d
                    .properties
                    .reason_string
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .to_owned();
                assert!(
                    text.contains("3 messages queued (max_queued_messages 2)"),
                    "{text}"
                );
                assert!(text.contains("slow_subscriber_timeout 5.0s"), "{text}");
            }
            other => panic!("expected DISCONNECT 0x97, got {other:#?}"),
        }
    } else {
        assert!(!packets.iter().any(|p| matches!(p, Packet::Disconnect(_))));
    }
    let reason = sub.expect_closed();
    assert_eq!(reason.id(), "session.slow_subscriber");
    assert!(
        matches!(reason, CloseReason::SlowSubscriber { queued: 3, max_queued: 2, stuck_for, .. } if stuck_for == secs(5)),
        "{reason:?}"
    );
    assert!(
        publisher.conn.wants_read(),
        "the subscriber is gone: the publisher goes on"
    );
}

/// Issue 9 defect 4: a held-back publisher's keep alive does not expire while the broker is
/// not reading from it (its PINGREQs wait in the socket).
fn issue_9_held_publisher_keep_alive_does_not_expire(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        max_queued_messages: 1,
        slow_subscriber_timeout: secs(600),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let _sub = subscriber(&broker, t0, version, "sub", "t", QoS::AtLeastOnce);
    let mut publisher = connect_ok(&broker, t0, connect_with_keepalive(version, "pub", 10));
    publisher.publish_qos1(t0, "t", "a");
    publisher.publish_qos1(t0, "t", "b");
    assert!(!publisher.conn.wants_read());
    for s in [15, 30, 45, 60] {
        publisher.conn.handle_timeout(t0 + secs(s));
        assert!(
            !publisher.conn.is_closed(),
            "keep alive expired at {s} s while held"
        );
    }
}

/// Issue 9 defect 4: a delivery too large for the client's Maximum Packet Size and an expired
/// one are counted.
#[test]
fn issue_9_too_large_and_expired_are_counted() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = connect_v5("sub", true, 0, None);
    c.properties.maximum_packet_size = std::num::NonZeroU32::new(64);
    let mut sub = connect_ok(&broker, t0, c);
    sub.subscribe(t0, "t", QoS::AtMostOnce);
    let mut publisher = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "pub"));
    publisher.publish_qos0(t0, "t", &"x".repeat(100));
    let mut expiring = publish("t", "short-lived", QoS::AtMostOnce, 0);
    expiring.properties.message_expiry_interval = Some(1);
    publisher.publish(t0, expiring);
    sub.recv_nothing(t0 + secs(2));
    sub.disconnect(t0 + secs(2), ReasonCode::Success);
    assert_eq!(
        drops(&mut sub),
        [(
            DropCounts {
                too_large: 1,
                expired: 1,
                ..DropCounts::default()
            },
            false
        )]
    );
}

both_versions!(
    issue_9_full_queue_holds_qos1_publisher_back_and_loses_nothing,
    issue_9_qos0_to_full_connected_queue_is_counted,
    issue_9_offline_queue_full_is_reported_at_the_next_attach,
    issue_9_slow_subscriber_disconnected_after_timeout,
    issue_9_held_publisher_keep_alive_does_not_expire,
);

// ---------------------------------------------------------------------------------------------
// Defect 8: Response Topic
// ---------------------------------------------------------------------------------------------

/// [MQTT-3.3.2-14] A Response Topic with a wildcard in PUBLISH is a protocol error:
/// DISCONNECT 0x82.
#[test]
fn mqtt_3_3_2_14_response_topic_with_wildcard_in_publish_disconnects() {
    for rt in ["reply/+", "reply/#"] {
        let broker = broker();
        let t0 = Instant::now();
        let _sub = subscriber(
            &broker,
            t0,
            ProtocolVersion::V5,
            "sub",
            "t",
            QoS::AtMostOnce,
        );
        let mut c = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "c"));
        let mut p = publish("t", "req", QoS::AtLeastOnce, 1);
        p.properties.response_topic = Some(mstr(rt));
        c.send(t0, Packet::Publish(p));
        assert_eq!(c.recv_disconnect(t0), ReasonCode::ProtocolError, "{rt}");
        match c.expect_closed() {
            CloseReason::ProtocolViolation { detail, .. } => {
                assert!(detail.contains("MQTT-3.3.2-14"), "{detail}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(broker.session("sub").unwrap().queued(), 0, "not routed");
    }
    // A proper topic name is passed through.
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
    let mut c = connect_ok(&broker, t0, clean(ProtocolVersion::V5, "c"));
    let mut p = publish("t", "req", QoS::AtMostOnce, 0);
    p.properties.response_topic = Some(mstr("reply/dev-1"));
    c.publish(t0, p);
    let got = sub.recv_publish(t0);
    assert_eq!(
        got.properties.response_topic.unwrap().as_str(),
        "reply/dev-1"
    );
}

/// [MQTT-3.3.2-14] A will whose Response Topic has a wildcard refuses CONNECT with 0x82.
#[test]
fn mqtt_3_3_2_14_will_response_topic_with_wildcard_refuses_connect() {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = clean(ProtocolVersion::V5, "c");
    let mut w = will("status/c", "gone", QoS::AtMostOnce, false);
    w.properties.response_topic = Some(mstr("reply/#"));
    c.will = Some(w);
    let (mut client, connack) = connect(&broker, t0, c);
    assert_eq!(connack.reason, ReasonCode::ProtocolError);
    assert!(client.conn.is_closed());
    assert_eq!(client.expect_closed().id(), "mqtt.refused");
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// `max_subscriptions_per_client`: beyond it SUBACK says 0x97 (3.1.1: 0x80); replacing an
/// existing subscription is not a new one.
fn issue_9_max_subscriptions_per_client(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        max_subscriptions_per_client: Some(nz(2)),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut c = connect_ok(&broker, t0, clean(version, "c"));
    c.subscribe(t0, "a", QoS::AtMostOnce);
    c.subscribe(t0, "b", QoS::AtMostOnce);
    c.subscribe(t0, "a", QoS::AtLeastOnce); // replaces
    c.send(
        t0,
        Packet::Subscribe(subscribe(
            50,
            &[("c", opts(QoS::AtMostOnce)), ("b", opts(QoS::AtMostOnce))],
        )),
    );
    let want = if version.is_v5() {
        ReasonCode::QuotaExceeded
    } else {
        ReasonCode::UnspecifiedError // 0x80
    };
    match c.recv_one(t0) {
        Packet::SubAck(ack) => assert_eq!(ack.reasons, [want, ReasonCode::Success]),
        other => panic!("{other:?}"),
    }
    assert_eq!(broker.subscription_count(), 2);
}

/// `max_topic_levels` (default 128): a topic name with more levels closes the connection (v5:
/// DISCONNECT 0x90); a filter with more gets SUBACK 0x8F (3.1.1: 0x80). 128 levels pass. The
/// 65,000-level topic of the issue is refused.
fn issue_9_max_topic_levels_default_128(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let levels = |n: usize| vec!["l"; n].join("/");
    let mut c = connect_ok(&broker, t0, clean(version, "c"));
    c.subscribe(t0, &levels(128), QoS::AtMostOnce);
    let echoed = c.publish(t0, publish(&levels(128), "ok", QoS::AtMostOnce, 0));
    assert!(
        matches!(echoed.as_slice(), [Packet::Publish(_)]),
        "{echoed:?}"
    );
    c.send(
        t0,
        Packet::Subscribe(subscribe(
            9,
            &[(&format!("{}/#", levels(128)), opts(QoS::AtMostOnce))],
        )),
    );
    match c.recv_one(t0) {
        Packet::SubAck(ack) => assert_eq!(
            ack.reasons,
            [if version.is_v5() {
                ReasonCode::TopicFilterInvalid
            } else {
                ReasonCode::UnspecifiedError
            }]
        ),
        other => panic!("{other:?}"),
    }
    // 65,000 empty levels are 64,999 slashes: within the protocol's 65,535 bytes.
    for (n, topic) in [(129, levels(129)), (65_000, "/".repeat(64_999))] {
        let mut c = connect_ok(&broker, t0, clean(version, "p"));
        c.send(
            t0,
            Packet::Publish(publish(&topic, "x", QoS::AtMostOnce, 0)),
        );
        assert!(c.conn.is_closed(), "{n} levels accepted");
        let packets = c.recv(t0);
        if version.is_v5() {
            assert!(
                matches!(packets.as_slice(), [Packet::Disconnect(d)] if d.reason == ReasonCode::TopicNameInvalid),
                "{packets:?}"
            );
        }
        match c.expect_closed() {
            CloseReason::ProtocolViolation { detail, .. } => {
                assert!(
                    detail.contains(&format!("{n} levels")) && detail.contains("max_topic_levels"),
                    "{detail}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}

/// `max_topic_length`: topic names and filters longer are refused; a will topic too.
fn issue_9_max_topic_length(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        max_topic_length: nz(10),
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let mut c = connect_ok(&broker, t0, clean(version, "c"));
    c.subscribe(t0, "0123456789", QoS::AtMostOnce);
    c.send(
        t0,
        Packet::Subscribe(subscribe(9, &[("0123456789a", opts(QoS::AtMostOnce))])),
    );
    assert!(matches!(c.recv_one(t0), Packet::SubAck(ack) if ack.reasons[0].is_error()));
    let echoed = c.publish(t0, publish("0123456789", "fits", QoS::AtMostOnce, 0));
    assert!(
        matches!(echoed.as_slice(), [Packet::Publish(_)]),
        "{echoed:?}"
    );
    c.send(
        t0,
        Packet::Publish(publish("0123456789a", "x", QoS::AtMostOnce, 0)),
    );
    assert!(c.conn.is_closed());
    let mut w = clean(version, "w");
    w.will = Some(will("0123456789a", "x", QoS::AtMostOnce, false));
    let (_, connack) = connect(&broker, t0, w);
    let want = if version.is_v5() {
        ReasonCode::TopicNameInvalid
    } else {
        ReasonCode::ServerUnavailable // 3.1.1 return code 3, as for any invalid will topic
    };
    assert_eq!(connack.reason, want);
}

both_versions!(
    issue_9_max_subscriptions_per_client,
    issue_9_max_topic_levels_default_128,
    issue_9_max_topic_length,
);

/// Issue 9 defect 1: a verified client certificate's identity owns the session when there is
/// no user name; another certificate is another identity.
fn issue_9_certificate_identity_owns_the_session(version: ProtocolVersion) {
    let broker = broker_with(BrokerConfig {
        other_identity: OtherIdentity::Refuse,
        ..BrokerConfig::default()
    });
    let t0 = Instant::now();
    let cert = |id: &str| lantern_broker::auth::CertIdentity {
        identity: id.into(),
        subject: format!("CN={id}").into(),
    };
    let open = |id: &str| {
        let mut c = Client::open_with(&broker, version, t0, AccessPolicy::open(), Some(cert(id)));
        c.send(t0, Packet::Connect(persistent(version, "dev")));
        match c.recv(t0).first() {
            Some(Packet::ConnAck(connack)) => (c, connack.clone()),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    };
    let (mut first, connack) = open("sensor-1");
    assert_eq!(connack.reason, ReasonCode::Success);
    first.disconnect(t0, ReasonCode::Success);
    let (_, connack) = open("sensor-2");
    assert_eq!(connack.reason, ReasonCode::NotAuthorized);
    let (_, connack) = open("sensor-1");
    assert_eq!(connack.reason, ReasonCode::Success);
    assert!(connack.session_present);
}

both_versions!(issue_9_certificate_identity_owns_the_session);
