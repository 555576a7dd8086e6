//! The forecast's own encoding of a context into features, learned from the training
//! history: an indicator per text value seen often enough (the most common value of each
//! field is the reference, so indicators never sum to the intercept), and for each numeric
//! field its standardised value and, when it is never negative, its standardised log1p — spend
//! and order counts act on conversion roughly by their logarithm, and a forecast that
//! extrapolates a linear term of a heavy-tailed field to a new audience goes wrong fast.
//! It also answers which text values the history never saw (a segment with no past units).

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

const MAX_VALUES_PER_FIELD: usize = 30;
const MIN_VALUE_SHARE: f64 = 0.005;
const CLIP_SD: f64 = 5.0;

#[derive(Debug, Clone, PartialEq)]
enum Column {
    Category {
        field: String,
        value: String,
    },
    Number {
        field: String,
        log: bool,
        mean: f64,
        sd: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Encoder {
    columns: Vec<Column>,
    /// Every text value seen per text field (for the support check), however rare.
    seen: BTreeMap<String, BTreeSet<String>>,
}

pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn stats(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

impl Encoder {
    pub fn learn<'a>(contexts: impl Iterator<Item = &'a Map<String, Value>>) -> Encoder {
        let mut counts: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut numbers: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut n = 0u64;
        for ctx in contexts {
            n += 1;
            for (field, v) in ctx {
                if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                    numbers.entry(field.clone()).or_default().push(x);
                } else if let Some(t) = text_of(v) {
                    *counts
                        .entry(field.clone())
                        .or_default()
                        .entry(t)
                        .or_default() += 1;
                }
            }
        }
        let mut columns = Vec::new();
        let mut seen = BTreeMap::new();
        let min_count = (MIN_VALUE_SHARE * n as f64).ceil().max(1.0) as u64;
        for (field, values) in counts {
            if numbers.contains_key(&field) {
                continue;
            }
            seen.insert(field.clone(), values.keys().cloned().collect());
            let mut v: Vec<(String, u64)> = values.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            // The first (most common) value is the reference level.
            columns.extend(
                v.into_iter()
                    .skip(1)
                    .filter(|(_, c)| *c >= min_count)
                    .take(MAX_VALUES_PER_FIELD)
                    .map(|(value, _)| Column::Category {
                        field: field.clone(),
                        value,
                    }),
            );
        }
        for (field, xs) in numbers {
            if xs.len() < 2 {
                continue;
            }
            let (mean, sd) = stats(&xs);
            if sd > 0.0 {
                columns.push(Column::Number {
                    field: field.clone(),
                    log: false,
                    mean,
                    sd,
                });
            }
            if xs.iter().all(|x| *x >= 0.0) {
                let logs: Vec<f64> = xs.iter().map(|x| x.ln_1p()).collect();
                let (mean, sd) = stats(&logs);
                if sd > 0.0 {
                    columns.push(Column::Number {
                        field,
                        log: true,
                        mean,
                        sd,
                    });
                }
            }
        }
        Encoder { columns, seen }
    }

    pub fn len(&self) -> usize {
        self.columns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c {
                Column::Category { field, value } => format!("{field}={value}"),
                Column::Number {
                    field, log: false, ..
                } => field.clone(),
                Column::Number {
                    field, log: true, ..
                } => format!("ln1p({field})"),
            })
            .collect()
    }

    /// Writes the features of one context into `out` (cleared first). A missing number is
    /// the training mean (0 after standardising).
    pub fn encode(&self, ctx: &Map<String, Value>, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.columns.iter().map(|c| {
            match c {
                Column::Category { field, value } => f64::from(u8::from(
                    ctx.get(field).and_then(text_of).as_ref() == Some(value),
                )),
                Column::Number {
                    field,
                    log,
                    mean,
                    sd,
                } => ctx
                    .get(field)
                    .and_then(Value::as_f64)
                    .filter(|x| x.is_finite())
                    .map_or(0.0, |x| {
                        let x = if *log { x.max(0.0).ln_1p() } else { x };
                        ((x - mean) / sd).clamp(-CLIP_SD, CLIP_SD)
                    }),
            }
        }));
    }

    /// The (field, value) pairs of `ctx` whose text value the history never saw.
    pub fn unseen<'a>(&'a self, ctx: &'a Map<String, Value>) -> Vec<(&'a str, String)> {
        self.seen
            .iter()
            .filter_map(|(field, values)| {
                let t = ctx.get(field).and_then(text_of)?;
                (!values.contains(&t)).then_some((field.as_str(), t))
            })
            .collect()
    }

    /// Text fields the encoder knows, for the segment breakdown.
    pub fn text_fields(&self) -> impl Iterator<Item = &str> {
        self.seen.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: serde_json::Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn the_commonest_value_is_the_reference_and_numbers_get_a_log_twin() {
        let rows: Vec<_> = (0..100)
            .map(|i| {
                ctx(
                    json!({"device": if i % 3 == 0 { "desktop" } else { "mobile" },
                            "pre_value": f64::from(i), "delta": f64::from(i) - 50.0}),
                )
            })
            .collect();
        let e = Encoder::learn(rows.iter());
        assert_eq!(
            e.names(),
            ["device=desktop", "delta", "pre_value", "ln1p(pre_value)"]
        );
        let mut out = Vec::new();
        e.encode(&ctx(json!({"device": "desktop"})), &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0, 0.0]);
        let other = ctx(json!({"device": "tv", "region": "eu"}));
        let unseen = e.unseen(&other);
        assert_eq!(unseen, [("device", "tv".to_string())]);
    }
}
