//! Per-arm sufficient statistics ([`MeanStats`], [`ProportionStats`], [`RatioStats`]) and the
//! arm-level estimate (value and variance of that value) every comparison starts from.

/// Below this ratio of centred to raw sum of squares a variance is treated as exactly zero:
/// `sum_sq - sum²/n` of a constant metric leaves rounding residue of a few ulps of `sum_sq`,
/// and a residue mistaken for real spread would make two constant arms look "significant".
/// It only zeroes arms whose coefficient of variation is below ~1e-5.
const CANCELLATION_FLOOR: f64 = 1e-10;

/// Sufficient statistics of a per-unit mean metric in one arm (revenue per unit, ...).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeanStats {
    pub n: f64,
    pub sum: f64,
    pub sum_sq: f64,
}

impl MeanStats {
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0.0)
            .then(|| self.sum / self.n)
            .filter(|m| m.is_finite())
    }

    /// Sample variance with ddof = 1; `None` below two units.
    pub fn variance(&self) -> Option<f64> {
        if self.n.is_nan() || self.n < 2.0 || !self.sum_sq.is_finite() {
            return None;
        }
        let centred = self.sum_sq - self.sum * self.sum / self.n;
        if centred <= self.sum_sq.abs() * CANCELLATION_FLOOR {
            return Some(0.0);
        }
        Some(centred / (self.n - 1.0)).filter(|v| v.is_finite())
    }

    pub fn moments(&self) -> Option<ArmMoments> {
        Some(ArmMoments {
            n: self.n,
            mean: self.mean()?,
            variance: self.variance()?,
        })
    }
}

/// Units and converted units of a proportion metric in one arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProportionStats {
    pub n: u64,
    pub x: u64,
}

impl ProportionStats {
    /// `x / n`; `None` with no units or more conversions than units.
    pub fn rate(&self) -> Option<f64> {
        (self.n > 0 && self.x <= self.n).then(|| self.x as f64 / self.n as f64)
    }

    /// Moments of the per-unit 0/1 data: ddof = 1 variance `n·r·(1-r)/(n-1)`, written this way
    /// (not through sums of squares) so that rates of 0 and 1 give a variance of exactly zero.
    pub fn moments(&self) -> Option<ArmMoments> {
        let rate = self.rate()?;
        let n = self.n as f64;
        (self.n >= 2).then(|| ArmMoments {
            n,
            mean: rate,
            variance: n * rate * (1.0 - rate) / (n - 1.0),
        })
    }
}

/// Sums of one arm for a ratio metric `mean(Y) / mean(X)` over units, e.g. average order value
/// with `Y` = revenue and `X` = orders per unit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RatioStats {
    pub n: f64,
    pub sum_y: f64,
    pub sum_y_sq: f64,
    pub sum_x: f64,
    pub sum_x_sq: f64,
    pub sum_xy: f64,
}

impl RatioStats {
    /// `Σy / Σx`; `None` when no unit has any `x` (no orders, no average order value).
    pub fn ratio(&self) -> Option<f64> {
        (self.n > 0.0 && self.sum_x != 0.0)
            .then(|| self.sum_y / self.sum_x)
            .filter(|r| r.is_finite())
    }

    /// The ratio and its delta-method variance. With `R = ȳ/x̄` the first-order expansion
    /// `R̂ - R ≈ (ȳ - R·x̄)/x̄` gives
    /// `Var(R̂) ≈ (s_y² - 2·R·s_xy + R²·s_x²) / (n·x̄²)`,
    /// where `s_y²`, `s_x²`, `s_xy` are ddof = 1 sample (co)variances from the sums. Units, not
    /// orders, are the independent draws, which is why a per-order variance would be wrong.
    pub fn arm_estimate(&self) -> Option<ArmEstimate> {
        let ratio = self.ratio()?;
        if self.n.is_nan() || self.n < 2.0 {
            return None;
        }
        let n = self.n;
        let var_y = (self.sum_y_sq - self.sum_y * self.sum_y / n) / (n - 1.0);
        let var_x = (self.sum_x_sq - self.sum_x * self.sum_x / n) / (n - 1.0);
        let cov_xy = (self.sum_xy - self.sum_x * self.sum_y / n) / (n - 1.0);
        let mean_x = self.sum_x / n;
        // A variance of a linear combination cannot be negative; clamp rounding residue.
        let variance = ((var_y - 2.0 * ratio * cov_xy + ratio * ratio * var_x)
            / (n * mean_x * mean_x))
            .max(0.0);
        variance.is_finite().then_some(ArmEstimate {
            value: ratio,
            variance,
        })
    }
}

/// Size, mean and ddof = 1 variance of one arm's per-unit data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmMoments {
    pub n: f64,
    pub mean: f64,
    pub variance: f64,
}

impl ArmMoments {
    /// The arm mean with the variance of that mean (`s²/n`).
    pub fn arm_estimate(&self) -> ArmEstimate {
        ArmEstimate {
            value: self.mean,
            variance: self.variance / self.n,
        }
    }
}

/// A per-arm point estimate and the variance of that estimate (not a per-unit variance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmEstimate {
    pub value: f64,
    pub variance: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_variance_matches_the_linearised_residuals() {
        // Independent route: Var(R̂) = Var(y - R·x) / (n·x̄²) computed from the raw units.
        let orders = [1.0, 2.0, 0.0, 1.0, 3.0, 1.0, 0.0, 2.0];
        let revenue = [20.0, 55.0, 0.0, 18.5, 90.0, 25.0, 0.0, 41.0];
        let n = orders.len() as f64;
        let (sx, sy): (f64, f64) = (orders.iter().sum(), revenue.iter().sum());
        let r = sy / sx;
        let resid: Vec<f64> = revenue
            .iter()
            .zip(&orders)
            .map(|(y, x)| y - r * x)
            .collect();
        let rm = resid.iter().sum::<f64>() / n;
        let var_resid = resid.iter().map(|e| (e - rm) * (e - rm)).sum::<f64>() / (n - 1.0);
        let expected = var_resid / (n * (sx / n) * (sx / n));
        let stats = RatioStats {
            n,
            sum_y: sy,
            sum_y_sq: revenue.iter().map(|y| y * y).sum(),
            sum_x: sx,
            sum_x_sq: orders.iter().map(|x| x * x).sum(),
            sum_xy: revenue.iter().zip(&orders).map(|(y, x)| y * x).sum(),
        };
        let got = stats.arm_estimate();
        assert!(
            got.is_some_and(|g| g.value == r && (g.variance - expected).abs() <= 1e-12 * expected)
        );
        let no_orders = RatioStats {
            n: 3.0,
            sum_y: 0.0,
            ..RatioStats::default()
        };
        assert_eq!(no_orders.ratio(), None);
    }
}
