//! MQTT 3.1, 3.1.1 and 5.0 control packets: strict, streaming, sans-IO.
//!
//! This crate is the bottom layer of Lantern (`codec ← broker ← net ← cli`; the diagnostics and
//! the probe also build on it). It turns bytes into [`Packet`]s and back, and nothing else: it
//! does no IO, has no notion of time, keeps no connection state and does not log. It is
//! `no_std` + `alloc` so that an embedded client could use it as it is.
//!
//! Decoding is strict: every malformed input is a [`DecodeError`] that names what was wrong,
//! the field, and the spec rule it breaks ([`SpecRule`]); incomplete input is `Ok(None)`, never
//! an error. The maximum packet size in [`Limits`] is enforced as soon as the fixed header is
//! complete, before the body is buffered.
//!
//! Payloads, topics and other strings are slices of the input buffer ([`bytes::Bytes`]), so a
//! decoded PUBLISH shares its payload with the read buffer and with every subscriber it is
//! delivered to.
//!
//! ```
//! use bytes::BytesMut;
//! use lantern_codec::{decode, Limits, Packet, ProtocolVersion};
//!
//! let mut buf = BytesMut::from(&[0xC0u8, 0x00][..]); // PINGREQ
//! let packet = decode(&mut buf, ProtocolVersion::V311, &Limits::default()).unwrap();
//! assert_eq!(packet, Some(Packet::PingReq));
//! assert!(buf.is_empty());
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod decode;
mod encode;
mod error;
mod packet;
mod properties;
mod property;
mod reason;
mod rules;
mod string;
mod varint;
mod wire;

pub use decode::{decode, parse_fixed_header, FixedHeader, Limits};
pub use encode::{encoded_len, EncodeError};
pub use error::{DecodeError, DecodeErrorKind};
pub use packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, ProtocolVersion,
    Publish, QoS, RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe,
    Will,
};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishProperties, SubscribeProperties, UnsubscribeProperties, UserProperty, WillProperties,
};
pub use reason::ReasonCode;
pub use rules::SpecRule;
pub use string::{InvalidString, MqttString, Password};
pub use varint::{MAX_REMAINING_LENGTH, MAX_VARINT};
