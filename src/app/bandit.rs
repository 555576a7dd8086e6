//! The allocation loop: when a bandit campaign's weights are recomputed (the schedule and the
//! stage, pure functions at the top), the update itself (arms' rollups -> policy -> a new
//! allocation period, stored with the posterior it came from), and the board (`board`), the one
//! source of numbers for `bandit show` and the Bandit panel.
//!
//! Updates happen only here: after each ingest batch, in the demo's traffic loops, on `assign`,
//! and from `liftdeck bandit update` (cron). The clock is the env's; nothing reads the wall clock.

mod board;
mod contextual;

pub use board::{board, BanditBoard, BoardArm, BoardPeriod};
pub use contextual::ContextModel;

use super::{AppError, Env, Result};
use crate::bandit as policy;
use crate::domain::{BanditConfig, Campaign, CampaignKind, Micros, RewardKind, Status};
use crate::store::{NewPeriod, PeriodRow, Stage, Store, StoreError};
use policy::{ArmPosterior, ArmStats};
use serde::Serialize;

const MICROS_PER_SEC: i64 = 1_000_000;

// ---------------------------------------------------------------- pure: schedule and stage --

/// How far the current period is from its scheduled end: whichever of the two reaches zero
/// first triggers the update. `None` for a trigger the configuration switched off (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NextUpdate {
    /// New units still to come before the unit trigger fires (0 once reached).
    pub units_to_go: Option<i64>,
    /// Seconds still to pass before the time trigger fires (0 once reached).
    pub secs_to_go: Option<i64>,
    /// Whether an update is due now.
    pub due: bool,
}

/// The schedule of the period that began at `period_start` and has had `new_units` units since,
/// at `now`: due after `update_every_units` new units, or after `update_every_secs` seconds
/// provided at least one unit came (an idle campaign does not pile up identical periods).
pub fn next_update(
    config: &BanditConfig,
    period_start: Micros,
    new_units: i64,
    now: Micros,
) -> NextUpdate {
    let every_units = config.update_every_units_or_default() as i64;
    let every_secs = config.update_every_secs_or_default() as i64;
    let units_to_go = (every_units > 0).then(|| (every_units - new_units).max(0));
    let elapsed = now.saturating_sub(period_start) / MICROS_PER_SEC;
    let secs_to_go = (every_secs > 0).then(|| (every_secs - elapsed).max(0));
    let due = units_to_go == Some(0) || (secs_to_go == Some(0) && new_units > 0);
    NextUpdate {
        units_to_go,
        secs_to_go,
        due,
    }
}

/// Whether the explore stage is over: every arm has `explore_min_units` units and
/// `explore_min_secs` have passed since the campaign started.
pub fn explore_done(
    config: &BanditConfig,
    arm_units: &[i64],
    started: Micros,
    now: Micros,
) -> bool {
    let min_units = config.explore_min_units_or_default() as i64;
    let min_secs = config.explore_min_secs_or_default() as i64;
    arm_units.iter().all(|&n| n >= min_units)
        && now.saturating_sub(started) >= min_secs.saturating_mul(MICROS_PER_SEC)
}

/// Estimated regret so far against the best arm, the plug-in estimator
/// Σ_a n_a (μ̂_best − μ̂_a): each arm's units times how far its posterior mean reward is below
/// the best posterior mean. It treats the estimates as the truth, so it is an estimate (noisy
/// early on, biased upward while the best mean is a maximum of noisy means), in reward units.
/// `None` before any arm has a mean.
pub fn estimated_regret(units: &[f64], means: &[Option<f64>]) -> Option<f64> {
    let best = means
        .iter()
        .flatten()
        .copied()
        .filter(|m| m.is_finite())
        .reduce(f64::max)?;
    Some(
        units
            .iter()
            .zip(means)
            .map(|(n, m)| m.filter(|m| m.is_finite()).map_or(0.0, |m| n * (best - m)))
            .sum(),
    )
}

/// Whether two weight vectors are the same allocation (an update that changes neither stage
/// nor weights starts no period).
fn same_weights(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12)
}

// ------------------------------------------------------------------------------ the update --

