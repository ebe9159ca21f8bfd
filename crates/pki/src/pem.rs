//! A small, strict-but-forgiving PEM reader and an LF-only PEM writer (RFC 7468).
//!
//! Written here rather than taken from a crate so that we control two things the people this is
//! for run into: the reader reports *how* a file is laid out (CRLF, a byte-order mark, text outside
//! the blocks) instead of silently normalising it, and it never decodes or echoes the contents of
//! a block that is not a certificate, so a private key pasted by mistake cannot end up in an error
//! message or a log.

use std::fmt;

/// Which line endings a PEM file uses.
///
/// SIMCom and Quectel modems take the byte length of the file in `AT+CCERTDOWN` / `AT+QFUPL`, and
/// several firmware versions reject CR bytes, so this is reported rather than hidden.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum LineEndings {
    /// Every line ends in LF (`\n`) only: what embedded TLS stacks expect.
    Lf,
    /// Every line ends in CR LF (`\r\n`), as Windows editors write it.
    Crlf,
    /// Some lines end in LF, some in CR LF.
    Mixed,
    /// The input has no line break at all (DER, or a single line).
    None,
}

impl fmt::Display for LineEndings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lf => "LF line endings",
            Self::Crlf => "CRLF line endings",
            Self::Mixed => "mixed LF and CRLF line endings",
            Self::None => "no line breaks",
        })
    }
}

/// What is wrong with the PEM structure of an input. Carries positions, never contents.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum PemProblem {
    /// A `-----BEGIN X-----` line has no matching `-----END X-----` line.
    Unterminated {
        /// The label of the unterminated block.
        label: String,
    },
    /// The END line names a different label than the BEGIN line.
    MismatchedEnd {
        /// The label on the BEGIN line.
        begin: String,
        /// The label on the END line.
        end: String,
    },
    /// An END line with no BEGIN line before it.
    EndWithoutBegin {
        /// The label on the END line.
        label: String,
    },
    /// A line inside a certificate block is not valid base64 (the offending text is not shown).
    InvalidBase64,
    /// A certificate block has no content between its BEGIN and END lines.
    EmptyBlock,
}

impl fmt::Display for PemProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unterminated { label } => {
                write!(f, "-----BEGIN {label}----- has no matching -----END {label}----- line (file cut short?)")
            }
            Self::MismatchedEnd { begin, end } => {
                write!(f, "block opened as {begin} is closed as {end}")
            }
            Self::EndWithoutBegin { label } => {
                write!(f, "-----END {label}----- without a BEGIN line before it")
            }
            Self::InvalidBase64 => f.write_str("the line is not valid base64"),
            Self::EmptyBlock => f.write_str("the block is empty"),
        }
    }
}

/// One block found in a PEM input.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    /// The label, e.g. `CERTIFICATE`, sanitised for printing.
    pub(crate) label: String,
    /// 1-based line number of the BEGIN line.
    pub(crate) line: usize,
    /// Decoded contents; `None` for blocks that are not certificates (never decoded).
    pub(crate) der: Option<Vec<u8>>,
}

/// A run of non-blank lines outside any block.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct StrayLines {
    pub(crate) first: usize,
    pub(crate) last: usize,
}

/// The result of reading a PEM input.
#[derive(Clone, Debug)]
pub(crate) struct Parsed {
    pub(crate) blocks: Vec<Block>,
    pub(crate) stray: Vec<StrayLines>,
    pub(crate) line_endings: LineEndings,
    pub(crate) has_bom: bool,
}

/// Whether a label denotes an X.509 certificate we decode.
pub(crate) fn is_certificate_label(label: &str) -> bool {
    matches!(
        label,
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
    )
}

/// Reads every PEM block of `input`. Certificate blocks are base64-decoded; other blocks are only
/// located. Returns `(line, problem)` on a structural error.
pub(crate) fn parse(input: &[u8]) -> Result<Parsed, (usize, PemProblem)> {
    const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
    let has_bom = input.starts_with(UTF8_BOM);
    let body = if has_bom {
        &input[UTF8_BOM.len()..]
    } else {
        input
    };

    let (mut lf, mut crlf) = (0usize, 0usize);
    let mut blocks = Vec::new();
    let mut stray: Vec<StrayLines> = Vec::new();
    // (label, begin line, base64 text, decode?)
    let mut open: Option<(String, usize, Vec<u8>, bool)> = None;

    let mut lines = body.split(|&b| b == b'\n').peekable();
    let mut number = 0usize;
    while let Some(raw) = lines.next() {
        number += 1;
        let has_newline = lines.peek().is_some();
        let line = match raw.strip_suffix(b"\r") {
            Some(stripped) => {
                if has_newline {
                    crlf += 1;
                }
                stripped
            }
            None => {
                if has_newline {
                    lf += 1;
                }
                raw
            }
        };
        let trimmed = trim_ascii(line);

        if let Some(label) = boundary(trimmed, b"-----BEGIN ") {
            if let Some((open_label, _, _, _)) = &open {
                return Err((
                    number,
                    PemProblem::Unterminated {
                        label: open_label.clone(),
                    },
                ));
            }
            let decode = is_certificate_label(&label);
            open = Some((label, number, Vec::new(), decode));
            continue;
        }
        if let Some(label) = boundary(trimmed, b"-----END ") {
            let Some((begin, begin_line, text, decode)) = open.take() else {
                return Err((number, PemProblem::EndWithoutBegin { label }));
            };
            if begin != label {
                return Err((number, PemProblem::MismatchedEnd { begin, end: label }));
            }
            let der = if decode {
                if text.is_empty() {
                    return Err((begin_line, PemProblem::EmptyBlock));
                }
                // The line number of a bad character is not tracked per character; point at the
                // block, which is enough to find it and reveals nothing.
                Some(base64_decode(&text).ok_or((begin_line, PemProblem::InvalidBase64))?)
            } else {
                None
            };
            blocks.push(Block {
                label: begin,
                line: begin_line,
                der,
            });
            continue;
        }
        match &mut open {
            Some((_, _, text, decode)) => {
                if *decode {
                    if trimmed.iter().any(|&b| !is_base64_byte(b)) {
                        return Err((number, PemProblem::InvalidBase64));
                    }
                    text.extend_from_slice(trimmed);
                }
            }
            None => {
                if !trimmed.is_empty() {
                    match stray.last_mut() {
                        Some(run) if run.last + 1 == number => run.last = number,
                        _ => stray.push(StrayLines {
                            first: number,
                            last: number,
                        }),
                    }
                }
            }
        }
    }
    if let Some((label, line, _, _)) = open {
        return Err((line, PemProblem::Unterminated { label }));
    }

    let line_endings = match (lf, crlf) {
        (0, 0) => LineEndings::None,
        (_, 0) => LineEndings::Lf,
        (0, _) => LineEndings::Crlf,
        _ => LineEndings::Mixed,
    };
    Ok(Parsed {
        blocks,
        stray,
        line_endings,
        has_bom,
    })
}

