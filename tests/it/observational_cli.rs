//! Observational campaigns through the binary: create, ingest lines without a propensity,
//! `report causal --covariates` (text, JSON, `--read-only`), and every refusal — no
//! `--covariates`, a missing or constant covariate, an empty arm, no overlap, `assign`,
//! `report ope`, a propensity still required for an A/B test, more than two arms.

use crate::common::{cli_ok as ok, run_cli as run};
use liftdeck::store::Store;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{Rng, SeedableRng};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Output;

/// The revenue the treatment adds per unit.
const EFFECT: f64 = 3.0;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(o)).expect("JSON")
}

fn uniform(rng: &mut Prng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn normal(rng: &mut Prng) -> f64 {
    let (u, v) = (uniform(rng), uniform(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// How the lines are written.
#[derive(Clone, Copy, Default)]
struct Shape {
    /// Every unit is in control.
    no_treated: bool,
    /// Treatment is exactly `age > 40`: the arms do not overlap.
    separated: bool,
    /// Units whose context lacks `age`.
    missing_age: usize,
}

/// Assignment lines without a propensity and purchase events for `n` units of campaign `key`:
/// older, bigger spenders were mailed more often and spend more anyway (confounding).
fn lines(key: &str, n: usize, seed: u64, shape: Shape) -> String {
    let mut rng = Prng::seed_from_u64(seed);
    let mut s = String::new();
    for i in 0..n {
        let age = 40.0 + 10.0 * normal(&mut rng);
        let pre = 50.0 + 20.0 * normal(&mut rng);
        let z = 0.06 * (age - 40.0) + 0.03 * (pre - 50.0);
        let treated = if shape.no_treated {
            false
        } else if shape.separated {
            age > 40.0
        } else {
            uniform(&mut rng) < 1.0 / (1.0 + (-z).exp())
        };
        let arm = if treated { "treated" } else { "control" };
        let context = if i < shape.missing_age {
            format!(r#"{{"pre_value":{pre:.4},"region":"north","flat":1}}"#)
        } else {
            format!(r#"{{"age":{age:.4},"pre_value":{pre:.4},"region":"north","flat":1}}"#)
        };
        writeln!(
            s,
            r#"{{"type":"assignment","campaign":"{key}","unit":"u{i:05}","arm":"{arm}","context":{context},"ts":"2026-11-01T12:00:00Z"}}"#
        )
        .expect("write");
        let value = 20.0
            + 0.3 * (age - 40.0)
            + 0.2 * (pre - 50.0)
            + if treated { EFFECT } else { 0.0 }
            + 2.0 * normal(&mut rng);
        writeln!(
            s,
            r#"{{"type":"event","event_id":"e{i}","campaign":"{key}","unit":"u{i:05}","kind":"purchase","value":{:.4},"cost":0,"ts":"2026-11-01T12:05:00Z"}}"#,
            value.max(0.0)
        )
        .expect("write");
    }
    s
}

/// A running observational campaign `key` with `text` ingested.
fn campaign(dir: &tempfile::TempDir, db: &Path, key: &str, text: &str) {
    ok(&run(
        db,
        &[
            "campaign",
            "create",
            "--key",
            key,
            "--kind",
            "observational",
            "--arms",
            "control:50,treated:50",
            "--control",
            "control",
        ],
    ));
    ok(&run(db, &["campaign", "start", key]));
    let file = dir.path().join(format!("{key}.jsonl"));
    std::fs::write(&file, text).expect("write lines");
    let out = run(db, &["ingest", file.to_str().expect("path")]);
    ok(&out);
    assert!(stderr(&out).contains(" 0 rejected"), "{}", stderr(&out));
}

#[test]
fn an_observational_campaign_is_ingested_without_propensities_and_its_effect_recovered() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("obs.db");
    campaign(&dir, &db, "mail", &lines("mail", 1500, 1, Shape::default()));

    // A missing propensity is stored as 1.0, the "not logged" value of this kind.
    let store = Store::open(&db).expect("open");
    let rows = store.unit_rows("mail", "", 10).expect("rows");
    assert!(!rows.is_empty() && rows.iter().all(|r| r.propensity == 1.0));
    drop(store);

    let args = [
        "report",
        "causal",
        "mail",
        "--covariates",
        "age,pre_value",
        "--metric",
        "revenue",
        "--json",
    ];
    let r = json(&run(&db, &args));
    assert_eq!(r["kind"], "observational");
    assert_eq!(r["estimand"], "ate");
    assert_eq!(r["metric"], "revenue");
    assert_eq!(r["treated"], "treated");
    assert_eq!(r["units"], 1500);
    let covers = |e: &serde_json::Value, x: f64| {
        e["low"].as_f64().expect("low") <= x && x <= e["high"].as_f64().expect("high")
    };
    // Confounded: the naive difference is biased upwards, the weighted ones are not.
    assert!(!covers(&r["naive"], EFFECT), "{}", r["naive"]);
    assert!(covers(&r["ipw"], EFFECT), "{}", r["ipw"]);
    assert!(covers(&r["aipw"], EFFECT), "{}", r["aipw"]);
    let kept = r["kept_treated"].as_u64().expect("n") + r["kept_control"].as_u64().expect("n");
    assert_eq!(kept, 1500);
    let hist: u64 = ["histogram_treated", "histogram_control"]
        .iter()
        .flat_map(|h| r[*h].as_array().expect("bins").clone())
        .map(|c| c.as_u64().expect("count"))
        .sum();
    assert_eq!(hist, 1500);
    assert!(r["ess_treated"].as_f64().expect("ess") > 100.0);
    assert!(r["top1_weight_share"].as_f64().expect("share") < 0.2);
    let balance = r["balance"].as_array().expect("balance");
    assert_eq!(balance.len(), 2);
    assert_eq!(balance[0]["covariate"], "age");
    assert_eq!(balance[0]["flagged_before"], true);
    assert_eq!(balance[0]["flagged"], false);
    let checks: Vec<&str> = r["refutations"]
        .as_array()
        .expect("refutations")
        .iter()
        .map(|c| c["check"].as_str().expect("check"))
        .collect();
    assert_eq!(
        checks,
        ["placebo_treatment", "random_common_cause", "random_subset"]
    );
    assert!(r["refutations"]
        .as_array()
        .expect("refutations")
        .iter()
        .all(|c| c["held"] == true));

    // Read-only: the same report, nothing written.
    let ro: Vec<&str> = ["--read-only"].into_iter().chain(args).collect();
    assert_eq!(json(&run(&db, &ro)), r);

    // ATT and trimming.
    let att = json(&run(
        &db,
        &[
            "report",
            "causal",
            "mail",
            "--covariates",
            "age,pre_value",
            "--estimand",
            "att",
            "--trim",
            "0.1",
            "--json",
        ],
    ));
    assert_eq!(att["estimand"], "att");
    assert_eq!(att["metric"], "conversion");
    let dropped =
        att["dropped_treated"].as_u64().expect("n") + att["dropped_control"].as_u64().expect("n");
    assert!(dropped > 0, "{att}");

    let text = ok(&run(
        &db,
        &["report", "causal", "mail", "--covariates", "age,pre_value"],
    ));
    for part in [
        "ATE",
        "naive",
        "IPW",
        "AIPW",
        "trimmed",
        "effective sample size",
        "propensity histogram",
        "balance",
        "placebo treatment",
        "held",
    ] {
        assert!(text.contains(part), "{part} missing:\n{text}");
    }
}

#[test]
fn observational_refusals_name_what_is_wrong() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("refuse.db");
    campaign(
        &dir,
        &db,
        "mail",
        &lines(
            "mail",
            300,
            2,
            Shape {
                missing_age: 7,
                ..Shape::default()
            },
        ),
    );

    let out = run(&db, &["report", "causal", "mail"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("--covariates"), "{}", stderr(&out));

    let out = run(
        &db,
        &["report", "causal", "mail", "--covariates", "age,pre_value"],
    );
    assert_eq!(out.status.code(), Some(65));
    let e = stderr(&out);
    assert!(
        e.contains("covariate `age`") && e.contains("7 of 300 units"),
        "{e}"
    );

    let out = run(&db, &["report", "causal", "mail", "--covariates", "region"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(
        stderr(&out).contains("covariate `region`"),
        "{}",
        stderr(&out)
    );

    let out = run(
        &db,
        &["report", "causal", "mail", "--covariates", "pre_value,flat"],
    );
    assert_eq!(out.status.code(), Some(65));
    let e = stderr(&out);
    assert!(
        e.contains("'flat'") && e.contains("same value for every unit"),
        "{e}"
    );

    let out = run(
        &db,
        &[
            "report",
            "causal",
            "mail",
            "--covariates",
            "pre_value",
            "--metric",
            "ctr",
        ],
    );
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("--metric `ctr`"), "{}", stderr(&out));

    let out = run(&db, &["assign", "mail", "u00001"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(
        stderr(&out).contains("treatment was chosen outside liftdeck"),
        "{}",
        stderr(&out)
    );

    let out = run(&db, &["report", "ope", "mail", "--policy", "uniform"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("observational"), "{}", stderr(&out));

    // Exactly two arms for this kind.
    let out = run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "three",
            "--kind",
            "observational",
            "--arms",
            "control:1,a:1,b:1",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("exactly two arms"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_empty_arm_and_separated_arms_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("degenerate.db");
    campaign(
        &dir,
        &db,
        "none",
        &lines(
            "none",
            200,
            3,
            Shape {
                no_treated: true,
                ..Shape::default()
            },
        ),
    );
    let out = run(&db, &["report", "causal", "none", "--covariates", "age"]);
    assert_eq!(out.status.code(), Some(65));
    let e = stderr(&out);
    assert!(e.contains("treated arm `treated` has no units"), "{e}");

    campaign(
        &dir,
        &db,
        "split",
        &lines(
            "split",
            200,
            4,
            Shape {
                separated: true,
                ..Shape::default()
            },
        ),
    );
    let out = run(&db, &["report", "causal", "split", "--covariates", "age"]);
    assert_eq!(out.status.code(), Some(65));
    assert!(stderr(&out).contains("no overlap"), "{}", stderr(&out));
}

#[test]
fn an_ab_test_still_needs_a_propensity_and_may_be_reported_with_covariates() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("ab.db");
    ok(&run(
        &db,
        &[
            "campaign",
            "create",
            "--key",
            "ab",
            "--arms",
            "control:50,treated:50",
            "--control",
            "control",
        ],
    ));
    ok(&run(&db, &["campaign", "start", "ab"]));
    let file = dir.path().join("ab.jsonl");
    std::fs::write(&file, lines("ab", 400, 5, Shape::default())).expect("write");
    let out = run(&db, &["ingest", file.to_str().expect("path")]);
    let e = stderr(&out);
    assert!(
        e.contains("ab.jsonl line 1: missing field `propensity`") && e.contains("missing_field"),
        "{e}"
    );

    // With propensities the A/B test takes --covariates too, and says what it ignored.
    let text = lines("ab", 400, 5, Shape::default())
        .replace(r#""context""#, r#""propensity":0.5,"context""#);
    std::fs::write(&file, text).expect("write");
    ok(&run(&db, &["ingest", file.to_str().expect("path")]));
    let r = json(&run(
        &db,
        &[
            "report",
            "causal",
            "ab",
            "--covariates",
            "age,pre_value",
            "--json",
        ],
    ));
    assert_eq!(r["kind"], "ab");
    let notes = r["notes"].to_string();
    assert!(notes.contains("fits one from the covariates"), "{notes}");
    // The logged-propensity report still runs for it.
    ok(&run(&db, &["report", "causal", "ab"]));
}

#[test]
fn a_version_10_database_is_upgraded_to_accept_observational_campaigns() {
    use liftdeck::store::migrate;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("v10.db");
    {
        let mut raw = rusqlite::Connection::open(&db).expect("raw");
        migrate::migrate_to(&mut raw, 10).expect("v10");
        raw.execute_batch(
            "INSERT INTO campaigns (id, key, name, kind, seed, traffic, created_at)
                 VALUES (1, 'old', 'Old', 'ab', 1, 1.0, 0)",
        )
        .expect("old row");
        // Version 10 refuses the kind: the upgrade is what lets it in.
        assert!(raw
            .execute_batch(
                "INSERT INTO campaigns (key, name, kind, seed, traffic, created_at)
                     VALUES ('x', 'X', 'observational', 1, 1.0, 0)",
            )
            .is_err());
    }
    let text = lines("mail", 200, 6, Shape::default());
    campaign(&dir, &db, "mail", &text);
    let store = Store::open(&db).expect("open");
    assert_eq!(store.schema_version().expect("v"), migrate::CURRENT_VERSION);
    assert_eq!(store.campaign("old").expect("old").0.spec.key, "old");
    let raw = rusqlite::Connection::open(&db).expect("raw");
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
    // The CHECK still refuses an unknown kind.
    assert!(raw
        .execute_batch(
            "INSERT INTO campaigns (key, name, kind, seed, traffic, created_at)
                 VALUES ('y', 'Y', 'nonsense', 1, 1.0, 0)",
        )
        .is_err());
}

#[test]
fn a_stored_causal_job_result_reads_back_as_the_report_it_was() {
    use liftdeck::jobs::{JobKind, JobOutput};
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("jobs.db");
    campaign(&dir, &db, "mail", &lines("mail", 300, 8, Shape::default()));
    let text = ok(&run(
        &db,
        &["report", "causal", "mail", "--covariates", "age", "--json"],
    ));
    let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let compact = value.to_string();
    match JobOutput::from_json(JobKind::Causal, &compact) {
        Some(JobOutput::Observational(r)) => assert_eq!(r.covariates, ["age"]),
        other => panic!("not the observational report: {other:?}"),
    }
    // The run was recorded, and its stored result is that report.
    let store = Store::open(&db).expect("open");
    let done = store.latest_done_jobs("mail").expect("jobs");
    let stored = done
        .iter()
        .find(|j| j.kind == "causal")
        .and_then(|j| j.result.clone())
        .expect("a done causal job");
    assert!(matches!(
        JobOutput::from_json(JobKind::Causal, &stored),
        Some(JobOutput::Observational(_))
    ));
}

/// An observational report is saved under its own kind with the covariates it used.
#[test]
fn an_observational_report_is_saved_under_its_own_kind() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("obs.db");
    campaign(&dir, &db, "mail", &lines("mail", 600, 3, Shape::default()));
    let direct = json(&run(
        &db,
        &[
            "report",
            "causal",
            "mail",
            "--covariates",
            "age,pre_value",
            "--json",
        ],
    ));
    let saved = json(&run(&db, &["report", "show", "1", "--format", "json"]));
    assert_eq!(saved["kind"], "observational");
    assert_eq!(saved["result"], direct);
    assert_eq!(
        saved["parameters"]["covariates"],
        serde_json::json!(["age", "pre_value"])
    );
    let text = ok(&run(&db, &["report", "show", "1"]));
    assert!(text.contains("AIPW"), "{text}");
    let list = ok(&run(&db, &["report", "list"]));
    assert!(list.contains("observational"), "{list}");
}

/// The console cannot type covariates: on an observational campaign `c` reruns the newest
/// saved observational report's, and says what to run when there is none.
#[test]
fn the_console_reruns_the_saved_covariates_on_c() {
    let mut fixture = String::from(
        "{\"op\":\"create\",\"key\":\"mail\",\"kind\":\"observational\",\"arms\":\"control:50,treated:50\",\"control\":\"control\"}\n{\"op\":\"start\",\"campaign\":\"mail\"}\n",
    );
    fixture.push_str(&lines("mail", 600, 5, Shape::default()));
    fixture.push_str(
        "{\"op\":\"key\",\"keys\":\"<Tab><Tab><Tab><Tab>c\"}\n\
         {\"op\":\"expect_screen\",\"contains\":\"--covariates F1,F2\"}\n\
         {\"op\":\"report_causal\",\"campaign\":\"mail\",\"covariates\":\"age,pre_value\"}\n\
         {\"op\":\"key\",\"keys\":\"c\"}\n\
         {\"op\":\"expect_screen\",\"contains\":\"AIPW\"}\n\
         {\"op\":\"expect_screen\",\"contains\":\"saved reports (2;\"}\n",
    );
    let mut replay = liftdeck::replay::Replay::new((100, 60), false).expect("replay");
    replay.run(&fixture).expect("fixture runs");
    let failed: Vec<_> = replay.checks.iter().filter(|c| !c.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let saved = replay.store().reports(Some("mail"), 10).expect("reports");
    assert_eq!(saved.len(), 2);
    assert!(saved.iter().all(|r| r.kind == "observational"));
    // The console's run used the shell's covariates.
    assert_eq!(saved[0].parameters, saved[1].parameters);
}
