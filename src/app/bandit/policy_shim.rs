//! A stand-in for `crate::bandit` (the pure policies, written on another branch) with the same
//! names, so the allocation loop builds and is tested before that module lands. Normal
//! approximation for every reward, Thompson weights = P(best); removed once `src/bandit/` is on
//! main.

use crate::domain::{ArmRollup, BanditConfig, PolicyKind, RewardKind};
use crate::stats::bayes::normal_prob_best;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmStats {
    pub units: f64,
    pub reward_sum: f64,
    pub reward_sumsq: f64,
}

impl ArmStats {
    pub fn from_rollup(r: &ArmRollup, reward: RewardKind) -> ArmStats {
        let units = r.units.max(0) as f64;
        let (sum, sumsq) = match reward {
            RewardKind::Click => (r.click_units as f64, r.click_units as f64),
            RewardKind::Conversion => (r.conversions as f64, r.conversions as f64),
            RewardKind::Revenue => (r.revenue_sum, r.revenue_sumsq),
            RewardKind::Profit => (
                r.revenue_sum - r.cost_sum,
                r.revenue_sumsq - 2.0 * r.revenue_cost_sum + r.cost_sumsq,
            ),
        };
        ArmStats {
            units,
            reward_sum: sum,
            reward_sumsq: sumsq,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmPosterior {
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
    pub p_best: f64,
}

fn normals(arms: &[ArmStats]) -> Vec<(f64, f64)> {
    arms.iter()
        .map(|a| {
            let n = a.units.max(1.0);
            let m = a.reward_sum / n;
            let var = (a.reward_sumsq / n - m * m).max(1e-6);
            (m, (var / n).sqrt())
        })
        .collect()
}

pub fn posterior(_reward: RewardKind, arms: &[ArmStats]) -> Vec<ArmPosterior> {
    let k = arms.len().max(1) as f64;
    let nm = normals(arms);
    let best = normal_prob_best(&nm).unwrap_or_else(|| vec![1.0 / k; arms.len()]);
    nm.iter()
        .zip(best)
        .map(|(&(m, sd), p_best)| ArmPosterior {
            mean: m,
            lower: m - 1.96 * sd,
            upper: m + 1.96 * sd,
            p_best,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    pub probabilities: Vec<f64>,
    pub leader: Option<usize>,
    pub p_best: Option<Vec<f64>>,
    pub winner: Option<usize>,
}

pub fn apply_floor(w: &[f64], floor: f64) -> Vec<f64> {
    let k = w.len() as f64;
    let total: f64 = w.iter().sum();
    w.iter()
        .map(|x| floor + (1.0 - k * floor) * x / total)
        .collect()
}

pub fn weights(
    config: &BanditConfig,
    reward: RewardKind,
    arms: &[ArmStats],
    _update_index: u64,
) -> Weights {
    let post = posterior(reward, arms);
    let p: Vec<f64> = post.iter().map(|a| a.p_best).collect();
    let leader = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b]));
    let winner = leader.filter(|&l| p[l] >= config.winner_threshold_or_default());
    let raw = match (config.policy, winner) {
        (PolicyKind::Uniform, _) => vec![1.0; p.len()],
        (_, Some(w)) if config.stop_on_winner => (0..p.len())
            .map(|i| if i == w { 1.0 } else { 0.0 })
            .collect(),
        _ => p.clone(),
    };
    Weights {
        probabilities: apply_floor(&raw, config.floor_or_default()),
        leader,
        p_best: Some(p),
        winner,
    }
}
