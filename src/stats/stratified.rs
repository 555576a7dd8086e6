//! Statistics that stay right when weights move: per-arm estimates of a bandit campaign
//! stratified by allocation period.
//!
//! Why: a bandit moves traffic between arms while the population drifts (weekday, time of day,
//! a promotion elsewhere). Pooling an arm's units across periods weights each period by the
//! arm's own traffic in it, so an arm that got most of its traffic while the base rate was high
//! looks better than it is, even with no effect at all (Simpson's paradox). Here every arm's
//! mean is taken per period and averaged with the SAME period weights for every arm,
//! w_p = units in period p / all units, so arms are compared on one population mix:
//!   x̂_a = Σ_p w_p · x̄_{a,p},   Var(x̂_a) = Σ_p w_p² · s²_{a,p} / n_{a,p}
//! (post-stratification; periods are independent given their sizes, ddof = 1 within a cell).
//!
//! Choices, and why:
//! - Consecutive periods with identical weights are merged into one stratum first: within such
//!   a run every arm samples the same population at a fixed rate, so pooling it is unbiased,
//!   and the explore stage (uniform weights, written period after period) stays one stratum.
//! - A stratum in which some arm has fewer than 2 units is left out for EVERY arm and the w_p
//!   renormalised over the rest; the units left out are reported. With 0 units the arm's mean in
//!   that stratum does not exist, with 1 its variance cannot be estimated. Keeping it with a
//!   borrowed variance would understate the uncertainty, and merging it into a neighbour would
//!   pool across a weight change, the very bias this module removes; leaving it out for one arm
//!   only would compare arms on different populations. The cost is that the estimates describe
//!   the kept periods; with a 1% floor that needs periods of a few hundred units.
//! - Ratio metrics (CTR, AOV) use the combined ratio of stratified means,
//!   R̂_a = Σ_p w_p ȳ_{a,p} / Σ_p w_p d̄_{a,p}, with the delta-method variance
//!   Σ_p w_p² Var(y - R̂_a·d)_{a,p} / n_{a,p} / (Σ_p w_p d̄_{a,p})². It estimates the
//!   population's ratio (as the pooled AOV does in a fixed-weight test), needs no order in every
//!   period (the separate Σ_p w_p R_{a,p} would), and its small-sample bias does not add up
//!   over many short periods.
//! - CUPED: θ is fitted once over all kept (arm, period) cells from deviations within each
//!   cell, θ = Σ S_Lx / Σ S_xx, so neither a drift of `pre_value` across periods nor a chance
//!   imbalance between arms leaks into it; each cell is then adjusted by θ(x̄_{a,p} - x̄_p),
//!   centred on the period's own mean x̄_p (randomisation balances x within a period, not
//!   across periods), and stratified as above.
//! - Contextual policies (LinUCB, LinTS) choose by the unit's context within a period, so
//!   period strata do not remove their bias: use the propensity-weighted `report causal`.
//!
//! With one stratum every estimate equals the pooled one (tested). Pure: plain sums in.

mod report;

pub use report::{ab_report_stratified, add_guardrails_stratified};

use super::frequentist::{ArmEstimate, Estimate};
use super::metrics::{cuped_sums, metric_stats, Metric, MetricStats};
use super::roi::Roi;
use super::srm::{srm_check_expected, SrmCheck};
use crate::domain::ArmRollup;
use serde::Serialize;

/// One allocation period of a campaign as the store hands it over: the weights the period drew
/// with (one per arm, in arm order; normalised here) and, per arm in the same order, the rollup
/// of the units assigned in that period.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodArms {
    pub period: i64,
    pub weights: Vec<f64>,
    pub arms: Vec<ArmRollup>,
}

/// Input the stratification refuses: the store's periods do not match the campaign's arms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StratifyError {
    #[error("allocation period {period} has rollups for {got} arms, the campaign has {arms}")]
    ArmCount {
        period: i64,
        got: usize,
        arms: usize,
    },
    #[error("allocation period {period} has {got} weights, the campaign has {arms} arms")]
    WeightCount {
        period: i64,
        got: usize,
        arms: usize,
    },
    #[error("allocation period {period} has weights that are negative, not finite or all zero")]
    BadWeights { period: i64 },
}

