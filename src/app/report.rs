//! `report ab`: reads rollups (or per-unit totals when capping or splitting by segment), runs
//! the pure A/B report, and formats it as a table or JSON.

use super::{AppError, Result};
use crate::domain::{ArmRollup, CampaignSpec};
use crate::format::{self, NumberFormat};
use crate::stats::ab::{ab_report, add_guardrails, AbReport, ArmInput, ArmRow, Metric, Options};
use crate::stats::bayes::EffectPrior;
use crate::stats::multiple::Adjustment;
use crate::stats::stratified::{
    ab_report_stratified, add_guardrails_stratified, PeriodArms, Strata,
};
use crate::store::Store;
use serde::Serialize;

/// What a command may override of a campaign's report settings; `None` keeps the campaign's
/// stored value, then the product default (`Options::default()`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportOverrides {
    pub alpha: Option<f64>,
    pub n_star: Option<f64>,
    /// `holm` or `bh`.
    pub correction: Option<String>,
    pub guardrail_margin: Option<f64>,
    pub prior: Option<EffectPrior>,
    pub cuped: bool,
    pub target_mde_rel: Option<f64>,
}

/// Smallest N* accepted: below it the always-valid boundary is tuned for a decision after a
/// handful of units, which no campaign means.
pub const MIN_N_STAR: f64 = 10.0;

/// The report options of one campaign: the one place where alpha, N*, the correction and the
/// guardrail margin are read from the campaign and the command's overrides. `report ab`,
/// `health`, the jobs and the console all build their options here, so a campaign cannot be
/// "not breached" in one and CRIT in another.
pub fn options_for(spec: &CampaignSpec, overrides: &ReportOverrides) -> Result<Options> {
    let settings = &spec.settings;
    let defaults = Options::default();
    let alpha = overrides.alpha.or(settings.alpha).unwrap_or(defaults.alpha);
    if !(alpha > 0.0 && alpha < 0.5) {
        return Err(AppError::Invalid(format!(
            "alpha must be in (0, 0.5), got {alpha}"
        )));
    }
    let n_star = overrides
        .n_star
        .or(settings.n_star)
        .unwrap_or(defaults.n_star);
    if !(n_star.is_finite() && n_star >= MIN_N_STAR) {
        return Err(AppError::Invalid(format!(
            "N* (--n-star) must be at least {MIN_N_STAR} units, got {n_star}"
        )));
    }
    let correction = overrides
        .correction
        .as_deref()
        .or(settings.correction.as_deref());
    let adjustment = match correction {
        None => defaults.adjustment,
        Some("holm") => Adjustment::Holm,
        Some("bh") => Adjustment::BenjaminiHochberg,
        Some(other) => {
            return Err(AppError::Invalid(format!(
                "correction `{other}`: use holm or bh"
            )))
        }
    };
    let guardrail_margin = overrides
        .guardrail_margin
        .or(settings.guardrail_margin)
        .unwrap_or(defaults.guardrail_margin);
    if !(guardrail_margin >= 0.0 && guardrail_margin.is_finite()) {
        return Err(AppError::Invalid(format!(
            "guardrail margin must be a non-negative relative harm, got {guardrail_margin}"
        )));
    }
    let target_mde_rel = overrides.target_mde_rel.unwrap_or(defaults.target_mde_rel);
    check_relative_mde(target_mde_rel)?;
    Ok(Options {
        alpha,
        n_star,
        adjustment,
        guardrail_margin,
        prior: overrides.prior.unwrap_or(defaults.prior),
        cuped: overrides.cuped,
        target_mde_rel,
        ..defaults
    })
}

/// A minimum detectable effect is relative: 0.05 means +5%. A value of 1 or more is almost
/// always a percentage typed as a whole number (`--mde 5` for 5%), so it is refused with the
/// reading that was probably meant rather than silently planned for +500%.
pub fn check_relative_mde(mde: f64) -> Result<()> {
    if mde > 0.0 && mde < 1.0 {
        return Ok(());
    }
    let hint = if (1.0..100.0).contains(&mde) {
        format!(" (did you mean {}?)", mde / 100.0)
    } else {
        String::new()
    };
    Err(AppError::Invalid(format!(
        "--mde is a relative effect in (0, 1), e.g. 0.05 for +5%; got {mde}{hint}"
    )))
}

