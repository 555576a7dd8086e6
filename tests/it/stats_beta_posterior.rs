//! One posterior per row: for a conversion metric the chance to beat control, the credible
//! interval, the risk and (two arms) P(best) all come from the exact Beta posteriors, checked
//! against scipy (fixtures/golden/beta_lift.json, made by
//! `python3 fixtures/golden/ref_beta_lift.py`); other metrics use the Gaussian model for all of
//! them, and every row says which. The 14 reference cases reach all three ways `beta_lift`
//! computes (large counts, few conversions, rates near 1; see src/stats/bayes/lift.rs), each
//! at least twice.

use crate::verify_support::{golden, num};
use liftdeck::domain::ArmRollup;
use liftdeck::stats::ab::{ab_report, ArmInput, BayesModel, Metric, Options};
use liftdeck::stats::bayes::EffectPrior;

fn proportion(key: &str, units: i64, conversions: i64) -> ArmInput {
    ArmInput {
        key: key.into(),
        weight: 1.0,
        rollup: ArmRollup {
            units,
            conversions,
            ..ArmRollup::default()
        },
    }
}

fn close(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs().max(1e-9)
}

#[test]
fn conversion_rows_take_every_bayesian_column_from_the_exact_beta_posterior() {
    let mut checked = 0;
    for case in golden("beta_lift.json") {
        let arms = [
            proportion(
                "control",
                num(&case, "n_c") as i64,
                num(&case, "x_c") as i64,
            ),
            proportion("t", num(&case, "n_t") as i64, num(&case, "x_t") as i64),
        ];
        let opts = Options {
            alpha: num(&case, "alpha"),
            ..Options::default()
        };
        let r = ab_report("c", Some("control"), Metric::Conversion, &arms, &opts);
        let row = &r.arms[1];
        assert_eq!(row.bayes_model, Some(BayesModel::Beta), "{case}");
        let pairs = [
            ("credible_low", row.credible_low, 1e-7),
            ("credible_high", row.credible_high, 1e-7),
            ("chance_to_beat_control", row.chance_to_beat_control, 1e-9),
            ("risk_ship_treatment", row.expected_loss, 1e-7),
        ];
        for (field, got, tol) in pairs {
            let want = num(&case, field);
            let got = got.expect("defined");
            assert!(
                close(got, want, tol),
                "{field}: {got} vs scipy {want} in {case}"
            );
        }
        // The interval, the chance and the risk are one posterior: the interval excludes 0
        // from below exactly when P(beat) > 1 - alpha/2, and P(best) is the same chance.
        let beat = row.chance_to_beat_control.expect("chance");
        assert_eq!(
            row.credible_low.expect("low") > 0.0,
            beat > 1.0 - opts.alpha / 2.0
        );
        assert_eq!(row.prob_best, Some(beat));
        assert!((r.arms[0].prob_best.expect("control") + beat - 1.0).abs() < 1e-15);
        checked += 1;
    }
    assert_eq!(checked, 14);
}

#[test]
fn other_metrics_and_a_proper_prior_use_the_gaussian_model_for_every_column() {
    let revenue = |units: i64, mean: f64| ArmInput {
        key: format!("arm{units}"),
        weight: 1.0,
        rollup: ArmRollup {
            units,
            revenue_sum: mean * units as f64,
            revenue_sumsq: (mean * mean + 4.0) * units as f64,
            ..ArmRollup::default()
        },
    };
    let arms = [revenue(1000, 5.0), revenue(1001, 5.2)];
    let r = ab_report(
        "c",
        Some("arm1000"),
        Metric::Revenue,
        &arms,
        &Options::default(),
    );
    let row = &r.arms[1];
    assert_eq!(row.bayes_model, Some(BayesModel::Gaussian));
    // Gaussian: the credible interval is symmetric about the lift, and P(best) is P(beat).
    let (low, high, lift) = (
        row.credible_low.expect("low"),
        row.credible_high.expect("high"),
        row.rel_lift.expect("lift"),
    );
    assert!((0.5 * (low + high) - lift).abs() < 1e-12);
    assert_eq!(row.prob_best, row.chance_to_beat_control);
    let conv = [proportion("control", 1000, 100), proportion("t", 1000, 128)];
    let proper = Options {
        prior: EffectPrior::PROPER_DEFAULT,
        ..Options::default()
    };
    let r = ab_report("c", Some("control"), Metric::Conversion, &conv, &proper);
    assert_eq!(r.arms[1].bayes_model, Some(BayesModel::Gaussian));
    assert_eq!(r.arms[1].prob_best, r.arms[1].chance_to_beat_control);
    let cuped = Options {
        cuped: true,
        ..Options::default()
    };
    let r = ab_report("c", Some("control"), Metric::Conversion, &conv, &cuped);
    // No covariate here, so CUPED falls back to the unadjusted data and the exact model.
    assert!(r.arms[1].bayes_model.is_some());
}

/// The property that matters for a credible interval and a risk: under the prior the model
/// assumes (uniform rates, the default Beta(1, 1)), the 95% interval of the lift holds the
/// true lift 95% of the time, and the mean reported risk equals the mean realised shortfall
/// E[max(0, 1 - p_t / p_c)]. Seeded; 600 campaigns of 100 units per arm reach all three of
/// `beta_lift`'s regimes (few conversions, large counts, rates near 1).
#[test]
fn the_exact_beta_interval_covers_and_the_risk_is_unbiased_under_its_prior() {
    use liftdeck::stats::bayes::{beta_lift, BetaPosterior, BetaPrior};
    use rand::{RngExt, SeedableRng};
    let mut rng = crate::verify_support::Generator::seed_from_u64(20261201);
    let (runs, n) = (600u32, 100u64);
    let (mut covered, mut risk_sum, mut shortfall_sum) = (0u32, 0.0, 0.0);
    let mut gaps = Vec::new();
    for _ in 0..runs {
        let (pc, pt): (f64, f64) = (rng.random(), rng.random());
        let draw = |p: f64, rng: &mut crate::verify_support::Generator| {
            (0..n).filter(|_| rng.random::<f64>() < p).count() as u64
        };
        let (xc, xt) = (draw(pc, &mut rng), draw(pt, &mut rng));
        let post = |x| BetaPosterior::from_counts(n, x, BetaPrior::default()).expect("posterior");
        let lift = beta_lift(&post(xt), &post(xc), 0.05).expect("lift posterior");
        let truth = pt / pc - 1.0;
        covered += u32::from(lift.credible_low <= truth && truth <= lift.credible_high);
        let shortfall = (-truth).max(0.0);
        risk_sum += lift.risk_ship_treatment;
        shortfall_sum += shortfall;
        gaps.push(lift.risk_ship_treatment - shortfall);
    }
    let coverage = f64::from(covered) / f64::from(runs);
    // Binomial sd at 0.95 over 600 runs is 0.0089: 4 sd either side.
    assert!((0.914..=0.986).contains(&coverage), "coverage {coverage}");
    let mean_gap = (risk_sum - shortfall_sum) / f64::from(runs);
    let sd =
        (gaps.iter().map(|g| (g - mean_gap).powi(2)).sum::<f64>() / f64::from(runs - 1)).sqrt();
    let se = sd / f64::from(runs).sqrt();
    assert!(
        mean_gap.abs() <= 4.0 * se,
        "mean risk - mean shortfall = {mean_gap} (se {se})"
    );
}
