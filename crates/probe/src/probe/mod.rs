//! `lantern probe URL`: connect to a broker the way a device does and say where it fails.
//!
//! The shape follows STYLE.md idiom 11: the CLI builds a validated [`Plan`] (usage errors are
//! [`PlanError`], exit code 2), [`run`] walks the stages a device walks — DNS, TCP, TLS,
//! WebSocket upgrade, CONNECT/CONNACK, SUBSCRIBE and PUBLISH round trip, PINGREQ — and stops at
//! the first that fails, and the [`Report`] says what happened with the same cause ids and
//! sentences as the broker's stories (lantern-diag). For TLS it also maps the server: versions
//! and suites accepted (with hand-built ClientHellos, since rustls cannot offer the legacy
//! suites devices send), SNI behaviour, the chain served per name, ALPN and max fragment
//! length; and it gives a verdict per device [`profiles::Profile`].
//!
//! Bounded by construction: at most [`MAX_CONNECTIONS`] connections per run, every wait under
//! the stage timeout, the TLS map under three stage timeouts, reads capped in size.
//!
//! Deliberately not here: the broker crates. The probe tests Lantern as an outsider would.

mod mqtt;
pub mod profiles;
mod render;
mod run;
mod scan;
mod tlsclient;
mod verdict;
mod wire;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lantern_codec::ProtocolVersion;
use serde::Serialize;

pub use profiles::{Profile, Source, PROFILES};
pub use run::run;
pub use scan::{
    AlpnResult, ChainReport, MflResult, SniCase, SniMap, SuiteResult, TlsMap, VersionResult,
};
pub use tlsclient::CertFacts;

/// The most TCP connections one probe run opens (the TLS map, profiles and the session).
pub const MAX_CONNECTIONS: usize = 60;

/// The default timeout of each stage.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the broker is reached.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// MQTT over TCP (default port 1883).
    Mqtt,
    /// MQTT over TLS (8883).
    Mqtts,
    /// MQTT over WebSocket (80).
    Ws,
    /// MQTT over WebSocket over TLS (443).
    Wss,
}

impl Scheme {
    /// Whether the transport has TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Mqtts | Self::Wss)
    }

    /// Whether MQTT travels in WebSocket frames.
    pub fn is_ws(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Mqtt => 1883,
            Self::Mqtts => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Mqtt => "mqtt",
            Self::Mqtts => "mqtts",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }
}

/// The broker URL, parsed.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Target {
    /// Scheme.
    pub scheme: Scheme,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
    /// WebSocket path (default `/mqtt`); `/` for MQTT.
    pub path: String,
}

