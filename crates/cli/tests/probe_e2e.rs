//! `lantern probe` against Lantern itself: a TLS port with SNI required and two tenants, and a
//! TLS 1.3-only port. The probe must detect what the configuration says — versions, suites,
//! SNI behaviour, the chain served per name — and give every device profile the verdict the
//! broker's own stories would explain. Then the `lantern probe` command: output formats and
//! exit codes (0 connects, 1 a finding, 2 usage). Lantern only.
//!
//! The probe library is called directly for the detailed assertions; the binary is exercised
//! when `lantern probe` is wired into the CLI (skipped with a message otherwise).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::tls::{listener, DevPki};
use common::{lantern, output_text, skip_on_mosquitto, Broker, TempDir};
use lantern_probe::probe::{self, Plan, Report, SniChoice};

const LANTERN_ONLY: &str = "probing Lantern's own TLS configuration";

/// Two tenants on one `sni = "required"` TLS port, each with its own certificate from one
/// development CA.
fn sni_broker() -> (Broker, DevPki) {
    let pki = DevPki::create("pki");
    let (a_cert, a_key) = pki.server(&["a.test"], "a");
    let (b_cert, b_key) = pki.server(&["b.test"], "b");
    let toml = format!(
        "data_dir = \"{}\"\n{}\n\
         [[tenant]]\nname = \"a\"\nhosts = [\"a.test\"]\ncert = \"{a_cert}\"\nkey = \"{a_key}\"\n\n\
         [[tenant]]\nname = \"b\"\nhosts = [\"b.test\"]\ncert = \"{b_cert}\"\nkey = \"{b_key}\"\n",
        pki.data_dir(),
        listener("tls", "sni = \"required\"")
    );
    (Broker::builder().config_file(&toml).start(), pki)
}

fn plan(port: u16, ca: &str, sni: SniChoice) -> Plan {
    let mut plan = Plan::new(&format!("mqtts://127.0.0.1:{port}")).unwrap();
    plan.ca_pem = Some(std::fs::read(ca).unwrap());
    plan.sni = sni;
    plan.timeout = Duration::from_secs(5);
    plan
}

fn run(plan: &Plan) -> Report {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(90), probe::run(plan))
            .await
            .expect("the probe finished within 90 s")
            .expect("no usage error")
    })
}

fn verdict<'a>(r: &'a Report, name: &str) -> &'a probe::ProfileVerdict {
    r.profiles
        .iter()
        .find(|p| p.profile == name)
        .unwrap_or_else(|| panic!("no verdict for {name}"))
}

