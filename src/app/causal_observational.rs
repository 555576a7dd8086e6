//! `liftdeck report causal KEY --covariates ...`: the effect of a treatment chosen outside
//! liftdeck (an observational campaign), or of any two-arm campaign estimated with a fitted
//! propensity instead of the logged one. Reads every unit's covariates from its assignment
//! context, its outcome from its events, and hands them to `causal::observational` (logistic
//! propensity, trimming, naive / IPW / AIPW, overlap and balance) and its refutation checks.

use super::{AppError, Progress, Result};
use crate::causal::observational::{
    self as obs, estimate, refute, Estimand, ObservationalError, ObservationalOptions,
    RefutationKind, Units,
};
use crate::domain::CampaignKind;
use crate::format::NumberFormat;
use crate::stats::metrics::Metric;
use crate::store::Store;
use crate::text::escape_control;
use serde::{Deserialize, Serialize};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ObservationalRequest {
    /// Context fields used as covariates, in order.
    pub covariates: Vec<String>,
    pub trim: Option<f64>,
    /// `ate` (default) or `att`.
    pub att: bool,
    /// The outcome; `None` takes the campaign's metric when supported, else conversion.
    pub metric: Option<String>,
    /// Seed of the refutation checks.
    pub seed: u64,
}

/// The outcomes a unit's row gives directly.
pub const METRICS: [Metric; 4] = [
    Metric::Conversion,
    Metric::Revenue,
    Metric::Profit,
    Metric::Cost,
];

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EstimateRow {
    pub effect: f64,
    pub se: f64,
    /// 95% normal interval.
    pub low: f64,
    pub high: f64,
}

