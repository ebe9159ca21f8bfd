//! The development PKI: a local CA, a server certificate and a client certificate, created on
//! first run so that TLS and mTLS work before anyone has thought about certificates.

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    Ia5String, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::describe::{describe_der, describe_pem, fingerprint_sha256, San, Validity};
use crate::error::PkiError;
use crate::pem::{self, LineEndings};

/// Lifetime of the development CA.
pub const CA_VALIDITY_DAYS: i64 = 3652;
/// Lifetime of leaf certificates: 825 days, the longest that Apple platforms accept for a TLS
/// server certificate.
pub const LEAF_VALIDITY_DAYS: i64 = 825;
/// [`DevPki::ensure`] re-issues the server and client certificates when they expire within this
/// many days (the CA is never replaced automatically, since devices have it installed).
pub const RENEW_WITHIN_DAYS: u64 = 30;
/// Common name of the client certificate [`DevPki::ensure`] creates.
pub const DEV_CLIENT_CN: &str = "lantern-client-1";
/// Leaf certificates are back-dated by this much so that a peer whose clock is slightly behind
/// still accepts them.
const BACKDATE: time::Duration = time::Duration::hours(1);

/// The key algorithm of an issued certificate.
///
/// RSA is not offered: rcgen with the `ring` backend cannot generate RSA keys
/// (`Error::KeyGenerationUnavailable`), and the aws-lc-rs backend needs cmake and clang. For a
/// device that only speaks RSA, generate the key with `openssl genrsa` instead.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256: small, fast, and supported by every modem TLS stack
    /// Lantern targets.
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EcdsaP384,
}

impl KeyType {
    fn algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Self::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Self::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

impl FromStr for KeyType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ecdsa-p256" | "p256" | "p-256" | "ecdsa" => Ok(Self::EcdsaP256),
            "ecdsa-p384" | "p384" | "p-384" => Ok(Self::EcdsaP384),
            "rsa" | "rsa2048" | "rsa-2048" => Err(
                "RSA keys cannot be generated here (the ring backend has no RSA key generation); use ecdsa-p256 or ecdsa-p384"
                    .to_owned(),
            ),
            other => Err(format!(
                "unknown key type {other:?}; expected ecdsa-p256 or ecdsa-p384"
            )),
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::EcdsaP384 => "ecdsa-p384",
        })
    }
}

/// Where the development PKI keeps its files (all in `<data dir>/pki/`).
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct DevPkiPaths {
    /// The `pki` directory.
    pub dir: PathBuf,
    /// `ca.pem`: the CA certificate, to install on devices.
    pub ca_cert: PathBuf,
    /// `ca.key`: the CA private key (mode 0600).
    pub ca_key: PathBuf,
    /// `server.pem`: server certificate followed by the CA (full chain).
    pub server_cert: PathBuf,
    /// `server.key`: server private key (mode 0600).
    pub server_key: PathBuf,
    /// `client.pem`: client certificate followed by the CA.
    pub client_cert: PathBuf,
    /// `client.key`: client private key (mode 0600).
    pub client_key: PathBuf,
}

impl DevPkiPaths {
    /// The paths under `<data_dir>/pki`.
    pub fn new(data_dir: &Path) -> Self {
        let dir = data_dir.join("pki");
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            dir,
        }
    }
}

/// The development PKI, loaded or freshly created by [`DevPki::ensure`].
#[non_exhaustive]
pub struct DevPki {
    /// The file locations.
    pub paths: DevPkiPaths,
    /// Whether this call created the CA (first run).
    pub created: bool,
    /// Leaf certificate files this call (re-)issued from an existing CA because they were
    /// missing, not issued by this CA, or about to expire.
    pub renewed: Vec<PathBuf>,
    ca_file: Vec<u8>,
    ca_der: Vec<u8>,
    signer: Signer,
}

/// A certificate written by [`DevPki::issue_server`] or [`DevPki::issue_client`].
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Issued {
    /// `<name>.pem`: the certificate followed by the CA.
    pub cert_path: PathBuf,
    /// `<name>.key`: the private key, mode 0600.
    pub key_path: PathBuf,
    /// The new certificate in DER.
    pub der: Vec<u8>,
}

/// The CA key and an issuer handle for rcgen. Never printed.
struct Signer {
    key: KeyPair,
    issuer: rcgen::Certificate,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl fmt::Debug for DevPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevPki")
            .field("paths", &self.paths)
            .field("created", &self.created)
            .field("renewed", &self.renewed)
            .field("ca_fingerprint", &self.ca_fingerprint())
            .field("signer", &self.signer)
            .finish()
    }
}

