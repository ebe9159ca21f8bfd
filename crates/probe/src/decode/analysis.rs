//! Decoding streams, explaining codes, and turning what was seen into findings.

use lantern_codec::{DecodeErrorKind, PacketType, ProtocolVersion};

use super::at::{AtEvent, AtKind};
use super::codes::{self, CodeExplanation};
use super::input::Line;
use super::{mqtt, tls, Dir, Finding, Item, RawStream, Report, Segment, Stream};

/// Facts gathered while decoding, per stream.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    version: Option<ProtocolVersion>,
    tls: Vec<(usize, Option<Dir>, usize, tls::TlsFacts)>,
    mqtt: Vec<(usize, Option<Dir>, usize, mqtt::MqttFacts)>,
}

impl Analysis {
    /// Reassembles and decodes one stream.
    pub(crate) fn decode_stream(
        &mut self,
        id: usize,
        raw: &RawStream,
        segments: &[Segment],
    ) -> Stream {
        let mut bytes = Vec::new();
        let mut lines = Vec::new();
        for &i in &raw.segments {
            bytes.extend_from_slice(&segments[i].bytes);
            lines.push(segments[i].source_line);
        }
        let first_line = lines.first().copied().unwrap_or(0);
        let (protocol, items) = if tls::looks_like_tls(&bytes) {
            let (items, facts) = tls::walk(&bytes);
            self.tls.push((id, raw.direction, first_line, facts));
            ("tls", items)
        } else {
            let (items, facts) = mqtt::walk(&bytes, self.version);
            // MQTT if something decoded, if it starts like CONNECT / CONNACK, or if the fixed
            // header announces exactly the bytes present.
            let exact = matches!(lantern_codec::parse_fixed_header(&bytes), Ok(Some(h)) if h.packet_len() == bytes.len());
            let plausible =
                facts.packets > 0 || exact || matches!(bytes.first(), Some(0x10 | 0x20));
            if plausible {
                if let Some((_, v, _)) = facts.connect {
                    self.version = Some(v);
                }
                self.mqtt.push((id, raw.direction, first_line, facts));
                ("mqtt", items)
            } else {
                let mut item = Item::new(
                    0,
                    &bytes,
                    "opaque",
                    format!(
                        "{} bytes that start neither a TLS record nor an MQTT packet (encrypted data, or a dump that starts mid-stream)",
                        bytes.len()
                    ),
                );
                if let Some(first) = items.first() {
                    item.details
                        .push(format!("read as MQTT: {}", first.summary));
                }
                ("opaque", vec![item])
            }
        };
        Stream {
            id,
            direction: raw.direction,
            source: raw.source.clone(),
            lines,
            len: bytes.len(),
            protocol,
            items,
        }
    }

