//! The store on a real directory: round trips, group commit, format version, corruption and
//! unwritable directories.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use lantern_store::{
    Change, Durability, Record, RecordKey, SessionMeta, Store, StoreError, StoredDelivery,
    StoredMessage, FORMAT_VERSION,
};

fn msg(topic: &str, payload: &[u8]) -> StoredMessage {
    StoredMessage {
        topic: topic.into(),
        payload: payload.to_vec(),
        qos: 1,
        retain: true,
        expires_at_ms: Some(1_900_000_000_000),
        properties: vec![0, 1, 2, 3],
    }
}

fn delivery(topic: &str) -> StoredDelivery {
    StoredDelivery {
        msg: msg(topic, b"hello"),
        qos: 2,
        retain: false,
        sub_ids: vec![7, 9],
    }
}

fn every_kind(client: &str) -> Vec<Change> {
    vec![
        Change::Put(Record::Retained(msg("a/b", b"retained"))),
        Change::Put(Record::Session {
            client_id: client.into(),
            meta: SessionMeta {
                version: 5,
                expiry_interval: 3600,
                identity: Some("alice".into()),
                expires_at_ms: Some(1_800_000_000_000),
            },
        }),
        Change::Put(Record::Subscription {
            client_id: client.into(),
            filter: "$share/g/x/#".into(),
            options: 0b0010_1110,
            id: 42,
        }),
        Change::Put(Record::Queued {
            client_id: client.into(),
            seq: 3,
            delivery: delivery("q/3"),
        }),
        Change::Put(Record::Queued {
            client_id: client.into(),
            seq: 1,
            delivery: delivery("q/1"),
        }),
        Change::Put(Record::Inflight {
            client_id: client.into(),
            packet_id: 10,
            stage: 1,
            order: 5,
            delivery: Some(delivery("i/10")),
        }),
        Change::Put(Record::Inflight {
            client_id: client.into(),
            packet_id: 11,
            stage: 2,
            order: 6,
            delivery: None,
        }),
        Change::Put(Record::IncomingQos2 {
            client_id: client.into(),
            packet_id: 77,
        }),
        Change::Put(Record::Will {
            client_id: client.into(),
            due_ms: 1_700_000_000_123,
            msg: msg("will/t", b"bye"),
        }),
    ]
}

#[test]
fn every_record_kind_round_trips_and_session_end_removes_all_it_owns() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.apply("acme", &every_kind("dev-1")).unwrap();
        store.apply("acme", &every_kind("dev-2")).unwrap();
        store.apply("other", &every_kind("dev-1")).unwrap();
        store
            .apply(
                "acme",
                &[
                    Change::Remove(RecordKey::Queued {
                        client_id: "dev-2".into(),
                        seq: 3,
                    }),
                    Change::SessionEnded {
                        client_id: "dev-1".into(),
                    },
                ],
            )
            .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let loaded = store.load().unwrap();
    assert_eq!(loaded.len(), 2);
    let acme = &loaded["acme"];
    assert_eq!(acme.retained, vec![msg("a/b", b"retained")]);
    assert_eq!(acme.sessions.keys().collect::<Vec<_>>(), vec!["dev-2"]);
    let s = &acme.sessions["dev-2"];
    assert_eq!(
        s.meta,
        Some(SessionMeta {
            version: 5,
            expiry_interval: 3600,
            identity: Some("alice".into()),
            expires_at_ms: Some(1_800_000_000_000),
        })
    );
    assert_eq!(
        s.subscriptions,
        vec![("$share/g/x/#".into(), 0b0010_1110, 42)]
    );
    assert_eq!(s.queue, vec![(1, delivery("q/1"))]);
    assert_eq!(
        s.inflight,
        vec![(10, 1, 5, Some(delivery("i/10"))), (11, 2, 6, None)]
    );
    assert_eq!(s.incoming_qos2, vec![77]);
    assert_eq!(s.will, Some((1_700_000_000_123, msg("will/t", b"bye"))));
    let other = &loaded["other"];
    assert_eq!(other.sessions["dev-1"].queue.len(), 2);
}

