//! Input parsers: from pasted text to byte segments, AT events and log lines.
//!
//! One pass over the lines recognises, independently of each other:
//!
//! - ESP-IDF `ESP_LOG_BUFFER_HEXDUMP` lines (`V (6196) sock_dce: 0x3ffba988   39 48 …  |9H..|`);
//!   lines of one tag whose addresses continue by 16 form one buffer, even with other log lines
//!   in between (esp_modem interleaves them);
//! - offset hex dumps: Wireshark "Follow stream" / `xxd`-like (`0000  10 0c 00 04 …   ..MQTT`)
//!   and mbedTLS debug dumps (`0000:  16 03 03 …`);
//! - plain hex lines (`20 00`, `2000`, `0x20,0x00`, `0x20 0x00`) and C arrays (`{0x10, 0x0c}`),
//!   also inside prose;
//! - AT command transcripts (handled by [`super::at`]).
//!
//! Prefixes are stripped first and give timestamps: ESP-IDF `X (ms) tag:`, the Arduino serial
//! monitor `hh:mm:ss.mmm -> `, Zephyr `[hh:mm:ss.mmm,uuu] <lvl> module:`, and mosquitto
//! `YYYY-MM-DD hh:mm:ss:` / `1665000000:`.

use std::collections::BTreeMap;

use super::at::{self, AtEvent, AtParser};
use super::{Dir, Segment};

/// One input line after its log prefix was recognised.
#[derive(Clone, Debug)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub(crate) no: usize,
    /// Milliseconds from the line's timestamp (since boot or since midnight), when it has one.
    pub(crate) ts_ms: Option<u64>,
    /// The text after the prefix.
    pub(crate) text: &'a str,
    /// The ESP-IDF log tag, for ESP-IDF lines.
    pub(crate) tag: Option<&'a str>,
}

/// Everything the parsers found.
#[derive(Debug, Default)]
pub(crate) struct Parsed<'a> {
    pub(crate) lines: Vec<Line<'a>>,
    pub(crate) segments: Vec<Segment>,
    pub(crate) at_events: Vec<AtEvent>,
    pub(crate) certs: Vec<at::CertDownload>,
}