    /// Every code in the input, explained, with duplicates counted.
    pub(crate) fn codes(&self, lines: &[Line<'_>], events: &[AtEvent]) -> Vec<CodeExplanation> {
        let mut out: Vec<CodeExplanation> = Vec::new();
        let mut add = |c: CodeExplanation| {
            if let Some(prev) = out
                .iter_mut()
                .find(|p| p.table == c.table && p.name == c.name && p.text == c.text)
            {
                prev.occurrences += 1;
            } else {
                out.push(c);
            }
        };
        for line in lines {
            scan_line(line.no, line.text, &mut add);
        }
        for e in events
            .iter()
            .filter(|e| e.kind == AtKind::Command && e.name == "AT%CMNG")
        {
            if let (Some(op), Some(t)) = (
                e.fields.first(),
                e.fields.get(2).and_then(|f| f.parse::<i64>().ok()),
            ) {
                if op == "0" {
                    add(codes::explain_cmng_type(
                        e.line,
                        format!("AT%CMNG type {t}"),
                        t,
                    ));
                }
            }
        }
        for (_, dir, line, facts) in &self.tls {
            for &(_, level, desc) in &facts.alerts {
                let mut c = codes::explain_tls_alert(*line, level, desc);
                if let Some(d) = dir {
                    c.text = format!("{} ({})", c.text, d.arrow());
                }
                add(c);
            }
        }
        for (_, _, line, facts) in &self.mqtt {
            for &(_, reason, v5) in &facts.connacks {
                add(codes::explain_connack(*line, reason, v5));
            }
        }
        out.sort_by_key(|c| c.line);
        out
    }

    /// The anomalies.
    pub(crate) fn findings(&self, report: &Report, lines: &[Line<'_>]) -> Vec<Finding> {
        let mut out = Vec::new();
        self.mqtt_findings(&mut out);
        self.tls_findings(report, lines, &mut out);
        at_findings(report, &mut out);
        mosquitto_findings(lines, &mut out);
        out
    }

    fn mqtt_findings(&self, out: &mut Vec<Finding>) {
        for (id, dir, line, facts) in &self.mqtt {
            if let Some((off, e)) = &facts.error {
                let rule = e
                    .rule()
                    .map(|r| format!(" [{}]", r.id()))
                    .unwrap_or_default();
                let zero_connack = e.packet == Some(PacketType::ConnAck)
                    && matches!(
                        e.kind,
                        DecodeErrorKind::RemainingLengthMismatch { declared: 0, .. }
                            | DecodeErrorKind::Truncated { declared: 0, .. }
                    );
                if zero_connack {
                    out.push(Finding {
                        id: "mqtt.connack_remaining_length_0",
                        line: Some(*line),
                        message: format!(
                            "CONNACK with remaining length 0 (stream #{id}, offset {off}: 20 00): a v3.1.1 CONNACK must have 2 bytes (acknowledge flags and return code){rule}. The reader likely consumed the first bytes elsewhere: a read wrapper that gets one byte from the TLS library and then waits for the socket again (the rest of the record is already decrypted in the TLS buffer), so the client sees 20 00 and never the return code — MQTTConnect() then returns its initial value (255 in paho embedded-C)."
                        ),
                        hint: Some(
                            "Drain the TLS library before polling the socket: call mbedtls_ssl_read() whenever the connection is established instead of only when the chip's RX counter is non-zero (field report 002: W5500 + mbedTLS + paho embedded-C).".to_owned(),
                        ),
                    });
                } else {
                    out.push(Finding {
                        id: "mqtt.malformed_packet",
                        line: Some(*line),
                        message: format!(
                            "Malformed MQTT packet in stream #{id} at offset {off}: {e}{rule}."
                        ),
                        hint: dir.map(|d| {
                            format!(
                                "sent {}; the receiver must close the connection (MQTT 5.0 §4.13)",
                                d.arrow()
                            )
                        }),
                    });
                }
            }
            for &(_, reason, v5) in &facts.connacks {
                if reason.is_error() || (!v5 && reason.to_v3_connack() != 0) {
                    out.push(Finding {
                        id: "mqtt.connack_refused",
                        line: Some(*line),
                        message: format!(
                            "The broker refused the connection: CONNACK {}.",
                            reason.name()
                        ),
                        hint: codes::explain_connack(*line, reason, v5).likely_cause,
                    });
                }
            }
        }
    }

    fn tls_findings(&self, report: &Report, lines: &[Line<'_>], out: &mut Vec<Finding>) {
        let mut saw_hello = false;
        for (id, dir, line, facts) in &self.tls {
            if let Some(hello) = &facts.client_hello {
                saw_hello = true;
                if hello.sni.is_none() {
                    let what = match &hello.sni_ip {
                        Some(ip) => format!("carries an IP address ({ip}) as server_name, which does not count as SNI"),
                        None => "carries no server_name (SNI) extension".to_owned(),
                    };
                    let advice = "Set the broker's host name on the TLS context (mbedtls_ssl_set_hostname, esp_tls_cfg_t.common_name, AT+CSSLCFG=\"enableSNI\",<ctx>,1 on SIMCom modems).".to_owned();
                    out.push(Finding {
                        id: "tls.no_sni",
                        line: Some(*line),
                        message: format!("The ClientHello (stream #{id}) {what}. Brokers that serve many tenants on one address (HiveMQ Cloud, EMQX Cloud, AWS IoT with custom domains) pick the tenant and certificate by SNI: without it the handshake fails or the broker closes the connection after CONNECT."),
                        hint: Some(advice),
                    });
                }
            }
            if let Some(hint) = facts
                .client_hello
                .as_ref()
                .and_then(lantern_diag::hello::device_hint)
            {
                let legacy = [
                    lantern_diag::hello::FAMILY_MBEDTLS2_LEGACY,
                    lantern_diag::hello::FAMILY_LEGACY_ONLY,
                ];
                if legacy.contains(&hint.family) {
                    out.push(Finding {
                        id: "tls.legacy_suites_only",
                        line: Some(*line),
                        message: format!("The ClientHello (stream #{id}) offers only static-RSA or CBC cipher suites, which many cloud brokers (and rustls) refuse: {}; it {}.", hint.evidence.trim_end_matches('.'), hint.family),
                        hint: hint.advice.first().cloned(),
                    });
                }
            }
            for &(_, level, desc) in &facts.alerts {
                let who = match dir {
                    Some(Dir::ToDevice) => "The broker sent",
                    Some(Dir::FromDevice) => "The device sent",
                    None => "A peer sent",
                };
                let name = codes::tls_alert_name(desc).unwrap_or("unknown");
                let c = codes::explain_tls_alert(*line, level, desc);
                out.push(Finding {
                    id: "tls.alert",
                    line: Some(*line),
                    message: format!(
                        "{who} the TLS alert {} {name} ({desc}): {}.",
                        if level == 2 { "fatal" } else { "warning" },
                        c.meaning
                    ),
                    hint: c.likely_cause,
                });
            }
            if let Some((_, declared, present)) = facts.truncated {
                let code_7200 = report
                    .codes
                    .iter()
                    .any(|c| c.table == "mbedTLS" && c.name.contains("INVALID_RECORD"));
                let bad_len = lines.iter().any(|l| l.text.contains("bad message length"));
                if declared > 4096 && (code_7200 || bad_len) {
                    out.push(Finding {
                        id: "tls.record_exceeds_buffer",
                        line: Some(*line),
                        message: format!(
                            "The server's record announces {declared} bytes (the dump holds {present}) and the device's mbedTLS rejected it{}{}: the record is larger than the input buffer this mbedTLS build has, which is what \"bad message length\" means.",
                            if bad_len { " with \"bad message length\"" } else { "" },
                            if code_7200 { " and -0x7200 (MBEDTLS_ERR_SSL_INVALID_RECORD)" } else { "" },
                        ),
                        hint: Some("Raise MBEDTLS_SSL_IN_CONTENT_LEN (MBEDTLS_SSL_MAX_CONTENT_LEN in mbedTLS 2.x) to 16384, or have the broker send a shorter certificate chain; max_fragment_length helps only if the server supports it.".to_owned()),
                    });
                }
            }
        }
        // The device sent application data, then the remote end closed.
        let sent: Vec<_> = self
            .tls
            .iter()
            .filter(|(_, d, _, f)| *d == Some(Dir::FromDevice) && !f.app_data.is_empty())
            .collect();
        if let Some((id, _, line, facts)) = sent.first() {
            let close = report.at_events.iter().find(|e| {
                e.line > *line
                    && e.name == "+IPCLOSE"
                    && e.fields.get(1).map(String::as_str) == Some("1")
            });
            let eof = report
                .codes
                .iter()
                .find(|c| c.name.contains("CONN_EOF") || c.name.contains("TCP_CLOSED_FIN"));
            let closed = close
                .map(|e| (e.line, e.text.clone()))
                .or_else(|| eof.map(|c| (c.line, c.text.clone())));
            if let Some((close_line, close_text)) = closed {
                let n: usize = facts.app_data.iter().map(|(_, l)| l + 5).sum();
                let replies: Vec<usize> = self
                    .tls
                    .iter()
                    .filter(|(_, d, _, _)| *d == Some(Dir::ToDevice))
                    .flat_map(|(_, _, _, f)| f.app_data.iter().map(|&(_, l)| l))
                    .collect();
                let sni = if saw_hello {
                    String::new()
                } else {
                    " The ClientHello is not in this log: capture it (or enable the TLS library's debug output) to check the SNI.".to_owned()
                };
                out.push(Finding {
                    id: "tls.closed_after_first_application_data",
                    line: Some(close_line),
                    message: format!(
                        "The TLS handshake completed — the device sent {n} bytes of application data (stream #{id}, line {line}; probably its MQTT CONNECT) — and the broker closed the connection right after (\"{close_text}\", line {close_line}){}. A broker that accepts TLS and closes after the first application data refused the MQTT session or could not route it: on multi-tenant clouds (HiveMQ Cloud serverless, EMQX Cloud, AWS IoT) the usual cause is a missing or wrong SNI host name; otherwise credentials or the client id.{sni}",
                        match replies.as_slice() {
                            [] => String::new(),
                            // TLS 1.2 AES-GCM adds an 8-byte explicit nonce and a 16-byte tag.
                            [28] => ", after one 28-byte application-data record back (with TLS 1.2 AES-GCM that is 4 bytes of plaintext, the size of a 3.1.1 CONNACK: likely a refusal)".to_owned(),
                            r => format!(", after {} application-data record(s) back", r.len()),
                        }
                    ),
                    hint: Some("Send the broker's own host name as SNI (not the CA's name, not an IP address) and check the credentials; ask the broker's logs for the CONNECT outcome.".to_owned()),
                });
            }
        }
    }
}

/// Codes written anywhere in one line, prose included.
fn scan_line(no: usize, text: &str, add: &mut impl FnMut(CodeExplanation)) {
    // SIMCom: "+CMQTTCONNECT: 0,32", "+CMQTTSTART: 0", "+CMQTTCONNLOST: 0,1", "+CCHOPEN: 0,15",
    // "+IPCLOSE: 0,1", "+CME ERROR: 10".
    let mut rest = text;
    while let Some(i) = rest.find('+') {
        let tail = &rest[i..];
        rest = &rest[i + 1..];
        let Some((name, args)) = tail.split_once(':') else {
            continue;
        };
        let mut nums: Vec<i64> = Vec::new();
        for f in args.trim_start().split(',') {
            let f = f.trim();
            let d: String = f.chars().take_while(char::is_ascii_digit).collect();
            let Ok(v) = d.parse() else { break };
            nums.push(v);
            if d.len() != f.len() {
                break;
            }
        }
        let name = name.trim();
        let shown = |n: usize| {
            format!(
                "{name}: {}",
                nums.iter()
                    .take(n)
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        match name {
            "+CMQTTCONNECT" | "+CMQTTDISC" | "+CMQTTSUB" | "+CMQTTUNSUB" | "+CMQTTPUB"
            | "+CMQTTPING"
                if nums.len() == 2 =>
            {
                add(codes::explain_simcom_cmqtt(no, shown(2), nums[1]));
            }
            "+CMQTTSTART" | "+CMQTTSTOP" if nums.len() == 1 => {
                add(codes::explain_simcom_cmqtt(no, shown(1), nums[0]))
            }
            "+CMQTTCONNLOST" if nums.len() == 2 => {
                add(codes::explain_cmqtt_connlost(no, shown(2), nums[1]))
            }
            "+CCHOPEN" | "+CCHCLOSE" | "+CCHSEND" | "+CCHRECV" | "+CCH_RECV_CLOSED"
                if nums.len() == 2 =>
            {
                add(codes::explain_simcom_ssl(no, shown(2), nums[1]));
            }
            "+CCHSTART" | "+CCHSTOP" if nums.len() == 1 => {
                add(codes::explain_simcom_ssl(no, shown(1), nums[0]))
            }
            "+IPCLOSE" if nums.len() == 2 => add(codes::explain_ipclose(no, shown(2), nums[1])),
            "+CME ERROR" if nums.len() == 1 => add(codes::explain_cme(no, shown(1), nums[0])),
            _ => {}
        }
    }
    scan_mbedtls(no, text, add);
    // ESP-IDF / esp-mqtt: "Last error code reported from esp-tls: 0x103".
    let lower = text.to_ascii_lowercase();
    if lower.contains("esp-tls") || lower.contains("esp_tls") {
        if let Some(i) = lower.rfind("0x") {
            let digits: String = lower[i + 2..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect();
            if let Ok(v) = i64::from_str_radix(&digits, 16) {
                if v != 0 && !lower[..i].ends_with('-') {
                    add(codes::explain_esp(no, format!("0x{v:X}"), v));
                }
            }
        }
    }
}

/// mbedTLS codes: `-0x7200`, or `returned -29184` when the value is one Lantern knows.
fn scan_mbedtls(no: usize, text: &str, add: &mut impl FnMut(CodeExplanation)) {
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    for (i, _) in lower.match_indices("-0x") {
        let digits: String = lower[i + 3..]
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect();
        // mbedTLS codes fit in 15 bits; "-0xffffffbe" is mbedTLS debug printing a positive count.
        if (2..=4).contains(&digits.len()) {
            if let Ok(v) = i64::from_str_radix(&digits, 16) {
                if (0x0002..0x8000).contains(&v) {
                    found.push(v);
                }
            }
        }
    }
    for (i, _) in lower.match_indices("returned -") {
        let digits: String = lower[i + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(v) = digits.parse::<i64>() {
            if codes::is_known_mbedtls(v) && v >= 0x1000 {
                found.push(v);
            }
        }
    }
    found.sort_unstable();
    found.dedup();
    for v in found {
        add(codes::explain_mbedtls(no, format!("-0x{v:04X}"), v));
    }
}

fn at_findings(report: &Report, out: &mut Vec<Finding>) {
    let events = &report.at_events;
    let sni_on = events.iter().any(|e| {
        e.name == "AT+CSSLCFG"
            && e.fields
                .first()
                .is_some_and(|f| f.eq_ignore_ascii_case("enableSNI"))
            && e.fields.get(2).map(String::as_str) == Some("1")
    });
    let mut seen = Vec::new();
    for e in events
        .iter()
        .filter(|e| e.kind == AtKind::Response && e.name == "+CMQTTCONNECT")
    {
        let Some(code) = e.fields.get(1).and_then(|f| f.parse::<i64>().ok()) else {
            continue;
        };
        if code == 0 || e.fields.len() != 2 || seen.contains(&code) {
            continue;
        }
        seen.push(code);
        let c = codes::explain_simcom_cmqtt(e.line, e.text.clone(), code);
        let context = match code {
            32 if !sni_on => " SNI is never enabled in this transcript (AT+CSSLCFG=\"enableSNI\",<ctx>,1), and brokers that route by SNI (HiveMQ Cloud, EMQX Cloud) fail the handshake without it.",
            32 => " SNI is enabled in this transcript, so look next at the TLS versions and cipher suites the modem firmware offers (older SIMCom firmware lacks the suites cloud brokers require: update it and set AT+CSSLCFG=\"ciphersuites\",<ctx>,0xFFFF) and at the CA file.",
            34 => " Check that the file named in AT+CSSLCFG=\"cacert\" exists on the modem (AT+CCERTLIST), is PEM with LF line endings, and that AT+CMQTTSSLCFG points at the same SSL context.",
            _ => "",
        };
        out.push(Finding {
            id: "simcom.cmqtt_connect_failed",
            line: Some(e.line),
            message: format!(
                "The modem's MQTT connect failed: {} = {} ({}).{context}",
                e.text, c.name, c.meaning
            ),
            hint: c.likely_cause,
        });
    }
    for cert in &report.cert_downloads {
        let msg = if cert.declared == cert.lf_len {
            continue;
        } else if cert.declared == cert.crlf_len {
            format!(
                "AT+CCERTDOWN=\"{}\",{} on line {} counts CRLF line endings ({} bytes with LF): the file is stored with CR characters, which some modem firmware does not parse.",
                cert.name, cert.declared, cert.line, cert.lf_len
            )
        } else {
            format!(
                "AT+CCERTDOWN=\"{}\",{} on line {} declares {} bytes, but the pasted certificate is {} bytes with LF line endings and {} with CRLF: the modem waits for more bytes or cuts the file.",
                cert.name, cert.declared, cert.line, cert.declared, cert.lf_len, cert.crlf_len
            )
        };
        out.push(Finding {
            id: "at.ccertdown_length",
            line: Some(cert.line),
            message: msg,
            hint: Some(
                "Convert the PEM to LF line endings and declare exactly its size in bytes."
                    .to_owned(),
            ),
        });
    }
}

/// mosquitto's log: "New client connected from … as ID (c1, k60, …)" then "Client ID disconnected."
/// or "Client ID has exceeded timeout, disconnecting."
fn mosquitto_findings(lines: &[Line<'_>], out: &mut Vec<Finding>) {
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.text.strip_prefix("New client connected from ") else {
            continue;
        };
        let Some((_, after)) = rest.split_once(" as ") else {
            continue;
        };
        let Some((client, params)) = after.split_once(" (") else {
            continue;
        };
        let keepalive = params
            .split([',', ')'])
            .map(str::trim)
            .find_map(|p| p.strip_prefix('k').and_then(|k| k.parse::<u64>().ok()));
        let Some(end) = lines[i + 1..]
            .iter()
            .find(|m| m.text.contains(&format!("Client {client} ")))
        else {
            continue;
        };
        let (Some(t0), Some(t1)) = (l.ts_ms, end.ts_ms) else {
            continue;
        };
        let secs = t1.saturating_sub(t0) / 1000;
        let ka = keepalive.map_or("unknown".to_owned(), |k| format!("{k} s"));
        let (id, message, hint) = if end.text.contains("exceeded timeout") {
            (
                "mqtt.keepalive_expired",
                format!("The broker closed client {client} for keepalive expiry {secs} s after it connected (keep alive {ka}; the broker allows 1.5×): the device sent nothing — not even PINGREQ — for that long, or its packets never arrived."),
                "Check that the client loop runs and sends PINGREQ, and that reads are not blocked on a TLS buffer.".to_owned(),
            )
        } else if end.text.contains("disconnected.") {
            (
                "mqtt.client_disconnected_early",
                format!("mosquitto accepted client {client} (keep alive {ka}) and the device itself disconnected {secs} s later (\"{}\"): not a keepalive timeout — the device's client gave up, e.g. because it never read the CONNACK.", end.text.trim()),
                "Compare with the device log: did it receive the CONNACK the broker sent?".to_owned(),
            )
        } else {
            continue;
        };
        out.push(Finding {
            id,
            line: Some(end.no),
            message,
            hint: Some(hint),
        });
    }
}
