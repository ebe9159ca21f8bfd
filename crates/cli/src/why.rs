//! `lantern why`: the recent connection stories, each with its cause in one sentence and its
//! fixes; or a summary of the failures by cause and by ClientHello.
//!
//! It asks the running broker's admin API (`admin.rs`) or, with `--file`, reads the JSON-lines
//! story log offline (a directory reads `stories.jsonl` and its rotated files). Exit codes: 0
//! when something matched and was printed, 1 when no story matched, 2 on errors.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use lantern_diag::{Event, EventKind, Outcome, Story};

use crate::journal::{self, StoryFilter, Summary};

/// How many stories are listed unless `--last` or `--all` says otherwise.
const DEFAULT_LAST: usize = 20;

/// How long to wait for the admin API to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long to wait for its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read from the admin API.
const RESPONSE_LIMIT: u64 = 256 << 20;

/// Arguments of `lantern why`.
#[derive(Debug, clap::Args)]
pub(crate) struct WhyArgs {
    /// Only the stories of this client id.
    #[arg(long, value_name = "ID")]
    client: Option<String>,
    /// Only stories from this peer: an address (10.0.0.7), address:port, a network
    /// (10.0.0.0/8) or a prefix (10.0.).
    #[arg(long, value_name = "ADDR")]
    ip: Option<String>,
    /// Only stories of this tenant.
    #[arg(long, value_name = "NAME")]
    tenant: Option<String>,
    /// Only stories with this cause id (tls.no_sni) or family of causes (tls).
    #[arg(long, value_name = "ID")]
    cause: Option<String>,
    /// Only failed connections.
    #[arg(long)]
    failed: bool,
    /// Show the newest N matching stories (default 20); with --summary, summarise the newest N.
    #[arg(long, value_name = "N", conflicts_with = "all")]
    last: Option<usize>,
    /// Show every matching story.
    #[arg(long)]
    all: bool,
    /// Failures grouped by cause and by ClientHello fingerprint, with counts, and the devices
    /// still negotiating legacy suites.
    #[arg(long)]
    summary: bool,
    /// Dry run of a TLS policy: which devices (by their latest ClientHello) would fail under
    /// 'min_version=1.2', 'min_version=1.3' or 'no-legacy', and why.
    #[arg(long, value_name = "POLICY", conflicts_with = "summary")]
    would_break: Option<String>,
    /// With --would-break: only devices seen in the last N days.
    #[arg(long, value_name = "N", default_value_t = 7)]
    days: u64,
    /// Read this JSON-lines story log instead of asking the running broker; a directory (the
    /// data directory) reads stories.jsonl and its rotated files; `-` reads stdin.
    #[arg(long, value_name = "FILE", conflicts_with = "admin")]
    file: Option<PathBuf>,
    /// The admin API of the running broker.
    #[arg(long, value_name = "ADDR", default_value_t = crate::admin::DEFAULT_ADMIN_ADDR.to_string())]
    admin: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also show each story's events and counters.
    #[arg(long, short)]
    verbose: bool,
}

/// Output format of `lantern why`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
enum Format {
    /// For people.
    Text,
    /// The stories (or the summary) as JSON, as the admin API sends them.
    Json,
}

