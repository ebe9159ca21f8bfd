//! Causes and their explanations.
//!
//! A [`Cause`] carries the values an explanation needs; [`Cause::explain`] turns it (with the
//! story, for context such as the ClientHello) into a [`Verdict`]: outcome, stable id, one
//! sentence naming the field, the value seen and the value wanted, and fixes.

use serde::{Deserialize, Serialize};

use crate::story::{EventKind, HelloSummary, Story};
use crate::suites::{
    is_legacy_suite_name as is_legacy_suite, is_signaling_suite_name as is_signaling_suite,
};

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
    /// The client id belongs to a persistent session another identity created, and
    /// `[session] other_identity = "refuse"` refused this connection (CONNACK 0x87).
    #[serde(rename = "session.other_identity")]
    SessionOtherIdentity {
        /// The client id.
        client_id: String,
        /// The identity owning the session (`None`: anonymous).
        owner: Option<String>,
        /// The identity of the refused connection (`None`: anonymous).
        identity: Option<String>,
    },
    /// The client's queue stayed full longer than `slow_subscriber_timeout` (DISCONNECT 0x97).
    #[serde(rename = "session.slow_subscriber")]
    SlowSubscriber {
        /// Messages waiting in its queue.
        queued: u64,
        /// `max_queued_messages`.
        max_queued: u64,
        /// QoS 1/2 deliveries sent and not acknowledged.
        inflight: u64,
        /// The in-flight window (the smaller of max_inflight and the client's Receive Maximum).
        window: u64,
        /// How long the queue had been full, seconds.
        stuck_s: f64,
        /// `slow_subscriber_timeout`, seconds.
        timeout_s: f64,
    },
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
    /// The broker's store could not write (disk full, write errors), so a QoS 1/2 PUBLISH was
    /// refused unacknowledged and the client disconnected (v5 DISCONNECT 0x97).
    #[serde(rename = "store.unavailable")]
    StoreUnavailable {
        /// The topic of the refused PUBLISH.
        topic: String,
        /// Its QoS.
        qos: u8,
    },
    /// The broker ended the connection without recording why: a broker fault, never the
    /// device's. (The story recorder closes with this when it is dropped unfinished.)
    #[serde(rename = "broker.internal")]
    Internal {
        /// What the broker knew.
        detail: String,
    },
    /// Too many handshakes in progress.
    #[serde(rename = "net.handshake_capacity")]
    HandshakeCapacity,
    /// A TLS or WebSocket socket sent not a single byte within `first_byte_timeout`.
    #[serde(rename = "net.first_byte_timeout")]
    FirstByteTimeout {
        /// The timeout in seconds.
        timeout_s: f64,
    },
    /// A handshake in progress was closed to make room for a new one: the listener had
    /// `max_handshakes` in progress and this was the oldest.
    #[serde(rename = "net.handshake_evicted")]
    HandshakeEvicted {
        /// How long it had held its slot, in seconds.
        held_s: f64,
        /// The listener's `max_handshakes`.
        max_handshakes: u64,
        /// Bytes received from the client before it was evicted.
        bytes: u64,
    },
    /// Refused at accept: a connection limit was reached (closed before any handshake).
    #[serde(rename = "net.connection_limit")]
    ConnectionLimit {
        /// The configuration key that set the limit (`max_connections`, …).
        limit: String,
        /// Its value.
        max: u64,
        /// Whose connections it counts: "the broker", "tenant \"acme\"", "address 100.64.17.9".
        scope: String,
        /// What it counts: "connections open" or "handshakes in progress".
        counts: String,
    },
    /// Refused at accept: the source address opened connections faster than
    /// `max_connect_rate_per_ip` allows (closed before any handshake).
    #[serde(rename = "net.connect_rate")]
    ConnectRate {
        /// The address (an IPv6 client is counted by its /64).
        address: String,
        /// Connections per second allowed, sustained.
        per_second: u32,
        /// Connections allowed at once after a quiet period.
        burst: u32,
    },

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

/// Suites rustls implements: the TLS 1.3 suites, and ECDHE with AES-GCM or ChaCha20-Poly1305
/// for TLS 1.2. A device offering one of these can be served by listing it in `cipher_suites`.
fn is_rustls_suite(name: &str) -> bool {
    let name = name
        .strip_prefix("TLS13_")
        .map_or(name.to_owned(), |rest| format!("TLS_{rest}"));
    matches!(
        name.as_str(),
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256"
    ) || ((name.starts_with("TLS_ECDHE_ECDSA_WITH_") || name.starts_with("TLS_ECDHE_RSA_WITH_"))
        && (name.ends_with("_AES_128_GCM_SHA256")
            || name.ends_with("_AES_256_GCM_SHA384")
            || name.ends_with("_CHACHA20_POLY1305_SHA256")))
}

/// The fix a SIMCom modem needs when it sends no SNI (field reports 000 and 001).
const SIMCOM_SNI_FIX: &str = "SIMCom modem (SIM7600, A7670): it sends SNI only when told to, with AT+CSSLCFG=\"enableSNI\",0,1 before AT+CMQTTCONNECT (older SIM7600 firmware may need an update for SNI to work)";

/// How the TLS stacks of the field reports' devices set SNI, and the listener-side way out.
fn no_sni_stack_fixes(host: &str) -> [String; 4] {
    [
        format!("mbedTLS (STM32 + W5500 and other bare-metal stacks): call mbedtls_ssl_set_hostname(&ssl, \"{host}\") before mbedtls_ssl_handshake; it sets the SNI and the name checked against the certificate"),
        "ESP-IDF: esp-tls sends the host of the broker URI, or esp_tls_cfg_t.common_name when set; a custom transport (such as esp_modem's AT socket example) may not pass the host on, so set it explicitly".into(),
        "nRF91 / nRF70 (Zephyr, nRF Connect SDK): set the TLS_HOSTNAME socket option (setsockopt(fd, SOL_TLS, TLS_HOSTNAME, host, len)); the nRF91 modem sends SNI from modem firmware 1.2.1".into(),
        "or, if one tenant serves every device on this listener, set sni = \"optional\" so clients without SNI get default_tenant".into(),
    ]
}

/// The fixes for a device that offers only static-RSA or CBC suites.
const LEGACY_SUITE_FIXES: [&str; 2] = [
    "this device offers only static-RSA or CBC suites, which rustls does not implement: enable ECDHE-GCM suites (ECDHE key exchange with AES-GCM) in its TLS stack (mbedTLS: MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED or MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED, with MBEDTLS_ECDH_C, MBEDTLS_ECP_DP_SECP256R1_ENABLED and MBEDTLS_GCM_C)",
    "SIMCom modem: AT+CSSLCFG=\"ciphersuites\",0,0xFFFF offers every suite the firmware has; if the modem still offers only these, update its firmware",
];

