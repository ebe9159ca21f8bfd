//! The walk: DNS → TCP → TLS → WebSocket → CONNECT → SUBSCRIBE/PUBLISH → PINGREQ, then the TLS
//! map and the profile verdicts.

use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Instant as StdInstant;

use lantern_codec::{
    Ack, Packet, ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode, Subscribe,
    SubscribeProperties, SubscriptionOptions,
};
use lantern_diag::{Cause, Story};
use tokio::net::TcpStream;

use super::mqtt::{self, Conn, MqttError, Session, WsFailure};
use super::scan::{self, Budget, ConnectSpec, Ctx, MapInput, TlsMap};
use super::tlsclient::{self, ClientAuth, HandshakeError, Recorder};
use super::{
    verdict, Finding, Plan, PlanError, Report, SavedCa, Stage, StageResult, MAX_CONNECTIONS,
};

/// Runs the plan. Errors are usage or internal errors (exit code 2): an unreadable `--ca`,
/// `--cert` or `--key`, or a `--save-ca` file that cannot be written; everything the broker
/// does is in the [`Report`].
pub async fn run(plan: &Plan) -> Result<Report, PlanError> {
    let roots = match &plan.ca_pem {
        Some(pem) => Some(tlsclient::roots_from_pem(pem).map_err(PlanError)?),
        None => None,
    };
    let auth = match &plan.client_cert {
        Some((c, k)) => Some(ClientAuth::load(c, k).map_err(PlanError)?),
        None => None,
    };
    let budget = Budget::new(MAX_CONNECTIONS);
    let mut w = Walk {
        plan,
        report: Report {
            target: plan.target.to_string(),
            client_id: plan.client_id.clone(),
            mqtt: plan.mqtt.as_str().to_owned(),
            stages: Vec::new(),
            tls: None,
            profiles: Vec::new(),
            requested_profile: plan.profile.map(|p| p.name.to_owned()),
            saved_ca: None,
            notes: Vec::new(),
            connections: 0,
        },
    };
    let connect = ConnectSpec {
        version: plan.mqtt,
        client_id: plan.client_id.clone(),
        username: plan.username.clone(),
        password: plan.password.as_ref().map(|p| p.0.clone()),
    };
    let ws_url = plan.target.scheme.is_ws().then(|| ws_url(plan));

    // DNS.
    let t = StdInstant::now();
    let lookup = tokio::time::timeout(
        plan.timeout,
        tokio::net::lookup_host((plan.target.host.as_str(), plan.target.port)),
    )
    .await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(a)) => a.take(8).collect(),
        Ok(Err(e)) => {
            w.fail(Stage::Dns, t, "dns.failed", format!("The name {:?} does not resolve: {e}.", plan.target.host), vec!["check the host name in the URL; a device resolves it through its modem's or network's DNS, which may differ from this machine's".into()]);
            return Ok(w.finish(&budget));
        }
        Err(_) => {
            w.fail(
                Stage::Dns,
                t,
                "dns.timeout",
                format!(
                    "No DNS answer for {:?} within {:.1} s.",
                    plan.target.host,
                    plan.timeout.as_secs_f64()
                ),
                vec!["check the DNS resolver".into()],
            );
            return Ok(w.finish(&budget));
        }
    };
    if addrs.is_empty() {
        w.fail(
            Stage::Dns,
            t,
            "dns.failed",
            format!("The name {:?} resolves to no address.", plan.target.host),
            vec![],
        );
        return Ok(w.finish(&budget));
    }
    w.pass(
        Stage::Dns,
        t,
        addrs
            .iter()
            .map(|a| a.ip().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );

    // TCP.
    let t = StdInstant::now();
    let mut tcp = None;
    let mut last_err = String::new();
    for addr in &addrs {
        if !budget.take() {
            break;
        }
        match tokio::time::timeout(plan.timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some((s, *addr));
                break;
            }
            Ok(Err(e)) => last_err = format!("{addr}: {e}"),
            Err(_) => {
                last_err = format!(
                    "{addr}: no answer within {:.1} s",
                    plan.timeout.as_secs_f64()
                )
            }
        }
    }
    let Some((tcp, addr)) = tcp else {
        let cause = Cause::NetworkError { detail: last_err };
        let v = cause.explain(&Story::default());
        w.fail(Stage::Tcp, t, cause.id(), v.sentence, {
            let mut f = v.fixes;
            f.insert(
                0,
                format!(
                    "check that the broker listens on port {} and that no firewall drops it",
                    plan.target.port
                ),
            );
            f
        });
        return Ok(w.finish(&budget));
    };
    let _ = tcp.set_nodelay(true);
    w.pass(Stage::Tcp, t, format!("connected to {addr}"));

    // The TLS map is made after the walk (the TCP connection above must not wait idle), or
    // right away when the probe's own handshake fails and the map explains why.
    let ctx = Ctx {
        addr,
        timeout: plan.timeout,
        deadline: tokio::time::Instant::now(),
        budget: budget.clone(),
    };
    let input = MapInput {
        sni: plan.sni_name(),
        verify_name: plan.verify_name(),
        roots: roots.as_ref(),
        auth: auth.as_ref(),
        connect: connect.clone(),
        ws_url: ws_url.clone(),
    };
    let make_map = || async {
        if plan.target.scheme.is_tls() && plan.map_tls {
            let ctx = Ctx {
                deadline: tokio::time::Instant::now() + plan.timeout * 3,
                ..ctx.clone()
            };
            Some(scan::map(&ctx, &input).await)
        } else {
            None
        }
    };

    // TLS.
    let io: mqtt::BoxIo = if plan.target.scheme.is_tls() {
        let t = StdInstant::now();
        let recorder = match &roots {
            Some((store, _)) => Recorder::verifying(store).map_err(PlanError)?,
            None => {
                w.report.notes.push("the server certificate was not verified: pass --ca FILE with the CA the devices trust".into());
                Recorder::accept_any()
            }
        };
        let sni = plan.sni_name();
        let config = tlsclient::config(recorder.clone(), sni.is_some(), &[], auth.as_ref())
            .map_err(PlanError)?;
        let name = tlsclient::server_name(&plan.verify_name()).map_err(PlanError)?;
        match tlsclient::handshake(tcp, config, name, plan.timeout).await {
            Ok(tls) => {
                let (_, conn) = tls.get_ref();
                let detail = format!(
                    "{} {}{}",
                    conn.protocol_version()
                        .map(|v| lantern_diag::suites::version_name(u16::from(v)))
                        .unwrap_or_default(),
                    conn.negotiated_cipher_suite()
                        .map(|s| lantern_diag::suites::suite_name(u16::from(s.suite())))
                        .unwrap_or_default(),
                    match &sni {
                        Some(n) => format!(", SNI {n}"),
                        None => ", no SNI".to_owned(),
                    }
                );
                w.pass(Stage::Tls, t, detail);
                Box::new(tls)
            }
            Err(e) => {
                let map = make_map().await;
                let finding = tls_finding(plan, &e, map.as_ref(), &recorder);
                w.fail_with(Stage::Tls, t, scan::describe_handshake_error(&e), finding);
                w.after_walk(&ctx, map, roots.as_ref()).await?;
                return Ok(w.finish(&budget));
            }
        }
    } else {
        Box::new(tcp)
    };

    // WebSocket.
    let conn = match &ws_url {
        Some(url) => {
            let t = StdInstant::now();
            match mqtt::ws_upgrade(io, url, plan.timeout).await {
                Ok((conn, proto)) => {
                    w.pass(
                        Stage::WebSocket,
                        t,
                        format!(
                            "101 Switching Protocols, subprotocol {}",
                            proto.as_deref().unwrap_or("none")
                        ),
                    );
                    conn
                }
                Err(f) => {
                    let f_detail = match &f {
                        WsFailure::Status(code, _) => {
                            Some(format!("HTTP {code} instead of 101 Switching Protocols"))
                        }
                        WsFailure::NoSubprotocol => Some("no subprotocol chosen".to_owned()),
                        WsFailure::Other(_) => None,
                    };
                    let cause = match f {
                        WsFailure::Status(404, _) => Cause::WsWrongPath {
                            path: plan.target.path.clone(),
                            expected: "another path".into(),
                        },
                        WsFailure::Status(code, body) => Cause::WsBadRequest {
                            detail: format!(
                                "HTTP {code}{}",
                                if body.is_empty() {
                                    String::new()
                                } else {
                                    format!(" ({body})")
                                }
                            ),
                        },
                        WsFailure::NoSubprotocol => Cause::WsNoSubprotocol,
                        WsFailure::Other(detail) => Cause::WsBadRequest { detail },
                    };
                    let v = cause.explain(&Story::default());
                    let sentence = match &cause {
                        Cause::WsWrongPath { path, .. } => format!("The broker answered the WebSocket upgrade of path {path:?} with 404 Not Found: it serves MQTT over WebSocket on another path."),
                        Cause::WsNoSubprotocol => "The broker accepted the WebSocket upgrade without choosing the subprotocol \"mqtt\" [MQTT-6.0.0-3].".to_owned(),
                        _ => v.sentence,
                    };
                    let fixes = match &cause {
                        Cause::WsWrongPath { .. } => vec![
                            "use the broker's WebSocket path in the URL: /mqtt is the common default (Lantern: the listener's ws_path; HiveMQ, EMQX: /mqtt; mosquitto answers on any path)".into(),
                        ],
                        _ => v.fixes,
                    };
                    let detail = match &f_detail {
                        Some(d) => d.clone(),
                        None => sentence.clone(),
                    };
                    w.fail_with(
                        Stage::WebSocket,
                        t,
                        detail,
                        Finding {
                            stage: Stage::WebSocket,
                            cause: cause.id().to_owned(),
                            sentence,
                            fixes,
                        },
                    );
                    let map = make_map().await;
                    w.after_walk(&ctx, map, roots.as_ref()).await?;
                    return Ok(w.finish(&budget));
                }
            }
        }
        None => Conn::Stream(io),
    };

    // MQTT.
    let mut session = Session::new(conn, plan.mqtt, plan.timeout);
    if mqtt_stages(&mut w, &mut session, &connect).await {
        let _ = session
            .send(&Packet::Disconnect(lantern_codec::Disconnect::default()))
            .await;
    }
    session.close().await;

    let map = make_map().await;
    w.after_walk(&ctx, map, roots.as_ref()).await?;
    Ok(w.finish(&budget))
}