#[test]
fn probe_maps_lantern_with_sni_required_and_two_tenants() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let (b, pki) = sni_broker();
    let port = b.port_of("tls");
    let saved = TempDir::new("saved");
    let mut p = plan(port, &pki.ca, SniChoice::Name("a.test".into()));
    p.save_ca = Some(saved.path().join("ca.pem"));
    let r = run(&p);
    let text = r.to_text();

    // The walk, with SNI a.test.
    assert!(r.connects(), "{text}");
    assert_eq!(r.exit_code(), 0);
    assert_eq!(
        r.stages.len(),
        7,
        "DNS TCP TLS CONNECT SUBSCRIBE PUBLISH PINGREQ:\n{text}"
    );
    assert!(r.connections <= probe::MAX_CONNECTIONS);
    let tls = r.tls.as_ref().expect("a TLS map");

    // rustls: TLS 1.2 and 1.3, ECDHE-ECDSA AEAD suites only (the certificates are ECDSA).
    assert_eq!(tls.accepted_versions, ["TLSv1.2", "TLSv1.3"], "{text}");
    let mut accepted: Vec<u16> = tls
        .suites
        .iter()
        .filter(|s| s.accepted)
        .map(|s| s.id)
        .collect();
    accepted.sort_unstable();
    assert_eq!(
        accepted,
        [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02C, 0xCCA9],
        "{text}"
    );
    assert!(tls.suites.iter().filter(|s| s.legacy).all(|s| !s.accepted));

    // SNI required: no SNI and an unknown name both get unrecognized_name.
    assert!(tls.sni.required, "{text}");
    for case in ["no SNI", "wrong name"] {
        let c = tls.sni.cases.iter().find(|c| c.case == case).unwrap();
        assert!(!c.accepted);
        assert_eq!(c.answer, "alert unrecognized_name", "{text}");
    }
    assert!(
        tls.sni.summary.starts_with("SNI is required"),
        "{}",
        tls.sni.summary
    );

    // The chain for a.test, verified against the development CA.
    let chain = tls.chains.iter().find(|c| c.case == "host name").unwrap();
    assert_eq!(chain.certificates[0].subject, "CN=a.test");
    assert_eq!(chain.certificates[0].sans, ["DNS a.test"]);
    assert_eq!(chain.certificates[0].key, "ECDSA P-256");
    assert_eq!(chain.verified, Some(true), "{text}");
    assert!(chain
        .root_needed
        .as_deref()
        .unwrap_or("")
        .contains("Lantern Development CA"));

    // rustls ignores ALPN without a configured protocol and has no max_fragment_length.
    assert_eq!(tls.alpn.negotiated, None);
    assert_eq!(tls.max_fragment_length.supported, Some(false), "{text}");

    // Profiles: the devices without SNI are refused with tls.no_sni — and the static-RSA ones
    // would fail on their suites next; the others connect.
    for name in ["simcom-legacy", "mbedtls-static-rsa"] {
        let v = verdict(&r, name);
        assert!(!v.connects);
        assert_eq!(v.cause.as_deref(), Some("tls.no_sni"), "{text}");
        assert!(
            v.verdict
                .contains("the server requires SNI and this device sends none"),
            "{}",
            v.verdict
        );
        assert!(
            v.verdict.contains("even with SNI it would fail"),
            "{}",
            v.verdict
        );
        let explanation = v.explanation.as_deref().unwrap_or("");
        assert!(
            explanation.contains("no SNI") && explanation.contains("a.test"),
            "{explanation}"
        );
    }
    for name in ["simcom-current", "esp-idf", "nrf91", "modern"] {
        assert!(verdict(&r, name).connects, "{name}:\n{text}");
    }

    // --save-ca wrote the development CA (which Lantern sends in its chain), PEM with LF.
    let saved_ca = r.saved_ca.as_ref().expect("--save-ca");
    let pem = std::fs::read(saved.path().join("ca.pem")).unwrap();
    assert_eq!(pem.len(), saved_ca.bytes);
    assert!(!pem.contains(&b'\r'));
    assert_eq!(
        pem,
        std::fs::read(&pki.ca).unwrap(),
        "the same PEM as `lantern cert ca`"
    );

    // The other tenant's name gets the other certificate.
    let r_b = run(&plan(port, &pki.ca, SniChoice::Name("b.test".into())));
    let chain_b = r_b
        .tls
        .as_ref()
        .unwrap()
        .chains
        .iter()
        .find(|c| c.case == "host name")
        .unwrap();
    assert_eq!(chain_b.certificates[0].subject, "CN=b.test");
    assert!(r_b.connects(), "{}", r_b.to_text());

    // Without SNI the probe itself is refused at TLS, with the broker's cause id.
    let r_none = run(&plan(port, &pki.ca, SniChoice::Off));
    let finding = r_none.finding().expect("a finding");
    assert_eq!(finding.cause, "tls.no_sni", "{}", r_none.to_text());
    assert_eq!(r_none.exit_code(), 1);
    // The broker recorded the same cause for those connections.
    b.wait_log(&["cause=\"tls.no_sni\""], 1, Duration::from_secs(5));
}