impl DevPki {
    /// Loads the development PKI from `data_dir/pki/`, creating whatever is missing.
    ///
    /// - No CA: creates the CA, `server.pem` and `client.pem` (`created = true`).
    /// - A CA: loads it; re-issues `server.*` / `client.*` if missing, not signed by this CA, or
    ///   expiring within [`RENEW_WITHIN_DAYS`] (listed in `renewed`).
    /// - Only one of `ca.pem` / `ca.key`: refuses ([`PkiError::IncompleteCa`]) rather than
    ///   replace a CA that devices may already trust.
    pub fn ensure(data_dir: &Path) -> Result<DevPki, PkiError> {
        Self::ensure_at(data_dir, SystemTime::now())
    }

    /// [`DevPki::ensure`] with the clock passed in (used for renewal decisions and validity).
    pub fn ensure_at(data_dir: &Path, now: SystemTime) -> Result<DevPki, PkiError> {
        let paths = DevPkiPaths::new(data_dir);
        let host = host_name();
        let mut pki = match (paths.ca_cert.exists(), paths.ca_key.exists()) {
            (true, true) => Self::load_ca(paths)?,
            (false, false) => Self::create_ca(paths, host.as_deref(), now)?,
            (true, false) => {
                return Err(PkiError::IncompleteCa {
                    dir: paths.dir,
                    missing: "ca.key",
                    present: "ca.pem",
                })
            }
            (false, true) => {
                return Err(PkiError::IncompleteCa {
                    dir: paths.dir,
                    missing: "ca.pem",
                    present: "ca.key",
                })
            }
        };

        let mut server_names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if let Some(host) = host {
            if !server_names.contains(&host) {
                server_names.push(host);
            }
        }
        let server_sans = server_sans(&server_names)?;
        let (server_cert, server_key) =
            (pki.paths.server_cert.clone(), pki.paths.server_key.clone());
        if pki.created || pki.needs_issue(&server_cert, &server_key, now) {
            let key = new_key(KeyType::EcdsaP256)?;
            let params = leaf_params(
                "localhost",
                server_sans,
                ExtendedKeyUsagePurpose::ServerAuth,
                now,
                &key,
            );
            pki.write_leaf(
                params,
                key,
                &server_cert,
                &server_key,
                "the server certificate",
            )?;
            if !pki.created {
                pki.renewed.push(server_cert);
            }
        }
        let (client_cert, client_key) =
            (pki.paths.client_cert.clone(), pki.paths.client_key.clone());
        if pki.created || pki.needs_issue(&client_cert, &client_key, now) {
            let key = new_key(KeyType::EcdsaP256)?;
            let params = leaf_params(
                DEV_CLIENT_CN,
                Vec::new(),
                ExtendedKeyUsagePurpose::ClientAuth,
                now,
                &key,
            );
            pki.write_leaf(
                params,
                key,
                &client_cert,
                &client_key,
                "the client certificate",
            )?;
            if !pki.created {
                pki.renewed.push(client_cert);
            }
        }
        Ok(pki)
    }

    /// Issues a server certificate for `names` (DNS names and IP addresses, told apart
    /// automatically; `*.example.com` wildcards allowed) and writes `<first name>.pem` (the
    /// certificate followed by the CA) and `<first name>.key` (mode 0600) into `out_dir`.
    /// The first name is also the subject CN.
    pub fn issue_server(
        &self,
        names: &[String],
        key_type: KeyType,
        out_dir: &Path,
    ) -> Result<Issued, PkiError> {
        let first = names.first().ok_or(PkiError::InvalidName {
            name: String::new(),
            reason: "at least one name is needed",
        })?;
        let sans = server_sans(names)?;
        let key = new_key(key_type)?;
        let params = leaf_params(
            first,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            SystemTime::now(),
            &key,
        );
        self.issue_into(params, key, out_dir, first, "the server certificate")
    }

