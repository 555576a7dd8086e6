//! From training rows to a trained, serialisable conversion model: hash each row with a
//! [`HashSpec`] learned from the training part, split by time (train on the oldest 80%,
//! validate on the newest 20%, as the model will be used), train one [`Learner`] epoch by
//! epoch, stop early on validation log loss and keep the best epoch. Pure: rows in, a model
//! out; no I/O, no clock (hour and weekday come from the row's own assignment time).
//!
//! How each learner sees the hashed rows:
//! - logistic regression (Adam or SGD, L2) and FTRL work on the sparse rows over the spec's
//!   full 2^bits buckets; only the coordinates a mini-batch touches are updated ("lazy"
//!   Adam/SGD: L2 shrinks a weight when its feature appears), so a step costs the batch's
//!   features, not 2^18;
//! - the MLP folds each hashed row onto `2^dense_bits` dense inputs (the bucket's low bits,
//!   values summed), which is exactly hashing with `dense_bits`, since a 2^18 x 64 first layer
//!   would hold 16M weights.
//!
//! Negative down-sampling keeps every positive and each negative with probability `w`; the
//! model then predicts q on the sampled rate, and [`TrainedModel::predict`] returns the
//! corrected p = q / (q + (1 - q) / w), the rate before sampling.

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

use super::eval::{evaluate, EvalOptions, Evaluation};
use super::ftrl::{Ftrl, FtrlParams, FtrlTrainOptions, SparseWeights};
use super::hashing::{Cross, HashSpec, NumericField, Scaling, SparseRow, DEFAULT_BITS, MAX_BITS};
use super::logistic::{log_loss, sigmoid, Optimizer, Rows};
use super::mlp::{Mlp, MlpOptions};

/// Recency, frequency and monetary value of the unit's own history, computed by the caller
/// as of the assignment time (never from later events).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Rfm {
    pub recency_days: f64,
    pub frequency: f64,
    pub monetary: f64,
}

/// One assignment and whether it converted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainingRow {
    /// The unit's context: device, segment, region, ...
    pub context: Map<String, Value>,
    pub arm: String,
    /// The arm's offer parameters as numbers (discount_pct, coupon_value, ...), flattened
    /// from the offer by the caller.
    pub offer: Map<String, Value>,
    /// Assignment time, microseconds since the Unix epoch (UTC).
    pub assigned_at: i64,
    pub position: Option<u32>,
    pub rfm: Option<Rfm>,
    pub label: bool,
}

/// Names of the features derived from the row itself rather than its maps.
pub const ARM: &str = "arm";
pub const HOUR: &str = "hour";
pub const WEEKDAY: &str = "weekday";
pub const POSITION: &str = "position";
pub const RECENCY: &str = "rfm_recency_days";
pub const FREQUENCY: &str = "rfm_frequency";
pub const MONETARY: &str = "rfm_monetary";
const DERIVED: [&str; 7] = [ARM, HOUR, WEEKDAY, POSITION, RECENCY, FREQUENCY, MONETARY];
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Hour of day (0..24) and weekday (0 = Monday) in UTC of a time in microseconds.
pub fn hour_and_weekday(micros: i64) -> (u32, usize) {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let hour = (secs.rem_euclid(86_400) / 3_600) as u32;
    // 1970-01-01 was a Thursday.
    let weekday = (days + 3).rem_euclid(7) as usize;
    (hour, weekday)
}

impl TrainingRow {
    /// The row's own features (arm, hour, weekday, position, RFM) as one map, looked up
    /// before the context and the offer, so a context field named `arm` cannot shadow it.
    /// What the Models panel explains by; hashing reads the struct ([`row_fields`]).
    fn derived(&self) -> Map<String, Value> {
        let (hour, weekday) = hour_and_weekday(self.assigned_at);
        let mut m = Map::new();
        m.insert(ARM.into(), Value::from(self.arm.as_str()));
        m.insert(HOUR.into(), Value::from(hour));
        m.insert(WEEKDAY.into(), Value::from(WEEKDAYS[weekday]));
        if let Some(p) = self.position {
            m.insert(POSITION.into(), Value::from(p));
        }
        if let Some(r) = self.rfm {
            m.insert(RECENCY.into(), Value::from(r.recency_days));
            m.insert(FREQUENCY.into(), Value::from(r.frequency));
            m.insert(MONETARY.into(), Value::from(r.monetary));
        }
        m
    }

