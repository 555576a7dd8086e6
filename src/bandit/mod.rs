//! Bandit policies: the arms' sufficient statistics (and, for the contextual policies, the
//! unit's context) in, the full probability vector over arms out. Pure: no I/O, no clock, no
//! randomness (the allocation loop draws with the unit's hash, the simulations with a seeded
//! generator), so the probability a unit was assigned with is known exactly and can be logged.
//!
//! This module owns the per-arm statistics a policy reads ([`ArmStats`]), the weight vector a
//! policy returns ([`Weights`]), the additive floor, and [`weights`], the one entry point for the
//! context-free policies. The posterior lives in `posterior`, the context-free rules in
//! `policies`, the linear models in `linear` and `encoder`, the samplers of the Monte Carlo
//! baseline in `sample`, and the simulated environments and regret runner in `sim`.

mod encoder;
mod linear;
mod policies;
mod posterior;
pub mod sample;
pub mod sim;

pub use encoder::{ContextEncoder, FieldEncoding};
pub use linear::{contextual_weights, FittedArm, LinearModel};
pub use posterior::{p_best, posterior, ArmPosterior, GAUSSIAN_PRIOR_DF, GAUSSIAN_PRIOR_UNITS};

use crate::domain::{ArmRollup, BanditConfig, PolicyKind, RewardKind};
use crate::stats::metrics::{metric_stats, Metric, MetricStats};
use serde::{Deserialize, Serialize};

/// One arm's sufficient statistics of the per-unit reward: units, Σ reward and Σ reward². For
/// 0/1 rewards `reward_sum` is the number of successes (and equals `reward_sumsq`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmStats {
    pub units: f64,
    pub reward_sum: f64,
    pub reward_sumsq: f64,
}

impl ArmStats {
    /// The arm's reward statistics read out of its rollup, the way the reports read the same
    /// metric (`stats::metrics::metric_stats`): conversion = units with a purchase, revenue and
    /// profit (revenue - cost per unit, Σ(r - c)² = Σr² - 2Σrc + Σc²) as per-unit sums. Click is
    /// units with at least one click (a 0/1 reward per unit, not the report's clicks/exposures).
    pub fn from_rollup(r: &ArmRollup, reward: RewardKind) -> ArmStats {
        let units = r.units.max(0) as f64;
        let metric = match reward {
            RewardKind::Click => {
                let s = r.click_units.clamp(0, r.units.max(0)) as f64;
                return ArmStats::binary(units, s);
            }
            RewardKind::Conversion => Metric::Conversion,
            RewardKind::Revenue => Metric::Revenue,
            RewardKind::Profit => Metric::Profit,
        };
        match metric_stats(metric, r) {
            MetricStats::Proportion(p) => ArmStats::binary(p.n as f64, p.x.min(p.n) as f64),
            MetricStats::Mean(m) => ArmStats {
                units: m.n,
                reward_sum: m.sum,
                reward_sumsq: m.sum_sq,
            },
            // Not reached for these metrics; an arm with no usable statistics.
            MetricStats::Ratio(_) => ArmStats::default(),
        }
    }

    /// `successes` of `units` 0/1 rewards.
    pub fn binary(units: f64, successes: f64) -> ArmStats {
        ArmStats {
            units,
            reward_sum: successes,
            reward_sumsq: successes,
        }
    }

    /// The mean reward per unit; `None` before the first unit.
    pub fn mean(&self) -> Option<f64> {
        (self.units > 0.0)
            .then(|| self.reward_sum / self.units)
            .filter(|m| m.is_finite())
    }

    /// Adds one unit with reward `r`.
    pub fn record(&mut self, r: f64) {
        self.units += 1.0;
        self.reward_sum += r;
        self.reward_sumsq += r * r;
    }
}

/// What a policy decided for one update (or, for the contextual policies, one context).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The probability of each arm, in arm order: sums to 1, every arm at least the floor. This
    /// is the propensity a unit drawn from it is logged with.
    pub probabilities: Vec<f64>,
    /// The arm the policy rates best: highest P(best) for the posterior policies, highest mean
    /// for UCB1 and epsilon-greedy (`None` before any arm has a unit), highest score for LinUCB.
    pub leader: Option<usize>,
    /// Each arm's posterior probability of being best (`posterior::p_best`; for LinTS, per
    /// context); `None` where undefined (LinUCB, or no data that tells the arms apart).
    pub p_best: Option<Vec<f64>>,
    /// The leader, when its P(best) reached the winner threshold.
    pub winner: Option<usize>,
}

impl Weights {
    /// The leader's P(best), where defined.
    pub fn leader_p_best(&self) -> Option<f64> {
        Some(*self.p_best.as_ref()?.get(self.leader?)?)
    }

    /// Uniform over `arms` arms (the explore stage, and the answer for no information).
    pub fn uniform(arms: usize) -> Weights {
        Weights {
            probabilities: vec![1.0 / arms.max(1) as f64; arms],
            leader: None,
            p_best: None,
            winner: None,
        }
    }
}

