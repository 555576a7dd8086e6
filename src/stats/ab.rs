//! The A/B report: per-arm rollups in, every figure an operator acts on out.
//!
//! Owns the mapping from rollups to metrics (proportion, per-unit mean, ratio), CUPED
//! adjustment, and the assembly of frequentist, Bayesian and sequential figures for each
//! treatment arm against control, plus SRM and multiple-testing adjustment across arms.
//! Pure: plain structs in, a serialisable report out.

pub use super::bayes::normal_prob_best;
use super::bayes::{self, BetaPosterior, BetaPrior, EffectPrior};
use super::frequentist::{
    compare_means, difference, relative_lift, relative_lift_delta, wald_difference, ArmEstimate,
    Direction, Estimate, GuardrailVerdict, ProportionStats,
};
use super::metrics::{arm_estimate, cuped, point};
pub use super::metrics::{metric_stats, ArmInput, Metric, MetricStats};
use super::multiple::{adjust, Adjustment};
use super::power::{
    mde_mean, mde_proportion, time_to_decision, units_per_arm_mean, units_per_arm_proportion,
    TestDesign,
};
use super::roi::Roi;
use super::sequential::{self, SequentialConfig};
use super::srm::{multiple_exposure, srm_check, SrmCheck};
use super::stratified::Stratification;
use serde::Serialize;

/// Settings of one report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    pub alpha: f64,
    /// Total units at which the operator expects to decide; tunes the confidence sequence.
    pub n_star: f64,
    pub prior: EffectPrior,
    pub beta_prior: BetaPrior,
    pub adjustment: Adjustment,
    pub cuped: bool,
    pub power: f64,
    /// Tolerated relative harm on guardrail metrics.
    pub guardrail_margin: f64,
    /// The relative effect the operator wants to be able to detect (for time to decision).
    pub target_mde_rel: f64,
    /// Units per second entering the campaign recently (all arms), for time to decision.
    pub recent_units_per_second: Option<f64>,
    /// Exact Beta-Binomial integrals (chance to beat, probability best) for campaigns with at
    /// most this many arms; beyond it the normal approximation keeps a report in microseconds
    /// (an exact integral over large counts costs ~0.1 ms, over small or mixed ones up to a
    /// few ms).
    pub exact_beta_max_arms: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            alpha: 0.05,
            n_star: 5000.0,
            prior: EffectPrior::Flat,
            beta_prior: BetaPrior::default(),
            adjustment: Adjustment::Holm,
            cuped: false,
            power: 0.8,
            guardrail_margin: 0.0,
            target_mde_rel: 0.05,
            recent_units_per_second: None,
            exact_beta_max_arms: 4,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SrmReport {
    pub p_value: Option<f64>,
    pub alarm: bool,
    pub multiple_exposure_units: u64,
    pub multiple_exposure_flag: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CupedReport {
    /// Pooled within-arm slope of the metric (linearised for ratios) on `pre_value`.
    pub theta: f64,
    /// 1 - Var(adjusted)/Var(raw) of the control-vs-treatment difference, pooled over arms.
    pub variance_reduction: f64,
    /// `regression` for means and proportions, `linearised_ratio` for CTR and AOV.
    pub method: &'static str,
}

/// The Bayesian model behind a row's chance to beat, credible interval and risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BayesModel {
    /// Independent exact Beta posteriors of the two rates (unadjusted proportions).
    Beta,
    /// Normal posterior of the delta-method relative lift (means, ratios, CUPED, a proper
    /// prior, or more arms than `Options::exact_beta_max_arms`).
    Gaussian,
}