    /// Issues a client certificate with common name `cn` and the extra subject alternative
    /// names `sans` (DNS, IP, URI, e-mail; see [`San`]'s `FromStr`), and writes `<cn>.pem` and
    /// `<cn>.key` (mode 0600) into `out_dir`.
    pub fn issue_client(
        &self,
        cn: &str,
        sans: &[San],
        key_type: KeyType,
        out_dir: &Path,
    ) -> Result<Issued, PkiError> {
        if cn.trim().is_empty() || cn.chars().any(char::is_control) || cn.len() > 64 {
            return Err(PkiError::InvalidCommonName {
                cn: cn.to_owned(),
                reason: "it must be 1 to 64 characters without control characters",
            });
        }
        let sans = sans
            .iter()
            .map(to_rcgen_san)
            .collect::<Result<Vec<_>, _>>()?;
        let key = new_key(key_type)?;
        let params = leaf_params(
            cn,
            sans,
            ExtendedKeyUsagePurpose::ClientAuth,
            SystemTime::now(),
            &key,
        );
        self.issue_into(params, key, out_dir, cn, "the client certificate")
    }

    /// Ready-to-paste commands for a first TLS connection to a broker on `port` using this PKI,
    /// and the CA in PEM with its exact byte length for modems that need it.
    pub fn first_run_instructions(&self, port: u16) -> String {
        let ca = shell_quote(&self.paths.ca_cert);
        let cert = shell_quote(&self.paths.client_cert);
        let key = shell_quote(&self.paths.client_key);
        let ca_text = String::from_utf8_lossy(&self.ca_file);
        let mut out = String::new();
        out.push_str(&format!(
            "Development CA: {} (SHA-256 {})\n\n",
            self.paths.ca_cert.display(),
            self.ca_fingerprint()
        ));
        out.push_str("Subscribe to everything over TLS, trusting the development CA:\n");
        out.push_str(&format!(
            "  mosquitto_sub -h localhost -p {port} --cafile {ca} -t '#' -v\n\n"
        ));
        out.push_str("The same with a client certificate (mutual TLS):\n");
        out.push_str(&format!(
            "  mosquitto_sub -h localhost -p {port} --cafile {ca} --cert {cert} --key {key} -t '#' -v\n\n"
        ));
        out.push_str(&format!("{}\n", self.ca_length_note()));
        out.push_str(&ca_text);
        if !ca_text.ends_with('\n') {
            out.push('\n');
        }
        out
    }

    /// "ca.pem is 623 bytes, LF line endings — the length AT+CCERTDOWN="ca.pem",623 needs on a
    /// SIMCom modem".
    pub fn ca_length_note(&self) -> String {
        let len = self.ca_file.len();
        let endings = match describe_pem(&self.ca_file, SystemTime::now()) {
            Ok(d) => d.line_endings,
            Err(_) => LineEndings::None,
        };
        format!("ca.pem is {len} bytes, {endings} — the length AT+CCERTDOWN=\"ca.pem\",{len} needs on a SIMCom modem")
    }

