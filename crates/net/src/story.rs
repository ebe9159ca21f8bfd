//! Recording a connection's story as it happens, and finishing it with a cause: one info log
//! line with the cause id and the sentence, and the whole story to the sink (journal, admin
//! API).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use lantern_broker::auth::AuthFailure;
use lantern_broker::{CloseReason, ConnEvent, ConnStats, Foreign};
use lantern_diag::{Cause, Event, EventKind, Initiator, Story};
use tracing::info;

/// Where finished stories go.
pub type StorySink = Arc<dyn Fn(Story) + Send + Sync>;

/// A story being written.
pub(crate) struct Recorder {
    /// Boxed: a connection task carries this for its whole life, and futures keep room for
    /// moved values; eight bytes inline instead of a whole story.
    story: Box<Story>,
    started: Instant,
    sink: Option<StorySink>,
    bytes_in: u64,
    bytes_out: u64,
    /// Set once the story has been finished and handed on.
    done: bool,
}

impl Drop for Recorder {
    /// Every accepted socket ends in a story with a cause: a recorder dropped unfinished (an
    /// early return, a panic in the connection task) finishes as a broker fault rather than
    /// vanish.
    fn drop(&mut self) {
        if !self.done {
            let cause = Cause::Internal {
                detail: "the connection task ended without recording a cause".into(),
            };
            self.complete(Initiator::Broker, cause, None);
        }
    }
}

impl Recorder {
    pub(crate) fn new(
        id: u64,
        listener: &str,
        transport: &str,
        peer: SocketAddr,
        local: Option<SocketAddr>,
        sink: Option<StorySink>,
    ) -> Self {
        let started_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut rec = Self {
            story: Box::new(Story {
                id,
                listener: listener.to_owned(),
                transport: transport.to_owned(),
                peer: peer.to_string(),
                started_ms,
                // accepted, first bytes, CONNECT, auth, CONNACK, closed: the usual story.
                events: Vec::with_capacity(6),
                ..Story::default()
            }),
            started: Instant::now(),
            sink,
            bytes_in: 0,
            bytes_out: 0,
            done: false,
        };
        rec.event(EventKind::Accepted {
            local: local.map(|a| a.to_string()).unwrap_or_default(),
        });
        rec
    }

    pub(crate) fn event(&mut self, kind: EventKind) {
        let at_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.story.events.push(Event { at_ms, kind });
    }

    pub(crate) fn set_tenant(&mut self, tenant: &str) {
        self.story.tenant = Some(tenant.to_owned());
    }

    pub(crate) fn set_hello_fingerprint(&mut self, fingerprint: String) {
        self.story.hello_fingerprint = Some(fingerprint);
    }

    pub(crate) fn bytes_in(&self) -> u64 {
        self.bytes_in
    }

    pub(crate) fn add_bytes(&mut self, bytes_in: u64, bytes_out: u64) {
        self.bytes_in += bytes_in;
        self.bytes_out += bytes_out;
    }

