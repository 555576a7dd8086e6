//! The forecast behind the console's `F` key and `liftdeck forecast`: what shipping an arm to
//! all traffic would earn over the coming days, from the campaign's own measured effects.
//! Incremental conversions, revenue, cost and profit are the per-unit effect against control
//! times the units expected at the recent traffic rate, with the effect's fixed-horizon
//! interval carried through; ROI comes with its delta-method interval.
//!
//! What the intervals cover: uncertainty in the per-unit effect. They assume the effect and
//! the traffic rate persist; the expected units are taken as known. Forecasts of campaigns
//! that have not run yet (from the conversion model) arrive with the forecast step.

use super::report::report_inputs;
use super::{AppError, Progress, Result};
use crate::format::{self, NumberFormat};
use crate::stats::ab::{ab_report, Metric};
use crate::store::Store;
use crate::text::escape_control;
use serde::{Deserialize, Serialize};

/// One projected quantity: point estimate and interval.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Projected {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmForecast {
    pub arm: String,
    pub incremental_conversions: Option<Projected>,
    pub incremental_revenue: Option<Projected>,
    pub incremental_cost: Option<Projected>,
    pub incremental_profit: Option<Projected>,
    pub roi: Option<Projected>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forecast {
    pub campaign: String,
    pub control: String,
    pub horizon_days: f64,
    pub alpha: f64,
    /// Units per day measured over the last day of data, scaled to all traffic.
    pub units_per_day: Option<f64>,
    /// Units the horizon is expected to bring.
    pub units: Option<f64>,
    pub arms: Vec<ArmForecast>,
    pub notes: Vec<String>,
}

const DAY_MICROS: i64 = 86_400_000_000;

/// A forecast projects traffic only from at least this many units seen by the campaign: a
/// rate measured on one unit in one minute is not 1,440 units a day, it is no rate at all.
pub const MIN_FORECAST_UNITS: i64 = 100;
/// Width of the store's chart buckets (`Store::buckets` is per minute).
const BUCKET_MICROS: i64 = 60_000_000;

/// Projects every treatment arm of `key` over `horizon_days`.
pub fn forecast(
    store: &Store,
    key: &str,
    horizon_days: f64,
    alpha: Option<f64>,
    progress: &dyn Progress,
) -> Result<Forecast> {
    if !(horizon_days > 0.0 && horizon_days.is_finite()) {
        return Err(AppError::Invalid(format!(
            "forecast horizon must be a positive number of days, got {horizon_days}"
        )));
    }
    let (campaign, _) = store.campaign(key)?;
    // Enough traffic to measure a rate? Units and the data time they came in over.
    let buckets = store.buckets(key)?;
    let seen_units: i64 = buckets.iter().map(|b| b.new_units).sum();
    let with_units = buckets.iter().filter(|b| b.new_units > 0).map(|b| b.bucket);
    let span = match (with_units.clone().min(), with_units.max()) {
        (Some(first), Some(last)) => last - first + BUCKET_MICROS,
        _ => 0,
    };
    let enough = seen_units >= MIN_FORECAST_UNITS;
    let rate = if enough {
        store.recent_unit_rate(key, DAY_MICROS)?
    } else {
        None
    };
    // The campaign sees only its traffic fraction; shipping means everyone.
    let units_per_day = rate.map(|r| r * 86_400.0 / campaign.spec.traffic);
    let units = units_per_day.map(|u| u * horizon_days);
    // The campaign's own options (alpha, N*, correction), as `report ab` builds them.
    let overrides = super::report::ReportOverrides {
        alpha,
        ..Default::default()
    };
    let opts = super::report::options_for(&campaign.spec, &overrides)?;
    let alpha = opts.alpha;
    // One read of the rollups serves all four metrics.
    let inputs = report_inputs(store.arm_summaries(key)?);
    let control_key = campaign.spec.control.as_deref();
    let metrics = [
        Metric::Conversion,
        Metric::Revenue,
        Metric::Cost,
        Metric::Profit,
    ];
    let mut reports = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        progress.update(i as f64 / metrics.len() as f64, m.name())?;
        reports.push(ab_report(key, control_key, *m, &inputs, &opts));
    }
    progress.update(1.0, "projecting")?;
    let first = &reports[0];
    let control = first.control.clone();
    let scale = |row: Option<&crate::stats::ab::ArmRow>| -> Option<Projected> {
        let (row, n) = (row?, units?);
        Some(Projected {
            value: row.abs_diff? * n,
            low: row.abs_ci_low? * n,
            high: row.abs_ci_high? * n,
        })
    };
    let row_of = |i: usize, arm: &str| reports[i].arms.iter().find(|a| a.key == arm);
    let arms = first
        .arms
        .iter()
        .filter(|a| a.key != control)
        .map(|a| {
            let roi = row_of(0, &a.key).and_then(|r| {
                Some(Projected {
                    value: r.roi?,
                    low: r.roi_ci_low?,
                    high: r.roi_ci_high?,
                })
            });
            ArmForecast {
                arm: a.key.clone(),
                incremental_conversions: scale(row_of(0, &a.key)),
                incremental_revenue: scale(row_of(1, &a.key)),
                incremental_cost: scale(row_of(2, &a.key)),
                incremental_profit: scale(row_of(3, &a.key)),
                roi,
            }
        })
        .collect();
    let mut notes = vec![
        "intervals cover the per-unit effect; traffic and effect are assumed to persist".into(),
    ];
    if !enough {
        notes.push(format!(
            "not enough data to project: {} units over {} minute(s) of data; a forecast \
             needs at least {MIN_FORECAST_UNITS} units",
            crate::format::count(seen_units),
            span / 60_000_000,
        ));
    } else if units.is_none() {
        notes.push("no recent traffic: nothing to project the units from".into());
    }
    Ok(Forecast {
        campaign: key.into(),
        control,
        horizon_days,
        alpha,
        units_per_day,
        units,
        arms,
        notes,
    })
}