impl Target {
    /// Parses `mqtt://`, `mqtts://`, `ws://` or `wss://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<Target, PlanError> {
        let bad = |why: &str| PlanError(format!("{url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected mqtt://, mqtts://, ws:// or wss://HOST[:PORT][/PATH]"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => Scheme::Mqtt,
            "mqtts" | "ssl" | "tls" => Scheme::Mqtts,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            other => {
                return Err(bad(&format!(
                    "unknown scheme {other:?}; use mqtt, mqtts, ws or wss"
                )))
            }
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials in the URL are not accepted: use --user and --password-env",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(bad("junk after ]")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("port {p:?} is not 1-65535")))?,
            None => scheme.default_port(),
        };
        let path = if scheme.is_ws() {
            if path.is_empty() {
                "/mqtt".to_owned()
            } else {
                path.to_owned()
            }
        } else {
            if !path.is_empty() && path != "/" {
                return Err(bad("a path only makes sense for ws:// and wss://"));
            }
            "/".to_owned()
        };
        Ok(Target {
            scheme,
            host: host.to_owned(),
            port,
            path,
        })
    }

    /// Whether the host is an IP address (which SNI cannot carry).
    pub fn host_is_ip(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{host}:{}", self.scheme.as_str(), self.port)?;
        if self.scheme.is_ws() {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

/// Which SNI the probe's own session sends.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub enum SniChoice {
    /// The URL's host, when it is a name (`--sni` not given).
    #[default]
    Host,
    /// `--sni NAME`.
    Name(String),
    /// `--no-sni`.
    Off,
}

/// An MQTT password: redacted in Debug output (STYLE idiom 5).
#[derive(Clone, Default)]
pub struct Password(pub Vec<u8>);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A validated probe run: everything [`run`] needs, files already read.
#[derive(Debug)]
pub struct Plan {
    /// Where.
    pub target: Target,
    /// The `--ca` file's contents (PEM).
    pub ca_pem: Option<Vec<u8>>,
    /// `--cert` and `--key` contents (PEM).
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// `--user`.
    pub username: Option<String>,
    /// The password (from `--password-env` or a prompt).
    pub password: Option<Password>,
    /// `--client-id`, or `lantern-probe-<random>`.
    pub client_id: String,
    /// `--sni` / `--no-sni`.
    pub sni: SniChoice,
    /// `--mqtt 3.1.1|5`.
    pub mqtt: ProtocolVersion,
    /// `--profile`.
    pub profile: Option<&'static Profile>,
    /// `--timeout`, per stage.
    pub timeout: Duration,
    /// `--save-ca FILE`.
    pub save_ca: Option<PathBuf>,
    /// Whether to map the server's TLS (versions, suites, SNI, chains, profiles); on unless
    /// `--no-map`.
    pub map_tls: bool,
}

impl Plan {
    /// A plan with defaults for `url`: no credentials, MQTT 3.1.1, SNI from the host, a random
    /// client id, [`DEFAULT_TIMEOUT`], the TLS map on.
    pub fn new(url: &str) -> Result<Plan, PlanError> {
        Ok(Plan {
            target: Target::parse(url)?,
            ca_pem: None,
            client_cert: None,
            username: None,
            password: None,
            client_id: random_client_id(),
            sni: SniChoice::Host,
            mqtt: ProtocolVersion::V311,
            profile: None,
            timeout: DEFAULT_TIMEOUT,
            save_ca: None,
            map_tls: true,
        })
    }

    /// The SNI name the probe's own session sends, if any.
    pub fn sni_name(&self) -> Option<String> {
        match &self.sni {
            SniChoice::Off => None,
            SniChoice::Name(n) => Some(n.clone()),
            SniChoice::Host if self.target.host_is_ip() => None,
            SniChoice::Host => Some(self.target.host.clone()),
        }
    }

    /// The name the certificate is checked against: `--sni`, else the host.
    pub fn verify_name(&self) -> String {
        match &self.sni {
            SniChoice::Name(n) => n.clone(),
            _ => self.target.host.clone(),
        }
    }
}

/// A usage error: the plan cannot be built (exit code 2).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PlanError(pub String);

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

/// `lantern-probe-` and 8 random hex digits.
pub fn random_client_id() -> String {
    let r = tlsclient::random96();
    format!(
        "lantern-probe-{}",
        r[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// A stage of the walk.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Name resolution.
    Dns,
    /// TCP connect.
    Tcp,
    /// TLS handshake.
    Tls,
    /// WebSocket upgrade.
    WebSocket,
    /// CONNECT / CONNACK.
    Connect,
    /// SUBSCRIBE / SUBACK.
    Subscribe,
    /// PUBLISH QoS 1 and its echo.
    Publish,
    /// PINGREQ / PINGRESP.
    Ping,
}

impl Stage {
    /// The stage's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dns => "DNS",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::WebSocket => "WebSocket",
            Self::Connect => "CONNECT",
            Self::Subscribe => "SUBSCRIBE",
            Self::Publish => "PUBLISH",
            Self::Ping => "PINGREQ",
        }
    }
}

/// Why a stage failed: a cause id from the shared vocabulary, one sentence, fixes.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// The stage.
    pub stage: Stage,
    /// Cause id (`tls.no_sni`, `auth.bad_password`, …); the broker's ids where one fits.
    pub cause: String,
    /// One sentence.
    pub sentence: String,
    /// What to change.
    pub fixes: Vec<String>,
}

