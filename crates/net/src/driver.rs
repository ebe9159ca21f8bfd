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
use lantern_broker::{Broker, CloseReason, ConnEvent, Connection};
use lantern_pki::IdentitySource;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, info_span, Instrument, Span};

use crate::server::{ListenerCtx, Transport};
use crate::tls::{self, HelloError};
use crate::ws;

/// Size of each read; a packet larger than this simply takes several reads.
const READ_CHUNK: usize = 8 * 1024;
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
        match ctx.spec.transport {
            Transport::Tcp => {
                let Some(pump) = Pump::for_tenant(&ctx, &ctx.spec.default_tenant, None, stop)
                else {
                    return;
                };
                pump.run_tcp(tcp).await;
            }
            Transport::Ws => {
                let Ok(_permit) =
                    tokio::time::timeout(ctx.spec.handshake_timeout, ctx.handshakes.acquire())
                        .await
                else {
                    refused("net.handshake_capacity", "too many handshakes in progress");
                    return;
                };
                let Some(pump) = Pump::for_tenant(&ctx, &ctx.spec.default_tenant, None, stop)
                else {
                    return;
                };
                let upgrade = tokio::time::timeout(
                    ctx.spec.handshake_timeout,
                    ws::accept(tcp, &ctx.ws),
                )
                .await;
                match upgrade {
                    Ok(Ok((stream, info))) => {
                        debug!(path = %info.path, subprotocol = %info.subprotocol, "websocket upgraded");
                        drop(_permit);
                        pump.run_io(stream, BytesMut::new()).await;
                    }
                    Ok(Err(rejection)) => refused(ws_cause(&rejection), &rejection.to_string()),
                    Err(_) => refused(
                        "ws.handshake_timeout",
                        &format!(
                            "no complete WebSocket upgrade request within {:?}",
                            ctx.spec.handshake_timeout
                        ),
                    ),
                }
            }
            Transport::Tls | Transport::Wss => serve_tls(ctx, tcp, stop).await,
        }
    }
    .instrument(span)
    .await
}

async fn serve_tls(ctx: Arc<ListenerCtx>, tcp: TcpStream, stop: watch::Receiver<bool>) {
    let timeout = ctx.spec.handshake_timeout;
    let started = Instant::now();
    let Ok(permit) = tokio::time::timeout(timeout, ctx.handshakes.acquire()).await else {
        refused(
            "net.handshake_capacity",
            "too many TLS handshakes in progress",
        );
        return;
    };
    let Some(setup) = ctx.tls() else { return };

    let mut raw = Vec::new();
    let accepted = match tokio::time::timeout(timeout, tls::read_client_hello(&tcp, &mut raw)).await
    {
        Err(_) => {
            let detail = if raw.is_empty() {
                format!("no byte arrived within the {timeout:?} TLS handshake timeout")
            } else {
                format!(
                    "no complete ClientHello within the {timeout:?} TLS handshake timeout ({} bytes arrived)",
                    raw.len()
                )
            };
            refused("tls.handshake_timeout", &detail);
            return;
        }
        Ok(Err(error)) => {
            let (cause, detail) = classify_not_tls(&raw, &error);
            refused(cause, &detail);
            return;
        }
        Ok(Ok(accepted)) => accepted,
    };
    let hello = tls::hello_info(&accepted);
    let (tenant, config) = match setup.choose(hello.sni.as_deref()) {
        Ok(chosen) => chosen,
        Err(refusal) => {
            tls::send_unrecognized_name(&tcp).await;
            let cause = match refusal {
                tls::SniRefusal::Missing => "tls.no_sni",
                tls::SniRefusal::Unknown { .. } => "tls.sni_unknown",
            };
            refused(cause, &refusal.to_string());
            return;
        }
    };
    Span::current().record("tenant", &*tenant);

    let remaining = timeout.saturating_sub(started.elapsed());
    let handshake = tokio_rustls::StartHandshake::from_parts(accepted, tcp).into_stream(config);
    let mut stream = match tokio::time::timeout(remaining, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            let (cause, detail) = classify_handshake(&error, &hello);
            refused(cause, &detail);
            return;
        }
        Err(_) => {
            refused(
                "tls.handshake_timeout",
                &format!("the TLS handshake did not finish within {timeout:?}"),
            );
            return;
        }
    };
    drop(permit);

    let Some((_, _, identity_source)) = ctx.tenant(&tenant) else {
        return;
    };
    let cert = client_cert_identity(&stream, *identity_source);
    {
        let (_, conn) = stream.get_ref();
        debug!(
            sni = hello.sni.as_deref().unwrap_or("<none>"),
            version = ?conn.protocol_version(),
            suite = conn.negotiated_cipher_suite().map(|s| tls::suite_name(s.suite())).unwrap_or_default(),
            client_cert = cert.as_ref().map(|c| &*c.subject).unwrap_or("<none>"),
            "TLS established"
        );
    }
    let Some(pump) = Pump::for_tenant(&ctx, &tenant, cert, stop) else {
        return;
    };

    // The first decrypted bytes tell MQTT from a WebSocket upgrade on the same port.
    let mut first = BytesMut::with_capacity(READ_CHUNK);
    let connect_timeout = pump.conn.broker().config().connect_timeout;
    match tokio::time::timeout(connect_timeout, stream.read_buf(&mut first)).await {
        Err(_) => {
            refused(
                "mqtt.connect_timeout",
                &format!("nothing arrived within {connect_timeout:?} after the TLS handshake"),
            );
            return;
        }
        Ok(Ok(0)) => {
            refused(
                "tls.closed_after_handshake",
                "the client closed the connection right after the TLS handshake, before sending anything",
            );
            return;
        }
        Ok(Err(error)) => {
            let (cause, detail) = classify_handshake(&error, &hello);
            refused(cause, &detail);
            return;
        }
        Ok(Ok(_)) => {}
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
                debug!(path = %info.path, subprotocol = %info.subprotocol, "websocket upgraded");
                pump.run_io(ws, BytesMut::new()).await;
            }
            Ok(Err(rejection)) => refused(ws_cause(&rejection), &rejection.to_string()),
            Err(_) => refused(
                "ws.handshake_timeout",
                "no complete WebSocket upgrade request",
            ),
        }
    } else {
        pump.run_io(stream, first).await;
    }
}