/// What the estimates stand on, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stratification {
    /// Allocation periods with at least one unit.
    pub periods: usize,
    /// Runs of consecutive periods with identical weights (each run is one stratum).
    pub strata: usize,
    /// Strata the estimates use.
    pub strata_used: usize,
    pub units_used: u64,
    /// Units of the strata left out for every arm because some arm had fewer than 2 units.
    pub units_left_out: u64,
    /// The periods of those strata.
    pub periods_left_out: Vec<i64>,
    /// Units in the campaign's rollups that are in no allocation period (not in any estimate).
    pub units_without_period: u64,
    /// SRM's expected units per arm: Σ_p units_p · weight_{arm,p}.
    pub srm_expected_units: Vec<f64>,
}

/// A run of consecutive periods with the same weights, merged.
#[derive(Debug, Clone)]
struct Stratum {
    periods: Vec<i64>,
    weights: Vec<f64>,
    arms: Vec<ArmRollup>,
    units: u64,
}

/// A campaign's periods checked, merged into strata, and split into those the estimates use
/// and those left out. Build once per report; every metric reads it.
#[derive(Debug, Clone)]
pub struct Strata {
    arms: usize,
    /// The strata used, each with its share w of the units used.
    kept: Vec<(f64, Stratum)>,
    observed: Vec<u64>,
    summary: Stratification,
}

fn units(r: &ArmRollup) -> u64 {
    r.units.max(0) as u64
}

impl Strata {
    /// Checks `periods` against a campaign of `arms` arms (every period must carry one rollup
    /// and one weight per arm) and forms the strata. Periods are taken in the order given
    /// (the store's period order).
    pub fn new(periods: &[PeriodArms], arms: usize) -> Result<Strata, StratifyError> {
        let mut runs: Vec<Stratum> = Vec::new();
        let mut expected = vec![0.0; arms];
        let mut observed = vec![0_u64; arms];
        let mut with_units = 0;
        for p in periods {
            if p.arms.len() != arms {
                return Err(StratifyError::ArmCount {
                    period: p.period,
                    got: p.arms.len(),
                    arms,
                });
            }
            if p.weights.len() != arms {
                return Err(StratifyError::WeightCount {
                    period: p.period,
                    got: p.weights.len(),
                    arms,
                });
            }
            let total_weight: f64 = p.weights.iter().sum();
            if !(p.weights.iter().all(|w| w.is_finite() && *w >= 0.0)
                && total_weight.is_finite()
                && total_weight > 0.0)
            {
                return Err(StratifyError::BadWeights { period: p.period });
            }
            let weights: Vec<f64> = p.weights.iter().map(|w| w / total_weight).collect();
            let n: u64 = p.arms.iter().map(units).sum();
            if n == 0 {
                continue;
            }
            with_units += 1;
            for (a, r) in p.arms.iter().enumerate() {
                observed[a] += units(r);
                expected[a] += n as f64 * weights[a];
            }
            match runs.last_mut() {
                Some(run) if run.weights == weights => {
                    for (acc, r) in run.arms.iter_mut().zip(&p.arms) {
                        *acc += r.clone();
                    }
                    run.units += n;
                    run.periods.push(p.period);
                }
                _ => runs.push(Stratum {
                    periods: vec![p.period],
                    weights,
                    arms: p.arms.clone(),
                    units: n,
                }),
            }
        }
        let strata = runs.len();
        let (kept, left_out): (Vec<Stratum>, Vec<Stratum>) = runs
            .into_iter()
            .partition(|s| s.arms.iter().all(|r| units(r) >= 2));
        let units_used: u64 = kept.iter().map(|s| s.units).sum();
        let summary = Stratification {
            periods: with_units,
            strata,
            strata_used: kept.len(),
            units_used,
            units_left_out: left_out.iter().map(|s| s.units).sum(),
            periods_left_out: left_out.iter().flat_map(|s| s.periods.clone()).collect(),
            units_without_period: 0,
            srm_expected_units: expected,
        };
        let kept = kept
            .into_iter()
            .map(|s| (s.units as f64 / units_used as f64, s))
            .collect();
        Ok(Strata {
            arms,
            kept,
            observed,
            summary,
        })
    }

