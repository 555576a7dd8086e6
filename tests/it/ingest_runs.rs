//! Rejects are per run: one `ingest_runs` row per run with its totals, each reject carrying its
//! run and time, re-runs of the same file not piling up copies, and the `rejects` filters. Also
//! the terminal safety of ingest's and `rejects`' text output.

use crate::common::*;
use liftdeck::app;
use liftdeck::lines::Format;
use liftdeck::store::{RejectFilter, RunSelector, Store};
use std::path::Path;
use std::process::{Command, Output};

fn run_rows(db: &Path, source: &str) -> i64 {
    let raw = rusqlite::Connection::open(db).expect("raw");
    raw.query_row(
        "SELECT COUNT(*) FROM ingest_runs WHERE source = ?1",
        [source],
        |r| r.get(0),
    )
    .expect("count")
}

fn cli(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run liftdeck")
}

#[test]
fn one_run_row_per_run_and_a_re_run_does_not_pile_up_rejects() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "runs.db");
    ingest_file(&mut store, &fixture("bad/setup.jsonl"));
    let bad = fixture("bad/missing_field.jsonl");
    let source = bad.display().to_string();
    let first = ingest_file(&mut store, &bad);
    assert_eq!(first.rejected, 4);
    // Today: one run row per reject of the first batch with rejects.
    assert_eq!(run_rows(&db, &source), 1);
    let run1 = first.run_id.expect("a run id");
    let row = store.ingest_run(run1).expect("run").expect("row");
    assert_eq!((row.lines, row.rejected, row.accepted), (4, 4, 0));
    assert_eq!(row.started_at, test_env().clock.now());
    let rejects = store.rejects(100).expect("rejects");
    assert!(rejects.iter().all(|r| r.run == Some(run1) && r.seen == 1));
    assert!(rejects.iter().all(|r| r.ts == test_env().clock.now()));

    let second = ingest_file(&mut store, &bad);
    assert_eq!(second.rejected, 4);
    let run2 = second.run_id.expect("a run id");
    assert_ne!(run1, run2);
    assert_eq!(run_rows(&db, &source), 2);
    let rejects = store.rejects(100).expect("rejects");
    assert_eq!(rejects.len(), 4, "no duplicate rejects after a re-run");
    assert!(rejects.iter().all(|r| r.run == Some(run2) && r.seen == 2));

    // Filters: by run, by reason, newest run, limit.
    let by = |run, reason: Option<&str>, limit| {
        store
            .rejects_where(&RejectFilter {
                run,
                reason: reason.map(str::to_string),
                limit,
            })
            .expect("rejects")
    };
    assert_eq!(by(Some(RunSelector::Id(run1)), None, 100).len(), 0);
    assert_eq!(by(Some(RunSelector::Latest), None, 100).len(), 4);
    assert_eq!(by(None, Some("missing_field"), 2).len(), 2);
    assert_eq!(by(None, Some("unknown_arm"), 100).len(), 0);
    // A clean run is recorded too, with its totals.
    let clean = ingest_str(
        &mut store,
        &std::fs::read_to_string(fixture("bad/setup.jsonl")).expect("setup"),
        Format::Jsonl,
        2,
    );
    let row = store
        .ingest_run(clean.run_id.expect("id"))
        .expect("run")
        .expect("row");
    assert_eq!(
        (row.lines, row.duplicates, row.rejected),
        (clean.lines as i64, clean.lines as i64, 0)
    );
}

