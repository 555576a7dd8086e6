//! Conditional average treatment effects per segment of a context field (CATE by segment).
//!
//! For every (field, value, treatment arm) the effect against control inside the segment is
//! the difference of the arms' Hájek means with its linearised interval (`ipw::contrast`, the
//! plain difference when propensities are constant). Testing many segments finds some
//! "significant" by chance, so the p-values of every segment of every field and arm are
//! adjusted together, by Holm (family-wise error) and Benjamini-Hochberg (false discovery
//! rate), the stats module's corrections. Whether the effect differs across a field's
//! segments is Cochran's Q test: Q = Σ w_i·(d_i - d̄)² with w_i = 1/se_i² and d̄ the
//! inverse-variance weighted mean, chi-square with k - 1 degrees of freedom under a common
//! effect (the segments hold disjoint units, so their estimates are independent). Pure.

use super::ipw::{contrast, ArmMoments};
use crate::stats::multiple::{benjamini_hochberg, holm};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};

/// One segment's effect of one treatment arm against control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentEffect {
    pub value: String,
    pub units_treated: u64,
    pub units_control: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<SegmentEstimate>,
    /// Why there is no estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentEstimate {
    pub diff: f64,
    pub se: f64,
    pub ci: (f64, f64),
    pub p_value: f64,
    /// Holm-adjusted across every segment estimate of the report.
    pub p_holm: f64,
    /// Benjamini-Hochberg-adjusted across the same family.
    pub p_bh: f64,
}

/// Cochran's Q across one field's segments.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Heterogeneity {
    pub q: f64,
    pub df: u64,
    pub p_value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSegments {
    pub field: String,
    pub arm: String,
    pub segments: Vec<SegmentEffect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heterogeneity: Option<Heterogeneity>,
}

/// One field's segments as accumulated: per value, the outcome moments of every arm.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldInput {
    pub field: String,
    pub values: Vec<(String, Vec<ArmMoments>)>,
}

/// The effects of every arm but `control` (an index into `arms`) in every segment of every
/// field, with the family-wide adjustments and each field's heterogeneity test.
pub fn segment_effects(
    fields: &[FieldInput],
    arms: &[String],
    control: usize,
    alpha: f64,
) -> Vec<FieldSegments> {
    let mut out = Vec::new();
    for f in fields {
        for (a, arm) in arms.iter().enumerate().filter(|(a, _)| *a != control) {
            let segments = f
                .values
                .iter()
                .map(|(value, m)| one_segment(value, m.get(a), m.get(control), alpha))
                .collect();
            out.push(FieldSegments {
                field: f.field.clone(),
                arm: arm.clone(),
                segments,
                heterogeneity: None,
            });
        }
    }
    adjust_family(&mut out);
    for f in &mut out {
        f.heterogeneity = cochran_q(&f.segments);
    }
    out
}

fn one_segment(
    value: &str,
    treated: Option<&ArmMoments>,
    control: Option<&ArmMoments>,
    alpha: f64,
) -> SegmentEffect {
    let (t, c) = (
        treated.copied().unwrap_or_default(),
        control.copied().unwrap_or_default(),
    );
    let mut seg = SegmentEffect {
        value: value.to_string(),
        units_treated: t.n,
        units_control: c.n,
        effect: None,
        reason: None,
    };
    if t.n < 2 || c.n < 2 {
        seg.reason = Some("fewer than 2 units in an arm".into());
        return seg;
    }
    match contrast(&t, &c, alpha) {
        Some(e) => {
            seg.effect = Some(SegmentEstimate {
                diff: e.ipw_diff,
                se: e.ipw_se,
                ci: e.ipw_ci,
                p_value: e.p_value,
                p_holm: e.p_value,
                p_bh: e.p_value,
            });
        }
        None => seg.reason = Some("no events or no spread in either arm".into()),
    }
    seg
}

/// Holm and BH over every estimate of the report, written back in place.
fn adjust_family(fields: &mut [FieldSegments]) {
    let raw: Vec<f64> = fields
        .iter()
        .flat_map(|f| {
            f.segments
                .iter()
                .filter_map(|s| s.effect.map(|e| e.p_value))
        })
        .collect();
    let (Some(h), Some(b)) = (holm(&raw), benjamini_hochberg(&raw)) else {
        return;
    };
    let mut i = 0;
    for s in fields.iter_mut().flat_map(|f| f.segments.iter_mut()) {
        if let Some(e) = s.effect.as_mut() {
            e.p_holm = h[i];
            e.p_bh = b[i];
            i += 1;
        }
    }
}

/// Cochran's Q over the segments with an estimate; `None` with fewer than two.
pub fn cochran_q(segments: &[SegmentEffect]) -> Option<Heterogeneity> {
    let est: Vec<(f64, f64)> = segments
        .iter()
        .filter_map(|s| s.effect)
        .filter(|e| e.se > 0.0)
        .map(|e| (e.diff, 1.0 / (e.se * e.se)))
        .collect();
    if est.len() < 2 {
        return None;
    }
    let sw: f64 = est.iter().map(|e| e.1).sum();
    let mean = est.iter().map(|e| e.0 * e.1).sum::<f64>() / sw;
    let q: f64 = est.iter().map(|(d, w)| w * (d - mean).powi(2)).sum();
    let df = est.len() as u64 - 1;
    let p_value = ChiSquared::new(df as f64).ok().map(|c| 1.0 - c.cdf(q))?;
    (q.is_finite() && p_value.is_finite()).then_some(Heterogeneity { q, df, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_effects_have_q_zero() {
        let e = |d: f64| SegmentEffect {
            value: String::new(),
            units_treated: 10,
            units_control: 10,
            effect: Some(SegmentEstimate {
                diff: d,
                se: 0.1,
                ci: (0.0, 0.0),
                p_value: 0.5,
                p_holm: 0.5,
                p_bh: 0.5,
            }),
            reason: None,
        };
        let h = cochran_q(&[e(0.2), e(0.2)]).expect("q");
        assert!(h.q.abs() < 1e-12 && (h.p_value - 1.0).abs() < 1e-12 && h.df == 1);
        assert!(cochran_q(&[e(0.2)]).is_none());
    }
}
