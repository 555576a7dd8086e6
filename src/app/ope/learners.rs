//! The bandit policies of `src/bandit/` as learners for replay (`causal::replay`): each is a
//! `ReplayPolicy` that turns what replay has revealed to it into the policy's full probability
//! vector and draws its arm from it with its own seeded generator.
//!
//! When the weights are recomputed: after every `update_every` revealed (matched) rows, 1 by
//! default: the allocation loop's schedule at its finest, one update per reward (a larger batch
//! is the loop's "every N units", and cheaper: an exact Thompson update over many arms costs
//! a quadrature). Epsilon-greedy's decay counts these updates. There is no explore stage: the policies'
//! own rules cover untried arms (UCB1 and greedy play them first, Thompson starts from its prior),
//! because a uniform stage of 100 units per arm would use up most matched rows of a small log.
//! The floor is the campaign's (or `--floor`). The linear policies keep one ridge model per arm,
//! learn from each revealed row's features and refit only the arm that learned.

use crate::bandit::sim::draw;
use crate::bandit::{contextual_weights, probabilities, ArmStats, FittedArm, LinearModel};
use crate::causal::replay::{self, ReplayPolicy, Situation};
use crate::domain::{BanditConfig, PolicyKind, RewardKind};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};

/// A policy to replay: the bandit configuration it runs with and the reward it maximises.
#[derive(Debug, Clone, PartialEq)]
pub struct Learner {
    pub config: BanditConfig,
    pub reward: RewardKind,
    /// Matched rows between weight updates of the context-free policies (at least 1).
    pub update_every: u64,
}

impl Learner {
    pub fn label(&self) -> String {
        let c = &self.config;
        let floor = c.floor_or_default();
        let detail = match c.policy {
            PolicyKind::Uniform => return "uniform".into(),
            PolicyKind::EpsilonGreedy => format!(
                "epsilon {}{}",
                c.epsilon_or_default(),
                match c.epsilon_decay_or_default() {
                    d if d > 0.0 => format!(" / (1 + {d}·updates)"),
                    _ => String::new(),
                }
            ),
            PolicyKind::Thompson | PolicyKind::TopTwo if self.reward.is_binary() => {
                "Beta-Bernoulli".into()
            }
            PolicyKind::Thompson | PolicyKind::TopTwo => "Gaussian".into(),
            PolicyKind::Ucb1 => "c = 1".into(),
            PolicyKind::LinUcb | PolicyKind::LinTs => format!(
                "alpha {}, ridge {}, fields {}",
                c.linear_alpha_or_default(),
                c.ridge_or_default(),
                c.context_fields.join(",")
            ),
        };
        let every = match self.update_every {
            n if n > 1 && !c.policy.is_contextual() => format!("; weights every {n} matched rows"),
            _ => String::new(),
        };
        format!("{} ({detail}; floor {floor}{every})", c.policy)
    }

    /// A fresh learner with its own seeded randomness, for a log over `arms` arms.
    pub fn start(&self, seed: u64) -> Box<dyn ReplayPolicy> {
        Box::new(Running {
            learner: self.clone(),
            rng: Prng::seed_from_u64(seed),
            probabilities: Vec::new(),
            revealed: 0,
            updates: 0,
            models: Vec::new(),
            fitted: Vec::new(),
        })
    }
}

/// The learner replay runs for `config` (its policy, floor, epsilon...) on reward `reward`, or
/// why it cannot run.
pub fn learner_for(config: &BanditConfig, reward: RewardKind) -> Result<Learner, String> {
    if config.policy.is_contextual() && config.context_fields.is_empty() {
        return Err(format!(
            "policy {} learns from the unit's context: give --context-fields (the campaign's \
             bandit configuration names none)",
            config.policy
        ));
    }
    Ok(Learner {
        config: config.clone(),
        reward,
        update_every: 1,
    })
}

