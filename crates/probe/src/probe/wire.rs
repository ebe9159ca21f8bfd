//! Hand-built ClientHellos and the server's first flight, read without a TLS library.
//!
//! rustls cannot offer what constrained devices offer (static RSA, CBC, TLS 1.0/1.1), so the
//! probe writes those hellos itself ([`HelloSpec::encode`]) and reads the answer
//! ([`parse_flight`]): a ServerHello (which version and suite the server chose), a
//! HelloRetryRequest, an alert, or — for TLS 1.2, where it travels in clear — the Certificate
//! message. No handshake is completed: a ServerHello already proves acceptance.
//!
//! Sources: RFC 8446 §4.1.2–4.1.4 (ClientHello, ServerHello, HelloRetryRequest), RFC 5246 §7.4
//! (TLS 1.2 handshake), RFC 6066 (server_name §3, max_fragment_length §4), RFC 7301 (ALPN),
//! RFC 5746 (renegotiation_info), RFC 8422 (supported_groups, ec_point_formats).

/// Record content types (RFC 8446 §5.1).
mod content {
    pub(super) const CHANGE_CIPHER_SPEC: u8 = 20;
    pub(super) const ALERT: u8 = 21;
    pub(super) const HANDSHAKE: u8 = 22;
    pub(super) const APPLICATION_DATA: u8 = 23;
}

/// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
mod handshake {
    pub(super) const CLIENT_HELLO: u8 = 1;
    pub(super) const SERVER_HELLO: u8 = 2;
    pub(super) const CERTIFICATE: u8 = 11;
    pub(super) const SERVER_HELLO_DONE: u8 = 14;
}

/// Extension numbers (IANA TLS ExtensionType Values).
pub(crate) mod ext {
    pub(crate) const SERVER_NAME: u16 = 0;
    pub(crate) const MAX_FRAGMENT_LENGTH: u16 = 1;
    pub(crate) const SUPPORTED_GROUPS: u16 = 10;
    pub(crate) const EC_POINT_FORMATS: u16 = 11;
    pub(crate) const SIGNATURE_ALGORITHMS: u16 = 13;
    pub(crate) const ALPN: u16 = 16;
    pub(crate) const ENCRYPT_THEN_MAC: u16 = 22;
    pub(crate) const EXTENDED_MASTER_SECRET: u16 = 23;
    pub(crate) const SESSION_TICKET: u16 = 35;
    pub(crate) const SUPPORTED_VERSIONS: u16 = 43;
    pub(crate) const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub(crate) const KEY_SHARE: u16 = 51;
    pub(crate) const RENEGOTIATION_INFO: u16 = 0xFF01;
}

/// Protocol versions.
pub(crate) mod version {
    pub(crate) const TLS10: u16 = 0x0301;
    pub(crate) const TLS11: u16 = 0x0302;
    pub(crate) const TLS12: u16 = 0x0303;
    pub(crate) const TLS13: u16 = 0x0304;
}

/// Named groups (RFC 8446 §4.2.7).
pub(crate) mod group {
    pub(crate) const SECP256R1: u16 = 23;
    pub(crate) const SECP384R1: u16 = 24;
    pub(crate) const X25519: u16 = 29;
}

/// The `random` of a HelloRetryRequest: SHA-256 of "HelloRetryRequest" (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// The first flight is never read past this many bytes (a certificate chain fits).
pub(crate) const MAX_FLIGHT: usize = 24 * 1024;

/// What a hand-built ClientHello offers. Extensions are written in mbedTLS 2.x's order
/// (server_name, signature_algorithms, supported_groups, ec_point_formats, max_fragment_length,
/// encrypt_then_mac, extended_master_secret, ALPN, session_ticket), then the TLS 1.3 ones and
/// renegotiation_info, so that device profiles look like the devices to a server that
/// fingerprints hellos (Lantern does).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct HelloSpec {
    /// Versions offered, highest first. Offering 1.3 adds supported_versions and key_share.
    pub(crate) versions: Vec<u16>,
    /// Cipher suites, in preference order (SCSVs included as given).
    pub(crate) suites: Vec<u16>,
    /// The SNI host name, or none.
    pub(crate) sni: Option<String>,
    /// supported_groups; empty leaves the extension out.
    pub(crate) groups: Vec<u16>,
    /// Whether to send ec_point_formats (uncompressed).
    pub(crate) ec_point_formats: bool,
    /// signature_algorithms; empty leaves the extension out.
    pub(crate) signature_algorithms: Vec<u16>,
    /// ALPN protocol names.
    pub(crate) alpn: Vec<String>,
    /// max_fragment_length code (1 = 512, 2 = 1024, 3 = 2048, 4 = 4096 bytes).
    pub(crate) max_fragment_length: Option<u8>,
    /// encrypt_then_mac (RFC 7366).
    pub(crate) encrypt_then_mac: bool,
    /// extended_master_secret (RFC 7627).
    pub(crate) extended_master_secret: bool,
    /// An empty session_ticket extension (RFC 5077).
    pub(crate) session_ticket: bool,
    /// The renegotiation_info extension (RFC 5746), empty.
    pub(crate) renegotiation_info: bool,
}

