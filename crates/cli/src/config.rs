//! The configuration file: TOML in, a validated [`Config`] out (parse, don't validate). Every
//! key is optional; relative paths are relative to the file's directory. See the README for a
//! commented example.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::{NonZeroU16, NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use lantern_broker::{BrokerConfig, OtherIdentity};
use lantern_net::tls::{MinVersion, MtlsMode, SniMode, TlsPolicy};
use lantern_net::{ConnLimits, ConnectRate, ListenerSpec, Transport};
use lantern_pki::IdentitySource;
use serde::Deserialize;

/// The default MQTT port.
pub(crate) const DEFAULT_PORT: u16 = 1883;
/// The default address: loopback only, so a broker started with no configuration is not
/// reachable from the network (secure by default).
pub(crate) const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The tenant that exists when the file declares none.
pub(crate) const DEFAULT_TENANT: &str = "default";
/// The data directory when neither the file, `--data-dir` nor `LANTERN_DATA_DIR` names one.
pub(crate) const DEFAULT_DATA_DIR: &str = "lantern-data";

/// A validated configuration.
#[derive(Debug)]
pub(crate) struct Config {
    /// Things an operator should know about this configuration, logged at start.
    pub(crate) warnings: Vec<String>,
    pub(crate) listeners: Vec<ListenerSpec>,
    pub(crate) tenants: Vec<TenantConfig>,
    pub(crate) broker: BrokerConfig,
    /// Connection limits at accept, shared by every listener.
    pub(crate) conn_limits: ConnLimits,
    pub(crate) data_dir: Option<PathBuf>,
    /// `[persistence]`: when an acknowledged change is on disk.
    pub(crate) durability: lantern_store::Durability,
}

/// One tenant as configured; files are loaded when the server starts.
#[derive(Clone, Debug)]
pub(crate) struct TenantConfig {
    pub(crate) name: Arc<str>,
    pub(crate) hosts: Vec<String>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    pub(crate) client_ca: Option<PathBuf>,
    pub(crate) crl: Option<PathBuf>,
    pub(crate) password_file: Option<PathBuf>,
    pub(crate) acl_file: Option<PathBuf>,
    pub(crate) cert_identity: IdentitySource,
    pub(crate) cert_identity_as_username: bool,
    pub(crate) require_client_id_match: bool,
}

impl TenantConfig {
    pub(crate) fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            hosts: Vec::new(),
            cert: None,
            key: None,
            client_ca: None,
            crl: None,
            password_file: None,
            acl_file: None,
            cert_identity: IdentitySource::CommonName,
            cert_identity_as_username: false,
            require_client_id_match: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: Option<PathBuf>,
    #[serde(default)]
    listener: Vec<RawListener>,
    #[serde(default)]
    tenant: Vec<RawTenant>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    session: RawSession,
    #[serde(default)]
    persistence: RawPersistence,
}

/// `[persistence]`: the durability policy of the store in `<data dir>/store/`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersistence {
    /// "sync" (default): a QoS 1/2 PUBLISH or a SUBSCRIBE is on disk before its
    /// acknowledgement leaves; "interval": written and fsynced every `durability_interval`.
    durability: Option<RawDurability>,
    /// The window of "interval", e.g. "100ms" (default).
    durability_interval: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawDurability {
    Sync,
    Interval,
}

/// The window of `durability = "interval"` when none is configured.
pub(crate) const DEFAULT_DURABILITY_INTERVAL: Duration = Duration::from_millis(100);