/// Runs `lantern why`; prints its own errors and returns the exit code.
pub(crate) fn run(args: WhyArgs) -> ExitCode {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = execute(&args, &mut out).and_then(|found| {
        out.flush()?;
        Ok(found)
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("no matching story");
            ExitCode::from(1)
        }
        // `lantern why | head`: not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lantern why: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints what `args` asks for; `Ok(false)` when no story matched.
fn execute(args: &WhyArgs, out: &mut dyn Write) -> anyhow::Result<bool> {
    let mut filter = StoryFilter {
        client: args.client.clone(),
        ip: args.ip.clone(),
        tenant: args.tenant.clone(),
        cause: args.cause.clone(),
        outcome: args.failed.then_some(Outcome::Failed),
        last: None,
    };
    filter.check().map_err(anyhow::Error::msg)?;

    if let Some(policy) = &args.would_break {
        let policy = crate::wouldbreak::Policy::parse(policy)?;
        let stories = match &args.file {
            Some(path) => read_log(path, &filter)?,
            None => {
                let body = http_get(&args.admin, &format!("/api/stories?{}", filter.to_query()))?;
                serde_json::from_slice::<Vec<Story>>(&body)
                    .context("the admin API sent stories that do not parse")?
            }
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let since = now_ms.saturating_sub(args.days.saturating_mul(86_400_000));
        let broken = crate::wouldbreak::would_break(&stories, policy, since);
        match args.format {
            Format::Json => write_json(out, &broken)?,
            Format::Text if broken.is_empty() => writeln!(
                out,
                "No device seen in the last {} days would fail under {policy}.",
                args.days
            )?,
            Format::Text => {
                writeln!(
                    out,
                    "{} {} seen in the last {} days would fail under {policy}:",
                    broken.len(),
                    if broken.len() == 1 {
                        "device"
                    } else {
                        "devices"
                    },
                    args.days
                )?;
                for b in &broken {
                    writeln!(
                        out,
                        "  {} ({}, last seen {}): {}",
                        clean(&b.device),
                        b.peer,
                        rfc3339(b.last_seen_ms),
                        b.reason
                    )?;
                }
            }
        }
        return Ok(true);
    }

    if args.summary {
        filter.last = args.last;
        let summary: Summary = match &args.file {
            Some(path) => journal::summary(&read_log(path, &filter)?),
            None => {
                let body = http_get(
                    &args.admin,
                    &format!("/api/stories/summary?{}", filter.to_query()),
                )?;
                serde_json::from_slice(&body)
                    .context("the admin API sent a summary that does not parse")?
            }
        };
        match args.format {
            Format::Text => out.write_all(clean_lines(&summary.render_text()).as_bytes())?,
            Format::Json => write_json(out, &summary)?,
        }
        return Ok(summary.stories > 0);
    }

    let limit = if args.all {
        None
    } else {
        Some(args.last.unwrap_or(DEFAULT_LAST))
    };
    // One more than shown, to tell whether older ones were left out.
    filter.last = limit.map(|n| n.saturating_add(1));
    let mut stories = match &args.file {
        Some(path) => read_log(path, &filter)?,
        None => {
            let body = http_get(&args.admin, &format!("/api/stories?{}", filter.to_query()))?;
            serde_json::from_slice::<Vec<Story>>(&body)
                .context("the admin API sent stories that do not parse")?
        }
    };
    let more = limit.is_some_and(|n| stories.len() > n);
    if let Some(n) = limit {
        stories.truncate(n);
    }
    match args.format {
        Format::Text => {
            for (i, story) in stories.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(render_story(story, args.verbose).as_bytes())?;
            }
        }
        Format::Json => write_json(out, &stories)?,
    }
    if more {
        eprintln!("(older matching stories are not shown: use --last N or --all)");
    }
    Ok(!stories.is_empty())
}

// ------------------------------------------------------------------------------------------------
// Rendering
// ------------------------------------------------------------------------------------------------

/// Pretty JSON and a newline. Serialized first, so that a write error stays an `io::Error`
/// (a closed pipe is then recognised).
fn write_json(out: &mut dyn Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(value)?;
    text.push(b'\n');
    out.write_all(&text)?;
    Ok(())
}

/// One story for a terminal:
///
/// ```text
/// 2026-11-22T21:40:01Z 127.0.0.1:51442 tls tenant=acme client=dev-1 FAILED tls.no_sni
///   The ClientHello carried no SNI (server_name), and listener "tls" routes tenants by SNI; …
///   fix: configure the device's TLS client to send the broker's host name as SNI (server_name)
/// ```
///
/// With `verbose`, the events and counters follow. Text that came from the device (client ids,
/// hex, host names) has its control characters escaped, so it cannot drive the terminal.
pub(crate) fn render_story(story: &Story, verbose: bool) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{} {} {}",
        rfc3339(story.started_ms),
        clean(&story.peer),
        clean(&story.transport)
    );
    if let Some(tenant) = &story.tenant {
        let _ = write!(s, " tenant={}", clean(tenant));
    }
    if let Some(client) = &story.client_id {
        let _ = write!(s, " client={}", quote_if_needed(client));
    }
    let outcome = match story.verdict.outcome {
        Outcome::Ok => "ok",
        Outcome::Failed => "FAILED",
    };
    let _ = write!(s, " {outcome} {}", journal::cause_id(story));
    if let Some(r) = &story.repeated {
        let _ = write!(s, " {}", repeated_text(r));
    }
    s.push('\n');
    if !story.verdict.sentence.is_empty() {
        // Stories are recorded redacted; redacting again covers logs written before that.
        let sentence = lantern_diag::redact(&story.verdict.sentence);
        let _ = writeln!(s, "  {}", clean(&sentence));
    }
    for fix in &story.verdict.fixes {
        let _ = writeln!(s, "  fix: {}", clean(fix));
    }
    for event in &story.events {
        if let Some(line) = session_line(&event.kind) {
            let _ = writeln!(s, "  {}", clean(&line));
        }
    }
    if verbose {
        let _ = writeln!(
            s,
            "  story {} on listener {}, {} ms, closed by {}",
            story.id,
            quote_if_needed(&story.listener),
            story.duration_ms,
            initiator(&story.closed_by)
        );
        for event in &story.events {
            let _ = writeln!(s, "    {}", event_line(event));
        }
        let c = &story.counters;
        let _ = write!(
            s,
            "  in: {} bytes, {} packets; out: {} bytes, {} packets",
            c.bytes_in, c.packets_in, c.bytes_out, c.packets_out
        );
        if let Some(p) = &c.last_packet_in {
            let _ = write!(s, "; last in {}", clean(p));
        }
        if let Some(p) = &c.last_packet_out {
            let _ = write!(s, "; last out {}", clean(p));
        }
        s.push('\n');
    }
    s
}

