//! The console's background jobs as the App holds them: which run of a panel's job this
//! session started, its progress and end as the runner reports them, and what the job panels
//! show (this session's run beside the jobs table's record). Split from `state.rs`.

use super::jobview::{JobState, JobView, SessionResult};
use super::state::{App, Effect};
use super::text;
use crate::jobs::{JobEnd, JobKind, JobUpdate};

impl App {
    /// The job view of `kind` for the selected campaign.
    pub fn job(&self, kind: JobKind) -> Option<&JobView> {
        let key = self.selected_key.as_deref()?;
        self.jobs
            .iter()
            .find(|j| j.kind == kind && j.campaign == key)
    }

    /// The last recorded run of `kind` for the selected campaign, if the snapshot is about it.
    pub fn stored_job(&self, kind: JobKind) -> Option<&crate::app::snapshot::StoredJob> {
        if self.snapshot.focus != self.selected_key {
            return None;
        }
        self.snapshot.jobs.iter().find(|j| j.kind == kind)
    }

    /// What the panel of `kind` shows: this session's run and the jobs table's record.
    pub fn job_panel(&self, kind: JobKind) -> text::JobPanel<'_> {
        text::JobPanel {
            kind,
            job: self.job(kind),
            stored: self.stored_job(kind),
            read_only: self.read_only,
            numbers: &self.numbers,
        }
    }

    pub(super) fn job_running(&self, kind: JobKind) -> bool {
        self.jobs.iter().any(|j| j.kind == kind && j.is_running())
    }

    pub(super) fn on_job(&mut self, update: JobUpdate) -> Vec<Effect> {
        if let JobUpdate::Finished {
            end: JobEnd::Done(crate::jobs::JobOutput::PlanForecast(f)),
            ..
        } = &update
        {
            self.forecast.latest = Some((**f).clone());
            if let Some(l) = f.ledger {
                self.forecast.ledger = Some(super::plan_form::LedgerScore {
                    coverage_80: l.coverage_80,
                    coverage_95: l.coverage_95,
                    n: l.reviewed,
                });
            }
        }
        let budget_status = match &update {
            JobUpdate::Finished {
                end: JobEnd::Done(crate::jobs::JobOutput::PlanBudget(b)),
                ..
            } => Some(self.budget_done(b)),
            _ => None,
        };
        match update {
            JobUpdate::Progress { kind, done, stage } => {
                if let Some(j) = self
                    .jobs
                    .iter_mut()
                    .find(|j| j.kind == kind && j.is_running())
                {
                    j.state = JobState::Running { done, stage };
                }
                vec![]
            }
            JobUpdate::Finished {
                kind,
                campaign,
                end,
            } => {
                self.status_line = match &end {
                    JobEnd::Done(_) => budget_status
                        .unwrap_or_else(|| format!("{} of {campaign} finished", kind.as_str())),
                    JobEnd::Failed(e) | JobEnd::Refused(e) => {
                        format!("error: {} of {campaign} failed: {e}", kind.as_str())
                    }
                    JobEnd::Cancelled => format!(
                        "{} of {campaign} cancelled: the previous result stays",
                        kind.as_str()
                    ),
                };
                let now = self.now;
                let view = self.job_view(kind, &campaign);
                match end {
                    JobEnd::Done(output) => {
                        view.state = JobState::Done;
                        view.result = Some(SessionResult { output, at: now });
                    }
                    JobEnd::Failed(e) | JobEnd::Refused(e) => view.state = JobState::Failed(e),
                    JobEnd::Cancelled => view.state = JobState::Cancelled,
                }
                // The job recorded its end: refresh so the panels show it.
                vec![Effect::Reload]
            }
        }
    }

    /// This session's view of `kind` on `campaign`, created as just started.
    pub(super) fn job_view(&mut self, kind: JobKind, campaign: &str) -> &mut JobView {
        let i = match self
            .jobs
            .iter()
            .position(|j| j.kind == kind && j.campaign == campaign)
        {
            Some(i) => i,
            None => {
                self.jobs.push(JobView {
                    kind,
                    campaign: campaign.to_string(),
                    state: JobState::Running {
                        done: 0.0,
                        stage: "starting".into(),
                    },
                    result: None,
                });
                self.jobs.len() - 1
            }
        };
        &mut self.jobs[i]
    }

    pub(super) fn run_job(&mut self) -> Vec<Effect> {
        let Some(kind) = self.panel.job() else {
            return vec![];
        };
        self.run_job_of(kind)
    }

    /// Starts `kind` for the selected campaign (the Causal panel runs two: `c` and `u`).
    pub(super) fn run_job_of(&mut self, kind: JobKind) -> Vec<Effect> {
        if self.job_running(kind) {
            self.status_line = format!("{} is already running: Esc cancels it", kind.as_str());
            return vec![];
        }
        let Some(campaign) = self.selected_key.clone() else {
            self.status_line = "no campaign selected".into();
            return vec![];
        };
        self.job_view(kind, &campaign).state = JobState::Running {
            done: 0.0,
            stage: "starting".into(),
        };
        self.status_line = if kind == JobKind::Retrain {
            format!(
                "retrain of {campaign} with {} started: Esc cancels",
                self.learner.name()
            )
        } else {
            format!("{} of {campaign} started: Esc cancels", kind.as_str())
        };
        vec![Effect::StartJob {
            kind,
            campaign,
            learner: self.learner,
        }]
    }
}
