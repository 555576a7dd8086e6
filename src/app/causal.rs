//! The causal report behind the console's `c` key and `liftdeck report causal`: per arm and
//! outcome, the effect against control weighted by the logged propensities, beside the naive
//! difference, plus a balance check of the pre-period covariate. For a fixed-weight A/B test
//! the two agree (randomisation already removed selection bias); for a bandit, or traffic that
//! was targeted, they differ and the weighted one is the campaign's effect.

use super::{AppError, Progress, Result};
use crate::causal::ipw::{agree, difference, Difference};
use crate::causal::{balance, contrast, ArmMoments, Balance, Contrast};
use crate::format::{self, NumberFormat};
use crate::stats::ab::Metric;
use crate::store::Store;
use crate::text::escape_control;
use serde::{Deserialize, Serialize};

/// The outcomes the report estimates effects on, per unit.
pub const OUTCOMES: [&str; 3] = ["conversion", "revenue per unit", "profit per unit"];
/// The A/B report's metric for each of `OUTCOMES` (for the stratified estimate).
const OUTCOME_METRICS: [Metric; 3] = [Metric::Conversion, Metric::Revenue, Metric::Profit];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmEffect {
    pub arm: String,
    pub units: u64,
    /// Kish effective sample size of the weighted arm.
    pub effective_units: f64,
    /// `None` for control, or when an arm has under two units.
    pub effect: Option<Contrast>,
    /// For a campaign whose weights moved: the effect stratified by allocation period (the A/B
    /// report's estimate), beside the weighted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratified: Option<Difference>,
    /// CUPED-adjusted difference in means on `pre_value` (the A/B engine's CUPED). It ignores
    /// the propensities: for a campaign whose weights moved, read the weighted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuped: Option<Difference>,
    /// Both exist and lie outside each other's intervals.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disagrees: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeEffects {
    pub outcome: String,
    pub arms: Vec<ArmEffect>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BalanceRow {
    pub arm: String,
    pub units_with_pre_value: u64,
    pub balance: Option<Balance>,
    /// |SMD| after weighting above 0.1: the arms differed before the campaign.
    pub imbalanced: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CausalReport {
    pub campaign: String,
    pub control: String,
    pub alpha: f64,
    pub units: u64,
    /// Units left out because lines put them in more than one arm.
    pub excluded_multiple_exposure: u64,
    pub min_propensity: Option<f64>,
    /// Whether any arm's units had different propensities (then weighting matters).
    pub propensity_varies: bool,
    pub outcomes: Vec<OutcomeEffects>,
    pub balance: Vec<BalanceRow>,
    /// Per treatment arm, ROI against control (delta method).
    #[serde(default)]
    pub roi: Vec<super::causal_randomised::RoiRow>,
    /// Per treatment arm, extra orders, discount cost and its split.
    #[serde(default)]
    pub incremental: Vec<super::causal_randomised::IncrementalRow>,
    /// CATE per segment of each categorical context field.
    #[serde(default)]
    pub segments: super::causal_segments::SegmentsReport,
    pub notes: Vec<String>,
}

/// Streams every unit of `key` and estimates each arm's effect against control.
pub fn causal_report(
    store: &Store,
    key: &str,
    alpha: Option<f64>,
    progress: &dyn Progress,
) -> Result<CausalReport> {
    causal_report_by(store, key, alpha, None, progress)
}

/// As [`causal_report`], with the segments section limited to the context field `by`.
pub fn causal_report_by(
    store: &Store,
    key: &str,
    alpha: Option<f64>,
    by: Option<&str>,
    progress: &dyn Progress,
) -> Result<CausalReport> {
    let (campaign, arms) = store.campaign(key)?;
    if campaign.spec.kind == crate::domain::CampaignKind::Observational {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` is observational: it has no logged propensities to weight by; \
             name the context fields that drove treatment with `liftdeck report causal {key} \
             --covariates F1,F2,...`; the console's c then reruns it with the same covariates"
        )));
    }
    // The campaign's alpha unless the command overrides it, as for every other report.
    let overrides = super::report::ReportOverrides {
        alpha,
        ..Default::default()
    };
    let alpha = super::report::options_for(&campaign.spec, &overrides)?.alpha;
    let control = campaign
        .spec
        .control
        .clone()
        .or_else(|| arms.first().map(|a| a.key.clone()))
        .ok_or_else(|| AppError::Invalid(format!("campaign `{key}` has no arms")))?;
    let Some(ci) = arms.iter().position(|a| a.key == control) else {
        return Err(AppError::Invalid(format!(
            "control arm `{control}` is not an arm of `{key}`"
        )));
    };
    let mut outcome = vec![[ArmMoments::default(); OUTCOMES.len()]; arms.len()];
    let mut pre = vec![ArmMoments::default(); arms.len()];
    let mut propensity_range = vec![(f64::INFINITY, f64::NEG_INFINITY); arms.len()];
    let (mut units, mut excluded) = (0u64, 0u64);
    let mut sums = vec![super::causal_randomised::ArmSums::default(); arms.len()];
    let mut segments = super::causal_segments::SegmentAccumulator::new(arms.len(), by)?;
    super::for_each_unit_chunk(store, key, progress, 1.0, &mut |rows| {
        for row in &rows {
            units += 1;
            if row.conflicts > 0 {
                excluded += 1;
                continue;
            }
            let Some(a) = arms.iter().position(|x| x.key == row.arm) else {
                continue;
            };
            let p = row.propensity;
            let converted = if row.purchases > 0 { 1.0 } else { 0.0 };
            for (m, y) in
                outcome[a]
                    .iter_mut()
                    .zip([converted, row.revenue, row.revenue - row.cost])
            {
                m.add(y, p);
            }
            if let Some(x) = row.pre_value {
                pre[a].add(x, p);
            }
            sums[a].add(row);
            segments.add(&row.context, a, converted, p);
            let r = &mut propensity_range[a];
            *r = (r.0.min(p), r.1.max(p));
        }
        Ok(())
    })?;
    progress.update(1.0, "estimating")?;
    let cuped = super::causal_randomised::cuped_effects(&sums, ci, alpha);
    let strata = super::report::moved_weights(store, &campaign, arms.len())?;
    let stratified: Vec<Vec<Option<(f64, f64)>>> = OUTCOME_METRICS
        .iter()
        .map(|&m| {
            strata.as_ref().map_or_else(
                || vec![None; arms.len()],
                |s| {
                    s.estimates(m)
                        .into_iter()
                        .map(|e| e.map(|e| (e.value, e.variance)))
                        .collect()
                },
            )
        })
        .collect();
    let min_propensity = propensity_range
        .iter()
        .map(|r| r.0)
        .filter(|p| p.is_finite())
        .reduce(f64::min);
    let propensity_varies = propensity_range
        .iter()
        .any(|r| r.0.is_finite() && r.1 - r.0 > 1e-12);
    let outcomes: Vec<OutcomeEffects> = OUTCOMES
        .iter()
        .enumerate()
        .map(|(o, name)| OutcomeEffects {
            outcome: name.to_string(),
            arms: arms
                .iter()
                .enumerate()
                .map(|(a, arm)| {
                    let effect = (a != ci)
                        .then(|| contrast(&outcome[a][o], &outcome[ci][o], alpha))
                        .flatten();
                    let stratified = match (a != ci, stratified[o][a], stratified[o][ci]) {
                        (true, Some(t), Some(c)) => difference(t, c, alpha),
                        _ => None,
                    };
                    let disagrees =
                        matches!((&effect, &stratified), (Some(e), Some(s)) if !agree(e, s));
                    ArmEffect {
                        arm: arm.key.clone(),
                        units: outcome[a][o].n,
                        effective_units: outcome[a][o].effective_n(),
                        effect,
                        stratified,
                        cuped: cuped[o][a],
                        disagrees,
                    }
                })
                .collect(),
        })
        .collect();
    let balance: Vec<BalanceRow> = arms
        .iter()
        .enumerate()
        .filter(|(a, _)| *a != ci)
        .map(|(a, arm)| {
            let b = balance(&pre[a], &pre[ci]);
            BalanceRow {
                arm: arm.key.clone(),
                units_with_pre_value: pre[a].n,
                balance: b,
                imbalanced: b
                    .is_some_and(|b| b.smd_weighted.abs() > crate::causal::ipw::SMD_IMBALANCED),
            }
        })
        .collect();
    let names: Vec<String> = arms.iter().map(|a| a.key.clone()).collect();
    let profit: Vec<Option<(f64, f64)>> = outcomes[2]
        .arms
        .iter()
        .map(|a| a.effect.map(|e| (e.ipw_diff, e.ipw_se)))
        .collect();
    let mut roi = super::causal_randomised::roi_rows(&sums, &names, ci, alpha);
    // A bandit's ROI also gets the A/B report's period-stratified estimate, as every other
    // outcome does above.
    if let Some(s) = &strata {
        for row in &mut roi {
            if let Some(a) = names.iter().position(|n| *n == row.arm) {
                row.stratified = s.roi(ci, a, alpha).map(Into::into);
            }
        }
    }
    let offers: Vec<String> = arms
        .iter()
        .map(|a| match a.offer {
            crate::domain::Offer::None => String::new(),
            ref o => o.describe(),
        })
        .collect();
    let incremental =
        super::causal_randomised::incremental_rows(&sums, &names, &offers, ci, &profit, alpha);
    let segments = segments.finish(&names, ci, alpha)?;
    let mut notes = Vec::new();
    if let Some(s) = &strata {
        notes.push(format!(
            "weights moved over {} allocation periods: the stratified effect (the A/B report's) \
             is shown beside the propensity-weighted one. The diff-means and CUPED lines pool \
             units from periods with different weights, so they also carry whatever changed \
             over time; the campaign's effect is the weighted or stratified one",
            s.summary().strata
        ));
        let split: Vec<String> = outcomes
            .iter()
            .flat_map(|o| {
                o.arms
                    .iter()
                    .filter(|a| a.disagrees)
                    .map(move |a| format!("{} on {}", escape_control(&a.arm), o.outcome))
            })
            .collect();
        if !split.is_empty() {
            notes.push(format!(
                "weighted and stratified effects disagree for {}: each lies outside the other's \
                 interval; the propensities do not match the periods' weights (a contextual \
                 policy, or a storefront that drew differently) — trust the weighted one only if \
                 the logged propensities are the ones units were drawn with",
                split.join(", ")
            ));
        }
    }
    if !propensity_varies {
        notes.push(
            "every arm's units had one propensity: weighting equals the plain difference".into(),
        );
    }
    if excluded > 0 {
        notes.push(format!(
            "{excluded} units seen in more than one arm are left out"
        ));
    }
    if balance.iter().any(|b| b.imbalanced) {
        notes.push("pre_value differs between arms even after weighting: check assignment".into());
    }
    if units == 0 {
        notes.push("no units assigned yet".into());
    }
    Ok(CausalReport {
        campaign: key.into(),
        control,
        alpha,
        units,
        excluded_multiple_exposure: excluded,
        min_propensity,
        propensity_varies,
        outcomes,
        balance,
        roi,
        incremental,
        segments,
        notes,
    })
}

/// From this many columns the report is a table, one column per figure (the CLI, a wide
/// console); narrower, each arm is one line of the same figures without the naive difference
/// and the effective units.
pub const TABLE_WIDTH: usize = 96;

/// One arm's figures on one outcome, as both layouts print them: a conversion effect is a
/// difference of rates (a signed percentage), the other outcomes money per unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectCells {
    pub naive: String,
    pub ipw: String,
    /// The IPW interval at the report's level.
    pub ci: String,
    /// The p-value of the test that interval inverts.
    pub p: String,
}

/// The cells of `effect` on `outcome` (one of `OUTCOMES`).
pub fn effect_cells(outcome: &str, effect: &Contrast, nf: &NumberFormat) -> EffectCells {
    let show = |x: f64| {
        if outcome == OUTCOMES[0] {
            format::lift(x)
        } else {
            nf.money_change(x)
        }
    };
    EffectCells {
        naive: show(effect.naive_diff),
        ipw: show(effect.ipw_diff),
        ci: format::interval(Some(effect.ipw_ci.0), Some(effect.ipw_ci.1), show),
        p: format::p_value(effect.p_value),
    }
}

/// The stratified effect's value and interval, shown as `effect_cells` shows the weighted one.
fn stratified_cells(outcome: &str, d: &Difference, nf: &NumberFormat) -> (String, String) {
    let show = |x: f64| {
        if outcome == OUTCOMES[0] {
            format::lift(x)
        } else {
            nf.money_change(x)
        }
    };
    (
        show(d.diff),
        format::interval(Some(d.ci.0), Some(d.ci.1), show),
    )
}

/// The plain-text report in the default number format (`$`), at full width.
pub fn format_text(r: &CausalReport) -> String {
    format_text_with(r, &NumberFormat::default())
}

/// The plain-text report as `report causal` prints it: the table layout.
pub fn format_text_with(r: &CausalReport, nf: &NumberFormat) -> String {
    format_text_for_width(r, nf, usize::MAX)
}

/// The report for `width` columns, the one renderer of the CLI and the console's Causal
/// panel: a table from `TABLE_WIDTH` columns, one line per arm below it, every figure from
/// `effect_cells` either way.
pub fn format_text_for_width(r: &CausalReport, nf: &NumberFormat, width: usize) -> String {
    let table = width >= TABLE_WIDTH;
    let mut s = format!(
        "causal report: {}  control {}  units {}  min propensity {}\n",
        escape_control(&r.campaign),
        escape_control(&r.control),
        format::count(r.units as i64),
        format::opt(r.min_propensity, |p| format!("{p:.3}"))
    );
    if table {
        // One column header for the three outcomes keeps the table on one screen.
        s.push_str(&format!(
            "\n  {:<12} {:>8} {:>10} {:>12} {:>12} {:>25} {:>9}\n",
            "arm",
            "units",
            "eff.units",
            "naive diff",
            "IPW diff",
            format!("IPW {:.0}% CI", 100.0 * (1.0 - r.alpha)),
            "p"
        ));
    }
    for o in &r.outcomes {
        s.push_str(&format!(
            "{} (vs {})\n",
            o.outcome,
            escape_control(&r.control)
        ));
        for a in &o.arms {
            let arm = escape_control(&a.arm);
            let units = format::count(a.units as i64);
            let effective = format::quantity(a.effective_units);
            match (&a.effect, table) {
                (Some(e), true) => {
                    let c = effect_cells(&o.outcome, e, nf);
                    s.push_str(&format!(
                        "  {arm:<12} {units:>8} {effective:>10} {:>12} {:>12} {:>25} {:>9}\n",
                        c.naive, c.ipw, c.ci, c.p
                    ));
                    if r.propensity_varies {
                        let d = Difference {
                            diff: e.naive_diff,
                            se: 0.0,
                            ci: e.naive_ci,
                        };
                        let (diff, ci) = stratified_cells(&o.outcome, &d, nf);
                        s.push_str(&format!(
                            "  {:<12} {:>8} {:>10} {:>12} {diff:>12} {ci:>25}\n",
                            "  diff means", "", "", ""
                        ));
                    }
                    if let Some(d) = &a.cuped {
                        let (diff, ci) = stratified_cells(&o.outcome, d, nf);
                        s.push_str(&format!(
                            "  {:<12} {:>8} {:>10} {:>12} {diff:>12} {ci:>25}\n",
                            "  CUPED", "", "", ""
                        ));
                    }
                    if let Some(d) = &a.stratified {
                        let (diff, ci) = stratified_cells(&o.outcome, d, nf);
                        let flag = if a.disagrees { "DISAGREES" } else { "" };
                        s.push_str(&format!(
                            "  {:<12} {:>8} {:>10} {:>12} {diff:>12} {ci:>25} {flag:>9}\n",
                            "  stratified", "", "", ""
                        ));
                    }
                }
                (Some(e), false) => {
                    let c = effect_cells(&o.outcome, e, nf);
                    s.push_str(&format!("  {arm:<10} IPW {} {} p {}\n", c.ipw, c.ci, c.p));
                    if r.propensity_varies {
                        let (diff, ci) = (
                            c.naive,
                            format::interval(Some(e.naive_ci.0), Some(e.naive_ci.1), |x| {
                                if o.outcome == OUTCOMES[0] {
                                    format::lift(x)
                                } else {
                                    nf.money_change(x)
                                }
                            }),
                        );
                        s.push_str(&format!("  {:<10} dm  {diff} {ci}\n", ""));
                    }
                    if let Some(d) = &a.cuped {
                        let (diff, ci) = stratified_cells(&o.outcome, d, nf);
                        s.push_str(&format!("  {:<10} cup {diff} {ci}\n", ""));
                    }
                    if let Some(d) = &a.stratified {
                        let (diff, ci) = stratified_cells(&o.outcome, d, nf);
                        let flag = if a.disagrees { " DISAGREES" } else { "" };
                        s.push_str(&format!("  {:<10} str {diff} {ci}{flag}\n", ""));
                    }
                }
                (None, true) => {
                    let what = if a.arm == r.control { "control" } else { "-" };
                    s.push_str(&format!(
                        "  {arm:<12} {units:>8} {effective:>10} {what:>12}\n"
                    ));
                }
                // The control arm is the heading's "vs": a line of its own says nothing.
                (None, false) if a.arm == r.control => {}
                (None, false) => {
                    s.push_str(&format!("  {arm:<10} {units:>7} units  not enough data\n"));
                }
            }
        }
    }
    if table {
        s.push('\n');
    }
    for b in &r.balance {
        let arm = escape_control(&b.arm);
        match &b.balance {
            Some(x) => s.push_str(&format!(
                "balance {arm}: pre_value SMD raw {:+.3} weighted {:+.3} {}\n",
                x.smd_raw,
                x.smd_weighted,
                if b.imbalanced { "IMBALANCED" } else { "ok" }
            )),
            None => s.push_str(&format!("balance {arm}: no pre_value recorded\n")),
        }
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    // The totals and segments follow the notes, which are about the effects above.
    s.push_str(&super::causal_randomised::format_sections(
        &r.roi,
        &r.incremental,
        nf,
    ));
    s.push_str(&super::causal_segments::format_segments(
        &r.segments,
        r.alpha,
    ));
    s
}
