//! The context-free rules that turn statistics (or P(best)) into weights before the floor:
//! top-two Thompson's exact play probabilities, UCB1 and epsilon-greedy. Every rule returns
//! the whole vector, so the probability of the arm a unit gets is known exactly.

use super::ArmStats;
use crate::domain::RewardKind;

/// Index of the largest value (the first of equals); `None` if empty or all NaN.
pub(super) fn argmax(v: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &x) in v.iter().enumerate() {
        if x.is_nan() {
            continue;
        }
        if best.is_none_or(|b| x > v[b]) {
            best = Some(i);
        }
    }
    best
}

pub(super) fn one_hot(k: usize, at: usize) -> Vec<f64> {
    let mut w = vec![0.0; k];
    if let Some(slot) = w.get_mut(at) {
        *slot = 1.0;
    }
    w
}

/// Equal mass on every arm whose score equals the maximum (to 1e-12 relative, so that scores
/// equal in exact arithmetic but rounded differently still tie).
pub(super) fn split_top(scores: &[f64]) -> Vec<f64> {
    let Some(best) = argmax(scores) else {
        return vec![1.0; scores.len()];
    };
    let top = scores[best];
    let tol = 1e-12 * top.abs().max(1e-300);
    let tied: Vec<bool> = scores
        .iter()
        .map(|&s| s == top || (top - s).abs() <= tol)
        .collect();
    tied.iter().map(|&t| if t { 1.0 } else { 0.0 }).collect()
}

/// Arms with no unit yet, as mass 1 each; `None` if every arm has units.
fn untried(arms: &[ArmStats]) -> Option<Vec<f64>> {
    let w: Vec<f64> = arms
        .iter()
        .map(|a| if a.units > 0.0 { 0.0 } else { 1.0 })
        .collect();
    w.iter().any(|&x| x > 0.0).then_some(w)
}

/// The arm with the highest mean reward (the first of equals); `None` before any unit.
pub(super) fn best_mean(arms: &[ArmStats]) -> Option<usize> {
    let means: Vec<f64> = arms.iter().map(|a| a.mean().unwrap_or(f64::NAN)).collect();
    argmax(&means)
}

/// Top-two Thompson sampling's play probabilities from P(best), exactly. The procedure draws
/// the arms' means from the posterior; the best of the draw is the leader I. With probability
/// beta it plays I; otherwise it draws again until some arm J ≠ I is best, and plays J. The
/// re-draws are independent of the first, so given I = j the challenger is i with probability
/// P_i / (1 - P_j) (the best of a draw, conditioned on not being j). Hence
///   P(play i) = beta·P_i + (1 - beta)·Σ_{j≠i} P_j·P_i / (1 - P_j).
/// 1 - P_j is computed as Σ_{m≠j} P_m (no cancellation when P_j is near 1). When every other
/// arm has P = 0 the re-drawing would never end; the challenger is then taken uniformly from the
/// other arms, the limit of a procedure that gives up after many re-draws.
pub(super) fn top_two(p: &[f64], beta: f64) -> Vec<f64> {
    let k = p.len();
    if k <= 1 {
        return vec![1.0; k];
    }
    let total: f64 = p.iter().sum();
    let mut w: Vec<f64> = p.iter().map(|&x| beta * x).collect();
    for (j, &pj) in p.iter().enumerate() {
        if pj <= 0.0 {
            continue;
        }
        let others = total - pj;
        let share = (1.0 - beta) * pj;
        for (i, wi) in w.iter_mut().enumerate() {
            if i == j {
                continue;
            }
            *wi += if others > 0.0 {
                share * p[i] / others
            } else {
                share / (k - 1) as f64
            };
        }
    }
    w
}

/// UCB1: all mass on the highest mean + c·sqrt(2 ln N / n_a), N the units of all arms; untried
/// arms first; ties split. UCB1 is stated for rewards in [0, 1], where c = 1; for revenue and
/// profit c is the pooled standard deviation of the per-unit reward, which puts the bonus in
/// the reward's units (a bonus of "1" would be nothing for order values in the hundreds).
pub(super) fn ucb1(reward: RewardKind, arms: &[ArmStats]) -> Vec<f64> {
    if let Some(w) = untried(arms) {
        return w;
    }
    let n: f64 = arms.iter().map(|a| a.units).sum();
    let scale = if reward.is_binary() {
        1.0
    } else {
        pooled_sd(arms).unwrap_or(1.0)
    };
    let log_n = n.max(1.0).ln();
    let scores: Vec<f64> = arms
        .iter()
        .map(|a| a.reward_sum / a.units + scale * (2.0 * log_n / a.units).sqrt())
        .collect();
    split_top(&scores)
}

/// Standard deviation of every unit's reward around its own arm's mean (pooled).
fn pooled_sd(arms: &[ArmStats]) -> Option<f64> {
    let (mut ss, mut df) = (0.0, 0.0);
    for a in arms.iter().filter(|a| a.units >= 2.0) {
        ss += (a.reward_sumsq - a.reward_sum * a.reward_sum / a.units).max(0.0);
        df += a.units - 1.0;
    }
    let sd = (ss / df).sqrt();
    (df > 0.0 && sd > 0.0 && sd.is_finite()).then_some(sd)
}

/// epsilon_t = epsilon / (1 + decay·t) after t updates.
pub(super) fn decayed_epsilon(epsilon: f64, decay: f64, t: u64) -> f64 {
    let e = epsilon / (1.0 + decay.max(0.0) * t as f64);
    if e.is_finite() {
        e.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Epsilon spread uniformly over all arms, the rest split over the arms with the best mean
/// (untried arms count as best: a greedy rule cannot rank an arm it never saw).
pub(super) fn epsilon_greedy(arms: &[ArmStats], epsilon: f64) -> Vec<f64> {
    let k = arms.len();
    let greedy = untried(arms).unwrap_or_else(|| {
        let means: Vec<f64> = arms.iter().map(|a| a.reward_sum / a.units).collect();
        split_top(&means)
    });
    let ties: f64 = greedy.iter().sum();
    greedy
        .iter()
        .map(|g| epsilon / k as f64 + (1.0 - epsilon) * g / ties)
        .collect()
}
