//! Multiple testing across arms *and* metrics. A report answers several questions at once:
//! does each treatment arm move the report's metric, and does any arm harm a guardrail? Every
//! one of those tests is a chance of a false alarm, so the report also gives each p-value
//! adjusted over that whole family (Holm or Benjamini-Hochberg, the campaign's choice), next
//! to the per-metric adjustment across arms. Guardrail breaches stay on the unadjusted test:
//! for a safety check a false alarm is the cheaper mistake.

use super::ab::AbReport;
use super::multiple::{adjust, Adjustment};

/// Fills `family_adj_p_value` of every arm with a p-value and `adj_p_worse` of every
/// guardrail check with one, adjusting them all together. Rows without a p-value stay `None`
/// and do not count towards the family.
pub fn adjust_family(report: &mut AbReport, method: Adjustment) {
    let arms: Vec<(usize, f64)> = report
        .arms
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((i, a.p_value?)))
        .collect();
    let guards: Vec<(usize, f64)> = report
        .guardrails
        .iter()
        .enumerate()
        .filter_map(|(i, g)| Some((i, g.p_worse?)))
        .collect();
    let ps: Vec<f64> = arms.iter().chain(&guards).map(|(_, p)| *p).collect();
    let Some(adjusted) = adjust(&ps, method) else {
        return;
    };
    let (for_arms, for_guards) = adjusted.split_at(arms.len());
    for ((i, _), q) in arms.iter().zip(for_arms) {
        report.arms[*i].family_adj_p_value = Some(*q);
    }
    for ((i, _), q) in guards.iter().zip(for_guards) {
        report.guardrails[*i].adj_p_worse = Some(*q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ab::{ab_report, ArmRow, GuardrailRow, Metric, Options};

    #[test]
    fn one_family_over_arms_and_guardrails() {
        let mut r = ab_report("k", Some("a"), Metric::Conversion, &[], &Options::default());
        r.arms = vec![
            ArmRow::default(),
            ArmRow {
                p_value: Some(0.01),
                ..ArmRow::default()
            },
            ArmRow {
                p_value: Some(0.04),
                ..ArmRow::default()
            },
        ];
        let guard = |p| GuardrailRow {
            metric: Metric::Profit,
            arm: "b".into(),
            rel_lift: None,
            p_worse: p,
            breached: false,
            adj_p_worse: None,
        };
        r.guardrails = vec![guard(Some(0.03)), guard(None)];
        adjust_family(&mut r, Adjustment::Holm);
        // Holm over {0.01, 0.04, 0.03}: 0.03, then max(0.03, 2·0.03) = 0.06, then 0.06.
        assert_eq!(r.arms[0].family_adj_p_value, None);
        assert!((r.arms[1].family_adj_p_value.unwrap_or(0.0) - 0.03).abs() < 1e-15);
        assert!((r.arms[2].family_adj_p_value.unwrap_or(0.0) - 0.06).abs() < 1e-15);
        assert!((r.guardrails[0].adj_p_worse.unwrap_or(0.0) - 0.06).abs() < 1e-15);
        assert_eq!(r.guardrails[1].adj_p_worse, None);
        adjust_family(&mut r, Adjustment::BenjaminiHochberg);
        // BH: 0.01·3/1 = 0.03; 0.03·3/2 = 0.045; 0.04·3/3 = 0.04 -> monotone 0.04, 0.04.
        assert!((r.arms[1].family_adj_p_value.unwrap_or(0.0) - 0.03).abs() < 1e-15);
        assert!((r.arms[2].family_adj_p_value.unwrap_or(0.0) - 0.04).abs() < 1e-15);
        assert!((r.guardrails[0].adj_p_worse.unwrap_or(0.0) - 0.04).abs() < 1e-15);
    }
}
