//! Saved reports: every causal, DiD and uplift report a job produces is kept (kind, the
//! options it ran with, the data window it read, the model version, the result, who ran it),
//! so `report list` can find it and `report show ID` print it again, as text, Markdown or JSON,
//! after a restart and after the data has moved on.

use super::{AppError, Result};
use crate::clock::format_rfc3339;
use crate::format::NumberFormat;
use crate::store::{NewReport, ReportRow, Store};
use crate::text::escape_control;
use serde::Serialize;

/// How `report show` prints a saved report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowFormat {
    Text,
    Markdown,
    Json,
}

impl std::str::FromStr for ShowFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "text" => Ok(ShowFormat::Text),
            "md" | "markdown" => Ok(ShowFormat::Markdown),
            "json" => Ok(ShowFormat::Json),
            other => Err(format!(
                "unknown report format `{other}` (expected text, md or json)"
            )),
        }
    }
}

/// A saved report as `report show --format json` prints it: the stored record with its
/// parameters and result as JSON values, times in RFC 3339.
#[derive(Debug, Clone, Serialize)]
pub struct SavedReport {
    pub id: i64,
    pub campaign: String,
    pub kind: String,
    pub created_at: String,
    pub actor: String,
    pub job_id: Option<i64>,
    pub parameters: serde_json::Value,
    /// First and last assignment or event of the campaign when the report ran.
    pub window_from: Option<String>,
    pub window_to: Option<String>,
    /// Units assigned when the report ran.
    pub units: i64,
    pub model_version: Option<i64>,
    pub result: serde_json::Value,
}

/// One line of `report list`.
#[derive(Debug, Clone, Serialize)]
pub struct ReportListing {
    pub id: i64,
    pub campaign: String,
    pub kind: String,
    pub created_at: String,
    pub actor: String,
    pub units: i64,
    /// The report's main figure in a few words.
    pub headline: String,
}

/// Saves `result` (a report's JSON) of `campaign`; returns its id.
#[allow(clippy::too_many_arguments)]
pub fn save(
    store: &mut Store,
    campaign: &str,
    kind: &str,
    created_at: i64,
    actor: &str,
    job_id: Option<i64>,
    parameters: &serde_json::Value,
    model_version: Option<i64>,
    result: &str,
) -> Result<i64> {
    let parameters = parameters.to_string();
    Ok(store.save_report(
        campaign,
        &NewReport {
            kind,
            created_at,
            actor,
            job_id,
            parameters: &parameters,
            model_version,
            result,
        },
    )?)
}

fn parse_json(what: &str, id: i64, s: &str) -> Result<serde_json::Value> {
    serde_json::from_str(s).map_err(|e| {
        AppError::Invalid(format!(
            "saved report {id}: its {what} is not valid JSON ({e})"
        ))
    })
}

fn saved(row: &ReportRow) -> Result<SavedReport> {
    Ok(SavedReport {
        id: row.id,
        campaign: row.campaign.clone(),
        kind: row.kind.clone(),
        created_at: format_rfc3339(row.created_at),
        actor: row.actor.clone(),
        job_id: row.job_id,
        parameters: parse_json("parameters", row.id, &row.parameters)?,
        window_from: row.window_from.map(format_rfc3339),
        window_to: row.window_to.map(format_rfc3339),
        units: row.units,
        model_version: row.model_version,
        result: parse_json("result", row.id, &row.result)?,
    })
}

/// The newest `limit` saved reports, of `campaign` or of every campaign.
pub fn list(store: &Store, campaign: Option<&str>, limit: usize) -> Result<Vec<ReportListing>> {
    if let Some(key) = campaign {
        store.campaign(key)?;
    }
    store
        .reports(campaign, limit)?
        .iter()
        .map(|row| {
            Ok(ReportListing {
                id: row.id,
                campaign: row.campaign.clone(),
                kind: row.kind.clone(),
                created_at: format_rfc3339(row.created_at),
                actor: row.actor.clone(),
                units: row.units,
                headline: headline(&row.kind, &row.result),
            })
        })
        .collect()
}

/// One saved report, or a clear error naming the id.
pub fn get(store: &Store, id: i64) -> Result<SavedReport> {
    let row = store.report(id)?.ok_or_else(|| {
        AppError::Invalid(format!("no saved report {id} (see `liftdeck report list`)"))
    })?;
    saved(&row)
}

