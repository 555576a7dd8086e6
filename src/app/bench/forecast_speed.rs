//! `liftdeck bench forecast speed`: the time to forecast one plan over N eligible users (1M by
//! default) with every user scored in every draw (`DrawOptions::max_sample = N`), beside the
//! default subsample, and beside `bench/forecast_compare.py` (numpy) computing the same per-draw
//! sums on identical inputs in the same run.
//!
//! Identical inputs: the model is fitted on a simulated history (`coverage::simulated_history`)
//! and the audience is N fresh simulated shoppers; liftdeck writes the model's encoding of
//! those shoppers (N x d, little-endian f64) and, in a JSON file, the posterior means and the
//! parameter draws it generates from the model's Gaussians. The check that both compute the
//! same thing is the point forecast: liftdeck's `score_users` at the posterior mean summed over
//! the N users against numpy's sums from the same features and means (≈1e-12 relative).
//! The numpy draws loop computes per draw what `effect/draws.rs` does per user (base and
//! lifted log-odds, sigmoid, order values, cost, Gamma composition weights, the eight weighted
//! sums); it leaves out the per-segment sums and the scalar per-draw terms, so it is a lower
//! bound on numpy's cost for the same forecast.
//!
//! Where the time goes: `forecast` at the minimum 20 draws and at the asked draws gives the
//! fixed part (sampling and encoding the audience) and the cost per draw; the encoding alone,
//! one scoring pass (`score_users`) and N Gamma draws are timed beside it.

use crate::bandit::sample::{gamma, standard_normal};
use crate::domain::Offer;
use crate::forecast::coverage::simulated_history;
use crate::forecast::effect::{self, DrawOptions, EffectModel, OFFER_TYPES};
use crate::forecast::plan::{Audience, Plan, Traffic};
use crate::forecast::projection::Training;
use crate::sim::Shop;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The fewest draws `forecast` runs (it raises smaller requests to this).
const MIN_DRAWS: usize = 20;
const HOLDOUT: f64 = 0.1;
const MARGIN: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct SpeedBenchOptions {
    pub users: usize,
    pub draws: usize,
    pub repeats: usize,
    pub seed: u64,
}

/// Sums over the audience at the posterior mean: conversion chance without the offer,
/// uplift, offer cost and incremental profit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct PointSums {
    pub baseline: f64,
    pub uplift: f64,
    pub cost: f64,
    pub profit: f64,
}

/// numpy's figures (median seconds; what the script prints).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PythonSide {
    pub label: String,
    pub load: f64,
    pub point: f64,
    pub draws_loop: f64,
    pub draws_matmul: f64,
    /// CPU seconds (`time.process_time`, every thread) of the two.
    pub draws_loop_cpu: f64,
    pub draws_matmul_cpu: f64,
    pub sums: PointSums,
    /// Mean over draws of the weighted mean uplift (a sanity figure, not compared exactly).
    pub mean_uplift: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpeedBench {
    pub users: usize,
    pub features: usize,
    pub draws: usize,
    pub repeats: usize,
    pub offer: String,
    pub fit: f64,
    pub shoppers: f64,
    /// Median seconds of `forecast` with every user scored in every draw.
    pub forecast_all: f64,
    /// The same at the minimum draws, for the fixed part.
    pub forecast_min_draws: f64,
    /// CPU seconds (this process, /proc) of the same two, median: on a shared machine the
    /// wall clock includes time waiting for a core.
    pub forecast_all_cpu: f64,
    pub forecast_min_draws_cpu: f64,
    /// `forecast` with the default `max_sample`.
    pub forecast_default: f64,
    pub default_max_sample: usize,
    pub encode: f64,
    pub score_point: f64,
    pub gamma_draws: f64,
    pub sums: PointSums,
    pub python: Option<PythonSide>,
    pub python_note: Option<String>,
}

impl SpeedBench {
    /// CPU seconds per draw over all users, and the fixed part, from the two draw counts.
    pub fn split(&self) -> (f64, f64) {
        let extra = self.draws.saturating_sub(MIN_DRAWS).max(1) as f64;
        let per_draw = (self.forecast_all_cpu - self.forecast_min_draws_cpu) / extra;
        (
            per_draw,
            self.forecast_min_draws_cpu - MIN_DRAWS as f64 * per_draw,
        )
    }

