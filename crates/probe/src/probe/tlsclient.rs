//! Real TLS handshakes with rustls: the probe's own session, and the handshakes that record the
//! certificate chain a server sends for a name (or for no name).
//!
//! The mapping handshakes accept any certificate and record it ([`Recorder`]); whether the chain
//! verifies is decided afterwards against `--ca` only ([`verify_chain`]), because the probe
//! ships no root store: a device trusts exactly the CA file it was given, and so does the probe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The certificate chain a server sent, as seen by a verifier that accepts anything.
#[derive(Debug)]
pub(crate) struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    /// When set, the chain must also verify against these roots.
    verify: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl Recorder {
    /// A recorder that accepts any chain.
    pub(crate) fn accept_any() -> Arc<Self> {
        Arc::new(Self {
            chain: Mutex::new(Vec::new()),
            verify: None,
            provider: provider(),
        })
    }

    /// A recorder that verifies against `roots` (the `--ca` file).
    pub(crate) fn verifying(roots: &RootCertStore) -> Result<Arc<Self>, String> {
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots.clone()), provider())
                .build()
                .map_err(|e| format!("--ca: {e}"))?;
        Ok(Arc::new(Self {
            chain: Mutex::new(Vec::new()),
            verify: Some(verifier),
            provider: provider(),
        }))
    }

    /// The recorded chain, leaf first.
    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            chain.clear();
            chain.push(end_entity.clone().into_owned());
            chain.extend(intermediates.iter().take(8).map(|c| c.clone().into_owned()));
        }
        match &self.verify {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// rustls's ring provider with every suite it implements (TLS 1.3 and ECDHE TLS 1.2).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// 96 random bytes from the crypto provider (client random, session id, key share).
pub(crate) fn random96() -> [u8; 96] {
    let mut b = [0u8; 96];
    // A failing system RNG leaves zeros: still a well-formed hello for an acceptance test.
    let _ = provider().secure_random.fill(&mut b);
    b
}

/// A client certificate and its key, from PEM files.
pub(crate) struct ClientAuth {
    pub(crate) certs: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
}

impl ClientAuth {
    /// Loads `--cert` and `--key`.
    pub(crate) fn load(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--cert: {e}"))?;
        if certs.is_empty() {
            return Err("--cert: no CERTIFICATE block".into());
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("--key: {e}"))?;
        Ok(Self { certs, key })
    }
}

/// Reads the certificates of a `--ca` file into a root store.
pub(crate) fn roots_from_pem(pem: &[u8]) -> Result<(RootCertStore, Vec<Vec<u8>>), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--ca: {e}"))?;
    if certs.is_empty() {
        return Err("--ca: no CERTIFICATE block in the file".into());
    }
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs.iter().cloned());
    if added == 0 {
        return Err("--ca: none of its certificates can serve as a trust anchor".into());
    }
    Ok((store, certs.iter().map(|c| c.to_vec()).collect()))
}

/// A client configuration for one handshake.
pub(crate) fn config(
    verifier: Arc<Recorder>,
    sni: bool,
    alpn: &[&str],
    auth: Option<&ClientAuth>,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match auth {
        Some(a) => builder
            .with_client_auth_cert(a.certs.clone(), a.key.clone_key())
            .map_err(|e| format!("--cert/--key: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = sni;
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

/// The name rustls checks the certificate against (and sends as SNI when enabled).
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(name.to_owned()).map_err(|e| format!("{name:?}: {e}"))
}

/// How a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// rustls reported an error (an alert received, a certificate refused, …).
    Tls(rustls::Error),
    /// The socket failed or closed.
    Io(std::io::Error),
    /// No handshake within the timeout.
    Timeout,
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tls(e) => write!(f, "{e}"),
            Self::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                f.write_str("the server closed the connection during the handshake")
            }
            Self::Io(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("no handshake before the timeout"),
        }
    }
}

/// Runs a handshake on `tcp`.
pub(crate) async fn handshake(
    tcp: TcpStream,
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, HandshakeError> {
    let connector = TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, tcp)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            // tokio-rustls wraps rustls errors in io::Error.
            let inner = e
                .get_ref()
                .and_then(|i| i.downcast_ref::<rustls::Error>())
                .cloned();
            match inner {
                Some(tls) => Err(HandshakeError::Tls(tls)),
                None => Err(HandshakeError::Io(e)),
            }
        }
    }
}