/// How per-unit revenue is capped before inference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Capping {
    None,
    /// An absolute cap on a unit's revenue.
    Absolute(f64),
    /// Winsorise at this quantile of the campaign's per-unit revenue (e.g. 0.99).
    Quantile(f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct CappingReport {
    pub cap: f64,
    pub capped_units: i64,
}

/// One report, or one per segment value with `--by`.
#[derive(Debug, Clone, Serialize)]
pub struct ReportOutput {
    #[serde(flatten)]
    pub report: AbReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capping: Option<CappingReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

pub fn report_ab(
    store: &Store,
    key: &str,
    metric: Metric,
    opts: &Options,
    capping: Capping,
    by: Option<&str>,
) -> Result<Vec<ReportOutput>> {
    let (campaign, arms) = store.campaign(key)?;
    if let Some(field) = by {
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(AppError::Invalid(format!(
                "--by `{}`: a context field name uses letters, digits and '_'",
                field.escape_debug()
            )));
        }
        // A field no assignment carries would put every unit in one "(none)" segment: a
        // report that looks split but is not. Refuse it and say what can be used.
        let known = store.context_fields(key)?;
        if !known.iter().any(|k| k == field) {
            let list = if known.is_empty() {
                "no assignment of this campaign has a context".to_string()
            } else {
                format!("known context fields: {}", known.join(", "))
            };
            return Err(AppError::Invalid(format!(
                "--by `{field}`: no assignment of `{key}` has that context field; {list}"
            )));
        }
    }
    let cap = match capping {
        Capping::None => None,
        Capping::Absolute(c) => Some(c),
        Capping::Quantile(q) => {
            if !(q > 0.0 && q < 1.0) {
                return Err(AppError::Invalid(format!(
                    "winsorising quantile must be in (0, 1), got {q}"
                )));
            }
            store.revenue_quantile(key, q)?
        }
    };
    let control = campaign.spec.control.as_deref();
    // The last hour of data sets the pace for the time-to-decision estimate.
    let mut opts = *opts;
    opts.recent_units_per_second = store.recent_unit_rate(key, 3_600_000_000)?;
    let opts = &opts;
    let guardrails: Vec<Metric> = campaign
        .spec
        .guardrails
        .iter()
        .filter_map(|g| Metric::parse(g))
        .collect();
    let with_guardrails = |inputs: &[ArmInput]| {
        let mut r = ab_report(key, control, metric, inputs, opts);
        add_guardrails(
            &mut r,
            &guardrails,
            inputs,
            opts.guardrail_margin,
            opts.alpha,
        );
        crate::stats::family::adjust_family(&mut r, opts.adjustment);
        r
    };
    let weight_of = |arm: &str| arms.iter().find(|a| a.key == arm).map_or(0.0, |a| a.weight);
    let strata = moved_weights(store, &campaign, arms.len())?;
    if by.is_none() && cap.is_none() {
        let inputs = report_inputs(store.arm_summaries(key)?);
        let report = match &strata {
            // Weights moved: arms are compared within allocation periods.
            Some(strata) => {
                let mut r = ab_report_stratified(key, control, metric, &inputs, strata, opts);
                add_guardrails_stratified(
                    &mut r,
                    &guardrails,
                    &inputs,
                    strata,
                    (opts.guardrail_margin, opts.alpha),
                );
                crate::stats::family::adjust_family(&mut r, opts.adjustment);
                if campaign_is_contextual(&campaign) {
                    r.notes.push(CONTEXTUAL_NOTE.into());
                }
                r
            }
            None => with_guardrails(&inputs),
        };
        let mut out = vec![ReportOutput {
            report,
            capping: None,
            segment: None,
        }];
        note_observational(&campaign, &mut out);
        return Ok(out);
    }
    let rows = store.unit_rollups(key, by, cap)?;
    let mut segments: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    segments.dedup();
    let mut out = Vec::new();
    for seg in segments {
        // Every arm appears in every segment, with zero units where it has none.
        let mut capped_units = 0;
        let inputs: Vec<ArmInput> = arms
            .iter()
            .map(|arm| {
                let found = rows.iter().find(|r| r.0 == seg && r.1 == arm.key);
                capped_units += found.map_or(0, |r| r.3);
                ArmInput {
                    key: arm.key.clone(),
                    weight: weight_of(&arm.key),
                    rollup: found.map_or_else(ArmRollup::default, |r| r.2.clone()),
                }
            })
            .collect();
        let mut report = with_guardrails(&inputs);
        if let Some(strata) = &strata {
            // Per-segment and capped sums are not kept per period (yet): say the numbers pool.
            report.notes.push(format!(
                "pooled across {} allocation periods whose weights moved: arms that got more \
                 traffic while the base rate was different are biased; the report without \
                 --by/--cap is stratified by period",
                strata.summary().strata
            ));
        }
        out.push(ReportOutput {
            report,
            capping: cap.map(|cap| CappingReport { cap, capped_units }),
            segment: by.map(|_| seg.clone()),
        });
    }
    note_observational(&campaign, &mut out);
    Ok(out)
}

/// An observational campaign's arms were chosen by people or rules, so the A/B comparison is
/// the naive one: say so on every report and name the report that adjusts for it.
fn note_observational(campaign: &crate::domain::Campaign, out: &mut [ReportOutput]) {
    if campaign.spec.kind != crate::domain::CampaignKind::Observational {
        return;
    }
    let key = crate::text::escape_control(&campaign.spec.key);
    for o in out {
        o.report.notes.push(format!(
            "treatment was not randomised (an observational campaign): these are naive \
             differences, biased by whatever chose who was treated; run `liftdeck report causal \
             {key} --covariates F1,F2,...` with the context fields that drove treatment"
        ));
    }
}

const CONTEXTUAL_NOTE: &str = "a contextual policy chose arms by the unit's context within \
     each period, so period strata do not remove its selection bias: read the \
     propensity-weighted `report causal`";

fn campaign_is_contextual(campaign: &crate::domain::Campaign) -> bool {
    campaign.spec.kind == crate::domain::CampaignKind::Bandit
        && campaign
            .spec
            .bandit
            .as_ref()
            .is_some_and(|b| b.policy.is_contextual())
}

/// The campaign's allocation periods as strata when its weights moved (more than one stratum
/// of distinct weights), else `None`: with fixed weights the pooled report is the stratified
/// one, and keeps the exact Beta posterior that needs pooled counts.
pub fn moved_weights(
    store: &Store,
    campaign: &crate::domain::Campaign,
    arms: usize,
) -> Result<Option<Strata>> {
    let periods: Vec<PeriodArms> = store
        .period_rollups(&campaign.spec.key)?
        .into_iter()
        .map(|p| PeriodArms {
            period: p.period,
            weights: p.weights,
            arms: p.arms,
        })
        .collect();
    if periods.len() < 2 {
        return Ok(None);
    }
    let strata = Strata::new(&periods, arms).map_err(|e| {
        AppError::Store(crate::store::StoreError::Corrupt(format!(
            "campaign `{}`: {e}",
            campaign.spec.key
        )))
    })?;
    Ok((strata.summary().strata > 1).then_some(strata))
}

/// Stored arm summaries as the report's inputs.
pub fn report_inputs(summaries: Vec<crate::store::ArmSummary>) -> Vec<ArmInput> {
    summaries
        .into_iter()
        .map(|a| ArmInput {
            key: a.key,
            weight: a.weight,
            rollup: a.rollup,
        })
        .collect()
}

fn pct(x: Option<f64>) -> String {
    format::opt(x, format::lift)
}

fn pval(x: Option<f64>) -> String {
    format::opt(x, format::p_value)
}

fn p_phrase(x: Option<f64>) -> String {
    x.map_or("p = -".into(), format::p_value_phrase)
}

/// Whether a metric's per-arm value is money (revenue, cost, profit per unit, order value).
fn is_money(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::Revenue | Metric::Cost | Metric::Profit | Metric::Aov
    )
}

