//! Inverse-propensity weighting with the propensities logged at assignment.
//!
//! Each unit is weighted by 1/p, the inverse of the probability it had of landing in its arm.
//! The arm mean is the self-normalised (Hájek) estimate μ = Σ w·y / Σ w, which stays in the
//! outcome's range and has lower variance than the Horvitz-Thompson sum when weights vary (a
//! bandit shifting traffic, or targeting by pre-period spend). When every unit of an arm had
//! the same propensity, as in a fixed-weight A/B test, μ is exactly the arm's plain mean.
//!
//! Its variance, by linearisation with the propensities treated as known (the HC0 sandwich of
//! a weighted regression on arm indicators): Var(μ) = Σ w²·(y - μ)² / (Σ w)². Arms hold
//! disjoint units, so the variance of a difference is the sum of the two arms' variances.
//! Everything is accumulated in one pass, so a job can stream millions of units in chunks.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// One-pass sums of one outcome in one arm, unweighted and weighted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArmMoments {
    pub n: u64,
    sum_y: f64,
    sum_yy: f64,
    sum_w: f64,
    sum_wy: f64,
    sum_wyy: f64,
    sum_ww: f64,
    sum_wwy: f64,
    sum_wwyy: f64,
}

impl ArmMoments {
    /// Adds one unit with outcome `y` that had probability `propensity` of its arm.
    pub fn add(&mut self, y: f64, propensity: f64) {
        let w = 1.0 / propensity;
        self.n += 1;
        self.sum_y += y;
        self.sum_yy += y * y;
        self.sum_w += w;
        self.sum_wy += w * y;
        self.sum_wyy += w * y * y;
        self.sum_ww += w * w;
        self.sum_wwy += w * w * y;
        self.sum_wwyy += w * w * y * y;
    }

    /// Plain mean and its standard error (sample variance, ddof 1).
    pub fn naive(&self) -> Option<(f64, f64)> {
        if self.n < 2 {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum_y / n;
        let var = ((self.sum_yy - self.sum_y * mean) / (n - 1.0)).max(0.0);
        Some((mean, (var / n).sqrt()))
    }

    /// Hájek mean and its linearised standard error.
    pub fn weighted(&self) -> Option<(f64, f64)> {
        if self.n < 2 || self.sum_w <= 0.0 {
            return None;
        }
        let mu = self.sum_wy / self.sum_w;
        // Σ w²(y-μ)² expanded so it can be accumulated in one pass.
        let ss = (self.sum_wwyy - 2.0 * mu * self.sum_wwy + mu * mu * self.sum_ww).max(0.0);
        Some((mu, ss.sqrt() / self.sum_w))
    }

    /// Weighted variance Σ w(y-μ)² / Σ w, for covariate balance.
    fn weighted_var(&self) -> Option<(f64, f64)> {
        if self.n < 2 || self.sum_w <= 0.0 {
            return None;
        }
        let mu = self.sum_wy / self.sum_w;
        Some((mu, (self.sum_wyy / self.sum_w - mu * mu).max(0.0)))
    }

    /// Kish effective sample size (Σw)² / Σw²: how many equally weighted units the weighted
    /// sample is worth. Far below n means a few units with tiny propensities dominate.
    pub fn effective_n(&self) -> f64 {
        if self.sum_ww > 0.0 {
            self.sum_w * self.sum_w / self.sum_ww
        } else {
            0.0
        }
    }
}

/// Treatment minus control for one outcome: the naive difference in means next to the
/// propensity-weighted one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Contrast {
    pub naive_diff: f64,
    /// (low, high) at the requested level.
    pub naive_ci: (f64, f64),
    pub ipw_diff: f64,
    pub ipw_se: f64,
    pub ipw_ci: (f64, f64),
    /// Two-sided normal p-value of the weighted difference.
    pub p_value: f64,
}

