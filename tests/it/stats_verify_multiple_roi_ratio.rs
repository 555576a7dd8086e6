//! Verification of multiple-testing adjustment (src/stats/multiple.rs) by FWER / FDR
//! simulations, of ROI against control (src/stats/roi.rs) and of ratio metrics by the delta
//! method (AOV = revenue / orders, CTR = clicks / exposures; `RatioStats` in stats/frequentist/) against
//! an independent numpy / statsmodels implementation, plus a coverage simulation for the
//! ratio-metric intervals.
//!
//! References: `fixtures/golden/verify_roi_ratio.json`, made by
//! `python3 fixtures/golden/ref_verify.py`. The statsmodels edge cases of Holm / BH (ties,
//! p = 1, a single p-value) are already in `multiple_testing.json` (tests/it/stats_golden.rs).

use crate::verify_support::{assert_close, bernoulli, golden, num, uniform, Generator, Normals};
use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::{ab_report, ArmInput, Metric, Options};
use liftdeck::stats::frequentist::{difference, relative_lift_delta, Interval, RatioStats};
use liftdeck::stats::metrics::{arm_estimate, metric_stats, MetricStats};
use liftdeck::stats::multiple::{benjamini_hochberg, holm};
use liftdeck::stats::roi::roi_vs_control;
use rand::SeedableRng;
use serde_json::Value;
use statrs::distribution::{ContinuousCDF, Normal};

const ALPHA: f64 = 0.05;

/// Two-sided p-values of `shifts.len()` z-tests; z_i = shift_i + sqrt(1-rho)·e_i + sqrt(rho)·e0
/// (equicorrelated with correlation `rho`).
fn p_values(rng: &mut Generator, normals: &mut Normals, shifts: &[f64], rho: f64) -> Vec<f64> {
    let std = Normal::standard();
    let common = normals.draw(rng);
    shifts
        .iter()
        .map(|s| {
            let z = s + (1.0 - rho).sqrt() * normals.draw(rng) + rho.sqrt() * common;
            (2.0 * std.sf(z.abs())).min(1.0)
        })
        .collect()
}

/// Monte Carlo frequency with its standard error.
fn rate(hits: usize, n: usize) -> (f64, f64) {
    let p = hits as f64 / n as f64;
    (p, (p * (1.0 - p) / n as f64).sqrt())
}

#[test]
fn holm_controls_the_family_wise_error_rate() {
    const FAMILIES: usize = 20_000;
    let mut rng = Generator::seed_from_u64(61_001);
    let mut normals = Normals::new();
    // Global null, m = 10 independent tests: Holm rejects anything iff min p <= alpha/m, so the
    // FWER is exactly 1 - (1 - alpha/10)^10 = 0.04889.
    let nulls = [0.0; 10];
    let (mut holm_any, mut raw_any) = (0, 0);
    for _ in 0..FAMILIES {
        let p = p_values(&mut rng, &mut normals, &nulls, 0.0);
        let adj = holm(&p).expect("probabilities");
        holm_any += usize::from(adj.iter().any(|&a| a <= ALPHA));
        raw_any += usize::from(p.iter().any(|&a| a <= ALPHA));
    }
    let (fwer, sd) = rate(holm_any, FAMILIES);
    let exact = 1.0 - (1.0 - ALPHA / 10.0_f64).powi(10);
    eprintln!("Holm, global null m=10: FWER {fwer:.4} ± {sd:.4} (exact {exact:.4})");
    assert!(
        (fwer - exact).abs() <= 4.0 * sd,
        "Holm FWER {fwer} vs {exact}"
    );
    // The check can fail: unadjusted tests make a false rejection 40% of the time.
    let (raw, _) = rate(raw_any, FAMILIES);
    eprintln!("unadjusted, global null m=10: FWER {raw:.4}");
    assert!(raw > 0.3, "{raw}");

    // 5 true nulls among 8 (3 real effects), independent and equicorrelated (rho = 0.5):
    // the probability of rejecting any true null must stay <= alpha.
    let shifts = [0.0, 0.0, 0.0, 0.0, 0.0, 3.0, 3.5, -3.0];
    for rho in [0.0, 0.5] {
        let (mut false_any, mut true_hits) = (0, 0);
        for _ in 0..FAMILIES {
            let p = p_values(&mut rng, &mut normals, &shifts, rho);
            let adj = holm(&p).expect("probabilities");
            false_any += usize::from(adj[..5].iter().any(|&a| a <= ALPHA));
            true_hits += adj[5..].iter().filter(|&&a| a <= ALPHA).count();
        }
        let (fwer, sd) = rate(false_any, FAMILIES);
        let power = true_hits as f64 / (3 * FAMILIES) as f64;
        eprintln!("Holm, 5 nulls of 8, rho {rho}: FWER {fwer:.4} ± {sd:.4}, power {power:.3}");
        assert!(fwer <= ALPHA + 4.0 * sd, "Holm FWER {fwer} at rho {rho}");
        assert!(
            power > 0.5,
            "the alternatives should mostly be found: {power}"
        );
    }
}