    /// Records the first bytes of a stream and what they look like, once per story.
    pub(crate) fn first_bytes(&mut self, bytes: &[u8]) {
        if self
            .story
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::FirstBytes { .. }))
        {
            return;
        }
        let looks_like = match bytes.first() {
            Some(0x16) => "tls_client_hello",
            Some(0x10) => "mqtt_connect",
            Some(_) if bytes.starts_with(b"GET ") || bytes.starts_with(b"POST ") => "http",
            Some(_)
                if bytes
                    .iter()
                    .take(32)
                    .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
            {
                "text"
            }
            Some(_) => "binary",
            None => return,
        };
        let shown = &bytes[..safe_prefix(bytes).min(32)];
        // Text (AT commands, HTTP) is shown redacted: the hex of the first 32 bytes would
        // otherwise carry a short password (`AT+QMTCONN=0,"c","u","pw"`) past the redaction.
        let hex = match looks_like {
            "text" | "http" => {
                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(256)]);
                let redacted = lantern_diag::redact(&text);
                match redacted {
                    std::borrow::Cow::Owned(r) => hex(&r.as_bytes()[..r.len().min(32)]),
                    std::borrow::Cow::Borrowed(_) => hex(shown),
                }
            }
            _ => hex(shown),
        };
        self.event(EventKind::FirstBytes {
            looks_like: looks_like.into(),
            hex,
        });
    }

    /// Turns a broker connection event into story events.
    pub(crate) fn conn_event(&mut self, event: &ConnEvent) {
        match event {
            ConnEvent::ConnectReceived {
                version,
                client_id,
                clean_start,
                keep_alive,
                will_topic,
                username_present,
                password_present,
            } => {
                self.story.client_id = Some(client_id.to_string());
                self.event(EventKind::Connect {
                    protocol_name: version.protocol_name().into(),
                    protocol_level: version.level(),
                    client_id: client_id.to_string(),
                    clean_start: *clean_start,
                    keep_alive: *keep_alive,
                    will_topic: will_topic.as_ref().map(|t| t.to_string()),
                    username_present: *username_present,
                    password_present: *password_present,
                });
            }
            ConnEvent::ConnAckSent {
                wire_code,
                session_present,
                ..
            } => {
                self.event(EventKind::ConnAck {
                    code: *wire_code,
                    session_present: *session_present,
                });
            }
            ConnEvent::DisconnectSent { reason } => {
                self.event(EventKind::Disconnect {
                    code: reason.to_u8(),
                    by: Initiator::Broker,
                });
            }
            ConnEvent::Connected {
                client_id,
                username,
                ..
            } => {
                self.story.client_id = Some(client_id.to_string());
                let detail = match username {
                    Some(u) => format!("as user {u:?}"),
                    None => "anonymous".to_owned(),
                };
                self.event(EventKind::Auth {
                    allowed: true,
                    detail,
                });
            }
            ConnEvent::Denied {
                access,
                topic,
                rule,
            } => self.event(EventKind::Acl {
                access: access.as_str().into(),
                topic: topic.to_string(),
                allowed: false,
                rule: rule.to_string(),
            }),
            ConnEvent::Dropped {
                counts,
                while_offline,
            } => {
                // Also one log line: drops are what an operator asks about first.
                info!(
                    dropped = counts.total(),
                    while_offline = *while_offline,
                    reasons = %counts
                        .by_reason()
                        .iter()
                        .map(|(r, n)| format!("{r}={n}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    "messages dropped for this client"
                );
                self.event(EventKind::Dropped {
                    while_offline: *while_offline,
                    total: counts.total(),
                    qos0_queue_full: counts.qos0_queue_full,
                    offline_queue_full: counts.offline_queue_full,
                    retained_limit: counts.retained_limit,
                    acl_revoked: counts.acl_revoked,
                    too_large: counts.too_large,
                    expired: counts.expired,
                });
            }
            ConnEvent::SessionReplaced { previous_owner } => {
                self.event(EventKind::SessionReplaced {
                    previous_owner: match previous_owner {
                        Some(user) => format!("user {user:?}"),
                        None => "anonymous".to_owned(),
                    },
                });
            }
            ConnEvent::Closed {
                client_id: Some(id),
                ..
            } => {
                self.story.client_id = Some(id.to_string());
            }
            _ => {}
        }
    }

    /// Ends the story: fills the counters, explains the cause, logs one line, hands it on.
    pub(crate) fn finish(mut self, by: Initiator, cause: Cause, stats: Option<ConnStats>) {
        self.complete(by, cause, stats);
    }

    fn complete(&mut self, by: Initiator, cause: Cause, stats: Option<ConnStats>) {
        self.done = true;
        self.event(EventKind::Closed { by });
        self.story.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.story.closed_by = by;
        self.story.counters.bytes_in = self.bytes_in;
        self.story.counters.bytes_out = self.bytes_out;
        if let Some(stats) = stats {
            self.story.counters.packets_in = stats.packets_in;
            self.story.counters.packets_out = stats.packets_out;
            self.story.counters.last_packet_in = stats.last_in.map(|p| p.name().to_owned());
            self.story.counters.last_packet_out = stats.last_out.map(|p| p.name().to_owned());
        }
        self.story.finish(cause);
        let verdict = &self.story.verdict;
        let outcome = match verdict.outcome {
            lantern_diag::Outcome::Ok => "ok",
            lantern_diag::Outcome::Failed => "failed",
        };
        // One line per finished connection; the span carries peer, listener, tenant, client id.
        // A weak legacy handshake is marked on that line too, so it shows without the journal.
        let weak = self.story.events.iter().find_map(|e| match &e.kind {
            EventKind::TlsWeak { why } => Some(why.as_str()),
            _ => None,
        });
        match weak {
            Some(weak) => info!(
                cause = verdict.cause.as_str(),
                outcome,
                weak_tls = weak,
                "{}",
                verdict.sentence
            ),
            None => info!(
                cause = verdict.cause.as_str(),
                outcome, "{}", verdict.sentence
            ),
        }
        if let Some(sink) = &self.sink {
            sink(std::mem::take(&mut *self.story));
        }
    }
}

/// The story cause of a closed MQTT connection, and who ended it.
pub(crate) fn cause_of(reason: &CloseReason, offending: Option<&[u8]>) -> (Initiator, Cause) {
    use Initiator::{Broker, Client, Network};
    match reason {
        CloseReason::ClientDisconnect { reason } => (
            Client,
            Cause::ClientDisconnect {
                code: reason.to_u8(),
            },
        ),
        CloseReason::PeerClosed => (Client, Cause::PeerClosed),
        CloseReason::NetworkError(detail) => (
            Network,
            Cause::NetworkError {
                detail: detail.clone(),
            },
        ),
        CloseReason::KeepAliveTimeout {
            keep_alive,
            idle,
            packets_after_connect,
        } => (
            Broker,
            Cause::KeepAliveExpired {
                keep_alive_s: keep_alive.as_secs(),
                idle_s: idle.as_secs_f64(),
                packets_after_connect: *packets_after_connect,
            },
        ),
        CloseReason::ConnectTimeout {
            waited,
            bytes_received,
        } => (
            Broker,
            Cause::ConnectTimeout {
                waited_s: waited.as_secs_f64(),
                bytes: *bytes_received,
            },
        ),
        CloseReason::NotMqtt(foreign) => (
            Broker,
            match foreign {
                Foreign::TlsClientHello => Cause::TlsOnPlainPort,
                // Quoted input is redacted before it reaches the story, the log or the API.
                Foreign::Http { request_line } => Cause::HttpOnMqttPort {
                    request_line: lantern_diag::redact(request_line).into_owned(),
                },
                Foreign::Text { text } => Cause::TextInsteadOfPacket {
                    text: lantern_diag::redact(text).into_owned(),
                },
                Foreign::Binary { hex, packet } => Cause::NotAConnect {
                    hex: hex.clone(),
                    packet: packet.map(str::to_owned),
                },
                _ => Cause::NotAConnect {
                    hex: String::new(),
                    packet: None,
                },
            },
        ),
        CloseReason::Malformed(error) => (
            Broker,
            Cause::Malformed {
                packet: error.packet.map(|p| p.name().to_owned()),
                detail: error.to_string(),
                rule: error.rule().map(|r| r.id().to_owned()),
                bytes: offending
                    .map(|b| hex(&b[..safe_prefix(b)]))
                    .unwrap_or_default(),
            },
        ),
        CloseReason::ProtocolViolation { detail, .. } => (
            Broker,
            Cause::ProtocolViolation {
                detail: detail.clone(),
            },
        ),
        CloseReason::SecondConnect => (Broker, Cause::SecondConnect),
        CloseReason::Refused { reason, detail } => (
            Broker,
            Cause::Refused {
                code: reason.to_u8(),
                detail: detail.clone(),
            },
        ),
        CloseReason::NotAuthenticated(failure) => (
            Broker,
            match failure {
                AuthFailure::NoCredentials => Cause::NoCredentials,
                AuthFailure::PasswordWithoutUsername => Cause::PasswordWithoutUsername,
                AuthFailure::UnknownUser { username } => Cause::UnknownUser {
                    username: username.clone(),
                },
                AuthFailure::WrongPassword {
                    username,
                    password_sent,
                } => Cause::BadPassword {
                    username: username.clone(),
                    password_sent: *password_sent,
                },
                AuthFailure::CertIdentityMismatch {
                    client_id,
                    identity,
                } => Cause::CertIdentityMismatch {
                    client_id: client_id.clone(),
                    identity: identity.clone(),
                },
                _ => Cause::NoCredentials,
            },
        ),
        CloseReason::TakenOver => (Broker, Cause::TakenOver),
        CloseReason::SessionOfOtherIdentity {
            client_id,
            owner,
            identity,
        } => (
            Broker,
            Cause::SessionOtherIdentity {
                client_id: client_id.to_string(),
                owner: owner.as_deref().map(str::to_owned),
                identity: identity.as_deref().map(str::to_owned),
            },
        ),
        CloseReason::SlowSubscriber {
            queued,
            max_queued,
            inflight,
            window,
            stuck_for,
            timeout,
        } => (
            Broker,
            Cause::SlowSubscriber {
                queued: *queued as u64,
                max_queued: *max_queued as u64,
                inflight: *inflight as u64,
                window: *window as u64,
                stuck_s: stuck_for.as_secs_f64(),
                timeout_s: timeout.as_secs_f64(),
            },
        ),
        CloseReason::ServerShutdown => (Broker, Cause::ServerShutdown),
        CloseReason::StoreUnavailable { topic, qos } => (
            Broker,
            Cause::StoreUnavailable {
                topic: topic.to_string(),
                qos: *qos,
            },
        ),
        _ => (
            Broker,
            Cause::ProtocolViolation {
                detail: reason.to_string(),
            },
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How many of the first bytes of a packet may be shown without revealing a secret.
///
/// A CONNECT's payload holds the password (and v5 properties may hold authentication data), and
/// AUTH carries authentication data: for those, only the fixed header and the start of the
/// variable header up to the keep alive are shown — enough to see the protocol name, level and
/// flags that malformed CONNECTs get wrong. Other packets are shown as they are.
pub(crate) fn safe_prefix(bytes: &[u8]) -> usize {
    match bytes.first().map(|b| b >> 4) {
        Some(1) => {
            // Fixed header: type byte + 1..=4 remaining-length bytes.
            let mut at = 1;
            while at < bytes.len().min(5) && bytes[at] & 0x80 != 0 {
                at += 1;
            }
            let header = at + 1;
            // Variable header: name length (2), name, level, flags, keep alive (2).
            let name_len = match (bytes.get(header), bytes.get(header + 1)) {
                (Some(&hi), Some(&lo)) => usize::from(u16::from_be_bytes([hi, lo])).min(6),
                _ => 0,
            };
            (header + 2 + name_len + 4).min(bytes.len())
        }
        Some(15) => 2.min(bytes.len()),
        _ => bytes.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_is_shown_only_up_to_its_keep_alive() {
        // CONNECT 3.1.1, client id "d", user "bob", password "hunter2-secret".
        let mut connect = vec![
            0x10, 0x00, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xC2, 0x00, 0x3C,
        ];
        connect.extend_from_slice(&[0x00, 0x01, b'd', 0x00, 0x03, b'b', b'o', b'b', 0x00, 0x0E]);
        connect.extend_from_slice(b"hunter2-secret");
        connect[1] = (connect.len() - 2) as u8;
        let shown = &connect[..safe_prefix(&connect)];
        assert_eq!(shown.len(), 12, "up to and including the keep alive");
        let text = hex(shown);
        assert!(!text.contains(&hex(b"hunter")), "{text}");
        assert!(!String::from_utf8_lossy(shown).contains("bob"));
    }

    #[test]
    fn a_recorder_dropped_unfinished_still_ends_in_a_story_with_a_cause() {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink_got = got.clone();
        let sink: StorySink = std::sync::Arc::new(move |story| {
            sink_got
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(story);
        });
        let peer = "127.0.0.1:5000".parse().unwrap();
        drop(Recorder::new(
            1,
            "tls",
            "tls",
            peer,
            None,
            Some(sink.clone()),
        ));
        let finished = Recorder::new(2, "tls", "tls", peer, None, Some(sink));
        finished.finish(Initiator::Client, Cause::PeerClosed, None);
        let got = got.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(got.len(), 2, "one story each, none twice");
        assert_eq!(got[0].verdict.cause, "broker.internal");
        assert_eq!(got[1].verdict.cause, "net.peer_closed");
    }

    /// Issue 9 defect 5: the hex of text is the hex of the redacted text, so a short command's
    /// password does not come back in hex.
    #[test]
    fn first_bytes_of_text_are_redacted_before_hex() {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let mut rec = Recorder::new(1, "tcp", "tcp", peer, None, None);
        rec.first_bytes(b"AT+QMTCONN=0,\"c\",\"u\",\"pw9\"\r\n");
        let hex_shown = rec
            .story
            .events
            .iter()
            .find_map(|e| match &e.kind {
                EventKind::FirstBytes { hex, looks_like } => {
                    assert_eq!(looks_like, "text");
                    Some(hex.clone())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(hex_shown, hex(&br#"AT+QMTCONN=0,"c","<redacted>","<"#[..]));
        assert!(!hex_shown.contains(&hex(b"pw9")), "{hex_shown}");
        rec.finish(Initiator::Client, Cause::PeerClosed, None);
    }

    #[test]
    fn other_packets_and_garbage_are_shown() {
        assert_eq!(safe_prefix(&[0x30, 0x03, 0x00, 0x01, b'a']), 5);
        assert_eq!(safe_prefix(b"AT+CMQTTSTART"), 13);
        assert_eq!(safe_prefix(&[0xF0, 0x05, 1, 2, 3, 4, 5]), 2);
    }
}
