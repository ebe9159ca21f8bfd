//! The task behind one connection: transport setup (TLS handshake with SNI routing, WebSocket
//! upgrade), then the byte pump between the socket and the sans-IO `Connection`.
//!
//! Plain TCP waits for readiness rather than holding read buffers: an idle connection keeps no
//! buffer at all. TLS and WebSocket streams go through the generic pump. Either way, reading
//! pauses while more than [`MAX_PENDING_OUTPUT`] bytes wait for a client that does not read, so
//! a slow or hostile client cannot make the broker buffer without bound.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use lantern_broker::auth::{AccessPolicy, CertIdentity};
use lantern_broker::{Broker, ConnEvent, Connection};
use lantern_pki::IdentitySource;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, info_span, Instrument, Span};

use lantern_diag::{Cause, EventKind, Initiator};

use crate::limits::{HandshakeSlot, Interrupted};
use crate::server::{ListenerCtx, Transport};
use crate::story::{cause_of, Recorder};
use crate::tls::{self, HelloError};
use crate::ws;

/// Story ids, unique within the process.
static NEXT_STORY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Size of each read; a packet larger than this simply takes several reads.
const READ_CHUNK: usize = 8 * 1024;

/// A connection that keeps its socket busy gives the other tasks (the accept loop, new
/// connections) a turn after reading this much. Tokio's cooperative budget alone did not: while
/// one publisher flooded QoS 0 at a subscriber that never read, a new client's CONNACK waited
/// until the flood stopped (2 s in `e2e_abuse`); with this yield it takes milliseconds.
const READ_YIELD_BYTES: usize = 64 * 1024;
/// Read size on TLS and WebSocket streams, whose read buffer a waiting connection holds: small,
/// and grown on demand (a larger packet just takes several reads).
const STREAM_READ_CHUNK: usize = 2 * 1024;
/// Stop reading while this much output waits for the client.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// How long a closing connection may take to flush its last packets.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Accepts one connection on `ctx`'s listener and serves it to the end.
pub(crate) async fn serve_connection(
    ctx: Arc<ListenerCtx>,
    tcp: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let span = info_span!(
        "conn",
        listener = %ctx.name,
        peer = %peer,
        tenant = tracing::field::Empty,
        client_id = tracing::field::Empty,
    );
    async move {
        let id = NEXT_STORY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rec = Recorder::new(
            id,
            &ctx.name,
            ctx.spec.transport.as_str(),
            peer,
            tcp.local_addr().ok(),
            ctx.sink.clone(),
        );
        // Limits first: a refused socket costs no handshake and no buffer.
        let _admitted = match ctx.admission.admit(peer.ip(), Instant::now()) {
            Ok(slot) => slot,
            Err(refusal) => return refuse(rec, &refusal),
        };
        if ctx.spec.transport == Transport::Tcp {
            let tenant = ctx.spec.default_tenant.clone();
            Span::current().record("tenant", &*tenant);
            rec.set_tenant(&tenant);
            let _counted = match ctx.admission.admit_tenant(&tenant) {
                Ok(slot) => slot,
                Err(refusal) => return refuse(rec, &refusal),
            };
            let Some(pump) = Pump::for_tenant(&ctx, &tenant, None, stop, rec) else {
                return;
            };
            return pump.run_tcp(tcp).await;
        }
        let slot = match ctx.handshakes.acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => return refuse(rec, &refusal),
        };
        let Some(rec) = await_first_byte(&ctx, &tcp, &slot, rec).await else {
            return;
        };
        match ctx.spec.transport {
            // The WebSocket and TLS paths are boxed: their handshake state is large, and a
            // plain TCP connection's task must not carry room for it while it idles.
            Transport::Ws => Box::pin(serve_ws(ctx, tcp, slot, stop, rec)).await,
            _ => Box::pin(serve_tls(ctx, tcp, slot, stop, rec)).await,
        }
    }
    .instrument(span)
    .await
}

/// Closes a socket refused at accept: one story, no handshake.
fn refuse(rec: Recorder, refusal: &crate::limits::Refusal) {
    rec.finish(Initiator::Broker, refusal.cause(), None);
}

/// Waits for the first byte of a TLS or WebSocket client, at most `first_byte_timeout`: a
/// client sends its ClientHello or upgrade request right after TCP connects, so a silent
/// socket gives its handshake slot back sooner than a stalled handshake would. `None` when
/// the story has ended (timed out or evicted).
async fn await_first_byte(
    ctx: &ListenerCtx,
    tcp: &TcpStream,
    slot: &HandshakeSlot,
    rec: Recorder,
) -> Option<Recorder> {
    let handshake = ctx.spec.handshake_timeout;
    let wait = ctx.spec.first_byte_timeout.min(handshake);
    // `peek`, not `readable`: readiness may be reported before any byte has arrived.
    let mut first = [0u8; 1];
    match slot
        .within(Instant::now() + wait, tcp.peek(&mut first))
        .await
    {
        // A byte, the end of the stream or an error: the next read says which.
        Ok(_) => Some(rec),
        Err(Interrupted::Evicted) => {
            rec.finish(Initiator::Broker, slot.evicted_cause(0), None);
            None
        }
        Err(Interrupted::TimedOut) if wait < handshake => {
            let cause = Cause::FirstByteTimeout {
                timeout_s: wait.as_secs_f64(),
            };
            rec.finish(Initiator::Client, cause, None);
            None
        }
        Err(Interrupted::TimedOut) => {
            let cause = Cause::HandshakeTimeout {
                timeout_s: handshake.as_secs_f64(),
                bytes: 0,
            };
            rec.finish(Initiator::Client, cause, None);
            None
        }
    }
}

