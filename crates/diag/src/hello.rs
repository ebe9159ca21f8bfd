//! The TLS ClientHello as the device sent it: a strict, bounded parser
//! ([`parse_client_hello`]), its summary for the connection story ([`ClientHello::summary`]), a
//! JA4 fingerprint ([`ClientHello::fingerprint`]) and device-family hints ([`device_hint`]).
//!
//! The broker hands this module the first bytes a client sent on a TLS port; the probe and
//! `lantern decode` hand it hex dumps from device logs (field report 002 has one). Nothing here
//! negotiates TLS — rustls does that — so the parser may be stricter than a server: it exists to
//! say *what* is wrong with a hello, naming the field and the RFC clause.
//!
//! Bounded by construction: every length is checked against the bytes actually present before
//! anything is read or allocated, nothing recurses, and no input makes it panic (the tests feed
//! it every prefix of real hellos and random bytes).
//!
//! Deliberately not here: SSL 2.0 hellos (recognised and refused by name), DTLS and QUIC, and
//! the contents of extensions Lantern has no use for (they are kept as raw bytes).

use std::collections::BTreeSet;
use std::fmt;

use crate::story::HelloSummary;
use crate::suites::{self, is_grease};

/// Record-layer content type of handshake records (RFC 8446 §5.1).
const CONTENT_TYPE_HANDSHAKE: u8 = 22;
/// Handshake type of ClientHello (RFC 8446 §4).
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// "The length MUST NOT exceed 2^14 bytes" for plaintext records (RFC 8446 §5.1, RFC 5246 §6.2.1).
const MAX_RECORD_LEN: u16 = 1 << 14;
/// `opaque legacy_session_id<0..32>` (RFC 8446 §4.1.2).
const MAX_SESSION_ID_LEN: usize = 32;

/// Extension type numbers Lantern reads (IANA TLS ExtensionType Values).
mod ext {
    pub(super) const SERVER_NAME: u16 = 0;
    pub(super) const MAX_FRAGMENT_LENGTH: u16 = 1;
    pub(super) const SUPPORTED_GROUPS: u16 = 10;
    pub(super) const EC_POINT_FORMATS: u16 = 11;
    pub(super) const SIGNATURE_ALGORITHMS: u16 = 13;
    pub(super) const ALPN: u16 = 16;
    pub(super) const ENCRYPT_THEN_MAC: u16 = 22;
    pub(super) const EXTENDED_MASTER_SECRET: u16 = 23;
    pub(super) const RECORD_SIZE_LIMIT: u16 = 28;
    pub(super) const SESSION_TICKET: u16 = 35;
    pub(super) const PRE_SHARED_KEY: u16 = 41;
    pub(super) const SUPPORTED_VERSIONS: u16 = 43;
    pub(super) const KEY_SHARE: u16 = 51;
    pub(super) const RENEGOTIATION_INFO: u16 = 0xFF01;
}

/// Protocol version numbers.
mod version {
    pub(super) const SSL3: u16 = 0x0300;
    pub(super) const TLS10: u16 = 0x0301;
    pub(super) const TLS12: u16 = 0x0303;
}

/// Parses the first bytes a client sent: one or more TLS handshake records that together hold a
/// ClientHello (it may span records, RFC 8446 §5.1). Bytes after the ClientHello message (a
/// second record, early data) are ignored.
///
/// # Errors
///
/// A [`HelloError`] naming what was wrong. [`HelloError::is_incomplete`] tells the caller that
/// more bytes could still make the hello complete.
pub fn parse_client_hello(bytes: &[u8]) -> Result<ClientHello, HelloError> {
    let (record_version, message) = reassemble(bytes)?;
    // INVARIANT: `reassemble` returns a complete message of type ClientHello: 4 header bytes
    // followed by exactly the body length they announce.
    let body = message.get(4..).unwrap_or_default();
    parse_body(record_version, body)
}

/// A parsed ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ClientHello {
    /// Version in the header of the first record (0x0301 or 0x0303 in practice; RFC 8446 §5.1).
    pub record_version: u16,
    /// `legacy_version` of the hello: the highest version for TLS ≤ 1.2 clients, 0x0303 for
    /// TLS 1.3 clients (which list their versions in `supported_versions`).
    pub legacy_version: u16,
    /// The client random.
    pub random: [u8; 32],
    /// Length of `legacy_session_id` (0–32); 32 for TLS 1.3 clients in middlebox compatibility
    /// mode, and for resumption attempts.
    pub session_id_len: u8,
    /// Offered cipher suites in the client's order, GREASE and SCSVs included.
    pub cipher_suites: Vec<u16>,
    /// Offered compression methods (`[0]` for every sane client).
    pub compression_methods: Vec<u8>,
    /// Every extension in the client's order: type and raw data.
    pub extensions: Vec<(u16, Vec<u8>)>,
    /// The host name from server_name (RFC 6066 §3), without a trailing dot; `None` when the
    /// extension is absent or carries no DNS name (see `sni_ip`).
    pub sni: Option<String>,
    /// An IP address sent as the server_name, which RFC 6066 §3 forbids and rustls ignores:
    /// such a client counts as sending no SNI. libmosquitto does this when given an address.
    pub sni_ip: Option<String>,
    /// ALPN protocol names (RFC 7301), in order; non-UTF-8 names are shown as `0x…` hex.
    pub alpn: Vec<String>,
    /// The supported_versions list (RFC 8446 §4.2.1), GREASE included; empty when absent.
    pub supported_versions: Vec<u16>,
    /// The signature_algorithms list (RFC 8446 §4.2.3), in order.
    pub signature_algorithms: Vec<u16>,
    /// The supported_groups list (RFC 8446 §4.2.7, RFC 8422 §5.1.1), in order.
    pub supported_groups: Vec<u16>,
    /// The ec_point_formats list (RFC 8422 §5.1.2).
    pub ec_point_formats: Vec<u8>,
    /// Groups of the key_share entries (RFC 8446 §4.2.8), in order.
    pub key_share_groups: Vec<u16>,
    /// max_fragment_length code (RFC 6066 §4): 1 = 512, 2 = 1024, 3 = 2048, 4 = 4096 bytes.
    pub max_fragment_length: Option<u8>,
    /// record_size_limit (RFC 8449).
    pub record_size_limit: Option<u16>,
    /// Whether the client signals secure renegotiation (RFC 5746 §3.4): the renegotiation_info
    /// extension or the TLS_EMPTY_RENEGOTIATION_INFO_SCSV suite.
    pub renegotiation_info: bool,
}

