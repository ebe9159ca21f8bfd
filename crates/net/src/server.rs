//! Binding listeners, accepting connections, tenants, the brokers' timer tasks, certificate
//! reload and graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use lantern_broker::auth::AccessPolicy;
use lantern_broker::Broker;
use lantern_pki::IdentitySource;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::driver;
use crate::limits::{Admission, ConnLimits, Handshakes};
use crate::tls::{TenantTlsFiles, TlsConfigError, TlsPolicy, TlsSetup};
use crate::ws::WsSettings;

/// The longest a timer task sleeps, so a timer scheduled while it sleeps (a delayed will, a
/// session expiry) fires at most this late.
const TIMER_GRANULARITY: Duration = Duration::from_millis(100);

/// Bytes a WebSocket client may send before CONNECT is accepted beyond the largest CONNECT:
/// frame headers and the rest of one 8 KiB read.
const WS_BEFORE_CONNECT_SLACK: usize = 16 * 1024;

/// How long shutdown waits for connections to flush their last packets.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The transport a listener speaks.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum Transport {
    /// MQTT over TCP.
    #[default]
    Tcp,
    /// MQTT over TLS; WebSocket upgrades after the handshake are accepted too, so one port can
    /// serve both MQTT over TLS and WSS.
    Tls,
    /// MQTT over WebSocket.
    Ws,
    /// MQTT over WebSocket over TLS.
    Wss,
}

impl Transport {
    /// "tcp", "tls", "ws", "wss".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Whether TLS is involved.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }
}

/// One listener to open.
#[derive(Clone, Debug)]
pub struct ListenerSpec {
    /// A name for logs ("default", "mqtts", …).
    pub name: String,
    /// Address and port; port 0 lets the system choose.
    pub addr: SocketAddr,
    /// The transport.
    pub transport: Transport,
    /// TLS policy, for `tls` and `wss`.
    pub tls: Option<TlsPolicy>,
    /// WebSocket path, for `ws`, `wss` and WebSocket on a `tls` port.
    pub ws_path: String,
    /// Whether clients without credentials may connect here.
    pub allow_anonymous: bool,
    /// The tenant of connections that TLS does not route (plain TCP and WebSocket).
    pub default_tenant: Arc<str>,
    /// Longest time for the TLS handshake or the WebSocket upgrade.
    pub handshake_timeout: Duration,
    /// Longest time a TLS or WebSocket socket may stay silent after accept: a client sends its
    /// ClientHello (or upgrade request) right after TCP connects, so a socket that sends
    /// nothing is closed sooner than one in the middle of a handshake.
    pub first_byte_timeout: Duration,
    /// Most handshakes in progress at once; when full, the oldest in progress is closed
    /// (`net.handshake_evicted`) so a new connection never waits for a slot.
    pub max_handshakes: usize,
    /// Most handshakes in progress from one source address (IPv6: one /64); more are refused
    /// at accept (`net.connection_limit`).
    pub max_handshakes_per_ip: Option<NonZeroUsize>,
}

impl ListenerSpec {
    /// A plain TCP listener with defaults.
    pub fn tcp(name: &str, addr: SocketAddr) -> Self {
        Self {
            name: name.to_owned(),
            addr,
            transport: Transport::Tcp,
            tls: None,
            ws_path: "/mqtt".to_owned(),
            allow_anonymous: true,
            default_tenant: "default".into(),
            handshake_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(3),
            max_handshakes: 1024,
            max_handshakes_per_ip: NonZeroUsize::new(128),
        }
    }
}

/// A tenant: its own broker (topics, retained messages, sessions and client ids never cross
/// tenants), its access rules, and its TLS material.
#[derive(Clone)]
pub struct Tenant {
    /// Name, for logs and config references.
    pub name: Arc<str>,
    /// The tenant's broker.
    pub broker: Arc<Broker>,
    /// Passwords, ACLs and certificate-identity use; `allow_anonymous` here is replaced by each
    /// listener's setting.
    pub access: AccessPolicy,
    /// Which certificate field is a client's identity under mTLS.
    pub identity_source: IdentitySource,
    /// Certificate, key, client CA and CRL, for TLS listeners.
    pub tls: Option<TenantTlsFiles>,
}

