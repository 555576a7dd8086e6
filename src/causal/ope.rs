//! Off-policy evaluation: what a candidate (target) policy would have earned, estimated from
//! rows logged by another (logging) policy with the probability each logged arm was chosen with.
//!
//! Input: logged rows (arm, reward, logging propensity of that arm, optional position) and the
//! target's full distribution over arms for each row. Estimators, with w = π(a|x) / μ(a|x) the
//! importance weight of the logged arm and q̂ the reward model:
//! - IPS: mean(w r). Unbiased when μ > 0 wherever π > 0; variance grows with the weights.
//! - SNIPS: Σ w r / Σ w. Bias O(1/n), stays in the rewards' range, far less variance.
//! - DM: mean over rows of Σ_a π(a|x) q̂(a, x). No weights; biased when q̂ is wrong.
//! - DR: DM + mean(w (r - q̂(a, x))). Unbiased if either the propensities or q̂ are right.
//! - SNDR: DM + Σ w (r - q̂) / Σ w: DR's correction self-normalised.
//! - Switch-DR: DM + mean(1{w ≤ τ} w (r - q̂)): the correction is dropped on rows whose weight
//!   passes τ. τ is chosen from candidates (quantiles of the logged weights, and ∞ = DR) by the
//!   rule of Wang, Agarwal and Dudík (2017), adapted to what a log holds (only the logged arm's
//!   weight): minimise the estimated variance plus the square of a bias bound, where the bias of
//!   dropping the correction is at most R · mean(1{w > τ} w) with R the rewards' range. The
//!   bound is pessimistic, so τ < ∞ is only chosen when a few weights carry most of the variance.
//!
//! The reward model is either fitted here, a table of means per arm, or per arm and position
//! when the rows carry positions (a cell without rows falls back to its arm's mean, then to the
//! overall mean), or given: q̂(a, x_i) for every row and arm from a model fitted elsewhere
//! ([`evaluate_with_model`], `reward_model.rs`). Intervals are percentile bootstraps (seeded):
//! each resample renormalises SNIPS/SNDR and re-chooses τ; fitted means are refitted in each
//! resample, so the interval carries their uncertainty too, while a given model is kept as it
//! is (its own fitting error is not in the interval; Open Bandit Pipeline does the same).
//!
//! Pure: no I/O, no clock; randomness only from the seed in the options.

mod reward_model;

pub use reward_model::{evaluate_with_model, RewardTable};

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use reward_model::RowTerms;
use serde::Serialize;

/// How far a target distribution's sum may be from 1.
const SUM_TOLERANCE: f64 = 1e-6;
/// Quantiles of the logged weights tried as switch-DR thresholds (∞ is always a candidate).
const TAU_QUANTILES: [f64; 5] = [0.5, 0.75, 0.9, 0.95, 0.99];
/// Upper edges of the weight histogram's bins after the bin of zero weights; the last bin is
/// open. Powers of two: w = 1 is "as likely under the target as under the logging policy".
pub const WEIGHT_BIN_EDGES: [f64; 9] = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, f64::INFINITY];

/// One logged decision.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRow {
    /// Index of the logged arm, 0..K.
    pub arm: usize,
    pub reward: f64,
    /// Probability with which the logging policy chose `arm` for this row, in (0, 1].
    pub propensity: f64,
    /// Slot on the page, when the log has one (the reward model is then per arm and position).
    pub position: Option<u32>,
    /// Numeric context features (not used by these estimators; contextual replays read them).
    pub features: Vec<f64>,
}

/// The target policy's distribution over the K arms for every row. Rows that share a
/// distribution (a context-free policy, or one that depends only on the position) share one
/// entry of the table, so memory is O(groups · K), not O(rows · K).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetPolicy {
    arms: usize,
    table: Vec<f64>,
    row_group: Vec<usize>,
}

