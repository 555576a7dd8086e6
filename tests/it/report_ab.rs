//! The A/B report assembled from rollups: SRM fires when it should and only then, CUPED
//! reduces variance without bias, always-valid figures agree with the reference formula,
//! degenerate campaigns give clear answers, and the CLI prints every documented field.

use crate::common::*;
use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::{ab_report, normal_prob_best, ArmInput, Metric, Options};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::process::Command;

fn arm(key: &str, weight: f64, units: i64, conversions: i64) -> ArmInput {
    ArmInput {
        key: key.into(),
        weight,
        rollup: ArmRollup {
            units,
            conversions,
            purchases: conversions,
            purchases_sumsq: conversions as f64,
            ..ArmRollup::default()
        },
    }
}

#[test]
fn srm_fires_on_a_half_percent_skew_over_200k_units_and_not_on_a_fair_split() {
    let skewed = [
        arm("control", 50.0, 101_000, 5000),
        arm("t", 50.0, 99_000, 5000),
    ];
    let r = ab_report(
        "c",
        Some("control"),
        Metric::Conversion,
        &skewed,
        &Options::default(),
    );
    assert!(r.srm.alarm, "p = {:?}", r.srm.p_value);
    assert!(r.srm.p_value.expect("p") < 1e-3);
    // A fair split drawn by the real hash: 200k units bucketed 50/50.
    let mut counts = [0i64; 2];
    for i in 0..200_000 {
        if let liftdeck::allocation::Bucket::Arm { index, .. } =
            liftdeck::allocation::bucket(77, &format!("u-{i}"), 1.0, &[50.0, 50.0])
        {
            counts[index] += 1;
        }
    }
    let fair = [
        arm("control", 50.0, counts[0], 5000),
        arm("t", 50.0, counts[1], 5000),
    ];
    let r = ab_report(
        "c",
        Some("control"),
        Metric::Conversion,
        &fair,
        &Options::default(),
    );
    assert!(
        !r.srm.alarm,
        "fair split {counts:?} raised SRM, p = {:?}",
        r.srm.p_value
    );
    // Too few units: no verdict, no alarm.
    let tiny = [arm("control", 50.0, 7, 1), arm("t", 50.0, 1, 0)];
    let r = ab_report(
        "c",
        Some("control"),
        Metric::Conversion,
        &tiny,
        &Options::default(),
    );
    assert!(!r.srm.alarm);
}

/// Builds one arm's rollup from per-unit (x, y) revenue pairs.
fn revenue_arm(key: &str, units: &[(f64, f64)]) -> ArmInput {
    let mut r = ArmRollup {
        units: units.len() as i64,
        ..ArmRollup::default()
    };
    for &(x, y) in units {
        r.revenue_sum += y;
        r.revenue_sumsq += y * y;
        r.x_units += 1;
        r.x_sum += x;
        r.x_sumsq += x * x;
        r.x_revenue_sum += x * y;
    }
    ArmInput {
        key: key.into(),
        weight: 1.0,
        rollup: r,
    }
}

