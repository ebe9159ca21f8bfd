//! Describing certificates in plain words: [`describe_pem`], [`CertSummary`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::error::PkiError;
use crate::identity::render_dn;
use crate::pem::{self, LineEndings};

/// Everything [`describe_pem`] found in one input: the certificates, in the order they appear,
/// and how the file is laid out.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Described {
    /// PEM text or a binary DER certificate.
    pub format: InputFormat,
    /// Line endings of the input. Anything but [`LineEndings::Lf`] deserves a warning: several
    /// modem firmwares reject CR bytes in a CA file.
    pub line_endings: LineEndings,
    /// The input starts with a UTF-8 byte-order mark (Windows Notepad adds one).
    pub has_bom: bool,
    /// Parts of the input that were skipped: text outside the blocks, blocks that are not
    /// certificates (e.g. a private key, which is never decoded), bytes after a DER certificate.
    pub ignored: Vec<Ignored>,
    /// The certificates, in input order (for a chain: leaf first, if the file is in the usual
    /// order).
    pub certificates: Vec<CertSummary>,
}

/// Whether the input was PEM or DER.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum InputFormat {
    /// Base64 text between `-----BEGIN CERTIFICATE-----` lines.
    Pem,
    /// A binary DER certificate (or several, concatenated).
    Der,
}

/// A part of the input [`describe_pem`] skipped.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Ignored {
    /// Non-blank lines outside any PEM block (e.g. `subject=` lines from `openssl x509 -text`).
    Text {
        /// 1-based first line of the run.
        first_line: usize,
        /// 1-based last line of the run.
        last_line: usize,
    },
    /// A PEM block that is not a certificate. Its contents were not decoded.
    Block {
        /// Its label, e.g. `PRIVATE KEY`.
        label: String,
        /// 1-based line of its BEGIN line.
        line: usize,
    },
    /// Bytes after the last DER certificate that are not a certificate.
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text {
                first_line,
                last_line,
            } if first_line == last_line => write!(f, "line {first_line} is not part of any PEM block"),
            Self::Text {
                first_line,
                last_line,
            } => write!(f, "lines {first_line}-{last_line} are not part of any PEM block"),
            Self::Block { label, line } if label.contains("PRIVATE KEY") => write!(
                f,
                "line {line}: a {label} block (not shown); a private key does not belong in a certificate file sent to devices"
            ),
            Self::Block { label, line } => write!(f, "line {line}: a {label} block, not a certificate"),
            Self::TrailingBytes { count } => {
                write!(f, "{count} bytes after the certificate are not a certificate")
            }
        }
    }
}

/// One certificate, described.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct CertSummary {
    /// The subject DN as an RFC 4514 string, e.g. `CN=localhost`.
    pub subject: String,
    /// The issuer DN as an RFC 4514 string.
    pub issuer: String,
    /// Subject alternative names, in certificate order.
    pub sans: Vec<San>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// Validity relative to the `now` the description was made for.
    pub validity: Validity,
    /// The subject's public key.
    pub key: KeyDescription,
    /// The issuer's signature algorithm in words, e.g. "ECDSA with SHA-256".
    pub signature_algorithm: String,
    /// SHA-256 over the DER, `AA:BB:…`.
    pub fingerprint_sha256: String,
    /// Serial number, `0A:1B:…`.
    pub serial: String,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// Subject and issuer are the same name (and key identifiers, if present, agree).
    pub self_signed: bool,
    /// Extended key usages, OpenSSL names (`serverAuth`, `clientAuth`, …) or dotted OIDs.
    pub eku: Vec<String>,
    /// The certificate itself.
    pub der: Vec<u8>,
    /// 1-based line of the BEGIN line, for PEM input.
    pub line: Option<usize>,
}

/// A subject alternative name.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum San {
    /// dNSName.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// uniformResourceIdentifier.
    Uri(String),
    /// rfc822Name (an e-mail address).
    Email(String),
    /// Any other kind, described.
    Other(String),
}

