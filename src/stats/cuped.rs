//! CUPED: regression adjustment of every metric with the pre-period covariate x = `pre_value`.
//!
//! One estimator covers all three kinds of metric, because a per-unit mean is a ratio whose
//! denominator is 1 for every unit:
//! - a ratio metric R = Σy/Σd (CTR: clicks/exposures, AOV: revenue/orders) is linearised per
//!   unit as L_i = y_i - R·d_i (Deng, Knoblich & Lu 2018; CUPED of Deng et al. 2013 applied to L);
//! - a mean or proportion is the case d_i = 1, where L_i = y_i - ȳ and everything below reduces
//!   to textbook CUPED with y.
//!
//! Derivation (per arm a, n units, d̄ = Σd/n, R = Σy/Σd). To first order
//! R̂ - R ≈ (ȳ - R·d̄)/d̄ = L̄/d̄, so Var(R̂) ≈ Var(L)/(n·d̄²). Subtracting θ(x̄_a - x̄) from L̄,
//! which has mean zero under randomisation because x is measured before assignment, leaves
//! the estimator unbiased (to first order) and gives
//!   R_adj = R - θ·(x̄_a - x̄)/d̄,   Var(R_adj) ≈ Var(L - θx)/(n·d̄²)
//!                                           = (s_L² - 2θ·s_Lx + θ²·s_x²)/(n·d̄²),
//! minimised by θ = Cov(L, x)/Var(x). θ is pooled over arms as the within-arm regression slope
//! Σ_a S_Lx,a / Σ_a S_xx,a, i.e. the OLS slope of L on x with arm fixed effects (for means:
//! `y ~ arm + x`, which is how the reference values are produced). Within-arm pooling keeps a
//! chance imbalance of x̄ between arms from leaking the treatment effect into θ. Because R is
//! the arm's own ratio, ΣL = 0 in every arm, so S_Lx,a = ΣxL = Σxy - R·Σxd needs only the
//! cross sums the rollups keep, and s_L² = (Σy² - 2RΣyd + R²Σd²)/(n-1).
//!
//! Pure: sums in, estimates out. θ is treated as known in the variance (its estimation error
//! is O(1/n) relative), as in the CUPED paper.

use super::frequentist::ArmEstimate;

/// One arm's sums for CUPED of a metric with per-unit numerator y and denominator d (d = 1 for
/// means and proportions), and covariate x. Units without a `pre_value` count with x = 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CupedSums {
    pub n: f64,
    pub sum_y: f64,
    pub sum_y_sq: f64,
    pub sum_d: f64,
    pub sum_d_sq: f64,
    pub sum_yd: f64,
    pub sum_x: f64,
    pub sum_x_sq: f64,
    pub sum_xy: f64,
    pub sum_xd: f64,
}

impl CupedSums {
    /// Sums of a per-unit mean (or 0/1 proportion): the denominator is 1 for every unit.
    pub fn mean(
        n: f64,
        (sum_y, sum_y_sq): (f64, f64),
        (sum_x, sum_x_sq, sum_xy): (f64, f64, f64),
    ) -> Self {
        CupedSums {
            n,
            sum_y,
            sum_y_sq,
            sum_d: n,
            sum_d_sq: n,
            sum_yd: sum_y,
            sum_x,
            sum_x_sq,
            sum_xy,
            sum_xd: sum_x,
        }
    }

    /// The arm's ratio Σy/Σd, `None` when no unit has a denominator.
    fn ratio(&self) -> Option<f64> {
        (self.n > 0.0 && self.sum_d != 0.0)
            .then(|| self.sum_y / self.sum_d)
            .filter(|r| r.is_finite())
    }

    /// Σ(x - x̄_a)², the arm's centred sum of squares of the covariate.
    fn centred_xx(&self) -> f64 {
        if self.n > 0.0 {
            (self.sum_x_sq - self.sum_x * self.sum_x / self.n).max(0.0)
        } else {
            0.0
        }
    }

    /// Σ L·x with L = y - R·d (equal to the centred cross sum, since ΣL = 0).
    fn lx(&self, ratio: f64) -> f64 {
        self.sum_xy - ratio * self.sum_xd
    }

    /// Σ L² = Σ(y - R·d)², clamped at 0 against rounding.
    fn ll(&self, ratio: f64) -> f64 {
        (self.sum_y_sq - 2.0 * ratio * self.sum_yd + ratio * ratio * self.sum_d_sq).max(0.0)
    }
}

/// A pooled CUPED fit across the arms of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct CupedFit {
    pub theta: f64,
    /// Adjusted value and variance per arm, in input order (`None` where undefined).
    pub estimates: Vec<Option<ArmEstimate>>,
    /// 1 - Σ adjusted variance / Σ unadjusted variance over the arms with an estimate.
    pub variance_reduction: f64,
}