/// What was wrong with a ClientHello.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum HelloError {
    /// The first byte is not a TLS handshake record (22): this is not TLS at all.
    NotTls {
        /// The byte seen.
        first_byte: u8,
    },
    /// An SSL 2.0-compatible ClientHello (RFC 5246 Appendix E.2): a client that old is refused.
    Ssl2Hello,
    /// The input ended inside `field`. More bytes may complete it (see
    /// [`HelloError::is_incomplete`]).
    Truncated {
        /// The field that was cut short.
        field: &'static str,
    },
    /// A record header whose major version is not 3 (RFC 8446 §5.1 `legacy_record_version`).
    BadRecordVersion {
        /// The version seen.
        version: u16,
    },
    /// A record of another content type before the ClientHello was complete.
    UnexpectedRecord {
        /// Its content type.
        content_type: u8,
    },
    /// A handshake record longer than 2^14 bytes, or empty (RFC 8446 §5.1).
    BadRecordLength {
        /// The length announced.
        len: u16,
    },
    /// The handshake message is not a ClientHello.
    NotClientHello {
        /// Its handshake type (2 is ServerHello, …).
        handshake_type: u8,
    },
    /// A length outside what the field's definition allows.
    BadLength {
        /// The field.
        field: &'static str,
        /// The length seen.
        len: usize,
    },
    /// Bytes after the last field of the ClientHello body.
    Trailing {
        /// How many.
        extra: usize,
    },
    /// An extension whose contents do not parse, or that breaks a rule about extensions.
    BadExtension {
        /// Its type.
        id: u16,
        /// What was wrong.
        detail: String,
    },
    /// A server_name extension that does not parse, or whose name is not a valid DNS host name
    /// (RFC 6066 §3). Powers the `tls.sni_malformed` cause.
    BadServerName {
        /// What was wrong.
        detail: String,
    },
}

impl HelloError {
    /// Whether more bytes could complete the hello (the input was a clean prefix).
    pub fn is_incomplete(&self) -> bool {
        matches!(self, Self::Truncated { .. })
    }
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotTls { first_byte } => write!(
                f,
                "not TLS: the first byte is 0x{first_byte:02X}, a TLS handshake record starts with 0x16"
            ),
            Self::Ssl2Hello => f.write_str("an SSL 2.0-compatible ClientHello (SSL 2.0 and 3.0 are obsolete)"),
            Self::Truncated { field } => write!(f, "the ClientHello ends inside {field}"),
            Self::BadRecordVersion { version } => {
                write!(f, "record version 0x{version:04X} is not TLS (0x03xx)")
            }
            Self::UnexpectedRecord { content_type } => write!(
                f,
                "a record of content type {content_type} arrived before the ClientHello was complete"
            ),
            Self::BadRecordLength { len } => write!(
                f,
                "handshake record length {len} is outside 1..=16384 (RFC 8446 §5.1)"
            ),
            Self::NotClientHello { handshake_type } => write!(
                f,
                "the first handshake message has type {handshake_type}, not ClientHello (1)"
            ),
            Self::BadLength { field, len } => write!(f, "{field} has invalid length {len}"),
            Self::Trailing { extra } => {
                write!(f, "{extra} bytes follow the last field of the ClientHello")
            }
            Self::BadExtension { id, detail } => {
                write!(f, "extension {}: {detail}", suites::extension_name(*id))
            }
            Self::BadServerName { detail } => write!(f, "server_name: {detail}"),
        }
    }
}

impl std::error::Error for HelloError {}

impl ClientHello {
    /// Versions the client offers, highest first: the supported_versions list without GREASE
    /// when present (RFC 8446 §4.2.1); otherwise `legacy_version` and every version below it
    /// down to TLS 1.0 — a TLS 1.2 client without the extension offers 1.2, 1.1 and 1.0 (RFC
    /// 5246 Appendix E.1). Without the extension a server negotiates at most TLS 1.2, so a
    /// larger `legacy_version` counts as 1.2 (RFC 8446 §4.2.1).
    pub fn versions_offered(&self) -> Vec<u16> {
        if self.has_extension(ext::SUPPORTED_VERSIONS) {
            let mut versions: Vec<u16> = self
                .supported_versions
                .iter()
                .copied()
                .filter(|v| !is_grease(*v))
                .collect();
            versions.sort_unstable_by(|a, b| b.cmp(a));
            versions.dedup();
            return versions;
        }
        match self.legacy_version {
            version::SSL3 => vec![version::SSL3],
            v if v >> 8 == 3 && v >= version::TLS10 => {
                (version::TLS10..=v.min(version::TLS12)).rev().collect()
            }
            _ => Vec::new(),
        }
    }

