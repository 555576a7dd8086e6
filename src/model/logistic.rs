//! Logistic regression trained with Adam (or plain SGD) on mini-batches of the mean cross-entropy plus an L2
//! penalty (λ/2)·|w|² on the weights (not the bias), the step decaying linearly to zero over
//! the epochs. Deterministic for a seed: the batch order
//! comes from a seeded shuffle, so a retrain on the same data gives the same model.

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// Dense rows of `d` features each, stored flat.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub d: usize,
    pub data: Vec<f64>,
}

impl Rows {
    pub fn new(d: usize) -> Rows {
        Rows {
            d,
            data: Vec::new(),
        }
    }
    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.d);
        self.data.extend_from_slice(row);
    }
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.d).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct TrainOptions {
    pub learning_rate: f64,
    /// L2 penalty λ on the mean loss; sklearn's C is 1 / (λ·n).
    pub l2: f64,
    pub epochs: usize,
    /// Rows per step; the number of rows or more makes it full-batch.
    pub batch: usize,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            learning_rate: 0.05,
            l2: 1e-4,
            epochs: 20,
            batch: 256,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Logistic {
    pub weights: Vec<f64>,
    pub bias: f64,
}

pub fn sigmoid(z: f64) -> f64 {
    // Split by sign so exp never overflows.
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl Logistic {
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(self.bias + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f64>())
    }
}

/// Mean cross-entropy of predictions `p` for labels `y`, with p clamped away from 0 and 1.
pub fn log_loss(y: &[f64], p: &[f64]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let eps = 1e-15;
    y.iter()
        .zip(p)
        .map(|(y, p)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / y.len() as f64
}

/// Area under the ROC curve: the chance a random positive scores above a random negative,
/// ties counting half (Mann-Whitney U over average ranks). `None` without both classes.
pub fn auc(scores: &[f64], labels: &[f64]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut pos) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] > 0.5 {
                rank_sum += avg_rank;
                pos += 1.0;
            }
        }
        i = j + 1;
    }
    let neg = scores.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

/// How a mini-batch's gradient moves the weights.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub enum Optimizer {
    /// Adam (β1 0.9, β2 0.999): a step per weight scaled by its gradient's history; the default.
    #[default]
    Adam,
    /// Plain mini-batch stochastic gradient descent: step = rate · gradient.
    Sgd,
}

/// Trains on `x`, `y` (labels 0/1) with Adam. After each epoch `on_epoch(epoch, training
/// loss)` is called; returning false stops training and gives `None` (the operator cancelled).
pub fn fit(
    x: &Rows,
    y: &[f64],
    opts: &TrainOptions,
    on_epoch: &mut dyn FnMut(usize, f64) -> bool,
) -> Option<Logistic> {
    fit_with(x, y, opts, Optimizer::Adam, on_epoch)
}

/// `fit` with a choice of optimiser; the rest (batches, seeded order, decay, L2) is shared.
pub fn fit_with(
    x: &Rows,
    y: &[f64],
    opts: &TrainOptions,
    optimizer: Optimizer,
    on_epoch: &mut dyn FnMut(usize, f64) -> bool,
) -> Option<Logistic> {
    let (n, d) = (x.len(), x.d);
    let mut model = Logistic {
        weights: vec![0.0; d],
        bias: 0.0,
    };
    if n == 0 {
        return Some(model);
    }
    // Start at the base rate's log-odds: the model is calibrated from the first step and the
    // weights only have to learn what differs from average.
    let rate = (y.iter().sum::<f64>() / n as f64).clamp(1e-6, 1.0 - 1e-6);
    model.bias = (rate / (1.0 - rate)).ln();
    // Adam state for the d weights and, last, the bias.
    let mut m = vec![0.0; d + 1];
    let mut v = vec![0.0; d + 1];
    let mut grad = vec![0.0; d + 1];
    let mut t = 0i32;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Prng::seed_from_u64(opts.seed);
    let batch = opts.batch.clamp(1, n);
    for epoch in 0..opts.epochs {
        // Adam with a constant rate keeps hopping around the optimum by about the rate; a
        // linear decay to zero lets it settle there.
        let rate = opts.learning_rate * (1.0 - epoch as f64 / opts.epochs as f64);
        super::optim::shuffle(&mut order, &mut rng);
        for chunk in order.chunks(batch) {
            grad.iter_mut().for_each(|g| *g = 0.0);
            for &i in chunk {
                let row = x.row(i);
                let err = model.predict(row) - y[i];
                for (g, xv) in grad.iter_mut().zip(row) {
                    *g += err * xv;
                }
                grad[d] += err;
            }
            let scale = 1.0 / chunk.len() as f64;
            t += 1;
            let corrections = super::optim::bias_corrections(t);
            for k in 0..=d {
                let mut g = grad[k] * scale;
                if k < d {
                    g += opts.l2 * model.weights[k];
                }
                let step = match optimizer {
                    Optimizer::Adam => {
                        super::optim::adam_step(g, &mut m[k], &mut v[k], rate, corrections)
                    }
                    Optimizer::Sgd => rate * g,
                };
                if k < d {
                    model.weights[k] -= step;
                } else {
                    model.bias -= step;
                }
            }
        }
        let p: Vec<f64> = (0..n).map(|i| model.predict(x.row(i))).collect();
        if !on_epoch(epoch + 1, log_loss(y, &p)) {
            return None;
        }
    }
    Some(model)
}