/// One arm's row. Comparison fields are `None` for control and where undefined.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ArmRow {
    pub key: String,
    pub units: i64,
    pub conversions: Option<i64>,
    pub sum: Option<f64>,
    pub rate: Option<f64>,
    pub mean: Option<f64>,
    pub abs_diff: Option<f64>,
    pub abs_ci_low: Option<f64>,
    pub abs_ci_high: Option<f64>,
    pub rel_lift: Option<f64>,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Two-sided p-value of the test the relative interval `[ci_low, ci_high]` inverts
    /// (delta-method z-test of lift = 0): `p_value < alpha` exactly when the interval
    /// excludes 0.
    pub p_value: Option<f64>,
    /// Two-sided p-value of the absolute-difference test that `[abs_ci_low, abs_ci_high]`
    /// inverts (Wald for proportions, Welch for means, normal for ratios and CUPED).
    pub abs_p_value: Option<f64>,
    pub seq_ci_low: Option<f64>,
    pub seq_ci_high: Option<f64>,
    pub seq_abs_ci_low: Option<f64>,
    pub seq_abs_ci_high: Option<f64>,
    /// Always-valid p-value dual to `[seq_ci_low, seq_ci_high]` (relative lift).
    pub seq_p_value: Option<f64>,
    /// Always-valid p-value dual to `[seq_abs_ci_low, seq_abs_ci_high]` (absolute difference).
    pub seq_abs_p_value: Option<f64>,
    pub chance_to_beat_control: Option<f64>,
    pub credible_low: Option<f64>,
    pub credible_high: Option<f64>,
    pub prob_best: Option<f64>,
    /// Expected relative lift lost by shipping treatment, E[max(0, -lift)] in the good
    /// direction, from the row's posterior.
    pub expected_loss: Option<f64>,
    /// Which posterior the chance to beat, credible interval, risk (and, with two arms,
    /// P(best)) of this row come from.
    pub bayes_model: Option<BayesModel>,
    pub adj_p_value: Option<f64>,
    /// `p_value` adjusted over the report's whole family: every treatment arm on this metric
    /// plus every guardrail check (see [`super::family`]).
    pub family_adj_p_value: Option<f64>,
    /// (Δrevenue - Δcost) / Δcost per unit against control, whatever the report's metric.
    pub roi: Option<f64>,
    pub roi_ci_low: Option<f64>,
    pub roi_ci_high: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PowerReport {
    /// Smallest relative effect detectable at the current units per arm (power as configured).
    pub mde_rel: Option<f64>,
    pub units_per_arm: f64,
    /// The relative effect the time to decision is computed for.
    pub target_mde_rel: f64,
    /// Units per arm needed to detect `target_mde_rel` at the control's current level.
    pub units_per_arm_needed: Option<f64>,
    pub recent_units_per_second: Option<f64>,
    /// Seconds until `units_per_arm_needed` is reached at the recent traffic rate.
    pub seconds_to_decision: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AbReport {
    pub campaign: String,
    pub metric: Metric,
    /// `higher` or `lower`: which way is better for the metric. For `lower` (cost) the lift is
    /// still treatment / control - 1, but "beat", the risk, P(best) and a guardrail breach all
    /// read a fall as the good direction.
    pub better: &'static str,
    pub control: String,
    pub alpha: f64,
    pub srm: SrmReport,
    pub cuped: Option<CupedReport>,
    pub power: PowerReport,
    pub arms: Vec<ArmRow>,
    /// One row per (guardrail metric, treatment arm); filled by [`add_guardrails`].
    pub guardrails: Vec<GuardrailRow>,
    /// Plain-language notes on anything undefined (no control, no units...).
    pub notes: Vec<String>,
    /// Present when the per-arm estimates are stratified by allocation period (a bandit
    /// campaign, [`super::stratified`]): how many periods, which were left out and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stratified: Option<Stratification>,
}

/// Per-arm figures made outside the pooled rollups (a bandit's period-stratified estimates,
/// see [`super::stratified::ab_report_stratified`]). Every figure the report derives from an
/// arm's value and variance (differences, intervals, p-values, confidence sequences, the
/// Gaussian posterior, P(best)) is then computed from `estimates`, by the same code as a
/// pooled report; each vector is in the order of the report's arms.
#[derive(Debug, Clone, Default)]
pub struct GivenEstimates {
    /// The arm's rate or mean as shown (before CUPED, as in a pooled report).
    pub shown: Vec<Option<f64>>,
    /// What every comparison is made from (CUPED-adjusted when `cuped` is set).
    pub estimates: Vec<Option<ArmEstimate>>,
    pub cuped: Option<CupedReport>,
    pub srm: Option<SrmCheck>,
    /// Each treatment arm's ROI against control (`None` for control and where undefined).
    pub roi: Vec<Option<Roi>>,
    pub notes: Vec<String>,
    pub stratified: Option<Stratification>,
}

/// Builds the report for one metric.
pub fn ab_report(
    campaign: &str,
    control: Option<&str>,
    metric: Metric,
    arms: &[ArmInput],
    opts: &Options,
) -> AbReport {
    build_report(campaign, control, metric, arms, opts, None)
}

/// Builds the report for one metric from per-arm estimates made elsewhere (`given`) instead of
/// the pooled rollups; `arms` still supply the keys, units and counts shown and the power
/// figures. Unadjusted proportions lose their exact Beta posterior (it needs pooled counts):
/// the Gaussian model of the given estimates is used, as for CUPED.
pub fn ab_report_given(
    campaign: &str,
    control: Option<&str>,
    metric: Metric,
    arms: &[ArmInput],
    opts: &Options,
    given: &GivenEstimates,
) -> AbReport {
    build_report(campaign, control, metric, arms, opts, Some(given))
}

fn build_report(
    campaign: &str,
    control: Option<&str>,
    metric: Metric,
    arms: &[ArmInput],
    opts: &Options,
    given: Option<&GivenEstimates>,
) -> AbReport {
    let mut notes = Vec::new();
    let control_index = control.and_then(|c| arms.iter().position(|a| a.key == c));
    if control_index.is_none() {
        notes.push("no control arm: comparisons are not defined".to_string());
    }
    let units: Vec<u64> = arms.iter().map(|a| a.rollup.units.max(0) as u64).collect();
    let weights: Vec<f64> = arms.iter().map(|a| a.weight).collect();
    let srm = given
        .and_then(|g| g.srm)
        .unwrap_or_else(|| srm_check(&units, &weights));
    let conflicted: u64 = arms
        .iter()
        .map(|a| a.rollup.conflicted_units.max(0) as u64)
        .sum();
    let me = multiple_exposure(conflicted, units.iter().sum());
    let stats: Vec<MetricStats> = arms
        .iter()
        .map(|a| metric_stats(metric, &a.rollup))
        .collect();
    let cuped_fit = if opts.cuped && given.is_none() {
        cuped(metric, arms)
    } else {
        None
    };
    if opts.cuped && given.is_none() && cuped_fit.is_none() {
        notes.push(format!(
            "CUPED not applied: {} needs a pre_value covariate with spread",
            metric.name()
        ));
    }
    let mut estimates: Vec<Option<ArmEstimate>> = match (given, &cuped_fit) {
        (Some(g), _) => g.estimates.clone(),
        (None, Some(fit)) => fit.estimates.clone(),
        (None, None) => stats.iter().map(arm_estimate).collect(),
    };
    // One estimate per arm, whatever the caller gave.
    estimates.resize(arms.len(), None);
    // Given estimates (like CUPED's) are not the pooled counts: the comparisons take the
    // normal reference on them and the Gaussian posterior, never pooled Wald/Welch/Beta.
    let adjusted = cuped_fit.is_some() || given.is_some();
    let shown = |i: usize, pooled: Option<f64>| match given {
        Some(g) => g.shown.get(i).copied().flatten(),
        None => pooled,
    };
    let mut rows: Vec<ArmRow> = arms
        .iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, (a, s))| {
            let mut row = ArmRow {
                key: a.key.clone(),
                units: a.rollup.units,
                ..ArmRow::default()
            };
            match s {
                MetricStats::Proportion(p) => {
                    row.conversions = Some(p.x as i64);
                    row.rate = shown(i, p.rate());
                }
                MetricStats::Mean(m) => {
                    row.sum = Some(m.sum);
                    row.mean = shown(i, m.mean());
                }
                MetricStats::Ratio(r) => {
                    row.sum = Some(r.sum_y);
                    row.mean = shown(i, r.ratio());
                }
            }
            row
        })
        .collect();
    let total_units: f64 = units.iter().map(|&u| u as f64).sum();
    if let Some(ci) = control_index {
        for i in 0..arms.len() {
            if i == ci {
                continue;
            }
            compare_arm(
                &mut rows[i],
                (&stats[ci], &stats[i]),
                (estimates[ci], estimates[i]),
                adjusted,
                (total_units, arms.len()),
                metric,
                opts,
            );
        }
        adjust_p_values(&mut rows, ci, opts.adjustment);
        for (i, row) in rows.iter_mut().enumerate() {
            if i == ci {
                continue;
            }
            let roi = match given {
                Some(g) => g.roi.get(i).copied().flatten(),
                None => super::roi::roi_vs_control(&arms[ci].rollup, &arms[i].rollup, opts.alpha),
            };
            if let Some(r) = roi {
                row.roi = Some(r.roi);
                row.roi_ci_low = Some(r.ci.low);
                row.roi_ci_high = Some(r.ci.high);
            }
        }
    }
    fill_prob_best(
        &mut rows,
        &stats,
        &estimates,
        (metric, adjusted),
        opts,
        control_index,
    );
    let per_arm = if arms.is_empty() {
        0.0
    } else {
        total_units / arms.len() as f64
    };
    let design = TestDesign {
        alpha: opts.alpha,
        power: opts.power,
    };
    let mde_rel = control_index.and_then(|ci| match &stats[ci] {
        MetricStats::Proportion(p) => p.rate().and_then(|r| mde_proportion(r, per_arm, design)),
        MetricStats::Mean(m) => {
            let mean = m.mean()?;
            let sd = m.variance()?.sqrt();
            mde_mean(sd, per_arm, design).map(|d| d / mean.abs())
        }
        MetricStats::Ratio(_) => None,
    });
    let needed = control_index.and_then(|ci| match &stats[ci] {
        MetricStats::Proportion(p) => p
            .rate()
            .and_then(|r| units_per_arm_proportion(r, opts.target_mde_rel, design)),
        MetricStats::Mean(m) => {
            let mean = m.mean()?;
            let sd = m.variance()?.sqrt();
            units_per_arm_mean(sd, opts.target_mde_rel * mean.abs(), design)
        }
        MetricStats::Ratio(_) => None,
    });
    let arms_n = arms.len().max(1) as f64;
    let seconds_to_decision = needed
        .zip(opts.recent_units_per_second)
        .and_then(|(n, rate)| time_to_decision((n - per_arm) * arms_n, rate));
    AbReport {
        campaign: campaign.to_string(),
        metric,
        better: if metric.higher_is_better() {
            "higher"
        } else {
            "lower"
        },
        control: control.unwrap_or("").to_string(),
        alpha: opts.alpha,
        srm: SrmReport {
            p_value: srm.p_value,
            alarm: srm.alarm,
            multiple_exposure_units: conflicted,
            multiple_exposure_flag: me.flagged,
        },
        cuped: match given {
            Some(g) => g.cuped.clone(),
            None => cuped_fit.map(|fit| CupedReport {
                theta: fit.theta,
                variance_reduction: fit.variance_reduction,
                method: cuped_method(metric),
            }),
        },
        power: PowerReport {
            mde_rel,
            units_per_arm: per_arm,
            target_mde_rel: opts.target_mde_rel,
            units_per_arm_needed: needed,
            recent_units_per_second: opts.recent_units_per_second,
            seconds_to_decision,
        },
        arms: rows,
        guardrails: Vec::new(),
        notes: notes
            .into_iter()
            .chain(given.iter().flat_map(|g| g.notes.iter().cloned()))
            .collect(),
        stratified: given.and_then(|g| g.stratified.clone()),
    }
}