#[test]
fn benjamini_hochberg_controls_the_false_discovery_rate() {
    const FAMILIES: usize = 20_000;
    let mut rng = Generator::seed_from_u64(61_002);
    let mut normals = Normals::new();
    // With independent continuous tests BH's FDR is exactly q·m0/m (Benjamini & Yekutieli 2001,
    // Theorem 5.1 with equality under independence); the global null gives q itself.
    let mixed: Vec<f64> = (0..20).map(|i| if i < 15 { 0.0 } else { 2.5 }).collect();
    let cases: [(&str, Vec<f64>, usize); 2] = [
        ("15 nulls of 20", mixed, 15),
        ("global null, m = 12", vec![0.0; 12], 12),
    ];
    for (label, shifts, m0) in cases {
        let m = shifts.len();
        let (mut sum, mut sum_sq, mut raw_sum) = (0.0, 0.0, 0.0);
        for _ in 0..FAMILIES {
            let p = p_values(&mut rng, &mut normals, &shifts, 0.0);
            let adj = benjamini_hochberg(&p).expect("probabilities");
            let fdp = |reject: &dyn Fn(usize) -> bool| {
                let r = (0..m).filter(|&i| reject(i)).count();
                let v = (0..m0).filter(|&i| reject(i)).count();
                v as f64 / r.max(1) as f64
            };
            let q = fdp(&|i| adj[i] <= ALPHA);
            sum += q;
            sum_sq += q * q;
            raw_sum += fdp(&|i| p[i] <= ALPHA);
        }
        let n = FAMILIES as f64;
        let fdr = sum / n;
        let sd = ((sum_sq / n - fdr * fdr) / n).sqrt();
        let exact = ALPHA * m0 as f64 / m as f64;
        eprintln!(
            "BH, {label}: FDR {fdr:.4} ± {sd:.4} (exact {exact:.4}); unadjusted {:.4}",
            raw_sum / n
        );
        assert!((fdr - exact).abs() <= 4.0 * sd, "BH FDR {fdr} vs {exact}");
        assert!(fdr <= ALPHA + 4.0 * sd);
    }
}

fn roi_rollup(a: &Value) -> ArmRollup {
    ArmRollup {
        units: num(a, "units") as i64,
        revenue_sum: num(a, "revenue_sum"),
        revenue_sumsq: num(a, "revenue_sumsq"),
        cost_sum: num(a, "cost_sum"),
        cost_sumsq: num(a, "cost_sumsq"),
        revenue_cost_sum: num(a, "revenue_cost_sum"),
        ..ArmRollup::default()
    }
}

#[test]
fn roi_matches_a_from_scratch_numpy_delta_method_and_a_bootstrap() {
    let mut checked = 0;
    for case in golden("verify_roi_ratio.json") {
        if case["kind"] != "roi" {
            continue;
        }
        let label = case["label"].as_str().expect("label");
        let (c, t) = (roi_rollup(&case["arms"][0]), roi_rollup(&case["arms"][1]));
        let roi = roi_vs_control(&c, &t, ALPHA).expect("defined");
        assert_close(roi.roi, num(&case, "roi"), 1e-9, 1e-12, label);
        assert_close(roi.se, num(&case, "se"), 1e-9, 0.0, label);
        assert_close(roi.ci.low, num(&case, "ci_low"), 1e-9, 1e-12, label);
        assert_close(roi.ci.high, num(&case, "ci_high"), 1e-9, 1e-12, label);
        // The bootstrap is a sanity check on the size of the SE, not a reference to 1e-9: the
        // delta method is first order, and with a noisy Δcost the bootstrap distribution of a
        // ratio is skewed and wider. Within 20% everywhere, 5% in the large case.
        let boot = num(&case, "bootstrap_sd");
        eprintln!(
            "{label}: ROI {:.4}, delta SE {:.4}, bootstrap sd {boot:.4} ({:+.1}%)",
            roi.roi,
            roi.se,
            100.0 * (roi.se / boot - 1.0)
        );
        let tol = if label == "roi_large" { 0.05 } else { 0.2 };
        assert_close(roi.se, boot, tol, 0.0, label);
        // The report shows the same figures.
        let arms = [
            ArmInput {
                key: "control".into(),
                weight: 1.0,
                rollup: c,
            },
            ArmInput {
                key: "t".into(),
                weight: 1.0,
                rollup: t,
            },
        ];
        let report = ab_report(
            "c",
            Some("control"),
            Metric::Revenue,
            &arms,
            &Options::default(),
        );
        let row = &report.arms[1];
        assert_eq!(row.roi, Some(roi.roi));
        assert_eq!(row.roi_ci_low, Some(roi.ci.low));
        checked += 1;
    }
    assert_eq!(checked, 3);
}

