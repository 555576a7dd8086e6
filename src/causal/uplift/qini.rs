//! How well a ranking by predicted uplift finds the units the offer changes: the Qini curve and
//! coefficient, the cumulative-gain curve and its area (AUUC), normalised as CausalML 0.18's
//! `get_qini`/`qini_score` and `get_cumgain`/`auuc_score` do, and the observed uplift per
//! decile of the ranking.
//!
//! Units are ranked by score, highest first; equal scores keep their input order (CausalML's
//! pandas sort does not promise an order for ties, so goldens use distinct scores). For the
//! top k units (k = 1..n), with t/c treated/control counts and Yt/Yc their conversions:
//! - Qini q(k) = Yt − Yc·t/c: the treated conversions the offer caused, counted on the treated;
//! - gain g(k) = (Yt/t − Yc/c)·k: the uplift rate of the top k times its size.
//!
//! A prefix without both arms has no value; as in CausalML the curve is 0 at k = 0 and such
//! points are filled by straight lines between their neighbours (the last value carried on at
//! the end). Normalised curves are divided by |value at n|, so they end at ±1.

use serde::{Deserialize, Serialize};

/// One held-out unit as the evaluation sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Predicted uplift (any monotone score works for the curves).
    pub score: f64,
    pub treated: bool,
    /// The outcome, 1/0 for conversion.
    pub outcome: f64,
}

/// Indices of `units` by score, highest first, ties in input order.
pub fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx
}

/// Running sums over the ranking: (treated, control, treated outcome, control outcome) after
/// each of the first k units, k = 1..n.
fn prefix_sums(units: &[Scored]) -> Vec<(f64, f64, f64, f64)> {
    let scores: Vec<f64> = units.iter().map(|u| u.score).collect();
    let (mut t, mut c, mut yt, mut yc) = (0.0, 0.0, 0.0, 0.0);
    ranking(&scores)
        .into_iter()
        .map(|i| {
            let u = units[i];
            if u.treated {
                t += 1.0;
                yt += u.outcome;
            } else {
                c += 1.0;
                yc += u.outcome;
            }
            (t, c, yt, yc)
        })
        .collect()
}

/// Replaces NaN points by straight lines between the nearest finite neighbours (by position),
/// carrying the last finite value on at the end, as pandas' default `interpolate` does.
fn fill_gaps(v: &mut [f64]) {
    let mut last: Option<usize> = None;
    for i in 0..v.len() {
        if v[i].is_nan() {
            continue;
        }
        if let Some(a) = last {
            let (va, vb) = (v[a], v[i]);
            for (j, x) in v.iter_mut().enumerate().take(i).skip(a + 1) {
                *x = va + (vb - va) * (j - a) as f64 / (i - a) as f64;
            }
        }
        last = Some(i);
    }
    if let Some(a) = last {
        let va = v[a];
        for x in v.iter_mut().skip(a + 1) {
            *x = va;
        }
    }
}

/// Divides by |last point|; `None` when the curve ends at 0 (no incremental outcome overall).
fn normalised(mut v: Vec<f64>) -> Option<Vec<f64>> {
    let end = v.last().copied()?.abs();
    if end.is_nan() || end <= 0.0 || !end.is_finite() {
        return None;
    }
    for x in &mut v {
        *x /= end;
    }
    Some(v)
}

/// The Qini curve, n + 1 points (k = 0..n), unnormalised: CausalML's `get_qini(normalize=False)`.
pub fn qini_curve(units: &[Scored]) -> Vec<f64> {
    let mut v = Vec::with_capacity(units.len() + 1);
    v.push(0.0);
    for (t, c, yt, yc) in prefix_sums(units) {
        v.push(if t > 0.0 && c > 0.0 {
            yt - yc * t / c
        } else {
            f64::NAN
        });
    }
    fill_gaps(&mut v);
    v
}

