//! The context encoder of the linear policies: a unit's context (the JSON object of its
//! assignment line) to a vector x = [1, fields...]. Text fields are one-hot over the levels seen
//! in a sample (the most frequent [`ContextEncoder::MAX_LEVELS`]) plus an "other" column for
//! every other value and for a missing field; numeric fields are standardised with the sample's
//! mean and standard deviation (missing = the mean, i.e. 0) and clipped to ±10 sd so that one
//! stray value cannot dominate a ridge model. The encoder is serialisable: a period stores it
//! with its models, so a unit is scored with exactly the encoding its arm's model was fit on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// How one context field becomes columns of x.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldEncoding {
    /// One column: (value - mean) / sd.
    Numeric { field: String, mean: f64, sd: f64 },
    /// One column per level, then "other".
    Text { field: String, levels: Vec<String> },
}

impl FieldEncoding {
    fn width(&self) -> usize {
        match self {
            FieldEncoding::Numeric { .. } => 1,
            FieldEncoding::Text { levels, .. } => levels.len() + 1,
        }
    }
}

/// Context fields in order, behind an intercept column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextEncoder {
    pub fields: Vec<FieldEncoding>,
}

/// Standardised values are clipped to this many standard deviations.
const CLIP_SDS: f64 = 10.0;

impl ContextEncoder {
    /// Levels kept per text field; rarer values share the "other" column.
    pub const MAX_LEVELS: usize = 16;

    /// Learns the encoding of `fields` from a sample of contexts: a field is numeric when it
    /// has at least one value in the sample and every value present is a JSON number; otherwise
    /// it is text (numbers and booleans then count by their JSON spelling).
    pub fn fit(fields: &[String], sample: &[Map<String, Value>]) -> ContextEncoder {
        let fields = fields
            .iter()
            .map(|field| {
                let values: Vec<&Value> = sample
                    .iter()
                    .filter_map(|c| c.get(field))
                    .filter(|v| !v.is_null())
                    .collect();
                if !values.is_empty() && values.iter().all(|v| v.is_number()) {
                    let xs: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
                    let n = xs.len() as f64;
                    let mean = xs.iter().sum::<f64>() / n;
                    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                    let sd = var.sqrt();
                    FieldEncoding::Numeric {
                        field: field.clone(),
                        mean: if mean.is_finite() { mean } else { 0.0 },
                        sd: if sd > 0.0 && sd.is_finite() { sd } else { 1.0 },
                    }
                } else {
                    let mut counts: HashMap<String, usize> = HashMap::new();
                    for v in values {
                        *counts.entry(text_of(v)).or_default() += 1;
                    }
                    let mut levels: Vec<(String, usize)> = counts.into_iter().collect();
                    levels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                    levels.truncate(Self::MAX_LEVELS);
                    FieldEncoding::Text {
                        field: field.clone(),
                        levels: levels.into_iter().map(|(l, _)| l).collect(),
                    }
                }
            })
            .collect();
        ContextEncoder { fields }
    }

    /// The length of x (intercept included).
    pub fn dim(&self) -> usize {
        1 + self.fields.iter().map(FieldEncoding::width).sum::<usize>()
    }

    pub fn encode(&self, context: &Map<String, Value>) -> Vec<f64> {
        let mut x = Vec::with_capacity(self.dim());
        self.encode_into(context, &mut x);
        x
    }

    /// Writes x into `out` (cleared first), so a caller scoring many units reuses one buffer.
    pub fn encode_into(&self, context: &Map<String, Value>, out: &mut Vec<f64>) {
        out.clear();
        out.push(1.0);
        for f in &self.fields {
            match f {
                FieldEncoding::Numeric { field, mean, sd } => {
                    let v = context.get(field).and_then(number_of);
                    let z = v.map_or(0.0, |v| ((v - mean) / sd).clamp(-CLIP_SDS, CLIP_SDS));
                    out.push(if z.is_finite() { z } else { 0.0 });
                }
                FieldEncoding::Text { field, levels } => {
                    let start = out.len();
                    out.resize(start + levels.len() + 1, 0.0);
                    let at = context
                        .get(field)
                        .filter(|v| !v.is_null())
                        .and_then(|v| {
                            let t = text_of(v);
                            levels.iter().position(|l| *l == t)
                        })
                        .unwrap_or(levels.len());
                    out[start + at] = 1.0;
                }
            }
        }
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A number, or a string that spells one (a storefront that quotes its numbers).
fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
