//! `lantern probe URL`: connect to a broker the way a device does — DNS, TCP, TLS, WebSocket,
//! CONNECT, SUBSCRIBE/PUBLISH, PINGREQ — stop at the first stage that fails and say why, map the
//! server's TLS, and give a verdict per device profile.
//!
//! This module only parses the arguments into a [`lantern_probe::probe::Plan`] and prints the
//! report; the probe itself is the `lantern-probe` crate. Exit codes: 0 the connection (with
//! `--profile`, that profile too) works end to end, 1 a finding, 2 usage or internal error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use lantern_codec::ProtocolVersion;
use lantern_probe::probe::{self, Password, Plan, Profile, SniChoice};

/// Output format.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Stages with ✓/✗, the TLS map, the profile verdicts.
    #[default]
    Text,
    /// The whole report as JSON.
    Json,
}

/// Arguments of `lantern probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct ProbeArgs {
    /// mqtt://, mqtts://, ws:// or wss://HOST[:PORT][/PATH].
    #[arg(value_name = "URL", required_unless_present = "list_profiles")]
    url: Option<String>,
    /// The CA file (PEM) the device trusts; the server's chain is verified against it.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Write the root certificate the device must trust to FILE (PEM, LF line endings) and
    /// print its length.
    #[arg(long, value_name = "FILE")]
    save_ca: Option<PathBuf>,
    /// MQTT user name.
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// Read the MQTT password from this environment variable (without it, --user prompts when
    /// stdin is a terminal). Passwords are never taken from the command line.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Client certificate (PEM) for mTLS.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Client id (default lantern-probe-<random>).
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// SNI name to send (default: the URL's host when it is a name).
    #[arg(long, value_name = "NAME", conflicts_with = "no_sni")]
    sni: Option<String>,
    /// Send no SNI, as modems do by default.
    #[arg(long)]
    no_sni: bool,
    /// MQTT version: 3.1.1 or 5.
    #[arg(long, value_name = "VERSION", default_value = "3.1.1")]
    mqtt: String,
    /// Judge the connection as this device profile (see --list-profiles); exit 0 only if it
    /// connects too.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Timeout of each stage: 10, 10s, 500ms.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    timeout: String,
    /// Skip the TLS map and the profile verdicts (fewer connections).
    #[arg(long)]
    no_map: bool,
    /// List the device profiles and where their facts come from.
    #[arg(long)]
    list_profiles: bool,
}

/// Runs `lantern probe`.
pub(crate) fn run(args: ProbeArgs) -> ExitCode {
    if args.list_profiles {
        match args.format {
            Format::Text => print!("{}", probe::profiles::list_text()),
            Format::Json => match serde_json::to_string_pretty(probe::PROFILES) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("lantern probe: {e}");
                    return ExitCode::from(2);
                }
            },
        }
        return ExitCode::SUCCESS;
    }
    let format = args.format;
    let plan = match plan(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lantern probe: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lantern probe: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(probe::run(&plan)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lantern probe: {e}");
            return ExitCode::from(2);
        }
    };
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", report.to_json()),
    }
    ExitCode::from(report.exit_code())
}

/// Arguments → validated plan (files read, password fetched).
fn plan(args: ProbeArgs) -> anyhow::Result<Plan> {
    let url = args.url.context("a URL is required")?;
    let mut plan = Plan::new(&url)?;
    plan.timeout = parse_duration(&args.timeout)?;
    plan.mqtt = match args.mqtt.as_str() {
        "3.1.1" | "311" | "4" => ProtocolVersion::V311,
        "5" | "5.0" => ProtocolVersion::V5,
        other => bail!("--mqtt {other:?}: expected 3.1.1 or 5"),
    };
    if let Some(name) = &args.profile {
        plan.profile = Some(Profile::find(name).with_context(|| {
            let names: Vec<&str> = probe::PROFILES.iter().map(|p| p.name).collect();
            format!(
                "--profile {name:?}: unknown; the profiles are {}",
                names.join(", ")
            )
        })?);
    }
    if let Some(ca) = &args.ca {
        plan.ca_pem = Some(std::fs::read(ca).with_context(|| format!("--ca {}", ca.display()))?);
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        plan.client_cert = Some((
            std::fs::read(cert).with_context(|| format!("--cert {}", cert.display()))?,
            std::fs::read(key).with_context(|| format!("--key {}", key.display()))?,
        ));
    }
    if let Some(id) = args.client_id {
        if id.is_empty() || id.len() > 200 {
            bail!("--client-id: 1 to 200 characters");
        }
        plan.client_id = id;
    }
    plan.sni = match (args.sni, args.no_sni) {
        (Some(name), _) => SniChoice::Name(name),
        (None, true) => SniChoice::Off,
        (None, false) => SniChoice::Host,
    };
    if !plan.target.scheme.is_tls() && (plan.ca_pem.is_some() || plan.client_cert.is_some()) {
        bail!("--ca, --cert and --key need mqtts:// or wss://");
    }
    plan.username = args.user;
    plan.password = match (&args.password_env, &plan.username) {
        (Some(var), _) => Some(Password(
            std::env::var_os(var)
                .with_context(|| format!("--password-env {var}: the variable is not set"))?
                .into_encoded_bytes(),
        )),
        (None, Some(user)) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            let p = rpassword::prompt_password(format!("Password for {user} (empty for none): "))
                .context("cannot read the password")?;
            (!p.is_empty()).then(|| Password(p.into_bytes()))
        }
        _ => None,
    };
    plan.save_ca = args.save_ca;
    plan.map_tls = !args.no_map;
    Ok(plan)
}

/// "10", "10s", "500ms", "1m".
fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("--timeout {s:?}: expected e.g. 10s or 500ms"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        other => bail!("--timeout {s:?}: unknown unit {other:?} (ms, s or m)"),
    };
    if !(0.05..=600.0).contains(&secs) {
        bail!("--timeout {s:?}: between 50ms and 10m");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
