//! Signals: SIGINT/SIGTERM stop the broker, SIGHUP reloads certificates.

use anyhow::Context;
use lantern_net::Reloader;
use tracing::{info, warn};

/// A future that completes on SIGINT or SIGTERM; the handlers are installed when this returns.
pub(crate) fn shutdown() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// Reloads TLS certificates, keys, client CAs and CRLs on SIGHUP; connections keep theirs. A
/// reload that fails leaves the running configuration in force.
pub(crate) fn reload_on_sighup(reloader: Reloader) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match reloader.reload() {
                    Ok(n) => info!(listeners = n, "certificates reloaded"),
                    Err(e) => warn!("certificate reload failed, keeping the running ones: {e}"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reloader;
    Ok(())
}