impl HelloSpec {
    /// The highest version offered.
    pub(crate) fn max_version(&self) -> u16 {
        self.versions
            .iter()
            .copied()
            .max()
            .unwrap_or(version::TLS12)
    }

    /// Whether TLS 1.3 is offered.
    pub(crate) fn offers_tls13(&self) -> bool {
        self.versions.contains(&version::TLS13)
    }

    /// The hello as one TLS record. `random` fills the client random, the session id (when 1.3
    /// is offered: RFC 8446 §D.4 middlebox compatibility) and the x25519 key share, which a
    /// server only checks for length before it answers.
    pub(crate) fn encode(&self, random: &[u8; 96]) -> Vec<u8> {
        let tls13 = self.offers_tls13();
        let legacy_version = self.max_version().min(version::TLS12);

        let mut body = Vec::with_capacity(512);
        put_u16(&mut body, legacy_version);
        body.extend_from_slice(&random[..32]);
        if tls13 {
            body.push(32);
            body.extend_from_slice(&random[32..64]);
        } else {
            body.push(0);
        }
        put_u16(&mut body, len16(self.suites.len() * 2));
        for s in &self.suites {
            put_u16(&mut body, *s);
        }
        body.extend_from_slice(&[1, 0]); // compression_methods: null only

        let exts = self.extensions(&random[64..96]);
        if !exts.is_empty() {
            put_u16(&mut body, len16(exts.len()));
            body.extend_from_slice(&exts);
        }

        let mut msg = Vec::with_capacity(body.len() + 4);
        msg.push(handshake::CLIENT_HELLO);
        put_u24(&mut msg, body.len());
        msg.extend_from_slice(&body);

        let mut record = Vec::with_capacity(msg.len() + 5);
        record.push(content::HANDSHAKE);
        // The record version of a first hello is 0x0301 for compatibility (RFC 8446 §5.1).
        put_u16(&mut record, version::TLS10);
        put_u16(&mut record, len16(msg.len()));
        record.extend_from_slice(&msg);
        record
    }

    fn extensions(&self, key_share: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(name) = &self.sni {
            // server_name_list with one host_name entry (RFC 6066 §3).
            let mut e = Vec::new();
            put_u16(&mut e, len16(name.len() + 3));
            e.push(0);
            put_u16(&mut e, len16(name.len()));
            e.extend_from_slice(name.as_bytes());
            put_ext(&mut out, ext::SERVER_NAME, &e);
        }
        if !self.signature_algorithms.is_empty() {
            put_ext(
                &mut out,
                ext::SIGNATURE_ALGORITHMS,
                &u16_list(&self.signature_algorithms),
            );
        }
        if !self.groups.is_empty() {
            put_ext(&mut out, ext::SUPPORTED_GROUPS, &u16_list(&self.groups));
        }
        if self.ec_point_formats {
            put_ext(&mut out, ext::EC_POINT_FORMATS, &[1, 0]);
        }
        if let Some(code) = self.max_fragment_length {
            put_ext(&mut out, ext::MAX_FRAGMENT_LENGTH, &[code]);
        }
        if self.encrypt_then_mac {
            put_ext(&mut out, ext::ENCRYPT_THEN_MAC, &[]);
        }
        if self.extended_master_secret {
            put_ext(&mut out, ext::EXTENDED_MASTER_SECRET, &[]);
        }
        if !self.alpn.is_empty() {
            let mut list = Vec::new();
            for p in &self.alpn {
                list.push(u8::try_from(p.len()).unwrap_or(u8::MAX));
                list.extend_from_slice(&p.as_bytes()[..p.len().min(255)]);
            }
            let mut e = Vec::new();
            put_u16(&mut e, len16(list.len()));
            e.extend_from_slice(&list);
            put_ext(&mut out, ext::ALPN, &e);
        }
        if self.session_ticket {
            put_ext(&mut out, ext::SESSION_TICKET, &[]);
        }
        if self.offers_tls13() {
            let mut versions = Vec::new();
            versions.push(u8::try_from(self.versions.len() * 2).unwrap_or(u8::MAX));
            for v in &self.versions {
                put_u16(&mut versions, *v);
            }
            put_ext(&mut out, ext::SUPPORTED_VERSIONS, &versions);
            put_ext(&mut out, ext::PSK_KEY_EXCHANGE_MODES, &[1, 1]); // psk_dhe_ke
            let mut share = Vec::new();
            put_u16(&mut share, 36);
            put_u16(&mut share, group::X25519);
            put_u16(&mut share, 32);
            share.extend_from_slice(&key_share[..32]);
            put_ext(&mut out, ext::KEY_SHARE, &share);
        }
        if self.renegotiation_info {
            put_ext(&mut out, ext::RENEGOTIATION_INFO, &[0]);
        }
        out
    }
}

