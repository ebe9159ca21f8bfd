//! One verdict per device profile: send the profile's ClientHello, read the answer, and say in
//! one sentence whether a device with that profile will connect, and if not, where and why,
//! with the cause id the broker would record.

use lantern_diag::{suites, Cause, Event, EventKind, Story};
use tokio::time::Instant;

use super::profiles::{Profile, PROFILES};
use super::scan::{self, Ctx, TlsMap};
use super::wire::{alert, Answer};
use super::{Plan, ProfileVerdict, Stage, StageResult};

/// Verdicts for every profile (the requested one first).
pub(crate) async fn profiles(
    ctx: &Ctx,
    plan: &Plan,
    map: &TlsMap,
    stages: &[StageResult],
) -> Vec<ProfileVerdict> {
    let ctx = Ctx {
        deadline: Instant::now() + ctx.timeout * 2,
        ..ctx.clone()
    };
    let mut list: Vec<&'static Profile> = PROFILES.iter().collect();
    if let Some(p) = plan.profile {
        list.retain(|x| x.name != p.name);
        list.insert(0, p);
    }
    // The host name a device would send as SNI: --sni, else the URL's host if it is a name.
    let host = match plan.sni_name() {
        Some(n) => Some(n),
        None if !plan.target.host_is_ip() => Some(plan.target.host.clone()),
        None => None,
    };
    let specs = list.iter().map(|p| p.hello(host.as_deref())).collect();
    let answers = scan::hellos(&ctx, specs).await;
    list.iter()
        .zip(answers)
        .map(|(p, a)| judge(p, host.as_deref(), &a, map, stages))
        .collect()
}

