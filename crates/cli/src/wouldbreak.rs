//! Policy dry runs over recorded stories: which devices would stop connecting if the TLS
//! policy changed (`lantern why --would-break 'min_version=1.2'` or `'no-legacy'`), and which
//! devices still negotiate weak suites.
//!
//! The answer comes from what each device offered in its most recent ClientHello, not from
//! what it negotiated: a device that negotiates a CBC suite today but also offers an ECDHE-GCM
//! one keeps connecting when the legacy suites go.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use lantern_diag::suites::{
    is_legacy_suite_name as is_legacy, is_signaling_suite_name as is_signaling,
};
use lantern_diag::{EventKind, HelloSummary, Story};
use serde::{Deserialize, Serialize};

/// A TLS policy to try on the recorded devices.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Policy {
    /// Refuse TLS versions below this one (2 = TLS 1.2, 3 = TLS 1.3).
    MinVersion(u8),
    /// Serve only what rustls speaks: no static-RSA, CBC, 3DES or RC4 suites.
    NoLegacy,
}

impl Policy {
    /// Parses `min_version=1.2`, `min_version=1.3` or `no-legacy`.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        match text.trim() {
            "no-legacy" | "no_legacy" => Ok(Self::NoLegacy),
            "min_version=1.2" => Ok(Self::MinVersion(2)),
            "min_version=1.3" => Ok(Self::MinVersion(3)),
            other => anyhow::bail!(
                "unknown policy {other:?}: expected 'min_version=1.2', 'min_version=1.3' or 'no-legacy'"
            ),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MinVersion(v) => write!(f, "min_version=1.{v}"),
            Self::NoLegacy => f.write_str("no-legacy"),
        }
    }
}

/// A device that would fail under the policy.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub(crate) struct Breakage {
    /// The client id, or the peer address for devices that never got as far as CONNECT.
    pub(crate) device: String,
    /// The peer address of its latest connection.
    pub(crate) peer: String,
    /// Why it would fail.
    pub(crate) reason: String,
    /// When it was last seen, ms since the epoch.
    pub(crate) last_seen_ms: u64,
    /// Its ClientHello fingerprint.
    pub(crate) fingerprint: String,
}

