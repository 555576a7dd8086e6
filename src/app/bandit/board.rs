//! The bandit board: one campaign's allocation as the operator reads it (the leaderboard, the
//! stage, the schedule, estimated regret and the history of periods). `bandit show`, its JSON
//! and the console's Bandit panel all print this one struct, so they cannot disagree.

use super::{estimated_regret, explore_done, learning_start, next_update, policy, NextUpdate};
use super::{ArmStats, Result};
use crate::domain::{CampaignKind, Micros, PolicyKind, RewardKind, Status};
use crate::store::{Stage, Store};
use serde::Serialize;

/// One arm on the board. Mean, interval and P(best) come from one posterior (the policy's, on
/// every unit so far); the weight is the one in force now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardArm {
    pub key: String,
    /// The probability a unit is drawn with now (the current period's weight).
    pub weight: f64,
    /// Units assigned to the arm so far (pulls).
    pub units: i64,
    /// Posterior mean reward per unit; `None` while undefined (no unit yet).
    pub reward_mean: Option<f64>,
    /// 95% credible interval of the mean reward.
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Posterior probability that this arm has the highest mean reward.
    pub p_best: Option<f64>,
    /// Total reward the arm earned (successes for click/conversion, money for revenue/profit).
    pub cumulative_reward: f64,
}

/// One allocation period, for the charts: when it began, its weights, and the posterior it was
/// computed from as stored with it (its leader, and per arm P(best) and cumulative reward).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoardPeriod {
    pub period: i64,
    #[serde(with = "crate::domain::json_time")]
    pub started_at: Micros,
    pub stage: Stage,
    /// The campaign's units when the period began.
    pub units: i64,
    pub weights: Vec<f64>,
    pub leader: Option<String>,
    pub leader_p_best: Option<f64>,
    /// Per arm (in the board's arm order) P(best) in the posterior the period was computed
    /// from; `None` where it stored none (the first period is the creation, before any update).
    pub p_best: Vec<Option<f64>>,
    /// Per arm the cumulative reward when the period began; 0 while the campaign had no unit,
    /// `None` where the period stored none.
    pub cumulative_reward: Vec<Option<f64>>,
}

/// Everything `bandit show` and the Bandit panel print about one campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BanditBoard {
    pub campaign: String,
    pub name: String,
    pub kind: CampaignKind,
    pub status: Status,
    pub policy: PolicyKind,
    pub reward: RewardKind,
    /// Whether each unit gets its own probabilities from its context (LinUCB, LinTS); then the
    /// weights shown are the period's context-free summary.
    pub contextual: bool,
    /// Explore, exploit or winner from the period in force; paused while the campaign is
    /// paused (its weights are frozen); fixed for an A/B test.
    pub stage: Stage,
    pub period: i64,
    #[serde(with = "crate::domain::json_time")]
    pub period_started_at: Micros,
    /// When the newest update ran; `None` before the first (period 1 is the creation).
    #[serde(serialize_with = "crate::domain::json_time::option")]
    pub last_update_at: Option<Micros>,
    /// How far the next update is; `None` when none will come (not running, or an A/B test).
    pub next_update: Option<NextUpdate>,
    /// The explore stage is over (every arm has its minimum of units, the minimum time passed).
    pub explored: bool,
    pub floor: f64,
    /// The posterior learns only from units of periods that ended this long ago (0: all).
    pub reward_delay_secs: u64,
    pub winner_threshold: f64,
    /// The explore stage's minimums: units per arm and seconds since `learning_since`.
    pub explore_min_units: i64,
    pub explore_min_secs: i64,
    /// When the campaign's learning clock started: its first start (its creation before that).
    #[serde(with = "crate::domain::json_time")]
    pub learning_since: Micros,
    /// The arm with the highest P(best) (or mean, when P(best) is undefined).
    pub leader: Option<String>,
    /// The leader, once its P(best) reached the winner threshold.
    pub winner: Option<String>,
    pub total_units: i64,
    /// Estimated regret against the best arm so far: Σ_a n_a (μ̂_best − μ̂_a) with the
    /// posterior means as μ̂ (plug-in; see `estimated_regret`), in reward units.
    pub regret: Option<f64>,
    pub arms: Vec<BoardArm>,
    /// Every period, oldest first.
    pub history: Vec<BoardPeriod>,
}

