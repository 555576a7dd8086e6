//! One differentially private A/B release: bound each unit's contribution, split the budget
//! over the released statistics, add calibrated noise, and derive rates, means, lifts and
//! intervals from the noisy figures only.
//!
//! Neighbouring databases differ by one unit (add or remove). A unit sits in one arm, so each
//! statistic's per-arm vector changes in one coordinate only: the arms share that statistic's
//! budget share by parallel composition, and its sensitivity is the unit's largest bounded
//! contribution (L1 = L2 for one coordinate). The statistics themselves (units, converted
//! units, orders, sums) compose sequentially: each gets ε/m and δ/m of an (ε, δ) release
//! (basic composition, m the number of statistics), so the whole release is (ε, δ)-DP.
//!
//! Derived figures never touch exact counts: a rate is noisy converted / noisy units, and its
//! variance adds the noise's (delta method) to the sampling variance, so intervals widen with
//! the noise: Var(X̃/Ñ) ≈ p(1−p)/N + (σ_X² + p²·σ_N²)/N² (the mean's: s²/N in place of p(1−p)/N).

use super::{Mechanism, Noise};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

/// The per-unit figure whose arm average the release compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// 1 when the unit made at least one purchase.
    Conversion,
    /// Revenue, clipped to [0, cap].
    Revenue,
    /// Cost, clipped to [0, cap].
    Cost,
    /// Revenue − cost, clipped to [−cap, cap].
    Profit,
}

impl Outcome {
    pub fn needs_value_cap(self) -> bool {
        !matches!(self, Outcome::Conversion)
    }
}

/// Per-unit caps. Chosen by the operator, never from the data (a cap read off the data would
/// itself leak it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Caps {
    /// Orders counted per unit at most.
    pub events: u32,
    /// Money per unit at most (revenue, cost or |profit|); unused for conversion.
    pub value: Option<f64>,
}

/// One unit's raw totals, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitOutcome {
    pub arm: usize,
    pub purchases: i64,
    pub revenue: f64,
    pub cost: f64,
}

/// One arm's sums after bounding (exact), or after noise (released).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ArmSums {
    pub units: f64,
    pub converted: f64,
    pub orders: f64,
    pub sum: f64,
    pub sumsq: f64,
}

/// Which sum a released statistic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    Units,
    ConvertedUnits,
    Orders,
    ValueSum,
    ValueSumOfSquares,
}

impl Statistic {
    fn get(self, s: &ArmSums) -> f64 {
        match self {
            Statistic::Units => s.units,
            Statistic::ConvertedUnits => s.converted,
            Statistic::Orders => s.orders,
            Statistic::ValueSum => s.sum,
            Statistic::ValueSumOfSquares => s.sumsq,
        }
    }

    fn set(self, s: &mut ArmSums, v: f64) {
        match self {
            Statistic::Units => s.units = v,
            Statistic::ConvertedUnits => s.converted = v,
            Statistic::Orders => s.orders = v,
            Statistic::ValueSum => s.sum = v,
            Statistic::ValueSumOfSquares => s.sumsq = v,
        }
    }
}

/// A released statistic with its sensitivity, its share of the budget and its noise.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Released {
    pub statistic: Statistic,
    pub sensitivity: f64,
    pub epsilon: f64,
    pub delta: f64,
    pub noise: Noise,
    pub noise_sd: f64,
}

/// What a release spends and adds, decided before any data is read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleasePlan {
    pub outcome: Outcome,
    pub caps: Caps,
    pub epsilon: f64,
    pub delta: f64,
    pub mechanism: Mechanism,
    pub statistics: Vec<Released>,
}

