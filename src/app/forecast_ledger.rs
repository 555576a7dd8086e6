//! The forecast ledger, wired to the store: a campaign started from a plan freezes its
//! forecast (`freeze`); after it stops, `review` joins that forecast with the incremental
//! orders the randomised causal report measured and scores it (`forecast::ledger`); `ledger`
//! keeps the running score per offer type and `recalibration_for` gives later forecasts of an
//! offer type the factor their intervals are scaled by.
//!
//! What is compared: the forecast's incremental conversions (orders the offer adds among the
//! users who get it) against the causal report's extra orders of the treated arm over
//! control (per-unit difference times the treated units), whose standard error is the
//! report's interval half-width over its z.

use super::{AppError, Env, NoProgress, Result};
use crate::domain::Status;
use crate::forecast::ledger::{self, Forecast, Interval, Outcome, Recalibration, Score, Summary};
use crate::forecast::plan::Plan;
use crate::forecast::projection::PlanForecast;
use crate::store::{NewForecastReview, NewFrozenForecast, ReviewedForecastRow, Store};
use crate::text::escape_control;
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};
use std::collections::BTreeMap;

/// What `freeze` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frozen {
    pub campaign: String,
    pub from: Status,
    pub forecast_id: i64,
    /// False when the campaign already had a frozen forecast (a resume): it was kept.
    pub newly_frozen: bool,
    pub model: String,
    pub data_hash: String,
}

/// The forecaster and what it learned from, in words: stored beside the frozen forecast so a
/// later reader knows which model said it without re-running anything.
pub fn model_description(f: &PlanForecast) -> String {
    let t = &f.training;
    if !t.model.is_empty() {
        return format!("{}; {} draws; data {}", t.model, t.draws, t.data_hash);
    }
    format!(
        "plan forecaster: {} predictive draws from {} randomised campaigns ({} of offer type \
         {}), {} units, data {}",
        t.draws,
        t.campaigns.len(),
        t.campaigns_with_offer_type.len(),
        f.offer_type,
        t.units,
        t.data_hash
    )
}

/// Starts (or resumes) `key` and, in the same transaction, freezes `forecast` (the forecast
/// of `plan`) beside it. A campaign that already has a frozen forecast keeps its first.
pub fn freeze(
    store: &mut Store,
    env: &Env,
    key: &str,
    plan: &Plan,
    forecast: &PlanForecast,
) -> Result<Frozen> {
    let plan_json = serde_json::to_string(plan)
        .map_err(|e| AppError::Invalid(format!("cannot store the plan: {e}")))?;
    let forecast_json = serde_json::to_string(forecast)
        .map_err(|e| AppError::Invalid(format!("cannot store the forecast: {e}")))?;
    let model = model_description(forecast);
    let started = store.start_with_forecast(
        key,
        &NewFrozenForecast {
            offer_type: &forecast.offer_type,
            plan: &plan_json,
            forecast: &forecast_json,
            model: &model,
            data_hash: &forecast.training.data_hash,
        },
        env.clock.now(),
        &env.actor,
    )?;
    let kept = if started.frozen {
        None
    } else {
        store.frozen_forecast(key)?
    };
    Ok(Frozen {
        campaign: key.to_string(),
        from: started.from,
        forecast_id: started.forecast_id,
        newly_frozen: started.frozen,
        model: kept.as_ref().map_or(model, |k| k.model.clone()),
        data_hash: kept.map_or_else(|| forecast.training.data_hash.clone(), |k| k.data_hash),
    })
}

/// One campaign's review: its frozen forecast against the measured effect, scored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Review {
    pub campaign: String,
    pub offer_type: String,
    pub arm: String,
    /// Forecast incremental orders: point and intervals.
    pub forecast: f64,
    pub forecast_80: (f64, f64),
    pub forecast_95: (f64, f64),
    pub forecast_draws: usize,
    /// Incremental orders the causal report measured, with its standard error.
    pub measured: f64,
    pub measured_se: f64,
    pub score: Score,
    pub model: String,
    pub data_hash: String,
    /// True when this replaced an earlier review of the same campaign.
    pub replaced_earlier_review: bool,
}

/// The ledger's forecast of a frozen PlanForecast: its incremental conversions.
fn ledger_forecast(f: &PlanForecast) -> Forecast {
    let b = &f.incremental_conversions;
    Forecast {
        offer_type: f.offer_type.clone(),
        point: b.value,
        interval_80: Interval {
            lo: b.low_80,
            hi: b.high_80,
        },
        interval_95: Interval {
            lo: b.low_95,
            hi: b.high_95,
        },
        draws: (!f.incremental_conversion_draws.is_empty())
            .then(|| f.incremental_conversion_draws.clone()),
    }
}

fn parse_frozen(campaign: &str, json: &str) -> Result<PlanForecast> {
    serde_json::from_str(json).map_err(|e| {
        AppError::Invalid(format!(
            "the frozen forecast of campaign `{campaign}` cannot be read: {e}"
        ))
    })
}