/// The floor applied additively: p_a = f + (1 - K f) w_a with w normalised to sum to 1, so every
/// arm keeps at least f and the vector still sums to 1. A floor above 1/K is cut to 1/K
/// (uniform); weights that are not a usable distribution (empty sum, NaN) give uniform.
pub fn apply_floor(w: &[f64], floor: f64) -> Vec<f64> {
    let k = w.len();
    if k == 0 {
        return Vec::new();
    }
    let uniform = 1.0 / k as f64;
    let f = if floor.is_finite() {
        floor.clamp(0.0, uniform)
    } else {
        0.0
    };
    let total: f64 = w.iter().sum();
    if !(total > 0.0 && total.is_finite()) || w.iter().any(|x| x.is_nan() || *x < 0.0) {
        return vec![uniform; k];
    }
    let rest = (1.0 - k as f64 * f).max(0.0);
    w.iter().map(|x| f + rest * (x / total)).collect()
}

/// The weights of a context-free policy for the update numbered `update_index` (0 for the first
/// update after the explore stage; epsilon-greedy's decay counts it). The full vector, exact:
/// - Thompson: w = P(best) under the posterior (`posterior::p_best`, exact quadrature);
/// - top-two Thompson: w = the exact probability that the top-two procedure plays each arm;
/// - UCB1: all mass on the highest mean + sqrt(2 ln N / n_a) (untried arms first, ties split);
/// - epsilon-greedy: epsilon / (1 + decay·t) spread uniformly, the rest on the best mean;
/// - uniform: 1/K.
///
/// then the floor. Every policy reports the posterior P(best) and the winner (the arm whose
/// P(best) reached `winner_threshold`); with `stop_on_winner` the winner gets all but the
/// floor. The contextual policies have no context here: they get the Thompson
/// weights on the same statistics, the summary a period stores; a unit's own probabilities
/// come from [`contextual_weights`].
pub fn weights(
    config: &BanditConfig,
    reward: RewardKind,
    arms: &[ArmStats],
    update_index: u64,
) -> Weights {
    decide(config, reward, arms, update_index, true)
}

/// Only the probabilities [`weights`] would give: the same vector, without the posterior
/// P(best) that UCB1, epsilon-greedy and uniform compute only to report the leader and the
/// winner (unless `stop_on_winner` makes the winner move the weights). Replay and simulations
/// recompute weights after every revealed reward and need nothing else.
pub fn probabilities(
    config: &BanditConfig,
    reward: RewardKind,
    arms: &[ArmStats],
    update_index: u64,
) -> Vec<f64> {
    decide(config, reward, arms, update_index, config.stop_on_winner).probabilities
}

fn decide(
    config: &BanditConfig,
    reward: RewardKind,
    arms: &[ArmStats],
    update_index: u64,
    report: bool,
) -> Weights {
    let k = arms.len();
    if k == 0 {
        return Weights::uniform(0);
    }
    let mut p_best_vec: Option<Vec<f64>> = None;
    let mut leader = policies::best_mean(arms);
    let raw: Vec<f64> = match config.policy {
        PolicyKind::Thompson | PolicyKind::LinUcb | PolicyKind::LinTs => {
            match posterior::p_best(reward, arms) {
                Some(p) => {
                    leader = policies::argmax(&p);
                    let w = p.clone();
                    p_best_vec = Some(p);
                    w
                }
                None => vec![1.0; k],
            }
        }
        PolicyKind::TopTwo => match posterior::p_best(reward, arms) {
            Some(p) => {
                leader = policies::argmax(&p);
                let w = policies::top_two(&p, config.top_two_beta_or_default());
                p_best_vec = Some(p);
                w
            }
            None => vec![1.0; k],
        },
        PolicyKind::Ucb1 => policies::ucb1(reward, arms),
        PolicyKind::EpsilonGreedy => {
            let eps = policies::decayed_epsilon(
                config.epsilon_or_default(),
                config.epsilon_decay_or_default(),
                update_index,
            );
            policies::epsilon_greedy(arms, eps)
        }
        PolicyKind::Uniform => vec![1.0; k],
    };
    if p_best_vec.is_none() && report {
        p_best_vec = posterior::p_best(reward, arms);
    }
    let threshold = config.winner_threshold_or_default();
    let winner = p_best_vec.as_ref().and_then(|p| {
        let best = policies::argmax(p)?;
        (p[best] >= threshold).then_some(best)
    });
    let raw = match winner {
        Some(w) if config.stop_on_winner => {
            leader = Some(w);
            policies::one_hot(k, w)
        }
        _ => raw,
    };
    Weights {
        probabilities: apply_floor(&raw, config.floor_or_default()),
        leader,
        p_best: p_best_vec,
        winner,
    }
}

#[cfg(test)]
mod tests;