/// Plans a release of `outcome` at (ε, δ) (δ = 0: Laplace) under `caps`.
pub fn plan(outcome: Outcome, caps: Caps, epsilon: f64, delta: f64) -> Result<ReleasePlan, String> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(format!("epsilon must be a positive number, got {epsilon}"));
    }
    if !(0.0..1.0).contains(&delta) {
        return Err(format!("delta must be in [0, 1), got {delta}"));
    }
    if caps.events == 0 {
        return Err("the events cap must be at least 1".into());
    }
    let value_cap = match (outcome.needs_value_cap(), caps.value) {
        (false, _) => None,
        (true, Some(c)) if c.is_finite() && c > 0.0 => Some(c),
        (true, Some(c)) => return Err(format!("the revenue cap must be positive, got {c}")),
        (true, None) => {
            return Err("a money outcome needs a per-unit revenue cap chosen in advance".into())
        }
    };
    let mut wanted = vec![(Statistic::Units, 1.0)];
    match value_cap {
        None => wanted.push((Statistic::ConvertedUnits, 1.0)),
        Some(c) => {
            wanted.push((Statistic::ValueSum, c));
            wanted.push((Statistic::ValueSumOfSquares, c * c));
        }
    }
    wanted.push((Statistic::Orders, f64::from(caps.events)));
    let m = wanted.len() as f64;
    let (eps_each, delta_each) = (epsilon / m, delta / m);
    let mut statistics = Vec::with_capacity(wanted.len());
    for (statistic, sensitivity) in wanted {
        let noise = Noise::calibrate(sensitivity, eps_each, delta_each).ok_or_else(|| {
            format!("cannot calibrate noise for epsilon {epsilon}, delta {delta}")
        })?;
        statistics.push(Released {
            statistic,
            sensitivity,
            epsilon: eps_each,
            delta: delta_each,
            noise,
            noise_sd: noise.sd(),
        });
    }
    let mechanism = if delta == 0.0 {
        Mechanism::Laplace
    } else {
        Mechanism::AnalyticGaussian
    };
    Ok(ReleasePlan {
        outcome,
        caps: Caps {
            events: caps.events,
            value: value_cap,
        },
        epsilon,
        delta,
        mechanism,
        statistics,
    })
}

/// The per-unit value after clipping, for `outcome` under `cap`.
pub fn bounded_value(outcome: Outcome, cap: Option<f64>, u: &UnitOutcome) -> f64 {
    let c = cap.unwrap_or(f64::INFINITY);
    match outcome {
        Outcome::Conversion => f64::from(u8::from(u.purchases > 0)),
        Outcome::Revenue => u.revenue.clamp(0.0, c),
        Outcome::Cost => u.cost.clamp(0.0, c),
        Outcome::Profit => (u.revenue - u.cost).clamp(-c, c),
    }
}

/// Exact per-arm sums after each unit's contribution is bounded by the plan's caps.
pub fn bound(plan: &ReleasePlan, arms: usize, units: &[UnitOutcome]) -> Vec<ArmSums> {
    let mut out = vec![ArmSums::default(); arms];
    for u in units {
        let Some(s) = out.get_mut(u.arm) else {
            continue;
        };
        let v = bounded_value(plan.outcome, plan.caps.value, u);
        s.units += 1.0;
        s.converted += f64::from(u8::from(u.purchases > 0));
        s.orders += u.purchases.clamp(0, i64::from(plan.caps.events)) as f64;
        s.sum += v;
        s.sumsq += v * v;
    }
    out
}

/// Adds the plan's noise to every released statistic of every arm; the rest stay 0.
pub fn add_noise(plan: &ReleasePlan, exact: &[ArmSums], rng: &mut impl rand::Rng) -> Vec<ArmSums> {
    exact
        .iter()
        .map(|arm| {
            let mut noisy = ArmSums::default();
            for r in &plan.statistics {
                r.statistic
                    .set(&mut noisy, r.statistic.get(arm) + r.noise.sample(rng));
            }
            noisy
        })
        .collect()
}