    pub fn summary(&self) -> &Stratification {
        &self.summary
    }

    /// Units per arm over all periods (left-out strata included).
    pub fn observed_units(&self) -> &[u64] {
        &self.observed
    }

    /// The same check as a fixed-weight campaign's SRM, against Σ_p units_p · weight_{arm,p}.
    /// Pearson's statistic with these expected counts is conservative when the weights moved:
    /// each arm's count is a sum of per-period binomials, whose variance
    /// Σ_p n_p w_p(1 - w_p) is at most n·w̄(1 - w̄) (w(1 - w) is concave), so a true mismatch
    /// is flagged a little later, never a correct split earlier.
    pub fn srm(&self) -> SrmCheck {
        srm_check_expected(&self.observed, self.summary.srm_expected_units.clone())
    }

    /// Each arm's stratified estimate of `metric` (unadjusted), in arm order; `None` where no
    /// stratum is used or the arm's ratio has no denominator.
    pub fn estimates(&self, metric: Metric) -> Vec<Option<ArmEstimate>> {
        (0..self.arms)
            .map(|a| {
                self.arm_cells(metric, a)
                    .and_then(|c| raw_estimate(&c, unit_denominator(metric)))
            })
            .collect()
    }

    /// Stratified CUPED of `metric` (see the module notes); `None` without spread of the
    /// covariate within cells or with fewer than 3 units used.
    pub fn cuped(&self, metric: Metric) -> Option<StratifiedCuped> {
        let cells: Vec<Option<Vec<Cell>>> =
            (0..self.arms).map(|a| self.arm_cells(metric, a)).collect();
        let raw: Vec<Option<ArmEstimate>> = cells
            .iter()
            .map(|c| {
                c.as_ref()
                    .and_then(|c| raw_estimate(c, unit_denominator(metric)))
            })
            .collect();
        let (mut s_lx, mut s_xx, mut x_sq) = (0.0, 0.0, 0.0);
        for (c, e) in cells.iter().zip(&raw) {
            let (Some(c), Some(e)) = (c, e) else { continue };
            for cell in c {
                s_lx += cell.s_xy - e.value * cell.s_xd;
                s_xx += cell.s_xx;
                x_sq += cell.sum_x_sq;
            }
        }
        // Below this the within-cell spread of x is rounding residue of Σx² - (Σx)²/n.
        if !(self.summary.units_used >= 3 && s_xx > 1e-12 * x_sq && s_xx.is_finite()) {
            return None;
        }
        let theta = s_lx / s_xx;
        if !theta.is_finite() {
            return None;
        }
        // x̄_p over every arm of the stratum: what randomisation balances x towards.
        let x_period: Vec<f64> = self
            .kept
            .iter()
            .map(|(_, s)| {
                let sx: f64 = s.arms.iter().map(|r| r.x_sum).sum();
                sx / s.units as f64
            })
            .collect();
        let estimates: Vec<Option<ArmEstimate>> = cells
            .iter()
            .zip(&raw)
            .map(|(c, e)| {
                let (c, e) = (c.as_ref()?, (*e)?);
                adjusted_estimate(c, unit_denominator(metric), e.value, (theta, &x_period))
            })
            .collect();
        let (mut raw_var, mut adj_var) = (0.0, 0.0);
        for (r, a) in raw.iter().zip(&estimates) {
            if let (Some(r), Some(a)) = (r, a) {
                raw_var += r.variance;
                adj_var += a.variance;
            }
        }
        Some(StratifiedCuped {
            theta,
            estimates,
            variance_reduction: if raw_var > 0.0 {
                1.0 - adj_var / raw_var
            } else {
                0.0
            },
        })
    }

