//! Signals: SIGINT/SIGTERM stop the broker, SIGHUP reloads certificates, password and ACL
//! files.

use crate::reload::ConfigReloader;
use anyhow::Context;
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

/// Reloads TLS certificates, keys, client CAs, CRLs, password files and ACL files on SIGHUP;
/// connections keep their certificates, and the next question to a password or ACL file gets
/// the new one. A reload that fails leaves the whole running configuration in force and logs
/// why, naming the file.
pub(crate) fn reload_on_sighup(reloader: ConfigReloader) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                // File IO: keep it off the async workers.
                let r = reloader.clone();
                match tokio::task::spawn_blocking(move || r.reload()).await {
                    Ok(Ok(done)) => {
                        info!(listeners = done.listeners, "certificates reloaded");
                        if done.password_files + done.acl_files > 0 {
                            info!(
                                password_files = done.password_files,
                                acl_files = done.acl_files,
                                "password and ACL files reloaded"
                            );
                        }
                    }
                    Ok(Err(e)) => warn!(
                        error = %e,
                        "reload failed, keeping the running configuration"
                    ),
                    Err(e) => warn!(
                        error = %e,
                        "reload failed, keeping the running configuration"
                    ),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reloader;
    Ok(())
}
