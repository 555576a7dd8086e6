//! Return on the offer's cost against control: ROI = (Δrevenue - Δcost) / Δcost per unit, with
//! a delta-method interval. Revenue and cost are correlated within a unit (a coupon is only
//! redeemed on a purchase), so the per-arm covariance enters the variance. Pure.

use super::frequentist::Interval;
use crate::domain::ArmRollup;
use statrs::distribution::{ContinuousCDF, Normal};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roi {
    pub roi: f64,
    pub se: f64,
    pub ci: Interval,
}

/// Per-unit means and (co)variances of revenue and cost in one arm (ddof = 1).
fn moments(r: &ArmRollup) -> Option<(f64, f64, f64, f64, f64, f64)> {
    let n = r.units as f64;
    if n < 2.0 {
        return None;
    }
    let (mr, mc) = (r.revenue_sum / n, r.cost_sum / n);
    let vr = ((r.revenue_sumsq - r.revenue_sum * mr) / (n - 1.0)).max(0.0);
    let vc = ((r.cost_sumsq - r.cost_sum * mc) / (n - 1.0)).max(0.0);
    let cov = (r.revenue_cost_sum - r.revenue_sum * mc) / (n - 1.0);
    Some((n, mr, mc, vr, vc, cov))
}

/// ROI of `treatment` against `control`; `None` when the offer costs nothing extra (Δcost = 0)
/// or an arm has fewer than two units.
///
/// With f(Δr, Δc) = Δr/Δc - 1, the gradient is (1/Δc, -Δr/Δc²), so
/// Var(f) ≈ Var(Δr)/Δc² + Δr²·Var(Δc)/Δc⁴ - 2·Δr·Cov(Δr, Δc)/Δc³, where each Var and Cov of a
/// difference of arm means is the sum over the two independent arms of (co)variance / n.
pub fn roi_vs_control(control: &ArmRollup, treatment: &ArmRollup, alpha: f64) -> Option<Roi> {
    let (nc, rc, cc, vrc, vcc, covc) = moments(control)?;
    let (nt, rt, ct, vrt, vct, covt) = moments(treatment)?;
    let (dr, dc) = (rt - rc, ct - cc);
    if dc == 0.0 || !dc.is_finite() {
        return None;
    }
    let var_dr = vrt / nt + vrc / nc;
    let var_dc = vct / nt + vcc / nc;
    let cov = covt / nt + covc / nc;
    let var = var_dr / (dc * dc) + dr * dr * var_dc / dc.powi(4) - 2.0 * dr * cov / dc.powi(3);
    let roi = dr / dc - 1.0;
    if !(var > 0.0 && var.is_finite() && roi.is_finite()) {
        return None;
    }
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let se = var.sqrt();
    Some(Roi {
        roi,
        se,
        ci: Interval {
            low: roi - z * se,
            high: roi + z * se,
        },
    })
}
