//! The contextual policies' side of the loop: at each update the per-arm ridge models are
//! refit from every unit's logged context and reward and stored with the period (`summary.
//! model`); a unit is then drawn with the probabilities that model gives its context, so
//! `assign` logs exactly the probability it used, and a storefront can score units itself from
//! the same stored model.

use super::Result;
use crate::app::{for_each_unit_chunk, NoProgress};
use crate::bandit::{contextual_weights, ContextEncoder, FittedArm, LinearModel};
use crate::domain::{BanditConfig, RewardKind};
use crate::store::{Store, UnitRow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Contexts the encoder learns its levels and scales from (the first units, in key order).
const ENCODER_SAMPLE: usize = 10_000;

/// What a contextual period stores: the context encoding and each arm's fitted model (θ and
/// L⁻¹ with A = LLᵀ), in arm order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextModel {
    pub encoder: ContextEncoder,
    pub arms: Vec<FittedArm>,
    /// Units each arm's model was fit on.
    pub units: Vec<f64>,
}

impl ContextModel {
    /// The probability of each arm for a unit with `context` (the floor applied).
    pub fn probabilities(&self, config: &BanditConfig, context: &Map<String, Value>) -> Vec<f64> {
        let x = self.encoder.encode(context);
        contextual_weights(config, &self.arms, &x).probabilities
    }

    /// The model stored in a period's summary, if it has one.
    pub fn from_summary(summary: &Value) -> Option<ContextModel> {
        serde_json::from_value(summary.get("model")?.clone()).ok()
    }
}

/// A unit's reward as the campaign counts it, from its totals.
fn reward_of(row: &UnitRow, reward: RewardKind) -> f64 {
    match reward {
        RewardKind::Click => f64::from(u8::from(row.clicks > 0)),
        RewardKind::Conversion => f64::from(u8::from(row.purchases > 0)),
        RewardKind::Revenue => row.revenue,
        RewardKind::Profit => row.revenue - row.cost,
    }
}

fn context_of(row: &UnitRow) -> Map<String, Value> {
    match serde_json::from_str(&row.context) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Refits every arm's model from all units of `key` (the encoder from the first units in key
/// order, then every unit in chunks). O(units · d²); `None` when a model cannot be fit (not finite).
pub fn fit(
    store: &Store,
    key: &str,
    config: &BanditConfig,
    reward: RewardKind,
    arm_keys: &[String],
) -> Result<Option<ContextModel>> {
    let sample: Vec<Map<String, Value>> = store
        .unit_rows(key, "", ENCODER_SAMPLE)?
        .iter()
        .map(context_of)
        .collect();
    let encoder = ContextEncoder::fit(&config.context_fields, &sample);
    let dim = encoder.dim();
    let mut models = vec![LinearModel::new(dim, config.ridge_or_default()); arm_keys.len()];
    let mut x = Vec::with_capacity(dim);
    for_each_unit_chunk(store, key, &NoProgress, 1.0, &mut |rows| {
        for row in &rows {
            let Some(arm) = arm_keys.iter().position(|k| *k == row.arm) else {
                continue;
            };
            encoder.encode_into(&context_of(row), &mut x);
            models[arm].observe(&x, reward_of(row, reward));
        }
        Ok(())
    })?;
    let fitted: Option<Vec<FittedArm>> = models.iter().map(LinearModel::fit).collect();
    Ok(fitted.map(|arms| ContextModel {
        encoder,
        arms,
        units: models.iter().map(|m| m.units).collect(),
    }))
}
