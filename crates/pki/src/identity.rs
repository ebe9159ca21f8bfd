//! Certificate identity for mTLS: which string a client certificate stands for.
//!
//! The TLS layer (`lantern-net`) calls [`identity_of`] on the verified leaf certificate and uses
//! the result as the MQTT username or as the key of an ACL, depending on the listener's
//! `identity` setting.

use std::fmt;
use std::str::FromStr;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::describe::fingerprint_sha256;
use crate::error::PkiError;

/// Which part of a client certificate names the client.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum IdentitySource {
    /// The first common name (CN) of the subject.
    CommonName,
    /// The first DNS name in the subject alternative names.
    SanDns,
    /// The first URI in the subject alternative names (e.g. a SPIFFE ID).
    SanUri,
    /// The first e-mail address (rfc822Name) in the subject alternative names.
    SanEmail,
    /// The whole subject DN as an RFC 4514 string, e.g. `CN=dev-1,O=Acme`: RDNs in reverse of
    /// their encoded order, OpenSSL RFC 2253 attribute names, RFC 4514 §2.4 escaping.
    Dn,
    /// The SHA-256 fingerprint of the whole certificate, `AA:BB:…` (see [`fingerprint_sha256`]).
    FingerprintSha256,
}

impl IdentitySource {
    /// The configuration spelling: `cn`, `san-dns`, `san-uri`, `san-email`, `dn`, `sha256`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CommonName => "cn",
            Self::SanDns => "san-dns",
            Self::SanUri => "san-uri",
            Self::SanEmail => "san-email",
            Self::Dn => "dn",
            Self::FingerprintSha256 => "sha256",
        }
    }
}

impl fmt::Display for IdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentitySource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "cn" => Self::CommonName,
            "san-dns" => Self::SanDns,
            "san-uri" => Self::SanUri,
            "san-email" => Self::SanEmail,
            "dn" => Self::Dn,
            "sha256" | "fingerprint" => Self::FingerprintSha256,
            other => {
                return Err(format!(
                    "unknown identity source {other:?}; expected one of cn, san-dns, san-uri, san-email, dn, sha256"
                ))
            }
        })
    }
}

/// The identity a DER certificate carries for `source`: `Ok(None)` when the certificate has no
/// such field (no CN, no SAN of that type), an error only when the DER cannot be parsed.
pub fn identity_of(der: &[u8], source: IdentitySource) -> Result<Option<String>, PkiError> {
    if source == IdentitySource::FingerprintSha256 {
        // Still parse, so that garbage is refused the same way for every source.
        parse_der(der)?;
        return Ok(Some(fingerprint_sha256(der)));
    }
    let cert = parse_der(der)?;
    Ok(match source {
        IdentitySource::CommonName => cert.subject().iter_common_name().next().map(attribute_text),
        IdentitySource::Dn => Some(render_dn(cert.subject())),
        IdentitySource::SanDns | IdentitySource::SanUri | IdentitySource::SanEmail => {
            let sans = cert
                .subject_alternative_name()
                .map_err(|e| bad_certificate(e.to_string()))?;
            sans.and_then(|ext| {
                ext.value
                    .general_names
                    .iter()
                    .find_map(|name| match (source, name) {
                        (IdentitySource::SanDns, GeneralName::DNSName(s))
                        | (IdentitySource::SanUri, GeneralName::URI(s))
                        | (IdentitySource::SanEmail, GeneralName::RFC822Name(s)) => {
                            Some((*s).to_owned())
                        }
                        _ => None,
                    })
            })
        }
        IdentitySource::FingerprintSha256 => None,
    })
}

