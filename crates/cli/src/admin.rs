//! The admin HTTP API, on loopback only: the recent connection stories for `lantern why` and
//! for scripts.
//!
//! | request                         | answer                                              |
//! |---------------------------------|-----------------------------------------------------|
//! | `GET /api/stories?FILTERS`      | JSON array of stories, newest first                 |
//! | `GET /api/stories/summary?…`    | JSON [`Summary`] of the failures among them         |
//! | `GET /api/health`               | `{"ok":true}`                                       |
//!
//! FILTERS are `client`, `ip`, `tenant`, `cause`, `outcome`, `failed` and `last` (see
//! [`StoryFilter::from_query`]). Anything else is 404, any method but GET is 405.
//!
//! The API has no authentication, so it must not leave the machine: [`check_loopback`] refuses
//! other bind addresses, and requests whose `Host` is not a loopback name are refused too (a web
//! page cannot reach it through DNS rebinding). The server is deliberately tiny: HTTP/1.1, one
//! request per connection, a bounded request head that must arrive within 2 s (408 otherwise),
//! writes that must make progress within 5 s, a deadline per connection, and up to 256
//! connections at once; when all are taken, the one that has waited longest for its request
//! head gives way (503), so a local process holding partial requests open cannot stall it. It is not a general web server and does not serve the dashboard.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};
use tracing::{debug, info, warn};

use crate::journal::{summary, Journal, StoryFilter, Summary};

/// Where the admin API listens unless configured otherwise.
pub(crate) const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 18830));

/// The largest request head (request line and headers) read.
const HEAD_LIMIT: usize = 8 * 1024;

/// The whole request head must arrive within this time of the accept (`lantern why` sends it
/// at once); a connection that dawdles is answered 408 and closed, so partial requests cannot
/// hold slots for long.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Each write of the answer must make progress within this time (a reader that stops reading).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection must send its request and take its answer within this time in all.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// Connections served at once. When all are taken, the connection that has waited longest for
/// its request head is answered 503 and closed to make room for the new one.
const MAX_CONNECTIONS: usize = 256;

/// Refuses an admin API address that is not loopback: the API has no authentication.
pub(crate) fn check_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    if addr.ip().to_canonical().is_loopback() {
        Ok(())
    } else {
        anyhow::bail!(
            "the admin API address {addr} is not a loopback address: the admin API has no authentication and must stay on this machine (use 127.0.0.1 or [::1])"
        )
    }
}

/// Checks that `addr` is loopback and binds it.
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    check_loopback(addr)?;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for the admin API on {addr}"))
}

/// The admin API listener of `lantern serve`. An address given with `--admin` must be free:
/// if it is not, the broker does not start (the error names the address). Without `--admin`
/// the default address is tried, and when it is taken (another broker on this machine) the
/// broker runs without an admin API: `Ok(None)` and a warning saying that `lantern why` can
/// still read the story log with `--file`.
pub(crate) async fn bind_for_serve(
    explicit: Option<SocketAddr>,
    default: SocketAddr,
) -> anyhow::Result<Option<TcpListener>> {
    bind_or_fallback(explicit.unwrap_or(default), explicit.is_some()).await
}

async fn bind_or_fallback(addr: SocketAddr, required: bool) -> anyhow::Result<Option<TcpListener>> {
    match bind(addr).await {
        Ok(listener) => {
            info!(addr = %listener.local_addr()?, "admin API (lantern why) listening");
            Ok(Some(listener))
        }
        Err(e) if required => Err(e),
        Err(e) => {
            warn!("no admin API, so `lantern why` cannot ask this broker (it can still read the story log with --file): {e:#}");
            Ok(None)
        }
    }
}

