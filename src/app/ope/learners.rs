//! STAND-INS until `src/bandit/` lands: minimal learning policies for replay (uniform,
//! epsilon-greedy, UCB1, Beta-Bernoulli Thompson sampling), written only so `report ope
//! --replay` and EVALUATION.md have something to run. `learner_for` is the one place that
//! maps a policy name to a learner; the bandit step replaces these with its own policies
//! (each wrapped as a `causal::replay::ReplayPolicy`).

use crate::causal::replay::{ArmStats, ReplayPolicy, Situation};
use crate::domain::PolicyKind;
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};

/// A learner for replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Learner {
    Uniform,
    EpsilonGreedy {
        epsilon: f64,
    },
    Ucb1,
    /// Beta(1, 1) priors on 0/1 rewards.
    Thompson,
}

impl Learner {
    pub fn label(self) -> String {
        match self {
            Learner::Uniform => "uniform".into(),
            Learner::EpsilonGreedy { epsilon } => format!("eps-greedy (epsilon {epsilon})"),
            Learner::Ucb1 => "UCB1".into(),
            Learner::Thompson => "Thompson sampling (Beta-Bernoulli)".into(),
        }
    }

    /// A fresh learner with its own seeded randomness.
    pub fn start(self, seed: u64) -> Box<dyn ReplayPolicy> {
        Box::new(Running {
            learner: self,
            rng: Prng::seed_from_u64(seed),
        })
    }
}

/// The learner replay runs for `kind`, or why there is none yet. Replace with the bandit
/// step's policies (src/bandit/) when it lands: this is the one place to change.
pub fn learner_for(kind: PolicyKind, epsilon: f64, binary_reward: bool) -> Result<Learner, String> {
    match kind {
        PolicyKind::Uniform => Ok(Learner::Uniform),
        PolicyKind::EpsilonGreedy => Ok(Learner::EpsilonGreedy { epsilon }),
        PolicyKind::Ucb1 => Ok(Learner::Ucb1),
        PolicyKind::Thompson if binary_reward => Ok(Learner::Thompson),
        PolicyKind::Thompson => Err(
            "replay of Thompson sampling on revenue or profit rewards is not yet available \
             (the Gaussian policy comes with the bandit policies)"
                .into(),
        ),
        PolicyKind::TopTwo | PolicyKind::LinUcb | PolicyKind::LinTs => Err(format!(
            "replay of policy {kind} is not yet available (it comes with the bandit policies); \
             use uniform, eps, ucb or ts"
        )),
    }
}

struct Running {
    learner: Learner,
    rng: Prng,
}

impl ReplayPolicy for Running {
    fn choose(&mut self, arms: &[ArmStats], _situation: &Situation<'_>) -> usize {
        let k = arms.len();
        // Every learner but uniform plays each arm once before trusting any mean.
        let untried: Vec<usize> = (0..k).filter(|a| arms[*a].pulls == 0).collect();
        let pick_untried = |rng: &mut Prng| untried[rng.random_range(0..untried.len())];
        match self.learner {
            Learner::Uniform => self.rng.random_range(0..k),
            _ if !untried.is_empty() && self.learner != Learner::Thompson => {
                pick_untried(&mut self.rng)
            }
            Learner::EpsilonGreedy { epsilon } => {
                if self.rng.random::<f64>() < epsilon {
                    self.rng.random_range(0..k)
                } else {
                    argmax(arms.iter().map(|a| a.mean().unwrap_or(0.0)))
                }
            }
            Learner::Ucb1 => {
                let t: u64 = arms.iter().map(|a| a.pulls).sum();
                let log_t = (t.max(1) as f64).ln();
                argmax(arms.iter().map(|a| {
                    a.mean().unwrap_or(0.0) + (2.0 * log_t / a.pulls.max(1) as f64).sqrt()
                }))
            }
            Learner::Thompson => {
                let draws: Vec<f64> = arms
                    .iter()
                    .map(|a| {
                        let s = a.reward_sum.clamp(0.0, a.pulls as f64);
                        beta(&mut self.rng, 1.0 + s, 1.0 + a.pulls as f64 - s)
                    })
                    .collect();
                argmax(draws.into_iter())
            }
        }
    }
}

/// Index of the largest value; the first on ties.
fn argmax(values: impl Iterator<Item = f64>) -> usize {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// A Beta(a, b) draw as X / (X + Y) of two Gamma draws.
fn beta(rng: &mut Prng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    if x + y > 0.0 {
        x / (x + y)
    } else {
        0.5
    }
}

/// Gamma(shape, 1) by Marsaglia and Tsang (2000); shape >= 1 here (Beta(1 + s, 1 + f)).
fn gamma(rng: &mut Prng, shape: f64) -> f64 {
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = normal(rng);
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn normal(rng: &mut Prng) -> f64 {
    let r = (-2.0 * (1.0 - rng.random::<f64>()).ln()).sqrt();
    r * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_draws_have_the_right_mean() {
        let mut rng = Prng::seed_from_u64(3);
        let n = 20_000;
        let mean = (0..n).map(|_| beta(&mut rng, 3.0, 7.0)).sum::<f64>() / n as f64;
        assert!((mean - 0.3).abs() < 0.005, "{mean}");
    }

    #[test]
    fn only_the_stand_ins_are_available() {
        assert!(learner_for(PolicyKind::Ucb1, 0.1, true).is_ok());
        assert!(learner_for(PolicyKind::Thompson, 0.1, false).is_err());
        let e = learner_for(PolicyKind::LinUcb, 0.1, true).unwrap_err();
        assert!(e.contains("not yet available"), "{e}");
    }
}
