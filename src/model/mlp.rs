//! The one-hidden-layer network of the original design, for comparison with the logistic
//! model: dense input -> `hidden` ReLU units -> sigmoid output, trained with Adam on the mean
//! cross-entropy plus an optional L2 penalty (λ/2)·|W|² on the two weight matrices (biases
//! unpenalised). It can learn interactions between inputs (an offer that works for one kind of
//! user only) that a logistic model on the same inputs cannot. Deterministic for a seed: the
//! initial weights and the batch order both come from one seeded generator.

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::logistic::{log_loss, sigmoid, Rows};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct MlpOptions {
    /// Hidden ReLU units; the design's 64 by default.
    pub hidden: usize,
    pub learning_rate: f64,
    /// L2 penalty λ on the mean loss, on weights only; 0 turns it off.
    pub l2: f64,
    pub epochs: usize,
    /// Rows per step; the number of rows or more makes it full-batch.
    pub batch: usize,
    pub seed: u64,
}

impl Default for MlpOptions {
    fn default() -> Self {
        MlpOptions {
            hidden: 64,
            learning_rate: 0.01,
            l2: 1e-4,
            epochs: 40,
            batch: 64,
            seed: 1,
        }
    }
}

/// The network's parameters, flat so the optimiser and the gradient check treat them alike:
/// `[W1 (hidden × inputs, one row per unit) | b1 (hidden) | w2 (hidden) | b2]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mlp {
    pub inputs: usize,
    pub hidden: usize,
    pub params: Vec<f64>,
}

impl Mlp {
    /// Seeded start: He-uniform first layer (ReLU keeps the activations' scale), Glorot-uniform
    /// output weights, zero biases. Random, not zero, so the hidden units differ.
    pub fn init(inputs: usize, hidden: usize, seed: u64) -> Mlp {
        let mut rng = Prng::seed_from_u64(seed);
        Self::init_with(inputs, hidden, &mut rng)
    }

    fn init_with(inputs: usize, hidden: usize, rng: &mut Prng) -> Mlp {
        let mut params = vec![0.0; hidden * inputs + 2 * hidden + 1];
        let a1 = (6.0 / inputs.max(1) as f64).sqrt();
        for w in &mut params[..hidden * inputs] {
            *w = a1 * (2.0 * rng.random::<f64>() - 1.0);
        }
        let a2 = (6.0 / (hidden + 1) as f64).sqrt();
        let w2 = hidden * inputs + hidden;
        for w in &mut params[w2..w2 + hidden] {
            *w = a2 * (2.0 * rng.random::<f64>() - 1.0);
        }
        Mlp {
            inputs,
            hidden,
            params,
        }
    }

    fn b1_at(&self) -> usize {
        self.hidden * self.inputs
    }
    fn w2_at(&self) -> usize {
        self.b1_at() + self.hidden
    }
    fn b2_at(&self) -> usize {
        self.w2_at() + self.hidden
    }

    /// The output's logit; fills `act` with the hidden pre-activations.
    fn logit(&self, x: &[f64], act: &mut [f64]) -> f64 {
        let (d, b1, w2) = (self.inputs, self.b1_at(), self.w2_at());
        let mut z = self.params[self.b2_at()];
        for (j, a) in act.iter_mut().enumerate().take(self.hidden) {
            let row = &self.params[j * d..(j + 1) * d];
            *a = self.params[b1 + j] + row.iter().zip(x).map(|(w, v)| w * v).sum::<f64>();
            z += self.params[w2 + j] * a.max(0.0);
        }
        z
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut act = vec![0.0; self.hidden];
        sigmoid(self.logit(x, &mut act))
    }

    /// Mean cross-entropy (on the logit, exact where `log_loss` would clamp) plus
    /// (λ/2)·|W|², and its gradient in the layout of `params`.
    pub fn objective_gradient(&self, x: &Rows, y: &[f64], l2: f64) -> (f64, Vec<f64>) {
        let rows: Vec<usize> = (0..x.len().min(y.len())).collect();
        let mut grad = vec![0.0; self.params.len()];
        let loss = self.accumulate(x, y, &rows, &mut grad);
        let scale = 1.0 / rows.len().max(1) as f64;
        grad.iter_mut().for_each(|g| *g *= scale);
        (loss * scale + self.penalise(l2, &mut grad), grad)
    }

