//! Helpers shared by the vector tests.
#![allow(dead_code, unreachable_pub, unused_imports)]

use bytes::BytesMut;
use lantern_codec::{
    decode, encoded_len, DecodeError, Limits, MqttString, Packet, ProtocolVersion,
};

pub use lantern_codec::ProtocolVersion::{V31, V311, V5};

/// Decodes exactly one packet that must use every byte of `bytes`.
pub fn decode_one(bytes: &[u8], version: ProtocolVersion) -> Packet {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, version, &Limits::default())
        .unwrap_or_else(|e| panic!("decode failed: {e}"))
        .expect("a whole packet");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    packet
}

/// Decodes `bytes`, which must be refused, and checks that nothing was consumed.
pub fn decode_err(bytes: &[u8], version: ProtocolVersion) -> DecodeError {
    let mut buf = BytesMut::from(bytes);
    let err = decode(&mut buf, version, &Limits::default()).expect_err("must be refused");
    assert_eq!(&buf[..], bytes, "an error must leave the buffer as it was");
    err
}

/// Encodes `packet` and checks the result against `expected` and `encoded_len`.
pub fn encode_eq(packet: &Packet, version: ProtocolVersion, expected: &[u8]) {
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).expect("encodable");
    assert_eq!(&buf[..], expected, "encoding of {packet:?}");
    assert_eq!(encoded_len(packet, version), expected.len());
}

/// Decodes `bytes` and checks that encoding the packet gives the same bytes back.
pub fn round_trip(bytes: &[u8], version: ProtocolVersion) -> Packet {
    let packet = decode_one(bytes, version);
    encode_eq(&packet, version, bytes);
    packet
}

/// Shorthand for a checked string.
pub fn s(text: &str) -> MqttString {
    MqttString::copy_from_str(text).expect("valid MQTT string")
}
