//! `lantern`: the MQTT broker that explains every failed device connection.
//!
//! This crate is the thin outer layer: argument parsing, the configuration file, logging,
//! signals and exit codes. Everything else lives in the library crates.

mod config;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lantern_broker::Broker;
use lantern_net::{ListenerSpec, Server};
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, DEFAULT_BIND, DEFAULT_PORT};

/// Lantern: an MQTT 3.1.1 and 5.0 broker for device fleets.
#[derive(Debug, Parser)]
#[command(name = "lantern", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the broker. With no options: one listener on 127.0.0.1:1883, anonymous clients
    /// allowed, reachable from this machine only.
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML); see the README for the keys.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen on this address instead of the configured listeners (default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    bind: Option<std::net::IpAddr>,
    /// Listen on this port instead of the configured listeners (default 1883; 0 = any free
    /// port, printed on stdout).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Log filter, as in RUST_LOG (default "info").
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lantern: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = match &args.log {
        Some(f) => EnvFilter::try_new(f).context("--log")?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();

    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::zero(),
    };
    if args.bind.is_some() || args.port.is_some() {
        let addr = SocketAddr::new(
            args.bind.unwrap_or(DEFAULT_BIND),
            args.port.unwrap_or(DEFAULT_PORT),
        );
        config.listeners = vec![ListenerSpec {
            name: "default".into(),
            addr,
        }];
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Install the signal handlers before anything is announced, so a SIGTERM that follows
        // the "listening" line at once still stops the broker cleanly.
        let shutdown = shutdown_signal()?;
        let broker = Broker::new(config.broker);
        let server = Server::bind(broker, &config.listeners).await?;
        for l in server.listeners() {
            if !l.addr.ip().is_loopback() {
                warn!(
                    listener = %l.name,
                    addr = %l.addr,
                    "listening beyond this machine with anonymous access: any device that can reach it may publish and subscribe"
                );
            }
            // The one line on stdout: scripts and tests read the port from it.
            println!("lantern listening on {} (tcp)", l.addr);
            info!(listener = %l.name, addr = %l.addr, "listening");
        }
        server.run(shutdown).await?;
        anyhow::Ok(())
    })
}

/// A future that completes on SIGINT or SIGTERM; the handlers are installed when this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
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
