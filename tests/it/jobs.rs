//! Background jobs and the estimators behind them: IPW against statsmodels, the logistic model
//! against scikit-learn, recovery of a known effect under targeted (biased) assignment, and
//! the runner's records (done, cancelled, failed) as `health` sees them.

use crate::common::{fixture, ingest_str, temp_db, test_env};
use liftdeck::app::causal::causal_report;
use liftdeck::app::{health, NoProgress};
use liftdeck::causal::{contrast, ArmMoments};
use liftdeck::jobs::{self, JobEnd, JobKind, JobOutput, JobUpdate};
use liftdeck::lines::Format;
use liftdeck::model::{fit, Rows, TrainOptions};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

fn json(path: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(path)).expect("fixture");
    serde_json::from_str(&text).expect("json")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn ipw_arm_means_and_errors_match_statsmodels_wls_hc0() {
    let golden = json("golden/ipw.json");
    for case in golden["cases"].as_array().expect("cases") {
        let (arm, p, y) = (
            floats(&case["arm"]),
            floats(&case["propensity"]),
            floats(&case["y"]),
        );
        let (mean, se) = (floats(&case["mean"]), floats(&case["se"]));
        let mut arms = vec![ArmMoments::default(); mean.len()];
        for i in 0..y.len() {
            arms[arm[i] as usize].add(y[i], p[i]);
        }
        for (a, m) in arms.iter().enumerate() {
            let (mu, s) = m.weighted().expect("estimate");
            assert!(
                (mu - mean[a]).abs() < 1e-9,
                "{}: mean {mu} vs {}",
                case["name"],
                mean[a]
            );
            assert!(
                (s - se[a]).abs() < 1e-9,
                "{}: se {s} vs {}",
                case["name"],
                se[a]
            );
        }
    }
}

#[test]
fn logistic_regression_reaches_the_scikit_learn_optimum() {
    let golden = json("golden/logistic.json");
    let rows: Vec<Vec<f64>> = golden["x"]
        .as_array()
        .expect("x")
        .iter()
        .map(floats)
        .collect();
    let y = floats(&golden["y"]);
    let mut x = Rows::new(rows[0].len());
    for r in &rows {
        x.push(r);
    }
    let opts = TrainOptions {
        learning_rate: 0.05,
        l2: golden["l2"].as_f64().expect("l2"),
        epochs: 4000,
        batch: usize::MAX,
        seed: 1,
    };
    let model = fit(&x, &y, &opts, &mut |_, _| true).expect("trained");
    let want = floats(&golden["weights"]);
    for (w, r) in model.weights.iter().zip(&want) {
        assert!(
            (w - r).abs() < 1e-4,
            "weights {:?} vs sklearn {want:?}",
            model.weights
        );
    }
    let bias = golden["bias"].as_f64().expect("bias");
    assert!(
        (model.bias - bias).abs() < 1e-4,
        "bias {} vs {bias}",
        model.bias
    );
}

/// Targeted assignment: big spenders are more likely to get the offer and more likely to buy
/// anyway. Returns (pre_value, propensity of the arm received, treated, converted).
fn targeted_units(rng: &mut Prng, n: usize, lift: f64) -> Vec<(f64, f64, bool, bool)> {
    (0..n)
        .map(|_| {
            let pre: f64 = (rng.random::<f64>() * 3.0).exp() - 1.0; // 0 .. ~19
            let p_treat = if pre > 5.0 { 0.8 } else { 0.2 };
            let treated = rng.random::<f64>() < p_treat;
            let base = 0.03 + 0.01 * pre.min(10.0);
            let converted = rng.random::<f64>() < base + if treated { lift } else { 0.0 };
            let p = if treated { p_treat } else { 1.0 - p_treat };
            (pre, p, treated, converted)
        })
        .collect()
}

#[test]
fn ipw_recovers_a_known_lift_that_the_naive_difference_misses() {
    // 300 replications of 4,000 units: coverage of the 95% interval and bias of both estimates.
    let (lift, reps, n) = (0.02, 300, 4_000);
    let mut rng = Prng::seed_from_u64(11);
    let (mut covered, mut naive_sum, mut ipw_sum) = (0, 0.0, 0.0);
    for _ in 0..reps {
        let (mut t, mut c) = (ArmMoments::default(), ArmMoments::default());
        for (_, p, treated, conv) in targeted_units(&mut rng, n, lift) {
            let y = f64::from(u8::from(conv));
            if treated {
                t.add(y, p)
            } else {
                c.add(y, p)
            }
        }
        let e = contrast(&t, &c, 0.05).expect("contrast");
        covered += usize::from(e.ipw_ci.0 <= lift && lift <= e.ipw_ci.1);
        naive_sum += e.naive_diff;
        ipw_sum += e.ipw_diff;
    }
    let coverage = covered as f64 / reps as f64;
    let (naive, ipw) = (naive_sum / reps as f64, ipw_sum / reps as f64);
    // Monte Carlo error of a 95% coverage over 300 runs is about 0.013.
    assert!((0.92..=0.98).contains(&coverage), "coverage {coverage}");
    assert!(
        (ipw - lift).abs() < 0.002,
        "IPW mean estimate {ipw} vs true {lift}"
    );
    assert!(
        naive - lift > 0.01,
        "naive {naive} should carry the selection bias"
    );
}

