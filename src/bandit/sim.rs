//! Simulated bandit environments with known best arms, and the runner that plays a policy on
//! one the way the allocation loop will: weights recomputed every `batch` rounds (uniform
//! during the explore stage), each round's arm drawn from the current weight vector, rewards
//! fed back into the arms' statistics (and, for the linear policies, the arms' ridge models).
//! Pure and seeded: the same seed gives the same curve.
//!
//! Regret is the pseudo-regret: each round adds the best arm's mean minus the played arm's
//! mean, in that round's context (so it measures the policy, not the coin flips).

use super::{
    contextual_weights, weights, ArmStats, ContextEncoder, FittedArm, LinearModel, Weights,
};
use crate::domain::{BanditConfig, RewardKind};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};

/// A world a bandit plays in: contexts arrive, each arm has a true mean reward given the
/// context, and a played arm pays 1 with that probability.
pub trait Environment {
    fn arms(&self) -> usize;
    /// The next unit's context (empty for a context-free world).
    fn context(&self, rng: &mut Prng) -> Map<String, Value>;
    /// Each arm's true mean reward for `context`, into `out`.
    fn means(&self, context: &Map<String, Value>, out: &mut Vec<f64>);
}

/// Bernoulli arms with fixed, known means.
#[derive(Debug, Clone)]
pub struct BernoulliArms {
    pub means: Vec<f64>,
}

impl BernoulliArms {
    /// The environment of the regret test and `bench regret`: four offers converting at 10%,
    /// 15%, 20% and 30%.
    pub fn standard() -> BernoulliArms {
        BernoulliArms {
            means: vec![0.10, 0.15, 0.20, 0.30],
        }
    }
}

impl Environment for BernoulliArms {
    fn arms(&self) -> usize {
        self.means.len()
    }
    fn context(&self, _rng: &mut Prng) -> Map<String, Value> {
        Map::new()
    }
    fn means(&self, _context: &Map<String, Value>, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&self.means);
    }
}

/// Three offers whose click probability is logistic in the shopper's context: device (mobile,
/// desktop, tablet), segment (new, returning) and basket (a standard normal number). Each
/// offer wins for different shoppers: free shipping on mobile, the new-customer discount for
/// new shoppers, the bundle for big baskets; averaged over shoppers they are close, so a
/// context-free policy must settle for one offer everywhere.
#[derive(Debug, Clone, Default)]
pub struct ContextualOffers;

impl ContextualOffers {
    /// The context fields a linear policy should read.
    pub fn fields() -> Vec<String> {
        vec!["device".into(), "segment".into(), "basket".into()]
    }

    fn logit(arm: usize, mobile: bool, new: bool, basket: f64) -> f64 {
        let on = |b: bool| if b { 1.0 } else { 0.0 };
        match arm {
            0 => -1.6 + 1.4 * on(mobile) - 0.4 * on(new),
            1 => -1.8 + 1.6 * on(new) - 0.3 * on(mobile),
            _ => -1.5 + 1.0 * basket - 0.2 * on(mobile),
        }
    }
}

impl Environment for ContextualOffers {
    fn arms(&self) -> usize {
        3
    }
    fn context(&self, rng: &mut Prng) -> Map<String, Value> {
        let u: f64 = rng.random();
        let device = if u < 0.5 {
            "mobile"
        } else if u < 0.85 {
            "desktop"
        } else {
            "tablet"
        };
        let segment = if rng.random::<f64>() < 0.4 {
            "new"
        } else {
            "returning"
        };
        let basket = super::sample::standard_normal(rng);
        let mut m = Map::new();
        m.insert("device".into(), Value::from(device));
        m.insert("segment".into(), Value::from(segment));
        m.insert("basket".into(), Value::from(basket));
        m
    }
    fn means(&self, context: &Map<String, Value>, out: &mut Vec<f64>) {
        let mobile = context.get("device").and_then(Value::as_str) == Some("mobile");
        let new = context.get("segment").and_then(Value::as_str) == Some("new");
        let basket = context.get("basket").and_then(Value::as_f64).unwrap_or(0.0);
        out.clear();
        out.extend((0..3).map(|a| 1.0 / (1.0 + (-Self::logit(a, mobile, new, basket)).exp())));
    }
}

/// The configuration the simulations run a policy with: no floor (regret should be able to
/// flatten), 10 units per arm of explore, and the contextual world's fields. Shared by the fast
/// regret tests and `liftdeck bench regret`, so both measure the same policies.
pub fn sim_config(policy: crate::domain::PolicyKind) -> BanditConfig {
    BanditConfig {
        policy,
        floor: Some(0.0),
        explore_min_units: Some(10),
        context_fields: ContextualOffers::fields(),
        ..BanditConfig::default()
    }
}

