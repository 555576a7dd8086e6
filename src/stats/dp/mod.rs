//! Differential privacy for released reports: the noise mechanisms and their calibration.
//! Pure: noise is drawn from an RNG the caller passes in (the app passes OS randomness; tests
//! pass seeds), nothing here reads the clock or the database.
//!
//! - Laplace mechanism, pure ε-DP: noise Lap(b) with b = Δ₁/ε (Δ₁ the L1 sensitivity).
//! - Gaussian mechanism, (ε, δ)-DP: the *analytic* Gaussian mechanism of Balle & Wang (2018,
//!   Theorem 8): the smallest σ with Φ(Δ/2σ − εσ/Δ) − e^ε·Φ(−Δ/2σ − εσ/Δ) ≤ δ, found by
//!   bisection. Chosen over the classic σ = Δ·√(2 ln(1.25/δ))/ε because the classic bound is
//!   only proven for ε < 1 and is loose everywhere (more noise than needed for the same
//!   guarantee); the analytic one is exact for every ε > 0.
//!
//! `release` owns contribution bounding, the budget split and the figures derived from the noisy
//! releases.

pub mod release;

use super::normal::cdf_pdf;
use rand::RngExt;
use serde::Serialize;

/// Which noise a release adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Pure ε-DP (no δ given).
    Laplace,
    /// (ε, δ)-DP, analytic calibration (Balle & Wang 2018).
    AnalyticGaussian,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Laplace => "Laplace (pure epsilon-DP)",
            Mechanism::AnalyticGaussian => {
                "analytic Gaussian (epsilon, delta)-DP, Balle & Wang 2018"
            }
        }
    }
}

/// Laplace scale b = Δ/ε for L1 sensitivity Δ.
pub fn laplace_scale(sensitivity: f64, epsilon: f64) -> f64 {
    sensitivity / epsilon
}

/// δ achieved by Gaussian noise σ at (ε, Δ) (Balle & Wang 2018, Theorem 8).
fn gaussian_delta(sigma: f64, epsilon: f64, sensitivity: f64) -> f64 {
    let a = sensitivity / (2.0 * sigma);
    let b = epsilon * sigma / sensitivity;
    cdf_pdf(a - b).0 - epsilon.exp() * cdf_pdf(-a - b).0
}

/// The smallest σ for which Gaussian noise is (ε, δ)-DP at L2 sensitivity Δ, rounded up (the
/// returned σ always satisfies the guarantee). `None` when the arguments cannot be calibrated
/// (ε ≤ 0, δ outside (0, 1), Δ ≤ 0, non-finite values).
pub fn analytic_gaussian_sigma(sensitivity: f64, epsilon: f64, delta: f64) -> Option<f64> {
    let ok = sensitivity.is_finite()
        && sensitivity > 0.0
        && epsilon.is_finite()
        && epsilon > 0.0
        && delta > 0.0
        && delta < 1.0;
    if !ok {
        return None;
    }
    // δ(σ) falls as σ grows: bracket, then bisect in log σ (keeping `hi` on the safe side).
    let (mut lo, mut hi) = (sensitivity * 1e-6, sensitivity);
    let mut doublings = 0;
    while gaussian_delta(hi, epsilon, sensitivity) > delta {
        hi *= 2.0;
        doublings += 1;
        if doublings > 200 {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = (lo * hi).sqrt();
        if gaussian_delta(mid, epsilon, sensitivity) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo < 1.0 + 1e-14 {
            break;
        }
    }
    Some(hi)
}

/// The Laplace distribution function at x for scale b (mean 0).
pub fn laplace_cdf(x: f64, b: f64) -> f64 {
    if x < 0.0 {
        0.5 * (x / b).exp()
    } else {
        1.0 - 0.5 * (-x / b).exp()
    }
}

/// The Laplace quantile at p in (0, 1) for scale b.
pub fn laplace_quantile(p: f64, b: f64) -> f64 {
    if p < 0.5 {
        b * (2.0 * p).ln()
    } else {
        -b * (2.0 - 2.0 * p).ln()
    }
}

/// One draw of Lap(b) by inversion of a uniform in (0, 1).
pub fn sample_laplace(rng: &mut impl rand::Rng, b: f64) -> f64 {
    laplace_quantile(open_unit(rng), b)
}

/// One draw of N(0, σ²) (Box-Muller; the second variate is dropped to keep draws independent
/// of call order).
pub fn sample_gaussian(rng: &mut impl rand::Rng, sigma: f64) -> f64 {
    let u1 = open_unit(rng);
    let u2: f64 = rng.random();
    sigma * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A uniform in the open interval (0, 1): 53 random bits, never 0 (ln 0) nor 1.
fn open_unit(rng: &mut impl rand::Rng) -> f64 {
    loop {
        let u: f64 = rng.random();
        if u > 0.0 {
            return u;
        }
    }
}

/// The noise of one released statistic: its mechanism, scale and standard deviation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Noise {
    pub mechanism: Mechanism,
    /// Laplace b, or Gaussian σ.
    pub scale: f64,
}

impl Noise {
    /// Calibrates noise for sensitivity Δ at this statistic's share (ε, δ) of the budget;
    /// δ = 0 means Laplace.
    pub fn calibrate(sensitivity: f64, epsilon: f64, delta: f64) -> Option<Noise> {
        if !(epsilon.is_finite() && epsilon > 0.0 && sensitivity.is_finite() && sensitivity > 0.0) {
            return None;
        }
        if delta == 0.0 {
            Some(Noise {
                mechanism: Mechanism::Laplace,
                scale: laplace_scale(sensitivity, epsilon),
            })
        } else {
            analytic_gaussian_sigma(sensitivity, epsilon, delta).map(|scale| Noise {
                mechanism: Mechanism::AnalyticGaussian,
                scale,
            })
        }
    }

    /// Standard deviation of the noise: √2·b for Laplace, σ for Gaussian.
    pub fn sd(&self) -> f64 {
        match self.mechanism {
            Mechanism::Laplace => std::f64::consts::SQRT_2 * self.scale,
            Mechanism::AnalyticGaussian => self.scale,
        }
    }

    pub fn variance(&self) -> f64 {
        self.sd().powi(2)
    }

    pub fn sample(&self, rng: &mut impl rand::Rng) -> f64 {
        match self.mechanism {
            Mechanism::Laplace => sample_laplace(rng, self.scale),
            Mechanism::AnalyticGaussian => sample_gaussian(rng, self.scale),
        }
    }
}

#[cfg(test)]
mod tests;
