//! `lantern cert`: look at certificates, and issue development ones.
//!
//! - `lantern cert show FILE...` describes every certificate in plain words and warns about what
//!   trips devices up: CRLF line endings, a byte-order mark, stray text, expiry, a self-signed
//!   leaf, a server certificate without subject alternative names, a chain out of order.
//! - `lantern cert ca` creates (or loads) the development CA and prints it with its exact byte
//!   length, which SIMCom's `AT+CCERTDOWN` needs.
//! - `lantern cert server NAME...` / `lantern cert client CN` issue from the development CA.
//!
//! The data directory is `--data-dir`, else `$LANTERN_DATA_DIR`, else `./lantern-data`, the
//! same default as `lantern serve`.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Subcommand;
use lantern_pki::{
    describe_der, describe_pem, CertSummary, Described, DevPki, InputFormat, Issued, KeyType,
    LineEndings, San, Validity,
};

/// Default data directory, relative to the current directory.
const DEFAULT_DATA_DIR: &str = "lantern-data";
/// Environment variable that overrides [`DEFAULT_DATA_DIR`].
const DATA_DIR_ENV: &str = "LANTERN_DATA_DIR";
/// `show` warns when a certificate expires within this many days.
const EXPIRY_WARNING_DAYS: u64 = 30;
/// The conventional MQTT-over-TLS port, used in printed example commands.
const MQTTS_PORT: u16 = 8883;