    /// The CA certificate file exactly as on disk (PEM).
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_file
    }

    /// The CA certificate in DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// SHA-256 fingerprint of the CA certificate.
    pub fn ca_fingerprint(&self) -> String {
        fingerprint_sha256(&self.ca_der)
    }

    fn create_ca(
        paths: DevPkiPaths,
        host: Option<&str>,
        now: SystemTime,
    ) -> Result<Self, PkiError> {
        fs::create_dir_all(&paths.dir).map_err(PkiError::io("creating directory", &paths.dir))?;
        let key = new_key(KeyType::EcdsaP256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        let cn = match host {
            Some(host) => format!("Lantern Development CA {host}"),
            None => "Lantern Development CA".to_owned(),
        };
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let start = OffsetDateTime::from(now) - BACKDATE;
        params.not_before = start;
        params.not_after = start + time::Duration::days(CA_VALIDITY_DAYS);
        params.serial_number = Some(serial_for(&key, now));
        let cert = params
            .self_signed(&key)
            .map_err(PkiError::generate("the CA certificate"))?;
        let ca_der = cert.der().to_vec();
        let ca_file = pem::encode("CERTIFICATE", &ca_der).into_bytes();
        write_file(&paths.ca_key, key_pem(&key).as_bytes(), true)?;
        write_file(&paths.ca_cert, &ca_file, false)?;
        Ok(Self {
            paths,
            created: true,
            renewed: Vec::new(),
            ca_file,
            ca_der,
            signer: Signer { key, issuer: cert },
        })
    }

    fn load_ca(paths: DevPkiPaths) -> Result<Self, PkiError> {
        let ca_file = fs::read(&paths.ca_cert).map_err(PkiError::io("reading", &paths.ca_cert))?;
        let described = describe_pem(&ca_file, SystemTime::now())?;
        let ca_der = described
            .certificates
            .into_iter()
            .next()
            .map(|c| c.der)
            .ok_or(PkiError::NotPemOrDer)?;
        let key_text =
            fs::read_to_string(&paths.ca_key).map_err(PkiError::io("reading", &paths.ca_key))?;
        let key = KeyPair::from_pem(&key_text).map_err(|e| PkiError::BadKey {
            path: paths.ca_key.clone(),
            reason: e.to_string(),
        })?;
        let parsed = crate::identity::parse_der(&ca_der)?;
        if parsed.public_key().raw != key.public_key_der().as_slice() {
            return Err(PkiError::KeyMismatch {
                cert: paths.ca_cert,
                key: paths.ca_key,
            });
        }
        // rcgen 0.13 signs "by a Certificate": rebuild one from the CA's subject and key
        // identifier (kept pre-specified, so issued AKIs match ca.pem's SKI).
        let params = CertificateParams::from_ca_cert_der(&ca_der.as_slice().into())
            .map_err(PkiError::generate("the CA issuer from ca.pem"))?;
        let issuer = params
            .self_signed(&key)
            .map_err(PkiError::generate("the CA issuer from ca.pem"))?;
        Ok(Self {
            paths,
            created: false,
            renewed: Vec::new(),
            ca_file,
            ca_der,
            signer: Signer { key, issuer },
        })
    }

    /// Whether a leaf must be (re-)issued: a file is missing, the certificate does not parse,
    /// was not issued by this CA, or expires within [`RENEW_WITHIN_DAYS`].
    fn needs_issue(&self, cert: &Path, key: &Path, now: SystemTime) -> bool {
        if !key.exists() {
            return true;
        }
        let Ok(bytes) = fs::read(cert) else {
            return true;
        };
        let Ok(described) = describe_pem(&bytes, now) else {
            return true;
        };
        let Ok(ca) = describe_der(&self.ca_der, now) else {
            return true;
        };
        let Some(leaf) = described.certificates.first() else {
            return true;
        };
        let soon = std::time::Duration::from_secs(RENEW_WITHIN_DAYS * 86_400);
        let fresh = matches!(leaf.validity, Validity::Valid { expires_in } if expires_in > soon);
        !(fresh && leaf.is_issued_by(&ca) != Some(false))
    }

    fn issue_into(
        &self,
        params: CertificateParams,
        key: KeyPair,
        out_dir: &Path,
        name: &str,
        what: &'static str,
    ) -> Result<Issued, PkiError> {
        fs::create_dir_all(out_dir).map_err(PkiError::io("creating directory", out_dir))?;
        let stem = file_stem(name);
        let cert_path = out_dir.join(format!("{stem}.pem"));
        let key_path = out_dir.join(format!("{stem}.key"));
        let der = self.write_leaf(params, key, &cert_path, &key_path, what)?;
        Ok(Issued {
            cert_path,
            key_path,
            der,
        })
    }

    /// Signs `params`, writes the key (0600) and then the chain (leaf, CA). Returns the leaf DER.
    fn write_leaf(
        &self,
        params: CertificateParams,
        key: KeyPair,
        cert_path: &Path,
        key_path: &Path,
        what: &'static str,
    ) -> Result<Vec<u8>, PkiError> {
        let cert = params
            .signed_by(&key, &self.signer.issuer, &self.signer.key)
            .map_err(PkiError::generate(what))?;
        let der = cert.der().to_vec();
        let mut chain = pem::encode("CERTIFICATE", &der);
        chain.push_str(&pem::encode("CERTIFICATE", &self.ca_der));
        write_file(key_path, key_pem(&key).as_bytes(), true)?;
        write_file(cert_path, chain.as_bytes(), false)?;
        Ok(der)
    }
}

fn new_key(key_type: KeyType) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(key_type.algorithm()).map_err(PkiError::generate("a private key"))
}

/// The key as PKCS#8 PEM with LF line endings (rcgen would use CRLF on Windows).
fn key_pem(key: &KeyPair) -> String {
    pem::encode("PRIVATE KEY", key.serialized_der())
}

fn leaf_params(
    cn: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    now: SystemTime,
    key: &KeyPair,
) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let start = OffsetDateTime::from(now) - BACKDATE;
    params.not_before = start;
    params.not_after = start + time::Duration::days(LEAF_VALIDITY_DAYS);
    params.serial_number = Some(serial_for(key, now));
    params
}

