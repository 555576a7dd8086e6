//! The one effect executor: carries out what `update` asked for (create, status changes,
//! reloads, jobs) against a store and answers with messages. The console's data thread and
//! replays both drive it, so a replay exercises the same code as an operator's keys; only how
//! jobs run differs ([`JobRunner`]: a thread per job in the console, inline in a replay).

use super::state::{Effect, Msg};
use crate::app::snapshot::{load_snapshot, Focus};
use crate::app::{self, Env};
use crate::domain::Micros;
use crate::jobs::{JobKind, JobSettings, JobUpdate};
use crate::store::Store;
use std::sync::atomic::AtomicBool;

/// Stale-data threshold for health badges in the console.
pub const STALE_AFTER: Micros = 15 * 60 * 1_000_000;

/// How a job effect is carried out.
pub trait JobRunner {
    /// Starts `kind` on `campaign`; updates arrive as messages (now or later).
    fn start(
        &mut self,
        store: &mut Store,
        env: &Env,
        kind: JobKind,
        campaign: &str,
        settings: &JobSettings,
    ) -> Vec<Msg>;
    fn cancel(&mut self, kind: JobKind);
}

/// Runs a job to its end on the calling thread: replays see the same result every time.
/// (Cancelling is covered by unit tests of the state and of the runner.)
pub struct InlineJobs;

impl JobRunner for InlineJobs {
    fn start(
        &mut self,
        store: &mut Store,
        env: &Env,
        kind: JobKind,
        campaign: &str,
        settings: &JobSettings,
    ) -> Vec<Msg> {
        let updates = std::sync::Mutex::new(Vec::new());
        let sink = |u| {
            if let Ok(mut v) = updates.lock() {
                v.push(u);
            }
        };
        let never = AtomicBool::new(false);
        let result = crate::jobs::run_on(store, env, settings, kind, campaign, &never, &sink);
        let mut updates = updates.into_inner().unwrap_or_default();
        updates.push(JobUpdate::Finished {
            kind,
            campaign: campaign.to_string(),
            end: result.into(),
        });
        updates.into_iter().map(Msg::Job).collect()
    }

    fn cancel(&mut self, _kind: JobKind) {}
}

pub struct Executor {
    pub store: Store,
    pub env: Env,
    pub read_only: bool,
    focus: Focus,
    last_version: i64,
    changed_at: Micros,
}

impl Executor {
    pub fn new(store: Store, env: Env, read_only: bool) -> Executor {
        let changed_at = env.clock.now();
        Executor {
            store,
            env,
            read_only,
            focus: Focus::default(),
            last_version: i64::MIN,
            changed_at,
        }
    }

    /// For an observational campaign, the newest saved observational report's request, so `c`
    /// reruns the analyst's covariates; `None` otherwise (the job then says what to run).
    fn observational_request(
        &self,
        campaign: &str,
    ) -> Option<crate::app::causal_observational::ObservationalRequest> {
        let (c, _) = self.store.campaign(campaign).ok()?;
        if c.spec.kind != crate::domain::CampaignKind::Observational {
            return None;
        }
        crate::app::reports::last_observational_request(&self.store, campaign)
            .ok()
            .flatten()
    }

    /// Starts a job on a plan (its forecast or its budget); a plan belongs to no campaign, so
    /// the job goes by the plan's name.
    fn start_plan_job(
        &mut self,
        jobs: &mut dyn JobRunner,
        kind: JobKind,
        plan: Box<crate::forecast::plan::Plan>,
    ) -> Vec<Msg> {
        let name = plan.name.clone();
        let settings = JobSettings {
            read_only: self.read_only,
            plan: Some(plan),
            ..Default::default()
        };
        jobs.start(&mut self.store, &self.env, kind, &name, &settings)
    }

    /// Carries out one effect for a console focused on `focus`; the answer always ends with
    /// a fresh snapshot when anything may have changed.
    pub fn apply(&mut self, effect: Effect, focus: Focus, jobs: &mut dyn JobRunner) -> Vec<Msg> {
        self.focus = focus;
        let mut out = Vec::new();
        let wrote = match effect {
            Effect::Reload => false,
            Effect::Create(spec) => {
                out.push(Msg::Done(
                    app::create_campaign(&mut self.store, &self.env, &spec)
                        .map(|_| format!("created {} (draft): press s to start it", spec.key))
                        .map_err(|e| e.to_string()),
                ));
                true
            }
            Effect::SetStatus { campaign, to } => {
                out.push(Msg::Done(
                    app::set_status(&mut self.store, &self.env, &campaign, to)
                        .map(|from| format!("{campaign}: {from} -> {to}"))
                        .map_err(|e| e.to_string()),
                ));
                true
            }
            Effect::StartJob {
                kind,
                campaign,
                learner,
            } => {
                // The console's defaults, with the learner the operator chose; an
                // observational campaign's causal report reruns the newest saved one's
                // covariates (the console has no way to type them).
                let observational = match kind {
                    JobKind::Causal => self.observational_request(&campaign),
                    _ => None,
                };
                let settings = JobSettings {
                    read_only: self.read_only,
                    learner,
                    observational,
                    ..Default::default()
                };
                out.extend(jobs.start(&mut self.store, &self.env, kind, &campaign, &settings));
                true
            }
            Effect::ForecastPlan(plan) => {
                out.extend(self.start_plan_job(jobs, JobKind::PlanForecast, plan));
                false
            }
            Effect::BudgetPlan(plan) => {
                out.extend(self.start_plan_job(jobs, JobKind::PlanBudget, plan));
                false
            }
            Effect::CancelJob(kind) => {
                jobs.cancel(kind);
                return out;
            }
        };
        out.push(self.reload(wrote));
        out
    }

    /// A snapshot if another connection committed since the last look (`data_version`), else
    /// nothing: the console calls this on its poll, cheaply.
    pub fn poll(&mut self) -> Option<Msg> {
        let version = self.store.data_version().unwrap_or(i64::MIN + 1);
        (version != self.last_version).then(|| self.reload(true))
    }

    /// Reads a snapshot now; `changed` when the caller knows the data moved (its own write).
    pub fn reload(&mut self, changed: bool) -> Msg {
        let now = self.env.clock.now();
        let version = self.store.data_version().unwrap_or(i64::MIN + 1);
        if changed || version != self.last_version {
            self.changed_at = now;
        }
        self.last_version = version;
        match load_snapshot(&self.store, &self.focus, now, self.changed_at, STALE_AFTER) {
            Ok(s) => Msg::Loaded(Box::new(s)),
            Err(e) => Msg::Done(Err(e.to_string())),
        }
    }
}