/// Look at certificates, and issue development ones.
#[derive(Debug, clap::Args)]
pub(crate) struct CertArgs {
    #[command(subcommand)]
    command: CertCommand,
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Describe each certificate in each file (PEM chain or DER) in plain words, with warnings
    /// about line endings, expiry, self-signed leaves and missing SANs.
    Show {
        /// Certificate files (PEM or DER).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Create the development CA if needed, and print its path, its PEM and its byte length.
    Ca {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Issue a server certificate from the development CA for DNS names and IP addresses.
    Server {
        /// DNS names (`*.example.com` allowed) and IP addresses; the first is also the CN and
        /// the file name.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        issue: IssueArgs,
    },
    /// Issue a client certificate (for mutual TLS) from the development CA.
    Client {
        /// The common name, often the device or client id.
        #[arg(value_name = "CN")]
        cn: String,
        /// Extra subject alternative name: uri:URI, email:ADDRESS, dns:NAME or ip:ADDRESS
        /// (repeatable).
        #[arg(long = "san", value_name = "KIND:VALUE")]
        sans: Vec<San>,
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        issue: IssueArgs,
    },
}

#[derive(Debug, clap::Args)]
struct DataDirArg {
    /// Data directory holding pki/ (default: $LANTERN_DATA_DIR, else ./lantern-data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct IssueArgs {
    /// Where to write NAME.pem and NAME.key (default: DATA_DIR/pki/issued).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Key type: ecdsa-p256 or ecdsa-p384 (RSA cannot be generated here).
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256")]
    key: KeyType,
}

/// Runs `lantern cert …`.
pub(crate) fn run(args: CertArgs) -> anyhow::Result<()> {
    match args.command {
        CertCommand::Show { files } => show(&files),
        CertCommand::Ca { data } => ca(&data_dir(data.data_dir)),
        CertCommand::Server { names, data, issue } => {
            let data_dir = data_dir(data.data_dir);
            let pki = ensure(&data_dir)?;
            let out = issue.out.unwrap_or_else(|| pki.paths.dir.join("issued"));
            let issued = pki
                .issue_server(&names, issue.key, &out)
                .context("issuing the server certificate")?;
            print_issued(&issued, "server")?;
            println!(
                "Clients verify it with the development CA: {}",
                pki.paths.ca_cert.display()
            );
            Ok(())
        }
        CertCommand::Client {
            cn,
            sans,
            data,
            issue,
        } => {
            let data_dir = data_dir(data.data_dir);
            let pki = ensure(&data_dir)?;
            let out = issue.out.unwrap_or_else(|| pki.paths.dir.join("issued"));
            let issued = pki
                .issue_client(&cn, &sans, issue.key, &out)
                .context("issuing the client certificate")?;
            print_issued(&issued, "client")?;
            println!("Try it (broker on port {MQTTS_PORT} with client certificates required):");
            println!(
                "  mosquitto_sub -h localhost -p {MQTTS_PORT} --cafile {} --cert {} --key {} -t '#' -v",
                pki.paths.ca_cert.display(),
                issued.cert_path.display(),
                issued.key_path.display()
            );
            Ok(())
        }
    }
}

/// `--data-dir`, else `$LANTERN_DATA_DIR`, else `./lantern-data`.
fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    resolve_data_dir(arg, std::env::var_os(DATA_DIR_ENV))
}

fn resolve_data_dir(arg: Option<PathBuf>, env: Option<OsString>) -> PathBuf {
    arg.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

fn ensure(data_dir: &Path) -> anyhow::Result<DevPki> {
    let pki = DevPki::ensure(data_dir).with_context(|| {
        format!(
            "setting up the development PKI in {}",
            data_dir.join("pki").display()
        )
    })?;
    if pki.created {
        println!(
            "Created the development CA in {} (SHA-256 {}).",
            pki.paths.dir.display(),
            pki.ca_fingerprint()
        );
    }
    for path in &pki.renewed {
        println!("Re-issued {} from the development CA.", path.display());
    }
    Ok(pki)
}

fn ca(data_dir: &Path) -> anyhow::Result<()> {
    let pki = ensure(data_dir)?;
    println!("Development CA: {}", pki.paths.ca_cert.display());
    println!("SHA-256 fingerprint: {}", pki.ca_fingerprint());
    if let Ok(summary) = describe_der(pki.ca_der(), SystemTime::now()) {
        println!(
            "{}; valid {} to {} ({})",
            summary.subject,
            date(&summary.not_before),
            date(&summary.not_after),
            summary.validity
        );
    }
    println!("{}", pki.ca_length_note());
    println!();
    print!("{}", String::from_utf8_lossy(pki.ca_pem()));
    Ok(())
}

fn print_issued(issued: &Issued, what: &str) -> anyhow::Result<()> {
    println!(
        "Wrote {} ({what} certificate followed by the CA)",
        issued.cert_path.display()
    );
    println!(
        "Wrote {} (private key, readable by you only)",
        issued.key_path.display()
    );
    let summary =
        describe_der(&issued.der, SystemTime::now()).context("describing the new certificate")?;
    print!("{}", render_summary(1, &summary));
    Ok(())
}

fn show(files: &[PathBuf]) -> anyhow::Result<()> {
    let now = SystemTime::now();
    let mut failed = 0usize;
    for (i, file) in files.iter().enumerate() {
        if i > 0 {
            println!();
        }
        match show_file(file, now) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                failed += 1;
                println!("{}: error: {e:#}", file.display());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} files could not be described", files.len());
    }
    Ok(())
}

fn show_file(file: &Path, now: SystemTime) -> anyhow::Result<String> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let described = describe_pem(&bytes, now)?;
    let mut out = String::new();
    let count = described.certificates.len();
    let format = match described.format {
        InputFormat::Pem => format!("PEM, {}", described.line_endings),
        InputFormat::Der => "DER".to_owned(),
        _ => "unknown format".to_owned(),
    };
    let _ = writeln!(
        out,
        "{}: {count} certificate{} ({format}, {} bytes)",
        file.display(),
        if count == 1 { "" } else { "s" },
        bytes.len()
    );
    for (i, cert) in described.certificates.iter().enumerate() {
        out.push_str(&render_summary(i + 1, cert));
    }
    for warning in warnings(&described, file) {
        let _ = writeln!(out, "  warning: {warning}");
    }
    Ok(out)
}

