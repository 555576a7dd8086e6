//! Metrics as the reports see them: which sufficient statistics of an arm's rollups make each
//! metric (proportion, per-unit mean, or ratio of per-unit sums), and CUPED regression
//! adjustment of those statistics with the pre-period covariate. Pure.

use super::frequentist::{ArmEstimate, MeanStats, ProportionStats, RatioStats};
use crate::domain::ArmRollup;
use serde::Serialize;

/// An arm as the report sees it.
#[derive(Debug, Clone)]
pub struct ArmInput {
    pub key: String,
    pub weight: f64,
    pub rollup: ArmRollup,
}

/// What is measured per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Units with >= 1 purchase / units.
    Conversion,
    /// Clicks / exposures (ratio of per-unit sums, delta method).
    Ctr,
    /// Units with >= 1 add-to-cart / units.
    AddToCart,
    Revenue,
    Cost,
    Profit,
    /// Average order value: revenue / orders (delta method).
    Aov,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::Conversion,
        Metric::Ctr,
        Metric::AddToCart,
        Metric::Revenue,
        Metric::Cost,
        Metric::Profit,
        Metric::Aov,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Conversion => "conversion",
            Metric::Ctr => "ctr",
            Metric::AddToCart => "add_to_cart",
            Metric::Revenue => "revenue",
            Metric::Cost => "cost",
            Metric::Profit => "profit",
            Metric::Aov => "aov",
        }
    }

    /// Accepts metric names and the event kinds they derive from (`purchase` = conversion).
    pub fn parse(s: &str) -> Option<Metric> {
        match s {
            "purchase" => Some(Metric::Conversion),
            "click" => Some(Metric::Ctr),
            other => Self::ALL.into_iter().find(|m| m.name() == other),
        }
    }

    /// Higher is better for everything but cost.
    pub fn higher_is_better(self) -> bool {
        self != Metric::Cost
    }
}

/// One metric's sufficient statistics in one arm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricStats {
    Proportion(ProportionStats),
    Mean(MeanStats),
    Ratio(RatioStats),
}

/// Reads a metric's sufficient statistics out of an arm's rollups.
pub fn metric_stats(metric: Metric, r: &ArmRollup) -> MetricStats {
    let n = r.units as f64;
    match metric {
        Metric::Conversion => MetricStats::Proportion(ProportionStats {
            n: r.units.max(0) as u64,
            x: r.conversions.max(0) as u64,
        }),
        Metric::AddToCart => MetricStats::Proportion(ProportionStats {
            n: r.units.max(0) as u64,
            x: r.cart_units.max(0) as u64,
        }),
        Metric::Revenue => MetricStats::Mean(MeanStats {
            n,
            sum: r.revenue_sum,
            sum_sq: r.revenue_sumsq,
        }),
        Metric::Cost => MetricStats::Mean(MeanStats {
            n,
            sum: r.cost_sum,
            sum_sq: r.cost_sumsq,
        }),
        // (r - c)² = r² - 2rc + c², summed per unit.
        Metric::Profit => MetricStats::Mean(MeanStats {
            n,
            sum: r.revenue_sum - r.cost_sum,
            sum_sq: r.revenue_sumsq - 2.0 * r.revenue_cost_sum + r.cost_sumsq,
        }),
        Metric::Ctr => MetricStats::Ratio(RatioStats {
            n,
            sum_y: r.clicks as f64,
            sum_y_sq: r.clicks_sumsq,
            sum_x: r.exposures as f64,
            sum_x_sq: r.exposures_sumsq,
            sum_xy: r.clicks_exposures_sum,
        }),
        Metric::Aov => MetricStats::Ratio(RatioStats {
            n,
            sum_y: r.revenue_sum,
            sum_y_sq: r.revenue_sumsq,
            sum_x: r.purchases as f64,
            sum_x_sq: r.purchases_sumsq,
            sum_xy: r.revenue_purchases_sum,
        }),
    }
}

/// Per-unit covariate moments for CUPED: Σx, Σx², Σxy for the metric's y.
fn covariate_sums(metric: Metric, r: &ArmRollup) -> Option<(f64, f64, f64)> {
    let xy = match metric {
        Metric::Conversion => r.x_conversion_sum,
        Metric::Revenue => r.x_revenue_sum,
        _ => return None,
    };
    Some((r.x_sum, r.x_sumsq, xy))
}

/// The value and variance of one arm's metric estimate (CUPED-adjusted when asked).
pub fn arm_estimate(stats: &MetricStats) -> Option<ArmEstimate> {
    match stats {
        MetricStats::Proportion(p) => p.moments().map(|m| m.arm_estimate()),
        MetricStats::Mean(m) => m.moments().map(|m| m.arm_estimate()),
        MetricStats::Ratio(r) => r.arm_estimate(),
    }
}

pub fn point(stats: &MetricStats) -> Option<f64> {
    match stats {
        MetricStats::Proportion(p) => p.rate(),
        MetricStats::Mean(m) => m.mean(),
        MetricStats::Ratio(r) => r.ratio(),
    }
}

/// Pooled CUPED, returning (θ, adjusted arm estimates, variance reduction): θ = Cov(y, x)/Var(x) over all units; arm means shift by θ(x̄_arm - x̄_all).
pub fn cuped(metric: Metric, arms: &[ArmInput]) -> Option<(f64, Vec<Option<ArmEstimate>>, f64)> {
    let mut n = 0.0;
    let (mut sx, mut sxx, mut sy, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for a in arms {
        let (x, xx, xy) = covariate_sums(metric, &a.rollup)?;
        if let MetricStats::Ratio(_) = metric_stats(metric, &a.rollup) {
            return None;
        }
        let (y, _) = y_sums(metric, &a.rollup);
        n += a.rollup.units as f64;
        sx += x;
        sxx += xx;
        sy += y;
        sxy += xy;
    }
    if n < 3.0 {
        return None;
    }
    let var_x = (sxx - sx * sx / n) / (n - 1.0);
    let cov = (sxy - sx * sy / n) / (n - 1.0);
    if var_x <= 0.0 || !var_x.is_finite() {
        return None;
    }
    let theta = cov / var_x;
    let x_all = sx / n;
    let mut raw_var = 0.0;
    let mut adj_var = 0.0;
    let estimates = arms
        .iter()
        .map(|a| {
            let r = &a.rollup;
            let na = r.units as f64;
            if na < 2.0 {
                return None;
            }
            let (x, xx, xy) = covariate_sums(metric, r)?;
            let (y, yy) = y_sums(metric, r);
            let vy = (yy - y * y / na) / (na - 1.0);
            let vx = (xx - x * x / na) / (na - 1.0);
            let cxy = (xy - x * y / na) / (na - 1.0);
            let v = (vy - 2.0 * theta * cxy + theta * theta * vx).max(0.0);
            raw_var += vy / na;
            adj_var += v / na;
            Some(ArmEstimate {
                value: y / na - theta * (x / na - x_all),
                variance: v / na,
            })
        })
        .collect();
    let reduction = if raw_var > 0.0 {
        1.0 - adj_var / raw_var
    } else {
        0.0
    };
    Some((theta, estimates, reduction))
}

pub fn y_sums(metric: Metric, r: &ArmRollup) -> (f64, f64) {
    match metric_stats(metric, r) {
        // A 0/1 outcome: y² = y.
        MetricStats::Proportion(p) => (p.x as f64, p.x as f64),
        MetricStats::Mean(m) => (m.sum, m.sum_sq),
        MetricStats::Ratio(_) => (0.0, 0.0),
    }
}
