//! `liftdeck bench causal`: every stage of the full causal report on a seeded observational
//! data set of N units (five covariates, a confounded treatment, a conversion outcome whose
//! treatment effect varies with the covariates), timed beside `bench/causal_compare.py`
//! (statsmodels, scikit-learn, CausalML) reading the same units from a CSV in the same run.
//!
//! The stages call the pure code the commands use, without the store: the propensity fit, IPW
//! and AIPW (`causal::observational::estimate`, diagnostics included), the T- and X-learner
//! fits (`causal::uplift::fit` with the penalty and chance of treatment `app::uplift` uses) on
//! the 70% training split, and scoring the 30% held out plus `causal::uplift::evaluate` (Qini,
//! AUUC, deciles, targeting). Medians over repeats; the estimates must agree.

use crate::causal::observational::{self, ObservationalOptions, Units};
use crate::causal::uplift::{self, LearnerKind, LearnerOptions, Outcome};
use crate::model::logistic::{fit_newton, Rows};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Covariates per unit.
pub const COVARIATES: usize = 5;
/// `app::uplift`'s penalty on the learners' mean loss.
const L2: f64 = 1e-4;
/// `app::uplift`'s share of incremental orders the targeting recommendation must reach.
const TARGET_SHARE: f64 = 0.8;

/// The stages, in report order: (key, label).
pub const STAGES: [(&str, &str); 5] = [
    ("observational", "propensity fit + IPW + AIPW"),
    ("t_fit", "T-learner fit (70%)"),
    ("x_fit", "X-learner fit (70%)"),
    ("t_eval", "T: score 30% + Qini/AUUC/deciles"),
    ("x_eval", "X: score 30% + Qini/AUUC/deciles"),
];

/// Timed apart from the stages and left out of the total: the part of `observational` that is
/// the propensity model's Newton fit alone.
pub const PROPENSITY_ONLY: (&str, &str) = ("propensity", "  of which the propensity fit alone");

