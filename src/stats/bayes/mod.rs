//! Bayesian summaries of an A/B comparison. This module owns:
//! - the Gaussian model of the relative effect, for any metric: the caller supplies the
//!   delta-method estimate and standard error; flat or N(0, 0.3²) prior; posterior, chance to
//!   beat control, credible interval and the expected loss of either decision;
//! - P(arm is best) for independent normal estimates (`normal_prob_best`);
//! - the exact Beta-Binomial model for proportions: P(p_t > p_c) and P(arm is best) by adaptive
//!   Gauss–Kronrod quadrature, and Evan Miller's closed-form sum as an independent cross-check.
//!
//! Pure functions: no I/O, no clock. Undefined results are `None`, never NaN.
//!
//! The Gaussian model lives here; the exact Beta functions, which need their own careful
//! numerics, are in `beta`.

mod beta;
mod lift;
pub(crate) mod many_arms;

use crate::stats::normal;
pub use beta::{prob_beats, prob_beats_closed_form, prob_best, BetaPosterior, BetaPrior};
pub use lift::{beta_lift, LiftPosterior};
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

/// Prior on the relative effect in the Gaussian model.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum EffectPrior {
    /// Improper flat prior: the posterior is the likelihood N(estimate, se²).
    #[default]
    Flat,
    /// Proper prior N(mean, sd²) on the relative effect.
    Normal { mean: f64, sd: f64 },
}

impl EffectPrior {
    /// The proper prior of issue 3: N(0, 0.3²), i.e. lifts beyond ±60% are a priori rare.
    pub const PROPER_DEFAULT: EffectPrior = EffectPrior::Normal { mean: 0.0, sd: 0.3 };
}

/// Posterior of the relative effect and the decision figures derived from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectPosterior {
    pub mean: f64,
    pub sd: f64,
    /// P(effect > 0).
    pub chance_to_beat_control: f64,
    /// Equal-tailed 1 - alpha credible interval.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Expected loss of shipping treatment, E[max(0, -effect)].
    pub risk_ship_treatment: f64,
    /// Expected loss of keeping control, E[max(0, effect)].
    pub risk_keep_control: f64,
}

