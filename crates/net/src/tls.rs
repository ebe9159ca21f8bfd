//! TLS with rustls: per-tenant server configurations, SNI routing, mTLS verification, and the
//! ClientHello captured before any configuration is chosen.
//!
//! The ClientHello is read with `rustls::server::Acceptor` driven by hand, so that the raw bytes
//! are kept for diagnostics and the socket stays ours: a ClientHello without SNI on a listener
//! that requires it, or naming a host no tenant serves, is answered with a TLS
//! `unrecognized_name` alert (RFC 6066 §3) — what multi-tenant clouds do — before closing.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{Acceptor, ClientHello, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

/// How a listener uses the SNI name of the ClientHello.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum SniMode {
    /// One tenant (the listener's default); SNI is recorded but not used.
    #[default]
    Off,
    /// Route by SNI; no SNI (or an unknown name) goes to the default tenant.
    Optional,
    /// Route by SNI; no SNI, or a name no tenant serves, is refused with `unrecognized_name`.
    Required,
}

/// Client certificates on a listener.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum MtlsMode {
    /// Not requested.
    #[default]
    None,
    /// Requested and verified when sent; clients without one may still connect.
    Optional,
    /// Required and verified.
    Required,
}

/// The lowest TLS version a listener accepts.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum MinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A host name pattern of a tenant: exact, or `*.example.com` (one label).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct HostPattern(String);

impl HostPattern {
    /// A pattern, lower-cased.
    pub fn new(pattern: &str) -> Self {
        Self(pattern.trim_end_matches('.').to_ascii_lowercase())
    }

    /// Whether `host` matches: exactly, or for `*.x` any single label followed by `.x`.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.0.strip_prefix("*.") {
            Some(suffix) => host
                .split_once('.')
                .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
            None => host == self.0,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a tenant's TLS material lives.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct TenantTlsFiles {
    /// Tenant name.
    pub name: Arc<str>,
    /// Host names the tenant serves (for SNI routing).
    pub hosts: Vec<HostPattern>,
    /// Certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Private key (PEM; PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA certificates trusted for client certificates (PEM), for mTLS.
    pub client_ca: Option<PathBuf>,
    /// A certificate revocation list (PEM) for client certificates.
    pub crl: Option<PathBuf>,
}

/// A listener's TLS policy.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TlsPolicy {
    /// Lowest version accepted.
    pub min_version: MinVersion,
    /// Cipher suites by IANA name (`TLS_AES_128_GCM_SHA256`,
    /// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, …); `None` for rustls's defaults.
    pub cipher_suites: Option<Vec<String>>,
    /// SNI routing.
    pub sni: SniMode,
    /// Client certificates.
    pub mtls: MtlsMode,
    /// The tenant used without SNI routing (and as fallback with `Optional`).
    pub default_tenant: Arc<str>,
    /// `Some` for the OpenSSL backend (`tls_backend = "legacy"`), with its versions;
    /// `cipher_suites` then names the suites OpenSSL offers. `None`: rustls.
    pub legacy: Option<crate::legacy::LegacyPolicy>,
}

/// Why TLS could not be configured; names the file or setting.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read or parsed.
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A cipher suite name rustls does not implement.
    UnknownSuite {
        /// The name given.
        name: String,
        /// The names available.
        available: Vec<String>,
    },
    /// rustls refused the combination (key does not match the certificate, no suite for the
    /// versions, …).
    Rustls {
        /// The tenant.
        tenant: Arc<str>,
        /// rustls's message.
        detail: String,
    },
    /// A listener names a default tenant that does not exist.
    UnknownTenant(Arc<str>),
    /// mTLS is on but the tenant has no client CA.
    NoClientCa(Arc<str>),
}

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem { path, detail } => write!(f, "{}: {detail}", path.display()),
            Self::UnknownSuite { name, available } => write!(
                f,
                "cipher suite {name:?} is not available; this build offers {}",
                available.join(", ")
            ),
            Self::Rustls { tenant, detail } => write!(f, "tenant {tenant:?}: {detail}"),
            Self::UnknownTenant(t) => write!(f, "no tenant named {t:?}"),
            Self::NoClientCa(t) => write!(
                f,
                "tenant {t:?}: client certificates are requested but no client_ca is configured"
            ),
        }
    }
}

