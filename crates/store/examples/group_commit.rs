//! Group commit through the writer thread, as the broker uses it: N threads each submit one
//! 200-byte record and wait until it is durable (`durability = "sync"`), like N connections
//! each waiting to send a PUBACK. Run with
//! `cargo run --release -p lantern-store --example group_commit -- [scratch dir]`.

use std::time::{Duration, Instant};

use lantern_store::{Change, Durability, Record, Store, StoredMessage};

fn main() {
    let base = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lantern-group-commit"));
    for threads in [1usize, 8, 64, 256] {
        let _ = std::fs::remove_dir_all(&base);
        let writer = Store::open(&base)
            .expect("open")
            .into_writer(Durability::Sync)
            .expect("writer");
        let per_thread = 4000 / threads.min(8) / threads.max(1) * threads.min(8).max(1);
        let per_thread = per_thread.max(20);
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..threads {
                let w = writer.clone();
                s.spawn(move || {
                    for i in 0..per_thread {
                        let seq = w.submit(
                            "default",
                            &[Change::Put(Record::Retained(StoredMessage {
                                topic: format!("t/{t}/{i}"),
                                payload: vec![b'x'; 200],
                                qos: 1,
                                retain: true,
                                expires_at_ms: None,
                                properties: Vec::new(),
                            }))],
                        );
                        assert!(w.durable().wait(seq, Duration::from_secs(60)));
                    }
                });
            }
        });
        let elapsed = start.elapsed();
        let total = threads * per_thread;
        let commits = writer.durable().commits();
        println!(
            "{threads:>3} waiting writers: {total} records in {elapsed:.2?} = {:.0} durable records/s, {commits} fsyncs ({:.1} records per fsync)",
            total as f64 / elapsed.as_secs_f64(),
            total as f64 / commits as f64
        );
        writer.close();
    }
    let _ = std::fs::remove_dir_all(&base);
}