/// Fits θ over all arms and adjusts each one. `None` with fewer than 3 units in all or no
/// spread of x within arms (nothing to regress on).
pub fn fit(arms: &[CupedSums]) -> Option<CupedFit> {
    let (mut n, mut sx, mut sxx_within, mut slx) = (0.0, 0.0, 0.0, 0.0);
    for a in arms {
        n += a.n;
        sx += a.sum_x;
        // An arm with no ratio (no denominators) has no L to regress; its x still sets x̄.
        if let Some(r) = a.ratio() {
            sxx_within += a.centred_xx();
            slx += a.lx(r);
        }
    }
    // Below this the within-arm spread of x is rounding residue of Σx² - (Σx)²/n.
    let floor = 1e-12 * arms.iter().map(|a| a.sum_x_sq).sum::<f64>();
    let spread = sxx_within > floor && sxx_within.is_finite();
    if n < 3.0 || !spread {
        return None;
    }
    let theta = slx / sxx_within;
    if !theta.is_finite() {
        return None;
    }
    let x_all = sx / n;
    let (mut raw_var, mut adj_var) = (0.0, 0.0);
    let estimates = arms
        .iter()
        .map(|a| {
            let r = a.ratio()?;
            if a.n < 2.0 {
                return None;
            }
            let d_bar = a.sum_d / a.n;
            let scale = a.n * d_bar * d_bar;
            let var_l = a.ll(r) / (a.n - 1.0);
            let cov_lx = a.lx(r) / (a.n - 1.0);
            let var_x = a.centred_xx() / (a.n - 1.0);
            // A residual variance cannot be negative; clamp rounding residue.
            let residual = (var_l - 2.0 * theta * cov_lx + theta * theta * var_x).max(0.0);
            let est = ArmEstimate {
                value: r - theta * (a.sum_x / a.n - x_all) / d_bar,
                variance: residual / scale,
            };
            if !(est.value.is_finite() && est.variance.is_finite()) {
                return None;
            }
            raw_var += var_l / scale;
            adj_var += est.variance;
            Some(est)
        })
        .collect();
    let variance_reduction = if raw_var > 0.0 {
        1.0 - adj_var / raw_var
    } else {
        0.0
    };
    Some(CupedFit {
        theta,
        estimates,
        variance_reduction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums of raw per-unit (x, y, d) triples.
    fn sums(units: &[(f64, f64, f64)]) -> CupedSums {
        let mut s = CupedSums::default();
        for &(x, y, d) in units {
            s.n += 1.0;
            s.sum_y += y;
            s.sum_y_sq += y * y;
            s.sum_d += d;
            s.sum_d_sq += d * d;
            s.sum_yd += y * d;
            s.sum_x += x;
            s.sum_x_sq += x * x;
            s.sum_xy += x * y;
            s.sum_xd += x * d;
        }
        s
    }

    #[test]
    fn the_mean_case_is_the_ratio_case_with_unit_denominators() {
        let c = [(1.0, 3.0), (2.0, 5.0), (4.0, 8.5), (0.5, 2.0)];
        let t = [(1.5, 4.5), (3.0, 7.0), (2.5, 6.5)];
        let as_ratio =
            |u: &[(f64, f64)]| sums(&u.iter().map(|&(x, y)| (x, y, 1.0)).collect::<Vec<_>>());
        let as_mean = |u: &[(f64, f64)]| {
            let (y, yy) = u
                .iter()
                .fold((0.0, 0.0), |a, &(_, y)| (a.0 + y, a.1 + y * y));
            let (x, xx, xy) = u.iter().fold((0.0, 0.0, 0.0), |a, &(x, y)| {
                (a.0 + x, a.1 + x * x, a.2 + x * y)
            });
            CupedSums::mean(u.len() as f64, (y, yy), (x, xx, xy))
        };
        let a = fit(&[as_ratio(&c), as_ratio(&t)]).expect("fit");
        let b = fit(&[as_mean(&c), as_mean(&t)]).expect("fit");
        assert!((a.theta - b.theta).abs() < 1e-12);
        for (p, q) in a.estimates.iter().zip(&b.estimates) {
            let (p, q) = (p.expect("p"), q.expect("q"));
            assert!((p.value - q.value).abs() < 1e-12 && (p.variance - q.variance).abs() < 1e-12);
        }
    }

    #[test]
    fn no_covariate_spread_or_no_denominators_is_no_fit() {
        let flat = sums(&[(1.0, 2.0, 1.0), (1.0, 3.0, 1.0), (1.0, 4.0, 1.0)]);
        assert_eq!(fit(&[flat, flat]), None);
        let empty = sums(&[(1.0, 0.0, 0.0), (2.0, 0.0, 0.0), (3.0, 0.0, 0.0)]);
        let fitted = fit(&[
            empty,
            sums(&[(1.0, 2.0, 1.0), (2.0, 3.0, 2.0), (4.0, 3.0, 1.0)]),
        ]);
        assert!(fitted.is_some_and(|f| f.estimates[0].is_none() && f.estimates[1].is_some()));
    }
}