/// The newest `limit` saved reports of `campaign`, whole (the console's Causal panel).
pub fn recent(store: &Store, campaign: &str, limit: usize) -> Result<Vec<SavedReport>> {
    store
        .reports(Some(campaign), limit)?
        .iter()
        .map(saved)
        .collect()
}

/// What the newest saved observational report of `campaign` was asked (its covariates, trim,
/// estimand, metric and seed), for the console's `c`, which cannot type covariates: it reruns
/// the analyst's last specification. `None` when there is none.
pub fn last_observational_request(
    store: &Store,
    campaign: &str,
) -> Result<Option<super::causal_observational::ObservationalRequest>> {
    // Newest first; a campaign has few reports, and the list is bounded all the same.
    Ok(store
        .reports(Some(campaign), 200)?
        .into_iter()
        .filter(|r| r.kind == "observational")
        .find_map(|r| serde_json::from_str(&r.parameters).ok()))
}

/// A saved report's body, as the command that made it printed it, for `width` columns.
pub fn body_for_width(r: &SavedReport, nf: &NumberFormat, width: usize) -> String {
    match r.kind.as_str() {
        "causal" => serde_json::from_value::<super::causal::CausalReport>(r.result.clone())
            .map(|c| super::causal::format_text_for_width(&c, nf, width))
            .unwrap_or_else(|_| body_text(&r.kind, &r.result, nf)),
        "observational" => serde_json::from_value::<
            super::causal_observational::ObservationalCausalReport,
        >(r.result.clone())
        .map(|o| super::causal_observational::format_text_for_width(&o, nf, width))
        .unwrap_or_else(|_| body_text(&r.kind, &r.result, nf)),
        _ => body_text(&r.kind, &r.result, nf),
    }
}

/// One line about a saved report: id, kind, when, who and its headline.
pub fn summary_line(r: &SavedReport) -> String {
    format!(
        "#{} {} {} by {}: {}",
        r.id,
        escape_control(&r.kind),
        r.created_at,
        escape_control(&r.actor),
        headline(&r.kind, &r.result.to_string())
    )
}

/// The report's body as the command that made it prints it; a kind this build does not know
/// (a newer liftdeck wrote it) is shown as its JSON.
fn body_text(kind: &str, result: &serde_json::Value, nf: &NumberFormat) -> String {
    let typed = match kind {
        "causal" => serde_json::from_value::<super::causal::CausalReport>(result.clone())
            .ok()
            .map(|r| super::causal::format_text_with(&r, nf)),
        "uplift" => serde_json::from_value::<super::uplift::UpliftReport>(result.clone())
            .ok()
            .map(|r| super::uplift::format_text(&r)),
        "did" => serde_json::from_value::<super::did::DidCommandReport>(result.clone())
            .ok()
            .map(|r| r.format_text()),
        "observational" => serde_json::from_value::<
            super::causal_observational::ObservationalCausalReport,
        >(result.clone())
        .ok()
        .map(|r| super::causal_observational::format_text_for_width(&r, nf, usize::MAX)),
        _ => None,
    };
    typed.unwrap_or_else(|| serde_json::to_string_pretty(result).unwrap_or_default() + "\n")
}

