//! Console state and `update(msg) -> effects`. No I/O here: effects are carried out by the
//! event loop (or a replay), and data arrives as snapshots, so every screen can be produced in
//! a test from a state value.

use super::keys::{self, Action};
use crate::domain::{Campaign, Status};
use crate::jobs::{JobEnd, JobKind, JobOutput, JobUpdate};
use crate::stats::ab::{AbReport, Metric};
use crate::store::{ArmSummary, JobRow};
use ratatui::crossterm::event::KeyEvent;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Campaigns,
    Ab,
    Bandit,
    Models,
    Causal,
    Forecast,
    Health,
}

impl Panel {
    pub const ALL: [Panel; 7] = [
        Panel::Campaigns,
        Panel::Ab,
        Panel::Bandit,
        Panel::Models,
        Panel::Causal,
        Panel::Forecast,
        Panel::Health,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Campaigns => "Campaigns",
            Panel::Ab => "Live A/B",
            Panel::Bandit => "Bandit",
            Panel::Models => "Models",
            Panel::Causal => "Causal",
            Panel::Forecast => "Forecast",
            Panel::Health => "Health",
        }
    }
}

/// One campaign row of the snapshot.
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub campaign: Campaign,
    pub arms: Vec<ArmSummary>,
    /// OK, SRM, stale, guardrail, starved: the worst finding in one word.
    pub badge: String,
}

/// Everything the console shows, read from the store off the render thread.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub campaigns: Vec<CampaignRow>,
    /// The A/B report of the selected campaign on the selected metric.
    pub report: Option<AbReport>,
    pub health_lines: Vec<String>,
    /// Ingest rate and last event per campaign.
    pub activity: Vec<String>,
    /// Newest operator actions, newest first.
    pub audit: Vec<String>,
    pub rejects: Vec<String>,
    /// Cumulative conversion rate per arm of the selected campaign over time, for the chart.
    pub series: Vec<ArmSeries>,
    /// The newest recorded job of each kind for the selected campaign.
    pub jobs: Vec<JobRow>,
}

/// A background job as the console shows it.
#[derive(Debug, Clone)]
pub struct JobView {
    pub kind: JobKind,
    pub campaign: String,
    pub state: JobState,
}

#[derive(Debug, Clone)]
pub enum JobState {
    Running { done: f64, stage: String },
    Done(JobOutput),
    Failed(String),
    Cancelled,
}

impl Panel {
    /// The job a panel runs, if it runs one.
    pub fn job(self) -> Option<JobKind> {
        match self {
            Panel::Models => Some(JobKind::Retrain),
            Panel::Causal => Some(JobKind::Causal),
            Panel::Forecast => Some(JobKind::Forecast),
            _ => None,
        }
    }
}

/// One arm's cumulative conversion rate by minute: (minutes since the first bucket, rate,
/// 95% interval low, high).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmSeries {
    pub arm: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// A mutation waiting for `y`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub campaign: String,
    pub to: Status,
}

#[derive(Debug, Clone)]
pub struct App {
    pub panel: Panel,
    pub selected: usize,
    pub metric: Metric,
    /// Fixed-horizon intervals instead of the always-valid default (operators peek).
    pub fixed_horizon: bool,
    pub show_help: bool,
    pub read_only: bool,
    pub pending: Option<Pending>,
    pub status_line: String,
    pub snapshot: Snapshot,
    pub quit: bool,
    pub theme: super::theme::Theme,
    /// The new-campaign form while it is open; it takes every key.
    pub form: Option<super::form::Form>,
    /// The latest job of each kind started in this session.
    pub jobs: Vec<JobView>,
}

/// Inputs to `update`.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// New data from the store.
    Loaded(Box<Snapshot>),
    /// A mutation finished (Ok message or error text).
    Done(Result<String, String>),
    Resize,
    /// Progress or the end of a background job.
    Job(JobUpdate),
}

/// What the loop must do after an update.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Re-read the snapshot (selection or metric changed, or Ctrl-r).
    Reload,
    SetStatus {
        campaign: String,
        to: Status,
    },
    Create(Box<crate::domain::CampaignSpec>),
    StartJob {
        kind: JobKind,
        campaign: String,
    },
    CancelJob(JobKind),
}

impl App {
    pub fn new(read_only: bool) -> App {
        App {
            panel: Panel::Campaigns,
            selected: 0,
            metric: Metric::Conversion,
            fixed_horizon: false,
            show_help: false,
            read_only,
            pending: None,
            status_line: if read_only {
                "read-only session".into()
            } else {
                String::new()
            },
            snapshot: Snapshot::default(),
            quit: false,
            theme: super::theme::Theme::default(),
            form: None,
            jobs: Vec::new(),
        }
    }

    /// The session's job of `kind`, if one was started.
    pub fn job(&self, kind: JobKind) -> Option<&JobView> {
        self.jobs.iter().find(|j| j.kind == kind)
    }

    fn job_running(&self, kind: JobKind) -> bool {
        self.job(kind)
            .is_some_and(|j| matches!(j.state, JobState::Running { .. }))
    }