    /// The row hashed by `spec` (to hash many rows, compile once: `spec.encoder()`).
    pub fn encode(&self, spec: &HashSpec) -> SparseRow {
        spec.encoder::<TrainingRow>().encode(self)
    }
}

/// The default spec over `rows` (the training part): every context field as text (as a
/// number when it is one in every row), every offer parameter as a number over its largest
/// magnitude, arm, position, hour and weekday as text, RFM as log1p on a unit scale, and,
/// when `personalised`, each context field crossed with the arm and with each offer
/// parameter. Every number is on a unit scale with 0 at 0, so no feature (or cross of two)
/// dwarfs the others and one learning rate suits them all.
pub fn default_spec(rows: &[TrainingRow], bits: u32, personalised: bool) -> HashSpec {
    let reserved = |k: &str| DERIVED.contains(&k);
    let context: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.context.keys().map(String::as_str))
        .filter(|k| !reserved(k))
        .collect();
    let offer: BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.offer.keys().map(String::as_str))
        .filter(|k| !reserved(k) && !context.contains(k))
        .collect();
    let mut spec = HashSpec {
        bits: bits.clamp(1, MAX_BITS),
        ..HashSpec::default()
    };
    // A context field that is a number in every row that has it (recency, spend, an Open
    // Bandit user feature given as a number) is one numeric feature, not one one-hot level
    // per distinct value: log1p when never negative (counts, money, days), else standardised.
    for name in &context {
        let mut values = rows
            .iter()
            .filter_map(|r| r.context.get(*name))
            .filter(|v| !v.is_null())
            .peekable();
        if values.peek().is_none() {
            spec.text.push(name.to_string());
            continue;
        }
        let numbers: Option<Vec<f64>> = values
            .map(|v| v.as_f64().filter(|x| x.is_finite()))
            .collect();
        match numbers {
            Some(xs) => spec.numeric.push(NumericField {
                field: name.to_string(),
                scaling: numeric_scaling(&xs),
            }),
            None => spec.text.push(name.to_string()),
        }
    }
    spec.text
        .extend([ARM, POSITION, HOUR, WEEKDAY].map(String::from));
    for name in &offer {
        let xs: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.offer.get(*name).and_then(Value::as_f64))
            .filter(|x| x.is_finite())
            .collect();
        spec.numeric.push(NumericField {
            field: name.to_string(),
            scaling: offer_scaling(&xs),
        });
    }
    let rfm: Vec<Rfm> = rows.iter().filter_map(|r| r.rfm).collect();
    for f in [RECENCY, FREQUENCY, MONETARY] {
        let xs: Vec<f64> = rfm
            .iter()
            .map(|r| match f {
                RECENCY => r.recency_days,
                FREQUENCY => r.frequency,
                _ => r.monetary,
            })
            .filter(|x| x.is_finite())
            .collect();
        spec.numeric.push(NumericField {
            field: f.into(),
            scaling: numeric_scaling(&xs),
        });
    }
    if personalised {
        for user in &context {
            let rights = std::iter::once(ARM).chain(offer.iter().copied());
            spec.crosses.extend(rights.map(|right| Cross {
                left: user.to_string(),
                right: right.into(),
            }));
        }
    }
    spec
}

/// Offer parameters divided by their largest magnitude over the rows (a row without the
/// parameter counts as 0): 0 stays "no such offer" whether the parameter is absent or 0,
/// and the deepest offer is 1. Raw when every value is 0.
fn offer_scaling(xs: &[f64]) -> Scaling {
    let scale = xs.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if scale > 0.0 && scale.is_finite() {
        Scaling::Scaled { scale }
    } else {
        Scaling::Raw
    }
}

/// A numeric context field's scaling: never negative (counts, money, days, whose tails are
/// long) is log1p over its largest log1p, so 0 stays 0 and the largest is 1; otherwise
/// divided by its largest magnitude.
fn numeric_scaling(xs: &[f64]) -> Scaling {
    if xs.iter().all(|x| *x >= 0.0) {
        let scale = xs.iter().fold(0.0f64, |m, x| m.max(x.ln_1p()));
        if scale > 0.0 && scale.is_finite() {
            Scaling::Log1pScaled { scale }
        } else {
            Scaling::Raw
        }
    } else {
        offer_scaling(xs)
    }
}

