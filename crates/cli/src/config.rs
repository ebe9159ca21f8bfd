//! The configuration file: TOML in, a validated [`Config`] out (parse, don't validate).
//!
//! ```toml
//! [[listener]]
//! name = "lan"          # optional, for logs
//! bind = "127.0.0.1"    # address; default 127.0.0.1
//! port = 1883           # default 1883; 0 lets the system choose
//!
//! [limits]
//! max_packet_size = 1048576     # bytes, fixed header included
//! max_keepalive = 60            # seconds; announced to v5 clients as Server Keep Alive
//! max_inflight = 64             # QoS 1/2 messages in flight per client
//! max_queued_messages = 1000    # per session
//! max_session_expiry = 86400    # seconds; absent = as the client asks
//! topic_alias_maximum = 64
//! connect_timeout = "10s"       # "500ms", "10s", "2m"
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU16, NonZeroU32};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use lantern_broker::BrokerConfig;
use lantern_net::ListenerSpec;
use serde::Deserialize;

/// The default MQTT port.
pub(crate) const DEFAULT_PORT: u16 = 1883;
/// The default address: loopback only, so a broker started with no configuration is not
/// reachable from the network (secure by default).
pub(crate) const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A validated configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) listeners: Vec<ListenerSpec>,
    pub(crate) broker: BrokerConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    listener: Vec<RawListener>,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    name: Option<String>,
    bind: Option<IpAddr>,
    port: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_packet_size: Option<u32>,
    max_keepalive: Option<u16>,
    max_inflight: Option<u16>,
    max_queued_messages: Option<usize>,
    max_session_expiry: Option<u32>,
    topic_alias_maximum: Option<u16>,
    connect_timeout: Option<String>,
}

impl Config {
    /// The configuration of `lantern serve` with no file: one listener on 127.0.0.1:1883.
    pub(crate) fn zero() -> Self {
        Self::from_raw(RawConfig::default()).unwrap_or_else(|_| Self {
            listeners: vec![default_listener()],
            broker: BrokerConfig::default(),
        })
    }

    /// Reads and validates a configuration file. Errors name the file, the line and the key.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let raw: RawConfig = toml::from_str(text)?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawConfig) -> anyhow::Result<Self> {
        let mut listeners = Vec::new();
        for (i, l) in raw.listener.into_iter().enumerate() {
            let addr = SocketAddr::new(
                l.bind.unwrap_or(DEFAULT_BIND),
                l.port.unwrap_or(DEFAULT_PORT),
            );
            let name = l.name.unwrap_or_else(|| format!("listener{}", i + 1));
            if listeners.iter().any(|x: &ListenerSpec| x.name == name) {
                bail!("[[listener]] #{}: name {name:?} is used twice", i + 1);
            }
            listeners.push(ListenerSpec { name, addr });
        }
        if listeners.is_empty() {
            listeners.push(default_listener());
        }

        let mut broker = BrokerConfig::default();
        let limits = raw.limits;
        if let Some(v) = limits.max_packet_size {
            broker.max_packet_size = NonZeroU32::new(v)
                .filter(|v| v.get() >= 16)
                .context("limits.max_packet_size: expected at least 16 bytes")?;
        }
        broker.max_keepalive = limits.max_keepalive;
        if broker.max_keepalive == Some(0) {
            bail!("limits.max_keepalive: expected 1..=65535 seconds (leave it out for no maximum)");
        }
        if let Some(v) = limits.max_inflight {
            broker.max_inflight =
                NonZeroU16::new(v).context("limits.max_inflight: expected 1..=65535")?;
        }
        if let Some(v) = limits.max_queued_messages {
            if v == 0 {
                bail!("limits.max_queued_messages: expected at least 1");
            }
            broker.max_queued_messages = v;
        }
        broker.max_session_expiry = limits.max_session_expiry;
        if let Some(v) = limits.topic_alias_maximum {
            broker.topic_alias_maximum = v;
        }
        if let Some(v) = limits.connect_timeout {
            broker.connect_timeout =
                parse_duration(&v).with_context(|| format!("limits.connect_timeout = {v:?}"))?;
        }
        Ok(Self { listeners, broker })
    }
}

fn default_listener() -> ListenerSpec {
    ListenerSpec {
        name: "default".into(),
        addr: SocketAddr::new(DEFAULT_BIND, DEFAULT_PORT),
    }
}

/// "250ms", "10s", "2m", "1h".
pub(crate) fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .with_context(|| "expected a number followed by ms, s, m or h")?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        other => bail!("unknown unit {other:?}: expected ms, s, m or h"),
    };
    if d.is_zero() {
        bail!("expected a duration above zero");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_config_is_loopback_1883() {
        let c = Config::zero();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].addr, "127.0.0.1:1883".parse().unwrap());
    }

    #[test]
    fn full_file_parses() {
        let c = Config::parse(
            r#"
            [[listener]]
            name = "a"
            bind = "127.0.0.1"
            port = 0
            [[listener]]
            bind = "::1"
            port = 1884
            [limits]
            max_keepalive = 60
            max_packet_size = 2048
            connect_timeout = "500ms"
            "#,
        )
        .unwrap();
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[1].name, "listener2");
        assert_eq!(c.broker.max_keepalive, Some(60));
        assert_eq!(c.broker.max_packet_size.get(), 2048);
        assert_eq!(c.broker.connect_timeout, Duration::from_millis(500));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = Config::parse("[limits]\nmax_keepalive = 60\nmax_kepalive = 5\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("max_kepalive"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line_and_expectation() {
        let err = Config::parse("[[listener]]\nport = \"abc\"\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("u16") || msg.contains("integer"), "{msg}");
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let err = Config::parse("[limits]\nmax_inflight = 0\n").unwrap_err();
        assert!(format!("{err:#}").contains("limits.max_inflight"));
        let err = Config::parse("[limits]\nconnect_timeout = \"10 parsecs\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("limits.connect_timeout"));
    }
}