/// How CUPED adjusts a metric: regression for means and proportions, the linearised ratio
/// for CTR and AOV.
pub fn cuped_method(metric: Metric) -> &'static str {
    match metric {
        Metric::Ctr | Metric::Aov => "linearised_ratio",
        _ => "regression",
    }
}

/// A guardrail metric checked for one treatment arm.
#[derive(Debug, Clone, Serialize)]
pub struct GuardrailRow {
    pub metric: Metric,
    pub arm: String,
    pub rel_lift: Option<f64>,
    /// One-sided p-value of "worse than control by more than the margin".
    pub p_worse: Option<f64>,
    /// True when the arm is significantly worse on this guardrail (unadjusted: a guardrail
    /// errs on the side of raising the alarm).
    pub breached: bool,
    /// `p_worse` adjusted over the report's whole family (see [`super::family`]).
    pub adj_p_worse: Option<f64>,
}

/// Checks each guardrail metric for every treatment arm with a one-sided test of the
/// difference against a tolerated harm of `margin` × the control's value (0 = any significant
/// harm), at `alpha`.
pub fn add_guardrails(
    report: &mut AbReport,
    metrics: &[Metric],
    arms: &[ArmInput],
    margin: f64,
    alpha: f64,
) {
    let pooled = |metric: Metric| -> Vec<Option<ArmEstimate>> {
        arms.iter()
            .map(|a| arm_estimate(&metric_stats(metric, &a.rollup)))
            .collect()
    };
    add_guardrails_given(report, metrics, arms, (margin, alpha), pooled);
}

