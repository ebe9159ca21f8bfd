//! Causes and their explanations.
//!
//! A [`Cause`] carries the values an explanation needs; [`Cause::explain`] turns it (with the
//! story, for context such as the ClientHello) into a [`Verdict`]: outcome, stable id, one
//! sentence naming the field, the value seen and the value wanted, and fixes.

use serde::{Deserialize, Serialize};

use crate::story::{EventKind, Story};

/// How a connection ended, for filters and counts.
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The client connected and later left normally.
    #[default]
    Ok,
    /// The connection failed or ended abnormally.
    Failed,
}

/// The explanation of a story.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub struct Verdict {
    /// Ok or failed.
    pub outcome: Outcome,
    /// Stable cause id, e.g. `tls.no_sni`.
    pub cause: String,
    /// One plain sentence with the concrete values.
    pub sentence: String,
    /// What to change, most likely first.
    pub fixes: Vec<String>,
}

/// Why a connection ended (or was refused), with the values that explain it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
#[serde(tag = "id")]
#[non_exhaustive]
pub enum Cause {
    // --- TLS: before and during the handshake ---
    /// No SNI on a listener that requires it.
    #[serde(rename = "tls.no_sni")]
    NoSni {
        /// Host names the listener serves.
        served: Vec<String>,
    },
    /// An SNI name no tenant serves.
    #[serde(rename = "tls.sni_unknown")]
    SniUnknown {
        /// The name sent.
        name: String,
        /// Host names served.
        served: Vec<String>,
    },
    /// A server_name extension that does not parse.
    #[serde(rename = "tls.sni_malformed")]
    SniMalformed {
        /// What was wrong.
        detail: String,
    },
    /// No TLS version in common.
    #[serde(rename = "tls.no_shared_version")]
    NoSharedVersion {
        /// Versions the client offered.
        offered: Vec<String>,
        /// Versions the listener accepts.
        accepted: Vec<String>,
    },
    /// No cipher suite in common.
    #[serde(rename = "tls.no_shared_cipher")]
    NoSharedCipher {
        /// Suites the client offered.
        offered: Vec<String>,
        /// Suites the listener accepts.
        accepted: Vec<String>,
    },
    /// The client cannot verify any signature the server's certificate can make.
    #[serde(rename = "tls.no_shared_signature")]
    NoSharedSignature {
        /// Signature schemes the client offered.
        offered: Vec<String>,
        /// The server certificate's key type.
        server_key: String,
    },
    /// The client rejected the server certificate.
    #[serde(rename = "tls.client_rejected_server_cert")]
    ClientRejectedServerCert {
        /// The alert it sent, or "closed after the server certificate".
        alert: String,
        /// The subject of the root of the chain the server sent.
        root: String,
        /// The server certificate's validity, for the clock check.
        validity: String,
        /// True when the alert says the certificate is expired although it is valid now: the
        /// device's clock is wrong.
        clock_suspect: bool,
    },
    /// mTLS required and no client certificate.
    #[serde(rename = "tls.client_cert_missing")]
    ClientCertMissing,
    /// A client certificate from a CA the tenant does not trust.
    #[serde(rename = "tls.client_cert_untrusted")]
    ClientCertUntrusted {
        /// Its issuer, when it could be read.
        issuer: String,
        /// The CAs the tenant trusts.
        trusted: Vec<String>,
    },
    /// An expired client certificate.
    #[serde(rename = "tls.client_cert_expired")]
    ClientCertExpired {
        /// Subject.
        subject: String,
        /// Its notAfter.
        not_after: String,
    },
    /// A client certificate not valid yet.
    #[serde(rename = "tls.client_cert_not_yet_valid")]
    ClientCertNotYetValid {
        /// Subject.
        subject: String,
        /// Its notBefore.
        not_before: String,
    },
    /// A revoked client certificate.
    #[serde(rename = "tls.client_cert_revoked")]
    ClientCertRevoked {
        /// Subject.
        subject: String,
    },
    /// Another client certificate problem.
    #[serde(rename = "tls.client_cert_invalid")]
    ClientCertInvalid {
        /// rustls's description.
        detail: String,
    },
    /// The client asked to renegotiate; TLS renegotiation is refused.
    #[serde(rename = "tls.renegotiation_refused")]
    RenegotiationRefused,
    /// The TLS handshake did not finish in time.
    #[serde(rename = "tls.handshake_timeout")]
    HandshakeTimeout {
        /// The timeout in seconds.
        timeout_s: f64,
        /// Bytes received.
        bytes: u64,
    },
    /// Any other TLS failure.
    #[serde(rename = "tls.handshake_failed")]
    HandshakeFailed {
        /// rustls's description.
        detail: String,
        /// Who raised it.
        by_client: bool,
    },
    /// The client closed right after the TLS handshake without sending anything.
    #[serde(rename = "tls.closed_after_handshake")]
    ClosedAfterHandshake,