impl Cause {
    /// The stable id (the same string serde writes as `id`).
    pub fn id(&self) -> &'static str {
        match self {
            Self::NoSni { .. } => "tls.no_sni",
            Self::SniUnknown { .. } => "tls.sni_unknown",
            Self::SniMalformed { .. } => "tls.sni_malformed",
            Self::NoSharedVersion { .. } => "tls.no_shared_version",
            Self::NoSharedCipher { .. } => "tls.no_shared_cipher",
            Self::NoSharedSignature { .. } => "tls.no_shared_signature",
            Self::ClientRejectedServerCert { .. } => "tls.client_rejected_server_cert",
            Self::ClientCertMissing { .. } => "tls.client_cert_missing",
            Self::ClientCertUntrusted { .. } => "tls.client_cert_untrusted",
            Self::ClientCertExpired { .. } => "tls.client_cert_expired",
            Self::ClientCertNotYetValid { .. } => "tls.client_cert_not_yet_valid",
            Self::ClientCertRevoked { .. } => "tls.client_cert_revoked",
            Self::ClientCertInvalid { .. } => "tls.client_cert_invalid",
            Self::RenegotiationRefused { .. } => "tls.renegotiation_refused",
            Self::HandshakeTimeout { .. } => "tls.handshake_timeout",
            Self::HandshakeFailed { .. } => "tls.handshake_failed",
            Self::ClosedAfterHandshake { .. } => "tls.closed_after_handshake",
            Self::PlainMqttOnTlsPort { .. } => "mqtt.plain_on_tls_port",
            Self::PlainHttpOnTlsPort { .. } => "http.plain_on_tls_port",
            Self::TlsOnPlainPort { .. } => "tls.on_plain_port",
            Self::HttpOnMqttPort { .. } => "http.on_mqtt_port",
            Self::MqttOnWsPort { .. } => "mqtt.on_ws_port",
            Self::TextInsteadOfPacket { .. } => "mqtt.text_instead_of_packet",
            Self::NotAConnect { .. } => "mqtt.not_a_connect",
            Self::ClosedBeforeData { .. } => "net.closed_before_data",
            Self::Malformed { .. } => "mqtt.malformed",
            Self::ProtocolViolation { .. } => "mqtt.protocol_violation",
            Self::SecondConnect { .. } => "mqtt.second_connect",
            Self::ConnectTimeout { .. } => "mqtt.connect_timeout",
            Self::Refused { .. } => "mqtt.refused",
            Self::NoCredentials { .. } => "auth.no_credentials",
            Self::UnknownUser { .. } => "auth.unknown_user",
            Self::BadPassword { .. } => "auth.bad_password",
            Self::PasswordWithoutUsername { .. } => "auth.password_without_username",
            Self::CertIdentityMismatch { .. } => "auth.cert_identity_mismatch",
            Self::KeepAliveExpired { .. } => "session.keepalive_expired",
            Self::TakenOver { .. } => "session.taken_over",
            Self::SessionOtherIdentity { .. } => "session.other_identity",
            Self::SlowSubscriber { .. } => "session.slow_subscriber",
            Self::ClientDisconnect { .. } => "session.client_disconnect",
            Self::PeerClosed { .. } => "net.peer_closed",
            Self::NetworkError { .. } => "net.error",
            Self::ServerShutdown { .. } => "broker.shutdown",
            Self::StoreUnavailable { .. } => "store.unavailable",
            Self::Internal { .. } => "broker.internal",
            Self::HandshakeCapacity { .. } => "net.handshake_capacity",
            Self::FirstByteTimeout { .. } => "net.first_byte_timeout",
            Self::HandshakeEvicted { .. } => "net.handshake_evicted",
            Self::ConnectionLimit { .. } => "net.connection_limit",
            Self::ConnectRate { .. } => "net.connect_rate",
            Self::WsWrongPath { .. } => "ws.wrong_path",
            Self::WsNoSubprotocol { .. } => "ws.no_subprotocol",
            Self::WsUnknownSubprotocol { .. } => "ws.unknown_subprotocol",
            Self::WsNotAnUpgrade { .. } => "ws.not_an_upgrade",
            Self::WsBadRequest { .. } => "ws.bad_request",
            Self::Open { .. } => "open",
        }
    }

    /// Whether this ending is a failure.
    pub fn is_failure(&self) -> bool {
        !matches!(self, Self::ClientDisconnect { code } if *code < 0x80)
            && !matches!(self, Self::Open | Self::ServerShutdown)
    }

    /// The explanation, using the story for context (ClientHello, listener).
    pub fn explain(&self, story: &Story) -> Verdict {
        let hello = hello(story);
        let (sentence, mut fixes) = self.sentence_and_fixes(story);
        // Device-family hints from the ClientHello.
        if let Some(h) = hello {
            if let Self::NoSni { served } = self {
                if h.sni_ip.is_none() {
                    fixes.push(SIMCOM_SNI_FIX.into());
                }
                fixes.extend(no_sni_stack_fixes(&example_host(served)));
            }
            let suites: Vec<&String> = h
                .cipher_suites
                .iter()
                .filter(|s| !is_signaling_suite(s))
                .collect();
            if matches!(self, Self::NoSharedCipher { .. })
                && !suites.is_empty()
                && suites.iter().all(|s| is_legacy_suite(s))
            {
                for (i, fix) in LEGACY_SUITE_FIXES.iter().enumerate() {
                    fixes.insert(i, (*fix).into());
                }
            }
            // What the hello's shape says about the device: named first, its advice after the
            // generic fixes, without repeating one already given.
            if let Some(device) = h.device.as_ref().filter(|_| self.is_tls_failure()) {
                fixes.insert(
                    0,
                    format!(
                        "the ClientHello {} ({}); fixes for it follow",
                        device.family, device.evidence
                    ),
                );
                for advice in &device.advice {
                    if !fixes.iter().any(|f| f == advice) {
                        fixes.push(advice.clone());
                    }
                }
            }
        }
        Verdict {
            outcome: if self.is_failure() {
                Outcome::Failed
            } else {
                Outcome::Ok
            },
            cause: self.id().to_owned(),
            sentence,
            fixes,
        }
    }

    /// Whether the cause is a TLS failure, where the ClientHello says something about the
    /// device.
    fn is_tls_failure(&self) -> bool {
        self.id().starts_with("tls.")
    }

    fn sentence_and_fixes(&self, story: &Story) -> (String, Vec<String>) {
        let join = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.join(", ")
            }
        };
        let quoted = |v: &[String]| {
            if v.is_empty() {
                "none".to_owned()
            } else {
                v.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let listener = listener_name(story);
        let tenant = match &story.tenant {
            Some(t) => format!("tenant {t:?}'s"),
            None => "the tenant's".to_owned(),
        };
        match self {
            Self::NoSni { served } => {
                let host = example_host(served);
                let seen = match hello(story).and_then(|h| h.sni_ip.as_deref()) {
                    Some(ip) => format!("no host name in SNI (it sent the IP address {ip}, which server_name cannot carry)"),
                    None => "no SNI (server_name extension)".to_owned(),
                };
                (
                    format!(
                        "The ClientHello carried {seen}, but {listener} chooses the tenant by SNI (sni = \"required\") and serves {}.",
                        join(served)
                    ),
                    vec![format!("configure the device's TLS client to send the broker's host name ({host}) as SNI, and connect by host name, not by IP address, since SNI cannot carry an address")],
                )
            }
            Self::SniUnknown { name, served } => (
                format!("The ClientHello asked for {name:?} in SNI (server_name), which no tenant serves; {listener} serves {}.", join(served)),
                vec![
                    format!("set the device's broker host name to one of: {} (the SNI is the host of the broker URL, or the name set with mbedtls_ssl_set_hostname, esp_tls_cfg_t.common_name or TLS_HOSTNAME)", join(served)),
                    format!("or, if {name:?} is right, add it to a tenant's hosts in the broker config"),
                ],
            ),
            Self::SniMalformed { detail } => (
                format!("The ClientHello's server_name (SNI) extension does not parse ({detail}); it must carry one DNS host name [RFC 6066 §3]."),
                vec![
                    "send the broker's DNS host name as SNI, without a trailing dot and not an IP address".into(),
                    "if the device's TLS library builds the extension itself, update the library".into(),
                ],
            ),
            Self::NoSharedVersion { offered, accepted } => {
                let fixes = if offered.iter().any(|v| v == "TLSv1.2") && !accepted.iter().any(|v| v == "TLSv1.2") {
                    vec![
                        "the device offers TLS 1.2: set tls_min_version = \"1.2\" on this listener".into(),
                        "or enable TLS 1.3 on the device (mbedTLS 3: MBEDTLS_SSL_PROTO_TLS1_3; ESP-IDF: CONFIG_MBEDTLS_SSL_PROTO_TLS1_3 in menuconfig)".into(),
                    ]
                } else {
                    vec![
                        "enable TLS 1.2 (or 1.3) on the device; Lantern's TLS (rustls) does not implement TLS 1.1 or older".into(),
                        "SIMCom modem: AT+CSSLCFG=\"sslversion\",0,4 (all versions; 3 is TLS 1.2 only)".into(),
                        "mbedTLS: define MBEDTLS_SSL_PROTO_TLS1_2 (ESP-IDF: CONFIG_MBEDTLS_SSL_PROTO_TLS1_2 in menuconfig)".into(),
                    ]
                };
                (
                    format!("The ClientHello offered TLS versions {}; {listener} accepts {}.", join(offered), join(accepted)),
                    fixes,
                )
            }
            Self::NoSharedCipher { offered, accepted } => {
                let addable: Vec<String> = offered
                    .iter()
                    .filter(|s| is_rustls_suite(s) && !accepted.contains(s))
                    .cloned()
                    .collect();
                let mut fixes = Vec::new();
                if !addable.is_empty() {
                    fixes.push(format!("add {} to this listener's cipher_suites (the device offers it and rustls implements it)", join(&addable)));
                }
                fixes.push("enable on the device one of the accepted suites: for TLS 1.2, ECDHE key exchange with AES-GCM or ChaCha20-Poly1305, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 for an ECDSA server certificate or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 for an RSA one".into());
                (
                    format!(
                        "The ClientHello offered only {}; {listener} accepts {}.",
                        join(&offered.iter().filter(|s| !is_signaling_suite(s)).cloned().collect::<Vec<_>>()),
                        join(accepted)
                    ),
                    fixes,
                )
            }
            Self::NoSharedSignature { offered, server_key } => {
                let mut fixes = Vec::new();
                let ecdsa_key = server_key.starts_with("ECDSA");
                let device_has_ecdsa = offered.iter().any(|s| s.starts_with("ECDSA_NISTP"));
                let device_has_rsa = offered.iter().any(|s| s.starts_with("RSA_"));
                if ecdsa_key && !device_has_ecdsa && device_has_rsa {
                    fixes.push("give this tenant an RSA 2048 server certificate (`lantern cert server` issues ECDSA only, so use your own CA or openssl)".into());
                    fixes.push("or enable ECDSA verification on the device: mbedTLS MBEDTLS_ECDSA_C with MBEDTLS_ECP_DP_SECP256R1_ENABLED (and MBEDTLS_ECP_DP_SECP384R1_ENABLED for P-384)".into());
                } else if server_key.starts_with("RSA") && !device_has_rsa {
                    fixes.push("give this tenant an ECDSA P-256 server certificate (`lantern cert server NAME`)".into());
                    fixes.push("or enable RSA verification on the device (mbedTLS: MBEDTLS_RSA_C with MBEDTLS_PKCS1_V15 and MBEDTLS_PKCS1_V21)".into());
                } else {
                    fixes.push(format!("give this tenant a certificate whose key the device can verify (it cannot verify {server_key})"));
                }
                let wanted = match signature_schemes_for(server_key) {
                    Some(w) => format!(", which signs with {w}"),
                    None => String::new(),
                };
                (
                    format!("The ClientHello's signature_algorithms offered only {}; the server certificate's key is {server_key}{wanted}.", join(offered)),
                    fixes,
                )
            }
            Self::ClientRejectedServerCert { alert, root, validity, clock_suspect } => {
                let how = match alert.strip_prefix("alert ") {
                    Some(name) => format!("rejected the server certificate with the TLS alert {name}"),
                    None => alert.clone(),
                };
                if *clock_suspect {
                    return (
                        format!("The device {how}, but the certificate is valid {validity}, so the device's clock is wrong."),
                        vec![
                            "set the device's clock before connecting (NTP, or network time on cellular): a modem without time starts in 1980 or 2000".into(),
                            "SIMCom modem: take network time with AT+CLTS=1 or AT+CTZU=1 (depending on the model) or NTP with AT+CNTP, check with AT+CCLK?, or skip the validity-time check with AT+CSSLCFG=\"ignorelocaltime\",0,1".into(),
                            "ESP-IDF: start SNTP (esp_netif_sntp_init) and wait for a valid time before esp_mqtt_client_start".into(),
                            "nRF91: wait for network time (the date_time library, or AT+CCLK?) before connecting".into(),
                        ],
                    );
                }
                let mut fixes = vec![
                    format!("install the root CA {root:?} on the device as its trusted CA, as PEM with LF line endings (for the development PKI, `lantern cert ca` prints it with its length)"),
                    "SIMCom modem: AT+CCERTDOWN=\"ca.pem\",<length> then AT+CSSLCFG=\"cacert\",0,\"ca.pem\" and AT+CSSLCFG=\"authmode\",0,1".into(),
                    "ESP-IDF: esp_mqtt_client_config_t broker.verification.certificate (NUL-terminated PEM); mbedTLS: parse it with mbedtls_x509_crt_parse and pass it to mbedtls_ssl_conf_ca_chain".into(),
                    "nRF91: store it with AT%CMNG=0,<sec_tag>,0,\"<PEM>\" while the modem is offline (AT+CFUN=4) and connect with that sec_tag".into(),
                ];
                if alert.contains("bad_certificate") || alert.contains("certificate_unknown") {
                    fixes.push("if the device connects by IP address or by a name the certificate does not list, its name check fails: connect by a host name in the certificate's SANs".into());
                }
                (
                    format!("The device {how}; the chain ends at {root:?}, which the device must trust, and the certificate is valid {validity}."),
                    fixes,
                )
            }
            Self::ClientCertMissing => (
                format!("The device sent no client certificate, and {listener} requires one (mtls = \"required\")."),
                vec![
                    "load a client certificate and its key on the device (`lantern cert client DEVICE-ID` issues one from the development CA)".into(),
                    "SIMCom modem: AT+CSSLCFG=\"authmode\",0,2 with AT+CSSLCFG=\"clientcert\",0,\"client.pem\" and AT+CSSLCFG=\"clientkey\",0,\"client.key\"".into(),
                    "ESP-IDF: esp_mqtt_client_config_t credentials.authentication.certificate and .key; nRF91: AT%CMNG=0,<sec_tag>,1,\"<cert>\" and AT%CMNG=0,<sec_tag>,2,\"<key>\"".into(),
                    "or set mtls = \"optional\" on this listener and authenticate such devices by password".into(),
                ],
            ),
            Self::ClientCertUntrusted { issuer, trusted } if !issuer.is_empty() && trusted.contains(issuer) => (
                format!("The client certificate names {issuer:?} as its issuer, a CA this tenant trusts, but it was not signed by that CA's key: it comes from another CA with the same name (a regenerated development CA?)."),
                vec!["issue the device certificate again from the CA the broker trusts (`lantern cert client` with the broker's data directory)".into()],
            ),
            Self::ClientCertUntrusted { issuer, trusted } => (
                if issuer.is_empty() {
                    format!("The client certificate was not issued by a CA this tenant trusts; it trusts {}.", quoted(trusted))
                } else {
                    format!("The client certificate was issued by {issuer:?}, which this tenant does not trust; it trusts {}.", quoted(trusted))
                },
                vec![
                    "issue the device certificate from a trusted CA, or add its CA to this tenant's client_ca file".into(),
                    "if the device certificate comes from an intermediate CA, send the intermediate along with it (a PEM chain: device certificate first)".into(),
                ],
            ),
            Self::ClientCertExpired { subject, not_after } => {
                let ago = match (parse_date(not_after), story_day(story)) {
                    (Some(end), Some(today)) if today > end => format!(", {} before this connection", days(today - end)),
                    _ => String::new(),
                };
                (
                    format!("The client certificate {subject:?} expired on {not_after} (notAfter){ago}."),
                    vec![
                        format!("issue the device a new certificate and load it (`lantern cert client {}` for the development CA)", common_name(subject).unwrap_or("DEVICE-ID")),
                        "renew device certificates well before notAfter; a device that cannot connect cannot be updated over the air".into(),
                    ],
                )
            }
            Self::ClientCertNotYetValid { subject, not_before } => {
                let now = match story_day(story) {
                    Some(today) => format!(", but the broker's clock says {}", date_of_day(today)),
                    None => String::new(),
                };
                (
                    format!("The client certificate {subject:?} is not valid before {not_before} (notBefore){now}."),
                    vec![
                        "check the broker host's clock (NTP)".into(),
                        "if the clock is right, the certificate was issued with a future notBefore (by a CA whose clock is ahead): issue it again".into(),
                    ],
                )
            }
            Self::ClientCertRevoked { subject } => (
                format!("The client certificate {subject:?} is on {tenant} certificate revocation list (crl)."),
                vec!["if this device should connect, issue it a new certificate; if it was retired or stolen, the refusal is intended".into()],
            ),
            Self::ClientCertInvalid { detail } => {
                let purpose = detail.contains("Purpose");
                (
                    if purpose {
                        format!("The client certificate was refused ({detail}): its extended key usage does not allow client authentication (clientAuth).")
                    } else {
                        format!("The client certificate was refused: {detail}.")
                    },
                    if purpose {
                        vec!["issue the device certificate with extendedKeyUsage clientAuth (`lantern cert client` does); a server certificate cannot serve as a client certificate".into()]
                    } else {
                        vec!["inspect the certificate with `lantern cert show FILE`".into()]
                    },
                )
            }
            Self::RenegotiationRefused => (
                "The device asked to renegotiate TLS on an established connection, and Lantern never renegotiates (rustls does not implement it).".into(),
                vec!["turn renegotiation off on the device: mbedTLS mbedtls_ssl_conf_renegotiation(&conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED), or build without MBEDTLS_SSL_RENEGOTIATION (Zephyr: CONFIG_MBEDTLS_SSL_RENEGOTIATION=n)".into()],
            ),
            Self::HandshakeTimeout { timeout_s, bytes } => {
                if *bytes == 0 {
                    (
                        format!("The TLS handshake on {listener} did not finish within handshake_timeout ({timeout_s:.1} s): not a single byte arrived, so the device opened TCP but never sent a ClientHello."),
                        vec!["make the device start TLS on this port (mqtts://); a device that opens the socket and sends nothing is usually stuck in its own TLS setup (loading its CA or client certificate)".into()],
                    )
                } else {
                    (
                        format!("The TLS handshake on {listener} did not finish within handshake_timeout ({timeout_s:.1} s); {bytes} bytes had arrived from the device."),
                        vec![
                            "on a slow cellular link a handshake can take longer: raise handshake_timeout on this listener (e.g. \"30s\")".into(),
                            "check that the device's TLS input buffer holds the server's certificate chain (mbedTLS: MBEDTLS_SSL_IN_CONTENT_LEN); a device that cannot read the chain stalls".into(),
                        ],
                    )
                }
            }
            Self::HandshakeFailed { detail, by_client } => (
                if *by_client {
                    format!("The device aborted the TLS handshake: {detail}.")
                } else {
                    format!("Lantern aborted the TLS handshake: {detail}.")
                },
                vec![
                    "turn on the device's TLS debug log to see why (mbedTLS: MBEDTLS_DEBUG_C with mbedtls_debug_set_threshold(3); ESP-IDF: CONFIG_MBEDTLS_DEBUG)".into(),
                    "compare with a client that works: `openssl s_client -connect HOST:PORT -servername HOST`".into(),
                ],
            ),
            Self::ClosedAfterHandshake => {
                let tls = match tls_established(story) {
                    Some((version, suite)) => format!(" ({version}, {suite})"),
                    None => String::new(),
                };
                (
                    format!("The device completed the TLS handshake{tls} and closed the connection without sending CONNECT."),
                    vec![
                        "check the device's log: a certificate check done after the handshake (mbedTLS with MBEDTLS_SSL_VERIFY_OPTIONAL, then mbedtls_ssl_get_verify_result) or an MQTT client that failed to start closes here".into(),
                        "if the device connects by IP address or by a name the certificate does not list, its name check fails: connect by a host name in the certificate's SANs".into(),
                    ],
                )
            }
            Self::PlainMqttOnTlsPort => (
                format!("The device sent a plaintext MQTT CONNECT (first byte 0x10) to {listener}, which expects a TLS ClientHello (first byte 0x16)."),
                vec![
                    "turn TLS on in the device for this port (mqtts://)".into(),
                    "SIMCom modem: acquire the client with server type 1 (AT+CMQTTACCQ=0,\"<client id>\",1) and bind an SSL context with AT+CMQTTSSLCFG=0,0".into(),
                    "or connect to the plain MQTT listener, if there is one (port 1883 by convention)".into(),
                ],
            ),
            Self::PlainHttpOnTlsPort => (
                format!("The client sent plaintext HTTP to {listener}, which expects a TLS ClientHello (first byte 0x16)."),
                vec!["use wss:// (WebSocket over TLS) for this port, not ws:// or http://".into()],
            ),
            Self::TlsOnPlainPort => (
                format!("A TLS ClientHello (first byte 0x16) arrived on {listener}, a plain MQTT listener that expects a CONNECT (first byte 0x10)."),
                vec![
                    "connect without TLS (mqtt://) to this port, or to the TLS listener (mqtts://, port 8883 by convention)".into(),
                    "SIMCom modem: a plain port needs server type 0 in AT+CMQTTACCQ and no AT+CMQTTSSLCFG".into(),
                ],
            ),
            Self::HttpOnMqttPort { request_line } => {
                let request_line = crate::redact(request_line);
                (
                format!("An HTTP request ({request_line:?}) arrived on {listener}, a native MQTT listener that expects a CONNECT (first byte 0x10)."),
                vec!["point WebSocket clients at the WebSocket listener (ws:// or wss://, with its ws_path)".into()],
            )
            }
            Self::MqttOnWsPort => (
                format!("Native MQTT (not an HTTP upgrade request) arrived on {listener}, which expects a WebSocket upgrade (GET with Upgrade: websocket)."),
                vec![
                    "connect native MQTT clients to the MQTT listener (mqtt:// or mqtts://)".into(),
                    "or make the client speak MQTT over WebSocket (Zephyr / nRF Connect SDK: CONFIG_MQTT_LIB_WEBSOCKET=y and a websocket transport)".into(),
                ],
            ),
            Self::TextInsteadOfPacket { text } => {
                // Recorded redacted already; again here for stories written before that.
                let text = crate::redact(text);
                let at = text.trim_start().get(..2).is_some_and(|p| p.eq_ignore_ascii_case("AT"));
                (
                    format!("Text arrived where an MQTT CONNECT (first byte 0x10) was expected: {text:?}."),
                    if at {
                        vec![
                            "the device's AT commands reached the broker: the modem is in transparent (data) mode while the firmware sends commands; leave data mode with +++ (a 1 s pause before and after) first, or use non-transparent mode (SIMCom: AT+CIPMODE=0 and AT+CIPSEND)".into(),
                        ]
                    } else {
                        vec!["the device writes text (debug output or another protocol) into the socket: check that it speaks MQTT on this port".into()]
                    },
                )
            }
            Self::NotAConnect { hex, packet } => (
                match packet {
                    Some(p) => format!("The first packet must be CONNECT (0x10) [MQTT-3.1.0-1], but the connection began with {hex}, a {p}."),
                    None => format!("The first packet must be CONNECT (0x10) [MQTT-3.1.0-1], but the connection began with {hex}."),
                },
                vec!["send CONNECT first and wait for CONNACK; after a reconnect the client must send CONNECT again before SUBSCRIBE or PUBLISH".into()],
            ),
            Self::ClosedBeforeData => (
                "The client closed the socket before sending a single byte, which is what a port check, a load balancer health probe or a device that failed before starting does.".into(),
                vec![
                    "nothing to fix for a health check or port scan".into(),
                    "for a device, check its log: it gave up before sending anything, often because its TLS setup failed locally (a missing or unreadable CA file)".into(),
                ],
            ),
            Self::Malformed { packet, detail, rule, bytes } => {
                let name = packet.as_deref().unwrap_or("packet");
                let detail = detail.strip_prefix(&format!("{name}: ")).unwrap_or(detail);
                let rule = match rule {
                    Some(r) if !detail.contains(r.as_str()) => format!(" [{r}]"),
                    _ => String::new(),
                };
                (
                    format!("Lantern refused a malformed {name}: {detail}{rule}; the bytes were {bytes}."),
                    vec!["fix the client's encoding of the field named (compare its bytes with the rule cited), or update its MQTT library".into()],
                )
            }
            Self::ProtocolViolation { detail } => (
                format!("The client broke the MQTT protocol: {detail}."),
                vec!["make the client follow the rule named; if it is a library, update it".into()],
            ),
            Self::SecondConnect => (
                "A second CONNECT arrived on an open connection [MQTT-3.1.0-2]: the client did not read its CONNACK and tried again.".into(),
                vec!["make the client read the CONNACK after CONNECT: a TLS read loop that gives up on a short read loses it (mbedTLS: keep calling mbedtls_ssl_read until the 4 CONNACK bytes arrived, checking mbedtls_ssl_get_bytes_avail before waiting on the socket)".into()],
            ),
            Self::ConnectTimeout { waited_s, bytes } => {
                let after = if tls_established(story).is_some() { " after the TLS handshake" } else { "" };
                if *bytes == 0 {
                    (
                        format!("No CONNECT arrived within the connect_timeout of {waited_s:.1} s: not a single byte came{after}."),
                        vec!["make the device send CONNECT as soon as the connection is up; an MQTT client speaks first, so one waiting for the broker waits forever".into()],
                    )
                } else {
                    (
                        format!("No complete CONNECT arrived within the connect_timeout of {waited_s:.1} s: {bytes} bytes came{after}, fewer than the CONNECT announced."),
                        vec!["the device's write was cut short or its remaining length is wrong: check the return value of its socket or mbedtls_ssl_write call and the encoded length".into()],
                    )
                }
            }
            Self::Refused { code, detail } => {
                let name = match reason_name(*code) {
                    Some(n) => format!(" ({n})"),
                    None => String::new(),
                };
                let fix = match code {
                    0x84 => "connect with MQTT 3.1.1 (protocol level 4) or 5.0 (level 5); SIMCom: the last argument of AT+CMQTTACCQ selects the version (4 for 3.1.1)",
                    0x85 => "send a unique, non-empty client id, or an empty one with clean session 1 so the broker assigns one",
                    0x87 => "give the will a topic this client may publish to, or allow it in the ACL file",
                    0x8C => "remove the Authentication Method property; this broker has no enhanced authentication",
                    0x90 => "fix the will topic: not empty, and no '+' or '#'",
                    _ => "change the CONNECT field the detail names",
                };
                (format!("CONNECT was refused with reason code 0x{code:02X}{name}: {detail}."), vec![fix.into()])
            }
            Self::NoCredentials => (
                format!("CONNECT carried no user name and the device sent no client certificate, but {listener} does not allow anonymous clients (allow_anonymous = false)."),
                vec![
                    "give the device a user name and password: SIMCom modems take them as the last two arguments of AT+CMQTTCONNECT, ESP-IDF as esp_mqtt_client_config_t credentials.username and credentials.authentication.password".into(),
                    "or give it a client certificate (mtls on the listener)".into(),
                ],
            ),
            Self::UnknownUser { username } => (
                format!("User name {username:?} is not in {tenant} password file."),
                vec![
                    "check the user name configured on the device (case, spaces, quotes)".into(),
                    format!("or add the user: `lantern passwd FILE {username}`"),
                ],
            ),
            Self::BadPassword { username, password_sent } => {
                if *password_sent {
                    (
                        format!("The password sent for user {username:?} does not match {tenant} password file."),
                        vec![
                            "enter the password on the device again (SIMCom: the last argument of AT+CMQTTCONNECT; ESP-IDF: credentials.authentication.password)".into(),
                            format!("or set a new one: `lantern passwd FILE {username}`"),
                        ],
                    )
                } else {
                    (
                        format!("User {username:?} sent no password (CONNECT password flag 0), but {tenant} password file requires one."),
                        vec!["configure the password on the device; its MQTT client was given none".into()],
                    )
                }
            }
            Self::PasswordWithoutUsername => (
                "CONNECT carried a password but no user name, and the password file looks passwords up by user name.".into(),
                vec!["set the user name on the device too".into()],
            ),
            Self::CertIdentityMismatch { client_id, identity } => (
                format!("Client id {client_id:?} does not match the client certificate's identity {identity:?}, and this tenant requires them to be equal (require_client_id_match)."),
                vec![format!("connect with client id {identity:?}, or issue the device a certificate whose identity is {client_id:?}")],
            ),
            Self::KeepAliveExpired { keep_alive_s, idle_s, packets_after_connect } => {
                let mut s = format!(
                    "Keep alive expired: the client's keep alive of {keep_alive_s} s allows {:.1} s of silence, and nothing arrived for {idle_s:.1} s",
                    *keep_alive_s as f64 * 1.5
                );
                let mut fixes = vec![
                    "send PINGREQ (or any packet) at least once per keep alive interval".into(),
                    "on cellular, a carrier NAT that silently drops idle mappings looks the same: keep the keep alive below its idle timeout".into(),
                ];
                if *packets_after_connect == 0 {
                    s.push_str("; nothing at all arrived after CONNECT although CONNACK was sent, so the client most likely never read its CONNACK");
                    fixes.insert(0, "make the client read the CONNACK: data mbedTLS has already decrypted does not wake a select() on the socket, so check mbedtls_ssl_get_bytes_avail (or call mbedtls_ssl_read) before waiting on it (W5500 and other offloaded-socket ports)".into());
                }
                s.push('.');
                (s, fixes)
            }
            Self::TakenOver => {
                let id = match &story.client_id {
                    Some(id) => format!(" {id:?}"),
                    None => String::new(),
                };
                (
                    format!("Another connection with the same client id{id} took over the session, so Lantern closed this one."),
                    vec!["give every device a unique client id (derive it from the IMEI or MAC address); either two devices share it, or one reconnected before its old connection timed out".into()],
                )
            }
            Self::SessionOtherIdentity { client_id, owner, identity } => {
                let name = |who: &Option<String>| match who {
                    Some(user) => format!("user {user:?}"),
                    None => "an anonymous client".to_owned(),
                };
                (
                    format!(
                        "Client id {client_id:?} belongs to a persistent session created by {}, and this client connected as {}; [session] other_identity = \"refuse\" keeps a session for its own identity, so CONNACK said 0x87 Not authorized.",
                        name(owner),
                        name(identity)
                    ),
                    vec![
                        "give every device a unique client id (derive it from the IMEI or MAC address); two devices with different credentials share this one".into(),
                        "if the device's credentials changed (a new user name or certificate identity), set [session] other_identity = \"new-session\": another identity then starts a fresh session and the old queue is discarded".into(),
                    ],
                )
            }
            Self::SlowSubscriber { queued, max_queued, inflight, window, stuck_s, timeout_s } => (
                format!(
                    "The client did not keep up: its queue held {queued} messages (max_queued_messages {max_queued}) with {inflight} of {window} QoS 1/2 deliveries unacknowledged for {stuck_s:.1} s, longer than slow_subscriber_timeout ({timeout_s:.1} s), so Lantern disconnected it (MQTT 5: DISCONNECT 0x97 Quota exceeded); until then its publishers were held back, and no QoS 1/2 message was dropped."
                ),
                vec![
                    "make the client read and acknowledge faster: handle messages off the thread that reads the socket, and check that it sends PUBACK/PUBREC".into(),
                    "subscribe to fewer topics, or at QoS 0 where a lost message is acceptable".into(),
                    "if the bursts are expected, raise [limits] max_queued_messages or slow_subscriber_timeout".into(),
                ],
            ),
            Self::ClientDisconnect { code } => {
                let name = match reason_name(*code) {
                    Some(n) => format!(", {n}"),
                    None => String::new(),
                };
                (
                    format!("The client disconnected with DISCONNECT (reason 0x{code:02X}{name})."),
                    if *code >= 0x80 {
                        vec!["the client reported an error in its DISCONNECT: check its log".into()]
                    } else {
                        vec![]
                    },
                )
            }
            Self::PeerClosed => {
                let c = &story.counters;
                let last = match &c.last_packet_in {
                    Some(p) => format!(", the last a {p}"),
                    None => String::new(),
                };
                (
                    format!("The client closed the connection without DISCONNECT, after sending {} packets{last}.", c.packets_in),
                    vec![
                        "if the device meant to leave, make it send DISCONNECT first (otherwise its will, if it set one, is published)".into(),
                        "otherwise check the device's log: a watchdog reset, a crash or the modem closing its data connection ends a session this way".into(),
                    ],
                )
            }
            Self::NetworkError { detail } => (
                format!("The connection failed at the network level: {detail}."),
                if detail.to_ascii_lowercase().contains("reset") {
                    vec!["a reset comes from the device's stack restarting or from a NAT, firewall or carrier gateway on the path; on cellular, keep the keep alive below the carrier's NAT idle timeout".into()]
                } else {
                    vec!["check the network path between the device and the broker".into()]
                },
            ),
            Self::ServerShutdown => ("The broker shut down and closed this connection.".into(), vec![]),
            Self::StoreUnavailable { topic, qos } => (
                format!(
                    "The broker's store could not write (disk full or failing), so Lantern refused this client's QoS {qos} PUBLISH to {topic:?} without acknowledging it and disconnected the client (MQTT 5: DISCONNECT 0x97 Quota exceeded): the device still holds the message and sends it again when it reconnects."
                ),
                vec![
                    "free space on the broker's data disk or fix its write errors (the broker log names the store's path and error); publishing resumes by itself once the store writes again".into(),
                    "nothing to change on the device: an MQTT client keeps unacknowledged QoS 1/2 messages and re-sends them".into(),
                ],
            ),
            Self::Internal { detail } => (
                format!("The broker closed this connection without recording why ({detail}): a broker fault, not the device's."),
                vec!["report it with this story (lantern why --verbose); the device needs no change".into()],
            ),
            Self::HandshakeCapacity => (
                format!("{} already had max_handshakes handshakes in progress, and this connection waited longer than handshake_timeout for a free slot.", capitalized(&listener)),
                vec![
                    "raise max_handshakes on this listener".into(),
                    "make devices reconnect with a random backoff; a fleet reconnecting at once after an outage fills every slot".into(),
                ],
            ),
            Self::FirstByteTimeout { timeout_s } => (
                format!("Not a single byte arrived within first_byte_timeout ({timeout_s:.1} s) after {listener} accepted the connection, so it was closed to free its handshake slot."),
                vec![
                    "make the device start TLS (or the WebSocket upgrade) as soon as TCP connects; a device that opens the socket and sends nothing is usually stuck in its own TLS setup (loading its CA or client certificate)".into(),
                    "for a device that prepares its ClientHello slowly (a small MCU computing its key share) or a link that loses packets often (NB-IoT in poor coverage), raise first_byte_timeout on this listener (e.g. \"10s\")".into(),
                ],
            ),
            Self::HandshakeEvicted { held_s, max_handshakes, bytes } => (
                format!("{} had max_handshakes ({max_handshakes}) handshakes in progress when another connection arrived, and this one, the oldest ({held_s:.1} s, {bytes} bytes received), was closed to make room.", capitalized(&listener)),
                vec![
                    "many sockets opening without finishing their handshake usually means a scan or an attack; check the addresses of the other evicted stories".into(),
                    "if a fleet reconnects at once after an outage, raise max_handshakes on this listener and make devices reconnect with a random backoff".into(),
                ],
            ),
            Self::ConnectionLimit { limit, max, scope, counts } => (
                format!("{} refused the connection at once: {scope} already had {max} {counts} ({limit} = {max}).", capitalized(&listener)),
                vec![
                    format!("raise {limit} if this many connections are expected (a fleet behind one carrier NAT address shares a per-address limit)"),
                    "otherwise find the client holding the connections open: a device that reconnects without closing its old socket leaks one per attempt".into(),
                ],
            ),
            Self::ConnectRate { address, per_second, burst } => (
                format!("{} refused the connection at once: {address} opened connections faster than max_connect_rate_per_ip allows ({per_second} per second, bursts of {burst}).", capitalized(&listener)),
                vec![
                    "make devices reconnect with an exponential backoff and random jitter instead of at once".into(),
                    "if many devices share this address (a carrier NAT or a gateway), raise max_connect_rate_per_ip and connect_burst_per_ip".into(),
                ],
            ),
            Self::WsWrongPath { path, expected } => (
                format!("The WebSocket upgrade requested path {path:?}; {listener} serves MQTT on {expected:?} (ws_path)."),
                vec![
                    format!("set the client's WebSocket path to {expected:?} (the path of its ws:// or wss:// URL)"),
                    format!("or set ws_path = {path:?} on this listener"),
                ],
            ),
            Self::WsNoSubprotocol => (
                "The WebSocket upgrade offered no subprotocol, but MQTT over WebSocket requires Sec-WebSocket-Protocol: mqtt [MQTT-6.0.0-3].".into(),
                vec!["make the client offer the subprotocol \"mqtt\" (Sec-WebSocket-Protocol: mqtt)".into()],
            ),
            Self::WsUnknownSubprotocol { offered } => (
                format!("The WebSocket upgrade offered subprotocols {}; {listener} speaks \"mqtt\" and \"mqttv3.1\" [MQTT-6.0.0-3].", quoted(offered)),
                vec!["make the client offer the subprotocol \"mqtt\" (Sec-WebSocket-Protocol: mqtt)".into()],
            ),
            Self::WsNotAnUpgrade { request } => (
                format!("A plain HTTP request ({request}) arrived without Upgrade: websocket and Connection: Upgrade, and {listener} expects a WebSocket upgrade for MQTT."),
                vec![
                    "connect with an MQTT-over-WebSocket client (ws:// or wss://); a browser or health check here gets 426 Upgrade Required".into(),
                    "if a proxy sits in front, make it pass the Upgrade and Connection headers".into(),
                ],
            ),
            Self::WsBadRequest { detail } => (
                format!("The WebSocket upgrade was refused: {detail}."),
                vec!["make the client send a complete RFC 6455 upgrade: GET with Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Key, Sec-WebSocket-Version: 13 and Sec-WebSocket-Protocol: mqtt".into()],
            ),
            Self::Open => ("The connection is still open.".into(), vec![]),
        }
    }
}