/// The contrast of `treatment` against `control`; `None` when an arm has fewer than two units
/// or the difference has no spread to test against.
pub fn contrast(treatment: &ArmMoments, control: &ArmMoments, alpha: f64) -> Option<Contrast> {
    let (mt, st) = treatment.naive()?;
    let (mc, sc) = control.naive()?;
    let (wt, wst) = treatment.weighted()?;
    let (wc, wsc) = control.weighted()?;
    let normal = Normal::standard();
    let z = normal.inverse_cdf(1.0 - alpha / 2.0);
    let naive_diff = mt - mc;
    let naive_se = (st * st + sc * sc).sqrt();
    let ipw_diff = wt - wc;
    let ipw_se = (wst * wst + wsc * wsc).sqrt();
    if !(ipw_se > 0.0 && ipw_se.is_finite()) {
        return None;
    }
    let p_value = 2.0 * (1.0 - normal.cdf((ipw_diff / ipw_se).abs()));
    Some(Contrast {
        naive_diff,
        naive_ci: (naive_diff - z * naive_se, naive_diff + z * naive_se),
        ipw_diff,
        ipw_se,
        ipw_ci: (ipw_diff - z * ipw_se, ipw_diff + z * ipw_se),
        p_value,
    })
}

/// A difference of two independent estimates (value, variance) with its interval: the
/// period-stratified effect shown beside the weighted one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub diff: f64,
    pub se: f64,
    pub ci: (f64, f64),
}

pub fn difference(treatment: (f64, f64), control: (f64, f64), alpha: f64) -> Option<Difference> {
    let diff = treatment.0 - control.0;
    let se = (treatment.1 + control.1).sqrt();
    if !(diff.is_finite() && se.is_finite() && se > 0.0) {
        return None;
    }
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    Some(Difference {
        diff,
        se,
        ci: (diff - z * se, diff + z * se),
    })
}

/// Whether the weighted and the stratified effect tell the same story: each lies inside the
/// other's interval. Both are estimated from the same units, so their errors are strongly
/// correlated and a formal test of the gap would need their covariance; a point outside the
/// other's interval is the plain, conservative sign that something (a contextual policy,
/// propensities that do not match the periods' weights) separates them.
pub fn agree(weighted: &Contrast, stratified: &Difference) -> bool {
    let inside = |x: f64, (lo, hi): (f64, f64)| x >= lo && x <= hi;
    inside(stratified.diff, weighted.ipw_ci) && inside(weighted.ipw_diff, stratified.ci)
}

/// Covariate balance of a pre-period value between an arm and control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    /// Standardised mean difference before weighting: (m_t - m_c) / sqrt((v_t + v_c) / 2).
    pub smd_raw: f64,
    /// The same after inverse-propensity weighting.
    pub smd_weighted: f64,
}

/// |SMD| above this is the usual sign that the arms differ before the campaign touched them.
pub const SMD_IMBALANCED: f64 = 0.1;

/// Balance of the covariate accumulated in `treatment` and `control`.
pub fn balance(treatment: &ArmMoments, control: &ArmMoments) -> Option<Balance> {
    let smd = |mt: f64, vt: f64, mc: f64, vc: f64| {
        let pooled = ((vt + vc) / 2.0).sqrt();
        if pooled > 0.0 {
            (mt - mc) / pooled
        } else {
            0.0
        }
    };
    let (mt, st) = treatment.naive()?;
    let (mc, sc) = control.naive()?;
    // naive() returns the standard error; the variance is se² · n.
    let vt = st * st * treatment.n as f64;
    let vc = sc * sc * control.n as f64;
    let (wmt, wvt) = treatment.weighted_var()?;
    let (wmc, wvc) = control.weighted_var()?;
    Some(Balance {
        smd_raw: smd(mt, vt, mc, vc),
        smd_weighted: smd(wmt, wvt, wmc, wvc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_propensity_gives_the_plain_mean() {
        let mut m = ArmMoments::default();
        for (i, y) in [1.0, 0.0, 3.0, 2.0].iter().enumerate() {
            m.add(*y, if i < 10 { 0.25 } else { 0.5 });
        }
        let (naive, _) = m.naive().expect("naive");
        let (w, _) = m.weighted().expect("weighted");
        assert!((naive - 1.5).abs() < 1e-12 && (w - 1.5).abs() < 1e-12);
        assert!((m.effective_n() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn too_few_units_is_undefined_not_nan() {
        let mut a = ArmMoments::default();
        a.add(1.0, 0.5);
        assert!(a.naive().is_none() && a.weighted().is_none());
        assert!(contrast(&a, &a, 0.05).is_none());
        assert!(balance(&a, &a).is_none());
    }
}
