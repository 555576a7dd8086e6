//! `import obd`: an Open Bandit Dataset log (fixtures/obd, made by fixtures/obd/make_fixture.py)
//! becomes a stopped bandit campaign whose arms are the items; every row an assignment with
//! its propensity and context, an exposure and its click; a repeat imports nothing; a bad row
//! is rejected naming file, line and field and loses nothing else; `campaign show` reports
//! the rounds and clicks.

use crate::common::{assert_rollups_consistent, bin, fixture, temp_db, test_env};
use liftdeck::app::import_obd::import_obd;
use liftdeck::domain::{CampaignKind, Status};
use std::process::Command;

/// (rows, clicks, click rows per item) counted from the fixture file itself.
fn counts(rel: &str) -> (u64, i64, Vec<i64>) {
    let mut rdr = csv::Reader::from_path(fixture(rel)).expect("fixture");
    let header = rdr.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (item, click) = (col("item_id"), col("click"));
    let (mut rows, mut clicks, mut per_item) = (0, 0, vec![0i64; 5]);
    for rec in rdr.records() {
        let rec = rec.expect("row");
        rows += 1;
        if &rec[click] == "1" {
            clicks += 1;
            per_item[rec[item].parse::<usize>().expect("item")] += 1;
        }
    }
    (rows, clicks, per_item)
}

#[test]
fn a_log_becomes_a_stopped_bandit_campaign_with_one_arm_per_item() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "obd.db");
    let path = fixture("obd/men/random/men.csv");
    let s = import_obd(&mut store, &test_env(), &path, None).expect("import");
    let (rows, clicks, per_item) = counts("obd/men/random/men.csv");
    assert_eq!(s.campaign, "obd-men-random");
    assert!(s.created);
    assert_eq!(
        (s.rows, s.imported, s.duplicates, s.rejected),
        (rows, rows, 0, 0)
    );
    assert_eq!(
        s.events as i64,
        rows as i64 + clicks,
        "an exposure per row, a click per click"
    );

    let (c, arms) = store.campaign("obd-men-random").expect("campaign");
    assert_eq!(c.spec.kind, CampaignKind::Bandit);
    assert_eq!(c.status, Status::Stopped);
    let keys: Vec<&str> = arms.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, ["item-0", "item-1", "item-2", "item-3", "item-4"]);
    let summaries = store.arm_summaries("obd-men-random").expect("arms");
    for (k, a) in summaries.iter().enumerate() {
        assert_eq!(a.rollup.clicks, per_item[k], "{}", a.key);
    }
    assert_eq!(
        summaries.iter().map(|a| a.rollup.units).sum::<i64>(),
        rows as i64
    );
    assert_rollups_consistent(&store);

    // Propensity and context are kept as logged.
    let logged = store.logged_decisions("obd-men-random").expect("rows");
    let first = logged
        .iter()
        .find(|d| d.unit == "men-random-0")
        .expect("row 0");
    assert_eq!(first.propensity, 0.2);
    let ctx: serde_json::Value = serde_json::from_str(&first.context).expect("context");
    assert_eq!(ctx["position"], 1);
    assert!(ctx["user_feature_0"].is_string(), "{ctx}");
}

#[test]
fn importing_the_same_log_again_changes_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "obd.db");
    let path = fixture("obd/men/bts/men.csv");
    let first = import_obd(&mut store, &test_env(), &path, Some("bts")).expect("import");
    let before = store.arm_summaries("bts").expect("arms");
    let again = import_obd(&mut store, &test_env(), &path, Some("bts")).expect("again");
    assert!(!again.created);
    assert_eq!((again.imported, again.events), (0, 0));
    assert_eq!(again.duplicates, first.imported);
    let after = store.arm_summaries("bts").expect("arms");
    for (x, y) in before.iter().zip(&after) {
        assert!(x.rollup.differences(&y.rollup, 0.0).is_empty(), "{}", x.key);
    }
    assert_rollups_consistent(&store);
}

#[test]
fn a_bad_row_is_rejected_by_file_line_and_field_and_the_rest_is_imported() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = temp_db(&dir, "obd.db");
    let path = fixture("obd/bad/men.csv");
    let s = import_obd(&mut store, &test_env(), &path, Some("bad")).expect("import");
    assert_eq!((s.rows, s.imported, s.rejected), (6, 2, 4));
    let mut rejects = store.rejects(10).expect("rejects");
    rejects.sort_by_key(|r| r.line);
    let got: Vec<(i64, &str)> = rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (4, "bad_propensity"),
            (5, "unknown_arm"),
            (6, "bad_timestamp"),
            (7, "value_out_of_range")
        ]
    );
    for (r, field) in rejects
        .iter()
        .zip(["propensity_score", "item_id", "timestamp", "click"])
    {
        assert!(r.detail.contains(&format!("`{field}`")), "{}", r.detail);
        assert_eq!(r.source, path.display().to_string());
    }
    assert_eq!(store.unit_count("bad").expect("units"), 2);
    assert_rollups_consistent(&store);
}

fn liftdeck(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run liftdeck")
}

#[test]
fn the_command_imports_reports_rejects_and_campaign_show_counts_rounds_and_clicks() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("cli.db");
    let log = fixture("obd/men/random/men.csv");
    let log = log.to_str().expect("utf-8 path");
    let out = liftdeck(&db, &["import", "obd", log, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["campaign"], "obd-men-random");
    assert_eq!(v["imported"], 400);

    let (rows, clicks, _) = counts("obd/men/random/men.csv");
    let show = liftdeck(&db, &["campaign", "show", "obd-men-random"]);
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains(&format!("rounds {rows}  exposures {rows}  clicks {clicks}")),
        "{text}"
    );

    let bad = fixture("obd/bad/men.csv");
    let out = liftdeck(
        &db,
        &[
            "import",
            "obd",
            bad.to_str().expect("path"),
            "--campaign",
            "b",
        ],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("men.csv line 5: field `item_id`"),
        "file, line and field: {err}"
    );

    let out = liftdeck(&db, &["--read-only", "import", "obd", log]);
    assert_eq!(out.status.code(), Some(77));
    let missing = dir.path().join("nothing/men.csv");
    let fresh = dir.path().join("fresh.db");
    let out = liftdeck(&fresh, &["import", "obd", missing.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(66));
    assert!(!fresh.exists(), "a missing log leaves no database behind");
}