impl std::error::Error for TlsConfigError {}

/// What the ClientHello offered, kept with the connection.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct HelloInfo {
    /// SNI host name, if sent.
    pub sni: Option<String>,
    /// ALPN protocols offered.
    pub alpn: Vec<String>,
    /// Cipher suites offered, by IANA name (or `0xNNNN`).
    pub cipher_suites: Vec<String>,
    /// Signature schemes offered.
    pub signature_schemes: Vec<String>,
}

impl HelloInfo {
    fn from_hello(hello: &ClientHello<'_>) -> Self {
        Self {
            sni: hello.server_name().map(str::to_owned),
            alpn: hello
                .alpn()
                .map(|it| {
                    it.map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect()
                })
                .unwrap_or_default(),
            cipher_suites: hello
                .cipher_suites()
                .iter()
                .map(|s| suite_name(*s))
                .collect(),
            signature_schemes: hello
                .signature_schemes()
                .iter()
                .map(|s| format!("{s:?}"))
                .collect(),
        }
    }
}

impl HelloInfo {
    /// The story's view of the hello. Versions, extensions and the fingerprint come from the
    /// raw bytes when the diagnostics parser can read them.
    pub fn summary(&self) -> lantern_diag::HelloSummary {
        lantern_diag::HelloSummary {
            sni: self.sni.clone(),
            versions: Vec::new(),
            cipher_suites: self.cipher_suites.clone(),
            alpn: self.alpn.clone(),
            signature_schemes: self.signature_schemes.clone(),
            extensions: Vec::new(),
            fingerprint: String::new(),
            sni_ip: None,
            device: None,
        }
    }
}

/// The IANA name of a cipher suite (rustls writes TLS 1.3 suites as `TLS13_…`).
pub fn suite_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_owned(),
        },
        None => format!("0x{:04X}", u16::from(suite)),
    }
}

/// Why a ClientHello was refused before the handshake.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum SniRefusal {
    /// No SNI on a listener that requires it.
    Missing,
    /// A name that no tenant serves.
    Unknown {
        /// The name sent.
        name: String,
        /// The names served, for the explanation.
        served: Vec<String>,
    },
}

impl fmt::Display for SniRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str(
                "the ClientHello carried no SNI and this listener routes tenants by SNI; the device must send the broker's host name (server_name)",
            ),
            Self::Unknown { name, served } => write!(
                f,
                "the ClientHello asked for {name:?}, which no tenant serves (served: {})",
                served.join(", ")
            ),
        }
    }
}

/// Facts about a tenant's server certificate chain.
#[derive(Clone, Debug, Default)]
pub struct CertFacts {
    /// Subject of the last certificate of the chain (the root, or the issuer the device must
    /// trust when the root is not sent).
    pub root: String,
    /// Issuer of that last certificate (differs from `root` when the root is not sent).
    pub root_issuer: String,
    /// Validity of the leaf, "not_before .. not_after".
    pub validity: String,
    /// Whether the leaf is valid right now (if so, an "expired" alert means the device's clock
    /// is wrong).
    pub valid_now: bool,
    /// Key type of the leaf, e.g. "ECDSA P-256".
    pub key: String,
}