/// The report being built.
struct Walk<'a> {
    plan: &'a Plan,
    report: Report,
}

impl Walk<'_> {
    fn pass(&mut self, stage: Stage, t: StdInstant, detail: String) {
        self.report.stages.push(StageResult {
            stage,
            ok: true,
            detail,
            elapsed_ms: elapsed(t),
            finding: None,
        });
    }

    fn fail(
        &mut self,
        stage: Stage,
        t: StdInstant,
        cause: &str,
        sentence: String,
        fixes: Vec<String>,
    ) {
        let finding = Finding {
            stage,
            cause: cause.to_owned(),
            sentence: sentence.clone(),
            fixes,
        };
        self.fail_with(stage, t, sentence, finding);
    }

    fn fail_with(&mut self, stage: Stage, t: StdInstant, detail: String, finding: Finding) {
        self.report.stages.push(StageResult {
            stage,
            ok: false,
            detail,
            elapsed_ms: elapsed(t),
            finding: Some(finding),
        });
    }

    /// Profiles and `--save-ca`, once the walk is over.
    async fn after_walk(
        &mut self,
        ctx: &Ctx,
        map: Option<TlsMap>,
        roots: Option<&(rustls::RootCertStore, Vec<Vec<u8>>)>,
    ) -> Result<(), PlanError> {
        if let Some(map) = &map {
            self.report.profiles =
                verdict::profiles(ctx, self.plan, map, &self.report.stages).await;
        } else if self.plan.target.scheme.is_tls() && self.plan.map_tls {
            self.report.notes.push("the TLS map was not made".into());
        }
        if let Some(path) = &self.plan.save_ca {
            let root = map.as_ref().and_then(|m| {
                m.chains
                    .iter()
                    .find_map(|c| Some((c.root_der.clone()?, c.root_needed.clone()?)))
            });
            match root {
                Some((der, subject)) => {
                    let pem = tlsclient::pem(&der);
                    std::fs::write(path, pem.as_bytes())
                        .map_err(|e| PlanError(format!("--save-ca {}: {e}", path.display())))?;
                    self.report.saved_ca = Some(SavedCa {
                        path: path.display().to_string(),
                        bytes: pem.len(),
                        subject,
                    });
                }
                None => {
                    let needed = map
                        .as_ref()
                        .and_then(|m| m.chains.iter().find_map(|c| c.root_needed.clone()));
                    let why = match (needed, roots.is_some()) {
                        (Some(dn), true) => format!("--save-ca: the server does not send its root {dn:?} and the --ca file does not hold it"),
                        (Some(dn), false) => format!("--save-ca: the server does not send its root {dn:?}; pass the CA file that holds it with --ca"),
                        (None, _) => "--save-ca: no certificate chain was received".to_owned(),
                    };
                    self.report.notes.push(why);
                }
            }
        }
        self.report.tls = map;
        Ok(())
    }

    fn finish(mut self, budget: &Budget) -> Report {
        self.report.connections = budget.used();
        if budget.used() >= MAX_CONNECTIONS {
            self.report.notes.push(format!(
                "the connection budget ({MAX_CONNECTIONS}) was spent; some checks were skipped"
            ));
        }
        self.report
    }
}

