//! `report did` end to end: campaigns with a known treated x post effect ingested through the
//! real binary (assignment lines with a region, purchases over eight weeks), the effect
//! recovered within its interval, a pre-trend violation flagged, the clustering choice, the
//! JSON fields and every refusal.

use crate::common::*;
use liftdeck::clock::format_rfc3339;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Monday 2026-08-03, 00:00 UTC (ISO week 32), in microseconds.
const WEEK0: i64 = 20_668 * 86_400_000_000;
const WEEK_US: i64 = 7 * 86_400_000_000;
/// Monday 2026-08-31: the first post week (week 4 of 8).
const START: &str = "2026-08-31T00:00:00Z";

struct Shop {
    regions: usize,
    units_per_region: usize,
    weeks: i64,
    /// Extra purchases per unit-week of a treated unit from week 4 on.
    effect: i64,
    /// Extra purchases per week elapsed for treated units (a parallel-trends violation).
    treated_slope: i64,
    /// Which regions are treated.
    treated: fn(usize) -> bool,
    /// Whether to write any events.
    events: bool,
}

impl Default for Shop {
    fn default() -> Self {
        Shop {
            regions: 8,
            units_per_region: 10,
            weeks: 8,
            effect: 2,
            treated_slope: 0,
            treated: |r| r % 2 == 1,
            events: true,
        }
    }
}

fn lines(key: &str, shop: &Shop, seed: u64) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut s = format!(
        r#"{{"type":"campaign","key":"{key}","name":"{key}","kind":"ab","arms":[{{"key":"control","weight":50.0}},{{"key":"coupon","weight":50.0}}],"control":"control","traffic":1.0,"metric":"purchase","guardrails":[],"seed":5,"status":"running"}}"#
    );
    s.push('\n');
    let mut n = 0;
    for region in 0..shop.regions {
        let treated = (shop.treated)(region);
        let arm = if treated { "coupon" } else { "control" };
        for j in 0..shop.units_per_region {
            let unit = format!("r{region}-u{j}");
            // Only the first unit of each region has a `store` field.
            let store = if j == 0 { r#","store":"s1""# } else { "" };
            s.push_str(&format!(
                r#"{{"type":"assignment","campaign":"{key}","unit":"{unit}","arm":"{arm}","propensity":0.5,"context":{{"region":"r{region}","country":"de"{store}}},"ts":"2026-08-01T00:00:00Z"}}"#
            ));
            s.push('\n');
            if !shop.events {
                continue;
            }
            let level = 3 + rng.random_range(0..3i64);
            for week in 0..shop.weeks {
                let post = treated && week >= 4;
                let purchases = level
                    + (week % 3)
                    + if post { shop.effect } else { 0 }
                    + if treated {
                        shop.treated_slope * week
                    } else {
                        0
                    }
                    + rng.random_range(-1..=1i64);
                for p in 0..purchases {
                    let ts = WEEK0 + week * WEEK_US + (p % 5) * 86_400_000_000 + 36_000_000_000;
                    n += 1;
                    s.push_str(&format!(
                        r#"{{"type":"event","event_id":"{key}-e{n}","campaign":"{key}","unit":"{unit}","kind":"purchase","value":10.0,"cost":1.0,"ts":"{}"}}"#,
                        format_rfc3339(ts)
                    ));
                    s.push('\n');
                }
            }
        }
    }
    s
}

fn db_with(dir: &tempfile::TempDir, key: &str, shop: &Shop) -> std::path::PathBuf {
    let db = dir.path().join(format!("{key}.db"));
    ingest_with_cli(&db, &lines(key, shop, 7));
    db
}

fn did(db: &Path, key: &str, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args([
            "report",
            "did",
            key,
            "--post-start",
            START,
            "--period",
            "week",
        ])
        .args(extra)
        .output()
        .expect("run report did")
}

