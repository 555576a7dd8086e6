//! Naive, Hájek IPW and AIPW point estimates with their standard errors.

use super::linalg::{ols, predict, solve};
use super::{Estimand, ObservationalError};

/// The units with their fitted propensity and whether trimming kept them.
pub(super) struct Fitted<'a> {
    pub x: &'a [Vec<f64>],
    pub t: &'a [bool],
    pub y: &'a [f64],
    pub e: &'a [f64],
    pub keep: &'a [bool],
}

impl Fitted<'_> {
    fn n(&self) -> usize {
        self.t.len()
    }
    fn p(&self) -> usize {
        self.x.first().map_or(0, Vec::len)
    }
    /// x̃ = (1, x) for the propensity model's score.
    fn xt(&self, i: usize, a: usize) -> f64 {
        if a == 0 {
            1.0
        } else {
            self.x[i][a - 1]
        }
    }
}

/// Difference of the kept arms' means with the Welch standard error.
pub(super) fn naive(f: &Fitted<'_>) -> (f64, f64) {
    let arm = |treated: bool| {
        let ys: Vec<f64> = (0..f.n())
            .filter(|&i| f.keep[i] && f.t[i] == treated)
            .map(|i| f.y[i])
            .collect();
        let m = ys.len() as f64;
        let mean = ys.iter().sum::<f64>() / m;
        let var = if ys.len() > 1 {
            ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (m - 1.0)
        } else {
            0.0
        };
        (mean, var / m)
    };
    let (m1, v1) = arm(true);
    let (m0, v0) = arm(false);
    (m1 - m0, (v1 + v0).sqrt())
}

/// Each unit's weight in its arm for the estimand (zero when trimmed): ATE 1/e and 1/(1-e),
/// ATT 1 for the treated and e/(1-e) for the control units.
pub(super) fn weights(f: &Fitted<'_>, estimand: Estimand) -> Vec<f64> {
    (0..f.n())
        .map(|i| {
            let e = f.e[i];
            match (f.keep[i], f.t[i], estimand) {
                (false, _, _) => 0.0,
                (true, true, Estimand::Ate) => 1.0 / e,
                (true, false, Estimand::Ate) => 1.0 / (1.0 - e),
                (true, true, Estimand::Att) => 1.0,
                (true, false, Estimand::Att) => e / (1.0 - e),
            }
        })
        .collect()
}

/// Hájek IPW: the difference of the arms' weighted means. Its SE is the M-estimation sandwich
/// stacking the logit score (fitted on all units) under the weighted-mean moments, so the
/// propensity's estimation is accounted for; it matches statsmodels' GMM standard error.
pub(super) fn ipw(f: &Fitted<'_>, estimand: Estimand) -> (f64, f64) {
    let (n, k) = (f.n(), f.p() + 1);
    let nf = n as f64;
    let w = weights(f, estimand);
    let mean = |arm: bool| {
        let (s, sw) = (0..n)
            .filter(|&i| f.t[i] == arm)
            .fold((0.0, 0.0), |(s, sw), i| (s + w[i] * f.y[i], sw + w[i]));
        (s / sw, sw / nf)
    };
    let (mu1, wbar1) = mean(true);
    let (mu0, wbar0) = mean(false);
    // d(weight)/d(logit index): ATE treated -(1-e)/e, every control e/(1-e), ATT treated 0.
    let dw = |i: usize| -> f64 {
        if !f.keep[i] {
            return 0.0;
        }
        let e = f.e[i];
        match (f.t[i], estimand) {
            (true, Estimand::Ate) => -(1.0 - e) / e,
            (true, Estimand::Att) => 0.0,
            (false, _) => e / (1.0 - e),
        }
    };
    let mut g1 = vec![0.0; k];
    let mut g0 = vec![0.0; k];
    let mut h = vec![0.0; k * k];
    for i in 0..n {
        let (mu, g) = if f.t[i] {
            (mu1, &mut g1)
        } else {
            (mu0, &mut g0)
        };
        let d = dw(i) * (f.y[i] - mu) / nf;
        let v = f.e[i] * (1.0 - f.e[i]) / nf;
        for a in 0..k {
            g[a] += d * f.xt(i, a);
            for b in 0..k {
                h[a * k + b] += v * f.xt(i, a) * f.xt(i, b);
            }
        }
    }
    // The logit fit succeeded, so H is positive definite; fall back to the known-propensity
    // SE should the solve still fail numerically.
    let z1 = solve(h.clone(), g1, k).unwrap_or_else(|| vec![0.0; k]);
    let z0 = solve(h, g0, k).unwrap_or_else(|| vec![0.0; k]);
    let mut ss = 0.0;
    for (i, wi) in w.iter().enumerate() {
        let score = if f.t[i] { 1.0 } else { 0.0 } - f.e[i];
        let adj = |z: &[f64]| (0..k).map(|a| score * f.xt(i, a) * z[a]).sum::<f64>();
        let (m1, m0) = if f.t[i] {
            (wi * (f.y[i] - mu1), 0.0)
        } else {
            (0.0, wi * (f.y[i] - mu0))
        };
        let infl = (m1 + adj(&z1)) / wbar1 - (m0 + adj(&z0)) / wbar0;
        ss += infl * infl;
    }
    (mu1 - mu0, ss.sqrt() / nf)
}