/// How long to play and when to look.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub rounds: u64,
    /// Weights are recomputed every `batch` rounds.
    pub batch: u64,
    pub seed: u64,
    /// Rounds after which the cumulative regret is recorded (the end is always recorded).
    pub checkpoints: Vec<u64>,
}

/// Cumulative regret of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct RegretCurve {
    /// (rounds played, cumulative regret), ascending.
    pub points: Vec<(u64, f64)>,
    pub rounds: u64,
    pub total: f64,
    /// Regret over the first and the second half of the rounds.
    pub first_half: f64,
    pub second_half: f64,
    /// Share of the last tenth of the rounds that played a best arm of their context.
    pub final_best_share: f64,
}

/// Plays `config`'s policy on `env`. Context-free policies see only the arms' statistics;
/// contextual ones (`config.policy.is_contextual()`) encode each context with an encoder fit on
/// 1,000 contexts drawn up front (as the allocation loop fits one on the explore stage's units)
/// and refit their ridge models at every update. The explore stage is uniform until every arm
/// has `explore_min_units` units.
pub fn run(config: &BanditConfig, env: &dyn Environment, opts: &RunOptions) -> RegretCurve {
    let k = env.arms();
    let mut rng = Prng::seed_from_u64(opts.seed);
    let contextual = config.policy.is_contextual();
    let encoder = contextual.then(|| {
        let mut sample_rng = Prng::seed_from_u64(opts.seed ^ 0x5eed_c0de);
        let sample: Vec<Map<String, Value>> =
            (0..1000).map(|_| env.context(&mut sample_rng)).collect();
        ContextEncoder::fit(&config.context_fields, &sample)
    });
    let dim = encoder.as_ref().map_or(1, ContextEncoder::dim);
    let ridge = config.ridge_or_default();
    let mut models = vec![LinearModel::new(dim, ridge); if contextual { k } else { 0 }];
    let mut fitted: Option<Vec<FittedArm>> = None;
    let mut stats = vec![ArmStats::default(); k];
    let mut current = Weights::uniform(k);
    let explore = config.explore_min_units_or_default() as f64;
    let (mut update_index, mut regret, mut first_half) = (0u64, 0.0, 0.0);
    let (mut best_plays, mut tail_rounds) = (0u64, 0u64);
    let batch = opts.batch.max(1);
    let mut checkpoints: Vec<u64> = opts
        .checkpoints
        .iter()
        .copied()
        .filter(|&c| c > 0 && c < opts.rounds)
        .collect();
    checkpoints.push(opts.rounds);
    checkpoints.sort_unstable();
    checkpoints.dedup();
    let mut next_checkpoint = 0;
    let mut points = Vec::with_capacity(checkpoints.len());
    let (mut means, mut x) = (Vec::with_capacity(k), Vec::with_capacity(dim));
    for t in 0..opts.rounds {
        if t % batch == 0 {
            let exploring = stats.iter().any(|s| s.units < explore);
            fitted = None;
            if exploring {
                current = Weights::uniform(k);
            } else if contextual {
                fitted = models.iter().map(LinearModel::fit).collect();
            } else {
                current = weights(config, RewardKind::Click, &stats, update_index);
                update_index += 1;
            }
        }
        let context = env.context(&mut rng);
        env.means(&context, &mut means);
        if let Some(enc) = &encoder {
            enc.encode_into(&context, &mut x);
        }
        let contextual_now = fitted.as_ref().map(|f| contextual_weights(config, f, &x));
        let probs = contextual_now
            .as_ref()
            .map_or(&current.probabilities, |w| &w.probabilities);
        let arm = draw(probs, rng.random::<f64>());
        let reward = f64::from(u8::from(rng.random::<f64>() < means[arm]));
        stats[arm].record(reward);
        if contextual {
            models[arm].observe(&x, reward);
        }
        let best = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        regret += best - means[arm];
        if t + 1 == opts.rounds / 2 {
            first_half = regret;
        }
        if 10 * t >= 9 * opts.rounds {
            tail_rounds += 1;
            best_plays += u64::from(means[arm] >= best);
        }
        if checkpoints.get(next_checkpoint) == Some(&(t + 1)) {
            points.push((t + 1, regret));
            next_checkpoint += 1;
        }
    }
    RegretCurve {
        points,
        rounds: opts.rounds,
        total: regret,
        first_half,
        second_half: regret - first_half,
        final_best_share: best_plays as f64 / tail_rounds.max(1) as f64,
    }
}

/// The arm whose slice of [0, 1) holds `u`, slices laid out in arm order (as
/// `allocation::bucket` lays them out for a unit's hash).
pub fn draw(probabilities: &[f64], u: f64) -> usize {
    let mut edge = 0.0;
    for (i, &p) in probabilities.iter().enumerate() {
        edge += p;
        if u < edge && p > 0.0 {
            return i;
        }
    }
    probabilities.iter().rposition(|&p| p > 0.0).unwrap_or(0)
}

#[cfg(test)]
mod tests;