async fn serve_ws(
    ctx: Arc<ListenerCtx>,
    tcp: TcpStream,
    slot: HandshakeSlot,
    stop: watch::Receiver<bool>,
    mut rec: Recorder,
) {
    let timeout = ctx.spec.handshake_timeout;
    let deadline = slot.started() + timeout;
    let tenant = ctx.spec.default_tenant.clone();
    Span::current().record("tenant", &*tenant);
    rec.set_tenant(&tenant);
    let _counted = match ctx.admission.admit_tenant(&tenant) {
        Ok(counted) => counted,
        Err(refusal) => return refuse(rec, &refusal),
    };
    // A native MQTT client on a WebSocket port starts with CONNECT (0x10), not "GET ".
    let mut first = [0u8; 1];
    if let Ok(Ok(1)) = slot.within(deadline, tcp.peek(&mut first)).await {
        if first[0] == 0x10 {
            let mut head = [0u8; 32];
            let n = tcp.peek(&mut head).await.unwrap_or(0);
            rec.first_bytes(&head[..n]);
            rec.finish(Initiator::Client, Cause::MqttOnWsPort, None);
            return;
        }
    }
    match slot.within(deadline, ws::accept(tcp, &ctx.ws)).await {
        Ok(Ok((stream, info))) => {
            rec.event(ws_event(&info, 101));
            drop(slot);
            let Some(mut pump) = Pump::for_tenant(&ctx, &tenant, None, stop, rec) else {
                return;
            };
            pump.connect_gate = Some(stream.connect_gate());
            pump.run_io(stream, BytesMut::new()).await;
        }
        Ok(Err(rejection)) => finish_ws_rejection(rec, &rejection),
        Err(Interrupted::Evicted) => {
            let bytes = rec.bytes_in();
            rec.finish(Initiator::Broker, slot.evicted_cause(bytes), None);
        }
        Err(Interrupted::TimedOut) => rec.finish(
            Initiator::Client,
            Cause::WsBadRequest {
                detail: format!("no complete WebSocket upgrade request within {timeout:?}"),
            },
            None,
        ),
    }
}

async fn serve_tls(
    ctx: Arc<ListenerCtx>,
    tcp: TcpStream,
    slot: HandshakeSlot,
    stop: watch::Receiver<bool>,
    mut rec: Recorder,
) {
    let timeout = ctx.spec.handshake_timeout;
    // The timeout counts from accept, the wait for the first byte included.
    let started = slot.started();
    let deadline = started + timeout;
    let Some(setup) = ctx.tls() else { return };

    let mut raw = Vec::new();
    let legacy = setup.is_legacy();
    let hello_read = slot
        .within(deadline, tls::read_client_hello(&tcp, &mut raw, legacy))
        .await;
    rec.add_bytes(raw.len() as u64, 0);
    rec.first_bytes(&raw);
    let accepted = match hello_read {
        Err(Interrupted::Evicted) => {
            let cause = slot.evicted_cause(raw.len() as u64);
            rec.finish(Initiator::Broker, cause, None);
            return;
        }
        Err(Interrupted::TimedOut) => {
            let cause = Cause::HandshakeTimeout {
                timeout_s: timeout.as_secs_f64(),
                bytes: raw.len() as u64,
            };
            rec.finish(Initiator::Client, cause, None);
            return;
        }
        Ok(Err(error)) => match (&error, tls::hello_info_from_raw(&raw)) {
            // A hello only OpenSSL will serve (TLS 1.0 without signature_algorithms).
            (HelloError::NotForRustls(_), Some(info)) => Err(info),
            _ => {
                let (by, cause) = classify_not_tls(&raw, &error);
                rec.finish(by, cause, None);
                return;
            }
        },
        Ok(Ok(accepted)) => Ok(accepted),
    };
    let hello = match &accepted {
        Ok(accepted) => tls::hello_info(accepted),
        Err(info) => info.clone(),
    };
    let summary = crate::hello::summarize(&raw, &hello);
    if !summary.fingerprint.is_empty() {
        rec.set_hello_fingerprint(summary.fingerprint.clone());
    }
    rec.event(EventKind::ClientHello(Box::new(summary.clone())));
    if setup.is_legacy() {
        let hello = LegacyHello {
            raw,
            sni: hello.sni,
            summary,
            started,
        };
        return serve_legacy(&ctx, tcp, hello, setup, slot, stop, rec).await;
    }
    let Ok(accepted) = accepted else {
        // Cannot happen: read_client_hello yields NotForRustls only for legacy listeners; were
        // it to, the story says so instead of the socket closing silently.
        let cause = Cause::HandshakeFailed {
            detail: "a ClientHello rustls cannot serve reached a rustls listener".into(),
            by_client: false,
        };
        rec.finish(Initiator::Broker, cause, None);
        return;
    };
    let (tenant, config) = match setup.choose(hello.sni.as_deref()) {
        Ok(chosen) => chosen,
        Err(refusal) => return refuse_sni(&tcp, &setup, refusal, rec).await,
    };
    Span::current().record("tenant", &*tenant);
    rec.set_tenant(&tenant);
    let _counted = match ctx.admission.admit_tenant(&tenant) {
        Ok(counted) => counted,
        Err(refusal) => return refuse(rec, &refusal),
    };

    let handshake = crate::clientcert::Recording::new(
        tokio_rustls::StartHandshake::from_parts(accepted, tcp).into_stream(config),
    );
    let stream = match slot.within(deadline, handshake).await {
        Ok((Ok(stream), _)) => stream,
        Ok((Err(error), seen)) => {
            let (by, mut cause) = classify_handshake(&error, &summary, &setup, &tenant);
            with_client_cert(&mut cause, seen, setup.trusted_client_cas(&tenant));
            rec.event(EventKind::TlsFailed {
                error: error.to_string(),
                by,
            });
            rec.finish(by, cause, None);
            return;
        }
        Err(Interrupted::Evicted) => {
            let cause = slot.evicted_cause(raw.len() as u64);
            rec.finish(Initiator::Broker, cause, None);
            return;
        }
        Err(Interrupted::TimedOut) => {
            let cause = Cause::HandshakeTimeout {
                timeout_s: timeout.as_secs_f64(),
                bytes: raw.len() as u64,
            };
            rec.finish(Initiator::Client, cause, None);
            return;
        }
    };
    drop(slot);

    let Some((_, _, identity_source)) = ctx.tenant(&tenant) else {
        return;
    };
    let cert = client_cert_identity(&stream, *identity_source);
    {
        let (_, conn) = stream.get_ref();
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
            other => format!("{other:?}"),
        };
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| tls::suite_name(s.suite()))
            .unwrap_or_default();
        let leaf = conn.peer_certificates().and_then(|c| c.first());
        rec.event(established(version, suite, leaf.map(|der| der.as_ref())));
    }
    let classify = |error: &io::Error| classify_handshake(error, &summary, &setup, &tenant);
    serve_established(&ctx, &tenant, stream, cert, stop, rec, classify).await;
}