#[test]
fn cuped_reduces_variance_and_does_not_bias_the_effect() {
    // y = 5 + 0.8 x + noise (+ 1.0 in treatment); x ~ Exp-like pre-period spend.
    let true_effect = 1.0;
    let mut rng = StdRng::seed_from_u64(2024);
    let (mut raw, mut adj, mut reductions) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..200 {
        let mut draw = |effect: f64| -> Vec<(f64, f64)> {
            (0..800)
                .map(|_| {
                    let x = -10.0 * (1.0 - rng.random::<f64>()).ln();
                    let noise = 4.0 * (rng.random::<f64>() - 0.5) * 3f64.sqrt();
                    (x, 5.0 + 0.8 * x + noise + effect)
                })
                .collect()
        };
        let arms = [
            revenue_arm("control", &draw(0.0)),
            revenue_arm("t", &draw(true_effect)),
        ];
        let plain = ab_report(
            "c",
            Some("control"),
            Metric::Revenue,
            &arms,
            &Options::default(),
        );
        let cuped_opts = Options {
            cuped: true,
            ..Options::default()
        };
        let cu = ab_report("c", Some("control"), Metric::Revenue, &arms, &cuped_opts);
        raw.push(plain.arms[1].abs_diff.expect("diff"));
        adj.push(cu.arms[1].abs_diff.expect("diff"));
        reductions.push(cu.cuped.expect("cuped applied").variance_reduction);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    // Var(y) = 0.64·100 + 4 = 68 vs residual 4: the reduction should be ~94%.
    assert!(
        mean(&reductions) > 0.85,
        "reported reduction {}",
        mean(&reductions)
    );
    assert!(
        var(&adj) < 0.2 * var(&raw),
        "{} vs {}",
        var(&adj),
        var(&raw)
    );
    // Unbiased: the mean estimate is within 4 Monte Carlo standard errors of the truth.
    let se = (var(&adj) / adj.len() as f64).sqrt();
    assert!(
        (mean(&adj) - true_effect).abs() < 4.0 * se,
        "mean {} se {se}",
        mean(&adj)
    );
}

#[test]
fn always_valid_interval_matches_the_reference_formula() {
    let text = std::fs::read_to_string(fixture("golden/sequential.json")).expect("golden");
    let golden: serde_json::Value = serde_json::from_str(&text).expect("json");
    let mut checked = 0;
    for case in golden["cases"].as_array().expect("cases") {
        if case["kind"] != "confidence_sequence" || case["alpha"].as_f64() != Some(0.05) {
            continue;
        }
        let (sigma, n, n_star) = (
            case["sigma"].as_f64().expect("sigma"),
            case["n"].as_f64().expect("n"),
            case["n_star"].as_f64().expect("n_star"),
        );
        // A 2-arm report whose absolute difference has SE = sigma / sqrt(n): equal arms of
        // n/2 units with per-unit variance sigma²/4 each give SE² = 2·(σ²/4)/(n/2) = σ²/n.
        let se = sigma / n.sqrt();
        let hw = case["half_width"].as_f64().expect("hw");
        let got =
            liftdeck::stats::ab::always_valid_half_width(se, n, n_star, 0.05).expect("defined");
        assert!((got - hw).abs() <= 1e-9 * hw.max(1e-9), "{case}: {got}");
        checked += 1;
    }
    assert!(checked >= 6, "checked {checked}");
}

#[test]
fn normal_prob_best_matches_the_two_arm_closed_form_and_sums_to_one() {
    let p = normal_prob_best(&[(0.10, 0.02), (0.13, 0.015)]).expect("defined");
    let z = (0.13 - 0.10) / (0.02f64.powi(2) + 0.015f64.powi(2)).sqrt();
    let closed = 0.5 * (1.0 + libm_erf(z / 2f64.sqrt()));
    assert!((p[1] - closed).abs() < 1e-7, "{} vs {closed}", p[1]);
    let p = normal_prob_best(&[(1.0, 0.5), (1.2, 0.1), (0.9, 2.0), (1.1, 0.3)]).expect("defined");
    assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

fn libm_erf(x: f64) -> f64 {
    statrs::function::erf::erf(x)
}

#[test]
fn degenerate_campaigns_give_clear_answers_not_nan() {
    let cases: Vec<(&str, Vec<ArmInput>, Option<&str>)> = vec![
        (
            "zero units",
            vec![arm("control", 1.0, 0, 0), arm("t", 1.0, 0, 0)],
            Some("control"),
        ),
        (
            "one arm",
            vec![arm("control", 1.0, 100, 5)],
            Some("control"),
        ),
        (
            "all converted",
            vec![arm("control", 1.0, 50, 50), arm("t", 1.0, 60, 60)],
            Some("control"),
        ),
        (
            "no control",
            vec![arm("a", 1.0, 100, 5), arm("b", 1.0, 100, 9)],
            None,
        ),
        (
            "zero conversions",
            vec![arm("control", 1.0, 100, 0), arm("t", 1.0, 100, 3)],
            Some("control"),
        ),
    ];
    for (label, arms, control) in cases {
        for metric in Metric::ALL {
            for cuped in [false, true] {
                let opts = Options {
                    cuped,
                    ..Options::default()
                };
                let r = ab_report("c", control, metric, &arms, &opts);
                let json = serde_json::to_value(&r).expect("serialise");
                assert_no_nan(&json, &format!("{label}/{}", metric.name()));
                if control.is_none() {
                    assert!(r.notes.iter().any(|n| n.contains("no control")), "{label}");
                }
            }
        }
    }
}

fn assert_no_nan(v: &serde_json::Value, ctx: &str) {
    match v {
        serde_json::Value::Number(n) => {
            assert!(n.as_f64().is_some_and(f64::is_finite), "{ctx}: {n}")
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| assert_no_nan(x, ctx)),
        serde_json::Value::Object(o) => o.values().for_each(|x| assert_no_nan(x, ctx)),
        _ => {}
    }
}

#[test]
fn cli_json_has_every_documented_field() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("r.db");
    let demo = Command::new(bin())
        .args([
            "demo",
            "--headless",
            "--duration",
            "30s",
            "--rate",
            "300",
            "--db",
        ])
        .arg(&db)
        .output()
        .expect("demo");
    assert!(demo.status.success());
    let out = Command::new(bin())
        .args(["report", "ab", "discount-depth", "--json", "--db"])
        .arg(&db)
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["campaign"], "discount-depth");
    assert_eq!(v["metric"], "conversion");
    assert!(v["srm"]["p_value"].is_number());
    assert!(v["srm"]["alarm"].is_boolean());
    let arms = v["arms"].as_array().expect("arms");
    assert_eq!(arms.len(), 4);
    for field in ["key", "units", "conversions", "rate", "prob_best"] {
        assert!(arms.iter().all(|a| !a[field].is_null()), "{field}");
    }
    for field in [
        "abs_diff",
        "rel_lift",
        "ci_low",
        "ci_high",
        "p_value",
        "seq_ci_low",
        "seq_ci_high",
        "seq_p_value",
        "chance_to_beat_control",
        "expected_loss",
        "adj_p_value",
    ] {
        assert!(
            arms[1..].iter().all(|a| a[field].is_number()),
            "{field}: {v}"
        );
    }
    // Adjusting over arms and guardrails together can only raise a Holm p-value.
    let guardrails = v["guardrails"].as_array().expect("guardrails");
    assert!(
        !guardrails.is_empty(),
        "the demo declares a profit guardrail: {v}"
    );
    for a in &arms[1..] {
        let (arm_adj, family) = (a["adj_p_value"].as_f64(), a["family_adj_p_value"].as_f64());
        assert!(
            family.expect("family") >= arm_adj.expect("adj") - 1e-15,
            "{a}"
        );
    }
    for g in guardrails {
        let (p, q) = (g["p_worse"].as_f64(), g["adj_p_worse"].as_f64());
        assert!(
            q.expect("adj_p_worse") >= p.expect("p_worse") - 1e-15,
            "{g}"
        );
    }
    // The always-valid interval is wider than the fixed-horizon one (the price of peeking).
    for a in &arms[1..] {
        let fixed = a["ci_high"].as_f64().expect("f") - a["ci_low"].as_f64().expect("f");
        let seq = a["seq_ci_high"].as_f64().expect("s") - a["seq_ci_low"].as_f64().expect("s");
        assert!(seq > fixed);
    }
    let probs: f64 = arms
        .iter()
        .map(|a| a["prob_best"].as_f64().expect("p"))
        .sum();
    assert!((probs - 1.0).abs() < 1e-6);
    // The text table carries the same figures.
    let text = Command::new(bin())
        .args(["report", "ab", "discount-depth", "--db"])
        .arg(&db)
        .output()
        .expect("report");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("always-valid CI") && text.contains("SRM p"),
        "{text}"
    );
}

