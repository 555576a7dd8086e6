//! ROI per arm in `report causal`: the propensity-weighted and CUPED-adjusted ROI against a
//! numpy/statsmodels reference (`fixtures/golden/causal_roi.json`, made by
//! `ref_causal_roi.py`), and the weighted ROI's interval coverage on seeded bandit-like
//! simulations with a known ROI.

use crate::common::fixture;
use liftdeck::app::causal_randomised::{format_sections, roi_rows, ArmSums};
use liftdeck::format::NumberFormat;
use liftdeck::store::UnitRow;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

fn unit(propensity: f64, pre: Option<f64>, purchases: i64, revenue: f64, cost: f64) -> UnitRow {
    UnitRow {
        unit: String::new(),
        arm: String::new(),
        propensity,
        context: "{}".into(),
        pre_value: pre,
        exposures: 1,
        clicks: 0,
        purchases,
        revenue,
        cost,
        conflicts: 0,
        assigned_at: 0,
    }
}

fn names() -> Vec<String> {
    vec!["control".into(), "coupon".into()]
}

#[test]
fn weighted_and_cuped_roi_match_the_reference() {
    let text = std::fs::read_to_string(fixture("golden/causal_roi.json")).expect("golden");
    let g: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut sums = vec![ArmSums::default(), ArmSums::default()];
    for u in g["units"].as_array().expect("units") {
        let f = |k: &str| u[k].as_f64().expect("number");
        let arm = usize::from(u["treated"].as_bool().expect("flag"));
        sums[arm].add(&unit(
            f("propensity"),
            Some(f("pre_value")),
            u["purchases"].as_i64().expect("purchases"),
            f("revenue"),
            f("cost"),
        ));
    }
    let rows = roi_rows(&sums, &names(), 0, 0.05);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
    let w = rows[0].weighted.expect("weighted ROI");
    let (roi, se) = (g["weighted"]["roi"].as_f64(), g["weighted"]["se"].as_f64());
    assert!(close(w.roi, roi.expect("roi")), "{w:?} vs {roi:?}");
    assert!(close(w.se, se.expect("se")), "{w:?} vs {se:?}");
    let c = rows[0].cuped.expect("CUPED ROI");
    let (roi, se) = (g["cuped"]["roi"].as_f64(), g["cuped"]["se"].as_f64());
    assert!(close(c.roi, roi.expect("roi")), "{c:?} vs {roi:?}");
    assert!(close(c.se, se.expect("se")), "{c:?} vs {se:?}");
    // The propensities varied with the base rate: the weighted ROI is not the plain one.
    let d = rows[0].roi.expect("difference-in-means ROI");
    assert!((d.roi - w.roi).abs() > 1e-3, "{d:?} {w:?}");
    let text = format_sections(&rows, &[], &NumberFormat::default());
    assert!(
        text.contains("propensity-weighted") && text.contains("CUPED"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

fn uniform(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn weighted_roi_intervals_cover_the_true_roi() {
    // Three periods of a bandit: the treated share and the base rate rise together, so the
    // plain difference is confounded by period. A buyer spends 40 on average; a treated buyer
    // costs a 4 coupon. The offer adds 0.10 to every period's buy rate, so
    // ΔR = 40·0.10 = 4, ΔC = 4·(mean base + 0.10), ROI = ΔR/ΔC - 1.
    let share = [0.2, 0.5, 0.8];
    let base = [0.10, 0.15, 0.25];
    let mean_base = base.iter().sum::<f64>() / 3.0;
    let truth = 4.0 / (4.0 * (mean_base + 0.10)) - 1.0;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2026);
    let (runs, n) = (300, 2000);
    let (mut hits, mut naive_hits) = (0, 0);
    for _ in 0..runs {
        let mut sums = vec![ArmSums::default(), ArmSums::default()];
        for _ in 0..n {
            let k = (uniform(&mut rng) * 3.0) as usize % 3;
            let treated = uniform(&mut rng) < share[k];
            let p = if treated { share[k] } else { 1.0 - share[k] };
            let buys = uniform(&mut rng) < base[k] + if treated { 0.10 } else { 0.0 };
            let revenue = if buys {
                20.0 + 40.0 * uniform(&mut rng)
            } else {
                0.0
            };
            let cost = if buys && treated { 4.0 } else { 0.0 };
            sums[usize::from(treated)].add(&unit(p, None, i64::from(buys), revenue, cost));
        }
        let rows = roi_rows(&sums, &names(), 0, 0.05);
        let w = rows[0].weighted.expect("weighted ROI");
        hits += usize::from(w.ci.0 <= truth && truth <= w.ci.1);
        let d = rows[0].roi.expect("plain ROI");
        naive_hits += usize::from(d.ci.0 <= truth && truth <= d.ci.1);
    }
    let coverage = hits as f64 / runs as f64;
    let naive = naive_hits as f64 / runs as f64;
    eprintln!("weighted ROI coverage {coverage:.3}, plain {naive:.3}, truth {truth:.4}");
    assert!((0.93..=0.97).contains(&coverage), "coverage {coverage}");
    // The plain ROI is biased by the periods: it covers clearly less often.
    assert!(naive < coverage - 0.05, "plain coverage {naive}");
}

/// A bandit's causal report gives the A/B report's period-stratified ROI beside the weighted
/// one: the same estimator (`Strata::roi`), so the same figures, and only when weights moved.
#[test]
fn a_bandits_stratified_roi_is_the_ab_reports() {
    use liftdeck::app::report::{options_for, report_ab, Capping, ReportOverrides};
    let fixture = std::fs::read_to_string(crate::common::fixture("replays/bandit_learns.jsonl"))
        .expect("fixture");
    // The campaign line and its traffic (the allocation loop moves the weights); no keys.
    let text: String = fixture
        .lines()
        .filter(|l| l.contains("\"type\":\"campaign\"") || l.contains("\"op\":\"traffic\""))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut replay = liftdeck::replay::Replay::new((100, 40), false).expect("replay");
    replay.run(&text).expect("runs");
    let store = replay.store();
    let key = "discount-sells";
    let causal = liftdeck::app::causal::causal_report(store, key, None, &liftdeck::app::NoProgress)
        .expect("causal");
    let (campaign, _) = store.campaign(key).expect("campaign");
    let opts = options_for(&campaign.spec, &ReportOverrides::default()).expect("options");
    let metric = liftdeck::stats::ab::Metric::Conversion;
    let ab = report_ab(store, key, metric, &opts, Capping::None, None).expect("ab");
    let ab = &ab[0].report;
    let mut compared = 0;
    for row in &causal.roi {
        let s = row
            .stratified
            .as_ref()
            .expect("weights moved: a stratified ROI");
        let arm = ab
            .arms
            .iter()
            .find(|a| a.key == row.arm)
            .expect("arm in the A/B report");
        assert!((s.roi - arm.roi.expect("roi")).abs() < 1e-12, "{}", row.arm);
        assert!((s.ci.0 - arm.roi_ci_low.expect("low")).abs() < 1e-12);
        assert!((s.ci.1 - arm.roi_ci_high.expect("high")).abs() < 1e-12);
        compared += 1;
    }
    assert_eq!(compared, 2);
}
