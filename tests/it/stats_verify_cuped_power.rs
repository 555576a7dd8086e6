//! Verification of CUPED (src/stats/metrics.rs `cuped`) against statsmodels OLS, and of the
//! power analysis (src/stats/power.rs) by reference values and an achieved-power simulation.
//!
//! References: `fixtures/golden/verify_cuped.json` and `verify_power.json`, made by
//! `python3 fixtures/golden/ref_verify.py`.
//!
//! What "CUPED equals OLS" means here, exactly. liftdeck's CUPED pools θ = Cov(x, y)/Var(x)
//! over all units of all arms and holds it fixed; each arm's adjusted mean is
//! ȳ_a - θ(x̄_a - x̄) with variance Var(y - θx)_a / n_a (ddof = 1, per arm). That is the same
//! estimator as statsmodels `OLS(y - θ(x - x̄) ~ 1 + treat).fit(cov_type="HC2")`: the effect
//! and its SE agree to rounding. The textbook ANCOVA `OLS(y ~ 1 + treat + (x - x̄))` estimates
//! θ within arms instead, so its effect differs by exactly (θ_pooled - θ_within)·(x̄_t - x̄_c),
//! and its SE (homoskedastic, or HC2) also accounts for the estimation of θ; those differ at
//! O(1/n) and are compared with a stated tolerance, not at 1e-9.

use crate::verify_support::{assert_close, golden, num, uniform, Generator, Normals};
use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::{ab_report, ArmInput, Metric, Options};
use liftdeck::stats::frequentist::{compare_means, compare_proportions, difference};
use liftdeck::stats::frequentist::{MeanStats, ProportionStats};
use liftdeck::stats::metrics::cuped;
use liftdeck::stats::power::{
    mde_mean, mde_proportion, units_per_arm_mean, units_per_arm_proportion, TestDesign,
};
use rand::SeedableRng;
use serde_json::Value;
use statrs::distribution::{Binomial, Discrete};

fn cuped_arms(case: &Value) -> (Metric, Vec<ArmInput>) {
    let metric = match case["metric"].as_str() {
        Some("revenue") => Metric::Revenue,
        Some("conversion") => Metric::Conversion,
        other => panic!("metric {other:?}"),
    };
    let arms = case["arms"]
        .as_array()
        .expect("arms")
        .iter()
        .map(|a| {
            let mut r = ArmRollup {
                units: num(a, "units") as i64,
                x_units: num(a, "units") as i64,
                x_sum: num(a, "x_sum"),
                x_sumsq: num(a, "x_sumsq"),
                ..ArmRollup::default()
            };
            match metric {
                Metric::Revenue => {
                    r.revenue_sum = num(a, "y_sum");
                    r.revenue_sumsq = num(a, "y_sumsq");
                    r.x_revenue_sum = num(a, "xy_sum");
                }
                _ => {
                    r.conversions = num(a, "y_sum") as i64;
                    r.x_conversion_sum = num(a, "xy_sum");
                }
            }
            ArmInput {
                key: a["key"].as_str().expect("key").to_string(),
                weight: 1.0,
                rollup: r,
            }
        })
        .collect();
    (metric, arms)
}