    /// Whether the hello carries extension `id`.
    pub fn has_extension(&self, id: u16) -> bool {
        self.extensions.iter().any(|(t, _)| *t == id)
    }

    /// The summary recorded in the connection story.
    pub fn summary(&self) -> HelloSummary {
        HelloSummary {
            sni: self.sni.clone(),
            versions: self
                .versions_offered()
                .into_iter()
                .map(suites::version_name)
                .collect(),
            cipher_suites: self
                .cipher_suites
                .iter()
                .map(|s| suites::suite_name(*s))
                .collect(),
            alpn: self.alpn.clone(),
            signature_schemes: self
                .signature_algorithms
                .iter()
                .map(|s| suites::signature_scheme_name(*s))
                .collect(),
            extensions: self
                .extensions
                .iter()
                .map(|(t, _)| suites::extension_name(*t))
                .collect(),
            fingerprint: self.fingerprint(),
            sni_ip: self.sni_ip.clone(),
            device: device_hint(self).map(|hint| crate::story::DeviceGuess {
                family: hint.family.to_owned(),
                evidence: hint.evidence,
                advice: hint.advice,
            }),
        }
    }

    /// The JA4 fingerprint of this hello (FoxIO, `technical_details/JA4.md`), e.g.
    /// `t13d1516h2_8daaf6152771_b186095e22b6`:
    ///
    /// - `a`: `t` (TLS over TCP), the highest version (supported_versions if present, else
    ///   `legacy_version`; `13`, `12`, `11`, `10`, `s3`, else `00`), `d` with SNI or `i` without,
    ///   the number of cipher suites and of extensions (two digits, at most 99), and the first
    ///   and last characters of the first ALPN value (`00` without ALPN);
    /// - `b`: the first 12 hex digits of SHA-256 over the sorted, comma-separated suites;
    /// - `c`: the same over the sorted extensions without server_name and ALPN, then `_` and the
    ///   signature algorithms in their original order.
    ///
    /// GREASE values are removed everywhere, so the fingerprint is stable across connections of
    /// one client even when it shuffles its extensions (Chrome, and OpenSSL-based clients that
    /// randomise) — which is why Lantern uses JA4 and not JA3.
    pub fn fingerprint(&self) -> String {
        let (a, b, c) = self.ja4_parts();
        format!("{a}_{}_{}", hash12(&b), hash12(&c))
    }

    /// The raw JA4 (`JA4_r`): the same three parts before hashing, for humans and tests.
    pub fn fingerprint_raw(&self) -> String {
        let (a, b, c) = self.ja4_parts();
        format!("{a}_{b}_{c}")
    }

    /// The three JA4 parts, `b` and `c` unhashed.
    fn ja4_parts(&self) -> (String, String, String) {
        let version = if self.has_extension(ext::SUPPORTED_VERSIONS) {
            self.supported_versions
                .iter()
                .copied()
                .filter(|v| !is_grease(*v))
                .max()
                .unwrap_or(0)
        } else {
            self.legacy_version
        };
        let version = match version {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            _ => "00",
        };
        let sni = if self.has_extension(ext::SERVER_NAME) {
            'd'
        } else {
            'i'
        };
        let suites: Vec<u16> = without_grease(&self.cipher_suites);
        let extensions: Vec<u16> = without_grease(self.extensions.iter().map(|(t, _)| t));
        let a = format!(
            "t{version}{sni}{:02}{:02}{}",
            suites.len().min(99),
            extensions.len().min(99),
            self.ja4_alpn()
        );

        let b = hex_list(sorted(suites));
        let mut hashed_extensions = extensions;
        hashed_extensions.retain(|t| *t != ext::SERVER_NAME && *t != ext::ALPN);
        let mut c = hex_list(sorted(hashed_extensions));
        let signatures = without_grease(&self.signature_algorithms);
        if !signatures.is_empty() {
            c.push('_');
            c.push_str(&hex_list(signatures));
        }
        (a, b, c)
    }

