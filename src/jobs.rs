//! Background jobs the console starts: retraining the conversion model (`r`), the causal
//! report (`c`) and the forecast (`F`). A job runs on a blocking thread with its own database
//! connection, reports progress and its result as messages, and stops at its next progress
//! point once its cancel flag is set. Each run is recorded in the `jobs` table (running, then
//! done / failed / cancelled), which is what `health` reads to flag a failed training run.
//! A row's `result` is what that run produced, so only a done row has one: the result in
//! force is the newest done row's (`Store::latest_done_jobs`), shown beside how the newest
//! run ended.

use crate::app::causal::{causal_report_by, CausalReport};
use crate::app::causal_observational::{
    observational_report, ObservationalCausalReport, ObservationalRequest,
};
use crate::app::forecast::{forecast, Forecast};
use crate::app::train::{LearnerChoice, ModelSummary};
use crate::app::train_pipeline::{retrain_hashed_with, RetrainOptions};
use crate::app::{AppError, Env, Progress};
use crate::model::TrainOptions;
use crate::store::Store;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::app::snapshot::{JobKind, JobStatus};

/// What a finished job produced.
#[derive(Debug, Clone)]
pub enum JobOutput {
    Model(Box<ModelSummary>),
    Causal(Box<CausalReport>),
    Forecast(Box<Forecast>),
    /// A planned campaign's forecast (the Forecast panel's `F`).
    PlanForecast(Box<crate::forecast::projection::PlanForecast>),
    /// A plan's budget allocation and cost curve (the Forecast panel's `B`).
    PlanBudget(Box<crate::app::plan_budget::PlanBudget>),
    Uplift(Box<crate::app::uplift::UpliftReport>),
    Did(Box<crate::app::did::DidCommandReport>),
    /// `report causal --covariates`: a fitted propensity instead of the logged one.
    Observational(Box<ObservationalCausalReport>),
}

impl JobOutput {
    /// The kind a saved report of this output is listed under: a causal job's result is an
    /// observational report when it ran with covariates.
    pub fn report_kind(&self) -> &'static str {
        match self {
            JobOutput::Model(_) => "retrain",
            JobOutput::Causal(_) => "causal",
            JobOutput::Observational(_) => "observational",
            JobOutput::Forecast(_) => "forecast",
            JobOutput::PlanForecast(_) => "forecast_plan",
            JobOutput::PlanBudget(_) => "forecast_budget",
            JobOutput::Uplift(_) => "uplift",
            JobOutput::Did(_) => "did",
        }
    }

    /// The JSON stored in the job's `result` column.
    pub fn to_json(&self) -> Option<String> {
        match self {
            JobOutput::Model(m) => serde_json::to_string(m),
            JobOutput::Causal(c) => serde_json::to_string(c),
            JobOutput::Forecast(f) => serde_json::to_string(f),
            JobOutput::PlanForecast(f) => serde_json::to_string(f),
            JobOutput::PlanBudget(b) => serde_json::to_string(b),
            JobOutput::Uplift(u) => serde_json::to_string(u),
            JobOutput::Did(d) => serde_json::to_string(d),
            JobOutput::Observational(o) => serde_json::to_string(o),
        }
        .ok()
    }

    /// A stored result read back, so a restarted console shows the last one; `None` when the
    /// JSON is not a result of `kind` (written by another version).
    pub fn from_json(kind: JobKind, json: &str) -> Option<JobOutput> {
        Some(match kind {
            JobKind::Retrain => JobOutput::Model(Box::new(serde_json::from_str(json).ok()?)),
            // A causal run stored either report; the observational one has fields the other
            // lacks, so it is tried first.
            JobKind::Causal => match serde_json::from_str(json) {
                Ok(o) => JobOutput::Observational(Box::new(o)),
                Err(_) => JobOutput::Causal(Box::new(serde_json::from_str(json).ok()?)),
            },
            JobKind::Forecast => JobOutput::Forecast(Box::new(serde_json::from_str(json).ok()?)),
            JobKind::PlanForecast => {
                JobOutput::PlanForecast(Box::new(serde_json::from_str(json).ok()?))
            }
            JobKind::PlanBudget => {
                JobOutput::PlanBudget(Box::new(serde_json::from_str(json).ok()?))
            }
            JobKind::Uplift => JobOutput::Uplift(Box::new(serde_json::from_str(json).ok()?)),
            JobKind::Did => JobOutput::Did(Box::new(serde_json::from_str(json).ok()?)),
        })
    }
}

/// How a job ended.
#[derive(Debug, Clone)]
pub enum JobEnd {
    Done(JobOutput),
    Failed(String),
    /// It cannot run on this database at all (a raw-row read on a warehouse database).
    Refused(String),
    Cancelled,
}