/// The ClientHello as read by the shared code, handed to the OpenSSL path.
struct LegacyHello {
    /// The bytes read so far (the ClientHello records), replayed into OpenSSL.
    raw: Vec<u8>,
    sni: Option<String>,
    summary: lantern_diag::HelloSummary,
    /// When the handshake started (the timeout covers both halves).
    started: Instant,
}

/// The rest of a handshake on a `legacy` listener: the same SNI routing and refusals as rustls
/// listeners, then OpenSSL is handed the ClientHello bytes already read and the socket.
async fn serve_legacy(
    ctx: &ListenerCtx,
    tcp: TcpStream,
    hello: LegacyHello,
    setup: Arc<tls::TlsSetup>,
    slot: HandshakeSlot,
    stop: watch::Receiver<bool>,
    mut rec: Recorder,
) {
    let timeout = ctx.spec.handshake_timeout;
    let (tenant, acceptor) = match setup.choose_legacy(hello.sni.as_deref()) {
        Ok(chosen) => chosen,
        Err(refusal) => return refuse_sni(&tcp, &setup, refusal, rec).await,
    };
    Span::current().record("tenant", &*tenant);
    rec.set_tenant(&tenant);
    let _counted = match ctx.admission.admit_tenant(&tenant) {
        Ok(counted) => counted,
        Err(refusal) => return refuse(rec, &refusal),
    };

    let hello_bytes = hello.raw.len() as u64;
    let broker_fault = |rec: Recorder, e: &dyn std::fmt::Display| {
        let cause = Cause::HandshakeFailed {
            detail: format!("OpenSSL: {e}"),
            by_client: false,
        };
        rec.finish(Initiator::Broker, cause, None);
    };
    let ssl = match openssl::ssl::Ssl::new(acceptor.context()) {
        Ok(ssl) => ssl,
        Err(e) => return broker_fault(rec, &e),
    };
    let replay = ws::Prefixed::new(hello.raw.into(), tcp);
    let mut stream = match tokio_openssl::SslStream::new(ssl, replay) {
        Ok(stream) => stream,
        Err(e) => return broker_fault(rec, &e),
    };
    let deadline = hello.started + timeout;
    match slot
        .within(deadline, std::pin::Pin::new(&mut stream).accept())
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let (by, cause) =
                crate::legacy::classify(&error, stream.ssl(), &hello.summary, &setup, &tenant);
            rec.event(EventKind::TlsFailed {
                error: error.to_string(),
                by,
            });
            rec.finish(by, cause, None);
            return;
        }
        Err(Interrupted::Evicted) => {
            rec.finish(Initiator::Broker, slot.evicted_cause(hello_bytes), None);
            return;
        }
        Err(Interrupted::TimedOut) => {
            let cause = Cause::HandshakeTimeout {
                timeout_s: timeout.as_secs_f64(),
                bytes: hello_bytes,
            };
            rec.finish(Initiator::Client, cause, None);
            return;
        }
    }
    drop(slot);

    let Some((_, _, identity_source)) = ctx.tenant(&tenant) else {
        return;
    };
    let ssl = stream.ssl();
    let leaf = ssl.peer_certificate().and_then(|c| c.to_der().ok());
    let cert = leaf
        .as_deref()
        .and_then(|der| cert_identity_of(der, *identity_source));
    let negotiated = crate::legacy::version_of(ssl.version_str());
    let version = negotiated
        .map_or(ssl.version_str(), |v| v.as_str())
        .to_owned();
    let suite = ssl
        .current_cipher()
        .map(|c| {
            c.standard_name()
                .or_else(|| crate::legacy::iana_name(c.name()))
                .unwrap_or(c.name())
                .to_owned()
        })
        .unwrap_or_default();
    let weak = crate::legacy::weaknesses(&suite, negotiated);
    rec.event(established(version, suite, leaf.as_deref()));
    if !weak.is_empty() {
        rec.event(EventKind::TlsWeak {
            why: weak.join("; "),
        });
    }
    let classify = |error: &io::Error| {
        (
            Initiator::Network,
            Cause::NetworkError {
                detail: error.to_string(),
            },
        )
    };
    serve_established(ctx, &tenant, stream, cert, stop, rec, classify).await;
}