/// Which interval a view reads: the fixed-horizon one (valid at one planned look) or the
/// always-valid one (safe to peek). Each comes with the p-value of the test it inverts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalView {
    Fixed,
    AlwaysValid,
}

/// An interval of the relative lift and the p-value of the test it inverts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntervalCells {
    pub ci: String,
    pub p: String,
}

/// One arm's row of `report ab` as text, the cells both the CLI table and the console's Live
/// A/B table print, so the two cannot drift: which figure is the arm's value (a rate, money
/// for a money metric, else the mean), `-` for anything missing, and which p-value goes with
/// which interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmCells {
    /// The arm key, control characters escaped.
    pub arm: String,
    pub units: String,
    pub value: String,
    pub lift: String,
    pub fixed: IntervalCells,
    pub always_valid: IntervalCells,
    pub p_beat: String,
    pub p_best: String,
    pub risk: String,
    /// The p-value adjusted over the treatment arms.
    pub adj_p: String,
}

impl ArmCells {
    /// The interval (and its p-value) a view shows.
    pub fn interval(&self, view: IntervalView) -> &IntervalCells {
        match view {
            IntervalView::Fixed => &self.fixed,
            IntervalView::AlwaysValid => &self.always_valid,
        }
    }

    /// The console's columns: arm, units, value, lift, the view's interval and its p, P(beat),
    /// P(best), risk.
    pub fn live_row(&self, view: IntervalView) -> Vec<String> {
        let i = self.interval(view);
        vec![
            self.arm.clone(),
            self.units.clone(),
            self.value.clone(),
            self.lift.clone(),
            i.ci.clone(),
            i.p.clone(),
            self.p_beat.clone(),
            self.p_best.clone(),
            self.risk.clone(),
        ]
    }
}

