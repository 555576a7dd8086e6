//! Verification of the Bayesian figures (src/stats/bayes/, `normal_prob_best` in stats/ab.rs):
//!
//! - calibration simulations: draw the truth from the prior the model assumes, simulate data,
//!   bucket the reported chance to beat control and check the observed frequency of "treatment
//!   truly better" against the bucket's mean prediction (exact Beta-Binomial model, and the
//!   Gaussian relative-effect model both where it is exact and end to end on proportions);
//! - expected loss and chance to beat against seeded numpy Monte Carlo (>= 4e6 draws);
//! - probability of being best for 3, 4, 5 and 10 normal arms and for 3-4 Beta arms against
//!   scipy / mpmath quadrature.
//!
//! References: `fixtures/golden/verify_bayes.json` and `verify_prob_best.json`, made by
//! `python3 fixtures/golden/ref_verify.py`.

use crate::verify_support::{
    assert_close, bernoulli, golden, num, nums, uniform, Calibration, Generator, Normals,
};
use liftdeck::stats::ab::normal_prob_best;
use liftdeck::stats::bayes::{
    gaussian_effect, prob_beats, prob_best, BetaPosterior, BetaPrior, EffectPrior,
};
use liftdeck::stats::frequentist::{relative_lift_delta, ProportionStats};
use liftdeck::stats::metrics::{arm_estimate, MetricStats};
use rand::SeedableRng;

/// A calibrated model fails a bucket with |z| > 4 with probability ~6e-5 per bucket.
const Z_LIMIT: f64 = 4.0;

fn assert_calibrated(cal: &Calibration, what: &str) {
    cal.print(what);
    for (n, p, o, z) in cal.rows() {
        assert!(
            z.abs() <= Z_LIMIT,
            "{what}: bucket of {n} with mean prediction {p:.4} observed {o:.4} (z {z:+.2})"
        );
    }
    let (z, _) = cal.totals();
    assert!(z.abs() <= Z_LIMIT, "{what}: overall z {z:+.2}");
}

fn max_abs_z(cal: &Calibration) -> f64 {
    cal.rows().iter().map(|r| r.3.abs()).fold(0.0, f64::max)
}

#[test]
fn exact_beta_chance_to_beat_is_calibrated_under_its_prior() {
    // The model: p_c, p_t ~ Beta(1, 1) independently, x ~ Binomial(n, p). Then
    // P(p_t > p_c | data) is exactly what prob_beats must return, so among experiments where it
    // reports ~q, a fraction ~q must truly have p_t > p_c. Small arms (n = 10..60) spread the
    // reported chances over the whole of [0, 1].
    let mut rng = Generator::seed_from_u64(41_001);
    let mut cal = Calibration::new(10);
    for _ in 0..3000 {
        let (pc, pt) = (uniform(&mut rng), uniform(&mut rng));
        let n = 10 + (uniform(&mut rng) * 51.0) as u64;
        let mut draw = |p: f64| (0..n).filter(|_| bernoulli(&mut rng, p)).count() as u64;
        let (xc, xt) = (draw(pc), draw(pt));
        let post = |x| BetaPosterior::from_counts(n, x, BetaPrior::default()).expect("valid");
        let chance = prob_beats(&post(xt), &post(xc));
        cal.add(chance, pt > pc);
    }
    assert_calibrated(&cal, "exact Beta-Binomial chance to beat control");
}

#[test]
fn gaussian_chance_to_beat_is_calibrated_where_the_model_is_exact() {
    // True relative effect ~ N(0, 0.3²) (the PROPER_DEFAULT prior), estimate ~ N(effect, se²)
    // with se between 0.02 and 0.6: the conjugate posterior is exact, so the chance to beat
    // control must be calibrated. The flat prior ignores the shrinkage and must be caught as
    // overconfident by the same check (the check can fail).
    let mut rng = Generator::seed_from_u64(41_002);
    let mut normals = Normals::new();
    let (mut proper, mut flat) = (Calibration::new(10), Calibration::new(10));
    for _ in 0..40_000 {
        let effect = 0.3 * normals.draw(&mut rng);
        let se = 0.02 + 0.58 * uniform(&mut rng);
        let estimate = effect + se * normals.draw(&mut rng);
        for (prior, cal) in [
            (EffectPrior::PROPER_DEFAULT, &mut proper),
            (EffectPrior::Flat, &mut flat),
        ] {
            let post = gaussian_effect(estimate, se, prior, 0.05).expect("defined");
            cal.add(post.chance_to_beat_control, effect > 0.0);
        }
    }
    assert_calibrated(&proper, "Gaussian model, N(0, 0.3²) prior, exact setting");
    flat.print("Gaussian model, flat prior (expected to be overconfident here)");
    assert!(
        max_abs_z(&flat) > 2.0 * Z_LIMIT,
        "the flat prior should be visibly miscalibrated under a N(0, 0.3²) truth"
    );
}