/// What the server's first flight said.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct ServerHello {
    /// The negotiated version: supported_versions if present, else legacy_version.
    pub(crate) version: u16,
    /// The chosen cipher suite.
    pub(crate) suite: u16,
    /// A HelloRetryRequest rather than a ServerHello (still an acceptance of version and suite).
    pub(crate) retry: bool,
    /// The ALPN protocol the server selected (visible in TLS 1.2 only).
    pub(crate) alpn: Option<String>,
    /// The max_fragment_length code the server echoed (TLS 1.2 only).
    pub(crate) max_fragment_length: Option<u8>,
    /// Whether the server acknowledged SNI with an empty server_name extension.
    pub(crate) sni_acknowledged: bool,
    /// The certificate chain, DER, leaf first (TLS 1.2 only, where it is sent in clear).
    pub(crate) certificates: Vec<Vec<u8>>,
}

/// The server's answer to one ClientHello.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum Answer {
    /// A ServerHello or HelloRetryRequest.
    Hello(ServerHello),
    /// A TLS alert.
    Alert {
        /// 1 warning, 2 fatal.
        level: u8,
        /// The AlertDescription number.
        description: u8,
    },
    /// The server closed the connection without a TLS answer.
    Closed,
    /// Bytes that are not a TLS record (a plain MQTT or HTTP server).
    NotTls {
        /// The first bytes, hex.
        hex: String,
    },
    /// A record that does not parse.
    Malformed {
        /// What was wrong.
        detail: String,
    },
    /// No answer within the timeout.
    Timeout,
    /// The TCP connection failed.
    NoConnection {
        /// The system's message.
        detail: String,
    },
    /// Not tried: the probe's connection budget was spent.
    Skipped,
}

impl Answer {
    /// Whether the server accepted the hello.
    pub(crate) fn accepted(&self) -> Option<&ServerHello> {
        match self {
            Answer::Hello(h) => Some(h),
            _ => None,
        }
    }

    /// "ServerHello TLSv1.2 TLS_…", "alert handshake_failure", "closed", …
    pub(crate) fn describe(&self) -> String {
        match self {
            Answer::Hello(h) => format!(
                "{} {} {}",
                if h.retry {
                    "HelloRetryRequest"
                } else {
                    "ServerHello"
                },
                lantern_diag::suites::version_name(h.version),
                lantern_diag::suites::suite_name(h.suite)
            ),
            Answer::Alert { description, .. } => format!("alert {}", alert_name(*description)),
            Answer::Closed => "closed without an answer".to_owned(),
            Answer::NotTls { hex } => format!("not TLS (first bytes {hex})"),
            Answer::Malformed { detail } => format!("malformed answer: {detail}"),
            Answer::Timeout => "no answer before the timeout".to_owned(),
            Answer::NoConnection { detail } => format!("TCP connection failed: {detail}"),
            Answer::Skipped => "not tried (connection budget spent)".to_owned(),
        }
    }
}

/// Progress of reading a first flight.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Flight {
    /// More bytes are needed.
    Incomplete,
    /// The answer is known.
    Done(Answer),
}