    /// Largest relative difference of the point sums, liftdeck against numpy.
    pub fn point_difference(&self) -> Option<f64> {
        let p = self.python.as_ref()?;
        let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs()).max(f64::MIN_POSITIVE);
        let (a, b) = (&self.sums, &p.sums);
        Some(
            [
                rel(a.baseline, b.baseline),
                rel(a.uplift, b.uplift),
                rel(a.cost, b.cost),
                rel(a.profit, b.profit),
            ]
            .into_iter()
            .fold(0.0, f64::max),
        )
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t0 = Instant::now();
    let out = f();
    (out, t0.elapsed().as_secs_f64())
}

/// A plan for everyone with the first offer type the history ran, at its middle tested depth.
fn plan_for(model: &EffectModel, users: usize) -> anyhow::Result<Plan> {
    let b = 0;
    let t = model
        .types
        .get(b)
        .ok_or_else(|| anyhow::anyhow!("the simulated history tested no offer"))?;
    let d = &model.support[b].depths;
    let pct = d.get(d.len() / 2).copied().unwrap_or(10.0);
    let offer = match OFFER_TYPES[*t] {
        "coupon" => Offer::Coupon { pct },
        _ => Offer::Discount { pct },
    };
    Ok(Plan {
        name: "bench".into(),
        offer,
        audience: Audience::default(),
        traffic: Traffic {
            audience_size: Some(users as f64),
            daily_users: None,
            days: None,
            cv: Some(0.0),
        },
        margin: MARGIN,
        cost_per_redemption: None,
        budget: None,
        depths: Vec::new(),
        holdout: HOLDOUT,
        alpha: 0.05,
        power: 0.8,
    })
}

/// What the Python side reads beside the feature matrix.
#[derive(Serialize)]
struct Inputs<'a> {
    users: usize,
    features: usize,
    conv_mean: &'a [f64],
    basket_mean: &'a [f64],
    conv_draws: Vec<Vec<f64>>,
    basket_draws: Vec<Vec<f64>>,
    dose: f64,
    block: usize,
    take: f64,
    pct: f64,
    smearing: f64,
    margin: f64,
    /// Shape of the Gamma composition weights (as `forecast` sets it for this plan).
    shape: f64,
    seed: u64,
}

fn write_inputs(
    dir: &Path,
    model: &EffectModel,
    plan: &Plan,
    contexts: &[Map<String, Value>],
    o: &SpeedBenchOptions,
) -> anyhow::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("features.f64"))?);
    let mut phi = Vec::new();
    for c in contexts {
        model.encoder.encode(c, &mut phi);
        for x in &phi {
            w.write_all(&x.to_le_bytes())?;
        }
    }
    w.flush()?;
    let mut rng = Prng::seed_from_u64(o.seed ^ 0x5EED);
    let mut draw = |g: &effect::Gaussian| {
        let z: Vec<f64> = (0..g.mean.len())
            .map(|_| standard_normal(&mut rng))
            .collect();
        g.draw(&z)
    };
    let (mut conv_draws, mut basket_draws) = (Vec::new(), Vec::new());
    for _ in 0..o.draws.max(MIN_DRAWS) {
        conv_draws.push(draw(&model.conversion));
        basket_draws.push(draw(&model.basket));
    }
    let block = model
        .block(&plan.offer)
        .ok_or_else(|| anyhow::anyhow!("the plan's offer type is not in the model"))?;
    let m = contexts.len() as f64;
    let t = m * (1.0 - HOLDOUT);
    let inputs = Inputs {
        users: contexts.len(),
        features: model.phi_len(),
        conv_mean: &model.conversion.mean,
        basket_mean: &model.basket.mean,
        conv_draws,
        basket_draws,
        dose: effect::dose(&plan.offer),
        block,
        take: model.support[block].take_rate.map_or(1.0, |t| t.0),
        pct: crate::forecast::plan::offer_depth(&plan.offer),
        smearing: model.smearing,
        margin: plan.margin,
        shape: 1.0 / (1.0 + m / t.max(1.0)),
        seed: o.seed,
    };
    std::fs::write(dir.join("inputs.json"), serde_json::to_vec(&inputs)?)?;
    Ok(())
}