/// θ is the within-arm slope pooled over arms, i.e. the x coefficient of OLS `y ~ arm + x`
/// (ANCOVA). The fixture was made when θ was the all-units Cov(y, x)/Var(x); it stores the
/// ANCOVA fit too, which is what the estimator must now reproduce. The adjusted means and
/// variances per arm are checked against statsmodels in `tests/it/stats_cuped.rs`.
#[test]
fn cuped_effect_matches_statsmodels_ancova() {
    let cases = golden("verify_cuped.json");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let label = case["label"].as_str().expect("label");
        let (metric, arms) = cuped_arms(case);
        let fit = cuped(metric, &arms).expect("CUPED applies");
        assert_close(fit.theta, num(case, "theta_within"), 1e-9, 0.0, label);
        assert!(
            fit.variance_reduction > 0.0,
            "{label}: {}",
            fit.variance_reduction
        );
        let (c, t) = (
            fit.estimates[0].expect("control"),
            fit.estimates[1].expect("treatment"),
        );
        let effect = difference(c, t).expect("defined");
        let ancova = num(case, "effect_ancova");
        assert_close(effect.value(), ancova, 1e-9, 1e-12, label);
        let (se_plain, se_hc2) = (num(case, "se_ancova_nonrobust"), num(case, "se_ancova_hc2"));
        eprintln!(
            "{label}: effect {:.6} (ANCOVA {ancova:.6}), SE {:.6} vs ANCOVA nonrobust {se_plain:.6} \
             ({:+.2}%), HC2 {se_hc2:.6} ({:+.2}%)",
            effect.value(),
            effect.se(),
            100.0 * (effect.se() / se_plain - 1.0),
            100.0 * (effect.se() / se_hc2 - 1.0)
        );
        // The SE uses per-arm residual variances (ddof 1) rather than one pooled residual
        // variance: O(1/n) differences, within 1.5% at >= 500 units per arm and 5% at 25-30.
        let units = num(&case["arms"][0], "units");
        let tol = if units >= 500.0 { 0.015 } else { 0.05 };
        assert_close(effect.se(), se_hc2, tol, 0.0, label);
        if units >= 500.0 {
            assert_close(effect.se(), se_plain, tol, 0.0, label);
        }
        // The report shows the same numbers: abs_diff and a normal interval of ±z·SE.
        let opts = Options {
            cuped: true,
            ..Options::default()
        };
        let report = ab_report("c", Some("control"), metric, &arms, &opts);
        let row = &report.arms[1];
        assert_close(
            row.abs_diff.expect("abs_diff"),
            effect.value(),
            1e-12,
            1e-15,
            label,
        );
        let half = (row.abs_ci_high.expect("hi") - row.abs_ci_low.expect("lo")) / 2.0;
        assert_close(half, 1.959_963_984_540_054 * effect.se(), 1e-9, 0.0, label);
    }
}

const DESIGN: TestDesign = TestDesign {
    alpha: 0.05,
    power: 0.8,
};

#[test]
fn mde_matches_independent_references() {
    let mut checked = 0;
    for case in golden("verify_power.json") {
        match case["kind"].as_str() {
            Some("mde_proportion") => {
                let ours = mde_proportion(
                    num(&case, "baseline_rate"),
                    num(&case, "units_per_arm"),
                    DESIGN,
                );
                match case["mde_rel"].as_f64() {
                    Some(e) => assert_close(ours.expect("defined"), e, 1e-9, 0.0, "mde_proportion"),
                    None => assert_eq!(ours, None),
                }
            }
            Some("mde_mean") => {
                let ours =
                    mde_mean(num(&case, "sigma"), num(&case, "units_per_arm"), DESIGN).expect("ok");
                assert_close(ours, num(&case, "mde_abs_closed_form"), 1e-12, 0.0, "mde");
                // statsmodels counts the opposite tail: ~1e-6 .. 4e-5 relative smaller.
                assert_close(
                    ours,
                    num(&case, "mde_abs_statsmodels_normal"),
                    1e-4,
                    0.0,
                    "mde vs statsmodels",
                );
            }
            _ => continue,
        }
        checked += 1;
    }
    assert_eq!(checked, 8);
}

/// Exact Binomial(n, p) draws by inverting a precomputed distribution function (one uniform and
/// a binary search per draw, instead of n Bernoulli draws).
struct BinomialTable {
    first: u64,
    cdf: Vec<f64>,
}

impl BinomialTable {
    fn new(n: u64, p: f64) -> Self {
        let dist = Binomial::new(p, n).expect("valid binomial");
        let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        let first = (mean - 12.0 * sd).max(0.0) as u64;
        let last = ((mean + 12.0 * sd) as u64).min(n);
        let mut acc = 0.0;
        let cdf = (first..=last)
            .map(|k| {
                acc += dist.pmf(k);
                acc
            })
            .collect();
        BinomialTable { first, cdf }
    }

    fn draw(&self, rng: &mut Generator) -> u64 {
        let u = uniform(rng) * self.cdf[self.cdf.len() - 1];
        self.first + self.cdf.partition_point(|&c| c <= u) as u64
    }
}

/// Fraction of `experiments` two-proportion experiments with `n` units per arm whose report
/// p-value (Welch on the 0/1 data, as the report computes it) is below alpha.
fn rejection_rate_proportions(n: u64, p1: f64, p2: f64, experiments: usize, seed: u64) -> f64 {
    let (control, treatment) = (BinomialTable::new(n, p1), BinomialTable::new(n, p2));
    let mut rng = Generator::seed_from_u64(seed);
    let mut rejected = 0;
    for _ in 0..experiments {
        let c = ProportionStats {
            n,
            x: control.draw(&mut rng),
        };
        let t = ProportionStats {
            n,
            x: treatment.draw(&mut rng),
        };
        let p = compare_proportions(&c, &t, DESIGN.alpha)
            .and_then(|cmp| cmp.p_value())
            .expect("defined");
        rejected += usize::from(p < DESIGN.alpha);
    }
    rejected as f64 / experiments as f64
}

