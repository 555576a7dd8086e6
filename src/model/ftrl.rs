//! FTRL-Proximal logistic regression (McMahan et al. 2013, "Ad Click Prediction: a View from
//! the Trenches", Algorithm 1) over signed hashed rows: per-coordinate learning rates and
//! L1 + L2, one row at a time, so a click model keeps learning from the stream and most of
//! its 2^18 weights stay exactly zero.
//!
//! Per coordinate `i` the learner keeps `z_i` and `n_i` (the sum of squared gradients); the
//! weight is lazy, computed from them when a row touches `i`:
//!
//! ```text
//! w_i = 0                                                   if |z_i| <= λ1
//! w_i = -(z_i - sgn(z_i) λ1) / ((β + sqrt(n_i)) / α + λ2)    otherwise
//! ```
//!
//! and after predicting `p = σ(Σ x_i w_i)` on a row with label `y`, each touched coordinate
//! takes `g_i = (p - y) x_i`, `σ_i = (sqrt(n_i + g_i²) - sqrt(n_i)) / α`,
//! `z_i += g_i - σ_i w_i`, `n_i += g_i²`. There is no separate bias: the hashing spec's bias
//! feature is one more coordinate, regularised like the rest as in the paper.
//!
//! No randomness inside: the same rows in the same order give the same state bit for bit;
//! [`Ftrl::train`] draws its epoch orders from a seeded generator.

use super::hashing::{SparseRow, MAX_BITS};
use super::logistic::sigmoid;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// The paper's four knobs. Defaults are the usual starting point for click data.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct FtrlParams {
    /// α: the per-coordinate rate's scale.
    pub alpha: f64,
    /// β: smooths the rate while a coordinate has seen few gradients (1 is the paper's advice).
    pub beta: f64,
    /// λ1: L1 strength; a coordinate whose |z| stays at or below it is exactly zero.
    pub l1: f64,
    /// λ2: L2 strength.
    pub l2: f64,
}

impl Default for FtrlParams {
    fn default() -> Self {
        FtrlParams {
            alpha: 0.1,
            beta: 1.0,
            l1: 1.0,
            l2: 1.0,
        }
    }
}

impl FtrlParams {
    /// Says what is wrong with parameters read from elsewhere.
    pub fn check(&self) -> Result<(), String> {
        let all = [self.alpha, self.beta, self.l1, self.l2];
        if all.iter().any(|v| !v.is_finite()) {
            return Err("FTRL parameters must be finite numbers".into());
        }
        if self.alpha <= 0.0 {
            return Err(format!("alpha {} must be positive", self.alpha));
        }
        if self.beta < 0.0 || self.l1 < 0.0 || self.l2 < 0.0 {
            return Err("beta, l1 and l2 must not be negative".into());
        }
        Ok(())
    }
}

/// The learner's state as stored with a model version: only the coordinates ever touched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FtrlState {
    pub params: FtrlParams,
    pub bits: u32,
    /// Strictly increasing coordinates with their z and n.
    pub indices: Vec<u32>,
    pub z: Vec<f64>,
    pub n: Vec<f64>,
}

/// Non-zero weights only: what scoring needs and what the panel ranks.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SparseWeights {
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
}

/// Online FTRL-Proximal logistic regression over `2^bits` hashed coordinates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "FtrlState", try_from = "FtrlState")]
pub struct Ftrl {
    params: FtrlParams,
    bits: u32,
    z: Vec<f64>,
    n: Vec<f64>,
    /// Weights of the row being updated, so they are computed once per update.
    scratch: Vec<f64>,
}

/// Options for [`Ftrl::train`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct FtrlTrainOptions {
    /// Passes over the rows; one is the online setting.
    pub epochs: usize,
    /// Shuffle each epoch with this seed; `None` keeps the rows' order (time order).
    pub seed: Option<u64>,
}

impl Default for FtrlTrainOptions {
    fn default() -> Self {
        FtrlTrainOptions {
            epochs: 1,
            seed: None,
        }
    }
}

impl Ftrl {
    /// A fresh learner; `bits` is clamped to 1..=[`MAX_BITS`] like the hashing spec's.
    pub fn new(bits: u32, params: FtrlParams) -> Ftrl {
        let bits = bits.clamp(1, MAX_BITS);
        let size = 1usize << bits;
        Ftrl {
            params,
            bits,
            z: vec![0.0; size],
            n: vec![0.0; size],
            scratch: Vec::new(),
        }
    }

