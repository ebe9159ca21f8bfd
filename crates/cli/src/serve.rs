//! `lantern serve`: configuration → tenants and listeners → a running server.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use lantern_broker::auth::{AccessPolicy, CertIdentityUse};
use lantern_broker::{Broker, WallClock};
use lantern_net::tls::{HostPattern, MtlsMode, TenantTlsFiles};
use lantern_net::{ListenerSpec, Server, Tenant, Transport};
use tracing::{info, warn};

use crate::config::{decide_anonymous, Config, DEFAULT_BIND, DEFAULT_DATA_DIR, DEFAULT_PORT};
use crate::reload::{ConfigReloader, LiveAcl, LivePasswords};

/// Arguments of `lantern serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (TOML); see the README for the keys.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen on this address instead of the configured listeners (default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    bind: Option<std::net::IpAddr>,
    /// Listen for MQTT on this port instead of the configured listeners (default 1883; 0 = any
    /// free port, printed on stdout).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Also listen for MQTT over TLS on this port (with --bind/--port). Uses --cert/--key, or
    /// the development PKI in the data directory, created on first use.
    #[arg(long, value_name = "PORT")]
    tls_port: Option<u16>,
    /// Server certificate chain (PEM) for --tls-port.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Private key (PEM) for --tls-port.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Data directory (development PKI); default `lantern-data`, or LANTERN_DATA_DIR.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the admin API that `lantern why` asks (loopback only; default
    /// 127.0.0.1:18830). When the default is taken the broker runs without it.
    #[arg(long, value_name = "ADDR")]
    admin: Option<std::net::SocketAddr>,
    /// Log filter, as in RUST_LOG (default "info").
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
}

impl ServeArgs {
    pub(crate) fn log_filter(&self) -> Option<&str> {
        self.log.as_deref()
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::zero(),
    };
    apply_flags(&args, &mut config)?;
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| std::env::var_os("LANTERN_DATA_DIR").map(PathBuf::from))
        .or(config.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

    for warning in &config.warnings {
        warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Install the signal handlers before anything is announced, so a SIGTERM that follows
        // the "listening" line at once still stops the broker cleanly.
        let shutdown = crate::signals::shutdown()?;
        // Created owner-only (0700) before the development PKI or the story log writes into it.
        crate::journal::create_private_dir(&data_dir).with_context(|| {
            format!("cannot create the data directory {}", data_dir.display())
        })?;
        let store = open_store(&data_dir, config.durability)?;
        let (tenants, dev_pki, auth_files) = build_tenants(&config, &data_dir, &store)?;
        let journal = crate::journal::Journal::new(
            1000,
            Some(crate::journal::JsonlConfig {
                path: data_dir.join("stories.jsonl"),
                max_bytes: 10 << 20,
                keep: 5,
            }),
        )?;
        let server = Server::bind_with_limits(
            tenants,
            &config.listeners,
            Some(journal.sink()),
            config.conn_limits.clone(),
        )
        .await?;
        if let Some(pki) = dev_pki.filter(|p| p.created) {
            let port = server
                .listeners()
                .find(|l| l.transport.is_tls())
                .map_or(8883, |l| l.addr.port());
            println!("{}", pki.first_run_instructions(port));
        }
        for l in server.listeners() {
            if l.allow_anonymous && !l.addr.ip().is_loopback() {
                warn!(
                    listener = %l.name,
                    addr = %l.addr,
                    "anonymous access beyond this machine: any device that can reach it may publish and subscribe"
                );
            }
            // One line per listener on stdout: scripts and tests read the ports from it.
            println!("lantern listening on {} ({})", l.addr, l.transport.as_str());
            info!(listener = %l.name, addr = %l.addr, transport = l.transport.as_str(), "listening");
        }
        let admin = crate::admin::bind_for_serve(args.admin, crate::admin::DEFAULT_ADMIN_ADDR).await?.map(|listener| {
            let journal = journal.clone();
            tokio::spawn(crate::admin::serve_admin(listener, journal, std::future::pending()))
        });
        crate::signals::reload_on_sighup(ConfigReloader {
            tls: server.reloader(),
            passwords: auth_files.passwords,
            acls: auth_files.acls,
        })?;
        server.run(shutdown).await?;
        if let Some(admin) = admin {
            admin.abort();
        }
        // Everything the broker handed the store is written before the process exits.
        store.writer.close();
        journal.flush();
        if journal.dropped() > 0 {
            warn!(dropped = journal.dropped(), "stories dropped from the story log");
        }
        anyhow::Ok(())
    })
}

/// The opened store: what was loaded per tenant, and the writer the tenants' sinks share.
struct OpenStore {
    loaded: std::collections::BTreeMap<String, lantern_store::TenantState>,
    writer: lantern_store::StoreWriter,
    durability: lantern_store::Durability,
}

/// Opens `<data dir>/store/` and reads it whole; its errors say what to do (the path, the
/// versions, "move it aside").
fn open_store(data_dir: &Path, durability: lantern_store::Durability) -> anyhow::Result<OpenStore> {
    let started = std::time::Instant::now();
    let store = lantern_store::Store::open(data_dir)?;
    let loaded = store.load()?;
    let sessions: usize = loaded.values().map(|t| t.sessions.len()).sum();
    let retained: usize = loaded.values().map(|t| t.retained.len()).sum();
    info!(
        path = %store.path().display(),
        sessions,
        retained,
        ms = started.elapsed().as_millis() as u64,
        "store loaded"
    );
    let writer = store.into_writer(durability)?;
    Ok(OpenStore {
        loaded,
        writer,
        durability,
    })
}

