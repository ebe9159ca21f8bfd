//! MQTT over WebSocket: the HTTP upgrade ([RFC 6455 §4.2]) and a byte-stream view of the binary
//! messages that follow ([MQTT 5.0 §6], [MQTT 3.1.1 §6]).
//!
//! [`accept`] reads the upgrade request itself, never more than [`MAX_REQUEST_HEAD`] bytes,
//! checks method, path, upgrade headers and subprotocol, and answers every refusal with an HTTP
//! status and a one-line text body before returning the [`WsRejection`]. It does not use
//! tungstenite's server handshake because that closes the socket without a word on a request
//! that is not an upgrade, and a device (or the person debugging it with `curl`) deserves to be
//! told why. Once the upgrade is accepted, tokio-tungstenite does the RFC 6455 framing.
//!
//! [`WsStream`] turns the WebSocket back into the byte stream MQTT expects: binary messages are
//! concatenated on the read side and each write becomes one binary message, so the connection
//! driver treats it like a TCP stream.
//!
//! Not here: TLS (done below this layer, on the stream passed in), the handshake timeout (the
//! caller wraps [`accept`] in one), and anything MQTT.
//!
//! [RFC 6455 §4.2]: https://www.rfc-editor.org/rfc/rfc6455#section-4.2
//! [MQTT 5.0 §6]: https://docs.oasis-open.org/mqtt/mqtt/v5.0/os/mqtt-v5.0-os.html#_Toc3901285
//! [MQTT 3.1.1 §6]: https://docs.oasis-open.org/mqtt/mqtt/v3.1.1/os/mqtt-v3.1.1-os.html#_Toc398718127

use std::fmt;
use std::io;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// The subprotocols this transport speaks, in no particular order: `mqtt` is MQTT 3.1.1 and 5.0
/// [MQTT-6.0.0-3]; `mqttv3.1` is what MQTT 3.1 clients offer.
pub const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];

/// The most bytes [`accept`] reads looking for the end of the upgrade request's head. Browsers'
/// heads are well under 2 KiB; 16 KiB leaves room for cookies and proxies' headers.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The most header fields the upgrade request may carry.
const MAX_HEADERS: usize = 64;

/// The WebSocket protocol version of RFC 6455, the only one there is.
const WS_VERSION: &str = "13";

/// Bytes read from the socket at a time after the upgrade. tungstenite allocates this buffer
/// eagerly for every connection, so it is kept small, like the TCP driver's read chunk.
const READ_BUFFER: usize = 8 * 1024;

/// Room for frame headers and a queued control frame (pong, close) beside one full message in
/// tungstenite's write buffer.
const WRITE_SLACK: usize = 1024;

/// After a refusal, how long to keep reading (and discarding) what the client still sends, so
/// that closing with unread data does not reset the connection before the response is read.
const LINGER: Duration = Duration::from_secs(1);

/// The most bytes discarded while lingering.
const LINGER_BYTES: usize = 64 * 1024;

/// The default [`WsSettings::max_frame`]: the broker's default maximum packet size (1 MiB) plus
/// room for the packet's fixed header.
const DEFAULT_MAX_FRAME: usize = 1024 * 1024 + 1024;

/// How a WebSocket listener accepts upgrades.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct WsSettings {
    /// The request path that serves MQTT, compared with the request target's path (the query,
    /// if any, is ignored). Default `/mqtt`, the path most clients use by default.
    pub path: String,
    /// The largest incoming WebSocket frame, and the largest message (the sum of a fragmented
    /// message's frames); anything larger closes the connection with 1009. Also the largest
    /// message written: a longer write is split across messages. A packet may span messages
    /// [MQTT-6.0.0-2], so the broker's maximum packet size is enforced by the codec, not here;
    /// set this a little above it so a whole packet fits one frame.
    pub max_frame: NonZeroUsize,
    /// The most bytes read from the socket until the stream's [`ConnectGate`] is opened (the
    /// broker opens it when it accepts CONNECT); beyond it reading pauses, so a client that has
    /// not sent a complete CONNECT cannot make tungstenite buffer a large frame (issue 9). The
    /// connection's connect timeout then ends it. `None`: no limit (the default).
    pub max_before_connect: Option<NonZeroUsize>,
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            path: "/mqtt".to_owned(),
            // INVARIANT: the constant is not zero.
            max_frame: NonZeroUsize::new(DEFAULT_MAX_FRAME).unwrap_or(NonZeroUsize::MIN),
            max_before_connect: None,
        }
    }
}

