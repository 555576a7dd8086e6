//! `liftdeck bench load` in miniature: two writer processes (one SIGKILLed twice, resuming),
//! three read-only reader processes, one database. The work is bounded by count (two chunks per
//! writer), never by a wall-clock assertion; what is asserted is exactness and no lock error.

use crate::common::*;
use std::process::Command;

#[cfg(unix)]
#[test]
fn writers_killed_mid_ingest_resume_exactly_while_readers_never_see_a_lock() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(bin())
        .env_remove("LIFTDECK_DB")
        .args(["bench", "load", "--seconds", "100000", "--chunks", "2"])
        .args(["--shoppers", "2000", "--batch", "200", "--kills", "2"])
        .args(["--writers", "2", "--readers", "3", "--json", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run bench load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    for phase in ["baseline", "loaded"] {
        let p = &r[phase];
        assert_eq!(p["exact"], true, "{phase}: every event once: {p}");
        assert_eq!(p["rollup_differences"], serde_json::json!([]), "{phase}");
        assert_eq!(p["busy_errors"], 0, "{phase}: a lock reached a user");
        assert_eq!(p["other_errors"], serde_json::json!([]), "{phase}");
    }
    let loaded = &r["loaded"];
    assert_eq!(loaded["chunks"], 4, "two chunks per writer");
    assert!(loaded["events"].as_u64().expect("events") > 4 * 2000);
    // A kill lands after the first committed batch of a 2000-shopper chunk in batches of 200.
    assert!(
        loaded["kills_survived"].as_u64().expect("kills") >= 1,
        "{loaded}"
    );
    assert!(loaded["reader_calls"].as_u64().expect("calls") >= 1);
    assert_eq!(r["baseline"]["writers"], 1);
    assert_eq!(r["baseline"]["kills_survived"], 0);
}

#[test]
fn a_failed_check_is_not_ok() {
    // The verdict the exit code rests on must see each kind of failure.
    let base = liftdeck::app::bench::LoadPhase {
        writers: 1,
        readers: 0,
        seconds: 1.0,
        chunks: 1,
        events: 1,
        events_per_second: 1.0,
        kills_survived: 0,
        kills_missed: 0,
        reader_calls: 0,
        busy_errors: 0,
        other_errors: vec![],
        reader_latency_median_ms: 0.0,
        reader_latency_max_ms: 0.0,
        exact: true,
        rollup_differences: vec![],
    };
    assert!(base.ok());
    let mut p = base.clone();
    p.exact = false;
    assert!(!p.ok());
    let mut p = base.clone();
    p.busy_errors = 1;
    assert!(!p.ok());
    let mut p = base.clone();
    p.rollup_differences = vec!["units".into()];
    assert!(!p.ok());
    let mut p = base;
    p.other_errors = vec!["x".into()];
    assert!(!p.ok());
}
