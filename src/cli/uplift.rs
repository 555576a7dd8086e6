//! `report uplift KEY`: a T- or X-learner trained on a hashed 70% of the campaign's units and
//! evaluated on the rest (Qini, AUUC, deciles, targeting). It runs as a job, like `report
//! causal`, so the report is saved (`report list`) unless the session is read-only.

use super::exit::bail_usage;
use super::{JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use liftdeck::app::uplift::UpliftOptions;
use liftdeck::app::Env;
use liftdeck::causal::uplift::LearnerKind;
use liftdeck::jobs::{JobKind, JobSettings};
use std::process::ExitCode;

#[derive(Args)]
pub struct UpliftArgs {
    campaign: String,
    /// t (one conversion model per arm) or x (Künzel's X-learner).
    #[arg(long, default_value = "t")]
    learner: String,
    /// Context fields to model on, comma-separated (default: every field except ids).
    #[arg(long, value_delimiter = ',')]
    features: Vec<String>,
    /// The treated arm, when the campaign has more than one besides control.
    #[arg(long)]
    arm: Option<String>,
    /// 1 - the level of the deciles' intervals (default: the campaign's, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn uplift(session: &Session, env: &Env, a: UpliftArgs) -> Result<ExitCode> {
    super::retention::warn_if_pruned(session, &a.campaign)?;
    let learner = match a.learner.parse::<LearnerKind>() {
        Ok(k) => k,
        Err(e) => bail_usage!("--learner: {e}"),
    };
    if let Some(alpha) = a.alpha {
        if !(alpha > 0.0 && alpha < 1.0) {
            bail_usage!("--alpha must lie strictly between 0 and 1, got {alpha}");
        }
    }
    let opts = UpliftOptions {
        learner: Some(learner),
        features: a.features.into_iter().filter(|f| !f.is_empty()).collect(),
        arm: a.arm,
        alpha: a.alpha,
    };
    let settings = JobSettings {
        alpha: a.alpha,
        uplift: opts,
        ..JobSettings::default()
    };
    super::jobs::run(
        session,
        env,
        &settings,
        JobKind::Uplift,
        &a.campaign,
        a.out.json,
    )
}
