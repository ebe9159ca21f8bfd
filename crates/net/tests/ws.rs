//! MQTT over WebSocket: the upgrade, its refusals, and the byte stream, over real sockets on
//! 127.0.0.1 port 0. Every wait is bounded.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lantern_net::ws::{
    accept, accept_with_prefix, Prefixed, UpgradeInfo, WsRejection, WsSettings, WsStream,
    WsStreamError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(10);

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Served<T> = Result<(UpgradeInfo, T), WsRejection>;

/// CONNECT, MQTT 3.1.1, clean session, keep alive 60 s, client id "d".
const CONNECT_311_MIN: &[u8] = &[
    0x10,
    0x0d, // CONNECT, remaining length 13
    0x00,
    0x04,
    b'M',
    b'Q',
    b'T',
    b'T',
    0x04, // protocol name "MQTT", level 4
    0b0000_0010,
    0x00,
    0x3c, // flags: clean session; keep alive 60 s
    0x00,
    0x01,
    b'd', // client id "d"
];

/// Two PINGREQ packets.
const TWO_PINGREQS: &[u8] = &[0xc0, 0x00, 0xc0, 0x00];

async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

/// Serves one connection: reads `prefix_len` bytes first if asked, upgrades with `settings`,
/// then hands the stream to `then`.
async fn serve_one<F, Fut, T>(
    prefix_len: usize,
    settings: WsSettings,
    then: F,
) -> (SocketAddr, JoinHandle<Served<T>>)
where
    F: FnOnce(WsStream<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let accepted = if prefix_len == 0 {
            accept(stream, &settings).await
        } else {
            let mut prefix = vec![0; prefix_len];
            stream.read_exact(&mut prefix).await.expect("prefix");
            accept_with_prefix(stream, Bytes::from(prefix), &settings).await
        };
        let (ws, info) = accepted?;
        Ok((info, then(ws).await))
    });
    (addr, task)
}

/// Echoes until the client closes; returns the number of bytes echoed.
async fn echo(mut ws: WsStream<TcpStream>) -> io::Result<u64> {
    let mut buf = vec![0; 4096];
    let mut total = 0;
    loop {
        let n = ws.read(&mut buf).await?;
        if n == 0 {
            ws.shutdown().await?;
            return Ok(total);
        }
        ws.write_all(&buf[..n]).await?;
        ws.flush().await?;
        total += n as u64;
    }
}

/// Reads one packet's worth of bytes, then keeps reading to report how the stream ended.
async fn read_exactly(
    mut ws: WsStream<TcpStream>,
    len: usize,
) -> (io::Result<Vec<u8>>, io::Result<usize>) {
    let mut buf = vec![0; len];
    let got = ws.read_exact(&mut buf).await.map(|_| buf);
    let mut rest = [0u8; 64];
    let end = ws.read(&mut rest).await;
    (got, end)
}

fn request(addr: SocketAddr, path: &str, protocols: Option<&str>) -> Request {
    let mut req = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    if let Some(p) = protocols {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().expect("header value"));
    }
    req
}

async fn connect(addr: SocketAddr, protocol: &str) -> Client {
    let (client, response) = within(connect_async(request(addr, "/mqtt", Some(protocol))))
        .await
        .expect("upgrade");
    assert_eq!(response.status(), 101);
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(protocol.as_bytes())
    );
    client
}

/// Collects binary payloads until `len` bytes arrived.
async fn receive(client: &mut Client, len: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < len {
        match within(client.next()).await {
            Some(Ok(Message::Binary(b))) => got.extend_from_slice(&b),
            other => panic!("expected binary data, got {other:?}"),
        }
    }
    got
}

/// Sends raw bytes, reads the response until the server closes.
async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(bytes).await.expect("write");
    let mut response = Vec::new();
    within(tcp.read_to_end(&mut response))
        .await
        .expect("read response");
    String::from_utf8_lossy(&response).into_owned()
}