/// Reads the server's first flight from `buf` (everything received so far). With
/// `want_certificate`, a TLS 1.2 ServerHello is only final once the Certificate message (or
/// ServerHelloDone) has arrived too.
pub(crate) fn parse_flight(buf: &[u8], want_certificate: bool) -> Flight {
    let mut hs = Vec::new(); // handshake bytes across records
    let mut pos = 0;
    let mut hello: Option<ServerHello> = None;
    while buf.len() >= pos + 5 {
        let ctype = buf[pos];
        if !matches!(
            ctype,
            content::CHANGE_CIPHER_SPEC
                | content::ALERT
                | content::HANDSHAKE
                | content::APPLICATION_DATA
        ) || buf[pos + 1] != 3
        {
            if pos == 0 {
                return Flight::Done(Answer::NotTls {
                    hex: hex(&buf[..buf.len().min(16)]),
                });
            }
            return Flight::Done(Answer::Malformed {
                detail: format!("record type {ctype} at offset {pos}"),
            });
        }
        let len = usize::from(u16::from_be_bytes([buf[pos + 3], buf[pos + 4]]));
        if len > (1 << 14) + 2048 {
            return Flight::Done(Answer::Malformed {
                detail: format!("record length {len} exceeds 2^14 + 2048"),
            });
        }
        if buf.len() < pos + 5 + len {
            break;
        }
        let fragment = &buf[pos + 5..pos + 5 + len];
        pos += 5 + len;
        match ctype {
            content::ALERT if fragment.len() >= 2 => {
                // An alert after a ServerHello (a TLS 1.2 server that gives up later) still
                // means the hello was accepted.
                if let Some(h) = hello {
                    return Flight::Done(Answer::Hello(h));
                }
                return Flight::Done(Answer::Alert {
                    level: fragment[0],
                    description: fragment[1],
                });
            }
            content::HANDSHAKE => hs.extend_from_slice(fragment),
            // Encrypted records (TLS 1.3) or a middlebox-compatibility CCS: the ServerHello
            // before them is all there is to read in clear.
            _ => {
                if let Some(h) = hello {
                    return Flight::Done(Answer::Hello(h));
                }
            }
        }
        // Handshake messages complete so far.
        let mut hpos = 0;
        while hs.len() >= hpos + 4 {
            let mtype = hs[hpos];
            let mlen = u24(&hs[hpos + 1..hpos + 4]);
            if hs.len() < hpos + 4 + mlen {
                break;
            }
            let body = &hs[hpos + 4..hpos + 4 + mlen];
            hpos += 4 + mlen;
            match mtype {
                handshake::SERVER_HELLO if hello.is_none() => match parse_server_hello(body) {
                    Ok(h) => {
                        let final_now = h.retry || h.version == version::TLS13 || !want_certificate;
                        if final_now {
                            return Flight::Done(Answer::Hello(h));
                        }
                        hello = Some(h);
                    }
                    Err(detail) => return Flight::Done(Answer::Malformed { detail }),
                },
                handshake::CERTIFICATE => {
                    if let Some(mut h) = hello.take() {
                        h.certificates = parse_certificate_list(body);
                        return Flight::Done(Answer::Hello(h));
                    }
                }
                handshake::SERVER_HELLO_DONE => {
                    if let Some(h) = hello.take() {
                        return Flight::Done(Answer::Hello(h));
                    }
                }
                _ => {}
            }
        }
        hs.drain(..hpos);
    }
    Flight::Incomplete
}

/// The answer to give when the connection ended (EOF, timeout or the size cap) before
/// [`parse_flight`] was done.
pub(crate) fn flight_at_end(buf: &[u8]) -> Answer {
    if let Flight::Done(a) = parse_flight(buf, false) {
        return a;
    }
    if buf.is_empty() {
        Answer::Closed
    } else {
        Answer::Malformed {
            detail: format!("{} bytes, then nothing", buf.len()),
        }
    }
}