    /// ROI of arm `treatment` against arm `control`, (Δrevenue - Δcost)/Δcost per unit with
    /// stratified means and (co)variances in the delta method of [`super::roi`]; `None` where
    /// that is undefined (no stratum used, Δcost = 0).
    pub fn roi(&self, control: usize, treatment: usize, alpha: f64) -> Option<Roi> {
        let (rc, cc, vrc, vcc, covc) = self.revenue_cost(control)?;
        let (rt, ct, vrt, vct, covt) = self.revenue_cost(treatment)?;
        let (dr, dc) = (rt - rc, ct - cc);
        if dc == 0.0 || !dc.is_finite() {
            return None;
        }
        let (var_dr, var_dc, cov) = (vrt + vrc, vct + vcc, covt + covc);
        let var = var_dr / (dc * dc) + dr * dr * var_dc / dc.powi(4) - 2.0 * dr * cov / dc.powi(3);
        let roi = dr / dc - 1.0;
        if !(var > 0.0 && var.is_finite()) {
            return None;
        }
        let ci = Estimate::normal(roi, var.sqrt())?.confidence_interval(alpha)?;
        Some(Roi {
            roi,
            se: var.sqrt(),
            ci,
        })
    }

    /// One arm's stratified mean revenue and cost per unit, their variances and covariance.
    fn revenue_cost(&self, arm: usize) -> Option<(f64, f64, f64, f64, f64)> {
        if self.kept.is_empty() {
            return None;
        }
        let mut m = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (w, s) in &self.kept {
            let r = s.arms.get(arm)?;
            let n = r.units as f64;
            let (mr, mc) = (r.revenue_sum / n, r.cost_sum / n);
            let scale = w * w / (n * (n - 1.0));
            m.0 += w * mr;
            m.1 += w * mc;
            m.2 += scale * (r.revenue_sumsq - r.revenue_sum * mr).max(0.0);
            m.3 += scale * (r.cost_sumsq - r.cost_sum * mc).max(0.0);
            m.4 += scale * (r.revenue_cost_sum - r.revenue_sum * mc);
        }
        Some(m)
    }

    /// The arm's cells in the strata used, `None` when there are none or a cell is invalid.
    fn arm_cells(&self, metric: Metric, arm: usize) -> Option<Vec<Cell>> {
        if self.kept.is_empty() {
            return None;
        }
        let unit = unit_denominator(metric);
        self.kept
            .iter()
            .map(|(w, s)| Cell::new(metric, s.arms.get(arm)?, *w, unit))
            .collect()
    }
}

/// Stratified CUPED of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct StratifiedCuped {
    pub theta: f64,
    /// Adjusted stratified estimate per arm, in arm order.
    pub estimates: Vec<Option<ArmEstimate>>,
    /// 1 - Σ adjusted variance / Σ unadjusted variance over the arms with an estimate.
    pub variance_reduction: f64,
}

/// Below this ratio of centred to raw sum of squares a variance is exactly zero: the residue of
/// `Σy² - (Σy)²/n` for a constant metric (the same floor as the pooled `MeanStats`).
const CANCELLATION_FLOOR: f64 = 1e-10;

/// One (arm, stratum) cell of a metric with per-unit numerator y, denominator d (1 for means
/// and proportions) and covariate x: means and centred (co)sums.
#[derive(Debug, Clone, Copy)]
struct Cell {
    /// The stratum's share of the units used.
    w: f64,
    n: f64,
    y_mean: f64,
    d_mean: f64,
    x_mean: f64,
    s_yy: f64,
    s_yd: f64,
    s_dd: f64,
    s_xx: f64,
    s_xy: f64,
    s_xd: f64,
    sum_x_sq: f64,
}

