//! `report ope` with a reward model: DM/DR/SNDR with a given q̂ table match an independent numpy
//! computation; the report stands on the campaign's active conversion model, names its version,
//! and follows `model activate` of an older version; `--reward-model active` is refused (65)
//! when there is no model and `means` keeps the fitted means.

use crate::common::{bin, fixture, ingest_str, sim_jsonl, temp_db, test_env};
use liftdeck::app::predict::{predict, ScoreRow};
use liftdeck::app::train::{retrain_with, LearnerChoice};
use liftdeck::app::{models, NoProgress};
use liftdeck::causal::ope::{
    evaluate_with_model, Estimator, LoggedRow, OpeOptions, RewardTable, TargetPolicy,
};
use liftdeck::lines::Format;
use liftdeck::model::TrainOptions;
use serde_json::Value;

const KEY: &str = "coupon-10";

#[test]
fn dm_dr_sndr_with_a_given_model_match_numpy() {
    let text = std::fs::read_to_string(fixture("golden/ope_model.json")).expect("golden");
    let g: Value = serde_json::from_str(&text).expect("json");
    let floats = |v: &Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_f64().expect("number"))
            .collect()
    };
    let rows: Vec<LoggedRow> = g["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| LoggedRow {
            arm: r["arm"].as_u64().expect("arm") as usize,
            reward: r["reward"].as_f64().expect("reward"),
            propensity: r["propensity"].as_f64().expect("propensity"),
            position: None,
            features: vec![],
        })
        .collect();
    let target = TargetPolicy::per_row(
        g["target"]
            .as_array()
            .expect("target")
            .iter()
            .map(floats)
            .collect(),
    )
    .expect("target");
    let q = RewardTable::from_rows(g["q"].as_array().expect("q").iter().map(floats).collect())
        .expect("q");
    let opts = OpeOptions {
        resamples: 0,
        ..OpeOptions::default()
    };
    let r = evaluate_with_model(&rows, &target, &q, &opts).expect("ope");
    for (e, name) in [
        (Estimator::Ips, "ips"),
        (Estimator::Snips, "snips"),
        (Estimator::Dm, "dm"),
        (Estimator::Dr, "dr"),
        (Estimator::Sndr, "sndr"),
    ] {
        let want = g["expected"][name].as_f64().expect("expected");
        let got = r.estimate(e).expect("estimate").value;
        assert!((got - want).abs() < 1e-12, "{name}: {got} vs {want}");
    }
}