fn cert_facts(chain: &[CertificateDer<'static>]) -> CertFacts {
    let now = std::time::SystemTime::now();
    let leaf = chain
        .first()
        .and_then(|c| lantern_pki::describe_der(c.as_ref(), now).ok());
    let last = chain
        .last()
        .and_then(|c| lantern_pki::describe_der(c.as_ref(), now).ok());
    CertFacts {
        root: last.as_ref().map(|c| c.subject.clone()).unwrap_or_default(),
        root_issuer: last.as_ref().map(|c| c.issuer.clone()).unwrap_or_default(),
        validity: leaf
            .as_ref()
            .map(|c| format!("{} .. {}", c.not_before.date(), c.not_after.date()))
            .unwrap_or_default(),
        valid_now: leaf
            .as_ref()
            .is_some_and(|c| matches!(c.validity, lantern_pki::Validity::Valid { .. })),
        key: leaf.as_ref().map(|c| c.key.to_string()).unwrap_or_default(),
    }
}

/// The TLS side of one listener, rebuilt on certificate reload.
pub struct TlsSetup {
    configs: HashMap<Arc<str>, Arc<ServerConfig>>,
    /// Per tenant: what the device must trust, for explanations.
    cert_facts: HashMap<Arc<str>, CertFacts>,
    /// Per tenant: subjects of the CAs trusted for client certificates.
    trusted_client_cas: HashMap<Arc<str>, Vec<String>>,
    /// Suites this listener accepts, by IANA name.
    accepted_suites: Vec<String>,
    /// Versions this listener accepts.
    accepted_versions: Vec<String>,
    hosts: Vec<(HostPattern, Arc<str>)>,
    /// Per tenant: the OpenSSL acceptor, on a legacy listener (`configs` is then empty).
    legacy: Option<crate::legacy::LegacyAcceptors>,
    sni: SniMode,
    default_tenant: Arc<str>,
    mtls: MtlsMode,
}

impl TlsSetup {
    /// Loads every tenant's files and builds one rustls configuration per tenant.
    pub fn build(policy: &TlsPolicy, tenants: &[TenantTlsFiles]) -> Result<Self, TlsConfigError> {
        if !tenants.iter().any(|t| t.name == policy.default_tenant) {
            return Err(TlsConfigError::UnknownTenant(policy.default_tenant.clone()));
        }
        if let Some(legacy) = &policy.legacy {
            return Self::build_legacy(policy, legacy, tenants);
        }
        let provider = Arc::new(provider(policy)?);
        let versions: &[&'static SupportedProtocolVersion] = match policy.min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut configs = HashMap::new();
        let mut hosts = Vec::new();
        let mut facts = HashMap::new();
        let mut trusted = HashMap::new();
        for tenant in tenants {
            let chain = load_certs(&tenant.cert)?;
            facts.insert(tenant.name.clone(), cert_facts(&chain));
            let key =
                PrivateKeyDer::from_pem_file(&tenant.key).map_err(|e| TlsConfigError::Pem {
                    path: tenant.key.clone(),
                    detail: format!("no usable private key ({e})"),
                })?;
            let rustls_err = |e: rustls::Error| TlsConfigError::Rustls {
                tenant: tenant.name.clone(),
                detail: e.to_string(),
            };
            let builder = ServerConfig::builder_with_provider(provider.clone())
                .with_protocol_versions(versions)
                .map_err(rustls_err)?;
            let builder = if policy.mtls == MtlsMode::None {
                builder.with_no_client_auth()
            } else {
                let ca_path = tenant
                    .client_ca
                    .as_ref()
                    .ok_or_else(|| TlsConfigError::NoClientCa(tenant.name.clone()))?;
                let mut roots = RootCertStore::empty();
                let ca_certs = load_certs(ca_path)?;
                let names: Vec<String> = ca_certs
                    .iter()
                    .filter_map(|c| {
                        lantern_pki::describe_der(c.as_ref(), std::time::SystemTime::now()).ok()
                    })
                    .map(|c| c.subject)
                    .collect();
                trusted.insert(tenant.name.clone(), names);
                for cert in ca_certs {
                    roots.add(cert).map_err(|e| TlsConfigError::Pem {
                        path: ca_path.clone(),
                        detail: format!("not a usable CA certificate ({e})"),
                    })?;
                }
                let mut verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
                if let Some(crl_path) = &tenant.crl {
                    let crls = CertificateRevocationListDer::pem_file_iter(crl_path)
                        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                        .map_err(|e| TlsConfigError::Pem {
                            path: crl_path.clone(),
                            detail: format!("not a PEM CRL ({e})"),
                        })?;
                    // A file without any CRL block would silently revoke nothing: fail closed.
                    if crls.is_empty() {
                        return Err(TlsConfigError::Pem {
                            path: crl_path.clone(),
                            detail: "no CRL in the file (no -----BEGIN X509 CRL----- block)".into(),
                        });
                    }
                    verifier = verifier.with_crls(crls);
                }
                if policy.mtls == MtlsMode::Optional {
                    verifier = verifier.allow_unauthenticated();
                }
                let verifier = verifier.build().map_err(|e| match (e, &tenant.crl) {
                    // webpki parses the CRLs only here: name the file, as for every other file.
                    (e @ rustls::server::VerifierBuilderError::InvalidCrl(_), Some(crl_path)) => {
                        TlsConfigError::Pem {
                            path: crl_path.clone(),
                            detail: e.to_string(),
                        }
                    }
                    (e, _) => TlsConfigError::Rustls {
                        tenant: tenant.name.clone(),
                        detail: e.to_string(),
                    },
                })?;
                builder
                    .with_client_cert_verifier(crate::clientcert::RecordingVerifier::wrap(verifier))
            };
            let mut config = builder.with_single_cert(chain, key).map_err(rustls_err)?;
            config.ignore_client_order = false;
            configs.insert(tenant.name.clone(), Arc::new(config));
            for host in &tenant.hosts {
                hosts.push((host.clone(), tenant.name.clone()));
            }
        }
        let accepted_suites = provider
            .cipher_suites
            .iter()
            .map(|s| suite_name(s.suite()))
            .collect();
        let accepted_versions = versions
            .iter()
            .map(|v| match v.version {
                rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
                rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
                other => format!("{other:?}"),
            })
            .collect();
        Ok(Self {
            configs,
            cert_facts: facts,
            trusted_client_cas: trusted,
            accepted_suites,
            accepted_versions,
            hosts,
            legacy: None,
            sni: policy.sni,
            default_tenant: policy.default_tenant.clone(),
            mtls: policy.mtls,
        })
    }

    /// The OpenSSL side of a legacy listener: the same tenants, hosts and explanations, with an
    /// OpenSSL acceptor per tenant instead of a rustls configuration.
    fn build_legacy(
        policy: &TlsPolicy,
        legacy: &crate::legacy::LegacyPolicy,
        tenants: &[TenantTlsFiles],
    ) -> Result<Self, TlsConfigError> {
        let acceptors = crate::legacy::LegacyAcceptors::build(
            legacy,
            policy.cipher_suites.as_deref(),
            policy.mtls,
            tenants,
        )?;
        let mut hosts = Vec::new();
        let mut facts = HashMap::new();
        let mut trusted = HashMap::new();
        for tenant in tenants {
            facts.insert(tenant.name.clone(), cert_facts(&load_certs(&tenant.cert)?));
            if policy.mtls != MtlsMode::None {
                if let Some(ca_path) = &tenant.client_ca {
                    let names = load_certs(ca_path)?
                        .iter()
                        .filter_map(|c| {
                            lantern_pki::describe_der(c.as_ref(), std::time::SystemTime::now()).ok()
                        })
                        .map(|c| c.subject)
                        .collect();
                    trusted.insert(tenant.name.clone(), names);
                }
            }
            for host in &tenant.hosts {
                hosts.push((host.clone(), tenant.name.clone()));
            }
        }
        let accepted_suites = match &policy.cipher_suites {
            Some(names) => names
                .iter()
                .map(|n| n.trim().to_ascii_uppercase())
                .collect(),
            None => crate::legacy::SUITES
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect(),
        };
        let accepted_versions = legacy
            .versions
            .iter()
            .map(|v| v.as_str().to_owned())
            .collect();
        Ok(Self {
            configs: HashMap::new(),
            cert_facts: facts,
            trusted_client_cas: trusted,
            accepted_suites,
            accepted_versions,
            hosts,
            legacy: Some(acceptors),
            sni: policy.sni,
            default_tenant: policy.default_tenant.clone(),
            mtls: policy.mtls,
        })
    }

    /// Whether this listener hands handshakes to OpenSSL.
    pub fn is_legacy(&self) -> bool {
        self.legacy.is_some()
    }

    /// The tenant and OpenSSL acceptor for a ClientHello's SNI name, on a legacy listener.
    pub(crate) fn choose_legacy(
        &self,
        sni: Option<&str>,
    ) -> Result<(Arc<str>, Arc<openssl::ssl::SslAcceptor>), SniRefusal> {
        let tenant = self.tenant_for(sni)?;
        let acceptor = self
            .legacy
            .as_ref()
            .and_then(|l| l.get(&tenant))
            .ok_or(SniRefusal::Missing)?;
        Ok((tenant, acceptor))
    }

    /// The tenant and configuration for a ClientHello's SNI name.
    pub fn choose(&self, sni: Option<&str>) -> Result<(Arc<str>, Arc<ServerConfig>), SniRefusal> {
        let tenant = self.tenant_for(sni)?;
        let config = self
            .configs
            .get(&tenant)
            .cloned()
            .ok_or(SniRefusal::Missing)?;
        Ok((tenant, config))
    }

    /// The tenant for a ClientHello's SNI name, by the listener's SNI mode.
    fn tenant_for(&self, sni: Option<&str>) -> Result<Arc<str>, SniRefusal> {
        let by_name = |name: &str| {
            // Exact names win over wildcards.
            self.hosts
                .iter()
                .find(|(p, _)| !p.as_str().starts_with("*.") && p.matches(name))
                .or_else(|| self.hosts.iter().find(|(p, _)| p.matches(name)))
                .map(|(_, t)| t.clone())
        };
        let tenant = match (self.sni, sni) {
            (SniMode::Off, _) => self.default_tenant.clone(),
            (SniMode::Optional, Some(name)) => by_name(name).unwrap_or(self.default_tenant.clone()),
            (SniMode::Optional, None) => self.default_tenant.clone(),
            (SniMode::Required, None) => return Err(SniRefusal::Missing),
            (SniMode::Required, Some(name)) => {
                by_name(name).ok_or_else(|| SniRefusal::Unknown {
                    name: name.to_owned(),
                    served: self
                        .hosts
                        .iter()
                        .map(|(p, _)| p.as_str().to_owned())
                        .collect(),
                })?
            }
        };
        Ok(tenant)
    }

    /// Facts about a tenant's certificate chain.
    pub fn cert_facts(&self, tenant: &str) -> Option<&CertFacts> {
        self.cert_facts.get(tenant)
    }

    /// Subjects of the CAs a tenant trusts for client certificates.
    pub fn trusted_client_cas(&self, tenant: &str) -> Vec<String> {
        self.trusted_client_cas
            .get(tenant)
            .cloned()
            .unwrap_or_default()
    }

    /// Suites accepted, by IANA name.
    pub fn accepted_suites(&self) -> &[String] {
        &self.accepted_suites
    }

    /// Versions accepted.
    pub fn accepted_versions(&self) -> &[String] {
        &self.accepted_versions
    }

    /// Host names served (for explanations).
    pub fn served_names(&self) -> Vec<String> {
        self.hosts
            .iter()
            .map(|(p, _)| p.as_str().to_owned())
            .collect()
    }

    /// Whether client certificates are requested.
    pub fn mtls(&self) -> MtlsMode {
        self.mtls
    }
}

/// Reads the ClientHello from `tcp` into a rustls `Acceptor`. Returns the accepted hello and
/// the raw bytes read (the ClientHello record(s)), or why it failed.
///
/// With `legacy` (an OpenSSL listener), a complete ClientHello that rustls parses but would
/// not serve (a TLS 1.0 hello has no signature_algorithms extension, RFC 5246 §7.4.1.4.1) is
/// [`HelloError::NotForRustls`] and no alert is sent: OpenSSL gets to answer it.
pub(crate) async fn read_client_hello(
    tcp: &tokio::net::TcpStream,
    raw: &mut Vec<u8>,
    legacy: bool,
) -> Result<rustls::server::Accepted, HelloError> {
    /// A ClientHello is at most a few KiB; refuse to buffer more before one is complete.
    const MAX_HELLO: usize = 64 * 1024;
    let mut acceptor = Acceptor::default();
    let mut chunk = [0u8; 4096];
    loop {
        tcp.readable().await.map_err(HelloError::Io)?;
        let n = match tcp.try_read(&mut chunk) {
            Ok(0) => return Err(HelloError::Closed { bytes: raw.len() }),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(HelloError::Io(e)),
        };
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_HELLO {
            return Err(HelloError::TooLarge);
        }
        let mut input = &chunk[..n];
        while !input.is_empty() {
            acceptor.read_tls(&mut input).map_err(HelloError::Io)?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => return Ok(accepted),
            Ok(None) => continue,
            Err((rustls::Error::PeerIncompatible(why), _)) if legacy => {
                return Err(HelloError::NotForRustls(why));
            }
            Err((error, mut alert)) => {
                let mut out = Vec::new();
                let _ = alert.write_all(&mut out);
                let _ = write_all(tcp, &out).await;
                return Err(HelloError::Rustls(error));
            }
        }
    }
}

/// Why no ClientHello could be read.
#[derive(Debug)]
pub(crate) enum HelloError {
    Closed {
        bytes: usize,
    },
    TooLarge,
    Io(std::io::Error),
    Rustls(rustls::Error),
    /// A complete ClientHello rustls will not serve; only produced for legacy listeners.
    NotForRustls(rustls::PeerIncompatible),
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed { bytes: 0 } => f.write_str("closed before sending any byte"),
            Self::Closed { bytes } => write!(
                f,
                "closed after {bytes} bytes, before a complete ClientHello"
            ),
            Self::TooLarge => f.write_str("sent over 64 KiB without completing a ClientHello"),
            Self::Io(e) => write!(f, "network error before the ClientHello: {e}"),
            Self::Rustls(e) => write!(f, "not a valid TLS ClientHello: {e}"),
            Self::NotForRustls(e) => write!(f, "a ClientHello rustls cannot serve: {e:?}"),
        }
    }
}