/// A positive 128-bit serial, unique per key (SHA-256 of the public key and the time).
fn serial_for(key: &KeyPair, now: SystemTime) -> SerialNumber {
    let mut input = key.public_key_der();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    input.extend_from_slice(&nanos.to_be_bytes());
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&digest.as_ref()[..16]);
    serial[0] &= 0x7f; // positive INTEGER
    serial[0] |= 0x01; // and no leading zero byte to strip
    SerialNumber::from_slice(&serial)
}

fn server_sans(names: &[String]) -> Result<Vec<SanType>, PkiError> {
    let mut sans = Vec::with_capacity(names.len());
    for name in names {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => {
                validate_dns_name(name)?;
                SanType::DnsName(ia5(name, "a DNS name must be ASCII")?)
            }
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    Ok(sans)
}

fn to_rcgen_san(san: &San) -> Result<SanType, PkiError> {
    Ok(match san {
        San::Dns(name) => {
            validate_dns_name(name)?;
            SanType::DnsName(ia5(name, "a DNS name must be ASCII")?)
        }
        San::Ip(ip) => SanType::IpAddress(*ip),
        San::Uri(uri) => SanType::URI(ia5(uri, "a URI must be ASCII")?),
        San::Email(email) => SanType::Rfc822Name(ia5(email, "an e-mail address must be ASCII")?),
        San::Other(other) => {
            return Err(PkiError::InvalidSan {
                value: other.clone(),
                reason: "only dns:, ip:, uri: and email: names can be issued",
            })
        }
    })
}

fn ia5(value: &str, reason: &'static str) -> Result<Ia5String, PkiError> {
    Ia5String::try_from(value).map_err(|_| PkiError::InvalidSan {
        value: value.to_owned(),
        reason,
    })
}

fn validate_dns_name(name: &str) -> Result<(), PkiError> {
    let invalid = |reason| PkiError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > 253 {
        return Err(invalid("a DNS name is 1 to 253 characters long"));
    }
    let body = name.strip_prefix("*.").unwrap_or(name);
    for label in body.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid(
                "each label is 1 to 63 characters (no empty labels, e.g. \"a..b\")",
            ));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                "labels may contain only letters, digits, '-' and '_' (and a leading \"*.\")",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label may not start or end with '-'"));
        }
    }
    Ok(())
}

/// The machine's host name, if it can be read and is usable as a DNS name.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty() && validate_dns_name(s).is_ok() && !s.starts_with("*."))
}

/// A file name made from a certificate name: letters, digits, `.`, `-`, `_` kept, the rest `_`.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.');
    if stem.is_empty() {
        "cert".to_owned()
    } else {
        stem.to_owned()
    }
}

/// Writes `contents` to `path` via a temporary file and a rename. Secrets are created with mode
/// 0600 from the start, so the key is never readable by others, not even briefly.
fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), PkiError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    // A stale temporary file would keep its old mode; start afresh.
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).map_err(PkiError::io("creating", &tmp))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(PkiError::io("writing", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(PkiError::io("renaming into place", path))
}

/// Quotes a path for a POSIX shell when it needs it.
fn shell_quote(path: &Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | ':' | '+' | ',' | '@')
        })
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        for ok in [
            "localhost",
            "broker.example.com",
            "*.example.com",
            "a_b.local",
            "x.example.",
        ] {
            assert!(validate_dns_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            "-a.example",
            "has space",
            "a.*.example",
            "ünicode.example",
        ] {
            assert!(validate_dns_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_stems_are_safe() {
        assert_eq!(file_stem("broker.example.com"), "broker.example.com");
        assert_eq!(file_stem("::1"), "__1");
        assert_eq!(file_stem("../etc/passwd"), "_etc_passwd");
        assert_eq!(file_stem("*.example.com"), "_.example.com");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote(Path::new("/a/b.pem")), "/a/b.pem");
        assert_eq!(
            shell_quote(Path::new("/my dir/it's.pem")),
            r"'/my dir/it'\''s.pem'"
        );
    }

    #[test]
    fn key_type_parsing_explains_rsa() {
        assert_eq!("ecdsa-p256".parse::<KeyType>(), Ok(KeyType::EcdsaP256));
        assert!("rsa".parse::<KeyType>().unwrap_err().contains("ring"));
    }
}
