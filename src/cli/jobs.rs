//! The console's background jobs from the shell: `train` (retrain the conversion model),
//! `report causal` and `forecast`. They run through the same runner as the console's `r`, `c`
//! and `F` keys, so each run is recorded in the jobs table and `health` sees a failed
//! retrain from cron just as from the console. Progress goes to stderr as a bar.

use super::exit::{bail_usage, CliError};
use super::{write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use liftdeck::app::train::LearnerChoice;
use liftdeck::app::Env;
use liftdeck::jobs::{self, JobEnd, JobKind, JobOutput, JobSettings, JobUpdate};
use liftdeck::model::TrainOptions;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

#[derive(Args)]
pub struct TrainArgs {
    /// The campaign to retrain (or --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    campaign: Option<String>,
    /// Retrain every running campaign, one after another.
    #[arg(long)]
    all: bool,
    /// dense (learned one-hot encoding, the default), lr (Adam), lr-sgd, ftrl or mlp (hashed
    /// personalised features).
    #[arg(long, default_value = "dense",
          value_parser = ["dense", "lr", "lr-sgd", "ftrl", "mlp"])]
    learner: String,
    /// Passes over the training units, 1 to 10,000.
    #[arg(long, default_value_t = TrainOptions::default().epochs,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    epochs: usize,
    /// Adam's initial step size (it decays linearly to zero); the dense learner only.
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f64,
    /// L2 penalty on the weights; the dense learner only.
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
        learner: LearnerChoice::parse(&a.learner).unwrap_or_default(),
        ..JobSettings::default()
    };
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if a.epochs == 0 || !positive(a.learning_rate) || a.l2.is_nan() || a.l2 < 0.0 {
        bail_usage!("--epochs must be at least 1, --learning-rate positive, --l2 not negative");
    }
    let Some(key) = a.campaign.filter(|_| !a.all) else {
        return train_all(session, env, &settings, a.out.json);
    };
    run(session, env, &settings, JobKind::Retrain, &key, a.out.json)
}

/// `train --all`: every running campaign in turn. One that cannot be trained (too few
/// conversions) is reported on stderr and the others still train; the exit code then says
/// the data could not support all of them (65).
fn train_all(session: &Session, env: &Env, settings: &JobSettings, json: bool) -> Result<ExitCode> {
    let keys: Vec<String> = session
        .open_to_read()?
        .campaigns()?
        .into_iter()
        .filter(|c| c.status == liftdeck::domain::Status::Running)
        .map(|c| c.spec.key)
        .collect();
    let (mut outs, mut failed) = (Vec::new(), Vec::new());
    for key in &keys {
        match run_job(session, env, settings, JobKind::Retrain, key) {
            Ok(out) => outs.push(out),
            Err(e) => {
                eprintln!("{e}");
                failed.push(key.clone());
            }
        }
    }
    let text = if json {
        let models: Vec<_> = outs
            .iter()
            .filter_map(|o| match o {
                JobOutput::Model(m) => Some(m),
                _ => None,
            })
            .collect();
        serde_json::to_string_pretty(&models)? + "\n"
    } else {
        outs.iter()
            .map(|o| format_output(o, false))
            .collect::<Result<String>>()?
    };
    write_stdout(&text)?;
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::Data(format!("could not train: {}", failed.join(", "))).into())
    }
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
    let out = run_job(session, env, settings, kind, campaign)?;
    write_stdout(&format_output(&out, json)?)?;
    Ok(ExitCode::SUCCESS)
}

fn run_job(
    session: &Session,
    env: &Env,
    settings: &JobSettings,
    kind: JobKind,
    campaign: &str,
) -> Result<JobOutput> {
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
    match end {
        Some(JobEnd::Done(out)) => Ok(out),
        // What is left after the checks above is what the data could not support.
        Some(JobEnd::Failed(e)) => {
            Err(CliError::Data(format!("{} of {campaign} failed: {e}", kind.as_str())).into())
        }
        Some(JobEnd::Cancelled) | None => {
            anyhow::bail!("{} of {campaign} did not finish", kind.as_str())
        }
    }
}

fn format_output(out: &JobOutput, json: bool) -> Result<String> {
    Ok(match (out, json) {
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
    })
}
