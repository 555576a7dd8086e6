//! `causal::uplift`: the Qini curve, Qini coefficient and AUUC match CausalML 0.18's
//! `get_qini`/`qini_score`/`get_cumgain`/`auuc_score`, and the T- and X-learners match
//! sklearn-based learners with the same base models (fixtures/golden/uplift_qini.json, made by
//! uplift_qini.py). A seeded simulation: the Qini coefficient is clearly positive when the
//! effect differs between units and centred on zero when it is the same for everyone.

use crate::common::fixture;
use liftdeck::causal::uplift::{
    self, evaluate, qini, LearnerKind, LearnerOptions, Outcome, Scored, UpliftError,
};
use liftdeck::model::logistic::Rows;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn golden() -> Value {
    let text = std::fs::read_to_string(fixture("golden/uplift_qini.json")).expect("golden");
    serde_json::from_str(&text).expect("json")
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{i}]: {x} vs {y}");
    }
}

fn golden_units(e: &Value) -> Vec<Scored> {
    let (y, s) = (floats(&e["y"]), floats(&e["score"]));
    let w = floats(&e["w"]);
    (0..y.len())
        .map(|i| Scored {
            score: s[i],
            treated: w[i] > 0.5,
            outcome: y[i],
        })
        .collect()
}

#[test]
fn qini_and_auuc_match_causalml() {
    let g = golden();
    let e = &g["evaluation"];
    let units = golden_units(e);
    let curve = qini::qini_curve(&units);
    close(&curve, &floats(&e["qini_curve"]), 1e-9, "qini curve");
    close(
        &qini::gain_curve(&units),
        &floats(&e["gain_curve"]),
        1e-9,
        "gain",
    );
    let q = qini::qini_coefficient(&curve).expect("defined");
    let want = e["qini_score"].as_f64().expect("score");
    assert!((q - want).abs() < 1e-6, "qini {q} vs {want}");
    let a = qini::auuc(&qini::gain_curve(&units)).expect("defined");
    let want = e["auuc_score"].as_f64().expect("auuc");
    assert!((a - want).abs() < 1e-6, "auuc {a} vs {want}");
    // The chart points lie on CausalML's normalised curve.
    let norm = floats(&e["qini_curve_normalised"]);
    let pts = qini::chart_points(&curve, 40);
    assert!(pts.len() > 20 && pts.len() <= 41);
    let n = (norm.len() - 1) as f64;
    for (share, v) in pts {
        let k = (share * n).round() as usize;
        assert!((v - norm[k]).abs() < 1e-9);
    }
}

fn learner_data(g: &Value) -> (Rows, Vec<bool>, Vec<f64>) {
    let l = &g["learners"];
    let mut x = Rows::new(2);
    for row in l["x"].as_array().expect("rows") {
        x.push(&floats(row));
    }
    let t = floats(&l["t"]).iter().map(|v| *v > 0.5).collect();
    (x, t, floats(&l["y"]))
}

#[test]
fn t_and_x_learners_match_sklearn() {
    let g = golden();
    let (x, t, y) = learner_data(&g);
    let propensity = g["learners"]["propensity"].as_f64().expect("g");
    for (kind, key) in [(LearnerKind::T, "t_learner"), (LearnerKind::X, "x_learner")] {
        let opts = LearnerOptions {
            kind,
            l2: 0.0,
            propensity,
        };
        let model = uplift::fit(&x, &t, &y, &opts).expect("fits");
        let got: Vec<f64> = (0..x.len()).map(|i| model.predict(x.row(i))).collect();
        close(&got, &floats(&g["learners"][key]), 1e-5, key);
    }
}

#[test]
fn an_arm_without_conversions_is_refused() {
    let g = golden();
    let (x, t, mut y) = learner_data(&g);
    for (yi, ti) in y.iter_mut().zip(&t) {
        if !*ti {
            *yi = 0.0;
        }
    }
    let opts = LearnerOptions {
        kind: LearnerKind::T,
        l2: 0.0,
        propensity: 0.5,
    };
    assert_eq!(
        uplift::fit(&x, &t, &y, &opts).err(),
        Some(UpliftError::NoConversions("control"))
    );
}

/// Trains a T-learner on 2,000 simulated units and returns the held-out Qini coefficient.
fn simulated_qini(seed: u64, heterogeneous: bool) -> f64 {
    let mut rng = Prng::seed_from_u64(seed);
    let draw = |rng: &mut Prng, n: usize| {
        let mut x = Rows::new(2);
        let (mut t, mut y) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let (a, b) = (
                rng.random::<f64>() * 2.0 - 1.0,
                rng.random::<f64>() * 2.0 - 1.0,
            );
            let treated = rng.random::<f64>() < 0.5;
            // Heterogeneous: the offer helps units with a > 0 and hurts the others;
            // constant: +8 points for everyone.
            let effect = if heterogeneous { 0.25 * a } else { 0.08 };
            let p = 0.3 + 0.1 * b + if treated { effect } else { 0.0 };
            x.push(&[a, b]);
            t.push(treated);
            y.push(if rng.random::<f64>() < p { 1.0 } else { 0.0 });
        }
        (x, t, y)
    };
    let (x, t, y) = draw(&mut rng, 2_000);
    let opts = LearnerOptions {
        kind: LearnerKind::T,
        l2: 0.0,
        propensity: 0.5,
    };
    let model = uplift::fit(&x, &t, &y, &opts).expect("fits");
    let (hx, ht, hy) = draw(&mut rng, 2_000);
    let held: Vec<Outcome> = (0..hx.len())
        .map(|i| Outcome {
            score: model.predict(hx.row(i)),
            treated: ht[i],
            converted: hy[i] > 0.5,
            revenue: 0.0,
            cost: 0.0,
        })
        .collect();
    evaluate(&held, 0.8).qini_coefficient.expect("defined")
}

#[test]
fn qini_is_positive_for_a_heterogeneous_effect_and_near_zero_for_a_constant_one() {
    let seeds = 0..12u64;
    let het: Vec<f64> = seeds.clone().map(|s| simulated_qini(s, true)).collect();
    let flat: Vec<f64> = seeds.map(|s| simulated_qini(100 + s, false)).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    };
    assert!(het.iter().all(|q| *q > 0.1), "heterogeneous: {het:?}");
    // A constant effect: the spread over seeds covers 0 (mean within 2 standard errors).
    let se = sd(&flat) / (flat.len() as f64).sqrt();
    assert!(mean(&flat).abs() < 2.0 * se + 0.02, "constant: {flat:?}");
    assert!(mean(&het) > mean(&flat) + 0.1);
}
