//! `liftdeck bench train`: training rows per second of the hashed learners (LR-SGD, FTRL) on
//! one core, their holdout AUC and log loss, and prediction latency, on the synthetic shop of
//! [`super::train_data`]. The oldest 80% trains, the newest 20% is held out (as the product
//! splits). Phases are timed apart: generating the rows (never counted in rows/s), hashing
//! them with the product's spec, training one pass, scoring the holdout. Each timed phase is
//! the median of `repeats` runs; CPU seconds are this process's (one thread throughout).
//!
//! Two training paths per learner:
//! - `loop`: the learner's own update over rows already hashed in memory (FTRL only:
//!   the lazy SGD learner is private to the pipeline);
//! - `pipeline`: `model::pipeline::train` with the spec given and one epoch, as `liftdeck
//!   train` runs it: it hashes the rows itself, trains, scores the holdout each epoch.
//!
//! `--write-vw FILE` writes the same rows as Vowpal Wabbit text: FILE (training part) and
//! FILE.test (holdout), for `bench/vw_compare.py`.

use super::median;
use super::train_data::{synthetic_rows, write_vw};
use crate::model::eval::EvalOptions;
use crate::model::ftrl::{Ftrl, FtrlParams};
use crate::model::hashing::{HashSpec, SparseRow};
use crate::model::logistic::{auc, log_loss, Optimizer};
use crate::model::pipeline::{default_spec, train, Learner, TrainConfig, TrainingRow};
use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

/// Which learners to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchLearners {
    LrSgd,
    Ftrl,
    /// lr-sgd and FTRL.
    Both,
    /// Adam logistic regression (`--learner lr`, the hashed default).
    Lr,
    /// lr, lr-sgd and FTRL.
    All,
}

#[derive(Debug, Clone)]
pub struct TrainBenchOptions {
    pub rows: usize,
    pub learners: BenchLearners,
    pub bits: u32,
    pub seed: u64,
    pub repeats: usize,
    /// Single-row predictions timed one by one for the latency percentiles.
    pub latency_calls: usize,
    pub write_vw: Option<PathBuf>,
}

/// Wall and CPU seconds of one phase (medians over repeats) and its rows per second.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Phase {
    pub rows: usize,
    pub wall_s: f64,
    pub cpu_s: f64,
    pub rows_per_s: f64,
    /// Rows per CPU second: the one-core figure on a machine shared with other work.
    pub rows_per_cpu_s: f64,
}

/// One learner's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LearnerBench {
    pub learner: String,
    /// The learner's own update over hashed rows (None for lr-sgd, see the module doc).
    pub train_loop: Option<Phase>,
    /// Hashing of the training rows plus `train_loop`: in-memory rows to a trained model.
    pub hash_and_train: Option<Phase>,
    /// `model::pipeline::train`, one epoch: hash all rows, train, score the holdout.
    pub pipeline: Phase,
    pub holdout_auc: Option<f64>,
    pub holdout_log_loss: f64,
    /// Hashed row -> probability, one call at a time (nanoseconds).
    pub predict_hashed_median_ns: Option<f64>,
    pub predict_hashed_p99_ns: Option<f64>,
    /// `TrainedModel::predict` of a raw row (hash + score), one call at a time.
    pub predict_row_median_ns: f64,
    pub predict_row_p99_ns: f64,
    /// `TrainedModel::predict_batch` over the holdout.
    pub predict_batch_rows_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub rows: usize,
    pub train_rows: usize,
    pub holdout_rows: usize,
    pub bits: u32,
    pub seed: u64,
    pub repeats: usize,
    pub features_per_row: f64,
    pub base_rate: f64,
    /// Log loss and AUC of the true probabilities on the holdout: the floor no model beats.
    pub oracle_log_loss: f64,
    pub oracle_auc: Option<f64>,
    pub generate_s: f64,
    /// Hashing the training rows with the product's spec (`TrainingRow::encode`).
    pub hash: Phase,
    pub learners: Vec<LearnerBench>,
    pub vw_files: Option<(PathBuf, PathBuf)>,
}