impl From<crate::app::Result<JobOutput>> for JobEnd {
    fn from(result: crate::app::Result<JobOutput>) -> JobEnd {
        match result {
            Ok(out) => JobEnd::Done(out),
            Err(AppError::Cancelled) => JobEnd::Cancelled,
            Err(e @ AppError::Store(crate::store::StoreError::NotOnWarehouse(_))) => {
                JobEnd::Refused(e.to_string())
            }
            Err(e) => JobEnd::Failed(e.to_string()),
        }
    }
}

/// Messages from a running job to the console.
#[derive(Debug, Clone)]
pub enum JobUpdate {
    Progress {
        kind: JobKind,
        done: f64,
        stage: String,
    },
    Finished {
        kind: JobKind,
        campaign: String,
        end: JobEnd,
    },
}

/// What a job runs with; the console uses the defaults, the CLI takes them from flags.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// A read-only session: the job may not write, not even its own record.
    pub read_only: bool,
    pub train: TrainOptions,
    /// The retrain's learner (default: dense).
    pub learner: LearnerChoice,
    /// The operator's overrides of the retrain's defaults (`liftdeck train --bits ...
    /// --maturity ...`).
    pub retrain: RetrainOptions,
    pub forecast_days: f64,
    /// Significance level; `None` takes the campaign's (through `app::report::options_for`).
    pub alpha: Option<f64>,
    /// The uplift report's learner, features and treated arm (`report uplift` flags).
    pub uplift: crate::app::uplift::UpliftOptions,
    /// `report did`: the launch time, period, cluster and metric (no defaults: a DiD needs
    /// to be told when the campaign started).
    pub did: Option<crate::app::did::DidRequest>,
    /// `report causal --by FIELD`: the segments section for that context field only.
    pub causal_by: Option<String>,
    /// `report causal --covariates ...`: the causal job fits the propensity from these.
    pub observational: Option<ObservationalRequest>,
    /// The plan the plan forecast (`JobKind::PlanForecast`) forecasts.
    pub plan: Option<Box<crate::forecast::plan::Plan>>,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            read_only: false,
            train: TrainOptions::default(),
            learner: LearnerChoice::Dense,
            retrain: RetrainOptions::default(),
            forecast_days: 30.0,
            alpha: None,
            uplift: Default::default(),
            did: None,
            causal_by: None,
            observational: None,
            plan: None,
        }
    }
}

struct Reporter<'a> {
    kind: JobKind,
    cancel: &'a AtomicBool,
    sink: &'a (dyn Fn(JobUpdate) + Sync),
}

impl Progress for Reporter<'_> {
    fn update(&self, done: f64, stage: &str) -> crate::app::Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(AppError::Cancelled);
        }
        (self.sink)(JobUpdate::Progress {
            kind: self.kind,
            done: done.clamp(0.0, 1.0),
            stage: stage.to_string(),
        });
        Ok(())
    }
}

/// Runs one job to its end on the calling thread and sends its updates to `sink`; the last
/// update is always `Finished`. Blocking: call it from a worker thread, never the UI thread.
pub fn run(
    db: &Path,
    env: &Env,
    settings: &JobSettings,
    kind: JobKind,
    campaign: &str,
    cancel: &AtomicBool,
    sink: &(dyn Fn(JobUpdate) + Sync),
) {
    let opened = if settings.read_only {
        Store::open_read_only(db)
    } else {
        Store::open_existing(db)
    };
    let end = JobEnd::from(
        opened
            .map_err(AppError::from)
            .and_then(|mut store| run_on(&mut store, env, settings, kind, campaign, cancel, sink)),
    );
    sink(JobUpdate::Finished {
        kind,
        campaign: campaign.to_string(),
        end,
    });
}

