//! Binding listeners, accepting connections, the broker's timer task, and graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_broker::Broker;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::driver;

/// The longest the timer task sleeps, so a timer scheduled while it sleeps (a delayed will, a
/// session expiry) fires at most this late.
const TIMER_GRANULARITY: Duration = Duration::from_millis(100);

/// How long shutdown waits for connections to flush their last packets.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One listener to open.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ListenerSpec {
    /// A name for logs ("default", "tcp-lan", …).
    pub name: String,
    /// Address and port; port 0 lets the system choose.
    pub addr: SocketAddr,
}

/// A broker with its listeners bound.
pub struct Server {
    broker: Arc<Broker>,
    listeners: Vec<(ListenerSpec, TcpListener)>,
}

impl Server {
    /// Binds every listener, failing on the first address that cannot be bound.
    pub async fn bind(broker: Arc<Broker>, specs: &[ListenerSpec]) -> io::Result<Self> {
        let mut listeners = Vec::with_capacity(specs.len());
        for spec in specs {
            let listener = TcpListener::bind(spec.addr).await.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("listener {:?} on {}: {e}", spec.name, spec.addr),
                )
            })?;
            let spec = ListenerSpec {
                name: spec.name.clone(),
                addr: listener.local_addr()?,
            };
            listeners.push((spec, listener));
        }
        Ok(Self { broker, listeners })
    }

    /// The bound listeners, with the ports the system chose for port 0.
    pub fn listeners(&self) -> impl Iterator<Item = &ListenerSpec> {
        self.listeners.iter().map(|(spec, _)| spec)
    }

    /// Serves until `shutdown` completes, then tells every client (v5: DISCONNECT 0x8B), waits
    /// briefly for them to flush, and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Each connection task holds a sender; when all are dropped, all tasks have ended.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);

        for (spec, listener) in self.listeners {
            let broker = self.broker.clone();
            let stop = stop_rx.clone();
            let done = done_tx.clone();
            tokio::spawn(accept_loop(broker, spec, listener, stop, done));
        }
        tokio::spawn(timer_loop(self.broker.clone(), stop_rx.clone()));

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
    broker: Arc<Broker>,
    spec: ListenerSpec,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
) {
    let listener_name: Arc<str> = spec.name.as_str().into();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let conn = driver::Driver::new(
                        broker.clone(),
                        stream,
                        peer,
                        listener_name.clone(),
                        stop.clone(),
                    );
                    let done = done.clone();
                    tokio::spawn(async move {
                        conn.run().await;
                        drop(done);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(listener = %spec.name, error = %e, "accept failed");
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
