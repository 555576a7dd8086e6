//! `liftdeck forecast plan PLAN.json`: reads the store's past randomised campaigns (the
//! training history) and the audience's composition, fits `forecast::effect` and returns the
//! plan's `PlanForecast`. The one place that combines the store with the pure forecast.

use super::{AppError, Progress, Result};
use crate::domain::{CampaignKind, Offer};
use crate::forecast::effect::{self, DrawOptions, History, HistoryUnit};
use crate::forecast::plan::Plan;
use crate::forecast::projection::{Band, LedgerStanding, PlanForecast, Training};
use crate::format::{self, NumberFormat};
use crate::store::Store;
use crate::text::escape_control;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The store's randomised campaigns as training history, and every unit's latest context.
pub struct StoreHistory {
    pub history: History,
    /// (unit, context) of every unit in the store, latest assignment per unit, in unit order.
    pub units: Vec<Map<String, Value>>,
    pub window: Option<(i64, i64)>,
    /// FNV-1a 64 of the training rows in campaign and unit order.
    pub data_hash: String,
}

/// FNV-1a over bytes: a stable digest the frozen forecast can cite (not a security hash).
fn fnv(hash: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *hash ^= u64::from(*b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

/// Reads the history: every A/B and bandit campaign with a control arm (no offer) and at
/// least one arm with an offer. Observational campaigns are left out of the training (their
/// arms were not randomised) but their units count for the audience's make-up.
pub fn read_history(store: &Store, progress: &dyn Progress) -> Result<StoreHistory> {
    let campaigns = store.campaigns()?;
    let mut history = History::default();
    let mut latest: HashMap<String, (i64, Map<String, Value>)> = HashMap::new();
    let mut window: Option<(i64, i64)> = None;
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let total = campaigns.len().max(1) as f64;
    for (ci, c) in campaigns.iter().enumerate() {
        progress.update(0.5 * ci as f64 / total, "reading past campaigns")?;
        let key = &c.spec.key;
        let (_, arms) = store.campaign(key)?;
        let offers: HashMap<&str, &Offer> =
            arms.iter().map(|a| (a.key.as_str(), &a.offer)).collect();
        let randomised = c.spec.kind != CampaignKind::Observational
            && arms.iter().any(|a| a.offer == Offer::None)
            && arms.iter().any(|a| a.offer != Offer::None);
        let index = history.campaigns.len();
        if randomised {
            history.campaigns.push(key.clone());
        }
        let mut chunk_units = Vec::new();
        let mut after = String::new();
        loop {
            let rows = store.unit_rows(key, &after, 5_000)?;
            let Some(last) = rows.last() else { break };
            after = last.unit.clone();
            for r in rows {
                let Ok(Value::Object(ctx)) = serde_json::from_str::<Value>(&r.context) else {
                    continue;
                };
                let e = latest
                    .entry(r.unit.clone())
                    .or_insert((r.assigned_at, ctx.clone()));
                if r.assigned_at > e.0 {
                    *e = (r.assigned_at, ctx.clone());
                }
                if !randomised || r.conflicts > 0 {
                    continue;
                }
                let Some(offer) = offers.get(r.arm.as_str()) else {
                    continue;
                };
                window = Some(window.map_or((r.assigned_at, r.assigned_at), |(a, b)| {
                    (a.min(r.assigned_at), b.max(r.assigned_at))
                }));
                fnv(&mut hash, key.as_bytes());
                fnv(&mut hash, r.unit.as_bytes());
                fnv(&mut hash, r.arm.as_bytes());
                fnv(&mut hash, &r.purchases.to_le_bytes());
                fnv(&mut hash, &r.revenue.to_bits().to_le_bytes());
                fnv(&mut hash, &r.cost.to_bits().to_le_bytes());
                chunk_units.push(HistoryUnit {
                    campaign: index,
                    context: ctx,
                    offer: (*offer).clone(),
                    converted: r.purchases > 0,
                    revenue: r.revenue,
                    cost: r.cost,
                });
            }
        }
        history.units.extend(chunk_units);
    }
    let mut units: Vec<(String, Map<String, Value>)> =
        latest.into_iter().map(|(u, (_, c))| (u, c)).collect();
    units.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(StoreHistory {
        history,
        units: units.into_iter().map(|(_, c)| c).collect(),
        window,
        data_hash: format!("fnv1a64:{hash:016x}"),
    })
}

/// Forecasts `plan` from every randomised campaign in the store.
pub fn forecast_plan(store: &Store, plan: &Plan, progress: &dyn Progress) -> Result<PlanForecast> {
    let data = read_history(store, progress)?;
    forecast_from(store, plan, &data, progress)
}

/// The forecast from history already read (the console and `forecast budget` reuse one read).
pub fn forecast_from(
    store: &Store,
    plan: &Plan,
    data: &StoreHistory,
    progress: &dyn Progress,
) -> Result<PlanForecast> {
    let refuse = |e: effect::EffectError| {
        AppError::Invalid(format!(
            "plan `{}` cannot be forecast: {e}",
            escape_control(&plan.name)
        ))
    };
    progress.update(0.55, "fitting the response model")?;
    let model = effect::fit(&data.history).map_err(refuse)?;
    let audience: Vec<Map<String, Value>> = data
        .units
        .iter()
        .filter(|c| plan.audience.matches(c))
        .cloned()
        .collect();
    let training = Training {
        campaigns: data.history.campaigns.clone(),
        window_from: data.window.map(|w| crate::clock::format_rfc3339(w.0)),
        window_to: data.window.map(|w| crate::clock::format_rfc3339(w.1)),
        data_hash: data.data_hash.clone(),
        audience_share: audience.len() as f64 / data.units.len().max(1) as f64,
        ..Training::default()
    };
    progress.update(0.75, "drawing the forecast")?;
    let mut f = effect::forecast(&model, plan, &audience, training, &DrawOptions::default())
        .map_err(refuse)?;
    let ledger = super::forecast_ledger::ledger(store, Some(&f.offer_type))?;
    f.ledger = ledger.offer_types.first().map(|t| LedgerStanding {
        reviewed: t.summary.n,
        coverage_80: t.summary.coverage_80.share,
        coverage_95: t.summary.coverage_95.share,
        mean_error: t.summary.mean_error,
    });
    if let Some(r) = super::forecast_ledger::recalibration_for(store, &f.offer_type)? {
        recalibrate(&mut f, r.factor, crate::forecast::ledger::describe(&r));
    }
    Ok(f)
}

/// Scales every band about its point by the ledger's factor for this offer type.
pub fn recalibrate(f: &mut PlanForecast, factor: f64, why: String) {
    for b in [
        &mut f.conversions_with,
        &mut f.incremental_conversions,
        &mut f.incremental_revenue,
        &mut f.cost,
        &mut f.incremental_profit,
        &mut f.split.subsidy,
        &mut f.split.cost_on_incremental,
        &mut f.split.margin_on_incremental,
    ] {
        *b = b.widened(factor);
    }
    if let Some(r) = f.roi.as_mut() {
        *r = r.widened(factor);
    }
    for s in &mut f.segments {
        s.incremental_conversions = s.incremental_conversions.widened(factor);
        s.incremental_profit = s.incremental_profit.widened(factor);
    }
    let point = f.incremental_conversions.value;
    for d in &mut f.incremental_conversion_draws {
        *d = point + factor * (*d - point);
    }
    f.recalibration = Some((factor, why));
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
    if let Some(l) = &f.ledger {
        let _ = writeln!(
            out,
            "ledger: {} reviewed {} forecasts, {:.0}% inside 80%, {:.0}% inside 95%, mean error {:+.1} orders",
            l.reviewed,
            escape_control(&f.offer_type),
            100.0 * l.coverage_80,
            100.0 * l.coverage_95,
            l.mean_error
        );
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
        escape_control(&t.data_hash)
    );
    // Rows are laid out for 100 columns; narrower callers (the console) draw their own.
    let _ = width;
    out
}
