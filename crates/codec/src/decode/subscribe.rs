//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.

use alloc::vec::Vec;

use super::connect::reason_code;
use super::reader::Reader;
use super::{expect_len, props};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::packet::{
    ProtocolVersion, QoS, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck,
    Unsubscribe,
};
use crate::reason::ReasonCode;
use crate::string::MqttString;
use crate::wire::subscription_options as opts;

/// Field name of each topic filter.
const FILTER: &str = "topic filter";

/// SUBSCRIBE (§3.8): packet identifier, properties (5.0), then at least one filter and its
/// options [MQTT-3.8.3-2].
pub(super) fn subscribe(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Subscribe, DecodeError> {
    const OPTIONS: &str = "subscription options";
    let packet_id = r.packet_id()?;
    let properties = if version.is_v5() {
        props::subscribe(r)?
    } else {
        Default::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = topic_filter(r)?;
        let options = r.u8(OPTIONS)?;
        let reserved = if version.is_v5() {
            opts::RESERVED_V5
        } else {
            opts::RESERVED_V3
        };
        if options & reserved != 0 {
            return Err(r.err(
                DecodeErrorKind::SubscriptionOptionsReserved { options },
                OPTIONS,
            ));
        }
        let Some(qos) = QoS::from_u8(options & opts::QOS_MASK) else {
            return Err(r.err(DecodeErrorKind::InvalidSubscriptionQos { options }, OPTIONS));
        };
        let retain_handling =
            match (options & opts::RETAIN_HANDLING_MASK) >> opts::RETAIN_HANDLING_SHIFT {
                0 => RetainHandling::SendAtSubscribe,
                1 => RetainHandling::SendIfNew,
                2 => RetainHandling::DoNotSend,
                _ => return Err(r.err(DecodeErrorKind::InvalidRetainHandling { options }, OPTIONS)),
            };
        filters.push((
            filter,
            SubscriptionOptions {
                qos,
                no_local: options & opts::NO_LOCAL != 0,
                retain_as_published: options & opts::RETAIN_AS_PUBLISHED != 0,
                retain_handling,
            },
        ));
    }
    if filters.is_empty() {
        return Err(r.err(DecodeErrorKind::NoTopicFilters, FILTER));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

/// SUBACK (§3.9): one code per filter; 3.1.1 knows only 0x00, 0x01, 0x02 and 0x80.
pub(super) fn suback(r: &mut Reader<'_>, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
    const FIELD: &str = "subscribe reason code";
    let packet_id = r.packet_id()?;
    let properties = if version.is_v5() {
        props::ack(r)?
    } else {
        Default::default()
    };
    let mut reasons = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let reason = if version.is_v5() {
            reason_code(r, FIELD)?
        } else {
            match r.u8("subscribe return code")? {
                0x00 => ReasonCode::Success,
                0x01 => ReasonCode::GrantedQoS1,
                0x02 => ReasonCode::GrantedQoS2,
                0x80 => ReasonCode::UnspecifiedError,
                code => {
                    return Err(r.err(
                        DecodeErrorKind::InvalidReasonCode { code },
                        "subscribe return code",
                    ));
                }
            }
        };
        reasons.push(reason);
    }
    Ok(SubAck {
        packet_id,
        reasons,
        properties,
    })
}

/// UNSUBSCRIBE (§3.10): packet identifier, properties (5.0), then at least one filter
/// [MQTT-3.10.3-2].
pub(super) fn unsubscribe(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = if version.is_v5() {
        props::unsubscribe(r)?
    } else {
        Default::default()
    };
    let mut filters = Vec::new();
    while !r.is_empty() {
        filters.push(topic_filter(r)?);
    }
    if filters.is_empty() {
        return Err(r.err(DecodeErrorKind::NoTopicFilters, FILTER));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

/// UNSUBACK (§3.11): only the packet identifier in 3.1 / 3.1.1; reason codes in 5.0.
pub(super) fn unsuback(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<UnsubAck, DecodeError> {
    if !version.is_v5() {
        expect_len(r, 2, version)?;
    }
    let packet_id = r.packet_id()?;
    let mut unsuback = UnsubAck {
        packet_id,
        reasons: Vec::new(),
        properties: Default::default(),
    };
    if version.is_v5() {
        unsuback.properties = props::ack(r)?;
        unsuback.reasons.reserve_exact(r.remaining());
        while !r.is_empty() {
            unsuback
                .reasons
                .push(reason_code(r, "unsubscribe reason code")?);
        }
    }
    Ok(unsuback)
}

/// A topic filter: a string at least one character long [MQTT-4.7.3-1]. Wildcard placement
/// is checked by the broker's topic module, which owns the matching rules.
fn topic_filter(r: &mut Reader<'_>) -> Result<MqttString, DecodeError> {
    let filter = r.string(FILTER)?;
    if filter.is_empty() {
        return Err(r.err(DecodeErrorKind::EmptyTopic, FILTER));
    }
    Ok(filter)
}