/// Serves the admin API on `listener` until `shutdown` completes. Requests in progress at that
/// point finish on their own (each within its deadline).
pub(crate) async fn serve_admin(
    listener: TcpListener,
    journal: Journal,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let reading = Arc::new(Mutex::new(Reading::default()));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    debug!("admin API accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Every slot is taken: the connection that has waited longest for its request
                // head gives way to this one (a stalled client, not an answer in progress).
                lock(&reading).evict_oldest();
                tokio::select! {
                    () = &mut shutdown => return,
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => return, // INVARIANT: never closed; return rather than spin.
                    },
                }
            }
        };
        let (evict, evicted) = oneshot::channel::<()>();
        let id = lock(&reading).add(evict);
        let journal = journal.clone();
        let reading = Arc::clone(&reading);
        tokio::spawn(async move {
            let _permit = permit;
            let served = serve_one(stream, &journal, evicted, || lock(&reading).remove(id));
            if tokio::time::timeout(CONNECTION_DEADLINE, served)
                .await
                .is_err()
            {
                debug!(%peer, "admin API connection timed out");
            }
            lock(&reading).remove(id);
        });
    }
}

/// The connections still reading their request head, oldest first, each with the sender that
/// evicts it.
#[derive(Default)]
struct Reading {
    next: u64,
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
}

impl Reading {
    fn add(&mut self, evict: oneshot::Sender<()>) -> u64 {
        let id = self.next;
        self.next += 1;
        self.waiting.push_back((id, evict));
        id
    }

    fn remove(&mut self, id: u64) {
        self.waiting.retain(|(i, _)| *i != id);
    }

    fn evict_oldest(&mut self) {
        while let Some((_, evict)) = self.waiting.pop_front() {
            if evict.send(()).is_ok() {
                return;
            }
        }
    }
}

fn lock(reading: &Mutex<Reading>) -> MutexGuard<'_, Reading> {
    // Each method leaves the queue whole; a poisoned lock is still usable.
    reading.lock().unwrap_or_else(|e| e.into_inner())
}

/// One answer.
#[derive(Debug)]
struct Response {
    status: u16,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self { status, body },
            Err(e) => Self::error(500, &format!("cannot serialize the answer: {e}")),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        let body = serde_json::json!({ "error": message });
        Self {
            status,
            body: body.to_string().into_bytes(),
        }
    }

    fn head(&self) -> String {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            503 => "Service Unavailable",
            431 => "Request Header Fields Too Large",
            _ => "Internal Server Error",
        };
        let allow = if self.status == 405 {
            "Allow: GET\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            self.status,
            self.body.len()
        )
    }
}

/// Reads one request and answers it. `evicted` fires when a newer connection needs the slot
/// while this one still waits for its head; `head_read` is called once the head is in.
async fn serve_one(
    mut stream: TcpStream,
    journal: &Journal,
    evicted: oneshot::Receiver<()>,
    head_read: impl FnOnce(),
) {
    let read = tokio::select! {
        read = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)) => read,
        Ok(()) = evicted => Ok(Err(Response::error(
            503,
            "the admin API is busy: this connection waited longest for its request and gave way",
        ))),
    };
    head_read();
    let response = match read {
        Ok(Ok(Some(head))) => answer(&head, journal),
        Ok(Ok(None)) => return, // closed without a request
        Ok(Err(response)) => response,
        Err(_) => Response::error(
            408,
            &format!(
                "the request head did not arrive within {} s",
                HEAD_TIMEOUT.as_secs()
            ),
        ),
    };
    let head = response.head();
    for part in [head.as_bytes(), &response.body] {
        if !write_within(&mut stream, part).await {
            return;
        }
    }
    let _ = tokio::time::timeout(WRITE_TIMEOUT, stream.shutdown()).await;
}

/// Writes `bytes`, each write bounded by [`WRITE_TIMEOUT`]; `false` when it failed or stalled.
async fn write_within(stream: &mut TcpStream, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match tokio::time::timeout(WRITE_TIMEOUT, stream.write(bytes)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return false,
            Ok(Ok(n)) => bytes = &bytes[n..],
            Err(_) => {
                debug!("admin API client stopped reading; closing");
                return false;
            }
        }
    }
    true
}