/// One log line for a connection refused before MQTT (the connection story's verdict, until
/// the diagnostics crate tells the whole story).
fn refused(cause: &str, detail: &str) {
    info!(cause, "refused: {detail}");
}

/// The cause id of a refused WebSocket upgrade.
fn ws_cause(rejection: &ws::WsRejection) -> &'static str {
    use ws::WsRejection as R;
    match rejection {
        R::NotAnUpgrade { .. } => "ws.not_an_upgrade",
        R::WrongPath { .. } => "ws.wrong_path",
        R::NoSubprotocol => "ws.no_subprotocol",
        R::UnknownSubprotocol { .. } => "ws.unknown_subprotocol",
        R::Io(_) => "net.error",
        R::Timeout => "ws.handshake_timeout",
        _ => "ws.bad_request",
    }
}

/// What the bytes on a TLS port were, when they were not a ClientHello.
fn classify_not_tls(raw: &[u8], error: &HelloError) -> (&'static str, String) {
    if raw.first() == Some(&0x10) {
        return (
            "mqtt.plain_on_tls_port",
            "the client sent a plaintext MQTT CONNECT to a TLS port; it must use TLS here (mqtts://, port 8883) or connect to the plain MQTT port".into(),
        );
    }
    if raw.starts_with(b"GET ") || raw.starts_with(b"POST ") || raw.starts_with(b"HEAD ") {
        return (
            "http.plain_on_tls_port",
            "the client sent a plaintext HTTP request to a TLS port; use wss:// or https://".into(),
        );
    }
    match error {
        HelloError::Closed { bytes: 0 } => ("net.closed_before_data", error.to_string()),
        _ => ("tls.bad_client_hello", error.to_string()),
    }
}