/// The verdict for one profile.
fn judge(
    p: &Profile,
    host: Option<&str>,
    answer: &Answer,
    map: &TlsMap,
    stages: &[StageResult],
) -> ProfileVerdict {
    let sends_sni = p.sni && host.is_some();
    let real = p.real_suites();
    let accepted_versions = &map.accepted_version_ids;
    let shared_versions: Vec<u16> = p
        .versions
        .iter()
        .copied()
        .filter(|v| accepted_versions.contains(v))
        .collect();
    let shared_suites: Vec<u16> = real
        .iter()
        .copied()
        .filter(|s| map.accepted_suite_ids.contains(s))
        .collect();
    let story = story_for(p, host);
    let mut v = ProfileVerdict {
        profile: p.name.to_owned(),
        connects: false,
        verdict: String::new(),
        stage: Some(Stage::Tls),
        cause: None,
        answer: answer.describe(),
        explanation: None,
        fixes: Vec::new(),
    };
    let explain = |v: &mut ProfileVerdict, cause: Cause| {
        let e = cause.explain(&story);
        v.cause = Some(cause.id().to_owned());
        v.explanation = Some(e.sentence);
        v.fixes = e.fixes;
    };
    let name = p.name;
    let served: Vec<String> = map
        .chains
        .iter()
        .find(|c| c.case == "host name")
        .and_then(|c| c.certificates.first())
        .map(|c| {
            c.sans
                .iter()
                .filter_map(|s| s.strip_prefix("DNS ").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();

    match answer {
        Answer::Hello(h) => {
            let tls = format!(
                "{}, {}",
                suites::version_name(h.version),
                suites::suite_name(h.suite)
            );
            let none_case = map.sni.cases.iter().find(|c| c.case == "no SNI");
            let later_failure = stages.iter().find(|s| !s.ok && s.stage > Stage::Tls);
            if !sends_sni && none_case.is_some_and(|c| c.closed_after_connect) {
                v.stage = Some(Stage::Connect);
                v.verdict = format!("A device with profile {name} will fail after TLS: the server completes the handshake ({tls}) without SNI but closes the connection after CONNECT; enable SNI ({}).", p.sni_fix);
                explain(&mut v, Cause::NoSni { served });
            } else if !sends_sni
                && none_case.is_some_and(|c| c.same_certificate == Some(false))
                && map
                    .chains
                    .iter()
                    .find(|c| c.case == "no SNI")
                    .is_some_and(|c| c.verified == Some(false))
            {
                let cert = none_case
                    .and_then(|c| c.certificate.clone())
                    .unwrap_or_default();
                v.verdict = format!("A device with profile {name} will fail at TLS: without SNI the server sends another certificate ({cert}), which does not verify for the broker's name; enable SNI ({}).", p.sni_fix);
                let chain = map.chains.iter().find(|c| c.case == "no SNI");
                explain(
                    &mut v,
                    Cause::ClientRejectedServerCert {
                        alert: "rejected the certificate served without SNI".into(),
                        root: chain
                            .and_then(|c| c.root_needed.clone())
                            .unwrap_or_default(),
                        validity: chain
                            .and_then(|c| c.certificates.first())
                            .map(|c| format!("from {} to {}", c.not_before, c.not_after))
                            .unwrap_or_default(),
                        clock_suspect: false,
                    },
                );
            } else if let Some(f) = later_failure.and_then(|s| s.finding.as_ref()) {
                v.stage = Some(f.stage);
                v.verdict = format!(
                    "A device with profile {name} gets through TLS ({tls}) but will fail at {}: {}",
                    f.stage.name(),
                    f.sentence
                );
                v.cause = Some(f.cause.clone());
                v.fixes = f.fixes.clone();
            } else {
                v.connects = true;
                v.stage = None;
                let trust = map
                    .chains
                    .iter()
                    .find_map(|c| c.root_needed.clone())
                    .map(|r| format!(", provided it trusts {r:?}"))
                    .unwrap_or_default();
                v.verdict = format!("A device with profile {name} will connect ({tls}){trust}.");
            }
        }
        Answer::Alert { description, .. } if *description == alert::UNRECOGNIZED_NAME => {
            if sends_sni {
                v.verdict = format!("A device with profile {name} will fail at TLS: the server does not serve the name {:?} it sends as SNI.", host.unwrap_or_default());
                explain(
                    &mut v,
                    Cause::SniUnknown {
                        name: host.unwrap_or_default().to_owned(),
                        served,
                    },
                );
            } else {
                // SNI hides whatever comes next: say it when the suites or versions fail too.
                let also = if shared_versions.is_empty() && !accepted_versions.is_empty() {
                    format!(
                        "; even with SNI it would fail: the server accepts none of the {} it offers ({})",
                        plural(p.versions.len(), "version"),
                        p.versions.iter().map(|x| suites::version_name(*x)).collect::<Vec<_>>().join(", ")
                    )
                } else if shared_suites.is_empty() && !map.accepted_suite_ids.is_empty() {
                    format!(
                        "; even with SNI it would fail: the server accepts none of the {} it offers (enable {})",
                        plural(real.len(), "suite"),
                        p.suite_fix
                    )
                } else {
                    String::new()
                };
                v.verdict = format!("A device with profile {name} will fail at TLS: the server requires SNI and this device sends none; enable SNI ({}){also}.", p.sni_fix);
                explain(&mut v, Cause::NoSni { served });
            }
        }
        Answer::Alert { .. } | Answer::Closed | Answer::Malformed { .. } => {
            let names =
                |v: &[u16], f: fn(u16) -> String| v.iter().map(|x| f(*x)).collect::<Vec<_>>();
            if shared_versions.is_empty() && !accepted_versions.is_empty() {
                let offered = names(p.versions, suites::version_name);
                let none_of = if offered.len() == 1 {
                    format!("does not accept {}, the only version it offers", offered[0])
                } else {
                    format!(
                        "accepts none of the {} versions it offers ({})",
                        offered.len(),
                        offered.join(", ")
                    )
                };
                v.verdict = format!(
                    "A device with profile {name} will fail at TLS: the server {none_of}, and accepts only {}; enable {} on the device or use a broker listener that accepts {}.",
                    map.accepted_versions.join(", "),
                    map.accepted_versions.last().cloned().unwrap_or_default(),
                    offered.first().cloned().unwrap_or_default(),
                );
                explain(
                    &mut v,
                    Cause::NoSharedVersion {
                        offered,
                        accepted: map.accepted_versions.clone(),
                    },
                );
            } else if shared_suites.is_empty() {
                let offered = names(&real, suites::suite_name);
                let untested = real
                    .iter()
                    .filter(|s| !map.tried_suite_ids.contains(s))
                    .count();
                let untested = if untested > 0 {
                    format!(" ({untested} of them not in the probe's scan)")
                } else {
                    String::new()
                };
                let rustls_ok: Vec<String> = offered
                    .iter()
                    .filter(|s| {
                        s.starts_with("TLS_ECDHE_")
                            && (s.contains("_GCM_") || s.contains("CHACHA20"))
                    })
                    .cloned()
                    .collect();
                let broker_side = if rustls_ok.is_empty() {
                    format!("use a broker that accepts one of them ({}; Lantern's TLS, rustls, implements none of them)", offered.join(", "))
                } else {
                    format!(
                        "add {} to the listener's cipher_suites",
                        rustls_ok.join(", ")
                    )
                };
                v.verdict = format!(
                    "A device with profile {name} will fail at TLS: the server accepts none of the {} it offers{untested}; enable ECDHE suites on the device ({}) or {}.",
                    plural(real.len(), "suite"),
                    p.suite_fix,
                    broker_side
                );
                explain(
                    &mut v,
                    Cause::NoSharedCipher {
                        offered,
                        accepted: map.accepted_suites.clone(),
                    },
                );
            } else {
                let what = answer.describe();
                v.verdict = format!("A device with profile {name} will fail at TLS: the server answers its ClientHello with {what} although it accepts {} on its own.", suites::suite_name(shared_suites[0]));
                let detail = match answer {
                    Answer::Alert { description, .. } if *description == alert::HANDSHAKE_FAILURE || *description == alert::INSUFFICIENT_SECURITY => {
                        "the server sent handshake_failure: the signature algorithms or groups this device offers do not fit the server's certificate or key exchange".to_owned()
                    }
                    Answer::Alert { description, .. } if *description == alert::PROTOCOL_VERSION => {
                        "the server sent protocol_version".to_owned()
                    }
                    _ => what,
                };
                explain(
                    &mut v,
                    Cause::HandshakeFailed {
                        detail,
                        by_client: false,
                    },
                );
            }
        }
        Answer::Timeout | Answer::NoConnection { .. } | Answer::Skipped | Answer::NotTls { .. } => {
            v.stage = None;
            v.verdict = format!(
                "A device with profile {name} could not be tested: {}.",
                answer.describe()
            );
        }
    }
    v
}

/// A story holding the profile's ClientHello, so that lantern-diag explains failures with the
/// same device hints the broker gives for such a hello.
fn story_for(p: &Profile, host: Option<&str>) -> Story {
    let bytes = p.hello(host).encode(&[0; 96]);
    let mut story = Story::default();
    if let Ok(hello) = lantern_diag::hello::parse_client_hello(&bytes) {
        story.events.push(Event {
            at_ms: 0,
            kind: EventKind::ClientHello(Box::new(hello.summary())),
        });
    }
    story
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
