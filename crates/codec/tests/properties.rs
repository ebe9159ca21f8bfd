//! Property tests: round trips per version, no panics on arbitrary bytes, and streaming
//! decode that does not care where the input is split.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use core::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use lantern_codec::{
    decode, encoded_len, Ack, AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties,
    Connect, ConnectProperties, Disconnect, DisconnectProperties, Limits, MqttString, Packet,
    PacketId, PacketType, Password, ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions, UnsubAck,
    Unsubscribe, UnsubscribeProperties, UserProperty, Will, WillProperties,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

// ---- building blocks ----

fn string() -> impl Strategy<Value = MqttString> {
    "[a-zA-Z0-9 /é€_-]{0,10}".prop_map(|s| MqttString::copy_from_str(&s).unwrap())
}

fn topic_name() -> impl Strategy<Value = MqttString> {
    "[a-z0-9/é]{1,12}".prop_map(|s| MqttString::copy_from_str(&s).unwrap())
}

fn topic_filter() -> impl Strategy<Value = MqttString> {
    "[a-z0-9/+#]{1,12}".prop_map(|s| MqttString::copy_from_str(&s).unwrap())
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

fn packet_id() -> impl Strategy<Value = PacketId> {
    (1u16..).prop_map(|n| PacketId::new(n).unwrap())
}

fn nz16() -> impl Strategy<Value = NonZeroU16> {
    (1u16..).prop_map(|n| NonZeroU16::new(n).unwrap())
}

fn nz32() -> impl Strategy<Value = NonZeroU32> {
    (1u32..).prop_map(|n| NonZeroU32::new(n).unwrap())
}

fn sub_id() -> impl Strategy<Value = NonZeroU32> {
    (1u32..=268_435_455).prop_map(|n| NonZeroU32::new(n).unwrap())
}

fn users() -> impl Strategy<Value = Vec<UserProperty>> {
    vec(
        (string(), string()).prop_map(|(key, value)| UserProperty { key, value }),
        0..3,
    )
}

/// Reason codes 5.0 allows in `packet`.
fn reason(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=255u8)
        .filter_map(ReasonCode::from_u8)
        .filter(|r| r.is_allowed_in(packet))
        .collect();
    select(codes)
}

// ---- 5.0 properties ----

fn connect_props() -> impl Strategy<Value = ConnectProperties> {
    (
        of(any::<u32>()),
        of(nz16()),
        of(nz32()),
        of(any::<u16>()),
        of(any::<bool>()),
        of(any::<bool>()),
        users(),
        of((string(), of(binary()))),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, user_properties, auth)| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                user_properties,
                authentication_data: auth.as_ref().and_then(|(_, d)| d.clone()),
                authentication_method: auth.map(|(m, _)| m),
            },
        )
}

fn will_props() -> impl Strategy<Value = WillProperties> {
    (
        of(any::<u32>()),
        of(any::<bool>()),
        of(any::<u32>()),
        of(string()),
        of(topic_name()),
        of(binary()),
        users(),
    )
        .prop_map(
            |(wdi, pfi, mei, ct, rt, cd, user_properties)| WillProperties {
                will_delay_interval: wdi,
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                content_type: ct,
                response_topic: rt,
                correlation_data: cd,
                user_properties,
            },
        )
}

fn connack_props() -> impl Strategy<Value = ConnAckProperties> {
    let a = (
        of(any::<u32>()),
        of(nz16()),
        of(select(vec![QoS::AtMostOnce, QoS::AtLeastOnce])),
        of(any::<bool>()),
        of(nz32()),
        of(string()),
        of(any::<u16>()),
        of(string()),
        users(),
    );
    let b = (
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<bool>()),
        of(any::<u16>()),
        of(string()),
        of(string()),
        of((string(), of(binary()))),
    );
    (a, b).prop_map(
        |(
            (sei, rm, mq, ra, mps, aci, tam, rs, user_properties),
            (w, si, ss, ska, ri, sr, auth),
        )| {
            ConnAckProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_qos: mq,
                retain_available: ra,
                maximum_packet_size: mps,
                assigned_client_identifier: aci,
                topic_alias_maximum: tam,
                reason_string: rs,
                user_properties,
                wildcard_subscription_available: w,
                subscription_identifiers_available: si,
                shared_subscription_available: ss,
                server_keep_alive: ska,
                response_information: ri,
                server_reference: sr,
                authentication_data: auth.as_ref().and_then(|(_, d)| d.clone()),
                authentication_method: auth.map(|(m, _)| m),
            }
        },
    )
}