fn json(db: &Path, key: &str, extra: &[&str]) -> Value {
    let mut args = extra.to_vec();
    args.push("--json");
    let out = did(db, key, &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn refused(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "stderr: {err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

fn f(v: &Value) -> f64 {
    v.as_f64().expect("number")
}

#[test]
fn recovers_a_known_effect_within_its_interval_and_reports_parallel_trends() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = db_with(&dir, "launch", &Shop::default());
    let r = json(&db, "launch", &["--cluster", "region"]);
    let e = &r["did"]["effect"];
    assert!(
        f(&e["ci_low"]) < 2.0 && 2.0 < f(&e["ci_high"]),
        "effect {e} should cover 2"
    );
    assert!(f(&e["ci_low"]) > 0.0, "a clear effect: {e}");
    assert_eq!(r["did"]["clusters"], 8);
    assert_eq!(r["did"]["units"], 80);
    assert_eq!(r["did"]["observations"], 80 * 8);
    // K = intercept + 79 unit dummies + 7 week dummies + the effect.
    assert_eq!(r["did"]["regressors"], 1 + 79 + 7 + 1);
    assert_eq!(r["metric"], "conversion");
    assert_eq!(r["first_post_period"], "2026-W36");
    assert_eq!(r["start_inside_period"], false);
    assert_eq!(r["periods"].as_array().expect("periods").len(), 8);
    assert_eq!(r["periods"][0], "2026-W32");
    assert_eq!(
        (r["pre_periods"].clone(), r["post_periods"].clone()),
        (4.into(), 4.into())
    );
    assert_eq!(r["treated_arms"], serde_json::json!(["coupon"]));
    assert_eq!(
        (r["treated_units"].clone(), r["control_units"].clone()),
        (40.into(), 40.into())
    );
    let es = r["event_study"].as_array().expect("event study");
    assert_eq!(es.len(), 7, "every week but the reference");
    assert_eq!(r["reference_period"], "2026-W35");
    assert_eq!(es[0]["relative"], -4);
    assert!(es.iter().all(|row| row["period"] != "2026-W35"));
    assert_eq!(r["pre_trend"]["df_num"], 3);
    assert_eq!(r["pre_trend"]["df_denom"], 7);
    assert!(r["placebo"]["fit"]["effect"]["ci_low"].as_f64().expect("n") < 0.0);
    assert_eq!(r["verdict"], "parallel");
    assert_eq!(r["verdict_message"], "trends look parallel");

    // Revenue is 10 per purchase, so its effect is ten times as large; profit nine.
    let rev = json(
        &db,
        "launch",
        &["--cluster", "region", "--metric", "revenue"],
    );
    let profit = json(
        &db,
        "launch",
        &["--cluster", "region", "--metric", "profit"],
    );
    let est = |v: &Value| f(&v["did"]["effect"]["estimate"]);
    assert!((est(&rev) - 10.0 * est(&r)).abs() < 1e-6);
    assert!((est(&profit) - 9.0 * est(&r)).abs() < 1e-6);

    // The text report states the same things.
    let out = did(&db, "launch", &["--cluster", "region"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "G = 8",
        "Event study (relative to 2026-W35",
        "Pre-trend joint test: F(3, 7)",
        "Placebo",
        "Verdict: trends look parallel",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from:\n{text}");
    }
}

#[test]
fn clustering_by_region_and_by_unit_give_the_same_estimate_different_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = db_with(&dir, "launch", &Shop::default());
    let region = json(&db, "launch", &["--cluster", "region"]);
    let unit = json(&db, "launch", &[]);
    assert_eq!(unit["cluster"], "unit");
    assert_eq!(unit["did"]["clusters"], 80);
    assert_eq!(region["did"]["clusters"], 8);
    assert_eq!(unit["did"]["df"], 79);
    let (a, b) = (&region["did"]["effect"], &unit["did"]["effect"]);
    assert!((f(&a["estimate"]) - f(&b["estimate"])).abs() < 1e-9);
    assert!((f(&a["se"]) - f(&b["se"])).abs() > 1e-6, "{a} vs {b}");
}

#[test]
fn a_treated_trend_before_the_start_is_flagged() {
    let dir = tempfile::tempdir().expect("tmp");
    let shop = Shop {
        treated_slope: 2,
        ..Shop::default()
    };
    let db = db_with(&dir, "trend", &shop);
    let r = json(&db, "trend", &[]);
    assert_eq!(r["verdict"], "not_parallel");
    assert!(f(&r["pre_trend"]["p_value"]) < 0.05);
    assert!(r["placebo"]["fit"]["effect"]["ci_low"].as_f64().expect("n") > 0.0);
    let out = did(&db, "trend", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("trends do not look parallel"), "{text}");
    assert!(text.contains("(pre-period differs)"), "{text}");
}

#[test]
fn refusals_name_what_is_missing() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = db_with(&dir, "launch", &Shop::default());
    let at = |ts: &str| {
        Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args([
                "report",
                "did",
                "launch",
                "--post-start",
                ts,
                "--period",
                "week",
            ])
            .output()
            .expect("run")
    };
    refused(&at("2026-08-04T00:00:00Z"), "no pre-period");
    refused(&at("2026-07-01T00:00:00Z"), "no pre-period");
    refused(&at("2026-10-05T00:00:00Z"), "no post-period");
    refused(
        &did(&db, "launch", &["--cluster", "country"]),
        "all units share one `country`",
    );
    refused(
        &did(&db, "launch", &["--cluster", "store"]),
        "72 unit(s) have no `store`",
    );
    refused(
        &did(&db, "launch", &["--cluster", "missing"]),
        "80 unit(s) have no `missing`",
    );
    refused(&did(&db, "nope", &[]), "nope");

    let usage = did(&db, "launch", &["--metric", "bogus"]);
    assert_eq!(usage.status.code(), Some(64));
    let bad_ts = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args([
            "report",
            "did",
            "launch",
            "--post-start",
            "yesterday",
            "--period",
            "week",
        ])
        .output()
        .expect("run");
    assert_ne!(bad_ts.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&bad_ts.stderr).contains("RFC 3339"));

    let all_treated = db_with(
        &dir,
        "all",
        &Shop {
            treated: |_| true,
            ..Shop::default()
        },
    );
    refused(&did(&all_treated, "all", &[]), "no control units");
    let none_treated = db_with(
        &dir,
        "none",
        &Shop {
            treated: |_| false,
            ..Shop::default()
        },
    );
    refused(&did(&none_treated, "none", &[]), "no treated units");
    let quiet = db_with(
        &dir,
        "quiet",
        &Shop {
            events: false,
            ..Shop::default()
        },
    );
    refused(&did(&quiet, "quiet", &[]), "has no events");
}

