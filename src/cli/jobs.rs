//! The console's background jobs from the shell: `train` (retrain the conversion model),
//! `report causal` and `forecast`. They run through the same runner as the console's `r`, `c`
//! and `F` keys, so each run is recorded in the jobs table and `health` sees a failed
//! retrain from cron just as from the console. Progress goes to stderr as a bar.

use super::exit::{bail_usage, CliError};
use super::{write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use liftdeck::app::causal_observational::ObservationalRequest;
use liftdeck::app::train::LearnerChoice;
use liftdeck::app::train_pipeline::{parse_epoch_stage, RetrainOptions};
use liftdeck::app::Env;
use liftdeck::jobs::{self, JobEnd, JobKind, JobOutput, JobSettings, JobUpdate};
use liftdeck::model::ftrl::FtrlParams;
use liftdeck::model::mlp::MlpOptions;
use liftdeck::model::pipeline::Learner;
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
    /// Passes over the training units, 1 to 10,000 (hashed learners stop early).
    #[arg(long, default_value_t = TrainOptions::default().epochs,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    epochs: usize,
    /// Step size: Adam's initial one for dense (it decays linearly to zero), lr and mlp,
    /// SGD's for lr-sgd (default: the learner's own).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Rows per mini-batch (dense, lr, lr-sgd, mlp).
    #[arg(long)]
    batch: Option<usize>,
    /// L2 penalty on the weights (every learner).
    #[arg(long)]
    l2: Option<f64>,
    /// FTRL's L1 strength (ftrl).
    #[arg(long)]
    l1: Option<f64>,
    /// FTRL's per-coordinate rate scale α (ftrl).
    #[arg(long)]
    alpha: Option<f64>,
    /// FTRL's rate smoothing β (ftrl).
    #[arg(long)]
    beta: Option<f64>,
    /// Hidden ReLU units (mlp).
    #[arg(long)]
    hidden: Option<usize>,
    /// Hash buckets as a power of two, 1 to 30 (hashed learners; default 18, 2^18 buckets).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<u32>::new().range(1..=30))]
    bits: Option<u32>,
    /// No user field x arm/offer crosses (hashed learners): the unpersonalised model.
    #[arg(long)]
    no_crosses: bool,
    /// Keep each training negative with this probability in (0, 1]; predictions are
    /// corrected back to the rate before sampling (hashed learners).
    #[arg(long)]
    negative_rate: Option<f64>,
    /// Stop after this many epochs without a better validation log loss (hashed learners).
    #[arg(long)]
    patience: Option<usize>,
    /// Leave out units assigned less than this long before the campaign's newest data
    /// (30s, 15m, 2h): their conversions may not have arrived. Every learner. Default: the
    /// campaign's bandit reward delay, else none (a retrain then only warns).
    #[arg(long, value_parser = super::parse_duration)]
    maturity: Option<u64>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct CausalArgs {
    campaign: String,
    /// Significance level of the intervals and p-values (default: the campaign's, else 0.05).
    /// Not with --covariates, whose intervals are 95%.
    #[arg(long, conflicts_with = "covariates")]
    alpha: Option<f64>,
    /// Limit the segments section (CATE per segment) to this context field.
    #[arg(long)]
    by: Option<String>,
    /// Context fields that drove treatment, comma-separated: estimate the effect with a
    /// propensity fitted from them (required for an observational campaign).
    #[arg(long, value_delimiter = ',')]
    covariates: Vec<String>,
    /// Drop units whose fitted propensity is outside [LO, 1 - LO] (with --covariates).
    #[arg(long, requires = "covariates")]
    trim: Option<f64>,
    /// ate (every unit) or att (the treated units), with --covariates.
    #[arg(long, value_parser = ["ate", "att"], requires = "covariates")]
    estimand: Option<String>,
    /// Outcome per unit: conversion, revenue, profit or cost (default: the campaign's metric,
    /// else conversion), with --covariates.
    #[arg(long, requires = "covariates")]
    metric: Option<String>,
    /// Seed of the refutation checks, with --covariates.
    #[arg(long, default_value_t = 1, requires = "covariates")]
    seed: u64,
    #[command(flatten)]
    out: JsonFlag,
    /// With --dp-epsilon only the randomised per-arm effect is released (see the README).
    #[command(flatten)]
    dp: super::dp::DpFlags,
}

impl CausalArgs {
    pub fn dp_requested(&self) -> bool {
        self.dp.requested()
    }
}

/// `forecast KEY`'s arguments (parsed by `forecast::ForecastCli`).
pub struct ForecastArgs {
    pub(super) campaign: String,
    pub(super) days: f64,
    pub(super) alpha: Option<f64>,
    pub(super) out: JsonFlag,
}

pub fn train(session: &Session, env: &Env, a: TrainArgs) -> Result<ExitCode> {
    let settings = train_settings(&a)?;
    let Some(key) = a.campaign.filter(|_| !a.all) else {
        return train_all(session, env, &settings, a.out.json);
    };
    run(session, env, &settings, JobKind::Retrain, &key, a.out.json)
}

const HASHED: &[&str] = &["lr", "lr-sgd", "ftrl", "mlp"];

/// The job settings the flags ask for: the chosen learner's defaults with only the given
/// flags overriding them. A flag the learner has no use for is a usage error naming it.
fn train_settings(a: &TrainArgs) -> Result<JobSettings> {
    let learner = LearnerChoice::parse(&a.learner).unwrap_or_default();
    let name = learner.name();
    let flags: [(&str, bool, &[&str]); 11] = [
        (
            "--learning-rate",
            a.learning_rate.is_some(),
            &["dense", "lr", "lr-sgd", "mlp"],
        ),
        (
            "--batch",
            a.batch.is_some(),
            &["dense", "lr", "lr-sgd", "mlp"],
        ),
        (
            "--l2",
            a.l2.is_some(),
            &["dense", "lr", "lr-sgd", "ftrl", "mlp"],
        ),
        ("--l1", a.l1.is_some(), &["ftrl"]),
        ("--alpha", a.alpha.is_some(), &["ftrl"]),
        ("--beta", a.beta.is_some(), &["ftrl"]),
        ("--hidden", a.hidden.is_some(), &["mlp"]),
        ("--bits", a.bits.is_some(), HASHED),
        ("--no-crosses", a.no_crosses, HASHED),
        ("--negative-rate", a.negative_rate.is_some(), HASHED),
        ("--patience", a.patience.is_some(), HASHED),
    ];
    if let Some((flag, _, applies)) = flags
        .iter()
        .find(|(_, given, applies)| *given && !applies.contains(&name))
    {
        bail_usage!(
            "{flag} does not apply to the {name} learner (it is for: {})",
            applies.join(", ")
        );
    }
    let positive = |x: Option<f64>| x.is_none_or(|x| x.is_finite() && x > 0.0);
    let not_negative = |x: Option<f64>| x.is_none_or(|x| x.is_finite() && x >= 0.0);
    if !positive(a.learning_rate) || !positive(a.alpha) || !positive(a.beta) {
        bail_usage!("--learning-rate, --alpha and --beta must be positive");
    }
    if !not_negative(a.l1) || !not_negative(a.l2) {
        bail_usage!("--l1 and --l2 must not be negative");
    }
    if a.batch == Some(0) || a.hidden == Some(0) || a.patience == Some(0) {
        bail_usage!("--batch, --hidden and --patience must be at least 1");
    }
    if a.negative_rate.is_some_and(|w| !(w > 0.0 && w <= 1.0)) {
        bail_usage!("--negative-rate must be in (0, 1]: the share of negatives kept");
    }
    let dense = TrainOptions::default();
    let train = TrainOptions {
        epochs: a.epochs,
        learning_rate: a.learning_rate.unwrap_or(dense.learning_rate),
        l2: a.l2.unwrap_or(dense.l2),
        batch: a.batch.unwrap_or(dense.batch),
        ..dense
    };
    let hashed = RetrainOptions {
        learner: learner.pipeline().map(|l| tuned(l, a)),
        bits: a.bits,
        no_crosses: a.no_crosses,
        negative_rate: a.negative_rate,
        patience: a.patience,
        maturity_secs: a.maturity,
    };
    Ok(JobSettings {
        train,
        learner,
        retrain: hashed,
        ..JobSettings::default()
    })
}

/// The pipeline's default learner with the operator's values in place of its own.
fn tuned(learner: Learner, a: &TrainArgs) -> Learner {
    match learner {
        Learner::Logistic {
            optimizer,
            l2,
            learning_rate,
            batch,
        } => Learner::Logistic {
            optimizer,
            l2: a.l2.unwrap_or(l2),
            learning_rate: a.learning_rate.unwrap_or(learning_rate),
            batch: a.batch.unwrap_or(batch),
        },
        Learner::Ftrl(p) => Learner::Ftrl(FtrlParams {
            alpha: a.alpha.unwrap_or(p.alpha),
            beta: a.beta.unwrap_or(p.beta),
            l1: a.l1.unwrap_or(p.l1),
            l2: a.l2.unwrap_or(p.l2),
        }),
        Learner::Mlp(o) => Learner::Mlp(MlpOptions {
            hidden: a.hidden.unwrap_or(o.hidden),
            learning_rate: a.learning_rate.unwrap_or(o.learning_rate),
            l2: a.l2.unwrap_or(o.l2),
            batch: a.batch.unwrap_or(o.batch),
            ..o
        }),
    }
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
    if a.dp.requested() {
        if !a.covariates.is_empty() || a.by.is_some() {
            bail_usage!(
                "--covariates and --by cannot be combined with --dp-epsilon: covariate \
                 adjustment and segments read per-unit contexts whose influence the DP caps do \
                 not bound, so they are not released"
            );
        }
        return super::dp::release(
            session,
            env,
            super::dp::DpAsk {
                kind: liftdeck::app::dp_report::DpReportKind::Causal,
                campaign: &a.campaign,
                metric: None,
                alpha: a.alpha,
            },
            &a.dp,
            a.out,
        );
    }
    if a.trim.is_some_and(|t| !(0.0..0.5).contains(&t)) {
        bail_usage!("--trim must be at least 0 and below 0.5");
    }
    let covariates: Vec<String> = a
        .covariates
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if !a.covariates.is_empty() && covariates.is_empty() {
        bail_usage!(
            "--covariates needs at least one context field, e.g. --covariates age,pre_value"
        );
    }
    let observational = (!covariates.is_empty()).then(|| ObservationalRequest {
        covariates,
        trim: a.trim,
        att: a.estimand.as_deref() == Some("att"),
        metric: a.metric.clone(),
        seed: a.seed,
    });
    let settings = JobSettings {
        alpha: a.alpha,
        causal_by: a.by,
        observational,
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

pub(super) fn run(
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
    // Training, causal reports and forecasts read raw rows: say when some were pruned.
    super::retention::warn_if_pruned(session, campaign)?;
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
    let speed = std::sync::Mutex::new(RowsPerSecond::new());
    let sink = |u: JobUpdate| match u {
        JobUpdate::Progress { done, stage, .. } => {
            bar.set_position((done * 1000.0) as u64);
            let message = match speed.lock() {
                Ok(mut s) => s.message(&stage),
                Err(_) => stage,
            };
            bar.set_message(message);
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
        ..settings.clone()
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
        Some(JobEnd::Refused(e)) => Err(CliError::Usage(format!(
            "{} of {campaign} cannot run here: {e}",
            kind.as_str()
        ))
        .into()),
        Some(JobEnd::Cancelled) | None => {
            anyhow::bail!("{} of {campaign} did not finish", kind.as_str())
        }
    }
}

/// Rows trained per second over the epochs so far, timed from the end of reading (the last
/// progress update that was not an epoch's); the pipeline itself reads no clock.
struct RowsPerSecond {
    since: std::time::Instant,
    rows: u64,
}

impl RowsPerSecond {
    fn new() -> RowsPerSecond {
        RowsPerSecond {
            since: std::time::Instant::now(),
            rows: 0,
        }
    }

    /// The bar's message for a progress stage: an epoch's with its rows/s, others as they are.
    fn message(&mut self, stage: &str) -> String {
        let Some((epoch, max, loss, rows)) = parse_epoch_stage(stage) else {
            *self = RowsPerSecond::new();
            return stage.to_string();
        };
        self.rows += rows;
        let secs = self.since.elapsed().as_secs_f64();
        let rate = if secs > 0.0 {
            liftdeck::format::count((self.rows as f64 / secs).round() as i64)
        } else {
            liftdeck::format::MISSING.to_string()
        };
        format!("epoch {epoch}/{max} · validation loss {loss:.4} · {rate} rows/s")
    }
}

fn format_output(out: &JobOutput, json: bool) -> Result<String> {
    Ok(match (out, json) {
        (JobOutput::Model(m), true) => serde_json::to_string_pretty(m)? + "\n",
        (JobOutput::Causal(c), true) => serde_json::to_string_pretty(c)? + "\n",
        (JobOutput::Forecast(f), true) => serde_json::to_string_pretty(f)? + "\n",
        (JobOutput::PlanForecast(f), true) => serde_json::to_string_pretty(f)? + "\n",
        (JobOutput::PlanForecast(f), false) => liftdeck::app::plan_forecast::format_text(
            f,
            &super::report::number_format(),
            usize::MAX,
        ),
        (JobOutput::PlanBudget(b), true) => serde_json::to_string_pretty(b)? + "\n",
        (JobOutput::PlanBudget(b), false) => {
            liftdeck::app::plan_budget::format_text(b, &super::report::number_format())
        }
        (JobOutput::Uplift(u), true) => serde_json::to_string_pretty(u)? + "\n",
        (JobOutput::Did(d), true) => serde_json::to_string_pretty(d)? + "\n",
        (JobOutput::Did(d), false) => d.format_text(),
        (JobOutput::Uplift(u), false) => liftdeck::app::uplift::format_text(u),
        (JobOutput::Observational(o), true) => serde_json::to_string_pretty(o)? + "\n",
        (JobOutput::Observational(o), false) => {
            liftdeck::app::causal_observational::format_text_for_width(
                o,
                &super::report::number_format(),
                usize::MAX,
            )
        }
        (JobOutput::Model(m), false) => liftdeck::app::train::format_text(m),
        (JobOutput::Causal(c), false) => {
            liftdeck::app::causal::format_text_with(c, &super::report::number_format())
        }
        (JobOutput::Forecast(f), false) => {
            liftdeck::app::forecast::format_text_with(f, &super::report::number_format())
        }
    })
}
