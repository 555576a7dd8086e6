//! Retraining with the hashed-feature learners (`liftdeck train --learner lr|lr-sgd|ftrl|mlp`):
//! each unit becomes a [`TrainingRow`] (context, arm, the arm's offer as numbers, assignment
//! time, position, RFM as of the assignment), [`train_with`] trains on the oldest 80% and
//! validates on the newest 20%, and the trained model (its hash spec inside) is stored as a
//! version that becomes active only when it beats the active one on validation log loss.

use super::predict::ScoreRow;
use super::train::{LearnerChoice, ModelSummary};
use super::{AppError, Env, Progress, Result};
use crate::domain::Offer;
use crate::model::log_loss;
use crate::model::pipeline::{
    split_by_time, train_with, EpochReport, Learner, NamedWeight, Rfm, TrainConfig, TrainError,
    TrainingRow,
};
use crate::model::TrainOptions;
use crate::store::{NewModel, Store};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Reading (and RFM) takes this share of the gauge, training the rest.
const READ_SHARE: f64 = 0.3;
/// Top features and top crosses each shown.
const TOP_WEIGHTS: usize = 8;
/// Recency of a unit with no earlier purchase: a year, "long ago" on the log1p scale.
const NO_PURCHASE_RECENCY_DAYS: f64 = 365.0;

/// The arm's offer flattened to numbers the hash spec standardises.
pub fn offer_numbers(offer: &Offer) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.into(), Value::from(v));
    };
    match offer {
        Offer::None => {}
        Offer::Coupon { pct } => put("coupon_pct", *pct),
        Offer::Discount { pct } => put("discount_pct", *pct),
        Offer::SpendThreshold {
            min_spend,
            amount_off,
        } => {
            put("threshold_min_spend", *min_spend);
            put("threshold_amount_off", *amount_off);
        }
        Offer::Recommend { items } => put("recommend_items", f64::from(*items)),
    }
    m
}