#[test]
fn interval_durability_group_commits_a_burst_into_one_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path())
        .unwrap()
        .into_writer(Durability::Interval(Duration::from_millis(300)))
        .unwrap();
    let mut last = 0;
    for i in 0..50 {
        last = writer.submit(
            "t",
            &[Change::Put(Record::Retained(msg(&format!("r/{i}"), b"x")))],
        );
    }
    assert_eq!(last, 50);
    assert!(writer.durable().wait(50, Duration::from_secs(10)));
    assert_eq!(writer.durable().commits(), 1);
    writer.close();
    let loaded = Store::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(loaded["t"].retained.len(), 50);
}

#[test]
fn sync_durability_shares_fsyncs_between_threads() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path())
        .unwrap()
        .into_writer(Durability::Sync)
        .unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let w = writer.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let seq = w.submit(
                        "t",
                        &[Change::Put(Record::Retained(msg(
                            &format!("r/{t}/{i}"),
                            b"x",
                        )))],
                    );
                    assert!(w.durable().wait(seq, Duration::from_secs(30)));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(writer.durable().get(), 800);
    let commits = writer.durable().commits();
    // Eight writers each waiting for their own write: batches hold several of them.
    assert!(commits < 800, "{commits} commits for 800 writes");
    writer.close();
    assert_eq!(
        Store::open(dir.path()).unwrap().load().unwrap()["t"]
            .retained
            .len(),
        800
    );
}

#[test]
fn a_newer_format_version_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let ks = fjall::Config::new(dir.path().join("store")).open().unwrap();
        let meta = ks
            .open_partition("meta", fjall::PartitionCreateOptions::default())
            .unwrap();
        meta.insert("format_version", 99u32.to_be_bytes()).unwrap();
        ks.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::Version { found: 99, supported, .. } if supported == FORMAT_VERSION),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("format version 99"), "{text}");
    assert!(
        text.contains(&format!("reads version {FORMAT_VERSION}")),
        "{text}"
    );
    assert!(
        text.contains(&dir.path().join("store").display().to_string()),
        "{text}"
    );
}

/// Every file of the store, largest first.
fn store_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join("store")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(std::fs::metadata(p).unwrap().len()));
    out
}

fn filled(dir: &std::path::Path) {
    let store = Store::open(dir).unwrap();
    for i in 0..20 {
        store.apply("t", &every_kind(&format!("dev-{i}"))).unwrap();
    }
}

/// Opening and loading a damaged store returns (an error or what survived); it never panics.
fn open_and_load(dir: &std::path::Path) -> Result<usize, StoreError> {
    let store = Store::open(dir)?;
    Ok(store.load()?.values().map(|t| t.sessions.len()).sum())
}

#[test]
fn flipped_bytes_in_the_store_files_are_an_error_naming_the_store_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    // Damage every file: journals, segments, manifests.
    for file in store_files(dir.path()) {
        let mut bytes = std::fs::read(&file).unwrap();
        let len = bytes.len();
        for b in &mut bytes[len / 4..len / 4 + (len / 2).min(64)] {
            *b ^= 0xa5;
        }
        std::fs::write(&file, bytes).unwrap();
    }
    match open_and_load(dir.path()) {
        Err(e @ StoreError::Corrupt { .. }) => {
            let text = e.to_string();
            assert!(text.contains("move the directory aside"), "{text}");
            assert!(
                text.contains(&dir.path().join("store").display().to_string()),
                "{text}"
            );
        }
        // The journal's recovery may keep the intact prefix: then fewer sessions come back.
        Ok(n) => assert!(n < 20, "{n} sessions survived 64 flipped bytes"),
        Err(other) => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn truncated_store_files_load_an_intact_prefix_or_error_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    for file in store_files(dir.path()) {
        let len = std::fs::metadata(&file).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(len / 2).unwrap();
    }
    match open_and_load(dir.path()) {
        Ok(n) => assert!(n < 20, "{n} sessions after losing half the journal"),
        Err(e) => assert!(matches!(e, StoreError::Corrupt { .. }), "{e:?}"),
    }
}

#[test]
fn an_undecodable_record_is_corrupt_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let ks = fjall::Config::new(dir.path().join("store")).open().unwrap();
        let data = ks
            .open_partition("data", fjall::PartitionCreateOptions::default())
            .unwrap();
        data.insert([0u8, 0, 0, 1, b't', b'S', 0xff], [1u8, 2, 3])
            .unwrap();
        ks.persist(fjall::PersistMode::SyncAll).unwrap();
    }
    let err = Store::open(dir.path()).unwrap().load().unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("move the directory aside"),
        "{err}"
    );
}