#[test]
fn months_and_days_bucket_by_the_utc_calendar() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = db_with(&dir, "launch", &Shop::default());
    let out = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args([
            "report",
            "did",
            "launch",
            "--post-start",
            "2026-09-15T12:00:00+02:00",
            "--period",
            "month",
            "--json",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("json");
    // Events run from 2026-08-03 to 2026-09-25: August and September.
    assert_eq!(r["periods"], serde_json::json!(["2026-08", "2026-09"]));
    assert_eq!(r["first_post_period"], "2026-09");
    assert_eq!(r["start_inside_period"], true);
    assert_eq!(r["post_start"], "2026-09-15T10:00:00Z");
    assert_eq!(r["verdict"], "not_testable");

    let out = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args([
            "report",
            "did",
            "launch",
            "--post-start",
            START,
            "--period",
            "day",
            "--json",
        ])
        .output()
        .expect("run");
    let days: Value = serde_json::from_slice(&out.stdout).expect("json");
    let periods = days["periods"].as_array().expect("days");
    assert_eq!(periods.first().expect("first"), "2026-08-03");
    // 8 weeks of events, the last on the Friday of week 8.
    assert_eq!(periods.last().expect("last"), "2026-09-25");
    assert_eq!(days["first_post_period"], "2026-08-31");
}

/// A DiD report runs as a job and is saved with what it was asked: `report show` gives back
/// the JSON `--json` printed, and a read-only run saves nothing.
#[test]
fn a_did_report_is_saved_with_its_launch_time_and_period() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = db_with(&dir, "launch", &Shop::default());
    let direct = json(&db, "launch", &["--cluster", "region"]);
    let mut ro = Command::new(bin());
    ro.arg("--db").arg(&db).arg("--read-only");
    ro.args([
        "report",
        "did",
        "launch",
        "--post-start",
        "2026-08-31T00:00:00Z",
    ]);
    ro.args(["--period", "week"]);
    assert!(ro.output().expect("run").status.success());
    let show = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["report", "show", "1", "--format", "json"])
        .output()
        .expect("show");
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    let saved: Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(saved["kind"], "did");
    assert_eq!(saved["result"], direct);
    assert_eq!(saved["parameters"]["cluster"], "region");
    assert_eq!(saved["parameters"]["period"], "week");
    assert_eq!(saved["parameters"]["post_start"], "2026-08-31T00:00:00Z");
    let list = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["report", "list", "--json"])
        .output()
        .expect("list");
    let rows: Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(1),
        "read-only saved nothing"
    );
}
