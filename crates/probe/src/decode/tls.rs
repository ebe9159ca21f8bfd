//! The TLS record layer (RFC 8446 §5.1, RFC 5246 §6.2): content type, version and length of
//! each record; the handshake messages inside unencrypted handshake records; ServerHello
//! (chosen version and suite); the number of certificates; alerts by name; application data
//! lengths. ClientHellos are parsed by [`lantern_diag::hello::parse_client_hello`].
//!
//! Nothing here decrypts: after ChangeCipherSpec (TLS 1.2) or in application-data records
//! (TLS 1.3) the walk reports lengths only.

use lantern_diag::hello::{parse_client_hello, ClientHello};
use lantern_diag::suites;

use super::codes;
use super::Item;

/// Record content types (RFC 8446 §5.1).
mod content {
    pub(super) const CHANGE_CIPHER_SPEC: u8 = 20;
    pub(super) const ALERT: u8 = 21;
    pub(super) const HANDSHAKE: u8 = 22;
    pub(super) const APPLICATION_DATA: u8 = 23;
}

/// Largest record body: 2^14 plus the 2048 bytes of expansion TLS 1.2 allows (RFC 5246 §6.2.3).
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// What the walk learned, for the findings.
#[derive(Debug, Default)]
pub(crate) struct TlsFacts {
    pub(crate) client_hello: Option<ClientHello>,
    /// (version, suite) chosen by the server.
    pub(crate) server_hello: Option<(u16, u16)>,
    /// (offset, level, description) of unencrypted alerts.
    pub(crate) alerts: Vec<(usize, u8, u8)>,
    /// Encrypted alerts seen (offsets).
    pub(crate) encrypted_alerts: Vec<usize>,
    /// (offset, length) of application-data records.
    pub(crate) app_data: Vec<(usize, usize)>,
    /// (offset, declared length, bytes present) of a record cut short by the dump.
    pub(crate) truncated: Option<(usize, usize, usize)>,
    /// (offset, length, handshake type if known) of every record.
    pub(crate) records: Vec<(usize, usize, Option<u8>)>,
}

/// Whether `b` starts with a plausible TLS record header.
pub(crate) fn looks_like_tls(b: &[u8]) -> bool {
    b.len() >= 3
        && (content::CHANGE_CIPHER_SPEC..=content::APPLICATION_DATA).contains(&b[0])
        && b[1] == 3
        && b[2] <= 4
}

