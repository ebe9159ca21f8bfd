//! The task behind one TCP connection.
//!
//! It waits for readiness rather than holding read buffers: an idle connection keeps no buffer
//! at all, which is what keeps tens of thousands of idle devices cheap. Reading pauses while
//! more than [`MAX_PENDING_OUTPUT`] bytes wait for a client that does not read, so a slow or
//! hostile client cannot make the broker buffer without bound.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use lantern_broker::{Broker, ConnEvent, Connection};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tracing::{debug, info, info_span, Instrument, Span};

/// Size of each read; a packet larger than this simply takes several reads.
const READ_CHUNK: usize = 8 * 1024;
/// Stop reading while this much output waits for the client.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// How long a closing connection may take to flush its last packets.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

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

pub(crate) struct Driver {
    stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
    conn: Connection,
    wake: Arc<TaskWaker>,
    stop: watch::Receiver<bool>,
}

impl Driver {
    pub(crate) fn new(
        broker: Arc<Broker>,
        stream: TcpStream,
        peer: SocketAddr,
        listener: Arc<str>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let wake = Arc::new(TaskWaker(Notify::new()));
        let conn = Connection::new(broker, Waker::from(wake.clone()), Instant::now());
        Self {
            stream,
            peer,
            listener,
            conn,
            wake,
            stop,
        }
    }

    pub(crate) async fn run(self) {
        let span = info_span!(
            "conn",
            id = self.conn.id(),
            listener = %self.listener,
            peer = %self.peer,
            client_id = tracing::field::Empty
        );
        self.serve().instrument(span).await;
    }

    async fn serve(mut self) {
        let mut rbuf = BytesMut::new();
        let mut wbuf = BytesMut::new();
        loop {
            if wbuf.is_empty() {
                self.conn.poll_transmit(Instant::now(), &mut wbuf);
                if wbuf.capacity() > 4 * MAX_PENDING_OUTPUT && wbuf.is_empty() {
                    wbuf = BytesMut::new();
                }
            }
            self.log_events();
            if self.conn.is_closed() {
                break;
            }
            let deadline = self.conn.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let can_read = wbuf.len() < MAX_PENDING_OUTPUT;
            tokio::select! {
                biased;
                _ = self.stop.changed() => self.conn.shutdown(Instant::now()),
                ready = self.stream.writable(), if !wbuf.is_empty() => {
                    if let Err(e) = ready.and_then(|()| try_write(&self.stream, &mut wbuf)) {
                        self.conn.handle_network_error(Instant::now(), e.to_string());
                    }
                }
                ready = self.stream.readable(), if can_read => {
                    match ready.and_then(|()| try_read(&self.stream, &mut rbuf)) {
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
                () = sleep => self.conn.handle_timeout(Instant::now()),
            }
        }
        // Closed: flush what is left (CONNACK refusal, DISCONNECT), then close the socket.
        self.conn.poll_transmit(Instant::now(), &mut wbuf);
        let flush = async {
            while !wbuf.is_empty() {
                if self.stream.writable().await.is_err() {
                    return;
                }
                if try_write(&self.stream, &mut wbuf).is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_FLUSH, flush).await;
        debug!("socket closed");
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
                    info!(
                        version = version.as_str(),
                        clean_start,
                        keep_alive,
                        session_present,
                        username = username.is_some(),
                        "connected"
                    );
                }
                ConnEvent::Closed { client_id, reason } => {
                    let outcome = match &reason {
                        lantern_broker::CloseReason::Refused { .. } => "refused",
                        _ => "closed",
                    };
                    if let Some(id) = &client_id {
                        Span::current().record("client_id", &**id);
                    }
                    info!(cause = reason.id(), "{outcome}: {reason}");
                }
                _ => {}
            }
        }
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