/// Gaussian model of the relative effect. `None` unless `estimate` is finite, `se` is positive
/// and finite (a zero SE, e.g. both arms at 0% or 100%, carries no uncertainty to model),
/// `alpha` is in (0, 1) and a `Normal` prior has a positive finite sd.
pub fn gaussian_effect(
    estimate: f64,
    se: f64,
    prior: EffectPrior,
    alpha: f64,
) -> Option<EffectPosterior> {
    let positive = |v: f64| v > 0.0 && v.is_finite();
    if !(estimate.is_finite() && positive(se) && alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let (mean, sd) = match prior {
        EffectPrior::Flat => (estimate, se),
        EffectPrior::Normal { mean: m0, sd: s0 } => {
            if !(m0.is_finite() && positive(s0)) {
                return None;
            }
            // Conjugate update (precisions add, means are precision-weighted), written with the
            // ratio r = se/s0 and hypot so that no 1/se² can overflow for a tiny SE.
            let r2 = (se / s0).powi(2);
            let (w_data, w_prior) = (1.0 / (1.0 + r2), 1.0 / (1.0 + 1.0 / r2));
            (estimate * w_data + m0 * w_prior, se * s0 / se.hypot(s0))
        }
    };
    let std = Normal::standard();
    let t = mean / sd;
    let z = std.inverse_cdf(1.0 - alpha / 2.0);
    // With X ~ N(mu, s²) and t = mu/s, substituting x = mu + s·z:
    //   E[max(0, X)]  = ∫_{-t}^∞ (mu + s z) φ(z) dz = mu·Φ(t) + s·φ(t)
    //   E[max(0, -X)] = E[max(0, X)] - E[X]        = s·φ(t) - mu·Φ(-t)
    // (using ∫_c^∞ z φ(z) dz = φ(c) and φ even). Both terms nearly cancel far in the tail, so
    // the result is clamped at 0 rather than letting rounding make it negative.
    let density = std.pdf(t);
    Some(EffectPosterior {
        mean,
        sd,
        chance_to_beat_control: std.cdf(t),
        ci_low: mean - z * sd,
        ci_high: mean + z * sd,
        risk_ship_treatment: (sd * density - mean * std.sf(t)).max(0.0),
        risk_keep_control: (sd * density + mean * std.cdf(t)).max(0.0),
    })
}

/// Tail mass of the maximum left outside the integration range of [`normal_prob_best`]: each
/// probability can be off by at most this much (plus the quadrature error, ~1e-15).
const BEST_TAIL: f64 = 1e-15;

/// P(arm i has the highest value) for independent normal estimates (mean, sd):
/// ∫ φ_i(v) Π_{j≠i} Φ_j(v) dv for every arm at once on shared quadrature nodes
/// (deterministic; no Monte Carlo).
///
/// The integrands sum to the density of the maximum, whose distribution function is
/// F(v) = Π_j Φ_j(v). Cutting the range where F(lo) <= 1e-15 and 1 - F(hi) <= 1e-15 therefore
/// loses at most 1e-15 of any arm's probability, and for many similar arms the maximum lives
/// in a band far narrower than one arm's ±9 sd: with 20 arms, about [-0.8, +8.5] sd. Over that
/// band 15-point Gauss–Kronrod panels three narrowest-sd wide (exact for polynomials of degree
/// 22) leave a quadrature error below 1e-12, measured against a 6x finer rule in the tests
/// (four sd wide measured 8e-10, hence three).
pub fn normal_prob_best(estimates: &[(f64, f64)]) -> Option<Vec<f64>> {
    if estimates
        .iter()
        .any(|&(m, sd)| !(m.is_finite() && sd > 0.0 && sd.is_finite()))
    {
        return None;
    }
    normal_prob_best_panels(estimates, 3.0)
}

/// [`normal_prob_best`] with panels `panel_sds` narrowest standard deviations wide.
fn normal_prob_best_panels(estimates: &[(f64, f64)], panel_sds: f64) -> Option<Vec<f64>> {
    let k = estimates.len();
    let cdf = |v: f64, (m, sd): (f64, f64)| normal::cdf_pdf((v - m) / sd).0;
    // Every arm is below its own m + 8.5 sd except with probability sf(8.5) = 9.5e-18, so the
    // maximum is below the highest of those (1 - F(hi) <= k·9.5e-18) ...
    let hi = estimates
        .iter()
        .map(|&(m, sd)| m + 8.5 * sd)
        .fold(f64::NEG_INFINITY, f64::max);
    // ... and above the highest lower tail. Arms whose upper tail ends below that are never
    // best (their Φ is 1 over the whole range), so only the others are evaluated.
    let floor = estimates
        .iter()
        .map(|&(m, sd)| m - 8.5 * sd)
        .fold(f64::NEG_INFINITY, f64::max);
    let live: Vec<usize> = (0..k)
        .filter(|&i| estimates[i].0 + 8.5 * estimates[i].1 > floor)
        .collect();
    // Raise the lower cut while F stays below the tail budget: eight bisection steps place it
    // within 1/256 of the range, which is all the node count needs. (A product that
    // underflows to 0 is still below the budget, so no logarithms are needed.)
    let f = |v: f64| -> f64 { live.iter().map(|&j| cdf(v, estimates[j])).product() };
    let (mut lo, mut above) = (floor, hi);
    for _ in 0..8 {
        let mid = 0.5 * (lo + above);
        if f(mid) <= BEST_TAIL {
            lo = mid;
        } else {
            above = mid;
        }
    }
    let narrow = live
        .iter()
        .map(|&i| estimates[i].1)
        .fold(f64::INFINITY, f64::min);
    let panels = ((hi - lo) / (panel_sds * narrow))
        .ceil()
        .clamp(1.0, 100_000.0) as usize;
    let half = (hi - lo) / (2.0 * panels as f64);
    let mut out = vec![0.0; k];
    let n = live.len();
    let (mut cdfs, mut pdfs, mut below) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let scaled: Vec<(f64, f64)> = live
        .iter()
        .map(|&j| (estimates[j].0, 1.0 / estimates[j].1))
        .collect();
    let mut node = |v: f64, w: f64, out: &mut [f64]| {
        // Each arm's Φ and φ at the node come from one exponential (`normal::cdf_pdf`).
        for ((c, d), &(m, inv_sd)) in cdfs.iter_mut().zip(&mut pdfs).zip(&scaled) {
            let (cdf, pdf) = normal::cdf_pdf((v - m) * inv_sd);
            (*c, *d) = (cdf, pdf * inv_sd);
        }
        // Product of all the other arms' CDFs via prefix and suffix products: O(k) per node.
        let mut prefix = 1.0;
        for (b, c) in below.iter_mut().zip(&cdfs) {
            *b = prefix;
            prefix *= c;
        }
        let mut suffix = 1.0;
        for (slot, &j) in live.iter().enumerate().rev() {
            let others = below[slot] * suffix;
            suffix *= cdfs[slot];
            out[j] += w * pdfs[slot] * others;
        }
    };
    for p in 0..panels {
        let centre = lo + half * (2 * p + 1) as f64;
        for (&x, &w) in beta::KRONROD_NODES.iter().zip(&beta::KRONROD_WEIGHTS) {
            node(centre - half * x, w * half, &mut out);
            if x != 0.0 {
                node(centre + half * x, w * half, &mut out);
            }
        }
    }
    let total: f64 = out.iter().sum();
    if k == 0 {
        return Some(out);
    }
    (total > 0.0 && total.is_finite()).then(|| out.into_iter().map(|x| x / total).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_prob_best_quadrature_is_converged() {
        // Spread, narrow, wide and many similar arms: a 6x finer rule agrees to 1e-12, and two
        // arms match the closed form Φ((m_1 - m_0)/√(s_0² + s_1²)) to 1e-11.
        let similar: Vec<(f64, f64)> = (0..20).map(|i| (1.0 + 0.003 * i as f64, 0.01)).collect();
        let cases: [&[(f64, f64)]; 4] = [
            &[(0.10, 0.02), (0.13, 0.015)],
            &[(1.0, 0.5), (1.2, 0.1), (0.9, 2.0), (1.1, 0.3)],
            &[(0.0, 1.0), (30.0, 1.0), (29.0, 0.001)],
            &similar,
        ];
        for arms in cases {
            let coarse = normal_prob_best(arms).expect("defined");
            let fine = normal_prob_best_panels(arms, 0.5).expect("defined");
            for (c, f) in coarse.iter().zip(&fine) {
                assert!((c - f).abs() < 1e-12, "{arms:?}: {c} vs {f}");
            }
        }
        let two = normal_prob_best(cases[0]).expect("defined");
        // scipy.stats.norm.cdf(-0.03 / 0.025) = 0.11506967022170822
        assert!((two[0] - 0.11506967022170822).abs() < 1e-11, "{two:?}");
    }

    #[test]
    fn gaussian_model_degenerate_inputs() {
        assert_eq!(gaussian_effect(0.1, 0.0, EffectPrior::Flat, 0.05), None);
        assert_eq!(
            gaussian_effect(f64::NAN, 0.1, EffectPrior::Flat, 0.05),
            None
        );
        assert_eq!(gaussian_effect(0.1, 0.1, EffectPrior::Flat, 1.0), None);
        let bad = EffectPrior::Normal { mean: 0.0, sd: 0.0 };
        assert_eq!(gaussian_effect(0.1, 0.1, bad, 0.05), None);
        for se in [1e-300, 1e-9, 1e200] {
            for prior in [EffectPrior::Flat, EffectPrior::PROPER_DEFAULT] {
                let post = gaussian_effect(0.1, se, prior, 0.05).expect("defined");
                let all = [post.mean, post.sd, post.chance_to_beat_control, post.ci_low];
                assert!(all.iter().all(|v| v.is_finite()), "{se} {post:?}");
                assert!(post.risk_ship_treatment >= 0.0 && post.risk_keep_control >= 0.0);
            }
        }
    }
}