/// The story's ClientHello, if there was one.
fn hello(story: &Story) -> Option<&HelloSummary> {
    story.events.iter().find_map(|e| match &e.kind {
        EventKind::ClientHello(h) => Some(&**h),
        _ => None,
    })
}

/// "listener \"mqtts\" (port 8883)", from the story, or "this listener".
fn listener_name(story: &Story) -> String {
    let port = story.events.iter().find_map(|e| match &e.kind {
        EventKind::Accepted { local } => local.rsplit_once(':').map(|(_, port)| port.to_owned()),
        _ => None,
    });
    match (story.listener.is_empty(), port) {
        (true, _) => "this listener".to_owned(),
        (false, Some(port)) if !port.is_empty() => {
            format!("listener {:?} (port {port})", story.listener)
        }
        (false, _) => format!("listener {:?}", story.listener),
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A concrete served name for examples, else a placeholder.
fn example_host(served: &[String]) -> String {
    served
        .iter()
        .find(|h| !h.starts_with("*."))
        .cloned()
        .unwrap_or_else(|| "<broker host>".to_owned())
}

/// The negotiated version and suite, when the handshake completed.
fn tls_established(story: &Story) -> Option<(&str, &str)> {
    story.events.iter().find_map(|e| match &e.kind {
        EventKind::TlsEstablished { version, suite, .. } => {
            Some((version.as_str(), suite.as_str()))
        }
        _ => None,
    })
}

/// The CN of an RFC 4514 subject, e.g. "dev-42" from "CN=dev-42,O=Acme".
fn common_name(subject: &str) -> Option<&str> {
    subject
        .split(',')
        .find_map(|rdn| rdn.trim().strip_prefix("CN="))
}

/// The signature schemes rustls signs with for a key described as lantern-pki does.
fn signature_schemes_for(key: &str) -> Option<&'static str> {
    Some(match key {
        "ECDSA P-256" => "ECDSA_NISTP256_SHA256",
        "ECDSA P-384" => "ECDSA_NISTP384_SHA384",
        "Ed25519" => "ED25519",
        k if k.starts_with("RSA") => {
            "RSA_PSS_SHA256 or RSA_PKCS1_SHA256 (or their SHA-384 and SHA-512 forms)"
        }
        _ => return None,
    })
}

/// MQTT 5.0 reason code names for CONNACK and DISCONNECT (§2.4).
fn reason_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x00 => "Normal disconnection",
        0x04 => "Disconnect with Will Message",
        0x80 => "Unspecified error",
        0x81 => "Malformed Packet",
        0x82 => "Protocol Error",
        0x83 => "Implementation specific error",
        0x84 => "Unsupported Protocol Version",
        0x85 => "Client Identifier not valid",
        0x86 => "Bad User Name or Password",
        0x87 => "Not authorized",
        0x88 => "Server unavailable",
        0x89 => "Server busy",
        0x8A => "Banned",
        0x8C => "Bad authentication method",
        0x90 => "Topic Name invalid",
        0x93 => "Receive Maximum exceeded",
        0x94 => "Topic Alias invalid",
        0x95 => "Packet too large",
        0x96 => "Message rate too high",
        0x97 => "Quota exceeded",
        0x98 => "Administrative action",
        0x99 => "Payload format invalid",
        0x9A => "Retain not supported",
        0x9B => "QoS not supported",
        0x9C => "Use another server",
        0x9D => "Server moved",
        0x9F => "Connection rate exceeded",
        _ => return None,
    })
}

