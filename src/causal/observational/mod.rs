//! What an observational campaign did when people or rules, not a coin, chose who was treated
//! (a coupon mailed to chosen customers): the propensity to be treated is estimated from the
//! units' covariates by logistic regression, and the arms are compared after inverse-propensity
//! weighting (Hájek IPW) and with the doubly robust augmented estimator (AIPW), beside the naive
//! difference of means. Overlap and balance diagnostics say whether the comparison can be
//! trusted. Pure: rows in, a report out.

mod diagnostics;
mod estimators;
mod linalg;
pub mod refute;

pub use diagnostics::{CovariateBalance, Overlap, BALANCE_FLAG, HISTOGRAM_BINS};
pub use refute::{refute, Refutation, RefutationKind};

use crate::model::logistic::{fit_newton, Rows};

/// Two-sided 95% normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Which population the effect is averaged over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimand {
    /// Average treatment effect over every unit kept.
    Ate,
    /// Average treatment effect on the treated units kept.
    Att,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservationalOptions {
    /// Crump et al. trimming: drop units whose estimated propensity is outside [LO, 1 - LO].
    pub trim: Option<f64>,
    pub estimand: Estimand,
}

impl Default for ObservationalOptions {
    fn default() -> Self {
        ObservationalOptions {
            trim: None,
            estimand: Estimand::Ate,
        }
    }
}

