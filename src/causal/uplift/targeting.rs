//! Whom to offer the discount: for the top k% of held-out units by predicted uplift
//! (k = 10, 20, .., 100), what offering it to them alone would have produced, estimated from
//! the treated and control units inside that top k%:
//! - incremental orders = (treated rate − control rate) × units in the top k%;
//! - discount cost = mean discount cost of a treated unit there × units in the top k%;
//! - incremental profit = (treated − control mean of revenue − cost) × units in the top k%.
//!
//! Shares are of the same figure at k = 100% (offering it to everyone), and only when that
//! whole is measurably positive (its 95% interval above zero): a share of a whole that may be
//! nothing is noise (a share of +0.004 orders reads as 200,000%). The choice: when the
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
    /// Standard error of the incremental orders at 100% (the held-out difference in rates
    /// times the units); `None` when an arm is missing.
    #[serde(default)]
    pub total_orders_se: Option<f64>,
}

/// How many standard errors above zero the whole must lie for shares of it to mean anything.
const MEASURABLE_Z: f64 = 1.959_963_984_540_054;

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
    let total_orders_se = orders_se(units);
    let measurable = matches!(
        (rows.last().and_then(|r| r.incremental_orders), total_orders_se),
        (Some(o), Some(se)) if o - MEASURABLE_Z * se > 0.0
    );
    let total_orders = rows
        .last()
        .and_then(|r| r.incremental_orders)
        .filter(|_| measurable);
    let total_cost = rows.last().and_then(|r| r.discount_cost);
    for r in &mut rows {
        r.order_share = share(r.incremental_orders, total_orders);
        r.cost_share = share(r.discount_cost, total_cost);
    }
    let costs_logged = units.iter().any(|u| u.cost > 0.0);
    let adds_orders = measurable;
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
        total_orders_se,
    }
}

/// The standard error of (treated rate − control rate) × units over every held-out unit.
fn orders_se(units: &[Outcome]) -> Option<f64> {
    let (mut t, mut c, mut yt, mut yc) = (0.0_f64, 0.0_f64, 0.0_f64, 0.0_f64);
    for u in units {
        let y = if u.converted { 1.0 } else { 0.0 };
        if u.treated {
            t += 1.0;
            yt += y;
        } else {
            c += 1.0;
            yc += y;
        }
    }
    if t < 2.0 || c < 2.0 {
        return None;
    }
    let (pt, pc) = (yt / t, yc / c);
    let n = units.len() as f64;
    Some(n * (pt * (1.0 - pt) / t + pc * (1.0 - pc) / c).sqrt())
}

fn share(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    // A share of a negative or zero whole says nothing: no share then.
    let (p, w) = (part?, whole?);
    (w > 0.0).then(|| p / w)
}

impl Targeting {
    /// Offering to everyone added orders measurably (the 95% interval of the held-out
    /// incremental orders lies above zero); `None` when an arm is missing.
    pub fn overall_measurable(&self) -> Option<bool> {
        let total = self.rows.last()?.incremental_orders?;
        Some(total - MEASURABLE_Z * self.total_orders_se? > 0.0)
    }

    /// The held-out incremental orders of offering to everyone with their 95% half-width.
    pub fn overall(&self) -> Option<(f64, f64)> {
        Some((
            self.rows.last()?.incremental_orders?,
            MEASURABLE_Z * self.total_orders_se?,
        ))
    }

    /// "offer only to the top 30% by predicted uplift: 84% of the incremental orders at 31% of
    /// the discount cost", or why there is no recommendation.
    pub fn sentence(&self) -> String {
        let Some(k) = self.recommended_percent else {
            let total = self.rows.last().and_then(|r| r.incremental_orders);
            return match (total, self.total_orders_se) {
                (Some(o), Some(se)) => format!(
                    "no targeting recommendation: offering to everyone added {o:+.1} +/- {:.1} \
                     orders on the held-out units, not measurably more than none, so shares of \
                     them mean nothing",
                    MEASURABLE_Z * se
                ),
                _ => "no targeting recommendation: offering to everyone added no orders on the \
                      held-out units"
                    .into(),
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` units alternating treated and control, scored in order; treated ones convert at
    /// `pt`, control at `pc` (deterministically: the first share of each arm converts).
    fn units(n: usize, pt: f64, pc: f64) -> Vec<Outcome> {
        (0..n)
            .map(|i| {
                let treated = i % 2 == 0;
                let rank = (i / 2) as f64 / (n / 2) as f64;
                let p = if treated { pt } else { pc };
                Outcome {
                    score: (n - i) as f64,
                    treated,
                    converted: rank < p,
                    revenue: 0.0,
                    cost: 0.0,
                }
            })
            .collect()
    }

    #[test]
    fn shares_of_a_whole_that_may_be_nothing_are_withheld() {
        // 10.1% against 10.0% on 2,000 units: +1 order, far inside its noise.
        let t = targeting(&units(2000, 0.101, 0.100), 0.8);
        assert_eq!(t.overall_measurable(), Some(false));
        assert!(t.rows.iter().all(|r| r.order_share.is_none()));
        assert_eq!(t.recommended_percent, None);
        assert!(
            t.sentence().contains("not measurably more than none"),
            "{}",
            t.sentence()
        );
    }

    #[test]
    fn a_clear_effect_gets_shares_and_a_recommendation() {
        let t = targeting(&units(2000, 0.30, 0.10), 0.8);
        assert_eq!(t.overall_measurable(), Some(true));
        let last = t.rows.last().expect("rows");
        assert_eq!(last.order_share, Some(1.0));
        assert!(t.recommended_percent.is_some());
    }
}