/// A certificate's validity at a given moment.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Validity {
    /// `now` is before notBefore.
    NotYetValid {
        /// Time until notBefore.
        starts_in: Duration,
    },
    /// `now` is within the validity period.
    Valid {
        /// Time until notAfter.
        expires_in: Duration,
    },
    /// `now` is after notAfter.
    Expired {
        /// Time since notAfter.
        ago: Duration,
    },
}

/// The subject public key.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum KeyDescription {
    /// An elliptic-curve key; `curve` is "P-256", "P-384", "P-521" or a dotted OID.
    Ecdsa {
        /// The named curve.
        curve: String,
    },
    /// An RSA key of `bits` modulus bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// Ed25519.
    Ed25519,
    /// Ed448.
    Ed448,
    /// Anything else, by algorithm OID.
    Other {
        /// The algorithm's dotted OID.
        algorithm: String,
    },
}

/// Describes every certificate in `input` (a PEM chain, or DER), with validity judged at `now`.
///
/// Accepts CRLF line endings, a byte-order mark, and text around the blocks, and reports each
/// in [`Described`]. Blocks that are not certificates (a private key) are skipped unread; if
/// there are no certificates at all the error names the first block's label and line but never
/// its contents.
pub fn describe_pem(input: &[u8], now: SystemTime) -> Result<Described, PkiError> {
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(PkiError::Empty);
    }
    if !pem::looks_like_pem(input) {
        return describe_der_input(input, now);
    }
    let parsed =
        pem::parse(input).map_err(|(line, problem)| PkiError::MalformedPem { line, problem })?;
    let mut ignored: Vec<Ignored> = parsed
        .stray
        .iter()
        .map(|run| Ignored::Text {
            first_line: run.first,
            last_line: run.last,
        })
        .collect();
    let mut certificates = Vec::new();
    let mut first_other = None;
    for block in &parsed.blocks {
        match &block.der {
            Some(der) => {
                let index = certificates.len() + 1;
                let mut summary =
                    describe_one(der, now).map_err(|reason| PkiError::BadCertificate {
                        index,
                        line: Some(block.line),
                        reason,
                    })?;
                summary.line = Some(block.line);
                certificates.push(summary);
            }
            None => {
                first_other.get_or_insert((block.label.clone(), block.line));
                ignored.push(Ignored::Block {
                    label: block.label.clone(),
                    line: block.line,
                });
            }
        }
    }
    if certificates.is_empty() {
        return Err(match first_other {
            Some((label, line)) => PkiError::NotACertificate { label, line },
            None => PkiError::NotPemOrDer,
        });
    }
    ignored.sort_by_key(|i| match i {
        Ignored::Text { first_line, .. } => *first_line,
        Ignored::Block { line, .. } => *line,
        Ignored::TrailingBytes { .. } => usize::MAX,
    });
    Ok(Described {
        format: InputFormat::Pem,
        line_endings: parsed.line_endings,
        has_bom: parsed.has_bom,
        ignored,
        certificates,
    })
}

/// Describes one DER certificate at `now`.
pub fn describe_der(der: &[u8], now: SystemTime) -> Result<CertSummary, PkiError> {
    describe_one(der, now).map_err(|reason| PkiError::BadCertificate {
        index: 1,
        line: None,
        reason,
    })
}

