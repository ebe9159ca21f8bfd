//! CONNECT, CONNACK, DISCONNECT and AUTH: the packets that open, authenticate and close a
//! connection.

use super::reader::Reader;
use super::{expect_len, props};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::packet::{Auth, ConnAck, Connect, Disconnect, PacketType, ProtocolVersion, QoS, Will};
use crate::reason::ReasonCode;
use crate::string::Password;
use crate::wire::{connack_flags, connect_flags};

/// CONNECT (§3.1). The protocol version comes from the packet itself.
pub(super) fn connect(r: &mut Reader<'_>) -> Result<Connect, DecodeError> {
    let name = r.string("protocol name")?;
    let level = r.u8("protocol level")?;
    let protocol = match (name.as_str(), level) {
        ("MQIsdp", 3) => ProtocolVersion::V31,
        ("MQTT", 4) => ProtocolVersion::V311,
        ("MQTT", 5) => ProtocolVersion::V5,
        // A known name with a level no version has: the level is what is unsupported.
        ("MQTT" | "MQIsdp", l) if !(3..=5).contains(&l) => {
            return Err(r.err(
                DecodeErrorKind::UnsupportedProtocolVersion(l),
                "protocol level",
            ));
        }
        _ => {
            return Err(r.err(
                DecodeErrorKind::ProtocolNameMismatch { name, level },
                "protocol name",
            ));
        }
    };

    const FLAGS: &str = "connect flags";
    let flags = r.u8(FLAGS)?;
    if flags & connect_flags::RESERVED != 0 {
        return Err(r.err(DecodeErrorKind::ConnectReservedFlag { flags }, FLAGS));
    }
    let has_will = flags & connect_flags::WILL != 0;
    let will_qos_bits = (flags & connect_flags::WILL_QOS_MASK) >> connect_flags::WILL_QOS_SHIFT;
    let will_retain = flags & connect_flags::WILL_RETAIN != 0;
    if has_will {
        if will_qos_bits == 3 {
            return Err(r.err(DecodeErrorKind::InvalidWillQos { flags }, FLAGS));
        }
    } else if will_qos_bits != 0 {
        return Err(r.err(
            DecodeErrorKind::WillQosWithoutWill { qos: will_qos_bits },
            FLAGS,
        ));
    } else if will_retain {
        return Err(r.err(DecodeErrorKind::WillRetainWithoutWill, FLAGS));
    }
    let has_username = flags & connect_flags::USERNAME != 0;
    let has_password = flags & connect_flags::PASSWORD != 0;
    if has_password && !has_username && !protocol.is_v5() {
        return Err(r.err(DecodeErrorKind::PasswordWithoutUsername, FLAGS));
    }

    let keep_alive = r.u16("keep alive")?;
    let properties = if protocol.is_v5() {
        props::connect(r)?
    } else {
        Default::default()
    };
    let client_id = r.string("client identifier")?;
    let will = if has_will {
        let properties = if protocol.is_v5() {
            props::will(r)?
        } else {
            Default::default()
        };
        let topic = r.string("will topic")?;
        let payload = r.binary("will payload")?;
        Some(Will {
            topic,
            payload,
            qos: QoS::from_u8(will_qos_bits).unwrap_or_default(),
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if has_password {
        Some(Password(r.binary("password")?))
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start: flags & connect_flags::CLEAN_START != 0,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// CONNACK (§3.2): exactly two bytes in 3.1 / 3.1.1, flags, reason and properties in 5.0.
pub(super) fn connack(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<ConnAck, DecodeError> {
    const FLAGS: &str = "acknowledge flags";
    if !version.is_v5() {
        expect_len(r, 2, version)?;
    }
    let flags = r.u8(FLAGS)?;
    // MQTT 3.1 has no session present flag: its first byte is unused.
    let session_present = if version == ProtocolVersion::V31 {
        false
    } else if flags & connack_flags::RESERVED != 0 {
        return Err(r.err(DecodeErrorKind::ConnAckReservedFlags { flags }, FLAGS));
    } else {
        flags & connack_flags::SESSION_PRESENT != 0
    };
    if version.is_v5() {
        let reason = reason_code(r, "connect reason code")?;
        let properties = props::connack(r)?;
        Ok(ConnAck {
            session_present,
            reason,
            properties,
        })
    } else {
        const FIELD: &str = "connect return code";
        let code = r.u8(FIELD)?;
        let reason = ReasonCode::from_v3_connack(code)
            .ok_or_else(|| r.err(DecodeErrorKind::InvalidReasonCode { code }, FIELD))?;
        Ok(ConnAck {
            session_present,
            reason,
            properties: Default::default(),
        })
    }
}

/// DISCONNECT (§3.14): empty in 3.1 / 3.1.1; in 5.0 a remaining length of 0 means Normal
/// disconnection and 1 means a reason code without properties.
pub(super) fn disconnect(
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Disconnect, DecodeError> {
    if !version.is_v5() {
        expect_len(r, 0, version)?;
        return Ok(Disconnect::default());
    }
    let mut disconnect = Disconnect::default();
    if !r.is_empty() {
        disconnect.reason = reason_code(r, "disconnect reason code")?;
        if !r.is_empty() {
            disconnect.properties = props::disconnect(r)?;
        }
    }
    Ok(disconnect)
}

/// AUTH (v5 §3.15): a remaining length of 0 means Success without properties.
pub(super) fn auth(r: &mut Reader<'_>) -> Result<Auth, DecodeError> {
    let mut auth = Auth::default();
    if !r.is_empty() {
        auth.reason = reason_code(r, "authenticate reason code")?;
        if !r.is_empty() {
            auth.properties = props::auth(r)?;
        }
    }
    Ok(auth)
}

/// A 5.0 reason code that the packet being read may carry.
pub(super) fn reason_code(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<ReasonCode, DecodeError> {
    let code = r.u8(field)?;
    let packet: PacketType = r.packet();
    match ReasonCode::from_u8(code) {
        Some(reason) if reason.is_allowed_in(packet) => Ok(reason),
        _ => Err(r.err(DecodeErrorKind::InvalidReasonCode { code }, field)),
    }
}
