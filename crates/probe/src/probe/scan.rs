//! The TLS map: which versions and suites a server accepts, how it treats SNI, the chain it
//! serves per name, ALPN and max fragment length.
//!
//! Acceptance is learnt from hand-built hellos ([`super::wire`]), one version or one suite at a
//! time; chains from real rustls handshakes that record what they are sent. Every connection
//! is counted against the run's [`Budget`] and bounded by the stage timeout and the map's
//! deadline.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lantern_codec::{ConnAck, Packet, ProtocolVersion, ReasonCode};
use lantern_diag::suites;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::mqtt::{self, Conn, Session};
use super::tlsclient::{self, CertFacts, ClientAuth, HandshakeError, Recorder};
use super::wire::{self, group, version, Answer, Flight, HelloSpec};

/// The name sent as a deliberately wrong SNI: `.invalid` can never resolve (RFC 2606 §2).
pub(crate) const WRONG_NAME: &str = "lantern-probe.invalid";

/// How many hand-built hellos are in flight at once.
const PARALLEL: usize = 6;

/// TLS 1.2 suites tried one at a time: the ECDHE AEAD suites rustls and cloud brokers serve,
/// and the CBC and static-RSA suites constrained devices offer.
const TLS12_SUITES: &[u16] = &[
    0xC02B, 0xC02C, 0xCCA9, 0xC023, 0xC024, 0xC009, 0xC00A, // ECDHE-ECDSA
    0xC02F, 0xC030, 0xCCA8, 0xC027, 0xC028, 0xC013, 0xC014, // ECDHE-RSA
    0x009E, 0x009F, // DHE-RSA GCM
    0x009C, 0x009D, 0x003C, 0x003D, 0x002F, 0x0035, 0x000A, // static RSA
];

/// TLS 1.3 suites.
const TLS13_SUITES: &[u16] = &[0x1301, 0x1302, 0x1303];

/// Suites offered by the version scan for TLS 1.0 and 1.1 (no AEAD before 1.2).
const LEGACY_VERSION_SUITES: &[u16] = &[
    0xC00A, 0xC014, 0xC009, 0xC013, 0x0039, 0x0033, 0x0035, 0x002F, 0x000A, 0x00FF,
];

/// Signature algorithms of the scanning hellos: every common ECDSA, RSA and EdDSA scheme.
const SIG_ALGS: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
];

/// The run's connection budget ([`super::MAX_CONNECTIONS`]).
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            max,
        })
    }

    /// Takes one connection; false when none is left.
    pub(crate) fn take(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

/// What a scan needs to reach the server.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) addr: SocketAddr,
    pub(crate) timeout: Duration,
    pub(crate) deadline: Instant,
    pub(crate) budget: Arc<Budget>,
}

impl Ctx {
    fn until(&self) -> Instant {
        (Instant::now() + self.timeout).min(self.deadline)
    }

    /// A TCP connection, counted against the budget.
    pub(crate) async fn connect(&self) -> Result<TcpStream, Answer> {
        if !self.budget.take() {
            return Err(Answer::Skipped);
        }
        match tokio::time::timeout_at(self.until(), TcpStream::connect(self.addr)).await {
            Err(_) => Err(Answer::Timeout),
            Ok(Err(e)) => Err(Answer::NoConnection {
                detail: e.to_string(),
            }),
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
        }
    }

    /// Sends `spec` and reads the server's answer.
    pub(crate) async fn hello(&self, spec: &HelloSpec, want_certificate: bool) -> Answer {
        let mut tcp = match self.connect().await {
            Ok(t) => t,
            Err(a) => return a,
        };
        let bytes = spec.encode(&tlsclient::random96());
        let mut buf = Vec::with_capacity(4096);
        let exchange = async {
            if tcp.write_all(&bytes).await.is_err() {
                return Answer::Closed;
            }
            let mut chunk = [0u8; 4096];
            loop {
                let n = match tcp.read(&mut chunk).await {
                    Ok(n) => n,
                    // A reset after the hello is the server's way of refusing it.
                    Err(_) => return wire::flight_at_end(&buf),
                };
                if n == 0 {
                    return wire::flight_at_end(&buf);
                }
                buf.extend_from_slice(&chunk[..n]);
                match wire::parse_flight(&buf, want_certificate) {
                    Flight::Done(a) => {
                        if a.accepted().is_some() {
                            // Say goodbye rather than vanish, so that the server's log records a
                            // client that cancelled, not one that rejected its certificate.
                            let _ = tcp.write_all(&wire::USER_CANCELED_ALERT).await;
                        }
                        return a;
                    }
                    Flight::Incomplete if buf.len() >= wire::MAX_FLIGHT => {
                        return wire::flight_at_end(&buf)
                    }
                    Flight::Incomplete => {}
                }
            }
        };
        tokio::time::timeout_at(self.until(), exchange)
            .await
            .unwrap_or(Answer::Timeout)
    }
}