    fn on_job(&mut self, update: JobUpdate) -> Vec<Effect> {
        match update {
            JobUpdate::Progress { kind, done, stage } => {
                if let Some(j) = self.jobs.iter_mut().find(|j| j.kind == kind) {
                    if matches!(j.state, JobState::Running { .. }) {
                        j.state = JobState::Running { done, stage };
                    }
                }
                vec![]
            }
            JobUpdate::Finished {
                kind,
                campaign,
                end,
            } => {
                self.status_line = match &end {
                    JobEnd::Done(_) => format!("{} of {campaign} finished", kind.as_str()),
                    JobEnd::Failed(e) => {
                        format!("error: {} of {campaign} failed: {e}", kind.as_str())
                    }
                    JobEnd::Cancelled => format!("{} of {campaign} cancelled", kind.as_str()),
                };
                let state = match end {
                    JobEnd::Done(out) => JobState::Done(out),
                    JobEnd::Failed(e) => JobState::Failed(e),
                    JobEnd::Cancelled => JobState::Cancelled,
                };
                self.jobs.retain(|j| j.kind != kind);
                self.jobs.push(JobView {
                    kind,
                    campaign,
                    state,
                });
                // The job recorded its end: refresh so the panels show it.
                vec![Effect::Reload]
            }
        }
    }

    pub fn selected_campaign(&self) -> Option<&CampaignRow> {
        self.snapshot.campaigns.get(self.selected)
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Loaded(s) => {
                self.snapshot = *s;
                if self.selected >= self.snapshot.campaigns.len() {
                    self.selected = self.snapshot.campaigns.len().saturating_sub(1);
                }
                vec![]
            }
            Msg::Done(Ok(text)) => {
                self.status_line = text;
                vec![Effect::Reload]
            }
            Msg::Done(Err(text)) => {
                self.status_line = format!("error: {text}");
                vec![]
            }
            Msg::Resize => vec![],
            Msg::Job(update) => self.on_job(update),
            Msg::Key(key) => self.on_key(&key),
        }
    }

    fn on_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        if let Some(form) = &mut self.form {
            return match form.on_key(key) {
                super::form::FormOutcome::Editing => {
                    if !form.errors.is_empty() {
                        self.status_line =
                            format!("{} problem(s): nothing created", form.errors.len());
                    }
                    vec![]
                }
                super::form::FormOutcome::Cancelled => {
                    self.form = None;
                    self.status_line = "cancelled: nothing created".into();
                    vec![]
                }
                super::form::FormOutcome::Submitted(spec) => {
                    self.form = None;
                    vec![Effect::Create(spec)]
                }
            };
        }
        let Some(binding) = keys::lookup(self.panel, key) else {
            return vec![];
        };
        if self.show_help && binding.action != Action::Quit {
            self.show_help = false;
            return vec![];
        }
        if binding.mutates && self.read_only {
            self.status_line = "read-only session: nothing was changed".into();
            return vec![];
        }
        let nav = |app: &mut App, to: Panel| {
            app.panel = to;
            app.pending = None;
        };
        match binding.action {
            Action::Quit => self.quit = true,
            Action::Help => self.show_help = true,
            Action::Back => {
                self.pending = None;
                if let Some(kind) = self.panel.job().filter(|k| self.job_running(*k)) {
                    self.status_line = format!("cancelling {}…", kind.as_str());
                    return vec![Effect::CancelJob(kind)];
                }
            }
            Action::RunJob => {
                let Some(kind) = self.panel.job() else {
                    return vec![];
                };
                if self.job_running(kind) {
                    self.status_line =
                        format!("{} is already running: Esc cancels it", kind.as_str());
                    return vec![];
                }
                let Some(row) = self.selected_campaign() else {
                    self.status_line = "no campaign selected".into();
                    return vec![];
                };
                let campaign = row.campaign.spec.key.clone();
                self.jobs.retain(|j| j.kind != kind);
                self.jobs.push(JobView {
                    kind,
                    campaign: campaign.clone(),
                    state: JobState::Running {
                        done: 0.0,
                        stage: "starting".into(),
                    },
                });
                self.status_line = format!("{} of {campaign} started: Esc cancels", kind.as_str());
                return vec![Effect::StartJob { kind, campaign }];
            }
            Action::NextPanel | Action::PrevPanel => {
                let i = Panel::ALL
                    .iter()
                    .position(|p| *p == self.panel)
                    .unwrap_or(0);
                let n = Panel::ALL.len();
                let j = if binding.action == Action::NextPanel {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                nav(self, Panel::ALL[j]);
            }
            Action::Up => {
                self.selected = self.selected.saturating_sub(1);
                return vec![Effect::Reload];
            }
            Action::Down => {
                if self.selected + 1 < self.snapshot.campaigns.len() {
                    self.selected += 1;
                }
                return vec![Effect::Reload];
            }
            Action::Open => nav(self, Panel::Ab),
            Action::New => {
                self.form = Some(super::form::Form::new());
                self.status_line = "new campaign: Tab next field, Enter create, Esc cancel".into();
            }
            Action::Start | Action::Pause | Action::Stop => {
                let to = match binding.action {
                    Action::Start => Status::Running,
                    Action::Pause => Status::Paused,
                    _ => Status::Stopped,
                };
                if let Some(row) = self.selected_campaign() {
                    let campaign = row.campaign.spec.key.clone();
                    self.status_line = format!(
                        "{} {campaign}? press y to confirm, Esc to cancel",
                        binding.help
                    );
                    self.pending = Some(Pending { campaign, to });
                }
            }
            Action::Confirm => {
                if let Some(p) = self.pending.take() {
                    return vec![Effect::SetStatus {
                        campaign: p.campaign,
                        to: p.to,
                    }];
                }
            }
            Action::NextMetric => {
                let i = Metric::ALL
                    .iter()
                    .position(|m| *m == self.metric)
                    .unwrap_or(0);
                self.metric = Metric::ALL[(i + 1) % Metric::ALL.len()];
                return vec![Effect::Reload];
            }
            Action::ToggleFixedHorizon => self.fixed_horizon = !self.fixed_horizon,
            Action::Refresh => return vec![Effect::Reload],
        }
        vec![]
    }
}