    /// JA4's two ALPN characters: first and last of the first ALPN value when both are
    /// alphanumeric, else the first and last hex digits of its bytes; `00` without one.
    fn ja4_alpn(&self) -> String {
        let first = self
            .extensions
            .iter()
            .find(|(t, _)| *t == ext::ALPN)
            .and_then(|(_, data)| {
                // data: u16 list length, u8 name length, name.
                let len = usize::from(*data.get(2)?);
                data.get(3..3 + len)
            });
        let Some(value) = first else {
            return "00".to_owned();
        };
        match (value.first(), value.last()) {
            (Some(&f), Some(&l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => {
                format!("{}{}", char::from(f), char::from(l))
            }
            (Some(&f), Some(&l)) => {
                let hex_f = format!("{f:02x}");
                let hex_l = format!("{l:02x}");
                format!("{}{}", &hex_f[..1], &hex_l[1..])
            }
            _ => "00".to_owned(),
        }
    }
}

/// What a ClientHello suggests about the device that sent it.
///
/// These are heuristics, not identification: a hello says which TLS library built it and how
/// it was configured, never which product it is. Families are phrased "looks like"; each hint
/// carries the evidence it rests on, so an operator can judge.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct DeviceHint {
    /// The family the hello looks like, e.g. [`FAMILY_MBEDTLS2`].
    pub family: &'static str,
    /// The facts of the hello that point there, in one sentence.
    pub evidence: String,
    /// Device-side fixes worth trying, most likely first.
    pub advice: Vec<String>,
}

/// mbedTLS 2.x built with only static-RSA or CBC suites (field report 002: STM32 + W5500).
pub const FAMILY_MBEDTLS2_LEGACY: &str =
    "looks like mbedTLS 2.x built without ECDHE or AES-GCM suites (as in the STM32 + W5500 field report)";
/// mbedTLS 2.x as a TLS 1.2 client (ESP-IDF, STM32 ports, Zephyr / nRF Connect SDK, and modem
/// firmware built on it).
pub const FAMILY_MBEDTLS2: &str =
    "looks like an mbedTLS 2.x TLS 1.2 client (ESP-IDF, STM32/W5500 ports, Zephyr, modem firmware)";
/// Another TLS stack that offers only static-RSA or CBC suites.
pub const FAMILY_LEGACY_ONLY: &str =
    "looks like an old or minimal embedded TLS stack offering only static-RSA or CBC suites";
/// A small TLS 1.2 client of unknown make without SNI: typically a cellular modem's own TLS.
pub const FAMILY_EMBEDDED_NO_SNI: &str =
    "looks like an embedded TLS 1.2 client (modem firmware such as SIMCom SIM7600/A7670 or nRF91, or a small TLS library)";

/// Guesses the device family from the shape of its hello; `None` when it looks like a general
/// purpose client (browsers, OpenSSL, rustls, Go) or nothing stands out.
///
/// The rules, most specific first, and where their facts come from:
///
/// 1. **mbedTLS 2.x shape.** mbedTLS 2.x (`ssl_cli.c`, `ssl_write_client_hello`) writes its
///    extensions in a fixed order — server_name, renegotiation_info (only when renegotiating),
///    signature_algorithms, supported_groups, ec_point_formats, ecjpake, connection_id,
///    max_fragment_length, truncated_hmac, encrypt_then_mac, extended_master_secret, then ALPN
///    and session_ticket — and always ends its suite list with TLS_EMPTY_RENEGOTIATION_INFO_SCSV.
///    It sends no supported_versions and no GREASE. A hello with all of these looks like
///    mbedTLS 2.x; the real hello of field report 002 (suites 0x009C, 0x003D, 0x00FF, one
///    extension, signature_algorithms) is one. OpenSSL puts ec_point_formats before
///    supported_groups, so its TLS 1.2 hellos do not match. Moderate confidence: another
///    library could copy that order; mbedTLS 3.x with TLS 1.3 enabled does not match.
/// 2. **Only legacy suites** ([`suites::is_legacy_suite`]): static RSA, static DH, CBC, 3DES,
///    RC4. rustls negotiates none of them, so such a device cannot connect at all. Field report
///    002's mbedTLS build and old SIMCom firmware (report 001: handshake failures until a
///    firmware update and `AT+CSSLCFG="ciphersuites",0,0xFFFF`) are examples. High confidence
///    about the suites; the family is a guess.
/// 3. **Embedded without SNI.** At most TLS 1.2, no GREASE, no ALPN, at most 20 suites and 8
///    extensions, and no server_name: the shape of modem firmware TLS (SIMCom
///    `AT+CSSLCFG="enableSNI"` defaults to off, report 001; nRF91 modem firmware before 1.2.1
///    cannot send SNI, report 004) and of small stacks whose host name was never set (ESP-IDF
///    over an esp_modem AT transport, report 000). Low confidence about the make; the advice
///    covers the common ones.
pub fn device_hint(hello: &ClientHello) -> Option<DeviceHint> {
    let mbedtls = looks_like_mbedtls2(hello);
    let real_suites: Vec<u16> = hello
        .cipher_suites
        .iter()
        .copied()
        .filter(|s| !is_grease(*s) && !suites::is_signaling_suite(*s))
        .collect();
    let legacy_only =
        !real_suites.is_empty() && real_suites.iter().all(|s| suites::is_legacy_suite(*s));
    let max_version = hello.versions_offered().first().copied().unwrap_or(0);
    let small_tls12 = max_version <= version::TLS12
        && !has_grease(hello)
        && hello.alpn.is_empty()
        && hello.cipher_suites.len() <= 20
        && hello.extensions.len() <= 8;
    let no_sni = hello.sni.is_none();

    let family = match (mbedtls, legacy_only) {
        (true, true) => FAMILY_MBEDTLS2_LEGACY,
        (true, false) => FAMILY_MBEDTLS2,
        (false, true) => FAMILY_LEGACY_ONLY,
        (false, false) if small_tls12 && no_sni => FAMILY_EMBEDDED_NO_SNI,
        (false, false) => return None,
    };

    let mut evidence = vec![format!(
        "offers {} (highest {})",
        plural(real_suites.len(), "cipher suite"),
        suites::version_name(max_version)
    )];
    if legacy_only {
        let names: Vec<String> = real_suites.iter().map(|s| suites::suite_name(*s)).collect();
        evidence.push(format!("all static-RSA or CBC: {}", names.join(", ")));
    }
    if mbedtls {
        let names: Vec<String> = hello
            .extensions
            .iter()
            .map(|(t, _)| suites::extension_name(*t))
            .collect();
        evidence.push(format!(
            "TLS_EMPTY_RENEGOTIATION_INFO_SCSV last and extensions in mbedTLS 2.x order [{}]",
            names.join(", ")
        ));
    }
    evidence.push(match (&hello.sni, &hello.sni_ip) {
        (Some(_), _) => "SNI present".to_owned(),
        (None, Some(ip)) => format!("the IP address {ip} as SNI, which counts as no SNI"),
        (None, None) => "no SNI".to_owned(),
    });
    if hello.alpn.is_empty() {
        evidence.push("no ALPN".to_owned());
    }

    let mut advice = Vec::new();
    if legacy_only {
        advice.push(
            "enable ECDHE key exchange and AES-GCM in the device's TLS stack; for mbedTLS: MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED (or _ECDSA_), MBEDTLS_ECDH_C, MBEDTLS_ECP_C with MBEDTLS_ECP_DP_SECP256R1_ENABLED, and MBEDTLS_GCM_C — rustls, like most cloud brokers, refuses static RSA and CBC".to_owned(),
        );
        advice.push(
            "on a SIMCom modem, allow all of its suites with AT+CSSLCFG=\"ciphersuites\",0,0xFFFF, and update the modem firmware if that is not enough".to_owned(),
        );
    }
    if no_sni {
        let mbedtls_sni = "mbedTLS sends SNI only after mbedtls_ssl_set_hostname(&ssl, \"<broker host>\") with MBEDTLS_SSL_SERVER_NAME_INDICATION enabled; ESP-IDF's esp-tls does this from the broker URI, but a custom transport (esp_modem AT sockets) skips it".to_owned();
        let simcom_sni = "on a SIMCom modem (SIM7600/A7670): AT+CSSLCFG=\"enableSNI\",0,1 before AT+CMQTTCONNECT (or AT+CCHOPEN)".to_owned();
        let nrf_sni = "on an nRF91: modem firmware before 1.2.1 cannot send SNI; update it and set the TLS_HOSTNAME socket option".to_owned();
        if hello.sni_ip.is_some() {
            advice.push(
                "connect to the broker by host name, not IP address: SNI cannot carry an address"
                    .to_owned(),
            );
        }
        if mbedtls {
            advice.extend([mbedtls_sni, simcom_sni, nrf_sni]);
        } else {
            advice.extend([simcom_sni, nrf_sni, mbedtls_sni]);
        }
    }

    Some(DeviceHint {
        family,
        evidence: format!("{}.", evidence.join("; ")),
        advice,
    })
}

/// Rule 1 of [`device_hint`]: the extension order and suite list of mbedTLS 2.x's
/// `ssl_write_client_hello`.
fn looks_like_mbedtls2(hello: &ClientHello) -> bool {
    // Rank of each extension in mbedTLS 2.x's write order; ALPN, use_srtp and session_ticket
    // share a rank because their relative order changed between versions.
    fn rank(id: u16) -> Option<u8> {
        Some(match id {
            ext::SERVER_NAME => 0,
            ext::RENEGOTIATION_INFO => 1,
            ext::SIGNATURE_ALGORITHMS => 2,
            ext::SUPPORTED_GROUPS => 3,
            ext::EC_POINT_FORMATS => 4,
            0x0100 => 5,        // ecjpake_kkpp (mbedTLS private number)
            53 | 54 | 254 => 6, // connection_id (254: mbedTLS 2.x pre-IANA number)
            ext::MAX_FRAGMENT_LENGTH => 7,
            4 => 8, // truncated_hmac
            ext::ENCRYPT_THEN_MAC => 9,
            ext::EXTENDED_MASTER_SECRET => 10,
            ext::ALPN | 14 | ext::SESSION_TICKET => 11,
            _ => return None,
        })
    }
    let mut last = 0;
    for (id, _) in &hello.extensions {
        match rank(*id) {
            Some(r) if r >= last => last = r,
            _ => return false,
        }
    }
    hello.legacy_version <= version::TLS12
        && hello.cipher_suites.last() == Some(&suites::EMPTY_RENEGOTIATION_INFO_SCSV)
        && hello.compression_methods.contains(&0)
        && !has_grease(hello)
}

/// Whether any list in the hello carries a GREASE value (RFC 8701): browsers, BoringSSL and
/// some OpenSSL-based clients do, embedded stacks do not.
fn has_grease(hello: &ClientHello) -> bool {
    hello.cipher_suites.iter().any(|s| is_grease(*s))
        || hello.extensions.iter().any(|(t, _)| is_grease(*t))
        || hello.supported_groups.iter().any(|g| is_grease(*g))
        || hello.supported_versions.iter().any(|v| is_grease(*v))
}

// --- parsing -------------------------------------------------------------------------------

/// Collects handshake bytes from consecutive records until one whole handshake message is
/// there; returns the first record's version and that message (header included).
fn reassemble(bytes: &[u8]) -> Result<(u16, Vec<u8>), HelloError> {
    if let Some(&first_byte) = bytes.first() {
        if first_byte != CONTENT_TYPE_HANDSHAKE {
            // SSL 2.0 framing: a 2-byte length with the top bit set, then message type 1.
            if first_byte & 0x80 != 0 && bytes.get(2) == Some(&1) {
                return Err(HelloError::Ssl2Hello);
            }
            return Err(HelloError::NotTls { first_byte });
        }
    }
    let mut input = Reader::new(bytes);
    let mut message = Vec::new();
    let mut first_version = None;
    loop {
        let content_type = input.u8("record header")?;
        if content_type != CONTENT_TYPE_HANDSHAKE {
            return Err(HelloError::UnexpectedRecord { content_type });
        }
        let version = input.u16("record header")?;
        if version >> 8 != 3 {
            return Err(HelloError::BadRecordVersion { version });
        }
        let len = input.u16("record header")?;
        if len == 0 || len > MAX_RECORD_LEN {
            return Err(HelloError::BadRecordLength { len });
        }
        // Refuse a non-ClientHello as soon as its type byte is in, even in a cut record.
        if let (true, Some(&handshake_type)) = (message.is_empty(), input.peek()) {
            if handshake_type != HANDSHAKE_CLIENT_HELLO {
                return Err(HelloError::NotClientHello { handshake_type });
            }
        }
        let fragment = input.bytes(usize::from(len), "record fragment")?;
        let record_version = *first_version.get_or_insert(version);
        message.extend_from_slice(fragment);

        if let Some(&handshake_type) = message.first() {
            if handshake_type != HANDSHAKE_CLIENT_HELLO {
                return Err(HelloError::NotClientHello { handshake_type });
            }
        }
        if let [_, a, b, c, ..] = message[..] {
            let total = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
            if message.len() >= total {
                message.truncate(total);
                return Ok((record_version, message));
            }
        }
        if input.is_empty() {
            return Err(HelloError::Truncated {
                field: "handshake message (it continues in a record not received yet)",
            });
        }
    }
}

/// Parses the ClientHello body (after the 4-byte handshake header).
fn parse_body(record_version: u16, body: &[u8]) -> Result<ClientHello, HelloError> {
    let mut r = Reader::new(body);
    let legacy_version = r.u16("legacy_version")?;
    let mut random = [0u8; 32];
    random.copy_from_slice(r.bytes(32, "random")?);

    let session_id_len = r.u8("legacy_session_id length")?;
    if usize::from(session_id_len) > MAX_SESSION_ID_LEN {
        return Err(HelloError::BadLength {
            field: "legacy_session_id (at most 32, RFC 8446 §4.1.2)",
            len: usize::from(session_id_len),
        });
    }
    r.bytes(usize::from(session_id_len), "legacy_session_id")?;

    let suites_len = usize::from(r.u16("cipher_suites length")?);
    if suites_len == 0 || suites_len % 2 != 0 {
        return Err(HelloError::BadLength {
            field: "cipher_suites (a non-empty list of 2-byte values)",
            len: suites_len,
        });
    }
    let cipher_suites = u16_list(r.bytes(suites_len, "cipher_suites")?);

    let compression_len = usize::from(r.u8("legacy_compression_methods length")?);
    if compression_len == 0 {
        return Err(HelloError::BadLength {
            field: "legacy_compression_methods (at least one method)",
            len: 0,
        });
    }
    let compression_methods = r
        .bytes(compression_len, "legacy_compression_methods")?
        .to_vec();

    let mut hello = ClientHello {
        record_version,
        legacy_version,
        random,
        session_id_len,
        renegotiation_info: cipher_suites.contains(&suites::EMPTY_RENEGOTIATION_INFO_SCSV),
        cipher_suites,
        compression_methods,
        extensions: Vec::new(),
        sni: None,
        sni_ip: None,
        alpn: Vec::new(),
        supported_versions: Vec::new(),
        signature_algorithms: Vec::new(),
        supported_groups: Vec::new(),
        ec_point_formats: Vec::new(),
        key_share_groups: Vec::new(),
        max_fragment_length: None,
        record_size_limit: None,
    };

    // A TLS 1.2 hello may end here: extensions are optional (RFC 5246 §7.4.1.2).
    if r.is_empty() {
        return Ok(hello);
    }
    let extensions_len = usize::from(r.u16("extensions length")?);
    let mut block = Reader::new(r.bytes(extensions_len, "extensions")?);
    if !r.is_empty() {
        return Err(HelloError::Trailing {
            extra: r.remaining(),
        });
    }

    let mut seen = BTreeSet::new();
    while !block.is_empty() {
        let id = block.u16("extension type")?;
        let len = usize::from(block.u16("extension length")?);
        let data = block
            .bytes(len, "extension data")
            .map_err(|_| HelloError::BadExtension {
                id,
                detail: format!("length {len} runs past the end of the extensions block"),
            })?;
        // RFC 8446 §4.2 and RFC 5246 §7.4.1.4: at most one extension of each type.
        if !seen.insert(id) {
            return Err(bad(id, "appears twice (RFC 8446 §4.2)"));
        }
        // RFC 8446 §4.2.11: pre_shared_key MUST be the last extension.
        if id == ext::PRE_SHARED_KEY && !block.is_empty() {
            return Err(bad(id, "is not the last extension (RFC 8446 §4.2.11)"));
        }
        read_extension(&mut hello, id, data)?;
        hello.extensions.push((id, data.to_vec()));
    }
    Ok(hello)
}

/// Reads the contents of the extensions Lantern uses into `hello`.
fn read_extension(hello: &mut ClientHello, id: u16, data: &[u8]) -> Result<(), HelloError> {
    let truncated = |e: HelloError| match e {
        HelloError::Truncated { field } => bad(id, &format!("{field} is cut short")),
        other => other,
    };
    let mut r = Reader::new(data);
    match id {
        // Extensions read whole, without the cursor:
        ext::SERVER_NAME => {
            match server_name(data)? {
                ServerName::Host(name) => hello.sni = Some(name),
                ServerName::Ip(ip) => hello.sni_ip = Some(ip),
                ServerName::None => {}
            }
            return Ok(());
        }
        ext::MAX_FRAGMENT_LENGTH => match data {
            [code @ 1..=4] => {
                hello.max_fragment_length = Some(*code);
                return Ok(());
            }
            _ => return Err(bad(id, "must be one byte, 1 to 4 (RFC 6066 §4)")),
        },
        ext::ENCRYPT_THEN_MAC | ext::EXTENDED_MASTER_SECRET if !data.is_empty() => {
            return Err(bad(id, "must be empty (RFC 7366 §3.1, RFC 7627 §5.1)"));
        }
        ext::RECORD_SIZE_LIMIT => match data {
            [a, b] if u16::from_be_bytes([*a, *b]) >= 64 => {
                hello.record_size_limit = Some(u16::from_be_bytes([*a, *b]));
                return Ok(());
            }
            _ => {
                return Err(bad(
                    id,
                    "must be a 2-byte value of at least 64 (RFC 8449 §4)",
                ))
            }
        },
        // Extensions read with the cursor, which they must consume exactly:
        ext::SUPPORTED_GROUPS => {
            hello.supported_groups =
                u16_vector(&mut r, id, "named_group_list").map_err(truncated)?;
        }
        ext::EC_POINT_FORMATS => {
            let len = usize::from(r.u8("ec_point_format_list length").map_err(truncated)?);
            if len == 0 {
                return Err(bad(id, "the list is empty (RFC 8422 §5.1.2)"));
            }
            hello.ec_point_formats = r
                .bytes(len, "ec_point_format_list")
                .map_err(truncated)?
                .to_vec();
        }
        ext::SIGNATURE_ALGORITHMS => {
            hello.signature_algorithms =
                u16_vector(&mut r, id, "supported_signature_algorithms").map_err(truncated)?;
        }
        ext::ALPN => {
            let len = usize::from(r.u16("protocol_name_list length").map_err(truncated)?);
            let mut list = Reader::new(r.bytes(len, "protocol_name_list").map_err(truncated)?);
            if list.is_empty() {
                return Err(bad(id, "the protocol list is empty (RFC 7301 §3.1)"));
            }
            while !list.is_empty() {
                let name_len = usize::from(list.u8("protocol name length").map_err(truncated)?);
                if name_len == 0 {
                    return Err(bad(id, "a protocol name is empty (RFC 7301 §3.1)"));
                }
                let name = list.bytes(name_len, "protocol name").map_err(truncated)?;
                hello.alpn.push(match std::str::from_utf8(name) {
                    Ok(s) => s.to_owned(),
                    Err(_) => format!("0x{}", hex(name)),
                });
            }
        }
        ext::SUPPORTED_VERSIONS => {
            let len = usize::from(r.u8("versions length").map_err(truncated)?);
            if len < 2 || len % 2 != 0 {
                return Err(bad(
                    id,
                    "the list must hold 1 to 127 versions (RFC 8446 §4.2.1)",
                ));
            }
            hello.supported_versions = u16_list(r.bytes(len, "versions").map_err(truncated)?);
        }
        ext::KEY_SHARE => {
            let len = usize::from(r.u16("client_shares length").map_err(truncated)?);
            let mut shares = Reader::new(r.bytes(len, "client_shares").map_err(truncated)?);
            while !shares.is_empty() {
                let group = shares.u16("key share group").map_err(truncated)?;
                let key_len = usize::from(shares.u16("key_exchange length").map_err(truncated)?);
                if key_len == 0 {
                    return Err(bad(id, "a key_exchange is empty (RFC 8446 §4.2.8)"));
                }
                shares.bytes(key_len, "key_exchange").map_err(truncated)?;
                hello.key_share_groups.push(group);
            }
        }
        ext::RENEGOTIATION_INFO => {
            let len = usize::from(r.u8("renegotiated_connection length").map_err(truncated)?);
            r.bytes(len, "renegotiated_connection").map_err(truncated)?;
            // RFC 5746 §3.4: the initial handshake carries an empty renegotiated_connection.
            if len != 0 {
                return Err(bad(
                    id,
                    "renegotiated_connection must be empty in an initial handshake (RFC 5746 §3.4)",
                ));
            }
            hello.renegotiation_info = true;
        }
        _ => return Ok(()),
    }
    if !r.is_empty() {
        return Err(bad(
            id,
            &format!("{} bytes follow its contents", r.remaining()),
        ));
    }
    Ok(())
}

/// What a well-formed server_name extension carried.
enum ServerName {
    /// A DNS host name (a trailing dot removed).
    Host(String),
    /// An IP address literal.
    Ip(String),
    /// No host_name entry (only entries of unknown name types).
    None,
}

/// Parses server_name (RFC 6066 §3).
///
/// Fails (`BadServerName`) where rustls would refuse or mark the name invalid: an empty or
/// mis-sized ServerNameList, two host_name entries, an empty host name, or one that is not a
/// DNS name — ASCII letters, digits, hyphens and underscores in dot-separated labels of 1–63
/// characters, at most 253 in all.
///
/// Tolerates what real clients send and rustls accepts, although RFC 6066 forbids it: an IP
/// address literal (libmosquitto with OpenSSL sends `127.0.0.1` when given an address; rustls
/// ignores it, so the connection counts as having no SNI), and a trailing dot (removed, as
/// rustls does). Like rustls, it stops at the first entry of an unknown name type, whose
/// encoding it cannot know.
fn server_name(data: &[u8]) -> Result<ServerName, HelloError> {
    let bad_name = |detail: String| HelloError::BadServerName { detail };
    let cut = |_| bad_name("the extension is cut short".to_owned());
    let mut r = Reader::new(data);
    let list_len = usize::from(r.u16("server_name_list length").map_err(cut)?);
    if list_len != r.remaining() {
        return Err(bad_name(format!(
            "the list length {list_len} does not match the {} bytes that follow",
            r.remaining()
        )));
    }
    if list_len == 0 {
        return Err(bad_name("the server_name_list is empty".to_owned()));
    }
    let mut found = ServerName::None;
    while !r.is_empty() {
        let name_type = r.u8("name_type").map_err(cut)?;
        if name_type != 0 {
            break;
        }
        let len = usize::from(r.u16("name length").map_err(cut)?);
        let name = r.bytes(len, "name").map_err(cut)?;
        // "The ServerNameList MUST NOT contain more than one name of the same name_type."
        if !matches!(found, ServerName::None) {
            return Err(bad_name("it lists more than one host_name".to_owned()));
        }
        found = check_host_name(name)?;
    }
    Ok(found)
}

/// Validates one SNI host name (see [`server_name`]).
fn check_host_name(name: &[u8]) -> Result<ServerName, HelloError> {
    let bad_name = |detail: String| HelloError::BadServerName { detail };
    if name.is_empty() {
        return Err(bad_name("the host name is empty".to_owned()));
    }
    let Ok(text) = std::str::from_utf8(name) else {
        return Err(bad_name(format!(
            "the host name is not ASCII (bytes 0x{})",
            hex(&name[..name.len().min(64)])
        )));
    };
    if !text.is_ascii() {
        return Err(bad_name(format!(
            "host name {text:?} is not ASCII; send the punycode (xn--) form"
        )));
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Ok(ServerName::Ip(text.to_owned()));
    }
    let host = text.strip_suffix('.').unwrap_or(text);
    if host.len() > 253 {
        return Err(bad_name(format!(
            "the host name is {} characters long; at most 253",
            host.len()
        )));
    }
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad_name(format!(
                "host name {text:?} has a label of {} characters (1 to 63 allowed)",
                label.len()
            )));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(bad_name(format!(
                "host name {text:?} contains {c:?}, which is not allowed in a host name"
            )));
        }
    }
    Ok(ServerName::Host(host.to_owned()))
}

