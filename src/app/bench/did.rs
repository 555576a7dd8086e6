//! `liftdeck bench did`: the DiD estimate (TWFE with CR1 cluster errors) and the full report
//! (plus the event study, pre-trend test and placebo) on a seeded units x periods panel, timed
//! beside `bench/did_compare.py` (linearmodels PanelOLS with entity and time effects and
//! clustered covariance; statsmodels OLS on the two-way demeaned data) reading the same panel
//! from a CSV in the same run. Medians over repeats; the estimates must agree.

use crate::causal::did::{self, Panel, PanelUnit};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// The true treated x post effect of the generated panel.
pub const TRUE_EFFECT: f64 = 0.5;

#[derive(Debug, Clone)]
pub struct DidBenchOptions {
    pub units: usize,
    pub periods: usize,
    pub clusters: usize,
    pub repeats: usize,
    pub seed: u64,
}

/// One implementation's figures.
#[derive(Debug, Clone, Serialize)]
pub struct DidBenchRow {
    pub label: String,
    pub median_seconds: f64,
    pub estimate: f64,
    pub se: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DidBench {
    pub units: usize,
    pub periods: usize,
    pub clusters: usize,
    pub repeats: usize,
    pub rows: Vec<DidBenchRow>,
    /// What the Python side said when it could not run.
    pub python_note: Option<String>,
}

/// A panel with unit and period effects, treated clusters (every other one), an effect of
/// `TRUE_EFFECT` from the middle period on, and cluster-correlated noise.
pub fn synthetic_panel(o: &DidBenchOptions) -> Panel {
    let mut rng = Prng::seed_from_u64(o.seed);
    let clusters = o.clusters.max(2);
    let shocks: Vec<f64> = (0..clusters * o.periods)
        .map(|_| rng.random::<f64>() - 0.5)
        .collect();
    let period_effect: Vec<f64> = (0..o.periods).map(|t| (t as f64 * 0.7).sin()).collect();
    let first_post = o.periods / 2;
    let units = (0..o.units)
        .map(|i| {
            let cluster = i % clusters;
            let treated = cluster % 2 == 1;
            let level = 2.0 * rng.random::<f64>();
            let values = (0..o.periods)
                .map(|t| {
                    let effect = if treated && t >= first_post {
                        TRUE_EFFECT
                    } else {
                        0.0
                    };
                    level
                        + period_effect[t]
                        + effect
                        + shocks[cluster * o.periods + t]
                        + 2.0 * (rng.random::<f64>() - 0.5)
                })
                .collect();
            PanelUnit {
                treated,
                cluster: cluster as u64,
                values,
            }
        })
        .collect();
    Panel {
        units,
        periods: o.periods,
        first_post,
    }
}

/// The panel in long form: unit,period,treated,cluster,y (17 significant digits, so Python
/// reads the same doubles).
pub fn write_csv(panel: &Panel, path: &Path) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "unit,period,treated,cluster,y")?;
    for (i, u) in panel.units.iter().enumerate() {
        for (t, y) in u.values.iter().enumerate() {
            writeln!(w, "{i},{t},{},{},{y:?}", u8::from(u.treated), u.cluster)?;
        }
    }
    w.flush()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times the Rust estimator, then runs `python` on `script` with the same panel.
pub fn bench_did(
    o: &DidBenchOptions,
    dir: &Path,
    python: Option<(&Path, &Path)>,
) -> anyhow::Result<DidBench> {
    let panel = synthetic_panel(o);
    let repeats = o.repeats.max(1);
    let mut rows = Vec::new();
    let mut times = Vec::new();
    let mut fit = None;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let f = did::estimate(&panel, 0.05)?;
        times.push(t0.elapsed().as_secs_f64());
        fit = Some(f);
    }
    if let Some(f) = fit {
        rows.push(DidBenchRow {
            label: "liftdeck did::estimate".into(),
            median_seconds: median(times),
            estimate: f.effect.estimate,
            se: f.effect.se,
        });
    }
    let mut times = Vec::new();
    let mut full = None;
    for _ in 0..repeats {
        let t0 = Instant::now();
        let r = did::report(&panel, 0.05)?;
        times.push(t0.elapsed().as_secs_f64());
        full = Some(r);
    }
    if let Some(r) = full {
        rows.push(DidBenchRow {
            label: "liftdeck did::report (+ event study, pre-trend, placebo)".into(),
            median_seconds: median(times),
            estimate: r.did.effect.estimate,
            se: r.did.effect.se,
        });
    }
    let mut python_note = None;
    if let Some((python, script)) = python {
        let csv = dir.join("did_panel.csv");
        write_csv(&panel, &csv)?;
        let out = std::process::Command::new(python)
            .arg(script)
            .arg("--csv")
            .arg(&csv)
            .args(["--first-post", &panel.first_post.to_string()])
            .args(["--repeats", &repeats.to_string()])
            .output()?;
        if out.status.success() {
            let parsed: Vec<DidBenchRow> = serde_json::from_slice::<Vec<PyRow>>(&out.stdout)?
                .into_iter()
                .map(|p| DidBenchRow {
                    label: p.label,
                    median_seconds: p.median_seconds,
                    estimate: p.estimate,
                    se: p.se,
                })
                .collect();
            rows.extend(parsed);
        } else {
            python_note = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
    }
    Ok(DidBench {
        units: o.units,
        periods: o.periods,
        clusters: o.clusters,
        repeats,
        rows,
        python_note,
    })
}

#[derive(serde::Deserialize)]
struct PyRow {
    label: String,
    median_seconds: f64,
    estimate: f64,
    se: f64,
}

impl fmt::Display for DidBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "DiD on {} units x {} periods ({} clusters), true effect {TRUE_EFFECT}, median of {}",
            self.units, self.periods, self.clusters, self.repeats
        )?;
        let base = self.rows.first().map_or(f64::NAN, |r| r.median_seconds);
        let base_est = self.rows.first().map_or(f64::NAN, |r| r.estimate);
        let base_se = self.rows.first().map_or(f64::NAN, |r| r.se);
        writeln!(
            f,
            "  {:<58} {:>10} {:>8} {:>14} {:>12} {:>10} {:>10}",
            "implementation", "median s", "x Rust", "estimate", "se", "|d est|", "se ratio"
        )?;
        for r in &self.rows {
            writeln!(
                f,
                "  {:<58} {:>10.4} {:>8.1} {:>14.9} {:>12.9} {:>10.1e} {:>10.6}",
                r.label,
                r.median_seconds,
                r.median_seconds / base,
                r.estimate,
                r.se,
                (r.estimate - base_est).abs(),
                r.se / base_se
            )?;
        }
        if let Some(note) = &self.python_note {
            writeln!(f, "  python side failed: {note}")?;
        }
        Ok(())
    }
}