/// The cells of `row`, an arm of `report`, in the one number format.
pub fn arm_cells(report: &AbReport, row: &ArmRow, nf: &NumberFormat) -> ArmCells {
    let value = match (row.rate, row.mean) {
        (Some(rate), _) => format::rate(rate),
        (None, Some(m)) if is_money(report.metric) => nf.money(m),
        (None, Some(m)) => format::rate(m),
        _ => format::MISSING.into(),
    };
    let interval = |lo, hi, p| IntervalCells {
        ci: format::interval(lo, hi, format::lift),
        p: pval(p),
    };
    ArmCells {
        arm: crate::text::escape_control(&row.key).into_owned(),
        units: format::count(row.units),
        value,
        lift: pct(row.rel_lift),
        fixed: interval(row.ci_low, row.ci_high, row.p_value),
        always_valid: interval(row.seq_ci_low, row.seq_ci_high, row.seq_p_value),
        p_beat: format::opt(row.chance_to_beat_control, format::probability),
        p_best: format::opt(row.prob_best, format::probability),
        risk: format::opt(row.expected_loss, format::rate),
        adj_p: pval(row.adj_p_value),
    }
}

/// The plain-text report in the default number format (`$`).
pub fn format_text(outputs: &[ReportOutput]) -> String {
    format_text_with(outputs, &NumberFormat::default())
}

