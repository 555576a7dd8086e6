//! How good a trained conversion model is, from labels and its predicted probabilities:
//! AUC with a seeded percentile-bootstrap interval, log loss, normalised entropy, Brier score,
//! and calibration (equal-width reliability bins and the expected calibration error). Pure:
//! slices in, numbers out; `y` and `p` are paired by position and must have equal lengths.

use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::logistic::{auc, log_loss};

/// One reliability bin: predictions in (lower, upper] (the first bin also takes 0), how many,
/// their mean, and the share of them that converted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ReliabilityBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// AUC and its percentile-bootstrap interval at `level`. `resamples` counts the resamples
/// used: one that drew a single class has no AUC and is left out.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct AucInterval {
    pub auc: f64,
    pub lo: f64,
    pub hi: f64,
    pub level: f64,
    pub resamples: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct EvalOptions {
    /// Equal-width reliability bins over [0, 1].
    pub bins: usize,
    /// Bootstrap resamples for the AUC interval; 0 skips the interval.
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            bins: 10,
            resamples: 1000,
            level: 0.95,
            seed: 1,
        }
    }
}

/// Every metric of one model version on one set of rows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    pub rows: usize,
    pub positives: usize,
    pub base_rate: f64,
    pub log_loss: f64,
    pub normalised_entropy: f64,
    pub brier: f64,
    /// `None` without both classes.
    pub auc: Option<f64>,
    /// `None` without both classes or with `resamples` 0.
    pub auc_interval: Option<AucInterval>,
    pub bins: Vec<ReliabilityBin>,
    pub ece: f64,
}

pub fn evaluate(y: &[f64], p: &[f64], opts: &EvalOptions) -> Evaluation {
    let positives = y.iter().filter(|v| **v > 0.5).count();
    let bins = reliability_bins(y, p, opts.bins);
    Evaluation {
        rows: y.len(),
        positives,
        base_rate: positives as f64 / y.len().max(1) as f64,
        log_loss: log_loss(y, p),
        normalised_entropy: normalised_entropy(y, p),
        brier: brier_score(y, p),
        auc: auc(p, y),
        auc_interval: if opts.resamples > 0 {
            auc_bootstrap(p, y, opts.resamples, opts.level, opts.seed)
        } else {
            None
        },
        ece: expected_calibration_error(&bins),
        bins,
    }
}

/// Mean squared difference between prediction and outcome; NaN on no rows.
pub fn brier_score(y: &[f64], p: &[f64]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    y.iter().zip(p).map(|(y, p)| (p - y) * (p - y)).sum::<f64>() / y.len() as f64
}

/// Log loss divided by the entropy of always predicting the observed base rate: below 1 the
/// model knows more than the average, 1 means it learned nothing. NaN when the rows hold only
/// one class (the baseline is then perfect and the ratio undefined).
pub fn normalised_entropy(y: &[f64], p: &[f64]) -> f64 {
    if y.is_empty() {
        return f64::NAN;
    }
    let rate = y.iter().filter(|v| **v > 0.5).count() as f64 / y.len() as f64;
    if rate <= 0.0 || rate >= 1.0 {
        return f64::NAN;
    }
    let base = -(rate * rate.ln() + (1.0 - rate) * (1.0 - rate).ln());
    log_loss(y, p) / base
}

/// Equal-width bins over [0, 1]: bin k holds predictions in (k/n, (k+1)/n], the first also
/// 0, the way scikit-learn's `calibration_curve(strategy="uniform")` assigns them. Empty bins
/// are left out, as there.
pub fn reliability_bins(y: &[f64], p: &[f64], bins: usize) -> Vec<ReliabilityBin> {
    let bins = bins.max(1);
    let width = 1.0 / bins as f64;
    let mut count = vec![0usize; bins];
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    for (yv, pv) in y.iter().zip(p) {
        // Interior edges strictly below p (an edge k·width computed as numpy's linspace does).
        let k = (1..bins).filter(|&e| e as f64 * width < *pv).count();
        count[k] += 1;
        sum_p[k] += pv;
        sum_y[k] += yv;
    }
    (0..bins)
        .filter(|&k| count[k] > 0)
        .map(|k| ReliabilityBin {
            lower: k as f64 * width,
            upper: if k + 1 == bins {
                1.0
            } else {
                (k + 1) as f64 * width
            },
            count: count[k],
            mean_predicted: sum_p[k] / count[k] as f64,
            observed_rate: sum_y[k] / count[k] as f64,
        })
        .collect()
}

/// Σ over bins of (share of rows in the bin) · |mean predicted − observed rate|; 0 on no rows.
pub fn expected_calibration_error(bins: &[ReliabilityBin]) -> f64 {
    let total: usize = bins.iter().map(|b| b.count).sum();
    if total == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.count as f64 / total as f64 * (b.mean_predicted - b.observed_rate).abs())
        .sum()
}

/// AUC with a percentile-bootstrap interval: `resamples` draws of the rows with replacement
/// (seeded, so the same call gives the same interval), the AUC of each, and the
/// (1 − level)/2 and (1 + level)/2 quantiles (linear interpolation, numpy's default). `None`
/// without both classes or when no resample had both.
pub fn auc_bootstrap(
    scores: &[f64],
    labels: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<AucInterval> {
    let n = scores.len().min(labels.len());
    let point = auc(&scores[..n], &labels[..n])?;
    // Sort once; a resample is then a count per row and its AUC one pass over the tie groups.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut groups = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        if i == n || scores[order[i]] != scores[order[start]] {
            groups.push((start, i));
            start = i;
        }
    }
    let mut rng = Prng::seed_from_u64(seed);
    let mut weight = vec![0u32; n];
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        weight.iter_mut().for_each(|w| *w = 0);
        for _ in 0..n {
            weight[rng.random_range(0..n)] += 1;
        }
        let (mut neg_below, mut wins, mut pos_total) = (0.0, 0.0, 0.0);
        for &(a, b) in &groups {
            let (mut pos, mut neg) = (0.0, 0.0);
            for &i in &order[a..b] {
                let w = f64::from(weight[i]);
                if labels[i] > 0.5 {
                    pos += w;
                } else {
                    neg += w;
                }
            }
            wins += pos * (neg_below + neg / 2.0);
            neg_below += neg;
            pos_total += pos;
        }
        if pos_total > 0.0 && neg_below > 0.0 {
            values.push(wins / (pos_total * neg_below));
        }
    }
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(AucInterval {
        auc: point,
        lo: quantile(&values, (1.0 - level) / 2.0),
        hi: quantile(&values, (1.0 + level) / 2.0),
        level,
        resamples: values.len(),
    })
}

/// Quantile of sorted values with linear interpolation between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + frac * (next - sorted[i]),
        None => sorted[i],
    }
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
