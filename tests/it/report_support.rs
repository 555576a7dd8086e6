//! Nothing shown without support: an arm without units has no chance to be best, a forecast
//! from a handful of units says it cannot project, and a lower-is-better metric (cost) is
//! marked and read the right way round.

use crate::common::*;
use liftdeck::app::forecast::{forecast, format_text, MIN_FORECAST_UNITS};
use liftdeck::app::NoProgress;
use liftdeck::domain::ArmRollup;
use liftdeck::lines::Format;
use liftdeck::stats::ab::{ab_report, add_guardrails, ArmInput, Metric, Options};

fn arm(key: &str, rollup: ArmRollup) -> ArmInput {
    ArmInput {
        key: key.into(),
        weight: 1.0,
        rollup,
    }
}

fn conversions(units: i64, conversions: i64) -> ArmRollup {
    ArmRollup {
        units,
        conversions,
        ..ArmRollup::default()
    }
}

#[test]
fn an_arm_without_units_has_no_chance_to_be_best() {
    let opts = Options::default();
    // Nothing yet anywhere: no P(best) at all (it used to show 50% each).
    let empty = [
        arm("control", conversions(0, 0)),
        arm("t", conversions(0, 0)),
    ];
    let r = ab_report("c", Some("control"), Metric::Conversion, &empty, &opts);
    assert!(r.arms.iter().all(|a| a.prob_best.is_none()), "{:?}", r.arms);
    assert!(r.arms.iter().all(|a| a.chance_to_beat_control.is_none()));
    // Three arms, one without units: it has none, the other two share the probability.
    let three = [
        arm("control", conversions(500, 50)),
        arm("a", conversions(500, 60)),
        arm("b", conversions(0, 0)),
    ];
    for arms in [3, 2] {
        let opts = Options {
            exact_beta_max_arms: arms,
            ..Options::default()
        };
        let r = ab_report("c", Some("control"), Metric::Conversion, &three, &opts);
        assert_eq!(
            r.arms[2].prob_best, None,
            "exact up to {arms} arms: {:?}",
            r.arms
        );
        let shared: f64 = r.arms[..2].iter().filter_map(|a| a.prob_best).sum();
        assert!((shared - 1.0).abs() < 1e-9, "{:?}", r.arms);
    }
    // Revenue (the Gaussian path) likewise.
    let revenue = |units: i64, sum: f64| ArmRollup {
        units,
        revenue_sum: sum,
        revenue_sumsq: sum * sum / units.max(1) as f64 * 1.5,
        ..ArmRollup::default()
    };
    let money = [
        arm("control", revenue(400, 4000.0)),
        arm("a", revenue(400, 4200.0)),
        arm("b", revenue(0, 0.0)),
    ];
    let r = ab_report("c", Some("control"), Metric::Revenue, &money, &opts);
    assert_eq!(r.arms[2].prob_best, None);
    assert!(
        r.arms[..2].iter().all(|a| a.prob_best.is_some()),
        "{:?}",
        r.arms
    );
}

/// One unit (or a few) of traffic is not a rate to project from.
#[test]
fn a_forecast_from_a_handful_of_units_says_there_is_not_enough_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "f.db");
    let mut lines = String::from(
        r#"{"type":"campaign","key":"tiny","name":"tiny","kind":"ab","arms":[{"key":"control","weight":1.0},{"key":"t","weight":1.0}],"control":"control","traffic":1.0,"metric":"purchase","seed":1,"status":"running"}"#,
    );
    lines.push('\n');
    lines.push_str(r#"{"type":"assignment","campaign":"tiny","unit":"u1","arm":"t","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}"#);
    lines.push('\n');
    ingest_str(&mut store, &lines, Format::Jsonl, 100);
    let f = forecast(&store, "tiny", 30.0, None, &NoProgress).expect("forecast");
    assert_eq!(f.units, None, "one unit projects nothing: {f:?}");
    assert_eq!(f.units_per_day, None);
    assert!(
        f.notes.iter().any(|n| n.contains("not enough data")
            && n.contains(&format!("at least {MIN_FORECAST_UNITS} units"))),
        "{:?}",
        f.notes
    );
    let text = format_text(&f);
    assert!(text.contains("expected units -"), "{text}");
    assert!(
        !text.contains("43200") && !text.contains("43,200"),
        "{text}"
    );
}

#[test]
fn cost_is_marked_lower_is_better_and_read_the_right_way_round() {
    // Treatment costs less per unit: a negative lift that is good news.
    let cost = |units: i64, mean: f64, sd: f64| {
        let n = units as f64;
        let sum = mean * n;
        ArmRollup {
            units,
            cost_sum: sum,
            cost_sumsq: (n - 1.0) * sd * sd + sum * sum / n,
            ..ArmRollup::default()
        }
    };
    let arms = [
        arm("control", cost(2000, 1.00, 0.5)),
        arm("cheaper", cost(2000, 0.95, 0.5)),
        arm("dearer", cost(2000, 1.05, 0.5)),
    ];
    let opts = Options::default();
    let mut r = ab_report("c", Some("control"), Metric::Cost, &arms, &opts);
    assert_eq!(r.better, "lower");
    let cheaper = &r.arms[1];
    let dearer = &r.arms[2];
    assert!(cheaper.rel_lift.is_some_and(|l| l < 0.0));
    assert!(
        cheaper.chance_to_beat_control.is_some_and(|p| p > 0.99),
        "{cheaper:?}"
    );
    assert!(
        dearer.chance_to_beat_control.is_some_and(|p| p < 0.01),
        "{dearer:?}"
    );
    // Risk of shipping: tiny for the cheaper arm, about its extra cost for the dearer one.
    let (risk_cheap, risk_dear) = (
        cheaper.expected_loss.expect("risk"),
        dearer.expected_loss.expect("risk"),
    );
    assert!(
        risk_cheap < 1e-3 && risk_dear > 0.04,
        "{risk_cheap} {risk_dear}"
    );
    assert!(cheaper.prob_best.expect("best") > dearer.prob_best.expect("best"));
    // The credible interval is of the lift itself, so the cheaper arm's lies below zero.
    assert!(
        cheaper.credible_high.is_some_and(|h| h < 0.0),
        "{cheaper:?}"
    );
    // As a guardrail, only the dearer arm breaches.
    add_guardrails(&mut r, &[Metric::Cost], &arms, 0.0, opts.alpha);
    let breached: Vec<&str> = r
        .guardrails
        .iter()
        .filter(|g| g.breached)
        .map(|g| g.arm.as_str())
        .collect();
    assert_eq!(breached, ["dearer"]);
    let outputs = [liftdeck::app::report::ReportOutput {
        report: r,
        capping: None,
        segment: None,
    }];
    let text = liftdeck::app::report::format_text(&outputs);
    assert!(text.contains("metric cost (lower is better)"), "{text}");
    assert!(text
        .contains("GUARDRAIL BREACHED: dearer is significantly worse on cost (lower is better)"));
    let conversion = ab_report("c", Some("control"), Metric::Conversion, &arms, &opts);
    assert_eq!(conversion.better, "higher");
}