#[test]
fn probe_maps_a_tls13_only_lantern_listener() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    let pki = DevPki::create("pki13");
    let toml = format!(
        "data_dir = \"{}\"\n{}",
        pki.data_dir(),
        listener("tls", "tls_min_version = \"1.3\"")
    );
    let b = Broker::builder().config_file(&toml).start();
    let mut p = plan(
        b.port_of("tls"),
        &pki.ca,
        SniChoice::Name("localhost".into()),
    );
    p.mqtt = lantern_codec::ProtocolVersion::V5;
    let r = run(&p);
    let text = r.to_text();
    assert!(r.connects(), "{text}");
    let tls = r.tls.as_ref().unwrap();
    assert_eq!(tls.accepted_versions, ["TLSv1.3"], "{text}");
    assert_eq!(tls.versions[2].answer, "alert protocol_version", "{text}");
    let mut accepted: Vec<u16> = tls
        .suites
        .iter()
        .filter(|s| s.accepted)
        .map(|s| s.id)
        .collect();
    accepted.sort_unstable();
    assert_eq!(accepted, [0x1301, 0x1302, 0x1303], "{text}");
    assert!(
        tls.suites.iter().all(|s| s.version == "TLSv1.3"),
        "no TLS 1.2 suite scan"
    );
    // One tenant: SNI is not required and every name gets the same certificate.
    assert!(!tls.sni.required, "{text}");
    let wrong = tls
        .sni
        .cases
        .iter()
        .find(|c| c.case == "wrong name")
        .unwrap();
    assert_eq!(wrong.same_certificate, Some(true), "{text}");
    assert_eq!(
        wrong.after_connect.as_deref(),
        Some("CONNACK 0x00: accepted"),
        "{text}"
    );
    let leaf = &tls.chains[0].certificates[0];
    assert_eq!(leaf.subject, "CN=localhost");
    assert!(leaf.sans.contains(&"IP 127.0.0.1".to_owned()));
    // max_fragment_length cannot be seen in TLS 1.3.
    assert_eq!(tls.max_fragment_length.supported, None);

    // Every TLS 1.2-only device fails with tls.no_shared_version; the modern client connects.
    for name in [
        "simcom-legacy",
        "simcom-current",
        "esp-idf",
        "mbedtls-static-rsa",
        "nrf91",
    ] {
        let v = verdict(&r, name);
        assert!(!v.connects, "{name}");
        assert_eq!(
            v.cause.as_deref(),
            Some("tls.no_shared_version"),
            "{name}: {}",
            v.verdict
        );
        assert!(
            v.verdict
                .contains("does not accept TLSv1.2, the only version it offers"),
            "{}",
            v.verdict
        );
        assert!(v.explanation.as_deref().unwrap_or("").contains("TLSv1.3"));
    }
    assert!(verdict(&r, "modern").connects, "{text}");
    assert!(verdict(&r, "modern").verdict.contains("TLSv1.3"));
    b.wait_log(
        &["cause=\"tls.no_shared_version\""],
        1,
        Duration::from_secs(5),
    );

    // Asked for a TLS 1.2 device, the run is a finding even though the probe connects.
    p.profile = probe::Profile::find("esp-idf");
    p.client_id = "lantern-probe-e2e-profile".into();
    let r = run(&p);
    assert!(r.stages.iter().all(|s| s.ok));
    assert_eq!(r.profiles[0].profile, "esp-idf");
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn lantern_probe_command_formats_and_exit_codes() {
    if skip_on_mosquitto(LANTERN_ONLY) {
        return;
    }
    // A missing subcommand is a failure, never a skip (issue 9: tests that cannot be skipped
    // into a pass).
    let help = lantern(&["probe", "--help"], None);
    assert!(
        help.status.success(),
        "`lantern probe --help` failed: the probe must be wired into the CLI; {}",
        output_text(&help)
    );
    // Usage errors: exit 2.
    for args in [
        vec!["probe", "http://x"],
        vec!["probe", "mqtt://x", "--mqtt", "4.0"],
        vec!["probe", "mqtts://x", "--profile", "nokia-3310"],
    ] {
        let out = lantern(&args, None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            output_text(&out)
        );
    }
    // --list-profiles names every profile and marks assumptions.
    let out = lantern(&["probe", "--list-profiles"], None);
    let text = output_text(&out);
    assert!(out.status.success());
    for p in probe::PROFILES {
        assert!(text.contains(p.name), "{text}");
    }
    assert!(
        text.contains("[assumption]") && text.contains("seed 002"),
        "{text}"
    );

    let (b, pki) = sni_broker();
    let url = format!("mqtts://127.0.0.1:{}", b.port_of("tls"));
    // Connects: exit 0, JSON report.
    let out = lantern(
        &[
            "probe",
            &url,
            "--sni",
            "a.test",
            "--ca",
            &pki.ca,
            "--format",
            "json",
            "--timeout",
            "5s",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["stages"].as_array().map(Vec::len), Some(7));
    assert_eq!(json["tls"]["sni"]["required"], true);
    // A finding: exit 1, the cause in the text.
    let out = lantern(
        &[
            "probe",
            &url,
            "--no-sni",
            "--ca",
            &pki.ca,
            "--timeout",
            "5s",
            "--no-map",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains("✗ TLS") && text.contains("tls.no_sni"),
        "{text}"
    );
    // A profile that cannot connect makes the run a finding.
    let out = lantern(
        &[
            "probe",
            &url,
            "--sni",
            "a.test",
            "--ca",
            &pki.ca,
            "--profile",
            "mbedtls-static-rsa",
            "--timeout",
            "5s",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
}
