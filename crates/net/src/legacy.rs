//! The `legacy` TLS backend: the system OpenSSL, for devices that cannot speak anything rustls
//! accepts (static RSA key exchange, CBC suites, TLS 1.0 and 1.1).
//!
//! rustls stays the default; a listener opts in with `tls_backend = "legacy"`. Everything
//! before the handshake is shared with rustls listeners: the ClientHello is read and summarized
//! by the same code (`tls::read_client_hello`), the tenant is chosen from SNI by the same rules,
//! and only then are the bytes read so far replayed into OpenSSL (see `driver::serve_tls`).
//!
//! Suites are configured by IANA name, like rustls listeners, and mapped to OpenSSL's names
//! with [`openssl_name`]: OpenSSL's cipher-list syntax does not know IANA names.
//!
//! What this module does not do: CRLs for client certificates (a legacy listener with a CRL
//! refuses to start rather than ignore it), session resumption tuning, OCSP.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use openssl::ssl::{
    SslAcceptor, SslContextBuilder, SslMethod, SslOptions, SslVerifyMode, SslVersion,
};
use openssl::x509::X509Name;

use lantern_diag::{Cause, Initiator};

use crate::tls::{MtlsMode, TenantTlsFiles, TlsConfigError};

/// A TLS protocol version a legacy listener can accept.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum LegacyVersion {
    /// TLS 1.0 (RFC 2246), deprecated by RFC 8996.
    Tls10,
    /// TLS 1.1 (RFC 4346), deprecated by RFC 8996.
    Tls11,
    /// TLS 1.2 (RFC 5246).
    Tls12,
    /// TLS 1.3 (RFC 8446).
    Tls13,
}

impl LegacyVersion {
    /// Every version, lowest first.
    pub const ALL: [Self; 4] = [Self::Tls10, Self::Tls11, Self::Tls12, Self::Tls13];

    /// Parses the configuration spelling: "1.0", "1.1", "1.2", "1.3".
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "1.0" => Self::Tls10,
            "1.1" => Self::Tls11,
            "1.2" => Self::Tls12,
            "1.3" => Self::Tls13,
            _ => return None,
        })
    }

    /// The name stories use: "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tls10 => "TLSv1.0",
            Self::Tls11 => "TLSv1.1",
            Self::Tls12 => "TLSv1.2",
            Self::Tls13 => "TLSv1.3",
        }
    }

    /// Whether RFC 8996 deprecates it.
    pub fn is_deprecated(self) -> bool {
        matches!(self, Self::Tls10 | Self::Tls11)
    }

    fn openssl(self) -> SslVersion {
        match self {
            Self::Tls10 => SslVersion::TLS1,
            Self::Tls11 => SslVersion::TLS1_1,
            Self::Tls12 => SslVersion::TLS1_2,
            Self::Tls13 => SslVersion::TLS1_3,
        }
    }

    fn disable_option(self) -> SslOptions {
        match self {
            Self::Tls10 => SslOptions::NO_TLSV1,
            Self::Tls11 => SslOptions::NO_TLSV1_1,
            Self::Tls12 => SslOptions::NO_TLSV1_2,
            Self::Tls13 => SslOptions::NO_TLSV1_3,
        }
    }
}

/// What a legacy listener accepts.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct LegacyPolicy {
    /// Versions accepted (not necessarily contiguous).
    pub versions: Vec<LegacyVersion>,
}

impl Default for LegacyPolicy {
    /// TLS 1.2 only: a legacy listener serves old devices, and modern ones belong on rustls.
    fn default() -> Self {
        Self {
            versions: vec![LegacyVersion::Tls12],
        }
    }
}

/// IANA name → OpenSSL name of the TLS 1.2-and-below suites the legacy backend offers.
/// TLS 1.3 suites (`TLS_AES_128_GCM_SHA256`, …) have the same name in both and are listed in
/// [`TLS13_SUITES`].
pub const SUITES: &[(&str, &str)] = &[
    // Static RSA key exchange: no forward secrecy.
    ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    ("TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    // ECDHE with CBC.
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        "ECDHE-RSA-AES128-SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        "ECDHE-RSA-AES256-SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        "ECDHE-ECDSA-AES128-SHA",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        "ECDHE-ECDSA-AES256-SHA",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        "ECDHE-ECDSA-AES128-SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        "ECDHE-ECDSA-AES256-SHA384",
    ),
    // The usual ECDHE AEAD suites.
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    // Finite-field DHE.
    ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA"),
    ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA"),
    (
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        "DHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        "DHE-RSA-AES256-GCM-SHA384",
    ),
];

