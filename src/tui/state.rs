//! Console state and `update(msg) -> effects`. No I/O here: effects are carried out by the
//! effect executor (`effects.rs`, shared by the console and replays), and data arrives as
//! snapshots, so every screen can be produced in a test from a state value.

use super::form::{Form, FormOutcome};
use super::jobview::JobView;
use super::keys::{self, Action};
use super::list::ListView;
use super::panel::Panel;
use super::text;
use crate::app::snapshot::{CampaignRow, Focus, Snapshot};
use crate::app::train::LearnerChoice;
use crate::domain::{Micros, Status};
use crate::format::NumberFormat;
use crate::jobs::{JobKind, JobUpdate};
use crate::stats::ab::Metric;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// The Bandit panel's chart beside the weights when the terminal holds only two (`v`
/// switches; a wide terminal shows all three).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BanditChart {
    #[default]
    PBest,
    Reward,
}

/// A status change waiting for `y`, bound to the campaign it names.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub campaign: String,
    pub to: Status,
}

#[derive(Debug, Clone)]
pub struct App {
    pub panel: Panel,
    /// Index into the visible (filtered, sorted) list.
    pub selected: usize,
    /// The selected campaign's key: the selection follows the campaign, not the row.
    pub selected_key: Option<String>,
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
    pub form: Option<Form>,
    /// Job panels: this session's runs (the jobs table's come with the snapshot).
    pub jobs: Vec<JobView>,
    /// How numbers are shown (the currency symbol of `LIFTDECK_CURRENCY`, as in the CLI).
    pub numbers: NumberFormat,
    pub list: ListView,
    /// First line shown on a scrolling text panel; reset when the panel changes.
    pub scroll: usize,
    /// The console's clock, moved by ticks: badges and "updated N s ago" are judged on it.
    pub now: Micros,
    /// Terminal size, for paging and scroll bounds.
    pub size: (u16, u16),
    /// When the live demo's simulated traffic stops (`demo --duration`).
    pub demo_until: Option<Micros>,
    pub bandit_chart: BanditChart,
    /// The learner the Models panel retrains with: the last one chosen this session.
    pub learner: LearnerChoice,
    /// The learner choice while it is open (`r` on Models): the highlighted row.
    pub learner_pick: Option<usize>,
    /// The saved report the Causal panel shows in place of the job's result (`[`/`]`), as an
    /// index into the snapshot's newest-first list; `None` shows the result in force.
    pub saved_cursor: Option<usize>,
    /// The Health panel's audit log filters (`c` campaign, `a` action); `None` shows all.
    pub audit_filter: crate::store::AuditFilter,
    /// Which of the Causal panel's jobs it shows: the causal report (`c`) or uplift (`u`),
    /// the one last started.
    pub causal_job: JobKind,
    /// The Forecast panel's plan form, results, pinned plan A, cost curve and ledger score.
    pub forecast: super::plan_form::ForecastState,
}

/// Inputs to `update`.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// New data from the store.
    Loaded(Box<Snapshot>),
    /// A mutation finished (Ok message or error text).
    Done(Result<String, String>),
    Resize(u16, u16),
    /// Progress or the end of a background job.
    Job(JobUpdate),
    /// The clock moved (once a second in the console): badges are re-judged, nothing is read.
    Tick(Micros),
}

/// What the executor must do after an update.
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
        /// The retrain's learner (the other jobs ignore it).
        learner: LearnerChoice,
    },
    CancelJob(JobKind),
    /// The Forecast panel's `F`: forecast this plan in the background.
    ForecastPlan(Box<crate::forecast::plan::Plan>),
    /// The Forecast panel's `B`: solve this plan's budget in the background.
    BudgetPlan(Box<crate::forecast::plan::Plan>),
}

impl App {
    pub fn new(read_only: bool) -> App {
        App {
            panel: Panel::Campaigns,
            selected: 0,
            selected_key: None,
            metric: Metric::Conversion,
            fixed_horizon: false,
            show_help: false,
            read_only,
            pending: None,
            status_line: if read_only {
                "read-only session: nothing can be changed".into()
            } else {
                String::new()
            },
            snapshot: Snapshot::default(),
            quit: false,
            theme: super::theme::Theme::default(),
            form: None,
            jobs: Vec::new(),
            numbers: NumberFormat::default(),
            list: ListView::default(),
            scroll: 0,
            now: 0,
            size: (80, 24),
            demo_until: None,
            bandit_chart: BanditChart::default(),
            learner: LearnerChoice::default(),
            learner_pick: None,
            saved_cursor: None,
            audit_filter: crate::store::AuditFilter::default(),
            causal_job: JobKind::Causal,
            forecast: Default::default(),
        }
    }