fn parse_server_hello(b: &[u8]) -> Result<ServerHello, String> {
    let short = || "ServerHello too short".to_owned();
    let legacy = u16::from_be_bytes([*b.first().ok_or_else(short)?, *b.get(1).ok_or_else(short)?]);
    let random = b.get(2..34).ok_or_else(short)?;
    let sid_len = usize::from(*b.get(34).ok_or_else(short)?);
    let mut p = 35 + sid_len;
    let suite = u16::from_be_bytes([
        *b.get(p).ok_or_else(short)?,
        *b.get(p + 1).ok_or_else(short)?,
    ]);
    p += 3; // suite + compression method
    let mut h = ServerHello {
        version: legacy,
        suite,
        retry: random == HRR_RANDOM,
        ..ServerHello::default()
    };
    if b.len() < p + 2 {
        return Ok(h);
    }
    let ext_len = usize::from(u16::from_be_bytes([b[p], b[p + 1]]));
    p += 2;
    let end = (p + ext_len).min(b.len());
    while p + 4 <= end {
        let id = u16::from_be_bytes([b[p], b[p + 1]]);
        let len = usize::from(u16::from_be_bytes([b[p + 2], b[p + 3]]));
        let data = b
            .get(p + 4..p + 4 + len)
            .ok_or("ServerHello extension overruns")?;
        p += 4 + len;
        match id {
            ext::SUPPORTED_VERSIONS if data.len() == 2 => {
                h.version = u16::from_be_bytes([data[0], data[1]]);
            }
            ext::ALPN if data.len() > 3 => {
                let n = usize::from(data[2]);
                if let Some(name) = data.get(3..3 + n) {
                    h.alpn = Some(String::from_utf8_lossy(name).into_owned());
                }
            }
            ext::MAX_FRAGMENT_LENGTH if data.len() == 1 => h.max_fragment_length = Some(data[0]),
            ext::SERVER_NAME => h.sni_acknowledged = true,
            _ => {}
        }
    }
    Ok(h)
}

/// TLS 1.2 Certificate: `opaque ASN.1Cert<1..2^24-1>` list (RFC 5246 §7.4.2).
fn parse_certificate_list(b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if b.len() < 3 {
        return out;
    }
    let total = u24(&b[..3]).min(b.len() - 3);
    let list = &b[3..3 + total];
    let mut p = 0;
    while p + 3 <= list.len() && out.len() < 10 {
        let n = u24(&list[p..p + 3]);
        let Some(der) = list.get(p + 3..p + 3 + n) else {
            break;
        };
        out.push(der.to_vec());
        p += 3 + n;
    }
    out
}

/// The RFC 8446 §6 / RFC 5246 §7.2 name of an alert description.
pub(crate) fn alert_name(d: u8) -> String {
    let name = match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        22 => "record_overflow",
        40 => "handshake_failure",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        other => return format!("{other}"),
    };
    name.to_owned()
}

/// A plaintext fatal `user_canceled` alert (RFC 8446 §6.1), sent to end a scan politely: the
/// client has no keys yet, so the alert travels in clear.
pub(crate) const USER_CANCELED_ALERT: [u8; 7] = [content::ALERT, 0x03, 0x03, 0x00, 0x02, 2, 90];

/// Alert descriptions the probe reasons about.
pub(crate) mod alert {
    pub(crate) const HANDSHAKE_FAILURE: u8 = 40;
    pub(crate) const PROTOCOL_VERSION: u8 = 70;
    pub(crate) const INSUFFICIENT_SECURITY: u8 = 71;
    pub(crate) const UNRECOGNIZED_NAME: u8 = 112;
}

/// Lower-case hex with spaces.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let v = u32::try_from(v).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(&v[1..]);
}

fn put_ext(out: &mut Vec<u8>, id: u16, data: &[u8]) {
    put_u16(out, id);
    put_u16(out, len16(data.len()));
    out.extend_from_slice(data);
}

fn u16_list(values: &[u16]) -> Vec<u8> {
    let mut e = Vec::with_capacity(2 + values.len() * 2);
    put_u16(&mut e, len16(values.len() * 2));
    for v in values {
        put_u16(&mut e, *v);
    }
    e
}