/// Sends every hello of `specs` (in parallel, [`PARALLEL`] at a time); answers in order.
pub(crate) async fn hellos(ctx: &Ctx, specs: Vec<HelloSpec>) -> Vec<Answer> {
    let sem = Arc::new(Semaphore::new(PARALLEL));
    let mut set = JoinSet::new();
    let n = specs.len();
    for (i, spec) in specs.into_iter().enumerate() {
        let ctx = ctx.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, ctx.hello(&spec, false).await)
        });
    }
    let mut out = vec![Answer::Skipped; n];
    while let Some(res) = set.join_next().await {
        if let Ok((i, a)) = res {
            out[i] = a;
        }
    }
    out
}

/// A hello offering `versions` and `suites` with every common extension, SNI `sni`.
pub(crate) fn broad(versions: &[u16], suites: &[u16], sni: Option<&str>) -> HelloSpec {
    HelloSpec {
        versions: versions.to_vec(),
        suites: suites.to_vec(),
        sni: sni.map(str::to_owned),
        groups: vec![group::X25519, group::SECP256R1, group::SECP384R1],
        ec_point_formats: true,
        signature_algorithms: SIG_ALGS.to_vec(),
        alpn: Vec::new(),
        max_fragment_length: None,
        encrypt_then_mac: false,
        extended_master_secret: true,
        session_ticket: false,
        renegotiation_info: true,
    }
}

/// Every suite a modern client offers for TLS 1.3 and 1.2, plus the legacy ones.
fn all_suites() -> Vec<u16> {
    let mut v = TLS13_SUITES.to_vec();
    v.extend_from_slice(TLS12_SUITES);
    v
}

/// One TLS version tried alone.
#[derive(Clone, Debug, Serialize)]
pub struct VersionResult {
    /// "TLSv1.2".
    pub version: String,
    /// Whether the server answered with a ServerHello for it.
    pub accepted: bool,
    /// The suite it chose.
    pub suite: Option<String>,
    /// What it answered.
    pub answer: String,
    #[serde(skip)]
    pub(crate) number: u16,
}

/// One cipher suite tried alone.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteResult {
    /// IANA number.
    pub id: u16,
    /// IANA name.
    pub name: String,
    /// The version it was offered with.
    pub version: String,
    /// Accepted.
    pub accepted: bool,
    /// Static RSA, CBC or another suite rustls does not implement (lantern-diag's judgement).
    pub legacy: bool,
    /// What the server answered.
    pub answer: String,
}

/// One SNI case.
#[derive(Clone, Debug, Serialize)]
pub struct SniCase {
    /// "host name", "no SNI", "wrong name".
    pub case: String,
    /// The name sent.
    pub sent: Option<String>,
    /// The answer to a hello with this SNI.
    pub answer: String,
    /// Whether the hello was accepted.
    pub accepted: bool,
    /// The leaf certificate's subject (from the full handshake).
    pub certificate: Option<String>,
    /// Whether the same certificate as for the host name was served.
    pub same_certificate: Option<bool>,
    /// What CONNECT got after the handshake (for no SNI and the wrong name).
    pub after_connect: Option<String>,
    /// The broker completed the handshake but closed after CONNECT.
    pub closed_after_connect: bool,
}

/// How the server treats SNI.
#[derive(Clone, Debug, Serialize)]
pub struct SniMap {
    /// Whether a device without SNI cannot get through (refused at TLS or closed after CONNECT).
    pub required: bool,
    /// One sentence.
    pub summary: String,
    /// The cases.
    pub cases: Vec<SniCase>,
}