/// The parts of a request head that matter here.
#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    host: Option<String>,
}

/// Reads one request head, at most [`HEAD_LIMIT`] bytes. `Ok(None)`: closed before a request.
async fn read_head(stream: &mut TcpStream) -> Result<Option<Head>, Response> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(Response::error(400, "incomplete request")),
            Ok(n) => n,
            Err(_) => return Ok(None),
        };
        buf.extend_from_slice(&chunk[..n]);
        match parse_head(&buf) {
            Ok(Some(head)) => return Ok(Some(head)),
            Ok(None) if buf.len() >= HEAD_LIMIT => {
                return Err(Response::error(431, "request head larger than 8 KiB"))
            }
            Ok(None) => {}
            Err(response) => return Err(response),
        }
    }
}

/// Parses a request head; `Ok(None)` when incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Response> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => Ok(Some(Head {
            method: req.method.unwrap_or_default().to_owned(),
            target: req.path.unwrap_or_default().to_owned(),
            host: req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned()),
        })),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            Err(Response::error(431, "too many request headers"))
        }
        Err(e) => Err(Response::error(400, &format!("malformed request: {e}"))),
    }
}

/// The answer to one request: no IO, so it is tested directly.
fn answer(head: &Head, journal: &Journal) -> Response {
    if let Some(host) = &head.host {
        if !is_loopback_host(host) {
            return Response::error(403, "the admin API answers only to loopback host names");
        }
    }
    if head.method != "GET" {
        return Response::error(405, "only GET is supported");
    }
    let (path, query) = head
        .target
        .split_once('?')
        .unwrap_or((head.target.as_str(), ""));
    match path {
        "/api/health" => Response::json(200, &serde_json::json!({ "ok": true })),
        "/api/stories" | "/api/stories/summary" => {
            let filter = match StoryFilter::from_query(query) {
                Ok(f) => f,
                Err(e) => return Response::error(400, &e),
            };
            let stories = journal.query(&filter);
            if path == "/api/stories" {
                Response::json(200, &stories)
            } else {
                let s: Summary = summary(&stories);
                Response::json(200, &s)
            }
        }
        _ => Response::error(
            404,
            "not found: try /api/stories, /api/stories/summary or /api/health",
        ),
    }
}

/// `localhost`, `127.0.0.1`, `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        // `[::1]:18830` or `127.0.0.1:18830` or `localhost:18830`; a bare `::1` has colons
        // but no brackets and is handled below.
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            if name.contains(':') && !name.starts_with('[') {
                host
            } else {
                name
            }
        }
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

#[cfg(test)]
mod tests {
    use lantern_diag::{Cause, Story};
    use tokio::sync::oneshot;

    use super::*;
    use crate::journal::tests::{no_cipher, no_sni, ok, story, with_hello};

    fn journal() -> Journal {
        let j = Journal::new(100, None).unwrap();
        j.record(story(1, "10.0.0.1:1000", Some("dev-1"), no_sni()));
        j.record(story(2, "10.0.0.2:1000", Some("dev-2"), ok()));
        j.record(with_hello(
            story(3, "10.0.0.3:1000", None, no_cipher()),
            "fp1",
        ));
        j.record(with_hello(
            story(4, "10.0.0.4:1000", None, no_cipher()),
            "fp1",
        ));
        j
    }