/// The generated units.
#[derive(Debug, Clone)]
pub struct CausalData {
    pub x: Vec<Vec<f64>>,
    pub treated: Vec<bool>,
    pub converted: Vec<bool>,
    /// In the 70% the learners are trained on.
    pub train: Vec<bool>,
    /// Mean true individual effect (conversion chance treated minus control) over all units.
    pub true_ate: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Seeded units: x ~ N(0, 1)^5; treatment by a logit in x1..x3 (so x1 and x2, which also move
/// the outcome, confound it); conversion by a logit whose treatment term is 0.4 + 0.5·x3 − 0.4·x5.
pub fn synthetic_units(n: usize, seed: u64) -> CausalData {
    let mut rng = Prng::seed_from_u64(seed);
    let mut normal = || {
        let u1 = 1.0 - rng.random::<f64>();
        let u2 = rng.random::<f64>();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    let mut d = CausalData {
        x: Vec::with_capacity(n),
        treated: Vec::with_capacity(n),
        converted: Vec::with_capacity(n),
        train: Vec::with_capacity(n),
        true_ate: 0.0,
    };
    let mut rng = Prng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut effect_sum = 0.0;
    for _ in 0..n {
        let x: Vec<f64> = (0..COVARIATES).map(|_| normal()).collect();
        let e = sigmoid(-0.3 + 0.8 * x[0] - 0.5 * x[1] + 0.3 * x[2]);
        let t = rng.random::<f64>() < e;
        let base = -2.0 + 0.5 * x[0] + 0.4 * x[1] - 0.3 * x[3];
        let tau = 0.4 + 0.5 * x[2] - 0.4 * x[4];
        effect_sum += sigmoid(base + tau) - sigmoid(base);
        let p = sigmoid(base + if t { tau } else { 0.0 });
        d.converted.push(rng.random::<f64>() < p);
        d.treated.push(t);
        d.train.push(rng.random::<f64>() < 0.7);
        d.x.push(x);
    }
    d.true_ate = effect_sum / n.max(1) as f64;
    d
}

/// x1..x5,t,y,train with 17 significant digits, so Python reads the same doubles.
pub fn write_csv(d: &CausalData, path: &Path) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "x1,x2,x3,x4,x5,t,y,train")?;
    for i in 0..d.x.len() {
        for v in &d.x[i] {
            write!(w, "{v:?},")?;
        }
        writeln!(
            w,
            "{},{},{}",
            u8::from(d.treated[i]),
            u8::from(d.converted[i]),
            u8::from(d.train[i])
        )?;
    }
    w.flush()
}

/// One implementation's figures: median seconds per stage key and the estimates.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CausalBenchSide {
    pub label: String,
    pub stages: BTreeMap<String, f64>,
    pub estimates: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CausalBench {
    pub units: usize,
    pub repeats: usize,
    pub true_ate: f64,
    pub liftdeck: CausalBenchSide,
    pub python: Option<CausalBenchSide>,
    /// What the Python side said when it could not run.
    pub python_note: Option<String>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn timed<T>(times: &mut Vec<f64>, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    times.push(t0.elapsed().as_secs_f64());
    out
}

/// Times liftdeck's stages on `d`.
pub fn time_liftdeck(d: &CausalData, repeats: usize) -> anyhow::Result<CausalBenchSide> {
    let mut side = CausalBenchSide {
        label: "liftdeck".into(),
        ..CausalBenchSide::default()
    };
    let outcome: Vec<f64> = d
        .converted
        .iter()
        .map(|&c| f64::from(u8::from(c)))
        .collect();
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let (mut train_x, mut train_t, mut train_y) = (Rows::new(COVARIATES), Vec::new(), Vec::new());
    let mut held: Vec<usize> = Vec::new();
    let mut held_x = Rows::new(COVARIATES);
    for (i, row) in d.x.iter().enumerate() {
        if d.train[i] {
            train_x.push(row);
            train_t.push(d.treated[i]);
            train_y.push(outcome[i]);
        } else {
            held_x.push(row);
            held.push(i);
        }
    }
    let propensity = train_t.iter().filter(|t| **t).count() as f64 / train_t.len().max(1) as f64;
    let mut all_x = Rows::new(COVARIATES);
    for row in &d.x {
        all_x.push(row);
    }
    let labels: Vec<f64> = d.treated.iter().map(|&t| f64::from(u8::from(t))).collect();
    for _ in 0..repeats.max(1) {
        // `estimate`'s own call: no penalty, at most 100 Newton steps.
        timed(times.entry(PROPENSITY_ONLY.0).or_default(), || {
            fit_newton(&all_x, &labels, 0.0, 100)
        });
        let units = Units {
            covariates: &d.x,
            names: &[],
            treated: &d.treated,
            outcome: &outcome,
        };
        let r = timed(times.entry("observational").or_default(), || {
            observational::estimate(units, ObservationalOptions::default())
        })?;
        side.estimates.insert("ipw_ate".into(), Some(r.ipw.effect));
        side.estimates
            .insert("aipw_ate".into(), Some(r.aipw.effect));
        side.estimates.insert("naive".into(), Some(r.naive.effect));
        for (kind, fit_key, eval_key) in [
            (LearnerKind::T, "t_fit", "t_eval"),
            (LearnerKind::X, "x_fit", "x_eval"),
        ] {
            let opts = LearnerOptions {
                kind,
                l2: L2,
                propensity,
            };
            let model = timed(times.entry(fit_key).or_default(), || {
                uplift::fit(&train_x, &train_t, &train_y, &opts)
            })?;
            let ev = timed(times.entry(eval_key).or_default(), || {
                let scored: Vec<Outcome> = held
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| Outcome {
                        score: model.predict(held_x.row(k)),
                        treated: d.treated[i],
                        converted: d.converted[i],
                        revenue: 0.0,
                        cost: 0.0,
                    })
                    .collect();
                uplift::evaluate(&scored, TARGET_SHARE)
            });
            let k = kind.as_str();
            side.estimates
                .insert(format!("qini_{k}"), ev.qini_coefficient);
            side.estimates.insert(format!("auuc_{k}"), ev.auuc);
        }
    }
    side.stages = times
        .into_iter()
        .map(|(k, v)| (k.to_string(), median(v)))
        .collect();
    Ok(side)
}

/// Generates the units, times liftdeck, then runs `python` on `script` with the same CSV.
pub fn bench_causal(
    units: usize,
    repeats: usize,
    seed: u64,
    dir: &Path,
    python: Option<(&Path, &Path)>,
) -> anyhow::Result<CausalBench> {
    let d = synthetic_units(units, seed);
    let repeats = repeats.max(1);
    let liftdeck = time_liftdeck(&d, repeats)?;
    let (mut py, mut python_note) = (None, None);
    if let Some((python, script)) = python {
        let csv = dir.join("causal_units.csv");
        write_csv(&d, &csv)?;
        let out = std::process::Command::new(python)
            .arg(script)
            .arg("--csv")
            .arg(&csv)
            .args(["--repeats", &repeats.to_string()])
            .output()?;
        if out.status.success() {
            py = Some(serde_json::from_slice::<CausalBenchSide>(&out.stdout)?);
        } else {
            python_note = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
    }
    Ok(CausalBench {
        units,
        repeats,
        true_ate: d.true_ate,
        liftdeck,
        python: py,
        python_note,
    })
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

impl fmt::Display for CausalBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "causal report on {} units ({COVARIATES} covariates), median of {} (no store)",
            self.units, self.repeats
        )?;
        let py = self.python.as_ref();
        writeln!(
            f,
            "  {:<36} {:>12} {:>12} {:>10}",
            "stage", "liftdeck s", "python s", "py/liftdeck"
        )?;
        let (mut total_l, mut total_p) = (0.0, Some(0.0));
        for (key, label) in STAGES {
            let l = self.liftdeck.stages.get(key).copied();
            let p = py.and_then(|p| p.stages.get(key).copied());
            total_l += l.unwrap_or(0.0);
            total_p = match (total_p, p) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            let ratio = l.zip(p).map(|(l, p)| p / l);
            writeln!(
                f,
                "  {label:<36} {:>12} {:>12} {:>10}",
                cell(l),
                cell(p),
                ratio.map_or("-".into(), |r| format!("{r:.1}"))
            )?;
        }
        let (key, label) = PROPENSITY_ONLY;
        let l = self.liftdeck.stages.get(key).copied();
        let p = py.and_then(|p| p.stages.get(key).copied());
        let ratio = l
            .zip(p)
            .map_or("-".into(), |(l, p)| format!("{:.1}", p / l));
        writeln!(
            f,
            "  {label:<36} {:>12} {:>12} {ratio:>10}",
            cell(l),
            cell(p)
        )?;
        let total_p = total_p.filter(|_| py.is_some());
        writeln!(
            f,
            "  {:<36} {:>12} {:>12} {:>10}",
            "total",
            cell(Some(total_l)),
            cell(total_p),
            total_p.map_or("-".into(), |p| format!("{:.1}", p / total_l))
        )?;
        writeln!(f, "  true ATE {:.6}", self.true_ate)?;
        writeln!(
            f,
            "  {:<12} {:>16} {:>16} {:>12}",
            "estimate", "liftdeck", "python", "|diff|"
        )?;
        for (key, l) in &self.liftdeck.estimates {
            let p = py.and_then(|p| p.estimates.get(key).copied().flatten());
            let fmt9 = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.9}"));
            let diff = l
                .zip(p)
                .map_or("-".into(), |(a, b)| format!("{:.1e}", (a - b).abs()));
            writeln!(f, "  {key:<12} {:>16} {:>16} {diff:>12}", fmt9(*l), fmt9(p))?;
        }
        for note in py.map(|p| p.notes.as_slice()).unwrap_or_default() {
            writeln!(f, "  note: {note}")?;
        }
        if let Some(note) = &self.python_note {
            writeln!(f, "  python side failed: {note}")?;
        }
        Ok(())
    }
}
