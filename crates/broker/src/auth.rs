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
        Self {
            allow_anonymous: true,
            passwords: None,
            acl: None,
            cert_identity: Default::default(),
        }
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

impl AuthFailure {
    /// The CONNACK reason code for this failure (3.1.1 clients get the mapped return code:
    /// 4 bad user name or password, 5 not authorised, 2 identifier rejected).
    pub fn reason_code(&self) -> lantern_codec::ReasonCode {
        use lantern_codec::ReasonCode;
        match self {
            Self::NoCredentials => ReasonCode::NotAuthorized,
            Self::PasswordWithoutUsername
            | Self::UnknownUser { .. }
            | Self::WrongPassword { .. } => ReasonCode::BadUserNameOrPassword,
            Self::CertIdentityMismatch { .. } => ReasonCode::ClientIdentifierNotValid,
        }
    }

    /// A stable id for the cause.
    pub fn id(&self) -> &'static str {
        match self {
            Self::NoCredentials => "auth.no_credentials",
            Self::PasswordWithoutUsername => "auth.password_without_username",
            Self::UnknownUser { .. } => "auth.unknown_user",
            Self::WrongPassword { .. } => "auth.bad_password",
            Self::CertIdentityMismatch { .. } => "auth.cert_identity_mismatch",
        }
    }
}

/// Proof that a CONNECT passed authentication (STYLE.md idiom 6: only [`authenticate`] builds
/// it, so a session cannot be opened without it).
#[derive(Clone, Debug)]
pub(crate) struct Authenticated {
    /// The user name for ACLs: CONNECT's, or the certificate identity.
    pub(crate) username: Option<Arc<str>>,
    /// The client id to use instead of CONNECT's empty one (the certificate identity).
    pub(crate) client_id: Option<Arc<str>>,
}

/// Authenticates CONNECT's credentials against `policy` and the verified certificate identity.
pub(crate) fn authenticate(
    policy: &AccessPolicy,
    cert: Option<&CertIdentity>,
    client_id: &str,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<Authenticated, AuthFailure> {
    let mut result = Authenticated {
        username: username.map(Arc::from),
        client_id: None,
    };
    if let Some(cert) = cert {
        if policy.cert_identity.require_client_id_match {
            if client_id.is_empty() {
                result.client_id = Some(cert.identity.clone());
            } else if client_id != &*cert.identity {
                return Err(AuthFailure::CertIdentityMismatch {
                    client_id: client_id.to_owned(),
                    identity: cert.identity.to_string(),
                });
            }
        }
        if policy.cert_identity.as_username {
            // The certificate is the credential; CONNECT's user name and password are ignored,
            // as mosquitto's use_identity_as_username does.
            result.username = Some(cert.identity.clone());
            return Ok(result);
        }
    }
    match (username, &policy.passwords) {
        (Some(user), Some(passwords)) => {
            let sent = password.is_some();
            match passwords.verify(user, password.unwrap_or_default()) {
                PasswordCheck::Valid if sent => Ok(result),
                PasswordCheck::Valid | PasswordCheck::WrongPassword => {
                    Err(AuthFailure::WrongPassword {
                        username: user.to_owned(),
                        password_sent: sent,
                    })
                }
                PasswordCheck::UnknownUser => Err(AuthFailure::UnknownUser {
                    username: user.to_owned(),
                }),
            }
        }
        (None, Some(_)) if password.is_some() => Err(AuthFailure::PasswordWithoutUsername),
        // Without a password file a user name proves nothing; it is accepted where anonymous
        // clients are, or where a client certificate vouches for the client.
        _ if cert.is_some() || policy.allow_anonymous => Ok(result),
        _ => Err(AuthFailure::NoCredentials),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OneUser;
    impl PasswordVerifier for OneUser {
        fn verify(&self, username: &str, password: &[u8]) -> PasswordCheck {
            match (username, password) {
                ("alice", b"secret") => PasswordCheck::Valid,
                ("alice", _) => PasswordCheck::WrongPassword,
                _ => PasswordCheck::UnknownUser,
            }
        }
    }

    fn with_passwords(anonymous: bool) -> AccessPolicy {
        AccessPolicy {
            allow_anonymous: anonymous,
            passwords: Some(Arc::new(OneUser)),
            ..AccessPolicy::open()
        }
    }

    fn cert(identity: &str) -> CertIdentity {
        CertIdentity {
            identity: identity.into(),
            subject: format!("CN={identity}").into(),
        }
    }

    #[test]
    fn password_file_decides_known_users() {
        let p = with_passwords(false);
        assert!(authenticate(&p, None, "c", Some("alice"), Some(b"secret")).is_ok());
        assert_eq!(
            authenticate(&p, None, "c", Some("alice"), Some(b"nope")).unwrap_err(),
            AuthFailure::WrongPassword {
                username: "alice".into(),
                password_sent: true
            }
        );
        assert_eq!(
            authenticate(&p, None, "c", Some("alice"), None).unwrap_err(),
            AuthFailure::WrongPassword {
                username: "alice".into(),
                password_sent: false
            }
        );
        assert_eq!(
            authenticate(&p, None, "c", Some("bob"), Some(b"x"))
                .unwrap_err()
                .id(),
            "auth.unknown_user"
        );
    }

    #[test]
    fn anonymous_needs_permission() {
        assert_eq!(
            authenticate(&with_passwords(false), None, "c", None, None).unwrap_err(),
            AuthFailure::NoCredentials
        );
        assert!(authenticate(&with_passwords(true), None, "c", None, None).is_ok());
        // A password file never lets a wrong password through, anonymous or not.
        assert!(authenticate(&with_passwords(true), None, "c", Some("alice"), Some(b"x")).is_err());
    }

    #[test]
    fn certificate_identity_as_username_and_client_id() {
        let mut p = with_passwords(false);
        p.cert_identity = CertIdentityUse {
            as_username: true,
            require_client_id_match: true,
        };
        let ok = authenticate(&p, Some(&cert("dev-1")), "", None, None).unwrap();
        assert_eq!(ok.username.as_deref(), Some("dev-1"));
        assert_eq!(ok.client_id.as_deref(), Some("dev-1"));
        let err = authenticate(&p, Some(&cert("dev-1")), "dev-2", None, None).unwrap_err();
        assert_eq!(err.id(), "auth.cert_identity_mismatch");
        assert_eq!(
            err.reason_code(),
            lantern_codec::ReasonCode::ClientIdentifierNotValid
        );
    }

    #[test]
    fn certificate_alone_is_a_credential() {
        let p = AccessPolicy {
            allow_anonymous: false,
            ..AccessPolicy::open()
        };
        assert!(authenticate(&p, Some(&cert("dev-1")), "x", None, None).is_ok());
        assert!(authenticate(&p, None, "x", Some("someone"), None).is_err());
    }
}