/// One certificate, in plain words.
#[derive(Clone, Debug, Serialize)]
pub struct CertFacts {
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Subject alternative names, e.g. "DNS a.test".
    pub sans: Vec<String>,
    /// notBefore, YYYY-MM-DD.
    pub not_before: String,
    /// notAfter, YYYY-MM-DD.
    pub not_after: String,
    /// Validity now, in words ("expires in 824 days").
    pub validity: String,
    /// Whether it is valid now.
    pub valid_now: bool,
    /// The subject key: "ECDSA P-256", "RSA 2048".
    pub key: String,
    /// SHA-256 fingerprint.
    pub fingerprint_sha256: String,
    /// Subject equals issuer.
    pub self_signed: bool,
    /// basicConstraints CA.
    pub is_ca: bool,
}

/// Describes one DER certificate; `None` if it does not parse.
pub(crate) fn facts(der: &[u8]) -> Option<CertFacts> {
    let s = lantern_pki::describe_der(der, SystemTime::now()).ok()?;
    let date = |d: lantern_pki::OffsetDateTime| {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    Some(CertFacts {
        subject: s.subject.clone(),
        issuer: s.issuer.clone(),
        sans: s.sans.iter().map(|x| x.to_string()).collect(),
        not_before: date(s.not_before),
        not_after: date(s.not_after),
        validity: s.validity.to_string(),
        valid_now: matches!(s.validity, lantern_pki::Validity::Valid { .. }),
        key: s.key.to_string(),
        fingerprint_sha256: s.fingerprint_sha256.clone(),
        self_signed: s.self_signed,
        is_ca: s.is_ca,
    })
}

/// Verifies a recorded chain for `name` against the `--ca` roots: `Ok(())` or rustls's reason.
pub(crate) fn verify_chain(
    roots: &RootCertStore,
    chain: &[CertificateDer<'static>],
    name: &ServerName<'static>,
) -> Result<(), String> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err("the server sent no certificate".into());
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots.clone()), provider())
        .build()
        .map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(leaf, rest, name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The certificate a device must trust for `chain`: the self-signed root when the server sends
/// it, else a certificate from `ca_certs` that issued the last one sent. Returns its DER and
/// the DN it carries; the DER is `None` when neither has it (only the DN is known then).
pub(crate) fn root_for(
    chain: &[Vec<u8>],
    ca_certs: &[Vec<u8>],
) -> Option<(Option<Vec<u8>>, String)> {
    let now = SystemTime::now();
    let last = chain.last()?;
    let last_s = lantern_pki::describe_der(last, now).ok()?;
    if last_s.self_signed {
        return Some((Some(last.clone()), last_s.subject));
    }
    for ca in ca_certs {
        if let Ok(ca_s) = lantern_pki::describe_der(ca, now) {
            if last_s.is_issued_by(&ca_s) == Some(true) {
                // The CA file may hold an intermediate: walk up to its root when it has one.
                let mut cur = ca_s;
                for _ in 0..4 {
                    if cur.self_signed {
                        break;
                    }
                    let parent = ca_certs.iter().find_map(|c| {
                        let s = lantern_pki::describe_der(c, now).ok()?;
                        (cur.is_issued_by(&s) == Some(true)).then_some(s)
                    });
                    match parent {
                        Some(p) => cur = p,
                        None => break,
                    }
                }
                return Some((Some(cur.der.clone()), cur.subject));
            }
        }
    }
    Some((None, last_s.issuer))
}

/// A certificate as PEM with LF line endings (RFC 7468 §2: 64-character lines).
pub(crate) fn pem(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len() * 4 / 3 + 4);
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trips_through_rustls() {
        for len in [1usize, 2, 3, 47, 48, 49, 100] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let text = pem(&der);
            assert!(!text.contains('\r'));
            let back = CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
            assert_eq!(back.as_ref(), &der[..], "len {len}");
        }
    }
}
