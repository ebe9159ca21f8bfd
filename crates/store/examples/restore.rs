//! Restart time: fills a store with 100k retained messages and 10k persistent sessions (each
//! with two subscriptions and five queued QoS 1 messages), then times what `lantern serve`
//! does at start: open, load, rebuild the snapshot and `Broker::restore`. Run with
//! `cargo run --release -p lantern-store --example restore -- [scratch dir]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lantern_broker::{Broker, BrokerConfig, NoopSink, WallClock};
use lantern_store::{
    Change, Durability, Record, SessionMeta, Store, StoredDelivery, StoredMessage,
};

const RETAINED: usize = 100_000;
const SESSIONS: usize = 10_000;
const QUEUED: usize = 5;

fn msg(topic: String, len: usize) -> StoredMessage {
    StoredMessage {
        topic,
        payload: vec![b'x'; len],
        qos: 1,
        retain: false,
        expires_at_ms: None,
        properties: Vec::new(),
    }
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lantern-restore-bench"));
    let _ = std::fs::remove_dir_all(&base);
    let t0 = Instant::now();
    {
        let writer = Store::open(&base)
            .expect("open")
            .into_writer(Durability::Interval(Duration::from_millis(50)))
            .expect("writer");
        for chunk in (0..RETAINED).collect::<Vec<_>>().chunks(1000) {
            let changes: Vec<Change> = chunk
                .iter()
                .map(|i| {
                    let mut m = msg(format!("site/{}/device/{i}/state", i % 100), 200);
                    m.retain = true;
                    Change::Put(Record::Retained(m))
                })
                .collect();
            writer.submit("default", &changes);
        }
        for s in 0..SESSIONS {
            let client_id = format!("device-{s:05}");
            let mut changes = vec![Change::Put(Record::Session {
                client_id: client_id.clone(),
                meta: SessionMeta {
                    version: 5,
                    expiry_interval: 86_400,
                    identity: None,
                    expires_at_ms: Some(u64::MAX / 2),
                },
            })];
            for f in ["cmd/#", "config/+"] {
                changes.push(Change::Put(Record::Subscription {
                    client_id: client_id.clone(),
                    filter: format!("{f}/{s}"),
                    options: 1,
                    id: 0,
                }));
            }
            for q in 0..QUEUED {
                changes.push(Change::Put(Record::Queued {
                    client_id: client_id.clone(),
                    seq: q as u64 + 1,
                    delivery: StoredDelivery {
                        msg: msg(format!("cmd/x/{s}"), 100),
                        qos: 1,
                        retain: false,
                        sub_ids: Vec::new(),
                    },
                }));
            }
            writer.submit("default", &changes);
        }
        writer.close();
    }
    println!(
        "filled {RETAINED} retained + {SESSIONS} sessions ({} queued) in {:.2?}",
        SESSIONS * QUEUED,
        t0.elapsed()
    );

    let start = Instant::now();
    let store = Store::open(&base).expect("reopen");
    let opened = start.elapsed();
    let mut loaded = store.load().expect("load");
    let read = start.elapsed();
    let snapshot =
        lantern_store::snapshot(loaded.remove("default").expect("tenant")).expect("snapshot");
    let snap = start.elapsed();
    let broker = Broker::restore(
        BrokerConfig::default(),
        Arc::new(NoopSink),
        WallClock::now(),
        Instant::now(),
        snapshot,
    );
    let total = start.elapsed();
    println!(
        "restart: open {opened:.2?}, load {:.2?}, snapshot {:.2?}, Broker::restore {:.2?}; total {total:.2?} ({} sessions, {} retained in the broker)",
        read - opened,
        snap - read,
        total - snap,
        broker.session_count(),
        broker.retained_count()
    );
    let _ = std::fs::remove_dir_all(&base);
}