fn render_summary(index: usize, c: &CertSummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  [{index}] subject  {}", c.subject);
    if c.self_signed {
        let _ = writeln!(out, "      issuer   (self-signed)");
    } else {
        let _ = writeln!(out, "      issuer   {}", c.issuer);
    }
    let _ = writeln!(
        out,
        "      valid    {} to {} ({})",
        date(&c.not_before),
        date(&c.not_after),
        c.validity
    );
    let _ = writeln!(
        out,
        "      key      {}, signed with {}",
        c.key, c.signature_algorithm
    );
    let sans = if c.sans.is_empty() {
        "(none)".to_owned()
    } else {
        c.sans
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "      SANs     {sans}");
    let mut role = Vec::new();
    if c.is_ca {
        role.push("CA (may sign certificates)".to_owned());
    }
    if !c.eku.is_empty() {
        role.push(format!("for {}", c.eku.join(", ")));
    }
    if !role.is_empty() {
        let _ = writeln!(out, "      use      {}", role.join("; "));
    }
    let _ = writeln!(out, "      serial   {}", c.serial);
    let _ = writeln!(out, "      SHA-256  {}", c.fingerprint_sha256);
    out
}

/// Everything about a file that is likely to make a device or a client fail.
fn warnings(d: &Described, file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    match d.line_endings {
        LineEndings::Crlf | LineEndings::Mixed => out.push(format!(
            "this file has {}; some modems reject that. Convert with: sed -i 's/\\r$//' {}",
            d.line_endings,
            file.display()
        )),
        _ => {}
    }
    if d.has_bom {
        out.push(
            "the file starts with a UTF-8 byte-order mark (as Windows Notepad writes); some TLS stacks reject it"
                .to_owned(),
        );
    }
    for ignored in &d.ignored {
        out.push(format!("ignored: {ignored}"));
    }
    let soon = Duration::from_secs(EXPIRY_WARNING_DAYS * 86_400);
    for (i, c) in d.certificates.iter().enumerate() {
        let n = i + 1;
        match c.validity {
            Validity::Expired { .. } => out.push(format!(
                "certificate {n} ({}) has expired: {}",
                c.subject, c.validity
            )),
            Validity::NotYetValid { .. } => out.push(format!(
                "certificate {n} ({}) is not valid yet ({}); check the clock of whichever machine made it, and of the device",
                c.subject, c.validity
            )),
            Validity::Valid { expires_in } if expires_in < soon => out.push(format!(
                "certificate {n} ({}) {}",
                c.subject, c.validity
            )),
            _ => {}
        }
        if c.signature_algorithm.contains("weak") || c.signature_algorithm.contains("broken") {
            out.push(format!(
                "certificate {n} is signed with {}; current TLS clients refuse it",
                c.signature_algorithm
            ));
        }
        if let Some(next) = d.certificates.get(i + 1) {
            if c.is_issued_by(next) == Some(false) {
                out.push(format!(
                    "certificate {} did not issue certificate {n}: a chain lists each certificate before its issuer",
                    n + 1
                ));
            }
        }
    }
    if let Some(leaf) = d.certificates.first() {
        let is_leaf = !leaf.is_ca;
        if is_leaf && leaf.self_signed {
            out.push(
                "the first certificate is a self-signed leaf: clients can only trust it by pinning it; issue it from a CA instead (lantern cert server NAME)"
                    .to_owned(),
            );
        }
        if is_leaf && leaf.allows_server_auth() && leaf.sans.is_empty() {
            out.push(
                "no subject alternative names: TLS clients ignore the CN, so a server certificate needs a DNS or IP SAN"
                    .to_owned(),
            );
        }
    }
    out
}

fn date(t: &lantern_pki::OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_precedence() {
        assert_eq!(
            resolve_data_dir(None, None),
            PathBuf::from(DEFAULT_DATA_DIR)
        );
        assert_eq!(
            resolve_data_dir(None, Some("".into())),
            PathBuf::from(DEFAULT_DATA_DIR)
        );
        assert_eq!(
            resolve_data_dir(None, Some("/env".into())),
            PathBuf::from("/env")
        );
        assert_eq!(
            resolve_data_dir(Some("/arg".into()), Some("/env".into())),
            PathBuf::from("/arg")
        );
    }
}