/// Why an update check started no period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoUpdate {
    /// An A/B test: its weights are fixed.
    NotBandit,
    /// Paused (weights frozen), draft or stopped: only running campaigns learn.
    NotRunning { status: Status },
    /// The schedule has not come round.
    NotDue { next: NextUpdate },
    /// Still exploring with the uniform weights already in force.
    Unchanged,
    /// Another process started a period first; this one's update was dropped.
    Raced,
}

/// What an update check did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum UpdateOutcome {
    Started { period: PeriodRow },
    Skipped(NoUpdate),
}

/// A computed update not yet stored: the period it follows and the period it would start.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUpdate {
    pub campaign: String,
    pub after: i64,
    pub period: NewPeriod,
}

/// The inputs of one update: the campaign, its configuration and the arms' reward statistics.
struct Inputs {
    campaign: Campaign,
    arm_keys: Vec<String>,
    config: BanditConfig,
    reward: RewardKind,
    /// What the posterior learns from: every unit, or with a reward delay only the units of
    /// periods that ended at least that long ago.
    stats: Vec<ArmStats>,
    /// Every unit of each arm and its reward so far (the pulls and cumulative reward shown,
    /// and the explore stage's count).
    all: Vec<ArmStats>,
    units: i64,
}

impl Inputs {
    fn pulls(&self) -> Vec<i64> {
        self.all.iter().map(|s| s.units as i64).collect()
    }
}

fn inputs(store: &Store, key: &str, now: Micros) -> Result<Inputs> {
    let (campaign, _) = store.campaign(key)?;
    inputs_of(store, campaign, now)
}

fn inputs_of(store: &Store, campaign: Campaign, now: Micros) -> Result<Inputs> {
    let key = campaign.spec.key.clone();
    let key = key.as_str();
    let config = campaign.spec.bandit.clone().unwrap_or_default();
    let reward = config.reward_or_default(&campaign.spec.metric);
    let arms = store.arm_summaries(key)?;
    let all: Vec<ArmStats> = arms
        .iter()
        .map(|a| ArmStats::from_rollup(&a.rollup, reward))
        .collect();
    let delay = config.reward_delay_secs_or_default() as i64 * 1_000_000;
    let stats = if delay > 0 {
        matured(store, key, now - delay, reward, arms.len())?
    } else {
        all.clone()
    };
    Ok(Inputs {
        units: arms.iter().map(|a| a.rollup.units).sum(),
        arm_keys: arms.into_iter().map(|a| a.key).collect(),
        campaign,
        config,
        reward,
        stats,
        all,
    })
}

/// The arms' statistics over the periods that ended by `cutoff`: every unit in them was
/// assigned at least the reward delay ago. A period ends where the next begins; the current
/// one has not ended.
fn matured(
    store: &Store,
    key: &str,
    cutoff: Micros,
    reward: RewardKind,
    arms: usize,
) -> Result<Vec<ArmStats>> {
    let periods = store.periods(key)?;
    let rollups = store.period_rollups(key)?;
    let mut sums = vec![crate::domain::ArmRollup::default(); arms];
    for (p, next) in rollups.iter().zip(periods.iter().skip(1)) {
        if next.started_at > cutoff {
            break;
        }
        for (sum, r) in sums.iter_mut().zip(&p.arms) {
            *sum += r.clone();
        }
    }
    Ok(sums
        .iter()
        .map(|r| ArmStats::from_rollup(r, reward))
        .collect())
}

/// When the campaign's learning clock started: its first start (its creation before that).
fn learning_start(c: &Campaign) -> Micros {
    c.started_at.unwrap_or(c.created_at)
}

/// The posterior summary a period stores: per arm units, mean reward, 95% interval, P(best);
/// the leader and its P(best), the winner if any.
fn summary(
    inputs: &Inputs,
    posterior: &[ArmPosterior],
    leader: Option<usize>,
    winner: Option<usize>,
    update_index: u64,
) -> serde_json::Value {
    let finite = |x: f64| x.is_finite().then_some(x);
    let arms: Vec<serde_json::Value> = inputs
        .arm_keys
        .iter()
        .zip(inputs.all.iter().zip(&inputs.stats))
        .zip(posterior)
        .map(|((key, (all, learned)), p)| {
            serde_json::json!({
                "key": key, "units": all.units, "reward_sum": all.reward_sum,
                "learned_units": learned.units,
                "mean": finite(p.mean), "lower": finite(p.lower), "upper": finite(p.upper),
                "p_best": finite(p.p_best),
            })
        })
        .collect();
    let key_of = |i: Option<usize>| i.and_then(|i| inputs.arm_keys.get(i).cloned());
    serde_json::json!({
        "policy": inputs.config.policy,
        "reward": inputs.reward,
        "update": update_index,
        "units": inputs.units,
        "arms": arms,
        "leader": key_of(leader),
        "leader_p_best": leader.and_then(|l| posterior.get(l)).and_then(|p| finite(p.p_best)),
        "winner": key_of(winner),
    })
}