/// Walks the records of one direction's byte stream.
pub(crate) fn walk(bytes: &[u8]) -> (Vec<Item>, TlsFacts) {
    let mut items = Vec::new();
    let mut facts = TlsFacts::default();
    let mut encrypted = false;
    let mut handshake: Vec<u8> = Vec::new();
    let mut off = 0;
    while off < bytes.len() {
        let rest = &bytes[off..];
        if rest.len() < 5 {
            items.push(Item::new(
                off,
                rest,
                "tls",
                format!("partial record header ({} of 5 bytes)", rest.len()),
            ));
            facts.truncated = Some((off, 5, rest.len()));
            break;
        }
        if !looks_like_tls(rest) {
            items.push(Item::new(
                off,
                rest,
                "opaque",
                format!(
                    "{} bytes that do not start a TLS record (0x{:02X} 0x{:02X} 0x{:02X}): the dump lost the record boundary",
                    rest.len(),
                    rest[0],
                    rest[1],
                    rest[2]
                ),
            ));
            break;
        }
        let ct = rest[0];
        let version = u16::from_be_bytes([rest[1], rest[2]]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        let present = len.min(rest.len() - 5);
        let body = &rest[5..5 + present];
        let whole = &rest[..5 + present];
        let mut details = Vec::new();
        if present < len {
            details.push(format!(
                "the dump holds {present} of the {len} bytes this record announces"
            ));
            facts.truncated = Some((off, len, present));
        }
        if len > MAX_RECORD_LEN {
            details.push(format!(
                "length {len} exceeds the TLS maximum of {MAX_RECORD_LEN} (RFC 5246 §6.2.3)"
            ));
        }
        let vname = suites::version_name(version);
        let mut hs_type = None;
        let summary = match ct {
            content::HANDSHAKE if encrypted => {
                format!("handshake record, {vname}, {len} bytes, encrypted (Finished)")
            }
            content::HANDSHAKE => {
                hs_type = body.first().copied();
                handshake.extend_from_slice(body);
                let names =
                    drain_handshake(&mut handshake, &mut details, &mut facts, present < len);
                if names.is_empty() {
                    format!(
                        "handshake record, {vname}, {len} bytes (none of its body is in the dump)"
                    )
                } else {
                    format!(
                        "handshake record, {vname}, {len} bytes: {}",
                        names.join(", ")
                    )
                }
            }
            content::CHANGE_CIPHER_SPEC => {
                encrypted = true;
                format!("change_cipher_spec, {vname}: records after this are encrypted")
            }
            content::ALERT if !encrypted && len == 2 && present == 2 => {
                let (level, desc) = (body[0], body[1]);
                facts.alerts.push((off, level, desc));
                let lname = if level == 2 { "fatal" } else { "warning" };
                let dname = codes::tls_alert_name(desc).unwrap_or("unknown");
                format!("alert, {vname}: {lname} {dname} ({desc})")
            }
            content::ALERT => {
                facts.encrypted_alerts.push(off);
                format!("alert, {vname}, {len} bytes, encrypted (after the handshake usually close_notify; can be a fatal alert)")
            }
            _ => {
                facts.app_data.push((off, len));
                format!("application data, {vname}, {len} bytes (encrypted)")
            }
        };
        facts.records.push((off, len, hs_type));
        let mut item = Item::new(off, whole, "tls", summary);
        item.details = details;
        items.push(item);
        off += 5 + present;
    }
    (items, facts)
}

/// Handshake message names (RFC 8446 §4, RFC 5246 §7.4).
fn handshake_name(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        _ => "unknown handshake message",
    }
}

/// Parses every complete handshake message in `buf`, leaving a partial one in place.
fn drain_handshake(
    buf: &mut Vec<u8>,
    details: &mut Vec<String>,
    facts: &mut TlsFacts,
    cut: bool,
) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        if buf.len() < 4 {
            break;
        }
        let t = buf[0];
        let len = (usize::from(buf[1]) << 16) | (usize::from(buf[2]) << 8) | usize::from(buf[3]);
        if buf.len() < 4 + len {
            names.push(format!(
                "{} ({len} bytes, {} in the dump)",
                handshake_name(t),
                buf.len() - 4
            ));
            if !cut {
                details.push(format!(
                    "{} continues in the next record",
                    handshake_name(t)
                ));
            }
            break;
        }
        let msg: Vec<u8> = buf.drain(..4 + len).collect();
        names.push(format!("{} ({len} bytes)", handshake_name(t)));
        match t {
            1 => client_hello(&msg, details, facts),
            2 => server_hello(&msg[4..], details, facts),
            11 => certificate(&msg[4..], details),
            _ => {}
        }
    }
    names
}