/// The objective `fit` minimises, mean cross-entropy plus (λ/2)·|w|² (bias unpenalised), and
/// its gradient: the d weights' partials, then the bias's. Cross-entropy is taken on the
/// logit (softplus(z) − y·z) so it stays exact where `log_loss` would clamp.
pub fn objective_gradient(model: &Logistic, x: &Rows, y: &[f64], l2: f64) -> (f64, Vec<f64>) {
    let (n, d) = (x.len(), x.d);
    let mut grad = vec![0.0; d + 1];
    let mut loss = 0.0;
    for (i, &yi) in y.iter().enumerate().take(n) {
        let row = x.row(i);
        let z = model.bias
            + model
                .weights
                .iter()
                .zip(row)
                .map(|(w, v)| w * v)
                .sum::<f64>();
        loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - yi * z;
        let err = sigmoid(z) - yi;
        for (g, xv) in grad.iter_mut().zip(row) {
            *g += err * xv;
        }
        grad[d] += err;
    }
    let scale = 1.0 / n.max(1) as f64;
    loss *= scale;
    grad.iter_mut().for_each(|g| *g *= scale);
    for (g, w) in grad.iter_mut().zip(&model.weights) {
        *g += l2 * w;
        loss += 0.5 * l2 * w * w;
    }
    (loss, grad)
}

/// The objective, its gradient and its Hessian at one point, from one pass over the rows.
struct NewtonPoint {
    loss: f64,
    grad: Vec<f64>,
    /// (1/n)·Σ p(1−p)·x̃x̃ᵀ + λ on the weights' diagonal, x̃ = (x, 1), row-major.
    hessian: Vec<f64>,
}

/// `objective_gradient` and the Hessian in the same pass: the logit and p are computed once
/// per row. The loss and gradient sum in the same order as `objective_gradient`'s.
fn newton_pass(model: &Logistic, x: &Rows, y: &[f64], l2: f64) -> NewtonPoint {
    let (n, d) = (x.len(), x.d);
    let k = d + 1;
    let mut grad = vec![0.0; k];
    let mut h = vec![0.0; k * k];
    let mut loss = 0.0;
    for (i, &yi) in y.iter().enumerate().take(n) {
        let row = x.row(i);
        let z = model.bias
            + model
                .weights
                .iter()
                .zip(row)
                .map(|(w, v)| w * v)
                .sum::<f64>();
        loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - yi * z;
        let p = sigmoid(z);
        let err = p - yi;
        for (g, xv) in grad.iter_mut().zip(row) {
            *g += err * xv;
        }
        grad[d] += err;
        let w = p * (1.0 - p);
        for a in 0..k {
            let wa = w * if a < d { row[a] } else { 1.0 };
            let line = &mut h[a * k..a * k + a + 1];
            for (b, cell) in line.iter_mut().enumerate() {
                *cell += wa * if b < d { row[b] } else { 1.0 };
            }
        }
    }
    let scale = 1.0 / n.max(1) as f64;
    loss *= scale;
    grad.iter_mut().for_each(|g| *g *= scale);
    for (g, w) in grad.iter_mut().zip(&model.weights) {
        *g += l2 * w;
        loss += 0.5 * l2 * w * w;
    }
    for a in 0..k {
        for b in 0..=a {
            h[a * k + b] *= scale;
            h[b * k + a] = h[a * k + b];
        }
        if a < d {
            h[a * k + a] += l2;
        }
    }
    NewtonPoint {
        loss,
        grad,
        hessian: h,
    }
}