/// One stage's result.
#[derive(Clone, Debug, Serialize)]
pub struct StageResult {
    /// Which.
    pub stage: Stage,
    /// Passed.
    pub ok: bool,
    /// What happened, e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384".
    pub detail: String,
    /// How long it took.
    pub elapsed_ms: u64,
    /// Why it failed.
    pub finding: Option<Finding>,
}

/// A profile's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileVerdict {
    /// The profile name.
    pub profile: String,
    /// Whether a device with this profile will connect.
    pub connects: bool,
    /// The one-sentence verdict.
    pub verdict: String,
    /// The stage it fails at.
    pub stage: Option<Stage>,
    /// The cause id of the failure.
    pub cause: Option<String>,
    /// What the server answered the profile's ClientHello.
    pub answer: String,
    /// The broker-side explanation (lantern-diag) and fixes.
    pub explanation: Option<String>,
    /// Fixes.
    pub fixes: Vec<String>,
}

/// The root certificate written by `--save-ca`.
#[derive(Clone, Debug, Serialize)]
pub struct SavedCa {
    /// The file.
    pub path: String,
    /// Its length in bytes (for AT+CCERTDOWN).
    pub bytes: usize,
    /// The certificate's subject.
    pub subject: String,
}

/// Everything a probe run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The URL probed.
    pub target: String,
    /// The client id used.
    pub client_id: String,
    /// The MQTT version used.
    pub mqtt: String,
    /// The stages walked, in order; the walk stops at the first failure.
    pub stages: Vec<StageResult>,
    /// The TLS map (TLS schemes only).
    pub tls: Option<TlsMap>,
    /// One verdict per profile (TLS schemes only).
    pub profiles: Vec<ProfileVerdict>,
    /// `--profile`, when given.
    pub requested_profile: Option<String>,
    /// The root written by `--save-ca`.
    pub saved_ca: Option<SavedCa>,
    /// Remarks (unverified certificate, budget spent, …).
    pub notes: Vec<String>,
    /// TCP connections opened.
    pub connections: usize,
}

impl Report {
    /// The first failed stage's finding.
    pub fn finding(&self) -> Option<&Finding> {
        self.stages.iter().find_map(|s| s.finding.as_ref())
    }

    /// Whether the walk succeeded end to end (and the requested profile connects).
    pub fn connects(&self) -> bool {
        let walked = !self.stages.is_empty() && self.stages.iter().all(|s| s.ok);
        let profile_ok = match &self.requested_profile {
            Some(name) => self
                .profiles
                .iter()
                .find(|p| &p.profile == name)
                .is_none_or(|p| p.connects),
            None => true,
        };
        walked && profile_ok
    }

    /// The exit code: 0 connects, 1 a finding.
    pub fn exit_code(&self) -> u8 {
        if self.connects() {
            0
        } else {
            1
        }
    }

    /// The report as text (stages with ✓/✗, the TLS map, per-profile verdicts).
    pub fn to_text(&self) -> String {
        render::text(self)
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_paths() {
        let t = Target::parse("mqtts://broker.example.com").unwrap();
        assert_eq!(
            (t.scheme, t.port, t.path.as_str()),
            (Scheme::Mqtts, 8883, "/")
        );
        let t = Target::parse("wss://h:8443").unwrap();
        assert_eq!((t.port, t.path.as_str()), (8443, "/mqtt"));
        let t = Target::parse("ws://[::1]:9001/ws").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 9001, "/ws")
        );
        assert!(t.host_is_ip());
        assert_eq!(t.to_string(), "ws://[::1]:9001/ws");
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("mqtt://u:p@x").is_err());
        assert!(Target::parse("mqtt://x:0").is_err());
        assert!(Target::parse("mqtt://x/path").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            format!("{:?}", Password(b"secret".to_vec())),
            "Password(..)"
        );
    }
}
