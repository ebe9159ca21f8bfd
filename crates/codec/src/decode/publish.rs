//! PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL and PUBCOMP.
//!
//! This is the hot path: a PUBLISH without properties is decoded without allocating, its
//! topic and payload being slices of the read buffer.

use super::connect::reason_code;
use super::reader::Reader;
use super::{expect_len, props, publish_qos};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::packet::{Ack, ProtocolVersion, Publish, QoS};
use crate::properties::PublishProperties;
use crate::reason::ReasonCode;
use crate::wire::publish_flags;

/// PUBLISH (§3.3), with flags already checked by the header.
pub(super) fn publish(
    r: &mut Reader<'_>,
    flags: u8,
    version: ProtocolVersion,
) -> Result<Publish, DecodeError> {
    const TOPIC: &str = "topic name";
    let qos = publish_qos(flags);
    let topic = r.string(TOPIC)?;
    if let Some(at) = topic
        .as_bytes()
        .iter()
        .position(|&b| b == b'+' || b == b'#')
    {
        return Err(r.err(DecodeErrorKind::WildcardInTopicName { topic, at }, TOPIC));
    }
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(r.packet_id()?)
    };
    let properties = if version.is_v5() {
        props::publish(r)?
    } else {
        PublishProperties::default()
    };
    // An empty topic name is allowed only in 5.0, and only with a topic alias.
    if topic.is_empty() && properties.topic_alias.is_none() {
        return Err(r.err(DecodeErrorKind::EmptyTopic, TOPIC));
    }
    Ok(Publish {
        dup: flags & publish_flags::DUP != 0,
        qos,
        retain: flags & publish_flags::RETAIN != 0,
        topic,
        packet_id,
        properties,
        payload: r.rest(),
    })
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP (§3.4-§3.7): exactly the packet identifier in 3.1 /
/// 3.1.1; in 5.0 a remaining length of 2 means Success without properties and 3 means a
/// reason code without properties.
pub(super) fn ack(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<Ack, DecodeError> {
    if !version.is_v5() {
        expect_len(r, 2, version)?;
    }
    let packet_id = r.packet_id()?;
    let mut ack = Ack::new(packet_id);
    if version.is_v5() && !r.is_empty() {
        ack.reason = reason_code(r, "reason code")?;
        if !r.is_empty() {
            ack.properties = props::ack(r)?;
        }
    }
    debug_assert!(ack.reason == ReasonCode::Success || version.is_v5());
    Ok(ack)
}