#[test]
fn guardrail_is_flagged_only_when_significantly_worse() {
    use liftdeck::stats::ab::add_guardrails;
    let cost_arm = |key: &str, per_unit: f64| {
        let mut a = arm(key, 1.0, 4000, 200);
        // Half the units carry cost 2·per_unit, half none: mean per_unit, spread per_unit.
        a.rollup.cost_sum = 4000.0 * per_unit;
        a.rollup.cost_sumsq = 2000.0 * (2.0 * per_unit).powi(2);
        a
    };
    for (treatment_cost, expect) in [(1.00, false), (1.02, false), (1.30, true)] {
        let arms = [cost_arm("control", 1.0), cost_arm("t", treatment_cost)];
        let mut r = ab_report(
            "c",
            Some("control"),
            Metric::Conversion,
            &arms,
            &Options::default(),
        );
        add_guardrails(&mut r, &[Metric::Cost, Metric::Revenue], &arms, 0.0, 0.05);
        assert_eq!(r.guardrails.len(), 2);
        let cost = &r.guardrails[0];
        assert_eq!(cost.breached, expect, "cost {treatment_cost}: {cost:?}");
        assert!(!r.guardrails[1].breached, "revenue is equal in both arms");
    }
}

#[test]
fn campaign_settings_drive_the_report_and_flags_override_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("settings.db");
    let run = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    run(&[
        "campaign",
        "create",
        "--key",
        "s",
        "--arms",
        "control:1,t:1",
        "--seed",
        "3",
        "--n-star",
        "200000",
        "--correction",
        "bh",
    ]);
    run(&["campaign", "start", "s"]);
    let mut lines = String::new();
    for i in 0..400 {
        let arm = if i % 2 == 0 { "control" } else { "t" };
        lines.push_str(&format!(
            "{{\"type\":\"assignment\",\"campaign\":\"s\",\"unit\":\"u{i}\",\"arm\":\"{arm}\",\"propensity\":0.5,\"ts\":\"2026-11-01T12:00:00Z\"}}\n"
        ));
        if i % 7 == 0 || (arm == "t" && i % 5 == 0) {
            lines.push_str(&format!(
                "{{\"type\":\"event\",\"event_id\":\"e{i}\",\"campaign\":\"s\",\"unit\":\"u{i}\",\"kind\":\"purchase\",\"value\":10,\"ts\":\"2026-11-01T12:01:00Z\"}}\n"
            ));
        }
    }
    let file = dir.path().join("s.jsonl");
    std::fs::write(&file, lines).expect("write");
    run(&["ingest", file.to_str().expect("utf8")]);
    let width = |json: &str| {
        let v: serde_json::Value = serde_json::from_str(json).expect("json");
        let t = &v["arms"][1];
        t["seq_ci_high"].as_f64().expect("h") - t["seq_ci_low"].as_f64().expect("l")
    };
    let from_campaign = width(&run(&["report", "ab", "s", "--json"]));
    let overridden = width(&run(&["report", "ab", "s", "--json", "--n-star", "400"]));
    // N* tunes where the boundary is tightest: at 400 units N* = 400 beats N* = 200000.
    assert!(
        overridden < from_campaign,
        "{overridden} vs {from_campaign}"
    );
    let shown = run(&["campaign", "show", "s", "--json"]);
    assert!(shown.contains("\"n_star\": 200000.0") && shown.contains("\"correction\": \"bh\""));
    // A bad setting is refused at creation.
    let bad = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args([
            "campaign",
            "create",
            "--key",
            "b",
            "--arms",
            "a:1,b:1",
            "--correction",
            "bonf",
        ])
        .output()
        .expect("run");
    assert_eq!(
        bad.status.code(),
        Some(65),
        "an invalid definition is bad input"
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use holm or bh"));
}