/// TLS 1.3 suites (RFC 8446 §B.4), configured with `SSL_CTX_set_ciphersuites`.
pub const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The OpenSSL name of a TLS ≤ 1.2 suite given by IANA name (case-insensitive).
pub fn openssl_name(iana: &str) -> Option<&'static str> {
    let wanted = iana.trim().to_ascii_uppercase();
    SUITES
        .iter()
        .find(|(name, _)| *name == wanted)
        .map(|(_, ossl)| *ossl)
}

/// The IANA name of a suite given by OpenSSL name.
pub fn iana_name(openssl: &str) -> Option<&'static str> {
    SUITES
        .iter()
        .find(|(_, ossl)| *ossl == openssl)
        .map(|(name, _)| *name)
        .or_else(|| TLS13_SUITES.iter().find(|s| **s == openssl).copied())
}

/// Whether `iana` names a TLS 1.3 suite.
pub fn is_tls13_suite(iana: &str) -> bool {
    TLS13_SUITES.contains(&iana.trim().to_ascii_uppercase().as_str())
}

/// Why a suite (or the version it runs over) is weak, one short reason each; empty when it is
/// not. Used for the start-up warning and for each connection's story.
pub fn weaknesses(iana: &str, version: Option<LegacyVersion>) -> Vec<&'static str> {
    let s = iana.to_ascii_uppercase();
    let mut out = Vec::new();
    if s.starts_with("TLS_RSA_WITH_") {
        out.push("static RSA key exchange: no forward secrecy");
    }
    if s.contains("_CBC_") {
        out.push("CBC mode (MAC-then-encrypt, padding-oracle prone)");
    }
    if s.contains("3DES") {
        out.push("3DES: 64-bit blocks (Sweet32)");
    }
    if let Some(v) = version.filter(|v| v.is_deprecated()) {
        out.push(match v {
            LegacyVersion::Tls10 => "TLS 1.0, deprecated by RFC 8996",
            _ => "TLS 1.1, deprecated by RFC 8996",
        });
    }
    out
}

/// Checks a configured suite list: every name must be in [`SUITES`] or [`TLS13_SUITES`], and
/// known to the linked OpenSSL (Debian's OpenSSL 3, for one, has no 3DES). The error names the
/// first unknown suite and lists the ones this build offers.
pub fn check_suites(names: &[String]) -> Result<(), TlsConfigError> {
    for name in names {
        if !known_to_openssl(name)? {
            return Err(TlsConfigError::UnknownSuite {
                name: name.clone(),
                available: available()?,
            });
        }
    }
    Ok(())
}

