//! `lantern decode`: reads what device developers paste into forums and says what is in it.
//!
//! Input is text: ESP-IDF log hex dumps, plain / Wireshark / mbedTLS-debug hex, C arrays and
//! AT-command transcripts (SIMCom `+CMQTT…`, `+CSSLCFG`, `+CIPSEND`, `+CIPRXGET`, `+IPCLOSE`,
//! nRF91 `%CMNG`), mixed with prose. The pipeline:
//!
//! 1. [`input`] recognises dumps and transcripts line by line and yields byte [`Segment`]s
//!    (with a direction when the log says which way they went) and [`AtEvent`]s;
//! 2. segments are reassembled into one [`Stream`] per direction and source;
//! 3. each stream is walked as TLS records ([`tls`]) or MQTT packets (`lantern_codec`);
//! 4. result and error codes anywhere in the text are explained ([`codes`]), and
//! 5. anomalies become [`Finding`]s in plain words.
//!
//! Deliberately not here: decryption, TCP reassembly from pcap files, and guessing: a code
//! that is not in a table is reported as "unknown code".
//!
//! ```
//! let report = lantern_probe::decode::decode_text("20 00\n");
//! assert!(report.findings.iter().any(|f| f.id == "mqtt.connack_remaining_length_0"));
//! ```

mod analysis;
pub mod at;
pub mod codes;
mod input;
mod mqtt;
mod render;
mod tls;

use serde::Serialize;

pub use at::{AtEvent, AtKind, CertDownload};
pub use codes::CodeExplanation;

/// Which way bytes travelled, seen from the device.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// From the broker (or modem) to the device.
    ToDevice,
    /// From the device to the broker.
    FromDevice,
}

impl Dir {
    /// "device → broker" / "broker → device".
    pub const fn arrow(self) -> &'static str {
        match self {
            Self::ToDevice => "broker → device",
            Self::FromDevice => "device → broker",
        }
    }
}

/// Bytes found in the input, in the order the log showed them.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Segment {
    /// Direction, when the log says (or implies) it.
    pub direction: Option<Dir>,
    /// First input line (1-based).
    pub source_line: usize,
    /// Last input line.
    pub end_line: usize,
    /// Which parser found it: "ESP-IDF hexdump, tag dce", "hex", "C array", "offset hex dump", …
    pub source: String,
    /// Why the direction is what it is, or other remarks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Timestamp of the first line, in milliseconds, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<u64>,
    /// The bytes.
    #[serde(serialize_with = "ser_hex")]
    pub bytes: Vec<u8>,
}

/// One decoded unit: a TLS record, an MQTT packet, or bytes that are neither.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Item {
    /// Offset in the stream.
    pub offset: usize,
    /// Length in bytes.
    pub len: usize,
    /// "tls", "mqtt" or "opaque".
    pub layer: &'static str,
    /// One line.
    pub summary: String,
    /// More lines (ClientHello contents, spec rules, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// The first bytes in hex (at most 32).
    pub hex: String,
}

impl Item {
    pub(crate) fn new(offset: usize, bytes: &[u8], layer: &'static str, summary: String) -> Self {
        Self {
            offset,
            len: bytes.len(),
            layer,
            summary,
            details: Vec::new(),
            hex: hex_prefix(bytes, 32),
        }
    }
}

/// The segments of one direction and source, reassembled and decoded.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Stream {
    /// 1-based stream number.
    pub id: usize,
    /// Direction, when known.
    pub direction: Option<Dir>,
    /// Source of its segments.
    pub source: String,
    /// Input lines its segments came from.
    pub lines: Vec<usize>,
    /// Total bytes.
    pub len: usize,
    /// "tls", "mqtt" or "opaque".
    pub protocol: &'static str,
    /// Decoded records / packets.
    pub items: Vec<Item>,
}

