//! Metrics as the reports see them: which sufficient statistics of an arm's rollups make each
//! metric (proportion, per-unit mean, or ratio of per-unit sums), and which sums feed CUPED
//! for each metric (the adjustment itself is `stats::cuped`). Pure.

use super::cuped::{CupedFit, CupedSums};
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

/// One arm's CUPED sums for a metric: per-unit numerator y, denominator d (1 for means and
/// proportions) and their cross sums with the covariate x = `pre_value`.
pub fn cuped_sums(metric: Metric, r: &ArmRollup) -> CupedSums {
    let n = r.units as f64;
    let x = (r.x_sum, r.x_sumsq);
    let mean = |y: (f64, f64), xy: f64| CupedSums::mean(n, y, (x.0, x.1, xy));
    match (metric, metric_stats(metric, r)) {
        (Metric::Conversion, _) => mean(y_sums(metric, r), r.x_conversion_sum),
        (Metric::AddToCart, _) => mean(y_sums(metric, r), r.x_cart_sum),
        (Metric::Revenue, _) => mean(y_sums(metric, r), r.x_revenue_sum),
        (Metric::Cost, _) => mean(y_sums(metric, r), r.x_cost_sum),
        // x·(r - c) summed per unit.
        (Metric::Profit, _) => mean(y_sums(metric, r), r.x_revenue_sum - r.x_cost_sum),
        (Metric::Ctr | Metric::Aov, MetricStats::Ratio(s)) => {
            let xd = if metric == Metric::Ctr {
                (r.x_clicks_sum, r.x_exposures_sum)
            } else {
                (r.x_revenue_sum, r.x_purchases_sum)
            };
            CupedSums {
                n,
                sum_y: s.sum_y,
                sum_y_sq: s.sum_y_sq,
                sum_d: s.sum_x,
                sum_d_sq: s.sum_x_sq,
                sum_yd: s.sum_xy,
                sum_x: x.0,
                sum_x_sq: x.1,
                sum_xy: xd.0,
                sum_xd: xd.1,
            }
        }
        (Metric::Ctr | Metric::Aov, _) => CupedSums::default(),
    }
}

/// Pooled CUPED of one metric over the arms (see [`super::cuped`]).
pub fn cuped(metric: Metric, arms: &[ArmInput]) -> Option<CupedFit> {
    let sums: Vec<CupedSums> = arms.iter().map(|a| cuped_sums(metric, &a.rollup)).collect();
    super::cuped::fit(&sums)
}

pub fn y_sums(metric: Metric, r: &ArmRollup) -> (f64, f64) {
    match metric_stats(metric, r) {
        // A 0/1 outcome: y² = y.
        MetricStats::Proportion(p) => (p.x as f64, p.x as f64),
        MetricStats::Mean(m) => (m.sum, m.sum_sq),
        MetricStats::Ratio(_) => (0.0, 0.0),
    }
}