/// SHA-256 over `der`, as colon-separated upper-case hex (`AA:BB:…`), the form OpenSSL's
/// `x509 -fingerprint -sha256` prints.
pub fn fingerprint_sha256(der: &[u8]) -> String {
    colon_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

impl CertSummary {
    /// Whether `issuer` signed this certificate: its subject is our issuer and its key verifies
    /// our signature. `None` when the signature algorithm is one this crate cannot check.
    pub fn is_issued_by(&self, issuer: &CertSummary) -> Option<bool> {
        let (Ok((_, cert)), Ok((_, parent))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return Some(false);
        };
        if cert.issuer().as_raw() != parent.subject().as_raw() {
            return Some(false);
        }
        match cert.verify_signature(Some(parent.public_key())) {
            Ok(()) => Some(true),
            Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => None,
            Err(_) => Some(false),
        }
    }

    /// Whether this certificate can authenticate a TLS server: no EKU, or one that includes
    /// `serverAuth` or `anyExtendedKeyUsage`.
    pub fn allows_server_auth(&self) -> bool {
        self.eku.is_empty() || self.eku.iter().any(|e| e == "serverAuth" || e == "any")
    }
}

impl fmt::Display for CertSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subject {}; ", self.subject)?;
        if self.self_signed {
            f.write_str("self-signed; ")?;
        } else {
            write!(f, "issued by {}; ", self.issuer)?;
        }
        write!(
            f,
            "valid {} to {} ({}); {}; ",
            date(self.not_before),
            date(self.not_after),
            self.validity,
            self.key
        )?;
        if self.sans.is_empty() {
            f.write_str("no SANs; ")?;
        } else {
            f.write_str("SANs: ")?;
            for (i, san) in self.sans.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{san}")?;
            }
            f.write_str("; ")?;
        }
        if self.is_ca {
            f.write_str("CA certificate; ")?;
        }
        if !self.eku.is_empty() {
            write!(f, "for {}; ", self.eku.join(", "))?;
        }
        write!(f, "SHA-256 fingerprint {}", self.fingerprint_sha256)
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => write!(f, "DNS {name}"),
            Self::Ip(ip) => write!(f, "IP {ip}"),
            Self::Uri(uri) => write!(f, "URI {uri}"),
            Self::Email(email) => write!(f, "email {email}"),
            Self::Other(other) => write!(f, "other {other}"),
        }
    }
}

impl FromStr for San {
    type Err = PkiError;

    /// Parses `dns:NAME`, `ip:ADDR`, `uri:URI` or `email:ADDR` (prefix case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| PkiError::InvalidSan {
            value: s.to_owned(),
            reason,
        };
        let (kind, value) = s
            .split_once(':')
            .ok_or_else(|| invalid("expected dns:NAME, ip:ADDRESS, uri:URI or email:ADDRESS"))?;
        if value.is_empty() {
            return Err(invalid("the value after the prefix is empty"));
        }
        if !value.is_ascii() {
            return Err(invalid(
                "subject alternative names must be ASCII (IA5String)",
            ));
        }
        match kind.to_ascii_lowercase().as_str() {
            "dns" => Ok(Self::Dns(value.to_owned())),
            "ip" => value
                .parse()
                .map(Self::Ip)
                .map_err(|_| invalid("not an IPv4 or IPv6 address")),
            "uri" => {
                if value.contains(':') {
                    Ok(Self::Uri(value.to_owned()))
                } else {
                    Err(invalid("a URI needs a scheme, e.g. spiffe://acme/dev-1"))
                }
            }
            "email" => {
                if value.contains('@') {
                    Ok(Self::Email(value.to_owned()))
                } else {
                    Err(invalid("an e-mail address needs an @"))
                }
            }
            _ => Err(invalid(
                "expected dns:NAME, ip:ADDRESS, uri:URI or email:ADDRESS",
            )),
        }
    }
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotYetValid { starts_in } => {
                write!(f, "NOT YET VALID: starts in {}", human_duration(*starts_in))
            }
            Self::Valid { expires_in } => write!(f, "expires in {}", human_duration(*expires_in)),
            Self::Expired { ago } => write!(f, "EXPIRED {} ago", human_duration(*ago)),
        }
    }
}

impl fmt::Display for KeyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ecdsa { curve } => write!(f, "ECDSA {curve}"),
            Self::Rsa { bits } => write!(f, "RSA {bits}"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Ed448 => f.write_str("Ed448"),
            Self::Other { algorithm } => write!(f, "key algorithm {algorithm}"),
        }
    }
}