/// What happened to the client's messages and session, shown without `--verbose` because it is
/// what an operator asks about: messages dropped by policy (issue 9), a session replaced.
fn session_line(kind: &EventKind) -> Option<String> {
    match kind {
        EventKind::Dropped {
            while_offline,
            total,
            qos0_queue_full,
            offline_queue_full,
            retained_limit,
            acl_revoked,
            too_large,
            expired,
        } => {
            let reasons: Vec<String> = [
                ("QoS 0 to a full queue", qos0_queue_full),
                ("full queue while offline", offline_queue_full),
                ("max_retained_per_subscription", retained_limit),
                ("read ACL no longer allows", acl_revoked),
                ("larger than the client's Maximum Packet Size", too_large),
                ("expired", expired),
            ]
            .into_iter()
            .filter(|(_, n)| **n > 0)
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
            let when = if *while_offline {
                "while the client was offline"
            } else {
                "during this connection"
            };
            Some(format!(
                "dropped: {total} messages {when} ({})",
                reasons.join(", ")
            ))
        }
        EventKind::SessionReplaced { previous_owner } => Some(format!(
            "session: the client id's session belonged to {previous_owner}; it ended and this connection started a fresh one (other_identity = \"new-session\")"
        )),
        _ => None,
    }
}

/// `×9,874 in 3 s`: how often a folded failure happened, and over how long.
fn repeated_text(r: &lantern_diag::Repeated) -> String {
    let span_ms = r.last_ms.saturating_sub(r.first_ms);
    let span = if span_ms < 10_000 {
        format!("{:.1}", span_ms as f64 / 1000.0)
    } else {
        (span_ms / 1000).to_string()
    };
    format!("×{} in {span} s", thousands(r.count))
}

