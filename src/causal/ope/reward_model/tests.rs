use super::super::{evaluate, Estimator, OpeReport, SwitchTau};
use super::*;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};

fn row(arm: usize, reward: f64, propensity: f64) -> LoggedRow {
    LoggedRow {
        arm,
        reward,
        propensity,
        position: None,
        features: vec![],
    }
}

fn no_bootstrap() -> OpeOptions {
    OpeOptions {
        resamples: 0,
        ..OpeOptions::default()
    }
}

fn value(r: &OpeReport, e: Estimator) -> f64 {
    r.estimate(e).map_or(f64::NAN, |x| x.value)
}

#[test]
fn hand_computed_example_with_a_given_model() {
    // Two rows, two arms, target (0.25, 0.75) on both.
    // Row 0: arm 0, r 1, μ 0.5, q̂ (0.6, 0.2); row 1: arm 1, r 0, μ 0.25, q̂ (0.1, 0.4).
    let rows = vec![row(0, 1.0, 0.5), row(1, 0.0, 0.25)];
    let target = TargetPolicy::same_for_all(vec![0.25, 0.75], 2).expect("target");
    let q = RewardTable::from_rows(vec![vec![0.6, 0.2], vec![0.1, 0.4]]).expect("table");
    let r = evaluate_with_model(&rows, &target, &q, &no_bootstrap()).expect("ope");
    // DM terms: 0.25*0.6 + 0.75*0.2 = 0.3; 0.25*0.1 + 0.75*0.4 = 0.325.
    let dm = (0.3 + 0.325) / 2.0;
    // Weights 0.5, 3; corrections 0.5*(1-0.6) = 0.2, 3*(0-0.4) = -1.2.
    let dr = dm + (0.2 - 1.2) / 2.0;
    let sndr = dm + (0.2 - 1.2) / 3.5;
    assert!((value(&r, Estimator::Dm) - dm).abs() < 1e-12);
    assert!((value(&r, Estimator::Dr) - dr).abs() < 1e-12);
    assert!((value(&r, Estimator::Sndr) - sndr).abs() < 1e-12);
    assert!((value(&r, Estimator::Ips) - 0.5 / 2.0).abs() < 1e-12);
    assert!(!r.model_refitted_per_resample && !r.model_by_position);
}

#[test]
fn a_table_of_the_fitted_means_gives_the_fitted_estimates() {
    let rows: Vec<LoggedRow> = (0..40)
        .map(|i| row(i % 3, f64::from((i * 7 % 5 < 2) as u8), 1.0 / 3.0))
        .collect();
    let target = TargetPolicy::same_for_all(vec![0.5, 0.3, 0.2], 40).expect("target");
    let mut means = [0.0; 3];
    let mut counts = [0.0; 3];
    for r in &rows {
        means[r.arm] += r.reward;
        counts[r.arm] += 1.0;
    }
    let q: Vec<Vec<f64>> = (0..40)
        .map(|_| (0..3).map(|a| means[a] / counts[a]).collect())
        .collect();
    let opts = OpeOptions {
        switch_tau: SwitchTau::Fixed(f64::INFINITY),
        ..no_bootstrap()
    };
    let fitted = evaluate(&rows, &target, &opts).expect("fitted");
    let given = evaluate_with_model(
        &rows,
        &target,
        &RewardTable::from_rows(q).expect("table"),
        &opts,
    )
    .expect("given");
    for e in Estimator::ALL {
        assert!(
            (value(&fitted, e) - value(&given, e)).abs() < 1e-12,
            "{e:?}"
        );
    }
    assert!(fitted.model_refitted_per_resample);
}

#[test]
fn the_bootstrap_keeps_a_given_model() {
    // Context-free target, q̂ the same on every row: DM = Σ_a π(a) q̂(a) on every resample, so
    // its interval has zero width (fitted means would move it; see ope/tests.rs).
    let rows: Vec<LoggedRow> = (0..100)
        .map(|i| row(i % 2, f64::from((i * 3 % 7 < 2) as u8), 0.5))
        .collect();
    let target = TargetPolicy::same_for_all(vec![0.9, 0.1], 100).expect("target");
    let q = RewardTable::from_rows(vec![vec![0.3, 0.6]; 100]).expect("table");
    let opts = OpeOptions {
        resamples: 100,
        ..OpeOptions::default()
    };
    let r = evaluate_with_model(&rows, &target, &q, &opts).expect("ope");
    let dm = r.estimate(Estimator::Dm).expect("dm");
    assert!((dm.value - 0.33).abs() < 1e-12);
    let width = dm.high.expect("high") - dm.low.expect("low");
    assert!(width.abs() < 1e-12, "{dm:?}");
    let dr = r.estimate(Estimator::Dr).expect("dr");
    assert!(dr.high > dr.low, "the correction still moves: {dr:?}");
}