/// The targeted campaign as ingest lines: a running A/B campaign whose assignments carry the
/// propensity they were made with.
fn targeted_campaign_lines(seed: u64, n: usize) -> String {
    let mut rng = Prng::seed_from_u64(seed);
    let mut out = String::from(
        r#"{"type":"campaign","key":"target","name":"targeted coupon","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"coupon","weight":50.0}],"control":"control","traffic":1.0,"metric":"purchase","seed":3,"status":"running"}"#,
    );
    out.push('\n');
    for (i, (pre, p, treated, conv)) in targeted_units(&mut rng, n, 0.02).into_iter().enumerate() {
        let arm = if treated { "coupon" } else { "control" };
        let device = if i % 3 == 0 { "mobile" } else { "desktop" };
        out.push_str(&format!(
            r#"{{"type":"assignment","campaign":"target","unit":"u{i:06}","arm":"{arm}","propensity":{p},"context":{{"device":"{device}","pre_value":{pre}}},"ts":"2026-11-01T12:00:00Z"}}"#
        ));
        out.push('\n');
        if conv {
            out.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"target","unit":"u{i:06}","kind":"purchase","value":25,"cost":{},"ts":"2026-11-01T12:05:00Z"}}"#,
                if treated { 2.5 } else { 0.0 }
            ));
            out.push('\n');
        }
    }
    out
}

#[test]
fn causal_report_from_the_store_corrects_targeting_and_flags_imbalance() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "causal.db");
    ingest_str(
        &mut store,
        &targeted_campaign_lines(5, 20_000),
        Format::Jsonl,
        5_000,
    );
    let r = causal_report(&store, "target", Some(0.05), &NoProgress).expect("report");
    assert_eq!(r.units, 20_000);
    assert!(r.propensity_varies);
    let conv = &r.outcomes[0];
    assert_eq!(conv.outcome, "conversion");
    let e = conv.arms[1].effect.expect("coupon effect");
    assert!(
        e.ipw_ci.0 <= 0.02 && 0.02 <= e.ipw_ci.1,
        "IPW {e:?} misses the true 0.02"
    );
    assert!(e.naive_ci.0 > 0.02, "naive {e:?} should be biased upwards");
    // Big spenders were targeted: raw pre_value is imbalanced, weighting rebalances it.
    let b = r.balance[0].balance.expect("balance");
    assert!(b.smd_raw > 0.5 && b.smd_weighted.abs() < 0.1, "{b:?}");
    assert!(!r.balance[0].imbalanced);
}

fn run_job(
    db: &std::path::Path,
    kind: JobKind,
    campaign: &str,
    cancel: bool,
) -> (Vec<JobUpdate>, JobEnd) {
    let updates = Mutex::new(Vec::new());
    let flag = AtomicBool::new(cancel);
    let sink = |u| updates.lock().expect("lock").push(u);
    jobs::run(
        db,
        &test_env(),
        &jobs::JobSettings::default(),
        kind,
        campaign,
        &flag,
        &sink,
    );
    let mut updates = updates.into_inner().expect("updates");
    let Some(JobUpdate::Finished { end, .. }) = updates.pop() else {
        panic!("the last update must be Finished");
    };
    (updates, end)
}