/// [`add_guardrails`] with each guardrail metric's per-arm estimates made elsewhere (a
/// bandit's period-stratified estimates), in the order of `arms`.
pub fn add_guardrails_given(
    report: &mut AbReport,
    metrics: &[Metric],
    arms: &[ArmInput],
    (margin, alpha): (f64, f64),
    estimates_of: impl Fn(Metric) -> Vec<Option<ArmEstimate>>,
) {
    let Some(ci) = arms.iter().position(|a| a.key == report.control) else {
        return;
    };
    for &metric in metrics {
        let estimates = estimates_of(metric);
        let estimate = |i: usize| estimates.get(i).copied().flatten();
        let direction = if metric.higher_is_better() {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        };
        for (i, a) in arms.iter().enumerate() {
            if i == ci {
                continue;
            }
            let pair = estimate(ci).zip(estimate(i));
            // Tested on the absolute difference so a control at zero (cost of no offer) still
            // has a defined test; the relative margin is converted at the control's value.
            let check = pair.and_then(|(c, t)| {
                difference(c, t)?.guardrail(margin * c.value.abs(), direction, alpha)
            });
            report.guardrails.push(GuardrailRow {
                metric,
                arm: a.key.clone(),
                rel_lift: pair.and_then(|(c, t)| relative_lift(c.value, t.value)),
                p_worse: check.map(|g| g.p_worse),
                breached: check.is_some_and(|g| g.verdict == GuardrailVerdict::Worse),
                adj_p_worse: None,
            });
        }
    }
}

