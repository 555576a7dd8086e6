use super::*;
use crate::domain::{EventEffect, StandardKind, UnitTotals};
use crate::stats::ab::{ab_report, ArmInput, Options};
use crate::stats::metrics::{arm_estimate, cuped};
use crate::stats::roi::roi_vs_control;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};

/// A uniform draw in [0, 1).
fn unif(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` units of an arm through the rollup arithmetic ingest uses: a covariate, exposures,
/// clicks, carts and purchases with revenue and cost, all depending on `base`.
fn arm(rng: &mut Xoshiro256PlusPlus, n: usize, base: f64) -> ArmRollup {
    let mut r = ArmRollup::default();
    for _ in 0..n {
        let x = 10.0 * unif(rng);
        r += ArmRollup::assigned(Some(x));
        let mut t = UnitTotals {
            x: Some(x),
            ..UnitTotals::default()
        };
        let mut push = |kind, value: f64, cost: f64, t: &mut UnitTotals| {
            let e = EventEffect {
                kind: Some(kind),
                value,
                cost,
                ts: 0,
            };
            r += ArmRollup::event_delta(t, &e);
            *t = t.after(&e);
        };
        for _ in 0..1 + (3.0 * unif(rng)) as usize {
            push(StandardKind::Exposure, 0.0, 0.0, &mut t);
            if unif(rng) < base + 0.02 * x {
                push(StandardKind::Click, 0.0, 0.0, &mut t);
            }
        }
        if unif(rng) < base {
            push(StandardKind::AddToCart, 0.0, 0.0, &mut t);
        }
        for _ in 0..2 {
            if unif(rng) < base + 0.01 * x {
                let value = 20.0 + 4.0 * x + 30.0 * unif(rng);
                let cost = 2.0 + 8.0 * unif(rng);
                push(StandardKind::Purchase, value, cost, &mut t);
            }
        }
    }
    r
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

fn same(a: Option<ArmEstimate>, b: Option<ArmEstimate>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a.value, b.value) && close(a.variance, b.variance),
        (None, None) => true,
        _ => false,
    }
}

fn inputs(rollups: &[ArmRollup]) -> Vec<ArmInput> {
    rollups
        .iter()
        .enumerate()
        .map(|(i, r)| ArmInput {
            key: format!("arm{i}"),
            weight: 1.0 / rollups.len() as f64,
            rollup: r.clone(),
        })
        .collect()
}

fn period(period: i64, weights: &[f64], arms: Vec<ArmRollup>) -> PeriodArms {
    PeriodArms {
        period,
        weights: weights.to_vec(),
        arms,
    }
}

#[test]
fn one_period_is_the_pooled_estimate_for_every_metric_cuped_and_roi() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let rollups = vec![
        arm(&mut rng, 400, 0.10),
        arm(&mut rng, 300, 0.14),
        arm(&mut rng, 250, 0.08),
    ];
    let strata = Strata::new(&[period(1, &[0.4, 0.3, 0.3], rollups.clone())], 3).expect("ok");
    let pooled = inputs(&rollups);
    for metric in Metric::ALL {
        let want: Vec<_> = rollups
            .iter()
            .map(|r| arm_estimate(&metric_stats(metric, r)))
            .collect();
        let got = strata.estimates(metric);
        assert!(want.iter().all(Option::is_some), "{metric:?}");
        for (w, g) in want.iter().zip(&got) {
            assert!(same(*w, *g), "{metric:?}: {w:?} vs {g:?}");
        }
        let fit = cuped(metric, &pooled).expect("pooled CUPED");
        let strat = strata.cuped(metric).expect("stratified CUPED");
        assert!(close(fit.theta, strat.theta), "{metric:?} theta");
        assert!(close(fit.variance_reduction, strat.variance_reduction));
        for (w, g) in fit.estimates.iter().zip(&strat.estimates) {
            assert!(same(*w, *g), "{metric:?} CUPED: {w:?} vs {g:?}");
        }
    }
    for t in 1..3 {
        let want = roi_vs_control(&rollups[0], &rollups[t], 0.05).expect("roi");
        let got = strata.roi(0, t, 0.05).expect("roi");
        assert!(
            close(want.roi, got.roi) && close(want.se, got.se),
            "{want:?} {got:?}"
        );
        assert!(close(want.ci.low, got.ci.low) && close(want.ci.high, got.ci.high));
    }
}

#[test]
fn periods_with_equal_weights_merge_into_one_stratum() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(8);
    let a: Vec<ArmRollup> = (0..2).map(|_| arm(&mut rng, 50, 0.1)).collect();
    let b: Vec<ArmRollup> = (0..2).map(|_| arm(&mut rng, 70, 0.2)).collect();
    // Unnormalised weights are normalised before they are compared.
    let strata = Strata::new(
        &[
            period(1, &[1.0, 1.0], a.clone()),
            period(2, &[0.5, 0.5], b.clone()),
        ],
        2,
    )
    .expect("ok");
    assert_eq!((strata.summary().periods, strata.summary().strata), (2, 1));
    let merged: Vec<ArmRollup> = a
        .iter()
        .zip(&b)
        .map(|(a, b)| {
            let mut m = a.clone();
            m += b.clone();
            m
        })
        .collect();
    let one = Strata::new(&[period(1, &[0.5, 0.5], merged)], 2).expect("ok");
    for metric in Metric::ALL {
        for (x, y) in strata.estimates(metric).iter().zip(&one.estimates(metric)) {
            assert!(same(*x, *y), "{metric:?}");
        }
    }
}

#[test]
fn a_period_with_an_arm_below_two_units_is_left_out_for_every_arm() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(9);
    let full: Vec<ArmRollup> = (0..2).map(|_| arm(&mut rng, 60, 0.1)).collect();
    let thin = vec![arm(&mut rng, 40, 0.3), arm(&mut rng, 1, 0.3)];
    let empty = vec![ArmRollup::default(), ArmRollup::default()];
    let strata = Strata::new(
        &[
            period(1, &[0.5, 0.5], full.clone()),
            period(2, &[0.99, 0.01], thin),
            period(3, &[0.2, 0.8], empty),
        ],
        2,
    )
    .expect("ok");
    let s = strata.summary();
    assert_eq!((s.periods, s.strata, s.strata_used), (2, 2, 1));
    assert_eq!((s.units_left_out, s.units_used), (41, 120));
    assert_eq!(s.periods_left_out, vec![2]);
    // The estimate is that of the kept period alone (its weight renormalised to 1).
    let alone = Strata::new(&[period(1, &[0.5, 0.5], full)], 2).expect("ok");
    for metric in Metric::ALL {
        for (x, y) in strata
            .estimates(metric)
            .iter()
            .zip(&alone.estimates(metric))
        {
            assert!(same(*x, *y), "{metric:?}");
        }
    }
    // SRM still counts every unit against every period's weights.
    assert_eq!(strata.observed_units(), &[100, 61]);
    let e = &s.srm_expected_units;
    assert!(close(e[0], 60.0 + 41.0 * 0.99) && close(e[1], 60.0 + 41.0 * 0.01));
}

#[test]
fn nothing_to_stratify_gives_no_estimate_not_nan() {
    let strata = Strata::new(&[], 2).expect("ok");
    assert_eq!(strata.summary().strata_used, 0);
    for metric in Metric::ALL {
        assert_eq!(strata.estimates(metric), vec![None, None]);
        assert_eq!(strata.cuped(metric), None);
    }
    assert_eq!(strata.roi(0, 1, 0.05), None);
    assert_eq!(strata.srm().p_value, None);
    // An AOV arm without any order has no ratio; the other arm still has one.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(10);
    let no_orders = ArmRollup {
        units: 5,
        ..ArmRollup::default()
    };
    let strata = Strata::new(
        &[period(
            1,
            &[0.5, 0.5],
            vec![no_orders, arm(&mut rng, 50, 0.3)],
        )],
        2,
    )
    .expect("ok");
    let aov = strata.estimates(Metric::Aov);
    assert!(aov[0].is_none() && aov[1].is_some());
}

#[test]
fn periods_that_do_not_match_the_campaign_are_refused() {
    let two = vec![ArmRollup::default(), ArmRollup::default()];
    let err = |p: PeriodArms| Strata::new(&[p], 2).err();
    assert_eq!(
        err(period(4, &[0.5, 0.5], vec![ArmRollup::default()])),
        Some(StratifyError::ArmCount {
            period: 4,
            got: 1,
            arms: 2
        })
    );
    assert_eq!(
        err(period(5, &[1.0], two.clone())),
        Some(StratifyError::WeightCount {
            period: 5,
            got: 1,
            arms: 2
        })
    );
    for bad in [[0.0, 0.0], [-0.5, 1.5], [f64::NAN, 1.0]] {
        assert_eq!(
            err(period(6, &bad, two.clone())),
            Some(StratifyError::BadWeights { period: 6 })
        );
    }
}

#[test]
fn the_report_states_its_periods_and_takes_its_comparisons_from_the_strata() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let p1 = vec![arm(&mut rng, 500, 0.05), arm(&mut rng, 500, 0.05)];
    let p2 = vec![arm(&mut rng, 100, 0.20), arm(&mut rng, 900, 0.20)];
    let periods = [
        period(1, &[0.5, 0.5], p1.clone()),
        period(2, &[0.1, 0.9], p2.clone()),
    ];
    let strata = Strata::new(&periods, 2).expect("ok");
    let pooled: Vec<ArmRollup> = p1
        .iter()
        .zip(&p2)
        .map(|(a, b)| {
            let mut m = a.clone();
            m += b.clone();
            m
        })
        .collect();
    let arms = inputs(&pooled);
    let opts = Options::default();
    let r = ab_report_stratified("k", Some("arm0"), Metric::Conversion, &arms, &strata, &opts);
    assert!(r.notes[0].starts_with("stratified by 2 allocation periods"));
    assert!(r.notes.iter().any(|n| n.contains("Beta posterior")));
    assert_eq!(r.stratified.as_ref().map(|s| s.strata_used), Some(2));
    let est = strata.estimates(Metric::Conversion);
    let (c, t) = (est[0].expect("c"), est[1].expect("t"));
    assert_eq!(r.arms[0].rate, Some(c.value));
    assert_eq!(r.arms[1].abs_diff, Some(t.value - c.value));
    let se = (c.variance + t.variance).sqrt();
    let low = r.arms[1].abs_ci_low.expect("interval");
    assert!(close(t.value - c.value - low, 1.959963984540054 * se));
    assert_eq!(
        r.arms[1].bayes_model,
        Some(crate::stats::ab::BayesModel::Gaussian)
    );
    // Guardrails read the stratified estimates of their own metric.
    let mut g = r.clone();
    add_guardrails_stratified(&mut g, &[Metric::Profit], &arms, &strata, (0.0, 0.05));
    let profit = strata.estimates(Metric::Profit);
    let (pc, pt) = (profit[0].expect("c"), profit[1].expect("t"));
    assert_eq!(g.guardrails.len(), 1);
    assert_eq!(g.guardrails[0].rel_lift, Some(pt.value / pc.value - 1.0));
    // The pooled report on the same units reads a different (biased) difference.
    let p = ab_report("k", Some("arm0"), Metric::Conversion, &arms, &opts);
    assert!(p.stratified.is_none() && p.arms[1].abs_diff != r.arms[1].abs_diff);
    // A report over other arms than the strata's says so and compares nothing.
    let r = ab_report_stratified(
        "k",
        Some("arm0"),
        Metric::Revenue,
        &arms[..1],
        &strata,
        &opts,
    );
    assert!(r.notes.iter().any(|n| n.contains("no stratified estimate")));
}
