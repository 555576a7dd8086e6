//! Gradient check and the unpenalised fit against statsmodels (fixtures/golden/model_eval.json).

use super::*;

fn golden_lr() -> (Rows, Vec<f64>, Vec<f64>, f64) {
    let g: serde_json::Value =
        serde_json::from_str(include_str!("../../fixtures/golden/model_eval.json"))
            .expect("golden json");
    let lr = &g["lr"];
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|f| f.as_f64().expect("number"))
            .collect()
    };
    let rows: Vec<Vec<f64>> = lr["x"].as_array().expect("x").iter().map(floats).collect();
    let mut x = Rows::new(rows[0].len());
    for r in &rows {
        x.push(r);
    }
    (
        x,
        floats(&lr["y"]),
        floats(&lr["weights"]),
        lr["bias"].as_f64().expect("bias"),
    )
}

#[test]
fn objective_gradient_matches_finite_differences() {
    let (x, y, _, _) = golden_lr();
    let model = Logistic {
        weights: vec![0.4, -0.3, 0.2, 0.1],
        bias: -0.5,
    };
    let l2 = 0.05;
    let (_, grad) = objective_gradient(&model, &x, &y, l2);
    let h = 1e-6;
    for (k, g) in grad.iter().enumerate() {
        let (mut up, mut down) = (model.clone(), model.clone());
        if k < 4 {
            up.weights[k] += h;
            down.weights[k] -= h;
        } else {
            up.bias += h;
            down.bias -= h;
        }
        let numeric = (objective_gradient(&up, &x, &y, l2).0
            - objective_gradient(&down, &x, &y, l2).0)
            / (2.0 * h);
        assert!(
            (numeric - g).abs() < 1e-7 * (1.0 + g.abs()),
            "parameter {k}: analytic {g} vs numeric {numeric}"
        );
    }
}

#[test]
fn newton_without_penalty_matches_statsmodels() {
    let (x, y, want, bias) = golden_lr();
    let model = fit_newton(&x, &y, 0.0, 50).expect("converged");
    for (w, r) in model.weights.iter().zip(&want) {
        assert!(
            (w - r).abs() < 1e-4,
            "weights {:?} vs {want:?}",
            model.weights
        );
    }
    assert!(
        (model.bias - bias).abs() < 1e-4,
        "bias {} vs {bias}",
        model.bias
    );
    // At the optimum the gradient vanishes.
    let (_, grad) = objective_gradient(&model, &x, &y, 0.0);
    assert!(grad.iter().all(|g| g.abs() < 1e-9), "{grad:?}");
}

#[test]
fn full_batch_adam_without_penalty_reaches_the_same_optimum() {
    let (x, y, want, bias) = golden_lr();
    let opts = TrainOptions {
        learning_rate: 0.05,
        l2: 0.0,
        epochs: 3000,
        batch: usize::MAX,
        seed: 1,
    };
    let model = fit(&x, &y, &opts, &mut |_, _| true).expect("trained");
    for (w, r) in model.weights.iter().zip(&want) {
        assert!(
            (w - r).abs() < 1e-4,
            "weights {:?} vs {want:?}",
            model.weights
        );
    }
    assert!(
        (model.bias - bias).abs() < 1e-4,
        "bias {} vs {bias}",
        model.bias
    );
}

#[test]
fn newton_refuses_separable_data() {
    let mut x = Rows::new(1);
    for v in [-2.0, -1.0, 1.0, 2.0] {
        x.push(&[v]);
    }
    assert!(fit_newton(&x, &[0.0, 0.0, 1.0, 1.0], 0.0, 100).is_none());
    // A penalty gives it a finite optimum again.
    assert!(fit_newton(&x, &[0.0, 0.0, 1.0, 1.0], 0.1, 100).is_some());
}

#[test]
fn mini_batch_sgd_with_l2_approaches_the_newton_optimum() {
    let (x, y, _, _) = golden_lr();
    let l2 = 0.01;
    let exact = fit_newton(&x, &y, l2, 50).expect("converged");
    let opts = TrainOptions {
        learning_rate: 0.5,
        l2,
        epochs: 300,
        batch: 32,
        seed: 3,
    };
    let sgd = fit_with(&x, &y, &opts, Optimizer::Sgd, &mut |_, _| true).expect("trained");
    let gap = sgd
        .weights
        .iter()
        .zip(&exact.weights)
        .map(|(a, b)| (a - b).abs())
        .fold((sgd.bias - exact.bias).abs(), f64::max);
    assert!(gap < 2e-3, "sgd {sgd:?} vs newton {exact:?}");
    // Adam stays the default and is not the same path.
    let adam = fit(&x, &y, &opts, &mut |_, _| true).expect("trained");
    assert_eq!(
        adam,
        fit_with(&x, &y, &opts, Optimizer::default(), &mut |_, _| true).expect("trained")
    );
    assert_ne!(adam, sgd);
}
