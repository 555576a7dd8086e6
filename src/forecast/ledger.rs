//! The forecast ledger: frozen forecasts scored against the effects later measured, a running
//! score across campaigns, and the recalibration factor it gives later forecasts.
//!
//! A forecast is a point with 80% and 95% intervals (and optionally predictive draws); an
//! outcome is the causal report's measured effect with its standard error. Per forecast the
//! ledger records whether the measured point fell inside each interval, the error (forecast
//! minus measured, so a positive mean is an optimistic forecaster), and the CRPS (Gaussian
//! closed form, sigma read off the 95% interval; and the sample form from the draws).
//!
//! Measurement error: coverage is scored against the measured point, not the unknown true
//! effect. A forecast that is exactly calibrated for the true effect still misses the measured
//! one more often, because the measurement adds its own noise: with predictive sigma σ and
//! measurement SE `se`, the expected coverage of the nominal z-interval is
//! `2Φ(zσ/√(σ² + se²)) − 1`. The ledger reports that expected coverage beside the observed one,
//! so an operator can tell "the forecaster is overconfident" from "the measurements are noisy".
//!
//! Pure: no I/O, no clock.

use crate::stats::normal::cdf_pdf;

/// z for a central 95% interval (Φ⁻¹(0.975)).
pub const Z95: f64 = 1.959_963_984_540_054;
/// z for a central 80% interval (Φ⁻¹(0.9)).
pub const Z80: f64 = 1.281_551_565_544_600_5;
/// Fewest scored forecasts of an offer type the ledger will recalibrate from.
pub const MIN_FORECASTS_TO_RECALIBRATE: usize = 20;
/// Pseudo-forecasts at factor 1 the raw factor is shrunk towards (weight n/(n + this)).
pub const RECALIBRATION_PRIOR_WEIGHT: f64 = 10.0;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LedgerError {
    #[error("forecast {index}: {reason}")]
    BadForecast { index: usize, reason: String },
    #[error("outcome {index}: the measured effect and its standard error must be finite, SE >= 0")]
    BadOutcome { index: usize },
    #[error("no forecasts to score")]
    Empty,
    #[error(
        "only {have} reviewed forecasts of offer type {offer_type:?}; recalibration needs at \
         least {need} (review more finished campaigns of this type first)"
    )]
    TooFewForecasts {
        offer_type: String,
        have: usize,
        need: usize,
    },
}

/// An interval (lo, hi) around the point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    fn contains(&self, y: f64) -> bool {
        self.lo <= y && y <= self.hi
    }
}

/// A frozen forecast of a campaign's effect.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub offer_type: String,
    pub point: f64,
    pub interval_80: Interval,
    pub interval_95: Interval,
    /// Predictive draws (bootstrap or posterior), if the forecast kept them.
    pub draws: Option<Vec<f64>>,
}

/// The causal report's measured effect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub effect: f64,
    pub se: f64,
}

/// One forecast joined with its outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Score {
    pub inside_80: bool,
    pub inside_95: bool,
    /// Forecast point minus measured effect.
    pub error: f64,
    /// The Gaussian predictive's sigma, half the 95% interval over z_0.975.
    pub sigma: f64,
    pub crps_gaussian: f64,
    pub crps_draws: Option<f64>,
    /// Coverage a forecast calibrated for the true effect would have against the measured one.
    pub expected_coverage_80: f64,
    pub expected_coverage_95: f64,
}

/// A share with its Wilson 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Coverage {
    pub hits: usize,
    pub n: usize,
    pub share: f64,
    pub lo: f64,
    pub hi: f64,
}

/// The running score across reviewed forecasts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    pub n: usize,
    pub coverage_80: Coverage,
    pub coverage_95: Coverage,
    pub mean_error: f64,
    /// Standard error of the mean error (sample SD / √n; 0 for one forecast).
    pub mean_error_se: f64,
    pub mean_crps_gaussian: f64,
    /// Mean sample CRPS over the forecasts that kept draws, with their count.
    pub mean_crps_draws: Option<(f64, usize)>,
    /// Coverage expected from measurement noise alone, averaged over forecasts.
    pub expected_coverage_80: f64,
    pub expected_coverage_95: f64,
}