    pub fn params(&self) -> FtrlParams {
        self.params
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The coordinate a bucket lands on. A row hashed with more bits folds onto the low bits,
    /// which is exactly the bucket the same key has under this model's bits.
    fn slot(&self, i: u32) -> usize {
        (i as usize) & (self.z.len() - 1)
    }

    fn weight_at(&self, s: usize) -> f64 {
        let z = self.z[s];
        let p = &self.params;
        if z.abs() <= p.l1 {
            0.0
        } else {
            -(z - z.signum() * p.l1) / ((p.beta + self.n[s].sqrt()) / p.alpha + p.l2)
        }
    }

    /// The current (lazy) weight of bucket `i`.
    pub fn weight(&self, i: u32) -> f64 {
        self.weight_at(self.slot(i))
    }

    /// The linear score Σ x_i w_i.
    pub fn score(&self, row: &SparseRow) -> f64 {
        row.iter()
            .filter(|(_, x)| x.is_finite())
            .map(|(i, x)| x * self.weight_at(self.slot(i)))
            .sum()
    }

    /// p(label = 1 | row).
    pub fn predict(&self, row: &SparseRow) -> f64 {
        sigmoid(self.score(row))
    }

    /// Learns from one row and returns the prediction made before learning from it (the
    /// progressive-validation prediction). Non-finite feature values are skipped.
    pub fn update(&mut self, row: &SparseRow, label: bool) -> f64 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut score = 0.0;
        for (i, x) in row.iter() {
            let w = self.weight_at(self.slot(i));
            scratch.push(w);
            if x.is_finite() {
                score += x * w;
            }
        }
        let p = sigmoid(score);
        let y = f64::from(u8::from(label));
        let alpha = self.params.alpha;
        for ((i, x), &w) in row.iter().zip(&scratch) {
            if !x.is_finite() {
                continue;
            }
            let s = self.slot(i);
            let g = (p - y) * x;
            let n = self.n[s];
            let sigma = ((n + g * g).sqrt() - n.sqrt()) / alpha;
            self.z[s] += g - sigma * w;
            self.n[s] = n + g * g;
        }
        self.scratch = scratch;
        p
    }

    /// Passes over `rows` (with their labels; extra entries of the longer slice are ignored)
    /// and returns each epoch's mean progressive log loss, so a caller can show it and stop.
    pub fn train(
        &mut self,
        rows: &[SparseRow],
        labels: &[bool],
        opts: FtrlTrainOptions,
    ) -> Vec<f64> {
        let m = rows.len().min(labels.len());
        let mut order: Vec<usize> = (0..m).collect();
        let mut rng = opts.seed.map(Prng::seed_from_u64);
        let mut losses = Vec::with_capacity(opts.epochs);
        for _ in 0..opts.epochs {
            if let Some(rng) = rng.as_mut() {
                super::optim::shuffle(&mut order, rng);
            }
            let mut loss = 0.0;
            for &k in &order {
                let p = self.update(&rows[k], labels[k]).clamp(1e-15, 1.0 - 1e-15);
                loss -= if labels[k] { p.ln() } else { (1.0 - p).ln() };
            }
            losses.push(if m == 0 { 0.0 } else { loss / m as f64 });
        }
        losses
    }

    /// The non-zero weights, by increasing bucket.
    pub fn weights(&self) -> SparseWeights {
        let mut out = SparseWeights::default();
        for s in 0..self.z.len() {
            let w = self.weight_at(s);
            if w != 0.0 {
                out.indices.push(s as u32);
                out.values.push(w);
            }
        }
        out
    }

    /// How many weights are exactly zero (L1's sparsity).
    pub fn zeros(&self) -> usize {
        self.z.len() - self.weights().indices.len()
    }
}

impl From<Ftrl> for FtrlState {
    fn from(m: Ftrl) -> FtrlState {
        let mut state = FtrlState {
            params: m.params,
            bits: m.bits,
            indices: Vec::new(),
            z: Vec::new(),
            n: Vec::new(),
        };
        for s in 0..m.z.len() {
            if m.z[s] != 0.0 || m.n[s] != 0.0 {
                state.indices.push(s as u32);
                state.z.push(m.z[s]);
                state.n.push(m.n[s]);
            }
        }
        state
    }
}

impl TryFrom<FtrlState> for Ftrl {
    type Error = String;

    fn try_from(state: FtrlState) -> Result<Ftrl, String> {
        state.params.check()?;
        if !(1..=MAX_BITS).contains(&state.bits) {
            return Err(format!(
                "FTRL state: bits {} outside 1..={MAX_BITS}",
                state.bits
            ));
        }
        if state.z.len() != state.indices.len() || state.n.len() != state.indices.len() {
            return Err("FTRL state: indices, z and n differ in length".into());
        }
        let mut m = Ftrl::new(state.bits, state.params);
        for ((&i, &z), &n) in state.indices.iter().zip(&state.z).zip(&state.n) {
            if i as usize >= m.z.len() {
                return Err(format!("FTRL state: bucket {i} outside 2^{}", state.bits));
            }
            if !z.is_finite() || !n.is_finite() || n < 0.0 {
                return Err(format!("FTRL state: bucket {i} has a bad z or n"));
            }
            m.z[i as usize] = z;
            m.n[i as usize] = n;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
