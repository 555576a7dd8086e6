//! Replay evaluation of a learning policy (Li, Chu, Langford and Wang, WSDM 2011): walk a log
//! collected by a uniformly random policy in its order; at each row the policy picks an arm
//! from what it has learned so far; when that is the logged arm, the row's reward is revealed
//! to it and counted, otherwise the row is skipped. Because every arm was equally likely to be
//! logged, the kept rows are an unbiased sample of what the policy would have met live, so the
//! mean reward over them estimates the policy's per-decision reward. About n / K rows are kept.
//!
//! The argument needs uniform logging: `replay` refuses logs whose propensities are not all
//! 1/K (within `UNIFORM_TOLERANCE`). Pure: no I/O; a policy that randomises owns its seeded RNG.

use super::ope::LoggedRow;
use serde::Serialize;

/// How far a logged propensity may be from 1/K and still count as uniform.
pub const UNIFORM_TOLERANCE: f64 = 1e-6;

/// What a policy has learned about one arm from the rows revealed to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ArmStats {
    pub pulls: u64,
    pub reward_sum: f64,
    /// Σ reward², for policies whose posterior needs the spread (Gaussian Thompson sampling on
    /// revenue or profit).
    pub reward_sumsq: f64,
}

impl ArmStats {
    /// Mean reward so far (None before the first pull).
    pub fn mean(&self) -> Option<f64> {
        (self.pulls > 0).then(|| self.reward_sum / self.pulls as f64)
    }
}

/// What a policy may see of a row before it chooses: never the logged arm or its reward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Situation<'a> {
    /// Rows replayed so far (kept or not).
    pub round: u64,
    pub position: Option<u32>,
    pub features: &'a [f64],
}

/// A learning policy under replay. A closure `FnMut(&[ArmStats]) -> usize` is one (context-free,
/// learning only through the statistics replay keeps); a contextual policy implements `learn`
/// to update its own model from the revealed rows.
pub trait ReplayPolicy {
    /// The arm to play, from the per-arm statistics of the rows revealed so far.
    fn choose(&mut self, arms: &[ArmStats], situation: &Situation<'_>) -> usize;
    /// Called with the reward when the chosen arm was the logged one.
    fn learn(&mut self, _arm: usize, _reward: f64, _situation: &Situation<'_>) {}
}

impl<F: FnMut(&[ArmStats]) -> usize> ReplayPolicy for F {
    fn choose(&mut self, arms: &[ArmStats], _situation: &Situation<'_>) -> usize {
        self(arms)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    #[error("no logged rows to replay")]
    NoRows,
    #[error(
        "replay needs logs collected uniformly at random (every propensity 1/{arms} = {expected:.6}); \
         row {row} was logged with propensity {found}. Use off-policy estimators (IPS, DR) on \
         these logs instead"
    )]
    NotUniform {
        row: usize,
        arms: usize,
        expected: f64,
        found: f64,
    },
    #[error("logged row {row} has arm {arm} of {arms}")]
    ArmOutOfRange { row: usize, arm: usize, arms: usize },
    #[error("the policy chose arm {arm} of {arms} at row {row}")]
    PolicyArm { row: usize, arm: usize, arms: usize },
}

/// What replay measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayResult {
    pub rows: u64,
    /// Rows where the policy's choice matched the log (the sample the estimate rests on).
    pub matched: u64,
    pub reward_sum: f64,
    /// Per arm: what the policy learned (its pulls are the matched rows of that arm).
    pub arms: Vec<ArmStats>,
}

impl ReplayResult {
    /// The replay estimate of the policy's mean reward per decision.
    pub fn mean_reward(&self) -> Option<f64> {
        (self.matched > 0).then(|| self.reward_sum / self.matched as f64)
    }
}

/// Checks that every row was logged with propensity 1/`arms`.
pub fn check_uniform(rows: &[LoggedRow], arms: usize) -> Result<(), ReplayError> {
    let expected = 1.0 / arms.max(1) as f64;
    match rows
        .iter()
        .position(|r| (r.propensity - expected).abs() > UNIFORM_TOLERANCE)
    {
        Some(row) => Err(ReplayError::NotUniform {
            row,
            arms,
            expected,
            found: rows[row].propensity,
        }),
        None => Ok(()),
    }
}

