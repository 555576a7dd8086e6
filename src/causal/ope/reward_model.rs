//! The reward model q̂(a, x) the direct and doubly robust estimators stand on: either means
//! per arm (and position) fitted from the logged rows, refitted in every bootstrap resample,
//! or a model fitted elsewhere (a campaign's conversion model), given as q̂ for every row and
//! every arm and kept as it is in every resample.
//!
//! The estimators only need two numbers per row from the model: Σ_a π(a|x_i) q̂(a, x_i) (the
//! DM term) and q̂ of the logged arm (the correction's baseline); [`RowTerms`] holds them.

use super::TargetPolicy;
use super::{evaluate_prepared, prepare, LoggedRow, OpeError, OpeOptions, OpeReport, Prepared};

/// q̂(a, x_i) for every row i and arm a: a rows x arms table, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RewardTable {
    arms: usize,
    values: Vec<f64>,
}

impl RewardTable {
    /// `values[i * arms + a]` is q̂(a, x_i). Every value must be a finite number.
    pub fn new(arms: usize, values: Vec<f64>) -> Result<RewardTable, OpeError> {
        if arms == 0 {
            return Err(OpeError::Target("the reward model has no arms".into()));
        }
        if !values.len().is_multiple_of(arms) {
            return Err(OpeError::Target(format!(
                "the reward model has {} values, not a whole number of rows of {arms} arms",
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(OpeError::BadRow {
                row: i / arms,
                what: format!(
                    "the reward model's value for arm {} is not finite",
                    i % arms
                ),
            });
        }
        Ok(RewardTable { arms, values })
    }

    /// One row per inner vector.
    pub fn from_rows(rows: Vec<Vec<f64>>) -> Result<RewardTable, OpeError> {
        let arms = rows.first().map_or(0, Vec::len);
        if let Some(i) = rows.iter().position(|r| r.len() != arms) {
            return Err(OpeError::BadRow {
                row: i,
                what: format!(
                    "the reward model has {} values for {arms} arms",
                    rows[i].len()
                ),
            });
        }
        RewardTable::new(arms, rows.into_iter().flatten().collect())
    }

    pub fn arms(&self) -> usize {
        self.arms
    }

    pub fn rows(&self) -> usize {
        self.values.len() / self.arms
    }

    /// q̂ of every arm for row i.
    pub fn row(&self, i: usize) -> &[f64] {
        self.values
            .get(i * self.arms..(i + 1) * self.arms)
            .unwrap_or_default()
    }
}

/// Evaluates `target` on `rows` with every estimator, DM and the DR family standing on the
/// given reward model: DM = mean_i Σ_a π(a|x_i) q̂(a, x_i), DR/SNDR/switch-DR correct with
/// q̂ of the logged arm. The bootstrap resamples rows but does not refit q̂ (it was fitted
/// elsewhere), so the intervals leave out the model's own fitting error; the report says so
/// (`model_refitted_per_resample` false).
pub fn evaluate_with_model(
    rows: &[LoggedRow],
    target: &TargetPolicy,
    model: &RewardTable,
    opts: &OpeOptions,
) -> Result<OpeReport, OpeError> {
    let p = prepare(rows, target, opts)?;
    if model.rows() != rows.len() {
        return Err(OpeError::Target(format!(
            "the reward model covers {} rows, the log has {}",
            model.rows(),
            rows.len()
        )));
    }
    if model.arms() != target.arms() {
        return Err(OpeError::Target(format!(
            "the reward model has {} arms, the target {}",
            model.arms(),
            target.arms()
        )));
    }
    let dm = (0..rows.len())
        .map(|i| {
            target
                .probs(i)
                .iter()
                .zip(model.row(i))
                .map(|(pi, q)| pi * q)
                .sum()
        })
        .collect();
    let logged = rows
        .iter()
        .enumerate()
        .map(|(i, r)| model.row(i)[r.arm])
        .collect();
    let terms = RowTerms { dm, logged };
    evaluate_prepared(&p, target, opts, Some(&terms))
}

/// The reward model's two numbers per row.
pub(super) struct RowTerms {
    /// Σ_a π(a|x_i) q̂(a, x_i).
    dm: Vec<f64>,
    /// q̂ of row i's logged arm.
    logged: Vec<f64>,
}

impl RowTerms {
    pub(super) fn dm(&self, i: usize) -> f64 {
        self.dm[i]
    }

    pub(super) fn logged(&self, i: usize) -> f64 {
        self.logged[i]
    }
}

/// The terms of means per (arm, slot) fitted on the sample where row i appears `mult[i]`
/// times. The DM term depends on the row only through its (target group, slot).
pub(super) fn means_terms(p: &Prepared, target: &TargetPolicy, mult: &[u32]) -> RowTerms {
    let q = fit_means(p, mult);
    let dm_of_combo: Vec<f64> = p
        .combos
        .iter()
        .map(|&(g, slot)| {
            let probs = &target.table[g * p.arms..(g + 1) * p.arms];
            probs
                .iter()
                .enumerate()
                .map(|(a, pi)| pi * q[a * p.slots + slot])
                .sum()
        })
        .collect();
    RowTerms {
        dm: p.combo.iter().map(|c| dm_of_combo[*c]).collect(),
        logged: p.cell.iter().map(|c| q[*c]).collect(),
    }
}

/// Means per (arm, slot), falling back to the arm's mean, then to the overall mean.
fn fit_means(p: &Prepared, mult: &[u32]) -> Vec<f64> {
    let cells = p.arms * p.slots;
    let (mut sum, mut count) = (vec![0.0; cells], vec![0.0; cells]);
    for i in 0..mult.len() {
        let m = f64::from(mult[i]);
        sum[p.cell[i]] += m * p.reward[i];
        count[p.cell[i]] += m;
    }
    let total_n: f64 = count.iter().sum();
    let overall = if total_n > 0.0 {
        sum.iter().sum::<f64>() / total_n
    } else {
        0.0
    };
    let mut q = vec![overall; cells];
    for a in 0..p.arms {
        let range = a * p.slots..(a + 1) * p.slots;
        let arm_n: f64 = count[range.clone()].iter().sum();
        let arm_mean = if arm_n > 0.0 {
            sum[range.clone()].iter().sum::<f64>() / arm_n
        } else {
            overall
        };
        for c in range {
            q[c] = if count[c] > 0.0 {
                sum[c] / count[c]
            } else {
                arm_mean
            };
        }
    }
    q
}

#[cfg(test)]
mod tests;
