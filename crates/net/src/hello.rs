//! The ClientHello as the story records it: parsed from the raw bytes by the diagnostics
//! parser (offered versions, extensions, JA4 fingerprint, device family), or, when those bytes
//! do not parse, what rustls saw.

use lantern_diag::HelloSummary;

use crate::tls::HelloInfo;

/// The story's summary of a ClientHello read from `raw`.
pub(crate) fn summarize(raw: &[u8], info: &HelloInfo) -> HelloSummary {
    match lantern_diag::hello::parse_client_hello(raw) {
        Ok(hello) => hello.summary(),
        Err(_) => info.summary(),
    }
}
