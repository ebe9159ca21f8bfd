//! AT-command transcripts: SIMCom (`+CMQTT…`, `+CSSLCFG`, `+CIPSEND`, `+CIPRXGET`,
//! `+IPCLOSE`, `+CCERTDOWN`), nRF91 (`%CMNG`), and the generic `OK` / `ERROR` / `+CME ERROR`.
//!
//! Two inputs reach this module: text lines (a terminal transcript, possibly with several
//! commands on one line and `// comments`), and the raw UART bytes an ESP-IDF hexdump shows,
//! where `+CIPRXGET: 2,<link>,<len>,<rest>` is followed by `<len>` raw bytes of received data.

use serde::Serialize;

use super::{Dir, Segment};

/// What kind of AT line.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AtKind {
    /// A command the host sent (`AT+CMQTTSTART`).
    Command,
    /// A response or unsolicited result code (`+CMQTTCONNECT: 0,32`).
    Response,
    /// A final result (`OK`, `ERROR`).
    Final,
    /// The modem's `>` prompt for data.
    Prompt,
}

/// One AT command, response, final result or prompt.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct AtEvent {
    /// 1-based input line.
    pub line: usize,
    /// Timestamp in milliseconds, when the line had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    /// What kind of line.
    pub kind: AtKind,
    /// `AT+CMQTTCONNECT`, `+CMQTTCONNECT`, `OK`, `ERROR`, `+CME ERROR`, `>`.
    pub name: String,
    /// Comma-separated fields, quotes removed.
    pub fields: Vec<String>,
    /// The line as written (trimmed).
    pub text: String,
    /// Where it came from: "text" or "ESP-IDF hexdump, tag …".
    pub source: String,
}

/// A certificate pasted after `AT+CCERTDOWN="<name>",<len>`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct CertDownload {
    /// Line of the command.
    pub line: usize,
    /// File name on the modem.
    pub name: String,
    /// The length the command declared.
    pub declared: usize,
    /// Length of the pasted text with LF line endings.
    pub lf_len: usize,
    /// Length with CRLF line endings.
    pub crlf_len: usize,
}

/// Parser state for text transcripts.
#[derive(Debug, Default)]
pub(crate) struct AtParser {
    pending_send: Option<(usize, usize)>,
    pending_rx: Option<(usize, usize, bool)>,
    cert: Option<(usize, String, usize, Vec<String>)>,
    pub(crate) certs: Vec<CertDownload>,
}

impl AtParser {
    /// True when the next line may be the data of `AT+CIPSEND` or `+CIPRXGET: 3,…`.
    pub(crate) fn expects_data(&self) -> bool {
        self.pending_send.is_some() || self.pending_rx.is_some()
    }

    /// Feeds one text line (already stripped of log prefixes).
    pub(crate) fn line(
        &mut self,
        no: usize,
        ts_ms: Option<u64>,
        text: &str,
        events: &mut Vec<AtEvent>,
        segments: &mut Vec<Segment>,
    ) {
        let trimmed = text.trim();
        if let Some((line, name, declared, mut body)) = self.cert.take() {
            let content = trimmed.strip_prefix('>').unwrap_or(trimmed);
            if !content.is_empty() && trimmed != "OK" && trimmed != "ERROR" {
                body.push(content.to_owned());
                if !content.starts_with("-----END") {
                    self.cert = Some((line, name, declared, body));
                    return;
                }
            }
            if !body.is_empty() {
                let chars: usize = body.iter().map(String::len).sum();
                self.certs.push(CertDownload {
                    line,
                    name,
                    declared,
                    lf_len: chars + body.len(),
                    crlf_len: chars + 2 * body.len(),
                });
                if content.starts_with("-----END") {
                    return;
                }
            }
        }
        if let Some((line, len)) = self.pending_send.take() {
            let data = trimmed.strip_prefix('>').map_or(trimmed, str::trim_start);
            if let Some(bytes) = payload(data, len, false) {
                segments.push(data_segment(
                    no,
                    Dir::FromDevice,
                    format!("AT+CIPSEND data (line {line})"),
                    bytes,
                    ts_ms,
                ));
                return;
            }
            if trimmed == ">" {
                self.pending_send = Some((line, len));
            }
        }
        if let Some((line, len, hex)) = self.pending_rx.take() {
            if let Some(bytes) = payload(trimmed, len, hex) {
                segments.push(data_segment(
                    no,
                    Dir::ToDevice,
                    format!("+CIPRXGET data (line {line})"),
                    bytes,
                    ts_ms,
                ));
                return;
            }
        }
        for (kind, name, fields, text) in parse_line(text) {
            match name.as_str() {
                "AT+CIPSEND" => {
                    if let Some(len) = fields.get(1).and_then(|f| f.parse().ok()) {
                        self.pending_send = Some((no, len));
                    }
                }
                "+CIPRXGET" => {
                    let mode = fields.first().map(String::as_str);
                    if let (Some("2" | "3"), Some(len)) =
                        (mode, fields.get(2).and_then(|f| f.parse().ok()))
                    {
                        self.pending_rx = Some((no, len, mode == Some("3")));
                    }
                }
                "AT+CCERTDOWN" => {
                    if let (Some(file), Some(len)) =
                        (fields.first(), fields.get(1).and_then(|f| f.parse().ok()))
                    {
                        self.cert = Some((no, file.clone(), len, Vec::new()));
                    }
                }
                _ => {}
            }
            events.push(AtEvent {
                line: no,
                ts_ms,
                kind,
                name,
                fields,
                text,
                source: "text".to_owned(),
            });
        }
    }
}