/// An anomaly, in plain words, with the values that show it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `mqtt.connack_remaining_length_0`, `tls.no_sni`.
    pub id: &'static str,
    /// The input line it rests on, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong and why, in one or two sentences.
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Everything `lantern decode` found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Byte segments found in the input.
    pub segments: Vec<Segment>,
    /// AT commands and responses.
    pub at_events: Vec<AtEvent>,
    /// Certificates pasted after `AT+CCERTDOWN`.
    pub cert_downloads: Vec<CertDownload>,
    /// Reassembled and decoded streams.
    pub streams: Vec<Stream>,
    /// Result and error codes, explained.
    pub codes: Vec<CodeExplanation>,
    /// Anomalies.
    pub findings: Vec<Finding>,
}

impl Report {
    /// True when something is wrong: a finding, or an error code. `lantern decode` exits 1.
    pub fn has_problems(&self) -> bool {
        !self.findings.is_empty() || self.codes.iter().any(|c| c.is_error)
    }

    /// The text rendering, with the notes that say why each segment has its direction.
    pub fn to_text(&self) -> String {
        render::text(self, true)
    }

    /// The text rendering; `direction_notes` adds why each segment has its direction.
    pub fn to_text_with(&self, direction_notes: bool) -> String {
        render::text(self, direction_notes)
    }

    /// The JSON rendering (pretty, stable field order).
    pub fn to_json(&self) -> String {
        // INVARIANT: every field is a plain string, number, bool, vec or option: serialization
        // cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Decodes pasted text.
pub fn decode_text(input: &str) -> Report {
    let mut parsed = input::parse(input);
    at::dedupe(&mut parsed.at_events);
    let streams_in = group(&parsed.segments);
    let mut report = Report {
        segments: parsed.segments.clone(),
        at_events: parsed.at_events.clone(),
        ..Report::default()
    };
    let mut analysis = analysis::Analysis::default();
    // Device-side streams first: their CONNECT tells the version of the broker's answers.
    let mut order: Vec<usize> = (0..streams_in.len()).collect();
    order.sort_by_key(|&i| (streams_in[i].direction != Some(Dir::FromDevice), i));
    let mut decoded: Vec<Option<Stream>> = vec![None; streams_in.len()];
    for i in order {
        let s = &streams_in[i];
        decoded[i] = Some(analysis.decode_stream(i + 1, s, &parsed.segments));
    }
    report.streams = decoded.into_iter().flatten().collect();
    report.cert_downloads = std::mem::take(&mut parsed.certs);
    report.codes = analysis.codes(&parsed.lines, &report.at_events);
    report.findings = analysis.findings(&report, &parsed.lines);
    report
}

/// A stream before decoding: which segments.
#[derive(Debug)]
pub(crate) struct RawStream {
    pub(crate) direction: Option<Dir>,
    pub(crate) source: String,
    pub(crate) segments: Vec<usize>,
}

/// Groups segments: known-direction segments of one source form one stream; unknown-direction
/// segments join only the segment right before them, if it has the same source.
fn group(segments: &[Segment]) -> Vec<RawStream> {
    let mut streams: Vec<RawStream> = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let target = match seg.direction {
            Some(_) => streams
                .iter()
                .position(|s| s.direction == seg.direction && s.source == seg.source),
            None => streams.last().and_then(|s| {
                let last = &segments[*s.segments.last()?];
                (s.direction.is_none()
                    && s.source == seg.source
                    && last.end_line + 1 >= seg.source_line)
                    .then_some(streams.len() - 1)
            }),
        };
        match target {
            Some(t) => streams[t].segments.push(i),
            None => streams.push(RawStream {
                direction: seg.direction,
                source: seg.source.clone(),
                segments: vec![i],
            }),
        }
    }
    streams
}

fn ser_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex(bytes))
}

/// `20 00` style hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn hex_prefix(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        hex(bytes)
    } else {
        format!("{} …", hex(&bytes[..max]))
    }
}