/// CRPS of a normal predictive N(mu, sigma²) at y:
/// `σ[z(2Φ(z) − 1) + 2φ(z) − 1/√π]`, z = (y − mu)/σ. `sigma = 0` gives |y − mu|.
pub fn crps_gaussian(mu: f64, sigma: f64, y: f64) -> f64 {
    if sigma <= 0.0 {
        return (y - mu).abs();
    }
    const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;
    let z = (y - mu) / sigma;
    let (cdf, dens) = cdf_pdf(z);
    sigma * (z * (2.0 * cdf - 1.0) + 2.0 * dens - FRAC_1_SQRT_PI)
}

/// Sample CRPS of draws at y: `mean|X − y| − ½·mean|X − X'|` over all ordered pairs (the
/// m² form, as properscoring's `crps_ensemble`). The pair term comes from the sorted draws,
/// `Σ_k x_(k)(2k − m + 1)/m²` (k from 0), so the cost is one sort. `None` for no draws or a
/// non-finite draw.
pub fn crps_draws(draws: &[f64], y: f64) -> Option<f64> {
    if draws.is_empty() || draws.iter().any(|x| !x.is_finite()) {
        return None;
    }
    let mut sorted = draws.to_vec();
    sorted.sort_by(f64::total_cmp);
    let m = sorted.len() as f64;
    let to_y = sorted.iter().map(|x| (x - y).abs()).sum::<f64>() / m;
    let pairs = sorted
        .iter()
        .enumerate()
        .map(|(k, x)| x * (2.0 * k as f64 - m + 1.0))
        .sum::<f64>()
        / (m * m);
    Some(to_y - pairs)
}

/// Wilson score interval for `hits` of `n` at the two-sided level of `z`.
pub fn wilson(hits: usize, n: usize, z: f64) -> Coverage {
    if n == 0 {
        return Coverage {
            hits,
            n,
            share: f64::NAN,
            lo: 0.0,
            hi: 1.0,
        };
    }
    let nf = n as f64;
    let p = hits as f64 / nf;
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = z / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // At p = 0 or 1 the exact bound is p itself; rounding can leave it a hair inside, and an
    // interval must hold its own share.
    Coverage {
        hits,
        n,
        share: p,
        lo: (centre - half).clamp(0.0, p),
        hi: (centre + half).clamp(p, 1.0),
    }
}

fn check_forecast(index: usize, f: &Forecast) -> Result<(), LedgerError> {
    let bad = |reason: &str| LedgerError::BadForecast {
        index,
        reason: reason.to_string(),
    };
    let values = [
        f.point,
        f.interval_80.lo,
        f.interval_80.hi,
        f.interval_95.lo,
        f.interval_95.hi,
    ];
    if values.iter().any(|v| !v.is_finite()) {
        return Err(bad("the point and interval ends must be finite numbers"));
    }
    let nested = f.interval_95.lo <= f.interval_80.lo
        && f.interval_80.lo <= f.point
        && f.point <= f.interval_80.hi
        && f.interval_80.hi <= f.interval_95.hi;
    if !nested {
        return Err(bad(
            "intervals must nest around the point: lo95 <= lo80 <= point <= hi80 <= hi95",
        ));
    }
    Ok(())
}