fn run_python(
    dir: &Path,
    python: &Path,
    script: &Path,
    repeats: usize,
) -> Result<PythonSide, String> {
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("--dir")
        .arg(dir)
        .args(["--repeats", &repeats.to_string()])
        .output()
        .map_err(|e| format!("{e}; {HOW_TO_PYTHON}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.trim().lines().last().unwrap_or("").to_string();
        return Err(format!("{last}; {HOW_TO_PYTHON}"));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("unreadable output: {e}"))
}

/// What to do when the Python side cannot run.
pub const HOW_TO_PYTHON: &str = "the Python side needs numpy: python3 -m venv /tmp/venv && \
     /tmp/venv/bin/pip install numpy, then set LIFTDECK_PYTHON=/tmp/venv/bin/python (or pass --python)";

/// Runs the benchmark; `python` is (interpreter, script), `None` to skip the comparison.
pub fn bench_forecast_speed(
    o: &SpeedBenchOptions,
    dir: &Path,
    python: Option<(&Path, &Path)>,
) -> anyhow::Result<SpeedBench> {
    let repeats = o.repeats.max(1);
    let history = simulated_history(o.seed, 6, 1_500);
    let (model, fit) = time(|| effect::fit(&history));
    let model = model?;
    let plan = plan_for(&model, o.users)?;
    let (contexts, shoppers) = time(|| {
        let mut shop = Shop::new(o.seed.wrapping_add(1));
        (0..o.users)
            .map(|_| shop.next_shopper().context())
            .collect::<Vec<_>>()
    });
    let opts = |draws: usize, max_sample: usize| DrawOptions {
        draws,
        seed: o.seed,
        max_sample,
    };
    let forecast_time = |d: DrawOptions| -> anyhow::Result<(f64, f64)> {
        let (mut wall, mut cpu) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
        for _ in 0..repeats {
            let c0 = super::procfs::process_cpu_seconds();
            let (f, s) =
                time(|| effect::forecast(&model, &plan, &contexts, Training::default(), &d));
            f?;
            wall.push(s);
            cpu.push(super::procfs::process_cpu_seconds() - c0);
        }
        Ok((median(wall), median(cpu)))
    };
    let default_max_sample = DrawOptions::default().max_sample;
    let (forecast_all, forecast_all_cpu) = forecast_time(opts(o.draws, o.users))?;
    let (forecast_min_draws, forecast_min_draws_cpu) = forecast_time(opts(MIN_DRAWS, o.users))?;
    let (forecast_default, _) = forecast_time(opts(o.draws, default_max_sample))?;
    let mut phi = Vec::new();
    let (_, encode) = time(|| {
        let mut s = 0.0;
        for c in &contexts {
            model.encoder.encode(c, &mut phi);
            s += phi.first().copied().unwrap_or(0.0);
        }
        s
    });
    let offers = [Offer::None, plan.offer.clone()];
    let (scores, score_point) =
        time(|| effect::score_users(&model, &offers, plan.margin, None, &contexts, None));
    let scores = scores?;
    let k = scores.offers;
    let col = |v: &[f64]| v.iter().skip(1).step_by(k).sum::<f64>();
    let sums = PointSums {
        baseline: scores.baseline.iter().sum(),
        uplift: col(&scores.uplift),
        cost: col(&scores.cost),
        profit: col(&scores.profit),
    };
    let (_, gamma_draws) = time(|| {
        let mut rng = Prng::seed_from_u64(o.seed);
        (0..o.users).map(|_| gamma(&mut rng, 0.47)).sum::<f64>()
    });
    let (mut py, mut python_note) = (None, None);
    match python {
        None => python_note = Some(HOW_TO_PYTHON.into()),
        Some((python, script)) => {
            write_inputs(dir, &model, &plan, &contexts, o)?;
            drop(contexts);
            match run_python(dir, python, script, repeats) {
                Ok(p) => py = Some(p),
                Err(e) => python_note = Some(e),
            }
        }
    }
    Ok(SpeedBench {
        users: o.users,
        features: model.phi_len(),
        draws: o.draws.max(MIN_DRAWS),
        repeats,
        offer: format!("{:?}", plan.offer),
        fit,
        shoppers,
        forecast_all,
        forecast_min_draws,
        forecast_all_cpu,
        forecast_min_draws_cpu,
        forecast_default,
        default_max_sample,
        encode,
        score_point,
        gamma_draws,
        sums,
        python: py,
        python_note,
    })
}

impl fmt::Display for SpeedBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (per_draw, fixed) = self.split();
        writeln!(
            f,
            "plan forecast over {} users ({} features), {} draws, offer {}, median of {}",
            self.users, self.features, self.draws, self.offer, self.repeats
        )?;
        writeln!(
            f,
            "  fit on 27,000 simulated units {:.2} s; {} shoppers simulated {:.2} s (not timed below)",
            self.fit, self.users, self.shoppers
        )?;
        writeln!(
            f,
            "  liftdeck forecast, every user every draw   {:>9.3} s wall, {:.3} s CPU",
            self.forecast_all, self.forecast_all_cpu
        )?;
        writeln!(
            f,
            "    fixed part (sample + encode audience)    {fixed:>9.3} s CPU (from {:.3} s CPU, {:.3} s wall at {MIN_DRAWS} draws)",
            self.forecast_min_draws_cpu, self.forecast_min_draws
        )?;
        writeln!(
            f,
            "    per draw over all users                  {per_draw:>9.4} s CPU ({:.1} ns a user)",
            1e9 * per_draw / self.users.max(1) as f64
        )?;
        writeln!(
            f,
            "    encode all users alone                   {:>9.3} s",
            self.encode
        )?;
        writeln!(
            f,
            "    score_users, one pass at the mean        {:>9.3} s  (encode + one scoring)",
            self.score_point
        )?;
        writeln!(
            f,
            "    {} Gamma weights alone                {:>9.4} s",
            self.users, self.gamma_draws
        )?;
        writeln!(
            f,
            "  liftdeck forecast, default max_sample {}  {:>9.3} s",
            self.default_max_sample, self.forecast_default
        )?;
        let s = &self.sums;
        writeln!(
            f,
            "  point (posterior mean) sums, liftdeck: baseline {:.6} uplift {:.6} cost {:.6} profit {:.6}",
            s.baseline, s.uplift, s.cost, s.profit
        )?;
        if let Some(p) = &self.python {
            let s = &p.sums;
            writeln!(
                f,
                "  point (posterior mean) sums, {}: baseline {:.6} uplift {:.6} cost {:.6} profit {:.6}",
                p.label, s.baseline, s.uplift, s.cost, s.profit
            )?;
            if let Some(d) = self.point_difference() {
                writeln!(f, "  largest relative difference {d:.1e}")?;
            }
            writeln!(
                f,
                "  {}: one scoring pass {:.3} s; reading the inputs {:.2} s (not timed)",
                p.label, p.point, p.load
            )?;
            for (how, wall, cpu) in [
                ("as a loop", p.draws_loop, p.draws_loop_cpu),
                ("in matrix chunks", p.draws_matmul, p.draws_matmul_cpu),
            ] {
                writeln!(
                    f,
                    "  {} draws {how}: {wall:.3} s wall ({:.1}x liftdeck's forecast), {cpu:.3} s CPU ({:.1}x)",
                    self.draws,
                    wall / self.forecast_all,
                    cpu / self.forecast_all_cpu
                )?;
            }
        }
        if let Some(note) = &self.python_note {
            writeln!(f, "  python side skipped: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_without_python_splits_the_time_and_sums_the_point_forecast() {
        let o = SpeedBenchOptions {
            users: 2_000,
            draws: 30,
            repeats: 1,
            seed: 2,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let b = bench_forecast_speed(&o, dir.path(), None).expect("runs");
        assert_eq!(b.users, 2_000);
        assert!(b.features > 0);
        assert!(b.sums.uplift.is_finite() && b.sums.baseline > 0.0);
        assert!(b.python.is_none() && b.python_note.is_some());
        assert!(b.point_difference().is_none());
        assert!(b.forecast_all > 0.0);
    }
}