/// The suites of [`SUITES`] and [`TLS13_SUITES`] that the linked OpenSSL implements.
pub fn available() -> Result<Vec<String>, TlsConfigError> {
    let mut out = Vec::new();
    for name in SUITES
        .iter()
        .map(|(n, _)| *n)
        .chain(TLS13_SUITES.iter().copied())
    {
        if known_to_openssl(name)? {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

fn known_to_openssl(name: &str) -> Result<bool, TlsConfigError> {
    let name = name.trim().to_ascii_uppercase();
    Ok(if is_tls13_suite(&name) {
        probe_ctx()?.set_ciphersuites(&name).is_ok()
    } else {
        match openssl_name(&name) {
            // Security level 0: the question is whether the library has the suite at all, not
            // whether its default policy allows it.
            Some(ossl) => probe_ctx()?
                .set_cipher_list(&format!("{ossl}:@SECLEVEL=0"))
                .is_ok(),
            None => false,
        }
    })
}

/// The OpenSSL side of one legacy listener: one acceptor per tenant.
pub(crate) struct LegacyAcceptors {
    acceptors: std::collections::HashMap<Arc<str>, Arc<SslAcceptor>>,
}

impl LegacyAcceptors {
    /// Builds one acceptor per tenant from its certificate, key and (for mTLS) client CA.
    pub(crate) fn build(
        policy: &LegacyPolicy,
        suites: Option<&[String]>,
        mtls: MtlsMode,
        tenants: &[TenantTlsFiles],
    ) -> Result<Self, TlsConfigError> {
        if let Some(suites) = suites {
            check_suites(suites)?;
        }
        let mut acceptors = std::collections::HashMap::new();
        for tenant in tenants {
            let acceptor = build_one(policy, suites, mtls, tenant)?;
            acceptors.insert(tenant.name.clone(), Arc::new(acceptor));
        }
        Ok(Self { acceptors })
    }

    pub(crate) fn get(&self, tenant: &str) -> Option<Arc<SslAcceptor>> {
        self.acceptors.get(tenant).cloned()
    }
}

impl fmt::Debug for LegacyAcceptors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyAcceptors")
            .field("tenants", &self.acceptors.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn probe_ctx() -> Result<SslContextBuilder, TlsConfigError> {
    SslContextBuilder::new(SslMethod::tls_server()).map_err(|e| TlsConfigError::Rustls {
        tenant: "-".into(),
        detail: format!("OpenSSL: {e}"),
    })
}

fn build_one(
    policy: &LegacyPolicy,
    suites: Option<&[String]>,
    mtls: MtlsMode,
    tenant: &TenantTlsFiles,
) -> Result<SslAcceptor, TlsConfigError> {
    let ossl = |what: &str, e: openssl::error::ErrorStack| TlsConfigError::Rustls {
        tenant: tenant.name.clone(),
        detail: format!("OpenSSL: {what}: {e}"),
    };
    let mut b = SslAcceptor::mozilla_intermediate(SslMethod::tls_server())
        .map_err(|e| ossl("new context", e))?;

    // Versions: min..max, with the gaps switched off, so a list like ["1.0", "1.2"] is exact.
    let versions = &policy.versions;
    let (Some(min), Some(max)) = (versions.iter().min(), versions.iter().max()) else {
        return Err(TlsConfigError::Rustls {
            tenant: tenant.name.clone(),
            detail: "tls_versions is empty".into(),
        });
    };
    b.clear_options(
        SslOptions::NO_TLSV1
            | SslOptions::NO_TLSV1_1
            | SslOptions::NO_TLSV1_2
            | SslOptions::NO_TLSV1_3,
    );
    for v in LegacyVersion::ALL {
        if !versions.contains(&v) {
            b.set_options(v.disable_option());
        }
    }
    b.set_min_proto_version(Some(min.openssl()))
        .map_err(|e| ossl("minimum version", e))?;
    b.set_max_proto_version(Some(max.openssl()))
        .map_err(|e| ossl("maximum version", e))?;
    // OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 and MD5 in their PRF) at security level 1 and
    // above, and Debian defaults to level 2: a listener that asks for them needs level 0.
    let seclevel0 = versions.iter().any(|v| v.is_deprecated());

    // Suites: TLS ≤ 1.2 through the cipher list, TLS 1.3 through the ciphersuites list (the
    // configuration requires a TLS 1.3 suite when "1.3" is among the versions).
    if let Some(suites) = suites {
        let mut list: Vec<&str> = suites.iter().filter_map(|s| openssl_name(s)).collect();
        if list.is_empty() {
            // Only TLS 1.3 suites listed: nothing below 1.3.
            list.push("!ALL");
        }
        let mut cipher_list = list.join(":");
        if seclevel0 {
            cipher_list.push_str(":@SECLEVEL=0");
        }
        b.set_cipher_list(&cipher_list)
            .map_err(|e| ossl(&format!("cipher list {cipher_list:?}"), e))?;
        let tls13: Vec<String> = suites
            .iter()
            .filter(|s| is_tls13_suite(s))
            .map(|s| s.trim().to_ascii_uppercase())
            .collect();
        if !tls13.is_empty() {
            b.set_ciphersuites(&tls13.join(":"))
                .map_err(|e| ossl("TLS 1.3 suites", e))?;
        }
    } else if seclevel0 {
        b.set_security_level(0);
    }

    b.set_certificate_chain_file(&tenant.cert)
        .map_err(|e| pem_error(&tenant.cert, "certificate chain", e))?;
    b.set_private_key_file(&tenant.key, openssl::ssl::SslFiletype::PEM)
        .map_err(|e| pem_error(&tenant.key, "private key", e))?;
    b.check_private_key()
        .map_err(|e| ossl("the key does not match the certificate", e))?;

    if mtls != MtlsMode::None {
        let ca = tenant
            .client_ca
            .as_ref()
            .ok_or_else(|| TlsConfigError::NoClientCa(tenant.name.clone()))?;
        if tenant.crl.is_some() {
            return Err(TlsConfigError::Rustls {
                tenant: tenant.name.clone(),
                detail: "the legacy TLS backend does not check CRLs yet; remove crl or use tls_backend = \"rustls\"".into(),
            });
        }
        b.set_ca_file(ca)
            .map_err(|e| pem_error(ca, "client CA", e))?;
        let names = X509Name::load_client_ca_file(ca).map_err(|e| pem_error(ca, "client CA", e))?;
        b.set_client_ca_list(names);
        let mut mode = SslVerifyMode::PEER;
        if mtls == MtlsMode::Required {
            mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
        }
        b.set_verify(mode);
    }
    Ok(b.build())
}

fn pem_error(path: &Path, what: &str, e: openssl::error::ErrorStack) -> TlsConfigError {
    TlsConfigError::Pem {
        path: path.to_owned(),
        detail: format!("not a usable {what} for OpenSSL ({e})"),
    }
}

/// The version OpenSSL negotiated, from its name ("TLSv1" for TLS 1.0, "TLSv1.2", …).
pub(crate) fn version_of(openssl_name: &str) -> Option<LegacyVersion> {
    match openssl_name {
        "TLSv1" => Some(LegacyVersion::Tls10),
        name => LegacyVersion::ALL.into_iter().find(|v| v.as_str() == name),
    }
}

/// Names a failed OpenSSL handshake, with the values that explain it: the suites or versions
/// the client offered against what the listener accepts, or the client certificate's problem.
pub(crate) fn classify(
    error: &openssl::ssl::Error,
    ssl: &openssl::ssl::SslRef,
    hello: &lantern_diag::HelloSummary,
    setup: &crate::tls::TlsSetup,
    tenant: &str,
) -> (Initiator, Cause) {
    let reasons: Vec<String> = error
        .ssl_error()
        .map(|stack| {
            stack
                .errors()
                .iter()
                .filter_map(|e| e.reason().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let has = |needle: &str| reasons.iter().any(|r| r.contains(needle));
    let facts = || setup.cert_facts(tenant).cloned().unwrap_or_default();
    let rejected = |alert: &str, clock: bool| {
        let f = facts();
        Cause::ClientRejectedServerCert {
            alert: alert.to_owned(),
            root: f.root,
            validity: f.validity,
            clock_suspect: clock && f.valid_now,
        }
    };
    let peer = || {
        ssl.peer_certificate()
            .and_then(|c| c.to_der().ok())
            .and_then(|der| lantern_pki::describe_der(&der, std::time::SystemTime::now()).ok())
    };
    let cause = if has("no shared cipher") {
        Cause::NoSharedCipher {
            offered: hello.cipher_suites.clone(),
            accepted: setup.accepted_suites().to_vec(),
        }
    } else if has("unsupported protocol")
        || has("version too low")
        || has("wrong version number")
        || has("alert protocol version")
    {
        Cause::NoSharedVersion {
            offered: hello.versions.clone(),
            accepted: setup.accepted_versions().to_vec(),
        }
    } else if has("peer did not return a certificate") {
        Cause::ClientCertMissing
    } else if has("certificate verify failed") {
        client_cert_cause(
            ssl.verify_result(),
            peer(),
            setup.trusted_client_cas(tenant),
        )
    } else if has("alert unknown ca") {
        rejected("alert unknown_ca", false)
    } else if has("alert bad certificate") {
        rejected("alert bad_certificate", false)
    } else if has("alert certificate unknown") {
        rejected("alert certificate_unknown", false)
    } else if has("alert certificate expired") {
        rejected("alert certificate_expired", true)
    } else if reasons.is_empty()
        && error.io_error().is_none()
        && error.code() == openssl::ssl::ErrorCode::SYSCALL
    {
        // A close in the middle of the handshake: the classic sign of a device that does not
        // trust the server's certificate and says nothing (as on rustls listeners).
        let f = facts();
        Cause::ClientRejectedServerCert {
            alert: "closed the connection right after the server's certificate, without an alert"
                .into(),
            root: f.root,
            validity: f.validity,
            clock_suspect: false,
        }
    } else if let Some(io) = error.io_error() {
        return (
            Initiator::Network,
            Cause::NetworkError {
                detail: io.to_string(),
            },
        );
    } else {
        Cause::HandshakeFailed {
            detail: if reasons.is_empty() {
                error.to_string()
            } else {
                format!("OpenSSL: {}", reasons.join("; "))
            },
            by_client: has("alert"),
        }
    };
    let by = if has("alert") || matches!(cause, Cause::ClientRejectedServerCert { .. }) {
        Initiator::Client
    } else {
        Initiator::Broker
    };
    (by, cause)
}

/// The cause of a client certificate OpenSSL's verification refused.
fn client_cert_cause(
    result: openssl::x509::X509VerifyResult,
    peer: Option<lantern_pki::CertSummary>,
    trusted: Vec<String>,
) -> Cause {
    // X509_V_ERR_* codes (openssl/x509_vfy.h).
    const NOT_YET_VALID: i32 = 9;
    const EXPIRED: i32 = 10;
    const REVOKED: i32 = 23;
    const UNTRUSTED: [i32; 5] = [2, 18, 19, 20, 21];
    let subject = peer.as_ref().map(|c| c.subject.clone()).unwrap_or_default();
    match result.as_raw() {
        EXPIRED => Cause::ClientCertExpired {
            subject,
            not_after: peer.map(|c| c.not_after.to_string()).unwrap_or_default(),
        },
        NOT_YET_VALID => Cause::ClientCertNotYetValid {
            subject,
            not_before: peer.map(|c| c.not_before.to_string()).unwrap_or_default(),
        },
        REVOKED => Cause::ClientCertRevoked { subject },
        code if UNTRUSTED.contains(&code) => Cause::ClientCertUntrusted {
            issuer: peer.map(|c| c.issuer).unwrap_or_default(),
            trusted,
        },
        _ => Cause::ClientCertInvalid {
            detail: result.error_string().to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iana_names_map_to_openssl_names_and_back() {
        assert_eq!(
            openssl_name("tls_rsa_with_aes_128_cbc_sha"),
            Some("AES128-SHA")
        );
        assert_eq!(
            iana_name("ECDHE-RSA-AES128-GCM-SHA256"),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(openssl_name("TLS_NOPE"), None);
    }

    #[test]
    fn the_suites_the_tests_rely_on_are_known_to_the_linked_openssl() {
        let available = available().unwrap();
        for name in [
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_256_CBC_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_AES_128_GCM_SHA256",
        ] {
            assert!(available.iter().any(|a| a == name), "{name}: {available:?}");
        }
        check_suites(&available).unwrap();
    }

    #[test]
    fn unknown_suite_is_named() {
        let err = check_suites(&["TLS_RSA_WITH_AES_128_CBC_SHA".into(), "TLS_FOO".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"TLS_FOO\""), "{err}");
        assert!(err.contains("TLS_RSA_WITH_AES_128_CBC_SHA"), "{err}");
    }

    #[test]
    fn weaknesses_name_key_exchange_mode_and_version() {
        assert_eq!(
            weaknesses("TLS_RSA_WITH_AES_128_CBC_SHA", Some(LegacyVersion::Tls10)),
            vec![
                "static RSA key exchange: no forward secrecy",
                "CBC mode (MAC-then-encrypt, padding-oracle prone)",
                "TLS 1.0, deprecated by RFC 8996"
            ]
        );
        assert!(weaknesses("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", None).is_empty());
    }
}