/// Answers a ClientHello whose SNI no tenant takes with `unrecognized_name`, and ends the story.
async fn refuse_sni(
    tcp: &TcpStream,
    setup: &tls::TlsSetup,
    refusal: tls::SniRefusal,
    rec: Recorder,
) {
    tls::send_unrecognized_name(tcp).await;
    let cause = match refusal {
        tls::SniRefusal::Missing => Cause::NoSni {
            served: setup.served_names(),
        },
        tls::SniRefusal::Unknown { name, served } => Cause::SniUnknown { name, served },
    };
    rec.finish(Initiator::Broker, cause, None);
}

/// The story event of a completed handshake.
fn established(version: String, suite: String, client_leaf: Option<&[u8]>) -> EventKind {
    let leaf = client_leaf
        .and_then(|der| lantern_pki::describe_der(der, std::time::SystemTime::now()).ok());
    EventKind::TlsEstablished {
        version,
        suite,
        client_cert_subject: leaf.as_ref().map(|c| c.subject.clone()),
        client_cert_issuer: leaf.as_ref().map(|c| c.issuer.clone()),
        client_cert_validity: leaf
            .as_ref()
            .map(|c| format!("{} .. {}", c.not_before, c.not_after)),
    }
}

/// After any TLS handshake (rustls or OpenSSL): the first decrypted bytes tell MQTT from a
/// WebSocket upgrade on the same port, then the pump runs. `classify` names a read error.
async fn serve_established<S>(
    ctx: &ListenerCtx,
    tenant: &str,
    mut stream: S,
    cert: Option<CertIdentity>,
    stop: watch::Receiver<bool>,
    mut rec: Recorder,
    classify: impl Fn(&io::Error) -> (Initiator, Cause),
) where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let mut first = BytesMut::with_capacity(STREAM_READ_CHUNK);
    let connect_timeout = ctx
        .tenant(tenant)
        .map_or(Duration::from_secs(10), |(broker, _, _)| {
            broker.config().connect_timeout
        });
    match tokio::time::timeout(connect_timeout, stream.read_buf(&mut first)).await {
        Err(_) => {
            let cause = Cause::ConnectTimeout {
                waited_s: connect_timeout.as_secs_f64(),
                bytes: 0,
            };
            rec.finish(Initiator::Client, cause, None);
            return;
        }
        Ok(Ok(0)) => {
            rec.finish(Initiator::Client, Cause::ClosedAfterHandshake, None);
            return;
        }
        Ok(Err(error)) => {
            let (by, cause) = classify(&error);
            rec.event(EventKind::TlsFailed {
                error: error.to_string(),
                by,
            });
            rec.finish(by, cause, None);
            return;
        }
        Ok(Ok(n)) => rec.add_bytes(n as u64, 0),
    }
    let is_http = first.starts_with(b"GET ");
    if ctx.spec.transport == Transport::Wss || is_http {
        let upgrade = tokio::time::timeout(
            ctx.spec.handshake_timeout,
            ws::accept_with_prefix(stream, first.freeze(), &ctx.ws),
        )
        .await;
        match upgrade {
            Ok(Ok((ws, info))) => {
                rec.event(ws_event(&info, 101));
                let Some(mut pump) = Pump::for_tenant(ctx, tenant, cert, stop, rec) else {
                    return;
                };
                pump.connect_gate = Some(ws.connect_gate());
                pump.run_io(ws, BytesMut::new()).await;
            }
            Ok(Err(rejection)) => finish_ws_rejection(rec, &rejection),
            Err(_) => rec.finish(
                Initiator::Client,
                Cause::WsBadRequest {
                    detail: "no complete WebSocket upgrade request".into(),
                },
                None,
            ),
        }
    } else {
        let Some(pump) = Pump::for_tenant(ctx, tenant, cert, stop, rec) else {
            return;
        };
        pump.run_io(stream, first).await;
    }
}