    /// What the executor reads details for.
    pub fn focus(&self) -> Focus {
        Focus {
            campaign: self.selected_key.clone(),
            metric: self.metric,
        }
    }

    /// Indices into `snapshot.campaigns` in display order.
    pub fn visible(&self) -> Vec<usize> {
        self.list.visible(&self.snapshot, self.now)
    }

    pub fn selected_campaign(&self) -> Option<&CampaignRow> {
        let key = self.selected_key.as_deref()?;
        self.snapshot.row(key)
    }

    /// Puts the selection on visible row `i` (clamped); a move cancels a pending prompt.
    /// Returns a reload when the selected campaign changed.
    fn select(&mut self, i: usize) -> Vec<Effect> {
        let visible = self.visible();
        self.selected = i.min(visible.len().saturating_sub(1));
        let key = visible
            .get(self.selected)
            .map(|&r| self.snapshot.campaigns[r].campaign.spec.key.clone());
        if key == self.selected_key {
            return vec![];
        }
        self.selected_key = key;
        self.saved_cursor = None;
        if self.pending.take().is_some() {
            self.status_line = "prompt cancelled: the selection moved; nothing changed".into();
        }
        vec![Effect::Reload]
    }

    /// After the list changed (data, filter, sort): the selection stays on its campaign if it
    /// is still listed, else on the same row.
    fn reselect(&mut self) -> Vec<Effect> {
        let visible = self.visible();
        let at = self.selected_key.as_deref().and_then(|k| {
            visible
                .iter()
                .position(|&r| self.snapshot.campaigns[r].campaign.spec.key == k)
        });
        self.select(at.unwrap_or(self.selected))
    }

    /// Rows of the campaign list that fit on screen (a page for PgUp/PgDn).
    fn page(&self) -> usize {
        text::text_rows(self.size.1).saturating_sub(1).max(1)
    }

    /// How far the current text panel can scroll.
    fn scroll_limit(&self) -> usize {
        let width = self.size.0.saturating_sub(2) as usize;
        let mut rows = text::text_rows(self.size.1);
        if self.panel == Panel::Causal && super::view_causal::chart_drawn(self, rows as u16 + 2) {
            rows = rows.saturating_sub(super::view_causal::CHART_ROWS as usize);
        }
        let total = match self.panel {
            Panel::Health => {
                text::health_lines(&self.snapshot, &self.audit_filter, &self.theme, width).len()
            }
            Panel::Models => super::view_models::lines(self, width).len(),
            Panel::Causal => super::saved_reports::causal_lines(self, width).len(),
            Panel::Forecast => super::view_forecast::lines(self, width).len(),
            p => match p.job() {
                Some(kind) => text::job_lines(&self.job_panel(kind), &self.theme, width).len(),
                None => 0,
            },
        };
        text::max_scroll(total, rows)
    }

    /// A refresh cancels a prompt whose campaign is gone or can no longer make the move.
    fn check_pending(&mut self) {
        let Some(p) = &self.pending else {
            return;
        };
        let why = match self.snapshot.row(&p.campaign) {
            None => Some(format!("{} is no longer listed", p.campaign)),
            Some(r) if !r.campaign.status.can_move_to(p.to) => {
                Some(format!("{} is now {}", p.campaign, r.campaign.status))
            }
            Some(_) => None,
        };
        if let Some(why) = why {
            self.pending = None;
            self.status_line = format!("prompt cancelled: {why}; nothing changed");
        }
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Effect> {
        match msg {
            Msg::Loaded(s) => {
                self.snapshot = *s;
                self.now = self.now.max(self.snapshot.read_at);
                self.check_pending();
                let effects = self.reselect();
                // The details belong to another campaign (the first snapshot focuses the first
                // one): read the selected one's. With nothing selected (a filter that matches
                // nothing) there is nothing to read, and asking again would never settle.
                if self.selected_key.is_some() && self.snapshot.focus != self.selected_key {
                    return vec![Effect::Reload];
                }
                effects
            }
            Msg::Done(Ok(text)) => {
                self.status_line = text;
                vec![Effect::Reload]
            }
            Msg::Done(Err(text)) => {
                self.status_line = format!("error: {text}");
                vec![]
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                vec![]
            }
            Msg::Tick(now) => {
                self.now = self.now.max(now);
                vec![]
            }
            Msg::Job(update) => self.on_job(update),
            Msg::Key(key) => self.on_key(&key),
        }
    }

    fn on_form_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let Some(form) = &mut self.form else {
            return vec![];
        };
        match form.on_key(key) {
            FormOutcome::Editing => {
                if !form.errors.is_empty() {
                    self.status_line = format!("{} problem(s): nothing created", form.errors.len());
                }
                vec![]
            }
            FormOutcome::Cancelled => {
                self.form = None;
                self.status_line = "cancelled: nothing created".into();
                vec![]
            }
            FormOutcome::Submitted(spec) => {
                self.form = None;
                vec![Effect::Create(spec)]
            }
        }
    }