/// The cumulative-gain curve, n + 1 points, unnormalised: CausalML's `get_cumgain`.
pub fn gain_curve(units: &[Scored]) -> Vec<f64> {
    let mut lift = Vec::with_capacity(units.len() + 1);
    lift.push(0.0);
    for (t, c, yt, yc) in prefix_sums(units) {
        lift.push(if t > 0.0 && c > 0.0 {
            yt / t - yc / c
        } else {
            f64::NAN
        });
    }
    fill_gaps(&mut lift);
    lift.iter().enumerate().map(|(k, l)| l * k as f64).collect()
}

/// CausalML's `qini_score` (normalize=True): the mean over the n + 1 points of the normalised
/// Qini curve minus the straight line from its first to its last point (random targeting).
/// `None` when the curve ends at 0.
pub fn qini_coefficient(curve: &[f64]) -> Option<f64> {
    let q = normalised(curve.to_vec())?;
    let m = q.len() as f64;
    let (first, last) = (q[0], q[q.len() - 1]);
    let line: f64 = (0..q.len())
        .map(|i| first + (last - first) * i as f64 / (m - 1.0).max(1.0))
        .sum();
    Some((q.iter().sum::<f64>() - line) / m)
}

/// CausalML's `auuc_score` (normalize=True): the mean of the gain curve divided by |its end|.
/// About 0.5 for random targeting, higher when the ranking finds the uplift early.
pub fn auuc(gain: &[f64]) -> Option<f64> {
    let g = normalised(gain.to_vec())?;
    Some(g.iter().sum::<f64>() / g.len() as f64)
}

/// The normalised curve thinned to at most `points` + 1 evenly spaced points (always the first
/// and last), as (share of units targeted, value) for a chart.
pub fn chart_points(curve: &[f64], points: usize) -> Vec<(f64, f64)> {
    let Some(q) = normalised(curve.to_vec()) else {
        return Vec::new();
    };
    let n = q.len() - 1;
    let steps = points.clamp(1, n.max(1));
    let mut out: Vec<(f64, f64)> = (0..=steps)
        .map(|s| {
            let k = (s * n).div_ceil(steps).min(n);
            (k as f64 / n.max(1) as f64, q[k])
        })
        .collect();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// The observed effect among one tenth of the ranking.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Decile {
    /// 1 = the tenth with the highest predicted uplift.
    pub decile: usize,
    pub treated: u64,
    pub control: u64,
    pub treated_rate: Option<f64>,
    pub control_rate: Option<f64>,
    /// Treated rate − control rate; `None` when the tenth lacks an arm.
    pub uplift: Option<f64>,
    pub mean_predicted: f64,
}

/// Uplift by decile of the ranking: decile d holds ranks [⌊(d−1)n/10⌋, ⌊dn/10⌋).
pub fn deciles(units: &[Scored]) -> Vec<Decile> {
    let scores: Vec<f64> = units.iter().map(|u| u.score).collect();
    let order = ranking(&scores);
    let n = order.len();
    (0..10)
        .filter_map(|d| {
            let (lo, hi) = (d * n / 10, (d + 1) * n / 10);
            if lo >= hi {
                return None;
            }
            let (mut t, mut c, mut yt, mut yc, mut s) = (0u64, 0u64, 0.0, 0.0, 0.0);
            for &i in &order[lo..hi] {
                let u = units[i];
                s += u.score;
                if u.treated {
                    t += 1;
                    yt += u.outcome;
                } else {
                    c += 1;
                    yc += u.outcome;
                }
            }
            let tr = (t > 0).then(|| yt / t as f64);
            let cr = (c > 0).then(|| yc / c as f64);
            Some(Decile {
                decile: d + 1,
                treated: t,
                control: c,
                treated_rate: tr,
                control_rate: cr,
                uplift: tr.zip(cr).map(|(a, b)| a - b),
                mean_predicted: s / (hi - lo) as f64,
            })
        })
        .collect()
}