/// `BadExtension` with a detail.
fn bad(id: u16, detail: &str) -> HelloError {
    HelloError::BadExtension {
        id,
        detail: detail.to_owned(),
    }
}

/// Reads a u16-length-prefixed, non-empty list of u16 values (inside extension `id`).
fn u16_vector(r: &mut Reader<'_>, id: u16, field: &'static str) -> Result<Vec<u16>, HelloError> {
    let len = usize::from(r.u16(field)?);
    if len == 0 || len % 2 != 0 {
        return Err(bad(
            id,
            &format!("{field} has length {len}; it must be a non-empty list of 2-byte values"),
        ));
    }
    Ok(u16_list(r.bytes(len, field)?))
}

/// Big-endian u16 values of an even-length slice.
fn u16_list(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

/// A cursor over bytes whose reads fail with [`HelloError::Truncated`] instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }

    fn peek(&self) -> Option<&u8> {
        self.bytes.first()
    }

    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], HelloError> {
        if n > self.bytes.len() {
            return Err(HelloError::Truncated { field });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, HelloError> {
        Ok(self.bytes(1, field)?[0])
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, HelloError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

// --- fingerprint helpers -------------------------------------------------------------------

fn without_grease<'a>(values: impl IntoIterator<Item = &'a u16>) -> Vec<u16> {
    values
        .into_iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .collect()
}

fn sorted(mut values: Vec<u16>) -> Vec<u16> {
    values.sort_unstable();
    values
}

/// `0a0a,1301,…`: 4 lower-case hex digits each, comma-separated.
fn hex_list(values: Vec<u16>) -> String {
    let parts: Vec<String> = values.iter().map(|v| format!("{v:04x}")).collect();
    parts.join(",")
}

/// The first 12 hex digits of SHA-256 of `text`; `000000000000` for an empty list (JA4).
fn hash12(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    hex(&sha256(text.as_bytes())[..6])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

// --- SHA-256 -------------------------------------------------------------------------------

/// SHA-256 (FIPS 180-4), for the JA4 fingerprint; small and slow, which is fine for a few
/// hundred bytes per connection. Not for anything secret.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    // Padding (§5.1.1): 0x80, zeros to 56 mod 64, then the bit length as a big-endian u64.
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());

    for block in message.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (state, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *state = state.wrapping_add(v);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}