/// Renders a distinguished name as an RFC 4514 string: RDNs in reverse of their encoded order
/// (so the CN usually comes first), `,` between RDNs, `+` inside a multi-valued RDN, special
/// characters escaped (RFC 4514 §2.4).
///
/// Attribute names follow OpenSSL's RFC 2253 output, which is what mosquitto and most brokers
/// match against: `CN`, `O`, `OU`, `C`, `ST`, `L`, `STREET`, `DC`, `UID`, plus `emailAddress`,
/// `serialNumber`, `SN`, `GN`, `title`. Other attributes are written as a dotted OID with a
/// `#`-hex value, as RFC 4514 §2.3–2.4 prescribes.
pub(crate) fn render_dn(name: &X509Name<'_>) -> String {
    let mut out = String::new();
    let rdns: Vec<_> = name.iter_rdn().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attr) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = attr.attr_type().to_id_string();
            match (attribute_short_name(&oid), decode_string(attr)) {
                (Some(short), Some(text)) => {
                    out.push_str(short);
                    out.push('=');
                    escape_value(&text, &mut out);
                }
                _ => {
                    out.push_str(&oid);
                    out.push_str("=#");
                    out.push_str(&hex(&attribute_der(attr)));
                }
            }
        }
    }
    out
}

pub(crate) fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| bad_certificate(e.to_string()))
}

fn bad_certificate(reason: String) -> PkiError {
    PkiError::BadCertificate {
        index: 1,
        line: None,
        reason,
    }
}

/// The text of an attribute, lossily if it is not a string type.
pub(crate) fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> String {
    decode_string(attr).unwrap_or_else(|| format!("#{}", hex(&attribute_der(attr))))
}

fn attribute_short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "2.5.4.5" => "serialNumber",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.12" => "title",
        _ => return None,
    })
}

/// ASN.1 universal tag numbers of the string types a DN may use.
mod tag {
    pub(super) const UTF8_STRING: u32 = 12;
    pub(super) const NUMERIC_STRING: u32 = 18;
    pub(super) const PRINTABLE_STRING: u32 = 19;
    pub(super) const TELETEX_STRING: u32 = 20;
    pub(super) const IA5_STRING: u32 = 22;
    pub(super) const VISIBLE_STRING: u32 = 26;
    pub(super) const UNIVERSAL_STRING: u32 = 28;
    pub(super) const BMP_STRING: u32 = 30;
}

fn decode_string(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let value = attr.attr_value();
    let data = value.data;
    match value.tag().0 {
        tag::UTF8_STRING
        | tag::NUMERIC_STRING
        | tag::PRINTABLE_STRING
        | tag::IA5_STRING
        | tag::VISIBLE_STRING => std::str::from_utf8(data).ok().map(str::to_owned),
        // T.61 is approximately Latin-1 in every certificate seen in practice.
        tag::TELETEX_STRING => Some(data.iter().map(|&b| char::from(b)).collect()),
        tag::BMP_STRING if data.len() % 2 == 0 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        tag::UNIVERSAL_STRING if data.len() % 4 == 0 => data
            .chunks_exact(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        _ => None,
    }
}

/// The DER encoding of an attribute value (for `#hex` output). Values in certificates use
/// low-numbered tags, so the one-byte identifier form suffices; others get a best effort.
fn attribute_der(attr: &AttributeTypeAndValue<'_>) -> Vec<u8> {
    let value = attr.attr_value();
    let data = value.data;
    let class = (value.class() as u8) << 6;
    let constructed = if value.header.is_constructed() {
        0x20
    } else {
        0
    };
    let number = value.tag().0;
    let mut out = Vec::with_capacity(data.len() + 6);
    out.push(class | constructed | u8::try_from(number).unwrap_or(0x1f).min(0x1f));
    let len = data.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(data);
    out
}

/// RFC 4514 §2.4 escaping.
fn escape_value(value: &str, out: &mut String) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_rfc_4514_specials() {
        let mut out = String::new();
        escape_value("#a, b+c \"d\" <e>;f\\ ", &mut out);
        assert_eq!(out, "\\#a\\, b\\+c \\\"d\\\" \\<e\\>\\;f\\\\\\ ");
    }

    #[test]
    fn identity_source_parses_its_own_spelling() {
        for source in [
            IdentitySource::CommonName,
            IdentitySource::SanDns,
            IdentitySource::SanUri,
            IdentitySource::SanEmail,
            IdentitySource::Dn,
            IdentitySource::FingerprintSha256,
        ] {
            assert_eq!(source.as_str().parse::<IdentitySource>(), Ok(source));
        }
        assert!("subject".parse::<IdentitySource>().is_err());
    }
}