/// The chain served for one name.
#[derive(Clone, Debug, Serialize)]
pub struct ChainReport {
    /// The case: "host name", "no SNI", "wrong name".
    pub case: String,
    /// The SNI sent.
    pub sni: Option<String>,
    /// "TLSv1.3 TLS_AES_256_GCM_SHA384", or why the handshake failed.
    pub handshake: String,
    /// The certificates, leaf first.
    pub certificates: Vec<CertFacts>,
    /// Whether the chain verifies against `--ca` for the checked name (None without `--ca`).
    pub verified: Option<bool>,
    /// The name checked.
    pub checked_name: String,
    /// rustls's reason when it does not verify.
    pub verify_error: Option<String>,
    /// The root the device must trust (subject DN).
    pub root_needed: Option<String>,
    /// Whether the server sends that root itself.
    pub root_sent: bool,
    /// Whether the `--ca` file holds it.
    pub root_in_ca_file: bool,
    #[serde(skip)]
    pub(crate) root_der: Option<Vec<u8>>,
    #[serde(skip)]
    pub(crate) leaf_fingerprint: Option<String>,
}

/// ALPN support.
#[derive(Clone, Debug, Serialize)]
pub struct AlpnResult {
    /// The protocol offered.
    pub offered: String,
    /// The protocol the server chose.
    pub negotiated: Option<String>,
    /// In words.
    pub detail: String,
}

/// max_fragment_length support (RFC 6066 §4).
#[derive(Clone, Debug, Serialize)]
pub struct MflResult {
    /// Echoed (Some(true)), ignored (Some(false)) or not testable (None).
    pub supported: Option<bool>,
    /// In words.
    pub detail: String,
}

/// The TLS map of a server.
#[derive(Clone, Debug, Serialize)]
pub struct TlsMap {
    /// Versions, each tried alone.
    pub versions: Vec<VersionResult>,
    /// Suites, each tried alone (under TLS 1.2 and 1.3 when the server accepts them).
    pub suites: Vec<SuiteResult>,
    /// SNI behaviour.
    pub sni: SniMap,
    /// The chain served per SNI case.
    pub chains: Vec<ChainReport>,
    /// ALPN `mqtt`.
    pub alpn: AlpnResult,
    /// max_fragment_length 1024.
    pub max_fragment_length: MflResult,
    /// Accepted versions, names.
    pub accepted_versions: Vec<String>,
    /// Accepted suites, names.
    pub accepted_suites: Vec<String>,
    #[serde(skip)]
    pub(crate) accepted_version_ids: Vec<u16>,
    #[serde(skip)]
    pub(crate) accepted_suite_ids: Vec<u16>,
    #[serde(skip)]
    pub(crate) tried_suite_ids: Vec<u16>,
}

/// What the map needs from the plan.
pub(crate) struct MapInput<'a> {
    /// The SNI name the probe uses (None for an IP without --sni, or --no-sni).
    pub(crate) sni: Option<String>,
    /// The name the certificate must match.
    pub(crate) verify_name: String,
    /// The `--ca` roots and their DER.
    pub(crate) roots: Option<&'a (RootCertStore, Vec<Vec<u8>>)>,
    /// `--cert`/`--key`.
    pub(crate) auth: Option<&'a ClientAuth>,
    /// For the CONNECT after a handshake without SNI or with a wrong name.
    pub(crate) connect: ConnectSpec,
    /// `ws://…` URL when MQTT runs over WebSocket.
    pub(crate) ws_url: Option<String>,
}

/// The CONNECT the probe sends.
#[derive(Clone, Debug)]
pub(crate) struct ConnectSpec {
    pub(crate) version: ProtocolVersion,
    pub(crate) client_id: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Vec<u8>>,
}