/// Decides whether `key` needs an update at `now` and computes it (reads only). `force`
/// ignores the schedule, not the status: a paused campaign's weights stay frozen.
pub fn plan_update(
    store: &Store,
    key: &str,
    now: Micros,
    force: bool,
) -> Result<std::result::Result<PlannedUpdate, NoUpdate>> {
    // The cheap checks first: most calls (every ingest batch) stop here or at the schedule.
    let (campaign, _) = store.campaign(key)?;
    if campaign.spec.kind != CampaignKind::Bandit {
        return Ok(Err(NoUpdate::NotBandit));
    }
    if campaign.status != Status::Running {
        return Ok(Err(NoUpdate::NotRunning {
            status: campaign.status,
        }));
    }
    let inputs = inputs_of(store, campaign, now)?;
    let c = &inputs.campaign;
    let current = store.current_period(key)?;
    let new_units = store.period_units(key, current.period)?;
    let arm_units = inputs.pulls();
    let explored = explore_done(&inputs.config, &arm_units, learning_start(c), now);
    let next = next_update(&inputs.config, current.started_at, new_units, now);
    // The end of the explore stage is an update of its own: the weights should leave uniform
    // as soon as they may, not a schedule later.
    let leaving_explore = explored && current.stage == Stage::Explore;
    if !(force || next.due || leaving_explore) {
        return Ok(Err(NoUpdate::NotDue { next }));
    }
    let k = inputs.stats.len();
    let posterior = policy::posterior(inputs.reward, &inputs.stats);
    let update_index = store
        .periods(key)?
        .iter()
        .filter(|p| matches!(p.stage, Stage::Exploit | Stage::Winner))
        .count() as u64;
    let (stage, weights, leader, winner) = if explored {
        let w = policy::weights(&inputs.config, inputs.reward, &inputs.stats, update_index);
        let stage = if w.winner.is_some() {
            Stage::Winner
        } else {
            Stage::Exploit
        };
        (stage, w.probabilities, w.leader, w.winner)
    } else {
        let leader = (0..k).max_by(|&a, &b| posterior[a].p_best.total_cmp(&posterior[b].p_best));
        (Stage::Explore, vec![1.0 / k.max(1) as f64; k], leader, None)
    };
    // With a reward delay periods are also the cohorts the posterior matures by, so a due
    // update writes its period even when the weights stay: a period that never ends would
    // never mature, and the learning would stop.
    let cohorts = inputs.config.reward_delay_secs_or_default() > 0 && next.due;
    if !force && !cohorts && stage == current.stage && same_weights(&weights, &current.weights) {
        return Ok(Err(NoUpdate::Unchanged));
    }
    let mut summary = summary(&inputs, &posterior, leader, winner, update_index);
    if explored && inputs.config.policy.is_contextual() {
        let model = contextual::fit(store, key, &inputs.config, inputs.reward, &inputs.arm_keys)?;
        if let Some(model) = model {
            summary["model"] = serde_json::to_value(model)
                .map_err(|e| AppError::Invalid(format!("context model: {e}")))?;
        }
    }
    Ok(Ok(PlannedUpdate {
        campaign: key.to_string(),
        after: current.period,
        period: NewPeriod {
            // Periods are ordered by start: a clock that went back must not reorder them.
            started_at: now.max(current.started_at),
            stage,
            units: inputs.units,
            weights,
            summary,
        },
    }))
}

/// Stores a planned update as the campaign's next period; `None` when another process started
/// a period after the one the plan followed (the plan is stale and dropped).
pub fn commit_update(
    store: &mut Store,
    env: &Env,
    plan: PlannedUpdate,
) -> Result<Option<PeriodRow>> {
    let started = store.start_period(&plan.campaign, plan.after, &plan.period, &env.actor)?;
    Ok(started.map(|period| PeriodRow {
        period,
        started_at: plan.period.started_at,
        stage: plan.period.stage,
        units: plan.period.units,
        weights: plan.period.weights,
        summary: plan.period.summary,
    }))
}