/// Fills a client-certificate cause with what the refused certificate said about itself.
fn with_client_cert(
    cause: &mut Cause,
    seen: Option<crate::clientcert::SeenCert>,
    trusted_cas: Vec<String>,
) {
    let Some(seen) = seen else { return };
    match cause {
        Cause::ClientCertUntrusted { issuer, trusted } => {
            *issuer = seen.issuer;
            *trusted = trusted_cas;
        }
        Cause::ClientCertExpired { subject, not_after } => {
            *subject = seen.subject;
            *not_after = seen.not_after;
        }
        Cause::ClientCertNotYetValid {
            subject,
            not_before,
        } => {
            *subject = seen.subject;
            *not_before = seen.not_before;
        }
        Cause::ClientCertRevoked { subject } => *subject = seen.subject,
        _ => {}
    }
}

/// A request path without its query: presigned URLs carry credentials there. An absolute
/// target (`ws://user:pass@host/mqtt`) has its userinfo redacted too.
fn without_query(path: &str) -> String {
    let path = match path.split_once('?') {
        Some((path, _)) => format!("{path}?…"),
        None => path.to_owned(),
    };
    lantern_diag::redact(&path).into_owned()
}

fn ws_event(info: &ws::UpgradeInfo, status: u16) -> EventKind {
    EventKind::WsUpgrade {
        path: without_query(&info.path),
        subprotocols: info.subprotocols_offered.clone(),
        status,
    }
}

fn finish_ws_rejection(mut rec: Recorder, rejection: &ws::WsRejection) {
    use ws::WsRejection as R;
    if let Some(status) = rejection.status() {
        rec.event(EventKind::WsUpgrade {
            path: match rejection {
                R::WrongPath { path, .. } | R::NotAnUpgrade { path, .. } => without_query(path),
                _ => String::new(),
            },
            subprotocols: match rejection {
                R::UnknownSubprotocol { offered } => offered.clone(),
                _ => Vec::new(),
            },
            status,
        });
    }
    let cause = match rejection {
        R::WrongPath { path, expected } => Cause::WsWrongPath {
            path: without_query(path),
            expected: expected.clone(),
        },
        R::NoSubprotocol => Cause::WsNoSubprotocol,
        R::UnknownSubprotocol { offered } => Cause::WsUnknownSubprotocol {
            offered: offered.clone(),
        },
        R::NotAnUpgrade { method, path, .. } => Cause::WsNotAnUpgrade {
            request: format!("{method} {}", without_query(path)),
        },
        R::BadRequest { detail } if detail.contains("not HTTP") || detail.contains("MQTT") => {
            Cause::MqttOnWsPort
        }
        R::Io(e) => Cause::NetworkError {
            detail: e.to_string(),
        },
        other => Cause::WsBadRequest {
            detail: other.to_string(),
        },
    };
    rec.finish(Initiator::Client, cause, None);
}

/// What the bytes on a TLS port were, when they were not a ClientHello.
fn classify_not_tls(raw: &[u8], error: &HelloError) -> (Initiator, Cause) {
    if raw.first() == Some(&0x10) {
        return (Initiator::Client, Cause::PlainMqttOnTlsPort);
    }
    if raw.starts_with(b"GET ") || raw.starts_with(b"POST ") || raw.starts_with(b"HEAD ") {
        return (Initiator::Client, Cause::PlainHttpOnTlsPort);
    }
    match error {
        HelloError::Closed { bytes: 0 } => (Initiator::Client, Cause::ClosedBeforeData),
        HelloError::Rustls(e) if format!("{e:?}").contains("ServerName") => (
            Initiator::Client,
            Cause::SniMalformed {
                detail: e.to_string(),
            },
        ),
        HelloError::Io(e) => (
            Initiator::Network,
            Cause::NetworkError {
                detail: e.to_string(),
            },
        ),
        _ => {
            let printable = raw
                .iter()
                .take(64)
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace());
            if printable && !raw.is_empty() {
                let text = String::from_utf8_lossy(&raw[..raw.len().min(120)]);
                let text = lantern_diag::redact(text.trim_end()).into_owned();
                (Initiator::Client, Cause::TextInsteadOfPacket { text })
            } else {
                (
                    Initiator::Client,
                    Cause::HandshakeFailed {
                        detail: error.to_string(),
                        by_client: true,
                    },
                )
            }
        }
    }
}