    // --- wrong protocol on a port ---
    /// Plaintext MQTT on a TLS port.
    #[serde(rename = "mqtt.plain_on_tls_port")]
    PlainMqttOnTlsPort,
    /// Plain HTTP on a TLS port.
    #[serde(rename = "http.plain_on_tls_port")]
    PlainHttpOnTlsPort,
    /// A TLS ClientHello on a plain port.
    #[serde(rename = "tls.on_plain_port")]
    TlsOnPlainPort,
    /// HTTP (a WebSocket client) on a native MQTT port.
    #[serde(rename = "http.on_mqtt_port")]
    HttpOnMqttPort {
        /// The request line.
        request_line: String,
    },
    /// Native MQTT on a WebSocket port.
    #[serde(rename = "mqtt.on_ws_port")]
    MqttOnWsPort,
    /// Text (AT commands, debug prints) where a packet was expected.
    #[serde(rename = "mqtt.text_instead_of_packet")]
    TextInsteadOfPacket {
        /// The printable bytes.
        text: String,
    },
    /// A first packet that is not CONNECT.
    #[serde(rename = "mqtt.not_a_connect")]
    NotAConnect {
        /// First bytes, hex.
        hex: String,
        /// The packet the first byte announces.
        packet: Option<String>,
    },
    /// The socket closed before a single byte arrived (a port check).
    #[serde(rename = "net.closed_before_data")]
    ClosedBeforeData,

    // --- MQTT ---
    /// A packet the codec rejected.
    #[serde(rename = "mqtt.malformed")]
    Malformed {
        /// The packet type, if known.
        packet: Option<String>,
        /// The codec's sentence (names field, values and rule).
        detail: String,
        /// The spec rule id.
        rule: Option<String>,
        /// The offending bytes, hex (at most 64).
        bytes: String,
    },
    /// A well-formed packet that breaks the protocol.
    #[serde(rename = "mqtt.protocol_violation")]
    ProtocolViolation {
        /// What happened, naming the rule.
        detail: String,
    },
    /// A second CONNECT: the client did not read its CONNACK.
    #[serde(rename = "mqtt.second_connect")]
    SecondConnect,
    /// No CONNECT within the connect timeout.
    #[serde(rename = "mqtt.connect_timeout")]
    ConnectTimeout {
        /// Seconds waited.
        waited_s: f64,
        /// Bytes received.
        bytes: u64,
    },
    /// CONNECT refused for another reason (protocol version, client id, will topic).
    #[serde(rename = "mqtt.refused")]
    Refused {
        /// CONNACK reason code.
        code: u8,
        /// What was wrong.
        detail: String,
    },

    // --- authentication ---
    /// No credentials where they are required.
    #[serde(rename = "auth.no_credentials")]
    NoCredentials,
    /// Unknown user.
    #[serde(rename = "auth.unknown_user")]
    UnknownUser {
        /// The user name.
        username: String,
    },
    /// Wrong password for a known user.
    #[serde(rename = "auth.bad_password")]
    BadPassword {
        /// The user name.
        username: String,
        /// Whether a password was sent at all.
        password_sent: bool,
    },
    /// A password without a user name.
    #[serde(rename = "auth.password_without_username")]
    PasswordWithoutUsername,
    /// The client id does not match the certificate identity.
    #[serde(rename = "auth.cert_identity_mismatch")]
    CertIdentityMismatch {
        /// The client id.
        client_id: String,
        /// The certificate identity.
        identity: String,
    },