/// Checks `key` and updates it when due (or now, with `force`).
pub fn update(store: &mut Store, env: &Env, key: &str, force: bool) -> Result<UpdateOutcome> {
    match plan_update(store, key, env.clock.now(), force)? {
        Err(why) => Ok(UpdateOutcome::Skipped(why)),
        Ok(plan) => Ok(match commit_update(store, env, plan)? {
            Some(period) => UpdateOutcome::Started { period },
            None => UpdateOutcome::Skipped(NoUpdate::Raced),
        }),
    }
}

/// The allocation loop's one step for a campaign: a new period if one is due, else `None`
/// (not a bandit, not running — pausing freezes the weights —, not due, or raced).
pub fn update_if_due(store: &mut Store, env: &Env, key: &str) -> Result<Option<PeriodRow>> {
    Ok(match update(store, env, key, false)? {
        UpdateOutcome::Started { period } => Some(period),
        UpdateOutcome::Skipped(_) => None,
    })
}

/// Keys of the running bandit campaigns (what `bandit update --all` and the loops check).
pub fn running_bandits(store: &Store) -> Result<Vec<String>> {
    Ok(store
        .campaigns()?
        .into_iter()
        .filter(|c| c.spec.kind == CampaignKind::Bandit && c.status == Status::Running)
        .map(|c| c.spec.key)
        .collect())
}