/// 9874 → `9,874`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `+3 ms  client_hello cipher_suites=A,B fingerprint=… versions=TLSv1.2`: the event's fields as
/// serialized, so that new kinds of events show without changes here.
fn event_line(event: &Event) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(event) else {
        return format!("+{} ms  {:?}", event.at_ms, event.kind);
    };
    let name = fields
        .get("event")
        .and_then(|v| v.as_str())
        .unwrap_or("event");
    let mut line = format!("+{} ms  {}", event.at_ms, clean(name));
    for (key, value) in &fields {
        if key == "at_ms" || key == "event" {
            continue;
        }
        let value = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(v) => quote_if_needed(v).into_owned(),
            serde_json::Value::Array(items) if items.is_empty() => continue,
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| match i {
                    serde_json::Value::String(v) => clean(v).into_owned(),
                    other => clean(&other.to_string()).into_owned(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => clean(&other.to_string()).into_owned(),
        };
        let _ = write!(line, " {key}={value}");
    }
    line
}

fn initiator(who: &lantern_diag::Initiator) -> String {
    serde_json::to_value(who)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{who:?}"))
}

/// Escapes control characters (a device chooses its client id, and could choose ESC).
fn clean(s: &str) -> Cow<'_, str> {
    if s.chars().any(char::is_control) {
        Cow::Owned(
            s.chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}

/// [`clean`] for each line of a multi-line text.
fn clean_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(&clean(line));
        out.push('\n');
    }
    out
}

/// The value, quoted when it is empty or has spaces or control characters.
fn quote_if_needed(s: &str) -> Cow<'_, str> {
    if s.is_empty()
        || s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        Cow::Owned(format!("{s:?}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Milliseconds since the Unix epoch as `2026-11-22T21:40:01Z` (UTC, whole seconds).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

// ------------------------------------------------------------------------------------------------
// Sources: the story log and the admin API
// ------------------------------------------------------------------------------------------------

/// The matching stories of a log file (or of a data directory's log files), newest first.
/// Lines that are not stories (a line cut short by a crash) are skipped and counted on stderr.
fn read_log(path: &Path, filter: &StoryFilter) -> anyhow::Result<Vec<Story>> {
    let mut kept = VecDeque::new();
    let mut skipped = 0usize;
    let mut take = |reader: &mut dyn BufRead, name: &Path| -> anyhow::Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .with_context(|| format!("cannot read {}", name.display()))?;
            if n == 0 {
                return Ok(());
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Story>(&line) {
                Ok(story) if filter.matches(&story) => {
                    // A summary line of a folded story replaces the line it counts (the same
                    // story, written first with no count).
                    if story.repeated.is_some() {
                        kept.retain(|k: &Story| {
                            (k.id, k.started_ms, &k.peer)
                                != (story.id, story.started_ms, &story.peer)
                        });
                    }
                    kept.push_back(story);
                    if filter.last.is_some_and(|n| kept.len() > n) {
                        kept.pop_front();
                    }
                }
                Ok(_) => {}
                Err(_) => skipped += 1,
            }
        }
    };
    if path.as_os_str() == "-" {
        take(&mut io::stdin().lock(), Path::new("stdin"))?;
    } else {
        for file in log_files(path)? {
            let f = File::open(&file).with_context(|| format!("cannot open {}", file.display()))?;
            take(&mut BufReader::new(f), &file)?;
        }
    }
    if skipped > 0 {
        eprintln!("lantern why: skipped {skipped} lines that are not stories");
    }
    Ok(kept.into_iter().rev().collect())
}

/// The file itself; for a directory, `stories.jsonl.N` … `stories.jsonl.1`, `stories.jsonl`
/// (oldest first).
fn log_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let index = match name.strip_prefix("stories.jsonl") {
            Some("") => 0,
            Some(rest) => match rest.strip_prefix('.').and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => continue,
            },
            None => continue,
        };
        files.push((index, entry.path()));
    }
    if files.is_empty() {
        anyhow::bail!("no stories.jsonl in {}", path.display());
    }
    files.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// `GET target` from the admin API at `admin` (`HOST:PORT`, `http://` allowed); the body.
