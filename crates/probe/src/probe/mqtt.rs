//! The probe's MQTT client: packets from lantern-codec over TCP, TLS or WebSocket, every wait
//! bounded by the stage timeout, the read buffer bounded by [`MAX_BUFFER`].

use std::io;
use std::num::NonZeroU32;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use lantern_codec::{decode, Limits, Packet, ProtocolVersion};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The largest packet the probe accepts from a broker (its own packets are tiny).
pub(crate) const MAX_BUFFER: u32 = 1 << 20;

/// A byte stream: TCP, or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed byte stream.
pub(crate) type BoxIo = Box<dyn Io>;

/// The transport MQTT packets travel on.
pub(crate) enum Conn {
    /// TCP or TLS.
    Stream(BoxIo),
    /// MQTT over WebSocket (binary frames), over TCP or TLS.
    Ws(Box<WebSocketStream<BoxIo>>),
}

/// Why a WebSocket upgrade failed.
pub(crate) enum WsFailure {
    /// The server answered the upgrade with this HTTP status.
    Status(u16, String),
    /// The server chose no subprotocol although `mqtt` was offered.
    NoSubprotocol,
    /// Anything else.
    Other(String),
}

/// Upgrades `io` to a WebSocket asking for subprotocol `mqtt` [MQTT-6.0.0-3]; returns the
/// connection and the subprotocol the server chose.
pub(crate) async fn ws_upgrade(
    io: BoxIo,
    url: &str,
    timeout: Duration,
) -> Result<(Conn, Option<String>), WsFailure> {
    let mut request = url
        .into_client_request()
        .map_err(|e| WsFailure::Other(e.to_string()))?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    match tokio::time::timeout(timeout, tokio_tungstenite::client_async(request, io)).await {
        Err(_) => Err(WsFailure::Other(
            "no upgrade response before the timeout".into(),
        )),
        Ok(Ok((ws, response))) => {
            let proto = response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((Conn::Ws(Box::new(ws)), proto))
        }
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let body = resp
                .body()
                .as_ref()
                .map(|b| {
                    String::from_utf8_lossy(&b[..b.len().min(200)])
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            Err(WsFailure::Status(resp.status().as_u16(), body))
        }
        Ok(Err(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_),
        ))) => Err(WsFailure::NoSubprotocol),
        Ok(Err(e)) => Err(WsFailure::Other(e.to_string())),
    }
}

/// How an MQTT exchange failed.
#[derive(Debug)]
pub(crate) enum MqttError {
    /// The broker closed the connection.
    Closed,
    /// Nothing (complete) arrived before the timeout.
    Timeout {
        /// Bytes of an incomplete packet waiting.
        partial: usize,
    },
    /// A socket error.
    Io(String),
    /// The broker sent bytes the codec refused.
    Malformed {
        /// The codec's sentence.
        detail: String,
        /// The first bytes, hex.
        hex: String,
    },
}

impl std::fmt::Display for MqttError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("the broker closed the connection"),
            Self::Timeout { partial: 0 } => f.write_str("nothing arrived before the timeout"),
            Self::Timeout { partial } => {
                write!(
                    f,
                    "only {partial} bytes of a packet arrived before the timeout"
                )
            }
            Self::Io(e) => f.write_str(e),
            Self::Malformed { detail, hex } => {
                write!(
                    f,
                    "the broker sent a malformed packet ({detail}); bytes {hex}"
                )
            }
        }
    }
}

/// An MQTT session on a transport.
pub(crate) struct Session {
    conn: Conn,
    buf: BytesMut,
    version: ProtocolVersion,
    timeout: Duration,
}

impl Session {
    /// A session speaking `version`, with `timeout` for every wait.
    pub(crate) fn new(conn: Conn, version: ProtocolVersion, timeout: Duration) -> Self {
        Self {
            conn,
            buf: BytesMut::with_capacity(4096),
            version,
            timeout,
        }
    }

    /// Sends one packet.
    pub(crate) async fn send(&mut self, packet: &Packet) -> Result<(), MqttError> {
        let mut out = BytesMut::new();
        packet
            .encode(self.version, &mut out)
            .map_err(|e| MqttError::Io(format!("encoding {:?}: {e}", packet.packet_type())))?;
        let write = async {
            match &mut self.conn {
                Conn::Stream(s) => {
                    s.write_all(&out).await?;
                    s.flush().await
                }
                Conn::Ws(ws) => ws
                    .send(Message::Binary(out.freeze()))
                    .await
                    .map_err(io::Error::other),
            }
        };
        match tokio::time::timeout(self.timeout, write).await {
            Err(_) => Err(MqttError::Timeout { partial: 0 }),
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_error(e)),
        }
    }

    /// The next packet from the broker, within the timeout.
    pub(crate) async fn recv(&mut self) -> Result<Packet, MqttError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let limits = Limits {
            max_packet_size: NonZeroU32::new(MAX_BUFFER).unwrap_or(NonZeroU32::MIN),
        };
        loop {
            match decode(&mut self.buf, self.version, &limits) {
                Ok(Some(p)) => return Ok(p),
                Ok(None) => {}
                Err(e) => {
                    return Err(MqttError::Malformed {
                        detail: e.to_string(),
                        hex: super::wire::hex(&self.buf[..self.buf.len().min(32)]),
                    })
                }
            }
            let partial = self.buf.len();
            let read = tokio::time::timeout_at(deadline, read_some(&mut self.conn, &mut self.buf));
            match read.await {
                Err(_) => return Err(MqttError::Timeout { partial }),
                Ok(Ok(0)) => return Err(MqttError::Closed),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(io_error(e)),
            }
        }
    }

    /// Closes the transport (after DISCONNECT), ignoring errors.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            match &mut self.conn {
                Conn::Stream(s) => {
                    let _ = s.shutdown().await;
                }
                Conn::Ws(ws) => {
                    let _ = ws.close(None).await;
                }
            }
        })
        .await;
    }
}

/// Reads what is available into `buf`; 0 at end of stream.
async fn read_some(conn: &mut Conn, buf: &mut BytesMut) -> io::Result<usize> {
    match conn {
        Conn::Stream(s) => {
            if buf.len() >= MAX_BUFFER as usize {
                return Err(io::Error::other("read buffer full"));
            }
            buf.reserve(4096);
            s.read_buf(buf).await
        }
        Conn::Ws(ws) => loop {
            match ws.next().await {
                None => return Ok(0),
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(Message::Binary(b))) => {
                    if buf.len() + b.len() > MAX_BUFFER as usize {
                        return Err(io::Error::other("read buffer full"));
                    }
                    buf.extend_from_slice(&b);
                    if !b.is_empty() {
                        return Ok(b.len());
                    }
                }
                Some(Ok(Message::Close(_))) => return Ok(0),
                // Text frames are not MQTT [MQTT-6.0.0-1]; pings are answered by tungstenite.
                Some(Ok(_)) => {}
            }
        },
    }
}

fn io_error(e: io::Error) -> MqttError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => MqttError::Closed,
        _ => MqttError::Io(e.to_string()),
    }
}

/// A payload for the probe's round trip.
pub(crate) fn probe_payload(client_id: &str) -> Bytes {
    Bytes::from(format!("lantern probe {client_id}"))
}