/// Splits the input into lines and runs every parser.
pub(crate) fn parse(input: &str) -> Parsed<'_> {
    let lines: Vec<Line<'_>> = input
        .lines()
        .enumerate()
        .map(|(i, raw)| split_prefix(i + 1, raw))
        .collect();
    let mut out = Parsed::default();
    let mut esp = EspBuffers::default();
    let mut hex_block: Option<HexBlock> = None;
    let mut offset_block: Option<HexBlock> = None;
    let mut c_array: Option<HexBlock> = None;
    let mut at_text = AtParser::default();
    // The last line that was not hex, for direction hints ("Send(66) :", "dumping 'input …'").
    let mut context: Option<(usize, String)> = None;
    let mut indented_offsets = false;

    for line in &lines {
        let text = line.text;
        if let (Some(tag), Some((addr, bytes))) = (line.tag, parse_esp_hexdump(text)) {
            esp.push(tag, line.no, line.ts_ms, addr, &bytes);
            continue;
        }
        // Data announced by AT+CIPSEND / +CIPRXGET: the transcript parser reads it first.
        if at_text.expects_data() {
            at_text.line(
                line.no,
                line.ts_ms,
                text,
                &mut out.at_events,
                &mut out.segments,
            );
            continue;
        }
        // C arrays may span lines: `{0x10, 0x0c,` … `0x00}`.
        if let Some(block) = c_array.as_mut() {
            let (bytes, closed) = c_array_body(text);
            if bytes.is_empty() && !closed {
                // Not an array line after all: keep what was collected, read the line normally.
                if let Some(block) = c_array.take() {
                    out.segments.push(block.into_segment("C array"));
                }
            } else {
                block.bytes.extend(bytes);
                block.end_line = line.no;
                if closed {
                    if let Some(block) = c_array.take() {
                        out.segments.push(block.into_segment("C array"));
                    }
                }
                continue;
            }
        }
        if let Some(start) = text.find('{') {
            let (bytes, closed) = c_array_body(&text[start + 1..]);
            if !bytes.is_empty() {
                let block = HexBlock::new(line.no, hint_from(&context, line.no), bytes);
                if closed {
                    out.segments.push(block.into_segment("C array"));
                } else {
                    c_array = Some(block);
                }
                continue;
            }
        }
        if let Some((offset, bytes, indented)) = parse_offset_line(text) {
            if let Some(block) = hex_block.take() {
                out.segments.push(block.into_segment("hex"));
            }
            indented_offsets |= indented;
            let continues = offset_block
                .as_ref()
                .is_some_and(|b| offset != 0 && b.bytes.len() == offset && b.indented == indented);
            if continues {
                if let Some(b) = offset_block.as_mut() {
                    b.bytes.extend(bytes);
                    b.end_line = line.no;
                }
            } else {
                if let Some(block) = offset_block.take() {
                    out.segments.push(block.into_segment("offset hex dump"));
                }
                let mut block = HexBlock::new(line.no, hint_from(&context, line.no), bytes);
                block.indented = indented;
                offset_block = Some(block);
            }
            continue;
        }
        if let Some(block) = offset_block.take() {
            out.segments.push(block.into_segment("offset hex dump"));
        }
        // A lone byte ("00") counts only as the last line of a dump already open.
        let continuing = hex_block
            .as_ref()
            .is_some_and(|b| b.end_line + 1 == line.no);
        let lone = || {
            continuing
                .then(|| hex_byte(text.trim()).map(|b| vec![b]))
                .flatten()
        };
        if let Some(bytes) = parse_plain_hex(text).or_else(lone) {
            match hex_block.as_mut() {
                Some(b) if b.end_line + 1 == line.no => {
                    b.bytes.extend(bytes);
                    b.end_line = line.no;
                }
                _ => {
                    if let Some(block) = hex_block.take() {
                        out.segments.push(block.into_segment("hex"));
                    }
                    hex_block = Some(HexBlock::new(line.no, hint_from(&context, line.no), bytes));
                }
            }
            continue;
        }
        if let Some(block) = hex_block.take() {
            out.segments.push(block.into_segment("hex"));
        }
        if !text.trim().is_empty() {
            at_text.line(
                line.no,
                line.ts_ms,
                text,
                &mut out.at_events,
                &mut out.segments,
            );
            context = Some((line.no, text.to_owned()));
        }
    }
    for block in [hex_block, offset_block, c_array].into_iter().flatten() {
        let source = if block.indented {
            "offset hex dump"
        } else {
            "hex"
        };
        out.segments.push(block.into_segment(source));
    }
    if indented_offsets {
        // Wireshark "Follow TCP Stream" (hex dump) indents the second side: the server when the
        // capture starts at the device's connect.
        for seg in out
            .segments
            .iter_mut()
            .filter(|s| s.source == "offset hex dump")
        {
            if seg.direction.is_none() {
                let indented = seg.note.as_deref() == Some(INDENTED);
                seg.direction = Some(if indented {
                    Dir::ToDevice
                } else {
                    Dir::FromDevice
                });
                seg.note = Some(if indented {
                    "indented lines of a Wireshark Follow-stream dump: the server side".to_owned()
                } else {
                    "unindented lines of a Wireshark Follow-stream dump: the client side".to_owned()
                });
            }
        }
    }
    esp.finish(&lines, &mut out);
    out.segments.sort_by_key(|s| s.source_line);
    out.at_events.sort_by_key(|e| e.line);
    out.certs = std::mem::take(&mut at_text.certs);
    out.lines = lines;
    out
}

const INDENTED: &str = "indented";

/// Consecutive hex lines being collected.
#[derive(Debug)]
struct HexBlock {
    start_line: usize,
    end_line: usize,
    hint: Option<(Dir, String)>,
    bytes: Vec<u8>,
    indented: bool,
}

impl HexBlock {
    fn new(line: usize, hint: Option<(Dir, String)>, bytes: Vec<u8>) -> Self {
        Self {
            start_line: line,
            end_line: line,
            hint,
            bytes,
            indented: false,
        }
    }

    fn into_segment(self, source: &str) -> Segment {
        let (direction, note) = match self.hint {
            Some((dir, why)) => (Some(dir), Some(why)),
            None if self.indented => (None, Some(INDENTED.to_owned())),
            None => (None, None),
        };
        Segment {
            direction,
            source_line: self.start_line,
            end_line: self.end_line,
            source: source.to_owned(),
            note,
            ts_ms: None,
            bytes: self.bytes,
        }
    }
}

