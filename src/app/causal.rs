//! The causal report behind the console's `c` key and `liftdeck report causal`: per arm and
//! outcome, the effect against control weighted by the logged propensities, beside the naive
//! difference, plus a balance check of the pre-period covariate. For a fixed-weight A/B test
//! the two agree (randomisation already removed selection bias); for a bandit, or traffic that
//! was targeted, they differ and the weighted one is the campaign's effect.

use super::{AppError, Progress, Result};
use crate::causal::{balance, contrast, ArmMoments, Balance, Contrast};
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// The outcomes the report estimates effects on, per unit.
pub const OUTCOMES: [&str; 3] = ["conversion", "revenue per unit", "profit per unit"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArmEffect {
    pub arm: String,
    pub units: u64,
    /// Kish effective sample size of the weighted arm.
    pub effective_units: f64,
    /// `None` for control, or when an arm has under two units.
    pub effect: Option<Contrast>,
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
    pub notes: Vec<String>,
}

/// Streams every unit of `key` and estimates each arm's effect against control.
pub fn causal_report(
    store: &Store,
    key: &str,
    alpha: Option<f64>,
    progress: &dyn Progress,
) -> Result<CausalReport> {
    let (campaign, arms) = store.campaign(key)?;
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
            let r = &mut propensity_range[a];
            *r = (r.0.min(p), r.1.max(p));
        }
        Ok(())
    })?;
    progress.update(1.0, "estimating")?;
    let min_propensity = propensity_range
        .iter()
        .map(|r| r.0)
        .filter(|p| p.is_finite())
        .reduce(f64::min);
    let propensity_varies = propensity_range
        .iter()
        .any(|r| r.0.is_finite() && r.1 - r.0 > 1e-12);
    let outcomes = OUTCOMES
        .iter()
        .enumerate()
        .map(|(o, name)| OutcomeEffects {
            outcome: name.to_string(),
            arms: arms
                .iter()
                .enumerate()
                .map(|(a, arm)| ArmEffect {
                    arm: arm.key.clone(),
                    units: outcome[a][o].n,
                    effective_units: outcome[a][o].effective_n(),
                    effect: (a != ci)
                        .then(|| contrast(&outcome[a][o], &outcome[ci][o], alpha))
                        .flatten(),
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
    let mut notes = Vec::new();
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
        notes,
    })
}

/// The plain-text report (CLI; the console renders the same struct in its panel).
pub fn format_text(r: &CausalReport) -> String {
    let level = 100.0 * (1.0 - r.alpha);
    let mut s = format!(
        "causal report: {}  control {}  units {}  min propensity {}\n",
        r.campaign,
        r.control,
        crate::format::count(r.units as i64),
        r.min_propensity.map_or("-".into(), |p| format!("{p:.3}"))
    );
    for o in &r.outcomes {
        s.push_str(&format!(
            "\n{}\n  {:<12} {:>8} {:>10} {:>12} {:>12} {:>25} {:>9}\n",
            o.outcome,
            "arm",
            "units",
            "eff.units",
            "naive diff",
            "IPW diff",
            format!("IPW {level:.0}% CI"),
            "p"
        ));
        for a in &o.arms {
            match &a.effect {
                Some(e) => s.push_str(&format!(
                    "  {:<12} {:>8} {:>10} {:>12.5} {:>12.5} {:>25} {:>9}\n",
                    a.arm,
                    crate::format::count(a.units as i64),
                    crate::format::quantity(a.effective_units),
                    e.naive_diff,
                    e.ipw_diff,
                    format!("[{:.5}, {:.5}]", e.ipw_ci.0, e.ipw_ci.1),
                    crate::format::p_value(e.p_value)
                )),
                None => s.push_str(&format!(
                    "  {:<12} {:>8} {:>10} {:>12}\n",
                    a.arm,
                    crate::format::count(a.units as i64),
                    crate::format::quantity(a.effective_units),
                    if a.arm == r.control { "control" } else { "-" }
                )),
            }
        }
    }
    s.push_str("\nbalance of pre_value (standardised mean difference vs control)\n");
    for b in &r.balance {
        match &b.balance {
            Some(x) => s.push_str(&format!(
                "  {:<12} raw {:+.3}  weighted {:+.3}{}\n",
                b.arm,
                x.smd_raw,
                x.smd_weighted,
                if b.imbalanced { "  IMBALANCED" } else { "" }
            )),
            None => s.push_str(&format!("  {:<12} no pre_value recorded\n", b.arm)),
        }
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}
