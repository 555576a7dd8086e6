//! A process killed with SIGKILL in the middle of an ingest leaves every committed batch intact
//! and no half-applied batch; re-running the same ingest completes it exactly.

use crate::common::*;
use liftdeck::lines::Format;
use liftdeck::store::Store;
use std::process::{Command, Stdio};
use std::time::Duration;

fn committed_events(db: &std::path::Path) -> i64 {
    match Store::open_read_only(db) {
        Ok(s) => s.event_count().unwrap_or(0),
        Err(_) => 0,
    }
}

#[cfg(unix)]
#[test]
fn sigkill_mid_ingest_loses_no_committed_batch() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("traffic.jsonl");
    let text = sim_jsonl(21, 60_000);
    std::fs::write(&file, &text).expect("write");
    let total_events = text
        .lines()
        .filter(|l| l.contains(r#""type":"event""#))
        .count() as i64;
    let db = dir.path().join("crash.db");

    let mut child = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["ingest", "--batch", "500"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ingest");
    // Wait until some batches are committed (not a time limit: we poll for progress).
    loop {
        if committed_events(&db) > 0 {
            break;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!("ingest ended before it could be killed: {status}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert_eq!(status.signal(), Some(9), "the child died of SIGKILL");

    let store = Store::open(&db).expect("reopen after crash");
    let kept = store.event_count().expect("count");
    assert!(
        kept > 0 && kept < total_events,
        "killed mid-way: {kept} of {total_events}"
    );
    assert_rollups_consistent(&store);
    drop(store);

    // Re-running the same ingest is safe: duplicates change nothing, the rest completes.
    let out = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["ingest"])
        .arg(&file)
        .output()
        .expect("re-run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = Store::open(&db).expect("open");
    assert_eq!(resumed.event_count().expect("count"), total_events);
    assert_rollups_consistent(&resumed);
    let (_, mut clean) = temp_db(&dir, "clean.db");
    ingest_str(&mut clean, &text, Format::Jsonl, 20_000);
    assert_same_rollups(&resumed, &clean);
}