/// A duration in the largest unit that keeps it readable: "42 seconds", "5 minutes",
/// "30 hours", "824 days".
pub fn human_duration(d: Duration) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    let secs = d.as_secs();
    let (n, unit) = if secs < 2 * MINUTE {
        (secs, "second")
    } else if secs < 2 * HOUR {
        (secs / MINUTE, "minute")
    } else if secs < 2 * DAY {
        (secs / HOUR, "hour")
    } else {
        (secs / DAY, "day")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// `YYYY-MM-DD` in UTC.
pub(crate) fn date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn describe_der_input(input: &[u8], now: SystemTime) -> Result<Described, PkiError> {
    const SEQUENCE: u8 = 0x30;
    if input.first() != Some(&SEQUENCE) {
        return Err(PkiError::NotPemOrDer);
    }
    let mut rest = input;
    let mut certificates = Vec::new();
    let mut ignored = Vec::new();
    while !rest.is_empty() {
        match X509Certificate::from_der(rest) {
            Ok((after, _)) => {
                let len = rest.len() - after.len();
                let index = certificates.len() + 1;
                let summary =
                    describe_one(&rest[..len], now).map_err(|reason| PkiError::BadCertificate {
                        index,
                        line: None,
                        reason,
                    })?;
                certificates.push(summary);
                rest = after;
            }
            Err(e) if certificates.is_empty() => {
                return Err(PkiError::BadCertificate {
                    index: 1,
                    line: None,
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                ignored.push(Ignored::TrailingBytes { count: rest.len() });
                break;
            }
        }
    }
    Ok(Described {
        format: InputFormat::Der,
        line_endings: LineEndings::None,
        has_bom: false,
        ignored,
        certificates,
    })
}

fn describe_one(der: &[u8], now: SystemTime) -> Result<CertSummary, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the certificate",
            rest.len()
        ));
    }
    let not_before = cert.validity().not_before.to_datetime();
    let not_after = cert.validity().not_after.to_datetime();
    let now = OffsetDateTime::from(now);
    let validity = if now < not_before {
        Validity::NotYetValid {
            starts_in: (not_before - now).unsigned_abs(),
        }
    } else if now > not_after {
        Validity::Expired {
            ago: (now - not_after).unsigned_abs(),
        }
    } else {
        Validity::Valid {
            expires_in: (not_after - now).unsigned_abs(),
        }
    };

    let mut sans = Vec::new();
    let mut eku = Vec::new();
    let mut ski = None;
    let mut aki = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(names) => {
                sans.extend(names.general_names.iter().map(san_of));
            }
            ParsedExtension::ExtendedKeyUsage(usage) => {
                for (set, name) in [
                    (usage.any, "any"),
                    (usage.server_auth, "serverAuth"),
                    (usage.client_auth, "clientAuth"),
                    (usage.code_signing, "codeSigning"),
                    (usage.email_protection, "emailProtection"),
                    (usage.time_stamping, "timeStamping"),
                    (usage.ocsp_signing, "OCSPSigning"),
                ] {
                    if set {
                        eku.push(name.to_owned());
                    }
                }
                eku.extend(usage.other.iter().map(|oid| oid.to_id_string()));
            }
            ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0),
            ParsedExtension::AuthorityKeyIdentifier(id) => {
                aki = id.key_identifier.as_ref().map(|k| k.0)
            }
            _ => {}
        }
    }
    let same_name = cert.subject().as_raw() == cert.issuer().as_raw();
    let ids_agree = match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    };

    Ok(CertSummary {
        subject: render_dn(cert.subject()),
        issuer: render_dn(cert.issuer()),
        sans,
        not_before,
        not_after,
        validity,
        key: key_description(&cert),
        signature_algorithm: signature_algorithm(
            &cert.signature_algorithm.algorithm.to_id_string(),
        ),
        fingerprint_sha256: fingerprint_sha256(der),
        serial: colon_hex(cert.raw_serial()),
        is_ca: cert.is_ca(),
        self_signed: same_name && ids_agree,
        eku,
        der: der.to_vec(),
        line: None,
    })
}