/// Names a failed handshake from rustls's error, with the values that explain it.
fn classify_handshake(
    error: &io::Error,
    hello: &lantern_diag::HelloSummary,
    setup: &tls::TlsSetup,
    tenant: &str,
) -> (Initiator, Cause) {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E, PeerIncompatible as P};
    let Some(tls_error) = error.get_ref().and_then(|e| e.downcast_ref::<E>()) else {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            // A close in the middle of the handshake, after the server's certificate: the
            // classic sign of a device that does not trust it and says nothing.
            let facts = setup.cert_facts(tenant).cloned().unwrap_or_default();
            return (
                Initiator::Client,
                Cause::ClientRejectedServerCert {
                    alert: "closed the connection right after the server's certificate, without an alert".into(),
                    root: facts.root,
                    validity: facts.validity,
                    clock_suspect: false,
                },
            );
        }
        return (
            Initiator::Network,
            Cause::NetworkError {
                detail: error.to_string(),
            },
        );
    };
    let facts = || setup.cert_facts(tenant).cloned().unwrap_or_default();
    let rejected = |alert: &str, clock: bool| {
        let f = facts();
        Cause::ClientRejectedServerCert {
            alert: alert.to_owned(),
            root: f.root,
            validity: f.validity,
            clock_suspect: clock && f.valid_now,
        }
    };
    let cause = match tls_error {
        E::AlertReceived(A::UnknownCA) => rejected("alert unknown_ca", false),
        E::AlertReceived(A::BadCertificate) => rejected("alert bad_certificate", false),
        E::AlertReceived(A::CertificateUnknown) => rejected("alert certificate_unknown", false),
        E::AlertReceived(A::CertificateExpired) => rejected("alert certificate_expired", true),
        // A client offering only static-RSA suites offers no ECDHE group either: rustls stops
        // at the key exchange, but the missing suite is what the device must change.
        E::PeerIncompatible(P::NoCipherSuitesInCommon | P::NoKxGroupsInCommon) => {
            let accepted = setup.accepted_suites();
            if hello.cipher_suites.iter().any(|s| accepted.contains(s)) {
                // A suite in common, yet no agreement: the client cannot verify a signature
                // made with this certificate's key (an RSA-only device, an ECDSA certificate).
                Cause::NoSharedSignature {
                    offered: hello.signature_schemes.clone(),
                    server_key: facts().key,
                }
            } else {
                Cause::NoSharedCipher {
                    offered: hello.cipher_suites.clone(),
                    accepted: accepted.to_vec(),
                }
            }
        }
        E::PeerIncompatible(
            P::Tls12NotOfferedOrEnabled
            | P::Tls12NotOffered
            | P::SupportedVersionsExtensionRequired,
        ) => Cause::NoSharedVersion {
            offered: hello.versions.clone(),
            accepted: setup.accepted_versions().to_vec(),
        },
        E::PeerIncompatible(P::NoSignatureSchemesInCommon) => Cause::NoSharedSignature {
            offered: hello.signature_schemes.clone(),
            server_key: facts().key,
        },
        E::NoCertificatesPresented => Cause::ClientCertMissing,
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => Cause::ClientCertExpired {
            subject: String::new(),
            not_after: match tls_error {
                E::InvalidCertificate(C::ExpiredContext { not_after, .. }) => {
                    format!("{not_after:?}")
                }
                _ => String::new(),
            },
        },
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            Cause::ClientCertNotYetValid {
                subject: String::new(),
                not_before: String::new(),
            }
        }
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => Cause::ClientCertUntrusted {
            issuer: String::new(),
            trusted: Vec::new(),
        },
        E::InvalidCertificate(C::Revoked) => Cause::ClientCertRevoked {
            subject: String::new(),
        },
        E::InvalidCertificate(other) => Cause::ClientCertInvalid {
            detail: format!("{other:?}"),
        },
        E::PeerMisbehaved(rustls::PeerMisbehaved::TooManyRenegotiationRequests) => {
            Cause::RenegotiationRefused
        }
        E::AlertReceived(alert) => Cause::HandshakeFailed {
            detail: format!("the client sent the alert {alert:?}"),
            by_client: true,
        },
        other => Cause::HandshakeFailed {
            detail: other.to_string(),
            by_client: false,
        },
    };
    let by = match tls_error {
        E::AlertReceived(_) => Initiator::Client,
        _ => Initiator::Broker,
    };
    (by, cause)
}

fn client_cert_identity<S>(
    stream: &tokio_rustls::server::TlsStream<S>,
    source: IdentitySource,
) -> Option<CertIdentity> {
    let (_, conn) = stream.get_ref();
    let der = conn.peer_certificates()?.first()?;
    cert_identity_of(der.as_ref(), source)
}

/// The identity a verified client certificate (DER) maps to, and its subject.
fn cert_identity_of(der: &[u8], source: IdentitySource) -> Option<CertIdentity> {
    let identity = lantern_pki::identity_of(der, source).ok().flatten()?;
    let subject = lantern_pki::identity_of(der, IdentitySource::Dn)
        .ok()
        .flatten()
        .unwrap_or_default();
    Some(CertIdentity {
        identity: identity.into(),
        subject: subject.into(),
    })
}

/// Wakes the connection task when the broker queued a message for its session.
struct TaskWaker(Notify);

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.0.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.notify_one();
    }
}

/// Moves bytes between a socket and one `Connection`.
struct Pump {
    conn: Connection,
    rec: Option<Recorder>,
    /// Why the connection closed, once it did.
    closed: Option<lantern_broker::CloseReason>,
    /// Whether CONNECT was accepted (the span then carries the client id).
    connected: bool,
    wake: Arc<TaskWaker>,
    stop: watch::Receiver<bool>,
    /// A WebSocket stream's pre-CONNECT read limit, lifted when CONNECT is accepted.
    connect_gate: Option<ws::ConnectGate>,
}

