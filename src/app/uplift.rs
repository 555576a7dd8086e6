//! `liftdeck report uplift`: who the offer changes. Trains a T- or X-learner on a hashed 70% of
//! a campaign's units (treated arm against control), scores the other 30%, and evaluates the
//! ranking there: Qini coefficient and curve, AUUC, uplift by decile and a targeting
//! recommendation. `uplift_scores` gives every unit's predicted uplift for the forecasts.
//!
//! Features come from the assignment context: a field whose values are all numbers is one
//! standardised column (missing = the mean); any other field is one-hot over its 20 most
//! common training values. Ids (`unit`, `id`, `*_id`) are never features. The outcome is
//! conversion (a purchase). A campaign with several treated arms needs `--arm`.

use super::{AppError, Progress, Result};
use crate::causal::uplift::{self, Evaluation, LearnerKind, LearnerOptions, Outcome};
use crate::model::logistic::Rows;
use crate::store::Store;
use crate::text::escape_control;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Fewer units than this and the held-out curve is noise.
pub const MIN_UNITS: usize = 200;
/// Percent of units (by hash of the unit id) the learners train on.
pub const TRAIN_PERCENT: u64 = 70;
/// The share of incremental orders the recommendation must capture when no costs were logged.
pub const TARGET_SHARE: f64 = 0.8;
/// A little L2 keeps one-hot columns (which sum to the intercept) solvable.
const L2: f64 = 1e-4;
const MAX_LEVELS: usize = 20;