#[test]
fn planned_sample_size_achieves_the_requested_power_for_proportions() {
    // At n = ceil(units_per_arm_proportion) the report's test must reject ~80% of the time when
    // the planned effect is real. The exact power at that n (summed over both binomials in
    // Python) is within 0.001 of 0.80; the simulation must match it within 4 MC sd
    // (20000 experiments: sd 0.0028, band ±0.011).
    const EXPERIMENTS: usize = 20_000;
    let mut checked = 0;
    for (i, case) in golden("verify_power.json").iter().enumerate() {
        if case["kind"] != "achieved_power_proportion" {
            continue;
        }
        let (p1, mde) = (num(case, "baseline_rate"), num(case, "mde_rel"));
        let n = units_per_arm_proportion(p1, mde, DESIGN)
            .expect("defined")
            .ceil();
        assert_eq!(n, num(case, "units_per_arm"), "planned n for {case}");
        let exact = num(case, "exact_power_welch");
        assert!((exact - DESIGN.power).abs() < 0.001, "{case}");
        let rate =
            rejection_rate_proportions(n as u64, p1, p1 * (1.0 + mde), EXPERIMENTS, i as u64);
        let sd = (exact * (1.0 - exact) / EXPERIMENTS as f64).sqrt();
        eprintln!(
            "p1 {p1}, mde {mde}, n {n}: rejection rate {rate:.4} (exact {exact:.4}, MC sd {sd:.4})"
        );
        assert!(
            (rate - exact).abs() <= 4.0 * sd,
            "achieved power {rate} vs exact {exact} ± {sd}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
    // The check can fail: at half the planned size the power is ~0.51, far outside the band.
    let half = units_per_arm_proportion(0.1, 0.1, DESIGN).expect("defined") / 2.0;
    let rate = rejection_rate_proportions(half.ceil() as u64, 0.1, 0.11, 4000, 99);
    eprintln!("half the planned n: rejection rate {rate:.4}");
    assert!(rate < 0.6, "half the sample should be underpowered: {rate}");
}

#[test]
fn planned_sample_size_achieves_the_requested_power_for_means() {
    // Normal data, Welch test as the report runs it. The normal-approximation n gives the
    // t-test a power a little under 0.80 (statsmodels' noncentral t: 0.7996); the simulation
    // must match that within 4 MC sd (6000 experiments: sd 0.0052).
    const EXPERIMENTS: usize = 6000;
    let mut checked = 0;
    for (i, case) in golden("verify_power.json").iter().enumerate() {
        if case["kind"] != "achieved_power_mean" {
            continue;
        }
        let (sigma, delta) = (num(case, "sigma"), num(case, "delta"));
        let n = units_per_arm_mean(sigma, delta, DESIGN)
            .expect("defined")
            .ceil();
        assert_eq!(n, num(case, "units_per_arm"), "planned n for {case}");
        let exact = num(case, "exact_power_ttest_statsmodels");
        let mut rng = Generator::seed_from_u64(500 + i as u64);
        let mut normals = Normals::new();
        let mut rejected = 0;
        for _ in 0..EXPERIMENTS {
            let mut arm = |mean: f64| {
                let mut s = MeanStats {
                    n,
                    sum: 0.0,
                    sum_sq: 0.0,
                };
                for _ in 0..n as usize {
                    let v = mean + sigma * normals.draw(&mut rng);
                    s.sum += v;
                    s.sum_sq += v * v;
                }
                s
            };
            let (c, t) = (arm(10.0), arm(10.0 + delta));
            let p = compare_means(&c, &t, DESIGN.alpha)
                .and_then(|cmp| cmp.p_value())
                .expect("defined");
            rejected += usize::from(p < DESIGN.alpha);
        }
        let rate = rejected as f64 / EXPERIMENTS as f64;
        let sd = (exact * (1.0 - exact) / EXPERIMENTS as f64).sqrt();
        eprintln!(
            "sigma {sigma}, delta {delta}, n {n}: rejection rate {rate:.4} (exact {exact:.4})"
        );
        assert!(
            (rate - exact).abs() <= 4.0 * sd,
            "achieved power {rate} vs statsmodels {exact} ± {sd}"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}