/// AIPW: outcome models fitted by least squares in each arm on the kept units, augmented by
/// the propensity-weighted residuals. ATE = mean(m1 + T(y-m1)/e) - mean(m0 + (1-T)(y-m0)/(1-e));
/// ATT = [Σ T(y-m0) - Σ (1-T)·e/(1-e)·(y-m0)] / Σ T. SE from the influence function with the
/// fitted models treated as known (valid to first order because the estimator is doubly
/// robust).
pub(super) fn aipw(f: &Fitted<'_>, estimand: Estimand) -> Result<(f64, f64), ObservationalError> {
    let p = f.p();
    let arm = |treated: bool| {
        (0..f.n())
            .filter(move |&i| f.keep[i] && f.t[i] == treated)
            .map(|i| (f.x[i].as_slice(), f.y[i]))
    };
    let enough = |treated: bool| arm(treated).count() > p;
    let c1 = enough(true)
        .then(|| ols(arm(true), p))
        .flatten()
        .ok_or(ObservationalError::OutcomeModel("treated"))?;
    let c0 = enough(false)
        .then(|| ols(arm(false), p))
        .flatten()
        .ok_or(ObservationalError::OutcomeModel("control"))?;
    let kept: Vec<usize> = (0..f.n()).filter(|&i| f.keep[i]).collect();
    let m = kept.len() as f64;
    match estimand {
        Estimand::Ate => {
            let terms: Vec<(f64, f64)> = kept
                .iter()
                .map(|&i| {
                    let (m1, m0, e, y) =
                        (predict(&c1, &f.x[i]), predict(&c0, &f.x[i]), f.e[i], f.y[i]);
                    if f.t[i] {
                        (m1 + (y - m1) / e, m0)
                    } else {
                        (m1, m0 + (y - m0) / (1.0 - e))
                    }
                })
                .collect();
            let a1 = terms.iter().map(|t| t.0).sum::<f64>() / m;
            let a0 = terms.iter().map(|t| t.1).sum::<f64>() / m;
            let ss: f64 = terms
                .iter()
                .map(|(x1, x0)| ((x1 - a1) - (x0 - a0)).powi(2))
                .sum();
            Ok((a1 - a0, ss.sqrt() / m))
        }
        Estimand::Att => {
            let r: Vec<(f64, f64)> = kept
                .iter()
                .map(|&i| {
                    let (m0, e, y) = (predict(&c0, &f.x[i]), f.e[i], f.y[i]);
                    if f.t[i] {
                        (y - m0, 1.0)
                    } else {
                        (-e / (1.0 - e) * (y - m0), 0.0)
                    }
                })
                .collect();
            let treated = r.iter().map(|v| v.1).sum::<f64>();
            let tau = r.iter().map(|v| v.0).sum::<f64>() / treated;
            let share = treated / m;
            let ss: f64 = r
                .iter()
                .map(|(ri, ti)| ((ri - ti * tau) / share).powi(2))
                .sum();
            Ok((tau, ss.sqrt() / m))
        }
    }
}
