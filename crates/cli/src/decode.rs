//! `lantern decode`: explain a pasted device log (ESP-IDF hex dumps, plain / Wireshark hex,
//! AT-command transcripts). The work is in `lantern_probe::decode`; this module reads the input,
//! picks the rendering and maps the result to the exit code: 0 nothing wrong found, 1 findings
//! or error codes, 2 usage or IO error.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use lantern_probe::decode::decode_text;

/// Arguments of `lantern decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct DecodeArgs {
    /// The file to read; `-` or nothing reads standard input.
    file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Say why each byte segment was given its direction (device → broker or broker → device).
    #[arg(long)]
    direction_hints: bool,
}

/// Output formats.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Compact text for people.
    Text,
    /// The whole report as JSON.
    Json,
}

/// Runs `lantern decode`.
pub(crate) fn run(args: DecodeArgs) -> ExitCode {
    let input = match read_input(args.file.as_deref()) {
        Ok(input) => input,
        Err(e) => {
            eprintln!("lantern decode: {e:#}");
            return ExitCode::from(2);
        }
    };
    let (output, code) = render(&input, args.format, args.direction_hints);
    print!("{output}");
    ExitCode::from(code)
}

/// Decodes `input` and renders it: the text to print and the exit code (0 or 1).
pub(crate) fn render(input: &str, format: Format, direction_hints: bool) -> (String, u8) {
    let report = decode_text(input);
    let output = match format {
        Format::Text => report.to_text_with(direction_hints),
        Format::Json => {
            let mut json = report.to_json();
            json.push('\n');
            json
        }
    };
    (output, u8::from(report.has_problems()))
}

fn read_input(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let bytes = match file {
        None => read_stdin()?,
        Some(p) if p.as_os_str() == "-" => read_stdin()?,
        Some(p) => std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
    };
    // Pasted logs are sometimes Latin-1 or contain stray bytes: decode leniently.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_stdin() -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| anyhow::anyhow!("standard input: {e}"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../probe/tests/fixtures/decode")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn connack_remaining_length_zero_exits_1() {
        let (text, code) = render(&fixture("seed002_connack.txt"), Format::Text, false);
        assert_eq!(code, 1);
        assert!(text.contains("[mqtt.connack_remaining_length_0]"), "{text}");
    }

    #[test]
    fn clean_exchange_exits_0_and_json_parses() {
        let (json, code) = render(&fixture("wireshark_v311.txt"), Format::Json, false);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["findings"].as_array().map(Vec::len), Some(0), "{json}");
    }

    #[test]
    fn direction_hints_are_optional() {
        let input = fixture("seed000_esp_modem_hivemq.txt");
        assert!(!render(&input, Format::Text, false)
            .0
            .contains("direction notes"));
        assert!(render(&input, Format::Text, true)
            .0
            .contains("confirmed by \"+CIPSEND: 0,77,77\""));
    }
}