#[test]
fn gaussian_chance_to_beat_is_calibrated_end_to_end_on_proportions() {
    // As the report computes it for a conversion metric when the exact Beta model is off:
    // delta-method relative lift of the two rates, then the Gaussian model with the proper
    // prior. Truth: control rate ~ U(0.05, 0.3), relative effect ~ N(0, 0.3²) (the prior),
    // 1500 units per arm. The delta method and the normal likelihood are approximations here,
    // so this checks that they are good enough for the decision figure to stay calibrated.
    let n = 1500_u64;
    let mut rng = Generator::seed_from_u64(41_003);
    let mut normals = Normals::new();
    let mut cal = Calibration::new(10);
    let mut done = 0;
    while done < 2500 {
        let pc = 0.05 + 0.25 * uniform(&mut rng);
        let effect = 0.3 * normals.draw(&mut rng);
        let pt = pc * (1.0 + effect);
        if pt <= 0.0 {
            continue; // effect < -1: P = 4e-4 under the prior; skipped.
        }
        let mut arm = |p: f64| ProportionStats {
            n,
            x: (0..n).filter(|_| bernoulli(&mut rng, p)).count() as u64,
        };
        let (c, t) = (arm(pc), arm(pt));
        let est = |s: ProportionStats| arm_estimate(&MetricStats::Proportion(s)).expect("n >= 2");
        let Some(rel) = relative_lift_delta(est(c), est(t)) else {
            continue;
        };
        let post = gaussian_effect(rel.value(), rel.se(), EffectPrior::PROPER_DEFAULT, 0.05)
            .expect("defined");
        cal.add(post.chance_to_beat_control, effect > 0.0);
        done += 1;
    }
    assert_calibrated(&cal, "Gaussian model end to end on proportions (n = 1500)");
}