    /// Starts the API on 127.0.0.1:0; the returned sender stops it.
    async fn start(
        journal: Journal,
    ) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_admin(listener, journal, async {
            let _ = stopped.await;
        }));
        (addr, stop, task)
    }

    /// Sends raw bytes, returns (status, body).
    async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // The server may answer (and close) before it has read everything we send.
        let _ = s.write_all(request).await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(head.contains("Connection: close"), "{head}");
        (status, body.to_owned())
    }

    async fn get(addr: SocketAddr, target: &str) -> (u16, String) {
        raw(
            addr,
            format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
        )
        .await
    }

    fn story_ids(body: &str) -> Vec<u64> {
        serde_json::from_str::<Vec<Story>>(body)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect()
    }

    #[tokio::test]
    async fn api_over_a_real_socket() {
        let (addr, stop, task) = start(journal()).await;

        let (status, body) = get(addr, "/api/health").await;
        assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));

        let (status, body) = get(addr, "/api/stories").await;
        assert_eq!(status, 200);
        assert_eq!(story_ids(&body), [4, 3, 2, 1]);
        assert_eq!(
            story_ids(&get(addr, "/api/stories?client=dev-1").await.1),
            [1]
        );
        assert_eq!(
            story_ids(&get(addr, "/api/stories?ip=10.0.0.2").await.1),
            [2]
        );
        assert_eq!(
            story_ids(&get(addr, "/api/stories?failed=1&last=2").await.1),
            [4, 3]
        );
        assert_eq!(
            story_ids(&get(addr, "/api/stories?cause=tls.&tenant=acme").await.1),
            [4, 3, 1]
        );
        assert_eq!(
            story_ids(&get(addr, "/api/stories?cause=tls%2Eno_sni").await.1),
            [1]
        );
        assert_eq!(
            story_ids(&get(addr, "/api/stories?outcome=ok").await.1),
            [2]
        );

        let (status, body) = get(addr, "/api/stories/summary?cause=tls.").await;
        assert_eq!(status, 200);
        let s: Summary = serde_json::from_str(&body).unwrap();
        assert_eq!((s.stories, s.failed), (3, 3));
        assert_eq!(
            (s.by_hello[0].devices, s.by_hello[0].cause.as_str()),
            (2, "tls.no_shared_cipher")
        );

        let (status, body) = get(addr, "/api/stories?clinet=x").await;
        assert_eq!(status, 400);
        assert!(body.contains("unknown filter"), "{body}");

        assert_eq!(get(addr, "/").await.0, 404);
        assert_eq!(get(addr, "/api/storiesx").await.0, 404);

        let (status, _) = raw(
            addr,
            format!("POST /api/stories HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert_eq!(status, 405);

        let big = format!(
            "GET /api/stories HTTP/1.1\r\nHost: {addr}\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(HEAD_LIMIT)
        );
        assert_eq!(raw(addr, big.as_bytes()).await.0, 431);

        assert_eq!(raw(addr, b"NOT HTTP AT ALL\r\n\r\n").await.0, 400);
        assert_eq!(
            raw(
                addr,
                b"GET /api/health HTTP/1.1\r\nHost: evil.example\r\n\r\n"
            )
            .await
            .0,
            403
        );
        assert_eq!(
            raw(
                addr,
                b"GET /api/health HTTP/1.1\r\nHost: localhost:18830\r\n\r\n"
            )
            .await
            .0,
            200
        );
        assert_eq!(raw(addr, b"GET /api/health HTTP/1.0\r\n\r\n").await.0, 200);

        stop.send(()).unwrap();
        task.await.unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "still listening after shutdown"
        );
    }

    #[tokio::test]
    async fn a_silent_client_does_not_block_others() {
        let (addr, stop, task) = start(journal()).await;
        let _silent = TcpStream::connect(addr).await.unwrap();
        assert_eq!(get(addr, "/api/health").await.0, 200);
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    /// Issue 9 defect 7: more partial requests than there are slots (each holding its
    /// connection open without finishing the head) do not delay a real request: the one that
    /// waited longest gives way (503), and every partial one is closed within the head timeout
    /// (408).
    #[tokio::test]
    async fn partial_requests_cannot_stall_the_api() {
        let (addr, stop, task) = start(journal()).await;
        let started = std::time::Instant::now();
        let mut partial = Vec::new();
        for _ in 0..MAX_CONNECTIONS + 44 {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /api/stories HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .await
                .unwrap();
            partial.push(s);
        }
        let asked = std::time::Instant::now();
        let (status, _) = get(addr, "/api/health").await;
        let waited = asked.elapsed();
        println!(
            "real request answered after {waited:?} behind {} partial ones",
            partial.len()
        );
        assert_eq!(status, 200);
        assert!(waited < Duration::from_millis(1500), "waited {waited:?}");
        assert!(
            started.elapsed() < HEAD_TIMEOUT,
            "the test itself was too slow to tell"
        );

        let answer = |mut s: TcpStream| async move {
            let mut out = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
                .await
                .expect("a partial request is closed by the server")
                .unwrap();
            String::from_utf8_lossy(&out).into_owned()
        };
        let newest = partial.pop().unwrap();
        let oldest = partial.remove(0);
        let text = answer(oldest).await;
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        let text = answer(newest).await;
        let closed_after = started.elapsed();
        println!("newest partial request closed after {closed_after:?}");
        assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
        assert!(closed_after >= HEAD_TIMEOUT - Duration::from_millis(100));
        assert!(closed_after < HEAD_TIMEOUT + Duration::from_secs(5));
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    /// The fallback when the admin port is taken: without `--admin` the broker runs on without
    /// the API; with `--admin` it refuses to start, naming the address.
    #[tokio::test]
    async fn a_taken_admin_port_is_skipped_by_default_and_fatal_when_asked_for() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        assert!(bind_or_fallback(addr, false).await.unwrap().is_none());
        assert!(bind_for_serve(None, addr).await.unwrap().is_none());
        let err = bind_or_fallback(addr, true).await.unwrap_err();
        assert!(
            format!("{err:#}").contains(&format!("cannot listen for the admin API on {addr}")),
            "{err:#}"
        );
        let err = bind_for_serve(Some(addr), DEFAULT_ADMIN_ADDR)
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
        // A free address is bound, explicit or not; a non-loopback one is refused even when
        // it would be free.
        drop(taken);
        let listener = bind_or_fallback(addr, true).await.unwrap().unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
        let err = bind_for_serve(Some("0.0.0.0:0".parse().unwrap()), DEFAULT_ADMIN_ADDR)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a loopback address"), "{err}");
    }

    #[test]
    fn only_loopback_addresses_are_accepted() {
        for ok in [
            "127.0.0.1:18830",
            "127.0.0.2:1",
            "[::1]:18830",
            "[::ffff:127.0.0.1]:1",
        ] {
            check_loopback(ok.parse().unwrap()).unwrap();
        }
        for bad in ["0.0.0.0:18830", "[::]:18830", "192.168.1.2:18830"] {
            let err = check_loopback(bad.parse().unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains("not a loopback address"), "{err}");
        }
        assert!(DEFAULT_ADMIN_ADDR.ip().is_loopback());
    }

    #[test]
    fn loopback_host_names() {
        for ok in [
            "localhost",
            "LOCALHOST:80",
            "127.0.0.1",
            "127.0.0.1:18830",
            "[::1]:18830",
            "[::1]",
            "::1",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:18830",
            "10.0.0.1:18830",
            "",
            "localhost.evil.example",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    /// Issue: "Secrets never appear". Stories cannot hold a password (a CONNECT event records
    /// only `password_present`); this documents that the API output has none.
    #[test]
    fn password_is_absent_from_api_output() {
        let password = "hunter2-correct-horse";
        let journal = Journal::new(10, None).unwrap();
        journal.record(crate::journal::tests::with_connect(story(
            1,
            "10.0.0.1:1000",
            Some("dev-1"),
            Cause::BadPassword {
                username: "dev-1".into(),
                password_sent: true,
            },
        )));
        for target in ["/api/stories", "/api/stories/summary"] {
            let head = Head {
                method: "GET".into(),
                target: target.into(),
                host: None,
            };
            let response = answer(&head, &journal);
            let body = String::from_utf8(response.body).unwrap();
            assert_eq!(response.status, 200);
            assert!(body.contains("dev-1"), "{body}");
            assert!(!body.contains(password), "{body}");
        }
    }
}