impl ConnectSpec {
    /// The CONNECT packet, with a client id suffix for side connections.
    pub(crate) fn packet(&self, suffix: &str) -> Packet {
        use lantern_codec::{Connect, ConnectProperties, MqttString, Password};
        let id = format!("{}{suffix}", self.client_id);
        Packet::Connect(Connect {
            protocol: self.version,
            clean_start: true,
            keep_alive: 30,
            client_id: MqttString::copy_from_str(&id)
                .unwrap_or_else(|_| MqttString::copy_from_str("lantern-probe").unwrap_or_default()),
            will: None,
            username: self
                .username
                .as_deref()
                .and_then(|u| MqttString::copy_from_str(u).ok()),
            password: self
                .password
                .as_ref()
                .map(|p| Password(bytes::Bytes::from(p.clone()))),
            properties: ConnectProperties::default(),
        })
    }
}

/// Maps the server's TLS.
pub(crate) async fn map(ctx: &Ctx, input: &MapInput<'_>) -> TlsMap {
    let sni = input.sni.as_deref();

    // 1. Versions, each alone.
    let version_list = [
        version::TLS10,
        version::TLS11,
        version::TLS12,
        version::TLS13,
    ];
    let specs = version_list
        .iter()
        .map(|&v| match v {
            version::TLS13 => broad(&[v], TLS13_SUITES, sni),
            version::TLS12 => broad(&[v], TLS12_SUITES, sni),
            _ => broad(&[v], LEGACY_VERSION_SUITES, sni),
        })
        .collect();
    let answers = hellos(ctx, specs).await;
    let versions: Vec<VersionResult> = version_list
        .iter()
        .zip(&answers)
        .map(|(&v, a)| {
            let accepted = a.accepted().is_some_and(|h| h.version == v);
            VersionResult {
                version: suites::version_name(v),
                accepted,
                suite: a
                    .accepted()
                    .filter(|_| accepted)
                    .map(|h| suites::suite_name(h.suite)),
                answer: a.describe(),
                number: v,
            }
        })
        .collect();
    let accepted_version_ids: Vec<u16> = versions
        .iter()
        .filter(|v| v.accepted)
        .map(|v| v.number)
        .collect();

    // 2. Suites, each alone, under each modern version the server accepts.
    let mut suite_specs = Vec::new();
    let mut suite_keys = Vec::new();
    if accepted_version_ids.contains(&version::TLS13) {
        for &s in TLS13_SUITES {
            suite_specs.push(broad(&[version::TLS13], &[s], sni));
            suite_keys.push((s, version::TLS13));
        }
    }
    if accepted_version_ids.contains(&version::TLS12) {
        for &s in TLS12_SUITES {
            suite_specs.push(broad(
                &[version::TLS12],
                &[s, suites::EMPTY_RENEGOTIATION_INFO_SCSV],
                sni,
            ));
            suite_keys.push((s, version::TLS12));
        }
    }
    let answers = hellos(ctx, suite_specs).await;
    let suite_results: Vec<SuiteResult> = suite_keys
        .iter()
        .zip(&answers)
        .map(|(&(s, v), a)| SuiteResult {
            id: s,
            name: suites::suite_name(s),
            version: suites::version_name(v),
            accepted: a.accepted().is_some_and(|h| h.suite == s),
            legacy: suites::is_legacy_suite(s),
            answer: a.describe(),
        })
        .collect();
    let accepted_suite_ids: Vec<u16> = suite_results
        .iter()
        .filter(|r| r.accepted)
        .map(|r| r.id)
        .collect();
    let tried_suite_ids: Vec<u16> = suite_results.iter().map(|r| r.id).collect();

    // 3. SNI: the same modern hello with the name, without, with a wrong name.
    let modern_versions: Vec<u16> = [version::TLS13, version::TLS12]
        .into_iter()
        .filter(|v| accepted_version_ids.is_empty() || accepted_version_ids.contains(v))
        .collect();
    let modern_versions = if modern_versions.is_empty() {
        accepted_version_ids.iter().rev().copied().collect()
    } else {
        modern_versions
    };
    let mut cases: Vec<(&str, Option<String>)> = Vec::new();
    if let Some(name) = sni {
        cases.push(("host name", Some(name.to_owned())));
    }
    cases.push(("no SNI", None));
    cases.push(("wrong name", Some(WRONG_NAME.to_owned())));
    let specs = cases
        .iter()
        .map(|(_, name)| {
            let suites_for = if modern_versions.iter().all(|v| *v < version::TLS12) {
                LEGACY_VERSION_SUITES.to_vec()
            } else {
                all_suites()
            };
            broad(&modern_versions, &suites_for, name.as_deref())
        })
        .collect();
    let sni_answers = hellos(ctx, specs).await;

    // 4. Chains per case, by full handshakes (and CONNECT after the odd ones).
    let mut chains = Vec::new();
    let mut sni_cases = Vec::new();
    for ((case, name), answer) in cases.iter().zip(&sni_answers) {
        let chain = chain_for(ctx, input, case, name.as_deref()).await;
        let after = if *case != "host name" && chain.1.is_some() {
            chain.1.clone()
        } else {
            None
        };
        sni_cases.push(SniCase {
            case: (*case).to_owned(),
            sent: name.clone(),
            answer: answer.describe(),
            accepted: answer.accepted().is_some(),
            certificate: chain.0.certificates.first().map(|c| c.subject.clone()),
            same_certificate: None,
            closed_after_connect: after.as_ref().is_some_and(|a| a.starts_with("closed")),
            after_connect: after,
        });
        chains.push(chain.0);
    }
    let reference = chains
        .first()
        .filter(|c| c.case == "host name")
        .and_then(|c| c.leaf_fingerprint.clone());
    for (case, chain) in sni_cases.iter_mut().zip(&chains) {
        if case.case != "host name" {
            if let (Some(r), Some(l)) = (&reference, &chain.leaf_fingerprint) {
                case.same_certificate = Some(r == l);
            }
        }
    }
    let sni_map = summarize_sni(sni_cases);

    // 5. ALPN "mqtt" with a real handshake (TLS 1.3 hides the answer from a raw hello).
    let alpn = alpn_check(ctx, input).await;

    // 6. max_fragment_length (visible in a TLS 1.2 ServerHello only).
    let max_fragment_length = if accepted_version_ids.contains(&version::TLS12) {
        let mut spec = broad(&[version::TLS12], TLS12_SUITES, sni);
        spec.max_fragment_length = Some(2);
        match ctx.hello(&spec, false).await {
            Answer::Hello(h) if h.max_fragment_length == Some(2) => MflResult {
                supported: Some(true),
                detail: "supported: the server echoed max_fragment_length 1024".into(),
            },
            Answer::Hello(_) => MflResult {
                supported: Some(false),
                detail: "not supported: the server ignored max_fragment_length (devices with small buffers need the full 16 KB record size)".into(),
            },
            other => MflResult {
                supported: None,
                detail: format!("unknown: a TLS 1.2 hello with max_fragment_length got {}", other.describe()),
            },
        }
    } else {
        MflResult {
            supported: None,
            detail: "unknown: the server does not speak TLS 1.2, and TLS 1.3 answers max_fragment_length in encrypted extensions".into(),
        }
    };

    TlsMap {
        accepted_versions: accepted_version_ids
            .iter()
            .map(|v| suites::version_name(*v))
            .collect(),
        accepted_suites: accepted_suite_ids
            .iter()
            .map(|s| suites::suite_name(*s))
            .collect(),
        versions,
        suites: suite_results,
        sni: sni_map,
        chains,
        alpn,
        max_fragment_length,
        accepted_version_ids,
        accepted_suite_ids,
        tried_suite_ids,
    }
}

