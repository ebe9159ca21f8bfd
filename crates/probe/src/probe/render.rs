//! The report as text: the stages with ✓/✗, the finding, the TLS map, the profile verdicts.

use std::fmt::Write as _;

use super::Report;

pub(super) fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "lantern probe {} (MQTT {}, client id {})",
        r.target, r.mqtt, r.client_id
    );
    let _ = writeln!(o);
    for s in &r.stages {
        let mark = if s.ok { "✓" } else { "✗" };
        let _ = writeln!(
            o,
            "  {mark} {:<10} {} ({} ms)",
            s.stage.name(),
            s.detail,
            s.elapsed_ms
        );
    }
    if let Some(f) = r.finding() {
        let _ = writeln!(o);
        let _ = writeln!(o, "{} failed: {}", f.stage.name(), f.cause);
        let _ = writeln!(o, "  {}", f.sentence);
        for fix in &f.fixes {
            let _ = writeln!(o, "  fix: {fix}");
        }
    } else if !r.stages.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "Connected: every stage passed.");
    }

    if let Some(m) = &r.tls {
        let _ = writeln!(o);
        let _ = writeln!(o, "TLS map");
        let _ = writeln!(o, "  versions:");
        for v in &m.versions {
            let mark = if v.accepted { "✓" } else { "✗" };
            let _ = writeln!(o, "    {mark} {:<8} {}", v.version, v.answer);
        }
        if !m.suites.is_empty() {
            let _ = writeln!(o, "  cipher suites (each offered alone):");
            for s in &m.suites {
                let mark = if s.accepted { "✓" } else { "✗" };
                let legacy = if s.legacy { " [legacy]" } else { "" };
                let _ = writeln!(
                    o,
                    "    {mark} 0x{:04X} {} ({}){legacy}",
                    s.id, s.name, s.version
                );
            }
        }
        let _ = writeln!(o, "  SNI: {}", m.sni.summary);
        for c in &m.sni.cases {
            let sent = c.sent.as_deref().unwrap_or("(none)");
            let _ = write!(o, "    - {} [{sent}]: {}", c.case, c.answer);
            if let Some(after) = &c.after_connect {
                let _ = write!(o, "; after CONNECT: {after}");
            }
            let _ = writeln!(o);
        }
        let _ = writeln!(o, "  certificate chains:");
        for c in &m.chains {
            let sent = c.sni.as_deref().unwrap_or("(no SNI)");
            let _ = writeln!(o, "    {} [{sent}]: {}", c.case, c.handshake);
            for (i, cert) in c.certificates.iter().enumerate() {
                let _ = writeln!(o, "      {i}: subject {}", cert.subject);
                let _ = writeln!(o, "         issuer  {}", cert.issuer);
                if !cert.sans.is_empty() {
                    let _ = writeln!(o, "         SANs    {}", cert.sans.join(", "));
                }
                let _ = writeln!(
                    o,
                    "         valid   {} to {} ({}); key {}",
                    cert.not_before, cert.not_after, cert.validity, cert.key
                );
            }
            match (c.verified, &c.verify_error) {
                (Some(true), _) => {
                    let _ = writeln!(o, "      ✓ verifies against --ca for {:?}", c.checked_name);
                }
                (Some(false), e) => {
                    let _ = writeln!(
                        o,
                        "      ✗ does not verify against --ca for {:?}: {}",
                        c.checked_name,
                        e.as_deref().unwrap_or("")
                    );
                }
                (None, _) => {}
            }
            if let Some(root) = &c.root_needed {
                let how = if c.root_sent {
                    "the server sends it"
                } else if c.root_in_ca_file {
                    "found in --ca"
                } else {
                    "not sent by the server"
                };
                let _ = writeln!(o, "      root the device must trust: {root} ({how})");
            }
        }
        let _ = writeln!(o, "  ALPN {:?}: {}", m.alpn.offered, m.alpn.detail);
        let _ = writeln!(o, "  max fragment length: {}", m.max_fragment_length.detail);
    }

    if !r.profiles.is_empty() {
        let _ = writeln!(o);
        let _ = writeln!(o, "Device profiles");
        for p in &r.profiles {
            let mark = if p.connects { "✓" } else { "✗" };
            let cause = p
                .cause
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            let _ = writeln!(o, "  {mark} {}{cause}", p.verdict);
            let _ = writeln!(o, "      ClientHello answered with {}", p.answer);
            if let Some(e) = &p.explanation {
                let _ = writeln!(o, "      broker's view: {e}");
            }
            for fix in p.fixes.iter().take(3) {
                let _ = writeln!(o, "      fix: {fix}");
            }
        }
    }
    if let Some(s) = &r.saved_ca {
        let _ = writeln!(o);
        let _ = writeln!(o, "Saved the root {} to {}: {} bytes, PEM with LF line endings (SIMCom: AT+CCERTDOWN=\"ca.pem\",{}).", s.subject, s.path, s.bytes, s.bytes);
    }
    for n in &r.notes {
        let _ = writeln!(o, "note: {n}");
    }
    let _ = writeln!(o, "({} connections)", r.connections);
    o
}
