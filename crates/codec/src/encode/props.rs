//! MQTT 5.0 property blocks: the property length, then each property that is set, in the
//! order of the struct's fields (user properties and subscription identifiers keep theirs).

use core::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;

use super::{Counter, Sink};
use crate::properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperty, WillProperties,
};
use crate::property as id;
use crate::string::MqttString;

/// A property struct that can write its properties.
pub(super) trait WriteProps {
    /// Writes every property that is set, without the property length.
    fn write<S: Sink>(&self, s: &mut S);
}

/// Writes a property block: its length, then the properties.
pub(super) fn block<S: Sink, P: WriteProps>(s: &mut S, p: &P) {
    let mut counter = Counter::default();
    p.write(&mut counter);
    // INVARIANT: a length that does not fit in u32 is refused by `checked_varint`.
    let len = u32::try_from(counter.len()).unwrap_or(u32::MAX);
    s.checked_varint("property length", len);
    p.write(s);
}

fn u32_prop<S: Sink>(s: &mut S, pid: u8, v: Option<u32>) {
    if let Some(v) = v {
        s.u8(pid);
        s.u32(v);
    }
}

fn u16_prop<S: Sink>(s: &mut S, pid: u8, v: Option<u16>) {
    if let Some(v) = v {
        s.u8(pid);
        s.u16(v);
    }
}

fn nonzero_u16_prop<S: Sink>(s: &mut S, pid: u8, v: Option<NonZeroU16>) {
    u16_prop(s, pid, v.map(NonZeroU16::get));
}

fn nonzero_u32_prop<S: Sink>(s: &mut S, pid: u8, v: Option<NonZeroU32>) {
    u32_prop(s, pid, v.map(NonZeroU32::get));
}

fn flag_prop<S: Sink>(s: &mut S, pid: u8, v: Option<bool>) {
    if let Some(v) = v {
        s.u8(pid);
        s.u8(u8::from(v));
    }
}

fn string_prop<S: Sink>(s: &mut S, pid: u8, v: Option<&MqttString>) {
    if let Some(v) = v {
        s.u8(pid);
        s.string(v);
    }
}

fn binary_prop<S: Sink>(s: &mut S, pid: u8, field: &'static str, v: Option<&Bytes>) {
    if let Some(v) = v {
        s.u8(pid);
        s.binary(field, v);
    }
}

fn user_props<S: Sink>(s: &mut S, list: &[UserProperty]) {
    for p in list {
        s.u8(id::USER_PROPERTY);
        s.string(&p.key);
        s.string(&p.value);
    }
}

impl WriteProps for ConnectProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        u32_prop(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        nonzero_u16_prop(s, id::RECEIVE_MAXIMUM, self.receive_maximum);
        nonzero_u32_prop(s, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        u16_prop(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        flag_prop(
            s,
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        flag_prop(
            s,
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        user_props(s, &self.user_properties);
        string_prop(
            s,
            id::AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        );
        binary_prop(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            self.authentication_data.as_ref(),
        );
    }
}

impl WriteProps for WillProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        u32_prop(s, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        flag_prop(
            s,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        u32_prop(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        string_prop(s, id::CONTENT_TYPE, self.content_type.as_ref());
        string_prop(s, id::RESPONSE_TOPIC, self.response_topic.as_ref());
        binary_prop(
            s,
            id::CORRELATION_DATA,
            "correlation data",
            self.correlation_data.as_ref(),
        );
        user_props(s, &self.user_properties);
    }
}

impl WriteProps for ConnAckProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        u32_prop(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        nonzero_u16_prop(s, id::RECEIVE_MAXIMUM, self.receive_maximum);
        if let Some(qos) = self.maximum_qos {
            s.u8(id::MAXIMUM_QOS);
            s.u8(qos as u8);
        }
        flag_prop(s, id::RETAIN_AVAILABLE, self.retain_available);
        nonzero_u32_prop(s, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        string_prop(
            s,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            self.assigned_client_identifier.as_ref(),
        );
        u16_prop(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        string_prop(s, id::REASON_STRING, self.reason_string.as_ref());
        user_props(s, &self.user_properties);
        flag_prop(
            s,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        flag_prop(
            s,
            id::SUBSCRIPTION_IDENTIFIERS_AVAILABLE,
            self.subscription_identifiers_available,
        );
        flag_prop(
            s,
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
        u16_prop(s, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        string_prop(
            s,
            id::RESPONSE_INFORMATION,
            self.response_information.as_ref(),
        );
        string_prop(s, id::SERVER_REFERENCE, self.server_reference.as_ref());
        string_prop(
            s,
            id::AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        );
        binary_prop(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            self.authentication_data.as_ref(),
        );
    }
}

impl WriteProps for PublishProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        flag_prop(
            s,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        u32_prop(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        nonzero_u16_prop(s, id::TOPIC_ALIAS, self.topic_alias);
        string_prop(s, id::RESPONSE_TOPIC, self.response_topic.as_ref());
        binary_prop(
            s,
            id::CORRELATION_DATA,
            "correlation data",
            self.correlation_data.as_ref(),
        );
        user_props(s, &self.user_properties);
        for sid in &self.subscription_identifiers {
            s.u8(id::SUBSCRIPTION_IDENTIFIER);
            s.checked_varint("subscription identifier", sid.get());
        }
        string_prop(s, id::CONTENT_TYPE, self.content_type.as_ref());
    }
}

impl WriteProps for AckProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        string_prop(s, id::REASON_STRING, self.reason_string.as_ref());
        user_props(s, &self.user_properties);
    }
}

impl WriteProps for SubscribeProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        if let Some(sid) = self.subscription_identifier {
            s.u8(id::SUBSCRIPTION_IDENTIFIER);
            s.checked_varint("subscription identifier", sid.get());
        }
        user_props(s, &self.user_properties);
    }
}

impl WriteProps for UnsubscribeProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        user_props(s, &self.user_properties);
    }
}

impl WriteProps for DisconnectProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        u32_prop(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        string_prop(s, id::REASON_STRING, self.reason_string.as_ref());
        user_props(s, &self.user_properties);
        string_prop(s, id::SERVER_REFERENCE, self.server_reference.as_ref());
    }
}

impl WriteProps for AuthProperties {
    fn write<S: Sink>(&self, s: &mut S) {
        string_prop(
            s,
            id::AUTHENTICATION_METHOD,
            self.authentication_method.as_ref(),
        );
        binary_prop(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            self.authentication_data.as_ref(),
        );
        string_prop(s, id::REASON_STRING, self.reason_string.as_ref());
        user_props(s, &self.user_properties);
    }
}
