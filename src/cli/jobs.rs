//! The console's background jobs from the shell: `train` (retrain the conversion model),
//! `report causal` and `forecast`. They run through the same runner as the console's `r`, `c`
//! and `F` keys, so each run is recorded in the jobs table and `health` sees a failed
//! retrain from cron just as from the console. Progress goes to stderr as a bar.

use super::write_stdout;
use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use liftdeck::app::Env;
use liftdeck::jobs::{self, JobEnd, JobKind, JobOutput, JobSettings, JobUpdate};
use liftdeck::model::TrainOptions;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

#[derive(Args)]
pub struct TrainArgs {
    campaign: String,
    /// Passes over the training units.
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    epochs: usize,
    /// Adam's initial step size (it decays linearly to zero).
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f64,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = TrainOptions::default().l2)]
    l2: f64,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct CausalArgs {
    campaign: String,
    /// Significance level of the intervals and p-values (default: the campaign's, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ForecastArgs {
    campaign: String,
    /// How many days of shipping to project.
    #[arg(long, default_value_t = 30.0)]
    days: f64,
    /// 1 - the interval level (default: the campaign's alpha, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    #[arg(long)]
    json: bool,
}

pub fn train(db: &Path, env: &Env, read_only: bool, a: TrainArgs) -> Result<ExitCode> {
    let settings = JobSettings {
        train: TrainOptions {
            epochs: a.epochs,
            learning_rate: a.learning_rate,
            l2: a.l2,
            ..TrainOptions::default()
        },
        ..JobSettings::default()
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if a.epochs == 0 || !positive(a.learning_rate) || a.l2.is_nan() || a.l2 < 0.0 {
        bail!("--epochs must be at least 1, --learning-rate positive, --l2 not negative");
    }
    run(
        db,
        env,
        read_only,
        &settings,
        JobKind::Retrain,
        &a.campaign,
        a.json,
    )
}

fn check_alpha(alpha: Option<f64>) -> Result<()> {
    if alpha.is_some_and(|a| !(a > 0.0 && a < 0.5)) {
        bail!("--alpha must be in (0, 0.5)");
    }
    Ok(())
}

pub fn causal(db: &Path, env: &Env, read_only: bool, a: CausalArgs) -> Result<ExitCode> {
    check_alpha(a.alpha)?;
    let settings = JobSettings {
        alpha: a.alpha,
        ..JobSettings::default()
    };
    run(
        db,
        env,
        read_only,
        &settings,
        JobKind::Causal,
        &a.campaign,
        a.json,
    )
}

pub fn forecast(db: &Path, env: &Env, read_only: bool, a: ForecastArgs) -> Result<ExitCode> {
    check_alpha(a.alpha)?;
    let settings = JobSettings {
        alpha: a.alpha,
        forecast_days: a.days,
        ..JobSettings::default()
    };
    run(
        db,
        env,
        read_only,
        &settings,
        JobKind::Forecast,
        &a.campaign,
        a.json,
    )
}

fn run(
    db: &Path,
    env: &Env,
    read_only: bool,
    settings: &JobSettings,
    kind: JobKind,
    campaign: &str,
    json: bool,
) -> Result<ExitCode> {
    let bar = ProgressBar::new(1000).with_style(
        ProgressStyle::with_template("{bar:30} {percent:>3}% {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let end = std::sync::Mutex::new(None);
    let sink = |u: JobUpdate| match u {
        JobUpdate::Progress { done, stage, .. } => {
            bar.set_position((done * 1000.0) as u64);
            bar.set_message(stage);
        }
        JobUpdate::Finished { end: e, .. } => {
            if let Ok(mut slot) = end.lock() {
                *slot = Some(e);
            }
        }
    };
    let never = AtomicBool::new(false);
    let settings = JobSettings {
        read_only,
        ..*settings
    };
    jobs::run(db, env, &settings, kind, campaign, &never, &sink);
    bar.finish_and_clear();
    let end = end.into_inner().ok().flatten();
    let out = match end {
        Some(JobEnd::Done(out)) => out,
        Some(JobEnd::Failed(e)) => bail!("{} of {campaign} failed: {e}", kind.as_str()),
        Some(JobEnd::Cancelled) | None => bail!("{} of {campaign} did not finish", kind.as_str()),
    };
    let text = match (&out, json) {
        (JobOutput::Model(m), true) => serde_json::to_string_pretty(m)? + "\n",
        (JobOutput::Causal(c), true) => serde_json::to_string_pretty(c)? + "\n",
        (JobOutput::Forecast(f), true) => serde_json::to_string_pretty(f)? + "\n",
        (JobOutput::Model(m), false) => liftdeck::app::train::format_text(m),
        (JobOutput::Causal(c), false) => liftdeck::app::causal::format_text(c),
        (JobOutput::Forecast(f), false) => {
            liftdeck::app::forecast::format_text_with(f, &super::report::number_format())
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