/// `--bind/--port/--tls-port/--cert/--key` replace the configured listeners.
fn apply_flags(args: &ServeArgs, config: &mut Config) -> anyhow::Result<()> {
    if args.bind.is_none() && args.port.is_none() && args.tls_port.is_none() {
        if args.cert.is_some() {
            anyhow::bail!("--cert and --key go with --tls-port");
        }
        return Ok(());
    }
    let ip = args.bind.unwrap_or(DEFAULT_BIND);
    let tenant = config.tenants[0].name.clone();
    let mut listeners = Vec::new();
    let mut tcp = ListenerSpec::tcp(
        "default",
        std::net::SocketAddr::new(ip, args.port.unwrap_or(DEFAULT_PORT)),
    );
    tcp.default_tenant = tenant.clone();
    listeners.push(tcp);
    if let Some(port) = args.tls_port {
        let mut tls = ListenerSpec::tcp("tls", std::net::SocketAddr::new(ip, port));
        tls.transport = Transport::Tls;
        tls.default_tenant = tenant.clone();
        tls.tls = Some(lantern_net::tls::TlsPolicy {
            default_tenant: tenant.clone(),
            ..Default::default()
        });
        listeners.push(tls);
        if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            config.tenants[0].cert = Some(cert.clone());
            config.tenants[0].key = Some(key.clone());
        }
    }
    for l in &mut listeners {
        let at = format!("--bind {ip}");
        l.allow_anonymous = decide_anonymous(&at, l, None, &config.tenants)?;
    }
    config.listeners = listeners;
    Ok(())
}

/// The password and ACL files the tenants use, which SIGHUP reloads.
#[derive(Default)]
struct AuthFiles {
    passwords: Vec<Arc<LivePasswords>>,
    acls: Vec<Arc<LiveAcl>>,
}

/// One broker per tenant, with its access rules and TLS files; the development PKI fills in
/// certificates where TLS is on and none are configured.
fn build_tenants(
    config: &Config,
    data_dir: &Path,
    store: &OpenStore,
) -> anyhow::Result<(Vec<Tenant>, Option<lantern_pki::DevPki>, AuthFiles)> {
    let mut auth_files = AuthFiles::default();
    let tls_listeners: Vec<&ListenerSpec> = config
        .listeners
        .iter()
        .filter(|l| l.transport.is_tls())
        .collect();
    let mtls = tls_listeners
        .iter()
        .any(|l| l.tls.as_ref().is_some_and(|t| t.mtls != MtlsMode::None));
    let needs_dev_pki = !tls_listeners.is_empty()
        && config
            .tenants
            .iter()
            .any(|t| t.cert.is_none() || (mtls && t.client_ca.is_none()));
    let dev = if needs_dev_pki {
        let pki = lantern_pki::DevPki::ensure(data_dir).with_context(|| {
            format!(
                "cannot create the development PKI in {}",
                data_dir.display()
            )
        })?;
        Some(pki)
    } else {
        None
    };

    let mut tenants = Vec::new();
    for t in &config.tenants {
        let passwords = match &t.password_file {
            Some(path) => {
                let live = Arc::new(LivePasswords::load(path)?);
                auth_files.passwords.push(live.clone());
                Some(live as Arc<dyn lantern_broker::auth::PasswordVerifier>)
            }
            None => None,
        };
        let acl = match &t.acl_file {
            Some(path) => {
                let live = Arc::new(LiveAcl::load(path)?);
                auth_files.acls.push(live.clone());
                Some(live as Arc<dyn lantern_broker::auth::Acl>)
            }
            None => None,
        };
        let access = AccessPolicy {
            allow_anonymous: true, // replaced per listener
            passwords,
            acl,
            cert_identity: CertIdentityUse {
                as_username: t.cert_identity_as_username,
                require_client_id_match: t.require_client_id_match,
            },
        };
        let tls = if tls_listeners.is_empty() {
            None
        } else {
            let (cert, key) = match (&t.cert, &t.key, &dev) {
                (Some(c), Some(k), _) => (c.clone(), k.clone()),
                (_, _, Some(dev)) => (dev.paths.server_cert.clone(), dev.paths.server_key.clone()),
                _ => anyhow::bail!("tenant {:?} has no certificate", t.name),
            };
            let client_ca = t
                .client_ca
                .clone()
                .or_else(|| dev.as_ref().map(|d| d.paths.ca_cert.clone()));
            Some(TenantTlsFiles {
                name: t.name.clone(),
                hosts: t.hosts.iter().map(|h| HostPattern::new(h)).collect(),
                cert,
                key,
                client_ca,
                crl: t.crl.clone(),
            })
        };
        let state = store.loaded.get(&*t.name).cloned().unwrap_or_default();
        let snapshot =
            lantern_store::snapshot(state).map_err(|e| lantern_store::StoreError::Corrupt {
                path: data_dir.join(lantern_store::STORE_DIR),
                detail: format!("tenant {:?}: {e}", t.name),
            })?;
        let sink = Arc::new(lantern_store::TenantSink::new(
            &t.name,
            store.writer.clone(),
            store.durability,
            &snapshot,
        ));
        let broker = Broker::restore(
            config.broker.clone(),
            sink,
            WallClock::now(),
            std::time::Instant::now(),
            snapshot,
        );
        tenants.push(Tenant {
            name: t.name.clone(),
            broker,
            access,
            identity_source: t.cert_identity,
            tls,
        });
    }
    Ok((tenants, dev, auth_files))
}