/// "1 day" or "40 days".
fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// The day (since the Unix epoch) the story started, when it has a start time.
fn story_day(story: &Story) -> Option<i64> {
    (story.started_ms > 0).then(|| i64::try_from(story.started_ms / 86_400_000).unwrap_or(i64::MAX))
}

/// Days since the Unix epoch of a date that starts "YYYY-MM-DD".
fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.get(..10)?.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// "YYYY-MM-DD" of a day since the Unix epoch (Howard Hinnant's civil_from_days).
fn date_of_day(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::story::{DeviceGuess, Event, HelloSummary};

    fn story_with_device(device: Option<DeviceGuess>) -> Story {
        let hello = HelloSummary {
            cipher_suites: vec!["TLS_RSA_WITH_AES_128_GCM_SHA256".into()],
            device,
            ..HelloSummary::default()
        };
        Story {
            listener: "tls".into(),
            events: vec![Event {
                at_ms: 0,
                kind: EventKind::ClientHello(Box::new(hello)),
            }],
            ..Story::default()
        }
    }

    #[test]
    fn a_device_guess_is_named_first_and_its_advice_added_once() {
        let guess = DeviceGuess {
            family: "looks like mbedTLS 2.x".into(),
            evidence: "its extension order".into(),
            advice: vec!["enable MBEDTLS_GCM_C".into(), "enable MBEDTLS_GCM_C".into()],
        };
        let cause = Cause::NoSharedCipher {
            offered: vec!["TLS_RSA_WITH_AES_128_GCM_SHA256".into()],
            accepted: vec!["TLS_AES_128_GCM_SHA256".into()],
        };
        let verdict = cause.explain(&story_with_device(Some(guess)));
        assert!(verdict.fixes[0].starts_with("the ClientHello looks like mbedTLS 2.x"));
        assert_eq!(
            verdict
                .fixes
                .iter()
                .filter(|f| *f == "enable MBEDTLS_GCM_C")
                .count(),
            1
        );
        let plain = cause.explain(&story_with_device(None));
        assert!(!plain.fixes.iter().any(|f| f.contains("looks like")));
    }

    #[test]
    fn ids_match_the_serialized_tag() {
        let cause = Cause::SniUnknown {
            name: "x".into(),
            served: vec![],
        };
        let json = serde_json::to_value(&cause).unwrap_or_default();
        assert_eq!(json["id"], cause.id());
    }
}
