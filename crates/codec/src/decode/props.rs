//! MQTT 5.0 property blocks (v5 §2.2.2): one parser per packet, each accepting exactly the
//! identifiers that packet may carry, refusing repeats of single-valued properties, and
//! checking each value's range.

use alloc::vec::Vec;
use core::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;

use super::reader::Reader;
use crate::error::{DecodeError, DecodeErrorKind};
use crate::packet::QoS;
use crate::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperty, WillProperties,
};
use crate::property as id;
use crate::string::MqttString;

/// Field name of a packet's property block.
const PROPERTIES: &str = "properties";
/// Field name of the will property block in CONNECT.
const WILL_PROPERTIES: &str = "will properties";

/// One property block being read.
struct Props<'a> {
    r: Reader<'a>,
    field: &'static str,
}

impl<'a> Props<'a> {
    fn open(body: &mut Reader<'a>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(Self {
            r: body.properties(field)?,
            field,
        })
    }

    /// The next property identifier, or `None` at the end of the block. Every identifier the
    /// specification defines fits in one byte; larger ones are refused as not allowed.
    fn next_id(&mut self) -> Result<Option<u8>, DecodeError> {
        if self.r.is_empty() {
            return Ok(None);
        }
        let raw = self.r.varint("property identifier")?;
        match u8::try_from(raw) {
            Ok(id) => Ok(Some(id)),
            Err(_) => Err(self
                .r
                .err(DecodeErrorKind::PropertyNotAllowed { id: raw }, self.field)),
        }
    }

    fn not_allowed(&self, id: u8) -> DecodeError {
        self.r.err(
            DecodeErrorKind::PropertyNotAllowed { id: u32::from(id) },
            self.field,
        )
    }

    fn invalid(&self, id: u8, value: u32) -> DecodeError {
        self.r.err(
            DecodeErrorKind::InvalidPropertyValue { id, value },
            self.field,
        )
    }

    /// Stores a single-valued property, refusing a second occurrence.
    fn once<T>(&self, slot: &mut Option<T>, id: u8, value: T) -> Result<(), DecodeError> {
        if slot.is_some() {
            return Err(self
                .r
                .err(DecodeErrorKind::DuplicateProperty { id }, self.field));
        }
        *slot = Some(value);
        Ok(())
    }

    fn u16(&mut self, slot: &mut Option<u16>, id: u8) -> Result<(), DecodeError> {
        let v = self.r.u16(self.field)?;
        self.once(slot, id, v)
    }

    fn u32(&mut self, slot: &mut Option<u32>, id: u8) -> Result<(), DecodeError> {
        let v = self.r.u32(self.field)?;
        self.once(slot, id, v)
    }

    fn string(&mut self, slot: &mut Option<MqttString>, id: u8) -> Result<(), DecodeError> {
        let v = self.r.string(self.field)?;
        self.once(slot, id, v)
    }

    fn binary(&mut self, slot: &mut Option<Bytes>, id: u8) -> Result<(), DecodeError> {
        let v = self.r.binary(self.field)?;
        self.once(slot, id, v)
    }

    /// A byte that must be 0 or 1.
    fn flag(&mut self, slot: &mut Option<bool>, id: u8) -> Result<(), DecodeError> {
        let v = match self.r.u8(self.field)? {
            0 => false,
            1 => true,
            other => return Err(self.invalid(id, u32::from(other))),
        };
        self.once(slot, id, v)
    }

    fn nonzero_u16(&mut self, slot: &mut Option<NonZeroU16>, id: u8) -> Result<(), DecodeError> {
        let v = self.r.u16(self.field)?;
        let v = NonZeroU16::new(v).ok_or_else(|| self.invalid(id, 0))?;
        self.once(slot, id, v)
    }

    fn nonzero_u32(&mut self, slot: &mut Option<NonZeroU32>, id: u8) -> Result<(), DecodeError> {
        let v = self.r.u32(self.field)?;
        let v = NonZeroU32::new(v).ok_or_else(|| self.invalid(id, 0))?;
        self.once(slot, id, v)
    }

    /// A subscription identifier: a variable byte integer, 1..=268 435 455.
    fn subscription_id(&mut self) -> Result<NonZeroU32, DecodeError> {
        let v = self.r.varint(self.field)?;
        NonZeroU32::new(v).ok_or_else(|| self.invalid(id::SUBSCRIPTION_IDENTIFIER, 0))
    }

    fn user_property(&mut self, list: &mut Vec<UserProperty>) -> Result<(), DecodeError> {
        let key = self.r.string(self.field)?;
        let value = self.r.string(self.field)?;
        list.push(UserProperty { key, value });
        Ok(())
    }
}