fn elapsed(t: StdInstant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `ws://host:port/path` for the upgrade request (the scheme only names the request; TLS is
/// already underneath for wss).
fn ws_url(plan: &Plan) -> String {
    let t = &plan.target;
    let host = plan.sni_name().unwrap_or_else(|| t.host.clone());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let scheme = if t.scheme.is_tls() { "wss" } else { "ws" };
    format!("{scheme}://{host}:{}{}", t.port, t.path)
}

/// The finding for the probe's own failed handshake, in the broker's words where they fit.
fn tls_finding(
    plan: &Plan,
    e: &HandshakeError,
    map: Option<&TlsMap>,
    recorder: &Recorder,
) -> Finding {
    let served: Vec<String> = map
        .and_then(|m| m.chains.iter().find(|c| !c.certificates.is_empty()))
        .and_then(|c| c.certificates.first())
        .map(|c| {
            c.sans
                .iter()
                .filter_map(|s| s.strip_prefix("DNS ").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let accepted = |f: fn(&TlsMap) -> &Vec<String>| map.map(f).cloned().unwrap_or_default();
    let cause = match e {
        HandshakeError::Tls(rustls::Error::AlertReceived(a)) => match a {
            rustls::AlertDescription::UnrecognisedName => match plan.sni_name() {
                None => Cause::NoSni { served },
                Some(name) => Cause::SniUnknown { name, served },
            },
            rustls::AlertDescription::ProtocolVersion => Cause::NoSharedVersion {
                offered: vec!["TLSv1.3".into(), "TLSv1.2".into()],
                accepted: accepted(|m| &m.accepted_versions),
            },
            rustls::AlertDescription::HandshakeFailure
            | rustls::AlertDescription::InsufficientSecurity => Cause::NoSharedCipher {
                offered: rustls::crypto::ring::DEFAULT_CIPHER_SUITES
                    .iter()
                    .map(|s| lantern_diag::suites::suite_name(u16::from(s.suite())))
                    .collect(),
                accepted: accepted(|m| &m.accepted_suites),
            },
            other => Cause::HandshakeFailed {
                detail: format!("the broker sent the alert {}", scan::alert_text(*other)),
                by_client: false,
            },
        },
        HandshakeError::Tls(rustls::Error::InvalidCertificate(err)) => {
            let chain = recorder.chain();
            let facts: Vec<_> = chain.iter().filter_map(|c| tlsclient::facts(c)).collect();
            let ders: Vec<Vec<u8>> = chain.iter().map(|c| c.to_vec()).collect();
            let root = tlsclient::root_for(&ders, &[])
                .map(|(_, dn)| dn)
                .unwrap_or_default();
            let validity = facts
                .first()
                .map(|f| format!("from {} to {}", f.not_before, f.not_after))
                .unwrap_or_default();
            Cause::ClientRejectedServerCert {
                alert: format!(
                    "rejected the server certificate for {:?} ({err:?})",
                    plan.verify_name()
                ),
                root,
                validity,
                clock_suspect: false,
            }
        }
        other => {
            let detail = other.to_string();
            let sentence = format!("The TLS handshake failed: {detail}.");
            return Finding {
                stage: Stage::Tls,
                cause: "tls.handshake_failed".into(),
                sentence,
                fixes: vec![
                    "if the broker closed without an alert, it may refuse this client's SNI or suites silently: see the TLS map below".into(),
                    "compare with `openssl s_client -connect HOST:PORT -servername HOST`".into(),
                ],
            };
        }
    };
    let v = cause.explain(&Story::default());
    let sentence = match &cause {
        Cause::HandshakeFailed { detail, .. } => {
            format!("The broker aborted the TLS handshake: {detail}.")
        }
        Cause::ClientRejectedServerCert { .. } => {
            // The probe is the device here; say so.
            v.sentence
                .replacen("The device ", "The probe (with --ca) ", 1)
        }
        _ => v.sentence,
    };
    Finding {
        stage: Stage::Tls,
        cause: cause.id().to_owned(),
        sentence,
        fixes: v.fixes,
    }
}

/// CONNECT, SUBSCRIBE + PUBLISH round trip, PINGREQ. Returns whether the session is still
/// usable (to send DISCONNECT).
async fn mqtt_stages(w: &mut Walk<'_>, s: &mut Session, connect: &ConnectSpec) -> bool {
    let v5 = connect.version == ProtocolVersion::V5;

    // CONNECT / CONNACK.
    let t = StdInstant::now();
    if let Err(e) = s.send(&connect.packet("")).await {
        w.fail(
            Stage::Connect,
            t,
            "net.error",
            format!("CONNECT could not be sent: {e}."),
            vec![],
        );
        return false;
    }
    match s.recv().await {
        Ok(Packet::ConnAck(ack)) if ack.reason == ReasonCode::Success => {
            let mut detail = format!(
                "CONNACK 0x00 (session present {})",
                u8::from(ack.session_present)
            );
            if let Some(id) = &ack.properties.assigned_client_identifier {
                detail.push_str(&format!(", assigned client id {:?}", id.as_str()));
            }
            if let Some(ka) = ack.properties.server_keep_alive {
                detail.push_str(&format!(", server keep alive {ka} s"));
            }
            w.pass(Stage::Connect, t, detail);
        }
        Ok(Packet::ConnAck(ack)) => {
            let code = if v5 {
                ack.reason.to_u8()
            } else {
                ack.reason.to_v3_connack()
            };
            let reason_string = ack
                .properties
                .reason_string
                .as_ref()
                .map(|r| r.as_str().to_owned());
            let finding = connack_finding(w.plan, code, ack.reason, v5, reason_string);
            w.fail_with(
                Stage::Connect,
                t,
                format!("CONNACK 0x{code:02X} {}", ack.reason.name()),
                finding,
            );
            return false;
        }
        Ok(other) => {
            w.fail(
                Stage::Connect,
                t,
                "mqtt.protocol_violation",
                format!(
                    "The broker answered CONNECT with {:?} instead of CONNACK [MQTT-3.2.0-1].",
                    other.packet_type()
                ),
                vec!["this is a broker bug, or not an MQTT broker".into()],
            );
            return false;
        }
        Err(e) => {
            let (cause, sentence, fixes) = match &e {
                MqttError::Closed => (
                    "mqtt.closed_after_connect",
                    "The broker closed the connection after CONNECT without sending CONNACK.".to_owned(),
                    vec![
                        "brokers that route by SNI (AWS IoT, Azure, multi-tenant clouds) close here when the SNI is missing or names another endpoint: connect with the broker's host name as SNI".into(),
                        "the broker may also close on a protocol version it does not speak: try --mqtt 3.1.1 or --mqtt 5".into(),
                        "check the broker's log for this client id".into(),
                    ],
                ),
                MqttError::Timeout { .. } => (
                    "mqtt.no_connack",
                    format!("No CONNACK arrived within {:.1} s of CONNECT.", w.plan.timeout.as_secs_f64()),
                    vec!["check that this port speaks MQTT (and not, say, MQTT over WebSocket: use ws:// or wss://)".into()],
                ),
                MqttError::Malformed { detail, hex } => (
                    "mqtt.malformed",
                    format!("The broker's answer to CONNECT does not parse: {detail}; the bytes were {hex}."),
                    vec!["check that this port speaks MQTT".into()],
                ),
                MqttError::Io(d) => ("net.error", format!("The connection failed after CONNECT: {d}."), vec![]),
            };
            w.fail(Stage::Connect, t, cause, sentence, fixes);
            return false;
        }
    }

    // SUBSCRIBE to the probe topic.
    let t = StdInstant::now();
    let topic = format!("lantern-probe/{}/t", connect.client_id);
    let Ok(topic_str) = lantern_codec::MqttString::copy_from_str(&topic) else {
        w.fail(
            Stage::Subscribe,
            t,
            "probe.bad_topic",
            format!("The probe topic {topic:?} is not a valid MQTT string."),
            vec!["use a shorter --client-id".into()],
        );
        return true;
    };
    let sub = Packet::Subscribe(Subscribe {
        packet_id: NonZeroU16::MIN,
        filters: vec![(
            topic_str.clone(),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                ..SubscriptionOptions::default()
            },
        )],
        properties: SubscribeProperties::default(),
    });
    if let Err(e) = s.send(&sub).await {
        w.fail(
            Stage::Subscribe,
            t,
            "net.error",
            format!("SUBSCRIBE could not be sent: {e}."),
            vec![],
        );
        return false;
    }
    loop {
        match s.recv().await {
            Ok(Packet::SubAck(ack)) => {
                match ack.reasons.first() {
                    Some(r) if !r.is_error() => w.pass(
                        Stage::Subscribe,
                        t,
                        format!("SUBACK granted QoS {} on {topic}", r.to_u8()),
                    ),
                    Some(r) => {
                        let reason = ack
                            .properties
                            .reason_string
                            .as_ref()
                            .map(|r| format!(" ({})", r.as_str()))
                            .unwrap_or_default();
                        w.fail(Stage::Subscribe, t, "acl.subscribe_denied", format!("The broker refused the subscription to {topic:?} with SUBACK 0x{:02X} {}{reason}.", r.to_u8(), r.name()), vec![format!("allow this client to read lantern-probe/# in the broker's ACL, or probe with a user that may")]);
                        return true;
                    }
                    None => {
                        w.fail(
                            Stage::Subscribe,
                            t,
                            "mqtt.protocol_violation",
                            "The SUBACK carried no reason code [MQTT-3.9.3-1].".into(),
                            vec![],
                        );
                        return true;
                    }
                }
                break;
            }
            Ok(_) => continue,
            Err(e) => {
                w.fail(Stage::Subscribe, t, "mqtt.no_suback", format!("No SUBACK: {e}."), vec!["check the broker's log: it may close connections whose subscription its ACL denies".into()]);
                return false;
            }
        }
    }

    // PUBLISH QoS 1 and wait for PUBACK and the echo.
    let t = StdInstant::now();
    let payload = mqtt::probe_payload(&connect.client_id);
    let packet_id = NonZeroU16::new(2).unwrap_or(NonZeroU16::MIN);
    let publish = Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: topic_str,
        packet_id: Some(packet_id),
        properties: PublishProperties::default(),
        payload: payload.clone(),
    });
    if let Err(e) = s.send(&publish).await {
        w.fail(
            Stage::Publish,
            t,
            "net.error",
            format!("PUBLISH could not be sent: {e}."),
            vec![],
        );
        return false;
    }
    let (mut acked, mut echoed) = (false, false);
    while !(acked && echoed) {
        match s.recv().await {
            Ok(Packet::PubAck(a)) if a.packet_id == packet_id => {
                if a.reason.is_error() {
                    let reason = a
                        .properties
                        .reason_string
                        .as_ref()
                        .map(|r| format!(" ({})", r.as_str()))
                        .unwrap_or_default();
                    w.fail(Stage::Publish, t, "acl.publish_denied", format!("The broker refused the PUBLISH to {topic:?} with PUBACK 0x{:02X} {}{reason}.", a.reason.to_u8(), a.reason.name()), vec!["allow this client to write lantern-probe/# in the broker's ACL".into()]);
                    return true;
                }
                acked = true;
            }
            Ok(Packet::Publish(p)) if p.topic.as_str() == topic && p.payload == payload => {
                if let Some(id) = p.packet_id {
                    let ack = if p.qos == QoS::ExactlyOnce {
                        Packet::PubRec(Ack::new(id))
                    } else {
                        Packet::PubAck(Ack::new(id))
                    };
                    let _ = s.send(&ack).await;
                }
                echoed = true;
            }
            Ok(Packet::Publish(p)) => {
                if let (Some(id), QoS::AtLeastOnce) = (p.packet_id, p.qos) {
                    let _ = s.send(&Packet::PubAck(Ack::new(id))).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                let (cause, sentence) = match (acked, &e) {
                    (true, MqttError::Timeout { .. }) => ("mqtt.no_echo", format!("The broker acknowledged the PUBLISH (PUBACK) but did not deliver it back to the subscription on {topic:?} within {:.1} s.", w.plan.timeout.as_secs_f64())),
                    (false, MqttError::Closed) => ("acl.publish_denied", format!("The broker closed the connection after the PUBLISH to {topic:?} (MQTT 3.1.1 brokers close on an ACL refusal).")),
                    _ => ("mqtt.no_puback", format!("The PUBLISH round trip failed: {e}.")),
                };
                w.fail(
                    Stage::Publish,
                    t,
                    cause,
                    sentence,
                    vec![
                        "check the broker's ACL for lantern-probe/# and its log for this client id"
                            .into(),
                    ],
                );
                return false;
            }
        }
    }
    w.pass(
        Stage::Publish,
        t,
        format!("PUBLISH QoS 1 acknowledged and delivered back on {topic}"),
    );

    // PINGREQ.
    let t = StdInstant::now();
    if let Err(e) = s.send(&Packet::PingReq).await {
        w.fail(
            Stage::Ping,
            t,
            "net.error",
            format!("PINGREQ could not be sent: {e}."),
            vec![],
        );
        return false;
    }
    loop {
        match s.recv().await {
            Ok(Packet::PingResp) => {
                w.pass(Stage::Ping, t, "PINGRESP".into());
                return true;
            }
            Ok(_) => continue,
            Err(e) => {
                w.fail(Stage::Ping, t, "mqtt.no_pingresp", format!("No PINGRESP: {e}."), vec!["a broker must answer PINGREQ [MQTT-3.12.4-1]; a proxy in between may be swallowing it".into()]);
                return false;
            }
        }
    }
}

/// A refused CONNACK, in the broker's words (lantern-diag) where they fit.
fn connack_finding(
    plan: &Plan,
    code: u8,
    reason: ReasonCode,
    v5: bool,
    reason_string: Option<String>,
) -> Finding {
    let no_user = plan.username.is_none();
    let cause = match reason {
        ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized
            if no_user && plan.client_cert.is_none() =>
        {
            Cause::NoCredentials
        }
        ReasonCode::BadUserNameOrPassword | ReasonCode::NotAuthorized if !no_user => {
            Cause::BadPassword {
                username: plan.username.clone().unwrap_or_default(),
                password_sent: plan.password.is_some(),
            }
        }
        _ => Cause::Refused {
            code: reason.to_u8(),
            detail: reason_string
                .clone()
                .unwrap_or_else(|| reason.name().to_owned()),
        },
    };
    let v = cause.explain(&Story::default());
    let what = if v5 {
        format!("reason code 0x{code:02X} ({})", reason.name())
    } else {
        format!("return code {code} ({})", v3_connack_name(code))
    };
    let extra = reason_string
        .map(|r| format!(", reason string {r:?}"))
        .unwrap_or_default();
    let sentence = match &cause {
        Cause::NoCredentials => format!("The broker refused CONNECT with {what}{extra}: the probe sent no user name, and the broker does not allow anonymous clients."),
        Cause::BadPassword { username, password_sent: true } => format!("The broker refused CONNECT with {what}{extra}: the password for user {username:?} does not match, or the user is unknown."),
        Cause::BadPassword { username, password_sent: false } => format!("The broker refused CONNECT with {what}{extra}: user {username:?} sent no password."),
        _ => format!("The broker refused CONNECT with {what}{extra}."),
    };
    let mut fixes = v.fixes;
    if matches!(cause, Cause::NoCredentials) {
        fixes.insert(0, "probe with --user NAME --password-env VAR".into());
    }
    Finding {
        stage: Stage::Connect,
        cause: cause.id().to_owned(),
        sentence,
        fixes,
    }
}

/// MQTT 3.1.1 CONNACK return codes (§3.2.2.3).
fn v3_connack_name(code: u8) -> &'static str {
    match code {
        0 => "Connection Accepted",
        1 => "unacceptable protocol version",
        2 => "identifier rejected",
        3 => "Server unavailable",
        4 => "bad user name or password",
        5 => "not authorized",
        _ => "reserved",
    }
}