/// Lengths here come from the probe's own small tables, never from the network.
fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ClientHello of field report 002 (STM32 + W5500 + mbedTLS), random zeroed.
    fn seed_002_spec() -> HelloSpec {
        HelloSpec {
            versions: vec![version::TLS12],
            suites: vec![0x009C, 0x003D, 0x00FF],
            signature_algorithms: vec![0x0401, 0x0301],
            ..HelloSpec::default()
        }
    }

    #[test]
    fn seed_002_hello_is_rebuilt_byte_for_byte_except_the_record_version() {
        let bytes = seed_002_spec().encode(&[0; 96]);
        let mut expected = vec![
            0x16, 0x03, 0x01, 0x00, 0x3D, // record (the device wrote 0x0303)
            0x01, 0x00, 0x00, 0x39, 0x03, 0x03, // ClientHello, TLS 1.2
        ];
        expected.extend_from_slice(&[0; 32]);
        expected.extend_from_slice(&[
            0x00, // session id
            0x00, 0x06, 0x00, 0x9C, 0x00, 0x3D, 0x00, 0xFF, // suites
            0x01, 0x00, // compression
            0x00, 0x0A, 0x00, 0x0D, 0x00, 0x06, 0x00, 0x04, 0x04, 0x01, 0x03, 0x01,
        ]);
        assert_eq!(bytes, expected);
        let parsed = lantern_diag::hello::parse_client_hello(&bytes).unwrap();
        assert_eq!(parsed.cipher_suites, vec![0x009C, 0x003D, 0x00FF]);
    }

    #[test]
    fn a_tls13_hello_parses_with_sni_alpn_and_key_share() {
        let spec = HelloSpec {
            versions: vec![version::TLS13, version::TLS12],
            suites: vec![0x1301, 0xC02B],
            sni: Some("a.test".into()),
            groups: vec![group::X25519, group::SECP256R1],
            ec_point_formats: true,
            signature_algorithms: vec![0x0403, 0x0804],
            alpn: vec!["mqtt".into()],
            max_fragment_length: Some(2),
            ..HelloSpec::default()
        };
        let parsed = lantern_diag::hello::parse_client_hello(&spec.encode(&[7; 96])).unwrap();
        assert_eq!(parsed.sni.as_deref(), Some("a.test"));
        assert_eq!(parsed.alpn, vec!["mqtt".to_owned()]);
        assert_eq!(parsed.supported_versions, vec![0x0304, 0x0303]);
        assert_eq!(parsed.key_share_groups, vec![group::X25519]);
        assert_eq!(parsed.max_fragment_length, Some(2));
    }

    #[test]
    fn the_server_hello_of_seed_002_is_read() {
        // Record header and ServerHello from field report 002 (suite 0x009C, renegotiation_info).
        let flight = [
            0x16, 0x03, 0x03, 0x00, 0x51, 0x02, 0x00, 0x00, 0x4D, 0x03, 0x03, 0x45, 0xF8, 0xD2,
            0xA6, 0x04, 0x6E, 0xE4, 0xEA, 0x99, 0xE3, 0xE8, 0x23, 0xD5, 0x6E, 0xFF, 0x9C, 0x77,
            0x8F, 0x1E, 0x92, 0x15, 0x9F, 0x0F, 0x7A, 0x58, 0x7E, 0x3F, 0x51, 0xE8, 0x9C, 0xC8,
            0x6A, 0x20, 0x45, 0xBD, 0x72, 0x1F, 0x9B, 0x73, 0xC1, 0x2A, 0xA1, 0xC7, 0x10, 0xC1,
            0x22, 0x9E, 0x11, 0x61, 0x9F, 0x9E, 0x09, 0xCF, 0xA1, 0xD6, 0xA0, 0x4B, 0x4C, 0x69,
            0x90, 0x29, 0x72, 0xF3, 0x59, 0x2F, 0x00, 0x9C, 0x00, 0x00, 0x05, 0xFF, 0x01, 0x00,
            0x01, 0x00,
        ];
        let Flight::Done(Answer::Hello(h)) = parse_flight(&flight, false) else {
            panic!("not a ServerHello");
        };
        assert_eq!((h.version, h.suite, h.retry), (0x0303, 0x009C, false));
        // Every prefix is incomplete, never an error.
        for n in 0..flight.len() {
            assert_eq!(
                parse_flight(&flight[..n], false),
                Flight::Incomplete,
                "prefix {n}"
            );
        }
    }

    #[test]
    fn alerts_and_plain_text_are_named() {
        assert_eq!(
            parse_flight(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70], false),
            Flight::Done(Answer::Alert {
                level: 2,
                description: 112
            })
        );
        assert!(matches!(
            parse_flight(b"HTTP/1.1 400 Bad Request\r\n", false),
            Flight::Done(Answer::NotTls { .. })
        ));
        assert_eq!(alert_name(112), "unrecognized_name");
    }
}