fn report(db: &std::path::Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new(bin())
        .arg("--db")
        .arg(db)
        .args([
            "report",
            "ope",
            KEY,
            "--policy",
            "uniform",
            "--resamples",
            "20",
        ])
        .args(extra)
        .output()
        .expect("run liftdeck")
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn dm_of(v: &Value) -> f64 {
    v["estimates"]
        .as_array()
        .expect("estimates")
        .iter()
        .find(|e| e["estimator"] == "dm")
        .and_then(|e| e["value"].as_f64())
        .expect("dm")
}

#[test]
fn the_report_uses_the_active_model_and_follows_an_activation() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, mut store) = temp_db(&dir, "ope_model.db");
    ingest_str(&mut store, &sim_jsonl(5, 1200), Format::Jsonl, 1000);

    // No model yet: auto falls back to the means and says why; active is refused.
    let auto = json_of(&report(&db, &["--json"]));
    assert_eq!(auto["reward_model"]["kind"], "means", "{auto}");
    assert!(auto["reward_model"]["not_used"]
        .as_str()
        .expect("reason")
        .contains("no active conversion model"));
    assert_eq!(auto["model_refitted_per_resample"], true);
    let refused = report(&db, &["--reward-model", "active"]);
    assert_eq!(refused.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no active conversion model"));

    let env = test_env();
    let opts = TrainOptions {
        epochs: 3,
        ..TrainOptions::default()
    };
    for learner in [LearnerChoice::Lr, LearnerChoice::Ftrl] {
        retrain_with(
            &mut store,
            &env,
            KEY,
            None,
            &opts,
            learner,
            false,
            &NoProgress,
        )
        .expect("train");
    }
    // Version 2 active (whether or not it beat version 1), then the older one activated.
    models::activate(&mut store, &env, KEY, 2, true).expect("activate 2");
    let v2 = json_of(&report(&db, &["--json"]));
    assert_eq!(v2["reward_model"]["version"], 2, "{v2}");
    models::activate(&mut store, &env, KEY, 1, true).expect("activate 1");
    let v1 = json_of(&report(&db, &["--json"]));
    assert_eq!(v1["reward_model"]["kind"], "model");
    assert_eq!(v1["reward_model"]["version"], 1);
    assert_eq!(v1["reward_model"]["name"], "model version 1 (lr)");
    assert_eq!(v1["model_refitted_per_resample"], false);

    // DM by hand: mean over logged rows of Σ_a 1/K q̂(a, x), q̂ from app::predict.
    let (_, arms) = store.campaign(KEY).expect("campaign");
    let decisions = store.logged_decisions(KEY).expect("decisions");
    let mut batch = Vec::new();
    for d in &decisions {
        let context = match serde_json::from_str(&d.context) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        for a in &arms {
            batch.push(ScoreRow {
                unit: Some(d.unit.clone()),
                context: context.clone(),
                arm: a.key.clone(),
                at: d.ts,
            });
        }
    }
    let scores = predict(&store, KEY, &batch)
        .expect("predict")
        .expect("model");
    let by_hand = scores.iter().sum::<f64>() / arms.len() as f64 / decisions.len() as f64;
    assert!(
        (dm_of(&v1) - by_hand).abs() < 1e-9,
        "{} vs {by_hand}",
        dm_of(&v1)
    );
    assert!(
        (dm_of(&v1) - dm_of(&v2)).abs() > 1e-9,
        "the two versions give different DMs"
    );

    // --reward-model means keeps the fitted means, as before any model existed.
    let means = json_of(&report(&db, &["--json", "--reward-model", "means"]));
    assert_eq!(means["reward_model"]["kind"], "means");
    assert!((dm_of(&means) - dm_of(&auto)).abs() < 1e-12);
    let text = report(&db, &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("DM/DR reward model: model version 1 (lr), fitted elsewhere"),
        "{text}"
    );
}

/// An A/B campaign whose metric is revenue: the conversion model cannot be its reward model.
fn revenue_lines(n: usize) -> String {
    let mut out = String::from(
        r#"{"type":"campaign","key":"rev","name":"revenue","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"coupon","weight":50.0}],"control":"control","traffic":1.0,"metric":"revenue","seed":7,"status":"running"}"#,
    );
    out.push('\n');
    for i in 0..n {
        let arm = if i % 2 == 0 { "coupon" } else { "control" };
        let device = if i % 3 == 0 { "mobile" } else { "desktop" };
        out.push_str(&format!(
            r#"{{"type":"assignment","campaign":"rev","unit":"u{i:05}","arm":"{arm}","propensity":0.5,"context":{{"device":"{device}"}},"ts":"2026-11-01T12:{:02}:00Z"}}"#,
            i % 60
        ));
        out.push('\n');
        if i % 5 == 0 || (arm == "coupon" && i % 3 == 0) {
            out.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"rev","unit":"u{i:05}","kind":"purchase","value":20,"cost":0,"ts":"2026-11-01T13:00:00Z"}}"#
            ));
            out.push('\n');
        }
    }
    out
}

#[test]
fn a_revenue_reward_does_not_stand_on_the_conversion_model() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, mut store) = temp_db(&dir, "rev.db");
    ingest_str(&mut store, &revenue_lines(400), Format::Jsonl, 1000);
    retrain_with(
        &mut store,
        &test_env(),
        "rev",
        None,
        &TrainOptions::default(),
        LearnerChoice::Dense,
        false,
        &NoProgress,
    )
    .expect("train");
    assert!(store.active_model("rev").expect("read").is_some());
    let run = |extra: &[&str]| {
        std::process::Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args([
                "report",
                "ope",
                "rev",
                "--policy",
                "uniform",
                "--resamples",
                "0",
            ])
            .args(extra)
            .output()
            .expect("run liftdeck")
    };
    let auto = json_of(&run(&["--json"]));
    assert_eq!(auto["reward"], "revenue");
    assert_eq!(auto["reward_model"]["kind"], "means", "{auto}");
    let why = auto["reward_model"]["not_used"].as_str().expect("reason");
    assert!(why.contains("cannot be the reward model"), "{why}");
    let refused = run(&["--reward-model", "active"]);
    assert_eq!(refused.status.code(), Some(65));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("the reward is revenue"), "{err}");
}