/// Scores one forecast against its outcome.
pub fn score(index: usize, f: &Forecast, o: &Outcome) -> Result<Score, LedgerError> {
    check_forecast(index, f)?;
    if !(o.effect.is_finite() && o.se.is_finite() && o.se >= 0.0) {
        return Err(LedgerError::BadOutcome { index });
    }
    let sigma = (f.interval_95.hi - f.interval_95.lo) / (2.0 * Z95);
    let expected = |z: f64| {
        let total = (sigma * sigma + o.se * o.se).sqrt();
        if total > 0.0 {
            2.0 * cdf_pdf(z * sigma / total).0 - 1.0
        } else {
            1.0
        }
    };
    Ok(Score {
        inside_80: f.interval_80.contains(o.effect),
        inside_95: f.interval_95.contains(o.effect),
        error: f.point - o.effect,
        sigma,
        crps_gaussian: crps_gaussian(f.point, sigma, o.effect),
        crps_draws: f.draws.as_deref().and_then(|d| crps_draws(d, o.effect)),
        expected_coverage_80: expected(Z80),
        expected_coverage_95: expected(Z95),
    })
}

/// The running score over reviewed forecasts (each with its outcome).
pub fn summarise(reviewed: &[(Forecast, Outcome)]) -> Result<Summary, LedgerError> {
    if reviewed.is_empty() {
        return Err(LedgerError::Empty);
    }
    let scores = reviewed
        .iter()
        .enumerate()
        .map(|(i, (f, o))| score(i, f, o))
        .collect::<Result<Vec<_>, _>>()?;
    let n = scores.len();
    let nf = n as f64;
    let mean = |g: &dyn Fn(&Score) -> f64| scores.iter().map(g).sum::<f64>() / nf;
    let mean_error = mean(&|s| s.error);
    let mean_error_se = if n > 1 {
        let ss = scores
            .iter()
            .map(|s| (s.error - mean_error).powi(2))
            .sum::<f64>();
        (ss / (nf - 1.0) / nf).sqrt()
    } else {
        0.0
    };
    let draws: Vec<f64> = scores.iter().filter_map(|s| s.crps_draws).collect();
    let hits = |g: &dyn Fn(&Score) -> bool| scores.iter().filter(|s| g(s)).count();
    Ok(Summary {
        n,
        coverage_80: wilson(hits(&|s| s.inside_80), n, Z95),
        coverage_95: wilson(hits(&|s| s.inside_95), n, Z95),
        mean_error,
        mean_error_se,
        mean_crps_gaussian: mean(&|s| s.crps_gaussian),
        mean_crps_draws: (!draws.is_empty())
            .then(|| (draws.iter().sum::<f64>() / draws.len() as f64, draws.len())),
        expected_coverage_80: mean(&|s| s.expected_coverage_80),
        expected_coverage_95: mean(&|s| s.expected_coverage_95),
    })
}

/// The factor later intervals of one offer type are scaled by.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recalibration {
    pub offer_type: String,
    /// The factor applied: the raw factor shrunk towards 1.
    pub factor: f64,
    /// The empirical 0.95 quantile of |y − point| / half-width_95.
    pub raw_factor: f64,
    /// How many reviewed forecasts it rests on.
    pub based_on: usize,
}

/// Linear-interpolation quantile (numpy's default) of sorted values.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The recalibration factor for `offer_type` from its reviewed forecasts.
///
/// Each forecast's miss is standardised by its own 95% half-width on the side the measured
/// effect fell: r = |y − point| / half-width. Calibrated intervals have r <= 1 for 95% of
/// forecasts, so the raw factor is the empirical 0.95 quantile of r (the scale s at which the
/// share r <= s is 0.95). Because a quantile from few forecasts is noisy, the factor applied is
/// shrunk towards 1 on the log scale, `exp(w·ln raw)` with `w = n/(n + 10)`, as if ten more
/// forecasts had been exactly calibrated; below 20 forecasts the ledger refuses.
pub fn recalibration(
    reviewed: &[(Forecast, Outcome)],
    offer_type: &str,
) -> Result<Recalibration, LedgerError> {
    let mut ratios = Vec::new();
    for (i, (f, o)) in reviewed.iter().enumerate() {
        if f.offer_type != offer_type {
            continue;
        }
        check_forecast(i, f)?;
        if !o.effect.is_finite() {
            return Err(LedgerError::BadOutcome { index: i });
        }
        let half = if o.effect >= f.point {
            f.interval_95.hi - f.point
        } else {
            f.point - f.interval_95.lo
        };
        let miss = (o.effect - f.point).abs();
        ratios.push(if half > 0.0 {
            miss / half
        } else if miss == 0.0 {
            0.0
        } else {
            f64::INFINITY
        });
    }
    let n = ratios.len();
    if n < MIN_FORECASTS_TO_RECALIBRATE {
        return Err(LedgerError::TooFewForecasts {
            offer_type: offer_type.to_string(),
            have: n,
            need: MIN_FORECASTS_TO_RECALIBRATE,
        });
    }
    ratios.sort_by(f64::total_cmp);
    let raw = quantile_sorted(&ratios, 0.95);
    let w = n as f64 / (n as f64 + RECALIBRATION_PRIOR_WEIGHT);
    // A zero-width history cannot be rescaled meaningfully; keep the intervals as they are.
    let factor = if raw.is_finite() && raw > 0.0 {
        (w * raw.ln()).exp()
    } else {
        1.0
    };
    Ok(Recalibration {
        offer_type: offer_type.to_string(),
        factor,
        raw_factor: raw,
        based_on: n,
    })
}

