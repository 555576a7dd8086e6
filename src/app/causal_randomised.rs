//! The randomised-campaign parts of `report causal`: CUPED-adjusted effects (the A/B engine's
//! `stats::metrics::cuped` on `pre_value`), ROI against control (the A/B engine's delta-method
//! `stats::roi`), the incremental totals (`causal::incremental`), and their text sections.
//! Everything is accumulated per arm as the A/B engine's rollup sums, in the report's one pass.

use crate::causal::incremental::{
    incremental, roi_of, ArmTotals, IncrementalTotals, MoneyMoments, RoiInterval, WeightedMoney,
};
use crate::causal::ipw::{difference, ArmMoments, Difference};
use crate::domain::ArmRollup;
use crate::format::{self, NumberFormat};
use crate::stats::ab::Metric;
use crate::stats::metrics::{cuped, ArmInput};
use crate::store::UnitRow;
use crate::text::escape_control;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoiEstimate {
    /// (Δrevenue - Δcost) / Δcost per unit: incremental profit per unit of incremental cost.
    pub roi: f64,
    pub se: f64,
    pub ci: (f64, f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoiRow {
    pub arm: String,
    /// Difference in means (the A/B engine's `stats::roi`).
    pub roi: Option<RoiEstimate>,
    /// Hájek-weighted revenue and cost deltas (weights 1/propensity), delta-method interval
    /// from the IPW contrast's linearisation: the campaign's ROI when propensities varied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<RoiEstimate>,
    /// Revenue and cost deltas each CUPED-adjusted on `pre_value` (the A/B engine's CUPED,
    /// its own θ per outcome), their within-arm covariance after adjustment in the variance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<RoiEstimate>,
    /// For a campaign whose weights moved: the A/B report's period-stratified ROI
    /// (`stats::stratified::Strata::roi`), beside the weighted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratified: Option<RoiEstimate>,
}

impl From<crate::stats::roi::Roi> for RoiEstimate {
    fn from(r: crate::stats::roi::Roi) -> Self {
        RoiEstimate {
            roi: r.roi,
            se: r.se,
            ci: (r.ci.low, r.ci.high),
        }
    }
}

impl From<RoiInterval> for RoiEstimate {
    fn from(r: RoiInterval) -> Self {
        RoiEstimate {
            roi: r.roi,
            se: r.se,
            ci: (r.low, r.high),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncrementalRow {
    pub arm: String,
    /// The arm's offer in words (`10% coupon`), empty for an arm without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub offer: String,
    pub units: u64,
    pub orders: i64,
    pub totals: Option<IncrementalTotals>,
    /// The totals as one sentence (money in `$`; the text report rewrites it in the
    /// operator's currency).
    #[serde(default)]
    pub summary: String,
}

/// What the sentence calls the arm: `the 10% coupon (`coupon`)`, or `arm `x`` without offer.
fn arm_phrase(arm: &str, offer: &str) -> String {
    let arm = escape_control(arm);
    if offer.is_empty() {
        format!("arm `{arm}`")
    } else {
        format!("the {} (`{arm}`)", escape_control(offer))
    }
}

/// The incremental totals of one arm as the sentence an operator repeats: "the 10% coupon
/// (`coupon`) produced 412 +/- 95 extra orders and cost $3,120.00 in discounts, of which
/// $2,480.00 went to customers who would have bought anyway". The "+/-" is the half-width of
/// the interval at the report's level. When that interval includes zero the sentence says the
/// extra orders are not distinguishable from none; when it lies below zero, that the offer
/// cost orders.
pub fn summary_sentence(r: &IncrementalRow, nf: &NumberFormat) -> String {
    let who = arm_phrase(&r.arm, &r.offer);
    let Some(t) = &r.totals else {
        return format!("{who}: no incremental totals (an arm has no orders, or too few units)");
    };
    let e = &t.extra_orders;
    let pm = format::quantity(e.half_width());
    let orders = if e.low > 0.0 {
        format!("{} +/- {pm} extra orders", format::quantity(e.value))
    } else if e.high < 0.0 {
        format!("{} +/- {pm} fewer orders", format::quantity(-e.value))
    } else {
        format!(
            "{} +/- {pm} extra orders — not distinguishable from none —",
            format::quantity_change(e.value)
        )
    };
    format!(
        "{who} produced {orders} and cost {} in discounts, of which {} went to customers who \
         would have bought anyway",
        nf.money(t.discount_cost),
        nf.money(t.cost_to_anyway_buyers.value),
    )
}

/// Per-arm sums of the one pass.
#[derive(Debug, Clone, Default)]
pub struct ArmSums {
    pub rollup: ArmRollup,
    /// Orders per unit, weighted by the logged propensities.
    pub orders: ArmMoments,
    /// Revenue and cost per unit, weighted by the logged propensities (for the weighted ROI).
    pub money: WeightedMoney,
}

impl ArmSums {
    pub fn add(&mut self, row: &UnitRow) {
        let converted = f64::from(u8::from(row.purchases > 0));
        let (orders, r, c) = (row.purchases as f64, row.revenue, row.cost);
        let mut d = ArmRollup::assigned(row.pre_value);
        let x = row.pre_value.unwrap_or(0.0);
        d.purchases = row.purchases;
        d.conversions = i64::from(row.purchases > 0);
        d.purchases_sumsq = orders * orders;
        d.revenue_sum = r;
        d.revenue_sumsq = r * r;
        d.cost_sum = c;
        d.cost_sumsq = c * c;
        d.revenue_cost_sum = r * c;
        d.revenue_purchases_sum = r * orders;
        d.x_revenue_sum = x * r;
        d.x_cost_sum = x * c;
        d.x_conversion_sum = x * converted;
        d.x_purchases_sum = x * orders;
        self.rollup += d;
        self.orders.add(orders, row.propensity);
        self.money.add(r, c, row.propensity);
    }
}

/// The A/B engine's metric for each outcome of the causal report.
pub const CUPED_METRICS: [Metric; 3] = [Metric::Conversion, Metric::Revenue, Metric::Profit];

/// CUPED-adjusted difference of every arm against `control`, per outcome (outer) and arm.
pub fn cuped_effects(sums: &[ArmSums], control: usize, alpha: f64) -> Vec<Vec<Option<Difference>>> {
    let inputs: Vec<ArmInput> = sums
        .iter()
        .map(|s| ArmInput {
            key: String::new(),
            weight: 1.0,
            rollup: s.rollup.clone(),
        })
        .collect();
    CUPED_METRICS
        .iter()
        .map(|&m| {
            let fit = cuped(m, &inputs);
            (0..sums.len())
                .map(|a| {
                    let est = fit.as_ref()?;
                    let t = est.estimates.get(a).copied().flatten()?;
                    let c = est.estimates.get(control).copied().flatten()?;
                    (a != control)
                        .then(|| difference((t.value, t.variance), (c.value, c.variance), alpha))
                        .flatten()
                })
                .collect()
        })
        .collect()
}

/// Per treatment arm, ROI against control three ways: difference in means, propensity-weighted
/// and CUPED-adjusted.
pub fn roi_rows(sums: &[ArmSums], arms: &[String], control: usize, alpha: f64) -> Vec<RoiRow> {
    let cuped_money = cuped_money(sums);
    let weighted_control = sums[control].money.moments();
    arms.iter()
        .enumerate()
        .filter(|(a, _)| *a != control)
        .map(|(a, arm)| RoiRow {
            arm: arm.clone(),
            roi: crate::stats::roi::roi_vs_control(&sums[control].rollup, &sums[a].rollup, alpha)
                .map(RoiEstimate::from),
            weighted: match (sums[a].money.moments(), weighted_control) {
                (Some(t), Some(c)) => roi_of(&t, &c, alpha).map(RoiEstimate::from),
                _ => None,
            },
            cuped: match (cuped_money.get(a), cuped_money.get(control)) {
                (Some(Some(t)), Some(Some(c))) => roi_of(t, c, alpha).map(RoiEstimate::from),
                _ => None,
            },
            stratified: None,
        })
        .collect()
}

/// Each arm's CUPED-adjusted revenue and cost per unit with their variances, and the
/// covariance of the two adjusted means: with θ_r, θ_c the pooled fits and S the within-arm
/// centred sums, Cov = (S_rc - θ_c·S_rx - θ_r·S_cx + θ_r·θ_c·S_xx) / ((n - 1)·n).
fn cuped_money(sums: &[ArmSums]) -> Vec<Option<MoneyMoments>> {
    let inputs: Vec<ArmInput> = sums
        .iter()
        .map(|s| ArmInput {
            key: String::new(),
            weight: 1.0,
            rollup: s.rollup.clone(),
        })
        .collect();
    let (Some(rev), Some(cost)) = (
        cuped(Metric::Revenue, &inputs),
        cuped(Metric::Cost, &inputs),
    ) else {
        return vec![None; sums.len()];
    };
    sums.iter()
        .enumerate()
        .map(|(a, s)| {
            let r = rev.estimates.get(a).copied().flatten()?;
            let c = cost.estimates.get(a).copied().flatten()?;
            let u = &s.rollup;
            let n = u.units as f64;
            if n < 2.0 {
                return None;
            }
            let centred = |ab: f64, a: f64, b: f64| ab - a * b / n;
            let s_rc = centred(u.revenue_cost_sum, u.revenue_sum, u.cost_sum);
            let s_rx = centred(u.x_revenue_sum, u.revenue_sum, u.x_sum);
            let s_cx = centred(u.x_cost_sum, u.cost_sum, u.x_sum);
            let s_xx = centred(u.x_sumsq, u.x_sum, u.x_sum);
            let (tr, tc) = (rev.theta, cost.theta);
            let cov = (s_rc - tc * s_rx - tr * s_cx + tr * tc * s_xx) / ((n - 1.0) * n);
            Some(MoneyMoments {
                revenue: r.value,
                cost: c.value,
                var_revenue: r.variance,
                var_cost: c.variance,
                cov,
            })
        })
        .collect()
}

/// `offers[a]` is arm a's offer in words (may be shorter than `arms`: then none).
pub fn incremental_rows(
    sums: &[ArmSums],
    arms: &[String],
    offers: &[String],
    control: usize,
    profit: &[Option<(f64, f64)>],
    alpha: f64,
) -> Vec<IncrementalRow> {
    let totals = |s: &ArmSums| ArmTotals {
        units: s.rollup.units as f64,
        orders_per_unit: s.orders.weighted().unwrap_or((0.0, f64::NAN)),
        revenue: s.rollup.revenue_sum,
        cost: s.rollup.cost_sum,
    };
    let c = totals(&sums[control]);
    arms.iter()
        .enumerate()
        .filter(|(a, _)| *a != control)
        .map(|(a, arm)| {
            let mut row = IncrementalRow {
                arm: arm.clone(),
                offer: offers.get(a).cloned().unwrap_or_default(),
                units: sums[a].rollup.units.max(0) as u64,
                orders: sums[a].rollup.purchases,
                totals: incremental(
                    &totals(&sums[a]),
                    &c,
                    profit.get(a).copied().flatten(),
                    alpha,
                ),
                summary: String::new(),
            };
            row.summary = summary_sentence(&row, &NumberFormat::default());
            row
        })
        .collect()
}

/// The ROI and incremental-totals sections, each line under 80 columns (the console's Causal
/// panel shows the same text).
pub fn format_sections(roi: &[RoiRow], inc: &[IncrementalRow], nf: &NumberFormat) -> String {
    let mut s = String::new();
    for r in roi {
        let arm = escape_control(&r.arm);
        match &r.roi {
            // (Δrevenue - Δcost) / Δcost against control, with a delta-method interval.
            Some(x) => s.push_str(&format!(
                "ROI {arm} vs control: {} {} (delta method)\n",
                format::roi(x.roi),
                format::interval(Some(x.ci.0), Some(x.ci.1), format::roi)
            )),
            None => s.push_str(&format!(
                "ROI {arm} vs control: - (no extra cost, or too few units)\n"
            )),
        }
        // Beside the difference in means, as the effects table shows its rows.
        for (label, x) in [
            ("propensity-weighted", &r.weighted),
            ("CUPED", &r.cuped),
            ("stratified", &r.stratified),
        ] {
            if let Some(x) = x {
                s.push_str(&format!(
                    "  {label:<19} {} {}\n",
                    format::roi(x.roi),
                    format::interval(Some(x.ci.0), Some(x.ci.1), format::roi)
                ));
            }
        }
    }
    for r in inc {
        let arm = escape_control(&r.arm);
        let Some(t) = &r.totals else {
            s.push_str(&format!(
                "incremental {arm}: - (an arm has no orders, or too few units)\n"
            ));
            continue;
        };
        s.push_str(&wrap(&summary_sentence(r, nf), 78));
        let e = &t.extra_orders;
        let a = &t.cost_to_anyway_buyers;
        s.push_str(&format!(
            "incremental {arm}: {} +/- {} extra orders ({} units, {} orders)\n",
            format::quantity_change(e.value),
            format::quantity(e.half_width()),
            format::count(r.units as i64),
            format::count(r.orders),
        ));
        s.push_str(&format!(
            "  discounts paid {}; to customers who would have bought anyway:\n    {} {} \
             ({} of the arm's orders)\n",
            nf.money(t.discount_cost),
            nf.money(a.value),
            format::interval(Some(a.low), Some(a.high), |x| nf.money(x)),
            format::rate(t.anyway_share.value),
        ));
        let m = &t.margin_on_incremental;
        s.push_str(&format!(
            "  margin on the extra orders {} {}\n",
            nf.money(m.value),
            format::interval(Some(m.low), Some(m.high), |x| nf.money(x)),
        ));
        if let Some(p) = &t.incremental_profit {
            s.push_str(&format!(
                "  net incremental profit {} {}\n",
                nf.money_change(p.value),
                format::interval(Some(p.low), Some(p.high), |x| nf.money_change(x)),
            ));
        }
    }
    s
}

/// `text` broken at spaces into lines of at most `width` characters (a longer word keeps its
/// own line), each ending in a newline.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}
