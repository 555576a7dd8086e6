//! Per-row cost of the hashed learners (criterion), each group with its baseline in the same
//! run: FTRL's update and predict against a naive plain-SGD step on dense weights over the
//! same hashed rows; hashing one row (`TrainingRow::encode`, which compiles the spec per call,
//! as a single prediction does, and the compiled encoder reused, as training does), the phase that dominates
//! `liftdeck bench train`; and one epoch of `pipeline::train` for LR-SGD (its lazy SGD
//! step is private to the pipeline, so it is timed there) against FTRL's.
//!
//! cargo bench --bench learners -- --warm-up-time 1 --measurement-time 3

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use liftdeck::app::bench::synthetic_rows;
use liftdeck::model::eval::EvalOptions;
use liftdeck::model::ftrl::{Ftrl, FtrlParams};
use liftdeck::model::hashing::SparseRow;
use liftdeck::model::logistic::{sigmoid, Optimizer};
use liftdeck::model::pipeline::{default_spec, train, Learner, TrainConfig, TrainingRow};
use std::hint::black_box;

const BITS: u32 = 18;

/// Naive baseline: plain SGD on a dense weight vector, no per-coordinate state.
struct DenseSgd {
    w: Vec<f64>,
    rate: f64,
}

impl DenseSgd {
    fn step(&mut self, row: &SparseRow, label: bool) -> f64 {
        let mask = self.w.len() - 1;
        let score: f64 = row.iter().map(|(i, x)| x * self.w[i as usize & mask]).sum();
        let p = sigmoid(score);
        let g = p - f64::from(u8::from(label));
        for (i, x) in row.iter() {
            self.w[i as usize & mask] -= self.rate * g * x;
        }
        p
    }
}

fn per_row(c: &mut Criterion) {
    let data = synthetic_rows(20_000, 1);
    let spec = default_spec(&data.rows, BITS, true);
    let x: Vec<SparseRow> = data.rows.iter().map(|r| r.encode(&spec)).collect();
    let y: Vec<bool> = data.rows.iter().map(|r| r.label).collect();
    let mut group = c.benchmark_group("learner_row");
    group.throughput(Throughput::Elements(1));
    let mut dense = DenseSgd {
        w: vec![0.0; 1 << BITS],
        rate: 0.05,
    };
    let mut k = 0usize;
    group.bench_function("baseline_dense_sgd_step", |b| {
        b.iter(|| {
            k = (k + 1) % x.len();
            dense.step(black_box(&x[k]), y[k])
        })
    });
    let mut ftrl = Ftrl::new(BITS, FtrlParams::default());
    group.bench_function("ftrl_update", |b| {
        b.iter(|| {
            k = (k + 1) % x.len();
            ftrl.update(black_box(&x[k]), y[k])
        })
    });
    group.bench_function("ftrl_predict_hashed", |b| {
        b.iter(|| {
            k = (k + 1) % x.len();
            ftrl.predict(black_box(&x[k]))
        })
    });
    group.bench_function("hash_training_row", |b| {
        b.iter(|| {
            k = (k + 1) % data.rows.len();
            data.rows[k].encode(black_box(&spec))
        })
    });
    // How the pipeline hashes: the spec compiled once, its buffers reused across rows.
    let mut encoder = spec.encoder::<TrainingRow>();
    let mut out = SparseRow::default();
    group.bench_function("hash_training_row_compiled", |b| {
        b.iter(|| {
            k = (k + 1) % data.rows.len();
            encoder.encode_into(black_box(&data.rows[k]), &mut out);
            out.len()
        })
    });
    group.finish();
}

fn pipeline_epoch(c: &mut Criterion) {
    let data = synthetic_rows(10_000, 2);
    let spec = default_spec(&data.rows[..8_000], BITS, true);
    let mut group = c.benchmark_group("pipeline_epoch_10k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(8_000));
    for learner in [
        Learner::Ftrl(FtrlParams::default()),
        Learner::logistic(Optimizer::Sgd),
    ] {
        let cfg = TrainConfig {
            learner,
            spec: Some(spec.clone()),
            max_epochs: 1,
            eval: EvalOptions {
                resamples: 0,
                ..EvalOptions::default()
            },
            ..TrainConfig::default()
        };
        group.bench_function(learner.name(), |b| {
            b.iter(|| train(black_box(&data.rows), &cfg).map(|m| m.metrics.log_loss))
        });
    }
    group.finish();
}

criterion_group!(benches, per_row, pipeline_epoch);
criterion_main!(benches);