impl Cell {
    fn new(metric: Metric, r: &ArmRollup, w: f64, unit_denominator: bool) -> Option<Cell> {
        let stats = metric_stats(metric, r);
        // More conversions than units is a broken rollup, not a rate.
        if let MetricStats::Proportion(p) = stats {
            p.rate()?;
        }
        let s = cuped_sums(metric, r);
        if s.n < 2.0 {
            return None;
        }
        let n = s.n;
        let centred = |a: f64, b: f64, ab: f64| ab - a * b / n;
        let mut s_yy = centred(s.sum_y, s.sum_y, s.sum_y_sq);
        if s_yy <= s.sum_y_sq.abs() * CANCELLATION_FLOOR {
            s_yy = 0.0;
        }
        // With d = 1 for every unit the d terms are exactly zero; computing them would leave
        // rounding residue in a mean's variance.
        let (d_mean, s_yd, s_dd, s_xd) = if unit_denominator {
            (1.0, 0.0, 0.0, 0.0)
        } else {
            (
                s.sum_d / n,
                centred(s.sum_y, s.sum_d, s.sum_yd),
                centred(s.sum_d, s.sum_d, s.sum_d_sq),
                centred(s.sum_x, s.sum_d, s.sum_xd),
            )
        };
        Some(Cell {
            w,
            n,
            y_mean: s.sum_y / n,
            d_mean,
            x_mean: s.sum_x / n,
            s_yy,
            s_yd,
            s_dd,
            s_xx: centred(s.sum_x, s.sum_x, s.sum_x_sq).max(0.0),
            s_xy: centred(s.sum_x, s.sum_y, s.sum_xy),
            s_xd,
            sum_x_sq: s.sum_x_sq,
        })
    }

    /// Σ(L - L̄)² of the linearised L = y - R·d, clamped at 0 against rounding.
    fn s_ll(&self, ratio: f64) -> f64 {
        (self.s_yy - 2.0 * ratio * self.s_yd + ratio * ratio * self.s_dd).max(0.0)
    }

    /// w² / (n (n - 1)): turns a centred sum of squares into this cell's variance share.
    fn scale(&self) -> f64 {
        self.w * self.w / (self.n * (self.n - 1.0))
    }
}

/// Means and proportions: every unit's denominator is 1.
fn unit_denominator(metric: Metric) -> bool {
    !matches!(metric, Metric::Ctr | Metric::Aov)
}

/// Σ_p w_p d̄_{a,p}, the stratified denominator (exactly 1 for means and proportions).
fn denominator(cells: &[Cell], unit: bool) -> f64 {
    if unit {
        1.0
    } else {
        cells.iter().map(|c| c.w * c.d_mean).sum()
    }
}

fn raw_estimate(cells: &[Cell], unit: bool) -> Option<ArmEstimate> {
    let d = denominator(cells, unit);
    let y: f64 = cells.iter().map(|c| c.w * c.y_mean).sum();
    if d == 0.0 || !d.is_finite() {
        return None;
    }
    let ratio = y / d;
    let variance = cells.iter().map(|c| c.scale() * c.s_ll(ratio)).sum::<f64>() / (d * d);
    (ratio.is_finite() && variance.is_finite()).then_some(ArmEstimate {
        value: ratio,
        variance,
    })
}

fn adjusted_estimate(
    cells: &[Cell],
    unit: bool,
    ratio: f64,
    (theta, x_period): (f64, &[f64]),
) -> Option<ArmEstimate> {
    let d = denominator(cells, unit);
    let shift: f64 = cells
        .iter()
        .zip(x_period)
        .map(|(c, xp)| c.w * (c.x_mean - xp))
        .sum();
    let variance = cells
        .iter()
        .map(|c| {
            let s_lx = c.s_xy - ratio * c.s_xd;
            let residual = c.s_ll(ratio) - 2.0 * theta * s_lx + theta * theta * c.s_xx;
            c.scale() * residual.max(0.0)
        })
        .sum::<f64>()
        / (d * d);
    let value = ratio - theta * shift / d;
    (value.is_finite() && variance.is_finite()).then_some(ArmEstimate { value, variance })
}

#[cfg(test)]
mod tests;