/// A full handshake for one SNI case: the chain, and (for the odd cases) what CONNECT gets.
async fn chain_for(
    ctx: &Ctx,
    input: &MapInput<'_>,
    case: &str,
    sni: Option<&str>,
) -> (ChainReport, Option<String>) {
    let mut report = ChainReport {
        case: case.to_owned(),
        sni: sni.map(str::to_owned),
        handshake: String::new(),
        certificates: Vec::new(),
        verified: None,
        checked_name: input.verify_name.clone(),
        verify_error: None,
        root_needed: None,
        root_sent: false,
        root_in_ca_file: false,
        root_der: None,
        leaf_fingerprint: None,
    };
    let recorder = Recorder::accept_any();
    // rustls needs a name even when it sends none: the name it would check.
    let name_for_rustls = sni.map_or(input.verify_name.as_str(), |n| n);
    let (config, name) = match (
        tlsclient::config(recorder.clone(), sni.is_some(), &[], input.auth),
        tlsclient::server_name(name_for_rustls),
    ) {
        (Ok(c), Ok(n)) => (c, n),
        (Err(e), _) | (_, Err(e)) => {
            report.handshake = format!("not tried: {e}");
            return (report, None);
        }
    };
    let tcp = match ctx.connect().await {
        Ok(t) => t,
        Err(a) => {
            report.handshake = format!("not tried: {}", a.describe());
            return (report, None);
        }
    };
    let result = tlsclient::handshake(
        tcp,
        config,
        name,
        ctx.timeout
            .min(ctx.deadline.saturating_duration_since(Instant::now())),
    )
    .await;
    let chain: Vec<CertificateDer<'static>> = recorder.chain();
    fill_chain(&mut report, &chain, input);
    let after = match result {
        Err(e) => {
            report.handshake = format!("failed: {}", describe_handshake_error(&e));
            None
        }
        Ok(tls) => {
            let (_, conn) = tls.get_ref();
            report.handshake = format!(
                "{} {}",
                conn.protocol_version()
                    .map(|v| suites::version_name(u16::from(v)))
                    .unwrap_or_default(),
                conn.negotiated_cipher_suite()
                    .map(|s| suites::suite_name(u16::from(s.suite())))
                    .unwrap_or_default()
            );
            if case == "host name" {
                close_politely(tls).await;
                None
            } else {
                Some(connect_after_handshake(ctx, input, tls, case).await)
            }
        }
    };
    (report, after)
}