impl TargetPolicy {
    /// The same distribution for each of `rows` rows.
    pub fn same_for_all(probs: Vec<f64>, rows: usize) -> Result<TargetPolicy, OpeError> {
        let arms = probs.len();
        TargetPolicy::grouped(arms, vec![probs], vec![0; rows])
    }

    /// Row i follows `table[row_group[i]]`.
    pub fn grouped(
        arms: usize,
        table: Vec<Vec<f64>>,
        row_group: Vec<usize>,
    ) -> Result<TargetPolicy, OpeError> {
        if arms == 0 {
            return Err(OpeError::Target("the target has no arms".into()));
        }
        for (g, probs) in table.iter().enumerate() {
            if probs.len() != arms {
                return Err(OpeError::Target(format!(
                    "distribution {g} has {} probabilities for {arms} arms",
                    probs.len()
                )));
            }
            if probs.iter().any(|p| !(p.is_finite() && *p >= 0.0)) {
                return Err(OpeError::Target(format!(
                    "distribution {g} has a negative or non-finite probability"
                )));
            }
            let sum: f64 = probs.iter().sum();
            if (sum - 1.0).abs() > SUM_TOLERANCE {
                return Err(OpeError::Target(format!(
                    "distribution {g} sums to {sum}, not 1"
                )));
            }
        }
        if let Some(i) = row_group.iter().position(|g| *g >= table.len()) {
            return Err(OpeError::Target(format!(
                "row {i} refers to distribution {} of {}",
                row_group[i],
                table.len()
            )));
        }
        Ok(TargetPolicy {
            arms,
            table: table.into_iter().flatten().collect(),
            row_group,
        })
    }

    /// One distribution per row.
    pub fn per_row(rows: Vec<Vec<f64>>) -> Result<TargetPolicy, OpeError> {
        let arms = rows.first().map_or(0, Vec::len);
        let groups = (0..rows.len()).collect();
        TargetPolicy::grouped(arms, rows, groups)
    }

    pub fn arms(&self) -> usize {
        self.arms
    }

    pub fn rows(&self) -> usize {
        self.row_group.len()
    }

    /// Row i's distribution over the arms.
    pub fn probs(&self, row: usize) -> &[f64] {
        let g = self.row_group.get(row).copied().unwrap_or(0);
        self.table
            .get(g * self.arms..(g + 1) * self.arms)
            .unwrap_or_default()
    }