#[test]
fn power_command_matches_the_normal_approximation_reference() {
    let text = std::fs::read_to_string(fixture("golden/power.json")).expect("golden");
    let golden: serde_json::Value = serde_json::from_str(&text).expect("json");
    let case = golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["baseline_rate"].is_number() && c["alpha"] == 0.05 && c["power"] == 0.8)
        .expect("a proportion case at alpha 0.05, power 0.8");
    let n = case["n_per_arm_normal_approx"].as_f64().expect("n");
    let out = Command::new(bin())
        .args(["power", "--baseline"])
        .arg(case["baseline_rate"].to_string())
        .arg("--mde")
        .arg(case["mde_rel"].to_string())
        .output()
        .expect("power");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "{} units per arm ({:.1} exact)",
            liftdeck::format::quantity(n.ceil()),
            n
        )),
        "{text} vs {n}"
    );
}

#[test]
fn roi_interval_covers_the_true_roi() {
    // Control: no offer (cost 0). Treatment: a coupon that lifts revenue per unit from 4.0 to
    // 4.6 and costs 0.3 per unit on average, redeemed only on purchases (revenue and cost
    // correlated within a unit). True ROI = (0.6 - 0.3) / 0.3 = 1.0.
    let mut rng = StdRng::seed_from_u64(99);
    let experiments = 1000;
    let mut covered = 0;
    for _ in 0..experiments {
        let mut draw = |buy_rate: f64, mean_order: f64, coupon: f64| {
            let mut r = ArmRollup {
                units: 4000,
                ..ArmRollup::default()
            };
            for _ in 0..4000 {
                let (rev, cost) = if rng.random::<f64>() < buy_rate {
                    let order = -mean_order * (1.0 - rng.random::<f64>()).ln();
                    (order, coupon * order)
                } else {
                    (0.0, 0.0)
                };
                r.revenue_sum += rev;
                r.revenue_sumsq += rev * rev;
                r.cost_sum += cost;
                r.cost_sumsq += cost * cost;
                r.revenue_cost_sum += rev * cost;
            }
            ArmInput {
                key: String::new(),
                weight: 1.0,
                rollup: r,
            }
        };
        // 0.08·50 = 4.0; 0.092·50 = 4.6 revenue; cost 0.3/4.6 of revenue.
        let mut control = draw(0.08, 50.0, 0.0);
        let mut treat = draw(0.092, 50.0, 0.3 / 4.6);
        control.key = "control".into();
        treat.key = "t".into();
        let r = ab_report(
            "c",
            Some("control"),
            Metric::Revenue,
            &[control, treat],
            &Options::default(),
        );
        let t = &r.arms[1];
        let (lo, hi) = (t.roi_ci_low.expect("lo"), t.roi_ci_high.expect("hi"));
        covered += usize::from(lo <= 1.0 && 1.0 <= hi);
    }
    let coverage = covered as f64 / experiments as f64;
    println!("ROI interval coverage over {experiments} experiments: {coverage}");
    // Binomial Monte Carlo SE at 95% over 1000 runs is 0.7 points; the delta method on a
    // ratio is first-order, so allow 4 points below nominal.
    assert!((0.91..=0.99).contains(&coverage), "ROI coverage {coverage}");
}

