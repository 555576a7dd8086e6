//! `liftdeck forecast budget PLAN.json --budget B` on a store of simulated demo campaigns
//! (control against coupons, three discount depths and recommendations): the allocation at
//! B, the cost curve and both baselines, with ordered intervals; read-only and refusals.

use crate::common::{cli_ok, ingest_with_cli, run_cli, sim_jsonl};
use liftdeck::app::plan_budget::{Outcome, PlanBudget};
use std::path::{Path, PathBuf};

const PLAN: &str = r#"{"name":"depths","offer":{"type":"discount","pct":10},
    "audience":{},"traffic":{"audience_size":5000},"depths":[5,20]}"#;

/// A store with the simulated demo campaigns, and a plan file beside it.
fn store(dir: &tempfile::TempDir) -> (PathBuf, PathBuf) {
    let db = dir.path().join("shop.db");
    ingest_with_cli(&db, &sim_jsonl(11, 1500));
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, PLAN).expect("plan");
    (db, plan)
}

fn budget_json(db: &Path, args: &[&str]) -> PlanBudget {
    let out = cli_ok(&run_cli(db, args));
    serde_json::from_str(&out).expect("budget JSON")
}

fn assert_ordered(what: &str, o: &Outcome) {
    for (name, b) in [("orders", o.orders), ("profit", o.profit)] {
        assert!(
            b.low_95 <= b.low_80
                && b.low_80 <= b.value
                && b.value <= b.high_80
                && b.high_80 <= b.high_95,
            "{what} {name}: {b:?}"
        );
    }
}

#[test]
fn the_allocation_fits_the_budget_beats_both_baselines_and_its_intervals_are_ordered() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, plan) = store(&dir);
    let plan = plan.to_str().expect("path");
    let probe = budget_json(
        &db,
        &["forecast", "budget", plan, "--budget", "1", "--json"],
    );
    assert!(probe.unconstrained_spend > 0.0, "{probe:?}");
    // Half the spend the unconstrained optimum would like: the budget binds.
    let b = (0.5 * probe.unconstrained_spend).to_string();
    let r = budget_json(&db, &["forecast", "budget", plan, "--budget", &b, "--json"]);
    let budget = r.budget;
    assert!(r.at_budget.spend <= budget * (1.0 + 1e-9), "{r:?}");
    assert!(r.at_budget.spend > 0.0);
    for base in [&r.top_by_uplift, &r.top_by_propensity] {
        assert!(base.spend <= budget * (1.0 + 1e-9));
        assert!(
            r.at_budget.profit.value >= base.profit.value - 1e-9,
            "{} vs {}",
            r.at_budget.profit.value,
            base.profit.value
        );
    }
    assert!(r.beats_baselines_by >= 0.0);
    assert_eq!(r.offers.len(), 3, "the plan's depth and its two others");
    assert!(!r.ladder);
    let users: f64 = r.mix.iter().map(|m| m.users).sum::<f64>() + r.users_without_offer;
    assert!((users - 5000.0).abs() < 1e-6, "{users}");
    assert_ordered("at budget", &r.at_budget);
    assert_ordered("by uplift", &r.top_by_uplift);
    assert_ordered("by propensity", &r.top_by_propensity);
    assert!(r.curve.len() >= 10, "{} points", r.curve.len());
    assert!(r.curve.iter().any(|p| (p.budget - budget).abs() < 1e-6));
    let mut last = f64::MIN;
    for p in &r.curve {
        assert!(p.allocation.spend <= p.budget * (1.0 + 1e-9) + 1e-9);
        // More budget never buys less profit along the curve.
        assert!(p.allocation.profit.value >= last - 1e-9, "{:?}", r.curve);
        last = p.allocation.profit.value;
        assert_ordered("curve", &p.allocation);
        assert_ordered("curve by uplift", &p.top_by_uplift);
        assert_ordered("curve by propensity", &p.top_by_propensity);
    }
    // Intervals carry the posterior: some spread at a point that spends.
    assert!(r.at_budget.profit.high_95 > r.at_budget.profit.low_95);
}

#[test]
fn the_text_names_the_mix_the_baselines_the_verdict_and_the_curve_and_works_read_only() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, plan) = store(&dir);
    let plan = plan.to_str().expect("path");
    let text = cli_ok(&run_cli(
        &db,
        &["--read-only", "forecast", "budget", plan, "--budget", "500"],
    ));
    for want in [
        "plan depths: discount offers to everyone, budget",
        "chosen at the budget",
        "no offer",
        "deepest offer by uplift",
        "offer by propensity",
        "cost curve",
        "audience units in the store stands for",
        "posterior draws",
    ] {
        assert!(text.contains(want), "missing {want:?}:\n{text}");
    }
    assert!(
        text.contains("the allocation beats both baselines at the budget by")
            || text.contains("the allocation does not beat both baselines"),
        "{text}"
    );
    // The plan without depths gets the ladder, said so.
    let bare = dir.path().join("bare.json");
    std::fs::write(
        &bare,
        r#"{"name":"bare","offer":{"type":"discount","pct":10},"traffic":{"audience_size":100},
            "budget":50}"#,
    )
    .expect("plan");
    let r = budget_json(
        &db,
        &["forecast", "budget", bare.to_str().expect("path"), "--json"],
    );
    assert!(r.ladder);
    assert!(r.offers.len() >= 3);
    assert!(
        r.notes.iter().any(|n| n.contains("ladder")),
        "{:?}",
        r.notes
    );
    assert_eq!(r.budget, 50.0);
}

#[test]
fn a_non_positive_budget_and_a_store_without_history_are_refused_with_reasons() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, plan) = store(&dir);
    let plan_s = plan.to_str().expect("path");
    let o = run_cli(&db, &["forecast", "budget", plan_s, "--budget", "0"]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("positive amount"));
    let o = run_cli(&db, &["forecast", "budget", plan_s]);
    assert_eq!(o.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--budget"));
    // An empty store: the forecaster's own reason.
    let empty = dir.path().join("empty.db");
    ingest_with_cli(&empty, "");
    let o = run_cli(&empty, &["forecast", "budget", plan_s, "--budget", "100"]);
    assert_eq!(o.status.code(), Some(65));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot be budgeted: no usable history"),
        "{err}"
    );
}
