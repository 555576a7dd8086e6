//! The posterior over each arm's mean reward, as the Thompson policies and the Bandit panel
//! see it: Beta(1 + s, 1 + n - s) for 0/1 rewards, Gaussian for revenue and profit, with the
//! 95% credible interval and P(arm is best) by the report's own quadrature
//! (`stats::bayes::prob_best` and `normal_prob_best`), never by Monte Carlo.
//!
//! The Gaussian model. For large n an arm's mean is N(x̄, s²/n), the report's own estimate. For
//! small n that is dishonest: revenue per unit is mostly zeros, so three non-buyers have
//! s² = 0 and would look certain, and an untried arm has no x̄ at all. So each arm gets a weak
//! prior shared by all arms (it favours none):
//! - the mean: N(m₀, σ₀²/n₀) with m₀ the pooled mean of all arms and n₀ =
//!   [`GAUSSIAN_PRIOR_UNITS`] = 1 unit: the posterior mean is (n₀ m₀ + Σr)/(n₀ + n) and its
//!   variance σ²/(n₀ + n) — one unit's worth of information, gone after a few dozen units;
//! - the per-unit variance: s² shrunk to the pooled within-arm variance σ₀² with
//!   [`GAUSSIAN_PRIOR_DF`] = 5 pseudo degrees of freedom, σ² = (ν₀σ₀² + (n - 1)s²)/(ν₀ + n - 1),
//!   so no arm's spread is 0 while it has units like the others'.
//!
//! When every unit of every arm earned the same amount the arms cannot be told apart and
//! P(best) is uniform.

use super::ArmStats;
use crate::domain::RewardKind;
use crate::stats::bayes::{normal_prob_best, prob_best, BetaPosterior};
use serde::{Deserialize, Serialize};

/// Prior units n₀ of the Gaussian model's mean (see the module documentation).
pub const GAUSSIAN_PRIOR_UNITS: f64 = 1.0;
/// Prior degrees of freedom ν₀ of the Gaussian model's per-unit variance.
pub const GAUSSIAN_PRIOR_DF: f64 = 5.0;

/// z for a central 95% interval: scipy.stats.norm.ppf(0.975).
const Z_975: f64 = 1.959_963_984_540_054;

/// One arm's posterior summary: mean reward, 95% equal-tailed credible interval, P(best).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ArmPosterior {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub p_best: f64,
}

/// The posterior of every arm (empty for no arms). P(best) is uniform when it is undefined
/// (no data that tells the arms apart).
pub fn posterior(reward: RewardKind, arms: &[ArmStats]) -> Vec<ArmPosterior> {
    let k = arms.len();
    let best = p_best(reward, arms).unwrap_or_else(|| vec![1.0 / k.max(1) as f64; k]);
    if reward.is_binary() {
        arms.iter()
            .zip(best)
            .map(|(a, p_best)| {
                let post = beta(a);
                let (mean, lower, upper) = match post {
                    Some(b) => (b.mean(), beta_quantile(&b, 0.025), beta_quantile(&b, 0.975)),
                    None => (f64::NAN, 0.0, 1.0),
                };
                ArmPosterior {
                    mean,
                    lower,
                    upper,
                    p_best,
                }
            })
            .collect()
    } else {
        let normals = gaussian(arms);
        arms.iter()
            .enumerate()
            .zip(best)
            .map(|((i, _), p_best)| {
                let (mean, sd) = normals.as_ref().map_or((f64::NAN, f64::NAN), |n| n[i]);
                ArmPosterior {
                    mean,
                    lower: mean - Z_975 * sd,
                    upper: mean + Z_975 * sd,
                    p_best,
                }
            })
            .collect()
    }
}

/// P(arm is best) under the posterior, exact (quadrature); `None` when undefined: no arms, bad
/// statistics, or Gaussian arms that no unit tells apart.
pub fn p_best(reward: RewardKind, arms: &[ArmStats]) -> Option<Vec<f64>> {
    if arms.is_empty() {
        return None;
    }
    if reward.is_binary() {
        let posts: Vec<BetaPosterior> = arms.iter().map(beta).collect::<Option<_>>()?;
        // The report's own P(best), many-armed rule included (`stats::bayes::many_arms`).
        let p = prob_best(&posts);
        p.iter().all(|x| x.is_finite()).then_some(p)
    } else {
        normal_prob_best(&gaussian(arms)?)
    }
}

/// Beta(1 + s, 1 + n - s); successes are clamped to [0, n].
pub(super) fn beta(a: &ArmStats) -> Option<BetaPosterior> {
    let n = a.units.max(0.0);
    let s = a.reward_sum.clamp(0.0, n);
    BetaPosterior::new(1.0 + s, 1.0 + n - s)
}

/// Each arm's (posterior mean, posterior sd) under the Gaussian model with the shared weak
/// prior; `None` if any statistic is not finite or all units earned the same.
pub(super) fn gaussian(arms: &[ArmStats]) -> Option<Vec<(f64, f64)>> {
    let finite = |a: &ArmStats| {
        a.units.is_finite() && a.reward_sum.is_finite() && a.reward_sumsq.is_finite()
    };
    if !arms.iter().all(finite) {
        return None;
    }
    let n_total: f64 = arms.iter().map(|a| a.units.max(0.0)).sum();
    let sum_total: f64 = arms.iter().map(|a| a.reward_sum).sum();
    let sumsq_total: f64 = arms.iter().map(|a| a.reward_sumsq).sum();
    let m0 = if n_total > 0.0 {
        sum_total / n_total
    } else {
        0.0
    };
    // Pooled within-arm variance, else the variance of all units together (arms that are each
    // constant but differ), else nothing tells the arms apart.
    let (mut within_ss, mut within_df) = (0.0, 0.0);
    for a in arms.iter().filter(|a| a.units >= 2.0) {
        within_ss += centred(a.units, a.reward_sum, a.reward_sumsq);
        within_df += a.units - 1.0;
    }
    let total_var = if n_total >= 2.0 {
        centred(n_total, sum_total, sumsq_total) / (n_total - 1.0)
    } else {
        0.0
    };
    let pooled = if within_df > 0.0 && within_ss > 0.0 {
        within_ss / within_df
    } else {
        total_var
    };
    if !(pooled > 0.0 && pooled.is_finite()) {
        return None;
    }
    let out = arms
        .iter()
        .map(|a| {
            let n = a.units.max(0.0);
            let df = (n - 1.0).max(0.0);
            let ss = if n >= 2.0 {
                centred(n, a.reward_sum, a.reward_sumsq)
            } else {
                0.0
            };
            let var = (GAUSSIAN_PRIOR_DF * pooled + ss) / (GAUSSIAN_PRIOR_DF + df);
            let units = GAUSSIAN_PRIOR_UNITS + n;
            let mean = (GAUSSIAN_PRIOR_UNITS * m0 + a.reward_sum) / units;
            (mean, (var / units).sqrt())
        })
        .collect::<Vec<_>>();
    out.iter()
        .all(|&(m, s)| m.is_finite() && s > 0.0 && s.is_finite())
        .then_some(out)
}

/// Σ(r - r̄)² from the sums, never negative.
fn centred(n: f64, sum: f64, sumsq: f64) -> f64 {
    (sumsq - sum * sum / n).max(0.0)
}

/// The q-quantile of a Beta posterior by bisection on its (accurate) distribution function:
/// 60 halvings of [0, 1] reach the spacing of doubles near the quantile. Only the summary uses
/// it, never the weights.
fn beta_quantile(b: &BetaPosterior, q: f64) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if b.cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}