#[test]
fn runner_records_done_cancelled_and_failed_jobs_and_health_flags_a_failed_retrain() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "jobs.db");
    ingest_str(
        &mut store,
        &targeted_campaign_lines(9, 6_000),
        Format::Jsonl,
        5_000,
    );

    let (updates, end) = run_job(&db, JobKind::Retrain, "target", false);
    let JobEnd::Done(JobOutput::Model(m)) = end else {
        panic!("retrain did not finish: {end:?}");
    };
    assert_eq!(m.version, Some(1));
    assert!(
        m.holdout_log_loss < m.base_rate_log_loss,
        "pre_value predicts conversion: {m:?}"
    );
    assert!(m.holdout_auc.is_some_and(|a| a > 0.6), "{m:?}");
    // Progress rises monotonically to 1 through reading and every epoch.
    let done: Vec<f64> = updates
        .iter()
        .filter_map(|u| match u {
            JobUpdate::Progress { done, .. } => Some(*done),
            _ => None,
        })
        .collect();
    assert!(
        done.windows(2).all(|w| w[0] <= w[1]) && done.last() == Some(&1.0),
        "{done:?}"
    );

    let (_, end) = run_job(&db, JobKind::Causal, "target", true);
    assert!(matches!(end, JobEnd::Cancelled), "{end:?}");
    let jobs = store.latest_jobs("target").expect("jobs");
    let status = |k: &str| jobs.iter().find(|j| j.kind == k).map(|j| j.status.clone());
    assert_eq!(status("retrain").as_deref(), Some("done"));
    assert_eq!(status("causal").as_deref(), Some("cancelled"));
    assert!(jobs.iter().all(|j| j.finished_at.is_some()));

    // A campaign with nobody converting cannot be trained: the job fails, health warns.
    ingest_str(
        &mut store,
        concat!(
            r#"{"type":"campaign","key":"empty","name":"nothing yet","kind":"ab","arms":[{"key":"a","weight":1.0},{"key":"b","weight":1.0}],"control":"a","traffic":1.0,"metric":"purchase","seed":1,"status":"running"}"#,
            "\n"
        ),
        Format::Jsonl,
        10,
    );
    let (_, end) = run_job(&db, JobKind::Retrain, "empty", false);
    assert!(
        matches!(&end, JobEnd::Failed(e) if e.contains("converting")),
        "{end:?}"
    );
    let h = health::check(&store, test_env().clock.now(), i64::MAX).expect("health");
    let empty = h.iter().find(|c| c.campaign == "empty").expect("empty");
    assert!(
        empty.findings.iter().any(|f| f.check == "training_failed"),
        "{:?}",
        empty.findings
    );
    assert_eq!(empty.severity, health::Severity::Warning);

    let (_, end) = run_job(&db, JobKind::Forecast, "target", false);
    let JobEnd::Done(JobOutput::Forecast(f)) = end else {
        panic!("forecast: {end:?}");
    };
    assert_eq!(f.arms.len(), 1);
    assert!(f.units.is_some(), "{f:?}");
    let conv = f.arms[0].incremental_conversions.expect("conversions");
    assert!(conv.low <= conv.value && conv.value <= conv.high);
    // The projection is the report's per-unit difference and interval times the units.
    use liftdeck::app::report::{report_ab, Capping};
    use liftdeck::stats::ab::{Metric, Options};
    let units = f.units.expect("units");
    let r = report_ab(
        &store,
        "target",
        Metric::Conversion,
        &Options::default(),
        Capping::None,
        None,
    )
    .expect("report");
    let row = &r[0].report.arms[1];
    for (got, per_unit) in [
        (conv.value, row.abs_diff),
        (conv.low, row.abs_ci_low),
        (conv.high, row.abs_ci_high),
    ] {
        let want = per_unit.expect("defined") * units;
        assert!(
            (got - want).abs() <= 1e-9 * want.abs().max(1.0),
            "{got} vs {want}"
        );
    }
    // 6,000 units arrived within one minute of data time, all traffic: 8.64M a day.
    assert!(
        (f.units_per_day.expect("rate") - 6_000.0 * 1440.0).abs() < 1.0,
        "{f:?}"
    );
}

#[test]
fn cli_train_causal_and_forecast_print_json_and_read_only_refuses_training() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = temp_db(&dir, "cli.db");
    ingest_str(
        &mut store,
        &targeted_campaign_lines(4, 3_000),
        Format::Jsonl,
        5_000,
    );
    drop(store);
    let cli = |args: &[&str]| {
        std::process::Command::new(crate::common::bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("run liftdeck")
    };
    let out = cli(&["train", "target", "--json", "--epochs", "3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(m["version"], 1);
    assert_eq!(m["options"]["epochs"], 3);
    let out = cli(&["report", "causal", "target", "--json"]);
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(c["units"], 3000);
    assert_eq!(c["outcomes"][0]["arms"][1]["arm"], "coupon");
    assert!(c["outcomes"][0]["arms"][1]["effect"]["ipw_ci"][0].is_number());
    let out = cli(&["forecast", "target", "--days", "7", "--json"]);
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(f["horizon_days"], 7.0);
    let out = cli(&["--read-only", "train", "target"]);
    assert_eq!(out.status.code(), Some(77), "refused by --read-only");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--read-only"));
    let out = cli(&["forecast", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no campaign `nope`"));
}

#[test]
fn a_job_left_running_by_a_dead_process_is_flagged_after_an_hour() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "stuck.db");
    ingest_str(
        &mut store,
        &targeted_campaign_lines(2, 200),
        Format::Jsonl,
        5_000,
    );
    let now = test_env().clock.now();
    let hour = 3_600_000_000;
    store
        .start_job("causal", "target", "gone", now - hour / 2)
        .expect("job");
    let findings = |store: &liftdeck::store::Store| {
        health::check(store, now, i64::MAX).expect("health")[0]
            .findings
            .iter()
            .map(|f| f.check)
            .collect::<Vec<_>>()
    };
    assert!(
        !findings(&store).contains(&"job_stuck"),
        "half an hour is not stuck yet"
    );
    store
        .start_job("retrain", "target", "gone", now - 2 * hour)
        .expect("job");
    assert!(findings(&store).contains(&"job_stuck"));
}

/// A job never creates the database it was pointed at: a typo'd path is a failed job, not
/// an empty shop.
#[test]
fn a_job_on_a_missing_database_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let missing = dir.path().join("typo.db");
    let (_, end) = run_job(&missing, JobKind::Retrain, "target", false);
    assert!(matches!(end, JobEnd::Failed(_)), "{end:?}");
    assert!(!missing.exists(), "the job created {}", missing.display());
}