/// Reads an HTTP response head, byte by byte so nothing after it is consumed.
async fn read_response_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.expect("response head"));
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn upgrade_request(path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn status_of(response: &str) -> &str {
    response
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("")
}

fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

async fn refused<T: std::fmt::Debug>(task: JoinHandle<Served<T>>) -> WsRejection {
    within(task)
        .await
        .expect("server task")
        .expect_err("refused")
}

fn settings_with_max(max: usize) -> WsSettings {
    WsSettings {
        max_frame: NonZeroUsize::new(max).expect("non-zero"),
        ..WsSettings::default()
    }
}

#[tokio::test]
async fn mqtt_subprotocol_echoes_binary_data() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let mut client = connect(addr, "mqtt").await;
    within(client.send(Message::binary(CONNECT_311_MIN)))
        .await
        .expect("send");
    assert_eq!(
        receive(&mut client, CONNECT_311_MIN.len()).await,
        CONNECT_311_MIN
    );
    within(client.close(None)).await.expect("close");
    let (info, echoed) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(echoed.expect("clean end"), CONNECT_311_MIN.len() as u64);
    assert_eq!(info.path, "/mqtt");
    assert_eq!(info.subprotocol, "mqtt");
    assert_eq!(info.subprotocols_offered, ["mqtt"]);
}

#[tokio::test]
async fn mqttv3_1_subprotocol_echoes_binary_data() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let mut client = connect(addr, "mqttv3.1").await;
    within(client.send(Message::binary(TWO_PINGREQS)))
        .await
        .expect("send");
    assert_eq!(receive(&mut client, TWO_PINGREQS.len()).await, TWO_PINGREQS);
    within(client.close(None)).await.expect("close");
    let (info, _) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(info.subprotocol, "mqttv3.1");
}

#[tokio::test]
async fn mqtt_6_0_0_4_first_acceptable_offer_wins() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let (mut client, response) = within(connect_async(request(
        addr,
        "/mqtt",
        Some("foo, mqttv3.1, mqtt"),
    )))
    .await
    .expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(&b"mqttv3.1"[..])
    );
    within(client.close(None)).await.expect("close");
    let (info, _) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(info.subprotocols_offered, ["foo", "mqttv3.1", "mqtt"]);
}

#[tokio::test]
async fn mqtt_6_0_0_2_packet_split_across_messages_arrives_whole() {
    let len = CONNECT_311_MIN.len();
    let (addr, server) = serve_one(0, WsSettings::default(), move |ws| read_exactly(ws, len)).await;
    let mut client = connect(addr, "mqtt").await;
    for part in [
        &CONNECT_311_MIN[..1],
        &CONNECT_311_MIN[1..7],
        &CONNECT_311_MIN[7..],
    ] {
        within(client.send(Message::binary(part.to_vec())))
            .await
            .expect("send");
    }
    within(client.close(None)).await.expect("close");
    let (_, (got, end)) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(got.expect("packet"), CONNECT_311_MIN);
    assert_eq!(end.expect("clean end"), 0, "close is the end of the stream");
}

#[tokio::test]
async fn mqtt_6_0_0_2_packet_in_a_fragmented_message_arrives_whole() {
    let len = CONNECT_311_MIN.len();
    let (addr, server) = serve_one(0, WsSettings::default(), move |ws| read_exactly(ws, len)).await;
    let mut client = connect(addr, "mqtt").await;
    let frames = [
        Frame::message(
            CONNECT_311_MIN[..3].to_vec(),
            OpCode::Data(Data::Binary),
            false,
        ),
        Frame::message(
            CONNECT_311_MIN[3..9].to_vec(),
            OpCode::Data(Data::Continue),
            false,
        ),
        Frame::message(
            CONNECT_311_MIN[9..].to_vec(),
            OpCode::Data(Data::Continue),
            true,
        ),
    ];
    for frame in frames {
        within(client.send(Message::Frame(frame)))
            .await
            .expect("send");
    }
    within(client.close(None)).await.expect("close");
    let (_, (got, _)) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(got.expect("packet"), CONNECT_311_MIN);
}

#[tokio::test]
async fn mqtt_6_0_0_2_several_packets_in_one_message_arrive_together() {
    let (addr, server) = serve_one(0, WsSettings::default(), |mut ws| async move {
        let mut buf = [0u8; 64];
        let n = ws.read(&mut buf).await?;
        Ok::<_, io::Error>(buf[..n].to_vec())
    })
    .await;
    let mut client = connect(addr, "mqtt").await;
    within(client.send(Message::binary(TWO_PINGREQS)))
        .await
        .expect("send");
    let (_, got) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(
        got.expect("read"),
        TWO_PINGREQS,
        "one read returns the whole message"
    );
}

