//! `liftdeck forecast plan PLAN.json`: reads the store's past randomised campaigns (the
//! training history) and the audience's composition, fits `forecast::effect` and returns the
//! plan's `PlanForecast`. The one place that combines the store with the pure forecast.

use super::{AppError, Progress, Result};
use crate::forecast::plan::Plan;
use crate::forecast::projection::{Band, PlanForecast};
use crate::format::{self, NumberFormat};
use crate::store::Store;
use crate::text::escape_control;

/// Forecasts `plan` from every randomised campaign in the store.
pub fn forecast_plan(store: &Store, plan: &Plan, progress: &dyn Progress) -> Result<PlanForecast> {
    let _ = (store, progress);
    Err(AppError::Invalid(format!(
        "plan `{}`: the plan forecaster is being built (step 8 seam)",
        plan.name
    )))
}

/// The forecast as text within `width` columns: one row a quantity, point then the 80% and
/// 95% intervals, then the cost split, the segments, the holdout advice and every warning.
pub fn format_text(f: &PlanForecast, nf: &NumberFormat, width: usize) -> String {
    use std::fmt::Write;
    let count = |x: f64| format::count(x.round() as i64);
    let money = |x: f64| nf.money_compact(x);
    let roi = |x: f64| format::roi(x);
    let row = |out: &mut String, name: &str, b: &Band, show: &dyn Fn(f64) -> String| {
        let _ = writeln!(
            out,
            "  {name:<24} {:>12}  80% {} .. {}  95% {} .. {}",
            show(b.value),
            show(b.low_80),
            show(b.high_80),
            show(b.low_95),
            show(b.high_95)
        );
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plan {}: {} to {}",
        escape_control(&f.plan),
        f.offer.describe(),
        escape_control(&f.audience)
    );
    row(&mut out, "reach (users)", &f.reach, &count);
    row(
        &mut out,
        "orders without offer",
        &f.conversions_without,
        &count,
    );
    row(&mut out, "orders with offer", &f.conversions_with, &count);
    row(
        &mut out,
        "incremental orders",
        &f.incremental_conversions,
        &count,
    );
    row(
        &mut out,
        "incremental revenue",
        &f.incremental_revenue,
        &money,
    );
    row(&mut out, "cost of the offer", &f.cost, &money);
    row(
        &mut out,
        "incremental profit",
        &f.incremental_profit,
        &money,
    );
    if let Some(r) = &f.roi {
        row(&mut out, "ROI", r, &roi);
    }
    let _ = writeln!(out, "where the cost goes");
    row(
        &mut out,
        "subsidy (would buy anyway)",
        &f.split.subsidy,
        &money,
    );
    row(
        &mut out,
        "discount on extra orders",
        &f.split.cost_on_incremental,
        &money,
    );
    row(
        &mut out,
        "margin on extra orders",
        &f.split.margin_on_incremental,
        &money,
    );
    if !f.segments.is_empty() {
        let _ = writeln!(out, "by segment");
        for s in &f.segments {
            let name = format!("{}={} ({:.0}%)", s.field, s.value, 100.0 * s.share);
            row(
                &mut out,
                &escape_control(&name),
                &s.incremental_conversions,
                &count,
            );
        }
    }
    if let Some(h) = &f.holdout {
        let _ = writeln!(
            out,
            "holdout {:.0}%: power {:.0}%, assurance {:.0}%{}",
            100.0 * h.holdout,
            100.0 * h.power,
            100.0 * h.assurance,
            h.holdout_needed.map_or(String::new(), |n| format!(
                "; {:.0}% needed for the plan's power",
                100.0 * n
            ))
        );
        for w in &h.warnings {
            let _ = writeln!(out, "  ! {}", escape_control(w));
        }
    }
    if let Some((_, why)) = &f.recalibration {
        let _ = writeln!(out, "recalibrated: {}", escape_control(why));
    }
    for w in &f.warnings {
        let _ = writeln!(out, "! {}", escape_control(w.message()));
    }
    let t = &f.training;
    let _ = writeln!(
        out,
        "trained on {} campaigns ({} with this offer type), {} units; {} draws; data {}",
        t.campaigns.len(),
        t.campaigns_with_offer_type.len(),
        format::count(t.units as i64),
        t.draws,
        &t.data_hash.chars().take(12).collect::<String>()
    );
    // Rows are laid out for 100 columns; narrower callers (the console) draw their own.
    let _ = width;
    out
}