    /// Keys while `/` is typing a filter: characters edit it, Enter keeps it, Esc clears it.
    fn on_filter_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Enter => self.list.editing = false,
            KeyCode::Esc => {
                self.list.editing = false;
                self.list.filter.clear();
            }
            KeyCode::Backspace => {
                self.list.filter.pop();
            }
            KeyCode::Char(c) => self.list.filter.push(c),
            _ => return vec![],
        }
        self.status_line = if self.list.editing {
            format!("filter: {}_ (Enter keeps, Esc clears)", self.list.filter)
        } else if self.list.filter.is_empty() {
            String::new()
        } else {
            format!("filtered by `{}`: / edits, Esc clears", self.list.filter)
        };
        self.reselect()
    }

    fn on_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        if keys::is_interrupt(key) {
            self.quit = true;
            return vec![];
        }
        if self.form.is_some() {
            return self.on_form_key(key);
        }
        if self.learner_pick.is_some() {
            return self.on_learner_pick_key(key);
        }
        if self.forecast.editing {
            return self.on_plan_form_key(key);
        }
        if self.show_help {
            // Any key closes help and does nothing else (`q` included).
            self.show_help = false;
            return vec![];
        }
        if self.list.editing && self.panel == Panel::Campaigns {
            return self.on_filter_key(key);
        }
        let Some(binding) = keys::lookup(self.panel, key) else {
            return vec![];
        };
        if binding.mutates && self.read_only {
            self.status_line = "read-only session: nothing was changed".into();
            return vec![];
        }
        let text_panel = self.panel != Panel::Campaigns;
        match binding.action {
            Action::Quit => self.quit = true,
            Action::Help => self.show_help = true,
            Action::Back => return self.back(),
            Action::RunJob
                if self.panel == Panel::Models && !self.job_running(JobKind::Retrain) =>
            {
                self.open_learner_pick()
            }
            Action::RunJob => {
                // The new run's result is what the panel shows, not an older saved report.
                self.saved_cursor = None;
                if self.panel == Panel::Causal {
                    self.causal_job = JobKind::Causal;
                }
                if self.panel == Panel::Forecast {
                    self.forecast.arms_first = true;
                }
                return self.run_job();
            }
            Action::RunUplift => {
                self.saved_cursor = None;
                self.causal_job = JobKind::Uplift;
                return self.run_job_of(JobKind::Uplift);
            }
            Action::EditPlan => self.open_plan_form(),
            Action::ForecastPlan => return self.forecast_plan(),
            Action::BudgetPlan => return self.budget_plan(),
            Action::PinPlan => self.status_line = self.forecast.pin(),
            Action::OlderReport => self.older_report(),
            Action::NewerReport => self.newer_report(),
            Action::NextPanel | Action::PrevPanel => {
                let step = if binding.action == Action::NextPanel {
                    1
                } else {
                    -1
                };
                self.panel = self.panel.step(step);
                self.scroll = 0;
                if self.pending.take().is_some() {
                    self.status_line = "prompt cancelled: nothing changed".into();
                }
            }
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
                if text_panel =>
            {
                let page = text::text_rows(self.size.1).saturating_sub(1).max(1);
                let limit = self.scroll_limit();
                let s = self.scroll.min(limit);
                self.scroll = match binding.action {
                    Action::Up => s.saturating_sub(1),
                    Action::Down => s + 1,
                    Action::PageUp => s.saturating_sub(page),
                    Action::PageDown => s + page,
                    Action::Top => 0,
                    _ => limit,
                }
                .min(limit);
            }
            Action::Up => return self.select(self.selected.saturating_sub(1)),
            Action::Down => return self.select(self.selected + 1),
            Action::PageUp => return self.select(self.selected.saturating_sub(self.page())),
            Action::PageDown => return self.select(self.selected + self.page()),
            Action::Top => return self.select(0),
            Action::Bottom => return self.select(usize::MAX),
            Action::Filter => {
                self.list.editing = true;
                self.status_line = format!(
                    "filter: {}_ (key or name; Enter keeps, Esc clears)",
                    self.list.filter
                );
            }
            Action::Sort => {
                self.list.sort = self.list.sort.next();
                self.status_line = format!("sorted by {}", self.list.sort.name());
                return self.reselect();
            }
            Action::Open => {
                self.panel = Panel::Ab;
                self.scroll = 0;
            }
            Action::New => {
                self.form = Some(Form::new());
                self.status_line = "new campaign: Tab next field, Enter create, Esc cancel".into();
            }
            Action::Start | Action::Pause | Action::Stop => self.ask(binding.action),
            Action::Confirm => {
                if let Some(p) = self.pending.take() {
                    self.status_line = format!("{} {}…", p.to, p.campaign);
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
            Action::NextChart => {
                self.bandit_chart = match self.bandit_chart {
                    BanditChart::PBest => BanditChart::Reward,
                    BanditChart::Reward => BanditChart::PBest,
                }
            }
            Action::Refresh => return vec![Effect::Reload],
            Action::AuditCampaign => {
                let values = self.snapshot.audit_campaigns.clone();
                self.audit_filter.campaign = next_value(&values, &self.audit_filter.campaign);
                self.scroll = 0;
                self.status_line = audit_status(&self.audit_filter);
            }
            Action::AuditAction => {
                let values = self.snapshot.audit_actions.clone();
                self.audit_filter.action = next_value(&values, &self.audit_filter.action);
                self.scroll = 0;
                self.status_line = audit_status(&self.audit_filter);
            }
        }
        vec![]
    }

    /// `s`, `p`, `x`: refused at once when the move is illegal, else a prompt naming the
    /// campaign that `y` will act on.
    fn ask(&mut self, action: Action) {
        let (to, verb) = match action {
            Action::Start => (Status::Running, "start"),
            Action::Pause => (Status::Paused, "pause"),
            _ => (Status::Stopped, "stop"),
        };
        let Some(row) = self.selected_campaign() else {
            self.status_line = "no campaign selected".into();
            return;
        };
        let (campaign, from) = (row.campaign.spec.key.clone(), row.campaign.status);
        if !from.can_move_to(to) {
            let legal: Vec<&str> = from
                .legal_moves()
                .iter()
                .map(|s| match s {
                    Status::Running => "start (s)",
                    Status::Paused => "pause (p)",
                    Status::Stopped => "stop (x)",
                    Status::Draft => "draft",
                })
                .collect();
            self.pending = None;
            self.status_line = format!(
                "cannot {verb} {campaign}: it is {from}; {}",
                if legal.is_empty() {
                    "a stopped campaign is final".to_string()
                } else {
                    format!("it can {}", legal.join(" or "))
                }
            );
            return;
        }
        self.status_line = format!("{verb} {campaign}? press y to confirm, Esc to cancel");
        self.pending = Some(Pending { campaign, to });
    }

    /// Esc: clears a prompt or a filter, or cancels the panel's running job.
    fn back(&mut self) -> Vec<Effect> {
        if self.pending.take().is_some() {
            self.status_line.clear();
            return vec![];
        }
        let uplift: &[JobKind] = match self.panel {
            Panel::Causal => &[JobKind::Uplift],
            Panel::Forecast => &[JobKind::PlanForecast, JobKind::PlanBudget],
            _ => &[],
        };
        if let Some(kind) = self
            .panel
            .job()
            .into_iter()
            .chain(uplift.iter().copied())
            .find(|k| self.job_running(*k))
        {
            self.status_line = format!("cancelling {}…", kind.as_str());
            return vec![Effect::CancelJob(kind)];
        }
        if self.panel == Panel::Campaigns && !self.list.filter.is_empty() {
            self.list.filter.clear();
            self.status_line.clear();
            return self.reselect();
        }
        self.status_line.clear();
        vec![]
    }
}

/// The value after `current` in `values`; after the last (or when `current` has gone), all.
fn next_value(values: &[String], current: &Option<String>) -> Option<String> {
    match current {
        None => values.first().cloned(),
        Some(c) => values
            .iter()
            .position(|v| v == c)
            .and_then(|i| values.get(i + 1))
            .cloned(),
    }
}

fn audit_status(f: &crate::store::AuditFilter) -> String {
    format!(
        "audit log: campaign {}, action {}",
        f.campaign.as_deref().unwrap_or("all"),
        f.action.as_deref().unwrap_or("all")
    )
}
