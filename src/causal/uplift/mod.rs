//! Uplift models: who the offer changes, not who buys anyway. Pure: feature rows, arms and
//! outcomes in; per-unit predicted uplift and its evaluation on held-out units out.
//! - `learners`: T- and X-learner on the conversion model's logistic regression;
//! - `qini`: the Qini curve and coefficient, the gain curve and AUUC (CausalML's
//!   normalisation), uplift by decile;
//! - `targeting`: what offering only to the top k% by predicted uplift would yield.

pub mod learners;
pub mod qini;
pub mod targeting;

pub use learners::{fit, LearnerKind, LearnerOptions, UpliftModel};
pub use qini::{Decile, Scored};
use serde::{Deserialize, Serialize};
pub use targeting::{Outcome, TargetRow, Targeting};

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum UpliftError {
    #[error("the inputs disagree: {0}")]
    Shape(String),
    #[error("the {0} arm has no conversions: its outcome model cannot be fitted")]
    NoConversions(&'static str),
    #[error("the {0} arm's outcome model cannot be fitted (too few units, separable or collinear features)")]
    OutcomeModel(&'static str),
}

/// How many points of the Qini curve a chart gets (plus the origin).
pub const CHART_POINTS: usize = 40;

/// Everything the report says about a ranking of held-out units.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    pub units: u64,
    /// `None` when the held-out units show no incremental conversions overall (the normalised
    /// curves are undefined).
    pub qini_coefficient: Option<f64>,
    pub auuc: Option<f64>,
    /// Normalised Qini curve as (share of units targeted, value), about `CHART_POINTS` points.
    pub qini_points: Vec<(f64, f64)>,
    pub deciles: Vec<Decile>,
    pub targeting: Targeting,
}

/// Evaluates scored held-out units; `target_share` is the share of incremental orders the
/// recommendation must reach when no costs were logged.
pub fn evaluate(units: &[Outcome], target_share: f64) -> Evaluation {
    let scored: Vec<Scored> = units
        .iter()
        .map(|u| Scored {
            score: u.score,
            treated: u.treated,
            outcome: if u.converted { 1.0 } else { 0.0 },
        })
        .collect();
    let curve = qini::qini_curve(&scored);
    Evaluation {
        units: units.len() as u64,
        qini_coefficient: qini::qini_coefficient(&curve),
        auuc: qini::auuc(&qini::gain_curve(&scored)),
        qini_points: qini::chart_points(&curve, CHART_POINTS),
        deciles: qini::deciles(&scored),
        targeting: targeting::targeting(units, target_share),
    }
}