fn ratio_rollup(a: &Value) -> ArmRollup {
    let int = |k: &str| num(a, k) as i64;
    ArmRollup {
        units: int("units"),
        revenue_sum: num(a, "revenue_sum"),
        revenue_sumsq: num(a, "revenue_sumsq"),
        purchases: int("purchases"),
        purchases_sumsq: num(a, "purchases_sumsq"),
        revenue_purchases_sum: num(a, "revenue_purchases_sum"),
        exposures: int("exposures"),
        exposures_sumsq: num(a, "exposures_sumsq"),
        clicks: int("clicks"),
        clicks_sumsq: num(a, "clicks_sumsq"),
        clicks_exposures_sum: num(a, "clicks_exposures_sum"),
        ..ArmRollup::default()
    }
}

#[test]
fn ratio_metrics_match_numpy_and_statsmodels_delta_method() {
    let mut checked = 0;
    for case in golden("verify_roi_ratio.json") {
        if case["kind"] != "ratio" {
            continue;
        }
        let label = case["label"].as_str().expect("label");
        let rollups = [
            ratio_rollup(&case["arms"][0]),
            ratio_rollup(&case["arms"][1]),
        ];
        for (metric, key) in [(Metric::Aov, "aov"), (Metric::Ctr, "ctr")] {
            let what = format!("{label}/{key}");
            let e = &case[key];
            let est = |r: &ArmRollup| {
                let stats = metric_stats(metric, r);
                assert!(matches!(stats, MetricStats::Ratio(_)));
                arm_estimate(&stats).expect("defined")
            };
            let (c, t) = (est(&rollups[0]), est(&rollups[1]));
            assert_close(c.value, num(e, "ratio_c"), 1e-12, 0.0, &what);
            assert_close(t.value, num(e, "ratio_t"), 1e-12, 0.0, &what);
            assert_close(c.variance, num(e, "var_c"), 1e-9, 0.0, &what);
            assert_close(t.variance, num(e, "var_t"), 1e-9, 0.0, &what);
            // statsmodels NonlinearDeltaCov (numerical derivative): 1e-6.
            assert_close(c.variance, num(e, "var_c_statsmodels"), 1e-6, 0.0, &what);
            assert_close(t.variance, num(e, "var_t_statsmodels"), 1e-6, 0.0, &what);
            let abs = difference(c, t).expect("defined");
            assert_close(abs.value(), num(e, "abs_diff"), 1e-9, 1e-15, &what);
            assert_close(abs.se(), num(e, "abs_se"), 1e-9, 0.0, &what);
            let rel = relative_lift_delta(c, t).expect("defined");
            assert_close(rel.value(), num(e, "rel_lift"), 1e-9, 1e-15, &what);
            assert_close(rel.se(), num(e, "rel_se"), 1e-9, 0.0, &what);
            assert_close(rel.se(), num(e, "rel_se_statsmodels"), 1e-6, 0.0, &what);
            // The report path for a ratio metric gives the same figures.
            let arms: Vec<ArmInput> = rollups
                .iter()
                .zip(["control", "t"])
                .map(|(r, k)| ArmInput {
                    key: k.into(),
                    weight: 1.0,
                    rollup: r.clone(),
                })
                .collect();
            let report = ab_report("c", Some("control"), metric, &arms, &Options::default());
            let row = &report.arms[1];
            for (got, key) in [
                (row.abs_diff, "abs_diff"),
                (row.abs_ci_low, "abs_ci_low"),
                (row.abs_ci_high, "abs_ci_high"),
                (row.rel_lift, "rel_lift"),
                (row.ci_low, "rel_ci_low"),
                (row.ci_high, "rel_ci_high"),
            ] {
                let exp = num(e, key);
                assert_close(
                    got.expect("defined"),
                    exp,
                    1e-9,
                    1e-12,
                    &format!("{what} {key}"),
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 3);
}

fn covers(i: Option<Interval>, truth: f64) -> bool {
    i.is_some_and(|i| i.low <= truth && truth <= i.high)
}

/// Orders per unit: P(0, 1, 2, 3) = (0.75, 0.18, 0.05, 0.02), mean 0.34.
fn orders(rng: &mut Generator) -> u32 {
    let u = uniform(rng);
    match u {
        u if u < 0.75 => 0,
        u if u < 0.93 => 1,
        u if u < 0.98 => 2,
        _ => 3,
    }
}

#[test]
fn ratio_metric_intervals_cover_the_true_ratio_and_lift() {
    // AOV: revenue per order ~ Exponential(mean 40 in control, 42.4 in treatment), orders per
    // unit as above, so true AOV = 40 and 42.4 and the true relative lift is 6%.
    // CTR: exposures per unit uniform on 1..10, each unit's click probability 0.05 or 0.15
    // (half and half) times 1.1 in treatment: true CTR = 0.10 and 0.11, lift 10%.
    // 2000 experiments of 1500 units per arm; band ±2 points around 95% (MC sd 0.49 points).
    const EXPERIMENTS: usize = 2000;
    let n = 1500_u32;
    let mut rng = Generator::seed_from_u64(61_003);
    let (mut aov_abs, mut aov_rel, mut ctr_abs, mut ctr_rel) = (0, 0, 0, 0);
    let arm = |rng: &mut Generator, aov: f64, ctr_scale: f64| {
        let mut r = ArmRollup {
            units: i64::from(n),
            ..ArmRollup::default()
        };
        for _ in 0..n {
            let k = orders(rng);
            let revenue: f64 = (0..k).map(|_| -aov * (1.0 - uniform(rng)).ln()).sum();
            let k = f64::from(k);
            r.purchases += k as i64;
            r.purchases_sumsq += k * k;
            r.revenue_sum += revenue;
            r.revenue_sumsq += revenue * revenue;
            r.revenue_purchases_sum += revenue * k;
            let e = 1 + (uniform(rng) * 10.0) as i64;
            let p = ctr_scale * if bernoulli(rng, 0.5) { 0.05 } else { 0.15 };
            let c = (0..e).filter(|_| bernoulli(rng, p)).count() as i64;
            r.exposures += e;
            r.exposures_sumsq += (e * e) as f64;
            r.clicks += c;
            r.clicks_sumsq += (c * c) as f64;
            r.clicks_exposures_sum += (c * e) as f64;
        }
        r
    };
    let ratio = |metric: Metric, r: &ArmRollup| match metric_stats(metric, r) {
        MetricStats::Ratio(s) => s,
        _ => RatioStats::default(),
    };
    for _ in 0..EXPERIMENTS {
        let control = arm(&mut rng, 40.0, 1.0);
        let treatment = arm(&mut rng, 42.4, 1.1);
        for (metric, truth_c, truth_t, hits) in [
            (Metric::Aov, 40.0, 42.4, [&mut aov_abs, &mut aov_rel]),
            (Metric::Ctr, 0.10, 0.11, [&mut ctr_abs, &mut ctr_rel]),
        ] {
            let c = ratio(metric, &control).arm_estimate().expect("defined");
            let t = ratio(metric, &treatment).arm_estimate().expect("defined");
            let abs = difference(c, t).and_then(|e| e.confidence_interval(ALPHA));
            let rel = relative_lift_delta(c, t).and_then(|e| e.confidence_interval(ALPHA));
            let [h_abs, h_rel] = hits;
            *h_abs += usize::from(covers(abs, truth_t - truth_c));
            *h_rel += usize::from(covers(rel, truth_t / truth_c - 1.0));
        }
    }
    for (what, hits) in [
        ("AOV difference", aov_abs),
        ("AOV relative lift", aov_rel),
        ("CTR difference", ctr_abs),
        ("CTR relative lift", ctr_rel),
    ] {
        let coverage = hits as f64 / EXPERIMENTS as f64;
        eprintln!("{what}: coverage {coverage:.4} over {EXPERIMENTS} experiments");
        assert!(
            (coverage - 0.95).abs() <= 0.02,
            "{what}: coverage {coverage:.4} outside 0.95 ± 0.02"
        );
    }
}
