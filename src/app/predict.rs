//! Scoring with a campaign's active conversion model: the probability that a unit with a
//! context, given an arm at a time, converts. Off-policy DM/DR, uplift and forecasts stand on
//! it. A model is scored exactly as it was trained: the dense learner through its learned
//! one-hot encoding, the hashed learners through the hash spec stored inside the model, with
//! the arm's offer, the context's position and the unit's RFM as of the time.

use super::train_pipeline::{offer_numbers, position_in, rfm_feature};
use super::{AppError, Result};
use crate::domain::Micros;
use crate::model::pipeline::{TrainedModel, TrainingRow};
use crate::model::{FeatureSpec, Logistic, TrainOptions};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// A model version's JSON as the registry stores it, by its `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredModel {
    /// The dense learner: learned one-hot / standardised encoding, logistic weights.
    Logistic {
        features: FeatureSpec,
        weights: Vec<f64>,
        bias: f64,
        #[serde(default)]
        options: Option<TrainOptions>,
    },
    /// A hashed-feature learner (lr, lr-sgd, ftrl, mlp) with its hash spec.
    Hashed(Box<TrainedModel>),
}

/// One thing to score: who (unit, for RFM; `None` scores as a unit with no purchases), with
/// what context, given which arm, at what time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub unit: Option<String>,
    pub context: Map<String, Value>,
    pub arm: String,
    pub at: Micros,
}

/// The active model of a campaign, ready to score.
#[derive(Debug, Clone)]
pub struct ActiveModel {
    pub campaign: String,
    pub version: i64,
    pub model: StoredModel,
    offers: HashMap<String, Map<String, Value>>,
}

impl ActiveModel {
    /// The campaign's active model; `None` when it has none yet.
    pub fn load(store: &Store, key: &str) -> Result<Option<ActiveModel>> {
        let (_, arms) = store.campaign(key)?;
        let Some((version, json)) = store.active_model(key)? else {
            return Ok(None);
        };
        let model: StoredModel = serde_json::from_str(&json).map_err(|e| {
            AppError::Invalid(format!(
                "campaign `{key}`: model version {version} cannot be read: {e}"
            ))
        })?;
        let offers = arms
            .iter()
            .map(|a| (a.key.clone(), offer_numbers(&a.offer)))
            .collect();
        Ok(Some(ActiveModel {
            campaign: key.into(),
            version,
            model,
            offers,
        }))
    }

    /// The probability for each row, in order. RFM (hashed models) comes from the store,
    /// over each unit's purchases strictly before the row's time.
    pub fn score(&self, store: &Store, rows: &[ScoreRow]) -> Result<Vec<f64>> {
        match &self.model {
            StoredModel::Logistic {
                features,
                weights,
                bias,
                ..
            } => {
                let lr = Logistic {
                    weights: weights.clone(),
                    bias: *bias,
                };
                let mut buf = Vec::new();
                Ok(rows
                    .iter()
                    .map(|r| {
                        features.encode(&r.context, &r.arm, &mut buf);
                        lr.predict(&buf)
                    })
                    .collect())
            }
            StoredModel::Hashed(m) => {
                let pairs: Vec<(&str, Micros)> = rows
                    .iter()
                    .filter_map(|r| r.unit.as_deref().map(|u| (u, r.at)))
                    .collect();
                let mut rfm = store.rfm_batch(&pairs)?.into_iter();
                let none = crate::store::Rfm {
                    recency_days: None,
                    frequency: 0,
                    monetary: 0.0,
                };
                let rows: Vec<TrainingRow> = rows
                    .iter()
                    .map(|r| {
                        let history = match r.unit {
                            Some(_) => rfm.next().unwrap_or(none),
                            None => none,
                        };
                        self.training_row(r, &history)
                    })
                    .collect();
                Ok(m.predict_batch(&rows))
            }
        }
    }

    /// The probability for one row.
    pub fn score_one(&self, store: &Store, row: &ScoreRow) -> Result<f64> {
        let p = self.score(store, std::slice::from_ref(row))?;
        p.first()
            .copied()
            .ok_or_else(|| AppError::Invalid("scoring returned nothing".into()))
    }

    fn training_row(&self, r: &ScoreRow, history: &crate::store::Rfm) -> TrainingRow {
        TrainingRow {
            context: r.context.clone(),
            arm: r.arm.clone(),
            offer: self.offers.get(&r.arm).cloned().unwrap_or_default(),
            assigned_at: r.at,
            position: position_in(&r.context),
            rfm: Some(rfm_feature(history)),
            label: false,
        }
    }
}

/// Scores `rows` with `key`'s active model; `None` when the campaign has no active model.
pub fn predict(store: &Store, key: &str, rows: &[ScoreRow]) -> Result<Option<Vec<f64>>> {
    match ActiveModel::load(store, key)? {
        Some(m) => m.score(store, rows).map(Some),
        None => Ok(None),
    }
}
