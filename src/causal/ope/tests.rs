//! Unit tests of the estimators on hand-computed and degenerate cases.

use super::*;

fn row(arm: usize, reward: f64, propensity: f64, position: Option<u32>) -> LoggedRow {
    LoggedRow {
        arm,
        reward,
        propensity,
        position,
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
    r.estimate(e).expect("estimate").value
}

#[test]
fn hand_computed_two_arm_example() {
    // Logging 50/50; target puts 0.8 on arm 1. Weights 0.4 (arm 0) and 1.6 (arm 1).
    let rows = vec![
        row(0, 1.0, 0.5, None),
        row(0, 0.0, 0.5, None),
        row(1, 1.0, 0.5, None),
        row(1, 1.0, 0.5, None),
        row(1, 0.0, 0.5, None),
    ];
    let target = TargetPolicy::same_for_all(vec![0.2, 0.8], rows.len()).expect("target");
    let r = evaluate(&rows, &target, &no_bootstrap()).expect("ope");
    // IPS = (0.4 + 1.6 + 1.6) / 5; SNIPS divides by Σw = 0.8 + 4.8.
    assert!((value(&r, Estimator::Ips) - 3.6 / 5.0).abs() < 1e-12);
    assert!((value(&r, Estimator::Snips) - 3.6 / 5.6).abs() < 1e-12);
    // q̂ = (0.5, 2/3): DM = 0.2·0.5 + 0.8·2/3, and the residuals of a cell-mean model sum
    // to zero within each arm, so DR = SNDR = DM here.
    let dm = 0.1 + 0.8 * 2.0 / 3.0;
    for e in [
        Estimator::Dm,
        Estimator::Dr,
        Estimator::Sndr,
        Estimator::SwitchDr,
    ] {
        assert!((value(&r, e) - dm).abs() < 1e-12, "{e:?}");
    }
    assert!(
        (r.overlap.effective_sample_size - 5.6 * 5.6 / (2.0 * 0.16 + 3.0 * 2.56)).abs() < 1e-12
    );
    assert_eq!(r.overlap.max_weight, 1.6);
    assert_eq!(r.overlap.histogram[1].rows, 2); // (0, 0.5)
    assert_eq!(r.overlap.histogram[3].rows, 3); // [1, 2)
}

#[test]
fn the_logging_policy_as_target_gives_the_logged_mean() {
    let rows: Vec<LoggedRow> = (0..40)
        .map(|i| {
            row(
                i % 4,
                f64::from((i % 3 == 0) as u8),
                0.25,
                Some(1 + (i % 2) as u32),
            )
        })
        .collect();
    let mean = rows.iter().map(|r| r.reward).sum::<f64>() / 40.0;
    let target = TargetPolicy::same_for_all(vec![0.25; 4], 40).expect("target");
    let r = evaluate(&rows, &target, &no_bootstrap()).expect("ope");
    for e in Estimator::ALL {
        assert!((value(&r, e) - mean).abs() < 1e-12, "{e:?}");
    }
    assert!(r.model_by_position);
    assert_eq!(r.overlap.effective_sample_size, 40.0);
}

#[test]
fn the_reward_model_falls_back_from_an_empty_cell_to_its_arm() {
    // Arm 1 never logged at position 2: its cell takes arm 1's mean, not 0.
    let rows = vec![
        row(0, 0.0, 0.5, Some(1)),
        row(0, 0.0, 0.5, Some(2)),
        row(1, 1.0, 0.5, Some(1)),
    ];
    let target = TargetPolicy::grouped(2, vec![vec![0.0, 1.0]], vec![0; 3]).expect("t");
    let r = evaluate(&rows, &target, &no_bootstrap()).expect("ope");
    assert!((value(&r, Estimator::Dm) - 1.0).abs() < 1e-12);
}

#[test]
fn a_fixed_zero_threshold_makes_switch_dr_the_direct_method() {
    let rows: Vec<LoggedRow> = (0..30)
        .map(|i| row(i % 3, f64::from((i % 4 == 0) as u8), 1.0 / 3.0, None))
        .collect();
    let target = TargetPolicy::same_for_all(vec![0.6, 0.3, 0.1], 30).expect("target");
    let opts = OpeOptions {
        switch_tau: SwitchTau::Fixed(0.0),
        ..no_bootstrap()
    };
    let r = evaluate(&rows, &target, &opts).expect("ope");
    assert!((value(&r, Estimator::SwitchDr) - value(&r, Estimator::Dm)).abs() < 1e-12);
    assert_eq!(r.switched_rows, 30);
    let inf = OpeOptions {
        switch_tau: SwitchTau::Fixed(f64::INFINITY),
        ..no_bootstrap()
    };
    let r = evaluate(&rows, &target, &inf).expect("ope");
    assert!((value(&r, Estimator::SwitchDr) - value(&r, Estimator::Dr)).abs() < 1e-12);
}

#[test]
fn bootstrap_intervals_are_seeded_and_bracket_the_estimate() {
    let rows: Vec<LoggedRow> = (0..200)
        .map(|i| row(i % 2, f64::from((i * 7 % 10 < 3) as u8), 0.5, None))
        .collect();
    let target = TargetPolicy::same_for_all(vec![0.3, 0.7], 200).expect("target");
    let opts = OpeOptions {
        resamples: 200,
        ..OpeOptions::default()
    };
    let a = evaluate(&rows, &target, &opts).expect("ope");
    let b = evaluate(&rows, &target, &opts).expect("ope");
    assert_eq!(a, b, "same seed, same intervals");
    for e in &a.estimates {
        let (lo, hi) = (e.low.expect("low"), e.high.expect("high"));
        assert!(lo < e.value && e.value < hi, "{e:?}");
    }
    let c = evaluate(&rows, &target, &OpeOptions { seed: 2, ..opts }).expect("ope");
    assert_ne!(a.estimates[0].low, c.estimates[0].low);
}

#[test]
fn each_resample_refits_the_reward_model() {
    // A context-free target on rows without positions: DM is Σ_a π(a) q̂(a), which only
    // moves between resamples if q̂ is refitted on each (a model fitted once would give an
    // interval of zero width).
    let rows: Vec<LoggedRow> = (0..100)
        .map(|i| row(i % 2, f64::from((i * 3 % 7 < 2) as u8), 0.5, None))
        .collect();
    let target = TargetPolicy::same_for_all(vec![0.9, 0.1], 100).expect("target");
    let opts = OpeOptions {
        resamples: 100,
        ..OpeOptions::default()
    };
    let r = evaluate(&rows, &target, &opts).expect("ope");
    let dm = r.estimate(Estimator::Dm).expect("dm");
    assert!(
        dm.high.expect("high") - dm.low.expect("low") > 0.05,
        "{dm:?}"
    );
}

#[test]
fn bad_inputs_are_named() {
    let target = TargetPolicy::same_for_all(vec![0.5, 0.5], 1).expect("target");
    let e = evaluate(&[row(2, 0.0, 0.5, None)], &target, &no_bootstrap()).unwrap_err();
    assert!(matches!(e, OpeError::BadRow { row: 0, .. }), "{e}");
    let e = evaluate(&[row(0, 0.0, 0.0, None)], &target, &no_bootstrap()).unwrap_err();
    assert!(e.to_string().contains("propensity"), "{e}");
    assert!(TargetPolicy::same_for_all(vec![0.5, 0.6], 1).is_err());
    assert!(TargetPolicy::same_for_all(vec![1.5, -0.5], 1).is_err());
    let e = evaluate(&[], &target, &no_bootstrap()).unwrap_err();
    assert_eq!(e, OpeError::NoRows);
}