/// Names a failed handshake from rustls's error.
fn classify_handshake(error: &io::Error, hello: &tls::HelloInfo) -> (&'static str, String) {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E, PeerIncompatible as P};
    let Some(tls_error) = error.get_ref().and_then(|e| e.downcast_ref::<E>()) else {
        return (
            "net.error",
            format!("network error during the TLS handshake: {error}"),
        );
    };
    let (cause, what) = match tls_error {
        E::AlertReceived(A::UnknownCA | A::BadCertificate | A::CertificateUnknown) => (
            "tls.client_rejected_server_cert",
            "the client rejected the server certificate (it does not trust the CA that issued it, or the name does not match)",
        ),
        E::AlertReceived(A::CertificateExpired) => (
            "tls.client_rejected_server_cert",
            "the client says the server certificate is expired; check the device's clock",
        ),
        E::PeerIncompatible(P::NoCipherSuitesInCommon) => (
            "tls.no_shared_cipher",
            "the client offered no cipher suite this listener accepts",
        ),
        E::PeerIncompatible(P::Tls12NotOfferedOrEnabled | P::Tls13RequiredForQuic | P::SupportedVersionsExtensionRequired) => (
            "tls.no_shared_version",
            "the client offered no TLS version this listener accepts",
        ),
        E::PeerIncompatible(_) => ("tls.incompatible", "the client's TLS offer is incompatible"),
        E::NoCertificatesPresented => (
            "tls.client_cert_missing",
            "the client sent no certificate, and this listener requires one",
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            ("tls.client_cert_expired", "the client certificate has expired")
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => (
            "tls.client_cert_not_yet_valid",
            "the client certificate is not valid yet (check the device's clock)",
        ),
        E::InvalidCertificate(C::UnknownIssuer) => (
            "tls.client_cert_untrusted",
            "the client certificate was not issued by a CA this tenant trusts (or an intermediate is missing)",
        ),
        E::InvalidCertificate(C::Revoked) => {
            ("tls.client_cert_revoked", "the client certificate is revoked")
        }
        E::InvalidCertificate(_) => ("tls.client_cert_invalid", "the client certificate is invalid"),
        E::PeerMisbehaved(rustls::PeerMisbehaved::TooManyRenegotiationRequests)
        | E::PeerMisbehaved(rustls::PeerMisbehaved::IllegalTlsInnerPlaintext) => {
            ("tls.peer_misbehaved", "the client broke the TLS protocol")
        }
        E::AlertReceived(_) => ("tls.alert_received", "the client aborted the handshake with an alert"),
        _ => ("tls.handshake_failed", "the TLS handshake failed"),
    };
    let offered = if hello.cipher_suites.is_empty() {
        String::new()
    } else {
        format!("; the client offered {}", hello.cipher_suites.join(", "))
    };
    (cause, format!("{what} ({tls_error}){offered}"))
}

fn client_cert_identity<S>(
    stream: &tokio_rustls::server::TlsStream<S>,
    source: IdentitySource,
) -> Option<CertIdentity> {
    let (_, conn) = stream.get_ref();
    let der = conn.peer_certificates()?.first()?;
    let identity = lantern_pki::identity_of(der.as_ref(), source)
        .ok()
        .flatten()?;
    let subject = lantern_pki::identity_of(der.as_ref(), IdentitySource::Dn)
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
    /// Whether CONNECT was accepted (the span then carries the client id).
    connected: bool,
    wake: Arc<TaskWaker>,
    stop: watch::Receiver<bool>,
}

impl Pump {
    fn for_tenant(
        ctx: &ListenerCtx,
        tenant: &str,
        cert: Option<CertIdentity>,
        stop: watch::Receiver<bool>,
    ) -> Option<Self> {
        let (broker, access, _) = ctx.tenant(tenant)?;
        Some(Self::new(broker.clone(), access.clone(), cert, stop))
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
        }
    }

    /// Plain TCP: readiness-based, no buffer held while idle.
    async fn run_tcp(mut self, stream: TcpStream) {
        let mut rbuf = BytesMut::new();
        let mut wbuf = BytesMut::new();
        loop {
            if !self.prepare(&mut wbuf) {
                break;
            }
            let deadline = self.conn.poll_timeout();
            let can_read = wbuf.len() < MAX_PENDING_OUTPUT;
            tokio::select! {
                biased;
                _ = self.stop.changed() => self.conn.shutdown(Instant::now()),
                ready = stream.writable(), if !wbuf.is_empty() => {
                    if let Err(e) = ready.and_then(|()| try_write(&stream, &mut wbuf)) {
                        self.conn.handle_network_error(Instant::now(), e.to_string());
                    }
                }
                ready = stream.readable(), if can_read => {
                    match ready.and_then(|()| try_read(&stream, &mut rbuf)) {
                        Ok(Some(0)) => self.conn.handle_peer_closed(Instant::now()),
                        Ok(Some(_)) => self.conn.handle_bytes(Instant::now(), &mut rbuf),
                        Ok(None) => {}
                        Err(e) => self.conn.handle_network_error(Instant::now(), e.to_string()),
                    }
                    if rbuf.is_empty() {
                        // Idle connections hold no read buffer.
                        rbuf = BytesMut::new();
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
        loop {
            if !self.prepare(&mut wbuf) {
                break;
            }
            let deadline = self.conn.poll_timeout();
            let can_read = wbuf.len() < MAX_PENDING_OUTPUT;
            if rbuf.capacity() - rbuf.len() < READ_CHUNK / 2 {
                rbuf.reserve(READ_CHUNK);
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
                            unflushed = true;
                        }
                        Ok(None) => unflushed = false,
                        Err(e) => self.conn.handle_network_error(Instant::now(), e.to_string()),
                    }
                }
                read = reader.read_buf(&mut rbuf), if can_read => match read {
                    Ok(0) => self.conn.handle_peer_closed(Instant::now()),
                    Ok(_) => self.conn.handle_bytes(Instant::now(), &mut rbuf),
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
    }

    /// Collects output when the write buffer is empty and logs events; false once closed.
    fn prepare(&mut self, wbuf: &mut BytesMut) -> bool {
        if wbuf.is_empty() {
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
            match event {
                ConnEvent::Connected {
                    client_id,
                    version,
                    clean_start,
                    keep_alive,
                    session_present,
                    username,
                } => {
                    Span::current().record("client_id", &*client_id);
                    self.connected = true;
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
                    let outcome = match &reason {
                        CloseReason::Refused { .. } | CloseReason::NotAuthenticated(_) => "refused",
                        _ => "closed",
                    };
                    info!(cause = reason.id(), "{outcome}: {reason}");
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
