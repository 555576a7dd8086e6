//! The candidates of `report ope --policy ts|top2|ucb|eps|linucb|linTS`: the policies of
//! `src/bandit/` fitted on the campaign's own logs, as full distributions over the arms.
//!
//! - Context-free policies read each arm's statistics over the logged rows (units, Σ reward,
//!   Σ reward² by the campaign's reward) and give the one vector `bandit::weights` gives for
//!   them — what the allocation loop would set if it updated now on these rows — for every row.
//! - LinUCB and linear Thompson fit one ridge model per arm on the logged rows' encoded contexts
//!   (each row teaches the arm it was logged on) and give each row the probabilities
//!   `bandit::contextual_weights` gives its context; rows with the same encoded context share
//!   one distribution.
//!
//! Either way the policy was fitted on the rows it is then evaluated on: [`FITTED_ON_LOGS`]
//! says what that does to the estimate.

use super::{BuiltTarget, CampaignLog};
use crate::app::{AppError, Result};
use crate::bandit::{contextual_weights, weights, ArmStats, FittedArm, LinearModel};
use crate::causal::ope::TargetPolicy;
use crate::domain::{BanditConfig, PolicyKind};
use crate::format::rate;
use std::collections::HashMap;

/// What fitting the candidate on the logs it is evaluated on means, printed with the estimate.
pub const FITTED_ON_LOGS: &str = "the candidate was fitted on the same logs it is evaluated on: \
     its weights were chosen from these rows' rewards, so an arm that was lucky in these rows \
     gets more weight and the same luck raises the estimate (optimistic, most for policies that \
     put much weight on few arms, like UCB1 and greedy); the intervals do not include the \
     fitting (the bootstrap refits the reward model, not the policy). Read it as what this \
     policy would have earned had it been fitted on these logs, not as a forecast; for one, \
     evaluate on later logs than the policy learned from, or replay it on uniform logs \
     (--replay)";

fn invalid(e: crate::causal::ope::OpeError) -> AppError {
    AppError::Invalid(e.to_string())
}

/// The largest few probabilities, as `arm 41.2%, arm 20.3%, ...`.
fn leading(arms: &[String], probs: &[f64], shown: usize) -> String {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    let mut parts: Vec<String> = order
        .iter()
        .take(shown)
        .map(|&a| format!("{} {}", arms[a], rate(probs[a])))
        .collect();
    if probs.len() > shown {
        parts.push(format!("{} more", probs.len() - shown));
    }
    parts.join(", ")
}

/// A context-free policy fitted on the logs: one distribution for every row.
pub(super) fn context_free(log: &CampaignLog, config: &BanditConfig) -> Result<BuiltTarget> {
    let k = log.arms.len();
    let mut stats = vec![ArmStats::default(); k];
    for r in &log.rows {
        stats[r.arm].record(r.reward);
    }
    let w = weights(config, log.reward, &stats, 0);
    let how = match config.policy {
        PolicyKind::Thompson if log.reward.is_binary() => {
            "each arm's posterior P(best) (Beta-Bernoulli)".to_string()
        }
        PolicyKind::Thompson => "each arm's posterior P(best) (Gaussian)".to_string(),
        PolicyKind::TopTwo => format!(
            "top-two Thompson's play probabilities (leader share {})",
            config.top_two_beta_or_default()
        ),
        PolicyKind::Ucb1 => "all mass on the highest UCB1 bound".to_string(),
        PolicyKind::EpsilonGreedy => format!(
            "epsilon {} spread over the arms, the rest on the best mean",
            config.epsilon_or_default()
        ),
        PolicyKind::Uniform => "1/K on every arm".to_string(),
        PolicyKind::LinUcb | PolicyKind::LinTs => {
            return Err(AppError::Invalid(format!(
                "policy {} is contextual: it needs the logs' contexts",
                config.policy
            )))
        }
    };
    let winner = match (w.winner, config.stop_on_winner) {
        (Some(a), true) => format!(
            "; `{}` is the winner and gets all but the floor",
            log.arms[a]
        ),
        _ => String::new(),
    };
    let description = format!(
        "{}: {how}, from the per-arm {} statistics of these {} rows, then the floor {}{winner}: \
         {}",
        config.policy,
        log.reward,
        log.rows.len(),
        config.floor_or_default(),
        leading(&log.arms, &w.probabilities, 5)
    );
    Ok(BuiltTarget {
        target: TargetPolicy::same_for_all(w.probabilities.clone(), log.rows.len())
            .map_err(invalid)?,
        description,
        sums_before_normalising: vec![],
        fitted_on_logs: true,
        distribution: Some(w.probabilities),
    })
}

/// LinUCB or linear Thompson fitted on the logs' encoded contexts: one distribution per row.
pub(super) fn contextual(log: &CampaignLog, config: &BanditConfig) -> Result<BuiltTarget> {
    let k = log.arms.len();
    let Some(encoder) = &log.encoder else {
        return Err(AppError::Invalid(format!(
            "policy {} needs the logs read with their contexts encoded",
            config.policy
        )));
    };
    let dim = encoder.dim();
    let mut models = vec![LinearModel::new(dim, config.ridge_or_default()); k];
    for r in &log.rows {
        models[r.arm].observe(&r.features, r.reward);
    }
    let fitted: Vec<FittedArm> = models
        .iter()
        .map(LinearModel::fit)
        .collect::<Option<_>>()
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "policy {}: a per-arm ridge model could not be fit (statistics not finite)",
                config.policy
            ))
        })?;
    // Rows with the same encoded context get the same distribution: computed once.
    let mut group_of: HashMap<Vec<u64>, usize> = HashMap::new();
    let mut table: Vec<Vec<f64>> = Vec::new();
    let mut row_group = Vec::with_capacity(log.rows.len());
    for r in &log.rows {
        let key: Vec<u64> = r.features.iter().map(|v| v.to_bits()).collect();
        let g = *group_of.entry(key).or_insert_with(|| {
            table.push(contextual_weights(config, &fitted, &r.features).probabilities);
            table.len() - 1
        });
        row_group.push(g);
    }
    // The mean distribution over rows, the summary the text shows.
    let mut mean = vec![0.0; k];
    for &g in &row_group {
        for (m, p) in mean.iter_mut().zip(&table[g]) {
            *m += p / row_group.len() as f64;
        }
    }
    let how = if config.policy == PolicyKind::LinUcb {
        "all mass on the highest θᵀx + alpha·sqrt(xᵀA⁻¹x)"
    } else {
        "each arm's P(best) under N(θᵀx, alpha²·xᵀA⁻¹x)"
    };
    let description = format!(
        "{}: per row, {how}, from one ridge model per arm (alpha {}, ridge {}) over the context \
         fields {} (d = {dim}) fitted on these {} rows, then the floor {}; {} distinct contexts; \
         mean over rows: {}",
        config.policy,
        config.linear_alpha_or_default(),
        config.ridge_or_default(),
        config.context_fields.join(","),
        log.rows.len(),
        config.floor_or_default(),
        table.len(),
        leading(&log.arms, &mean, 5)
    );
    Ok(BuiltTarget {
        target: TargetPolicy::grouped(k, table, row_group).map_err(invalid)?,
        description,
        sums_before_normalising: vec![],
        fitted_on_logs: true,
        distribution: None,
    })
}