/// An arm's figures derived from its noisy release.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ArmEstimate {
    /// Noisy units.
    pub units: f64,
    /// Rate (conversion) or mean per unit (money), from the noisy figures.
    pub value: f64,
    /// √(sampling variance + noise variance).
    pub se: f64,
    pub sampling_se: f64,
    pub noise_se: f64,
    /// Orders per unit (capped orders / units), and its noise standard error.
    pub orders_per_unit: f64,
    pub orders_noise_se: f64,
}

fn noise_variance(plan: &ReleasePlan, statistic: Statistic) -> f64 {
    plan.statistics
        .iter()
        .find(|r| r.statistic == statistic)
        .map_or(0.0, |r| r.noise.variance())
}

/// Rates and means from one arm's noisy sums (the noisy unit count floored at 1).
pub fn estimate(plan: &ReleasePlan, noisy: &ArmSums) -> ArmEstimate {
    let n = noisy.units.max(1.0);
    let var_n = noise_variance(plan, Statistic::Units);
    let (value, sampling_var, numerator_var) = match plan.caps.value {
        None => {
            let p = (noisy.converted / n).clamp(0.0, 1.0);
            let var_x = noise_variance(plan, Statistic::ConvertedUnits);
            (p, p * (1.0 - p) / n, var_x)
        }
        Some(c) => {
            let mean = noisy.sum / n;
            // A unit's value spans at most 2c (profit), so its variance is at most c².
            let s2 = (noisy.sumsq / n - mean * mean).clamp(0.0, c * c);
            (mean, s2 / n, noise_variance(plan, Statistic::ValueSum))
        }
    };
    let noise_var = (numerator_var + value * value * var_n) / (n * n);
    let opu = noisy.orders / n;
    let orders_noise_var = (noise_variance(plan, Statistic::Orders) + opu * opu * var_n) / (n * n);
    ArmEstimate {
        units: noisy.units,
        value,
        se: (sampling_var + noise_var).sqrt(),
        sampling_se: sampling_var.sqrt(),
        noise_se: noise_var.sqrt(),
        orders_per_unit: opu,
        orders_noise_se: orders_noise_var.sqrt(),
    }
}

/// A treatment against control, from their noisy estimates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Effect {
    /// Treatment − control.
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    /// Two-sided p-value of the Wald test this interval inverts.
    pub p_value: f64,
    /// Treatment / control − 1 with its delta-method interval; `None` when the control's
    /// noisy value is not positive.
    pub relative: Option<RelativeEffect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RelativeEffect {
    pub lift: f64,
    pub low: f64,
    pub high: f64,
}

/// The Wald interval at level 1 − α of the difference, its width including the noise.
pub fn effect(control: &ArmEstimate, treatment: &ArmEstimate, alpha: f64) -> Effect {
    let std = Normal::standard();
    let z = std.inverse_cdf(1.0 - alpha / 2.0);
    let difference = treatment.value - control.value;
    let se = (treatment.se.powi(2) + control.se.powi(2)).sqrt();
    let p_value = if se > 0.0 {
        2.0 * (1.0 - std.cdf((difference / se).abs()))
    } else {
        f64::NAN
    };
    let relative = (control.value > 0.0).then(|| {
        let ratio = treatment.value / control.value;
        let rel_t = if treatment.value != 0.0 {
            (treatment.se / treatment.value).powi(2)
        } else {
            0.0
        };
        let se_rel = ratio.abs() * (rel_t + (control.se / control.value).powi(2)).sqrt();
        // With a zero treatment value the ratio's own term vanishes: use the absolute form.
        let se_rel = if treatment.value == 0.0 {
            treatment.se / control.value
        } else {
            se_rel
        };
        RelativeEffect {
            lift: ratio - 1.0,
            low: ratio - 1.0 - z * se_rel,
            high: ratio - 1.0 + z * se_rel,
        }
    });
    Effect {
        difference,
        low: difference - z * se,
        high: difference + z * se,
        p_value,
        relative,
    }
}