/// Encodes DER as PEM with 64-column lines and LF line endings only, on every platform.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64_encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so any byte boundary is a char boundary.
        out.extend(chunk.iter().map(|&b| char::from(b)));
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Whether `text` (e.g. an input file) contains anything that looks like PEM.
pub(crate) fn looks_like_pem(input: &[u8]) -> bool {
    input.windows(11).any(|w| w == b"-----BEGIN ")
}

/// If `line` is `<prefix>LABEL-----`, returns LABEL (sanitised to printable ASCII, at most 64
/// characters, since it is echoed in messages).
fn boundary(line: &[u8], prefix: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(prefix)?;
    let label = rest.strip_suffix(b"-----")?;
    Some(
        label
            .iter()
            .take(64)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '?'
                }
            })
            .collect(),
    )
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn is_base64_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

fn base64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Standard base64 with `=` padding; padding may only appear at the end.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let chunks = text.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let count = chunks.len();
    for (i, chunk) in chunks.enumerate() {
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != count) {
            return None;
        }
        let mut acc = 0u32;
        for &b in &chunk[..4 - pad] {
            acc = (acc << 6) | base64_value(b)?;
        }
        acc <<= 6 * pad as u32;
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut buf = [0u8; 3];
        buf[..chunk.len()].copy_from_slice(chunk);
        let acc = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = (acc >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[index as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..70 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let enc = base64_encode(&data);
            assert_eq!(base64_decode(enc.as_bytes()).unwrap(), data, "len {len}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert!(base64_decode(b"Zm=8").is_none());
        assert!(base64_decode(b"Zm8").is_none());
    }

    #[test]
    fn reports_crlf_bom_and_stray_lines() {
        let pem = encode("CERTIFICATE", b"hello world");
        let input = format!(
            "\u{feff}subject=CN=x\r\n{}\r\ntrailing\r\n",
            pem.replace('\n', "\r\n")
        );
        let parsed = parse(input.as_bytes()).unwrap();
        assert!(parsed.has_bom);
        assert_eq!(parsed.line_endings, LineEndings::Crlf);
        assert_eq!(parsed.blocks.len(), 1);
        assert_eq!(parsed.blocks[0].der.as_deref(), Some(&b"hello world"[..]));
        assert_eq!(parsed.blocks[0].line, 2);
        assert_eq!(
            parsed.stray,
            vec![
                StrayLines { first: 1, last: 1 },
                StrayLines { first: 6, last: 6 }
            ]
        );
    }

    #[test]
    fn non_certificate_blocks_are_not_decoded() {
        let input =
            "-----BEGIN PRIVATE KEY-----\nnot base64 at all !!\n-----END PRIVATE KEY-----\n";
        let parsed = parse(input.as_bytes()).unwrap();
        assert_eq!(parsed.blocks[0].label, "PRIVATE KEY");
        assert!(parsed.blocks[0].der.is_none());
        assert_eq!(parsed.line_endings, LineEndings::Lf);
    }

    #[test]
    fn structural_errors_carry_lines() {
        let cut = "-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(
            parse(cut.as_bytes()),
            Err((1, PemProblem::Unterminated { .. }))
        ));
        let bad = "-----BEGIN CERTIFICATE-----\nAA*A\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse(bad.as_bytes()).unwrap_err(),
            (2, PemProblem::InvalidBase64)
        );
        let mismatch = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END X-----\n";
        assert!(matches!(
            parse(mismatch.as_bytes()),
            Err((3, PemProblem::MismatchedEnd { .. }))
        ));
    }

    #[test]
    fn encode_uses_lf_and_64_columns() {
        let pem = encode("CERTIFICATE", &[7u8; 100]);
        assert!(!pem.contains('\r'));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    }
}