/// The board of `key` at `now` (reads only: O(arms + periods)).
pub fn board(store: &Store, key: &str, now: Micros) -> Result<BanditBoard> {
    let inputs = super::inputs(store, key, now)?;
    let c = &inputs.campaign;
    let periods = store.periods(key)?;
    let current = store.current_period(key)?;
    let new_units = store.period_units(key, current.period)?;
    let posterior = policy::posterior(inputs.reward, &inputs.stats);
    let finite = |x: f64| x.is_finite().then_some(x);
    let arms: Vec<BoardArm> = inputs
        .arm_keys
        .iter()
        .zip(inputs.all.iter().zip(&inputs.stats))
        .zip(&posterior)
        .enumerate()
        .map(|(i, ((key, (all, s)), p))| BoardArm {
            key: key.clone(),
            weight: current.weights.get(i).copied().unwrap_or(0.0),
            units: all.units as i64,
            reward_mean: if s.units > 0.0 { finite(p.mean) } else { None },
            lower: if s.units > 0.0 { finite(p.lower) } else { None },
            upper: if s.units > 0.0 { finite(p.upper) } else { None },
            p_best: finite(p.p_best),
            cumulative_reward: all.reward_sum,
        })
        .collect();
    let leader = leader_index(&arms, &inputs.stats);
    let threshold = inputs.config.winner_threshold_or_default();
    let winner = leader.filter(|&l| arms[l].p_best.is_some_and(|p| p >= threshold));
    let is_bandit = c.spec.kind == CampaignKind::Bandit;
    let stage = match (is_bandit, c.status) {
        (false, _) => Stage::Fixed,
        (true, Status::Paused) => Stage::Paused,
        (true, _) => current.stage,
    };
    let units: Vec<f64> = inputs.all.iter().map(|s| s.units).collect();
    let means: Vec<Option<f64>> = arms.iter().map(|a| a.reward_mean).collect();
    let arm_units: Vec<i64> = arms.iter().map(|a| a.units).collect();
    let history = periods
        .iter()
        .map(|p| {
            let stored = |arm: &str, field: &str| {
                p.summary["arms"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["key"].as_str() == Some(arm)))
                    .and_then(|x| x[field].as_f64())
            };
            BoardPeriod {
                period: p.period,
                started_at: p.started_at,
                stage: p.stage,
                units: p.units,
                weights: p.weights.clone(),
                leader: p.summary["leader"].as_str().map(str::to_string),
                leader_p_best: p.summary["leader_p_best"].as_f64(),
                p_best: arms.iter().map(|a| stored(&a.key, "p_best")).collect(),
                cumulative_reward: arms
                    .iter()
                    .map(|a| match stored(&a.key, "reward_sum") {
                        None if p.units == 0 => Some(0.0),
                        r => r,
                    })
                    .collect(),
            }
        })
        .collect();
    let key_of = |i: Option<usize>| i.map(|i| arms[i].key.clone());
    Ok(BanditBoard {
        campaign: c.spec.key.clone(),
        name: c.spec.name.clone(),
        kind: c.spec.kind,
        status: c.status,
        policy: inputs.config.policy,
        reward: inputs.reward,
        contextual: is_bandit && inputs.config.policy.is_contextual(),
        stage,
        period: current.period,
        period_started_at: current.started_at,
        last_update_at: (current.period > 1).then_some(current.started_at),
        next_update: (is_bandit && c.status == Status::Running)
            .then(|| next_update(&inputs.config, current.started_at, new_units, now)),
        explored: explore_done(&inputs.config, &arm_units, learning_start(c), now),
        floor: inputs.config.floor_or_default(),
        reward_delay_secs: inputs.config.reward_delay_secs_or_default(),
        winner_threshold: threshold,
        explore_min_units: inputs.config.explore_min_units_or_default() as i64,
        explore_min_secs: inputs.config.explore_min_secs_or_default() as i64,
        learning_since: learning_start(c),
        leader: key_of(leader),
        winner: key_of(winner),
        total_units: inputs.units,
        regret: estimated_regret(&units, &means),
        arms,
        history,
    })
}

/// The arm with the highest P(best), or the highest mean when no P(best) is defined; `None`
/// before any unit, and while the top is a tie (equal priors name no leader: the last of
/// the tied arms would otherwise be shown as leading).
fn leader_index(arms: &[BoardArm], stats: &[ArmStats]) -> Option<usize> {
    if stats.iter().all(|s| s.units <= 0.0) {
        return None;
    }
    let by = |f: &dyn Fn(&BoardArm) -> Option<f64>| {
        let mut values: Vec<(usize, f64)> = (0..arms.len())
            .filter_map(|i| f(&arms[i]).map(|v| (i, v)))
            .collect();
        values.sort_by(|a, b| b.1.total_cmp(&a.1));
        match values.as_slice() {
            [] => None,
            [(_, top), (_, second), ..] if (top - second).abs() <= 1e-12 => None,
            [(i, _), ..] => Some(*i),
        }
    };
    by(&|a| a.p_best).or_else(|| by(&|a| a.reward_mean))
}
