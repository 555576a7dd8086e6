//! Several operators on one database while an ingest runs in another process: no "database
//! is locked" error surfaces, and every mutation lands in the audit log with its actor.

use crate::common::*;
use liftdeck::app::{self, Env};
use liftdeck::clock::Clock;
use liftdeck::domain::Status;
use liftdeck::store::Store;
use std::process::{Command, Stdio};

#[test]
fn status_changes_succeed_while_another_process_ingests() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("traffic.jsonl");
    std::fs::write(&file, sim_jsonl(31, 40_000)).expect("write");
    let db = dir.path().join("shared.db");
    // The campaigns exist before the ingest starts (the file's campaign lines are duplicates).
    {
        let mut store = Store::open(&db).expect("open");
        let head: String = std::fs::read_to_string(&file)
            .expect("read")
            .lines()
            .take(3)
            .map(|l| format!("{l}\n"))
            .collect();
        ingest_str(&mut store, &head, liftdeck::lines::Format::Jsonl, 10);
    }
    let mut child = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["ingest", "--batch", "2000"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ingest");
    let env = Env {
        clock: Clock::System,
        actor: "operator-b@10.0.0.7".into(),
    };
    let mut store = Store::open(&db).expect("second connection");
    let mut changes = 0;
    // Toggle a campaign while the child commits batches; each change must succeed.
    while child.try_wait().expect("wait").is_none() || changes < 10 {
        let to = if changes % 2 == 0 {
            Status::Paused
        } else {
            Status::Running
        };
        app::set_status(&mut store, &env, "recs-home", to)
            .unwrap_or_else(|e| panic!("change {changes} failed while ingesting: {e}"));
        changes += 1;
        let reader = Store::open_read_only(&db).expect("a third, read-only connection");
        reader
            .arm_summaries("coupon-10")
            .expect("read while writing");
        if changes > 400 {
            break;
        }
    }
    let out = child.wait_with_output().expect("ingest finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("locked"), "{stderr}");
    // Paused campaigns still accept late events, so nothing is rejected.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let log = store.audit_log(1000).expect("audit");
    let mine = log
        .iter()
        .filter(|e| e.actor == "operator-b@10.0.0.7" && e.campaign.as_deref() == Some("recs-home"))
        .count();
    assert_eq!(mine, changes, "every change is audited with its actor");
    assert_rollups_consistent(&store);
}