#[tokio::test]
async fn long_write_is_split_into_messages_in_order() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let sent = data.clone();
    let (addr, server) = serve_one(0, settings_with_max(1024), move |mut ws| async move {
        ws.write_all(&sent).await?;
        ws.flush().await
    })
    .await;
    let mut client = connect(addr, "mqtt").await;
    let mut sizes = Vec::new();
    let mut got = Vec::new();
    while got.len() < data.len() {
        match within(client.next()).await {
            Some(Ok(Message::Binary(b))) => {
                sizes.push(b.len());
                got.extend_from_slice(&b);
            }
            other => panic!("expected binary data, got {other:?}"),
        }
    }
    assert_eq!(got, data);
    assert!(sizes.iter().all(|&s| s <= 1024), "{sizes:?}");
    let (_, written) = within(server).await.expect("task").expect("upgraded");
    written.expect("written");
}

#[tokio::test]
async fn ping_is_answered_while_reading() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let mut client = connect(addr, "mqtt").await;
    within(client.send(Message::Ping(Bytes::from_static(b"hi"))))
        .await
        .expect("ping");
    match within(client.next()).await {
        Some(Ok(Message::Pong(p))) => assert_eq!(&p[..], b"hi"),
        other => panic!("expected pong, got {other:?}"),
    }
    within(client.close(None)).await.expect("close");
    let (_, echoed) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(echoed.expect("clean end"), 0);
}

#[tokio::test]
async fn mqtt_6_0_0_1_text_message_is_closed_with_1003() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let mut client = connect(addr, "mqtt").await;
    within(client.send(Message::text("CONNECT")))
        .await
        .expect("send");
    match within(client.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Unsupported),
        other => panic!("expected close 1003, got {other:?}"),
    }
    let (_, echoed) = within(server).await.expect("task").expect("upgraded");
    let err = echoed.expect_err("text is an error");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let cause = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<WsStreamError>())
        .expect("WsStreamError inside");
    assert_eq!(cause, &WsStreamError::TextMessage { len: 7 });
    assert_eq!(cause.close_code(), 1003);
}

#[tokio::test]
async fn oversized_message_is_closed_with_1009() {
    let (addr, server) = serve_one(0, settings_with_max(1024), echo).await;
    let mut client = connect(addr, "mqtt").await;
    within(client.send(Message::binary(vec![0u8; 2000])))
        .await
        .expect("send");
    match within(client.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected close 1009, got {other:?}"),
    }
    let (_, echoed) = within(server).await.expect("task").expect("upgraded");
    let err = echoed.expect_err("too large is an error");
    let cause = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<WsStreamError>())
        .expect("WsStreamError inside");
    assert!(
        matches!(cause, WsStreamError::TooLarge { max: 1024, .. }),
        "{cause:?}"
    );
}

#[tokio::test]
async fn client_vanishing_without_close_is_end_of_stream() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let client = connect(addr, "mqtt").await;
    drop(client);
    let (_, echoed) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(echoed.expect("end of stream"), 0);
}

#[tokio::test]
async fn prefix_read_by_the_caller_is_replayed() {
    let (addr, server) = serve_one(4, WsSettings::default(), echo).await;
    let mut client = connect(addr, "mqtt").await;
    within(client.send(Message::binary(CONNECT_311_MIN)))
        .await
        .expect("send");
    assert_eq!(
        receive(&mut client, CONNECT_311_MIN.len()).await,
        CONNECT_311_MIN
    );
    within(client.close(None)).await.expect("close");
    let (info, _) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(info.subprotocol, "mqtt");
}