/// The Hessian of the objective at `model` ((1/n)·Σ p(1−p)·x̃x̃ᵀ + λ on the weights'
/// diagonal, x̃ = (x, 1), row-major, (d+1)²): n times it is the precision of the Laplace
/// approximation to the posterior, which the forecasts draw parameters from.
pub fn hessian_at(model: &Logistic, x: &Rows, y: &[f64], l2: f64) -> Vec<f64> {
    newton_pass(model, x, y, l2).hessian
}

/// The exact optimum of the same objective by Newton's method on the full data (iteratively
/// reweighted least squares), for when the answer must match a statistics package to 1e-4,
/// which Adam's decaying steps only approach. Each step solves H·Δ = g by Cholesky and halves
/// Δ until the objective does not rise. `None` when the Hessian is singular or it has not
/// converged in `max_iter` steps: with l2 = 0 that means separable data (no finite optimum)
/// or a constant or duplicated feature.
pub fn fit_newton(x: &Rows, y: &[f64], l2: f64, max_iter: usize) -> Option<Logistic> {
    let (n, d) = (x.len(), x.d);
    if n == 0 || y.len() < n {
        return None;
    }
    let rate = (y.iter().take(n).sum::<f64>() / n as f64).clamp(1e-6, 1.0 - 1e-6);
    let mut model = Logistic {
        weights: vec![0.0; d],
        bias: (rate / (1.0 - rate)).ln(),
    };
    let mut here = newton_pass(&model, x, y, l2);
    for _ in 0..max_iter {
        let delta = crate::linalg::cholesky_solve(&mut here.hessian, &here.grad, d + 1)?;
        let mut step = 1.0;
        let mut next = model.clone();
        let place = |next: &mut Logistic, step: f64| {
            for (j, dj) in delta.iter().enumerate() {
                if j < d {
                    next.weights[j] = model.weights[j] - step * dj;
                } else {
                    next.bias = model.bias - step * dj;
                }
            }
        };
        // The full step's pass also gives its gradient and Hessian: accepted (nearly every
        // step near the optimum), it costs one pass over the rows, not three. Halvings are
        // judged on the loss alone, and the point they settle on gets its full pass after.
        place(&mut next, step);
        let full = newton_pass(&next, x, y, l2);
        let there = if full.loss <= here.loss {
            full
        } else {
            loop {
                step *= 0.5;
                place(&mut next, step);
                let (loss, _) = objective_gradient(&next, x, y, l2);
                if loss <= here.loss || step < 1e-10 {
                    break newton_pass(&next, x, y, l2);
                }
            }
        };
        model = next;
        here = there;
        if delta.iter().all(|v| (step * v).abs() < 1e-12) {
            return Some(model);
        }
    }
    None
}

#[cfg(test)]
#[path = "logistic_tests.rs"]
mod golden_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_half_and_needs_both_classes() {
        assert_eq!(auc(&[0.1, 0.9], &[0.0, 1.0]), Some(1.0));
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), Some(0.5));
        assert_eq!(auc(&[0.2, 0.3], &[1.0, 1.0]), None);
    }

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn cancelling_stops_after_the_first_epoch() {
        let mut x = Rows::new(1);
        x.push(&[1.0]);
        x.push(&[-1.0]);
        let mut epochs = 0;
        let r = fit(&x, &[1.0, 0.0], &TrainOptions::default(), &mut |e, _| {
            epochs = e;
            false
        });
        assert!(r.is_none());
        assert_eq!(epochs, 1);
    }
}