/// A database with one running campaign whose assignments carry `device` and `segment`.
fn context_db(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let db = dir.path().join("ctx.db");
    let mut lines = String::from(
        r#"{"type":"campaign","key":"ctx","name":"ctx","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"t","weight":50.0}],"control":"control","traffic":1.0,"metric":"purchase","seed":5,"status":"running"}"#,
    );
    lines.push('\n');
    for i in 0..40 {
        let arm = if i % 2 == 0 { "control" } else { "t" };
        let device = if i % 3 == 0 { "mobile" } else { "desktop" };
        lines.push_str(&format!(
            r#"{{"type":"assignment","campaign":"ctx","unit":"u{i}","arm":"{arm}","propensity":0.5,"context":{{"device":"{device}","segment":"new"}},"ts":"2026-11-01T12:00:00Z"}}"#
        ));
        lines.push('\n');
    }
    ingest_with_cli(&db, &lines);
    db
}

#[test]
fn report_by_an_unknown_context_field_is_an_error_naming_the_known_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = context_db(&dir);
    let run = |args: &[&str]| {
        Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("run")
    };
    let bad = run(&["report", "ab", "ctx", "--by", "nosuch"]);
    assert!(
        !bad.status.success(),
        "a silent one-segment report is wrong"
    );
    assert!(
        !String::from_utf8_lossy(&bad.stdout).contains("segment (none)"),
        "no report is printed"
    );
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("nosuch"), "{err}");
    assert!(
        err.contains("known context fields: device, segment"),
        "{err}"
    );
    let good = run(&["report", "ab", "ctx", "--by", "device", "--json"]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&good.stdout).expect("json");
    let segments: Vec<&str> = v
        .as_array()
        .expect("one report per segment")
        .iter()
        .filter_map(|r| r["segment"].as_str())
        .collect();
    assert_eq!(segments, ["desktop", "mobile"]);
}

#[test]
fn an_mde_given_as_a_whole_percentage_is_refused_with_the_likely_meaning() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = context_db(&dir);
    let power = Command::new(bin())
        .args(["power", "--baseline", "0.05", "--mde", "5"])
        .output()
        .expect("power");
    assert!(!power.status.success(), "+500% is not what --mde 5 meant");
    assert!(!String::from_utf8_lossy(&power.stdout).contains("500"));
    let err = String::from_utf8_lossy(&power.stderr);
    assert!(err.contains("did you mean 0.05?"), "{err}");
    for bad in ["0", "-0.1", "1", "250"] {
        let out = Command::new(bin())
            .args(["power", "--baseline", "0.05", &format!("--mde={bad}")])
            .output()
            .expect("power");
        assert!(!out.status.success(), "--mde {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("in (0, 1)"));
    }
    let report = Command::new(bin())
        .arg("--db")
        .arg(&db)
        .args(["report", "ab", "ctx", "--mde", "5"])
        .output()
        .expect("report");
    assert!(!report.status.success());
    assert!(String::from_utf8_lossy(&report.stderr).contains("did you mean 0.05?"));
    let ok = Command::new(bin())
        .args(["power", "--baseline", "0.05", "--mde", "0.05"])
        .output()
        .expect("power");
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("detect a +5.00% relative effect"));
}