#[test]
fn the_cli_filters_rejects_and_prints_json_exactly() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("cli.db");
    let setup = cli(
        &db,
        &["ingest", fixture("bad/setup.jsonl").to_str().expect("utf8")],
    );
    assert_eq!(setup.status.code(), Some(0));
    let out = cli(
        &db,
        &[
            "ingest",
            "--json",
            fixture("bad/missing_field.jsonl").to_str().expect("utf8"),
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["lines"], 4);
    assert_eq!(summary["rejected"], 4);
    assert_eq!(summary["accepted"], 0);
    assert_eq!(summary["by_reason"]["missing_field"], 4);
    let run = summary["run"].as_i64().expect("run id");
    let out = cli(
        &db,
        &[
            "rejects",
            "--json",
            "--run",
            &run.to_string(),
            "--limit",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rejects JSON");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r["run"] == run && r["reason"] == "missing_field"));
    assert!(rows[0]["ts"].as_str().expect("ts").ends_with('Z'));
    let out = cli(&db, &["rejects", "--reason", "no_such_reason"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unassigned_unit"));
}

#[test]
fn control_characters_in_rejects_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("esc.db");
    let file = dir.path().join("esc.jsonl");
    let setup = std::fs::read_to_string(fixture("bad/setup.jsonl")).expect("setup");
    // Line 1's unit decodes to ESC [2J (in the message); line 2 carries raw ESC and CR bytes.
    let hostile = "{\"type\":\"event\",\"event_id\":\"x1\",\"campaign\":\"shop-ab\",\"unit\":\"u\\u001b[2J\",\"kind\":\"click\",\"ts\":\"2026-11-01T12:00:00Z\"}\n\
                   {\"type\":\"event\",\"unit\":\"\u{1b}]0;owned\u{7}\r\"}\n";
    std::fs::write(&file, format!("{setup}{hostile}")).expect("write");
    let out = cli(&db, &["ingest", file.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3));
    for (what, bytes) in [
        ("ingest stderr", &out.stderr),
        ("ingest stdout", &out.stdout),
    ] {
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&b'\r'),
            "{what}: {bytes:?}"
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("u\\u{1b}[2J"), "{stderr}");
    let text = cli(&db, &["rejects"]);
    assert!(
        !text.stdout.contains(&0x1b) && !text.stdout.contains(&0x07),
        "{:?}",
        text.stdout
    );
    assert!(String::from_utf8_lossy(&text.stdout).contains("\\u{1b}]0;owned\\u{7}\\u{d}"));
    // JSON stays exact: the same characters, JSON-escaped.
    let json = cli(&db, &["rejects", "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let rows = rows.as_array().expect("array");
    assert!(rows.iter().any(|r| r["detail"]
        .as_str()
        .is_some_and(|d| d.contains("u\u{1b}[2J"))));
    assert!(rows.iter().any(|r| r["raw"]
        .as_str()
        .is_some_and(|d| d.contains("\u{1b}]0;owned\u{7}\r"))));
}

#[test]
fn a_version_1_database_keeps_its_rejects_and_stops_piling_them_up() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v1.db");
    std::fs::copy(fixture("db/v1.db"), &path).expect("copy fixture");
    let mut store = Store::open(&path).expect("upgrade");
    let old = store.rejects(10).expect("rejects");
    assert_eq!(old.len(), 3);
    let mut runs: Vec<i64> = old.iter().map(|r| r.run.expect("run kept")).collect();
    runs.sort_unstable();
    assert_eq!(runs, [1, 2, 3]);
    assert!(old.iter().all(|r| r.seen == 1));
    assert_eq!(old[2].reason, "wrong_type");
    assert_eq!(
        old[2].raw,
        "event,c-1,shop-ab,u-2,purchase,abc,0,2026-11-01T12:01:00Z"
    );
    let run = store.ingest_run(1).expect("run").expect("row kept");
    assert_eq!((run.rejected, run.finished_at), (1, Some(run.started_at)));
    assert_eq!(
        store.arm_summaries("shop-ab").expect("arms")[1]
            .rollup
            .revenue_sum,
        12.5
    );
    // The same file again, under the source name the old rows have: no new rows.
    let source = old[0].source.clone();
    let f = std::fs::File::open(fixture("bad/bad_rows.csv")).expect("fixture");
    let s = app::ingest_reader(
        &mut store,
        &test_env(),
        std::io::BufReader::new(f),
        &source,
        Format::Csv,
        1000,
        |_| {},
    )
    .expect("ingest");
    assert_eq!((s.rejected, s.duplicates), (3, 1));
    let now = store.rejects(10).expect("rejects");
    assert_eq!(now.len(), 3);
    assert!(
        now.iter().all(|r| r.seen == 2 && r.run == s.run_id),
        "{now:?}"
    );
    assert_rollups_consistent(&store);
}