fn publish_props() -> impl Strategy<Value = PublishProperties> {
    (
        of(any::<bool>()),
        of(any::<u32>()),
        of(nz16()),
        of(topic_name()),
        of(binary()),
        users(),
        vec(sub_id(), 0..3),
        of(string()),
    )
        .prop_map(
            |(pfi, mei, ta, rt, cd, user_properties, sids, ct)| PublishProperties {
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                topic_alias: ta,
                response_topic: rt,
                correlation_data: cd,
                user_properties,
                subscription_identifiers: sids,
                content_type: ct,
            },
        )
}

fn ack_props() -> impl Strategy<Value = AckProperties> {
    (of(string()), users()).prop_map(|(reason_string, user_properties)| AckProperties {
        reason_string,
        user_properties,
    })
}

// ---- packets ----

fn connect(v: ProtocolVersion) -> impl Strategy<Value = Connect> {
    let protocols = if v.is_v5() {
        vec![ProtocolVersion::V5]
    } else {
        vec![ProtocolVersion::V31, ProtocolVersion::V311]
    };
    let v5 = v.is_v5();
    let will = (topic_name(), binary(), qos(), any::<bool>(), will_props()).prop_map(
        move |(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties: if v5 {
                properties
            } else {
                WillProperties::default()
            },
        },
    );
    (
        select(protocols),
        any::<bool>(),
        any::<u16>(),
        string(),
        of(will),
        of(string()),
        of(binary()),
        connect_props(),
    )
        .prop_map(
            move |(
                protocol,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                properties,
            )| {
                Connect {
                    protocol,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22].
                    password: if v5 || username.is_some() {
                        password.map(Password)
                    } else {
                        None
                    },
                    username,
                    properties: if v5 {
                        properties
                    } else {
                        ConnectProperties::default()
                    },
                }
            },
        )
}

fn connack(v: ProtocolVersion) -> BoxedStrategy<ConnAck> {
    if v.is_v5() {
        (any::<bool>(), reason(PacketType::ConnAck), connack_props())
            .prop_map(|(session_present, reason, properties)| ConnAck {
                session_present,
                reason,
                properties,
            })
            .boxed()
    } else {
        let v31 = v == ProtocolVersion::V31;
        (any::<bool>(), 0u8..=5)
            .prop_map(move |(sp, code)| ConnAck {
                session_present: sp && !v31,
                reason: ReasonCode::from_v3_connack(code).unwrap(),
                properties: ConnAckProperties::default(),
            })
            .boxed()
    }
}

fn publish(v: ProtocolVersion) -> impl Strategy<Value = Publish> {
    let v5 = v.is_v5();
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        packet_id(),
        publish_props(),
        binary(),
    )
        .prop_map(
            move |(dup, qos, retain, topic, empty_topic, id, properties, payload)| {
                let properties = if v5 {
                    properties
                } else {
                    PublishProperties::default()
                };
                // 5.0 may replace the topic by an alias.
                let topic = if empty_topic && properties.topic_alias.is_some() {
                    MqttString::default()
                } else {
                    topic
                };
                let at_most_once = qos == QoS::AtMostOnce;
                Publish {
                    dup: dup && !at_most_once,
                    qos,
                    retain,
                    topic,
                    packet_id: if at_most_once { None } else { Some(id) },
                    properties,
                    payload,
                }
            },
        )
}

fn ack(v: ProtocolVersion, packet: PacketType) -> BoxedStrategy<Ack> {
    if v.is_v5() {
        (packet_id(), reason(packet), ack_props())
            .prop_map(|(packet_id, reason, properties)| Ack {
                packet_id,
                reason,
                properties,
            })
            .boxed()
    } else {
        packet_id().prop_map(Ack::new).boxed()
    }
}

