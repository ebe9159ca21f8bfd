//! Password and ACL files in mosquitto's formats, answering the broker's auth questions.
//!
//! `lantern-broker` asks two questions through traits in [`lantern_broker::auth`]: "is this
//! password right?" ([`PasswordVerifier`](lantern_broker::auth::PasswordVerifier)) and "may this
//! client read or write this topic?" ([`Acl`](lantern_broker::auth::Acl)). This crate answers
//! them from files an operator migrating from mosquitto 2.0 already has:
//!
//! - [`PasswordFile`]: `username:hash` lines as `mosquitto_passwd` writes them (`$7$` PBKDF2 and
//!   the older `$6$` salted SHA-512), plus [`set_password`] and [`delete_user`] to edit such a
//!   file in place, atomically, writing entries mosquitto itself accepts.
//! - [`AclFile`]: mosquitto's `acl_file` (`user`, `topic`, `pattern` lines), where every
//!   decision names the line that made it.
//!
//! It sits beside the broker in the layer diagram (`lantern-broker ← lantern-auth ← cli`) and
//! does no network IO, no logging and no caching: the broker decides when to ask and what to
//! answer on the wire, and reloading a changed file is the caller's business.
//!
//! Secrets stay out of diagnostics: no `Debug` or error in this crate prints a password, a
//! hash or a salt.

mod acl;
mod password;

pub use acl::{filter_covers, filters_intersect, AclFile, AclFileError, AclProblem};
pub use password::{
    delete_user, set_password, validate_username, CredentialError, EntryProblem, PasswordChange,
    PasswordFile, PasswordFileError, MAX_ITERATIONS, MOSQUITTO_ITERATIONS, SALT_LEN,
};
