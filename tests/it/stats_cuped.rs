//! CUPED for every metric: reference values from statsmodels OLS (means, proportions) and an
//! independent numpy linearisation (ratios) in `fixtures/golden/cuped.json`; each metric's
//! rollup sums reach the estimator unchanged; and a simulation shows the ratio adjustment
//! reduces variance without moving the estimate.

use crate::common::fixture;
use crate::verify_support::{per_unit, rollup_of, Unit};
use liftdeck::stats::ab::{ab_report, ArmInput, Metric, Options};
use liftdeck::stats::cuped::{fit, CupedSums};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-6 * expected.abs().max(1e-6),
        "{what}: {actual} vs {expected}"
    );
}

#[test]
fn cuped_matches_statsmodels_ols_and_the_numpy_linearisation() {
    let text = std::fs::read_to_string(fixture("golden/cuped.json")).expect("golden");
    let golden: Value = serde_json::from_str(&text).expect("json");
    let cases = golden["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 8);
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let num = |v: &Value, k: &str| v[k].as_f64().unwrap_or_else(|| panic!("{name}: {k}"));
        let arms: Vec<CupedSums> = case["arms"]
            .as_array()
            .expect("arms")
            .iter()
            .map(|a| CupedSums {
                n: num(a, "n"),
                sum_y: num(a, "sum_y"),
                sum_y_sq: num(a, "sum_y_sq"),
                sum_d: num(a, "sum_d"),
                sum_d_sq: num(a, "sum_d_sq"),
                sum_yd: num(a, "sum_yd"),
                sum_x: num(a, "sum_x"),
                sum_x_sq: num(a, "sum_x_sq"),
                sum_xy: num(a, "sum_xy"),
                sum_xd: num(a, "sum_xd"),
            })
            .collect();
        let got = fit(&arms).unwrap_or_else(|| panic!("{name}: no fit"));
        close(got.theta, num(case, "theta"), &format!("{name} theta"));
        close(
            got.variance_reduction,
            num(case, "variance_reduction"),
            &format!("{name} variance_reduction"),
        );
        for (i, (e, g)) in case["estimates"]
            .as_array()
            .expect("estimates")
            .iter()
            .zip(&got.estimates)
            .enumerate()
        {
            let g = g.unwrap_or_else(|| panic!("{name}: arm {i} has no estimate"));
            close(g.value, num(e, "value"), &format!("{name} arm {i} value"));
            close(
                g.variance,
                num(e, "variance"),
                &format!("{name} arm {i} variance"),
            );
        }
    }
}

fn sums_of(metric: Metric, units: &[Unit]) -> CupedSums {
    let mut s = CupedSums::default();
    for u in units {
        let (y, d) = per_unit(metric, u);
        s.n += 1.0;
        s.sum_y += y;
        s.sum_y_sq += y * y;
        s.sum_d += d;
        s.sum_d_sq += d * d;
        s.sum_yd += y * d;
        s.sum_x += u.x;
        s.sum_x_sq += u.x * u.x;
        s.sum_xy += u.x * y;
        s.sum_xd += u.x * d;
    }
    s
}

/// Shoppers whose pre-period spend x ~ U(0, 40) drives exposures, orders and basket size:
/// orders ~ Binomial(2, 0.1 + 0.01x), revenue = orders·(20 + 0.9x)·lift + noise per order.
/// Then E[orders] = 0.6 and E[orders·x] = 44/3, so the true AOV is lift·(20 + 0.9·(44/3)/0.6)
/// = 42·lift exactly.
fn shopper(rng: &mut StdRng, lift: f64) -> Unit {
    let x = 40.0 * rng.random::<f64>();
    let q = 0.1 + 0.01 * x;
    let orders = (0..2).filter(|_| rng.random::<f64>() < q).count() as f64;
    let noise: f64 = (0..orders as usize)
        .map(|_| 12.0 * (rng.random::<f64>() - 0.5) * 3f64.sqrt())
        .sum();
    let revenue = orders * (20.0 + 0.9 * x) * lift + noise;
    let exposures = 1.0 + (0..4).filter(|_| rng.random::<f64>() < x / 40.0).count() as f64;
    let clicks = (0..exposures as usize)
        .filter(|_| rng.random::<f64>() < 0.05 + 0.005 * x)
        .count() as f64;
    Unit {
        x,
        exposures,
        clicks,
        cart: orders > 0.0 || rng.random::<f64>() < 0.05,
        orders,
        revenue: revenue.max(0.0),
        cost: 0.1 * revenue.max(0.0),
    }
}

