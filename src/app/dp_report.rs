//! Differentially private reports (`report ab|causal --dp-epsilon`): read every unit's totals,
//! bound them, add noise from the RNG passed in (OS randomness in production), record the
//! release against the campaign's privacy budget, and derive the figures from the noisy sums.
//!
//! Only the noisy release leaves this module: the exact sums are dropped once noise is added.
//! The budget is checked and the release recorded in one transaction before anything is shown,
//! so a refused release prints nothing derived from the data.

use super::{for_each_unit_chunk, AppError, Env, NoProgress, Result};
use crate::domain::CampaignKind;
use crate::format::{self, NumberFormat};
use crate::stats::dp::release::{
    self, add_noise, bound, effect, estimate, ArmEstimate, Caps, Effect, Outcome, Released,
    UnitOutcome,
};
use crate::stats::dp::Mechanism;
use crate::store::{PrivacyBudget, ReleaseRecord, Store};
use serde::Serialize;

/// Orders counted per unit when `--dp-events-cap` is not given.
pub const DEFAULT_EVENTS_CAP: u32 = 10;

/// Which report is released: the same bounded per-arm release serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DpReportKind {
    Ab,
    Causal,
}

impl DpReportKind {
    fn command(self) -> &'static str {
        match self {
            DpReportKind::Ab => "report ab",
            DpReportKind::Causal => "report causal",
        }
    }

    /// Parts of the ordinary report that are not released under DP, and why.
    fn withheld(self) -> Vec<&'static str> {
        let mut out = vec![
            "Bayesian and always-valid figures, SRM and guardrails: not released (each would \
             spend more budget)",
        ];
        if self == DpReportKind::Causal {
            out.push(
                "balance check, segment effects (CATE) and covariate-adjusted estimates: not \
                 released, they read per-unit contexts whose influence these caps do not bound; \
                 the effect shown is the randomised difference in bounded means (equal to the \
                 IPW estimate when an A/B campaign's weights never changed)",
            );
        }
        out
    }
}

/// The metric's per-unit outcome under DP; `None` for metrics this release does not cover
/// (ctr, add_to_cart and aov are ratios of per-unit sums or need totals not read here).
pub fn dp_outcome(metric: &str) -> Option<Outcome> {
    match metric {
        "conversion" | "purchase" => Some(Outcome::Conversion),
        "revenue" => Some(Outcome::Revenue),
        "cost" => Some(Outcome::Cost),
        "profit" => Some(Outcome::Profit),
        _ => None,
    }
}