    // --- session ---
    /// Keep alive expired.
    #[serde(rename = "session.keepalive_expired")]
    KeepAliveExpired {
        /// Keep alive in seconds.
        keep_alive_s: u64,
        /// Time since the last packet, seconds.
        idle_s: f64,
        /// Packets after CONNECT.
        packets_after_connect: u64,
    },
    /// Taken over by a connection with the same client id.
    #[serde(rename = "session.taken_over")]
    TakenOver,
    /// The client disconnected normally.
    #[serde(rename = "session.client_disconnect")]
    ClientDisconnect {
        /// Its DISCONNECT reason code.
        code: u8,
    },
    /// The client closed the socket without DISCONNECT.
    #[serde(rename = "net.peer_closed")]
    PeerClosed,
    /// A network error.
    #[serde(rename = "net.error")]
    NetworkError {
        /// The system's message.
        detail: String,
    },
    /// The broker shut down.
    #[serde(rename = "broker.shutdown")]
    ServerShutdown,
    /// Too many handshakes in progress.
    #[serde(rename = "net.handshake_capacity")]
    HandshakeCapacity,

    // --- WebSocket ---
    /// Wrong path.
    #[serde(rename = "ws.wrong_path")]
    WsWrongPath {
        /// Requested.
        path: String,
        /// Served.
        expected: String,
    },
    /// No subprotocol offered.
    #[serde(rename = "ws.no_subprotocol")]
    WsNoSubprotocol,
    /// Unknown subprotocols offered.
    #[serde(rename = "ws.unknown_subprotocol")]
    WsUnknownSubprotocol {
        /// Offered.
        offered: Vec<String>,
    },
    /// An HTTP request that is not a WebSocket upgrade.
    #[serde(rename = "ws.not_an_upgrade")]
    WsNotAnUpgrade {
        /// Method and path.
        request: String,
    },
    /// Any other refused upgrade.
    #[serde(rename = "ws.bad_request")]
    WsBadRequest {
        /// What was wrong.
        detail: String,
    },
    /// Not yet ended (a story in progress).
    #[default]
    #[serde(rename = "open")]
    Open,
}

/// Suites constrained devices offer that rustls does not implement.
fn is_legacy_suite(name: &str) -> bool {
    name.starts_with("TLS_RSA_") || name.contains("_CBC_") || name.contains("3DES") || name.contains("RC4")
}