#[test]
fn every_metric_reaches_cuped_with_the_sums_of_its_definition() {
    let mut rng = StdRng::seed_from_u64(7);
    let arms: Vec<Vec<Unit>> = [1.0, 1.05, 0.98]
        .iter()
        .map(|&lift| (0..1500).map(|_| shopper(&mut rng, lift)).collect())
        .collect();
    let inputs: Vec<ArmInput> = arms
        .iter()
        .enumerate()
        .map(|(i, u)| ArmInput {
            key: if i == 0 {
                "control".into()
            } else {
                format!("t{i}")
            },
            weight: 1.0,
            rollup: rollup_of(u),
        })
        .collect();
    let opts = Options {
        cuped: true,
        ..Options::default()
    };
    for metric in Metric::ALL {
        let report = ab_report("c", Some("control"), metric, &inputs, &opts);
        let cuped = report
            .cuped
            .as_ref()
            .unwrap_or_else(|| panic!("{}: CUPED not applied", metric.name()));
        let sums: Vec<CupedSums> = arms.iter().map(|u| sums_of(metric, u)).collect();
        let direct = fit(&sums).expect("fit");
        let what = metric.name();
        close(cuped.theta, direct.theta, what);
        close(cuped.variance_reduction, direct.variance_reduction, what);
        let expected_method = match metric {
            Metric::Ctr | Metric::Aov => "linearised_ratio",
            _ => "regression",
        };
        assert_eq!(cuped.method, expected_method, "{what}");
        assert!(cuped.variance_reduction > 0.0, "{what}: {cuped:?}");
        for i in 1..3 {
            let (c, t) = (
                direct.estimates[0].expect("c"),
                direct.estimates[i].expect("t"),
            );
            close(
                report.arms[i].abs_diff.expect("abs_diff"),
                t.value - c.value,
                what,
            );
        }
    }
}

#[test]
fn ratio_cuped_reduces_variance_and_does_not_bias_the_effect() {
    let mut rng = StdRng::seed_from_u64(2026);
    let true_effect = 42.0 * 0.05;
    let opts = Options {
        cuped: true,
        ..Options::default()
    };
    let (mut raw, mut adj, mut reductions) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..400 {
        let inputs: Vec<ArmInput> = [("control", 1.0), ("t", 1.05)]
            .iter()
            .map(|&(key, lift)| {
                let units: Vec<Unit> = (0..1000).map(|_| shopper(&mut rng, lift)).collect();
                ArmInput {
                    key: key.into(),
                    weight: 1.0,
                    rollup: rollup_of(&units),
                }
            })
            .collect();
        let plain = ab_report(
            "c",
            Some("control"),
            Metric::Aov,
            &inputs,
            &Options::default(),
        );
        let cu = ab_report("c", Some("control"), Metric::Aov, &inputs, &opts);
        raw.push(plain.arms[1].abs_diff.expect("raw diff"));
        adj.push(cu.arms[1].abs_diff.expect("adjusted diff"));
        reductions.push(cu.cuped.expect("cuped").variance_reduction);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    // The reported reduction predicts the one observed across experiments.
    let observed = 1.0 - var(&adj) / var(&raw);
    assert!(observed > 0.3, "observed reduction {observed}");
    assert!(
        (mean(&reductions) - observed).abs() < 0.1,
        "reported {} vs observed {observed}",
        mean(&reductions)
    );
    // Unbiased: within 4 Monte Carlo standard errors of the true effect.
    let se = (var(&adj) / adj.len() as f64).sqrt();
    assert!(
        (mean(&adj) - true_effect).abs() < 4.0 * se,
        "mean {} vs {true_effect}, se {se}",
        mean(&adj)
    );
}