impl From<obs::Estimate> for EstimateRow {
    fn from(e: obs::Estimate) -> Self {
        EstimateRow {
            effect: e.effect,
            se: e.se,
            low: e.low,
            high: e.high,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceRow {
    pub covariate: String,
    pub smd_before: f64,
    pub smd_after: f64,
    pub flagged_before: bool,
    /// |SMD after weighting| > 0.1.
    pub flagged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefutationRow {
    /// placebo_treatment, random_common_cause or random_subset.
    pub check: String,
    pub estimate: Option<EstimateRow>,
    pub held: bool,
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationalCausalReport {
    pub campaign: String,
    pub kind: String,
    pub treated: String,
    pub control: String,
    /// ate or att.
    pub estimand: String,
    pub metric: String,
    pub covariates: Vec<String>,
    pub trim: Option<f64>,
    pub units: u64,
    /// Units left out because lines put them in more than one arm.
    pub excluded_multiple_exposure: u64,
    pub kept_treated: usize,
    pub kept_control: usize,
    pub dropped_treated: usize,
    pub dropped_control: usize,
    pub naive: EstimateRow,
    pub ipw: EstimateRow,
    pub aipw: EstimateRow,
    /// Intercept first, then one per covariate.
    pub propensity_coefficients: Vec<f64>,
    /// Units per estimated-propensity bin [b/10, (b+1)/10), trimmed ones included.
    pub histogram_treated: Vec<usize>,
    pub histogram_control: Vec<usize>,
    pub ess_treated: f64,
    pub ess_control: f64,
    pub top1_weight_share: f64,
    pub balance: Vec<BalanceRow>,
    pub refutations: Vec<RefutationRow>,
    pub seed: u64,
    pub notes: Vec<String>,
}

/// The outcome `name` names, or why it cannot be used.
fn metric_of(name: &str) -> Result<Metric> {
    Metric::parse(name)
        .filter(|m| METRICS.contains(m))
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "--metric `{}`: the observational report estimates conversion, revenue, profit or cost per unit",
                escape_control(name)
            ))
        })
}

fn outcome(metric: Metric, row: &crate::store::UnitRow) -> f64 {
    match metric {
        Metric::Revenue => row.revenue,
        Metric::Profit => row.revenue - row.cost,
        Metric::Cost => row.cost,
        _ => f64::from(u8::from(row.purchases > 0)),
    }
}

/// Streams `key`'s units, builds the covariate rows and runs the estimator and refutations.
pub fn observational_report(
    store: &Store,
    key: &str,
    request: &ObservationalRequest,
    progress: &dyn Progress,
) -> Result<ObservationalCausalReport> {
    let (campaign, arms) = store.campaign(key)?;
    if request.covariates.is_empty() {
        return Err(AppError::Invalid(
            "--covariates needs at least one context field, e.g. --covariates age,pre_value".into(),
        ));
    }
    if let Some(dup) = request
        .covariates
        .iter()
        .enumerate()
        .find(|(i, c)| request.covariates[..*i].contains(c))
    {
        return Err(AppError::Invalid(format!(
            "covariate `{}` is named twice in --covariates",
            escape_control(dup.1)
        )));
    }
    if arms.len() != 2 {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` has {} arms: the report with --covariates compares one treated arm with the control",
            arms.len()
        )));
    }
    let control = campaign
        .spec
        .control
        .clone()
        .or_else(|| arms.first().map(|a| a.key.clone()))
        .unwrap_or_default();
    let Some(treated) = arms
        .iter()
        .find(|a| a.key != control)
        .map(|a| a.key.clone())
    else {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` has no arm besides the control"
        )));
    };
    let mut notes = Vec::new();
    let metric = match &request.metric {
        Some(m) => metric_of(m)?,
        None => match Metric::parse(&campaign.spec.metric).filter(|m| METRICS.contains(m)) {
            Some(m) => m,
            None => {
                notes.push(format!(
                    "the campaign's metric `{}` is not a per-unit outcome here: conversion is estimated",
                    escape_control(&campaign.spec.metric)
                ));
                Metric::Conversion
            }
        },
    };
    let p = request.covariates.len();
    let (mut x, mut t, mut y) = (Vec::new(), Vec::new(), Vec::new());
    let mut missing = vec![0u64; p];
    let (mut units, mut excluded) = (0u64, 0u64);
    super::for_each_unit_chunk(store, key, progress, 0.5, &mut |rows| {
        for row in &rows {
            units += 1;
            if row.conflicts > 0 {
                excluded += 1;
                continue;
            }
            let context: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&row.context).unwrap_or_default();
            let values: Vec<Option<f64>> = request
                .covariates
                .iter()
                .map(|name| {
                    context
                        .get(name)
                        .and_then(serde_json::Value::as_f64)
                        .filter(|v| v.is_finite())
                })
                .collect();
            for (m, v) in missing.iter_mut().zip(&values) {
                *m += u64::from(v.is_none());
            }
            if values.iter().all(Option::is_some) {
                x.push(values.into_iter().flatten().collect::<Vec<f64>>());
                t.push(row.arm == treated);
                y.push(outcome(metric, row));
            }
        }
        Ok(())
    })?;
    if let Some((j, &n)) = missing.iter().enumerate().find(|(_, &n)| n > 0) {
        return Err(AppError::Invalid(format!(
            "covariate `{}` is missing or not a number in the context of {n} of {} units; \
             every unit needs a numeric value for each covariate",
            escape_control(&request.covariates[j]),
            units - excluded
        )));
    }
    if excluded > 0 {
        notes.push(format!(
            "{excluded} units seen in more than one arm are left out"
        ));
    }
    progress.update(0.6, "estimating")?;
    let options = ObservationalOptions {
        trim: request.trim,
        estimand: if request.att {
            Estimand::Att
        } else {
            Estimand::Ate
        },
    };
    let names = request.covariates.clone();
    let data = Units {
        covariates: &x,
        names: &names,
        treated: &t,
        outcome: &y,
    };
    let arm_name = |e: &ObservationalError| match e {
        ObservationalError::EmptyArm("treated") => format!(
            "the treated arm `{}` has no units: an effect needs both arms",
            escape_control(&treated)
        ),
        ObservationalError::EmptyArm(_) => format!(
            "the control arm `{}` has no units: an effect needs both arms",
            escape_control(&control)
        ),
        other => other.to_string(),
    };
    let report = estimate(data, options)
        .map_err(|e| AppError::Invalid(format!("campaign `{key}`: {}", arm_name(&e))))?;
    progress.update(0.8, "refutation checks")?;
    let refutations = refute(data, options, &report, request.seed)
        .into_iter()
        .map(|r| RefutationRow {
            check: r.kind.as_str().into(),
            estimate: r.estimate.map(EstimateRow::from),
            held: r.held,
            refused: r.refused,
        })
        .collect::<Vec<_>>();
    if campaign.spec.kind != CampaignKind::Observational {
        notes.push(format!(
            "campaign `{key}` is {}: its propensities were logged; this report ignores them and \
             fits one from the covariates (the report without --covariates uses the logged ones)",
            campaign.spec.kind.as_str()
        ));
    }
    if report.balance.iter().any(|b| b.flagged) {
        notes.push(
            "a covariate is still imbalanced after weighting (|SMD| > 0.1): the propensity model may be wrong".into(),
        );
    }
    let failed: Vec<&str> = refutations
        .iter()
        .filter(|r| !r.held)
        .map(|r| r.check.as_str())
        .collect();
    if !failed.is_empty() {
        notes.push(format!(
            "refutation checks that did not hold: {}",
            failed.join(", ")
        ));
    }
    progress.update(1.0, "done")?;
    Ok(ObservationalCausalReport {
        campaign: key.into(),
        kind: campaign.spec.kind.as_str().into(),
        treated,
        control,
        estimand: if request.att { "att" } else { "ate" }.into(),
        metric: metric.name().into(),
        covariates: request.covariates.clone(),
        trim: request.trim,
        units,
        excluded_multiple_exposure: excluded,
        kept_treated: report.kept_treated,
        kept_control: report.kept_control,
        dropped_treated: report.dropped_treated,
        dropped_control: report.dropped_control,
        naive: report.naive.into(),
        ipw: report.ipw.into(),
        aipw: report.aipw.into(),
        propensity_coefficients: report.propensity_coefficients.clone(),
        histogram_treated: report.overlap.histogram_treated.clone(),
        histogram_control: report.overlap.histogram_control.clone(),
        ess_treated: report.overlap.ess_treated,
        ess_control: report.overlap.ess_control,
        top1_weight_share: report.overlap.top1_weight_share,
        balance: report
            .balance
            .iter()
            .map(|b| BalanceRow {
                covariate: b.name.clone(),
                smd_before: b.smd_before,
                smd_after: b.smd_after,
                flagged_before: b.flagged_before,
                flagged: b.flagged,
            })
            .collect(),
        refutations,
        seed: request.seed,
        notes,
    })
}