#[derive(Debug, Clone, Default)]
pub struct UpliftOptions {
    pub learner: Option<LearnerKind>,
    /// Context fields to use; empty = every field except ids.
    pub features: Vec<String>,
    /// The treated arm; needed when the campaign has more than one.
    pub arm: Option<String>,
    pub alpha: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecileInterval {
    pub decile: usize,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpliftReport {
    pub campaign: String,
    pub control: String,
    pub treated_arm: String,
    pub learner: LearnerKind,
    /// Model columns, e.g. `age` or `device=mobile`.
    pub features: Vec<String>,
    pub train_units: u64,
    pub held_out_units: u64,
    /// Chance of treatment used by the X-learner (mean logged propensity of the treated arm).
    pub propensity: f64,
    pub alpha: f64,
    pub evaluation: Evaluation,
    /// Normal interval of each decile's observed uplift at level 1 − alpha.
    pub decile_intervals: Vec<DecileInterval>,
}

struct Unit {
    id: String,
    treated: bool,
    /// Logged chance of the treated arm when known (two-arm campaigns), else `None`.
    p_treated: Option<f64>,
    outcome: Outcome,
    context: Map<String, Value>,
}

fn is_id(field: &str) -> bool {
    field == "unit" || field == "id" || field.ends_with("_id")
}

/// FNV-1a of the unit id: the split is the same on every run and machine.
fn in_train(id: &str) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % 100 < TRAIN_PERCENT
}

enum Column {
    Numeric { field: String, mean: f64, sd: f64 },
    Level { field: String, value: String },
}

fn as_level(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl Column {
    fn name(&self) -> String {
        match self {
            Column::Numeric { field, .. } => field.clone(),
            Column::Level { field, value } => format!("{field}={value}"),
        }
    }
    fn value(&self, ctx: &Map<String, Value>) -> f64 {
        match self {
            Column::Numeric { field, mean, sd } => ctx
                .get(field)
                .and_then(Value::as_f64)
                .map_or(0.0, |x| (x - mean) / sd),
            Column::Level { field, value } => {
                let hit = ctx
                    .get(field)
                    .and_then(as_level)
                    .is_some_and(|v| &v == value);
                if hit {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Builds the columns from the training units' contexts.
fn columns(train: &[&Unit], wanted: &[String]) -> Result<Vec<Column>> {
    let mut fields: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for u in train {
        for (k, v) in &u.context {
            fields.entry(k.clone()).or_default().push(v);
        }
    }
    let names: Vec<String> = if wanted.is_empty() {
        fields.keys().filter(|k| !is_id(k)).cloned().collect()
    } else {
        for w in wanted {
            if !fields.contains_key(w) {
                return Err(AppError::Invalid(format!(
                    "feature `{}` is not in any unit's context",
                    escape_control(w)
                )));
            }
        }
        wanted.to_vec()
    };
    let mut cols = Vec::new();
    for name in names {
        let values = &fields[&name];
        let numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
        if numbers.len() == values.iter().filter(|v| !v.is_null()).count() && !numbers.is_empty() {
            let n = numbers.len() as f64;
            let mean = numbers.iter().sum::<f64>() / n;
            let sd = (numbers.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
            if sd > 0.0 {
                cols.push(Column::Numeric {
                    field: name,
                    mean,
                    sd,
                });
            }
            continue;
        }
        let mut counts: HashMap<String, usize> = HashMap::new();
        for v in values.iter().filter_map(|v| as_level(v)) {
            *counts.entry(v).or_default() += 1;
        }
        let mut levels: Vec<(String, usize)> = counts.into_iter().collect();
        levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // One level is the baseline when every unit has the field.
        let drop_first = levels.iter().map(|l| l.1).sum::<usize>() == train.len();
        let skip = usize::from(drop_first);
        for (value, _) in levels.into_iter().skip(skip).take(MAX_LEVELS) {
            cols.push(Column::Level {
                field: name.clone(),
                value,
            });
        }
    }
    Ok(cols)
}

fn rows(units: &[&Unit], cols: &[Column]) -> Rows {
    let mut x = Rows::new(cols.len());
    for u in units {
        let row: Vec<f64> = cols.iter().map(|c| c.value(&u.context)).collect();
        x.push(&row);
    }
    x
}

struct Prepared {
    campaign: String,
    control: String,
    treated_arm: String,
    units: Vec<Unit>,
    alpha: f64,
}

fn load(
    store: &Store,
    key: &str,
    opts: &UpliftOptions,
    progress: &dyn Progress,
) -> Result<Prepared> {
    let (campaign, arms) = store.campaign(key)?;
    let overrides = super::report::ReportOverrides {
        alpha: opts.alpha,
        ..Default::default()
    };
    let alpha = super::report::options_for(&campaign.spec, &overrides)?.alpha;
    let control = campaign
        .spec
        .control
        .clone()
        .or_else(|| arms.first().map(|a| a.key.clone()))
        .ok_or_else(|| AppError::Invalid(format!("campaign `{key}` has no arms")))?;
    let others: Vec<&str> = arms
        .iter()
        .map(|a| a.key.as_str())
        .filter(|a| *a != control)
        .collect();
    let treated_arm = match (&opts.arm, others.as_slice()) {
        (Some(a), _) if others.contains(&a.as_str()) => a.clone(),
        (Some(a), _) => {
            return Err(AppError::Invalid(format!(
                "`{}` is not a treated arm of `{key}` (arms besides control: {})",
                escape_control(a),
                others.join(", ")
            )))
        }
        (None, [one]) => (*one).to_string(),
        (None, []) => {
            return Err(AppError::Invalid(format!(
                "campaign `{key}` has a single arm: uplift needs a treated arm and a control"
            )))
        }
        (None, many) => {
            return Err(AppError::Invalid(format!(
                "campaign `{key}` has several treated arms ({}): choose one with --arm",
                many.join(", ")
            )))
        }
    };
    let two_arms = arms.len() == 2;
    let mut units = Vec::new();
    super::for_each_unit_chunk(store, key, progress, 0.6, &mut |chunk| {
        for r in chunk {
            let treated = r.arm == treated_arm;
            if r.conflicts > 0 || !(treated || r.arm == control) {
                continue;
            }
            let context = match serde_json::from_str::<Value>(&r.context) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            let own = if treated {
                r.propensity
            } else {
                1.0 - r.propensity
            };
            let p_treated = two_arms.then_some(own);
            units.push(Unit {
                outcome: Outcome {
                    score: 0.0,
                    treated,
                    converted: r.purchases > 0,
                    revenue: r.revenue,
                    cost: r.cost,
                },
                id: r.unit,
                treated,
                p_treated,
                context,
            });
        }
        Ok(())
    })?;
    Ok(Prepared {
        campaign: key.to_string(),
        control,
        treated_arm,
        units,
        alpha,
    })
}

fn refuse_thin(p: &Prepared, train: &[&Unit], held: &[&Unit]) -> Result<()> {
    let key = &p.campaign;
    if p.units.len() < MIN_UNITS {
        return Err(AppError::Invalid(format!(
            "`{key}` has {} units in `{}` and `{}`: uplift needs at least {MIN_UNITS}",
            p.units.len(),
            p.treated_arm,
            p.control
        )));
    }
    for (part, set) in [("training", train), ("held-out", held)] {
        for (arm, want) in [(&p.treated_arm, true), (&p.control, false)] {
            if !set.iter().any(|u| u.treated == want) {
                return Err(AppError::Invalid(format!(
                    "the {part} units of `{key}` have no `{arm}` units"
                )));
            }
        }
    }
    if !p.units.iter().any(|u| u.outcome.converted) {
        return Err(AppError::Invalid(format!(
            "`{key}` has zero conversions: there is no uplift to model"
        )));
    }
    Ok(())
}

struct Trained {
    model: uplift::UpliftModel,
    cols: Vec<Column>,
    propensity: f64,
}

fn train(p: &Prepared, train: &[&Unit], opts: &UpliftOptions) -> Result<Trained> {
    let cols = columns(train, &opts.features)?;
    let x = rows(train, &cols);
    let t: Vec<bool> = train.iter().map(|u| u.treated).collect();
    let y: Vec<f64> = train
        .iter()
        .map(|u| f64::from(u8::from(u.outcome.converted)))
        .collect();
    let logged: Vec<f64> = train.iter().filter_map(|u| u.p_treated).collect();
    let propensity = if logged.len() == train.len() && !logged.is_empty() {
        logged.iter().sum::<f64>() / logged.len() as f64
    } else {
        t.iter().filter(|v| **v).count() as f64 / t.len().max(1) as f64
    };
    let lopts = LearnerOptions {
        kind: opts.learner.unwrap_or(LearnerKind::T),
        l2: L2,
        propensity,
    };
    let model = uplift::fit(&x, &t, &y, &lopts)
        .map_err(|e| AppError::Invalid(format!("`{}`: {e}", p.campaign)))?;
    Ok(Trained {
        model,
        cols,
        propensity,
    })
}

fn split(units: &[Unit]) -> (Vec<&Unit>, Vec<&Unit>) {
    units.iter().partition(|u| in_train(&u.id))
}

/// Trains on the hashed training units and evaluates on the held-out ones.
pub fn uplift_report(
    store: &Store,
    key: &str,
    opts: &UpliftOptions,
    progress: &dyn Progress,
) -> Result<UpliftReport> {
    let p = load(store, key, opts, progress)?;
    let (tr, held) = split(&p.units);
    refuse_thin(&p, &tr, &held)?;
    progress.update(0.7, "fitting the uplift learner")?;
    let fitted = train(&p, &tr, opts)?;
    progress.update(0.9, "scoring held-out units")?;
    let hx = rows(&held, &fitted.cols);
    let scored: Vec<Outcome> = held
        .iter()
        .enumerate()
        .map(|(i, u)| Outcome {
            score: fitted.model.predict(hx.row(i)),
            ..u.outcome
        })
        .collect();
    let evaluation = uplift::evaluate(&scored, TARGET_SHARE);
    let z = statrs::distribution::ContinuousCDF::inverse_cdf(
        &statrs::distribution::Normal::standard(),
        1.0 - p.alpha / 2.0,
    );
    let decile_intervals = evaluation
        .deciles
        .iter()
        .filter_map(|d| {
            let (a, b) = (d.treated_rate?, d.control_rate?);
            let se = (a * (1.0 - a) / d.treated as f64 + b * (1.0 - b) / d.control as f64).sqrt();
            let u = a - b;
            Some(DecileInterval {
                decile: d.decile,
                low: u - z * se,
                high: u + z * se,
            })
        })
        .collect();
    Ok(UpliftReport {
        campaign: p.campaign.clone(),
        control: p.control.clone(),
        treated_arm: p.treated_arm.clone(),
        learner: fitted.model.kind,
        features: fitted.cols.iter().map(Column::name).collect(),
        train_units: tr.len() as u64,
        held_out_units: held.len() as u64,
        propensity: fitted.propensity,
        alpha: p.alpha,
        evaluation,
        decile_intervals,
    })
}

/// Every unit's predicted uplift (unit id, score), from the learner trained on the hashed
/// training units, for the forecasts.
pub fn uplift_scores(
    store: &Store,
    key: &str,
    opts: &UpliftOptions,
    progress: &dyn Progress,
) -> Result<Vec<(String, f64)>> {
    let p = load(store, key, opts, progress)?;
    let (tr, held) = split(&p.units);
    refuse_thin(&p, &tr, &held)?;
    let fitted = train(&p, &tr, opts)?;
    Ok(p.units
        .iter()
        .map(|u| {
            let row: Vec<f64> = fitted.cols.iter().map(|c| c.value(&u.context)).collect();
            (u.id.clone(), fitted.model.predict(&row))
        })
        .collect())
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.1}%", 100.0 * x))
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.3}"))
}

/// The report for a terminal: scores, the deciles, a thinned curve and the recommendation.
pub fn format_text(r: &UpliftReport) -> String {
    let e = &r.evaluation;
    let mut s = String::new();
    let learner = match r.learner {
        LearnerKind::T => "T-learner",
        LearnerKind::X => "X-learner",
    };
    let _ = writeln!(
        s,
        "Uplift of `{}` vs `{}` in {} ({learner}, conversion)",
        escape_control(&r.treated_arm),
        escape_control(&r.control),
        escape_control(&r.campaign)
    );
    let _ = writeln!(
        s,
        "trained on {} units, evaluated on {} held-out units; features: {}",
        r.train_units,
        r.held_out_units,
        if r.features.is_empty() {
            "none".to_string()
        } else {
            escape_control(&r.features.join(", ")).to_string()
        }
    );
    let _ = writeln!(
        s,
        "Qini coefficient {}   AUUC {}   (random targeting: Qini 0, AUUC about 0.5)",
        num(e.qini_coefficient),
        num(e.auuc)
    );
    if let (Some(false), Some((orders, half))) =
        (e.targeting.overall_measurable(), e.targeting.overall())
    {
        let _ = writeln!(
            s,
            "note: offering to everyone added {orders:+.1} +/- {half:.1} orders on the held-out \
             units, not measurably more than none; the Qini coefficient and AUUC are divided by \
             that total (as CausalML normalises them), so they are unstable here: read the \
             deciles"
        );
    }
    let _ = writeln!(
        s,
        "\ndecile  treated  control  treated%  control%  uplift   {:.0}% interval",
        100.0 * (1.0 - r.alpha)
    );
    for d in &e.deciles {
        let ci = r
            .decile_intervals
            .iter()
            .find(|c| c.decile == d.decile)
            .map_or("-".into(), |c| {
                format!("{:+.1} to {:+.1} pts", 100.0 * c.low, 100.0 * c.high)
            });
        let _ = writeln!(
            s,
            "{:>6}  {:>7}  {:>7}  {:>8}  {:>8}  {:>7}  {ci}",
            d.decile,
            d.treated,
            d.control,
            pct(d.treated_rate),
            pct(d.control_rate),
            d.uplift
                .map_or("-".into(), |u| format!("{:+.1}", 100.0 * u)),
        );
    }
    let _ = writeln!(s, "\nQini curve (share targeted: normalised Qini)");
    let line: Vec<String> = e
        .qini_points
        .iter()
        .step_by(e.qini_points.len().div_ceil(20).max(1))
        .map(|(x, y)| format!("{:.0}%:{y:.2}", 100.0 * x))
        .collect();
    let _ = writeln!(s, "  {}", line.join(" "));
    let _ = writeln!(
        s,
        "\ntop%  orders share  cost share  incremental orders  incremental profit"
    );
    for row in &e.targeting.rows {
        let _ = writeln!(
            s,
            "{:>4}  {:>12}  {:>10}  {:>18}  {:>18}",
            row.percent,
            pct(row.order_share),
            pct(row.cost_share),
            row.incremental_orders
                .map_or("-".into(), |v| format!("{v:.1}")),
            row.incremental_profit
                .map_or("-".into(), |v| format!("{v:.2}")),
        );
    }
    let _ = writeln!(s, "\n{}", e.targeting.sentence());
    s
}
