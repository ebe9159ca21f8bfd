//! Feeds the input in chunks (sizes taken from the first bytes) and checks that the packets
//! decoded are the same as when the whole input is decoded at once.
#![no_main]

use bytes::BytesMut;
use lantern_codec::{decode, DecodeError, Limits, Packet, ProtocolVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let version = match control % 3 {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    };
    let chunk = usize::from(control / 3 % 16) + 1;

    let whole = decode_all(&mut BytesMut::from(rest), version);
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    let mut outcome = None;
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        let (mut got, err) = decode_all(&mut buf, version);
        packets.append(&mut got);
        if err.is_some() {
            outcome = err;
            break;
        }
    }
    assert_eq!(packets, whole.0);
    assert_eq!(outcome, whole.1);
});

fn decode_all(buf: &mut BytesMut, version: ProtocolVersion) -> (Vec<Packet>, Option<DecodeError>) {
    let mut packets = Vec::new();
    loop {
        match decode(buf, version, &Limits::default()) {
            Ok(Some(p)) => packets.push(p),
            Ok(None) => return (packets, None),
            Err(e) => return (packets, Some(e)),
        }
    }
}
