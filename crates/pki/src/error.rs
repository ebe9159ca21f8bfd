//! [`PkiError`]: the one error type of this crate.

use std::io;
use std::path::PathBuf;

use crate::pem::PemProblem;

/// Everything that can go wrong reading, describing or issuing certificates.
///
/// Variants carry values (paths, line numbers, labels), never the contents of a key or of a
/// block that is not a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read, written or created.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done: "reading", "writing", "creating directory".
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The input is empty.
    #[error("the input is empty")]
    Empty,
    /// The input is neither PEM (no `-----BEGIN` line) nor a DER certificate.
    #[error("not a certificate: no \"-----BEGIN CERTIFICATE-----\" line and not DER either (binary data starting with 0x30)")]
    NotPemOrDer,
    /// The PEM input holds only blocks that are not certificates (e.g. a private key).
    /// Its contents are deliberately not shown.
    #[error(
        "the PEM block at line {line} is a {label}, not a CERTIFICATE{}",
        key_hint(label)
    )]
    NotACertificate {
        /// The label of the first block, e.g. `PRIVATE KEY`.
        label: String,
        /// 1-based line of its BEGIN line.
        line: usize,
    },
    /// The PEM structure is broken.
    #[error("line {line}: {problem}")]
    MalformedPem {
        /// 1-based line where the problem was found.
        line: usize,
        /// What is wrong.
        problem: PemProblem,
    },
    /// A block decoded fine but is not a valid X.509 certificate.
    #[error("certificate {index}{}: not a valid X.509 certificate ({reason})", at_line(*line))]
    BadCertificate {
        /// 1-based position of the certificate in the input.
        index: usize,
        /// 1-based line of its BEGIN line, for PEM input.
        line: Option<usize>,
        /// The parser's explanation.
        reason: String,
    },
    /// A name given for a server certificate is neither an IP address nor a valid DNS name.
    #[error("{name:?} is not a valid DNS name or IP address: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A common name for a client certificate is empty, too long or has control characters.
    #[error("{cn:?} is not a usable common name: {reason}")]
    InvalidCommonName {
        /// The name as given.
        cn: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A subject alternative name could not be understood or cannot be issued.
    #[error("{value:?} is not a usable subject alternative name: {reason}")]
    InvalidSan {
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Only part of the development CA exists; refusing to overwrite it.
    #[error("incomplete development CA in {}: {missing} is missing but {present} exists; move both away to create a new CA", dir.display())]
    IncompleteCa {
        /// The `pki` directory.
        dir: PathBuf,
        /// The missing file name.
        missing: &'static str,
        /// The file that exists.
        present: &'static str,
    },
    /// `ca.key` does not belong to `ca.pem`.
    #[error("{} does not hold the private key of {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// The key file could not be read as a private key. Its contents are not shown.
    #[error("{} is not a usable PKCS#8 private key ({reason})", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// The parser's explanation (never key material).
        reason: String,
    },
    /// Certificate or key generation failed.
    #[error("generating {what}: {source}")]
    Generate {
        /// What was being generated, e.g. "the server certificate".
        what: &'static str,
        /// rcgen's error.
        #[source]
        source: rcgen::Error,
    },
}

fn key_hint(label: &str) -> &'static str {
    if label.contains("PRIVATE KEY") {
        " (it looks like a private key; its contents are not shown — keep it secret and do not load it as a CA file)"
    } else {
        " (its contents are not shown)"
    }
}

fn at_line(line: Option<usize>) -> String {
    match line {
        Some(line) => format!(" (line {line})"),
        None => String::new(),
    }
}

impl PkiError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }

    pub(crate) fn generate(what: &'static str) -> impl FnOnce(rcgen::Error) -> Self {
        move |source| Self::Generate { what, source }
    }
}