impl Cause {
    /// The stable id.
    pub fn id(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => {
                map.get("id").and_then(|v| v.as_str()).unwrap_or("unknown").to_owned()
            }
            _ => "unknown".to_owned(),
        }
    }

    /// Whether this ending is a failure.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::ClientDisconnect { code } if *code < 0x80)
            && !matches!(self, Self::Open | Self::ServerShutdown)
    }

    /// The explanation, using the story for context (ClientHello, listener).
    pub fn explain(&self, story: &Story) -> Verdict {
        let hello = story.events.iter().find_map(|e| match &e.kind {
            EventKind::ClientHello(h) => Some(h),
            _ => None,
        });
        let (sentence, mut fixes) = self.sentence_and_fixes(story);
        // Device-family hints from the ClientHello.
        if let Some(h) = hello {
            if matches!(self, Self::NoSni { .. } | Self::SniUnknown { .. }) {
                fixes.push(
                    "a SIMCom modem (SIM7600/A7670) sends SNI only when told to: AT+CSSLCFG=\"enableSNI\",0,1 before AT+CMQTTCONNECT".into(),
                );
            }
            if matches!(self, Self::NoSharedCipher { .. })
                && !h.cipher_suites.is_empty()
                && h.cipher_suites.iter().filter(|s| !s.starts_with("0x00FF")).all(|s| is_legacy_suite(s) || s == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV")
            {
                fixes.push(
                    "this device offers only static-RSA or CBC suites, which rustls does not speak: enable ECDHE-GCM suites in its TLS stack (mbedTLS: MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED / MBEDTLS_GCM_C), update the modem firmware, or serve it from a listener with the legacy TLS backend".into(),
                );
            }
        }
        Verdict {
            outcome: if self.is_failure() { Outcome::Failed } else { Outcome::Ok },
            cause: self.id(),
            sentence,
            fixes,
        }
    }

    fn sentence_and_fixes(&self, story: &Story) -> (String, Vec<String>) {
        let join = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        match self {
            Self::NoSni { served } => (
                format!(
                    "The ClientHello carried no SNI (server_name), and listener {:?} routes tenants by SNI; it serves {}.",
                    story.listener,
                    join(served)
                ),
                vec!["configure the device's TLS client to send the broker's host name as SNI (server_name)".into()],
            ),
            Self::SniUnknown { name, served } => (
                format!("The ClientHello asked for {name:?}, which no tenant serves; this listener serves {}.", join(served)),
                vec![format!("set the device's broker host name to one of: {}", join(served))],
            ),
            Self::SniMalformed { detail } => (
                format!("The ClientHello's server_name extension is malformed: {detail}."),
                vec!["update the device's TLS library; the SNI it builds is not valid".into()],
            ),
            Self::NoSharedVersion { offered, accepted } => (
                format!("The client offered TLS versions {}; this listener accepts {}.", join(offered), join(accepted)),
                vec!["enable TLS 1.2 (or 1.3) in the device's TLS stack, or lower this listener's tls_min_version".into()],
            ),
            Self::NoSharedCipher { offered, accepted } => (
                format!("The client offered only {}; this listener accepts {}.", join(offered), join(accepted)),
                vec!["enable one of the accepted suites on the device, or add one the device offers to this listener's cipher_suites".into()],
            ),
            Self::NoSharedSignature { offered, server_key } => (
                format!("The client can verify only {} signatures, but the server certificate has a {server_key} key.", join(offered)),
                vec![format!("give this tenant a certificate whose key the device can verify (the device does not accept {server_key})")],
            ),
            Self::ClientRejectedServerCert { alert, root, validity, clock_suspect } => {
                let mut fixes = vec![format!("install the root CA {root:?} on the device (as PEM with LF line endings)")];
                if *clock_suspect {
                    fixes.insert(0, "set the device's clock (a modem without network time starts in 1980 or 2000): sync NTP or the cellular time before connecting".into());
                }
                (
                    format!("The client rejected the server certificate ({alert}); the chain's root is {root:?}, valid {validity}."),
                    fixes,
                )
            }
            Self::ClientCertMissing => (
                "The client sent no certificate, and this listener requires one (mtls = \"required\").".into(),
                vec!["load a client certificate and key on the device".into(), "or set mtls = \"optional\" on this listener".into()],
            ),
            Self::ClientCertUntrusted { issuer, trusted } if trusted.contains(issuer) => (
                format!("The client certificate names {issuer:?} as its issuer, a CA this tenant trusts, but was not signed by that CA's key: it comes from another CA with the same name (a regenerated development CA?)."),
                vec!["issue the device certificate again from the CA the broker trusts (`lantern cert client` with the broker's data directory)".into()],
            ),
            Self::ClientCertUntrusted { issuer, trusted } => (
                format!("The client certificate was issued by {issuer:?}, which this tenant does not trust; it trusts {}.", join(trusted)),
                vec!["issue the device certificate from a trusted CA, or add its CA to the tenant's client_ca; send the intermediate certificates too".into()],
            ),
            Self::ClientCertExpired { subject, not_after } => (
                format!("The client certificate {subject:?} expired on {not_after}."),
                vec!["issue the device a new certificate".into()],
            ),
            Self::ClientCertNotYetValid { subject, not_before } => (
                format!("The client certificate {subject:?} is not valid before {not_before}."),
                vec!["check the broker's clock, or wait until the certificate is valid".into()],
            ),
            Self::ClientCertRevoked { subject } => (
                format!("The client certificate {subject:?} is on the tenant's revocation list."),
                vec!["issue the device a new certificate".into()],
            ),
            Self::ClientCertInvalid { detail } => (
                format!("The client certificate was refused: {detail}."),
                vec!["check the certificate with `lantern cert show`".into()],
            ),
            Self::RenegotiationRefused => (
                "The client asked to renegotiate TLS, which Lantern refuses.".into(),
                vec!["turn off renegotiation in the device's TLS stack".into()],
            ),
            Self::HandshakeTimeout { timeout_s, bytes } => (
                format!("The TLS handshake did not finish within {timeout_s:.1} s ({bytes} bytes arrived)."),
                vec!["check the device's network path; a modem may be stalling".into()],
            ),
            Self::HandshakeFailed { detail, by_client } => (
                format!("The TLS handshake failed ({}): {detail}.", if *by_client { "the client aborted" } else { "the broker refused" }),
                vec![],
            ),
            Self::ClosedAfterHandshake => (
                "The client closed the connection right after the TLS handshake, before sending CONNECT.".into(),
                vec!["the device may have failed to verify the certificate after the handshake, or its MQTT stack failed; check its log".into()],
            ),
            Self::PlainMqttOnTlsPort => (
                "The client sent a plaintext MQTT CONNECT to a TLS port.".into(),
                vec!["use TLS (mqtts://) for this port, or connect to the plain MQTT port".into()],
            ),
            Self::PlainHttpOnTlsPort => (
                "The client sent plaintext HTTP to a TLS port.".into(),
                vec!["use wss:// or https:// for this port".into()],
            ),
            Self::TlsOnPlainPort => (
                "A TLS ClientHello arrived on a plain MQTT port.".into(),
                vec!["connect without TLS (mqtt://) here, or to the TLS port (mqtts://)".into()],
            ),
            Self::HttpOnMqttPort { request_line } => (
                format!("An HTTP request ({request_line:?}) arrived on a native MQTT port."),
                vec!["point WebSocket clients at the WebSocket port (ws:// or wss://)".into()],
            ),
            Self::MqttOnWsPort => (
                "Native MQTT arrived on a WebSocket port.".into(),
                vec!["connect to the native MQTT port, or use ws:// from the client".into()],
            ),
            Self::TextInsteadOfPacket { text } => (
                format!("Text arrived where an MQTT CONNECT was expected: {text:?}."),
                vec!["the device writes its modem's AT commands or debug output into the socket; check that the modem is in data mode before sending MQTT".into()],
            ),
            Self::NotAConnect { hex, packet } => (
                match packet {
                    Some(p) => format!("The first packet must be CONNECT [MQTT-3.1.0-1], but the connection began with {hex}, a {p}."),
                    None => format!("The first packet must be CONNECT [MQTT-3.1.0-1], but the connection began with {hex}."),
                },
                vec!["send CONNECT first".into()],
            ),
            Self::ClosedBeforeData => (
                "The socket closed before a single byte arrived (a port check or a health probe).".into(),
                vec![],
            ),
            Self::Malformed { packet, detail, rule, bytes } => (
                format!(
                    "A malformed {} was refused: {detail}{}; bytes: {bytes}.",
                    packet.as_deref().unwrap_or("packet"),
                    rule.as_ref().map(|r| format!(" [{r}]")).unwrap_or_default()
                ),
                vec!["fix the client's packet encoding (compare its bytes with the rule cited)".into()],
            ),
            Self::ProtocolViolation { detail } => (format!("Protocol violation: {detail}."), vec![]),
            Self::SecondConnect => (
                "A second CONNECT arrived on an open connection [MQTT-3.1.0-2]: the client did not read its CONNACK and tried again.".into(),
                vec!["make the client read the CONNACK after CONNECT (a TLS read loop that does not drain its buffer loses it)".into()],
            ),
            Self::ConnectTimeout { waited_s, bytes } => (
                if *bytes == 0 {
                    format!("No CONNECT within {waited_s:.1} s: not a single byte arrived.")
                } else {
                    format!("No complete CONNECT within {waited_s:.1} s: {bytes} bytes arrived.")
                },
                vec!["check that the device sends CONNECT right after connecting".into()],
            ),
            Self::Refused { code, detail } => (
                format!("CONNECT was refused with reason code 0x{code:02X}: {detail}."),
                vec![],
            ),
            Self::NoCredentials => (
                "CONNECT carried no user name and no client certificate, and this listener does not allow anonymous clients.".into(),
                vec!["give the device a user name and password, or a client certificate".into()],
            ),
            Self::UnknownUser { username } => (
                format!("User {username:?} is not in the tenant's password file."),
                vec![format!("add the user with `lantern passwd FILE {username}`")],
            ),
            Self::BadPassword { username, password_sent } => (
                if *password_sent {
                    format!("Wrong password for user {username:?}.")
                } else {
                    format!("User {username:?} sent no password.")
                },
                vec!["check the password configured on the device".into()],
            ),
            Self::PasswordWithoutUsername => (
                "CONNECT carried a password without a user name.".into(),
                vec!["set the user name on the device too".into()],
            ),
            Self::CertIdentityMismatch { client_id, identity } => (
                format!("Client id {client_id:?} does not match the client certificate identity {identity:?}."),
                vec![format!("connect with client id {identity:?}, or issue a certificate for {client_id:?}")],
            ),
            Self::KeepAliveExpired { keep_alive_s, idle_s, packets_after_connect } => {
                let mut s = format!(
                    "Keep alive expired: keep alive {keep_alive_s} s allows {:.1} s of silence, and nothing arrived for {idle_s:.1} s",
                    *keep_alive_s as f64 * 1.5
                );
                let mut fixes = vec!["send PINGREQ (or any packet) at least every keep alive interval".into()];
                if *packets_after_connect == 0 {
                    s.push_str("; nothing at all arrived after CONNECT although CONNACK was delivered — the client never read its CONNACK");
                    fixes.insert(0, "make the client read the CONNACK (its read loop is not draining the TLS buffer)".into());
                }
                s.push('.');
                (s, fixes)
            }
            Self::TakenOver => (
                "Another connection with the same client id took over the session.".into(),
                vec!["give every device a unique client id; two devices (or a reconnect loop) share one".into()],
            ),
            Self::ClientDisconnect { code } => (
                format!("The client disconnected with DISCONNECT (reason 0x{code:02X})."),
                vec![],
            ),
            Self::PeerClosed => (
                "The client closed the connection without DISCONNECT.".into(),
                vec!["check the device's log for why it dropped the connection".into()],
            ),
            Self::NetworkError { detail } => (format!("The connection failed: {detail}."), vec![]),
            Self::ServerShutdown => ("The broker shut down.".into(), vec![]),
            Self::HandshakeCapacity => (
                "Too many handshakes were in progress; this one waited past the handshake timeout.".into(),
                vec!["raise max_handshakes, or stagger device reconnects".into()],
            ),
            Self::WsWrongPath { path, expected } => (
                format!("The WebSocket upgrade requested path {path:?}; this listener serves MQTT on {expected:?}."),
                vec![format!("set the client's WebSocket path to {expected:?}")],
            ),
            Self::WsNoSubprotocol => (
                "The WebSocket upgrade offered no subprotocol; MQTT needs Sec-WebSocket-Protocol: mqtt [MQTT-6.0.0-3].".into(),
                vec!["make the client offer the subprotocol \"mqtt\"".into()],
            ),
            Self::WsUnknownSubprotocol { offered } => (
                format!("The WebSocket upgrade offered subprotocols {}; this listener speaks mqtt and mqttv3.1.", join(offered)),
                vec!["make the client offer the subprotocol \"mqtt\"".into()],
            ),
            Self::WsNotAnUpgrade { request } => (
                format!("An HTTP request ({request}) arrived that is not a WebSocket upgrade."),
                vec!["connect with a WebSocket MQTT client (ws:// or wss://)".into()],
            ),
            Self::WsBadRequest { detail } => (format!("The WebSocket upgrade was refused: {detail}."), vec![]),
            Self::Open => ("The connection is still open.".into(), vec![]),
        }
    }
}