/// A direction hint from the line just before a dump (at most two lines up).
fn hint_from(context: &Option<(usize, String)>, line: usize) -> Option<(Dir, String)> {
    let (no, text) = context.as_ref()?;
    if line.saturating_sub(*no) > 2 {
        return None;
    }
    let dir = direction_words(text)?;
    Some((
        dir,
        format!("line {no} says \"{}\"", shorten(text.trim(), 60)),
    ))
}

/// Words that say which way bytes go: "Send(66)", "sending", "write" / "Recv(5)", "read", "rx".
pub(crate) fn direction_words(text: &str) -> Option<Dir> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("input record") || lower.contains("from network") {
        return Some(Dir::ToDevice);
    }
    if lower.contains("output record") || lower.contains("to network") {
        return Some(Dir::FromDevice);
    }
    for word in lower.split(|c: char| !c.is_ascii_alphanumeric()) {
        match word {
            "recv" | "received" | "receive" | "receiving" | "read" | "rx" | "incoming" => {
                return Some(Dir::ToDevice)
            }
            "send" | "sent" | "sending" | "write" | "tx" | "outgoing" => {
                return Some(Dir::FromDevice)
            }
            _ => {}
        }
    }
    None
}

pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

// ---------------------------------------------------------------------------------------------
// Prefixes

fn split_prefix(no: usize, raw: &str) -> Line<'_> {
    let raw = raw.trim_end_matches('\r');
    let mut line = Line {
        no,
        ts_ms: None,
        text: raw,
        tag: None,
    };
    // Arduino serial monitor: "16:11:32.400 -> text"
    if let Some((ts, rest)) = arduino_prefix(raw) {
        line.ts_ms = Some(ts);
        line.text = rest;
    }
    let text = line.text;
    // ESP-IDF: "V (6196) sock_dce: …"
    if let Some((ts, tag, rest)) = esp_prefix(text) {
        line.ts_ms = Some(ts);
        line.tag = Some(tag);
        line.text = rest;
        return line;
    }
    // Zephyr: "[00:00:06.692,779] <wrn> mbedtls: ssl_tls.c:3914: => handshake"
    if let Some((ts, rest)) = zephyr_prefix(text) {
        line.ts_ms = Some(ts);
        line.text = strip_source_location(rest);
        return line;
    }
    // mosquitto: "2022-10-05 12:15:09: New connection from …"
    if let Some((ts, rest)) = mosquitto_prefix(text) {
        line.ts_ms = Some(ts);
        line.text = rest;
    }
    line.text = strip_source_location(line.text);
    line
}

