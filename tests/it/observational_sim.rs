//! `causal::observational` against a known truth (seeded simulations, a few seconds in debug):
//! (a) the 95% intervals of the ATE from IPW and AIPW cover the truth in 93-97% of runs; (b)
//! under confounding the naive difference misses the truth by more than its own interval while
//! IPW and AIPW recover it; (c) AIPW stays unbiased when exactly one of its two models is wrong.

use liftdeck::causal::observational::{
    estimate, Estimand, ObservationalOptions, ObservationalReport, Units,
};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{Rng, SeedableRng};

const EFFECT: f64 = 2.0;

fn uniform(rng: &mut Prng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn normal(rng: &mut Prng) -> f64 {
    let (u, v) = (uniform(rng), uniform(rng));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// How the truth departs from the models the estimator fits (logit and OLS linear in x1, x2).
#[derive(Clone, Copy)]
struct Design {
    /// The outcome also depends on x1² − 1 (the OLS outcome model is wrong).
    outcome_curved: bool,
    /// The log-odds of treatment also depend on x1² − 1 (the logit is wrong).
    propensity_curved: bool,
}

/// One data set of `n` units; the constant effect makes ATE = ATT = EFFECT.
fn draw(rng: &mut Prng, n: usize, d: Design) -> ObservationalReport {
    let mut x = Vec::with_capacity(n);
    let mut t = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (x1, x2) = (normal(rng), normal(rng));
        let curve = x1 * x1 - 1.0;
        let mut index = -0.2 + 0.8 * x1 - 0.5 * x2;
        if d.propensity_curved {
            index += 0.7 * curve;
        }
        let treated = uniform(rng) < 1.0 / (1.0 + (-index).exp());
        let mut outcome = 1.0 + 1.5 * x1 + x2 + normal(rng);
        if d.outcome_curved {
            outcome += 1.5 * curve;
        }
        if treated {
            outcome += EFFECT;
        }
        x.push(vec![x1, x2]);
        t.push(treated);
        y.push(outcome);
    }
    estimate(
        Units {
            covariates: &x,
            names: &[],
            treated: &t,
            outcome: &y,
        },
        ObservationalOptions {
            trim: None,
            estimand: Estimand::Ate,
        },
    )
    .expect("simulated data always overlap")
}

fn runs(seed: u64, count: usize, n: usize, d: Design) -> Vec<ObservationalReport> {
    let mut rng = Prng::seed_from_u64(seed);
    (0..count).map(|_| draw(&mut rng, n, d)).collect()
}

/// Mean of the estimates and its Monte Carlo standard error.
fn mean_and_mcse(v: &[f64]) -> (f64, f64) {
    let m = v.len() as f64;
    let mean = v.iter().sum::<f64>() / m;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (m - 1.0);
    (mean, (var / m).sqrt())
}

const LINEAR: Design = Design {
    outcome_curved: false,
    propensity_curved: false,
};

#[test]
fn ipw_and_aipw_intervals_cover_the_ate_at_the_nominal_rate() {
    let reports = runs(11, 1000, 400, LINEAR);
    let share = |f: &dyn Fn(&ObservationalReport) -> bool| {
        reports.iter().filter(|r| f(r)).count() as f64 / reports.len() as f64
    };
    let ipw = share(&|r| r.ipw.covers(EFFECT));
    let aipw = share(&|r| r.aipw.covers(EFFECT));
    assert!((0.93..=0.97).contains(&ipw), "IPW coverage {ipw}");
    assert!((0.93..=0.97).contains(&aipw), "AIPW coverage {aipw}");
}

#[test]
fn under_confounding_the_naive_difference_is_biased_and_ipw_aipw_are_not() {
    let reports = runs(12, 200, 400, LINEAR);
    let naive: Vec<f64> = reports.iter().map(|r| r.naive.effect).collect();
    let naive_se = reports.iter().map(|r| r.naive.se).sum::<f64>() / reports.len() as f64;
    let (naive_mean, _) = mean_and_mcse(&naive);
    assert!(
        (naive_mean - EFFECT).abs() > 1.96 * naive_se,
        "naive {naive_mean} within 1.96 x {naive_se} of the truth"
    );
    let missed = reports.iter().filter(|r| !r.naive.covers(EFFECT)).count();
    assert!(missed > reports.len() / 2, "naive missed only {missed}");
    for (what, v) in [
        (
            "IPW",
            reports.iter().map(|r| r.ipw.effect).collect::<Vec<_>>(),
        ),
        ("AIPW", reports.iter().map(|r| r.aipw.effect).collect()),
    ] {
        let (mean, mcse) = mean_and_mcse(&v);
        assert!(
            (mean - EFFECT).abs() < 3.0 * mcse,
            "{what} mean {mean} (mc se {mcse})"
        );
    }
}

#[test]
fn aipw_stays_unbiased_when_one_of_its_models_is_wrong() {
    for (what, design, seed) in [
        (
            "outcome model wrong",
            Design {
                outcome_curved: true,
                propensity_curved: false,
            },
            13,
        ),
        (
            "propensity model wrong",
            Design {
                outcome_curved: false,
                propensity_curved: true,
            },
            14,
        ),
    ] {
        let reports = runs(seed, 300, 400, design);
        let aipw: Vec<f64> = reports.iter().map(|r| r.aipw.effect).collect();
        let (mean, mcse) = mean_and_mcse(&aipw);
        assert!(
            (mean - EFFECT).abs() < 3.0 * mcse,
            "{what}: AIPW mean {mean} (mc se {mcse})"
        );
        if design.propensity_curved {
            // The contrast that makes the point: IPW, which leans on the propensity alone, is off.
            let ipw: Vec<f64> = reports.iter().map(|r| r.ipw.effect).collect();
            let (ipw_mean, ipw_mcse) = mean_and_mcse(&ipw);
            assert!(
                (ipw_mean - EFFECT).abs() > 10.0 * ipw_mcse,
                "{what}: IPW mean {ipw_mean} is not biased"
            );
        }
        let naive: Vec<f64> = reports.iter().map(|r| r.naive.effect).collect();
        let (naive_mean, naive_mcse) = mean_and_mcse(&naive);
        assert!(
            (naive_mean - EFFECT).abs() > 10.0 * naive_mcse,
            "{what}: the design is not confounded (naive {naive_mean})"
        );
    }
}
