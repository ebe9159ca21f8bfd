//! Measures fjall and redb for the broker's write pattern: small records (100-500 B), one
//! fsync per commit, with 1, 16 and 256 records per commit (group commit), then a full scan of
//! 100k + 10k records (the restart load). Run with
//! `cargo run --release -p lantern-store --example engines -- <scratch dir>`.

use std::path::Path;
use std::time::Instant;

use redb::ReadableTable;

const RECORDS: usize = 2048;

fn value(i: usize) -> Vec<u8> {
    // 100..=500 bytes, deterministic.
    let len = 100 + (i * 37) % 401;
    vec![(i % 251) as u8; len]
}

fn key(i: usize) -> Vec<u8> {
    format!("t/acme/q/device-{:05}/{:010}", i % 1000, i).into_bytes()
}

fn fjall_writes(dir: &Path, batch: usize) -> f64 {
    let ks = fjall::Config::new(dir)
        .manual_journal_persist(true)
        .open()
        .expect("open fjall");
    let part = ks
        .open_partition("p", fjall::PartitionCreateOptions::default())
        .expect("partition");
    let n = if batch == 1 { RECORDS / 4 } else { RECORDS * 4 };
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let mut b = ks.batch();
        for _ in 0..batch {
            b.insert(&part, key(i), value(i));
            i += 1;
        }
        b.commit().expect("commit");
        ks.persist(fjall::PersistMode::SyncAll).expect("fsync");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

const T: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("p");

fn redb_writes(dir: &Path, batch: usize) -> f64 {
    std::fs::create_dir_all(dir).expect("dir");
    let db = redb::Database::create(dir.join("db.redb")).expect("open redb");
    let n = if batch == 1 { RECORDS / 4 } else { RECORDS * 4 };
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let txn = db.begin_write().expect("txn");
        {
            let mut t = txn.open_table(T).expect("table");
            for _ in 0..batch {
                t.insert(key(i).as_slice(), value(i).as_slice())
                    .expect("insert");
                i += 1;
            }
        }
        txn.commit().expect("commit");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn fjall_load(dir: &Path, n: usize) -> (f64, f64) {
    let t0 = Instant::now();
    {
        let ks = fjall::Config::new(dir).open().expect("open fjall");
        let part = ks
            .open_partition("p", fjall::PartitionCreateOptions::default())
            .expect("partition");
        let mut i = 0;
        while i < n {
            let mut b = ks.batch();
            for _ in 0..1000.min(n - i) {
                b.insert(&part, key(i), value(i));
                i += 1;
            }
            b.commit().expect("commit");
        }
        ks.persist(fjall::PersistMode::SyncAll).expect("fsync");
    }
    let write = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let ks = fjall::Config::new(dir).open().expect("reopen fjall");
    let part = ks
        .open_partition("p", fjall::PartitionCreateOptions::default())
        .expect("partition");
    let mut bytes = 0usize;
    let mut count = 0usize;
    for kv in part.iter() {
        let (k, v) = kv.expect("read");
        bytes += k.len() + v.len();
        count += 1;
    }
    assert_eq!(count, n, "{bytes}");
    (write, t1.elapsed().as_secs_f64())
}

fn redb_load(dir: &Path, n: usize) -> (f64, f64) {
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("db.redb");
    let t0 = Instant::now();
    {
        let db = redb::Database::create(&path).expect("open redb");
        let txn = db.begin_write().expect("txn");
        {
            let mut t = txn.open_table(T).expect("table");
            for i in 0..n {
                t.insert(key(i).as_slice(), value(i).as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }
    let write = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let db = redb::Database::create(&path).expect("reopen redb");
    let txn = db.begin_read().expect("read txn");
    let t = txn.open_table(T).expect("table");
    let mut count = 0usize;
    let mut bytes = 0usize;
    for kv in t.iter().expect("iter") {
        let (k, v) = kv.expect("read");
        bytes += k.value().len() + v.value().len();
        count += 1;
    }
    assert_eq!(count, n, "{bytes}");
    (write, t1.elapsed().as_secs_f64())
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lantern-engines"));
    let _ = std::fs::remove_dir_all(&base);
    for batch in [1, 16, 256] {
        let f = fjall_writes(&base.join(format!("fjall-{batch}")), batch);
        let r = redb_writes(&base.join(format!("redb-{batch}")), batch);
        println!(
            "batch {batch:>3}: fjall {f:>9.0} records/s ({:>7.1} commits/s)   redb {r:>9.0} records/s ({:>7.1} commits/s)",
            f / batch as f64,
            r / batch as f64
        );
    }
    let n = 110_000;
    let (fw, fr) = fjall_load(&base.join("fjall-load"), n);
    let (rw, rr) = redb_load(&base.join("redb-load"), n);
    println!("load {n} records: fjall write {fw:.2}s, open+scan {fr:.3}s; redb write {rw:.2}s, open+scan {rr:.3}s");
    let _ = std::fs::remove_dir_all(&base);
}