/// Sends a fatal `unrecognized_name` alert (RFC 6066 §3) as a plaintext TLS record.
pub(crate) async fn send_unrecognized_name(tcp: &tokio::net::TcpStream) {
    // content type alert (21), legacy version TLS 1.2, length 2, level fatal (2), 112.
    let _ = write_all(tcp, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]).await;
}

async fn write_all(tcp: &tokio::net::TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        tcp.writable().await?;
        match tcp.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The ClientHello facts from the raw bytes, for a hello rustls would not accept (legacy
/// listeners only); `None` when the diagnostics parser cannot read them either.
pub(crate) fn hello_info_from_raw(raw: &[u8]) -> Option<HelloInfo> {
    let hello = lantern_diag::hello::parse_client_hello(raw).ok()?;
    Some(HelloInfo {
        sni: hello.sni.clone(),
        alpn: hello.alpn.clone(),
        cipher_suites: hello
            .cipher_suites
            .iter()
            .map(|s| lantern_diag::suites::suite_name(*s))
            .collect(),
        signature_schemes: hello
            .signature_algorithms
            .iter()
            .map(|s| lantern_diag::suites::signature_scheme_name(*s))
            .collect(),
    })
}

/// The ClientHello facts of an accepted hello.
pub(crate) fn hello_info(accepted: &rustls::server::Accepted) -> HelloInfo {
    HelloInfo::from_hello(&accepted.client_hello())
}

fn provider(policy: &TlsPolicy) -> Result<CryptoProvider, TlsConfigError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(names) = &policy.cipher_suites {
        let available: Vec<String> = provider
            .cipher_suites
            .iter()
            .map(|s| suite_name(s.suite()))
            .collect();
        let mut chosen = Vec::new();
        for name in names {
            let wanted = name.trim().to_ascii_uppercase();
            let found = provider
                .cipher_suites
                .iter()
                .find(|s| suite_name(s.suite()) == wanted || s.suite().as_str() == Some(&wanted));
            match found {
                Some(s) => chosen.push(*s),
                None => {
                    return Err(TlsConfigError::UnknownSuite {
                        name: name.clone(),
                        available,
                    })
                }
            }
        }
        provider.cipher_suites = chosen;
    }
    Ok(provider)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsConfigError::Pem {
            path: path.to_owned(),
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::Pem {
            path: path.to_owned(),
            detail: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_one_label() {
        let p = HostPattern::new("*.acme.example");
        assert!(p.matches("dev.acme.example"));
        assert!(p.matches("DEV.Acme.Example."));
        assert!(!p.matches("acme.example"));
        assert!(!p.matches("a.b.acme.example"));
        assert!(HostPattern::new("acme.example").matches("acme.example"));
    }

    #[test]
    fn suite_names_are_iana() {
        assert_eq!(
            suite_name(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
            "TLS_AES_128_GCM_SHA256"
        );
        assert_eq!(
            suite_name(rustls::CipherSuite::TLS_RSA_WITH_AES_128_CBC_SHA),
            "TLS_RSA_WITH_AES_128_CBC_SHA"
        );
    }

    #[test]
    fn unknown_suite_lists_the_available_ones() {
        let policy = TlsPolicy {
            cipher_suites: Some(vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into()]),
            ..TlsPolicy::default()
        };
        let err = provider(&policy).unwrap_err().to_string();
        assert!(err.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{err}");
        assert!(err.contains("TLS_AES_128_GCM_SHA256"), "{err}");
    }
}