fn compare_arm(
    row: &mut ArmRow,
    (sc, st): (&MetricStats, &MetricStats),
    (ec, et): (Option<ArmEstimate>, Option<ArmEstimate>),
    adjusted: bool,
    (total_units, arms_in_campaign): (f64, usize),
    metric: Metric,
    opts: &Options,
) {
    let (Some(pc), Some(pt)) = (point(sc), point(st)) else {
        return;
    };
    // The absolute difference: unadjusted proportions use the Wald estimate and unadjusted
    // means the Welch test (t reference); adjusted and ratio metrics the normal approximation
    // on the (adjusted) arm estimates. Its interval and `abs_p_value` come from that one
    // estimate, so they invert each other.
    let abs: Option<Estimate> = ec.zip(et).and_then(|(c, t)| difference(c, t));
    let abs_fixed: Option<Estimate> = match (sc, st, adjusted) {
        (MetricStats::Proportion(c), MetricStats::Proportion(t), false) => wald_difference(c, t),
        (MetricStats::Mean(c), MetricStats::Mean(t), false) => {
            compare_means(c, t, opts.alpha).and_then(|c| c.welch)
        }
        _ => abs,
    };
    let rel: Option<Estimate> = ec.zip(et).and_then(|(c, t)| relative_lift_delta(c, t));
    let (vc, vt) = match (ec, et) {
        (Some(c), Some(t)) => (c.value, t.value),
        _ => (pc, pt),
    };
    row.abs_diff = Some(vt - vc);
    row.rel_lift = relative_lift(vc, vt);
    let abs_ci = abs_fixed.and_then(|e| e.confidence_interval(opts.alpha));
    row.abs_ci_low = abs_ci.map(|i| i.low);
    row.abs_ci_high = abs_ci.map(|i| i.high);
    row.abs_p_value = abs_fixed.map(|e| e.p_value());
    // The p-value shown beside the relative interval is the test that interval inverts: the
    // delta-method z-test of lift = 0 with the same standard error, so p < alpha exactly
    // when the interval excludes 0.
    row.p_value = rel.map(|e| e.p_value());
    let rel_ci = rel.and_then(|e| e.confidence_interval(opts.alpha));
    row.ci_low = rel_ci.map(|i| i.low);
    row.ci_high = rel_ci.map(|i| i.high);
    // Always-valid figures: the confidence sequence takes the per-unit variance of the
    // estimator (SE² × total units) at the current total; the p-value is its exact dual
    // (p <= alpha exactly when the sequence excludes 0).
    let config = SequentialConfig {
        alpha: opts.alpha,
        n_star: opts.n_star,
    };
    let n = total_units as u64;
    if let Some(cs) =
        rel.and_then(|e| sequential::confidence_sequence(e.value(), e.se(), n, &config))
    {
        row.seq_ci_low = Some(cs.low);
        row.seq_ci_high = Some(cs.high);
    }
    if let Some(e) = abs {
        if let Some(cs) = sequential::confidence_sequence(e.value(), e.se(), n, &config) {
            row.seq_abs_ci_low = Some(cs.low);
            row.seq_abs_ci_high = Some(cs.high);
        }
        row.seq_abs_p_value = sequential::always_valid_p_value(e.value(), e.se(), n, &config);
    }
    // As for the fixed horizon: the always-valid p-value beside the relative sequence is its
    // dual, computed from the same estimate and standard error.
    row.seq_p_value =
        rel.and_then(|e| sequential::always_valid_p_value(e.value(), e.se(), n, &config));
    // One posterior per row: chance to beat control, the credible interval and the risk all
    // come from the same model (recorded in `bayes_model`). Unadjusted proportions use the
    // exact Beta posteriors of the two rates, which stay right where the Gaussian model is
    // poor: small counts, rates near 0, the right-skewed ratio p_t/p_c (measured: the normal
    // misstated the Beta posterior's risk by up to 11%). Everything else (means, ratios, CUPED,
    // a proper prior on the effect, or more arms than `exact_beta_max_arms`) uses the Gaussian
    // model of the delta-method relative lift.
    let beta_model = matches!(
        (sc, st),
        (MetricStats::Proportion(_), MetricStats::Proportion(_))
    ) && !adjusted
        && opts.prior == bayes::EffectPrior::Flat
        && opts.exact_beta_max_arms >= arms_in_campaign;
    if beta_model {
        if let (MetricStats::Proportion(c), MetricStats::Proportion(t)) = (sc, st) {
            let post = |p: &ProportionStats| BetaPosterior::from_counts(p.n, p.x, opts.beta_prior);
            if let Some(l) = post(c)
                .zip(post(t))
                .and_then(|(bc, bt)| bayes::beta_lift(&bt, &bc, opts.alpha))
            {
                row.chance_to_beat_control = Some(l.chance_to_beat_control);
                row.credible_low = Some(l.credible_low);
                row.credible_high = Some(l.credible_high);
                row.expected_loss = Some(l.risk_ship_treatment);
                row.bayes_model = Some(BayesModel::Beta);
            }
        }
    } else if let Some(e) = rel {
        // Flip the sign for metrics where lower is better so "beat" means "is better".
        let sign = if metric.higher_is_better() { 1.0 } else { -1.0 };
        if let Some(post) = bayes::gaussian_effect(sign * e.value(), e.se(), opts.prior, opts.alpha)
        {
            row.chance_to_beat_control = Some(post.chance_to_beat_control);
            let (low, high) = if sign > 0.0 {
                (post.ci_low, post.ci_high)
            } else {
                (-post.ci_high, -post.ci_low)
            };
            row.credible_low = Some(low);
            row.credible_high = Some(high);
            row.expected_loss = Some(post.risk_ship_treatment);
            row.bayes_model = Some(BayesModel::Gaussian);
        }
    }
}

