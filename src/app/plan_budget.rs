//! `liftdeck forecast budget PLAN.json --budget B`: who should get which depth of the plan's
//! offer (or nothing) within a budget. The store's history fits the plan forecaster's model;
//! every audience unit is scored under each depth (`score_users`), the multiple-choice
//! knapsack is solved on that table (`forecast::budget`), and the chosen allocation and two
//! baselines are evaluated under posterior draws for their intervals.

use super::plan_forecast::{read_history, StoreHistory};
use super::{AppError, Progress, Result};
use crate::domain::Offer;
use crate::forecast::budget::{top_by_propensity, top_by_uplift, CostCurve, Targeting};
use crate::forecast::effect::{self, score_users, EffectModel, UserScores};
use crate::forecast::plan::{offer_depth, offer_type, with_depth, Plan};
use crate::forecast::projection::Band;
use crate::format::{self, NumberFormat};
use crate::store::Store;
use crate::text::escape_control;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Posterior draws behind every interval.
pub const DRAWS: usize = 100;
/// Spend points of the cost curve between 0 and the unconstrained optimum's spend.
pub const CURVE_POINTS: usize = 10;
/// At most this many audience units are scored (an even spread of them beyond it): each then
/// stands for more users, and the draws stay affordable on a large store.
pub const MAX_UNITS: usize = 20_000;

/// Where the budget came from (the console says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetSource {
    /// `--budget B` on the command line.
    Given,
    /// The plan's `budget` field.
    Plan,
    /// The cost of the plan's own forecast (the console, when the plan names no budget).
    ForecastCost,
}

/// Spend, incremental orders and incremental profit of one allocation, for the whole plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub spend: f64,
    pub orders: Band,
    pub profit: Band,
}

/// Users given one depth at the budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepthUsers {
    pub offer: Offer,
    pub depth: f64,
    /// Users of the whole plan (audience units times the stand-for factor).
    pub users: f64,
}

/// One spend point of the curve: the allocation and both baselines given that budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurveRow {
    pub budget: f64,
    pub allocation: Outcome,
    pub top_by_uplift: Outcome,
    pub top_by_propensity: Outcome,
}

/// The answer of `forecast budget`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanBudget {
    pub plan: String,
    pub audience: String,
    pub budget: f64,
    pub budget_source: BudgetSource,
    /// The depths considered, shallowest first.
    pub offers: Vec<Offer>,
    /// The depths were not in the plan (`depths` empty): a ladder around the plan's depth.
    pub ladder: bool,
    pub reach: f64,
    /// Audience units in the store scored, and how many plan users each stands for.
    pub units: usize,
    pub stands_for: f64,
    /// Spend of the best allocation with no budget limit.
    pub unconstrained_spend: f64,
    /// The chosen mix at the budget: users per depth (depths nobody gets are left out).
    pub mix: Vec<DepthUsers>,
    pub users_without_offer: f64,
    pub at_budget: Outcome,
    pub top_by_uplift: Outcome,
    pub top_by_propensity: Outcome,
    /// The allocation's profit at the budget minus the better baseline's (point values).
    pub beats_baselines_by: f64,
    pub curve: Vec<CurveRow>,
    pub draws: usize,
    pub notes: Vec<String>,
}

/// The depths to consider: the plan's and its `depths`, or a ladder around the plan's depth.
fn offer_ladder(plan: &Plan) -> (Vec<Offer>, bool) {
    let base = offer_depth(&plan.offer);
    let ladder = plan.depths.is_empty();
    let depths: Vec<f64> = if ladder {
        [0.5, 1.0, 1.5, 2.0].iter().map(|m| m * base).collect()
    } else {
        std::iter::once(base)
            .chain(plan.depths.iter().copied())
            .collect()
    };
    let pct = !matches!(plan.offer, Offer::Recommend { .. });
    let mut offers: Vec<Offer> = depths
        .into_iter()
        .filter(|d| d.is_finite() && *d > 0.0 && (!pct || *d <= 90.0))
        .map(|d| with_depth(&plan.offer, d))
        .filter(|o| offer_depth(o) > 0.0)
        .collect();
    offers.sort_by(|a, b| offer_depth(a).total_cmp(&offer_depth(b)));
    offers.dedup();
    if offers.is_empty() {
        offers.push(plan.offer.clone());
    }
    (offers, ladder)
}