impl Pump {
    fn for_tenant(
        ctx: &ListenerCtx,
        tenant: &str,
        cert: Option<CertIdentity>,
        stop: watch::Receiver<bool>,
        rec: Recorder,
    ) -> Option<Self> {
        let (broker, access, _) = ctx.tenant(tenant)?;
        let mut pump = Self::new(broker.clone(), access.clone(), cert, stop);
        pump.rec = Some(rec);
        Some(pump)
    }

    fn new(
        broker: Arc<Broker>,
        access: Arc<AccessPolicy>,
        cert: Option<CertIdentity>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let wake = Arc::new(TaskWaker(Notify::new()));
        let conn = Connection::with_access(
            broker,
            access,
            cert,
            Waker::from(wake.clone()),
            Instant::now(),
        );
        Self {
            conn,
            wake,
            stop,
            connected: false,
            rec: None,
            closed: None,
            connect_gate: None,
        }
    }

    /// Plain TCP: readiness-based, no buffer held while idle.
    async fn run_tcp(mut self, stream: TcpStream) {
        let mut rbuf = BytesMut::new();
        let mut read_since_yield = 0usize;
        let mut wbuf = BytesMut::new();
        loop {
            if !self.prepare(&mut wbuf) {
                break;
            }
            let deadline = self.conn.poll_timeout();
            // Back-pressure both ways: a client that does not read its output, and a publisher
            // whose subscribers' queues are full (issue 9: held back, never dropped). Writes,
            // timers and wakes go on; the wake says when reading may resume.
            let can_read = wbuf.len() < MAX_PENDING_OUTPUT && self.conn.wants_read();
            tokio::select! {
                biased;
                _ = self.stop.changed() => self.conn.shutdown(Instant::now()),
                ready = stream.writable(), if !wbuf.is_empty() => {
                    let before = wbuf.len();
                    if let Err(e) = ready.and_then(|()| try_write(&stream, &mut wbuf)) {
                        self.conn.handle_network_error(Instant::now(), e.to_string());
                    }
                    self.count(0, before - wbuf.len());
                }
                ready = stream.readable(), if can_read => {
                    match ready.and_then(|()| try_read(&stream, &mut rbuf)) {
                        Ok(Some(0)) => self.conn.handle_peer_closed(Instant::now()),
                        Ok(Some(n)) => {
                            self.first_read(&rbuf);
                            self.count(n, 0);
                            self.conn.handle_bytes(Instant::now(), &mut rbuf);
                            read_since_yield += n;
                        }
                        Ok(None) => {}
                        Err(e) => self.conn.handle_network_error(Instant::now(), e.to_string()),
                    }
                    if rbuf.is_empty() {
                        // Idle connections hold no read buffer.
                        rbuf = BytesMut::new();
                    }
                    if read_since_yield >= READ_YIELD_BYTES {
                        read_since_yield = 0;
                        tokio::task::yield_now().await;
                    }
                }
                () = self.wake.0.notified() => {}
                () = sleep_until(deadline) => self.conn.handle_timeout(Instant::now()),
            }
        }
        // Closed: flush what is left (CONNACK refusal, DISCONNECT), then close the socket.
        self.conn.poll_transmit(Instant::now(), &mut wbuf);
        let flush = async {
            while !wbuf.is_empty() {
                if stream.writable().await.is_err() || try_write(&stream, &mut wbuf).is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_FLUSH, flush).await;
        debug!("socket closed");
        self.finish_story();
    }

    /// Any byte stream (TLS, WebSocket): `first` holds bytes already read from it.
    async fn run_io<S>(mut self, stream: S, first: BytesMut)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin,
    {
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut rbuf = first;
        if !rbuf.is_empty() {
            self.conn.handle_bytes(Instant::now(), &mut rbuf);
        }
        let mut wbuf = BytesMut::new();
        let mut unflushed = false;
        let mut read_since_yield = 0usize;
        loop {
            if !self.prepare(&mut wbuf) {
                break;
            }
            let deadline = self.conn.poll_timeout();
            // Back-pressure both ways: a client that does not read its output, and a publisher
            // whose subscribers' queues are full (issue 9: held back, never dropped). Writes,
            // timers and wakes go on; the wake says when reading may resume.
            let can_read = wbuf.len() < MAX_PENDING_OUTPUT && self.conn.wants_read();
            if rbuf.is_empty() && rbuf.capacity() > 2 * STREAM_READ_CHUNK {
                // A burst is over: give the large buffer back while the connection waits.
                rbuf = BytesMut::new();
            }
            if rbuf.capacity() - rbuf.len() < STREAM_READ_CHUNK / 2 {
                rbuf.reserve(STREAM_READ_CHUNK);
            }
            tokio::select! {
                biased;
                _ = self.stop.changed() => self.conn.shutdown(Instant::now()),
                // One branch writes, or flushes once everything is written (TLS and WebSocket
                // buffer inside the stream until flushed).
                written = write_or_flush(&mut writer, &wbuf), if !wbuf.is_empty() || unflushed => {
                    match written {
                        Ok(Some(0)) => {
                            self.conn.handle_network_error(Instant::now(), "write returned 0".into())
                        }
                        Ok(Some(n)) => {
                            wbuf.advance(n);
                            self.count(0, n);
                            unflushed = true;
                        }
                        Ok(None) => unflushed = false,
                        Err(e) => self.conn.handle_network_error(Instant::now(), e.to_string()),
                    }
                }
                read = reader.read_buf(&mut rbuf), if can_read => match read {
                    Ok(0) => self.conn.handle_peer_closed(Instant::now()),
                    Ok(n) => {
                        self.count(n, 0);
                        self.conn.handle_bytes(Instant::now(), &mut rbuf);
                        read_since_yield += n;
                        if read_since_yield >= READ_YIELD_BYTES {
                            read_since_yield = 0;
                            tokio::task::yield_now().await;
                        }
                    }
                    Err(e) => self.conn.handle_network_error(Instant::now(), e.to_string()),
                },
                () = self.wake.0.notified() => {}
                () = sleep_until(deadline) => self.conn.handle_timeout(Instant::now()),
            }
        }
        self.conn.poll_transmit(Instant::now(), &mut wbuf);
        let flush = async {
            let _ = writer.write_all(&wbuf).await;
            let _ = writer.flush().await;
            let _ = writer.shutdown().await;
        };
        let _ = tokio::time::timeout(CLOSE_FLUSH, flush).await;
        debug!("stream closed");
        self.finish_story();
    }

    fn count(&mut self, bytes_in: usize, bytes_out: usize) {
        if let Some(rec) = &mut self.rec {
            rec.add_bytes(bytes_in as u64, bytes_out as u64);
        }
    }

    /// Records the first bytes of a plain TCP connection.
    fn first_read(&mut self, buf: &[u8]) {
        if self.conn.stats().packets_in == 0 {
            if let Some(rec) = &mut self.rec {
                rec.first_bytes(buf);
            }
        }
    }

    fn finish_story(&mut self) {
        let Some(rec) = self.rec.take() else { return };
        let (by, cause) = match &self.closed {
            // A connect-and-close with not a byte: a port check, not a client gone astray.
            Some(lantern_broker::CloseReason::PeerClosed) if rec.bytes_in() == 0 => {
                (Initiator::Client, Cause::ClosedBeforeData)
            }
            Some(reason) => cause_of(reason, self.conn.offending_bytes()),
            None => (
                Initiator::Network,
                Cause::NetworkError {
                    detail: "closed".into(),
                },
            ),
        };
        rec.finish(by, cause, Some(self.conn.stats()));
    }

    /// Collects output while less than [`MAX_PENDING_OUTPUT`] waits, and logs events; false
    /// once closed. Collecting even while earlier output waits moves the connection's own
    /// replies (PUBACK, PINGRESP) into `wbuf`, where they count against the limit and pause
    /// reading: collected only into an empty `wbuf`, they piled up inside the connection
    /// without bound while a client sent QoS 1 messages and never read (issue 9).
    fn prepare(&mut self, wbuf: &mut BytesMut) -> bool {
        if wbuf.len() < MAX_PENDING_OUTPUT {
            self.conn.poll_transmit(Instant::now(), wbuf);
            if wbuf.capacity() > 4 * MAX_PENDING_OUTPUT && wbuf.is_empty() {
                *wbuf = BytesMut::new();
            }
        }
        self.log_events();
        !self.conn.is_closed()
    }

    fn log_events(&mut self) {
        while let Some(event) = self.conn.poll_event() {
            if let Some(rec) = &mut self.rec {
                rec.conn_event(&event);
            }
            match event {
                // The client id as sent goes on the span at once, so that a refusal's line
                // carries it too; an assigned id is recorded at Connected instead.
                ConnEvent::ConnectReceived { ref client_id, .. } if !client_id.is_empty() => {
                    Span::current().record("client_id", &**client_id);
                    self.connected = true;
                }
                ConnEvent::Connected {
                    client_id,
                    version,
                    clean_start,
                    keep_alive,
                    session_present,
                    username,
                } => {
                    if !self.connected {
                        Span::current().record("client_id", &*client_id);
                        self.connected = true;
                    }
                    if let Some(gate) = self.connect_gate.take() {
                        gate.open();
                    }
                    info!(
                        version = version.as_str(),
                        clean_start,
                        keep_alive,
                        session_present,
                        username = username.as_deref().unwrap_or(""),
                        "connected"
                    );
                }
                ConnEvent::Denied {
                    access,
                    topic,
                    rule,
                } => {
                    info!(access = access.as_str(), topic = %topic, rule = %rule, "denied");
                }
                ConnEvent::Closed { client_id, reason } => {
                    // Refused at CONNECT: the span does not know the client id yet.
                    if let (Some(id), false) = (&client_id, self.connected) {
                        Span::current().record("client_id", &**id);
                    }
                    self.closed = Some(reason);
                }
                _ => {}
            }
        }
    }
}

/// Writes some of `buf`, or flushes when it is empty: `Some(n)` bytes written, `None` flushed.
async fn write_or_flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    buf: &[u8],
) -> io::Result<Option<usize>> {
    if buf.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write(buf).await.map(Some)
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Reads what is available; `Ok(None)` when the readiness was spurious.
fn try_read(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<Option<usize>> {
    buf.reserve(READ_CHUNK);
    match stream.try_read_buf(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes as much as the socket takes.
fn try_write(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<()> {
    match stream.try_write(buf) {
        Ok(n) => {
            buf.advance(n);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}
