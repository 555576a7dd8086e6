//! Which reward model q̂(a, x) `report ope` stands DM and the DR family on: the campaign's
//! active conversion model, scored for every logged row and every arm in one batch (unit,
//! context, arm, assignment time: RFM as of that time), or means per arm (and position)
//! fitted from the logs. The model can only be the reward model when it predicts the reward:
//! every learner is trained on clicks for a click campaign and on purchases otherwise; a
//! revenue or profit reward is not a probability.

use super::{context_map, CampaignLog};
use crate::app::predict::{ActiveModel, ScoreRow};
use crate::app::{AppError, Result};
use crate::causal::ope::RewardTable;
use crate::domain::RewardKind;
use crate::store::Store;
use serde::Serialize;

/// What `--reward-model` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RewardModelChoice {
    /// The active model when it fits the reward, else means (with the reason).
    #[default]
    Auto,
    Means,
    /// The active model, or an error saying why it cannot be used.
    Active,
}

/// The reward model an evaluation used, as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RewardModelUsed {
    /// `means` or `model`.
    pub kind: &'static str,
    /// "means per arm (and position)" or "model version N (learner)".
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learner: Option<String>,
    /// Under `auto`, why the active model was not used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_used: Option<String>,
    /// How the bootstrap treats the model.
    pub bootstrap: &'static str,
}

const MEANS_BOOTSTRAP: &str = "means refitted in each resample";
const MODEL_BOOTSTRAP: &str =
    "model kept as fitted in each resample (rows resampled, q̂ not refitted): the intervals \
     leave out the model's own fitting error";

fn means(log: &CampaignLog, not_used: Option<String>) -> RewardModelUsed {
    // As `causal::ope` fits them: per position only when the rows hold more than one
    // (rows without a position count as one more).
    let mut slots: Vec<Option<u32>> = log.rows.iter().map(|r| r.position).collect();
    slots.sort_unstable();
    slots.dedup();
    RewardModelUsed {
        kind: "means",
        name: if slots.len() < 2 {
            "means per arm".into()
        } else {
            "means per arm and position".into()
        },
        version: None,
        learner: None,
        not_used,
        bootstrap: MEANS_BOOTSTRAP,
    }
}

/// The reward model for `log` under `choice`: the table of q̂ (None: fit means) and its name.
pub fn reward_model_for(
    store: &Store,
    log: &CampaignLog,
    choice: RewardModelChoice,
) -> Result<(Option<RewardTable>, RewardModelUsed)> {
    if choice == RewardModelChoice::Means {
        return Ok((None, means(log, None)));
    }
    let usable = match ActiveModel::load(store, &log.campaign)? {
        None => Err(format!(
            "campaign `{}` has no active conversion model (train one with `liftdeck train {}`)",
            log.campaign, log.campaign
        )),
        Some(m) => fits(store, log, &m).map(|()| m),
    };
    let model = match (usable, choice) {
        (Ok(m), _) => m,
        (Err(reason), RewardModelChoice::Active) => {
            return Err(AppError::Invalid(format!(
                "--reward-model active: {reason}"
            )))
        }
        (Err(reason), _) => return Ok((None, means(log, Some(reason)))),
    };
    let table = score_table(store, log, &model)?;
    let learner = store
        .model_versions(&log.campaign)?
        .into_iter()
        .find(|v| v.version == model.version)
        .map_or_else(|| "unknown learner".into(), |v| v.learner);
    Ok((
        Some(table),
        RewardModelUsed {
            kind: "model",
            name: format!("model version {} ({learner})", model.version),
            version: Some(model.version),
            learner: Some(learner),
            not_used: None,
            bootstrap: MODEL_BOOTSTRAP,
        },
    ))
}

/// Whether the model predicts `log`'s reward; the reason when not.
fn fits(store: &Store, log: &CampaignLog, model: &ActiveModel) -> std::result::Result<(), String> {
    let (campaign, _) = store
        .campaign(&log.campaign)
        .map_err(|e| format!("campaign `{}`: {e}", log.campaign))?;
    // Every learner labels a click campaign's units by their clicks, others by purchases.
    let label = if campaign.spec.metric == "click" {
        RewardKind::Click
    } else {
        RewardKind::Conversion
    };
    if label == log.reward {
        Ok(())
    } else if log.reward.is_binary() {
        Err(format!(
            "model version {} predicts the probability of a {label}, the reward is {}",
            model.version, log.reward
        ))
    } else {
        Err(format!(
            "the reward is {}, an amount; model version {} predicts the probability of a \
             {label}, so it cannot be the reward model",
            log.reward, model.version
        ))
    }
}

/// q̂(a, x_i) for every logged row and arm, scored in one batch.
fn score_table(store: &Store, log: &CampaignLog, model: &ActiveModel) -> Result<RewardTable> {
    let decisions = store.logged_decisions(&log.campaign)?;
    if decisions.len() != log.rows.len() {
        return Err(AppError::Invalid(format!(
            "campaign `{}` changed while it was read ({} logged rows, then {})",
            log.campaign,
            log.rows.len(),
            decisions.len()
        )));
    }
    let k = log.arms.len();
    let mut batch = Vec::with_capacity(decisions.len() * k);
    for d in &decisions {
        let context = context_map(&d.context);
        for arm in &log.arms {
            batch.push(ScoreRow {
                unit: Some(d.unit.clone()),
                context: context.clone(),
                arm: arm.clone(),
                at: d.ts,
            });
        }
    }
    let scores = model.score(store, &batch)?;
    RewardTable::new(k, scores).map_err(|e| AppError::Invalid(format!("reward model: {e}")))
}
