//! Seeing the client certificate a handshake refused.
//!
//! rustls reports *that* a client certificate was refused (unknown issuer, expired, revoked)
//! but not *which* certificate — and in TLS 1.3 it travels encrypted, so it cannot be read off
//! the wire either. [`RecordingVerifier`] wraps the tenant's verifier and writes the end-entity
//! certificate it was asked about into a thread-local slot; [`Recording`] wraps the handshake
//! future and collects the slot after every poll. Verification runs synchronously inside that
//! poll, so the slot always belongs to the connection being polled, whichever thread the task
//! runs on.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

/// What a refused (or accepted) client certificate said about itself.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub(crate) struct SeenCert {
    /// Subject DN.
    pub(crate) subject: String,
    /// Issuer DN.
    pub(crate) issuer: String,
    /// notBefore.
    pub(crate) not_before: String,
    /// notAfter.
    pub(crate) not_after: String,
    /// How many intermediates the client sent along.
    pub(crate) intermediates: usize,
}

thread_local! {
    static SEEN: RefCell<Option<SeenCert>> = const { RefCell::new(None) };
}

/// A client-certificate verifier that remembers the certificate it was shown.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl RecordingVerifier {
    pub(crate) fn wrap(inner: Arc<dyn ClientCertVerifier>) -> Arc<dyn ClientCertVerifier> {
        Arc::new(Self { inner })
    }
}

impl ClientCertVerifier for RecordingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if let Ok(summary) = lantern_pki::describe_der(end_entity.as_ref(), SystemTime::now()) {
            let seen = SeenCert {
                subject: summary.subject,
                issuer: summary.issuer,
                not_before: summary.not_before.date().to_string(),
                not_after: summary.not_after.date().to_string(),
                intermediates: intermediates.len(),
            };
            SEEN.with(|slot| *slot.borrow_mut() = Some(seen));
        }
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A handshake future that also yields the client certificate its verifier saw.
pub(crate) struct Recording<F> {
    inner: F,
    seen: Option<SeenCert>,
}

impl<F> Recording<F> {
    pub(crate) fn new(inner: F) -> Self {
        Self { inner, seen: None }
    }
}

impl<F: Future + Unpin> Future for Recording<F> {
    type Output = (F::Output, Option<SeenCert>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        SEEN.with(|slot| *slot.borrow_mut() = None);
        let polled = Pin::new(&mut self.inner).poll(cx);
        if let Some(seen) = SEEN.with(|slot| slot.borrow_mut().take()) {
            self.seen = Some(seen);
        }
        match polled {
            Poll::Ready(out) => Poll::Ready((out, self.seen.take())),
            Poll::Pending => Poll::Pending,
        }
    }
}