/// `[session]`: who may use a persistent session.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    /// "new-session" (default) or "refuse".
    other_identity: Option<RawOtherIdentity>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawOtherIdentity {
    NewSession,
    Refuse,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListener {
    name: Option<String>,
    bind: Option<IpAddr>,
    port: Option<u16>,
    transport: Option<RawTransport>,
    allow_anonymous: Option<bool>,
    default_tenant: Option<String>,
    ws_path: Option<String>,
    handshake_timeout: Option<String>,
    first_byte_timeout: Option<String>,
    max_handshakes: Option<usize>,
    max_handshakes_per_ip: Option<usize>,
    tls_min_version: Option<String>,
    tls_backend: Option<RawBackend>,
    tls_versions: Option<Vec<String>>,
    cipher_suites: Option<Vec<String>>,
    sni: Option<RawSni>,
    mtls: Option<RawMtls>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawTransport {
    Tcp,
    Tls,
    Ws,
    Wss,
}

/// Which TLS implementation terminates a listener's connections.
#[derive(Clone, Copy, Debug, Deserialize, Eq, PartialEq)]
#[serde(rename_all = "lowercase")]
enum RawBackend {
    /// rustls: TLS 1.2 and 1.3, forward-secret AEAD suites only. The default.
    Rustls,
    /// The system OpenSSL, for devices that need static RSA, CBC or TLS 1.0/1.1.
    Legacy,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawSni {
    Off,
    Optional,
    Required,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawMtls {
    None,
    Optional,
    Required,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: String,
    #[serde(default)]
    hosts: Vec<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    crl: Option<PathBuf>,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
    cert_identity: Option<RawIdentity>,
    #[serde(default)]
    cert_identity_as_username: bool,
    #[serde(default)]
    require_client_id_match: bool,
    max_connections: Option<usize>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RawIdentity {
    Cn,
    SanDns,
    SanUri,
    SanEmail,
    Dn,
    Fingerprint,
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
    slow_subscriber_timeout: Option<String>,
    max_retained_per_subscription: Option<usize>,
    max_subscriptions_per_client: Option<usize>,
    max_topic_length: Option<usize>,
    max_topic_levels: Option<usize>,
    max_connect_packet_size: Option<u32>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_connect_rate_per_ip: Option<u32>,
    connect_burst_per_ip: Option<u32>,
}

impl Config {
    /// The configuration of `lantern serve` with no file: one listener on 127.0.0.1:1883.
    pub(crate) fn zero() -> Self {
        Self {
            warnings: Vec::new(),
            listeners: vec![ListenerSpec::tcp(
                "default",
                SocketAddr::new(DEFAULT_BIND, DEFAULT_PORT),
            )],
            tenants: vec![TenantConfig::named(DEFAULT_TENANT)],
            broker: BrokerConfig::default(),
            conn_limits: ConnLimits::default(),
            data_dir: None,
            durability: lantern_store::Durability::Sync,
        }
    }

    /// Reads and validates a configuration file. Errors name the file, the line and the key.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).with_context(|| format!("invalid config file {}", path.display()))
    }

    pub(crate) fn parse(text: &str, base: &Path) -> anyhow::Result<Self> {
        let raw: RawConfig = toml::from_str(text)?;
        Self::from_raw(raw, base)
    }

    fn from_raw(raw: RawConfig, base: &Path) -> anyhow::Result<Self> {
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        let mut tenants = Vec::new();
        let mut conn_limits = ConnLimits::default();
        for (i, t) in raw.tenant.into_iter().enumerate() {
            let at = format!("[[tenant]] #{} ({:?})", i + 1, t.name);
            if t.name.is_empty() {
                bail!("[[tenant]] #{}: name must not be empty", i + 1);
            }
            if let Some(n) = t.max_connections {
                let n = NonZeroUsize::new(n)
                    .with_context(|| format!("{at}: max_connections must be at least 1"))?;
                conn_limits
                    .max_connections_per_tenant
                    .insert(t.name.as_str().into(), n);
            }
            if tenants.iter().any(|x: &TenantConfig| *x.name == *t.name) {
                bail!("{at}: the name is used twice");
            }
            if t.cert.is_some() != t.key.is_some() {
                bail!("{at}: cert and key go together; set both or neither (neither = the development certificate)");
            }
            tenants.push(TenantConfig {
                name: t.name.as_str().into(),
                hosts: t.hosts,
                cert: t.cert.map(resolve),
                key: t.key.map(resolve),
                client_ca: t.client_ca.map(resolve),
                crl: t.crl.map(resolve),
                password_file: t.password_file.map(resolve),
                acl_file: t.acl_file.map(resolve),
                cert_identity: match t.cert_identity.unwrap_or(RawIdentity::Cn) {
                    RawIdentity::Cn => IdentitySource::CommonName,
                    RawIdentity::SanDns => IdentitySource::SanDns,
                    RawIdentity::SanUri => IdentitySource::SanUri,
                    RawIdentity::SanEmail => IdentitySource::SanEmail,
                    RawIdentity::Dn => IdentitySource::Dn,
                    RawIdentity::Fingerprint => IdentitySource::FingerprintSha256,
                },
                cert_identity_as_username: t.cert_identity_as_username,
                require_client_id_match: t.require_client_id_match,
            });
        }
        if tenants.is_empty() {
            tenants.push(TenantConfig::named(DEFAULT_TENANT));
        }
        let first_tenant = tenants[0].name.clone();

        let mut listeners: Vec<ListenerSpec> = Vec::new();
        let mut warnings = Vec::new();
        for (i, l) in raw.listener.into_iter().enumerate() {
            let name = l
                .name
                .clone()
                .unwrap_or_else(|| format!("listener{}", i + 1));
            let at = format!("[[listener]] #{} ({name:?})", i + 1);
            if listeners.iter().any(|x| x.name == name) {
                bail!("{at}: the name is used twice");
            }
            let transport = match l.transport.unwrap_or(RawTransport::Tcp) {
                RawTransport::Tcp => Transport::Tcp,
                RawTransport::Tls => Transport::Tls,
                RawTransport::Ws => Transport::Ws,
                RawTransport::Wss => Transport::Wss,
            };
            let default_port = match transport {
                Transport::Tcp => DEFAULT_PORT,
                Transport::Tls => 8883,
                Transport::Ws => 8080,
                Transport::Wss => 8443,
            };
            let addr = SocketAddr::new(
                l.bind.unwrap_or(DEFAULT_BIND),
                l.port.unwrap_or(default_port),
            );
            let mut spec = ListenerSpec::tcp(&name, addr);
            spec.transport = transport;
            let default_tenant: Arc<str> = match &l.default_tenant {
                Some(t) => t.as_str().into(),
                None if tenants.iter().any(|t| &*t.name == DEFAULT_TENANT) => DEFAULT_TENANT.into(),
                None => first_tenant.clone(),
            };
            if !tenants.iter().any(|t| t.name == default_tenant) {
                bail!("{at}: default_tenant {default_tenant:?} is not a [[tenant]]");
            }
            spec.default_tenant = default_tenant.clone();
            if let Some(path) = l.ws_path.clone() {
                if !path.starts_with('/') {
                    bail!("{at}: ws_path must start with '/', got {path:?}");
                }
                spec.ws_path = path;
            }
            if let Some(t) = &l.handshake_timeout {
                spec.handshake_timeout = parse_duration(t)
                    .with_context(|| format!("{at}: handshake_timeout = {t:?}"))?;
            }
            if let Some(n) = l.max_handshakes {
                if n == 0 {
                    bail!("{at}: max_handshakes must be at least 1");
                }
                spec.max_handshakes = n;
            }
            if let Some(t) = &l.first_byte_timeout {
                spec.first_byte_timeout = parse_duration(t)
                    .with_context(|| format!("{at}: first_byte_timeout = {t:?}"))?;
            }
            if let Some(n) = l.max_handshakes_per_ip {
                spec.max_handshakes_per_ip =
                    Some(NonZeroUsize::new(n).with_context(|| {
                        format!("{at}: max_handshakes_per_ip must be at least 1")
                    })?);
            }
            let tls_keys = l.tls_min_version.is_some()
                || l.tls_backend.is_some()
                || l.tls_versions.is_some()
                || l.cipher_suites.is_some()
                || l.sni.is_some()
                || l.mtls.is_some();
            let legacy = l.tls_backend == Some(RawBackend::Legacy);
            if transport.is_tls() && legacy {
                let policy = legacy_policy(&at, &l, &mut warnings)?;
                spec.tls = Some(TlsPolicy {
                    min_version: MinVersion::Tls12,
                    cipher_suites: l.cipher_suites,
                    sni: sni_mode(l.sni),
                    mtls: mtls_mode(l.mtls),
                    default_tenant: default_tenant.clone(),
                    legacy: Some(policy),
                });
            } else if transport.is_tls() {
                if l.tls_versions.is_some() {
                    bail!("{at}: tls_versions needs tls_backend = \"legacy\"; rustls listeners take tls_min_version");
                }
                let min_version = match l.tls_min_version.as_deref() {
                    None | Some("1.2") => MinVersion::Tls12,
                    Some("1.3") => MinVersion::Tls13,
                    Some(other) => bail!(
                        "{at}: tls_min_version = {other:?}: expected \"1.2\" or \"1.3\" (TLS 1.0 and 1.1 are not offered by this listener type)"
                    ),
                };
                if let Some(suites) = &l.cipher_suites {
                    let tls13 = |s: &String| {
                        let s = s.to_ascii_uppercase();
                        s.starts_with("TLS_AES_")
                            || s.starts_with("TLS_CHACHA20_")
                            || s.starts_with("TLS13_")
                    };
                    if !suites.iter().any(tls13) {
                        if min_version == MinVersion::Tls13 {
                            bail!("{at}: tls_min_version = \"1.3\" but cipher_suites lists no TLS 1.3 suite (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)");
                        }
                        warnings.push(format!(
                            "{at}: cipher_suites lists no TLS 1.3 suite, so this listener speaks TLS 1.2 only"
                        ));
                    }
                }
                spec.tls = Some(TlsPolicy {
                    min_version,
                    cipher_suites: l.cipher_suites,
                    sni: sni_mode(l.sni),
                    mtls: mtls_mode(l.mtls),
                    default_tenant: default_tenant.clone(),
                    legacy: None,
                });
            } else if tls_keys {
                bail!("{at}: tls_backend, tls_min_version, tls_versions, cipher_suites, sni and mtls need transport = \"tls\" or \"wss\"");
            }
            spec.allow_anonymous = decide_anonymous(&at, &spec, l.allow_anonymous, &tenants)?;
            listeners.push(spec);
        }
        if listeners.is_empty() {
            listeners.push(ListenerSpec::tcp(
                "default",
                SocketAddr::new(DEFAULT_BIND, DEFAULT_PORT),
            ));
        }

        let mut broker = BrokerConfig::default();
        let limits = raw.limits;
        if let Some(v) = limits.max_connect_packet_size {
            broker.max_connect_packet_size = NonZeroU32::new(v)
                .filter(|v| v.get() >= 16)
                .context("limits.max_connect_packet_size: expected at least 16 bytes")?;
        }
        conn_limits_from_raw(&limits, &mut conn_limits)?;
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
        if let Some(v) = &limits.connect_timeout {
            broker.connect_timeout =
                parse_duration(v).with_context(|| format!("limits.connect_timeout = {v:?}"))?;
        }
        broker_limits(&mut broker, &limits)?;
        if let Some(policy) = raw.session.other_identity {
            broker.other_identity = match policy {
                RawOtherIdentity::NewSession => OtherIdentity::NewSession,
                RawOtherIdentity::Refuse => OtherIdentity::Refuse,
            };
        }
        let interval = match &raw.persistence.durability_interval {
            Some(text) => {
                let d = parse_duration(text).context("[persistence] durability_interval")?;
                if d.is_zero() || d > Duration::from_secs(60) {
                    anyhow::bail!(
                        "[persistence] durability_interval = {text:?}: must be above 0 and at most 60s"
                    );
                }
                d
            }
            None => DEFAULT_DURABILITY_INTERVAL,
        };
        let durability = match raw.persistence.durability {
            None | Some(RawDurability::Sync) => {
                if raw.persistence.durability_interval.is_some() {
                    warnings.push(
                        "[persistence] durability_interval has no effect with durability = \"sync\""
                            .into(),
                    );
                }
                lantern_store::Durability::Sync
            }
            Some(RawDurability::Interval) => lantern_store::Durability::Interval(interval),
        };
        Ok(Self {
            warnings,
            listeners,
            tenants,
            broker,
            conn_limits,
            data_dir: raw.data_dir.map(resolve),
            durability,
        })
    }
}

/// The issue 9 limits of `[limits]`: slow subscribers, retained per subscription,
/// subscriptions per client, topic length and levels.
fn broker_limits(broker: &mut BrokerConfig, limits: &RawLimits) -> anyhow::Result<()> {
    if let Some(v) = &limits.slow_subscriber_timeout {
        broker.slow_subscriber_timeout =
            parse_duration(v).with_context(|| format!("limits.slow_subscriber_timeout = {v:?}"))?;
    }
    if let Some(v) = limits.max_retained_per_subscription {
        broker.max_retained_per_subscription = Some(NonZeroUsize::new(v).context(
            "limits.max_retained_per_subscription: expected at least 1 (leave it out for no limit)",
        )?);
    }
    if let Some(v) = limits.max_subscriptions_per_client {
        broker.max_subscriptions_per_client = Some(
            NonZeroUsize::new(v)
                .context("limits.max_subscriptions_per_client: expected at least 1")?,
        );
    }
    if let Some(v) = limits.max_topic_length {
        broker.max_topic_length = NonZeroUsize::new(v)
            .filter(|v| v.get() <= 65_535)
            .context("limits.max_topic_length: expected 1..=65535 bytes")?;
    }
    if let Some(v) = limits.max_topic_levels {
        broker.max_topic_levels =
            NonZeroUsize::new(v).context("limits.max_topic_levels: expected at least 1")?;
    }
    Ok(())
}

/// `[limits]` keys for connections at accept; a key left out keeps its default
/// ([`ConnLimits::default`]).
fn conn_limits_from_raw(raw: &RawLimits, limits: &mut ConnLimits) -> anyhow::Result<()> {
    let at_least_one = |key: &str, v: usize| {
        NonZeroUsize::new(v).with_context(|| format!("limits.{key}: expected at least 1"))
    };
    if let Some(v) = raw.max_connections {
        limits.max_connections = Some(at_least_one("max_connections", v)?);
    }
    if let Some(v) = raw.max_connections_per_ip {
        limits.max_connections_per_ip = Some(at_least_one("max_connections_per_ip", v)?);
    }
    if raw.max_connect_rate_per_ip.is_some() || raw.connect_burst_per_ip.is_some() {
        let default = ConnLimits::default().connect_rate_per_ip;
        let per_second = match raw.max_connect_rate_per_ip {
            Some(v) => NonZeroU32::new(v)
                .context("limits.max_connect_rate_per_ip: expected at least 1 per second")?,
            None => default.map_or(NonZeroU32::MIN, |r| r.per_second),
        };
        // Without an explicit burst: ten seconds' worth of connections.
        let burst = match raw.connect_burst_per_ip {
            Some(v) => {
                NonZeroU32::new(v).context("limits.connect_burst_per_ip: expected at least 1")?
            }
            None => per_second.saturating_mul(NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN)),
        };
        limits.connect_rate_per_ip = Some(ConnectRate { per_second, burst });
    }
    Ok(())
}

fn sni_mode(raw: Option<RawSni>) -> SniMode {
    match raw.unwrap_or(RawSni::Off) {
        RawSni::Off => SniMode::Off,
        RawSni::Optional => SniMode::Optional,
        RawSni::Required => SniMode::Required,
    }
}

fn mtls_mode(raw: Option<RawMtls>) -> MtlsMode {
    match raw.unwrap_or(RawMtls::None) {
        RawMtls::None => MtlsMode::None,
        RawMtls::Optional => MtlsMode::Optional,
        RawMtls::Required => MtlsMode::Required,
    }
}

/// A `tls_backend = "legacy"` listener (OpenSSL): an explicit suite list, every suite known to
/// the linked OpenSSL, versions from `tls_versions` (default 1.2 only; "1.3" needs a TLS 1.3
/// suite in `cipher_suites`, so that every suite offered is listed). TLS 1.0 and 1.1 run
/// at OpenSSL security level 0 (`@SECLEVEL=0`): OpenSSL 3 refuses them at level 1 and above.
/// The weak suites and versions enabled are named in a start-up warning.
fn legacy_policy(
    at: &str,
    l: &RawListener,
    warnings: &mut Vec<String>,
) -> anyhow::Result<lantern_net::legacy::LegacyPolicy> {
    use lantern_net::legacy::{self, LegacyPolicy, LegacyVersion};
    if l.tls_min_version.is_some() {
        bail!("{at}: tls_min_version is for rustls listeners; a legacy listener lists its versions in tls_versions = [\"1.2\", …]");
    }
    let Some(suites) = &l.cipher_suites else {
        bail!("{at}: tls_backend = \"legacy\" needs an explicit cipher_suites list (IANA names, e.g. \"TLS_RSA_WITH_AES_128_CBC_SHA\")");
    };
    if suites.is_empty() {
        bail!("{at}: cipher_suites is empty");
    }
    legacy::check_suites(suites).with_context(|| format!("{at}: cipher_suites"))?;
    let versions = match &l.tls_versions {
        None => LegacyPolicy::default().versions,
        Some(list) => {
            let mut versions = Vec::new();
            for v in list {
                let Some(parsed) = LegacyVersion::parse(v) else {
                    bail!("{at}: tls_versions: {v:?} is not one of \"1.0\", \"1.1\", \"1.2\", \"1.3\"");
                };
                if !versions.contains(&parsed) {
                    versions.push(parsed);
                }
            }
            if versions.is_empty() {
                bail!("{at}: tls_versions is empty");
            }
            versions
        }
    };
    if versions.contains(&LegacyVersion::Tls13) && !suites.iter().any(|s| legacy::is_tls13_suite(s))
    {
        bail!("{at}: tls_versions includes \"1.3\" but cipher_suites lists no TLS 1.3 suite (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)");
    }
    let below13 = versions.iter().any(|v| *v != LegacyVersion::Tls13);
    if below13 && suites.iter().all(|s| legacy::is_tls13_suite(s)) {
        bail!("{at}: tls_versions allows TLS 1.2 or below but cipher_suites lists only TLS 1.3 suites");
    }
    let weak: Vec<String> = suites
        .iter()
        .filter_map(|s| {
            let why = legacy::weaknesses(s, None);
            (!why.is_empty())
                .then(|| format!("{} ({})", s.trim().to_ascii_uppercase(), why.join(", ")))
        })
        .collect();
    let old: Vec<&str> = versions
        .iter()
        .filter(|v| v.is_deprecated())
        .map(|v| v.as_str())
        .collect();
    let mut warning = format!("{at}: tls_backend = \"legacy\" (the system OpenSSL)");
    if !weak.is_empty() {
        warning.push_str(&format!("; weak suites enabled: {}", weak.join("; ")));
    }
    if !old.is_empty() {
        warning.push_str(&format!(
            "; deprecated versions enabled (RFC 8996), at OpenSSL security level 0: {}",
            old.join(", ")
        ));
    }
    warnings.push(warning);
    Ok(LegacyPolicy { versions })
}

/// Anonymous access: as configured; otherwise allowed on loopback, and beyond loopback only
/// when asked for — a broker reachable from the network with neither passwords nor client
/// certificates refuses to start.
pub(crate) fn decide_anonymous(
    at: &str,
    spec: &ListenerSpec,
    configured: Option<bool>,
    tenants: &[TenantConfig],
) -> anyhow::Result<bool> {
    if let Some(allow) = configured {
        return Ok(allow);
    }
    if spec.addr.ip().is_loopback() {
        return Ok(true);
    }
    let mtls = spec.tls.as_ref().is_some_and(|t| t.mtls != MtlsMode::None);
    let passwords = tenants.iter().all(|t| t.password_file.is_some());
    if mtls || passwords {
        return Ok(false);
    }
    bail!(
        "{at}: binds {} (reachable beyond this machine) with neither a password_file nor mtls; set allow_anonymous = true to let anyone connect, or configure credentials",
        spec.addr.ip()
    )
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

    fn parse(text: &str) -> anyhow::Result<Config> {
        Config::parse(text, Path::new("/etc/lantern"))
    }

    const LEGACY: &str = r#"
        [[listener]]
        transport = "tls"
        port = 0
        tls_backend = "legacy"
    "#;

    #[test]
    fn legacy_backend_needs_explicit_known_suites() {
        let err = format!("{:#}", parse(LEGACY).unwrap_err());
        assert!(err.contains("needs an explicit cipher_suites"), "{err}");
        let text = format!(
            "{LEGACY}cipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_RSA_WITH_NOPE\"]\n"
        );
        let err = format!("{:#}", parse(&text).unwrap_err());
        assert!(
            err.contains("\"TLS_RSA_WITH_NOPE\" is not available"),
            "{err}"
        );
    }

    #[test]
    fn legacy_backend_warns_naming_weak_suites_and_versions() {
        let text = format!(
            "{LEGACY}cipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\", \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"]\ntls_versions = [\"1.0\", \"1.2\"]\n"
        );
        let c = parse(&text).unwrap();
        let policy = c.listeners[0].tls.as_ref().unwrap();
        assert_eq!(
            policy.legacy.as_ref().unwrap().versions,
            [
                lantern_net::legacy::LegacyVersion::Tls10,
                lantern_net::legacy::LegacyVersion::Tls12
            ]
        );
        let warning = c.warnings.join("\n");
        assert!(
            warning.contains("TLS_RSA_WITH_AES_128_CBC_SHA (static RSA"),
            "{warning}"
        );
        assert!(
            !warning.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{warning}"
        );
        assert!(warning.contains("security level 0: TLSv1.0"), "{warning}");
    }

    #[test]
    fn legacy_keys_are_refused_elsewhere() {
        let err = format!(
            "{:#}",
            parse("[[listener]]\ntransport = \"tls\"\ntls_versions = [\"1.2\"]\n").unwrap_err()
        );
        assert!(err.contains("tls_versions needs tls_backend"), "{err}");
        let err = format!(
            "{:#}",
            parse(&format!("{LEGACY}cipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\"]\ntls_versions = [\"1.3\"]\n")).unwrap_err()
        );
        assert!(err.contains("no TLS 1.3 suite"), "{err}");
        let c = parse("[[listener]]\ntransport = \"tls\"\n").unwrap();
        assert!(
            c.listeners[0].tls.as_ref().unwrap().legacy.is_none(),
            "rustls is the default"
        );
    }

    #[test]
    fn persistence_defaults_to_sync_and_reads_interval_with_its_window() {
        use lantern_store::Durability;
        assert_eq!(Config::zero().durability, Durability::Sync);
        assert_eq!(parse("").unwrap().durability, Durability::Sync);
        assert_eq!(
            parse("[persistence]\ndurability = \"interval\"\n")
                .unwrap()
                .durability,
            Durability::Interval(Duration::from_millis(100))
        );
        assert_eq!(
            parse("[persistence]\ndurability = \"interval\"\ndurability_interval = \"250ms\"\n")
                .unwrap()
                .durability,
            Durability::Interval(Duration::from_millis(250))
        );
        let c = parse("[persistence]\ndurability_interval = \"1s\"\n").unwrap();
        assert_eq!(c.durability, Durability::Sync);
        assert!(
            c.warnings.iter().any(|w| w.contains("no effect")),
            "{:?}",
            c.warnings
        );
        let err = format!(
            "{:#}",
            parse("[persistence]\ndurability = \"lazy\"\n").unwrap_err()
        );
        assert!(err.contains("durability"), "{err}");
        let err = format!(
            "{:#}",
            parse("[persistence]\ndurability = \"interval\"\ndurability_interval = \"0s\"\n")
                .unwrap_err()
        );
        assert!(err.contains("above zero"), "{err}");
        assert!(parse("[persistence]\nfsync = true\n").is_err());
    }

    #[test]
    fn zero_config_is_loopback_1883() {
        let c = Config::zero();
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].addr, "127.0.0.1:1883".parse().unwrap());
        assert!(c.listeners[0].allow_anonymous);
    }

    #[test]
    fn full_file_parses() {
        let c = parse(
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
    fn tls_listener_and_tenants() {
        let c = parse(
            r#"
            [[listener]]
            transport = "tls"
            port = 0
            sni = "required"
            mtls = "optional"
            tls_min_version = "1.3"
            [[tenant]]
            name = "acme"
            hosts = ["acme.example", "*.acme.example"]
            cert = "acme.pem"
            key = "acme.key"
            password_file = "/abs/passwd"
            cert_identity = "san-uri"
            [[tenant]]
            name = "globex"
            "#,
        )
        .unwrap();
        let l = &c.listeners[0];
        assert_eq!(l.transport, Transport::Tls);
        let tls = l.tls.as_ref().unwrap();
        assert_eq!(tls.sni, SniMode::Required);
        assert_eq!(tls.mtls, MtlsMode::Optional);
        assert_eq!(tls.min_version, MinVersion::Tls13);
        assert_eq!(&*l.default_tenant, "acme");
        let acme = &c.tenants[0];
        assert_eq!(
            acme.cert.as_deref(),
            Some(Path::new("/etc/lantern/acme.pem"))
        );
        assert_eq!(
            acme.password_file.as_deref(),
            Some(Path::new("/abs/passwd"))
        );
        assert_eq!(acme.cert_identity, IdentitySource::SanUri);
    }

    #[test]
    fn network_listener_without_credentials_refuses_to_start() {
        let err = parse("[[listener]]\nbind = \"0.0.0.0\"\nport = 0\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("allow_anonymous = true"), "{msg}");
        let ok = parse("[[listener]]\nbind = \"0.0.0.0\"\nallow_anonymous = true\n").unwrap();
        assert!(ok.listeners[0].allow_anonymous);
        let with_passwords = parse(
            "[[listener]]\nbind = \"0.0.0.0\"\n[[tenant]]\nname = \"default\"\npassword_file = \"p\"\n",
        )
        .unwrap();
        assert!(!with_passwords.listeners[0].allow_anonymous);
    }

    #[test]
    fn tls12_only_suites_warn_or_refuse() {
        let c = parse(
            "[[listener]]\ntransport = \"tls\"\ncipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n",
        )
        .unwrap();
        assert!(c.warnings[0].contains("TLS 1.2 only"), "{:?}", c.warnings);
        let err = parse(
            "[[listener]]\ntransport = \"tls\"\ntls_min_version = \"1.3\"\ncipher_suites = [\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"]\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("no TLS 1.3 suite"));
    }

    #[test]
    fn tls_keys_on_a_tcp_listener_are_refused() {
        let err = parse("[[listener]]\nsni = \"required\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("transport"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse("[limits]\nmax_keepalive = 60\nmax_kepalive = 5\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("max_kepalive"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn wrong_type_names_line_and_expectation() {
        let err = parse("[[listener]]\nport = \"abc\"\n").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("u16") || msg.contains("integer"), "{msg}");
    }

    #[test]
    fn connection_limits_parse_with_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.conn_limits, ConnLimits::default());
        assert_eq!(c.broker.max_connect_packet_size.get(), 65536);
        assert_eq!(c.listeners[0].first_byte_timeout, Duration::from_secs(3));
        assert_eq!(c.listeners[0].max_handshakes_per_ip, NonZeroUsize::new(128));
        let c = parse(
            r#"
            [[listener]]
            transport = "tls"
            first_byte_timeout = "5s"
            max_handshakes_per_ip = 16
            [[tenant]]
            name = "acme"
            max_connections = 500
            [limits]
            max_connections = 2000
            max_connections_per_ip = 300
            max_connect_rate_per_ip = 20
            max_connect_packet_size = 4096
            "#,
        )
        .unwrap();
        let l = &c.listeners[0];
        assert_eq!(l.first_byte_timeout, Duration::from_secs(5));
        assert_eq!(l.max_handshakes_per_ip, NonZeroUsize::new(16));
        let limits = &c.conn_limits;
        assert_eq!(limits.max_connections, NonZeroUsize::new(2000));
        assert_eq!(limits.max_connections_per_ip, NonZeroUsize::new(300));
        assert_eq!(
            limits.max_connections_per_tenant.get("acme").copied(),
            NonZeroUsize::new(500)
        );
        let rate = limits.connect_rate_per_ip.unwrap();
        assert_eq!((rate.per_second.get(), rate.burst.get()), (20, 200));
        assert_eq!(c.broker.max_connect_packet_size.get(), 4096);
        let err = parse("[limits]\nmax_connections_per_ip = 0\n").unwrap_err();
        assert!(format!("{err:#}").contains("limits.max_connections_per_ip"));
        let err = parse("[[listener]]\nmax_handshakes_per_ip = 0\n").unwrap_err();
        assert!(format!("{err:#}").contains("max_handshakes_per_ip"));
    }

    #[test]
    fn semantic_errors_name_the_key() {
        let err = parse("[limits]\nmax_inflight = 0\n").unwrap_err();
        assert!(format!("{err:#}").contains("limits.max_inflight"));
        let err = parse("[limits]\nconnect_timeout = \"10 parsecs\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("limits.connect_timeout"));
        let err = parse("[[listener]]\ndefault_tenant = \"nope\"\n").unwrap_err();
        assert!(format!("{err:#}").contains("default_tenant"));
    }

    #[test]
    fn issue_9_session_policy_and_broker_limits() {
        let d = parse("").unwrap().broker;
        assert_eq!(d.other_identity, OtherIdentity::NewSession);
        assert_eq!(d.slow_subscriber_timeout, Duration::from_secs(30));
        assert_eq!(d.max_retained_per_subscription, None);
        assert_eq!(
            d.max_subscriptions_per_client.map(NonZeroUsize::get),
            Some(1000)
        );
        assert_eq!(d.max_topic_length.get(), 65_535);
        assert_eq!(d.max_topic_levels.get(), 128);
        let c = parse(
            r#"
            [session]
            other_identity = "refuse"
            [limits]
            slow_subscriber_timeout = "2s"
            max_retained_per_subscription = 500
            max_subscriptions_per_client = 10
            max_topic_length = 1024
            max_topic_levels = 16
            "#,
        )
        .unwrap()
        .broker;
        assert_eq!(c.other_identity, OtherIdentity::Refuse);
        assert_eq!(c.slow_subscriber_timeout, Duration::from_secs(2));
        assert_eq!(
            c.max_retained_per_subscription.map(NonZeroUsize::get),
            Some(500)
        );
        assert_eq!(
            c.max_subscriptions_per_client.map(NonZeroUsize::get),
            Some(10)
        );
        assert_eq!(c.max_topic_length.get(), 1024);
        assert_eq!(c.max_topic_levels.get(), 16);
        for (text, key) in [
            ("[session]\nother_identity = \"share\"\n", "other_identity"),
            (
                "[limits]\nmax_topic_length = 70000\n",
                "limits.max_topic_length",
            ),
            (
                "[limits]\nmax_topic_levels = 0\n",
                "limits.max_topic_levels",
            ),
            (
                "[limits]\nmax_subscriptions_per_client = 0\n",
                "limits.max_subscriptions_per_client",
            ),
            (
                "[limits]\nmax_retained_per_subscription = 0\n",
                "limits.max_retained_per_subscription",
            ),
            (
                "[limits]\nslow_subscriber_timeout = \"0s\"\n",
                "limits.slow_subscriber_timeout",
            ),
        ] {
            let err = format!("{:#}", parse(text).unwrap_err());
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