/// Which model learns from the hashed rows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Learner {
    /// Logistic regression on mini-batches of `batch` rows, L2 `l2` on the mean loss.
    Logistic {
        optimizer: Optimizer,
        l2: f64,
        learning_rate: f64,
        batch: usize,
    },
    Ftrl(FtrlParams),
    /// Its `epochs` and `seed` are ignored: the config's govern every learner.
    Mlp(MlpOptions),
}

impl Learner {
    /// Adam logistic regression with the usual defaults.
    pub fn logistic(optimizer: Optimizer) -> Learner {
        let learning_rate = match optimizer {
            Optimizer::Adam => 0.05,
            Optimizer::Sgd => 0.5,
        };
        Learner::Logistic {
            optimizer,
            l2: 1e-4,
            learning_rate,
            batch: 256,
        }
    }

    /// The operator's word for it: `lr`, `lr-sgd`, `ftrl`, `mlp`.
    pub fn name(&self) -> &'static str {
        match self {
            Learner::Logistic {
                optimizer: Optimizer::Adam,
                ..
            } => "lr",
            Learner::Logistic { .. } => "lr-sgd",
            Learner::Ftrl(_) => "ftrl",
            Learner::Mlp(_) => "mlp",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrainConfig {
    pub learner: Learner,
    /// A spec to use as it is; `None` builds [`default_spec`] from the training part.
    pub spec: Option<HashSpec>,
    /// Bucket bits and crosses of the default spec.
    pub bits: u32,
    pub personalised: bool,
    /// The MLP's dense inputs: 2^dense_bits.
    pub dense_bits: u32,
    /// Share of the newest rows held out for validation.
    pub validation_share: f64,
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation log loss.
    pub patience: usize,
    /// Keep each training negative with this probability (0 < w <= 1); `None` keeps all.
    pub negative_rate: Option<f64>,
    pub seed: u64,
    pub eval: EvalOptions,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            learner: Learner::logistic(Optimizer::Adam),
            spec: None,
            bits: DEFAULT_BITS,
            personalised: true,
            dense_bits: 8,
            validation_share: 0.2,
            max_epochs: 20,
            patience: 3,
            negative_rate: None,
            seed: 1,
            eval: EvalOptions::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    #[error("too few rows to train and validate: {0} (need at least 2, both before and after the time split)")]
    TooFewRows(usize),
    #[error("bad training configuration: {0}")]
    BadConfig(String),
    #[error("training cancelled")]
    Cancelled,
}

/// What the caller's progress bar sees after each epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    pub max_epochs: usize,
    pub train_rows: usize,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub best_epoch: usize,
}

/// Sparse logistic weights: the intercept (unpenalised) and the non-zero bucket weights.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SparseLogistic {
    pub bits: u32,
    pub intercept: f64,
    pub weights: SparseWeights,
}

impl SparseLogistic {
    fn score(&self, row: &SparseRow) -> f64 {
        let mask = (1u32 << self.bits) - 1;
        let w = &self.weights;
        self.intercept
            + row
                .iter()
                .filter_map(|(i, x)| {
                    let k = w.indices.binary_search(&(i & mask)).ok()?;
                    Some(x * w.values[k])
                })
                .sum::<f64>()
    }
}

/// The learned state of each learner, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelState {
    Logistic(SparseLogistic),
    Ftrl(Ftrl),
    Mlp { dense_bits: u32, net: Mlp },
}

/// A trained model version: everything needed to score a row as training did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainedModel {
    pub spec: HashSpec,
    pub learner: Learner,
    pub state: ModelState,
    /// Negatives kept with this probability while training; predictions are corrected.
    pub negative_rate: Option<f64>,
    /// Metrics on the validation rows, of the corrected predictions.
    pub metrics: Evaluation,
    /// Training rows before down-sampling, and after it.
    pub train_rows: usize,
    pub sampled_train_rows: usize,
    pub validation_rows: usize,
    /// 1-based epoch whose state was kept.
    pub best_epoch: usize,
    /// Validation log loss after each epoch run.
    pub validation_losses: Vec<f64>,
    /// Assignment times (micros) bounding the training and validation parts.
    pub train_window: (i64, i64),
    pub validation_window: (i64, i64),
}