/// Replays `policy` over `rows` (in their order) of a log over `arms` arms.
pub fn replay(
    rows: &[LoggedRow],
    arms: usize,
    policy: &mut dyn ReplayPolicy,
) -> Result<ReplayResult, ReplayError> {
    if rows.is_empty() {
        return Err(ReplayError::NoRows);
    }
    if let Some(row) = rows.iter().position(|r| r.arm >= arms) {
        return Err(ReplayError::ArmOutOfRange {
            row,
            arm: rows[row].arm,
            arms,
        });
    }
    check_uniform(rows, arms)?;
    let mut stats = vec![ArmStats::default(); arms];
    let (mut matched, mut reward_sum) = (0u64, 0.0);
    for (i, r) in rows.iter().enumerate() {
        let situation = Situation {
            round: i as u64,
            position: r.position,
            features: &r.features,
        };
        let arm = policy.choose(&stats, &situation);
        if arm >= arms {
            return Err(ReplayError::PolicyArm { row: i, arm, arms });
        }
        if arm != r.arm {
            continue;
        }
        matched += 1;
        reward_sum += r.reward;
        stats[arm].pulls += 1;
        stats[arm].reward_sum += r.reward;
        stats[arm].reward_sumsq += r.reward * r.reward;
        policy.learn(arm, r.reward, &situation);
    }
    Ok(ReplayResult {
        rows: rows.len() as u64,
        matched,
        reward_sum,
        arms: stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform_log(arms: usize, n: usize, reward: impl Fn(usize) -> f64) -> Vec<LoggedRow> {
        (0..n)
            .map(|i| {
                let arm = (i * 7 + i / arms) % arms;
                LoggedRow {
                    arm,
                    reward: reward(arm),
                    propensity: 1.0 / arms as f64,
                    position: None,
                    features: vec![],
                }
            })
            .collect()
    }

    #[test]
    fn a_fixed_arm_policy_keeps_that_arms_rows_and_their_mean() {
        let rows = uniform_log(3, 300, |a| a as f64);
        let mut always_two = |_: &[ArmStats]| 2;
        let r = replay(&rows, 3, &mut always_two).expect("replay");
        assert_eq!(r.matched, rows.iter().filter(|r| r.arm == 2).count() as u64);
        assert_eq!(r.mean_reward(), Some(2.0));
        assert_eq!(r.arms[2].pulls, r.matched);
        assert_eq!(r.arms[2].reward_sumsq, 4.0 * r.matched as f64);
        assert_eq!(r.arms[0].pulls, 0);
    }

    #[test]
    fn a_greedy_learner_finds_the_best_arm() {
        let rows = uniform_log(4, 2000, |a| if a == 3 { 1.0 } else { 0.0 });
        // Try each arm once, then play the best mean.
        let mut greedy = |s: &[ArmStats]| {
            s.iter().position(|a| a.pulls == 0).unwrap_or_else(|| {
                (0..s.len())
                    .max_by(|&a, &b| s[a].mean().partial_cmp(&s[b].mean()).expect("finite"))
                    .unwrap_or(0)
            })
        };
        let r = replay(&rows, 4, &mut greedy).expect("replay");
        assert!(r.mean_reward().expect("matched") > 0.9, "{r:?}");
    }

    #[test]
    fn logs_that_were_not_uniform_are_refused() {
        let mut rows = uniform_log(2, 10, |_| 0.0);
        rows[4].propensity = 0.7;
        let e = replay(&rows, 2, &mut |_: &[ArmStats]| 0).unwrap_err();
        assert!(matches!(e, ReplayError::NotUniform { row: 4, .. }), "{e}");
        // Uniform over 2 arms is not uniform over 3.
        let rows = uniform_log(2, 10, |_| 0.0);
        assert!(check_uniform(&rows, 3).is_err());
        assert!(check_uniform(&rows, 2).is_ok());
    }

    #[test]
    fn a_policy_choosing_a_missing_arm_is_an_error() {
        let rows = uniform_log(2, 4, |_| 0.0);
        let e = replay(&rows, 2, &mut |_: &[ArmStats]| 5).unwrap_err();
        assert!(matches!(e, ReplayError::PolicyArm { arm: 5, .. }), "{e}");
    }
}