/// The devices (latest ClientHello of each, seen at or after `since_ms`) that would fail under
/// `policy`, sorted by device.
pub(crate) fn would_break<'a>(
    newest_first: impl IntoIterator<Item = &'a Story>,
    policy: Policy,
    since_ms: u64,
) -> Vec<Breakage> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for story in newest_first {
        if story.started_ms < since_ms {
            continue;
        }
        let Some(hello) = hello(story) else { continue };
        let device = device_of(story);
        if !seen.insert(device.clone()) {
            continue; // an older story of a device already judged
        }
        if let Some(reason) = judge(hello, policy) {
            out.push(Breakage {
                device,
                peer: story.peer.clone(),
                reason,
                last_seen_ms: story.started_ms,
                fingerprint: hello.fingerprint.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.device.cmp(&b.device));
    out
}

/// Devices per weak suite actually negotiated.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Serialize)]
pub(crate) struct LegacyCount {
    /// The negotiated suite (IANA name).
    pub(crate) suite: String,
    /// Distinct devices.
    pub(crate) devices: usize,
    /// Distinct ClientHello fingerprints among them.
    pub(crate) hellos: usize,
}

/// Counts devices per legacy suite they negotiated, most devices first.
pub(crate) fn legacy_counts<'a>(stories: impl IntoIterator<Item = &'a Story>) -> Vec<LegacyCount> {
    let mut by_suite: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for story in stories {
        let Some(suite) = story.events.iter().find_map(|e| match &e.kind {
            EventKind::TlsEstablished { suite, .. } if is_legacy(suite) => Some(suite.clone()),
            _ => None,
        }) else {
            continue;
        };
        let entry = by_suite.entry(suite).or_default();
        entry.0.insert(device_of(story));
        if let Some(fp) = story.hello_fingerprint.clone() {
            entry.1.insert(fp);
        }
    }
    let mut out: Vec<LegacyCount> = by_suite
        .into_iter()
        .map(|(suite, (devices, hellos))| LegacyCount {
            suite,
            devices: devices.len(),
            hellos: hellos.len(),
        })
        .collect();
    out.sort_by(|a, b| b.devices.cmp(&a.devices).then(a.suite.cmp(&b.suite)));
    out
}

fn judge(hello: &HelloSummary, policy: Policy) -> Option<String> {
    match policy {
        Policy::MinVersion(min) => {
            let best = hello.versions.iter().filter_map(|v| minor(v)).max()?;
            (best < min).then(|| {
                format!(
                    "offers at most TLS 1.{best} ({}); the policy requires TLS 1.{min} or later",
                    hello.versions.join(", ")
                )
            })
        }
        Policy::NoLegacy => {
            let suites: Vec<&String> = hello
                .cipher_suites
                .iter()
                .filter(|s| !is_signaling(s))
                .collect();
            (!suites.is_empty() && suites.iter().all(|s| is_legacy(s))).then(|| {
                format!(
                    "offers only legacy suites ({}); without the legacy backend it shares no suite with the broker",
                    suites.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            })
        }
    }
}

/// "TLSv1.2" → 2; "TLSv1.0" → 0.
fn minor(version: &str) -> Option<u8> {
    version.strip_prefix("TLSv1.")?.parse().ok()
}

fn hello(story: &Story) -> Option<&HelloSummary> {
    story.events.iter().find_map(|e| match &e.kind {
        EventKind::ClientHello(h) => Some(&**h),
        _ => None,
    })
}

fn device_of(story: &Story) -> String {
    match story.client_id.as_deref().filter(|c| !c.is_empty()) {
        Some(client) => client.to_owned(),
        None => story
            .peer
            .rsplit_once(':')
            .map_or(story.peer.clone(), |(ip, _)| ip.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use lantern_diag::Event;

    use super::*;

    fn story(
        client: &str,
        at: u64,
        versions: &[&str],
        suites: &[&str],
        negotiated: Option<&str>,
    ) -> Story {
        let hello = HelloSummary {
            versions: versions.iter().map(|s| s.to_string()).collect(),
            cipher_suites: suites.iter().map(|s| s.to_string()).collect(),
            fingerprint: format!("fp-{}", suites.len()),
            ..HelloSummary::default()
        };
        let mut events = vec![Event {
            at_ms: 1,
            kind: EventKind::ClientHello(Box::new(hello)),
        }];
        if let Some(suite) = negotiated {
            events.push(Event {
                at_ms: 2,
                kind: EventKind::TlsEstablished {
                    version: "TLSv1.2".into(),
                    suite: suite.into(),
                    client_cert_subject: None,
                    client_cert_issuer: None,
                    client_cert_validity: None,
                },
            });
        }
        Story {
            client_id: Some(client.into()),
            peer: "10.0.0.7:5000".into(),
            started_ms: at,
            hello_fingerprint: Some(format!("fp-{}", suites.len())),
            events,
            ..Story::default()
        }
    }

    #[test]
    fn min_version_names_devices_that_offer_less() {
        let stories = [
            story(
                "old-modem",
                10,
                &["TLSv1.1", "TLSv1.0"],
                &["TLS_RSA_WITH_AES_128_CBC_SHA"],
                None,
            ),
            story(
                "esp32",
                9,
                &["TLSv1.2"],
                &["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
                None,
            ),
        ];
        let broken = would_break(&stories, Policy::MinVersion(2), 0);
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].device, "old-modem");
        assert!(
            broken[0].reason.contains("at most TLS 1.1"),
            "{}",
            broken[0].reason
        );
        assert_eq!(would_break(&stories, Policy::MinVersion(3), 0).len(), 2);
    }

    #[test]
    fn no_legacy_spares_devices_that_also_offer_modern_suites() {
        let stories = [
            story(
                "w5500",
                10,
                &["TLSv1.2"],
                &[
                    "TLS_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_RSA_WITH_AES_256_CBC_SHA256",
                    "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
                ],
                Some("TLS_RSA_WITH_AES_128_GCM_SHA256"),
            ),
            story(
                "mixed",
                9,
                &["TLSv1.2"],
                &[
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                ],
                Some("TLS_RSA_WITH_AES_128_CBC_SHA"),
            ),
        ];
        let broken = would_break(&stories, Policy::NoLegacy, 0);
        assert_eq!(
            broken.iter().map(|b| b.device.as_str()).collect::<Vec<_>>(),
            ["w5500"]
        );
        assert!(!broken[0].reason.contains("SCSV"));
        let legacy = legacy_counts(&stories);
        assert_eq!(legacy.len(), 2);
        assert!(legacy.iter().all(|l| l.devices == 1));
    }

    #[test]
    fn only_the_latest_hello_of_a_device_counts_and_old_ones_are_outside_the_window() {
        // Newest first: the device upgraded its firmware.
        let stories = [
            story(
                "dev",
                20,
                &["TLSv1.2"],
                &["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                None,
            ),
            story(
                "dev",
                10,
                &["TLSv1.2"],
                &["TLS_RSA_WITH_AES_128_CBC_SHA"],
                None,
            ),
            story(
                "gone",
                1,
                &["TLSv1.2"],
                &["TLS_RSA_WITH_AES_128_CBC_SHA"],
                None,
            ),
        ];
        assert!(would_break(&stories, Policy::NoLegacy, 5).is_empty());
    }

    #[test]
    fn policies_parse() {
        assert_eq!(
            Policy::parse("min_version=1.2").unwrap(),
            Policy::MinVersion(2)
        );
        assert_eq!(Policy::parse("no-legacy").unwrap(), Policy::NoLegacy);
        assert!(Policy::parse("min_version=1.1").is_err());
    }
}