fn correct(q: f64, negative_rate: Option<f64>) -> f64 {
    match negative_rate {
        Some(w) if w > 0.0 && w < 1.0 => q / (q + (1.0 - q) / w),
        _ => q,
    }
}

/// Sums a hashed row onto 2^bits dense inputs.
fn fold(row: &SparseRow, bits: u32, out: &mut [f64]) {
    out.iter_mut().for_each(|v| *v = 0.0);
    let mask = (1usize << bits) - 1;
    for (i, x) in row.iter() {
        out[i as usize & mask] += x;
    }
}

impl ModelState {
    fn raw(&self, row: &SparseRow) -> f64 {
        match self {
            ModelState::Logistic(m) => sigmoid(m.score(row)),
            ModelState::Ftrl(m) => m.predict(row),
            ModelState::Mlp { dense_bits, net } => {
                let mut x = vec![0.0; 1usize << dense_bits];
                fold(row, *dense_bits, &mut x);
                net.predict(&x)
            }
        }
    }
}

impl TrainedModel {
    /// p(label = 1 | row), hashed with the stored spec and corrected for down-sampling.
    pub fn predict(&self, row: &TrainingRow) -> f64 {
        correct(self.predict_uncorrected(row), self.negative_rate)
    }

    /// The learner's own output, on the down-sampled rate when negatives were sampled.
    pub fn predict_uncorrected(&self, row: &TrainingRow) -> f64 {
        self.state.raw(&row.encode(&self.spec))
    }

    pub fn predict_batch(&self, rows: &[TrainingRow]) -> Vec<f64> {
        let mut encoder = self.spec.encoder::<TrainingRow>();
        rows.iter()
            .map(|r| correct(self.state.raw(&encoder.encode(r)), self.negative_rate))
            .collect()
    }
}

/// Indices of `rows` in time order (ties by input order), cut into the oldest part and the
/// newest `validation_share`; the cut moves forward past rows sharing the last training
/// row's time, so every validation row is strictly later than every training row. When that
/// would leave nothing to validate on, the tied rows go to validation instead; only when
/// every row has the same time is the cut made in input order.
pub fn split_by_time(rows: &[TrainingRow], validation_share: f64) -> (Vec<usize>, Vec<usize>) {
    let times: Vec<i64> = rows.iter().map(|r| r.assigned_at).collect();
    split_times(&times, validation_share)
}

/// [`split_by_time`] on the assignment times alone (the dense learner's rows are not
/// [`TrainingRow`]s): every learner validates on the same units.
pub fn split_times(times: &[i64], validation_share: f64) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..times.len()).collect();
    order.sort_by_key(|&i| times[i]);
    let share = validation_share.clamp(0.0, 1.0);
    let target = (((times.len() as f64) * (1.0 - share)).round() as usize).min(times.len());
    let mut cut = target;
    if cut > 0 && cut < order.len() {
        let last = times[order[cut - 1]];
        while cut < order.len() && times[order[cut]] == last {
            cut += 1;
        }
        if cut == order.len() {
            // The tie ran to the end: put the whole tied block in validation instead.
            cut = target;
            while cut > 0 && times[order[cut - 1]] == last {
                cut -= 1;
            }
        }
        if cut == 0 {
            // Every row shares one time (a batch logged at once): there is no past and
            // future to split, so cut in input order, which is the unit order.
            cut = target;
        }
    }
    let validation = order.split_off(cut);
    (order, validation)
}

/// [`train_with`] without progress or cancelling.
pub fn train(rows: &[TrainingRow], cfg: &TrainConfig) -> Result<TrainedModel, TrainError> {
    train_with(rows, cfg, &mut |_| true)
}

