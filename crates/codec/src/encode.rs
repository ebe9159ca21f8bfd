//! Encoding. (Contract; the implementation is being written.)

use bytes::BytesMut;

use crate::packet::{Packet, ProtocolVersion};

/// Why a packet cannot be encoded.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The packet would exceed the protocol's maximum remaining length.
    TooLarge,
}

impl Packet {
    /// Appends the packet's wire form for `version` to `buf`.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let _ = (version, buf);
        unimplemented!("codec helper")
    }
}

/// The number of bytes `packet` takes on the wire for `version`, fixed header included.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let _ = (packet, version);
    unimplemented!("codec helper")
}