/// Why the server could not start or reload.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not be bound.
    Bind {
        /// The listener.
        listener: String,
        /// The address.
        addr: SocketAddr,
        /// The system's error.
        error: io::Error,
    },
    /// A listener's TLS could not be set up.
    Tls {
        /// The listener.
        listener: String,
        /// What was wrong.
        error: TlsConfigError,
    },
    /// A listener refers to a tenant that does not exist, or a TLS listener to a tenant
    /// without certificates.
    Tenant {
        /// The listener.
        listener: String,
        /// What was wrong.
        detail: String,
    },
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bind {
                listener,
                addr,
                error,
            } => {
                write!(f, "listener {listener:?} cannot bind {addr}: {error}")
            }
            Self::Tls { listener, error } => write!(f, "listener {listener:?}: TLS: {error}"),
            Self::Tenant { listener, detail } => write!(f, "listener {listener:?}: {detail}"),
        }
    }
}

impl std::error::Error for ServerError {}

/// What a connection task needs from its listener.
pub(crate) struct ListenerCtx {
    pub(crate) spec: ListenerSpec,
    pub(crate) name: Arc<str>,
    /// Per tenant: broker and access policy (with this listener's anonymous setting).
    pub(crate) tenants: HashMap<Arc<str>, (Arc<Broker>, Arc<AccessPolicy>, IdentitySource)>,
    pub(crate) tls: Option<RwLock<Arc<TlsSetup>>>,
    pub(crate) ws: WsSettings,
    pub(crate) handshakes: Arc<Handshakes>,
    /// Connection limits shared by every listener.
    pub(crate) admission: Arc<Admission>,
    /// Where finished stories go.
    pub(crate) sink: Option<crate::story::StorySink>,
}

