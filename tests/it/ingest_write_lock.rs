//! A huge `--batch` must not keep another writer out past its busy timeout: the ingest commits
//! in parts and pauses often enough for a waiting writer's busy handler to get the lock.

use crate::common::*;
use liftdeck::app::{self, IngestOptions};
use liftdeck::lines::Format;
use liftdeck::store::WriteLimits;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CAMPAIGN: &str = r#"{"type":"campaign","key":"w","name":"writers","kind":"ab","arms":[{"key":"a","weight":1.0},{"key":"b","weight":1.0}],"control":"a","traffic":1.0,"metric":"purchase","seed":5,"status":"running"}"#;

#[test]
fn a_second_writer_gets_in_while_one_huge_batch_is_applied() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "lock.db");
    ingest_str(&mut store, CAMPAIGN, Format::Jsonl, 10);
    // One batch of 100k lines (under the feed's per-batch byte cap, so only the write limits
    // can split it).
    const UNITS: usize = 100_000;
    let mut text = String::with_capacity(UNITS * 150);
    for i in 0..UNITS {
        text.push_str(&format!(
            r#"{{"type":"assignment","campaign":"w","unit":"u{i}","arm":"{}","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}}"#,
            ["a", "b"][i % 2]
        ));
        text.push('\n');
    }
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::clone(&done);
    let ingest = std::thread::spawn(move || {
        let options = IngestOptions {
            batch_lines: 1_000_000,
            // Small limits keep the test short; the defaults are 1 s, 2 s and 110 ms.
            write_limits: WriteLimits {
                max_hold: Duration::from_millis(50),
                yield_after: Duration::from_millis(200),
                pause: Duration::from_millis(110),
            },
            ..IngestOptions::new(Format::Jsonl)
        };
        let s = app::ingest_with(
            &mut store,
            &test_env(),
            text.as_bytes(),
            "big",
            &options,
            |_| {},
        );
        finished.store(true, Ordering::SeqCst);
        s
    });
    let other = rusqlite::Connection::open(&db).expect("second connection");
    // Wait until the ingest holds the write lock (a probe that does not wait is refused).
    other.busy_timeout(Duration::ZERO).expect("timeout");
    loop {
        match other.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
            Err(_) => break,
            Ok(()) => {
                assert!(
                    !done.load(Ordering::SeqCst),
                    "the ingest ended before its lock was seen"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // Now a writer that waits as every liftdeck connection does (a shorter timeout than the
    // store's 10 s, to keep the test short) must get in, and while the ingest is still going.
    other.busy_timeout(Duration::from_secs(3)).expect("timeout");
    other
        .execute(
            "INSERT INTO audit_log (ts, actor, action, detail) VALUES (0, 'b', 'probe', '')",
            [],
        )
        .expect("the second writer gets in within its busy timeout");
    assert!(
        !done.load(Ordering::SeqCst),
        "the second write got in only after the ingest had finished"
    );
    let summary = ingest.join().expect("thread").expect("ingest");
    assert_eq!(summary.accepted, UNITS as u64);
    let store = liftdeck::store::Store::open(&db).expect("open");
    assert_eq!(
        store.arm_summaries("w").expect("arms")[0].rollup.units,
        UNITS as i64 / 2
    );
    assert_rollups_consistent(&store);
}