fn subscribe(v: ProtocolVersion) -> impl Strategy<Value = Subscribe> {
    let v5 = v.is_v5();
    let options = (
        qos(),
        any::<bool>(),
        any::<bool>(),
        select(vec![
            RetainHandling::SendAtSubscribe,
            RetainHandling::SendIfNew,
            RetainHandling::DoNotSend,
        ]),
    )
        .prop_map(move |(qos, nl, rap, rh)| {
            if v5 {
                SubscriptionOptions {
                    qos,
                    no_local: nl,
                    retain_as_published: rap,
                    retain_handling: rh,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..Default::default()
                }
            }
        });
    (
        packet_id(),
        vec((topic_filter(), options), 1..4),
        of(sub_id()),
        users(),
    )
        .prop_map(
            move |(packet_id, filters, sid, user_properties)| Subscribe {
                packet_id,
                filters,
                properties: if v5 {
                    SubscribeProperties {
                        subscription_identifier: sid,
                        user_properties,
                    }
                } else {
                    SubscribeProperties::default()
                },
            },
        )
}

fn suback(v: ProtocolVersion) -> impl Strategy<Value = SubAck> {
    let v5 = v.is_v5();
    let code = if v5 {
        reason(PacketType::SubAck).boxed()
    } else {
        select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (packet_id(), vec(code, 1..4), ack_props()).prop_map(move |(packet_id, reasons, properties)| {
        SubAck {
            packet_id,
            reasons,
            properties: if v5 {
                properties
            } else {
                AckProperties::default()
            },
        }
    })
}

fn unsubscribe(v: ProtocolVersion) -> impl Strategy<Value = Unsubscribe> {
    let v5 = v.is_v5();
    (packet_id(), vec(topic_filter(), 1..4), users()).prop_map(
        move |(packet_id, filters, user_properties)| Unsubscribe {
            packet_id,
            filters,
            properties: if v5 {
                UnsubscribeProperties { user_properties }
            } else {
                UnsubscribeProperties::default()
            },
        },
    )
}

fn unsuback(v: ProtocolVersion) -> impl Strategy<Value = UnsubAck> {
    let v5 = v.is_v5();
    (
        packet_id(),
        vec(reason(PacketType::UnsubAck), 0..4),
        ack_props(),
    )
        .prop_map(move |(packet_id, reasons, properties)| {
            if v5 {
                UnsubAck {
                    packet_id,
                    reasons,
                    properties,
                }
            } else {
                UnsubAck {
                    packet_id,
                    reasons: vec![],
                    properties: AckProperties::default(),
                }
            }
        })
}

fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Disconnect> {
    if !v.is_v5() {
        return Just(Disconnect::default()).boxed();
    }
    (
        reason(PacketType::Disconnect),
        of(any::<u32>()),
        of(string()),
        users(),
        of(string()),
    )
        .prop_map(|(reason, sei, rs, user_properties, sr)| Disconnect {
            reason,
            properties: DisconnectProperties {
                session_expiry_interval: sei,
                reason_string: rs,
                user_properties,
                server_reference: sr,
            },
        })
        .boxed()
}

fn auth() -> impl Strategy<Value = Auth> {
    (
        reason(PacketType::Auth),
        of(string()),
        of(binary()),
        of(string()),
        users(),
    )
        .prop_map(|(reason, m, d, rs, user_properties)| Auth {
            reason,
            properties: AuthProperties {
                authentication_method: m,
                authentication_data: d,
                reason_string: rs,
                user_properties,
            },
        })
}

/// Any packet `v` can carry.
fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let common = prop_oneof![
        connect(v).prop_map(Packet::Connect),
        connack(v).prop_map(Packet::ConnAck),
        publish(v).prop_map(Packet::Publish),
        ack(v, PacketType::PubAck).prop_map(Packet::PubAck),
        ack(v, PacketType::PubRec).prop_map(Packet::PubRec),
        ack(v, PacketType::PubRel).prop_map(Packet::PubRel),
        ack(v, PacketType::PubComp).prop_map(Packet::PubComp),
        subscribe(v).prop_map(Packet::Subscribe),
        suback(v).prop_map(Packet::SubAck),
        unsubscribe(v).prop_map(Packet::Unsubscribe),
        unsuback(v).prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(v).prop_map(Packet::Disconnect),
    ];
    if v.is_v5() {
        prop_oneof![13 => common, 1 => auth().prop_map(Packet::Auth)].boxed()
    } else {
        common.boxed()
    }
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(vec![
        ProtocolVersion::V31,
        ProtocolVersion::V311,
        ProtocolVersion::V5,
    ])
}

fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    version().prop_flat_map(|v| (Just(v), packet(v)))
}

fn versioned_packets() -> impl Strategy<Value = (ProtocolVersion, Vec<Packet>)> {
    version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..6)))
}

fn encode_all(packets: &[Packet], v: ProtocolVersion) -> BytesMut {
    let mut buf = BytesMut::new();
    for p in packets {
        p.encode(v, &mut buf).unwrap();
    }
    buf
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_of_encode_is_identity((v, packet) in versioned_packet()) {
        let mut buf = BytesMut::new();
        packet.encode(v, &mut buf).unwrap();
        prop_assert_eq!(buf.len(), encoded_len(&packet, v));
        if let Packet::Publish(p) = &packet {
            prop_assert_eq!(buf.len(), p.encoded_len(v));
        }
        let decoded = decode(&mut buf, v, &Limits::default());
        prop_assert_eq!(decoded, Ok(Some(packet)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic(v in version(), bytes in vec(any::<u8>(), 0..200)) {
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decode(&mut buf, v, &Limits::default()) {}
    }

    #[test]
    fn arbitrary_bodies_never_panic(v in version(), first in any::<u8>(), body in vec(any::<u8>(), 0..120)) {
        // A well-formed fixed header in front of random bytes reaches the body decoders.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[first, body.len() as u8]);
        buf.extend_from_slice(&body);
        let before = buf.clone();
        match decode(&mut buf, v, &Limits::default()) {
            Ok(Some(packet)) => {
                // Whatever the decoder accepts, the encoder writes back in a form that decodes
                // to the same packet (the fuzz targets check the same).
                prop_assert!(buf.is_empty());
                let mut out = BytesMut::new();
                packet.encode(v, &mut out).unwrap();
                prop_assert_eq!(decode(&mut out, v, &Limits::default()), Ok(Some(packet)));
            }
            Ok(None) => prop_assert!(false, "a whole packet is never incomplete"),
            Err(e) => {
                prop_assert_eq!(&buf, &before);
                let _ = (e.to_string(), e.rule(), e.reason_code());
            }
        }
    }

    #[test]
    fn streaming_decode_ignores_split_points(
        (v, packets) in versioned_packets(),
        chunks in vec(1usize..40, 1..64),
    ) {
        let wire = encode_all(&packets, v);
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut at = 0;
        let mut sizes = chunks.iter().cycle();
        while at < wire.len() {
            let n = (*sizes.next().unwrap()).min(wire.len() - at);
            buf.extend_from_slice(&wire[at..at + n]);
            at += n;
            while let Some(p) = decode(&mut buf, v, &Limits::default()).unwrap() {
                decoded.push(p);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, packets);
    }

    #[test]
    fn every_single_split_point_yields_the_same_packets((v, packets) in versioned_packets()) {
        let wire = encode_all(&packets, v);
        for split in 0..=wire.len() {
            let mut buf = BytesMut::from(&wire[..split]);
            let mut decoded = Vec::new();
            while let Some(p) = decode(&mut buf, v, &Limits::default()).unwrap() {
                decoded.push(p);
            }
            buf.extend_from_slice(&wire[split..]);
            while let Some(p) = decode(&mut buf, v, &Limits::default()).unwrap() {
                decoded.push(p);
            }
            prop_assert_eq!(&decoded, &packets);
        }
    }
}