fn san_of(name: &GeneralName<'_>) -> San {
    match name {
        GeneralName::DNSName(s) => San::Dns((*s).to_owned()),
        GeneralName::URI(s) => San::Uri((*s).to_owned()),
        GeneralName::RFC822Name(s) => San::Email((*s).to_owned()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => {
                let mut octets = [0u8; 4];
                octets.copy_from_slice(bytes);
                San::Ip(IpAddr::from(octets))
            }
            16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                San::Ip(IpAddr::from(octets))
            }
            n => San::Other(format!("IP address of {n} bytes")),
        },
        GeneralName::DirectoryName(dn) => San::Other(format!("directory name {}", render_dn(dn))),
        GeneralName::OtherName(oid, _) => San::Other(format!("otherName {}", oid.to_id_string())),
        GeneralName::RegisteredID(oid) => {
            San::Other(format!("registeredID {}", oid.to_id_string()))
        }
        GeneralName::X400Address(_) => San::Other("x400Address".to_owned()),
        GeneralName::EDIPartyName(_) => San::Other("ediPartyName".to_owned()),
    }
}

fn key_description(cert: &X509Certificate<'_>) -> KeyDescription {
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match algorithm.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            let curve = match curve.as_str() {
                "1.2.840.10045.3.1.7" => "P-256".to_owned(),
                "1.3.132.0.34" => "P-384".to_owned(),
                "1.3.132.0.35" => "P-521".to_owned(),
                "" => "(unnamed curve)".to_owned(),
                other => format!("curve {other}"),
            };
            KeyDescription::Ecdsa { curve }
        }
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => KeyDescription::Rsa {
                bits: bit_length(rsa.modulus),
            },
            _ => KeyDescription::Other { algorithm },
        },
        "1.3.101.112" => KeyDescription::Ed25519,
        "1.3.101.113" => KeyDescription::Ed448,
        _ => KeyDescription::Other { algorithm },
    }
}

fn bit_length(big_endian: &[u8]) -> usize {
    let trimmed: &[u8] = {
        let zeros = big_endian.iter().take_while(|&&b| b == 0).count();
        &big_endian[zeros..]
    };
    match trimmed.first() {
        None => 0,
        Some(&top) => trimmed.len() * 8 - top.leading_zeros() as usize,
    }
}

fn signature_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.10045.4.3.2" => "ECDSA with SHA-256",
        "1.2.840.10045.4.3.3" => "ECDSA with SHA-384",
        "1.2.840.10045.4.3.4" => "ECDSA with SHA-512",
        "1.2.840.10045.4.1" => "ECDSA with SHA-1 (weak)",
        "1.2.840.113549.1.1.11" => "RSA with SHA-256",
        "1.2.840.113549.1.1.12" => "RSA with SHA-384",
        "1.2.840.113549.1.1.13" => "RSA with SHA-512",
        "1.2.840.113549.1.1.5" => "RSA with SHA-1 (weak)",
        "1.2.840.113549.1.1.4" => "RSA with MD5 (broken)",
        "1.2.840.113549.1.1.10" => "RSA-PSS",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return format!("algorithm {other}"),
    }
    .to_owned()
}

fn colon_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02X}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(90)), "90 seconds");
        assert_eq!(human_duration(Duration::from_secs(3 * 60)), "3 minutes");
        assert_eq!(human_duration(Duration::from_secs(30 * 3600)), "30 hours");
        assert_eq!(
            human_duration(Duration::from_secs(824 * 86400 + 5)),
            "824 days"
        );
    }

    #[test]
    fn rsa_bit_length_ignores_sign_byte() {
        let mut modulus = vec![0x00, 0xC0];
        modulus.extend_from_slice(&[0xFF; 255]);
        assert_eq!(bit_length(&modulus), 2048);
        assert_eq!(bit_length(&[0x01, 0x00]), 9);
    }

    #[test]
    fn san_parsing() {
        assert_eq!(
            "uri:spiffe://acme/dev-1".parse::<San>().unwrap(),
            San::Uri("spiffe://acme/dev-1".into())
        );
        assert_eq!(
            "EMAIL:a@b.example".parse::<San>().unwrap(),
            San::Email("a@b.example".into())
        );
        assert_eq!(
            "ip:::1".parse::<San>().unwrap(),
            San::Ip("::1".parse().unwrap())
        );
        assert!("dev-1".parse::<San>().is_err());
        assert!("uri:nocolon".parse::<San>().is_err());
    }
}