/// The audience units scored: every match, or an even spread of `MAX_UNITS` of them.
fn audience_units(plan: &Plan, data: &StoreHistory) -> Vec<Map<String, Value>> {
    let all: Vec<&Map<String, Value>> = data
        .units
        .iter()
        .filter(|c| plan.audience.matches(c))
        .collect();
    let step = all.len().div_ceil(MAX_UNITS).max(1);
    all.into_iter().step_by(step).cloned().collect()
}

/// Totals of one choice under one scoring, scaled to the plan: (spend, orders, profit).
fn evaluate(scores: &UserScores, choice: &[u32], scale: f64) -> (f64, f64, f64) {
    let (mut spend, mut orders, mut profit) = (0.0, 0.0, 0.0);
    for (i, &k) in choice.iter().enumerate() {
        let k = k as usize;
        if k == 0 || k >= scores.offers {
            continue;
        }
        let j = i * scores.offers + k;
        spend += scores.cost[j];
        orders += scores.uplift[j];
        profit += scores.profit[j];
    }
    (scale * spend, scale * orders, scale * profit)
}

/// A band around the posterior-mean value from the draws' quantiles. The point is the
/// allocation's value at the posterior mean, which need not be the draws' median; the
/// interval ends are widened to include it so the band always reads low <= point <= high.
fn band_around(value: f64, draws: &mut [f64]) -> Band {
    let q = Band::of_draws(draws).unwrap_or(Band {
        value,
        low_80: value,
        high_80: value,
        low_95: value,
        high_95: value,
    });
    let low_80 = q.low_80.min(value);
    let high_80 = q.high_80.max(value);
    Band {
        value,
        low_80,
        high_80,
        low_95: q.low_95.min(low_80),
        high_95: q.high_95.max(high_80),
    }
}

/// The three allocations at one budget: knapsack, deepest offer by uplift, plan's offer by
/// propensity (choices indexed like the scoring's offers, 0 = none).
fn choices_at(
    t: &Targeting,
    uplift: &Targeting,
    curve: &CostCurve,
    mean: &UserScores,
    plan_index: usize,
    budget: f64,
) -> Result<[Vec<u32>; 3]> {
    let bad = |e: crate::forecast::budget::BudgetError| AppError::Invalid(e.to_string());
    let best = curve.allocate_best(t, budget).map_err(bad)?;
    let deepest = t.offers() - 1;
    let by_uplift = top_by_uplift(uplift, deepest, budget).map_err(bad)?;
    let by_propensity = top_by_propensity(t, &mean.baseline, plan_index, budget).map_err(bad)?;
    Ok([best.choice, by_uplift.choice, by_propensity.choice])
}

