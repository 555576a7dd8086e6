//! Turns an assignment's context and arm into the model's feature vector. The encoding is
//! learned from the training rows and stored with the model, so scoring later uses exactly
//! the categories and scales the model was trained with.
//!
//! - each non-control arm: an indicator (the model learns the offer's lift on the log-odds);
//! - each text field: an indicator per value seen in at least 0.5% of rows (at most 30 values,
//!   most frequent first), so an id-like field cannot blow up the width;
//! - each numeric field: standardised with the training mean and deviation, clipped at ±5 so
//!   one wholesale buyer's spend cannot dominate a gradient; missing is the mean (0).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

const MAX_VALUES_PER_FIELD: usize = 30;
const MIN_VALUE_SHARE: f64 = 0.005;
const CLIP_SD: f64 = 5.0;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NumericFeature {
    pub field: String,
    pub mean: f64,
    pub sd: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct FeatureSpec {
    pub arms: Vec<String>,
    /// (field, value) indicators.
    pub categories: Vec<(String, String)>,
    pub numeric: Vec<NumericFeature>,
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl FeatureSpec {
    /// Learns the encoding from training rows of (context, arm).
    pub fn learn<'a>(
        rows: impl Iterator<Item = (&'a Map<String, Value>, &'a str)> + Clone,
        arms: &[String],
        control: &str,
    ) -> FeatureSpec {
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        // field -> (n, sum, sum of squares) over the rows where it is a number.
        let mut numbers: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new();
        let mut n = 0u64;
        for (ctx, _) in rows {
            n += 1;
            for (field, v) in ctx {
                if let Some(x) = v.as_f64() {
                    let e = numbers.entry(field.clone()).or_default();
                    *e = (e.0 + 1.0, e.1 + x, e.2 + x * x);
                } else if let Some(t) = as_text(v) {
                    *counts.entry((field.clone(), t)).or_default() += 1;
                }
            }
        }
        let mut by_field: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
        for ((f, v), c) in &counts {
            by_field.entry(f).or_default().push((v, *c));
        }
        let min_count = (MIN_VALUE_SHARE * n as f64).ceil().max(1.0) as u64;
        let mut categories = Vec::new();
        for (field, mut values) in by_field {
            if numbers.contains_key(field) {
                continue; // mixed field: treated as numeric only
            }
            values.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            categories.extend(
                values
                    .into_iter()
                    .filter(|(_, c)| *c >= min_count)
                    .take(MAX_VALUES_PER_FIELD)
                    .map(|(v, _)| (field.to_string(), v.to_string())),
            );
        }
        let numeric = numbers
            .into_iter()
            .filter(|(_, (k, _, _))| *k >= 2.0)
            .map(|(field, (k, s, ss))| {
                let mean = s / k;
                let sd = ((ss - s * mean) / (k - 1.0)).max(0.0).sqrt();
                NumericFeature { field, mean, sd }
            })
            .filter(|f| f.sd > 0.0)
            .collect();
        FeatureSpec {
            arms: arms.iter().filter(|a| *a != control).cloned().collect(),
            categories,
            numeric,
        }
    }

    pub fn len(&self) -> usize {
        self.arms.len() + self.categories.len() + self.numeric.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Feature names in vector order: `arm=coupon`, `device=mobile`, `pre_value`.
    pub fn names(&self) -> Vec<String> {
        self.arms
            .iter()
            .map(|a| format!("arm={a}"))
            .chain(self.categories.iter().map(|(f, v)| format!("{f}={v}")))
            .chain(self.numeric.iter().map(|f| f.field.clone()))
            .collect()
    }

    /// Writes the features of one unit into `out` (cleared first).
    pub fn encode(&self, ctx: &Map<String, Value>, arm: &str, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.arms.iter().map(|a| f64::from(u8::from(a == arm))));
        out.extend(self.categories.iter().map(|(f, v)| {
            f64::from(u8::from(
                ctx.get(f).and_then(as_text).is_some_and(|t| t == *v),
            ))
        }));
        out.extend(self.numeric.iter().map(|f| {
            ctx.get(&f.field)
                .and_then(Value::as_f64)
                .map_or(0.0, |x| ((x - f.mean) / f.sd).clamp(-CLIP_SD, CLIP_SD))
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn learns_indicators_and_scales() {
        let ctx: Vec<Map<String, Value>> = (0..10)
            .map(|i| {
                json!({"device": if i % 2 == 0 {"mobile"} else {"desktop"},
                       "pre_value": i as f64})
                .as_object()
                .cloned()
                .unwrap_or_default()
            })
            .collect();
        let arms = vec!["control".to_string(), "coupon".to_string()];
        let spec = FeatureSpec::learn(ctx.iter().map(|c| (c, "control")), &arms, "control");
        assert_eq!(
            spec.names(),
            vec!["arm=coupon", "device=desktop", "device=mobile", "pre_value"]
        );
        let mut out = Vec::new();
        spec.encode(&ctx[0], "coupon", &mut out);
        assert_eq!(&out[..3], &[1.0, 0.0, 1.0]);
        assert!((out[3] - (0.0 - 4.5) / spec.numeric[0].sd).abs() < 1e-12);
        // Unknown category and missing number encode as zeros, never NaN.
        spec.encode(&Map::new(), "control", &mut out);
        assert_eq!(out, vec![0.0; 4]);
    }
}