/// The units: one covariate row, treatment flag and outcome each. `names` labels the covariates
/// in messages and balance rows; when empty they are called `covariate 1`, `covariate 2`, ...
#[derive(Debug, Clone, Copy)]
pub struct Units<'a> {
    pub covariates: &'a [Vec<f64>],
    pub names: &'a [String],
    pub treated: &'a [bool],
    pub outcome: &'a [f64],
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ObservationalError {
    #[error("the inputs disagree: {0}")]
    Shape(String),
    #[error("the {0} arm has no units: an effect needs both treated and control units")]
    EmptyArm(&'static str),
    #[error("covariate '{0}' has the same value for every unit: drop it from --covariates")]
    ConstantCovariate(String),
    #[error("covariate '{name}' is missing or not a finite number for unit {unit}")]
    NonFiniteCovariate { name: String, unit: usize },
    #[error("the outcome is not a finite number for unit {0}")]
    NonFiniteOutcome(usize),
    #[error("trim must be at least 0 and below 0.5, got {0}")]
    BadTrim(f64),
    #[error("no overlap: {0}; the arms cannot be compared on these covariates")]
    NoOverlap(String),
    #[error("the {0} arm's outcome model cannot be fitted: it has fewer units than covariates + 1 or collinear covariates")]
    OutcomeModel(&'static str),
}

/// One estimate with its standard error and 95% normal interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub effect: f64,
    pub se: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    fn new(effect: f64, se: f64) -> Estimate {
        Estimate {
            effect,
            se,
            low: effect - Z95 * se,
            high: effect + Z95 * se,
        }
    }
    pub fn covers(&self, truth: f64) -> bool {
        self.low <= truth && truth <= self.high
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObservationalReport {
    pub estimand: Estimand,
    /// Logistic propensity model, intercept first, then one per covariate.
    pub propensity_coefficients: Vec<f64>,
    /// Estimated propensity of every unit (trimmed ones included).
    pub propensity: Vec<f64>,
    pub dropped_control: usize,
    pub dropped_treated: usize,
    pub kept_control: usize,
    pub kept_treated: usize,
    /// Difference of the arms' means on the units kept, Welch SE.
    pub naive: Estimate,
    /// Hájek IPW; SE from the M-estimation sandwich that includes the propensity fit.
    pub ipw: Estimate,
    /// AIPW; SE from its influence function with the fitted models treated as known.
    pub aipw: Estimate,
    pub overlap: Overlap,
    pub balance: Vec<CovariateBalance>,
}

/// Fits the propensity model on all units, trims, and reports naive, IPW and AIPW estimates
/// with overlap and balance diagnostics.
pub fn estimate(
    units: Units<'_>,
    options: ObservationalOptions,
) -> Result<ObservationalReport, ObservationalError> {
    let p = validate(&units)?;
    let n = units.treated.len();
    let lo = match options.trim {
        Some(lo) if !(0.0..0.5).contains(&lo) => return Err(ObservationalError::BadTrim(lo)),
        Some(lo) => lo,
        None => 0.0,
    };
    let mut rows = Rows::new(p);
    for row in units.covariates {
        rows.push(row);
    }
    let labels: Vec<f64> = units
        .treated
        .iter()
        .map(|&t| f64::from(u8::from(t)))
        .collect();
    let model = fit_newton(&rows, &labels, 0.0, 100).ok_or_else(|| {
        ObservationalError::NoOverlap(
            "the propensity model has no finite fit (the covariates separate the arms, or two covariates are collinear)".into(),
        )
    })?;
    let propensity: Vec<f64> = (0..n).map(|i| model.predict(rows.row(i))).collect();
    let keep: Vec<bool> = propensity
        .iter()
        .map(|&e| e >= lo && e <= 1.0 - lo && e > 0.0 && e < 1.0)
        .collect();
    let count = |treated: bool, kept: bool| {
        (0..n)
            .filter(|&i| units.treated[i] == treated && keep[i] == kept)
            .count()
    };
    let (kept_treated, kept_control) = (count(true, true), count(false, true));
    let (dropped_treated, dropped_control) = (count(true, false), count(false, false));
    if kept_treated == 0 || kept_control == 0 {
        return Err(ObservationalError::NoOverlap(format!(
            "after trimming to [{lo}, {}] the {} arm has no units ({dropped_treated} treated and {dropped_control} control dropped)",
            1.0 - lo,
            if kept_treated == 0 { "treated" } else { "control" }
        )));
    }
    check_ranges(&propensity, units.treated, &keep)?;

    let mut coefficients = vec![model.bias];
    coefficients.extend_from_slice(&model.weights);
    let fit = estimators::Fitted {
        x: units.covariates,
        t: units.treated,
        y: units.outcome,
        e: &propensity,
        keep: &keep,
    };
    let naive = estimators::naive(&fit);
    let ipw = estimators::ipw(&fit, options.estimand);
    let aipw = estimators::aipw(&fit, options.estimand)?;
    let weights = estimators::weights(&fit, options.estimand);
    let overlap = diagnostics::overlap(&fit, &weights);
    let names: Vec<String> = (0..p).map(|j| covariate_name(units.names, j)).collect();
    let balance = diagnostics::balance(&fit, &weights, &names);
    Ok(ObservationalReport {
        estimand: options.estimand,
        propensity_coefficients: coefficients,
        propensity,
        dropped_control,
        dropped_treated,
        kept_control,
        kept_treated,
        naive: Estimate::new(naive.0, naive.1),
        ipw: Estimate::new(ipw.0, ipw.1),
        aipw: Estimate::new(aipw.0, aipw.1),
        overlap,
        balance,
    })
}

fn covariate_name(names: &[String], j: usize) -> String {
    names
        .get(j)
        .cloned()
        .unwrap_or_else(|| format!("covariate {}", j + 1))
}

/// Shapes, arms, finiteness and constancy; returns the number of covariates.
fn validate(units: &Units<'_>) -> Result<usize, ObservationalError> {
    let n = units.treated.len();
    if units.covariates.len() != n || units.outcome.len() != n {
        return Err(ObservationalError::Shape(format!(
            "{} covariate rows, {} treatment flags, {} outcomes",
            units.covariates.len(),
            n,
            units.outcome.len()
        )));
    }
    if !units.treated.iter().any(|&t| t) {
        return Err(ObservationalError::EmptyArm("treated"));
    }
    if units.treated.iter().all(|&t| t) {
        return Err(ObservationalError::EmptyArm("control"));
    }
    let p = units.covariates.first().map_or(0, Vec::len);
    if let Some(i) = units.covariates.iter().position(|r| r.len() != p) {
        return Err(ObservationalError::Shape(format!(
            "unit {i} has {} covariates, unit 0 has {p}",
            units.covariates[i].len()
        )));
    }
    if !units.names.is_empty() && units.names.len() != p {
        return Err(ObservationalError::Shape(format!(
            "{} covariate names for {p} covariates",
            units.names.len()
        )));
    }
    for j in 0..p {
        if let Some(unit) = units.covariates.iter().position(|r| !r[j].is_finite()) {
            return Err(ObservationalError::NonFiniteCovariate {
                name: covariate_name(units.names, j),
                unit,
            });
        }
        let first = units.covariates[0][j];
        if units.covariates.iter().all(|r| r[j] == first) {
            return Err(ObservationalError::ConstantCovariate(covariate_name(
                units.names,
                j,
            )));
        }
    }
    if let Some(i) = units.outcome.iter().position(|y| !y.is_finite()) {
        return Err(ObservationalError::NonFiniteOutcome(i));
    }
    Ok(p)
}

/// Refuses when every kept unit of one arm has a propensity outside the range of the other's.
fn check_ranges(e: &[f64], t: &[bool], keep: &[bool]) -> Result<(), ObservationalError> {
    let range = |arm: bool| {
        e.iter()
            .zip(t)
            .zip(keep)
            .filter(|((_, &ti), &k)| k && ti == arm)
            .fold(
                (f64::INFINITY, f64::NEG_INFINITY),
                |(a, b), ((&v, _), _)| (a.min(v), b.max(v)),
            )
    };
    for (arm, other, name, other_name) in [
        (true, false, "treated", "control"),
        (false, true, "control", "treated"),
    ] {
        let (a, b) = range(other);
        let inside = e
            .iter()
            .zip(t)
            .zip(keep)
            .any(|((&v, &ti), &k)| k && ti == arm && v >= a && v <= b);
        if !inside {
            return Err(ObservationalError::NoOverlap(format!(
                "no {name} unit has a propensity within the {other_name} units' range [{a:.4}, {b:.4}]"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // With a converged logit, disjoint ranges among the kept units only arise after trimming,
    // so the check is exercised directly.
    #[test]
    fn disjoint_propensity_ranges_are_no_overlap() {
        let e = [0.2, 0.3, 0.35, 0.6, 0.7, 0.8];
        let t = [false, false, false, true, true, true];
        let err = check_ranges(&e, &t, &[true; 6]).expect_err("refused");
        assert!(
            err.to_string()
                .contains("no treated unit has a propensity within the control units' range"),
            "{err}"
        );
        let t = [false, true, false, true, false, true];
        assert_eq!(check_ranges(&e, &t, &[true; 6]), Ok(()));
        // Trimming away the one overlapping pair leaves disjoint arms.
        let t = [false, false, true, false, true, true];
        assert_eq!(check_ranges(&e, &t, &[true; 6]), Ok(()));
        let keep = [true, true, false, false, true, true];
        assert!(check_ranges(&e, &t, &keep).is_err());
    }
}