/// Solves the budget for `plan` from history already read (the console reuses one read).
pub fn budget_from(
    plan: &Plan,
    data: &StoreHistory,
    budget: f64,
    source: BudgetSource,
    progress: &dyn Progress,
) -> Result<PlanBudget> {
    if !budget.is_finite() || budget <= 0.0 {
        return Err(AppError::Invalid(format!(
            "the budget must be a positive amount of money (got {budget})"
        )));
    }
    let name = escape_control(&plan.name);
    let refuse = |e: effect::EffectError| {
        AppError::Invalid(format!("plan `{name}` cannot be budgeted: {e}"))
    };
    progress.update(0.55, "fitting the response model")?;
    let model: EffectModel = effect::fit(&data.history).map_err(refuse)?;
    let units = audience_units(plan, data);
    if units.is_empty() {
        return Err(AppError::Invalid(format!(
            "plan `{name}`: no unit in the store matches the audience {}, so there is nobody \
             to allocate offers to",
            escape_control(&plan.audience.describe())
        )));
    }
    let (depth_offers, ladder) = offer_ladder(plan);
    let mut offers = vec![Offer::None];
    offers.extend(depth_offers.iter().cloned());
    let plan_index = offers.iter().position(|o| *o == plan.offer).unwrap_or(1);
    let reach = plan.traffic.expected_users();
    let scale = reach / units.len() as f64;
    let score = |draw: Option<u64>| {
        score_users(
            &model,
            &offers,
            plan.margin,
            plan.cost_per_redemption,
            &units,
            draw,
        )
        .map_err(refuse)
    };
    progress.update(0.65, "scoring the audience under each depth")?;
    let mean = score(None)?;
    let (n, k) = (mean.users, mean.offers);
    let scaled = |v: &[f64]| v.iter().map(|x| x * scale).collect::<Vec<_>>();
    let table = |value: Vec<f64>| {
        Targeting::new(n, k, value, scaled(&mean.cost))
            .map_err(|e| AppError::Invalid(format!("plan `{name}`: {e}")))
    };
    let t = table(scaled(&mean.profit))?;
    let uplift = table(scaled(&mean.uplift))?;
    let curve = CostCurve::build(&t);
    let unconstrained_spend = curve.points().last().map_or(0.0, |p| p.spend);
    let mut budgets: Vec<f64> = (0..=CURVE_POINTS)
        .map(|j| unconstrained_spend * j as f64 / CURVE_POINTS as f64)
        .chain(std::iter::once(budget))
        .collect();
    budgets.sort_by(f64::total_cmp);
    budgets.dedup_by(|a, b| (*a - *b).abs() <= 1e-9 * b.abs().max(1.0));
    progress.update(0.7, "solving the knapsack at each spend")?;
    let mut choices = Vec::with_capacity(budgets.len());
    for &b in &budgets {
        choices.push(choices_at(&t, &uplift, &curve, &mean, plan_index, b)?);
    }
    // draws[point][allocation] = (orders, profit) per posterior draw
    let mut draws = vec![[(); 3].map(|_| (Vec::new(), Vec::new())); budgets.len()];
    for d in 0..DRAWS {
        if d % 10 == 0 {
            progress.update(
                0.75 + 0.2 * d as f64 / DRAWS as f64,
                "evaluating under posterior draws",
            )?;
        }
        let s = score(Some(1 + d as u64))?;
        for (p, cs) in choices.iter().enumerate() {
            for (a, c) in cs.iter().enumerate() {
                let (_, o, pr) = evaluate(&s, c, scale);
                draws[p][a].0.push(o);
                draws[p][a].1.push(pr);
            }
        }
    }
    let mut rows = Vec::with_capacity(budgets.len());
    for (p, cs) in choices.iter().enumerate() {
        let mut out = [0usize; 3].map(|_| None);
        for (a, c) in cs.iter().enumerate() {
            let (spend, o, pr) = evaluate(&mean, c, scale);
            let (od, pd) = &mut draws[p][a];
            out[a] = Some(Outcome {
                spend,
                orders: band_around(o, od),
                profit: band_around(pr, pd),
            });
        }
        let [Some(allocation), Some(top_by_uplift), Some(top_by_propensity)] = out else {
            continue;
        };
        rows.push(CurveRow {
            budget: budgets[p],
            allocation,
            top_by_uplift,
            top_by_propensity,
        });
    }
    let at = budgets
        .iter()
        .position(|b| (*b - budget).abs() <= 1e-9 * budget.max(1.0))
        .unwrap_or(budgets.len() - 1);
    let (Some(row), Some(cs)) = (rows.get(at).copied(), choices.get(at)) else {
        return Err(AppError::Invalid(format!(
            "plan `{name}`: the allocation at the budget could not be evaluated"
        )));
    };
    let mut mix: Vec<DepthUsers> = Vec::new();
    let mut without = 0.0;
    for (j, offer) in offers.iter().enumerate() {
        let users = cs[0].iter().filter(|&&c| c as usize == j).count() as f64 * scale;
        if j == 0 {
            without = users;
        } else if users > 0.0 {
            mix.push(DepthUsers {
                offer: offer.clone(),
                depth: offer_depth(offer),
                users,
            });
        }
    }
    let mut notes = vec![format!(
        "each of the {} audience units in the store stands for {:.1} of the plan's {} users",
        format::count(units.len() as i64),
        scale,
        format::count(reach.round() as i64)
    )];
    if ladder {
        notes.push(format!(
            "the plan lists no other depths: a ladder of half, 1x, 1.5x and 2x its depth ({}) \
             is considered",
            depth_offers
                .iter()
                .map(Offer::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let best_baseline = row
        .top_by_uplift
        .profit
        .value
        .max(row.top_by_propensity.profit.value);
    Ok(PlanBudget {
        plan: plan.name.clone(),
        audience: plan.audience.describe(),
        budget,
        budget_source: source,
        offers: depth_offers,
        ladder,
        reach,
        units: units.len(),
        stands_for: scale,
        unconstrained_spend,
        mix,
        users_without_offer: without,
        at_budget: row.allocation,
        top_by_uplift: row.top_by_uplift,
        top_by_propensity: row.top_by_propensity,
        beats_baselines_by: row.allocation.profit.value - best_baseline,
        curve: rows,
        draws: DRAWS,
        notes,
    })
}

/// `forecast budget`: reads the store's history and solves the budget for `plan`.
pub fn plan_budget(
    store: &Store,
    plan: &Plan,
    budget: f64,
    source: BudgetSource,
    progress: &dyn Progress,
) -> Result<PlanBudget> {
    let data = read_history(store, progress)?;
    budget_from(plan, &data, budget, source, progress)
}

/// The console's `B`: the plan's own budget, or else the cost of the plan's forecast from
/// the same read of the store (the answer's `budget_source` says which).
pub fn budget_for_console(
    store: &Store,
    plan: &Plan,
    progress: &dyn Progress,
) -> Result<PlanBudget> {
    let data = read_history(store, progress)?;
    let (budget, source) = match plan.budget {
        Some(b) => (b, BudgetSource::Plan),
        None => {
            let f = super::plan_forecast::forecast_from(store, plan, &data, progress)?;
            (f.cost.value, BudgetSource::ForecastCost)
        }
    };
    budget_from(plan, &data, budget, source, progress)
}

/// The budget answer as text: the mix at B, its outcome beside both baselines, the verdict,
/// then the cost curve.
pub fn format_text(b: &PlanBudget, nf: &NumberFormat) -> String {
    use std::fmt::Write;
    let money = |x: f64| nf.money_compact(x);
    let count = |x: f64| format::count(x.round() as i64);
    let mut out = String::new();
    let source = match b.budget_source {
        BudgetSource::Given => "given",
        BudgetSource::Plan => "the plan's budget",
        BudgetSource::ForecastCost => "the plan forecast's cost (the plan names no budget)",
    };
    let _ = writeln!(
        out,
        "plan {}: {} offers to {}, budget {} ({source})",
        escape_control(&b.plan),
        b.offers.first().map_or("none", |o| offer_type(o)),
        escape_control(&b.audience),
        money(b.budget)
    );
    let _ = writeln!(out, "chosen at the budget");
    for m in &b.mix {
        let _ = writeln!(
            out,
            "  {:<24} {:>10} users",
            m.offer.describe(),
            count(m.users)
        );
    }
    let _ = writeln!(
        out,
        "  {:<24} {:>10} users",
        "no offer",
        count(b.users_without_offer)
    );
    let row = |out: &mut String, name: &str, o: &Outcome| {
        let _ = writeln!(
            out,
            "  {name:<24} spend {:>9}  orders {:>7} (80% {} .. {}, 95% {} .. {})  profit {:>9} \
             (80% {} .. {}, 95% {} .. {})",
            money(o.spend),
            count(o.orders.value),
            count(o.orders.low_80),
            count(o.orders.high_80),
            count(o.orders.low_95),
            count(o.orders.high_95),
            money(o.profit.value),
            money(o.profit.low_80),
            money(o.profit.high_80),
            money(o.profit.low_95),
            money(o.profit.high_95),
        );
    };
    let _ = writeln!(out, "at the budget");
    row(&mut out, "allocation", &b.at_budget);
    row(&mut out, "deepest offer by uplift", &b.top_by_uplift);
    row(&mut out, "offer by propensity", &b.top_by_propensity);
    if b.beats_baselines_by > 0.0 {
        let _ = writeln!(
            out,
            "the allocation beats both baselines at the budget by {} of incremental profit",
            money(b.beats_baselines_by)
        );
    } else {
        let _ = writeln!(
            out,
            "the allocation does not beat both baselines at the budget: it is {} behind the \
             better one",
            money(-b.beats_baselines_by)
        );
    }
    let _ = writeln!(
        out,
        "cost curve (best spend with no limit {}): budget, then orders and profit of the \
         allocation | by uplift | by propensity, 80% intervals",
        money(b.unconstrained_spend)
    );
    for r in &b.curve {
        let cell = |o: &Outcome| {
            format!(
                "{} ({}..{}) {} ({}..{})",
                count(o.orders.value),
                count(o.orders.low_80),
                count(o.orders.high_80),
                money(o.profit.value),
                money(o.profit.low_80),
                money(o.profit.high_80)
            )
        };
        let _ = writeln!(
            out,
            "  {:>9}  {} | {} | {}",
            money(r.budget),
            cell(&r.allocation),
            cell(&r.top_by_uplift),
            cell(&r.top_by_propensity)
        );
    }
    for n in &b.notes {
        let _ = writeln!(out, "note: {}", escape_control(n));
    }
    let _ = writeln!(out, "intervals from {} posterior draws", b.draws);
    out
}
