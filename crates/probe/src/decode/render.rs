//! The text rendering: compact, one screen per exchange, findings last.

use std::fmt::Write;

use super::at::AtKind;
use super::input::shorten;
use super::Report;

/// Renders the report as text.
pub(crate) fn text(r: &Report, direction_notes: bool) -> String {
    let mut s = String::new();
    let at_shown: Vec<_> = r
        .at_events
        .iter()
        .filter(|e| !(e.kind == AtKind::Final && e.name == "OK") && e.kind != AtKind::Prompt)
        .collect();
    let _ = writeln!(
        s,
        "lantern decode: {} byte segment(s) in {} stream(s), {} AT line(s), {} code(s) explained, {} finding(s)",
        r.segments.len(),
        r.streams.len(),
        r.at_events.len(),
        r.codes.len(),
        r.findings.len()
    );
    if !r.streams.is_empty() {
        let _ = writeln!(s, "\nStreams");
        for st in &r.streams {
            let dir = st.direction.map_or("direction unknown", |d| d.arrow());
            let lines = match (st.lines.first(), st.lines.last()) {
                (Some(a), Some(b)) if a != b => format!("lines {a}–{b}"),
                (Some(a), _) => format!("line {a}"),
                _ => String::new(),
            };
            let _ = writeln!(
                s,
                "  #{} {dir}, {} bytes, {} ({}, {lines})",
                st.id, st.len, st.protocol, st.source
            );
            for item in &st.items {
                let _ = writeln!(s, "    @{:<5} {}", item.offset, item.summary);
                let _ = writeln!(s, "           {}", item.hex);
                for d in &item.details {
                    let _ = writeln!(s, "           {}", shorten(d, 300));
                }
            }
        }
        let notes: Vec<_> = r
            .segments
            .iter()
            .filter_map(|seg| seg.note.as_ref().map(|n| (seg.source_line, n)))
            .collect();
        if direction_notes && !notes.is_empty() {
            let _ = writeln!(s, "  direction notes:");
            for (line, note) in notes {
                let _ = writeln!(s, "    line {line}: {note}");
            }
        }
    }
    if !at_shown.is_empty() {
        let _ = writeln!(
            s,
            "\nAT transcript ({} shown; OK and > prompts omitted)",
            at_shown.len()
        );
        let mut prev: Option<(&str, usize)> = None;
        for e in at_shown {
            if let Some((text, n)) = prev.as_mut() {
                if *text == e.text {
                    *n += 1;
                    continue;
                }
            }
            flush_repeat(&mut s, prev);
            let _ = writeln!(s, "  {:>5}  {}", e.line, shorten(&e.text, 100));
            prev = Some((&e.text, 1));
        }
        flush_repeat(&mut s, prev);
    }
    if !r.cert_downloads.is_empty() {
        let _ = writeln!(s, "\nCertificates pasted after AT+CCERTDOWN");
        for c in &r.cert_downloads {
            let _ = writeln!(
                s,
                "  line {}: \"{}\" declared {} bytes; pasted text is {} bytes with LF, {} with CRLF",
                c.line, c.name, c.declared, c.lf_len, c.crlf_len
            );
        }
    }
    if !r.codes.is_empty() {
        let _ = writeln!(s, "\nCodes");
        for c in &r.codes {
            let times = if c.occurrences > 1 {
                format!(" (×{})", c.occurrences)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  line {}: {}{times} — {} {}: {}",
                c.line, c.text, c.table, c.name, c.meaning
            );
            if !c.is_error {
                continue;
            }
            if let Some(cause) = &c.likely_cause {
                let _ = writeln!(s, "      likely: {cause}");
            }
            let _ = writeln!(s, "      source: {}", c.source);
        }
    }
    let _ = writeln!(s, "\nFindings");
    if r.findings.is_empty() {
        let _ = writeln!(s, "  none");
    }
    for f in &r.findings {
        let at = f.line.map(|l| format!(" line {l}:")).unwrap_or_default();
        let _ = writeln!(s, "  [{}]{at} {}", f.id, f.message);
        if let Some(h) = &f.hint {
            let _ = writeln!(s, "      hint: {h}");
        }
    }
    s
}

fn flush_repeat(s: &mut String, prev: Option<(&str, usize)>) {
    if let Some((_, n)) = prev {
        if n > 1 {
            let _ = writeln!(s, "         (repeated ×{n})");
        }
    }
}