#[tokio::test]
async fn data_sent_before_the_101_is_not_lost() {
    let (addr, server) = serve_one(0, WsSettings::default(), |ws| read_exactly(ws, 4)).await;
    // The request and a masked binary frame holding TWO_PINGREQS, in one write.
    let mut bytes = upgrade_request("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n").into_bytes();
    let mask = [0x11, 0x22, 0x33, 0x44];
    bytes.extend_from_slice(&[0x82, 0x80 | TWO_PINGREQS.len() as u8]);
    bytes.extend_from_slice(&mask);
    bytes.extend(
        TWO_PINGREQS
            .iter()
            .zip(mask.iter().cycle())
            .map(|(b, m)| b ^ m),
    );
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&bytes).await.expect("write");
    let response = within(read_response_head(&mut tcp)).await;
    assert_eq!(status_of(&response), "101", "{response}");
    drop(tcp);
    let (_, (got, end)) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(got.expect("packets"), TWO_PINGREQS);
    assert_eq!(end.expect("end of stream"), 0);
}

#[tokio::test]
async fn upgrade_info_reports_headers() {
    let (addr, server) = serve_one(0, WsSettings::default(), |_| async {}).await;
    let extra = "Sec-WebSocket-Protocol: mqtt\r\nUser-Agent: sensor/1.0\r\n\
                 Origin: https://dash.example\r\nX-Forwarded-For: 192.0.2.7\r\n";
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(upgrade_request("/mqtt?token=x", extra).as_bytes())
        .await
        .expect("write");
    let (info, ()) = within(server).await.expect("task").expect("upgraded");
    assert_eq!(info.path, "/mqtt");
    assert_eq!(info.user_agent.as_deref(), Some("sensor/1.0"));
    assert_eq!(info.origin.as_deref(), Some("https://dash.example"));
    assert_eq!(info.forwarded_for.as_deref(), Some("192.0.2.7"));
    let mut response = [0u8; 12];
    within(tcp.read_exact(&mut response)).await.expect("101");
    assert_eq!(&response, b"HTTP/1.1 101");
}

#[tokio::test]
async fn wrong_path_is_404_naming_the_right_one() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let response = raw_exchange(
        addr,
        upgrade_request("/ws", "Sec-WebSocket-Protocol: mqtt\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&response), "404", "{response}");
    assert_eq!(
        body_of(&response),
        "requested path /ws, this listener serves MQTT on /mqtt\n"
    );
    let rejection = refused(server).await;
    assert!(matches!(
        &rejection,
        WsRejection::WrongPath { path, expected } if path == "/ws" && expected == "/mqtt"
    ));
    assert_eq!(rejection.status(), Some(404));
}

#[tokio::test]
async fn wrong_path_seen_by_a_websocket_client() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let err = within(connect_async(request(addr, "/ws", Some("mqtt"))))
        .await
        .expect_err("refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    refused(server).await;
}

#[tokio::test]
async fn mqtt_6_0_0_3_no_subprotocol_is_400() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let response = raw_exchange(addr, upgrade_request("/mqtt", "").as_bytes()).await;
    assert_eq!(status_of(&response), "400", "{response}");
    assert!(
        body_of(&response).contains("Sec-WebSocket-Protocol: mqtt"),
        "{response}"
    );
    assert!(matches!(refused(server).await, WsRejection::NoSubprotocol));
}

#[tokio::test]
async fn mqtt_6_0_0_3_unknown_subprotocol_is_400_naming_mqtt() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let response = raw_exchange(
        addr,
        upgrade_request("/mqtt", "Sec-WebSocket-Protocol: foo\r\n").as_bytes(),
    )
    .await;
    assert_eq!(status_of(&response), "400", "{response}");
    let body = body_of(&response);
    assert!(body.contains("foo") && body.contains("mqtt"), "{body}");
    assert!(matches!(
        refused(server).await,
        WsRejection::UnknownSubprotocol { offered } if offered == ["foo"]
    ));
}

#[tokio::test]
async fn plain_http_get_is_426() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let response = raw_exchange(addr, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert_eq!(status_of(&response), "426", "{response}");
    assert!(
        response.contains("\r\nUpgrade: websocket\r\n"),
        "{response}"
    );
    assert!(matches!(
        refused(server).await,
        WsRejection::NotAnUpgrade { method, path, status: 426 } if method == "GET" && path == "/"
    ));
}

#[tokio::test]
async fn post_upgrade_is_405() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let request =
        upgrade_request("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n").replacen("GET", "POST", 1);
    let response = raw_exchange(addr, request.as_bytes()).await;
    assert_eq!(status_of(&response), "405", "{response}");
    assert!(response.contains("\r\nAllow: GET\r\n"), "{response}");
    assert!(matches!(
        refused(server).await,
        WsRejection::WrongMethod { .. }
    ));
}

