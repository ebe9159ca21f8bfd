//! Decodes arbitrary bytes as a 5.0 stream: no panic, errors leave the buffer untouched,
//! and every packet decoded re-encodes to something that decodes to the same packet.
#![no_main]

use bytes::BytesMut;
use lantern_codec::{decode, Limits, ProtocolVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check(data, ProtocolVersion::V5));

fn check(data: &[u8], version: ProtocolVersion) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.clone();
        match decode(&mut buf, version, &Limits::default()) {
            Ok(Some(packet)) => {
                let mut out = BytesMut::new();
                // CONNECT re-encodes with its own version; everything else with the stream's.
                packet
                    .encode(version, &mut out)
                    .expect("a decoded packet encodes");
                let again = decode(&mut out, version, &Limits::default())
                    .expect("re-encoded packet decodes")
                    .expect("whole packet");
                assert_eq!(again, packet);
                assert!(out.is_empty());
            }
            Ok(None) => return,
            Err(e) => {
                assert_eq!(buf, before, "an error consumes nothing");
                let _ = (e.to_string(), e.rule(), e.reason_code());
                return;
            }
        }
    }
}