#[derive(Debug, Clone)]
pub struct DpRequest {
    pub kind: DpReportKind,
    pub metric: String,
    pub epsilon: f64,
    /// `None`: pure ε-DP (Laplace).
    pub delta: Option<f64>,
    pub events_cap: u32,
    pub revenue_cap: Option<f64>,
    pub alpha: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DpArm {
    pub arm: String,
    pub is_control: bool,
    #[serde(flatten)]
    pub estimate: ArmEstimate,
    /// Against control; `None` for the control itself.
    pub effect: Option<Effect>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DpReport {
    pub campaign: String,
    pub report: DpReportKind,
    pub metric: String,
    pub outcome: Outcome,
    pub mechanism: Mechanism,
    pub mechanism_name: &'static str,
    pub epsilon: f64,
    pub delta: f64,
    pub caps: Caps,
    pub alpha: f64,
    /// Each released statistic: sensitivity, share of the budget, noise scale.
    pub statistics: Vec<Released>,
    pub arms: Vec<DpArm>,
    pub release_id: i64,
    /// The campaign's budget after this release.
    pub budget: PrivacyBudget,
    pub budget_left_epsilon: f64,
    pub budget_left_delta: f64,
    pub withheld: Vec<&'static str>,
}

fn refused(msg: String) -> AppError {
    AppError::Invalid(msg)
}

/// Runs one DP release of `key`, spending (ε, δ) of its budget; refused (nothing recorded,
/// nothing shown) without a budget or beyond it.
pub fn dp_report(
    store: &mut Store,
    env: &Env,
    key: &str,
    req: &DpRequest,
    rng: &mut impl rand::Rng,
) -> Result<DpReport> {
    let (campaign, arms) = store.campaign(key)?;
    if campaign.spec.kind != CampaignKind::Ab {
        return Err(refused(format!(
            "campaign `{key}` is not an A/B campaign: a DP release compares arms whose units \
             were randomised with fixed weights (a bandit's moving weights or an observational \
             campaign's chosen treatment would bias the pooled means); run it without \
             --dp-epsilon"
        )));
    }
    let Some(outcome) = dp_outcome(&req.metric) else {
        return Err(refused(format!(
            "--metric {}: a DP release covers conversion, revenue, cost and profit",
            req.metric
        )));
    };
    let caps = Caps {
        events: req.events_cap,
        value: req.revenue_cap,
    };
    let delta = req.delta.unwrap_or(0.0);
    let plan = release::plan(outcome, caps, req.epsilon, delta).map_err(refused)?;
    // Refuse early, before reading any unit, when the budget cannot hold the release; the
    // binding check is the one inside `record_dp_release`.
    check_budget(store.privacy_budget(key)?, key, req.epsilon, delta)?;

    let mut units = Vec::new();
    for_each_unit_chunk(store, key, &NoProgress, 1.0, &mut |rows| {
        for r in rows {
            if let Some(arm) = arms.iter().position(|a| a.key == r.arm) {
                units.push(UnitOutcome {
                    arm,
                    purchases: r.purchases,
                    revenue: r.revenue,
                    cost: r.cost,
                });
            }
        }
        Ok(())
    })?;
    let noisy = add_noise(&plan, &bound(&plan, arms.len(), &units), rng);
    drop(units);

    let released = serde_json::json!({
        "report": req.kind.command(), "metric": req.metric, "outcome": outcome,
        "mechanism": plan.mechanism, "caps": plan.caps, "statistics": plan.statistics,
    });
    let record = store.record_dp_release(
        key,
        req.epsilon,
        delta,
        &released.to_string(),
        env.clock.now(),
        &env.actor,
    )?;
    let (release_id, budget) = match record {
        ReleaseRecord::Recorded { id, budget } => (id, budget),
        ReleaseRecord::NoBudget => return Err(no_budget(key)),
        ReleaseRecord::Exceeded(b) => return Err(exceeded(key, &b, req.epsilon, delta)),
    };

    let control_index = campaign
        .spec
        .control
        .as_deref()
        .and_then(|c| arms.iter().position(|a| a.key == c))
        .unwrap_or(0);
    let estimates: Vec<ArmEstimate> = noisy.iter().map(|s| estimate(&plan, s)).collect();
    let arms_out = arms
        .iter()
        .zip(&estimates)
        .enumerate()
        .map(|(i, (arm, est))| DpArm {
            arm: arm.key.clone(),
            is_control: i == control_index,
            estimate: *est,
            effect: (i != control_index)
                .then(|| {
                    estimates
                        .get(control_index)
                        .map(|c| effect(c, est, req.alpha))
                })
                .flatten(),
        })
        .collect();
    Ok(DpReport {
        campaign: key.to_string(),
        report: req.kind,
        metric: req.metric.clone(),
        outcome,
        mechanism: plan.mechanism,
        mechanism_name: plan.mechanism.name(),
        epsilon: req.epsilon,
        delta,
        caps: plan.caps,
        alpha: req.alpha,
        statistics: plan.statistics,
        arms: arms_out,
        release_id,
        budget_left_epsilon: budget.left_epsilon(),
        budget_left_delta: budget.left_delta(),
        budget,
        withheld: req.kind.withheld(),
    })
}

fn check_budget(budget: Option<PrivacyBudget>, key: &str, eps: f64, delta: f64) -> Result<()> {
    match budget {
        None => Err(no_budget(key)),
        Some(b) if !b.allows(eps, delta) => Err(exceeded(key, &b, eps, delta)),
        Some(_) => Ok(()),
    }
}

fn no_budget(key: &str) -> AppError {
    refused(format!(
        "campaign `{key}` has no privacy budget, so DP releases are refused; set one first, \
         e.g. `liftdeck campaign privacy-budget {key} --epsilon 1 --delta 1e-6`"
    ))
}

fn exceeded(key: &str, b: &PrivacyBudget, eps: f64, delta: f64) -> AppError {
    refused(format!(
        "campaign `{key}`: a release of epsilon {eps}, delta {delta} would pass its privacy \
         budget (epsilon {}, delta {}); {} releases spent epsilon {}, delta {}; left: epsilon \
         {}, delta {}. Nothing was released",
        b.epsilon,
        b.delta,
        b.releases,
        round6(b.spent_epsilon),
        b.spent_delta,
        round6(b.left_epsilon()),
        b.left_delta()
    ))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// The release as text: what was bounded and spent first, then the figures.
pub fn format_text(r: &DpReport, nf: &NumberFormat) -> String {
    let mut out = format!(
        "{} {} --dp-epsilon: differentially private release #{} of metric {}\n",
        r.report.command(),
        r.campaign,
        r.release_id,
        r.metric
    );
    out += &format!(
        "mechanism: {}; spent epsilon {}, delta {} (split evenly over {} statistics)\n",
        r.mechanism_name,
        r.epsilon,
        r.delta,
        r.statistics.len()
    );
    let value_cap = r.caps.value.map_or(String::new(), |c| match r.outcome {
        Outcome::Profit => format!(", profit per unit clipped to [-{0}, {0}]", nf.money(c)),
        _ => format!(", {} per unit clipped to [0, {}]", r.metric, nf.money(c)),
    });
    out += &format!(
        "caps: at most {} orders counted per unit{value_cap}\n",
        r.caps.events
    );
    out += &format!(
        "budget of {}: epsilon {}, delta {}; spent {} over {} releases; left epsilon {}, delta {}\n",
        r.campaign,
        r.budget.epsilon,
        r.budget.delta,
        round6(r.budget.spent_epsilon),
        r.budget.releases,
        round6(r.budget_left_epsilon),
        r.budget_left_delta
    );
    out += "released statistic     sensitivity  epsilon   noise scale  noise sd\n";
    for s in &r.statistics {
        let name = serde_json::to_value(s.statistic)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out += &format!(
            "{name:<22} {:>11} {:>8.4} {:>13} {:>9}\n",
            format::compact(s.sensitivity),
            s.epsilon,
            format::compact(s.noise.scale),
            format::compact(s.noise_sd)
        );
    }
    let show = |x: f64| match r.outcome {
        Outcome::Conversion => format::rate(x),
        _ => nf.money(x),
    };
    let show_diff = |x: f64| match r.outcome {
        Outcome::Conversion => format::lift(x),
        _ => nf.money(x),
    };
    let level = format!("{:.0}%", 100.0 * (1.0 - r.alpha));
    out += &format!(
        "\narm          units (noisy)  {:<10} se (noise part)  orders/unit  vs control ({level} CI, widened for noise)\n",
        r.metric
    );
    for a in &r.arms {
        let vs = match (&a.effect, a.is_control) {
            (_, true) => "control".to_string(),
            (Some(e), false) => {
                let rel = e.relative.map_or(String::new(), |rl| {
                    format!(
                        "; relative {} {}",
                        format::lift(rl.lift),
                        format::interval(Some(rl.low), Some(rl.high), format::lift)
                    )
                });
                format!(
                    "{} {} p {}{rel}",
                    show_diff(e.difference),
                    format::interval(Some(e.low), Some(e.high), show_diff),
                    format::p_value(e.p_value)
                )
            }
            (None, false) => "-".to_string(),
        };
        out += &format!(
            "{:<12} {:>13} {:<10} {} ({})  {:>11.3}  {vs}\n",
            crate::text::escape_control(&a.arm),
            format::quantity(a.estimate.units),
            show(a.estimate.value),
            show(a.estimate.se),
            show(a.estimate.noise_se),
            a.estimate.orders_per_unit
        );
    }
    out += "\nnot released under DP:\n";
    for w in &r.withheld {
        out += &format!("- {w}\n");
    }
    out
}

/// Sets `key`'s total privacy budget (audited). ε must be positive, δ in [0, 1).
pub fn set_privacy_budget(
    store: &mut Store,
    env: &Env,
    key: &str,
    epsilon: f64,
    delta: f64,
) -> Result<PrivacyBudget> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(refused(format!(
            "--epsilon must be a positive number, got {epsilon}"
        )));
    }
    if !(0.0..1.0).contains(&delta) {
        return Err(refused(format!("--delta must be in [0, 1), got {delta}")));
    }
    Ok(store.set_privacy_budget(key, epsilon, delta, env.clock.now(), &env.actor)?)
}
