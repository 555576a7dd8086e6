//! The A/B report of a bandit campaign: the pooled report's assembly (`ab::ab_report_given`)
//! fed with the period-stratified estimates, SRM against the moving weights, and ROI, plus a
//! note for every figure that is not what a pooled report would show.

use super::Strata;
use crate::stats::ab::{
    ab_report_given, add_guardrails_given, cuped_method, AbReport, ArmInput, CupedReport,
    GivenEstimates, Metric, Options,
};

/// The A/B report of one metric with every arm's estimate stratified by allocation period
/// (`strata` built from the campaign's periods, arms in the order of `arms`). `arms` are the
/// pooled inputs: keys, units and counts as shown, and the power figures.
pub fn ab_report_stratified(
    campaign: &str,
    control: Option<&str>,
    metric: Metric,
    arms: &[ArmInput],
    strata: &Strata,
    opts: &Options,
) -> AbReport {
    let mut summary = strata.summary().clone();
    let pooled_units: u64 = arms.iter().map(|a| a.rollup.units.max(0) as u64).sum();
    let period_units: u64 = strata.observed_units().iter().sum();
    summary.units_without_period = pooled_units.saturating_sub(period_units);
    // Say the merge only when there was one: "14 periods merged into 14 strata" reads as if
    // something happened.
    let merged = if summary.strata < summary.periods {
        format!(
            "consecutive periods with equal weights merged into {} strata, ",
            summary.strata
        )
    } else {
        String::new()
    };
    let mut notes = vec![format!(
        "stratified by {} allocation period{} ({merged}{} used): each arm is Σ_p w_p × its mean \
         in period p, w_p = the period's share of all units, the same for every arm",
        summary.periods,
        if summary.periods == 1 { "" } else { "s" },
        summary.strata_used,
    )];
    if summary.units_left_out > 0 {
        notes.push(format!(
            "{} units in {} period{} left out for every arm: some arm had fewer than 2 units there",
            summary.units_left_out,
            summary.periods_left_out.len(),
            if summary.periods_left_out.len() == 1 {
                ""
            } else {
                "s"
            },
        ));
    }
    if summary.units_without_period > 0 {
        notes.push(format!(
            "{} units are in no allocation period and are not in the estimates",
            summary.units_without_period
        ));
    }
    if strata.arms != arms.len() {
        notes.push(format!(
            "no stratified estimate: the periods have {} arms, the report {}",
            strata.arms,
            arms.len()
        ));
    } else if summary.strata_used == 0 {
        notes.push("no stratified estimate yet: no period has 2 units in every arm".to_string());
    }
    let usable = strata.arms == arms.len();
    let raw = if usable {
        strata.estimates(metric)
    } else {
        Vec::new()
    };
    let cuped = if opts.cuped && usable {
        strata.cuped(metric)
    } else {
        None
    };
    if opts.cuped && cuped.is_none() {
        notes.push(format!(
            "CUPED not applied: {} needs a pre_value covariate with spread within periods",
            metric.name()
        ));
    }
    if matches!(metric, Metric::Conversion | Metric::AddToCart) && cuped.is_none() {
        notes.push(
            "chance to beat, credible interval and risk use the Gaussian model of the stratified \
             estimates: the exact Beta posterior needs counts pooled over periods"
                .to_string(),
        );
    }
    notes.push(
        "SRM compares each arm's units with Σ_p units in period p × the arm's weight in it"
            .to_string(),
    );
    notes.push("power and time to decision use pooled variances (a planning figure)".to_string());
    let control_index = control.and_then(|c| arms.iter().position(|a| a.key == c));
    let roi = (0..arms.len())
        .map(|i| {
            let c = control_index.filter(|&c| c != i && usable)?;
            strata.roi(c, i, opts.alpha)
        })
        .collect();
    let given = GivenEstimates {
        shown: raw.iter().map(|e| e.map(|e| e.value)).collect(),
        estimates: cuped
            .as_ref()
            .map_or_else(|| raw.clone(), |c| c.estimates.clone()),
        cuped: cuped.as_ref().map(|c| CupedReport {
            theta: c.theta,
            variance_reduction: c.variance_reduction,
            method: cuped_method(metric),
        }),
        srm: usable.then(|| strata.srm()),
        roi,
        notes,
        stratified: Some(summary),
    };
    ab_report_given(campaign, control, metric, arms, opts, &given)
}

/// [`crate::stats::ab::add_guardrails`] on the stratified estimates of each guardrail metric.
pub fn add_guardrails_stratified(
    report: &mut AbReport,
    metrics: &[Metric],
    arms: &[ArmInput],
    strata: &Strata,
    (margin, alpha): (f64, f64),
) {
    let usable = strata.arms == arms.len();
    add_guardrails_given(report, metrics, arms, (margin, alpha), |m| {
        if usable {
            strata.estimates(m)
        } else {
            Vec::new()
        }
    });
}
