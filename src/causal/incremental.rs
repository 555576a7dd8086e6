//! Incremental totals of one treatment arm in absolute terms: how many extra orders the offer
//! produced, what it paid in discounts, and how that cost splits between customers who would
//! have bought anyway and the orders the offer caused. Pure.
//!
//! With m_t and m_c the orders per unit of the treated arm and of control (the Hájek means,
//! equal to the plain means when the propensities are constant) and n_t the treated units:
//! - extra orders E = (m_t - m_c)·n_t; n_t is fixed by the design, so its interval is the
//!   per-unit interval times n_t;
//! - of the treated orders, the share that would have happened without the offer is
//!   s = m_c / m_t (what control buys per unit, over what treated units bought per unit). The
//!   arms are independent, so by the delta method on log s,
//!   Var(s) ≈ s²·(Var(m_c)/m_c² + Var(m_t)/m_t²); the interval is clipped to [0, 1];
//! - the discount cost paid, C_t, is the treated arm's cost total (observed, no interval);
//!   the part that went to customers who would have bought anyway is C_t·s, the rest C_t·(1-s)
//!   bought the extra orders. This assumes a non-incremental order carries the same discount
//!   as an incremental one on average (a coupon of fixed value or rate applied to every order);
//! - the margin (revenue - cost) on the incremental orders is (R_t - C_t)·(1 - s), on the same
//!   assumption about the margin per order; 1 - s is not clipped at 0, so when the offer lost
//!   orders (s > 1) the margin is negative, as the extra orders are;
//! - the net incremental profit is the per-unit profit effect times n_t, which already nets
//!   the subsidy out.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// A value with its interval at the report's level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    fn around(value: f64, se: f64, z: f64) -> Self {
        Interval {
            value,
            low: value - z * se,
            high: value + z * se,
        }
    }

    /// Half the interval's width, the "+/-" of a sentence.
    pub fn half_width(&self) -> f64 {
        (self.high - self.low) / 2.0
    }

    fn scaled(&self, k: f64) -> Self {
        let (a, b) = (self.low * k, self.high * k);
        Interval {
            value: self.value * k,
            low: a.min(b),
            high: a.max(b),
        }
    }
}

/// What the incremental totals need of one arm.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmTotals {
    pub units: f64,
    /// Orders per unit and its standard error.
    pub orders_per_unit: (f64, f64),
    pub revenue: f64,
    /// The discount cost paid in the arm.
    pub cost: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IncrementalTotals {
    pub extra_orders: Interval,
    /// The treated arm's cost total.
    pub discount_cost: f64,
    /// Share of the treated orders that would have happened without the offer.
    pub anyway_share: Interval,
    /// Discount cost that went to customers who would have bought anyway.
    pub cost_to_anyway_buyers: Interval,
    /// Margin (revenue - cost) on the incremental orders.
    pub margin_on_incremental: Interval,
    /// Per-unit profit effect times the treated units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_profit: Option<Interval>,
}

