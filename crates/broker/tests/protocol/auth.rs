//! Authentication and ACLs as the wire shows them: CONNACK codes and reason strings, PUBACK and
//! SUBACK codes for denials, and deliveries filtered by read rules.

use std::sync::Arc;
use std::time::Instant;

use lantern_broker::auth::{
    Access, AccessPolicy, Acl, AclDecision, AclSubject, CertIdentity, CertIdentityUse,
    PasswordCheck, PasswordVerifier,
};
use lantern_broker::{CloseReason, ConnEvent};
use lantern_codec::{Packet, Password, ProtocolVersion, QoS, ReasonCode};

use crate::harness::*;

struct Alice;
impl PasswordVerifier for Alice {
    fn verify(&self, username: &str, password: &[u8]) -> PasswordCheck {
        match (username, password) {
            ("alice", b"secret") => PasswordCheck::Valid,
            ("alice", _) => PasswordCheck::WrongPassword,
            _ => PasswordCheck::UnknownUser,
        }
    }
}

/// alice may write `a/#` and read `a/#`; nobody else may do anything.
struct OnlyA;
impl Acl for OnlyA {
    fn check(&self, subject: &AclSubject<'_>, _access: Access, topic: &str) -> AclDecision {
        let allowed = subject.username == Some("alice") && topic.starts_with("a/");
        AclDecision {
            allowed,
            rule: "test: alice on a/#".into(),
        }
    }
    fn check_subscribe(&self, subject: &AclSubject<'_>, filter: &str) -> AclDecision {
        let allowed = subject.username == Some("alice")
            && (filter.starts_with("a/") || filter == "#" || filter == "+/#");
        AclDecision {
            allowed,
            rule: "test: alice on a/#".into(),
        }
    }
}

fn policy() -> AccessPolicy {
    AccessPolicy {
        allow_anonymous: false,
        passwords: Some(Arc::new(Alice)),
        acl: Some(Arc::new(OnlyA)),
        cert_identity: CertIdentityUse::default(),
    }
}

fn login(version: ProtocolVersion, user: &str, password: &str) -> lantern_codec::Connect {
    let mut c = clean(version, &format!("c-{user}"));
    c.username = Some(mstr(user));
    c.password = Some(Password(bytes::Bytes::copy_from_slice(password.as_bytes())));
    c
}