/// A few words for `report list`: the first treated arm's conversion effect for a causal
/// report; the kind's name when nothing better is known.
fn headline(kind: &str, result: &str) -> String {
    let typed = match kind {
        "causal" => serde_json::from_str::<super::causal::CausalReport>(result)
            .ok()
            .and_then(|r| {
                let o = r.outcomes.first()?;
                let a = o.arms.iter().find(|a| a.effect.is_some())?;
                let e = a.effect.as_ref()?;
                Some(format!(
                    "{} {} {} (p {})",
                    escape_control(&a.arm),
                    o.outcome,
                    crate::format::lift(e.ipw_diff),
                    crate::format::p_value(e.p_value)
                ))
            }),
        "did" => serde_json::from_str::<super::did::DidCommandReport>(result)
            .ok()
            .map(|r| {
                let e = &r.did.effect;
                format!(
                    "DiD {} per {} {:+.4} (CI {:+.4} to {:+.4}), {}",
                    escape_control(&r.metric),
                    escape_control(&r.period),
                    e.estimate,
                    e.ci_low,
                    e.ci_high,
                    r.verdict_message
                )
            }),
        "observational" => {
            serde_json::from_str::<super::causal_observational::ObservationalCausalReport>(result)
                .ok()
                .map(|r| {
                    format!(
                        "{} {} {} AIPW {:+.4} (95% CI {:+.4} to {:+.4})",
                        escape_control(&r.treated),
                        r.estimand.to_uppercase(),
                        escape_control(&r.metric),
                        r.aipw.effect,
                        r.aipw.low,
                        r.aipw.high
                    )
                })
        }
        "uplift" => serde_json::from_str::<super::uplift::UpliftReport>(result)
            .ok()
            .map(|r| {
                format!(
                    "{} {}-learner Qini {} on {} held-out units",
                    escape_control(&r.treated_arm),
                    r.learner.as_str().to_uppercase(),
                    crate::format::opt(r.evaluation.qini_coefficient, |q| format!("{q:.3}")),
                    crate::format::count(r.held_out_units as i64)
                )
            }),
        _ => None,
    };
    typed.unwrap_or_else(|| format!("{kind} report"))
}

/// `report list` as text.
pub fn format_list(rows: &[ReportListing]) -> String {
    if rows.is_empty() {
        return "no saved reports\n".into();
    }
    let mut s = format!(
        "{:>5}  {:<20}  {:<7}  {:<27}  {:>8}  {}\n",
        "id", "campaign", "kind", "created", "units", "headline"
    );
    for r in rows {
        s.push_str(&format!(
            "{:>5}  {:<20}  {:<7}  {:<27}  {:>8}  {}\n",
            r.id,
            escape_control(&r.campaign),
            escape_control(&r.kind),
            r.created_at,
            crate::format::count(r.units),
            r.headline
        ));
    }
    s
}

/// Markdown-safe cell text: no pipes or line breaks, control characters escaped.
fn md_cell(s: &str) -> String {
    escape_control(s).replace('|', "\\|")
}

/// `report show ID` in `format`.
pub fn render(r: &SavedReport, format: ShowFormat, nf: &NumberFormat) -> String {
    match format {
        ShowFormat::Json => serde_json::to_string_pretty(r).unwrap_or_default() + "\n",
        ShowFormat::Text => {
            let mut s = format!(
                "saved report {}: {} of {} by {} at {} ({} units, data {} .. {})\n\n",
                r.id,
                escape_control(&r.kind),
                escape_control(&r.campaign),
                escape_control(&r.actor),
                r.created_at,
                crate::format::count(r.units),
                r.window_from.as_deref().unwrap_or("-"),
                r.window_to.as_deref().unwrap_or("-"),
            );
            s.push_str(&body_text(&r.kind, &r.result, nf));
            s
        }
        ShowFormat::Markdown => {
            let mut s = format!(
                "# {} report {} — {}\n\n| | |\n|---|---|\n",
                md_cell(&r.kind),
                r.id,
                md_cell(&r.campaign)
            );
            let model = r
                .model_version
                .map_or_else(|| "-".to_string(), |v| v.to_string());
            let rows = [
                ("campaign", md_cell(&r.campaign)),
                ("kind", md_cell(&r.kind)),
                ("created", r.created_at.clone()),
                ("by", md_cell(&r.actor)),
                ("units", crate::format::count(r.units)),
                (
                    "data window",
                    format!(
                        "{} .. {}",
                        r.window_from.as_deref().unwrap_or("-"),
                        r.window_to.as_deref().unwrap_or("-")
                    ),
                ),
                ("model version", model),
                (
                    "parameters",
                    format!("`{}`", md_cell(&r.parameters.to_string())),
                ),
            ];
            for (k, v) in rows {
                s.push_str(&format!("| {k} | {v} |\n"));
            }
            // The body keeps the command's fixed-width layout, which Markdown would reflow.
            s.push_str("\n```text\n");
            s.push_str(&body_text(&r.kind, &r.result, nf).replace("```", "'''"));
            s.push_str("```\n");
            s
        }
    }
}
