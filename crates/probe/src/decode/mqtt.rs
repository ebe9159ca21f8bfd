//! MQTT packets in one direction's byte stream, decoded with [`lantern_codec::decode`] — the
//! same strict codec the broker uses, so a malformed packet is named with the rule it breaks.

use bytes::BytesMut;
use lantern_codec::{
    decode, parse_fixed_header, DecodeError, Limits, Packet, ProtocolVersion, ReasonCode,
};

use super::Item;

/// What the walk learned, for the findings.
#[derive(Debug, Default)]
pub(crate) struct MqttFacts {
    /// (offset, protocol, keep alive) of a CONNECT.
    pub(crate) connect: Option<(usize, ProtocolVersion, u16)>,
    /// (offset, reason, decoded as v5).
    pub(crate) connacks: Vec<(usize, ReasonCode, bool)>,
    /// (offset, error) of the packet that stopped the walk.
    pub(crate) error: Option<(usize, DecodeError)>,
    /// Packets decoded.
    pub(crate) packets: usize,
}

/// Walks the stream. `version` is the connection's version when known (from a CONNECT);
/// otherwise each packet is tried as 3.1.1, then as 5.0.
pub(crate) fn walk(bytes: &[u8], mut version: Option<ProtocolVersion>) -> (Vec<Item>, MqttFacts) {
    let mut items = Vec::new();
    let mut facts = MqttFacts::default();
    let limits = Limits::default();
    let mut off = 0;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let tries: &[ProtocolVersion] = match version {
            Some(ref v) => std::slice::from_ref(v),
            None => &[ProtocolVersion::V311, ProtocolVersion::V5],
        };
        let mut first_err = None;
        let mut decoded = None;
        for &v in tries {
            let mut buf = BytesMut::from(rest);
            match decode(&mut buf, v, &limits) {
                Ok(Some(p)) => {
                    decoded = Some((p, rest.len() - buf.len(), v));
                    break;
                }
                Ok(None) => {
                    let what = match parse_fixed_header(rest) {
                        Ok(Some(h)) => format!(
                            "{} with remaining length {}: the dump holds {} of its {} bytes",
                            h.packet_type.name(),
                            h.remaining_length,
                            rest.len(),
                            h.packet_len()
                        ),
                        _ => format!("{} bytes of an incomplete fixed header", rest.len()),
                    };
                    items.push(Item::new(
                        off,
                        rest,
                        "mqtt",
                        format!("incomplete packet: {what}"),
                    ));
                    return (items, facts);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let Some((packet, used, v)) = decoded else {
            if let Some(e) = first_err {
                let mut item = Item::new(off, rest, "mqtt", format!("malformed: {e}"));
                if let Some(rule) = e.rule() {
                    item.details
                        .push(format!("[{}] {}", rule.id(), rule.text()));
                }
                items.push(item);
                facts.error = Some((off, e));
            }
            return (items, facts);
        };
        let (summary, details) = describe(&packet, v);
        let mut item = Item::new(off, &rest[..used], "mqtt", summary);
        item.details = details;
        items.push(item);
        facts.packets += 1;
        match &packet {
            Packet::Connect(c) => {
                version = Some(c.protocol);
                facts.connect = Some((off, c.protocol, c.keep_alive));
            }
            Packet::ConnAck(a) => facts.connacks.push((off, a.reason, v.is_v5())),
            _ => {}
        }
        off += used;
    }
    (items, facts)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// One line of summary and a few details; never payload bytes, never credentials.
fn describe(packet: &Packet, v: ProtocolVersion) -> (String, Vec<String>) {
    let mut details = Vec::new();
    let summary = match packet {
        Packet::Connect(c) => {
            details.push(format!(
                "user name: {}, password: {} (values not shown)",
                yes_no(c.username.is_some()),
                yes_no(c.password.is_some())
            ));
            if let Some(w) = &c.will {
                details.push(format!(
                    "will: topic \"{}\", QoS {}, retain {}",
                    w.topic.as_str(),
                    w.qos as u8,
                    yes_no(w.retain)
                ));
            }
            format!(
                "CONNECT MQTT {}, client id \"{}\", keep alive {} s, clean {}",
                c.protocol.as_str(),
                c.client_id.as_str(),
                c.keep_alive,
                yes_no(c.clean_start)
            )
        }
        Packet::ConnAck(a) => {
            let code = if v.is_v5() {
                format!("reason {}", a.reason)
            } else {
                format!(
                    "return code {} ({})",
                    a.reason.to_v3_connack(),
                    a.reason.name()
                )
            };
            if let Some(r) = &a.properties.reason_string {
                details.push(format!("reason string: \"{}\"", r.as_str()));
            }
            format!(
                "CONNACK ({}), session present {}, {code}",
                v.as_str(),
                yes_no(a.session_present)
            )
        }
        Packet::Publish(p) => format!(
            "PUBLISH topic \"{}\", QoS {}{}{}, payload {} bytes",
            p.topic.as_str(),
            p.qos as u8,
            p.packet_id
                .map(|id| format!(", packet id {id}"))
                .unwrap_or_default(),
            if p.retain { ", retain" } else { "" },
            p.payload.len()
        ),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            format!(
                "{} packet id {}, {}",
                packet.packet_type().name(),
                a.packet_id,
                a.reason
            )
        }
        Packet::Subscribe(s) => format!(
            "SUBSCRIBE packet id {}: {}",
            s.packet_id,
            s.filters
                .iter()
                .map(|(f, o)| format!("\"{}\" QoS {}", f.as_str(), o.qos as u8))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Packet::SubAck(s) => format!(
            "SUBACK packet id {}: {}",
            s.packet_id,
            s.reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Packet::Unsubscribe(u) => format!(
            "UNSUBSCRIBE packet id {}: {}",
            u.packet_id,
            u.filters
                .iter()
                .map(|f| format!("\"{}\"", f.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Packet::UnsubAck(u) => format!("UNSUBACK packet id {}", u.packet_id),
        Packet::PingReq => "PINGREQ".to_owned(),
        Packet::PingResp => "PINGRESP".to_owned(),
        Packet::Disconnect(d) if v.is_v5() => format!("DISCONNECT reason {}", d.reason),
        Packet::Disconnect(_) => "DISCONNECT".to_owned(),
        Packet::Auth(a) => format!("AUTH reason {}", a.reason),
    };
    (summary, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connack_remaining_length_zero_is_an_error() {
        let (items, facts) = walk(&[0x20, 0x00], None);
        let (_, e) = facts.error.expect("error");
        assert_eq!(e.packet, Some(lantern_codec::PacketType::ConnAck));
        assert!(
            items[0].summary.contains("remaining length 0"),
            "{}",
            items[0].summary
        );
    }

    #[test]
    fn pingreq_pingresp() {
        let (items, facts) = walk(&[0xC0, 0x00, 0xD0, 0x00], None);
        assert_eq!(facts.packets, 2);
        assert_eq!(items[1].summary, "PINGRESP");
    }
}
