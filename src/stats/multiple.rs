//! Multiple-testing adjustment across the arms and metrics of one campaign.
//!
//! Owns Holm–Bonferroni (controls the family-wise error rate) and Benjamini–Hochberg
//! (controls the false discovery rate) adjusted p-values, chosen per campaign. Results come
//! back in input order, capped at 1 and made monotone in the sorted order exactly as
//! `statsmodels.stats.multitest.multipletests` does, so a reader can compare them with the
//! raw p-values row by row and reject where `adjusted <= alpha`.

/// Which adjustment a campaign uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    Holm,
    BenjaminiHochberg,
}

/// Adjusts `p_values` by `method`; see [`holm`] and [`benjamini_hochberg`].
pub fn adjust(p_values: &[f64], method: Adjustment) -> Option<Vec<f64>> {
    match method {
        Adjustment::Holm => holm(p_values),
        Adjustment::BenjaminiHochberg => benjamini_hochberg(p_values),
    }
}

/// Indices of `p_values` in ascending order of p. `None` if any value is not a probability:
/// a NaN would otherwise silently land somewhere in the order and poison its neighbours.
fn ascending_order(p_values: &[f64]) -> Option<Vec<usize>> {
    if !p_values.iter().all(|p| (0.0..=1.0).contains(p)) {
        return None;
    }
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    // Stable sort: tied p-values keep their input order (their adjusted values are equal anyway).
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    Some(order)
}

/// Holm step-down: with ranks `j = 1..m` in ascending order,
/// `adj_(i) = max_{j <= i} min(1, (m - j + 1)·p_(j))`. The running maximum keeps a smaller
/// raw p-value from ever getting a larger adjusted one.
pub fn holm(p_values: &[f64]) -> Option<Vec<f64>> {
    let order = ascending_order(p_values)?;
    let m = p_values.len() as f64;
    let mut adjusted = vec![0.0; p_values.len()];
    let mut running_max = 0.0_f64;
    for (rank0, &i) in order.iter().enumerate() {
        let factor = m - rank0 as f64;
        running_max = running_max.max((factor * p_values[i]).min(1.0));
        adjusted[i] = running_max;
    }
    Some(adjusted)
}

/// Benjamini–Hochberg step-up: `adj_(i) = min_{j >= i} min(1, m·p_(j) / j)`, a running
/// minimum taken from the largest p-value down.
pub fn benjamini_hochberg(p_values: &[f64]) -> Option<Vec<f64>> {
    let order = ascending_order(p_values)?;
    let m = p_values.len() as f64;
    let mut adjusted = vec![0.0; p_values.len()];
    let mut running_min = 1.0_f64;
    for (rank0, &i) in order.iter().enumerate().rev() {
        let rank = rank0 as f64 + 1.0;
        running_min = running_min.min(m * p_values[i] / rank);
        adjusted[i] = running_min;
    }
    Some(adjusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_gives_empty_output() {
        assert_eq!(holm(&[]), Some(vec![]));
        assert_eq!(benjamini_hochberg(&[]), Some(vec![]));
    }

    #[test]
    fn values_that_are_not_probabilities_are_refused() {
        for bad in [f64::NAN, -0.1, 1.5, f64::INFINITY] {
            assert_eq!(adjust(&[0.01, bad], Adjustment::Holm), None);
            assert_eq!(adjust(&[0.01, bad], Adjustment::BenjaminiHochberg), None);
        }
    }

    #[test]
    fn single_p_value_is_unchanged() {
        assert_eq!(holm(&[0.03]), Some(vec![0.03]));
        assert_eq!(benjamini_hochberg(&[0.03]), Some(vec![0.03]));
    }

    #[test]
    fn adjusted_values_are_capped_and_never_below_raw() {
        let p = [0.9, 0.5, 0.04, 0.0, 1.0, 0.04];
        for method in [Adjustment::Holm, Adjustment::BenjaminiHochberg] {
            let adj = adjust(&p, method).unwrap_or_default();
            assert_eq!(adj.len(), p.len());
            for (a, raw) in adj.iter().zip(p) {
                assert!(*a >= raw && *a <= 1.0, "{method:?} {a} {raw}");
            }
            assert_eq!(adj[2], adj[5], "ties share one adjusted value");
        }
    }
}
