//! `liftdeck bench budget`: the budget allocation (`forecast::budget`) on a seeded simulated
//! shop of N users x K offers, timed beside `bench/budget_compare.py` (numpy, vectorised
//! Lagrangian) reading the same table from a binary file in the same run.
//!
//! Like for like: `lagrangian_table` is the bisection the Python side runs (every user's
//! argmax_k v − λc over the whole table, λ bisected a fixed number of steps, the upper end
//! kept), so the two must reach the same λ and objective. Beside it, liftdeck's own ways:
//! the hull cost curve (`CostCurve::build`), one budget read off it (`allocate`), the
//! Lagrangian on the hull with the fill (`solve_lagrangian`) and the boundary repair
//! (`allocate_refined`). Medians over repeats.

use crate::forecast::budget::{shop, solve_lagrangian, CostCurve, Targeting};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Bisection steps of the table Lagrangian, both sides.
pub const STEPS: usize = 50;

/// The stages liftdeck times: (key, label).
pub const STAGES: [(&str, &str); 5] = [
    ("lagrangian_table", "Lagrangian on the table (50 steps)"),
    ("curve", "hull cost curve (build)"),
    ("allocate", "  allocate(B) from the curve"),
    ("lagrangian_hull", "  Lagrangian on the hull + fill"),
    ("refined", "  allocate_refined (boundary repair)"),
];

/// What to run.
#[derive(Debug, Clone)]
pub struct BudgetBenchOptions {
    pub users: usize,
    pub offers: usize,
    /// The budget as a share of the spend that gives everyone their best offer.
    pub share: f64,
    pub repeats: usize,
    pub seed: u64,
}

