//! The largest weights of a linear hashed model, by the names of the features that hash to
//! them: what `train`, `model show` and the Models panel show as the model's top features
//! and top crosses. A hashed model stores buckets, not names, so the names come from
//! explaining rows (the training rows, normally): a bucket that several names share reports
//! each name with the shared weight, and a name that never occurs in the rows given cannot
//! be shown. The MLP has no per-feature weight, so it has none.

use super::{ModelState, TrainedModel, TrainingRow};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rows explained at most, spread evenly over the rows given: enough to name every value
/// that is common enough to carry a large weight.
const MAX_EXPLAINED_ROWS: usize = 20_000;

/// A named coefficient: the weight times the sign the hash gave the feature, so it reads
/// as an ordinary logistic coefficient (per unit of the scaled value for numbers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NamedWeight {
    pub name: String,
    pub weight: f64,
}

/// The top plain features and the top crosses (names with ` x `), largest |weight| first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TopWeights {
    pub features: Vec<NamedWeight>,
    pub crosses: Vec<NamedWeight>,
}

impl TrainedModel {
    /// The weight of bucket `i` in a linear model; `None` for the MLP.
    pub fn linear_weight(&self, bucket: u32) -> Option<f64> {
        match &self.state {
            ModelState::Logistic(m) => {
                let mask = (1u32 << m.bits) - 1;
                let w = &m.weights;
                Some(
                    w.indices
                        .binary_search(&(bucket & mask))
                        .map_or(0.0, |k| w.values[k]),
                )
            }
            ModelState::Ftrl(m) => Some(m.weight(bucket)),
            ModelState::Mlp { .. } => None,
        }
    }

    /// At most `n` features and `n` crosses by |weight|, named from `rows` (at most
    /// 20,000 of them, spread evenly, are read); the bias is
    /// left out (it is the base rate, not a feature), as are zero weights.
    pub fn top_weights<'a>(
        &self,
        rows: impl ExactSizeIterator<Item = &'a TrainingRow>,
        n: usize,
    ) -> TopWeights {
        if self.linear_weight(0).is_none() || rows.len() == 0 || n == 0 {
            return TopWeights::default();
        }
        let step = rows.len().div_ceil(MAX_EXPLAINED_ROWS).max(1);
        let mut named: BTreeMap<String, f64> = BTreeMap::new();
        for row in rows.step_by(step) {
            let derived = row.derived();
            let maps: [&serde_json::Map<String, serde_json::Value>; 3] =
                [&derived, &row.context, &row.offer];
            for (name, bucket, value) in self.spec.explain(&maps[..]) {
                // A zero value (an absent offer's 0) carries no sign: the name is taken
                // from a row where it is non-zero, or not at all (it never moved a score).
                if value == 0.0
                    || named.contains_key(&name)
                    || name == crate::model::hashing::BIAS_KEY
                {
                    continue;
                }
                let sign = if value < 0.0 { -1.0 } else { 1.0 };
                let w = self.linear_weight(bucket).unwrap_or(0.0);
                named.insert(name, sign * w);
            }
        }
        let mut all: Vec<NamedWeight> = named
            .into_iter()
            .filter(|(_, w)| *w != 0.0 && w.is_finite())
            .map(|(name, weight)| NamedWeight { name, weight })
            .collect();
        // Largest first; ties by name so the order is the same on every run.
        all.sort_by(|a, b| {
            b.weight
                .abs()
                .total_cmp(&a.weight.abs())
                .then_with(|| a.name.cmp(&b.name))
        });
        let (crosses, features): (Vec<_>, Vec<_>) =
            all.into_iter().partition(|w| w.name.contains(" x "));
        TopWeights {
            features: features.into_iter().take(n).collect(),
            crosses: crosses.into_iter().take(n).collect(),
        }
    }
}