/// CONNECT properties (v5 §3.1.2.11).
pub(crate) fn connect(body: &mut Reader<'_>) -> Result<ConnectProperties, DecodeError> {
    let mut p = ConnectProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => r.u32(&mut p.session_expiry_interval, pid)?,
            id::RECEIVE_MAXIMUM => r.nonzero_u16(&mut p.receive_maximum, pid)?,
            id::MAXIMUM_PACKET_SIZE => r.nonzero_u32(&mut p.maximum_packet_size, pid)?,
            id::TOPIC_ALIAS_MAXIMUM => r.u16(&mut p.topic_alias_maximum, pid)?,
            id::REQUEST_RESPONSE_INFORMATION => {
                r.flag(&mut p.request_response_information, pid)?;
            }
            id::REQUEST_PROBLEM_INFORMATION => r.flag(&mut p.request_problem_information, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            id::AUTHENTICATION_METHOD => r.string(&mut p.authentication_method, pid)?,
            id::AUTHENTICATION_DATA => r.binary(&mut p.authentication_data, pid)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    if p.authentication_data.is_some() && p.authentication_method.is_none() {
        return Err(r.r.err(DecodeErrorKind::AuthDataWithoutMethod, PROPERTIES));
    }
    Ok(p)
}

/// Will properties, in the CONNECT payload (v5 §3.1.3.2).
pub(crate) fn will(body: &mut Reader<'_>) -> Result<WillProperties, DecodeError> {
    let mut p = WillProperties::default();
    let mut r = Props::open(body, WILL_PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::WILL_DELAY_INTERVAL => r.u32(&mut p.will_delay_interval, pid)?,
            id::PAYLOAD_FORMAT_INDICATOR => r.flag(&mut p.payload_format_indicator, pid)?,
            id::MESSAGE_EXPIRY_INTERVAL => r.u32(&mut p.message_expiry_interval, pid)?,
            id::CONTENT_TYPE => r.string(&mut p.content_type, pid)?,
            id::RESPONSE_TOPIC => r.string(&mut p.response_topic, pid)?,
            id::CORRELATION_DATA => r.binary(&mut p.correlation_data, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// CONNACK properties (v5 §3.2.2.3).
pub(crate) fn connack(body: &mut Reader<'_>) -> Result<ConnAckProperties, DecodeError> {
    let mut p = ConnAckProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => r.u32(&mut p.session_expiry_interval, pid)?,
            id::RECEIVE_MAXIMUM => r.nonzero_u16(&mut p.receive_maximum, pid)?,
            id::MAXIMUM_QOS => {
                let qos = match r.r.u8(PROPERTIES)? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    other => return Err(r.invalid(pid, u32::from(other))),
                };
                r.once(&mut p.maximum_qos, pid, qos)?;
            }
            id::RETAIN_AVAILABLE => r.flag(&mut p.retain_available, pid)?,
            id::MAXIMUM_PACKET_SIZE => r.nonzero_u32(&mut p.maximum_packet_size, pid)?,
            id::ASSIGNED_CLIENT_IDENTIFIER => r.string(&mut p.assigned_client_identifier, pid)?,
            id::TOPIC_ALIAS_MAXIMUM => r.u16(&mut p.topic_alias_maximum, pid)?,
            id::REASON_STRING => r.string(&mut p.reason_string, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
                r.flag(&mut p.wildcard_subscription_available, pid)?;
            }
            id::SUBSCRIPTION_IDENTIFIERS_AVAILABLE => {
                r.flag(&mut p.subscription_identifiers_available, pid)?;
            }
            id::SHARED_SUBSCRIPTION_AVAILABLE => {
                r.flag(&mut p.shared_subscription_available, pid)?;
            }
            id::SERVER_KEEP_ALIVE => r.u16(&mut p.server_keep_alive, pid)?,
            id::RESPONSE_INFORMATION => r.string(&mut p.response_information, pid)?,
            id::SERVER_REFERENCE => r.string(&mut p.server_reference, pid)?,
            id::AUTHENTICATION_METHOD => r.string(&mut p.authentication_method, pid)?,
            id::AUTHENTICATION_DATA => r.binary(&mut p.authentication_data, pid)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// PUBLISH properties (v5 §3.3.2.3). Subscription Identifier may repeat here.
pub(crate) fn publish(body: &mut Reader<'_>) -> Result<PublishProperties, DecodeError> {
    let mut p = PublishProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::PAYLOAD_FORMAT_INDICATOR => r.flag(&mut p.payload_format_indicator, pid)?,
            id::MESSAGE_EXPIRY_INTERVAL => r.u32(&mut p.message_expiry_interval, pid)?,
            id::TOPIC_ALIAS => r.nonzero_u16(&mut p.topic_alias, pid)?,
            id::RESPONSE_TOPIC => r.string(&mut p.response_topic, pid)?,
            id::CORRELATION_DATA => r.binary(&mut p.correlation_data, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            id::SUBSCRIPTION_IDENTIFIER => {
                let sid = r.subscription_id()?;
                p.subscription_identifiers.push(sid);
            }
            id::CONTENT_TYPE => r.string(&mut p.content_type, pid)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP / SUBACK / UNSUBACK properties.
pub(crate) fn ack(body: &mut Reader<'_>) -> Result<AckProperties, DecodeError> {
    let mut p = AckProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::REASON_STRING => r.string(&mut p.reason_string, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// SUBSCRIBE properties (v5 §3.8.2.1).
pub(crate) fn subscribe(body: &mut Reader<'_>) -> Result<SubscribeProperties, DecodeError> {
    let mut p = SubscribeProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::SUBSCRIPTION_IDENTIFIER => {
                let sid = r.subscription_id()?;
                r.once(&mut p.subscription_identifier, pid, sid)?;
            }
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// UNSUBSCRIBE properties (v5 §3.10.2.1).
pub(crate) fn unsubscribe(body: &mut Reader<'_>) -> Result<UnsubscribeProperties, DecodeError> {
    let mut p = UnsubscribeProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// DISCONNECT properties (v5 §3.14.2.2).
pub(crate) fn disconnect(body: &mut Reader<'_>) -> Result<DisconnectProperties, DecodeError> {
    let mut p = DisconnectProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::SESSION_EXPIRY_INTERVAL => r.u32(&mut p.session_expiry_interval, pid)?,
            id::REASON_STRING => r.string(&mut p.reason_string, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            id::SERVER_REFERENCE => r.string(&mut p.server_reference, pid)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}

/// AUTH properties (v5 §3.15.2.2).
pub(crate) fn auth(body: &mut Reader<'_>) -> Result<AuthProperties, DecodeError> {
    let mut p = AuthProperties::default();
    let mut r = Props::open(body, PROPERTIES)?;
    while let Some(pid) = r.next_id()? {
        match pid {
            id::AUTHENTICATION_METHOD => r.string(&mut p.authentication_method, pid)?,
            id::AUTHENTICATION_DATA => r.binary(&mut p.authentication_data, pid)?,
            id::REASON_STRING => r.string(&mut p.reason_string, pid)?,
            id::USER_PROPERTY => r.user_property(&mut p.user_properties)?,
            _ => return Err(r.not_allowed(pid)),
        }
    }
    Ok(p)
}
