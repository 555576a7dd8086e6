//! The console's background jobs from the shell: `train` (retrain the conversion model),
//! `report causal` and `forecast`. They run through the same runner as the console's `r`, `c`
//! and `F` keys, so each run is recorded in the jobs table and `health` sees a failed
//! retrain from cron just as from the console. Progress goes to stderr as a bar.

use super::exit::{bail_usage, CliError};
use super::{write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use liftdeck::app::Env;
use liftdeck::jobs::{self, JobEnd, JobKind, JobOutput, JobSettings, JobUpdate};
use liftdeck::model::TrainOptions;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

#[derive(Args)]
pub struct TrainArgs {
    campaign: String,
    /// Passes over the training units, 1 to 10,000.
    #[arg(long, default_value_t = TrainOptions::default().epochs,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    epochs: usize,
    /// Adam's initial step size (it decays linearly to zero).
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f64,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = TrainOptions::default().l2)]
    l2: f64,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct CausalArgs {
    campaign: String,
    /// Significance level of the intervals and p-values (default: the campaign's, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    #[command(flatten)]
    out: JsonFlag,
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
    #[command(flatten)]
    out: JsonFlag,
}

pub fn train(session: &Session, env: &Env, a: TrainArgs) -> Result<ExitCode> {
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
        bail_usage!("--epochs must be at least 1, --learning-rate positive, --l2 not negative");
    }
    run(
        session,
        env,
        &settings,
        JobKind::Retrain,
        &a.campaign,
        a.out.json,
    )
}

fn check_alpha(alpha: Option<f64>) -> Result<()> {
    if alpha.is_some_and(|a| !(a > 0.0 && a < 0.5)) {
        bail_usage!("--alpha must be in (0, 0.5)");
    }
    Ok(())
}

pub fn causal(session: &Session, env: &Env, a: CausalArgs) -> Result<ExitCode> {
    check_alpha(a.alpha)?;
    let settings = JobSettings {
        alpha: a.alpha,
        ..JobSettings::default()
    };
    run(
        session,
        env,
        &settings,
        JobKind::Causal,
        &a.campaign,
        a.out.json,
    )
}

pub fn forecast(session: &Session, env: &Env, a: ForecastArgs) -> Result<ExitCode> {
    check_alpha(a.alpha)?;
    let settings = JobSettings {
        alpha: a.alpha,
        forecast_days: a.days,
        ..JobSettings::default()
    };
    run(
        session,
        env,
        &settings,
        JobKind::Forecast,
        &a.campaign,
        a.out.json,
    )
}

fn run(
    session: &Session,
    env: &Env,
    settings: &JobSettings,
    kind: JobKind,
    campaign: &str,
    json: bool,
) -> Result<ExitCode> {
    // The runner opens the database itself (and would create it): check first that it exists
    // and has the campaign, so those failures keep their own exit codes (66, 65).
    {
        let store = session.open_to_read()?;
        store.campaign(campaign)?;
    }
    let (db, read_only) = (session.db.as_path(), session.read_only);
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
        // What is left after the checks above is what the data could not support.
        Some(JobEnd::Failed(e)) => {
            return Err(
                CliError::Data(format!("{} of {campaign} failed: {e}", kind.as_str())).into(),
            )
        }
        Some(JobEnd::Cancelled) | None => {
            anyhow::bail!("{} of {campaign} did not finish", kind.as_str())
        }
    };
    let text = match (&out, json) {
        (JobOutput::Model(m), true) => serde_json::to_string_pretty(m)? + "\n",
        (JobOutput::Causal(c), true) => serde_json::to_string_pretty(c)? + "\n",
        (JobOutput::Forecast(f), true) => serde_json::to_string_pretty(f)? + "\n",
        (JobOutput::Model(m), false) => liftdeck::app::train::format_text(m),
        (JobOutput::Causal(c), false) => {
            liftdeck::app::causal::format_text_with(c, &super::report::number_format())
        }
        (JobOutput::Forecast(f), false) => {
            liftdeck::app::forecast::format_text_with(f, &super::report::number_format())
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
