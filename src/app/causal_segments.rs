//! The segments section of `report causal`: the conversion effect per segment of each
//! categorical context field (CATE by segment), accumulated in the report's one pass over the
//! units. Which fields count as segments, so ids and continuous values do not flood the
//! report with one "segment" per customer:
//! - a field named `id` or ending in `_id` is skipped (an identifier);
//! - a field whose values are not all strings, booleans or whole numbers is skipped
//!   (continuous, or nested);
//! - a field with more than `MAX_SEGMENT_VALUES` distinct values is skipped (high cardinality);
//! - a field with a single value is reported as such: nothing to compare.
//!
//! Units without the field are simply not in any of its segments.

use super::{AppError, Result};
use crate::causal::ipw::ArmMoments;
use crate::causal::segments::{segment_effects, FieldInput, FieldSegments};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// More distinct values than this and a field is not a segmentation.
pub const MAX_SEGMENT_VALUES: usize = 12;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedField {
    pub field: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SegmentsReport {
    /// The outcome the segment effects are on.
    pub outcome: String,
    pub fields: Vec<FieldSegments>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedField>,
}

enum FieldState {
    Values(BTreeMap<String, Vec<ArmMoments>>),
    Skipped(String),
}

/// Per-field, per-value, per-arm moments of the conversion outcome.
pub struct SegmentAccumulator {
    arms: usize,
    by: Option<String>,
    fields: BTreeMap<String, FieldState>,
}

impl SegmentAccumulator {
    /// `by` limits the section to one field (`report causal --by FIELD`).
    pub fn new(arms: usize, by: Option<&str>) -> Result<Self> {
        if let Some(f) = by {
            if f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(AppError::Invalid(format!(
                    "--by `{}`: a context field name uses letters, digits and '_'",
                    crate::text::escape_control(f)
                )));
            }
        }
        Ok(SegmentAccumulator {
            arms,
            by: by.map(str::to_string),
            fields: BTreeMap::new(),
        })
    }

    /// Adds one unit of arm `arm` with its stored context JSON.
    pub fn add(&mut self, context: &str, arm: usize, y: f64, propensity: f64) {
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(context) else {
            return;
        };
        for (name, v) in map {
            if self.by.as_ref().is_some_and(|b| *b != name) {
                continue;
            }
            let arms = self.arms;
            let state = self.fields.entry(name.clone()).or_insert_with(|| {
                if name == "id" || name.ends_with("_id") {
                    FieldState::Skipped("an identifier".into())
                } else {
                    FieldState::Values(BTreeMap::new())
                }
            });
            let FieldState::Values(values) = state else {
                continue;
            };
            let key = match &v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                _ => {
                    *state = FieldState::Skipped("not categorical (numbers or nested)".into());
                    continue;
                }
            };
            if !values.contains_key(&key) && values.len() >= MAX_SEGMENT_VALUES {
                *state = FieldState::Skipped(format!(
                    "more than {MAX_SEGMENT_VALUES} values (high cardinality)"
                ));
                continue;
            }
            let cell = values
                .entry(key)
                .or_insert_with(|| vec![ArmMoments::default(); arms]);
            if let Some(m) = cell.get_mut(arm) {
                m.add(y, propensity);
            }
        }
    }

    /// The section; with `--by` naming a field no unit has, a refusal.
    pub fn finish(self, arms: &[String], control: usize, alpha: f64) -> Result<SegmentsReport> {
        if let Some(b) = &self.by {
            if !self.fields.contains_key(b) {
                return Err(AppError::Invalid(format!(
                    "--by `{}`: no assigned unit has that context field",
                    crate::text::escape_control(b)
                )));
            }
        }
        let mut inputs = Vec::new();
        let mut skipped = Vec::new();
        for (field, state) in self.fields {
            match state {
                FieldState::Skipped(reason) => skipped.push(SkippedField { field, reason }),
                FieldState::Values(v) if v.len() < 2 => skipped.push(SkippedField {
                    field,
                    reason: "a single segment: nothing to compare".into(),
                }),
                FieldState::Values(v) => inputs.push(FieldInput {
                    field,
                    values: v.into_iter().collect(),
                }),
            }
        }
        Ok(SegmentsReport {
            outcome: "conversion".into(),
            fields: segment_effects(&inputs, arms, control, alpha),
            skipped,
        })
    }
}

/// The segments section, each line under 80 columns.
pub fn format_segments(r: &SegmentsReport, alpha: f64) -> String {
    use crate::format;
    use crate::text::escape_control;
    let mut s = String::new();
    if r.fields.is_empty() && r.skipped.is_empty() {
        return s;
    }
    s.push_str(&format!(
        "segments: {} effect per segment ({:.0}% CI; p adjusted over all segments)\n",
        r.outcome,
        100.0 * (1.0 - alpha)
    ));
    for f in &r.fields {
        let het = f.heterogeneity.map_or_else(
            || "heterogeneity: -".to_string(),
            |h| {
                format!(
                    "heterogeneity by {}: Q {:.2} df {} {}",
                    escape_control(&f.field),
                    h.q,
                    h.df,
                    format::p_value_phrase(h.p_value)
                )
            },
        );
        s.push_str(&format!(
            "  {} / {}  {het}\n",
            escape_control(&f.field),
            escape_control(&f.arm)
        ));
        for g in &f.segments {
            let v = escape_control(&g.value);
            match (&g.effect, &g.reason) {
                (Some(e), _) => s.push_str(&format!(
                    "    {v:<12} {:>8} {:<20} Holm {} BH {}\n",
                    format::lift(e.diff),
                    format::interval(Some(e.ci.0), Some(e.ci.1), format::lift),
                    format::p_value(e.p_holm),
                    format::p_value(e.p_bh)
                )),
                (None, reason) => s.push_str(&format!(
                    "    {v:<12} - ({} vs {} units: {})\n",
                    g.units_treated,
                    g.units_control,
                    reason.as_deref().unwrap_or("no estimate")
                )),
            }
        }
    }
    for k in &r.skipped {
        s.push_str(&format!(
            "  {} skipped: {}\n",
            escape_control(&k.field),
            k.reason
        ));
    }
    s
}