/// Trains on `rows`; after each epoch `on_epoch` sees its report and returning false
/// cancels (nothing is returned but [`TrainError::Cancelled`]).
pub fn train_with(
    rows: &[TrainingRow],
    cfg: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
) -> Result<TrainedModel, TrainError> {
    check_config(cfg)?;
    let (train_idx, val_idx) = split_by_time(rows, cfg.validation_share);
    if train_idx.is_empty() || val_idx.is_empty() {
        return Err(TrainError::TooFewRows(rows.len()));
    }
    let window = |idx: &[usize]| {
        let t = |k: usize| rows[idx[k]].assigned_at;
        (t(0), t(idx.len() - 1))
    };
    let (train_window, validation_window) = (window(&train_idx), window(&val_idx));
    let spec = match &cfg.spec {
        Some(s) => s.clone(),
        None => {
            let part: Vec<TrainingRow> = train_idx.iter().map(|&i| rows[i].clone()).collect();
            default_spec(&part, cfg.bits, cfg.personalised)
        }
    };
    spec.check().map_err(TrainError::BadConfig)?;
    let mut rng = Prng::seed_from_u64(cfg.seed);
    let mut encoder = spec.encoder::<TrainingRow>();
    // Down-sample in time order with the seeded generator: the same rows, the same sample.
    let mut x = Vec::with_capacity(train_idx.len());
    let mut y = Vec::with_capacity(train_idx.len());
    for &i in &train_idx {
        let keep = match cfg.negative_rate {
            Some(w) if !rows[i].label => rng.random::<f64>() < w,
            _ => true,
        };
        if keep {
            x.push(encoder.encode(&rows[i]));
            y.push(rows[i].label);
        }
    }
    let vx: Vec<SparseRow> = val_idx.iter().map(|&i| encoder.encode(&rows[i])).collect();
    let vy: Vec<f64> = val_idx
        .iter()
        .map(|&i| f64::from(u8::from(rows[i].label)))
        .collect();
    let data = Data {
        x: &x,
        y: &y,
        vx: &vx,
        vy: &vy,
    };
    let fit = run_epochs(&data, &spec, cfg, &mut rng, on_epoch)?;
    let p: Vec<f64> = vx
        .iter()
        .map(|r| correct(fit.state.raw(r), cfg.negative_rate))
        .collect();
    Ok(TrainedModel {
        spec,
        learner: cfg.learner,
        state: fit.state,
        negative_rate: cfg.negative_rate.filter(|w| *w < 1.0),
        metrics: evaluate(&vy, &p, &cfg.eval),
        train_rows: train_idx.len(),
        sampled_train_rows: x.len(),
        validation_rows: val_idx.len(),
        best_epoch: fit.best_epoch,
        validation_losses: fit.losses,
        train_window,
        validation_window,
    })
}

fn check_config(cfg: &TrainConfig) -> Result<(), TrainError> {
    let bad = |s: String| Err(TrainError::BadConfig(s));
    if !(cfg.validation_share > 0.0 && cfg.validation_share < 1.0) {
        return bad(format!(
            "validation share {} must be between 0 and 1 (0.2 holds out the newest 20%)",
            cfg.validation_share
        ));
    }
    if cfg.max_epochs == 0 {
        return bad("at least one epoch is needed".into());
    }
    if let Some(w) = cfg.negative_rate {
        if !(w > 0.0 && w <= 1.0) {
            return bad(format!("negative sampling rate {w} must be in (0, 1]"));
        }
    }
    if !(1..=16).contains(&cfg.dense_bits) {
        return bad(format!("dense bits {} outside 1..=16", cfg.dense_bits));
    }
    match cfg.learner {
        Learner::Ftrl(p) => p.check().map_err(TrainError::BadConfig),
        Learner::Logistic {
            l2,
            learning_rate,
            batch,
            ..
        } if !(l2 >= 0.0 && learning_rate > 0.0 && batch > 0) => {
            bad("logistic regression needs l2 >= 0, a positive rate and batch".into())
        }
        Learner::Mlp(o) if !(o.l2 >= 0.0 && o.learning_rate > 0.0 && o.batch > 0) => {
            bad("the MLP needs l2 >= 0, a positive rate and batch".into())
        }
        _ => Ok(()),
    }
}

struct Data<'a> {
    x: &'a [SparseRow],
    y: &'a [bool],
    vx: &'a [SparseRow],
    vy: &'a [f64],
}

struct Fit {
    state: ModelState,
    best_epoch: usize,
    losses: Vec<f64>,
}

mod epochs;
use epochs::run_epochs;
mod lazy;

mod dense;
mod explain;
pub mod row_fields;
pub use explain::{NamedWeight, TopWeights};

#[cfg(test)]
mod tests;