impl ListenerCtx {
    /// The current TLS setup (a reload swaps it; connections keep the one they started with).
    pub(crate) fn tls(&self) -> Option<Arc<TlsSetup>> {
        self.tls
            .as_ref()
            .map(|l| l.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    pub(crate) fn tenant(
        &self,
        name: &str,
    ) -> Option<&(Arc<Broker>, Arc<AccessPolicy>, IdentitySource)> {
        self.tenants.get(name)
    }
}

/// Brokers and listeners, bound.
pub struct Server {
    tenants: Vec<Tenant>,
    listeners: Vec<(Arc<ListenerCtx>, TcpListener)>,
}

/// Reloads certificates of a running server (SIGHUP). Existing connections keep theirs.
#[derive(Clone)]
pub struct Reloader {
    listeners: Vec<Arc<ListenerCtx>>,
    tenants: Vec<Tenant>,
}

impl Reloader {
    /// Re-reads every TLS listener's certificates, keys, client CAs and CRLs. On any error the
    /// old configuration stays in force and the error is returned.
    pub fn reload(&self) -> Result<usize, ServerError> {
        let mut built = Vec::new();
        for ctx in &self.listeners {
            if let Some(policy) = &ctx.spec.tls {
                let setup = build_tls(&ctx.spec, policy, &self.tenants)?;
                built.push((ctx.clone(), setup));
            }
        }
        let n = built.len();
        for (ctx, setup) in built {
            if let Some(lock) = &ctx.tls {
                *lock.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(setup);
            }
        }
        Ok(n)
    }
}

/// WebSocket settings: the listener's path, frames up to the largest packet any tenant
/// accepts plus room for its header, and before CONNECT no more than the largest CONNECT.
fn ws_settings(spec: &ListenerSpec, tenants: &[Tenant]) -> WsSettings {
    let max_packet = tenants
        .iter()
        .map(|t| t.broker.config().max_packet_size.get() as usize)
        .max()
        .unwrap_or(0);
    let max_connect_packet = tenants
        .iter()
        .map(|t| {
            let config = t.broker.config();
            config
                .max_connect_packet_size
                .min(config.max_packet_size)
                .get() as usize
        })
        .max()
        .unwrap_or(0);
    let default = WsSettings::default();
    WsSettings {
        path: spec.ws_path.clone(),
        max_frame: std::num::NonZeroUsize::new(max_packet + 1024).unwrap_or(default.max_frame),
        // The CONNECT, its frame headers, and one read's worth beyond it.
        max_before_connect: NonZeroUsize::new(max_connect_packet + WS_BEFORE_CONNECT_SLACK),
    }
}

fn build_tls(
    spec: &ListenerSpec,
    policy: &TlsPolicy,
    tenants: &[Tenant],
) -> Result<TlsSetup, ServerError> {
    let files: Vec<TenantTlsFiles> = tenants.iter().filter_map(|t| t.tls.clone()).collect();
    if files.is_empty() {
        return Err(ServerError::Tenant {
            listener: spec.name.clone(),
            detail: "a TLS listener needs a tenant with a certificate and key".into(),
        });
    }
    TlsSetup::build(policy, &files).map_err(|error| ServerError::Tls {
        listener: spec.name.clone(),
        error,
    })
}

impl Server {
    /// Binds every listener and builds its TLS setup, failing on the first problem. The
    /// connection limits are the defaults of [`ConnLimits`].
    pub async fn bind(
        tenants: Vec<Tenant>,
        specs: &[ListenerSpec],
        sink: Option<crate::story::StorySink>,
    ) -> Result<Self, ServerError> {
        Self::bind_with_limits(tenants, specs, sink, ConnLimits::default()).await
    }

    /// [`Server::bind`] with connection limits shared by every listener.
    pub async fn bind_with_limits(
        tenants: Vec<Tenant>,
        specs: &[ListenerSpec],
        sink: Option<crate::story::StorySink>,
        limits: ConnLimits,
    ) -> Result<Self, ServerError> {
        let admission = Arc::new(Admission::new(limits));
        let mut listeners = Vec::with_capacity(specs.len());
        for spec in specs {
            if !tenants.iter().any(|t| t.name == spec.default_tenant) {
                return Err(ServerError::Tenant {
                    listener: spec.name.clone(),
                    detail: format!("no tenant named {:?}", spec.default_tenant),
                });
            }
            let tls = match (&spec.tls, spec.transport.is_tls()) {
                (Some(policy), true) => {
                    Some(RwLock::new(Arc::new(build_tls(spec, policy, &tenants)?)))
                }
                (None, true) => {
                    return Err(ServerError::Tenant {
                        listener: spec.name.clone(),
                        detail: "a tls/wss listener needs TLS settings".into(),
                    })
                }
                _ => None,
            };
            let listener =
                TcpListener::bind(spec.addr)
                    .await
                    .map_err(|error| ServerError::Bind {
                        listener: spec.name.clone(),
                        addr: spec.addr,
                        error,
                    })?;
            let mut spec = spec.clone();
            spec.addr = listener.local_addr().map_err(|error| ServerError::Bind {
                listener: spec.name.clone(),
                addr: spec.addr,
                error,
            })?;
            let per_tenant = tenants
                .iter()
                .map(|t| {
                    let access = AccessPolicy {
                        allow_anonymous: spec.allow_anonymous,
                        ..t.access.clone()
                    };
                    (
                        t.name.clone(),
                        (t.broker.clone(), Arc::new(access), t.identity_source),
                    )
                })
                .collect();
            let ctx = ListenerCtx {
                name: spec.name.as_str().into(),
                tenants: per_tenant,
                tls,
                ws: ws_settings(&spec, &tenants),
                handshakes: Arc::new(Handshakes::new(
                    spec.max_handshakes,
                    spec.max_handshakes_per_ip,
                )),
                admission: admission.clone(),
                sink: sink.clone(),
                spec,
            };
            listeners.push((Arc::new(ctx), listener));
        }
        Ok(Self { tenants, listeners })
    }

    /// The bound listeners, with the ports the system chose for port 0.
    pub fn listeners(&self) -> impl Iterator<Item = &ListenerSpec> {
        self.listeners.iter().map(|(ctx, _)| &ctx.spec)
    }

    /// A handle that reloads certificates.
    pub fn reloader(&self) -> Reloader {
        Reloader {
            listeners: self.listeners.iter().map(|(c, _)| c.clone()).collect(),
            tenants: self.tenants.clone(),
        }
    }

    /// Serves until `shutdown` completes, then tells every client (v5: DISCONNECT 0x8B), waits
    /// briefly for them to flush, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Each connection task holds a sender; when all are dropped, all tasks have ended.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);

        for (ctx, listener) in self.listeners {
            let stop = stop_rx.clone();
            let done = done_tx.clone();
            tokio::spawn(accept_loop(ctx, listener, stop, done));
        }
        for tenant in &self.tenants {
            tokio::spawn(timer_loop(tenant.broker.clone(), stop_rx.clone()));
        }

        shutdown.await;
        info!("shutting down");
        let _ = stop_tx.send(true);
        drop(done_tx);
        if tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv())
            .await
            .is_err()
        {
            warn!("some connections did not close within {SHUTDOWN_GRACE:?}");
        }
        Ok(())
    }
}

async fn accept_loop(
    ctx: Arc<ListenerCtx>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let ctx = ctx.clone();
                    let stop = stop.clone();
                    let done = done.clone();
                    tokio::spawn(async move {
                        driver::serve_connection(ctx, stream, peer, stop).await;
                        drop(done);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(listener = %ctx.name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn timer_loop(broker: Arc<Broker>, mut stop: watch::Receiver<bool>) {
    loop {
        let now = Instant::now();
        let next = broker.tick(now).map_or(TIMER_GRANULARITY, |at| {
            at.saturating_duration_since(now).min(TIMER_GRANULARITY)
        });
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(next) => {}
        }
    }
}
