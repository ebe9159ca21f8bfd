//! The body of each packet: variable header and payload, for each protocol version.

use super::props::{self, WriteProps};
use super::{EncodeError, Sink};
use crate::packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketType, ProtocolVersion, Publish, QoS,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
};
use crate::reason::ReasonCode;
use crate::wire::{connack_flags, connect_flags, publish_flags, subscription_options as opts};

/// Writes the body of any packet.
pub(super) fn body<S: Sink>(packet: &Packet, v: ProtocolVersion, s: &mut S) {
    match packet {
        Packet::Connect(c) => connect(c, s),
        Packet::ConnAck(c) => connack(c, v, s),
        Packet::Publish(p) => publish(p, v, s),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            ack(a, v, s);
        }
        Packet::Subscribe(sub) => subscribe(sub, v, s),
        Packet::SubAck(a) => suback(a, v, s),
        Packet::Unsubscribe(u) => unsubscribe(u, v, s),
        Packet::UnsubAck(a) => unsuback(a, v, s),
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => disconnect(d, v, s),
        Packet::Auth(a) => auth(a, v, s),
    }
}

/// The first byte of a PUBLISH: type and DUP / QoS / RETAIN flags.
pub(super) fn publish_first_byte(p: &Publish) -> u8 {
    let mut first = (PacketType::Publish as u8) << 4 | (p.qos as u8) << publish_flags::QOS_SHIFT;
    if p.dup {
        first |= publish_flags::DUP;
    }
    if p.retain {
        first |= publish_flags::RETAIN;
    }
    first
}

/// A 5.0 property block, or nothing before 5.0.
fn properties<S: Sink, P: WriteProps>(p: &P, v: ProtocolVersion, s: &mut S) {
    if v.is_v5() {
        props::block(s, p);
    }
}

fn connect<S: Sink>(c: &Connect, s: &mut S) {
    let v = c.protocol;
    let name = v.protocol_name().as_bytes();
    s.binary("protocol name", name);
    s.u8(v.level());
    let mut flags = 0;
    if c.clean_start {
        flags |= connect_flags::CLEAN_START;
    }
    if let Some(will) = &c.will {
        flags |= connect_flags::WILL | (will.qos as u8) << connect_flags::WILL_QOS_SHIFT;
        if will.retain {
            flags |= connect_flags::WILL_RETAIN;
        }
    }
    if c.username.is_some() {
        flags |= connect_flags::USERNAME;
    }
    if c.password.is_some() {
        flags |= connect_flags::PASSWORD;
    }
    s.u8(flags);
    s.u16(c.keep_alive);
    properties(&c.properties, v, s);
    s.string(&c.client_id);
    if let Some(will) = &c.will {
        properties(&will.properties, v, s);
        s.string(&will.topic);
        s.binary("will payload", &will.payload);
    }
    if let Some(username) = &c.username {
        s.string(username);
    }
    if let Some(password) = &c.password {
        s.binary("password", password.expose());
    }
}

fn connack<S: Sink>(c: &ConnAck, v: ProtocolVersion, s: &mut S) {
    let session_present = c.session_present && v != ProtocolVersion::V31;
    s.u8(if session_present {
        connack_flags::SESSION_PRESENT
    } else {
        0
    });
    if v.is_v5() {
        s.u8(c.reason.to_u8());
        props::block(s, &c.properties);
    } else {
        s.u8(c.reason.to_v3_connack());
    }
}

/// PUBLISH body: topic, packet identifier (QoS 1 and 2), properties (5.0), payload.
pub(super) fn publish<S: Sink>(p: &Publish, v: ProtocolVersion, s: &mut S) {
    s.string(&p.topic);
    match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(id)) => s.u16(id.get()),
        (qos, id) => s.fail(EncodeError::PacketIdMismatch {
            qos,
            has_packet_id: id.is_some(),
        }),
    }
    if v.is_v5() {
        if p.properties.is_empty() {
            s.u8(0);
        } else {
            props::block(s, &p.properties);
        }
    }
    s.slice(&p.payload);
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP in their shortest form.
fn ack<S: Sink>(a: &Ack, v: ProtocolVersion, s: &mut S) {
    s.u16(a.packet_id.get());
    if v.is_v5() {
        reason_and_properties(a.reason, &a.properties, a.properties.is_empty(), s);
    }
}

/// The 5.0 tail shared by acks, DISCONNECT and AUTH: nothing when the reason is Success and
/// there are no properties, the reason alone when there are no properties, else both.
fn reason_and_properties<S: Sink, P: WriteProps>(
    reason: ReasonCode,
    p: &P,
    props_empty: bool,
    s: &mut S,
) {
    if reason == ReasonCode::Success && props_empty {
        return;
    }
    s.u8(reason.to_u8());
    if !props_empty {
        props::block(s, p);
    }
}

fn subscribe<S: Sink>(sub: &Subscribe, v: ProtocolVersion, s: &mut S) {
    s.u16(sub.packet_id.get());
    properties(&sub.properties, v, s);
    for (filter, options) in &sub.filters {
        s.string(filter);
        s.u8(options_byte(options, v));
    }
}

/// The subscription options byte; only the QoS before 5.0.
fn options_byte(o: &SubscriptionOptions, v: ProtocolVersion) -> u8 {
    let mut byte = o.qos as u8 & opts::QOS_MASK;
    if v.is_v5() {
        if o.no_local {
            byte |= opts::NO_LOCAL;
        }
        if o.retain_as_published {
            byte |= opts::RETAIN_AS_PUBLISHED;
        }
        byte |= (o.retain_handling as u8) << opts::RETAIN_HANDLING_SHIFT;
    }
    byte
}

fn suback<S: Sink>(a: &SubAck, v: ProtocolVersion, s: &mut S) {
    s.u16(a.packet_id.get());
    properties(&a.properties, v, s);
    for reason in &a.reasons {
        s.u8(if v.is_v5() {
            reason.to_u8()
        } else {
            reason.to_v3_suback()
        });
    }
}

fn unsubscribe<S: Sink>(u: &Unsubscribe, v: ProtocolVersion, s: &mut S) {
    s.u16(u.packet_id.get());
    properties(&u.properties, v, s);
    for filter in &u.filters {
        s.string(filter);
    }
}

/// UNSUBACK: 3.1.1 has no payload, so the reason codes go only to 5.0.
fn unsuback<S: Sink>(a: &UnsubAck, v: ProtocolVersion, s: &mut S) {
    s.u16(a.packet_id.get());
    if v.is_v5() {
        props::block(s, &a.properties);
        for reason in &a.reasons {
            s.u8(reason.to_u8());
        }
    }
}

fn disconnect<S: Sink>(d: &Disconnect, v: ProtocolVersion, s: &mut S) {
    if v.is_v5() {
        let empty = d.properties == Default::default();
        reason_and_properties(d.reason, &d.properties, empty, s);
    }
}

fn auth<S: Sink>(a: &Auth, v: ProtocolVersion, s: &mut S) {
    if !v.is_v5() {
        s.fail(EncodeError::NotInVersion {
            packet: PacketType::Auth,
            version: v,
        });
        return;
    }
    let empty = a.properties == Default::default();
    reason_and_properties(a.reason, &a.properties, empty, s);
}
