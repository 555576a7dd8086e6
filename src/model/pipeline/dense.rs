//! The MLP over folded rows, trained an epoch at a time with Adam on mini-batches,
//! using the network's own (gradient-checked) objective and gradient.

use super::*;

pub(super) struct DenseMlp {
    pub bits: u32,
    pub net: Mlp,
    x: Rows,
    opts: MlpOptions,
    m: Vec<f64>,
    v: Vec<f64>,
    t: i32,
}

impl DenseMlp {
    pub fn new(x: &[SparseRow], bits: u32, rate: f64, opts: &MlpOptions) -> DenseMlp {
        let d = 1usize << bits;
        let mut rows = Rows::new(d);
        let mut buf = vec![0.0; d];
        for r in x {
            fold(r, bits, &mut buf);
            rows.push(&buf);
        }
        let mut net = Mlp::init(d, opts.hidden.max(1), opts.seed);
        // The output bias starts at the base rate's log-odds, as in `fit_mlp`.
        if let Some(b2) = net.params.last_mut() {
            *b2 = (rate / (1.0 - rate)).ln();
        }
        let k = net.params.len();
        DenseMlp {
            bits,
            net,
            x: rows,
            opts: *opts,
            m: vec![0.0; k],
            v: vec![0.0; k],
            t: 0,
        }
    }

    pub fn epoch(&mut self, y: &[bool], decay: f64, rng: &mut Prng) -> f64 {
        let n = self.x.len().min(y.len());
        let mut order: Vec<usize> = (0..n).collect();
        crate::model::optim::shuffle(&mut order, rng);
        let rate = self.opts.learning_rate * decay;
        let mut loss = 0.0;
        for chunk in order.chunks(self.opts.batch.max(1)) {
            let mut bx = Rows::new(self.x.d);
            let mut by = Vec::with_capacity(chunk.len());
            for &i in chunk {
                bx.push(self.x.row(i));
                by.push(f64::from(u8::from(y[i])));
            }
            let (l, grad) = self.net.objective_gradient(&bx, &by, self.opts.l2);
            loss += l * chunk.len() as f64;
            self.t += 1;
            let corrections = crate::model::optim::bias_corrections(self.t);
            for (k, g) in grad.iter().enumerate() {
                self.net.params[k] -= crate::model::optim::adam_step(
                    *g,
                    &mut self.m[k],
                    &mut self.v[k],
                    rate,
                    corrections,
                );
            }
        }
        loss / n.max(1) as f64
    }
}
