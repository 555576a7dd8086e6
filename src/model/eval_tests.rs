//! The metrics against scikit-learn and numpy on fixtures/golden/model_eval.json.

use super::*;

struct Golden {
    g: serde_json::Value,
    y: Vec<f64>,
    p: Vec<f64>,
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|f| f.as_f64().expect("number"))
        .collect()
}

fn golden() -> Golden {
    let all: serde_json::Value =
        serde_json::from_str(include_str!("../../fixtures/golden/model_eval.json"))
            .expect("golden json");
    let g = all["eval"].clone();
    Golden {
        y: floats(&g["y"]),
        p: floats(&g["p"]),
        g,
    }
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: {got} vs {want}");
}

#[test]
fn point_metrics_match_scikit_learn() {
    let Golden { g, y, p } = golden();
    let e = evaluate(&y, &p, &EvalOptions::default());
    close(
        e.auc.expect("auc"),
        g["auc"].as_f64().expect("auc"),
        1e-12,
        "auc",
    );
    close(
        e.log_loss,
        g["log_loss"].as_f64().expect("ll"),
        1e-12,
        "log loss",
    );
    close(
        e.normalised_entropy,
        g["normalised_entropy"].as_f64().expect("ne"),
        1e-12,
        "normalised entropy",
    );
    close(e.brier, g["brier"].as_f64().expect("brier"), 1e-12, "brier");
    assert_eq!(e.rows, y.len());
    assert!(e.normalised_entropy < 1.0);
}

#[test]
fn reliability_bins_and_ece_match_calibration_curve() {
    let Golden { g, y, p } = golden();
    let n_bins = g["n_bins"].as_u64().expect("bins") as usize;
    let bins = reliability_bins(&y, &p, n_bins);
    let counts: Vec<usize> = bins.iter().map(|b| b.count).collect();
    let want_counts: Vec<usize> = floats(&g["bin_counts"])
        .iter()
        .map(|c| *c as usize)
        .collect();
    assert_eq!(counts, want_counts);
    let index: Vec<f64> = bins.iter().map(|b| b.lower * n_bins as f64).collect();
    for (i, w) in index.iter().zip(floats(&g["bin_index"])) {
        close(*i, w, 1e-9, "bin index");
    }
    for ((b, t), q) in bins
        .iter()
        .zip(floats(&g["prob_true"]))
        .zip(floats(&g["prob_pred"]))
    {
        close(b.observed_rate, t, 1e-12, "observed rate");
        close(b.mean_predicted, q, 1e-12, "mean predicted");
    }
    let ece = expected_calibration_error(&bins);
    close(ece, g["ece"].as_f64().expect("ece"), 1e-12, "ece");
    assert!(
        ece > 0.01,
        "the golden predictions are miscalibrated on purpose"
    );
}

#[test]
fn bootstrap_interval_agrees_with_numpy_and_repeats_for_a_seed() {
    let Golden { g, y, p } = golden();
    let a = auc_bootstrap(&p, &y, 2000, 0.95, 7).expect("interval");
    // numpy used its own generator and 20,000 resamples: the endpoints agree to Monte Carlo
    // error (about 0.002 here), not exactly.
    close(
        a.lo,
        g["bootstrap_lo"].as_f64().expect("lo"),
        0.01,
        "lower end",
    );
    close(
        a.hi,
        g["bootstrap_hi"].as_f64().expect("hi"),
        0.01,
        "upper end",
    );
    assert!(a.lo < a.auc && a.auc < a.hi);
    assert_eq!(a.resamples, 2000);
    assert_eq!(auc_bootstrap(&p, &y, 2000, 0.95, 7), Some(a));
    assert_ne!(auc_bootstrap(&p, &y, 2000, 0.95, 8), Some(a));
    // A wider level gives a wider interval.
    let wide = auc_bootstrap(&p, &y, 2000, 0.99, 7).expect("interval");
    assert!(wide.lo <= a.lo && wide.hi >= a.hi);
}

#[test]
fn bootstrap_resample_auc_counts_ties_like_the_point_auc() {
    // All scores tied: every resample with both classes has AUC exactly one half.
    let y = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
    let p = [0.3; 6];
    let a = auc_bootstrap(&p, &y, 200, 0.9, 1).expect("interval");
    assert_eq!((a.auc, a.lo, a.hi), (0.5, 0.5, 0.5));
}

#[test]
fn degenerate_inputs_give_no_number_rather_than_a_wrong_one() {
    let y = [1.0, 1.0];
    let p = [0.4, 0.6];
    let e = evaluate(&y, &p, &EvalOptions::default());
    assert!(e.auc.is_none() && e.auc_interval.is_none());
    assert!(e.normalised_entropy.is_nan());
    close(e.brier, (0.36 + 0.16) / 2.0, 1e-15, "brier");
    let empty = evaluate(&[], &[], &EvalOptions::default());
    assert!(empty.log_loss.is_nan() && empty.brier.is_nan() && empty.bins.is_empty());
    assert_eq!(empty.ece, 0.0);
}

#[test]
fn a_prediction_on_a_bin_edge_goes_to_the_lower_bin() {
    // As numpy's searchsorted(side="left") in calibration_curve: 0.5 is in (0.4, 0.5].
    let bins = reliability_bins(&[1.0, 0.0, 1.0], &[0.5, 0.0, 1.0], 10);
    let at: Vec<(usize, f64)> = bins.iter().map(|b| (b.count, b.lower)).collect();
    assert_eq!(at, vec![(1, 0.0), (1, 0.4), (1, 0.9)]);
}
