//! `report ope`: a candidate policy evaluated on a campaign's own logs (off-policy estimators
//! from `causal::ope`), or a learning policy replayed over logs collected uniformly
//! (`causal::replay`). The logged rows come from the store (assignment, propensity, context's
//! `position`, the unit's reward by the campaign's reward kind); the candidate's distribution
//! over arms is built here.

mod candidates;
pub mod learners;
mod reward_model;
mod text;

pub use candidates::FITTED_ON_LOGS;
pub use reward_model::{reward_model_for, RewardModelChoice, RewardModelUsed};
pub use text::{format_ope, format_replay};

use super::import_obd::{for_each_row, item_of_arm};
use super::{AppError, Result};
use crate::bandit::ContextEncoder;
use crate::causal::ope::{
    evaluate, evaluate_with_model, LoggedRow, OpeOptions, OpeReport, TargetPolicy,
};
use crate::causal::replay::{replay, ReplayResult};
use crate::domain::{BanditConfig, PolicyKind, RewardKind};
use crate::store::{LoggedDecision, Store};
use learners::Learner;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The policy being evaluated.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidate {
    /// 1/K on every arm.
    Uniform,
    /// The same given distribution over the arms for every row (always arm k: one-hot).
    Fixed(Vec<f64>),
    /// A policy of `src/bandit/` under this configuration (policy, floor, epsilon...), fitted
    /// on the campaign's logs (`candidates`): context-free policies give one distribution for
    /// every row, LinUCB and linear Thompson one per row from its context.
    Fitted(BanditConfig),
    /// π(a | position) = the mean propensity_score of (item a, position) in an Open Bandit
    /// Dataset log of another policy on the same items, normalised per position.
    TargetLog(PathBuf),
}

impl Candidate {
    /// The context fields the candidate reads from the logs (none for context-free ones).
    fn context_fields(&self) -> &[String] {
        match self {
            Candidate::Fitted(c) if c.policy.is_contextual() => &c.context_fields,
            _ => &[],
        }
    }
}

/// The candidate `report ope --policy` evaluates for `config` (its `policy` the one asked for),
/// or why there is none.
pub fn candidate_for(config: &BanditConfig) -> std::result::Result<Candidate, String> {
    match config.policy {
        PolicyKind::Uniform => Ok(Candidate::Uniform),
        k if k.is_contextual() && config.context_fields.is_empty() => Err(format!(
            "policy {k} reads the unit's context: give --context-fields (the campaign's bandit \
             configuration names none)"
        )),
        _ => Ok(Candidate::Fitted(config.clone())),
    }
}

/// The logged rows of a campaign, ready for the estimators.
pub struct CampaignLog {
    pub campaign: String,
    pub arms: Vec<String>,
    pub reward: RewardKind,
    pub rows: Vec<LoggedRow>,
    /// How the rows' `features` were encoded from their contexts (`None`: not read, features
    /// empty).
    pub encoder: Option<ContextEncoder>,
}

impl CampaignLog {
    /// Sorted distinct positions of the rows (empty when no row has one).
    pub fn positions(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.rows.iter().filter_map(|r| r.position).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    pub fn mean_reward(&self) -> f64 {
        self.rows.iter().map(|r| r.reward).sum::<f64>() / self.rows.len().max(1) as f64
    }
}

/// Reads campaign `key`'s logged decisions, oldest first, without their contexts' features.
pub fn campaign_log(store: &Store, key: &str) -> Result<CampaignLog> {
    campaign_log_with(store, key, &[])
}

/// Reads campaign `key`'s logged decisions, oldest first; with `context_fields`, each row's
/// `features` is its context encoded by a `ContextEncoder` fitted on every logged context
/// (text fields one-hot, numbers standardised, as the allocation loop encodes them).
pub fn campaign_log_with(
    store: &Store,
    key: &str,
    context_fields: &[String],
) -> Result<CampaignLog> {
    let (campaign, arms) = store.campaign(key)?;
    if campaign.spec.kind == crate::domain::CampaignKind::Observational {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` is observational: off-policy evaluation needs the propensities \
             a policy logged, and treatment here was chosen outside liftdeck; use \
             `report causal {key} --covariates ...`"
        )));
    }
    let metric = campaign.spec.metric.as_str();
    let reward = campaign.spec.bandit.as_ref().map_or_else(
        || RewardKind::for_metric(metric).unwrap_or(RewardKind::Conversion),
        |b| b.reward_or_default(metric),
    );
    let index: BTreeMap<&str, usize> = arms
        .iter()
        .enumerate()
        .map(|(i, a)| (a.key.as_str(), i))
        .collect();
    let decisions = store.logged_decisions(key)?;
    let contexts: Vec<Map<String, Value>> = if context_fields.is_empty() {
        vec![]
    } else {
        decisions.iter().map(|d| context_map(&d.context)).collect()
    };
    let encoder =
        (!context_fields.is_empty()).then(|| ContextEncoder::fit(context_fields, &contexts));
    let mut rows = Vec::with_capacity(decisions.len());
    for (i, d) in decisions.into_iter().enumerate() {
        let Some(&arm) = index.get(d.arm.as_str()) else {
            return Err(AppError::Invalid(format!(
                "unit `{}` is assigned to arm `{}`, which campaign `{key}` no longer has",
                d.unit, d.arm
            )));
        };
        rows.push(LoggedRow {
            arm,
            reward: reward_of(&d, reward),
            propensity: d.propensity,
            position: position_of(&d.context),
            features: match (&encoder, contexts.get(i)) {
                (Some(e), Some(c)) => e.encode(c),
                _ => vec![],
            },
        });
    }
    if rows.is_empty() {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` has no logged assignments to evaluate a policy on"
        )));
    }
    Ok(CampaignLog {
        campaign: key.to_string(),
        arms: arms.into_iter().map(|a| a.key).collect(),
        reward,
        rows,
        encoder,
    })
}