fn client_hello(msg: &[u8], details: &mut Vec<String>, facts: &mut TlsFacts) {
    // parse_client_hello reads records: wrap the message in one.
    let Ok(len) = u16::try_from(msg.len()) else {
        details.push("ClientHello longer than one record; not parsed".to_owned());
        return;
    };
    let mut record = vec![content::HANDSHAKE, 3, 1];
    record.extend_from_slice(&len.to_be_bytes());
    record.extend_from_slice(msg);
    match parse_client_hello(&record) {
        Ok(hello) => {
            let s = hello.summary();
            details.push(match (&hello.sni, &hello.sni_ip) {
                (Some(name), _) => format!("SNI: {name}"),
                (None, Some(ip)) => {
                    format!("SNI: an IP address ({ip}), which does not count as SNI")
                }
                (None, None) => "SNI: none (no server_name extension)".to_owned(),
            });
            details.push(format!("versions offered: {}", s.versions.join(", ")));
            details.push(format!(
                "cipher suites ({}): {}",
                s.cipher_suites.len(),
                s.cipher_suites.join(", ")
            ));
            details.push(format!(
                "extensions: {}",
                if s.extensions.is_empty() {
                    "none".to_owned()
                } else {
                    s.extensions.join(", ")
                }
            ));
            if !s.alpn.is_empty() {
                details.push(format!("ALPN: {}", s.alpn.join(", ")));
            }
            if let Some(device) = &s.device {
                details.push(format!("device: {} ({})", device.family, device.evidence));
            }
            facts.client_hello = Some(hello);
        }
        Err(e) => details.push(format!("ClientHello does not parse: {e}")),
    }
}

fn server_hello(body: &[u8], details: &mut Vec<String>, facts: &mut TlsFacts) {
    let fail = |details: &mut Vec<String>| details.push("ServerHello is truncated".to_owned());
    if body.len() < 35 {
        return fail(details);
    }
    let mut version = u16::from_be_bytes([body[0], body[1]]);
    let sid = usize::from(body[34]);
    let p = 35 + sid;
    if body.len() < p + 3 {
        return fail(details);
    }
    let suite = u16::from_be_bytes([body[p], body[p + 1]]);
    let mut exts = Vec::new();
    let mut q = p + 3;
    if body.len() >= q + 2 {
        let end = (q + 2 + usize::from(u16::from_be_bytes([body[q], body[q + 1]]))).min(body.len());
        q += 2;
        while q + 4 <= end {
            let id = u16::from_be_bytes([body[q], body[q + 1]]);
            let l = usize::from(u16::from_be_bytes([body[q + 2], body[q + 3]]));
            let data = body.get(q + 4..q + 4 + l).unwrap_or_default();
            // supported_versions carries the real version in TLS 1.3 (RFC 8446 §4.2.1).
            if id == 43 && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
            exts.push(suites::extension_name(id));
            q += 4 + l;
        }
    }
    details.push(format!(
        "server chose {} with {} (0x{suite:04X})",
        suites::version_name(version),
        suites::suite_name(suite)
    ));
    details.push(format!(
        "server extensions: {}",
        if exts.is_empty() {
            "none".to_owned()
        } else {
            exts.join(", ")
        }
    ));
    facts.server_hello = Some((version, suite));
}

fn certificate(body: &[u8], details: &mut Vec<String>) {
    // TLS 1.2: certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1> (RFC 5246 §7.4.2).
    if body.len() < 3 {
        return;
    }
    let total = (usize::from(body[0]) << 16) | (usize::from(body[1]) << 8) | usize::from(body[2]);
    let mut p = 3;
    let mut sizes = Vec::new();
    while p + 3 <= body.len() && p < 3 + total {
        let l = (usize::from(body[p]) << 16)
            | (usize::from(body[p + 1]) << 8)
            | usize::from(body[p + 2]);
        sizes.push(l.to_string());
        p += 3 + l;
    }
    details.push(format!(
        "{} certificates in the chain (sizes {} bytes)",
        sizes.len(),
        sizes.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_record() {
        let (items, facts) = walk(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x30]);
        assert_eq!(facts.alerts, vec![(0, 2, 48)]);
        assert!(
            items[0].summary.contains("fatal unknown_ca"),
            "{}",
            items[0].summary
        );
    }

    #[test]
    fn truncated_record() {
        let (_, facts) = walk(&[0x16, 0x03, 0x03, 0x13, 0x8E]);
        assert_eq!(facts.truncated, Some((0, 5006, 0)));
    }
}
