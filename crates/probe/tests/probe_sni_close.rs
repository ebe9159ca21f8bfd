//! The failure of field reports 000 and 004: the TLS handshake succeeds without SNI (or with a
//! name the service does not know), and the broker closes the connection after the first
//! application data — CONNECT — without a word. A small in-process broker (rustls + the codec)
//! behaves that way; the probe must say "completes the TLS handshake but is closed after
//! CONNECT" in its SNI map and stop at the CONNECT stage when it sends no SNI itself.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use lantern_codec::{
    decode, Ack, ConnAck, Limits, Packet, ProtocolVersion, Publish, ReasonCode, SubAck,
};
use lantern_probe::probe::{self, Plan, Report, SniChoice};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The only name this broker serves.
const NAME: &str = "localhost";

/// A one-tenant MQTT 3.1.1 broker that closes after CONNECT unless the SNI was [`NAME`].
async fn serve(listener: TcpListener, acceptor: TlsAcceptor) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(20), connection(tcp, acceptor)).await;
        });
    }
}

async fn connection(tcp: TcpStream, acceptor: TlsAcceptor) {
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let known = tls.get_ref().1.server_name() == Some(NAME);
    let mut buf = BytesMut::new();
    let v = ProtocolVersion::V311;
    loop {
        let packet = loop {
            match decode(&mut buf, v, &Limits::default()) {
                Ok(Some(p)) => break p,
                Ok(None) => {}
                Err(_) => return,
            }
            match tls.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let mut out = BytesMut::new();
        let mut send = |p: Packet| p.encode(v, &mut out).unwrap();
        match packet {
            // Like a cloud that routes by SNI: no word, just close.
            Packet::Connect(_) if !known => return,
            Packet::Connect(_) => send(Packet::ConnAck(ConnAck {
                session_present: false,
                reason: ReasonCode::Success,
                properties: Default::default(),
            })),
            Packet::Subscribe(s) => send(Packet::SubAck(SubAck {
                packet_id: s.packet_id,
                reasons: vec![ReasonCode::GrantedQoS1; s.filters.len()],
                properties: Default::default(),
            })),
            Packet::Publish(p) => {
                if let Some(id) = p.packet_id {
                    send(Packet::PubAck(Ack::new(id)));
                }
                send(Packet::Publish(Publish {
                    packet_id: Some(std::num::NonZeroU16::MIN),
                    dup: false,
                    ..p
                }));
            }
            Packet::PingReq => send(Packet::PingResp),
            Packet::Disconnect(_) => return,
            _ => {}
        }
        if tls.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn acceptor(data: &std::path::Path) -> TlsAcceptor {
    let paths = lantern_pki::DevPkiPaths::new(data);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&paths.server_cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&paths.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

fn scratch() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir =
        std::env::temp_dir().join(format!("lantern-probe-sni-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_broker_that_closes_after_connect_without_sni_is_mapped_as_sni_required() {
    let data = scratch();
    lantern_pki::DevPki::ensure(&data).unwrap();
    let ca = std::fs::read(lantern_pki::DevPkiPaths::new(&data).ca_cert).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (with_sni, without_sni): (Report, Report) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, acceptor(&data)));
        let mut plan = Plan::new(&format!("mqtts://127.0.0.1:{port}")).unwrap();
        plan.ca_pem = Some(ca);
        plan.timeout = Duration::from_secs(3);
        plan.sni = SniChoice::Name(NAME.into());
        let a = tokio::time::timeout(Duration::from_secs(60), probe::run(&plan))
            .await
            .unwrap()
            .unwrap();
        plan.sni = SniChoice::Off;
        plan.map_tls = false;
        let b = tokio::time::timeout(Duration::from_secs(60), probe::run(&plan))
            .await
            .unwrap()
            .unwrap();
        (a, b)
    });
    let text = with_sni.to_text();

    // With SNI the walk completes.
    assert!(with_sni.connects(), "{text}");
    let tls = with_sni.tls.as_ref().unwrap();

    // Without SNI and with a wrong name the handshake succeeds, the same certificate is served,
    // and CONNECT is met with a close: SNI is required all the same.
    assert!(tls.sni.required, "{text}");
    for case in ["no SNI", "wrong name"] {
        let c = tls.sni.cases.iter().find(|c| c.case == case).unwrap();
        assert!(c.accepted, "{text}");
        assert_eq!(c.same_certificate, Some(true), "{text}");
        assert!(c.closed_after_connect, "{text}");
        assert_eq!(
            c.after_connect.as_deref(),
            Some("closed after CONNECT, without CONNACK"),
            "{text}"
        );
    }
    assert!(
        tls.sni
            .summary
            .contains("without SNI completes the TLS handshake but is closed after CONNECT"),
        "{}",
        tls.sni.summary
    );
    // Devices with SNI connect; the static-RSA ones meet rustls.
    let v = |n: &str| with_sni.profiles.iter().find(|p| p.profile == n).unwrap();
    assert!(v("esp-idf").connects, "{text}");
    assert_eq!(
        v("mbedtls-static-rsa").cause.as_deref(),
        Some("tls.no_shared_cipher")
    );

    // The probe without SNI: TLS passes, CONNECT is closed, the first fix is SNI.
    let text = without_sni.to_text();
    let f = without_sni.finding().expect("a finding");
    assert_eq!(f.stage, probe::Stage::Connect, "{text}");
    assert_eq!(f.cause, "mqtt.closed_after_connect", "{text}");
    assert!(f.fixes[0].contains("SNI"), "{text}");
    assert!(without_sni
        .stages
        .iter()
        .any(|s| s.stage == probe::Stage::Tls && s.ok));
    assert_eq!(without_sni.exit_code(), 1);
    let _ = std::fs::remove_dir_all(&data);
}