#[test]
fn an_unwritable_data_directory_is_a_clear_error() {
    // /sys refuses new directories even to root, as a read-only mount does.
    let err = Store::open(std::path::Path::new("/sys/lantern-test")).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/sys/lantern-test/store"), "{text}");
    assert!(text.contains("cannot be written"), "{text}");
}

/// The engine's journal recovery takes a damaged entry for a torn tail and silently drops it
/// and everything after it; the commit number beside the journal turns that into an error.
#[test]
fn flipped_bytes_inside_the_journal_are_reported_not_silently_dropped() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let journal = dir.path().join("store").join("journals").join("0");
    let mut bytes = std::fs::read(&journal).unwrap();
    // The journal file is preallocated: damage the middle of what was written.
    let end = bytes.len() - bytes.iter().rev().take_while(|b| **b == 0).count();
    assert!(end > 1000, "only {end} journal bytes written");
    for b in &mut bytes[end / 2..end / 2 + 16] {
        *b ^= 0xa5;
    }
    std::fs::write(&journal, bytes).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("damaged journal lost acknowledged data"),
        "{text}"
    );
    assert!(text.contains("move the directory aside"), "{text}");
}

/// A small tmpfs mounted for one test, unmounted on drop (the tests run as root, as CI does).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed: {status}");
        SmallDisk { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a failed test may still hold files open on it.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_at_run_time_stops_durability_and_turns_unhealthy() {
    let disk = SmallDisk::mount("1m");
    let writer = Store::open(disk.path())
        .unwrap()
        .into_writer(Durability::Sync)
        .unwrap();
    let mut acknowledged = 0;
    let mut last = 0;
    // 64 KiB records: a 1 MiB disk holds at most 16 of them.
    for i in 0..64 {
        last = writer.submit(
            "t",
            &[Change::Put(Record::Retained(msg(
                &format!("big/{i}"),
                &vec![0x5a; 64 * 1024],
            )))],
        );
        if writer.durable().wait(last, Duration::from_secs(5)) {
            acknowledged = last;
        } else {
            break;
        }
    }
    assert!(
        !writer.durable().healthy(),
        "still healthy after {last} writes"
    );
    assert!(acknowledged < last, "{acknowledged} of {last} durable");
    assert!(acknowledged <= 16, "{acknowledged} durable on a 1 MiB disk");
    assert_eq!(writer.durable().get(), acknowledged);
    // Nothing submitted after the failure becomes durable, and submitting never blocks.
    for i in 0..10_000 {
        writer.submit(
            "t",
            &[Change::Put(Record::Retained(msg(
                &format!("after/{i}"),
                b"x",
            )))],
        );
    }
    assert_eq!(writer.durable().get(), acknowledged);
    writer.close();
}

#[test]
fn opening_on_a_full_disk_says_the_disk_is_full() {
    let disk = SmallDisk::mount("64k");
    // Fill it.
    let filler = disk.path().join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 128 * 1024]);
    let err = Store::open(disk.path()).unwrap_err();
    assert!(matches!(err, StoreError::DiskFull { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("is full"), "{text}");
    assert!(
        text.contains(&disk.path().join("store").display().to_string()),
        "{text}"
    );
}

#[test]
fn one_batch_applies_its_changes_in_order_around_a_session_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.apply("t", &every_kind("old")).unwrap();
    let mut changes = every_kind("gone-in-batch");
    changes.push(Change::SessionEnded {
        client_id: "gone-in-batch".into(),
    });
    changes.push(Change::SessionEnded {
        client_id: "old".into(),
    });
    // Re-created after its end, within the same batch: the later changes win.
    changes.extend(every_kind("old").into_iter().skip(1).take(2));
    store.apply("t", &changes).unwrap();
    drop(store);
    let loaded = Store::open(dir.path()).unwrap().load().unwrap();
    let t = &loaded["t"];
    assert_eq!(t.sessions.keys().collect::<Vec<_>>(), vec!["old"]);
    let old = &t.sessions["old"];
    assert!(old.meta.is_some());
    assert_eq!(old.subscriptions.len(), 1);
    assert!(old.queue.is_empty() && old.inflight.is_empty() && old.will.is_none());
}

#[test]
fn a_second_opener_of_the_same_store_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("in use by another lantern process"), "{text}");
    assert!(
        text.contains(&dir.path().join("store").display().to_string()),
        "{text}"
    );
    drop(first);
    drop(Store::open(dir.path()).unwrap());
}