/// CPU seconds this thread has run, to the nanosecond (/proc/thread-self/schedstat), else
/// the process's at /proc's 10 ms resolution. The benchmark is single-threaded.
fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or_else(super::procfs::process_cpu_seconds, |ns| ns / 1e9)
}

/// Runs `f` `repeats` times; the median wall and CPU seconds and the last result.
fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut walls = Vec::new();
    let mut cpus = Vec::new();
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let out = f();
        walls.push(t0.elapsed().as_secs_f64());
        cpus.push(cpu_seconds() - c0);
        last = Some(out);
    }
    let wall = median(walls.into_iter());
    let cpu = median(cpus.into_iter());
    match last {
        Some(out) => (wall, cpu, out),
        None => (wall, cpu, f()),
    }
}

fn phase(rows: usize, wall_s: f64, cpu_s: f64) -> Phase {
    Phase {
        rows,
        wall_s,
        cpu_s,
        rows_per_s: rows as f64 / wall_s.max(1e-12),
        rows_per_cpu_s: rows as f64 / cpu_s.max(1e-12),
    }
}

/// Median and 99th percentile (nanoseconds) of `f` timed one call at a time.
fn latency(calls: usize, mut f: impl FnMut(usize) -> f64) -> (f64, f64) {
    let mut ns = Vec::with_capacity(calls);
    let mut sink = 0.0;
    for k in 0..calls.max(1) {
        let t0 = Instant::now();
        sink += f(k);
        ns.push(t0.elapsed().as_nanos() as f64);
    }
    std::hint::black_box(sink);
    ns.sort_by(f64::total_cmp);
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn learner_config(learner: Learner, spec: &HashSpec, seed: u64) -> TrainConfig {
    TrainConfig {
        learner,
        spec: Some(spec.clone()),
        bits: spec.bits,
        max_epochs: 1,
        seed,
        eval: EvalOptions {
            resamples: 0,
            ..EvalOptions::default()
        },
        ..TrainConfig::default()
    }
}

fn run_ftrl(x: &[SparseRow], y: &[bool], bits: u32) -> Ftrl {
    let mut m = Ftrl::new(bits, FtrlParams::default());
    for (row, &label) in x.iter().zip(y) {
        m.update(row, label);
    }
    m
}

/// The whole benchmark.
pub fn bench_train(opts: &TrainBenchOptions) -> anyhow::Result<TrainBench> {
    anyhow::ensure!(opts.rows >= 10, "need at least 10 rows");
    let t0 = Instant::now();
    let data = synthetic_rows(opts.rows, opts.seed);
    let generate_s = t0.elapsed().as_secs_f64();
    let rows: &[TrainingRow] = &data.rows;
    // Rows are strictly time ordered, so the newest 20% is the tail (the pipeline's split).
    let cut = ((rows.len() as f64) * 0.8).round() as usize;
    let (train_rows, holdout) = rows.split_at(cut);
    let spec = default_spec(train_rows, opts.bits, true);
    let (hw, hc, x) = timed(opts.repeats, || {
        let mut encoder = spec.encoder::<TrainingRow>();
        train_rows
            .iter()
            .map(|r| encoder.encode(r))
            .collect::<Vec<_>>()
    });
    let hash = phase(cut, hw, hc);
    let y: Vec<bool> = train_rows.iter().map(|r| r.label).collect();
    let mut encoder = spec.encoder::<TrainingRow>();
    let vx: Vec<SparseRow> = holdout.iter().map(|r| encoder.encode(r)).collect();
    let vy: Vec<f64> = holdout
        .iter()
        .map(|r| f64::from(u8::from(r.label)))
        .collect();
    let truth = &data.truth[cut..];
    let features_per_row = x.iter().map(SparseRow::len).sum::<usize>() as f64 / cut as f64;

    let mut learners = Vec::new();
    let chosen: &[Learner] = &match opts.learners {
        BenchLearners::LrSgd => vec![Learner::logistic(Optimizer::Sgd)],
        BenchLearners::Ftrl => vec![Learner::Ftrl(FtrlParams::default())],
        BenchLearners::Both => vec![
            Learner::logistic(Optimizer::Sgd),
            Learner::Ftrl(FtrlParams::default()),
        ],
        BenchLearners::Lr => vec![Learner::logistic(Optimizer::Adam)],
        BenchLearners::All => vec![
            Learner::logistic(Optimizer::Adam),
            Learner::logistic(Optimizer::Sgd),
            Learner::Ftrl(FtrlParams::default()),
        ],
    };
    for &learner in chosen {
        let cfg = learner_config(learner, &spec, opts.seed);
        let (pw, pc, model) = timed(opts.repeats, || train(rows, &cfg));
        let model = model?;
        let pipeline = phase(cut, pw, pc);
        let mut b = LearnerBench {
            learner: learner.name().into(),
            train_loop: None,
            hash_and_train: None,
            pipeline,
            holdout_auc: model.metrics.auc,
            holdout_log_loss: model.metrics.log_loss,
            predict_hashed_median_ns: None,
            predict_hashed_p99_ns: None,
            predict_row_median_ns: 0.0,
            predict_row_p99_ns: 0.0,
            predict_batch_rows_per_s: 0.0,
        };
        if let Learner::Ftrl(_) = learner {
            let (tw, tc, m) = timed(opts.repeats, || run_ftrl(&x, &y, spec.bits));
            b.train_loop = Some(phase(cut, tw, tc));
            b.hash_and_train = Some(phase(cut, tw + hw, tc + hc));
            // The loop's own holdout figures: one pass in time order, as the pipeline does.
            let p: Vec<f64> = vx.iter().map(|r| m.predict(r)).collect();
            b.holdout_auc = auc(&p, &vy);
            b.holdout_log_loss = log_loss(&vy, &p);
            let (med, p99) = latency(opts.latency_calls, |k| m.predict(&vx[k % vx.len()]));
            b.predict_hashed_median_ns = Some(med);
            b.predict_hashed_p99_ns = Some(p99);
        }
        let (med, p99) = latency(opts.latency_calls, |k| {
            model.predict(&holdout[k % holdout.len()])
        });
        b.predict_row_median_ns = med;
        b.predict_row_p99_ns = p99;
        let (bw, _, _) = timed(opts.repeats, || model.predict_batch(holdout));
        b.predict_batch_rows_per_s = holdout.len() as f64 / bw.max(1e-12);
        learners.push(b);
    }

    let vw_files = match &opts.write_vw {
        Some(path) => {
            let mut test = path.clone().into_os_string();
            test.push(".test");
            let test = PathBuf::from(test);
            for (file, part) in [(path, train_rows), (&test, holdout)] {
                let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
                write_vw(&mut out, &spec, part)?;
                std::io::Write::flush(&mut out)?;
            }
            Some((path.clone(), test))
        }
        None => None,
    };
    Ok(TrainBench {
        rows: rows.len(),
        train_rows: cut,
        holdout_rows: holdout.len(),
        bits: spec.bits,
        seed: opts.seed,
        repeats: opts.repeats.max(1),
        features_per_row,
        base_rate: y.iter().filter(|v| **v).count() as f64 / cut as f64,
        oracle_log_loss: log_loss(&vy, truth),
        oracle_auc: auc(truth, &vy),
        generate_s,
        hash,
        learners,
        vw_files,
    })
}

fn krows(rows_per_s: f64) -> String {
    format!("{:.0}k rows/s", rows_per_s / 1e3)
}

/// Rows per wall second and per CPU second.
fn rates(p: &Phase) -> String {
    format!(
        "{:>6.0}k rows/s wall, {:>6.0}k rows/CPU-s ({:.2} s wall, {:.2} CPU-s)",
        p.rows_per_s / 1e3,
        p.rows_per_cpu_s / 1e3,
        p.wall_s,
        p.cpu_s
    )
}

impl fmt::Display for TrainBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench train: {} rows ({} train, newest {} holdout), 2^{} buckets, {:.1} features/row, base rate {:.4}, seed {}, medians of {}",
            self.rows, self.train_rows, self.holdout_rows, self.bits, self.features_per_row,
            self.base_rate, self.seed, self.repeats
        )?;
        writeln!(
            f,
            "  generate {:.2} s (not counted)\n  hash (TrainingRow::encode)          {}",
            self.generate_s,
            rates(&self.hash)
        )?;
        let auc = |a: Option<f64>| a.map_or("-".into(), |a| format!("{a:.4}"));
        writeln!(
            f,
            "  oracle (true probabilities): holdout AUC {}, log loss {:.5}",
            auc(self.oracle_auc),
            self.oracle_log_loss
        )?;
        for b in &self.learners {
            writeln!(
                f,
                "  {}: holdout AUC {}, log loss {:.5}",
                b.learner,
                auc(b.holdout_auc),
                b.holdout_log_loss
            )?;
            if let (Some(l), Some(h)) = (b.train_loop, b.hash_and_train) {
                writeln!(f, "    train loop (hashed rows in memory)  {}", rates(&l))?;
                writeln!(f, "    hash + train (rows in memory)       {}", rates(&h))?;
            }
            let p = b.pipeline;
            writeln!(
                f,
                "    pipeline::train, 1 epoch            {} (hashes train + holdout, scores holdout)",
                rates(&p)
            )?;
            if let (Some(m), Some(p99)) = (b.predict_hashed_median_ns, b.predict_hashed_p99_ns) {
                writeln!(
                    f,
                    "    predict hashed row: median {m:.0} ns, p99 {p99:.0} ns"
                )?;
            }
            writeln!(
                f,
                "    predict raw row (hash + score): median {:.0} ns, p99 {:.0} ns; batch {}",
                b.predict_row_median_ns,
                b.predict_row_p99_ns,
                krows(b.predict_batch_rows_per_s)
            )?;
        }
        if let Some((a, b)) = &self.vw_files {
            writeln!(
                f,
                "  VW text: {} (train), {} (holdout)",
                a.display(),
                b.display()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plumbing only, never a time: a small run fills every figure and beats a constant.
    #[test]
    fn small_run_reports_every_learner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vw = dir.path().join("rows.vw");
        let r = bench_train(&TrainBenchOptions {
            rows: 4000,
            learners: BenchLearners::All,
            bits: 16,
            seed: 5,
            repeats: 1,
            latency_calls: 50,
            write_vw: Some(vw.clone()),
        })
        .expect("bench");
        assert_eq!(r.train_rows + r.holdout_rows, 4000);
        let names: Vec<&str> = r.learners.iter().map(|b| b.learner.as_str()).collect();
        assert_eq!(names, ["lr", "lr-sgd", "ftrl"]);
        assert!(r.learners[2].train_loop.is_some());
        let constant = {
            let q = r.base_rate;
            -(q * q.ln() + (1.0 - q) * (1.0 - q).ln())
        };
        for b in &r.learners {
            assert!(b.holdout_log_loss.is_finite());
            assert!(
                b.holdout_log_loss < constant + 0.01,
                "{}: {}",
                b.learner,
                b.holdout_log_loss
            );
            assert!(b.holdout_log_loss >= r.oracle_log_loss - 0.01);
        }
        let train = std::fs::read_to_string(&vw).expect("vw train");
        let test = std::fs::read_to_string(dir.path().join("rows.vw.test")).expect("vw test");
        assert_eq!(train.lines().count(), r.train_rows);
        assert_eq!(test.lines().count(), r.holdout_rows);
        assert!(r.to_string().contains("rows/s"));
    }
}