fn adjust_p_values(rows: &mut [ArmRow], control: usize, method: Adjustment) {
    let idx: Vec<usize> = (0..rows.len())
        .filter(|&i| i != control && rows[i].p_value.is_some())
        .collect();
    let ps: Vec<f64> = idx.iter().filter_map(|&i| rows[i].p_value).collect();
    if let Some(adj) = adjust(&ps, method) {
        for (&i, p) in idx.iter().zip(adj) {
            rows[i].adj_p_value = Some(p);
        }
    }
}

fn fill_prob_best(
    rows: &mut [ArmRow],
    stats: &[MetricStats],
    estimates: &[Option<ArmEstimate>],
    (metric, adjusted): (Metric, bool),
    opts: &Options,
    control: Option<usize>,
) {
    // An arm without units has no posterior of its own (only the prior): it gets no P(best),
    // and P(best) is shared out among the arms with units, when there are at least two.
    let supported: Vec<usize> = (0..stats.len())
        .filter(|&i| match &stats[i] {
            MetricStats::Proportion(p) => p.n > 0,
            MetricStats::Mean(m) => m.n > 0.0,
            MetricStats::Ratio(r) => r.n > 0.0,
        })
        .collect();
    if supported.len() < 2 {
        return;
    }
    // Two arms: "treatment is best" is "treatment beats control", so P(best) is read off the
    // row's own posterior (no second integral) and the two columns can never disagree.
    if let (2, Some(c)) = (rows.len(), control) {
        let t = 1 - c;
        if let Some(beat) = rows[t].chance_to_beat_control {
            rows[t].prob_best = Some(beat);
            rows[c].prob_best = Some(1.0 - beat);
            return;
        }
    }
    let stats: Vec<MetricStats> = supported.iter().map(|&i| stats[i]).collect();
    let estimates: Vec<Option<ArmEstimate>> = supported.iter().map(|&i| estimates[i]).collect();
    let all_props: Option<Vec<BetaPosterior>> = stats
        .iter()
        .map(|s| match s {
            MetricStats::Proportion(p)
                if !adjusted
                    && opts.prior == bayes::EffectPrior::Flat
                    && rows.len() <= opts.exact_beta_max_arms =>
            {
                BetaPosterior::from_counts(p.n, p.x, opts.beta_prior)
            }
            _ => None,
        })
        .collect();
    let best = match all_props {
        Some(posts) if !posts.is_empty() => Some(bayes::prob_best(&posts)),
        _ => {
            let sign = if metric.higher_is_better() { 1.0 } else { -1.0 };
            let normals: Option<Vec<(f64, f64)>> = estimates
                .iter()
                .map(|e| e.map(|e| (sign * e.value, e.variance.sqrt())))
                .collect();
            normals.and_then(|n| normal_prob_best(&n))
        }
    };
    if let Some(best) = best {
        for (&i, p) in supported.iter().zip(best) {
            rows[i].prob_best = Some(p);
        }
    }
}

/// Half-width of the always-valid interval for an estimate with standard error `se` after `n`
/// total units, as the report computes it (exposed for the reference-value tests).
pub fn always_valid_half_width(se: f64, n: f64, n_star: f64, alpha: f64) -> Option<f64> {
    let config = SequentialConfig { alpha, n_star };
    sequential::confidence_sequence(0.0, se, n as u64, &config).map(|cs| cs.half_width)
}