/// Fills in the chain facts, verification against `--ca`, and the root the device needs.
fn fill_chain(report: &mut ChainReport, chain: &[CertificateDer<'static>], input: &MapInput<'_>) {
    report.certificates = chain.iter().filter_map(|c| tlsclient::facts(c)).collect();
    report.leaf_fingerprint = report
        .certificates
        .first()
        .map(|c| c.fingerprint_sha256.clone());
    if chain.is_empty() {
        return;
    }
    let ders: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
    let ca_ders: &[Vec<u8>] = input.roots.map_or(&[], |(_, d)| d.as_slice());
    if let Some((der, dn)) = tlsclient::root_for(&ders, ca_ders) {
        report.root_sent = report.certificates.last().is_some_and(|c| c.self_signed);
        report.root_in_ca_file = der.as_ref().is_some_and(|d| ca_ders.iter().any(|c| c == d));
        report.root_needed = Some(dn);
        report.root_der = der;
    }
    if let Some((roots, _)) = input.roots {
        match tlsclient::server_name(&input.verify_name)
            .and_then(|n| tlsclient::verify_chain(roots, chain, &n))
        {
            Ok(()) => report.verified = Some(true),
            Err(e) => {
                report.verified = Some(false);
                report.verify_error = Some(e);
            }
        }
    }
}

/// CONNECT on an established side connection: "CONNACK 0x00 …", "closed after CONNECT", …
async fn connect_after_handshake(
    ctx: &Ctx,
    input: &MapInput<'_>,
    tls: tokio_rustls::client::TlsStream<TcpStream>,
    case: &str,
) -> String {
    let suffix = if case == "no SNI" {
        "-nosni"
    } else {
        "-wrongsni"
    };
    let io: mqtt::BoxIo = Box::new(tls);
    let conn = match &input.ws_url {
        Some(url) => match mqtt::ws_upgrade(io, url, ctx.timeout).await {
            Ok((c, _)) => c,
            Err(_) => return "WebSocket upgrade refused".to_owned(),
        },
        None => Conn::Stream(io),
    };
    let mut session = Session::new(conn, input.connect.version, ctx.timeout);
    if session.send(&input.connect.packet(suffix)).await.is_err() {
        return "closed after the handshake (CONNECT could not be sent)".to_owned();
    }
    let text = match session.recv().await {
        Ok(Packet::ConnAck(ConnAck {
            reason: ReasonCode::Success,
            ..
        })) => "CONNACK 0x00: accepted".to_owned(),
        Ok(Packet::ConnAck(ConnAck { reason, .. })) => {
            format!(
                "CONNACK refused: 0x{:02X} {}",
                reason.to_u8(),
                reason.name()
            )
        }
        Ok(p) => format!("{:?} instead of CONNACK", p.packet_type()),
        Err(mqtt::MqttError::Closed) => "closed after CONNECT, without CONNACK".to_owned(),
        Err(e) => format!("no CONNACK: {e}"),
    };
    let _ = session
        .send(&Packet::Disconnect(lantern_codec::Disconnect::default()))
        .await;
    session.close().await;
    text
}

async fn alpn_check(ctx: &Ctx, input: &MapInput<'_>) -> AlpnResult {
    let offered = "mqtt".to_owned();
    let recorder = Recorder::accept_any();
    let name = input
        .sni
        .clone()
        .unwrap_or_else(|| input.verify_name.clone());
    let (config, name) = match (
        tlsclient::config(recorder, input.sni.is_some(), &["mqtt"], input.auth),
        tlsclient::server_name(&name),
    ) {
        (Ok(c), Ok(n)) => (c, n),
        (Err(e), _) | (_, Err(e)) => {
            return AlpnResult {
                offered,
                negotiated: None,
                detail: format!("not tried: {e}"),
            }
        }
    };
    let tcp = match ctx.connect().await {
        Ok(t) => t,
        Err(a) => {
            return AlpnResult {
                offered,
                negotiated: None,
                detail: format!("not tried: {}", a.describe()),
            }
        }
    };
    match tlsclient::handshake(tcp, config, name, ctx.timeout).await {
        Ok(tls) => {
            let negotiated = tls
                .get_ref()
                .1
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            let detail = match &negotiated {
                Some(p) => format!("the server selected {p:?}"),
                None => "the server ignores ALPN: a handshake offering \"mqtt\" succeeds without a protocol selected (devices that send ALPN are fine; ones that require an answer are not)".into(),
            };
            close_politely(tls).await;
            AlpnResult {
                offered,
                negotiated,
                detail,
            }
        }
        Err(HandshakeError::Tls(rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol,
        ))) => AlpnResult {
            offered,
            negotiated: None,
            detail: "refused: the server answers ALPN \"mqtt\" with no_application_protocol (it expects another protocol name)".into(),
        },
        Err(e) => AlpnResult {
            offered,
            negotiated: None,
            detail: format!("unknown: the handshake failed ({})", describe_handshake_error(&e)),
        },
    }
}

