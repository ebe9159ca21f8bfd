//! `lantern-pki`: certificates for people who have not thought about certificates yet.
//!
//! Two jobs:
//!
//! - **A development PKI** ([`DevPki`]): on first run, a local CA plus a server and a client
//!   certificate in `<data dir>/pki/`, so that TLS and mutual TLS work immediately, with
//!   [`DevPki::first_run_instructions`] printing `mosquitto_sub` commands and the CA's exact byte
//!   length for modems (SIMCom `AT+CCERTDOWN` needs it).
//! - **Describing certificates in plain words** ([`describe_pem`], [`CertSummary`]): subject,
//!   issuer, SANs, validity relative to an injected `now`, key type, fingerprint, plus how the
//!   file is laid out (CRLF line endings, a byte-order mark, stray text), which is where device
//!   TLS set-ups most often go wrong. [`identity_of`] extracts the identity `lantern-net` uses
//!   for mTLS clients.
//!
//! Where it sits: a leaf library used by `lantern-net` (mTLS identity) and the `lantern` binary
//! (`lantern cert`, first-run set-up). It does **not** do TLS, verify chains against trust
//! stores, or talk to the network; and it never logs or prints private key material (key
//! holders have a redacted `Debug`, and PEM blocks that are not certificates are never decoded).
//!
//! Keys are ECDSA only ([`KeyType`]): rcgen's `ring` backend cannot generate RSA keys.

mod describe;
mod dev;
mod error;
mod identity;
mod pem;

pub use describe::{
    describe_der, describe_pem, fingerprint_sha256, human_duration, CertSummary, Described,
    Ignored, InputFormat, KeyDescription, San, Validity,
};
pub use dev::{
    DevPki, DevPkiPaths, Issued, KeyType, CA_VALIDITY_DAYS, DEV_CLIENT_CN, LEAF_VALIDITY_DAYS,
    RENEW_WITHIN_DAYS,
};
pub use error::PkiError;
pub use identity::{identity_of, IdentitySource};
pub use pem::{LineEndings, PemProblem};
/// Re-exported for [`CertSummary::not_before`] / [`CertSummary::not_after`].
pub use time::OffsetDateTime;
