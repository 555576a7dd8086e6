//! Logistic regression over sparse hashed rows with Adam or SGD, updating only the
//! coordinates a mini-batch touches ("lazy" updates): a step costs the batch's features,
//! not the 2^bits buckets. The intercept is separate and unpenalised; L2 (λ·w on the mean
//! loss) is added to a weight's gradient in the batches where its feature appears.

use super::*;

#[derive(Debug, Clone, Copy)]
pub(super) struct Step {
    pub optimizer: Optimizer,
    pub l2: f64,
    pub learning_rate: f64,
    pub batch: usize,
}

pub(super) struct LazyLogistic {
    bits: u32,
    step: Step,
    intercept: f64,
    w: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    /// Intercept's Adam moments.
    mb: (f64, f64),
    t: i32,
    grad: Vec<f64>,
    touched: Vec<u32>,
    seen: Vec<bool>,
}

impl LazyLogistic {
    pub fn new(bits: u32, rate: f64, step: Step) -> LazyLogistic {
        let size = 1usize << bits.clamp(1, MAX_BITS);
        LazyLogistic {
            bits: bits.clamp(1, MAX_BITS),
            step,
            // Start at the base rate's log-odds, as `logistic::fit` does.
            intercept: (rate / (1.0 - rate)).ln(),
            w: vec![0.0; size],
            m: vec![0.0; size],
            v: vec![0.0; size],
            mb: (0.0, 0.0),
            t: 0,
            grad: vec![0.0; size],
            touched: Vec::new(),
            seen: vec![false; size],
        }
    }

    fn mask(&self) -> usize {
        self.w.len() - 1
    }

    fn score(&self, row: &SparseRow) -> f64 {
        let mask = self.mask();
        self.intercept
            + row
                .iter()
                .map(|(i, x)| x * self.w[i as usize & mask])
                .sum::<f64>()
    }

    /// One shuffled pass in mini-batches at the rate times `decay`; returns the mean log loss of the predictions made
    /// before each batch's step.
    pub fn epoch(&mut self, x: &[SparseRow], y: &[bool], decay: f64, rng: &mut Prng) -> f64 {
        let n = x.len().min(y.len());
        let mut order: Vec<usize> = (0..n).collect();
        crate::model::optim::shuffle(&mut order, rng);
        let mask = self.mask();
        let rate = self.step.learning_rate * decay;
        let mut loss = 0.0;
        for chunk in order.chunks(self.step.batch.max(1)) {
            let mut gb = 0.0;
            for &k in chunk {
                let p = sigmoid(self.score(&x[k]));
                let label = f64::from(u8::from(y[k]));
                let pc = p.clamp(1e-15, 1.0 - 1e-15);
                loss -= if y[k] { pc.ln() } else { (1.0 - pc).ln() };
                let err = p - label;
                gb += err;
                for (i, xv) in x[k].iter() {
                    let s = i as usize & mask;
                    if !self.seen[s] {
                        self.seen[s] = true;
                        self.touched.push(s as u32);
                    }
                    self.grad[s] += err * xv;
                }
            }
            let scale = 1.0 / chunk.len() as f64;
            self.t += 1;
            let corrections = crate::model::optim::bias_corrections(self.t);
            let optimizer = self.step.optimizer;
            let adam = |g: f64, m: &mut f64, v: &mut f64| match optimizer {
                Optimizer::Adam => crate::model::optim::adam_step(g, m, v, rate, corrections),
                Optimizer::Sgd => rate * g,
            };
            // Sorted so the order of the float updates never depends on the batch's order.
            self.touched.sort_unstable();
            for &s in &self.touched {
                let s = s as usize;
                let g = self.grad[s] * scale + self.step.l2 * self.w[s];
                self.w[s] -= adam(g, &mut self.m[s], &mut self.v[s]);
                self.grad[s] = 0.0;
                self.seen[s] = false;
            }
            self.touched.clear();
            let (mut mb, mut vb) = self.mb;
            self.intercept -= adam(gb * scale, &mut mb, &mut vb);
            self.mb = (mb, vb);
        }
        loss / n.max(1) as f64
    }

    /// The weights as stored: the intercept and the non-zero buckets.
    pub fn snapshot(&self) -> SparseLogistic {
        let mut weights = SparseWeights::default();
        for (s, &w) in self.w.iter().enumerate() {
            if w != 0.0 {
                weights.indices.push(s as u32);
                weights.values.push(w);
            }
        }
        SparseLogistic {
            bits: self.bits,
            intercept: self.intercept,
            weights,
        }
    }
}