/// mbedTLS debug lines start with the source location: `ssl_msg.c:2712: 0000:  16 03 …`.
fn strip_source_location(text: &str) -> &str {
    let t = text.strip_prefix("mbedtls: ").unwrap_or(text);
    let Some(i) = t.find(".c:") else { return text };
    let head = &t[..i];
    if head.is_empty() || head.contains(' ') {
        return text;
    }
    let after = &t[i + 3..];
    let n = after.bytes().take_while(u8::is_ascii_digit).count();
    match after[n..].strip_prefix(": ") {
        Some(rest) if n > 0 => rest,
        _ => text,
    }
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hms_ms(h: &str, m: &str, s: &str, ms: &str) -> Option<u64> {
    Some(((digits(h)? * 60 + digits(m)?) * 60 + digits(s)?) * 1000 + digits(ms)?)
}

fn arduino_prefix(raw: &str) -> Option<(u64, &str)> {
    let (head, rest) = raw
        .split_once(" -> ")
        .or_else(|| raw.strip_suffix(" ->").map(|h| (h, "")))?;
    let head = head.trim();
    let (hms, ms) = head.split_once('.')?;
    let mut parts = hms.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || ms.len() != 3 {
        return None;
    }
    Some((hms_ms(h, m, s, ms)?, rest))
}

fn esp_prefix(text: &str) -> Option<(u64, &str, &str)> {
    let b = text.as_bytes();
    if b.len() < 6 || !matches!(b[0], b'V' | b'D' | b'I' | b'W' | b'E') || &b[1..3] != b" (" {
        return None;
    }
    let close = text.find(") ")?;
    let ts = digits(&text[3..close])?;
    let after = &text[close + 2..];
    let (tag, rest) = after
        .split_once(": ")
        .or_else(|| after.strip_suffix(':').map(|t| (t, "")))?;
    if tag.is_empty() || tag.contains(' ') {
        return None;
    }
    Some((ts, tag, rest))
}

fn zephyr_prefix(text: &str) -> Option<(u64, &str)> {
    let inner = text.strip_prefix('[')?;
    let (stamp, rest) = inner.split_once("] ")?;
    let (hms, frac) = stamp.split_once('.')?;
    let (ms, _us) = frac.split_once(',')?;
    let mut parts = hms.split(':');
    let ts = hms_ms(parts.next()?, parts.next()?, parts.next()?, ms)?;
    // "<wrn> mbedtls: rest" — keep "mbedtls: rest" so module names stay visible.
    let rest = match rest.strip_prefix('<').and_then(|r| r.split_once("> ")) {
        Some((_lvl, r)) => r,
        None => rest,
    };
    Some((ts, rest))
}

fn mosquitto_prefix(text: &str) -> Option<(u64, &str)> {
    // "2022-10-05 12:15:09: …"
    if text.len() > 21 && text.as_bytes()[4] == b'-' && text.as_bytes()[10] == b' ' {
        let (h, m, s) = (&text[11..13], &text[14..16], &text[17..19]);
        if &text[19..21] == ": " {
            return Some((hms_ms(h, m, s, "0")?, &text[21..]));
        }
    }
    // "1665000000: …" (unix seconds)
    let (head, rest) = text.split_once(": ")?;
    if head.len() == 10 {
        return Some((digits(head)? * 1000, rest));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Hex formats

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn hex_byte(tok: &str) -> Option<u8> {
    let b = tok.as_bytes();
    if b.len() != 2 {
        return None;
    }
    Some(hex_val(b[0])? << 4 | hex_val(b[1])?)
}

/// The hex area of a dump line: up to the ASCII column, which starts after `|` or 3+ spaces.
fn hex_area(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find('|').unwrap_or(s.len());
    let s = &s[..end];
    match s.find("   ") {
        Some(i) => &s[..i],
        None => s,
    }
}

fn hex_pairs(area: &str, max: usize) -> Option<Vec<u8>> {
    // Greedy: an ASCII column separated by only two spaces (mbedTLS debug dumps) ends the run.
    let out: Vec<u8> = area
        .split_whitespace()
        .map_while(hex_byte)
        .take(max)
        .collect();
    (!out.is_empty()).then_some(out)
}

/// `0x3ffba988   39 48 9a b0 …  |9H..|` → (address, bytes).
fn parse_esp_hexdump(text: &str) -> Option<(u64, Vec<u8>)> {
    let rest = text.strip_prefix("0x")?;
    let (addr, after) = rest.split_at(rest.find(' ')?);
    if addr.len() != 8 {
        return None;
    }
    let addr = u64::from_str_radix(addr, 16).ok()?;
    let bytes = hex_pairs(hex_area(after), 16)?;
    Some((addr, bytes))
}

/// `0000  10 0c 00 04 …   ..MQTT` or `0010:  16 03 …` → (offset, bytes, indented).
fn parse_offset_line(text: &str) -> Option<(usize, Vec<u8>, bool)> {
    let indented = text.starts_with(' ') || text.starts_with('\t');
    let t = text.trim_start();
    let end = t.find([' ', ':'])?;
    let off = &t[..end];
    if !(4..=8).contains(&off.len()) || !off.bytes().all(|c| hex_val(c).is_some()) {
        return None;
    }
    let rest = t[end..].strip_prefix(':').unwrap_or(&t[end..]);
    if !rest.starts_with("  ") && !rest.starts_with(' ') {
        return None;
    }
    let offset = usize::from_str_radix(off, 16).ok()?;
    let bytes = hex_pairs(hex_area(rest), 16)?;
    // A dump line has at least 2 bytes unless it is the last one; "2022 10 …" is not a dump.
    Some((offset, bytes, indented))
}

/// A line that is only hex bytes: `20 00`, `2000`, `0x20,0x00`, `0x20 0x00`, `20:00`.
fn parse_plain_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().trim_end_matches(',');
    if t.is_empty() {
        return None;
    }
    let tokens: Vec<&str> = t
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .collect();
    let mut out = Vec::new();
    let prefixed = tokens
        .iter()
        .all(|s| s.starts_with("0x") || s.starts_with("0X"));
    if prefixed {
        for tok in &tokens {
            out.push(hex_byte(&tok[2..]).or_else(|| {
                (tok.len() == 3)
                    .then(|| hex_val(tok.as_bytes()[2]))
                    .flatten()
            })?);
        }
        return Some(out);
    }
    if tokens.len() == 1 {
        // "2000" or "20:00:…": an even run of hex digits with at least one decimal digit, and at
        // least two bytes (a lone "10" is more likely a line number than a byte).
        let tok = tokens[0].replace(':', "");
        let b = tok.as_bytes();
        if b.len() < 4 || b.len() & 1 != 0 || !b.iter().any(u8::is_ascii_digit) {
            return None;
        }
        for pair in b.chunks(2) {
            out.push(hex_val(pair[0])? << 4 | hex_val(pair[1])?);
        }
        return Some(out);
    }
    for tok in &tokens {
        out.push(hex_byte(tok)?);
    }
    Some(out)
}

/// The bytes of a C array body up to `}`: `0x10, 0x0c, 0x00}` → ([0x10, 0x0c, 0x00], closed).
/// Anything that is not `0xHH` (or a decimal byte) makes it "not an array" (empty result).
fn c_array_body(s: &str) -> (Vec<u8>, bool) {
    let (body, closed) = match s.find('}') {
        Some(i) => (&s[..i], true),
        None => (s, false),
    };
    let mut out = Vec::new();
    for tok in body.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let v = if let Some(h) = tok.strip_prefix("0x").or_else(|| tok.strip_prefix("0X")) {
            u8::from_str_radix(h, 16).ok()
        } else {
            None
        };
        match v {
            Some(v) => out.push(v),
            None => return (Vec::new(), false),
        }
    }
    (out, closed)
}

// ---------------------------------------------------------------------------------------------
// ESP-IDF buffers

#[derive(Debug)]
struct EspBuf {
    tag: String,
    start_line: usize,
    ts_ms: Option<u64>,
    next_addr: u64,
    last_full: bool,
    /// (line, bytes) per dump line, so that AT text inside keeps its line numbers.
    bytes: Vec<(usize, u8)>,
}

#[derive(Debug, Default)]
struct EspBuffers {
    open: BTreeMap<String, EspBuf>,
    done: Vec<EspBuf>,
}

impl EspBuffers {
    fn push(&mut self, tag: &str, line: usize, ts_ms: Option<u64>, addr: u64, bytes: &[u8]) {
        let continues = self
            .open
            .get(tag)
            .is_some_and(|b| b.last_full && b.next_addr == addr);
        if !continues {
            if let Some(b) = self.open.remove(tag) {
                self.done.push(b);
            }
            self.open.insert(
                tag.to_owned(),
                EspBuf {
                    tag: tag.to_owned(),
                    start_line: line,
                    ts_ms,
                    next_addr: addr,
                    last_full: true,
                    bytes: Vec::new(),
                },
            );
        }
        if let Some(b) = self.open.get_mut(tag) {
            b.bytes.extend(bytes.iter().map(|&v| (line, v)));
            b.next_addr = addr + 16;
            b.last_full = bytes.len() == 16;
        }
    }

    /// Classifies each buffer: AT text from the modem (parsed, with `+CIPRXGET` data extracted)
    /// or binary data (a segment whose direction is inferred).
    fn finish(mut self, lines: &[Line<'_>], out: &mut Parsed<'_>) {
        self.done
            .extend(std::mem::take(&mut self.open).into_values());
        self.done.sort_by_key(|b| b.start_line);
        let is_text = |b: &EspBuf| {
            b.bytes.first().is_some_and(|&(_, c)| {
                c == b'\r' || c == b'\n' || c == b'+' || c == b'>' || c.is_ascii_uppercase()
            })
        };
        let at_tags: Vec<String> = self
            .done
            .iter()
            .filter(|b| is_text(b))
            .map(|b| b.tag.clone())
            .collect();
        let mut streams: BTreeMap<String, at::UartStream> = BTreeMap::new();
        let mut binary = Vec::new();
        for b in self.done {
            if is_text(&b) {
                let stream = streams.entry(b.tag.clone()).or_default();
                stream.feed(
                    &b.tag,
                    b.ts_ms,
                    &b.bytes,
                    &mut out.at_events,
                    &mut out.segments,
                );
            } else {
                binary.push(b);
            }
        }
        for b in binary {
            let end_line = b.bytes.last().map_or(b.start_line, |&(l, _)| l);
            let bytes: Vec<u8> = b.bytes.iter().map(|&(_, v)| v).collect();
            let (direction, note) = if at_tags.contains(&b.tag) {
                (
                    Some(Dir::ToDevice),
                    Some(format!(
                        "tag {} carries the modem's AT responses, so its binary buffers are bytes received from the modem",
                        b.tag
                    )),
                )
            } else {
                infer_binary_direction(
                    &b.tag,
                    b.start_line,
                    end_line,
                    bytes.len(),
                    lines,
                    &out.at_events,
                )
            };
            out.segments.push(Segment {
                direction,
                source_line: b.start_line,
                end_line,
                source: format!("ESP-IDF hexdump, tag {}", b.tag),
                note,
                ts_ms: b.ts_ms,
                bytes,
            });
        }
    }
}

/// Direction of a binary ESP-IDF buffer: a `+CIPSEND: <link>,<len>,<len>` confirming its length
/// soon after means the device sent it; otherwise a send/receive word on the log lines just
/// before it.
fn infer_binary_direction(
    tag: &str,
    start: usize,
    end: usize,
    len: usize,
    lines: &[Line<'_>],
    events: &[AtEvent],
) -> (Option<Dir>, Option<String>) {
    let confirmed = events.iter().find(|e| {
        e.line > end
            && e.line <= end + 20
            && e.name == "+CIPSEND"
            && e.fields.get(1).and_then(|f| f.parse::<usize>().ok()) == Some(len)
    });
    if let Some(e) = confirmed {
        return (
            Some(Dir::FromDevice),
            Some(format!(
                "{len} bytes, confirmed by \"{}\" on line {}",
                e.text, e.line
            )),
        );
    }
    for l in lines
        .iter()
        .rev()
        .filter(|l| l.no < start && l.no + 4 >= start)
    {
        if l.tag.is_some() {
            if let Some(dir) = direction_words(l.text) {
                return (
                    Some(dir),
                    Some(format!(
                        "line {} says \"{}\"",
                        l.no,
                        shorten(l.text.trim(), 60)
                    )),
                );
            }
        }
    }
    let _ = tag;
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_hex_forms() {
        assert_eq!(parse_plain_hex("20 00"), Some(vec![0x20, 0x00]));
        assert_eq!(parse_plain_hex("2000"), Some(vec![0x20, 0x00]));
        assert_eq!(parse_plain_hex("0x20,0x00"), Some(vec![0x20, 0x00]));
        assert_eq!(parse_plain_hex("0x20 0x00"), Some(vec![0x20, 0x00]));
        assert_eq!(
            parse_plain_hex("12"),
            None,
            "a lone number is a line number"
        );
        assert_eq!(parse_plain_hex("face"), None);
        assert_eq!(parse_plain_hex("OK"), None);
    }

    #[test]
    fn esp_line() {
        let l = split_prefix(1, "V (6196) sock_dce: 0x3ffba988   39 48 9a b0 13 1b 82 50  75 54 7b be db ea c2 0d  |9H.....PuT{.....|");
        assert_eq!(l.tag, Some("sock_dce"));
        assert_eq!(l.ts_ms, Some(6196));
        let (addr, bytes) = parse_esp_hexdump(l.text).unwrap();
        assert_eq!(addr, 0x3ffb_a988);
        assert_eq!(bytes.len(), 16);
        // An ASCII column that looks like hex is not read as bytes.
        let (_, bytes) = parse_esp_hexdump(
            "0x3ffba958   0a 0d 0a 4f 4b 0d 0a                              |...OK..|",
        )
        .unwrap();
        assert_eq!(bytes, b"\n\r\nOK\r\n");
    }

    #[test]
    fn wireshark_line() {
        let (off, bytes, indented) =
            parse_offset_line("00000010  04 02 00 3c 00 00                                 ...<..")
                .unwrap();
        assert_eq!((off, bytes.len(), indented), (16, 6, false));
        assert!(parse_offset_line("2022-10-05 12:15:09: New").is_none());
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            split_prefix(1, "16:11:32.400 -> +FSCD: E:/mssl_cert/").text,
            "+FSCD: E:/mssl_cert/"
        );
        let z = split_prefix(
            1,
            "[00:00:06.692,779] <wrn> mbedtls: ssl_tls.c:3914: => handshake",
        );
        assert_eq!(z.ts_ms, Some(6692));
        assert_eq!(z.text, "=> handshake", "the source location is dropped");
        let m = split_prefix(
            1,
            "2022-10-05 12:15:15: New client connected from x as y (c1, k60, u'z').",
        );
        assert_eq!(m.ts_ms, Some((12 * 3600 + 15 * 60 + 15) * 1000));
    }
}