/// One implementation's figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BudgetBenchSide {
    pub label: String,
    /// Median seconds per stage key.
    pub stages: BTreeMap<String, f64>,
    /// Total predicted incremental value per stage key.
    pub objectives: BTreeMap<String, f64>,
    /// The price λ the table Lagrangian stopped at.
    pub lambda: f64,
    /// The table Lagrangian's spend.
    pub spend: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetBench {
    pub users: usize,
    pub offers: usize,
    pub repeats: usize,
    pub budget: f64,
    pub full_spend: f64,
    pub lp_bound: f64,
    pub liftdeck: BudgetBenchSide,
    pub python: Option<BudgetBenchSide>,
    /// Why the Python side did not run, and how to make it.
    pub python_note: Option<String>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(
    times: &mut BTreeMap<&'static str, Vec<f64>>,
    key: &'static str,
    f: impl FnOnce() -> T,
) -> T {
    let t0 = Instant::now();
    let out = f();
    times
        .entry(key)
        .or_default()
        .push(t0.elapsed().as_secs_f64());
    out
}

/// Every user's argmax_k v − λc (offer 0 wins ties): the spend and value it gives.
fn at_price(t: &Targeting, lambda: f64) -> (f64, f64) {
    let k = t.offers();
    let (mut spend, mut value) = (0.0, 0.0);
    for (vs, cs) in t.values().chunks_exact(k).zip(t.costs().chunks_exact(k)) {
        let (mut best, mut score) = (0, 0.0);
        for j in 1..k {
            let s = vs[j] - lambda * cs[j];
            if s > score {
                (best, score) = (j, s);
            }
        }
        spend += cs[best];
        value += vs[best];
    }
    (spend, value)
}

/// The Python reference's algorithm (see the module docs): (λ, spend, value).
pub fn lagrangian_table(t: &Targeting, budget: f64, steps: usize) -> (f64, f64, f64) {
    let mut hi = 0.0_f64;
    for (&v, &c) in t.values().iter().zip(t.costs()) {
        if c > 0.0 && v > 0.0 {
            hi = hi.max(v / c);
        }
    }
    let (spend, value) = at_price(t, 0.0);
    if spend <= budget {
        return (0.0, spend, value);
    }
    let mut lo = 0.0;
    for _ in 0..steps {
        let mid = 0.5 * (lo + hi);
        if at_price(t, mid).0 <= budget {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let (spend, value) = at_price(t, hi);
    (hi, spend, value)
}

/// Little-endian f64: all values, then all costs (what the Python side reads).
fn write_table(t: &Targeting, path: &Path) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for x in t.values().iter().chain(t.costs()) {
        w.write_all(&x.to_le_bytes())?;
    }
    w.flush()
}

/// The discounts after "no offer" for `offers` offers: 5% to 30%, evenly.
fn discounts(offers: usize) -> Vec<f64> {
    let m = offers.saturating_sub(1).max(1);
    (0..m)
        .map(|j| {
            if m == 1 {
                0.1
            } else {
                0.05 + 0.25 * j as f64 / (m - 1) as f64
            }
        })
        .collect()
}

/// Times liftdeck, then `python` on `script` with the same table. How to get a Python with
/// numpy is in the note when it fails.
pub fn bench_budget(
    o: &BudgetBenchOptions,
    dir: &Path,
    python: Option<(&Path, &Path)>,
) -> anyhow::Result<BudgetBench> {
    let shop = shop::simulate_discounts(o.users, &discounts(o.offers.max(2)), o.seed)?;
    let t = &shop.targeting;
    let repeats = o.repeats.max(1);
    let mut times = BTreeMap::new();
    let mut side = BudgetBenchSide {
        label: "liftdeck".into(),
        ..BudgetBenchSide::default()
    };
    let full_spend = CostCurve::build(t).points().last().map_or(0.0, |p| p.spend);
    let budget = o.share.clamp(0.0, 1.0) * full_spend;
    let mut lp_bound = 0.0;
    for _ in 0..repeats {
        let (lambda, spend, value) = timed(&mut times, "lagrangian_table", || {
            lagrangian_table(t, budget, STEPS)
        });
        (side.lambda, side.spend) = (lambda, spend);
        side.objectives.insert("lagrangian_table".into(), value);
        let curve = timed(&mut times, "curve", || CostCurve::build(t));
        lp_bound = curve.lp_bound(budget);
        let a = timed(&mut times, "allocate", || curve.allocate(budget))?;
        side.objectives.insert("allocate".into(), a.value);
        let l = timed(&mut times, "lagrangian_hull", || {
            solve_lagrangian(&curve, t, budget)
        })?;
        side.objectives.insert("lagrangian_hull".into(), l.value);
        let r = timed(&mut times, "refined", || curve.allocate_refined(t, budget))?;
        side.objectives.insert("refined".into(), r.value);
    }
    side.stages = times
        .into_iter()
        .map(|(k, v)| (k.to_string(), median(v)))
        .collect();
    let (mut py, mut python_note) = (None, None);
    match python {
        None => python_note = Some(HOW_TO_PYTHON.into()),
        Some((python, script)) => {
            let table = dir.join("budget_table.f64");
            write_table(t, &table)?;
            let out = std::process::Command::new(python)
                .arg(script)
                .arg("--table")
                .arg(&table)
                .args(["--users", &o.users.to_string()])
                .args(["--offers", &t.offers().to_string()])
                .args(["--budget", &format!("{budget:?}")])
                .args(["--steps", &STEPS.to_string()])
                .args(["--repeats", &repeats.to_string()])
                .output();
            match out {
                Ok(out) if out.status.success() => {
                    py = Some(serde_json::from_slice::<BudgetBenchSide>(&out.stdout)?);
                }
                Ok(out) => {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let last = err.trim().lines().last().unwrap_or("").to_string();
                    python_note = Some(format!("{last}; {HOW_TO_PYTHON}"));
                }
                Err(e) => python_note = Some(format!("{e}; {HOW_TO_PYTHON}")),
            }
        }
    }
    Ok(BudgetBench {
        users: o.users,
        offers: t.offers(),
        repeats,
        budget,
        full_spend,
        lp_bound,
        liftdeck: side,
        python: py,
        python_note,
    })
}

/// What to do when the Python side cannot run.
pub const HOW_TO_PYTHON: &str = "the Python side needs numpy: python3 -m venv /tmp/venv && \
     /tmp/venv/bin/pip install numpy, then set LIFTDECK_PYTHON=/tmp/venv/bin/python (or pass --python)";

fn cell(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

impl fmt::Display for BudgetBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "budget allocation, {} users x {} offers, budget {:.0} ({:.0}% of full spend {:.0}), median of {}",
            self.users,
            self.offers,
            self.budget,
            100.0 * self.budget / self.full_spend.max(f64::MIN_POSITIVE),
            self.full_spend,
            self.repeats
        )?;
        let py = self.python.as_ref();
        writeln!(
            f,
            "  {:<38} {:>10} {:>10} {:>8} {:>14}",
            "stage", "liftdeck s", "python s", "py/ours", "objective"
        )?;
        for (key, label) in STAGES {
            let l = self.liftdeck.stages.get(key).copied();
            let p = py.and_then(|p| p.stages.get(key).copied());
            let ratio = l
                .zip(p)
                .map_or("-".into(), |(l, p)| format!("{:.1}", p / l));
            let obj = self
                .liftdeck
                .objectives
                .get(key)
                .map_or("-".into(), |v| format!("{v:.2}"));
            writeln!(
                f,
                "  {label:<38} {:>10} {:>10} {ratio:>8} {obj:>14}",
                cell(l),
                cell(p)
            )?;
        }
        let path: f64 = ["curve", "allocate"]
            .iter()
            .filter_map(|k| self.liftdeck.stages.get(*k))
            .sum();
        let p = py.and_then(|p| p.stages.get("lagrangian_table").copied());
        let ratio = p.map_or("-".into(), |p| format!("{:.1}", p / path));
        writeln!(
            f,
            "  {:<38} {:>10} {:>10} {ratio:>8}",
            "table -> allocation (curve + allocate)",
            cell(Some(path)),
            cell(p)
        )?;
        writeln!(f, "  LP bound {:.2}", self.lp_bound)?;
        let ours = self.liftdeck.objectives.get("lagrangian_table").copied();
        writeln!(
            f,
            "  table Lagrangian: liftdeck lambda {:.12} spend {:.2} value {}",
            self.liftdeck.lambda,
            self.liftdeck.spend,
            cell(ours)
        )?;
        if let Some(p) = py {
            let theirs = p.objectives.get("lagrangian_table").copied();
            let diff = ours
                .zip(theirs)
                .map_or("-".into(), |(a, b)| format!("{:.1e}", (a - b).abs()));
            writeln!(
                f,
                "  table Lagrangian: {} lambda {:.12} spend {:.2} value {} (|diff| {diff})",
                p.label,
                p.lambda,
                p.spend,
                cell(theirs)
            )?;
            if let Some(load) = p.stages.get("load") {
                writeln!(
                    f,
                    "  python: reading the table {load:.3} s (not in the times)"
                )?;
            }
        }
        if let Some(note) = &self.python_note {
            writeln!(f, "  python side skipped: {note}")?;
        }
        Ok(())
    }
}
