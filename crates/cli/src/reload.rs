//! What SIGHUP reloads besides certificates: each tenant's password file and ACL file.
//!
//! A tenant's [`AccessPolicy`](lantern_broker::auth::AccessPolicy) holds a [`LivePasswords`] and
//! a [`LiveAcl`] instead of the parsed files themselves; both forward every question to the file
//! currently installed, which a reload swaps. A reload first reads and parses every file (and
//! rebuilds every TLS setup), and installs nothing unless all of them succeeded, so a reload
//! that fails leaves the running configuration whole.
//!
//! Passwords are checked at CONNECT, so a new password file applies to the next connections.
//! ACL rules are asked on every publish, subscribe and delivery, so a new ACL file applies to
//! open connections too: a rule removed stops the deliveries it allowed at once.
//!
//! Not reloaded: the configuration file itself (listeners, tenants, limits, which files are
//! named); a tenant without a password or ACL file at start keeps having none.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use lantern_auth::{AclFile, PasswordFile};
use lantern_broker::auth::{Access, Acl, AclDecision, AclSubject, PasswordCheck, PasswordVerifier};
use lantern_net::{Reloader, ServerError};

/// A password file that a reload can replace.
pub(crate) struct LivePasswords {
    path: PathBuf,
    current: RwLock<Arc<PasswordFile>>,
}

impl LivePasswords {
    /// Loads the file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, lantern_auth::PasswordFileError> {
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(PasswordFile::load(path)?)),
        })
    }

    fn current(&self) -> Arc<PasswordFile> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn install(&self, file: PasswordFile) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(file);
    }
}

impl PasswordVerifier for LivePasswords {
    fn verify(&self, username: &str, password: &[u8]) -> PasswordCheck {
        self.current().verify(username, password)
    }
}

/// An ACL file that a reload can replace.
pub(crate) struct LiveAcl {
    path: PathBuf,
    current: RwLock<Arc<AclFile>>,
}

impl LiveAcl {
    /// Loads the file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, lantern_auth::AclFileError> {
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new(Arc::new(AclFile::load(path)?)),
        })
    }

    fn current(&self) -> Arc<AclFile> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn install(&self, file: AclFile) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(file);
    }
}

impl Acl for LiveAcl {
    fn check(&self, subject: &AclSubject<'_>, access: Access, topic: &str) -> AclDecision {
        self.current().check(subject, access, topic)
    }

    fn check_subscribe(&self, subject: &AclSubject<'_>, filter: &str) -> AclDecision {
        self.current().check_subscribe(subject, filter)
    }
}

/// Everything SIGHUP reloads: certificates (through the server's [`Reloader`]), password files
/// and ACL files.
#[derive(Clone)]
pub(crate) struct ConfigReloader {
    pub(crate) tls: Reloader,
    pub(crate) passwords: Vec<Arc<LivePasswords>>,
    pub(crate) acls: Vec<Arc<LiveAcl>>,
}

/// What a successful reload replaced.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reloaded {
    /// TLS listeners whose certificates, client CAs and CRLs were re-read.
    pub(crate) listeners: usize,
    /// Password files re-read.
    pub(crate) password_files: usize,
    /// ACL files re-read.
    pub(crate) acl_files: usize,
}

/// Why a reload failed; the running configuration is unchanged.
#[derive(Debug)]
pub(crate) enum ReloadError {
    /// A password file could not be read or parsed (the error names the file and line).
    Passwords(lantern_auth::PasswordFileError),
    /// An ACL file could not be read or parsed (the error names the file and line).
    Acl(lantern_auth::AclFileError),
    /// A certificate, key, client CA or CRL could not be loaded (the error names the file).
    Tls(ServerError),
}

impl std::fmt::Display for ReloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passwords(e) => e.fmt(f),
            Self::Acl(e) => e.fmt(f),
            Self::Tls(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReloadError {}

impl ConfigReloader {
    /// Reads every file again and installs them all, or none when one fails.
    pub(crate) fn reload(&self) -> Result<Reloaded, ReloadError> {
        let passwords = self
            .passwords
            .iter()
            .map(|p| PasswordFile::load(&p.path).map(|f| (p, f)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReloadError::Passwords)?;
        let acls = self
            .acls
            .iter()
            .map(|a| AclFile::load(&a.path).map(|f| (a, f)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReloadError::Acl)?;
        // The TLS reload installs its setups only when all of them built; it is the last
        // step that can fail, so after it nothing is left half done.
        let listeners = self.tls.reload().map_err(ReloadError::Tls)?;
        let (password_files, acl_files) = (passwords.len(), acls.len());
        for (live, file) in passwords {
            live.install(file);
        }
        for (live, file) in acls {
            live.install(file);
        }
        Ok(Reloaded {
            listeners,
            password_files,
            acl_files,
        })
    }
}