    /// Adds the summed (unscaled) cross-entropy gradient of `rows` to `grad`; returns the
    /// summed loss.
    fn accumulate(&self, x: &Rows, y: &[f64], rows: &[usize], grad: &mut [f64]) -> f64 {
        let (d, h) = (self.inputs, self.hidden);
        let (b1, w2, b2) = (self.b1_at(), self.w2_at(), self.b2_at());
        let mut act = vec![0.0; h];
        let mut loss = 0.0;
        for &i in rows {
            let row = x.row(i);
            let z = self.logit(row, &mut act);
            loss += z.max(0.0) + (-z.abs()).exp().ln_1p() - y[i] * z;
            let err = sigmoid(z) - y[i];
            grad[b2] += err;
            for (j, &a) in act.iter().enumerate() {
                if a <= 0.0 {
                    continue; // ReLU off: nothing flows back through this unit.
                }
                grad[w2 + j] += err * a;
                let delta = err * self.params[w2 + j];
                grad[b1 + j] += delta;
                for (g, v) in grad[j * d..(j + 1) * d].iter_mut().zip(row) {
                    *g += delta * v;
                }
            }
        }
        loss
    }

    /// Adds λ·w to the weights' gradient; returns (λ/2)·|W|².
    fn penalise(&self, l2: f64, grad: &mut [f64]) -> f64 {
        if l2 == 0.0 {
            return 0.0;
        }
        let (b1, w2, b2) = (self.b1_at(), self.w2_at(), self.b2_at());
        let mut penalty = 0.0;
        for k in (0..b1).chain(w2..b2) {
            grad[k] += l2 * self.params[k];
            penalty += 0.5 * l2 * self.params[k] * self.params[k];
        }
        penalty
    }
}

/// Trains on `x`, `y` (labels 0/1). After each epoch `on_epoch(epoch, training loss)` is
/// called; returning false stops training and gives `None` (the operator cancelled).
pub fn fit_mlp(
    x: &Rows,
    y: &[f64],
    opts: &MlpOptions,
    on_epoch: &mut dyn FnMut(usize, f64) -> bool,
) -> Option<Mlp> {
    let n = x.len().min(y.len());
    let mut rng = Prng::seed_from_u64(opts.seed);
    let mut model = Mlp::init_with(x.d, opts.hidden.max(1), &mut rng);
    if n == 0 {
        return Some(model);
    }
    // Start the output at the base rate's log-odds, as the logistic model does.
    let rate = (y[..n].iter().sum::<f64>() / n as f64).clamp(1e-6, 1.0 - 1e-6);
    let b2 = model.b2_at();
    model.params[b2] = (rate / (1.0 - rate)).ln();
    let k = model.params.len();
    let (mut m, mut v, mut grad) = (vec![0.0; k], vec![0.0; k], vec![0.0; k]);
    let mut t = 0i32;
    let mut order: Vec<usize> = (0..n).collect();
    let batch = opts.batch.clamp(1, n);
    for epoch in 0..opts.epochs {
        // Linear decay to zero, as in the logistic model: Adam settles instead of hopping.
        let rate = opts.learning_rate * (1.0 - epoch as f64 / opts.epochs as f64);
        super::optim::shuffle(&mut order, &mut rng);
        for chunk in order.chunks(batch) {
            grad.iter_mut().for_each(|g| *g = 0.0);
            model.accumulate(x, y, chunk, &mut grad);
            let scale = 1.0 / chunk.len() as f64;
            grad.iter_mut().for_each(|g| *g *= scale);
            model.penalise(opts.l2, &mut grad);
            t += 1;
            let corrections = super::optim::bias_corrections(t);
            for (p, ((g, m), v)) in model
                .params
                .iter_mut()
                .zip(grad.iter().zip(m.iter_mut()).zip(v.iter_mut()))
            {
                *p -= super::optim::adam_step(*g, m, v, rate, corrections);
            }
        }
        let p: Vec<f64> = (0..n).map(|i| model.predict(x.row(i))).collect();
        if !on_epoch(epoch + 1, log_loss(&y[..n], &p)) {
            return None;
        }
    }
    Some(model)
}

#[cfg(test)]
#[path = "mlp_tests.rs"]
mod tests;