/// Lifts a [`WsStream`]'s [`WsSettings::max_before_connect`] limit: cloned out of the stream
/// before it is handed to the reader, and opened once CONNECT is accepted.
#[derive(Clone, Debug, Default)]
pub struct ConnectGate(Arc<AtomicBool>);

impl ConnectGate {
    /// Lifts the limit for good.
    pub fn open(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn is_open(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// `AsyncWrite` for a read-side wrapper: every write goes straight to its `inner` stream.
macro_rules! forward_async_write {
    ($wrapper:ident) => {
        impl<S: AsyncWrite + Unpin> AsyncWrite for $wrapper<S> {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().inner).poll_flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
            }
        }
    };
}

/// The socket below tungstenite: reads at most `limit` bytes until the gate opens.
///
/// Beyond the limit a read is `Pending` without arranging a wake-up: the connection task is
/// woken by its own timers (the connect timeout) and polls again after each event, when the
/// gate may have opened.
struct Gated<S> {
    inner: S,
    gate: ConnectGate,
    limit: Option<usize>,
    read: usize,
}

impl<S: AsyncRead + Unpin> AsyncRead for Gated<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(limit) = this.limit else {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        };
        if this.gate.is_open() {
            this.limit = None;
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        if this.read >= limit {
            return Poll::Pending;
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.read += buf.filled().len() - before;
        Poll::Ready(Ok(()))
    }
}

forward_async_write!(Gated);

/// What the client's upgrade request said, for logs and diagnostics.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct UpgradeInfo {
    /// The request path, without the query.
    pub path: String,
    /// Every subprotocol the client offered in `Sec-WebSocket-Protocol`, in its order.
    pub subprotocols_offered: Vec<String>,
    /// The subprotocol chosen and echoed back [MQTT-6.0.0-4], spelled as the client offered it.
    pub subprotocol: String,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Origin` header (browsers send it).
    pub origin: Option<String>,
    /// The `X-Forwarded-For` header, when the client came through a proxy. It is whatever the
    /// request says: trust it only behind a proxy you run.
    pub forwarded_for: Option<String>,
}

/// Why an upgrade was refused. Except for [`Io`](Self::Io) and [`Timeout`](Self::Timeout),
/// the client was sent the HTTP status [`status`](Self::status) with this text as the body.
#[derive(Debug)]
#[non_exhaustive]
pub enum WsRejection {
    /// A well-formed HTTP request without `Upgrade: websocket` and `Connection: Upgrade`: a
    /// browser, a health check, or an MQTT client pointed at the wrong port. Answered 426
    /// Upgrade Required ([RFC 7231 §6.5.15]).
    ///
    /// [RFC 7231 §6.5.15]: https://www.rfc-editor.org/rfc/rfc7231#section-6.5.15
    NotAnUpgrade {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
        /// The HTTP status sent.
        status: u16,
    },
    /// An upgrade with a method other than GET ([RFC 6455 §4.1]). Answered 405.
    ///
    /// [RFC 6455 §4.1]: https://www.rfc-editor.org/rfc/rfc6455#section-4.1
    WrongMethod {
        /// The request method.
        method: String,
    },
    /// An upgrade for a path this listener does not serve. Answered 404.
    WrongPath {
        /// The requested path.
        path: String,
        /// [`WsSettings::path`].
        expected: String,
    },
    /// `Sec-WebSocket-Version` is missing or not 13 ([RFC 6455 §4.4]). Answered 426 with
    /// `Sec-WebSocket-Version: 13`.
    ///
    /// [RFC 6455 §4.4]: https://www.rfc-editor.org/rfc/rfc6455#section-4.4
    UnsupportedVersion {
        /// The version the client asked for, if any.
        offered: Option<String>,
    },
    /// The client offered no subprotocol; MQTT clients must offer `mqtt` [MQTT-6.0.0-3].
    /// Answered 400.
    NoSubprotocol,
    /// None of the offered subprotocols is one of [`SUBPROTOCOLS`]. Answered 400.
    UnknownSubprotocol {
        /// What the client offered.
        offered: Vec<String>,
    },
    /// The request head is longer than [`MAX_REQUEST_HEAD`] bytes or has more header fields
    /// than the parser takes. Answered 431.
    HeadTooLarge {
        /// The byte limit, [`MAX_REQUEST_HEAD`].
        limit: usize,
    },
    /// Not HTTP, malformed HTTP, or an upgrade missing a required part. Answered 400.
    BadRequest {
        /// What was wrong.
        detail: String,
    },
    /// Reading the request or writing the response failed, or the client closed the
    /// connection before the request was complete.
    Io(io::Error),
    /// The handshake took too long. [`accept`] never returns it: it is for the caller that
    /// wraps [`accept`] in a timeout, so that all WebSocket refusals share one type.
    Timeout,
}

impl WsRejection {
    /// The HTTP status sent to the client, or `None` when nothing could be sent.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotAnUpgrade { status, .. } => Some(*status),
            Self::WrongMethod { .. } => Some(405),
            Self::WrongPath { .. } => Some(404),
            Self::UnsupportedVersion { .. } => Some(426),
            Self::NoSubprotocol | Self::UnknownSubprotocol { .. } | Self::BadRequest { .. } => {
                Some(400)
            }
            Self::HeadTooLarge { .. } => Some(431),
            Self::Io(_) | Self::Timeout => None,
        }
    }

    /// A stable id for the cause, for logs and tests.
    pub fn id(&self) -> &'static str {
        match self {
            Self::NotAnUpgrade { .. } => "ws.not_an_upgrade",
            Self::WrongMethod { .. } => "ws.wrong_method",
            Self::WrongPath { .. } => "ws.wrong_path",
            Self::UnsupportedVersion { .. } => "ws.unsupported_version",
            Self::NoSubprotocol => "ws.no_subprotocol",
            Self::UnknownSubprotocol { .. } => "ws.unknown_subprotocol",
            Self::HeadTooLarge { .. } => "ws.head_too_large",
            Self::BadRequest { .. } => "ws.bad_request",
            Self::Io(_) => "ws.io",
            Self::Timeout => "ws.handshake_timeout",
        }
    }

    /// The extra response header lines (each ending in CRLF) a status requires.
    fn extra_headers(&self) -> &'static str {
        match self {
            // RFC 7231 §6.5.15: a 426 response MUST carry Upgrade.
            // (Connection carries both "upgrade" and "close": one header, no contradiction.)
            Self::NotAnUpgrade { .. } => "Upgrade: websocket\r\n",
            Self::UnsupportedVersion { .. } => {
                "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            }
            // RFC 7231 §6.5.5: a 405 response MUST carry Allow.
            Self::WrongMethod { .. } => "Allow: GET\r\n",
            _ => "",
        }
    }
}

impl fmt::Display for WsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnUpgrade { method, path, .. } => write!(
                f,
                "{method} {path} is a plain HTTP request, not a WebSocket upgrade \
                 (no `Upgrade: websocket` with `Connection: Upgrade`); \
                 this port expects a WebSocket upgrade for MQTT"
            ),
            Self::WrongMethod { method } => write!(
                f,
                "a WebSocket upgrade must use GET (RFC 6455 §4.1), this request used {method}"
            ),
            Self::WrongPath { path, expected } => write!(
                f,
                "requested path {path}, this listener serves MQTT on {expected}"
            ),
            Self::UnsupportedVersion { offered: Some(v) } => write!(
                f,
                "the upgrade asked for WebSocket version {v}, this listener speaks version 13"
            ),
            Self::UnsupportedVersion { offered: None } => f.write_str(
                "the upgrade has no Sec-WebSocket-Version, this listener speaks version 13",
            ),
            Self::NoSubprotocol => f.write_str(
                "the upgrade offered no subprotocol; MQTT over WebSocket requires \
                 `Sec-WebSocket-Protocol: mqtt` [MQTT-6.0.0-3]",
            ),
            Self::UnknownSubprotocol { offered } => write!(
                f,
                "the upgrade offered subprotocols {}, this listener accepts {} [MQTT-6.0.0-3]",
                offered.join(", "),
                SUBPROTOCOLS.join(" or ")
            ),
            Self::HeadTooLarge { limit } => write!(
                f,
                "the upgrade request's head is over {limit} bytes or {MAX_HEADERS} header fields"
            ),
            Self::BadRequest { detail } => write!(f, "bad WebSocket upgrade request: {detail}"),
            Self::Io(e) => write!(f, "WebSocket upgrade failed: {e}"),
            Self::Timeout => f.write_str("the WebSocket upgrade did not complete in time"),
        }
    }
}

impl std::error::Error for WsRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Accepts a WebSocket upgrade for MQTT on a fresh stream (plain TCP, or TLS already
/// terminated). On refusal, the HTTP response has been written and the stream closed.
pub async fn accept<S>(
    stream: S,
    settings: &WsSettings,
) -> Result<(WsStream<S>, UpgradeInfo), WsRejection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    accept_with_prefix(stream, Bytes::new(), settings).await
}

/// Like [`accept`], for a stream whose first bytes (`prefix`) the caller already read, for
/// example to tell TLS, MQTT and HTTP apart on one port.
pub async fn accept_with_prefix<S>(
    mut stream: S,
    prefix: Bytes,
    settings: &WsSettings,
) -> Result<(WsStream<S>, UpgradeInfo), WsRejection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut buf = BytesMut::with_capacity(prefix.len().max(1024));
    buf.extend_from_slice(&prefix);
    let head = match read_head(&mut stream, &mut buf).await {
        Ok(head) => head,
        Err(rejection) => return Err(refuse(&mut stream, rejection).await),
    };
    let (info, key) = match check(&head, settings) {
        Ok(accepted) => accepted,
        Err(rejection) => return Err(refuse(&mut stream, rejection).await),
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\
         Sec-WebSocket-Protocol: {}\r\n\
         \r\n",
        derive_accept_key(key.as_bytes()),
        info.subprotocol
    );
    stream
        .write_all(response.as_bytes())
        .await
        .map_err(WsRejection::Io)?;
    stream.flush().await.map_err(WsRejection::Io)?;

    // Whatever followed the head (a client that did not wait for the 101) is WebSocket data.
    buf.advance(head.len);
    let max = settings.max_frame.get();
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Each message goes to the socket as soon as it is written; the driver batches already.
        .write_buffer_size(0)
        .max_write_buffer_size(max.saturating_add(WRITE_SLACK))
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let gate = ConnectGate::default();
    let gated = Gated {
        inner: stream,
        gate: gate.clone(),
        limit: settings.max_before_connect.map(NonZeroUsize::get),
        read: 0,
    };
    let inner =
        WebSocketStream::from_partially_read(gated, buf.to_vec(), Role::Server, Some(config)).await;
    Ok((WsStream::new(inner, max, gate), info))
}

/// An accepted MQTT-over-WebSocket connection as a byte stream.
///
/// Reading yields the payloads of binary messages, concatenated: an MQTT packet may span
/// messages and a message may hold several packets [MQTT-6.0.0-2]. At most one message is held
/// beyond what the reader consumed, and tungstenite holds at most one incomplete message of at
/// most [`WsSettings::max_frame`] bytes. A close from the client is the end of the stream.
/// Pings are answered by tungstenite while reading or writing.
///
/// A text message [MQTT-6.0.0-1], an oversized message, or a framing violation is an error of
/// kind [`io::ErrorKind::InvalidData`] wrapping a [`WsStreamError`]; the connection is closed
/// with the matching close code (1003, 1009, 1002) before the error is returned.
///
/// Each write becomes one binary message of up to [`WsSettings::max_frame`] bytes, written to
/// the socket at once. Call `flush` after a batch of writes, as with any `AsyncWrite`: a write
/// the socket could not take whole finishes on the next write or flush. `shutdown` sends a
/// close frame (1000) and then shuts down the underlying stream.
pub struct WsStream<S> {
    inner: WebSocketStream<Gated<S>>,
    /// Lifts [`WsSettings::max_before_connect`].
    gate: ConnectGate,
    /// The unread rest of the last binary message.
    pending: Bytes,
    read: ReadState,
    /// A close frame was queued (by us); nothing more may be sent.
    close_queued: bool,
    /// The largest message written, [`WsSettings::max_frame`].
    max_message: usize,
}

/// The read side of a [`WsStream`].
enum ReadState {
    /// Messages are read as they come.
    Open,
    /// The client broke the rules; a close frame with its code is being sent.
    Failing(WsStreamError),
    /// The close frame was sent (or could not be); every read returns this error.
    Failed(WsStreamError),
    /// The client closed the connection.
    Eof,
}

impl<S> WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn new(inner: WebSocketStream<Gated<S>>, max_message: usize, gate: ConnectGate) -> Self {
        Self {
            inner,
            gate,
            pending: Bytes::new(),
            read: ReadState::Open,
            close_queued: false,
            max_message,
        }
    }

    /// The underlying stream, for its peer address or TLS session.
    pub fn get_ref(&self) -> &S {
        &self.inner.get_ref().inner
    }

    /// The handle that lifts [`WsSettings::max_before_connect`], for whoever sees CONNECT
    /// accepted after the stream itself has moved on.
    pub fn connect_gate(&self) -> ConnectGate {
        self.gate.clone()
    }

    /// Queues a close frame (once) and flushes it.
    fn poll_send_close(&mut self, cx: &mut Context<'_>, frame: CloseFrame) -> Poll<io::Result<()>> {
        if !self.close_queued {
            ready!(Pin::new(&mut self.inner).poll_ready(cx)).map_err(write_error)?;
            self.close_queued = true;
            match Pin::new(&mut self.inner).start_send(Message::Close(Some(frame))) {
                Ok(()) => {}
                // The client closed first and tungstenite already answered.
                Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => {
                    return Poll::Ready(Ok(()))
                }
                Err(e) => return Poll::Ready(Err(write_error(e))),
            }
        }
        Pin::new(&mut self.inner)
            .poll_flush(cx)
            .map_err(write_error)
    }
}

impl<S> fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let read = match &self.read {
            ReadState::Open => "open",
            ReadState::Failing(_) => "failing",
            ReadState::Failed(_) => "failed",
            ReadState::Eof => "eof",
        };
        f.debug_struct("WsStream")
            .field("pending", &self.pending.len())
            .field("read", &read)
            .field("close_queued", &self.close_queued)
            .finish_non_exhaustive()
    }
}

impl<S> AsyncRead for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending[..n]);
                this.pending.advance(n);
                return Poll::Ready(Ok(()));
            }
            match &this.read {
                ReadState::Open => {}
                ReadState::Eof => return Poll::Ready(Ok(())),
                ReadState::Failed(e) => {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e.clone())))
                }
                ReadState::Failing(e) => {
                    let frame = e.close_frame();
                    // Best effort: the violation is reported whether or not the close got out.
                    let _ = ready!(this.poll_send_close(cx, frame));
                    if let ReadState::Failing(e) = std::mem::replace(&mut this.read, ReadState::Eof)
                    {
                        this.read = ReadState::Failed(e);
                    }
                    continue;
                }
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                None => this.read = ReadState::Eof,
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(text))) => {
                    this.read = ReadState::Failing(WsStreamError::TextMessage { len: text.len() });
                }
                // Close: tungstenite queued the reply; the next poll sends it and ends the stream.
                // Ping: tungstenite queued the pong. Pong and raw frames carry nothing for us.
                Some(Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Frame(_))) => {}
                Some(Err(e)) => match classify_read_error(e) {
                    ReadError::Eof => this.read = ReadState::Eof,
                    ReadError::Violation(v) => this.read = ReadState::Failing(v),
                    ReadError::Io(e) => return Poll::Ready(Err(e)),
                },
            }
        }
    }
}

impl<S> AsyncWrite for WsStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.close_queued {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        ready!(Pin::new(&mut this.inner).poll_ready(cx)).map_err(write_error)?;
        let n = buf.len().min(this.max_message);
        let message = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
        Pin::new(&mut this.inner)
            .start_send(message)
            .map_err(write_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner)
            .poll_flush(cx)
            .map_err(write_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: Utf8Bytes::default(),
        };
        ready!(this.poll_send_close(cx, normal))?;
        Pin::new(this.inner.get_mut()).poll_shutdown(cx)
    }
}

/// How a client broke MQTT-over-WebSocket or RFC 6455 after the upgrade. Carried inside the
/// `io::Error` (kind [`InvalidData`](io::ErrorKind::InvalidData)) that [`WsStream`] returns;
/// find it with `err.get_ref().and_then(|e| e.downcast_ref::<WsStreamError>())`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum WsStreamError {
    /// [MQTT-6.0.0-1] MQTT packets travel in binary messages only; the client sent a text
    /// message. Closed with 1003 (unsupported data).
    TextMessage {
        /// The message's length in bytes.
        len: usize,
    },
    /// A frame or message larger than [`WsSettings::max_frame`]. Closed with 1009 (too big).
    TooLarge {
        /// Its size, as far as it was read.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// An RFC 6455 framing violation (unmasked frame, bad opcode, invalid UTF-8 in a control
    /// frame, …). Closed with 1002 (protocol error), 1007 for invalid UTF-8.
    Protocol {
        /// tungstenite's description.
        detail: String,
        /// Whether it was invalid UTF-8.
        utf8: bool,
    },
}

impl WsStreamError {
    /// A stable id for the cause, for logs and tests.
    pub fn id(&self) -> &'static str {
        match self {
            Self::TextMessage { .. } => "ws.text_message",
            Self::TooLarge { .. } => "ws.message_too_large",
            Self::Protocol { .. } => "ws.protocol_violation",
        }
    }

    /// The close code sent to the client ([RFC 6455 §7.4.1]).
    ///
    /// [RFC 6455 §7.4.1]: https://www.rfc-editor.org/rfc/rfc6455#section-7.4.1
    pub fn close_code(&self) -> u16 {
        self.code().into()
    }

    fn code(&self) -> CloseCode {
        match self {
            Self::TextMessage { .. } => CloseCode::Unsupported,
            Self::TooLarge { .. } => CloseCode::Size,
            Self::Protocol { utf8: true, .. } => CloseCode::Invalid,
            Self::Protocol { utf8: false, .. } => CloseCode::Protocol,
        }
    }

    /// The close frame sent; the reason stays under the 123 bytes a close frame allows.
    fn close_frame(&self) -> CloseFrame {
        let reason = match self {
            Self::TextMessage { .. } => "MQTT over WebSocket uses binary messages [MQTT-6.0.0-1]",
            Self::TooLarge { .. } => "message larger than this listener accepts",
            Self::Protocol { .. } => "WebSocket protocol violation",
        };
        CloseFrame {
            code: self.code(),
            reason: Utf8Bytes::from_static(reason),
        }
    }
}

impl fmt::Display for WsStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TextMessage { len } => write!(
                f,
                "the client sent a {len}-byte WebSocket text message; MQTT packets travel \
                 in binary messages [MQTT-6.0.0-1] (closed with 1003)"
            ),
            Self::TooLarge { size, max } => write!(
                f,
                "the client sent a WebSocket message of {size} bytes, over the limit of {max} \
                 (closed with 1009)"
            ),
            Self::Protocol { detail, .. } => write!(
                f,
                "WebSocket protocol violation: {detail} (closed with {})",
                self.close_code()
            ),
        }
    }
}

impl std::error::Error for WsStreamError {}

/// A stream whose first bytes were already read: it yields `prefix`, then reads `inner`.
/// Writes go straight to `inner`. Useful to hand a sniffed connection to a TLS acceptor;
/// [`accept_with_prefix`] does not need it.
#[derive(Debug)]
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Wraps `inner`, to be read after `prefix`.
    pub fn new(prefix: Bytes, inner: S) -> Self {
        Self { prefix, inner }
    }

    /// The part of the prefix not read yet, and the inner stream.
    pub fn into_parts(self) -> (Bytes, S) {
        (self.prefix, self.inner)
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        Poll::Ready(Ok(()))
    }
}

forward_async_write!(Prefixed);

/// The parts of the upgrade request's head that [`check`] looks at.
#[derive(Debug, Default)]
struct Head {
    /// Length of the head in bytes, including the blank line.
    len: usize,
    method: String,
    /// The request target's path, without query.
    path: String,
    /// The minor HTTP version: 0 or 1.
    minor_version: u8,
    /// `Upgrade` lists `websocket`.
    upgrade_websocket: bool,
    /// `Connection` lists `upgrade`.
    connection_upgrade: bool,
    ws_version: Option<String>,
    ws_key: Option<String>,
    subprotocols: Vec<String>,
    user_agent: Option<String>,
    origin: Option<String>,
    forwarded_for: Option<String>,
}

/// Reads until `buf` holds a complete request head, at most [`MAX_REQUEST_HEAD`] bytes.
async fn read_head<S>(stream: &mut S, buf: &mut BytesMut) -> Result<Head, WsRejection>
where
    S: AsyncRead + Unpin,
{
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(head) = parse_head(buf)? {
            return Ok(head);
        }
        let room = MAX_REQUEST_HEAD.saturating_sub(buf.len());
        if room == 0 {
            return Err(WsRejection::HeadTooLarge {
                limit: MAX_REQUEST_HEAD,
            });
        }
        let want = room.min(chunk.len());
        let n = stream
            .read(&mut chunk[..want])
            .await
            .map_err(WsRejection::Io)?;
        if n == 0 {
            return Err(WsRejection::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the client closed the connection after {} bytes of the upgrade request",
                    buf.len()
                ),
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Parses a request head; `Ok(None)` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, WsRejection> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(WsRejection::HeadTooLarge {
                limit: MAX_REQUEST_HEAD,
            })
        }
        Err(e) => {
            return Err(WsRejection::BadRequest {
                detail: format!("not an HTTP request ({e})"),
            })
        }
    };
    let mut head = Head {
        len,
        method: request.method.unwrap_or_default().to_owned(),
        path: path_of(request.path.unwrap_or_default()).to_owned(),
        minor_version: request.version.unwrap_or_default(),
        ..Head::default()
    };
    for header in request.headers.iter() {
        let value = String::from_utf8_lossy(header.value);
        let value = value.trim();
        let name = header.name;
        if name.eq_ignore_ascii_case("upgrade") {
            head.upgrade_websocket |= has_token(value, "websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            head.connection_upgrade |= has_token(value, "upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            head.ws_version.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            head.ws_key.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            // RFC 6455 §4.1: the header may repeat, each a comma-separated list.
            head.subprotocols.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            );
        } else if name.eq_ignore_ascii_case("user-agent") {
            head.user_agent.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("origin") {
            head.origin.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            head.forwarded_for.get_or_insert_with(|| value.to_owned());
        }
    }
    Ok(Some(head))
}

/// Decides on a parsed head: the upgrade's details and its `Sec-WebSocket-Key`, or why not.
/// The order puts the most useful explanation first: a browser opening the listener's URL is
/// told it is not a WebSocket upgrade before being told the path is wrong.
fn check(head: &Head, settings: &WsSettings) -> Result<(UpgradeInfo, String), WsRejection> {
    if head.minor_version < 1 {
        return Err(WsRejection::BadRequest {
            detail: "WebSocket needs HTTP/1.1, the request is HTTP/1.0 (RFC 6455 §4.1)".to_owned(),
        });
    }
    if !head.upgrade_websocket || !head.connection_upgrade {
        return Err(WsRejection::NotAnUpgrade {
            method: head.method.clone(),
            path: head.path.clone(),
            status: 426,
        });
    }
    if head.method != "GET" {
        return Err(WsRejection::WrongMethod {
            method: head.method.clone(),
        });
    }
    if head.path != settings.path {
        return Err(WsRejection::WrongPath {
            path: head.path.clone(),
            expected: settings.path.clone(),
        });
    }
    if head.ws_version.as_deref() != Some(WS_VERSION) {
        return Err(WsRejection::UnsupportedVersion {
            offered: head.ws_version.clone(),
        });
    }
    // RFC 6455 §4.2.1 wants 16 random bytes in base64; only presence matters to us, and
    // rejecting a sloppy device's key would buy no safety.
    let key = match head.ws_key.as_deref() {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => {
            return Err(WsRejection::BadRequest {
                detail: "the upgrade has no Sec-WebSocket-Key (RFC 6455 §4.1)".to_owned(),
            })
        }
    };
    if head.subprotocols.is_empty() {
        return Err(WsRejection::NoSubprotocol);
    }
    // [MQTT-6.0.0-4] choose one the client offered, first offered first.
    let Some(chosen) = head
        .subprotocols
        .iter()
        .find(|p| SUBPROTOCOLS.iter().any(|ours| p.eq_ignore_ascii_case(ours)))
    else {
        return Err(WsRejection::UnknownSubprotocol {
            offered: head.subprotocols.clone(),
        });
    };
    let info = UpgradeInfo {
        path: head.path.clone(),
        subprotocols_offered: head.subprotocols.clone(),
        subprotocol: chosen.clone(),
        user_agent: head.user_agent.clone(),
        origin: head.origin.clone(),
        forwarded_for: head.forwarded_for.clone(),
    };
    Ok((info, key))
}

/// The one refusal path: sends the HTTP response that explains `rejection`, closes the write
/// side, lingers briefly so the client can read it, and hands the rejection back.
async fn refuse<S>(stream: &mut S, rejection: WsRejection) -> WsRejection
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(status) = rejection.status() else {
        return rejection;
    };
    let body = format!("{rejection}\n");
    let response = format!(
        "HTTP/1.1 {status} {}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Connection: {}\r\n\
         {}\
         \r\n\
         {body}",
        reason_phrase(status),
        body.len(),
        if status == 426 {
            "upgrade, close"
        } else {
            "close"
        },
        rejection.extra_headers(),
    );
    // Best effort: a client that is already gone cannot be told, but the caller still is.
    let sent = async {
        stream.write_all(response.as_bytes()).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    if sent.await.is_ok() {
        let drain = async {
            let mut sink = [0u8; 1024];
            let mut total = 0;
            while total < LINGER_BYTES {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, drain).await;
    }
    rejection
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// The path of a request target: origin form (`/mqtt?x=1`) or absolute form
/// (`http://host/mqtt`), without the query.
fn path_of(target: &str) -> &str {
    let without_scheme = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
        .or_else(|| target.strip_prefix("ws://"))
        .or_else(|| target.strip_prefix("wss://"));
    let path = match without_scheme {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    path.split(['?', '#']).next().unwrap_or(path)
}

/// Whether a comma-separated header value lists `token`, ignoring case.
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// What a read error means for the byte stream.
enum ReadError {
    /// The connection ended (without a close handshake, or after one).
    Eof,
    /// The client broke the protocol: close with a code, then report.
    Violation(WsStreamError),
    /// The network failed.
    Io(io::Error),
}

fn classify_read_error(e: WsError) -> ReadError {
    match e {
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => ReadError::Eof,
        WsError::Io(e) => ReadError::Io(e),
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => {
            ReadError::Violation(WsStreamError::TooLarge {
                size,
                max: max_size,
            })
        }
        WsError::Utf8(detail) => ReadError::Violation(WsStreamError::Protocol {
            detail: format!("invalid UTF-8: {detail}"),
            utf8: true,
        }),
        WsError::Protocol(p) => ReadError::Violation(WsStreamError::Protocol {
            detail: p.to_string(),
            utf8: false,
        }),
        WsError::AttackAttempt => ReadError::Violation(WsStreamError::Protocol {
            detail: "tungstenite flagged an attack attempt".to_owned(),
            utf8: false,
        }),
        other => ReadError::Io(io::Error::other(other)),
    }
}

/// Maps a sink error to the `io::Error` an `AsyncWrite` returns.
fn write_error(e: WsError) -> io::Error {
    match e {
        WsError::Io(e) => e,
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::SendAfterClosing) => io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the WebSocket connection is closed",
        ),
        other => io::Error::other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Head {
        match parse_head(raw.as_bytes()) {
            Ok(Some(head)) => head,
            other => panic!("expected a complete head, got {other:?}"),
        }
    }

    const UPGRADE: &str = "GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

    #[test]
    fn incomplete_head_is_none() {
        assert!(matches!(parse_head(b"GET /mqtt HTTP/1.1\r\nHo"), Ok(None)));
    }

    #[test]
    fn mqtt_6_0_0_4_first_acceptable_offer_is_chosen_in_its_spelling() {
        let raw = format!("{UPGRADE}Sec-WebSocket-Protocol: foo, MQTTv3.1\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n");
        let (info, key) = check(&head(&raw), &WsSettings::default()).expect("accepted");
        assert_eq!(info.subprotocol, "MQTTv3.1");
        assert_eq!(info.subprotocols_offered, ["foo", "MQTTv3.1", "mqtt"]);
        assert_eq!(key, "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn query_is_not_part_of_the_path() {
        let raw = format!("{UPGRADE}Sec-WebSocket-Protocol: mqtt\r\n\r\n")
            .replace("/mqtt ", "/mqtt?token=1 ");
        let (info, _) = check(&head(&raw), &WsSettings::default()).expect("accepted");
        assert_eq!(info.path, "/mqtt");
    }

    #[test]
    fn path_of_target_forms() {
        assert_eq!(path_of("/mqtt?a=b"), "/mqtt");
        assert_eq!(path_of("http://h:1/mqtt"), "/mqtt");
        assert_eq!(path_of("http://h:1"), "/");
        assert_eq!(path_of("*"), "*");
    }

    #[test]
    fn wrong_version_is_426() {
        let raw = format!("{UPGRADE}Sec-WebSocket-Protocol: mqtt\r\n\r\n")
            .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8");
        let err = check(&head(&raw), &WsSettings::default()).expect_err("refused");
        assert_eq!(err.status(), Some(426));
        assert!(err.extra_headers().contains("Sec-WebSocket-Version: 13"));
    }

    #[test]
    fn wrong_path_sentence() {
        let err = WsRejection::WrongPath {
            path: "/ws".into(),
            expected: "/mqtt".into(),
        };
        assert_eq!(
            err.to_string(),
            "requested path /ws, this listener serves MQTT on /mqtt"
        );
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        for e in [
            WsStreamError::TextMessage { len: 1 },
            WsStreamError::TooLarge { size: 2, max: 1 },
            WsStreamError::Protocol {
                detail: String::new(),
                utf8: false,
            },
        ] {
            assert!(e.close_frame().reason.len() <= 123);
        }
    }
}