fn http_get(admin: &str, target: &str) -> anyhow::Result<Vec<u8>> {
    let authority = admin
        .strip_prefix("http://")
        .unwrap_or(admin)
        .trim_end_matches('/');
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "--admin {admin:?}: expected HOST:PORT, such as {}",
                crate::admin::DEFAULT_ADMIN_ADDR
            )
        })?
        .collect();
    let mut last_error = None;
    let mut stream = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(mut stream) = stream else {
        let why = last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string());
        anyhow::bail!(
            "cannot reach the admin API at {admin} ({why}). Is `lantern serve` running, with its admin API on {admin}? \
             (Point --admin at the configured address if it is another.) \
             Without a running broker, read the story log instead: lantern why --file {}",
            Path::new(crate::config::DEFAULT_DATA_DIR).display()
        );
    };
    let context = || format!("the admin API at {admin}");
    stream
        .set_read_timeout(Some(READ_TIMEOUT))
        .with_context(context)?;
    stream
        .set_write_timeout(Some(READ_TIMEOUT))
        .with_context(context)?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .with_context(context)?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(RESPONSE_LIMIT)
        .read_to_end(&mut raw)
        .with_context(context)?;

    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(&raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            anyhow::bail!("{} closed the connection before answering", context())
        }
        Err(e) => anyhow::bail!("{} sent a malformed answer: {e}", context()),
    };
    let status = response.code.unwrap_or_default();
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = raw.split_off(head_len);
    if let Some(n) = length {
        if body.len() < n {
            anyhow::bail!("{} sent a truncated answer", context());
        }
        body.truncate(n);
    }
    if status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        anyhow::bail!("{} answered {status}: {message}", context());
    }
    Ok(body)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use clap::Parser;
    use lantern_diag::{Cause, Counters, EventKind};

    use super::*;
    use crate::journal::tests::{no_cipher, no_sni, ok, story, temp_dir, with_connect, with_hello};
    use crate::journal::{Journal, JsonlConfig};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: WhyArgs,
    }

    fn args(argv: &[&str]) -> WhyArgs {
        let mut full = vec!["why"];
        full.extend_from_slice(argv);
        Cli::try_parse_from(full).unwrap().args
    }

    fn output(args: &WhyArgs) -> (bool, String) {
        let mut out = Vec::new();
        let found = execute(args, &mut out).unwrap();
        (found, String::from_utf8(out).unwrap())
    }

    /// A log with four stories, written through the journal.
    fn fixture(name: &str) -> PathBuf {
        let dir = temp_dir(name);
        let journal = Journal::new(
            0,
            Some(JsonlConfig {
                path: dir.join("stories.jsonl"),
                // One story per file: the live file and three rotated ones.
                max_bytes: 1,
                keep: 5,
            }),
        )
        .unwrap();
        journal.record(story(1, "127.0.0.1:51442", Some("dev-1"), no_sni()));
        journal.record(story(2, "10.0.0.2:1000", Some("dev-2"), ok()));
        journal.record(with_hello(
            story(3, "10.0.0.3:1000", None, no_cipher()),
            "fp1",
        ));
        journal.record(with_hello(
            story(4, "10.0.0.4:1000", None, no_cipher()),
            "fp1",
        ));
        journal.flush();
        dir
    }

    /// Issue 9 defect 7: a folded flood reads as one story with its count, from the log (the
    /// summary line replaces the first line of the same story) and rendered with `×N in T s`.
    #[test]
    fn a_folded_story_shows_its_count() {
        let dir = temp_dir("folded");
        let journal = Journal::new(
            10,
            Some(JsonlConfig {
                path: dir.join("stories.jsonl"),
                max_bytes: 1 << 20,
                keep: 1,
            }),
        )
        .unwrap();
        for i in 0..9_874u64 {
            let mut s = story(10, "127.0.0.1:40000", None, Cause::NoCredentials);
            s.started_ms += i * 3_000 / 9_873;
            journal.record(s);
        }
        journal.record(story(20, "10.0.0.2:1000", Some("dev-2"), ok()));
        journal.flush();
        let lines = fs::read_to_string(dir.join("stories.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 3, "{lines}");

        let (found, text) = output(&args(&["--file", dir.to_str().unwrap(), "--all"]));
        assert!(found);
        let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("2026")).collect();
        assert_eq!(
            headers,
            // The log is newest last by line, and the summary line was written last (at flush).
            [
                "2026-11-22T21:40:01Z 127.0.0.1:40000 tls tenant=acme FAILED auth.no_credentials ×9,874 in 3.0 s",
                "2026-11-22T21:40:01Z 10.0.0.2:1000 tls tenant=acme client=dev-2 ok session.client_disconnect",
            ],
            "{text}"
        );
        let (_, text) = output(&args(&["--file", dir.to_str().unwrap(), "--summary"]));
        assert!(text.contains("9874 of 9875 stories failed."), "{text}");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn renders_a_story() {
        let s = story(1, "127.0.0.1:51442", Some("dev-1"), no_sni());
        let text = render_story(&s, false);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "2026-11-22T21:40:01Z 127.0.0.1:51442 tls tenant=acme client=dev-1 FAILED tls.no_sni"
        );
        assert_eq!(lines.next().unwrap(), format!("  {}", s.verdict.sentence));
        assert!(lines
            .next()
            .unwrap()
            .starts_with("  fix: configure the device's TLS client"));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn renders_events_when_verbose() {
        let mut s = with_hello(story(1, "127.0.0.1:51442", None, no_cipher()), "fp1");
        s.counters = Counters {
            bytes_in: 517,
            bytes_out: 7,
            ..Default::default()
        };
        s.events.push(Event {
            at_ms: 5,
            kind: EventKind::TlsFailed {
                error: "no cipher suites in common".into(),
                by: lantern_diag::Initiator::Broker,
            },
        });
        let text = render_story(&s, true);
        assert!(text.contains("ok") || text.contains("FAILED"));
        assert!(
            text.contains("  story 1 on listener tls, 5 ms, closed by broker\n"),
            "{text}"
        );
        assert!(
            text.contains("    +0 ms  accepted local=127.0.0.1:8883\n"),
            "{text}"
        );
        assert!(
            text.contains("    +1 ms  client_hello cipher_suites=TLS_RSA_WITH_AES_128_CBC_SHA fingerprint=fp1 versions=TLSv1.2\n"),
            "{text}"
        );
        assert!(
            text.contains(r#"    +5 ms  tls_failed by=broker error="no cipher suites in common""#),
            "{text}"
        );
        assert!(
            text.contains("  in: 517 bytes, 0 packets; out: 7 bytes, 0 packets\n"),
            "{text}"
        );
    }

    #[test]
    fn issue_9_drops_show_without_verbose() {
        let mut s = story(1, "127.0.0.1:51442", Some("dev-1"), ok());
        s.events.push(Event {
            at_ms: 9,
            kind: EventKind::Dropped {
                while_offline: true,
                total: 7,
                qos0_queue_full: 0,
                offline_queue_full: 5,
                retained_limit: 0,
                acl_revoked: 2,
                too_large: 0,
                expired: 0,
            },
        });
        let text = render_story(&s, false);
        assert!(
            text.contains("  dropped: 7 messages while the client was offline (5 full queue while offline, 2 read ACL no longer allows)\n"),
            "{text}"
        );
        let verbose = render_story(&s, true);
        assert!(
            verbose.contains(
                "+9 ms  dropped acl_revoked=2 offline_queue_full=5 total=7 while_offline=true"
            ),
            "{verbose}"
        );
    }

    #[test]
    fn device_text_cannot_drive_the_terminal() {
        let s = story(1, "127.0.0.1:1", Some("dev\u{1b}[2J"), ok());
        let text = render_story(&s, true);
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains(r#"client="dev\u{1b}[2J""#), "{text}");
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_383_601_999), "2026-11-22T21:40:01Z");
        assert_eq!(rfc3339(4_102_444_799_000), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn file_lists_stories_with_sentence_and_fixes() {
        let dir = fixture("file");
        // Story 1 is in the oldest rotated file.
        let file = journal::rotated_path(&dir.join("stories.jsonl"), 3);
        let (found, text) = output(&args(&[
            "--file",
            file.to_str().unwrap(),
            "--client",
            "dev-1",
        ]));
        assert!(found);
        assert!(text.starts_with("2026-11-22T21:40:01Z 127.0.0.1:51442 tls tenant=acme client=dev-1 FAILED tls.no_sni\n"), "{text}");
        assert!(text.contains("  The ClientHello carried no SNI"), "{text}");
        assert!(text.contains("  fix: "), "{text}");

        let (found, text) = output(&args(&[
            "--file",
            file.to_str().unwrap(),
            "--client",
            "nobody",
        ]));
        assert!(!found);
        assert_eq!(text, "");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn directory_reads_rotated_files_newest_first() {
        let dir = fixture("dir");
        assert!(journal::rotated_path(&dir.join("stories.jsonl"), 3).exists());
        fs::write(dir.join("unrelated.txt"), "x").unwrap();
        let ids = |argv: &[&str]| -> Vec<u64> {
            let mut full = vec!["--file", dir.to_str().unwrap(), "--format", "json"];
            full.extend_from_slice(argv);
            let (_, text) = output(&args(&full));
            serde_json::from_str::<Vec<Story>>(&text)
                .unwrap()
                .iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(ids(&[]), [4, 3, 2, 1]);
        // A file alone is just that file.
        let (_, text) = output(&args(&[
            "--file",
            dir.join("stories.jsonl").to_str().unwrap(),
            "--format",
            "json",
        ]));
        assert_eq!(serde_json::from_str::<Vec<Story>>(&text).unwrap()[0].id, 4);
        assert_eq!(ids(&["--failed"]), [4, 3, 1]);
        assert_eq!(ids(&["--failed", "--last", "2"]), [4, 3]);
        assert_eq!(ids(&["--ip", "10.0.0.0/8", "--cause", "tls"]), [4, 3]);
        assert_eq!(ids(&["--tenant", "other"]), Vec::<u64>::new());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn summary_from_a_file() {
        let dir = fixture("summary");
        let (found, text) = output(&args(&["--file", dir.to_str().unwrap(), "--summary"]));
        assert!(found);
        assert!(text.contains("3 of 4 stories failed."), "{text}");
        assert!(
            text.contains(
                "2 devices with the same hello (fp1) fail tls.no_shared_cipher (2 failures)"
            ),
            "{text}"
        );
        let (_, json) = output(&args(&[
            "--file",
            dir.to_str().unwrap(),
            "--summary",
            "--format",
            "json",
        ]));
        let summary: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(summary.failed, 3);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn broken_lines_are_skipped() {
        let dir = temp_dir("broken");
        let path = dir.join("stories.jsonl");
        let line = serde_json::to_string(&story(1, "10.0.0.1:1", Some("d"), no_sni())).unwrap();
        fs::write(
            &path,
            format!("{line}\n\nnot json\n{}", &line[..line.len() / 2]),
        )
        .unwrap();
        let (found, text) = output(&args(&["--file", path.to_str().unwrap()]));
        assert!(found);
        assert_eq!(text.lines().filter(|l| l.contains("FAILED")).count(), 1);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn default_limit_and_all() {
        let dir = temp_dir("limit");
        let journal = Journal::new(
            0,
            Some(JsonlConfig {
                path: dir.join("stories.jsonl"),
                max_bytes: 1 << 20,
                keep: 1,
            }),
        )
        .unwrap();
        for id in 0..25 {
            journal.record(story(id, "10.0.0.1:1", Some("d"), ok()));
        }
        journal.flush();
        let count = |argv: &[&str]| {
            let mut full = vec!["--file", dir.to_str().unwrap(), "--format", "json"];
            full.extend_from_slice(argv);
            let (_, text) = output(&args(&full));
            serde_json::from_str::<Vec<Story>>(&text).unwrap().len()
        };
        assert_eq!(count(&[]), DEFAULT_LAST);
        assert_eq!(count(&["--all"]), 25);
        assert_eq!(count(&["--last", "3"]), 3);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn arguments() {
        let a = args(&[]);
        assert_eq!(a.admin, "127.0.0.1:18830");
        assert_eq!(a.format, Format::Text);
        assert!(Cli::try_parse_from(["why", "--file", "x", "--admin", "127.0.0.1:1"]).is_err());
        assert!(Cli::try_parse_from(["why", "--last", "3", "--all"]).is_err());
        // A bad --ip is an error before anything is read.
        let err = execute(
            &args(&["--ip", "not-an-ip", "--file", "/nonexistent"]),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ip=\"not-an-ip\""), "{err}");
    }

    #[test]
    fn unreachable_admin_api_says_what_to_do() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = execute(
            &args(&["--admin", &format!("127.0.0.1:{port}")]),
            &mut Vec::new(),
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("cannot reach the admin API"), "{text}");
        assert!(text.contains("lantern serve"), "{text}");
        assert!(text.contains("--file"), "{text}");
    }

    #[test]
    fn queries_the_admin_api() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let journal = Journal::new(100, None).unwrap();
        journal.record(story(1, "127.0.0.1:51442", Some("dev 1"), no_sni()));
        journal.record(story(2, "10.0.0.2:1000", Some("dev-2"), ok()));
        let listener = runtime
            .block_on(crate::admin::bind("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        runtime.spawn(crate::admin::serve_admin(
            listener,
            journal,
            std::future::pending(),
        ));

        let (found, text) = output(&args(&["--admin", &addr, "--client", "dev 1"]));
        assert!(found);
        assert!(text.starts_with("2026-11-22T21:40:01Z 127.0.0.1:51442 tls tenant=acme client=\"dev 1\" FAILED tls.no_sni\n"), "{text}");
        let (found, text) = output(&args(&[
            "--admin",
            &format!("http://{addr}/"),
            "--failed",
            "--summary",
        ]));
        assert!(found);
        assert!(text.contains("1 of 1 story failed."), "{text}");
        let (found, _) = output(&args(&["--admin", &addr, "--client", "nobody"]));
        assert!(!found);
        let (found, text) = output(&args(&[
            "--admin",
            &addr,
            "--client",
            "nobody",
            "--summary",
        ]));
        assert!(!found);
        assert_eq!(text, "0 of 0 stories failed.\n");
        let (found, _) = output(&args(&["--admin", &addr, "--tenant", "acme"]));
        assert!(found);
    }

    /// Issue: "Secrets never appear". The device's password exists only on the device; the story
    /// of its CONNECT records that a password was present, and no output contains it.
    #[test]
    fn password_is_absent_from_why_output() {
        let password = "hunter2-correct-horse";
        let s = with_connect(story(
            1,
            "10.0.0.1:1000",
            Some("dev-1"),
            Cause::BadPassword {
                username: "dev-1".into(),
                password_sent: true,
            },
        ));
        let text = render_story(&s, true);
        assert!(text.contains("password_present=true"), "{text}");
        assert!(!text.contains(password), "{text}");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains(password), "{json}");
        let summary = journal::summary([&s]).render_text();
        assert!(!summary.contains(password), "{summary}");
    }
}