/// How a refutation's check is named on screen.
fn check_label(check: &str) -> &str {
    [
        RefutationKind::PlaceboTreatment,
        RefutationKind::RandomCommonCause,
        RefutationKind::RandomSubset,
    ]
    .into_iter()
    .find(|k| k.as_str() == check)
    .map_or(check, |k| match k {
        RefutationKind::PlaceboTreatment => "placebo treatment (arms permuted)",
        RefutationKind::RandomCommonCause => "random common cause added",
        RefutationKind::RandomSubset => "random 80% subset",
    })
}

/// The report in the default number format (`$`), at full width: what `report causal
/// --covariates` prints.
pub fn format_text(r: &ObservationalCausalReport) -> String {
    format_text_for_width(r, &NumberFormat::default(), usize::MAX)
}

/// From this many columns the estimates are a table; narrower, one line per estimate and the
/// long lines split, so the console's panel at 80 columns cuts nothing.
pub const TABLE_WIDTH: usize = 96;

/// The report for `width` columns: a conversion effect is a signed percentage, the other
/// metrics money in the operator's currency. Every line fits `width` (a line that would not,
/// a long note or refusal reason, is wrapped at spaces).
pub fn format_text_for_width(
    r: &ObservationalCausalReport,
    nf: &NumberFormat,
    width: usize,
) -> String {
    let table = width >= TABLE_WIDTH;
    let is_rate = r.metric == Metric::Conversion.name();
    let show = |x: f64| {
        if is_rate {
            crate::format::lift(x)
        } else {
            nf.money_change(x)
        }
    };
    let show_se = |x: f64| {
        if is_rate {
            crate::format::rate(x)
        } else {
            nf.money(x)
        }
    };
    let covariates = r
        .covariates
        .iter()
        .map(|c| escape_control(c))
        .collect::<Vec<_>>()
        .join(", ");
    let trim = r
        .trim
        .map_or_else(|| "none".to_string(), |t| format!("[{t}, {}]", 1.0 - t));
    // The same header either way; narrower, each part starts its own line.
    let (after_kind, after_metric) = if table {
        ("  ", "\n  ")
    } else {
        ("\n  ", "\n  ")
    };
    let after_covariates = if table { "  " } else { "\n  " };
    let mut s = format!(
        "observational causal report: {} ({}){after_kind}{} = {} vs {}  metric {}{after_metric}\
         covariates {}{after_covariates}trim {}  units {}\n\n",
        escape_control(&r.campaign),
        r.kind,
        r.estimand.to_uppercase(),
        escape_control(&r.treated),
        escape_control(&r.control),
        r.metric,
        covariates,
        trim,
        crate::format::count(r.units as i64),
    );
    if table {
        s.push_str(&format!(
            "  {:<8} {:>12} {:>12} {:>27}\n",
            "", "effect", "SE", "95% CI"
        ));
    }
    for (name, e) in [("naive", &r.naive), ("IPW", &r.ipw), ("AIPW", &r.aipw)] {
        let ci = crate::format::interval(Some(e.low), Some(e.high), show);
        if table {
            s.push_str(&format!(
                "  {name:<8} {:>12} {:>12} {ci:>27}\n",
                show(e.effect),
                show_se(e.se),
            ));
        } else {
            s.push_str(&format!(
                "  {name:<5} {} SE {} 95% CI {ci}\n",
                show(e.effect),
                show_se(e.se),
            ));
        }
    }
    s.push_str(&format!(
        "\nkept: treated {} control {}   trimmed: treated {} control {}\n",
        r.kept_treated, r.kept_control, r.dropped_treated, r.dropped_control
    ));
    let ess = format!(
        "effective sample size: treated {:.1} control {:.1}",
        r.ess_treated, r.ess_control
    );
    let top = format!(
        "top 1% of units hold {:.1}% of the weight",
        100.0 * r.top1_weight_share
    );
    if table {
        s.push_str(&format!("{ess}   {top}\n"));
    } else {
        s.push_str(&format!("{ess}\n{top}\n"));
    }
    s.push_str("propensity histogram (bins of 0.1):\n");
    for (name, h) in [
        ("treated", &r.histogram_treated),
        ("control", &r.histogram_control),
    ] {
        let cells: Vec<String> = h.iter().map(|c| format!("{c:>6}")).collect();
        s.push_str(&format!("  {name:<8}{}\n", cells.join("")));
    }
    s.push_str("balance (standardised mean difference, flagged above 0.1):\n");
    for b in &r.balance {
        s.push_str(&format!(
            "  {:<20} before {:+.3}{}  after {:+.3}{}\n",
            escape_control(&b.covariate),
            b.smd_before,
            if b.flagged_before { " !" } else { "  " },
            b.smd_after,
            if b.flagged { " IMBALANCED" } else { " ok" }
        ));
    }
    s.push_str(&format!("refutations (seed {}):\n", r.seed));
    for c in &r.refutations {
        let what = match (&c.estimate, &c.refused) {
            (Some(e), _) => format!(
                "{} {}",
                show(e.effect),
                crate::format::interval(Some(e.low), Some(e.high), show)
            ),
            (None, Some(why)) => format!("refused: {why}"),
            (None, None) => "-".into(),
        };
        s.push_str(&format!(
            "  {:<36} {:<9} {what}\n",
            check_label(&c.check),
            if c.held { "held" } else { "NOT HELD" }
        ));
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    fit_width(&s, width)
}

/// Every line of `text` at most `width` characters: a longer one is broken at spaces, the
/// continuation indented by four (a single word longer than the width keeps its own line).
fn fit_width(text: &str, width: usize) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.chars().count() <= width {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let mut words = line.split_whitespace();
        let mut current = format!("{indent}{}", words.next().unwrap_or_default());
        for word in words {
            if current.chars().count() + 1 + word.chars().count() > width {
                out.push_str(&current);
                out.push('\n');
                current = format!("{indent}    {word}");
            } else {
                current.push(' ');
                current.push_str(word);
            }
        }
        out.push_str(&current);
        out.push('\n');
    }
    out
}