fn ledger_error(e: ledger::LedgerError) -> AppError {
    AppError::Invalid(e.to_string())
}

/// Reviews `key` (stopped, started from a plan): measures its effect with the randomised
/// causal report, scores the frozen forecast and stores the review. Reviewing again replaces
/// the stored review with the one measured now (same row; the result says so).
pub fn review(store: &mut Store, env: &Env, key: &str) -> Result<Review> {
    let (campaign, arms) = store.campaign(key)?;
    let Some(frozen) = store.frozen_forecast(key)? else {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` has no frozen forecast: only a campaign started with \
             `liftdeck campaign start {key} --plan PLAN.json` can be reviewed"
        )));
    };
    if campaign.status != Status::Stopped {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` is {}; review it after it has stopped \
             (`liftdeck campaign stop {key}`), when its effect is final",
            campaign.status
        )));
    }
    let forecast = parse_frozen(key, &frozen.forecast)?;
    let report = super::causal::causal_report(store, key, None, &NoProgress)?;
    // The treated arm is the one carrying the plan's offer; a two-arm campaign has only one.
    let by_offer = arms
        .iter()
        .find(|a| a.offer == forecast.offer && Some(&a.key) != Some(&report.control))
        .map(|a| a.key.clone());
    let row = match by_offer {
        Some(arm) => report.incremental.iter().find(|r| r.arm == arm),
        None if report.incremental.len() == 1 => report.incremental.first(),
        None => {
            return Err(AppError::Invalid(format!(
                "campaign `{key}` has {} treated arms and none carries the plan's offer ({}); \
                 cannot tell which arm's effect to score",
                report.incremental.len(),
                forecast.offer.describe()
            )))
        }
    };
    let Some((arm, totals)) = row.and_then(|r| r.totals.map(|t| (r.arm.clone(), t))) else {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` has no measurable effect: the causal report gives no incremental \
             orders (an arm has no orders, or too few units)"
        )));
    };
    let z = Normal::standard().inverse_cdf(1.0 - report.alpha / 2.0);
    let outcome = Outcome {
        effect: totals.extra_orders.value,
        se: totals.extra_orders.half_width() / z,
    };
    let lf = ledger_forecast(&forecast);
    let score = ledger::score(0, &lf, &outcome).map_err(ledger_error)?;
    let score_json = serde_json::to_string(&score)
        .map_err(|e| AppError::Invalid(format!("cannot store the score: {e}")))?;
    let replaced = store.save_forecast_review(
        frozen.id,
        &NewForecastReview {
            reviewed_at: env.clock.now(),
            actor: &env.actor,
            arm: &arm,
            measured: outcome.effect,
            measured_se: outcome.se,
            score: &score_json,
        },
    )?;
    Ok(Review {
        campaign: key.to_string(),
        offer_type: forecast.offer_type.clone(),
        arm,
        forecast: lf.point,
        forecast_80: (lf.interval_80.lo, lf.interval_80.hi),
        forecast_95: (lf.interval_95.lo, lf.interval_95.hi),
        forecast_draws: lf.draws.as_ref().map_or(0, Vec::len),
        measured: outcome.effect,
        measured_se: outcome.se,
        score,
        model: frozen.model,
        data_hash: frozen.data_hash,
        replaced_earlier_review: replaced,
    })
}

/// The review as text.
pub fn format_review(r: &Review) -> String {
    use std::fmt::Write;
    let yes = |b: bool| if b { "inside" } else { "outside" };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "forecast review of {} ({} offer, arm {})",
        escape_control(&r.campaign),
        escape_control(&r.offer_type),
        escape_control(&r.arm)
    );
    let _ = writeln!(
        out,
        "  forecast incremental orders {:.1}  80% {:.1} .. {:.1}  95% {:.1} .. {:.1}",
        r.forecast, r.forecast_80.0, r.forecast_80.1, r.forecast_95.0, r.forecast_95.1
    );
    let _ = writeln!(
        out,
        "  measured incremental orders {:.1} (SE {:.1})",
        r.measured, r.measured_se
    );
    let s = &r.score;
    let _ = writeln!(
        out,
        "  measured is {} the 80% interval and {} the 95% interval",
        yes(s.inside_80),
        yes(s.inside_95)
    );
    let _ = writeln!(
        out,
        "  error (forecast - measured) {:+.1}; CRPS {:.2} (Gaussian){}",
        s.error,
        s.crps_gaussian,
        s.crps_draws
            .map(|c| format!(", {c:.2} (from {} draws)", r.forecast_draws))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "  with this measurement's noise a calibrated forecast lands inside 80%/95% with \
         chance {:.0}%/{:.0}%",
        100.0 * s.expected_coverage_80,
        100.0 * s.expected_coverage_95
    );
    let _ = writeln!(out, "  forecaster: {}", escape_control(&r.model));
    if r.replaced_earlier_review {
        let _ = writeln!(out, "  (replaced the earlier review of this campaign)");
    }
    out
}

/// The running score of one offer type.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OfferTypeScore {
    pub offer_type: String,
    pub campaigns: Vec<String>,
    pub summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<Recalibration>,
    /// The sentence stating the recalibration, or why there is none yet.
    pub recalibration_note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ledger {
    pub offer_types: Vec<OfferTypeScore>,
}

/// The reviewed forecasts as the ledger's (forecast, outcome) pairs, with their campaigns.
fn reviewed_pairs(rows: &[ReviewedForecastRow]) -> Result<Vec<(String, Forecast, Outcome)>> {
    rows.iter()
        .map(|r| {
            let f = parse_frozen(&r.frozen.campaign, &r.frozen.forecast)?;
            Ok((
                r.frozen.campaign.clone(),
                ledger_forecast(&f),
                Outcome {
                    effect: r.measured,
                    se: r.measured_se,
                },
            ))
        })
        .collect()
}

/// The running score across reviewed campaigns, per offer type (of one, or of all).
pub fn ledger(store: &Store, offer_type: Option<&str>) -> Result<Ledger> {
    let rows = store.reviewed_forecasts(offer_type)?;
    let mut by_type: BTreeMap<String, Vec<(String, Forecast, Outcome)>> = BTreeMap::new();
    for (campaign, f, o) in reviewed_pairs(&rows)? {
        by_type
            .entry(f.offer_type.clone())
            .or_default()
            .push((campaign, f, o));
    }
    let mut offer_types = Vec::new();
    for (t, items) in by_type {
        let pairs: Vec<(Forecast, Outcome)> =
            items.iter().map(|(_, f, o)| (f.clone(), *o)).collect();
        let summary = ledger::summarise(&pairs).map_err(ledger_error)?;
        let (recalibration, note) = match ledger::recalibration(&pairs, &t) {
            Ok(r) => {
                let note = ledger::describe(&r);
                (Some(r), note)
            }
            Err(e @ ledger::LedgerError::TooFewForecasts { .. }) => (None, e.to_string()),
            Err(e) => return Err(ledger_error(e)),
        };
        offer_types.push(OfferTypeScore {
            offer_type: t,
            campaigns: items.into_iter().map(|(c, _, _)| c).collect(),
            summary,
            recalibration,
            recalibration_note: note,
        });
    }
    Ok(Ledger { offer_types })
}

/// The ledger as text.
pub fn format_ledger(l: &Ledger) -> String {
    use std::fmt::Write;
    if l.offer_types.is_empty() {
        return "no reviewed forecasts yet: start campaigns with `campaign start KEY --plan \
                PLAN.json`, stop them, then `forecast review KEY`\n"
            .to_string();
    }
    let pct = |x: f64| 100.0 * x;
    let mut out = String::new();
    for t in &l.offer_types {
        let s = &t.summary;
        let _ = writeln!(
            out,
            "{} offer: {} reviewed forecasts",
            escape_control(&t.offer_type),
            s.n
        );
        for (name, c, expected) in [
            ("80%", &s.coverage_80, s.expected_coverage_80),
            ("95%", &s.coverage_95, s.expected_coverage_95),
        ] {
            let _ = writeln!(
                out,
                "  inside {name} interval {}/{} = {:.0}% (95% CI {:.0}% .. {:.0}%); expected \
                 {:.0}% with the measurements' noise",
                c.hits,
                c.n,
                pct(c.share),
                pct(c.lo),
                pct(c.hi),
                pct(expected)
            );
        }
        let _ = writeln!(
            out,
            "  mean error (forecast - measured) {:+.1} orders (SE {:.1}); mean CRPS {:.2}{}",
            s.mean_error,
            s.mean_error_se,
            s.mean_crps_gaussian,
            s.mean_crps_draws
                .map(|(c, n)| format!(" (Gaussian), {c:.2} from draws over {n}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  recalibration: {}",
            escape_control(&t.recalibration_note)
        );
    }
    out
}

/// The factor later forecasts of `offer_type` are scaled by, from its reviewed forecasts;
/// `None` until there are `ledger::MIN_FORECASTS_TO_RECALIBRATE` of them.
pub fn recalibration_for(store: &Store, offer_type: &str) -> Result<Option<Recalibration>> {
    let rows = store.reviewed_forecasts(Some(offer_type))?;
    let pairs: Vec<(Forecast, Outcome)> = reviewed_pairs(&rows)?
        .into_iter()
        .map(|(_, f, o)| (f, o))
        .collect();
    match ledger::recalibration(&pairs, offer_type) {
        Ok(r) => Ok(Some(r)),
        Err(ledger::LedgerError::TooFewForecasts { .. }) => Ok(None),
        Err(e) => Err(ledger_error(e)),
    }
}