#[tokio::test]
async fn mqtt_bytes_on_the_websocket_port_are_400() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let response = raw_exchange(addr, CONNECT_311_MIN).await;
    assert_eq!(status_of(&response), "400", "{response}");
    assert!(matches!(
        refused(server).await,
        WsRejection::BadRequest { .. }
    ));
}

#[tokio::test]
async fn endless_head_is_431_after_a_bounded_read() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    // A method token that never ends; the server must stop reading at its limit.
    let junk = vec![b'A'; 64 * 1024];
    let writer = async {
        // The server stops reading, so this write may fail or stall; either is fine.
        let _ = tcp.write_all(&junk).await;
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), writer).await;
    let mut response = Vec::new();
    let _ = within(tcp.read_to_end(&mut response)).await;
    drop(tcp);
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.is_empty() || status_of(&response) == "431",
        "{response}"
    );
    assert!(matches!(
        refused(server).await,
        WsRejection::HeadTooLarge { .. }
    ));
}

#[tokio::test]
async fn client_leaving_mid_request_is_an_io_rejection() {
    let (addr, server) = serve_one(0, WsSettings::default(), echo).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /mqtt HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    drop(tcp);
    let rejection = refused(server).await;
    assert!(matches!(&rejection, WsRejection::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof));
    assert_eq!(rejection.status(), None);
}

#[tokio::test]
async fn prefixed_yields_the_prefix_then_the_stream() {
    let (mut near, far) = tokio::io::duplex(64);
    let mut prefixed = Prefixed::new(Bytes::from_static(b"GET "), far);
    near.write_all(b"/mqtt").await.expect("write");
    let mut first = [0u8; 3];
    prefixed.read_exact(&mut first).await.expect("read");
    assert_eq!(&first, b"GET");
    let mut rest = [0u8; 6];
    prefixed.read_exact(&mut rest).await.expect("read");
    assert_eq!(&rest, b" /mqtt");
    prefixed.write_all(b"reply").await.expect("write");
    let mut reply = [0u8; 5];
    near.read_exact(&mut reply).await.expect("read");
    assert_eq!(&reply, b"reply");
    let (unread, _) = prefixed.into_parts();
    assert!(unread.is_empty());
}

#[tokio::test]
async fn prefixed_into_parts_keeps_the_unread_prefix() {
    let (_near, far) = tokio::io::duplex(64);
    let mut prefixed = Prefixed::new(Bytes::from_static(b"GET /"), far);
    let mut first = [0u8; 2];
    prefixed.read_exact(&mut first).await.expect("read");
    let (unread, _) = prefixed.into_parts();
    assert_eq!(&unread[..], b"T /");
}

/// Issue 9, defect 6 on WebSocket: before the gate opens (CONNECT accepted), reading stops
/// after `max_before_connect` bytes, so a client announcing a large frame cannot make
/// tungstenite buffer it; once opened, the rest is read.
#[tokio::test]
async fn issue_9_reading_pauses_at_max_before_connect_until_the_gate_opens() {
    let settings = WsSettings {
        max_before_connect: NonZeroUsize::new(16 * 1024),
        ..WsSettings::default()
    };
    let len = 256 * 1024;
    let (addr, server) = serve_one(0, settings, move |mut ws| async move {
        let mut buf = vec![0; len];
        // Stalls: the message is larger than what may be read before CONNECT.
        let stalled = tokio::time::timeout(Duration::from_millis(500), ws.read_exact(&mut buf))
            .await
            .is_err();
        ws.connect_gate().open();
        let got = ws.read_exact(&mut buf).await.map(|_| buf);
        (stalled, got)
    })
    .await;
    let mut client = connect(addr, "mqtt").await;
    let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    within(client.send(Message::binary(payload.clone())))
        .await
        .expect("send");
    let (_, (stalled, got)) = within(server).await.expect("task").expect("upgraded");
    assert!(
        stalled,
        "read more than max_before_connect before the gate opened"
    );
    assert_eq!(got.expect("the whole message once open"), payload);
}