fn connack(client: &mut Client, now: Instant) -> lantern_codec::ConnAck {
    match client.recv_one(now) {
        Packet::ConnAck(c) => c,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// A wrong password and an unknown user look the same on the wire (no user enumeration), and
/// differ in the operator's close reason.
fn wrong_password_and_unknown_user_are_one_code_on_the_wire(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    for (user, id) in [
        ("alice", "auth.bad_password"),
        ("mallory", "auth.unknown_user"),
    ] {
        let mut c = Client::open_with(&broker, version, t0, policy(), None);
        c.send(t0, Packet::Connect(login(version, user, "guess")));
        let ack = connack(&mut c, t0);
        assert_eq!(ack.reason, ReasonCode::BadUserNameOrPassword);
        if version.is_v5() {
            let text = ack
                .properties
                .reason_string
                .expect("v5 gets a reason string");
            assert_eq!(text.as_str(), "bad user name or password");
            assert!(!text.as_str().contains(user));
        } else {
            assert_eq!(ack.properties.reason_string, None);
        }
        let reason = c.expect_closed();
        assert_eq!(reason.id(), id);
        assert!(
            !reason.to_string().contains("guess"),
            "the password must never appear"
        );
    }
    assert_eq!(broker.session_count(), 0);
}

fn no_credentials_is_not_authorized(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut c = Client::open_with(&broker, version, t0, policy(), None);
    c.send(t0, Packet::Connect(clean(version, "anon")));
    assert_eq!(connack(&mut c, t0).reason, ReasonCode::NotAuthorized);
    assert_eq!(c.expect_closed().id(), "auth.no_credentials");
}

fn acl_denied_publish_and_subscribe(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let mut alice = Client::open_with(&broker, version, t0, policy(), None);
    alice.send(t0, Packet::Connect(login(version, "alice", "secret")));
    assert_eq!(connack(&mut alice, t0).reason, ReasonCode::Success);

    // Subscribing outside a/# is refused in SUBACK: 0x87 (v5) / 0x80 (3.1.1).
    let sub = lantern_codec::Subscribe {
        packet_id: pid(1),
        filters: vec![
            (mstr("b/1"), opts(QoS::AtLeastOnce)),
            (mstr("#"), opts(QoS::AtLeastOnce)),
        ],
        properties: Default::default(),
    };
    alice.send(t0, Packet::Subscribe(sub));
    let Packet::SubAck(suback) = alice.recv_one(t0) else {
        panic!("expected SUBACK")
    };
    // 3.1.1 has one failure code, 0x80, which decodes as Unspecified error.
    let refused = if version.is_v5() {
        ReasonCode::NotAuthorized
    } else {
        ReasonCode::UnspecifiedError
    };
    assert_eq!(suback.reasons, vec![refused, ReasonCode::GrantedQoS1]);

    // A denied publish: v5 PUBACK 0x87; 3.1.1 acknowledged normally, and dropped either way.
    let acks = alice.publish(t0, publish("b/1", "no", QoS::AtLeastOnce, 7));
    let Some(Packet::PubAck(ack)) = acks.first() else {
        panic!("expected PUBACK, got {acks:?}")
    };
    let expected = if version.is_v5() {
        ReasonCode::NotAuthorized
    } else {
        ReasonCode::Success
    };
    assert_eq!(ack.reason, expected);
    assert!(alice.events().iter().any(|e| matches!(
        e,
        ConnEvent::Denied { access: Access::Write, topic, .. } if &**topic == "b/1"
    )));

    // `#` was granted, but deliveries are checked against the read rules: a/1 arrives, and a
    // message on b/1 from elsewhere does not.
    let got: Vec<_> = alice
        .publish(t0, publish("a/1", "yes", QoS::AtLeastOnce, 8))
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].topic.as_str(), "a/1");
    let root = broker.publish(
        t0,
        &lantern_broker::Message::new(
            mstr("b/2"),
            bytes::Bytes::from_static(b"x"),
            QoS::AtMostOnce,
            false,
            Default::default(),
            t0,
            0,
        ),
    );
    assert_eq!(root, 0, "the read ACL keeps b/2 from alice");
    alice.recv_nothing(t0);
}

fn certificate_identity_must_match_client_id(version: ProtocolVersion) {
    let broker = broker();
    let t0 = Instant::now();
    let access = AccessPolicy {
        allow_anonymous: false,
        passwords: None,
        acl: None,
        cert_identity: CertIdentityUse {
            as_username: true,
            require_client_id_match: true,
        },
    };
    let cert = CertIdentity {
        identity: "dev-7".into(),
        subject: "CN=dev-7".into(),
    };
    let mut ok = Client::open_with(&broker, version, t0, access.clone(), Some(cert.clone()));
    ok.send(t0, Packet::Connect(clean(version, "dev-7")));
    assert_eq!(connack(&mut ok, t0).reason, ReasonCode::Success);

    let mut wrong = Client::open_with(&broker, version, t0, access, Some(cert));
    wrong.send(t0, Packet::Connect(clean(version, "dev-8")));
    assert_eq!(
        connack(&mut wrong, t0).reason,
        ReasonCode::ClientIdentifierNotValid
    );
    let reason = wrong.expect_closed();
    assert!(matches!(reason, CloseReason::NotAuthenticated(_)));
    assert_eq!(reason.id(), "auth.cert_identity_mismatch");
}

both_versions!(
    wrong_password_and_unknown_user_are_one_code_on_the_wire,
    no_credentials_is_not_authorized,
    acl_denied_publish_and_subscribe,
    certificate_identity_must_match_client_id,
);