#[test]
fn a_table_that_does_not_fit_is_refused() {
    let rows = vec![row(0, 1.0, 0.5), row(1, 0.0, 0.5)];
    let target = TargetPolicy::same_for_all(vec![0.5, 0.5], 2).expect("target");
    let short = RewardTable::from_rows(vec![vec![0.1, 0.2]]).expect("table");
    let e = evaluate_with_model(&rows, &target, &short, &no_bootstrap()).expect_err("rows");
    assert!(e.to_string().contains("covers 1 rows"), "{e}");
    let three = RewardTable::from_rows(vec![vec![0.1, 0.2, 0.3]; 2]).expect("table");
    let e = evaluate_with_model(&rows, &target, &three, &no_bootstrap()).expect_err("arms");
    assert!(e.to_string().contains("3 arms"), "{e}");
    assert!(RewardTable::from_rows(vec![vec![0.1, f64::NAN]]).is_err());
    assert!(RewardTable::from_rows(vec![vec![0.1], vec![0.1, 0.2]]).is_err());
    assert!(RewardTable::new(0, vec![]).is_err());
}

/// One simulated log: x_i ~ U(0, 1), three arms with true rates depending on x, a logging
/// policy that depends on x, a target that prefers arm 2 for large x. Returns the rows, the
/// target, the true rates per row and arm, and the target's true value on these contexts.
fn simulated_log(rng: &mut Prng, n: usize) -> (Vec<LoggedRow>, TargetPolicy, Vec<Vec<f64>>, f64) {
    let rate = |a: usize, x: f64| match a {
        0 => 0.1 + 0.3 * x,
        1 => 0.5 - 0.3 * x,
        _ => 0.05 + 0.8 * x * x,
    };
    let mut rows = Vec::with_capacity(n);
    let mut target = Vec::with_capacity(n);
    let mut truth = Vec::with_capacity(n);
    let mut value = 0.0;
    for _ in 0..n {
        let x: f64 = rng.random();
        let mu = [0.5 - 0.3 * x, 0.3, 0.2 + 0.3 * x];
        let pi = [0.2 * (1.0 - x), 0.2, 0.6 + 0.2 * x];
        let u: f64 = rng.random();
        let arm = if u < mu[0] {
            0
        } else if u < mu[0] + mu[1] {
            1
        } else {
            2
        };
        let p: Vec<f64> = (0..3).map(|a| rate(a, x)).collect();
        let reward = f64::from(u8::from(rng.random::<f64>() < p[arm]));
        value += (0..3).map(|a| pi[a] * p[a]).sum::<f64>();
        rows.push(row(arm, reward, mu[arm]));
        target.push(pi.to_vec());
        truth.push(p);
    }
    let target = TargetPolicy::per_row(target).expect("target");
    (rows, target, truth, value / n as f64)
}

fn mean_and_se(x: &[f64]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (mean, sd / n.sqrt(), sd)
}

#[test]
fn dr_is_unbiased_with_either_the_right_model_or_the_right_propensities() {
    // 300 seeded logs of 400 rows. Errors are against each log's true target value.
    let mut rng = Prng::seed_from_u64(20_261_201);
    let (mut ips, mut dr_right, mut dr_wrong, mut dm_wrong) = (vec![], vec![], vec![], vec![]);
    let opts = OpeOptions {
        switch_tau: SwitchTau::Fixed(f64::INFINITY),
        ..no_bootstrap()
    };
    for _ in 0..300 {
        let (rows, target, truth, v) = simulated_log(&mut rng, 400);
        // The wrong model swaps the arms' roles and is off by a constant.
        let wrong: Vec<Vec<f64>> = truth
            .iter()
            .map(|p| vec![p[2] + 0.1, p[0] + 0.1, p[1] + 0.1])
            .collect();
        let right = RewardTable::from_rows(truth).expect("right");
        let wrong = RewardTable::from_rows(wrong).expect("wrong");
        let r = evaluate_with_model(&rows, &target, &right, &opts).expect("right");
        let w = evaluate_with_model(&rows, &target, &wrong, &opts).expect("wrong");
        ips.push(value(&r, Estimator::Ips) - v);
        dr_right.push(value(&r, Estimator::Dr) - v);
        dr_wrong.push(value(&w, Estimator::Dr) - v);
        dm_wrong.push(value(&w, Estimator::Dm) - v);
    }
    let (ips_bias, ips_se, ips_sd) = mean_and_se(&ips);
    let (right_bias, right_se, right_sd) = mean_and_se(&dr_right);
    let (wrong_bias, wrong_se, _) = mean_and_se(&dr_wrong);
    let (dm_bias, dm_se, _) = mean_and_se(&dm_wrong);
    assert!(ips_bias.abs() < 4.0 * ips_se, "IPS {ips_bias} ± {ips_se}");
    assert!(
        right_bias.abs() < 4.0 * right_se,
        "DR right {right_bias} ± {right_se}"
    );
    assert!(
        right_sd < 0.95 * ips_sd,
        "DR with the right model spreads less than IPS: {right_sd} vs {ips_sd}"
    );
    assert!(
        wrong_bias.abs() < 4.0 * wrong_se,
        "DR wrong {wrong_bias} ± {wrong_se}"
    );
    assert!(
        dm_bias.abs() > 0.05 && dm_bias.abs() > 10.0 * dm_se,
        "DM with the wrong model is biased: {dm_bias} ± {dm_se}"
    );
}