struct Running {
    learner: Learner,
    rng: Prng,
    /// The weights in force, and the rows revealed since they were computed.
    probabilities: Vec<f64>,
    revealed: u64,
    updates: u64,
    /// The linear policies' per-arm statistics and fitted models (empty until the first row).
    models: Vec<LinearModel>,
    /// One per arm, or empty when the models cannot be fit at all (then no preference). An arm
    /// whose refit fails keeps its previous fit.
    fitted: Vec<FittedArm>,
}

impl Running {
    fn context_free(&mut self, arms: &[replay::ArmStats]) -> &[f64] {
        let due = self.revealed >= self.learner.update_every.max(1);
        if due || self.probabilities.len() != arms.len() {
            let stats: Vec<ArmStats> = arms
                .iter()
                .map(|a| ArmStats {
                    units: a.pulls as f64,
                    reward_sum: a.reward_sum,
                    reward_sumsq: a.reward_sumsq,
                })
                .collect();
            self.probabilities = probabilities(
                &self.learner.config,
                self.learner.reward,
                &stats,
                self.updates,
            );
            self.updates += 1;
            self.revealed = 0;
        }
        &self.probabilities
    }

    /// The models, created on the first row (its features give the dimension).
    fn ensure_models(&mut self, arms: usize, dim: usize) {
        if self.models.len() != arms || self.models.first().is_some_and(|m| m.dim != dim) {
            let ridge = self.learner.config.ridge_or_default();
            self.models = vec![LinearModel::new(dim, ridge); arms];
            self.fitted = self
                .models
                .iter()
                .map(LinearModel::fit)
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default();
        }
    }
}

impl ReplayPolicy for Running {
    fn choose(&mut self, arms: &[replay::ArmStats], situation: &Situation<'_>) -> usize {
        let u = self.rng.random::<f64>();
        if !self.learner.config.policy.is_contextual() {
            return draw(self.context_free(arms), u);
        }
        self.ensure_models(arms.len(), situation.features.len());
        if self.fitted.len() != arms.len() {
            return draw(&vec![1.0 / arms.len().max(1) as f64; arms.len()], u);
        }
        let w = contextual_weights(&self.learner.config, &self.fitted, situation.features);
        draw(&w.probabilities, u)
    }

    fn learn(&mut self, arm: usize, reward: f64, situation: &Situation<'_>) {
        self.revealed += 1;
        if !self.learner.config.policy.is_contextual() {
            return;
        }
        if let Some(m) = self.models.get_mut(arm) {
            m.observe(situation.features, reward);
            if let (Some(f), Some(slot)) = (m.fit(), self.fitted.get_mut(arm)) {
                *slot = f;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::causal::ope::LoggedRow;
    use crate::causal::replay::replay;

    fn config(policy: PolicyKind) -> BanditConfig {
        BanditConfig {
            policy,
            floor: Some(0.0),
            ..Default::default()
        }
    }

    #[test]
    fn contextual_learners_need_context_fields() {
        let e = learner_for(&config(PolicyKind::LinUcb), RewardKind::Click).unwrap_err();
        assert!(e.contains("--context-fields"), "{e}");
        assert!(learner_for(&config(PolicyKind::Thompson), RewardKind::Revenue).is_ok());
    }

    #[test]
    fn the_same_seed_replays_the_same_choices() {
        let rows: Vec<LoggedRow> = (0..600)
            .map(|i| LoggedRow {
                arm: i % 3,
                reward: f64::from(u8::from(i % 7 == 0 || i % 3 == 2)),
                propensity: 1.0 / 3.0,
                position: None,
                features: vec![],
            })
            .collect();
        for policy in [PolicyKind::Thompson, PolicyKind::TopTwo, PolicyKind::Ucb1] {
            let l = learner_for(&config(policy), RewardKind::Click).expect("learner");
            let a = replay(&rows, 3, l.start(4).as_mut()).expect("replay");
            let b = replay(&rows, 3, l.start(4).as_mut()).expect("replay");
            assert_eq!(a, b, "{policy}");
            // Arm 2 always pays: every learner ends up playing it most.
            let best = (0..3).max_by_key(|&k| a.arms[k].pulls).expect("arms");
            assert_eq!(best, 2, "{policy}: {a:?}");
        }
    }
}