/// The job on an open store (replays pass their in-memory one); `Err` is how it ended badly.
pub fn run_on(
    store: &mut Store,
    env: &Env,
    settings: &JobSettings,
    kind: JobKind,
    campaign: &str,
    cancel: &AtomicBool,
    sink: &(dyn Fn(JobUpdate) + Sync),
) -> crate::app::Result<JobOutput> {
    let read_only = settings.read_only;
    if read_only && kind.mutates() {
        return Err(AppError::Invalid(
            "read-only session: nothing was changed".into(),
        ));
    }
    let progress = Reporter { kind, cancel, sink };
    // A read-only session cannot record its run; the result still reaches the screen. A plan
    // forecast belongs to no stored campaign and only reads, so it keeps no job record.
    let job_id = if read_only || matches!(kind, JobKind::PlanForecast | JobKind::PlanBudget) {
        None
    } else {
        Some(store.start_job(kind.as_str(), campaign, &env.actor, env.clock.now())?)
    };
    let result = match kind {
        JobKind::Retrain if settings.learner != LearnerChoice::Dense => retrain_hashed_with(
            store,
            env,
            campaign,
            job_id,
            &settings.train,
            settings.learner,
            &settings.retrain,
            false,
            &progress,
        )
        .map(|s| JobOutput::Model(Box::new(s))),
        JobKind::Retrain => crate::app::train::retrain_dense_with(
            store,
            env,
            campaign,
            job_id,
            &settings.train,
            settings.retrain.maturity_secs,
            false,
            &progress,
        )
        .map(|s| JobOutput::Model(Box::new(s))),
        JobKind::Causal => match &settings.observational {
            Some(request) => observational_report(store, campaign, request, &progress)
                .map(|r| JobOutput::Observational(Box::new(r))),
            None => causal_report_by(
                store,
                campaign,
                settings.alpha,
                settings.causal_by.as_deref(),
                &progress,
            )
            .map(|r| JobOutput::Causal(Box::new(r))),
        },
        JobKind::Forecast => forecast(
            store,
            campaign,
            settings.forecast_days,
            settings.alpha,
            &progress,
        )
        .map(|f| JobOutput::Forecast(Box::new(f))),
        JobKind::PlanForecast => match &settings.plan {
            Some(plan) => crate::app::plan_forecast::forecast_plan(store, plan, &progress)
                .map(|f| JobOutput::PlanForecast(Box::new(f))),
            None => Err(AppError::Invalid(
                "a plan forecast needs a plan: the Forecast panel's e, or liftdeck forecast \
                 plan PLAN.json"
                    .into(),
            )),
        },
        JobKind::PlanBudget => match &settings.plan {
            Some(plan) => crate::app::plan_budget::budget_for_console(store, plan, &progress)
                .map(|b| JobOutput::PlanBudget(Box::new(b))),
            None => Err(AppError::Invalid(
                "a plan budget needs a plan: the Forecast panel's e, or liftdeck forecast \
                 budget PLAN.json"
                    .into(),
            )),
        },
        JobKind::Did => match &settings.did {
            Some(request) if request.campaign == campaign => {
                progress.update(0.0, "building the unit x period panel")?;
                crate::app::did::did_report(store, request).map(|d| JobOutput::Did(Box::new(d)))
            }
            _ => Err(AppError::Invalid(
                "a difference-in-differences report needs its launch time and period: \
                 liftdeck report did KEY --post-start TS --period week"
                    .into(),
            )),
        },
        JobKind::Uplift => {
            let opts = crate::app::uplift::UpliftOptions {
                alpha: settings.alpha.or(settings.uplift.alpha),
                ..settings.uplift.clone()
            };
            crate::app::uplift::uplift_report(store, campaign, &opts, &progress)
                .map(|u| JobOutput::Uplift(Box::new(u)))
        }
    };
    if let (Some(id), Ok(out)) = (job_id, &result) {
        save_report(store, env, settings, kind, campaign, id, out)?;
    }
    if let Some(id) = job_id {
        let now = env.clock.now();
        match &result {
            Ok(out) => store.finish_job(
                id,
                JobStatus::Done.as_str(),
                now,
                out.to_json().as_deref(),
                None,
            )?,
            // A run that did not finish produced nothing: its row records how it ended, and
            // the previous done row still holds the result in force.
            Err(AppError::Cancelled) => {
                store.finish_job(id, JobStatus::Cancelled.as_str(), now, None, None)?
            }
            Err(e) => {
                let error = e.to_string();
                store.finish_job(id, JobStatus::Failed.as_str(), now, None, Some(&error))?
            }
        }
    }
    result
}

/// The options a report ran with, as saved beside it.
fn report_parameters(kind: JobKind, settings: &JobSettings) -> serde_json::Value {
    match kind {
        JobKind::Causal => match &settings.observational {
            Some(request) => serde_json::json!(request),
            None => serde_json::json!({ "alpha": settings.alpha, "by": settings.causal_by }),
        },
        JobKind::Did => match &settings.did {
            Some(d) => serde_json::json!({
                "post_start": crate::clock::format_rfc3339(d.post_start),
                "period": d.period.as_str(),
                "cluster": d.cluster.as_deref().unwrap_or("unit"),
                "metric": d.metric.map(|m| m.as_str()),
                "alpha": d.alpha,
            }),
            None => serde_json::json!({}),
        },
        JobKind::Uplift => serde_json::json!({
            "alpha": settings.alpha.or(settings.uplift.alpha),
            "learner": settings.uplift.learner.map(|l| l.as_str()),
            "features": settings.uplift.features,
            "arm": settings.uplift.arm,
        }),
        _ => serde_json::json!({}),
    }
}

/// Keeps a finished report (causal, DiD, uplift) in the saved reports; other jobs keep only
/// their job record. A read-only session has no job id and saves nothing.
fn save_report(
    store: &mut Store,
    env: &Env,
    settings: &JobSettings,
    kind: JobKind,
    campaign: &str,
    job_id: i64,
    out: &JobOutput,
) -> crate::app::Result<()> {
    if !kind.is_report() {
        return Ok(());
    }
    let Some(result) = out.to_json() else {
        return Ok(());
    };
    crate::app::reports::save(
        store,
        campaign,
        out.report_kind(),
        env.clock.now(),
        &env.actor,
        Some(job_id),
        &report_parameters(kind, settings),
        None,
        &result,
    )?;
    Ok(())
}