/// The plain-text report: one table per segment with the same figures as the JSON, every
/// number in the one format of `crate::format`. The p-value columns sit beside the interval
/// each one inverts (`p` beside the fixed-horizon CI, `seq p` beside the always-valid one).
pub fn format_text_with(outputs: &[ReportOutput], nf: &NumberFormat) -> String {
    let mut s = String::new();
    for o in outputs {
        let r = &o.report;
        s.push_str(&format!(
            "{} — metric {}{} — control {} — alpha {}{}\n",
            r.campaign,
            r.metric.name(),
            if r.better == "lower" {
                " (lower is better)"
            } else {
                ""
            },
            if r.control.is_empty() {
                "-"
            } else {
                &r.control
            },
            r.alpha,
            o.segment
                .as_ref()
                .map(|g| format!(" — segment {}", crate::text::escape_control(g)))
                .unwrap_or_default()
        ));
        if r.srm.alarm {
            s.push_str(&format!(
                "!! SRM ALARM: units per arm do not match the weights ({}). Do not trust \
                 these results until the assignment is fixed.\n",
                p_phrase(r.srm.p_value)
            ));
        }
        for g in r.guardrails.iter().filter(|g| g.breached) {
            s.push_str(&format!(
                "!! GUARDRAIL BREACHED: {} is significantly worse on {}{} ({} vs control, \
                 one-sided {}).\n",
                g.arm,
                g.metric.name(),
                if g.metric.higher_is_better() {
                    ""
                } else {
                    " (lower is better)"
                },
                pct(g.rel_lift),
                p_phrase(g.p_worse)
            ));
        }
        if r.srm.multiple_exposure_flag {
            s.push_str(&format!(
                "!! MULTIPLE EXPOSURE: {} units were seen in more than one arm.\n",
                format::count(r.srm.multiple_exposure_units as i64)
            ));
        }
        let level = format!("{:.0}% CI (fixed)", 100.0 * (1.0 - r.alpha));
        s.push_str(&format!(
            "  {:<10} {:>7} {:>11} {:>9} {:>22} {:>8} {:>22} {:>8} {:>7} {:>7} {:>8} {:>8}\n",
            "arm",
            "units",
            "value",
            "lift",
            level,
            "p",
            "always-valid CI",
            "seq p",
            "P(beat)",
            "P(best)",
            "risk",
            "adj p"
        ));
        for a in &r.arms {
            let c = arm_cells(r, a, nf);
            s.push_str(&format!(
                "  {:<10} {:>7} {:>11} {:>9} {:>22} {:>8} {:>22} {:>8} {:>7} {:>7} {:>8} {:>8}\n",
                c.arm,
                c.units,
                c.value,
                c.lift,
                c.fixed.ci,
                c.fixed.p,
                c.always_valid.ci,
                c.always_valid.p,
                c.p_beat,
                c.p_best,
                c.risk,
                c.adj_p,
            ));
        }
        let family: Vec<String> = r
            .arms
            .iter()
            .filter_map(|a| Some(format!("{} {}", a.key, pval(Some(a.family_adj_p_value?)))))
            .chain(r.guardrails.iter().filter_map(|g| {
                Some(format!(
                    "{} on {} {}",
                    g.arm,
                    g.metric.name(),
                    pval(Some(g.adj_p_worse?))
                ))
            }))
            .collect();
        if !r.guardrails.is_empty() && !family.is_empty() {
            s.push_str(&format!(
                "  p adjusted over arms and guardrails ({} tests): {}\n",
                family.len(),
                family.join(", ")
            ));
        }
        s.push_str(&format!(
            "  SRM {}{}; MDE at {} units/arm: {}",
            p_phrase(r.srm.p_value),
            if r.srm.alarm { " (ALARM)" } else { " (ok)" },
            format::quantity(r.power.units_per_arm),
            r.power
                .mde_rel
                .map_or("-".into(), |m| format!("{} relative", format::rate(m)))
        ));
        if let (Some(n), Some(t)) = (r.power.units_per_arm_needed, r.power.seconds_to_decision) {
            s.push_str(&format!(
                "; {} units/arm detect {}: {}",
                format::quantity(n),
                format::rate(r.power.target_mde_rel),
                human_duration(t)
            ));
        }
        if let Some(c) = &r.cuped {
            s.push_str(&format!(
                "; CUPED theta {:.4}, variance -{}",
                c.theta,
                format::rate(c.variance_reduction)
            ));
        }
        if let Some(c) = &o.capping {
            s.push_str(&format!(
                "; revenue capped at {} ({} units)",
                nf.money(c.cap),
                format::count(c.capped_units)
            ));
        }
        s.push('\n');
        for a in r.arms.iter().filter(|a| a.roi.is_some()) {
            s.push_str(&format!(
                "  ROI of {} vs control: {} {} = (Δrevenue - Δcost) / Δcost per unit\n",
                a.key,
                format::opt(a.roi, format::roi),
                format::interval(a.roi_ci_low, a.roi_ci_high, format::roi)
            ));
        }
        for n in &r.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        s.push('\n');
    }
    s
}

/// "reached", "3h 20m", "2d 4h": a decision horizon at a glance.
pub fn human_duration(seconds: f64) -> String {
    if seconds <= 0.0 {
        return "reached".into();
    }
    let s = seconds.round() as u64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("~{d}d {h}h to go")
    } else if h > 0 {
        format!("~{h}h {m}m to go")
    } else {
        format!("~{}m to go", m.max(1))
    }
}