/// A new forecast with both intervals scaled about its point by the factor (each side keeps
/// its own width, so an asymmetric interval stays asymmetric). Draws are scaled the same way.
pub fn apply(f: &Forecast, r: &Recalibration) -> Forecast {
    let s = r.factor;
    let scale = |v: f64| f.point + s * (v - f.point);
    Forecast {
        offer_type: f.offer_type.clone(),
        point: f.point,
        interval_80: Interval {
            lo: scale(f.interval_80.lo),
            hi: scale(f.interval_80.hi),
        },
        interval_95: Interval {
            lo: scale(f.interval_95.lo),
            hi: scale(f.interval_95.hi),
        },
        draws: f
            .draws
            .as_ref()
            .map(|d| d.iter().map(|&v| scale(v)).collect()),
    }
}

/// The one line the output states, e.g. "intervals widened ×1.84 (from 100 reviewed
/// forecasts of discount)".
pub fn describe(r: &Recalibration) -> String {
    let verb = if r.factor >= 1.0 {
        "widened"
    } else {
        "narrowed"
    };
    format!(
        "intervals {verb} x{:.2} (from {} reviewed forecasts of {})",
        r.factor, r.based_on, r.offer_type
    )
}

/// A Gaussian forecast from a point and sigma (80/95% intervals at ±z·sigma); handy for
/// callers whose predictive is normal, and for tests.
pub fn gaussian_forecast(offer_type: &str, point: f64, sigma: f64) -> Forecast {
    Forecast {
        offer_type: offer_type.to_string(),
        point,
        interval_80: Interval {
            lo: point - Z80 * sigma,
            hi: point + Z80 * sigma,
        },
        interval_95: Interval {
            lo: point - Z95 * sigma,
            hi: point + Z95 * sigma,
        },
        draws: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::normal::pdf;
    use statrs::distribution::{ContinuousCDF, Normal};

    #[test]
    fn the_z_constants_are_the_normal_quantiles() {
        let z = Normal::standard();
        assert!((z.inverse_cdf(0.975) - Z95).abs() < 1e-12);
        assert!((z.inverse_cdf(0.9) - Z80).abs() < 1e-12);
        assert!(pdf(0.0) > 0.39);
    }

    #[test]
    fn draws_crps_matches_the_quadratic_pair_sum() {
        let d: [f64; 5] = [0.3, -1.2, 2.5, 0.3, 0.9];
        let y: f64 = 0.7;
        let m = d.len() as f64;
        let to_y: f64 = d.iter().map(|x| (x - y).abs()).sum::<f64>() / m;
        let pairs: f64 = d
            .iter()
            .flat_map(|a| d.iter().map(move |b| (a - b).abs()))
            .sum::<f64>()
            / (m * m);
        let got = crps_draws(&d, y).unwrap_or(f64::NAN);
        assert!((got - (to_y - 0.5 * pairs)).abs() < 1e-14);
    }
}
