//! Whom to offer the discount: for the top k% of held-out units by predicted uplift
//! (k = 10, 20, .., 100), what offering it to them alone would have produced, estimated from
//! the treated and control units inside that top k%:
//! - incremental orders = (treated rate − control rate) × units in the top k%;
//! - discount cost = mean discount cost of a treated unit there × units in the top k%;
//! - incremental profit = (treated − control mean of revenue − cost) × units in the top k%.
//!
//! Shares are of the same figure at k = 100% (offering it to everyone). The choice: when the
//! campaign logged discount costs, the k with the largest incremental profit (the smallest k on
//! a tie); otherwise the smallest k capturing at least `target_share` of the incremental orders.

use super::qini::ranking;
use serde::{Deserialize, Serialize};

/// One held-out unit with what it cost and earned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub score: f64,
    pub treated: bool,
    pub converted: bool,
    pub revenue: f64,
    pub cost: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetRow {
    /// Share of units offered, 10..100 (%).
    pub percent: u32,
    pub units: u64,
    /// `None` when the top k% lacks an arm.
    pub incremental_orders: Option<f64>,
    pub discount_cost: Option<f64>,
    pub incremental_profit: Option<f64>,
    /// Of the incremental orders at 100%.
    pub order_share: Option<f64>,
    /// Of the discount cost at 100%.
    pub cost_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Targeting {
    pub rows: Vec<TargetRow>,
    /// The recommended share (%), `None` when offering to everyone added no orders.
    pub recommended_percent: Option<u32>,
    /// "profit" (costs were logged) or "orders" (the share of incremental orders).
    pub rule: String,
    pub target_share: f64,
}

/// The targeting table and the recommendation for units ranked by predicted uplift.
pub fn targeting(units: &[Outcome], target_share: f64) -> Targeting {
    let scores: Vec<f64> = units.iter().map(|u| u.score).collect();
    let order = ranking(&scores);
    let n = order.len();
    let mut rows = Vec::with_capacity(10);
    for tenth in 1..=10u32 {
        let size = (tenth as usize * n).div_ceil(10).min(n);
        let (mut t, mut c) = (0.0, 0.0);
        let (mut yt, mut yc, mut cost_t, mut pt, mut pc) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &i in &order[..size] {
            let u = units[i];
            let y = if u.converted { 1.0 } else { 0.0 };
            if u.treated {
                t += 1.0;
                yt += y;
                cost_t += u.cost;
                pt += u.revenue - u.cost;
            } else {
                c += 1.0;
                yc += y;
                pc += u.revenue - u.cost;
            }
        }
        let both = t > 0.0 && c > 0.0;
        let k = size as f64;
        rows.push(TargetRow {
            percent: tenth * 10,
            units: size as u64,
            incremental_orders: both.then(|| (yt / t - yc / c) * k),
            discount_cost: (t > 0.0).then(|| cost_t / t * k),
            incremental_profit: both.then(|| (pt / t - pc / c) * k),
            order_share: None,
            cost_share: None,
        });
    }
    let total_orders = rows.last().and_then(|r| r.incremental_orders);
    let total_cost = rows.last().and_then(|r| r.discount_cost);
    for r in &mut rows {
        r.order_share = share(r.incremental_orders, total_orders);
        r.cost_share = share(r.discount_cost, total_cost);
    }
    let costs_logged = units.iter().any(|u| u.cost > 0.0);
    let adds_orders = total_orders.is_some_and(|o| o > 0.0);
    let recommended_percent = if !adds_orders {
        None
    } else if costs_logged {
        rows.iter()
            .filter_map(|r| r.incremental_profit.map(|p| (r.percent, p)))
            .fold(None, |best: Option<(u32, f64)>, (k, p)| match best {
                Some((_, bp)) if bp >= p => best,
                _ => Some((k, p)),
            })
            .map(|(k, _)| k)
    } else {
        rows.iter()
            .find(|r| r.order_share.is_some_and(|s| s >= target_share))
            .map(|r| r.percent)
    };
    Targeting {
        rows,
        recommended_percent,
        rule: if costs_logged { "profit" } else { "orders" }.into(),
        target_share,
    }
}

fn share(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    // A share of a negative or zero whole says nothing: no share then.
    let (p, w) = (part?, whole?);
    (w > 0.0).then(|| p / w)
}

impl Targeting {
    /// "offer only to the top 30% by predicted uplift: 84% of the incremental orders at 31% of
    /// the discount cost", or why there is no recommendation.
    pub fn sentence(&self) -> String {
        let Some(k) = self.recommended_percent else {
            return "no targeting recommendation: offering to everyone added no orders on the \
                    held-out units"
                .into();
        };
        let row = self.rows.iter().find(|r| r.percent == k);
        let pct = |v: Option<f64>| v.map_or("?".to_string(), |s| format!("{:.0}%", 100.0 * s));
        if k == 100 {
            return "offer to everyone: no smaller top share by predicted uplift does better"
                .into();
        }
        format!(
            "offer only to the top {k}% by predicted uplift: {} of the incremental orders at {} \
             of the discount cost",
            pct(row.and_then(|r| r.order_share)),
            pct(row.and_then(|r| r.cost_share)),
        )
    }
}
