//! An application message once the broker has accepted it: one allocation shared by every
//! subscriber it is delivered to.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lantern_codec::{MqttString, PublishProperties, QoS, UserProperty};

use crate::persist::{PersistMessage, WallClock};

/// A published message, immutable once routed. Deliveries hold an `Arc<Message>`: fan-out to a
/// thousand subscribers copies no payload and no topic.
#[derive(Debug)]
pub struct Message {
    /// Topic name (never an alias: aliases are resolved on the way in).
    pub topic: MqttString,
    /// Payload.
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// The properties passed through to subscribers (v5 §3.3.2.3): payload format, content
    /// type, response topic, correlation data, user properties. Never the topic alias or
    /// subscription identifiers, which are per delivery.
    pub properties: Option<Box<PassThrough>>,
    /// When the message expires (Message Expiry Interval), if it does.
    pub expires_at: Option<Instant>,
    /// The session that published it, for No Local (0 for wills and broker messages).
    pub origin: u64,
    /// The message as persistence events carry it, built once for all its deliveries.
    persisted: OnceLock<Arc<PersistMessage>>,
}

/// The v5 PUBLISH properties that travel from publisher to subscriber unchanged
/// [MQTT-3.3.2-4, MQTT-3.3.2-15, MQTT-3.3.2-16, MQTT-3.3.2-17, MQTT-3.3.2-20].
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct PassThrough {
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<bool>,
    /// Response Topic.
    pub response_topic: Option<MqttString>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User Properties, in order.
    pub user_properties: Vec<UserProperty>,
    /// Content Type.
    pub content_type: Option<MqttString>,
}

impl Message {
    /// Builds a message from a decoded PUBLISH's parts.
    pub fn new(
        topic: MqttString,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: PublishProperties,
        now: Instant,
        origin: u64,
    ) -> Arc<Self> {
        let expires_at = properties
            .message_expiry_interval
            .map(|secs| now + Duration::from_secs(u64::from(secs)));
        let pass = PassThrough {
            payload_format_indicator: properties.payload_format_indicator,
            response_topic: properties.response_topic,
            correlation_data: properties.correlation_data,
            user_properties: properties.user_properties,
            content_type: properties.content_type,
        };
        let properties = (pass != PassThrough::default()).then(|| Box::new(pass));
        Arc::new(Self {
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            origin,
            persisted: OnceLock::new(),
        })
    }

    /// A message restored from the store: its wall-clock expiry mapped onto `clock`.
    pub(crate) fn from_persisted(stored: &Arc<PersistMessage>, clock: &WallClock) -> Arc<Self> {
        let persisted = OnceLock::new();
        let _ = persisted.set(stored.clone());
        Arc::new(Self {
            topic: stored.topic.clone(),
            payload: stored.payload.clone(),
            qos: stored.qos,
            retain: stored.retain,
            properties: stored.properties.clone(),
            expires_at: stored.expires_at.map(|at| clock.to_instant(at)),
            // Session ids are not kept across a restart: a restored message is nobody's own.
            origin: 0,
            persisted,
        })
    }

    /// The message as persistence events carry it (expiry in wall-clock time).
    pub fn persisted(&self, clock: &WallClock) -> Arc<PersistMessage> {
        self.persisted
            .get_or_init(|| {
                Arc::new(PersistMessage {
                    topic: self.topic.clone(),
                    payload: self.payload.clone(),
                    qos: self.qos,
                    retain: self.retain,
                    properties: self.properties.clone(),
                    expires_at: self.expires_at.map(|at| clock.to_wall(at)),
                    origin: self.origin,
                })
            })
            .clone()
    }

    /// True once the message's expiry interval has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The Message Expiry Interval to send with a delivery at `now`: the time left, rounded up
    /// [MQTT-3.3.2-6]. `None` for messages that do not expire.
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs).unwrap_or(u32::MAX)
        })
    }

    /// The PUBLISH properties for one delivery: the pass-through ones plus the remaining expiry.
    pub fn delivery_properties(&self, now: Instant) -> PublishProperties {
        let mut props = PublishProperties {
            message_expiry_interval: self.remaining_expiry(now),
            ..PublishProperties::default()
        };
        if let Some(pass) = &self.properties {
            props.payload_format_indicator = pass.payload_format_indicator;
            props.response_topic = pass.response_topic.clone();
            props.correlation_data = pass.correlation_data.clone();
            props.user_properties = pass.user_properties.clone();
            props.content_type = pass.content_type.clone();
        }
        props
    }
}