/// The plain-text forecast (CLI; the console renders the same struct) in the default format.
pub fn format_text(f: &Forecast) -> String {
    format_text_with(f, &NumberFormat::default())
}

/// Below this many columns a forecast's projections are abbreviated (`+$12.4M`).
pub const COMPACT_BELOW: usize = 98;

/// The plain-text forecast as `forecast` prints it, with the operator's currency: counts
/// grouped, money with two decimals, ROI as a percentage (the numbers of `crate::format`).
pub fn format_text_with(f: &Forecast, nf: &NumberFormat) -> String {
    format_text_for_width(f, nf, usize::MAX)
}

/// The forecast for `width` columns, the one renderer of the CLI and the console's Forecast
/// panel: below `COMPACT_BELOW` the projections are abbreviated (`+143.2k`, `+$8.4M`) so each
/// fits on its line; ROI stays a percentage and the layout is the same.
pub fn format_text_for_width(f: &Forecast, nf: &NumberFormat, width: usize) -> String {
    let compact = width < COMPACT_BELOW;
    let show = |p: &Option<Projected>, one: &dyn Fn(f64) -> String| {
        p.map_or(format::MISSING.to_string(), |p| {
            format!("{} [{}, {}]", one(p.value), one(p.low), one(p.high))
        })
    };
    let money = |x: f64| {
        if compact {
            nf.money_compact(x)
        } else {
            nf.money_change(x)
        }
    };
    let conversions = |x: f64| {
        if compact {
            format::compact_change(x)
        } else {
            format::quantity_change(x)
        }
    };
    let mut s = format!(
        "forecast: ship an arm of {} to all traffic for {} days ({:.0}% intervals)\n  \
         expected units {}  ({} per day)\n",
        escape_control(&f.campaign),
        f.horizon_days,
        100.0 * (1.0 - f.alpha),
        format::opt(f.units, format::quantity),
        format::opt(f.units_per_day, format::quantity),
    );
    for a in &f.arms {
        s.push_str(&format!(
            "\n{} vs {}\n  incremental conversions {}\n  incremental revenue     {}\n  \
             incremental cost        {}\n  incremental profit      {}\n  ROI                     {}\n",
            escape_control(&a.arm),
            escape_control(&f.control),
            show(&a.incremental_conversions, &conversions),
            show(&a.incremental_revenue, &money),
            show(&a.incremental_cost, &money),
            show(&a.incremental_profit, &money),
            show(&a.roi, &format::roi),
        ));
    }
    for n in &f.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}