/// A stored context as a JSON object (anything else reads as empty).
fn context_map(context: &str) -> Map<String, Value> {
    match serde_json::from_str(context) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn reward_of(d: &LoggedDecision, kind: RewardKind) -> f64 {
    match kind {
        RewardKind::Click => f64::from(u8::from(d.clicks > 0)),
        RewardKind::Conversion => f64::from(u8::from(d.purchases > 0)),
        RewardKind::Revenue => d.revenue,
        RewardKind::Profit => d.revenue - d.cost,
    }
}

/// The context's `position`: a whole number, or a string holding one.
fn position_of(context: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(context).ok()?;
    match v.get("position")? {
        serde_json::Value::Number(n) => n.as_u64().and_then(|p| u32::try_from(p).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The candidate's distribution for every logged row, and a sentence on how it was made.
pub struct BuiltTarget {
    pub target: TargetPolicy,
    pub description: String,
    /// For a target log: per position, the sum of the mean propensities before normalising.
    pub sums_before_normalising: Vec<(Option<u32>, f64)>,
    /// Whether the candidate was fitted on the logs it is evaluated on.
    pub fitted_on_logs: bool,
    /// A context-free candidate's one distribution over the arms.
    pub distribution: Option<Vec<f64>>,
}

pub fn build_target(log: &CampaignLog, candidate: &Candidate) -> Result<BuiltTarget> {
    let k = log.arms.len();
    let n = log.rows.len();
    let invalid = |e: crate::causal::ope::OpeError| AppError::Invalid(e.to_string());
    let fixed = |probs: Vec<f64>, description: String| -> Result<BuiltTarget> {
        Ok(BuiltTarget {
            target: TargetPolicy::same_for_all(probs.clone(), n).map_err(invalid)?,
            description,
            sums_before_normalising: vec![],
            fitted_on_logs: false,
            distribution: Some(probs),
        })
    };
    match candidate {
        Candidate::Uniform => fixed(
            vec![1.0 / k as f64; k],
            format!("uniform: 1/{k} on every arm"),
        ),
        Candidate::Fixed(probs) => {
            if probs.len() != k {
                return Err(AppError::Invalid(format!(
                    "the fixed target has {} probabilities for {k} arms",
                    probs.len()
                )));
            }
            let shown: Vec<String> = log
                .arms
                .iter()
                .zip(probs)
                .map(|(a, p)| format!("{a} {p}"))
                .collect();
            fixed(probs.clone(), format!("fixed: {}", shown.join(", ")))
        }
        Candidate::Fitted(config) if config.policy.is_contextual() => {
            candidates::contextual(log, config)
        }
        Candidate::Fitted(config) => candidates::context_free(log, config),
        Candidate::TargetLog(path) => target_from_log(log, path),
    }
}

/// π(a | position) from another policy's OBD log: the mean propensity_score of each (item,
/// position) there, normalised per position (an item never logged at a position gets 0).
/// Rows of this campaign at a position the target log lacks, or without a position, get the
/// normalised mean over all positions.
fn target_from_log(log: &CampaignLog, path: &Path) -> Result<BuiltTarget> {
    let k = log.arms.len();
    let mut items = Vec::with_capacity(k);
    for a in &log.arms {
        items.push(item_of_arm(a).ok_or_else(|| {
            AppError::Invalid(format!(
                "--target-log needs a campaign imported from the Open Bandit Dataset (arms \
                 item-0, item-1, ...); `{}` has arm `{a}`",
                log.campaign
            ))
        })?);
    }
    let source = path.display().to_string();
    // Per position (None = every position): per arm, the sum and count of propensities.
    let mut cells: BTreeMap<Option<u32>, Vec<(f64, u64)>> = BTreeMap::new();
    for_each_row(path, &items, |line, _raw, parsed| {
        let row = parsed.map_err(|error| AppError::Line {
            source_name: source.clone(),
            line,
            error,
        })?;
        let arm = items.iter().position(|i| *i == row.item).unwrap_or(0);
        for key in [Some(row.position), None] {
            let c = &mut cells.entry(key).or_insert_with(|| vec![(0.0, 0); k])[arm];
            c.0 += row.propensity;
            c.1 += 1;
        }
        Ok(())
    })?;
    if cells.is_empty() {
        return Err(AppError::Invalid(format!("{source} has no rows")));
    }
    let mut table = Vec::new();
    let mut group_of: BTreeMap<Option<u32>, usize> = BTreeMap::new();
    let mut sums = Vec::new();
    for (position, arms) in &cells {
        let means: Vec<f64> = arms
            .iter()
            .map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 })
            .collect();
        let total: f64 = means.iter().sum();
        sums.push((*position, total));
        group_of.insert(*position, table.len());
        table.push(means.iter().map(|m| m / total).collect::<Vec<f64>>());
    }
    let all = group_of.get(&None).copied().unwrap_or(0);
    let row_group = log
        .rows
        .iter()
        .map(|r| group_of.get(&r.position).copied().unwrap_or(all))
        .collect();
    let target =
        TargetPolicy::grouped(k, table, row_group).map_err(|e| AppError::Invalid(e.to_string()))?;
    Ok(BuiltTarget {
        target,
        description: format!(
            "from {source}: π(item | position) = the mean propensity_score of each (item, \
             position) in that log, normalised to sum to 1 per position"
        ),
        sums_before_normalising: sums.into_iter().filter(|(p, _)| p.is_some()).collect(),
        fitted_on_logs: false,
        distribution: None,
    })
}

/// What `report ope` prints.
#[derive(Debug, Clone, Serialize)]
pub struct OpeOutcome {
    pub campaign: String,
    pub policy: String,
    pub target: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sums_before_normalising: Vec<PositionSum>,
    /// A context-free target's distribution over the arms (the same for every row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distribution: Option<Vec<ArmProbability>>,
    /// Set when the candidate was fitted on the logs it is evaluated on: what that means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitted_on_logs: Option<String>,
    pub reward: RewardKind,
    pub rows: u64,
    pub arms: usize,
    pub positions: Vec<u32>,
    /// The mean reward the logging policy saw.
    pub logged_mean: f64,
    /// The reward model DM and the DR family stand on.
    pub reward_model: RewardModelUsed,
    #[serde(flatten)]
    pub report: OpeReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmProbability {
    pub arm: String,
    pub probability: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PositionSum {
    pub position: u32,
    pub sum: f64,
}

/// Evaluates `candidate` on campaign `key`'s logs, the reward model means per arm (and
/// position).
pub fn evaluate_candidate(
    store: &Store,
    key: &str,
    policy: &str,
    candidate: &Candidate,
    options: &OpeOptions,
) -> Result<OpeOutcome> {
    evaluate_candidate_with(
        store,
        key,
        policy,
        candidate,
        options,
        RewardModelChoice::Means,
    )
}

/// Evaluates `candidate` on campaign `key`'s logs with the reward model `choice` picks.
pub fn evaluate_candidate_with(
    store: &Store,
    key: &str,
    policy: &str,
    candidate: &Candidate,
    options: &OpeOptions,
    choice: RewardModelChoice,
) -> Result<OpeOutcome> {
    let log = campaign_log_with(store, key, candidate.context_fields())?;
    let built = build_target(&log, candidate)?;
    let (table, reward_model) = reward_model_for(store, &log, choice)?;
    let report = match &table {
        Some(q) => evaluate_with_model(&log.rows, &built.target, q, options),
        None => evaluate(&log.rows, &built.target, options),
    }
    .map_err(|e| AppError::Invalid(e.to_string()))?;
    Ok(OpeOutcome {
        campaign: key.to_string(),
        policy: policy.to_string(),
        target: built.description,
        sums_before_normalising: built
            .sums_before_normalising
            .into_iter()
            .filter_map(|(p, sum)| p.map(|position| PositionSum { position, sum }))
            .collect(),
        distribution: built.distribution.map(|d| {
            log.arms
                .iter()
                .zip(d)
                .map(|(arm, probability)| ArmProbability {
                    arm: arm.clone(),
                    probability,
                })
                .collect()
        }),
        fitted_on_logs: built
            .fitted_on_logs
            .then(|| candidates::FITTED_ON_LOGS.to_string()),
        reward: log.reward,
        rows: log.rows.len() as u64,
        arms: log.arms.len(),
        positions: log.positions(),
        logged_mean: log.mean_reward(),
        reward_model,
        report,
    })
}

/// What `report ope --replay` prints: one replay per seed.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayOutcome {
    pub campaign: String,
    pub policy: String,
    pub reward: RewardKind,
    pub rows: u64,
    pub arms: usize,
    /// When the learner recomputed its probabilities.
    pub schedule: String,
    pub seeds: Vec<u64>,
    pub runs: Vec<ReplayResult>,
    /// Mean over runs of each run's mean reward over its matched rows.
    pub mean_reward: Option<f64>,
    pub min_reward: Option<f64>,
    pub max_reward: Option<f64>,
    pub mean_matched: f64,
    /// The mean reward the (uniform) logging policy saw.
    pub logged_mean: f64,
}

/// Replays `learner` over campaign `key`'s logs once per seed `seed..seed + runs`.
pub fn replay_learner(
    store: &Store,
    key: &str,
    learner: &Learner,
    runs: u64,
    seed: u64,
) -> Result<ReplayOutcome> {
    let fields = if learner.config.policy.is_contextual() {
        learner.config.context_fields.as_slice()
    } else {
        &[]
    };
    let log = campaign_log_with(store, key, fields)?;
    let k = log.arms.len();
    let seeds: Vec<u64> = (0..runs.max(1)).map(|i| seed.wrapping_add(i)).collect();
    let mut results = Vec::with_capacity(seeds.len());
    for s in &seeds {
        let mut policy = learner.start(*s);
        let r =
            replay(&log.rows, k, policy.as_mut()).map_err(|e| AppError::Invalid(e.to_string()))?;
        results.push(r);
    }
    let means: Vec<f64> = results
        .iter()
        .filter_map(ReplayResult::mean_reward)
        .collect();
    let avg = |x: &[f64]| (!x.is_empty()).then(|| x.iter().sum::<f64>() / x.len() as f64);
    Ok(ReplayOutcome {
        campaign: key.to_string(),
        policy: learner.label(),
        schedule: if learner.config.policy.is_contextual() {
            "the matched arm's ridge model refit after every matched row".to_string()
        } else {
            match learner.update_every.max(1) {
                1 => "weights recomputed from the revealed rows after every matched row".into(),
                n => format!(
                    "weights recomputed from the revealed rows after every {n} matched rows"
                ),
            }
        },
        reward: log.reward,
        rows: log.rows.len() as u64,
        arms: k,
        mean_reward: avg(&means),
        min_reward: means.iter().copied().reduce(f64::min),
        max_reward: means.iter().copied().reduce(f64::max),
        mean_matched: results.iter().map(|r| r.matched as f64).sum::<f64>()
            / results.len().max(1) as f64,
        logged_mean: log.mean_reward(),
        seeds,
        runs: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_read_from_numbers_and_strings() {
        assert_eq!(position_of(r#"{"position":3}"#), Some(3));
        assert_eq!(position_of(r#"{"position":"2"}"#), Some(2));
        assert_eq!(position_of(r#"{"device":"mobile"}"#), None);
        assert_eq!(position_of("not json"), None);
    }

    #[test]
    fn every_policy_has_a_candidate_and_contextual_ones_need_fields() {
        let config = |policy| BanditConfig {
            policy,
            ..BanditConfig::default()
        };
        assert_eq!(
            candidate_for(&config(PolicyKind::Uniform)),
            Ok(Candidate::Uniform)
        );
        for k in PolicyKind::ALL
            .into_iter()
            .filter(|k| *k != PolicyKind::Uniform)
        {
            match candidate_for(&config(k)) {
                Ok(Candidate::Fitted(c)) => assert_eq!(c.policy, k),
                Ok(other) => panic!("{k}: {other:?}"),
                Err(e) => {
                    assert!(k.is_contextual(), "{k}: {e}");
                    assert!(e.contains("--context-fields"), "{e}");
                }
            }
        }
        let with_fields = BanditConfig {
            context_fields: vec!["device".into()],
            ..config(PolicyKind::LinTs)
        };
        assert!(candidate_for(&with_fields).is_ok());
    }
}
