//! The epoch loop shared by every learner: train one pass, score the validation rows,
//! keep the best state, stop after `patience` epochs without improvement.

use super::*;

/// One learner being trained an epoch at a time.
enum Live {
    Logistic(lazy::LazyLogistic),
    Ftrl(Ftrl),
    Mlp(dense::DenseMlp),
}

impl Live {
    /// One pass over the training rows; returns the training loss.
    fn epoch(&mut self, data: &Data, epoch: usize, max_epochs: usize, rng: &mut Prng) -> f64 {
        // Adam at a constant rate keeps hopping around the optimum by about the rate; the
        // linear decay to zero over the epochs of `logistic::fit` lets it settle.
        let decay = 1.0 - (epoch - 1) as f64 / max_epochs.max(1) as f64;
        match self {
            Live::Logistic(m) => m.epoch(data.x, data.y, decay, rng),
            Live::Ftrl(m) => {
                let seed = rng.random::<u64>();
                let opts = FtrlTrainOptions {
                    epochs: 1,
                    seed: (epoch > 1).then_some(seed),
                };
                m.train(data.x, data.y, opts)
                    .first()
                    .copied()
                    .unwrap_or(0.0)
            }
            Live::Mlp(m) => m.epoch(data.y, decay, rng),
        }
    }

    fn state(&self) -> ModelState {
        match self {
            Live::Logistic(m) => ModelState::Logistic(m.snapshot()),
            Live::Ftrl(m) => ModelState::Ftrl(m.clone()),
            Live::Mlp(m) => ModelState::Mlp {
                dense_bits: m.bits,
                net: m.net.clone(),
            },
        }
    }
}

pub(super) fn run_epochs(
    data: &Data,
    spec: &HashSpec,
    cfg: &TrainConfig,
    rng: &mut Prng,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
) -> Result<Fit, TrainError> {
    let positives = data.y.iter().filter(|v| **v).count();
    let rate = (positives as f64 / data.y.len().max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
    let mut live = match cfg.learner {
        Learner::Logistic {
            optimizer,
            l2,
            learning_rate,
            batch,
        } => Live::Logistic(lazy::LazyLogistic::new(
            spec.bits,
            rate,
            lazy::Step {
                optimizer,
                l2,
                learning_rate,
                batch,
            },
        )),
        Learner::Ftrl(p) => Live::Ftrl(Ftrl::new(spec.bits, p)),
        Learner::Mlp(o) => Live::Mlp(dense::DenseMlp::new(
            data.x,
            cfg.dense_bits,
            rate,
            &MlpOptions {
                seed: cfg.seed,
                ..o
            },
        )),
    };
    let mut best: Option<(usize, f64, ModelState)> = None;
    let mut losses = Vec::new();
    for epoch in 1..=cfg.max_epochs {
        let train_loss = live.epoch(data, epoch, cfg.max_epochs, rng);
        let state = live.state();
        let p: Vec<f64> = data
            .vx
            .iter()
            .map(|r| correct(state.raw(r), cfg.negative_rate))
            .collect();
        let loss = log_loss(data.vy, &p);
        losses.push(loss);
        let improved = best.as_ref().is_none_or(|b| loss < b.1);
        if improved {
            best = Some((epoch, loss, state));
        }
        let best_epoch = best.as_ref().map_or(epoch, |b| b.0);
        let report = EpochReport {
            epoch,
            max_epochs: cfg.max_epochs,
            train_rows: data.x.len(),
            train_loss,
            validation_loss: loss,
            best_epoch,
        };
        if !on_epoch(&report) {
            return Err(TrainError::Cancelled);
        }
        if epoch - best_epoch >= cfg.patience.max(1) {
            break;
        }
    }
    match best {
        Some((best_epoch, _, state)) => Ok(Fit {
            state,
            best_epoch,
            losses,
        }),
        None => Err(TrainError::BadConfig("no epoch ran".into())),
    }
}
