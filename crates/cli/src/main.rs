//! `lantern`: the MQTT broker that explains every failed device connection.
//!
//! This crate is the thin outer layer: argument parsing, the configuration file, logging,
//! signals and exit codes. Everything else lives in the library crates.

mod admin;
mod cert;
mod config;
mod decode;
mod journal;
mod passwd;
mod probe;
mod reload;
mod serve;
mod signals;
mod why;
mod wouldbreak;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

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
    Serve(serve::ServeArgs),
    /// Create or update a user in a mosquitto-compatible password file (the password is read
    /// from a prompt or stdin, never from the command line).
    Passwd(passwd::PasswdArgs),
    /// The development PKI: show certificates in plain words, print the CA, issue server and
    /// client certificates.
    Cert(cert::CertArgs),
    /// Decode what a device log shows: ESP-IDF hex dumps, plain or Wireshark hex, SIMCom AT
    /// transcripts. TLS records and MQTT packets decoded, result and error codes explained,
    /// anomalies flagged. Reads FILE or stdin; exit code 1 when something is wrong.
    Decode(decode::DecodeArgs),
    /// Probe a broker like a device: DNS, TCP, TLS, WebSocket, CONNECT, round trip, PINGREQ;
    /// map its TLS versions, suites, SNI behaviour and chains; a verdict per device profile.
    Probe(probe::ProbeArgs),
    /// Why did a device fail to connect? Asks a running broker's admin API (or reads its
    /// story log with --file) and prints each connection's story: cause, sentence and fixes.
    Why(why::WhyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => init_logging(args.log_filter()).and_then(|()| serve::run(args)),
        Command::Passwd(args) => passwd::run(args),
        Command::Cert(args) => cert::run(args),
        Command::Why(args) => return why::run(args),
        Command::Decode(args) => return decode::run(args),
        Command::Probe(args) => return probe::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lantern: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(filter: Option<&str>) -> anyhow::Result<()> {
    let filter = match filter {
        Some(f) => {
            EnvFilter::try_new(quiet_engine(f)).map_err(|e| anyhow::anyhow!("--log {f:?}: {e}"))?
        }
        None => std::env::var("RUST_LOG")
            .ok()
            .and_then(|f| EnvFilter::try_new(quiet_engine(&f)).ok())
            .unwrap_or_else(|| EnvFilter::new(quiet_engine("info"))),
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    Ok(())
}

/// The storage engine's own logs (journal recovery, flushes, compactions) stay at warnings
/// unless the filter names them: `--log debug` is about the broker.
fn quiet_engine(filter: &str) -> String {
    let mut parts: Vec<String> = vec![filter.to_owned()];
    parts.retain(|p| !p.trim().is_empty());
    for target in ["fjall", "lsm_tree"] {
        if !filter.contains(target) {
            parts.push(format!("{target}=warn"));
        }
    }
    parts.join(",")
}
