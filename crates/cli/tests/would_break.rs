//! `lantern why --would-break POLICY` and the legacy section of `--summary`, on a story log
//! written the way the broker writes it.

use std::process::Command;

use lantern_diag::{Cause, Event, EventKind, HelloSummary, Story};

fn story(
    id: u64,
    client: Option<&str>,
    versions: &[&str],
    suites: &[&str],
    negotiated: Option<&str>,
) -> Story {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let hello = HelloSummary {
        versions: versions.iter().map(|s| s.to_string()).collect(),
        cipher_suites: suites.iter().map(|s| s.to_string()).collect(),
        fingerprint: format!("fp{id}"),
        ..HelloSummary::default()
    };
    let mut events = vec![Event {
        at_ms: 0,
        kind: EventKind::ClientHello(Box::new(hello)),
    }];
    if let Some(suite) = negotiated {
        events.push(Event {
            at_ms: 1,
            kind: EventKind::TlsEstablished {
                version: "TLSv1.2".into(),
                suite: suite.into(),
                client_cert_subject: None,
                client_cert_issuer: None,
                client_cert_validity: None,
            },
        });
    }
    let mut s = Story {
        id,
        listener: "legacy".into(),
        transport: "tls".into(),
        peer: format!("10.0.0.{id}:4000"),
        started_ms: now_ms - id * 1000,
        client_id: client.map(str::to_owned),
        hello_fingerprint: Some(format!("fp{id}")),
        events,
        ..Story::default()
    };
    s.finish(Cause::ClientDisconnect { code: 0 });
    s
}

fn why(log: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lantern"))
        .arg("why")
        .arg("--file")
        .arg(log)
        .args(args)
        .output()
        .expect("run lantern why");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn dry_runs_name_the_devices_that_would_break() {
    let dir = std::env::temp_dir().join(format!("lantern-would-break-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log = dir.join("stories.jsonl");
    let stories = [
        // Oldest first, as the broker appends.
        story(
            3,
            Some("sim7600-old"),
            &["TLSv1.1", "TLSv1.0"],
            &["TLS_RSA_WITH_AES_128_CBC_SHA"],
            Some("TLS_RSA_WITH_AES_128_CBC_SHA"),
        ),
        story(
            2,
            Some("w5500"),
            &["TLSv1.2"],
            &[
                "TLS_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_RSA_WITH_AES_256_CBC_SHA256",
                "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
            ],
            Some("TLS_RSA_WITH_AES_128_GCM_SHA256"),
        ),
        story(
            1,
            Some("esp32"),
            &["TLSv1.2"],
            &[
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_RSA_WITH_AES_128_CBC_SHA",
            ],
            Some("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
        ),
    ];
    let text: String = stories
        .iter()
        .map(|s| serde_json::to_string(s).expect("serialize") + "\n")
        .collect();
    std::fs::write(&log, text).expect("write log");

    let (code, out) = why(&log, &["--would-break", "no-legacy"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 devices seen in the last 7 days would fail under no-legacy"),
        "{out}"
    );
    assert!(
        out.contains("sim7600-old") && out.contains("w5500"),
        "{out}"
    );
    assert!(!out.contains("esp32"), "esp32 also offers ECDHE-GCM: {out}");

    let (_, out) = why(&log, &["--would-break", "min_version=1.2"]);
    assert!(out.contains("1 device seen"), "{out}");
    assert!(
        out.contains("sim7600-old") && out.contains("at most TLS 1.1"),
        "{out}"
    );

    let (_, out) = why(&log, &["--summary"]);
    assert!(out.contains("Legacy TLS still in use"), "{out}");
    assert!(
        out.contains("1 device still needs TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{out}"
    );

    let (code, _) = why(&log, &["--would-break", "min_version=1.1"]);
    assert_eq!(code, 2, "an unknown policy is a usage error");
    let _ = std::fs::remove_dir_all(&dir);
}
