//! A trained version measured against the known truth, on the simulated shop: when every
//! validation unit's stored context is a simulated shopper's (the demo campaigns, `sim`
//! traffic), each unit's true purchase (or click) probability under its arm's offer is known
//! in closed form (`sim::true_rates`), so the result shows how far the model is from the best
//! any model could do, not only from the base rate.

use crate::domain::{Arm, Offer};
use crate::model::log_loss;
use crate::sim::true_rates;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The model's validation predictions beside the true probabilities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthCheck {
    pub units: usize,
    /// Log loss of the true probabilities on the validation labels: the best any model can
    /// expect (up to sampling noise).
    pub truth_log_loss: f64,
    /// The model's log loss on the same units.
    pub model_log_loss: f64,
    /// Mean |p - p_true| over the units.
    pub mean_abs_error: f64,
    /// Pearson correlation of p with p_true; absent when either never varies.
    #[serde(default)]
    pub correlation: Option<f64>,
}

/// `(context, arm)` of each validation unit with its label and the model's prediction,
/// against the truth; `None` unless every unit is a simulated shopper on a known arm.
/// `clicks`: the campaign's metric is the click, so the truth is the click probability.
pub fn check_against_truth(
    units: &[(&Map<String, Value>, &str)],
    arms: &[Arm],
    y: &[f64],
    p: &[f64],
    clicks: bool,
) -> Option<TruthCheck> {
    if units.is_empty() || units.len() != y.len() || units.len() != p.len() {
        return None;
    }
    let offers: HashMap<&str, &Offer> = arms.iter().map(|a| (a.key.as_str(), &a.offer)).collect();
    let truth: Vec<f64> = units
        .iter()
        .map(|(context, arm)| {
            let r = true_rates(context, offers.get(arm)?)?;
            Some(if clicks { r.click } else { r.purchase })
        })
        .collect::<Option<_>>()?;
    let n = truth.len() as f64;
    let mean_abs_error = p
        .iter()
        .zip(&truth)
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / n;
    Some(TruthCheck {
        units: truth.len(),
        truth_log_loss: log_loss(y, &truth),
        model_log_loss: log_loss(y, p),
        mean_abs_error,
        correlation: correlation(p, &truth),
    })
}

fn correlation(a: &[f64], b: &[f64]) -> Option<f64> {
    // A constant (the base rate) has no correlation; rounding would make one up.
    let constant = |v: &[f64]| v.iter().all(|x| *x == v[0]);
    if a.is_empty() || constant(a) || constant(b) {
        return None;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    let r = sab / (saa * sbb).sqrt();
    r.is_finite().then_some(r)
}

/// The truth block of `liftdeck train`'s text output.
pub fn format_text(t: &TruthCheck) -> String {
    // Short lines, so the Models panel shows them whole at 80 columns, as the CLI prints them.
    format!(
        "  against the known truth, on {} units:\n    true-probability log loss {:.4}, \
         model {:.4} ({})\n    mean |p - p_true| {:.4}  correlation with p_true {}\n",
        crate::format::count(t.units as i64),
        t.truth_log_loss,
        t.model_log_loss,
        crate::format::lift(t.model_log_loss / t.truth_log_loss - 1.0),
        t.mean_abs_error,
        crate::format::opt(t.correlation, |r| format!("{r:.3}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Shop;

    fn arms() -> Vec<Arm> {
        let arm = |key: &str, offer| Arm {
            id: 0,
            key: key.into(),
            weight: 1.0,
            offer,
        };
        vec![
            arm("control", Offer::None),
            arm("coupon", Offer::Coupon { pct: 10.0 }),
        ]
    }

    #[test]
    fn the_truth_scores_itself_perfectly_and_foreign_contexts_give_none() {
        let mut shop = Shop::new(3);
        let contexts: Vec<_> = (0..500).map(|_| shop.next_shopper().context()).collect();
        let units: Vec<(&Map<String, Value>, &str)> = contexts
            .iter()
            .enumerate()
            .map(|(i, c)| (c, if i % 2 == 0 { "control" } else { "coupon" }))
            .collect();
        let arms = arms();
        let truth: Vec<f64> = units
            .iter()
            .map(|(c, a)| {
                let offer = &arms.iter().find(|x| x.key == *a).expect("arm").offer;
                true_rates(c, offer).expect("a shopper").purchase
            })
            .collect();
        let y: Vec<f64> = (0..500).map(|i| f64::from(u8::from(i % 17 == 0))).collect();
        let t = check_against_truth(&units, &arms, &y, &truth, false).expect("sim");
        assert_eq!(t.mean_abs_error, 0.0);
        assert_eq!(t.truth_log_loss, t.model_log_loss);
        assert!((t.correlation.expect("varies") - 1.0).abs() < 1e-12);
        let flat = vec![0.05; 500];
        let t = check_against_truth(&units, &arms, &y, &flat, false).expect("sim");
        assert!(t.mean_abs_error > 0.0 && t.correlation.is_none());
        // One unit that is not a shopper, or an unknown arm: no truth block.
        let mut other = contexts[0].clone();
        other.insert("device".into(), "phone".into());
        let mut bad = units.clone();
        bad[0] = (&other, "control");
        assert!(check_against_truth(&bad, &arms, &y, &truth, false).is_none());
        bad[0] = (&contexts[0], "nope");
        assert!(check_against_truth(&bad, &arms, &y, &truth, false).is_none());
    }
}