/// `update_if_due` for each of `keys` that is a running bandit; how many started a period.
/// Unknown keys are skipped (a batch may name a campaign that its own lines failed to create).
pub fn update_due(store: &mut Store, env: &Env, keys: &[String]) -> Result<usize> {
    let mut started = 0;
    for key in keys {
        match update_if_due(store, env, key) {
            Ok(Some(_)) => started += 1,
            Ok(None) | Err(AppError::Store(StoreError::UnknownCampaign(_))) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(started)
}

/// Replaces a campaign's bandit configuration after checking it against the campaign (any
/// status: a running campaign's next update uses it). Audited as `bandit.set`.
pub fn set_config(
    store: &mut Store,
    env: &Env,
    key: &str,
    change: impl FnOnce(&mut BanditConfig),
) -> Result<BanditConfig> {
    let (campaign, _) = store.campaign(key)?;
    if campaign.spec.kind != CampaignKind::Bandit {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` is an A/B test (kind ab): its weights are fixed, so it has no \
             bandit configuration"
        )));
    }
    let mut config = campaign.spec.bandit.clone().unwrap_or_default();
    change(&mut config);
    config
        .validate(campaign.spec.arms.len(), &campaign.spec.metric)
        .map_err(AppError::Invalid)?;
    store.set_bandit_config(key, &config, env.clock.now(), &env.actor)?;
    Ok(config)
}

/// The probability of each arm for one unit of `campaign` now, in arm order: the weights in
/// force (the current period's, which the arms carry), or for a contextual policy the
/// probabilities the current period's model gives `context`. What `assign` and the simulated
/// traffic draw with, and so the propensity they log.
pub fn unit_probabilities(
    store: &Store,
    campaign: &Campaign,
    arms: &[crate::domain::Arm],
    context: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<f64>> {
    let config = campaign.spec.bandit.clone().unwrap_or_default();
    if campaign.spec.kind == CampaignKind::Bandit && config.policy.is_contextual() {
        let period = store.current_period(&campaign.spec.key)?;
        if let Some(model) = ContextModel::from_summary(&period.summary) {
            if model.arms.len() == arms.len() {
                return Ok(model.probabilities(&config, context));
            }
        }
    }
    // No model yet (explore) or a context-free policy: the weights in force.
    let total: f64 = arms.iter().map(|a| a.weight).sum();
    Ok(arms
        .iter()
        .map(|a| if total > 0.0 { a.weight / total } else { 0.0 })
        .collect())
}

/// Checks a bandit campaign's configuration against its definition (arms, metric); an A/B test
/// must not carry one. A bandit without a configuration takes the defaults, which are checked
/// only when given, so older definitions keep loading.
pub fn check_spec(spec: &crate::domain::CampaignSpec) -> std::result::Result<(), String> {
    match (&spec.bandit, spec.kind) {
        (Some(config), CampaignKind::Bandit) => config.validate(spec.arms.len(), &spec.metric),
        (Some(_), CampaignKind::Ab) => Err(format!(
            "campaign `{}` is an A/B test: a bandit configuration needs kind bandit",
            spec.key
        )),
        (Some(_), CampaignKind::Observational) => Err(format!(
            "campaign `{}` is observational: a bandit configuration needs kind bandit",
            spec.key
        )),
        (None, _) => Ok(()),
    }
}

/// What a storefront needs to draw its own units: the period in force and its weights. A
/// contextual policy's weights depend on the unit, so its storefront must call `assign`.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentWeights {
    pub campaign: String,
    pub status: Status,
    pub period: i64,
    #[serde(with = "crate::domain::json_time")]
    pub started_at: Micros,
    pub stage: Stage,
    pub arms: Vec<String>,
    pub weights: Vec<f64>,
    /// Whether the weights depend on the unit's context.
    pub contextual: bool,
    pub note: Option<String>,
    /// For a contextual policy, the stored model a storefront could score units with
    /// (`ContextModel`: encoder, per-arm θ and L⁻¹); `None` otherwise or before the first fit.
    pub model: Option<ContextModel>,
}

pub fn current_weights(store: &Store, key: &str) -> Result<CurrentWeights> {
    let (campaign, arms) = store.campaign(key)?;
    let period = store.current_period(key)?;
    let config = campaign.spec.bandit.clone().unwrap_or_default();
    let contextual = campaign.spec.kind == CampaignKind::Bandit && config.policy.is_contextual();
    let model = if contextual {
        ContextModel::from_summary(&period.summary)
    } else {
        None
    };
    Ok(CurrentWeights {
        model,
        campaign: key.to_string(),
        status: campaign.status,
        period: period.period,
        started_at: period.started_at,
        stage: period.stage,
        arms: arms.into_iter().map(|a| a.key).collect(),
        weights: period.weights,
        contextual,
        note: contextual.then(|| {
            format!(
                "policy {} gives each unit its own probabilities from its context; these weights \
                 are the period's context-free summary, not what a unit is drawn with: call \
                 `liftdeck assign {key} UNIT --context ...` for each decision, or score the unit \
                 with `model` exactly as assign does and log that probability",
                config.policy
            )
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(units: u64, secs: u64) -> BanditConfig {
        BanditConfig {
            update_every_units: Some(units),
            update_every_secs: Some(secs),
            explore_min_units: Some(10),
            explore_min_secs: Some(30),
            ..Default::default()
        }
    }

    #[test]
    fn the_schedule_fires_on_units_or_on_time_with_traffic() {
        let c = config(100, 60);
        let s = 1_000 * MICROS_PER_SEC;
        let n = next_update(&c, s, 99, s + 59 * MICROS_PER_SEC);
        assert_eq!(
            (n.units_to_go, n.secs_to_go, n.due),
            (Some(1), Some(1), false)
        );
        assert!(next_update(&c, s, 100, s).due, "N units");
        assert!(
            next_update(&c, s, 1, s + 60 * MICROS_PER_SEC).due,
            "T seconds"
        );
        assert!(
            !next_update(&c, s, 0, s + 600 * MICROS_PER_SEC).due,
            "no unit since the period began: nothing to draw with new weights"
        );
        let units_only = config(100, 0);
        let n = next_update(&units_only, s, 5, s + 3_600 * MICROS_PER_SEC);
        assert_eq!((n.secs_to_go, n.due), (None, false));
    }

    #[test]
    fn explore_needs_every_arm_and_the_time() {
        let c = config(100, 60);
        let t0 = 0;
        let after = 30 * MICROS_PER_SEC;
        assert!(!explore_done(&c, &[10, 9], t0, after), "one arm short");
        assert!(!explore_done(&c, &[50, 50], t0, after - 1), "too soon");
        assert!(explore_done(&c, &[10, 10], t0, after));
    }

    #[test]
    fn regret_is_units_times_the_gap_to_the_best_mean() {
        let r = estimated_regret(&[100.0, 50.0, 10.0], &[Some(1.0), Some(0.5), None]);
        assert_eq!(r, Some(25.0));
        assert_eq!(estimated_regret(&[1.0], &[None]), None);
    }
}