/// The slot on the page from a context's `position`, a number or a numeric string (as the
/// Open Bandit import and `report ope` read it), so training and scoring agree.
pub fn position_in(context: &Map<String, Value>) -> Option<u32> {
    match context.get("position")? {
        Value::Number(n) => n.as_u64().and_then(|p| u32::try_from(p).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The RFM the model sees, from the store's as-of-time history.
pub fn rfm_feature(r: &crate::store::Rfm) -> Rfm {
    Rfm {
        recency_days: r.recency_days.unwrap_or(NO_PURCHASE_RECENCY_DAYS),
        frequency: r.frequency as f64,
        monetary: r.monetary,
    }
}

/// Every unit of `key` as a training row, in unit order.
pub fn training_rows(
    store: &Store,
    key: &str,
    progress: &dyn Progress,
) -> Result<Vec<TrainingRow>> {
    training_rows_with_units(store, key, progress).map(|(rows, _)| rows)
}

/// [`training_rows`] and each row's unit, in the same order.
pub fn training_rows_with_units(
    store: &Store,
    key: &str,
    progress: &dyn Progress,
) -> Result<(Vec<TrainingRow>, Vec<String>)> {
    let (campaign, arms) = store.campaign(key)?;
    let offers: HashMap<String, Map<String, Value>> = arms
        .iter()
        .map(|a| (a.key.clone(), offer_numbers(&a.offer)))
        .collect();
    let clicks = campaign.spec.metric == "click";
    let mut rows = Vec::new();
    let mut units = Vec::new();
    super::for_each_unit_chunk(store, key, progress, READ_SHARE, &mut |chunk| {
        for r in chunk {
            let context: Map<String, Value> = serde_json::from_str(&r.context).map_err(|e| {
                AppError::Invalid(format!("unit {}: stored context is not JSON: {e}", r.unit))
            })?;
            let position = position_in(&context);
            let label = if clicks {
                r.clicks > 0
            } else {
                r.purchases > 0
            };
            rows.push(TrainingRow {
                offer: offers.get(&r.arm).cloned().unwrap_or_default(),
                context,
                arm: r.arm,
                assigned_at: r.assigned_at,
                position,
                rfm: None,
                label,
            });
            units.push(r.unit);
        }
        Ok(())
    })?;
    let pairs: Vec<(&str, i64)> = units
        .iter()
        .zip(&rows)
        .map(|(u, r)| (u.as_str(), r.assigned_at))
        .collect();
    let rfm = store.rfm_batch(&pairs)?;
    for (row, r) in rows.iter_mut().zip(&rfm) {
        row.rfm = Some(rfm_feature(r));
    }
    Ok((rows, units))
}

/// What the operator set for a retrain (`liftdeck train --bits ... --l1 ... --maturity ...`);
/// every `None` keeps the default, so the tuning in `model::pipeline` applies unless a flag
/// overrides it. All but `maturity_secs` are the hashed learners'.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RetrainOptions {
    /// The learner with the operator's parameters (built from `LearnerChoice::pipeline()`);
    /// used only when it is the chosen learner's kind.
    pub learner: Option<Learner>,
    pub bits: Option<u32>,
    pub no_crosses: bool,
    pub negative_rate: Option<f64>,
    pub patience: Option<usize>,
    /// Leave out units assigned less than this many seconds before the newest data (their
    /// conversions may not have arrived); `None` takes the campaign's reward delay.
    pub maturity_secs: Option<u64>,
}

/// The progress stage of one epoch; [`parse_epoch_stage`] reads it back (the CLI's bar
/// measures rows per second from it), so the two are kept side by side.
pub fn epoch_stage(e: &EpochReport) -> String {
    format!(
        "epoch {}/{} validation loss {:.4} rows {}",
        e.epoch, e.max_epochs, e.validation_loss, e.train_rows
    )
}

/// (epoch, max epochs, validation loss, rows trained in the epoch) of an [`epoch_stage`].
pub fn parse_epoch_stage(stage: &str) -> Option<(usize, usize, f64, u64)> {
    let words: Vec<&str> = stage.split_whitespace().collect();
    match words.as_slice() {
        ["epoch", of, "validation", "loss", loss, "rows", rows] => {
            let (e, m) = of.split_once('/')?;
            Some((
                e.parse().ok()?,
                m.parse().ok()?,
                loss.parse().ok()?,
                rows.parse().ok()?,
            ))
        }
        _ => None,
    }
}

/// Trains `learner` on `key`'s units and (unless `dry_run`) stores the version.
#[allow(clippy::too_many_arguments)]
pub fn retrain_hashed(
    store: &mut Store,
    env: &Env,
    key: &str,
    job_id: Option<i64>,
    opts: &TrainOptions,
    learner: LearnerChoice,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<ModelSummary> {
    let defaults = RetrainOptions::default();
    retrain_hashed_with(
        store, env, key, job_id, opts, learner, &defaults, dry_run, progress,
    )
}

/// [`retrain_hashed`] with the operator's overrides of the pipeline's defaults.
#[allow(clippy::too_many_arguments)]
pub fn retrain_hashed_with(
    store: &mut Store,
    env: &Env,
    key: &str,
    job_id: Option<i64>,
    opts: &TrainOptions,
    learner: LearnerChoice,
    hashed: &RetrainOptions,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<ModelSummary> {
    let Some(default_learner) = learner.pipeline() else {
        return Err(AppError::Invalid(
            "the dense learner is not a hashed-feature learner".into(),
        ));
    };
    let pipeline_learner = hashed
        .learner
        .filter(|l| l.name() == default_learner.name())
        .unwrap_or(default_learner);
    let (mut rows, mut row_units) = training_rows_with_units(store, key, progress)?;
    let left_out = super::maturity::leave_out_immature(
        store,
        key,
        hashed.maturity_secs,
        &mut rows,
        |r| r.assigned_at,
        Some(&mut row_units),
    )?;
    let base_cfg = TrainConfig::default();
    let cfg = TrainConfig {
        learner: pipeline_learner,
        max_epochs: opts.epochs.max(1),
        seed: opts.seed,
        bits: hashed.bits.unwrap_or(base_cfg.bits),
        personalised: base_cfg.personalised && !hashed.no_crosses,
        negative_rate: hashed.negative_rate.or(base_cfg.negative_rate),
        patience: hashed.patience.unwrap_or(base_cfg.patience),
        ..base_cfg
    };
    let (train_idx, val_idx) = split_by_time(&rows, cfg.validation_share);
    if train_idx.iter().all(|&i| rows[i].label) || train_idx.iter().all(|&i| !rows[i].label) {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` needs converting and non-converting units to train on \
             ({} training units so far)",
            train_idx.len()
        )));
    }
    let mut cancelled = false;
    let trained = train_with(&rows, &cfg, &mut |e| {
        let done = READ_SHARE + (1.0 - READ_SHARE) * e.epoch as f64 / e.max_epochs.max(1) as f64;
        cancelled = progress.update(done, &epoch_stage(e)).is_err();
        !cancelled
    });
    let model = match trained {
        Ok(m) if !cancelled => m,
        Ok(_) | Err(TrainError::Cancelled) => return Err(AppError::Cancelled),
        Err(e) => return Err(AppError::Invalid(format!("campaign `{key}`: {e}"))),
    };
    let label = |i: &usize| f64::from(u8::from(rows[*i].label));
    let base = train_idx.iter().map(label).sum::<f64>() / train_idx.len().max(1) as f64;
    let vy: Vec<f64> = val_idx.iter().map(label).collect();
    let val_rows: Vec<TrainingRow> = val_idx.iter().map(|&i| rows[i].clone()).collect();
    let p = model.predict_batch(&val_rows);
    let champion_rows: Vec<ScoreRow> = val_idx
        .iter()
        .map(|&i| ScoreRow {
            unit: Some(row_units[i].clone()),
            context: rows[i].context.clone(),
            arm: rows[i].arm.clone(),
            at: rows[i].assigned_at,
        })
        .collect();
    let (campaign, arms) = store.campaign(key)?;
    let units: Vec<_> = val_rows
        .iter()
        .map(|r| (&r.context, r.arm.as_str()))
        .collect();
    let clicks = campaign.spec.metric == "click";
    let truth = super::train_truth::check_against_truth(&units, &arms, &vy, &p, clicks);
    let (champion, label_maturity) =
        super::champion::validation_checks(store, key, clicks, &champion_rows, &vy)?;
    let m = &model.metrics;
    let top = model.top_weights(train_idx.iter().map(|&i| &rows[i]), TOP_WEIGHTS);
    let mut summary = ModelSummary {
        campaign: key.into(),
        version: None,
        train_units: model.train_rows,
        holdout_units: model.validation_rows,
        holdout_log_loss: m.log_loss,
        base_rate_log_loss: log_loss(&vy, &vec![base; vy.len()]),
        holdout_auc: m.auc,
        predicted_rate: p.iter().sum::<f64>() / p.len().max(1) as f64,
        observed_rate: m.base_rate,
        top_features: named(&top.features),
        top_crosses: named(&top.crosses),
        bins: m.bins.clone(),
        options: *opts,
        activated: false,
        learner: Some(learner.name().into()),
        normalised_entropy: Some(m.normalised_entropy),
        ece: Some(m.ece),
        auc_interval: m.auc_interval.map(|a| (a.lo, a.hi)),
        best_epoch: Some(model.best_epoch),
        truth,
        champion,
        label_maturity,
        left_out,
    };
    if !dry_run {
        let spec = to_json(&model.spec)?;
        let metrics = to_json(&summary)?;
        let (train_from, train_to) = model.train_window;
        let model_json = to_json(&super::predict::StoredModel::Hashed(Box::new(model)))?;
        let version = store.save_model(
            key,
            &NewModel {
                job_id,
                ts: env.clock.now(),
                model: &model_json,
                metrics: &metrics,
                learner: learner.name(),
                feature_spec: Some(&spec),
                // The training part's own window: the validation part came after it.
                train_from: Some(train_from),
                train_to: Some(train_to),
                train_rows: train_idx.len() as i64,
                validation_rows: val_idx.len() as i64,
                created_by: &env.actor,
            },
        )?;
        summary.version = Some(version);
        summary.activated = super::models::activate_if_better(store, env, key, version)?.is_some();
    }
    Ok(summary)
}

fn named(w: &[NamedWeight]) -> Vec<(String, f64)> {
    w.iter().map(|w| (w.name.clone(), w.weight)).collect()
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| AppError::Invalid(e.to_string()))
}