    fn groups(&self) -> usize {
        self.table.len() / self.arms.max(1)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpeError {
    #[error("no logged rows to evaluate")]
    NoRows,
    #[error("logged row {row}: {what}")]
    BadRow { row: usize, what: String },
    #[error("target policy: {0}")]
    Target(String),
    #[error("{rows} logged rows but the target policy covers {target}")]
    Mismatch { rows: usize, target: usize },
}

/// How switch-DR picks its threshold on the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchTau {
    /// Variance plus squared bias bound, minimised over candidates (see the module notes).
    Auto,
    Fixed(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpeOptions {
    /// Bootstrap resamples (0: no intervals).
    pub resamples: usize,
    pub seed: u64,
    /// 1 - the intervals' coverage.
    pub alpha: f64,
    pub switch_tau: SwitchTau,
}

impl Default for OpeOptions {
    fn default() -> Self {
        OpeOptions {
            resamples: 1000,
            seed: 1,
            alpha: 0.05,
            switch_tau: SwitchTau::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    Ips,
    Snips,
    Dm,
    Dr,
    Sndr,
    SwitchDr,
}

impl Estimator {
    pub const ALL: [Estimator; 6] = [
        Estimator::Ips,
        Estimator::Snips,
        Estimator::Dm,
        Estimator::Dr,
        Estimator::Sndr,
        Estimator::SwitchDr,
    ];

    /// The name operators read in the report.
    pub fn label(self) -> &'static str {
        match self {
            Estimator::Ips => "IPS",
            Estimator::Snips => "SNIPS",
            Estimator::Dm => "DM",
            Estimator::Dr => "DR",
            Estimator::Sndr => "SNDR",
            Estimator::SwitchDr => "switch-DR",
        }
    }
}

/// One estimator's value on the full sample and its bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    pub estimator: Estimator,
    pub value: f64,
    /// Percentile-bootstrap interval (None without resamples).
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Standard deviation of the bootstrap values.
    pub bootstrap_se: Option<f64>,
}

/// One bin of the weight histogram: weights in [low, high) (the first bin is w = 0 exactly).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightBin {
    pub low: f64,
    /// `None` for the open last bin.
    pub high: Option<f64>,
    pub rows: u64,
}

/// How well the logging policy covers the target: weights near 1 and an effective sample size
/// near n mean the logs say much about the target; a few huge weights mean they say little.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    pub rows: u64,
    /// Kish effective sample size (Σw)² / Σw².
    pub effective_sample_size: f64,
    pub max_weight: f64,
    /// Near 1 when the target only picks arms the logging policy could pick.
    pub mean_weight: f64,
    pub histogram: Vec<WeightBin>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpeReport {
    pub estimates: Vec<Estimate>,
    pub overlap: Overlap,
    /// The switch-DR threshold chosen on the full sample (∞ is reported as None: no switching).
    pub switch_tau: Option<f64>,
    /// Rows whose weight passes that threshold (their correction is dropped).
    pub switched_rows: u64,
    pub resamples: usize,
    pub seed: u64,
    pub alpha: f64,
    /// Whether the reward model was per arm and position (else per arm).
    pub model_by_position: bool,
    /// Whether q̂ was refitted in each bootstrap resample (fitted means) or kept as given.
    pub model_refitted_per_resample: bool,
}

impl OpeReport {
    pub fn estimate(&self, e: Estimator) -> Option<&Estimate> {
        self.estimates.iter().find(|x| x.estimator == e)
    }
}

/// Everything about a row that does not change between resamples.
struct Prepared {
    arms: usize,
    slots: usize,
    weight: Vec<f64>,
    reward: Vec<f64>,
    /// Cell of the reward model: arm * slots + slot.
    cell: Vec<usize>,
    /// (target group, slot) combination of the row, for the DM term.
    combo: Vec<usize>,
    combos: Vec<(usize, usize)>,
    tau_candidates: Vec<f64>,
}

/// Evaluates `target` on `rows` with every estimator, the reward model fitted from the rows
/// (means per arm, or per arm and position).
pub fn evaluate(
    rows: &[LoggedRow],
    target: &TargetPolicy,
    opts: &OpeOptions,
) -> Result<OpeReport, OpeError> {
    let p = prepare(rows, target, opts)?;
    evaluate_prepared(&p, target, opts, None)
}

/// The estimates and their bootstrap; `given`: the reward model's terms, kept in every
/// resample (else means are fitted from each resample).
fn evaluate_prepared(
    p: &Prepared,
    target: &TargetPolicy,
    opts: &OpeOptions,
    given: Option<&RowTerms>,
) -> Result<OpeReport, OpeError> {
    let n = p.weight.len();
    let ones = vec![1u32; n];
    let full = estimate_all(p, target, &ones, opts.switch_tau, given);
    let mut draws: Vec<Vec<f64>> = (0..6).map(|_| Vec::with_capacity(opts.resamples)).collect();
    let mut rng = Prng::seed_from_u64(opts.seed);
    let mut mult = vec![0u32; n];
    for _ in 0..opts.resamples {
        mult.iter_mut().for_each(|m| *m = 0);
        for _ in 0..n {
            mult[rng.random_range(0..n)] += 1;
        }
        let est = estimate_all(p, target, &mult, opts.switch_tau, given);
        for (d, v) in draws.iter_mut().zip(est.values) {
            d.push(v);
        }
    }
    let estimates = Estimator::ALL
        .iter()
        .zip(full.values)
        .zip(draws.iter_mut())
        .map(|((&estimator, value), d)| {
            let (low, high, se) = if d.is_empty() {
                (None, None, None)
            } else {
                d.sort_by(f64::total_cmp);
                (
                    Some(quantile(d, opts.alpha / 2.0)),
                    Some(quantile(d, 1.0 - opts.alpha / 2.0)),
                    Some(sd(d)),
                )
            };
            Estimate {
                estimator,
                value,
                low,
                high,
                bootstrap_se: se,
            }
        })
        .collect();
    Ok(OpeReport {
        estimates,
        overlap: overlap(&p.weight),
        switch_tau: full.tau.is_finite().then_some(full.tau),
        switched_rows: p.weight.iter().filter(|w| **w > full.tau).count() as u64,
        resamples: opts.resamples,
        seed: opts.seed,
        alpha: opts.alpha,
        model_by_position: given.is_none() && p.slots > 1,
        model_refitted_per_resample: given.is_none(),
    })
}

fn prepare(
    rows: &[LoggedRow],
    target: &TargetPolicy,
    opts: &OpeOptions,
) -> Result<Prepared, OpeError> {
    if rows.is_empty() {
        return Err(OpeError::NoRows);
    }
    if target.rows() != rows.len() {
        return Err(OpeError::Mismatch {
            rows: rows.len(),
            target: target.rows(),
        });
    }
    if let SwitchTau::Fixed(t) = opts.switch_tau {
        if t.is_nan() || t < 0.0 {
            return Err(OpeError::Target(format!(
                "switch threshold must be >= 0, got {t}"
            )));
        }
    }
    let arms = target.arms();
    // Positions become slots 0..P in sorted order; rows without one share a slot of their own.
    let mut positions: Vec<Option<u32>> = rows.iter().map(|r| r.position).collect();
    positions.sort_unstable();
    positions.dedup();
    let slots = positions.len();
    let mut weight = Vec::with_capacity(rows.len());
    let mut cell = Vec::with_capacity(rows.len());
    let mut combo = Vec::with_capacity(rows.len());
    let mut combo_ids = std::collections::HashMap::new();
    let mut combos = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let bad = |what: String| OpeError::BadRow { row: i, what };
        if r.arm >= arms {
            return Err(bad(format!("arm {} of {arms}", r.arm)));
        }
        if !(r.propensity > 0.0 && r.propensity <= 1.0) {
            return Err(bad(format!("propensity {} is not in (0, 1]", r.propensity)));
        }
        if !r.reward.is_finite() {
            return Err(bad("reward is not a finite number".into()));
        }
        let slot = positions.binary_search(&r.position).unwrap_or(0);
        weight.push(target.probs(i)[r.arm] / r.propensity);
        cell.push(r.arm * slots + slot);
        let key = (target.row_group[i], slot);
        let id = *combo_ids.entry(key).or_insert_with(|| {
            combos.push(key);
            combos.len() - 1
        });
        combo.push(id);
    }
    let tau_candidates = match opts.switch_tau {
        SwitchTau::Fixed(t) => vec![t],
        SwitchTau::Auto => {
            let mut sorted = weight.clone();
            sorted.sort_by(f64::total_cmp);
            let mut c: Vec<f64> = TAU_QUANTILES
                .iter()
                .map(|q| quantile(&sorted, *q))
                .collect();
            c.push(f64::INFINITY);
            c.dedup();
            c
        }
    };
    debug_assert!(target.groups() > 0);
    Ok(Prepared {
        arms,
        slots,
        weight,
        reward: rows.iter().map(|r| r.reward).collect(),
        cell,
        combo,
        combos,
        tau_candidates,
    })
}

struct Values {
    values: [f64; 6],
    tau: f64,
}

/// Every estimator on the sample where row i appears `mult[i]` times: with the given reward
/// model's terms, or with means refitted on that sample.
fn estimate_all(
    p: &Prepared,
    target: &TargetPolicy,
    mult: &[u32],
    tau: SwitchTau,
    given: Option<&RowTerms>,
) -> Values {
    let fitted;
    let terms = match given {
        Some(t) => t,
        None => {
            fitted = reward_model::means_terms(p, target, mult);
            &fitted
        }
    };
    let (mut n, mut s_wr, mut s_w, mut s_dm, mut s_corr) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut r_min, mut r_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for (i, &times) in mult.iter().enumerate() {
        if times == 0 {
            continue;
        }
        let m = f64::from(times);
        let (w, r) = (p.weight[i], p.reward[i]);
        n += m;
        s_wr += m * w * r;
        s_w += m * w;
        s_dm += m * terms.dm(i);
        s_corr += m * w * (r - terms.logged(i));
        r_min = r_min.min(r);
        r_max = r_max.max(r);
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let dm = s_dm / n;
    let (switch, tau) = switch_dr(p, mult, terms, (r_max - r_min).max(0.0), tau);
    Values {
        values: [
            s_wr / n,
            ratio(s_wr, s_w),
            dm,
            (s_dm + s_corr) / n,
            dm + ratio(s_corr, s_w),
            switch,
        ],
        tau,
    }
}

/// Switch-DR at the candidate threshold with the smallest variance + bias bound², and that
/// threshold. Ties go to the larger threshold (less bias).
fn switch_dr(
    p: &Prepared,
    mult: &[u32],
    terms: &RowTerms,
    reward_range: f64,
    tau: SwitchTau,
) -> (f64, f64) {
    let mut best = (f64::NAN, f64::INFINITY, f64::INFINITY);
    for &t in &p.tau_candidates {
        let (mut n, mut s, mut ss, mut above) = (0.0, 0.0, 0.0, 0.0);
        for (i, &times) in mult.iter().enumerate() {
            if times == 0 {
                continue;
            }
            let m = f64::from(times);
            let w = p.weight[i];
            let correction = if w <= t {
                w * (p.reward[i] - terms.logged(i))
            } else {
                above += m * w;
                0.0
            };
            let term = terms.dm(i) + correction;
            n += m;
            s += m * term;
            ss += m * term * term;
        }
        let mean = s / n;
        let var = if n > 1.0 {
            ((ss - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        let bias = reward_range * above / n;
        let mse = var / n + bias * bias;
        if matches!(tau, SwitchTau::Fixed(_)) || mse <= best.2 {
            best = (mean, t, mse);
        }
    }
    (best.0, best.1)
}

fn overlap(weights: &[f64]) -> Overlap {
    let (s, ss) = weights
        .iter()
        .fold((0.0, 0.0), |(s, ss), w| (s + w, ss + w * w));
    let mut histogram = vec![WeightBin {
        low: 0.0,
        high: Some(0.0),
        rows: 0,
    }];
    let mut low = 0.0;
    for edge in WEIGHT_BIN_EDGES {
        histogram.push(WeightBin {
            low,
            high: edge.is_finite().then_some(edge),
            rows: 0,
        });
        low = edge;
    }
    for &w in weights {
        let bin = if w == 0.0 {
            0
        } else {
            1 + WEIGHT_BIN_EDGES
                .iter()
                .position(|e| w < *e)
                .unwrap_or(WEIGHT_BIN_EDGES.len() - 1)
        };
        histogram[bin].rows += 1;
    }
    Overlap {
        rows: weights.len() as u64,
        effective_sample_size: if ss > 0.0 { s * s / ss } else { 0.0 },
        max_weight: weights.iter().copied().fold(0.0, f64::max),
        mean_weight: s / weights.len().max(1) as f64,
        histogram,
    }
}

/// The q-quantile of sorted values, linear between order statistics (numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let h = last as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(last);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn sd(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return 0.0;
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

#[cfg(test)]
mod tests;