/// The totals of `treated` against `control`; `profit_effect` is the per-unit profit effect
/// and its standard error. `None` when either arm has no orders, or no units.
pub fn incremental(
    treated: &ArmTotals,
    control: &ArmTotals,
    profit_effect: Option<(f64, f64)>,
    alpha: f64,
) -> Option<IncrementalTotals> {
    let (mt, st) = treated.orders_per_unit;
    let (mc, sc) = control.orders_per_unit;
    if !(treated.units > 0.0 && mt > 0.0 && mc > 0.0 && st.is_finite() && sc.is_finite()) {
        return None;
    }
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let n = treated.units;
    let extra_orders = Interval::around((mt - mc) * n, (st * st + sc * sc).sqrt() * n, z);
    let s = mc / mt;
    let s_se = s * ((sc / mc).powi(2) + (st / mt).powi(2)).sqrt();
    let raw = Interval::around(s, s_se, z);
    let anyway_share = Interval {
        value: s.clamp(0.0, 1.0),
        low: raw.low.clamp(0.0, 1.0),
        high: raw.high.clamp(0.0, 1.0),
    };
    // The margin follows the extra orders, sign included: when the treated arm ordered less
    // per unit than control (s > 1) the offer lost orders and the margin on them is negative,
    // so 1 - s is not clipped at 0. It is clipped at 1: the incremental orders cannot be more
    // than all the treated orders.
    let not_anyway = Interval {
        value: (1.0 - s).min(1.0),
        low: (1.0 - raw.high).min(1.0),
        high: (1.0 - raw.low).min(1.0),
    };
    let totals = IncrementalTotals {
        extra_orders,
        discount_cost: treated.cost,
        anyway_share,
        cost_to_anyway_buyers: anyway_share.scaled(treated.cost),
        margin_on_incremental: not_anyway.scaled(treated.revenue - treated.cost),
        incremental_profit: profit_effect
            .filter(|(v, se)| v.is_finite() && se.is_finite())
            .map(|(v, se)| Interval::around(v * n, se * n, z)),
    };
    let finite = [
        totals.extra_orders.low,
        totals.extra_orders.high,
        totals.anyway_share.low,
        totals.anyway_share.high,
    ]
    .iter()
    .all(|x| x.is_finite());
    finite.then_some(totals)
}

/// One arm's revenue and cost per unit as Hájek means (weights 1/propensity), with their
/// linearised variances and covariance: the same linearisation as the IPW contrast's
/// (`causal::ipw::ArmMoments::weighted`), unit i contributing w_i·(y_i - μ)/Σw, so
/// Var(μ_r) = Σw²(r-μ_r)²/(Σw)² and Cov(μ_r, μ_c) = Σw²(r-μ_r)(c-μ_c)/(Σw)².
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WeightedMoney {
    pub n: u64,
    sum_w: f64,
    sum_wr: f64,
    sum_wc: f64,
    sum_ww: f64,
    sum_wwr: f64,
    sum_wwc: f64,
    sum_wwrr: f64,
    sum_wwcc: f64,
    sum_wwrc: f64,
}

/// Means, variances and covariance of an arm's revenue and cost per unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MoneyMoments {
    pub revenue: f64,
    pub cost: f64,
    pub var_revenue: f64,
    pub var_cost: f64,
    pub cov: f64,
}

impl WeightedMoney {
    /// Adds one unit's revenue and cost; it had probability `propensity` of its arm.
    pub fn add(&mut self, revenue: f64, cost: f64, propensity: f64) {
        let w = 1.0 / propensity;
        let ww = w * w;
        self.n += 1;
        self.sum_w += w;
        self.sum_wr += w * revenue;
        self.sum_wc += w * cost;
        self.sum_ww += ww;
        self.sum_wwr += ww * revenue;
        self.sum_wwc += ww * cost;
        self.sum_wwrr += ww * revenue * revenue;
        self.sum_wwcc += ww * cost * cost;
        self.sum_wwrc += ww * revenue * cost;
    }

    /// `None` under two units or without positive weight.
    pub fn moments(&self) -> Option<MoneyMoments> {
        if self.n < 2 || self.sum_w <= 0.0 || self.sum_w.is_nan() {
            return None;
        }
        let (r, c) = (self.sum_wr / self.sum_w, self.sum_wc / self.sum_w);
        let w2 = self.sum_w * self.sum_w;
        // Σw²(a-μa)(b-μb) expanded so it accumulates in one pass.
        let centred = |ab: f64, a: f64, b: f64, mu_a: f64, mu_b: f64| {
            ab - mu_b * a - mu_a * b + mu_a * mu_b * self.sum_ww
        };
        Some(MoneyMoments {
            revenue: r,
            cost: c,
            var_revenue: centred(self.sum_wwrr, self.sum_wwr, self.sum_wwr, r, r).max(0.0) / w2,
            var_cost: centred(self.sum_wwcc, self.sum_wwc, self.sum_wwc, c, c).max(0.0) / w2,
            cov: centred(self.sum_wwrc, self.sum_wwr, self.sum_wwc, r, c) / w2,
        })
    }
}