#[test]
fn gaussian_expected_loss_and_chance_match_numpy_monte_carlo() {
    let mut checked = 0;
    for case in golden("verify_bayes.json") {
        if case["kind"] != "gaussian" {
            continue;
        }
        let prior = match case["prior_sd"].as_f64() {
            None => EffectPrior::Flat,
            Some(sd) => EffectPrior::Normal { mean: 0.0, sd },
        };
        let post = gaussian_effect(num(&case, "estimate"), num(&case, "se"), prior, 0.05)
            .expect("defined");
        for (ours, mc, se) in [
            (post.risk_ship_treatment, "mc_risk_ship", "mc_risk_ship_se"),
            (post.risk_keep_control, "mc_risk_keep", "mc_risk_keep_se"),
            (post.chance_to_beat_control, "mc_chance", "mc_chance_se"),
        ] {
            let (mc_value, mc_se) = (num(&case, mc), num(&case, se));
            // 4e6 draws: the MC sd is ~1e-4 of the posterior sd, so 5 MC sd is a sharp check.
            assert!(
                (ours - mc_value).abs() <= 5.0 * mc_se + 1e-12,
                "{mc}: ours {ours:e} vs MC {mc_value:e} ± {mc_se:e} in {case}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn beta_chance_matches_monte_carlo_and_report_loss_is_close_to_the_beta_posterior_loss() {
    // prob_beats is exact, so it must sit within MC error of the seeded numpy estimate. The
    // Gaussian model on the delta-method relative lift (flat prior; what the report uses for
    // non-proportion metrics, and used to use for conversion's risk) is measured here against
    // the loss under the exact Beta posteriors, which the report now shows for conversion
    // (see stats_beta_posterior.rs). Against that loss
    // (numpy MC, confirmed by scipy quad) it is an approximation: the ratio p_t/p_c is right-
    // skewed, so the normal misstates the tail loss. Measured on the four cases: +11% relative
    // (0.46% of the posterior sd) at n = 20000 where the loss is small, +1.8% relative (1.9% of
    // the sd) at n = 10000 with ~500 conversions per arm. The asserted bound is 3% of the
    // posterior sd: an approximation gap of that size is expected from the skewness of the
    // ratio (~3·CV of p_c), a wrong formula would miss it by far more.
    let mut checked = 0;
    for case in golden("verify_bayes.json") {
        if case["kind"] != "beta" {
            continue;
        }
        let c = ProportionStats {
            n: num(&case, "n_c") as u64,
            x: num(&case, "x_c") as u64,
        };
        let t = ProportionStats {
            n: num(&case, "n_t") as u64,
            x: num(&case, "x_t") as u64,
        };
        let post = |s: ProportionStats| {
            BetaPosterior::from_counts(s.n, s.x, BetaPrior::default()).expect("valid")
        };
        let chance = prob_beats(&post(t), &post(c));
        let (mc, mc_se) = (num(&case, "mc_chance"), num(&case, "mc_chance_se"));
        assert!(
            (chance - mc).abs() <= 5.0 * mc_se,
            "prob_beats {chance} vs MC {mc} ± {mc_se}"
        );
        let est = |s: ProportionStats| arm_estimate(&MetricStats::Proportion(s)).expect("n >= 2");
        let rel = relative_lift_delta(est(c), est(t)).expect("defined");
        let loss = gaussian_effect(rel.value(), rel.se(), EffectPrior::Flat, 0.05)
            .expect("defined")
            .risk_ship_treatment;
        let (mc_loss, mc_loss_se) = (
            num(&case, "mc_rel_loss_ship"),
            num(&case, "mc_rel_loss_ship_se"),
        );
        let exact_loss = num(&case, "quad_rel_loss_ship");
        assert!(
            (exact_loss - mc_loss).abs() <= 5.0 * mc_loss_se,
            "fixture MC vs quad"
        );
        let gap = loss - exact_loss;
        eprintln!(
            "n {}: report expected loss {loss:.6e}, Beta posterior {exact_loss:.6e} \
             ({:+.2}% relative, {:+.3}% of the posterior sd)",
            c.n,
            100.0 * gap / exact_loss,
            100.0 * gap / rel.se()
        );
        assert!(
            gap.abs() <= 0.03 * rel.se(),
            "expected loss {loss:e} vs Beta posterior {exact_loss:e}: gap {gap:e} > 3% of sd {}",
            rel.se()
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn normal_prob_best_matches_scipy_quadrature_for_3_to_10_arms() {
    let mut sizes = Vec::new();
    for case in golden("verify_prob_best.json") {
        if case["kind"] != "normal" {
            continue;
        }
        let arms: Vec<(f64, f64)> = case["arms"]
            .as_array()
            .expect("arms")
            .iter()
            .map(|a| (num(a, "mean"), num(a, "sd")))
            .collect();
        let expected = nums(&case, "prob_best");
        let actual = normal_prob_best(&arms).expect("defined");
        for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
            assert_close(*a, *e, 1e-7, 1e-9, &format!("arm {i} of {arms:?}"));
        }
        sizes.push(arms.len());
    }
    for k in [3, 4, 5, 10] {
        assert!(sizes.contains(&k), "no {k}-arm case in {sizes:?}");
    }
}

#[test]
fn exact_beta_prob_best_matches_quadrature_for_3_and_4_arms() {
    let mut checked = 0;
    for case in golden("verify_prob_best.json") {
        if case["kind"] != "beta" {
            continue;
        }
        let arms: Vec<BetaPosterior> = case["arms"]
            .as_array()
            .expect("arms")
            .iter()
            .map(|a| BetaPosterior::new(num(a, "alpha"), num(a, "beta")).expect("valid"))
            .collect();
        let expected = nums(&case, "prob_best");
        let actual = prob_best(&arms);
        for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
            assert_close(*a, *e, 1e-8, 1e-10, &format!("arm {i} of {arms:?}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}
