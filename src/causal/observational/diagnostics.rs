//! Whether the weighted comparison can be trusted: how the arms' propensities overlap, how
//! concentrated the weights are, and whether weighting balanced the covariates.

use super::estimators::Fitted;

/// Equal-width propensity bins on [0, 1].
pub const HISTOGRAM_BINS: usize = 10;
/// A standardised mean difference above this is flagged as imbalance.
pub const BALANCE_FLAG: f64 = 0.1;

#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    /// Units per propensity bin (all units, trimmed ones included), bin b = [b/10, (b+1)/10).
    pub histogram_treated: Vec<usize>,
    pub histogram_control: Vec<usize>,
    /// Kish effective sample size (Σw)² / Σw² of each arm's kept units.
    pub ess_treated: f64,
    pub ess_control: f64,
    /// Share of the total weight held by the heaviest 1% of kept units (at least one unit).
    pub top1_weight_share: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CovariateBalance {
    pub name: String,
    /// (treated mean − control mean) / pooled SD, on the kept units, unweighted.
    pub smd_before: f64,
    /// The same with the estimand's weights in the means; the unweighted pooled SD stays the
    /// denominator so the change reflects the means alone.
    pub smd_after: f64,
    /// |smd_before| above [`BALANCE_FLAG`]: the arms differed before weighting.
    pub flagged_before: bool,
    /// |smd_after| above [`BALANCE_FLAG`]: weighting left this covariate imbalanced.
    pub flagged: bool,
}

pub(super) fn overlap(f: &Fitted<'_>, w: &[f64]) -> Overlap {
    let mut histogram_treated = vec![0; HISTOGRAM_BINS];
    let mut histogram_control = vec![0; HISTOGRAM_BINS];
    for (&e, &t) in f.e.iter().zip(f.t) {
        let bin = ((e * HISTOGRAM_BINS as f64) as usize).min(HISTOGRAM_BINS - 1);
        if t {
            histogram_treated[bin] += 1;
        } else {
            histogram_control[bin] += 1;
        }
    }
    let ess = |arm: bool| {
        let (s, s2) = (0..w.len())
            .filter(|&i| f.keep[i] && f.t[i] == arm)
            .fold((0.0, 0.0), |(s, s2), i| (s + w[i], s2 + w[i] * w[i]));
        if s2 > 0.0 {
            s * s / s2
        } else {
            0.0
        }
    };
    let mut kept: Vec<f64> = (0..w.len()).filter(|&i| f.keep[i]).map(|i| w[i]).collect();
    kept.sort_by(|a, b| b.total_cmp(a));
    let top = kept.len().div_ceil(100).max(1);
    let total: f64 = kept.iter().sum();
    let top1_weight_share = if total > 0.0 {
        kept.iter().take(top).sum::<f64>() / total
    } else {
        0.0
    };
    Overlap {
        histogram_treated,
        histogram_control,
        ess_treated: ess(true),
        ess_control: ess(false),
        top1_weight_share,
    }
}

pub(super) fn balance(f: &Fitted<'_>, w: &[f64], names: &[String]) -> Vec<CovariateBalance> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let stats = |arm: bool, weighted: bool| {
                let (mut s, mut sw, mut s2, mut m) = (0.0, 0.0, 0.0, 0.0);
                for i in (0..f.t.len()).filter(|&i| f.keep[i] && f.t[i] == arm) {
                    let wi = if weighted { w[i] } else { 1.0 };
                    let v = f.x[i][j];
                    s += wi * v;
                    sw += wi;
                    s2 += v * v;
                    m += 1.0;
                }
                let mean = s / sw;
                let raw_mean = if weighted { f64::NAN } else { mean };
                let var = if m > 1.0 {
                    (s2 - m * raw_mean * raw_mean) / (m - 1.0)
                } else {
                    0.0
                };
                (mean, var)
            };
            let (t_mean, t_var) = stats(true, false);
            let (c_mean, c_var) = stats(false, false);
            let sd = ((t_var + c_var) / 2.0).max(0.0).sqrt();
            let smd = |d: f64| if sd > 0.0 { d / sd } else { 0.0 };
            let (tw, _) = stats(true, true);
            let (cw, _) = stats(false, true);
            let smd_after = smd(tw - cw);
            let smd_before = smd(t_mean - c_mean);
            CovariateBalance {
                name: name.clone(),
                smd_before,
                flagged_before: smd_before.abs() > BALANCE_FLAG,
                smd_after,
                flagged: smd_after.abs() > BALANCE_FLAG,
            }
        })
        .collect()
}