/// An ROI with its standard error and interval at the report's level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoiInterval {
    pub roi: f64,
    pub se: f64,
    pub low: f64,
    pub high: f64,
}

/// ROI = Δr/Δc - 1 of `treated` against `control` (arms independent), by the delta method:
/// Var ≈ Var(Δr)/Δc² + Δr²·Var(Δc)/Δc⁴ - 2·Δr·Cov(Δr, Δc)/Δc³, as `stats::roi` does for the
/// difference in means. `None` when Δc = 0 or the variance is not positive.
pub fn roi_of(treated: &MoneyMoments, control: &MoneyMoments, alpha: f64) -> Option<RoiInterval> {
    let (dr, dc) = (
        treated.revenue - control.revenue,
        treated.cost - control.cost,
    );
    if dc == 0.0 || !dc.is_finite() {
        return None;
    }
    let var_dr = treated.var_revenue + control.var_revenue;
    let var_dc = treated.var_cost + control.var_cost;
    let cov = treated.cov + control.cov;
    let var = var_dr / (dc * dc) + dr * dr * var_dc / dc.powi(4) - 2.0 * dr * cov / dc.powi(3);
    let roi = dr / dc - 1.0;
    if !(var > 0.0 && var.is_finite() && roi.is_finite()) {
        return None;
    }
    let z = Normal::standard().inverse_cdf(1.0 - alpha / 2.0);
    let se = var.sqrt();
    Some(RoiInterval {
        roi,
        se,
        low: roi - z * se,
        high: roi + z * se,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_orders_in_an_arm_is_no_split() {
        let t = ArmTotals {
            units: 10.0,
            orders_per_unit: (0.2, 0.1),
            revenue: 100.0,
            cost: 10.0,
        };
        let c = ArmTotals {
            orders_per_unit: (0.0, 0.0),
            ..t
        };
        assert!(incremental(&t, &c, None, 0.05).is_none());
        assert!(incremental(&c, &t, None, 0.05).is_none());
    }

    #[test]
    fn the_split_adds_up_to_the_cost() {
        let t = ArmTotals {
            units: 1000.0,
            orders_per_unit: (0.2, 0.01),
            revenue: 5000.0,
            cost: 400.0,
        };
        let c = ArmTotals {
            orders_per_unit: (0.15, 0.01),
            ..t
        };
        let r = incremental(&t, &c, None, 0.05).expect("totals");
        assert!((r.extra_orders.value - 50.0).abs() < 1e-9);
        assert!((r.anyway_share.value - 0.75).abs() < 1e-12);
        assert!((r.cost_to_anyway_buyers.value - 300.0).abs() < 1e-9);
        assert!((r.margin_on_incremental.value - 0.25 * 4600.0).abs() < 1e-9);
    }

    #[test]
    fn the_margin_goes_negative_with_the_extra_orders() {
        // Treated ordered a little less than control: the extra orders' interval straddles
        // zero, and the margin on them must straddle zero too, not stop at $0.
        let t = ArmTotals {
            units: 1000.0,
            orders_per_unit: (0.19, 0.02),
            revenue: 5000.0,
            cost: 400.0,
        };
        let c = ArmTotals {
            orders_per_unit: (0.20, 0.02),
            ..t
        };
        let r = incremental(&t, &c, None, 0.05).expect("totals");
        assert!(r.extra_orders.value < 0.0 && r.extra_orders.high > 0.0);
        let m = &r.margin_on_incremental;
        assert!(m.value < 0.0, "margin {m:?}");
        assert!(m.low < 0.0 && m.high > 0.0, "margin {m:?}");
        assert!(m.low <= m.value && m.value <= m.high);
        // The cost split stays a share of what was paid.
        let a = &r.cost_to_anyway_buyers;
        assert!(a.low >= 0.0 && a.high <= 400.0 + 1e-9);
    }
}