/// Ends a mapping handshake with close_notify, so the broker does not log a rejected
/// certificate.
async fn close_politely(mut tls: tokio_rustls::client::TlsStream<TcpStream>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
}

/// A handshake error in words, naming the alert.
pub(crate) fn describe_handshake_error(e: &HandshakeError) -> String {
    match e {
        HandshakeError::Tls(rustls::Error::AlertReceived(a)) => {
            format!("the server sent the alert {}", alert_text(*a))
        }
        other => other.to_string(),
    }
}

/// rustls's alert, in RFC spelling.
pub(crate) fn alert_text(a: rustls::AlertDescription) -> String {
    wire::alert_name(u8::from(a))
}

/// The SNI summary sentence.
fn summarize_sni(cases: Vec<SniCase>) -> SniMap {
    let find = |c: &str| cases.iter().find(|x| x.case == c);
    let none = find("no SNI");
    let wrong = find("wrong name");
    let verb = |c: Option<&SniCase>| -> String {
        match c {
            None => "was not tried".into(),
            Some(c) if !c.accepted => format!("is refused ({})", c.answer),
            Some(c) if c.closed_after_connect => {
                "completes the TLS handshake but is closed after CONNECT".into()
            }
            Some(c) if c.same_certificate == Some(false) => format!(
                "is accepted with a different certificate ({})",
                c.certificate.as_deref().unwrap_or("unreadable")
            ),
            Some(c) if c.same_certificate == Some(true) => {
                "is accepted with the same certificate".into()
            }
            Some(c) => format!("is accepted ({})", c.answer),
        }
    };
    let required = none.is_some_and(|c| !c.accepted || c.closed_after_connect);
    let summary = format!(
        "{}: a hello without SNI {}; with the wrong name {WRONG_NAME} it {}.",
        if required {
            "SNI is required"
        } else {
            "SNI is not required"
        },
        verb(none),
        verb(wrong)
    );
    SniMap {
        required,
        summary,
        cases,
    }
}
