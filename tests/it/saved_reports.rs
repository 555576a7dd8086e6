//! Saved reports: every causal report a job makes is kept with its parameters, data window
//! and actor; `report list` finds it and `report show` prints it again, byte for byte as the
//! command printed it, as Markdown, or as JSON, after the process that made it has gone.

use crate::common::{bin, ingest_with_cli, sim_jsonl};
use liftdeck::store::{migrate, Store};
use std::path::Path;
use std::process::{Command, Output};

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env("LIFTDECK_ACTOR", "analyst")
        .output()
        .expect("run liftdeck")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("utf-8")
}

/// A database with one A/B campaign and some traffic, through the CLI as an operator would.
fn shop(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let db = dir.path().join("shop.db");
    ingest_with_cli(&db, &sim_jsonl(3, 600));
    db
}

#[test]
fn a_causal_report_is_saved_and_shown_again_as_it_was_printed() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    let key = first_campaign(&db);
    let printed = stdout(&run(&db, &["report", "causal", &key]));
    let json = stdout(&run(
        &db,
        &["report", "causal", &key, "--json", "--alpha", "0.1"],
    ));

    let list = stdout(&run(&db, &["report", "list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&list).expect("list json");
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{list}");
    // Newest first.
    assert_eq!(rows[0]["id"], 2);
    assert_eq!(rows[1]["id"], 1);
    assert_eq!(rows[0]["kind"], "causal");
    assert_eq!(rows[0]["actor"], "analyst");

    // Text: the body is exactly what `report causal` printed.
    let shown = stdout(&run(&db, &["report", "show", "1"]));
    let (header, body) = shown.split_once("\n\n").expect("header then body");
    assert!(header.starts_with("saved report 1: causal of "), "{header}");
    assert_eq!(body, printed);

    // JSON: the stored result is the one `--json` printed, with what it ran with.
    let saved: serde_json::Value = serde_json::from_str(&stdout(&run(
        &db,
        &["report", "show", "2", "--format", "json"],
    )))
    .expect("show json");
    let direct: serde_json::Value = serde_json::from_str(&json).expect("report json");
    assert_eq!(saved["result"], direct);
    assert_eq!(saved["parameters"]["alpha"], 0.1);
    assert_eq!(saved["campaign"], key.as_str());
    assert!(saved["units"].as_i64().expect("units") > 0);
    assert!(
        saved["window_from"].as_str().expect("from") <= saved["window_to"].as_str().expect("to")
    );

    // Markdown: a metadata table, then the same body fenced.
    let md = stdout(&run(&db, &["report", "show", "1", "--format", "md"]));
    assert!(md.starts_with("# causal report 1"), "{md}");
    assert!(md.contains("| by | analyst |"), "{md}");
    assert!(md.contains(&format!("```text\n{printed}```\n")), "{md}");

    // Per campaign: another key lists nothing of this one's.
    let only = stdout(&run(&db, &["report", "list", &key]));
    assert_eq!(only.lines().count(), 3, "{only}");
}

#[test]
fn read_only_reports_save_nothing_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    let key = first_campaign(&db);
    stdout(&run(&db, &["--read-only", "report", "causal", &key]));
    assert_eq!(stdout(&run(&db, &["report", "list"])), "no saved reports\n");
    let missing = run(&db, &["report", "show", "7"]);
    assert_eq!(missing.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no saved report 7"));
    let bad = run(&db, &["report", "show", "1", "--format", "xml"]);
    assert_eq!(bad.status.code(), Some(64));
    let unknown = run(&db, &["report", "list", "nope"]);
    assert_eq!(unknown.status.code(), Some(65));
}

#[test]
fn saving_is_audited_and_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = shop(&dir);
    let key = first_campaign(&db);
    stdout(&run(&db, &["report", "causal", &key]));
    let store = Store::open_read_only(&db).expect("open");
    let rows = store.reports(Some(&key), 10).expect("reports");
    assert_eq!(rows.len(), 1);
    assert!(rows[0].job_id.is_some());
    let audit = store.audit_log(5).expect("audit");
    assert!(
        audit.iter().any(|a| a.action == "report.save"
            && a.campaign.as_deref() == Some(key.as_str())
            && a.actor == "analyst"),
        "{audit:?}"
    );
}

/// Version 11 rebuilt `jobs` without its CHECK on the kind (new report kinds are jobs too):
/// a version-10 database keeps its job rows and the models that point at them.
#[test]
fn a_version_10_database_keeps_its_jobs_and_models_through_the_rebuild() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("v10.db");
    {
        let mut raw = rusqlite::Connection::open(&path).expect("raw");
        migrate::migrate_to(&mut raw, 10).expect("v10");
        raw.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO campaigns (id, key, name, kind, seed, traffic, created_at)
                 VALUES (1, 'a', 'A', 'ab', 1, 1.0, 0);
             INSERT INTO jobs (id, kind, campaign_id, status, actor, started_at, result)
                 VALUES (1, 'retrain', 1, 'done', 'alice', 100, '{}'),
                        (2, 'causal', 1, 'failed', 'bob', 200, NULL);
             INSERT INTO models (campaign_id, version, created_at, job_id, model, metrics)
                 VALUES (1, 1, 100, 1, '{}', '{}');",
        )
        .expect("old rows");
    }
    let store = Store::open(&path).expect("upgrade");
    assert_eq!(store.schema_version().expect("v"), migrate::CURRENT_VERSION);
    let jobs = store.latest_jobs("a").expect("jobs");
    let got: Vec<(i64, &str, &str)> = jobs
        .iter()
        .map(|j| (j.id, j.kind.as_str(), j.actor.as_str()))
        .collect();
    assert_eq!(got, [(2, "causal", "bob"), (1, "retrain", "alice")]);
    drop(store);
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let broken: i64 = raw
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("fk check");
    assert_eq!(broken, 0);
}

fn first_campaign(db: &Path) -> String {
    let store = Store::open_read_only(db).expect("open");
    store.campaigns().expect("campaigns")[0].spec.key.clone()
}

#[test]
fn an_uplift_report_is_saved_with_its_options() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("shop.db");
    ingest_with_cli(&db, &sim_jsonl(5, 3000));
    let json = stdout(&run(
        &db,
        &["report", "uplift", "coupon-10", "--learner", "x", "--json"],
    ));
    let direct: serde_json::Value = serde_json::from_str(&json).expect("uplift json");
    let saved: serde_json::Value = serde_json::from_str(&stdout(&run(
        &db,
        &["report", "show", "1", "--format", "json"],
    )))
    .expect("show json");
    assert_eq!(saved["kind"], "uplift");
    assert_eq!(saved["parameters"]["learner"], "x");
    assert_eq!(saved["result"], direct);
    let list = stdout(&run(&db, &["report", "list", "coupon-10"]));
    assert!(list.contains("X-learner Qini"), "{list}");
    // The text body is what `report uplift` printed.
    let printed = stdout(&run(
        &db,
        &[
            "--read-only",
            "report",
            "uplift",
            "coupon-10",
            "--learner",
            "x",
        ],
    ));
    let shown = stdout(&run(&db, &["report", "show", "1"]));
    assert_eq!(shown.split_once("\n\n").expect("body").1, printed);
}
