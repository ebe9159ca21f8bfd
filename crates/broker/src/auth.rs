//! Authentication and authorisation as the broker sees them.
//!
//! The broker decides *when* to ask (at CONNECT, on PUBLISH, on SUBSCRIBE, before delivering)
//! and what to answer on the wire; the questions themselves are answered by implementations of
//! [`PasswordVerifier`] and [`Acl`] (the `lantern-auth` crate reads mosquitto-compatible password
//! and ACL files). The network layer hands each connection an [`AccessPolicy`] — the listener's
//! and tenant's rules — and, for mTLS, the identity taken from the verified client certificate.

use std::fmt;
use std::sync::Arc;

/// The outcome of checking a user name and password.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PasswordCheck {
    /// The password is right.
    Valid,
    /// No such user in the password file.
    UnknownUser,
    /// The user exists; the password is wrong.
    WrongPassword,
}

/// Checks passwords. Implementations compare in constant time and never log the password.
pub trait PasswordVerifier: Send + Sync {
    /// Checks `password` for `username`.
    fn verify(&self, username: &str, password: &[u8]) -> PasswordCheck;
}

/// What a client wants to do with a topic.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Access {
    /// Receive messages on a topic (checked at SUBSCRIBE against the filter, and before each
    /// delivery against the topic).
    Read,
    /// Publish to a topic (also the will topic).
    Write,
}

impl Access {
    /// "read" or "write", as ACL files write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// Who asks, for ACL patterns (`%u`, `%c`).
#[derive(Clone, Copy, Debug)]
pub struct AclSubject<'a> {
    /// The authenticated user name, if any.
    pub username: Option<&'a str>,
    /// The client identifier.
    pub client_id: &'a str,
}

/// An ACL decision and the rule that made it, for the connection story.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AclDecision {
    /// Whether the access is allowed.
    pub allowed: bool,
    /// The rule that decided, e.g. `acl.conf:12: topic read sensors/#`, or why none did.
    pub rule: Arc<str>,
}

/// Topic access rules.
pub trait Acl: Send + Sync {
    /// May `subject` read or write `topic` (a topic name, no wildcards)?
    fn check(&self, subject: &AclSubject<'_>, access: Access, topic: &str) -> AclDecision;
    /// May `subject` subscribe to `filter` (which may hold wildcards)? Allowed when some read
    /// rule can match a topic the filter matches; each delivery is then checked with
    /// [`Acl::check`], so a broad filter only receives what the rules allow.
    fn check_subscribe(&self, subject: &AclSubject<'_>, filter: &str) -> AclDecision;
}

/// How the identity of a verified client certificate is used.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct CertIdentityUse {
    /// The certificate identity becomes the user name (for ACLs), replacing CONNECT's.
    pub as_username: bool,
    /// CONNECT's client id must equal the certificate identity (an empty client id is given
    /// the certificate identity).
    pub require_client_id_match: bool,
}

/// The access rules of one listener and tenant.
#[derive(Clone)]
pub struct AccessPolicy {
    /// Whether a client without credentials (no user name, no client certificate) may connect.
    pub allow_anonymous: bool,
    /// The password file, if the tenant has one.
    pub passwords: Option<Arc<dyn PasswordVerifier>>,
    /// The ACL file, if the tenant has one; without one every authenticated client may publish
    /// and subscribe everywhere.
    pub acl: Option<Arc<dyn Acl>>,
    /// How a verified client certificate's identity is used.
    pub cert_identity: CertIdentityUse,
}

impl AccessPolicy {
    /// Anyone may connect and do anything: the zero-configuration loopback broker.
    pub fn open() -> Self {
        Self { allow_anonymous: true, passwords: None, acl: None, cert_identity: Default::default() }
    }
}

impl Default for AccessPolicy {
    fn default() -> Self {
        Self::open()
    }
}

impl fmt::Debug for AccessPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessPolicy")
            .field("allow_anonymous", &self.allow_anonymous)
            .field("passwords", &self.passwords.is_some())
            .field("acl", &self.acl.is_some())
            .field("cert_identity", &self.cert_identity)
            .finish()
    }
}

/// The identity a verified client certificate maps to, per the listener's or tenant's mapping
/// (subject CN, a SAN, the DN or the fingerprint); computed by the network layer.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct CertIdentity {
    /// The mapped identity.
    pub identity: Arc<str>,
    /// The certificate subject, for messages.
    pub subject: Arc<str>,
}

/// Why a CONNECT was not authenticated; the wire code is chosen from it.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No user name and no client certificate on a listener without anonymous access.
    NoCredentials,
    /// A password without a user name where the password file needs both.
    PasswordWithoutUsername,
    /// A user name that the password file does not know.
    UnknownUser {
        /// The user name (not a secret; the password never appears here).
        username: String,
    },
    /// A known user with the wrong password (or none).
    WrongPassword {
        /// The user name.
        username: String,
        /// Whether a password was sent at all.
        password_sent: bool,
    },
    /// The client id differs from the certificate identity where they must match.
    CertIdentityMismatch {
        /// The client id sent.
        client_id: String,
        /// The certificate identity.
        identity: String,
    },
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCredentials => f.write_str(
                "no user name and no client certificate, and this listener does not allow anonymous clients",
            ),
            Self::PasswordWithoutUsername => {
                f.write_str("a password without a user name; the password file needs both")
            }
            Self::UnknownUser { username } => {
                write!(f, "user {username:?} is not in the password file")
            }
            Self::WrongPassword { username, password_sent: true } => {
                write!(f, "wrong password for user {username:?}")
            }
            Self::WrongPassword { username, password_sent: false } => {
                write!(f, "user {username:?} sent no password")
            }
            Self::CertIdentityMismatch { client_id, identity } => write!(
                f,
                "client id {client_id:?} does not match the client certificate identity {identity:?}"
            ),
        }
    }
}