fn data_segment(
    no: usize,
    dir: Dir,
    source: String,
    bytes: Vec<u8>,
    ts_ms: Option<u64>,
) -> Segment {
    Segment {
        direction: Some(dir),
        source_line: no,
        end_line: no,
        source,
        note: None,
        ts_ms,
        bytes,
    }
}

/// Data of `len` bytes written as hex (`hex`) or raw text.
fn payload(text: &str, len: usize, hex: bool) -> Option<Vec<u8>> {
    if len == 0 {
        return None;
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() == 2 * len && compact.bytes().all(|c| c.is_ascii_hexdigit()) {
        return (0..len)
            .map(|i| u8::from_str_radix(&compact[2 * i..2 * i + 2], 16).ok())
            .collect();
    }
    (!hex && text.len() == len).then(|| text.as_bytes().to_vec())
}

/// The raw UART stream of one ESP-IDF log tag.
#[derive(Debug, Default)]
pub(crate) struct UartStream {
    line: Vec<u8>,
    line_no: Option<usize>,
    data: Option<(usize, usize, Vec<u8>)>,
}

impl UartStream {
    /// Feeds the bytes of one buffer, each with the input line that showed it.
    pub(crate) fn feed(
        &mut self,
        tag: &str,
        ts_ms: Option<u64>,
        bytes: &[(usize, u8)],
        events: &mut Vec<AtEvent>,
        segments: &mut Vec<Segment>,
    ) {
        for &(no, b) in bytes {
            if let Some((start, want, mut got)) = self.data.take() {
                got.push(b);
                if got.len() == want {
                    segments.push(Segment {
                        direction: Some(Dir::ToDevice),
                        source_line: start,
                        end_line: no,
                        source: format!("+CIPRXGET data, ESP-IDF hexdump tag {tag}"),
                        note: Some("raw bytes the modem delivered after +CIPRXGET: 2,…".to_owned()),
                        ts_ms,
                        bytes: got,
                    });
                } else {
                    self.data = Some((start, want, got));
                }
                continue;
            }
            if b == b'\n' {
                let text = String::from_utf8_lossy(&self.line).trim().to_owned();
                let at_line = self.line_no.take().unwrap_or(no);
                self.line.clear();
                if text.is_empty() {
                    continue;
                }
                for (kind, name, fields, text) in parse_line(&text) {
                    if name == "+CIPRXGET" && fields.first().map(String::as_str) == Some("2") {
                        if let Some(len) = fields
                            .get(2)
                            .and_then(|f| f.parse::<usize>().ok())
                            .filter(|&l| l > 0)
                        {
                            self.data = Some((no, len, Vec::new()));
                        }
                    }
                    events.push(AtEvent {
                        line: at_line,
                        ts_ms,
                        kind,
                        name,
                        fields,
                        text,
                        source: format!("ESP-IDF hexdump, tag {tag}"),
                    });
                }
            } else {
                if self.line.is_empty() {
                    self.line_no = Some(no);
                }
                self.line.push(b);
                if b == b'>' && self.line.iter().all(|&c| c == b'\r' || c == b'>') {
                    events.push(AtEvent {
                        line: no,
                        ts_ms,
                        kind: AtKind::Prompt,
                        name: ">".to_owned(),
                        fields: Vec::new(),
                        text: ">".to_owned(),
                        source: format!("ESP-IDF hexdump, tag {tag}"),
                    });
                    self.line.clear();
                    self.line_no = None;
                }
            }
        }
    }
}

type Parts = (AtKind, String, Vec<String>, String);

/// Parses one transcript line into zero or more AT items.
pub(crate) fn parse_line(text: &str) -> Vec<Parts> {
    // Credentials in commands (`AT+CMQTTCONNECT=…,"user","pass"`) never reach the output.
    let redacted = lantern_diag::redact(text.trim());
    let t = strip_comment(&redacted);
    if t.is_empty() {
        return Vec::new();
    }
    if t == "OK" || t == "ERROR" {
        return vec![(AtKind::Final, t.to_owned(), Vec::new(), t.to_owned())];
    }
    if t.starts_with('>') && !t.starts_with(">>") {
        return vec![(AtKind::Prompt, ">".to_owned(), Vec::new(), t.to_owned())];
    }
    if is_command(t) {
        return split_commands(t)
            .into_iter()
            .map(|cmd| {
                let end = cmd.find(['=', '?']).unwrap_or(cmd.len());
                let name = cmd[..end].to_ascii_uppercase();
                let fields = cmd.get(end + 1..).map(split_fields).unwrap_or_default();
                (AtKind::Command, name, fields, cmd.to_owned())
            })
            .collect();
    }
    if let Some(rest) = t
        .strip_prefix("+CME ERROR:")
        .or_else(|| t.strip_prefix("+CMS ERROR:"))
    {
        let name = if t.starts_with("+CME") {
            "+CME ERROR"
        } else {
            "+CMS ERROR"
        };
        return vec![(
            AtKind::Response,
            name.to_owned(),
            split_fields(rest.trim()),
            t.to_owned(),
        )];
    }
    if let Some(name) = response_name(t) {
        let rest = t[name.len()..].strip_prefix(':').unwrap_or("").trim();
        return vec![(
            AtKind::Response,
            name.to_owned(),
            split_fields(rest),
            t.to_owned(),
        )];
    }
    Vec::new()
}

fn is_command(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 2
        && b[..2].eq_ignore_ascii_case(b"AT")
        && (b.len() == 2 || matches!(b[2], b'+' | b'%' | b'&' | b'^' | b'$' | b'#'))
}

/// `+CMQTTCONNECT` of `+CMQTTCONNECT: 0,32`; `+CMQTTNONET` alone also counts.
fn response_name(t: &str) -> Option<&str> {
    let b = t.as_bytes();
    if !matches!(b.first(), Some(b'+' | b'%')) {
        return None;
    }
    let end = t[1..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(t.len(), |i| i + 1);
    if end < 3 || !t[1..end].bytes().any(|c| c.is_ascii_uppercase()) {
        return None;
    }
    let after = &t[end..];
    (after.is_empty() || after.starts_with(':')).then_some(&t[..end])
}

/// Removes `// comment` and `  (comment)` tails that forum posters add.
fn strip_comment(t: &str) -> &str {
    let mut end = t.len();
    if let Some(i) = t.find("//") {
        // Not inside a URL such as "tcp://host".
        if !t[..i].ends_with(':') {
            end = end.min(i);
        }
    }
    if let Some(i) = t.find("  (") {
        end = end.min(i);
    }
    t[..end].trim_end()
}

/// `AT+A=1 AT+B=2` → two commands.
fn split_commands(t: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let upper = t.to_ascii_uppercase();
    let mut in_quotes = false;
    for (i, c) in t.char_indices() {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && i > start && c == ' ' && upper[i..].trim_start().starts_with("AT") {
            let next = upper[i..].trim_start();
            if is_command(next) {
                out.push(t[start..i].trim());
                start = i + 1;
            }
        }
    }
    out.push(t[start..].trim());
    out.retain(|c| !c.is_empty());
    out
}

/// CSV with quotes: `0,"tcp://h:8883",60,1` → `["0", "tcp://h:8883", "60", "1"]`.
pub(crate) fn split_fields(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    for c in s.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !out.is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// Drops text-echo responses that repeat what an ESP-IDF hexdump of the UART already showed
/// (esp_modem logs both).
pub(crate) fn dedupe(events: &mut Vec<AtEvent>) {
    let mut keep = Vec::with_capacity(events.len());
    for e in events.drain(..) {
        let dup = e.source == "text"
            && e.kind != AtKind::Command
            && keep.iter().rev().take(12).any(|k: &AtEvent| {
                k.source != "text" && k.text == e.text && e.line.saturating_sub(k.line) <= 15
            });
        if !dup {
            keep.push(e);
        }
    }
    *events = keep;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_responses() {
        let items = parse_line("AT+CSSLCFG=\"sslversion\",0,4 AT+CSSLCFG=\"authmode\",0,1");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].1, "AT+CSSLCFG");
        assert_eq!(items[1].2, vec!["authmode", "0", "1"]);
        let items = parse_line("AT+CMQTTSTOP  (returns 9 has its not connected to disconnect)");
        assert_eq!(items[0].3, "AT+CMQTTSTOP");
        let items = parse_line(
            "AT+CMQTTCONNECT=0,\"tcp://xxx.s1.eu.hivemq.cloud:8883\",60,1,\"xxx\",\"xxx\"",
        );
        assert_eq!(items[0].2[1], "tcp://xxx.s1.eu.hivemq.cloud:8883");
        let items = parse_line("+CMQTTCONNECT: 0,32");
        assert_eq!(
            (items[0].0, items[0].1.as_str()),
            (AtKind::Response, "+CMQTTCONNECT")
        );
        assert_eq!(items[0].2, vec!["0", "32"]);
        assert!(parse_line("I get a handshake failure.").is_empty());
        assert_eq!(parse_line("+CME ERROR: 10")[0].1, "+CME ERROR");
    }

    #[test]
    fn uart_stream_extracts_ciprxget_data() {
        let raw = b"\r\n+CIPRXGET: 2,0,5,59\r\n\x17\x03\x03\x00\x1c\r\n\r\nOK\r\n";
        let bytes: Vec<(usize, u8)> = raw.iter().map(|&b| (7, b)).collect();
        let (mut events, mut segs) = (Vec::new(), Vec::new());
        UartStream::default().feed("sock_dce", None, &bytes, &mut events, &mut segs);
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].bytes, vec![0x17, 3, 3, 0, 0x1c]);
        assert_eq!(events.iter().filter(|e| e.name == "OK").count(), 1);
    }
}
