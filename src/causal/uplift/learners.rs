//! Meta-learners that predict each unit's uplift (its treated minus control conversion chance)
//! from its features, built on the conversion model's logistic regression (`model::logistic`,
//! the exact Newton fit so a golden can match a statistics package):
//! - T-learner: one outcome model per arm, uplift(x) = p1(x) − p0(x);
//! - X-learner (Künzel et al. 2019): the same stage-1 models, imputed effects D1 = y − p0(x) on
//!   the treated and D0 = p1(x) − y on the control units, a stage-2 ridge least squares of D on x
//!   per arm (tau1, tau0), combined as tau(x) = g·tau0(x) + (1 − g)·tau1(x) with g the chance of
//!   treatment. The campaign assigned units at random (or by a bandit whose probabilities were
//!   logged), so g does not depend on x: it is the mean logged chance of treatment.

use super::UpliftError;
use crate::linalg::solve;
use crate::model::logistic::{fit_newton, Logistic, Rows};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LearnerKind {
    T,
    X,
}

impl LearnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LearnerKind::T => "t",
            LearnerKind::X => "x",
        }
    }
}

impl std::str::FromStr for LearnerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "t" => Ok(LearnerKind::T),
            "x" => Ok(LearnerKind::X),
            other => Err(format!("unknown learner `{other}`: use t or x")),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct LearnerOptions {
    pub kind: LearnerKind,
    /// L2 penalty on the mean loss of every model (0 = plain maximum likelihood / least squares).
    /// A little keeps one-hot features, which sum to the intercept, solvable.
    pub l2: f64,
    /// The chance of treatment for the X-learner's combination.
    pub propensity: f64,
}

/// The fitted learner: predicts uplift for a feature row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UpliftModel {
    pub kind: LearnerKind,
    pub treated: Logistic,
    pub control: Logistic,
    /// X-learner stage 2 (intercept first, then one weight a feature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_treated: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tau_control: Option<Vec<f64>>,
    pub propensity: f64,
}

fn linear(beta: &[f64], x: &[f64]) -> f64 {
    beta[0] + beta[1..].iter().zip(x).map(|(b, v)| b * v).sum::<f64>()
}

impl UpliftModel {
    pub fn predict(&self, x: &[f64]) -> f64 {
        match (&self.tau_treated, &self.tau_control) {
            (Some(t1), Some(t0)) => {
                let g = self.propensity;
                g * linear(t0, x) + (1.0 - g) * linear(t1, x)
            }
            _ => self.treated.predict(x) - self.control.predict(x),
        }
    }
}

/// Fits the learner on rows `x` with arms `treated` and 1/0 outcomes `y`.
pub fn fit(
    x: &Rows,
    treated: &[bool],
    y: &[f64],
    opts: &LearnerOptions,
) -> Result<UpliftModel, UpliftError> {
    let n = x.len();
    if treated.len() != n || y.len() != n {
        return Err(UpliftError::Shape(format!(
            "{n} rows, {} arms, {} outcomes",
            treated.len(),
            y.len()
        )));
    }
    let (arm1, arm0) = split(x, treated, y);
    let outcome_model = |rows: &(Rows, Vec<f64>), arm: &'static str| {
        if rows.1.iter().all(|v| *v <= 0.0) {
            return Err(UpliftError::NoConversions(arm));
        }
        fit_newton(&rows.0, &rows.1, opts.l2, 200).ok_or(UpliftError::OutcomeModel(arm))
    };
    let m1 = outcome_model(&arm1, "treated")?;
    let m0 = outcome_model(&arm0, "control")?;
    let (tau_treated, tau_control) = match opts.kind {
        LearnerKind::T => (None, None),
        LearnerKind::X => {
            let d1: Vec<f64> = (0..arm1.0.len())
                .map(|i| arm1.1[i] - m0.predict(arm1.0.row(i)))
                .collect();
            let d0: Vec<f64> = (0..arm0.0.len())
                .map(|i| m1.predict(arm0.0.row(i)) - arm0.1[i])
                .collect();
            (
                Some(ridge(&arm1.0, &d1, opts.l2).ok_or(UpliftError::OutcomeModel("treated"))?),
                Some(ridge(&arm0.0, &d0, opts.l2).ok_or(UpliftError::OutcomeModel("control"))?),
            )
        }
    };
    Ok(UpliftModel {
        kind: opts.kind,
        treated: m1,
        control: m0,
        tau_treated,
        tau_control,
        propensity: opts.propensity,
    })
}

type ArmRows = (Rows, Vec<f64>);

fn split(x: &Rows, treated: &[bool], y: &[f64]) -> (ArmRows, ArmRows) {
    let (mut a1, mut a0) = ((Rows::new(x.d), Vec::new()), (Rows::new(x.d), Vec::new()));
    for i in 0..x.len() {
        let arm = if treated[i] { &mut a1 } else { &mut a0 };
        arm.0.push(x.row(i));
        arm.1.push(y[i]);
    }
    (a1, a0)
}

/// Least squares of `y` on an intercept and the rows, minimising mean squared error + l2·|w|²
/// (the intercept unpenalised); intercept first. `None` when the system is singular.
pub fn ridge(x: &Rows, y: &[f64], l2: f64) -> Option<Vec<f64>> {
    let (n, d) = (x.len(), x.d);
    if n == 0 {
        return None;
    }
    let k = d + 1;
    let mut a = vec![0.0; k * k];
    let mut b = vec![0.0; k];
    for (i, yi) in y.iter().enumerate().take(n) {
        let row = x.row(i);
        let xt = |j: usize| if j == 0 { 1.0 } else { row[j - 1] };
        for r in 0..k {
            let xr = xt(r);
            b[r] += xr * yi;
            for c in 0..=r {
                a[r * k + c] += xr * xt(c);
            }
        }
    }
    for r in 0..k {
        for c in 0..=r {
            a[r * k + c] /= n as f64;
            a[c * k + r] = a[r * k + c];
        }
        b[r] /= n as f64;
        if r > 0 {
            a[r * k + r] += l2;
        }
    }
    solve(a, b, k)
}
