//! What a plan's forecast says: every quantity as a point with its 80% and 95% intervals
//! (`Band`), the subsidy split, a breakdown by segment, the support warnings, and what the
//! forecast was trained on. Plain serialisable data: the CLI prints it, the console draws it,
//! the ledger freezes it.

use crate::domain::Offer;
use serde::{Deserialize, Serialize};

/// A forecast quantity: the median of the predictive draws and its central 80% and 95%
/// intervals (quantiles 0.10/0.90 and 0.025/0.975 of the same draws).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub value: f64,
    pub low_80: f64,
    pub high_80: f64,
    pub low_95: f64,
    pub high_95: f64,
}

impl Band {
    /// The band of a set of draws (sorted in place). `None` when there are none or any is
    /// not finite.
    pub fn of_draws(draws: &mut [f64]) -> Option<Band> {
        if draws.is_empty() || draws.iter().any(|d| !d.is_finite()) {
            return None;
        }
        draws.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let pos = p * (draws.len() - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(draws.len() - 1);
            draws[lo] + (pos - lo as f64) * (draws[hi] - draws[lo])
        };
        Some(Band {
            value: q(0.5),
            low_80: q(0.10),
            high_80: q(0.90),
            low_95: q(0.025),
            high_95: q(0.975),
        })
    }

    /// A band scaled about its point by `factor` (the ledger's recalibration).
    pub fn widened(&self, factor: f64) -> Band {
        let s = |v: f64| self.value + factor * (v - self.value);
        Band {
            value: self.value,
            low_80: s(self.low_80),
            high_80: s(self.high_80),
            low_95: s(self.low_95),
            high_95: s(self.high_95),
        }
    }

    pub fn contains_80(&self, y: f64) -> bool {
        self.low_80 <= y && y <= self.high_80
    }

    pub fn contains_95(&self, y: f64) -> bool {
        self.low_95 <= y && y <= self.high_95
    }
}

/// Why a plan reaches beyond what past randomised campaigns showed. Each widens the interval
/// (stated in `message`) rather than guessing silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupportWarning {
    /// Deeper (or shallower) than any depth of this offer type tested.
    DepthOutsideTested {
        depth: f64,
        tested_min: f64,
        tested_max: f64,
        message: String,
    },
    /// Audience units in a segment no past campaign had units in.
    SegmentUnseen {
        field: String,
        value: String,
        message: String,
    },
    /// No past randomised campaign ran this offer type: the effect is borrowed from another.
    OfferTypeNeverRun {
        offer_type: String,
        borrowed_from: String,
        message: String,
    },
    /// Only this many past campaigns tested the offer type: campaign-to-campaign variation is
    /// assumed, not measured.
    FewCampaigns { campaigns: usize, message: String },
    /// The audience's share of the store's units is small: its composition is uncertain.
    ThinAudience { units: usize, message: String },
}

impl SupportWarning {
    pub fn message(&self) -> &str {
        match self {
            SupportWarning::DepthOutsideTested { message, .. }
            | SupportWarning::SegmentUnseen { message, .. }
            | SupportWarning::OfferTypeNeverRun { message, .. }
            | SupportWarning::FewCampaigns { message, .. }
            | SupportWarning::ThinAudience { message, .. } => message,
        }
    }
}

/// The forecast restricted to one value of one context field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentForecast {
    pub field: String,
    pub value: String,
    /// Share of the plan's reach in this segment.
    pub share: f64,
    pub incremental_conversions: Band,
    pub incremental_profit: Band,
}

/// How the cost of the offer splits, which decides whether a promotion paid: the discount
/// paid to customers who would have bought anyway (subsidy) against the margin on the
/// orders the offer added.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostSplit {
    /// Offer cost on orders that would have happened without it.
    pub subsidy: Band,
    /// Offer cost on the incremental orders.
    pub cost_on_incremental: Band,
    /// Margin (plan's margin share of order value) earned on the incremental orders.
    pub margin_on_incremental: Band,
}

/// What the forecast learned from: the randomised campaigns, their units, the data window,
/// and a hash of all of it so a frozen forecast can say which data it saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Training {
    /// The forecaster and its fitted model: version, size, offer types, campaign spreads.
    #[serde(default)]
    pub model: String,
    pub campaigns: Vec<String>,
    /// Campaigns among them that tested this offer type.
    pub campaigns_with_offer_type: Vec<String>,
    pub units: u64,
    /// Depths of this offer type tested (sorted, distinct).
    pub tested_depths: Vec<f64>,
    /// RFC 3339 first and last assignment of the training data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_to: Option<String>,
    /// Hex digest of the training rows (campaign, unit, arm, outcome) in key order.
    pub data_hash: String,
    /// Predictive draws behind every band.
    pub draws: usize,
    /// Audience units from the store the composition was read from.
    pub audience_units: u64,
    /// Share of the store's units that match the audience.
    pub audience_share: f64,
}

/// The holdout a plan needs for its lift to be measurable (see `forecast::holdout`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HoldoutAdvice {
    /// The plan's holdout share.
    pub holdout: f64,
    /// Power at the forecast's point lift with the plan's holdout.
    pub power: f64,
    /// Chance of a significant result averaged over the forecast's spread of the lift.
    pub assurance: f64,
    /// Holdout share that reaches the plan's power at the point lift, if any does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout_needed: Option<f64>,
    pub warnings: Vec<String>,
}

/// How past forecasts of this offer type scored once their campaigns ended (the ledger).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LedgerStanding {
    pub reviewed: usize,
    /// Shares of reviewed campaigns whose measured effect fell inside the 80% / 95% interval.
    pub coverage_80: f64,
    pub coverage_95: f64,
    /// Mean forecast minus measured incremental orders (positive: optimistic).
    pub mean_error: f64,
}

/// The forecast of one plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanForecast {
    pub plan: String,
    pub offer: Offer,
    pub offer_type: String,
    pub audience: String,
    /// Users reached, all of the audience including the holdout.
    pub reach: Band,
    /// Orders the reached users place without the offer, and with it.
    pub conversions_without: Band,
    pub conversions_with: Band,
    pub incremental_conversions: Band,
    /// Revenue (after the discount) the offer adds.
    pub incremental_revenue: Band,
    /// What the offer costs in total (discounts, coupon redemptions, cost per redemption).
    pub cost: Band,
    pub incremental_profit: Band,
    /// Incremental profit over cost; `None` when the offer costs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roi: Option<Band>,
    pub split: CostSplit,
    pub segments: Vec<SegmentForecast>,
    pub warnings: Vec<SupportWarning>,
    /// Factor the intervals were scaled by from the ledger, with its sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<(f64, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutAdvice>,
    /// The ledger's score for this offer type, when any forecast of it was reviewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger: Option<LedgerStanding>,
    pub training: Training,
    /// Draws of incremental conversions, kept so the ledger can score the forecast by CRPS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incremental_conversion_draws: Vec<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_band_is_the_draws_quantiles() {
        let mut d: Vec<f64> = (0..=1000).map(f64::from).collect();
        d.reverse();
        let b = Band::of_draws(&mut d).expect("band");
        assert_eq!(b.value, 500.0);
        assert_eq!((b.low_80, b.high_80), (100.0, 900.0));
        assert_eq!((b.low_95, b.high_95), (25.0, 975.0));
        assert!(Band::of_draws(&mut []).is_none());
        assert!(Band::of_draws(&mut [1.0, f64::NAN]).is_none());
        let w = b.widened(2.0);
        assert_eq!((w.low_80, w.high_80), (-300.0, 1300.0));
        assert!(w.contains_95(-400.0) && !b.contains_95(-400.0));
    }
}
