//! The console's snapshot: one read of the store combined with health, the A/B report, the
//! chart series and a bandit's board (`bandit::board`, the numbers `bandit show` prints), returned as typed values (badges, job kinds and statuses) so the console's
//! view never compares strings. Runs on the console's data thread, in replays and in
//! `bench refresh`; never inside a render.
//!
//! Badges that depend on the clock (STALE) are not frozen here: a row keeps its last event
//! time and `CampaignRow::badge` re-evaluates it against whatever `now` the caller passes, so
//! an idle console turns STALE on its own tick without re-reading the database.

use super::bandit::{board, BanditBoard};
use super::health::{self, Severity};
use super::models::{self as registry, VersionView};
use super::report::{options_for, report_ab, Capping, ReportOverrides};
use super::Result;
use crate::domain::{Campaign, CampaignKind, Micros, Status};
use crate::stats::ab::{AbReport, Metric};
use crate::store::{ArmSummary, BucketRow, JobRow, Store};
use crate::text::escape_control;

/// A campaign's health in one word, worst first when several apply. The words and symbols
/// differ by severity (`!!` critical, `!` warning), so they read the same without colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Badge {
    /// Not running: health does not watch it.
    Unwatched,
    Ok,
    NoData,
    Stale,
    StarvedArm,
    MultipleExposure,
    TrainingFailed,
    JobStuck,
    Srm,
    Guardrail,
}

impl Badge {
    pub fn severity(self) -> Severity {
        match self {
            Badge::Unwatched | Badge::Ok => Severity::Ok,
            Badge::Srm | Badge::Guardrail => Severity::Critical,
            _ => Severity::Warning,
        }
    }

    /// The badge as shown: `!! ` before a critical word, `! ` before a warning.
    pub fn label(self) -> &'static str {
        match self {
            Badge::Unwatched => "-",
            Badge::Ok => "OK",
            Badge::NoData => "! NO DATA",
            Badge::Stale => "! STALE",
            Badge::StarvedArm => "! STARVED",
            Badge::MultipleExposure => "! MULTI-ARM",
            Badge::TrainingFailed => "! TRAIN FAIL",
            Badge::JobStuck => "! JOB STUCK",
            Badge::Srm => "!! SRM",
            Badge::Guardrail => "!! GUARDRAIL",
        }
    }

    /// The badge for one of health's finding codes.
    fn from_check(code: &str) -> Option<Badge> {
        Some(match code {
            "no_data" => Badge::NoData,
            "stale" => Badge::Stale,
            "starved_arm" => Badge::StarvedArm,
            "multiple_exposure" => Badge::MultipleExposure,
            "training_failed" => Badge::TrainingFailed,
            "job_stuck" => Badge::JobStuck,
            "srm" => Badge::Srm,
            "guardrail" => Badge::Guardrail,
            _ => return None,
        })
    }
}

/// One campaign row of the snapshot.
#[derive(Debug, Clone)]
pub struct CampaignRow {
    pub campaign: Campaign,
    pub arms: Vec<ArmSummary>,
    pub units: i64,
    pub last_event: Option<Micros>,
    /// Health's findings that do not depend on the clock, worst first (staleness is
    /// re-evaluated by [`CampaignRow::badge`]).
    pub findings: Vec<Badge>,
}

impl CampaignRow {
    /// The worst badge at `now`: staleness is judged here, against the caller's clock.
    pub fn badge(&self, now: Micros, stale_after: Micros) -> Badge {
        if self.campaign.status != Status::Running {
            return Badge::Unwatched;
        }
        let stale = self
            .last_event
            .is_some_and(|t| now.saturating_sub(t) > stale_after);
        let mut worst = if stale { Badge::Stale } else { Badge::Ok };
        for b in &self.findings {
            if (b.severity(), *b) > (worst.severity(), worst) {
                worst = *b;
            }
        }
        worst
    }

    /// Days the campaign has run: from its start to its stop, or to `now` on the console's
    /// own clock while it runs.
    pub fn days(&self, now: Micros) -> Option<f64> {
        let start = self.campaign.started_at?;
        let end = self.campaign.stopped_at.unwrap_or(now);
        Some((end - start).max(0) as f64 / 86_400e6)
    }
}

/// The kinds of background job the console runs; the `jobs` table stores their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    Retrain,
    Causal,
    Forecast,
    /// The Forecast panel's plan forecast (`F`): about a planned campaign, not a stored one.
    PlanForecast,
    /// The Forecast panel's budget allocation (`B`, `forecast budget`): also about a plan.
    PlanBudget,
    /// The uplift report (`u` on the Causal panel, `report uplift`).
    Uplift,
    /// Difference in differences (`report did`).
    Did,
}

impl JobKind {
    pub const ALL: [JobKind; 7] = [
        JobKind::Retrain,
        JobKind::Causal,
        JobKind::Forecast,
        JobKind::PlanForecast,
        JobKind::PlanBudget,
        JobKind::Uplift,
        JobKind::Did,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Retrain => "retrain",
            JobKind::Causal => "causal",
            JobKind::Forecast => "forecast",
            JobKind::PlanForecast => "forecast_plan",
            JobKind::PlanBudget => "forecast_budget",
            JobKind::Uplift => "uplift",
            JobKind::Did => "did",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the job's result is a report kept in the saved reports (`report list`).
    pub fn is_report(self) -> bool {
        matches!(self, JobKind::Causal | JobKind::Uplift | JobKind::Did)
    }

    /// Whether the job writes more than its own job record (refused in read-only sessions).
    pub fn mutates(self) -> bool {
        self == JobKind::Retrain
    }
}

/// How a recorded job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        [
            JobStatus::Running,
            JobStatus::Done,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The newest recorded run of one job kind for the selected campaign, and the newest done
/// run of that kind, whose result is the one in force (a cancelled or failed run has none).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJob {
    /// The run's row in the jobs table.
    pub id: i64,
    pub kind: JobKind,
    pub status: JobStatus,
    pub actor: String,
    pub started_at: Micros,
    pub finished_at: Option<Micros>,
    pub error: Option<String>,
    /// The newest done run of this kind: this run itself when it is done.
    pub last_done: Option<DoneJob>,
}

/// A run that finished with a result.
#[derive(Debug, Clone, PartialEq)]
pub struct DoneJob {
    pub id: i64,
    pub actor: String,
    pub started_at: Micros,
    pub finished_at: Micros,
    /// What the run produced, as stored JSON (`jobs::JobOutput::from_json` reads it).
    pub result: Option<String>,
}

impl DoneJob {
    fn from_row(row: JobRow) -> DoneJob {
        DoneJob {
            id: row.id,
            actor: row.actor,
            started_at: row.started_at,
            finished_at: row.finished_at.unwrap_or(row.started_at),
            result: row.result,
        }
    }
}

impl StoredJob {
    /// `None` for a row of a kind or status this version does not know.
    fn from_rows(row: JobRow, done: &[JobRow]) -> Option<StoredJob> {
        let kind = JobKind::parse(&row.kind)?;
        Some(StoredJob {
            id: row.id,
            kind,
            status: JobStatus::parse(&row.status)?,
            last_done: done
                .iter()
                .find(|d| d.kind == row.kind)
                .cloned()
                .map(DoneJob::from_row),
            actor: row.actor,
            started_at: row.started_at,
            finished_at: row.finished_at,
            error: row.error,
        })
    }

    /// Whether the result in force came from an earlier run than the newest one.
    pub fn result_is_older(&self) -> bool {
        self.last_done.as_ref().is_some_and(|d| d.id != self.id)
    }
}

/// One arm's cumulative conversion rate by minute: (minutes since the first bucket, rate,
/// 95% interval low, high).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArmSeries {
    pub arm: String,
    pub points: Vec<(f64, f64, f64, f64)>,
}

/// What the console is looking at: the campaign whose details to read, and on which metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Focus {
    pub campaign: Option<String>,
    pub metric: Metric,
}

impl Default for Focus {
    fn default() -> Focus {
        Focus {
            campaign: None,
            metric: Metric::Conversion,
        }
    }
}

/// How many saved reports the Causal panel lists (older ones: `report list`).
pub const SAVED_REPORTS_SHOWN: usize = 10;

/// Everything the console shows, read from the store off the render thread.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub campaigns: Vec<CampaignRow>,
    /// The campaign the report, series and jobs below belong to.
    pub focus: Option<String>,
    /// The A/B report of the focused campaign on the focused metric.
    pub report: Option<AbReport>,
    pub health_lines: Vec<String>,
    /// Ingest rate and last event per campaign.
    pub activity: Vec<String>,
    /// The newest audit rows (up to `AUDIT_READ`), newest first, for the console's filters;
    /// with the distinct campaigns and actions of the whole log the filters cycle through.
    pub audit_entries: Vec<crate::store::AuditEntry>,
    pub audit_campaigns: Vec<String>,
    pub audit_actions: Vec<String>,
    pub rejects: Vec<String>,
    /// Cumulative conversion rate per arm of the focused campaign over time, for the chart.
    pub series: Vec<ArmSeries>,
    /// The focused campaign's bandit board when it is a bandit (leaderboard, stage, schedule,
    /// regret and every period, for the Bandit panel's charts); `None` for an A/B test.
    pub bandit: Option<BanditBoard>,
    /// The newest recorded job of each kind for the focused campaign, each with the newest
    /// done run of its kind.
    pub jobs: Vec<StoredJob>,
    /// The focused campaign's model versions, oldest first (`app::models::list`, the rows
    /// `model list` prints), for the Models panel.
    pub models: Vec<VersionView>,
    /// The focused campaign's newest saved reports, newest first (the Causal panel's list).
    pub saved_reports: Vec<crate::app::reports::SavedReport>,
    /// When this snapshot was read, on the caller's clock.
    pub read_at: Micros,
    /// When the data last changed as far as the reader saw (data_version or its own write).
    pub changed_at: Micros,
    /// How long without an event makes a running campaign STALE.
    pub stale_after: Micros,
}

impl Snapshot {
    pub fn row(&self, key: &str) -> Option<&CampaignRow> {
        self.campaigns.iter().find(|r| r.campaign.spec.key == key)
    }
}

/// The 95% Wilson score interval of a proportion `p` of `n` units. Unlike the Wald interval it
/// does not collapse to a point at 0 or 1 conversions, so an arm's early band on the chart is
/// as wide as its few units warrant.
fn wilson_95(p: f64, n: f64) -> (f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Cumulative conversion rate per arm with a 95% Wilson band, from per-minute buckets.
pub fn cumulative_series(buckets: &[BucketRow]) -> Vec<ArmSeries> {
    let Some(start) = buckets.iter().map(|b| b.bucket).min() else {
        return Vec::new();
    };
    let mut out: Vec<(ArmSeries, i64, i64)> = Vec::new();
    for b in buckets {
        let i = match out.iter().position(|(s, _, _)| s.arm == b.arm) {
            Some(i) => i,
            None => {
                out.push((
                    ArmSeries {
                        arm: b.arm.clone(),
                        points: Vec::new(),
                    },
                    0,
                    0,
                ));
                out.len() - 1
            }
        };
        let (series, units, conversions) = &mut out[i];
        *units += b.new_units;
        *conversions += b.conversions;
        if *units > 0 {
            let n = *units as f64;
            let p = (*conversions as f64 / n).clamp(0.0, 1.0);
            let (low, high) = wilson_95(p, n);
            let minutes = (b.bucket - start) as f64 / 60e6;
            series.points.push((minutes, p, low, high));
        }
    }
    out.into_iter().map(|(s, _, _)| s).collect()
}

/// At most `n` characters, with `…` when some were left out (never cut silently).
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Reads campaigns with their rollups and health, and the details of the focused campaign.
/// `now` judges staleness in the health lines; `changed_at` is passed through.
pub fn load_snapshot(
    store: &Store,
    focus: &Focus,
    now: Micros,
    changed_at: Micros,
    stale_after: Micros,
) -> Result<Snapshot> {
    let campaigns = store.campaigns()?;
    let health = health::check(store, now, stale_after)?;
    let mut rows = Vec::with_capacity(campaigns.len());
    for c in campaigns {
        let arms = store.arm_summaries(&c.spec.key)?;
        let mut findings: Vec<Badge> = health
            .iter()
            .filter(|h| h.campaign == c.spec.key)
            .flat_map(|h| h.findings.iter())
            .filter_map(|f| Badge::from_check(f.check))
            // Staleness moves with the clock: the row re-judges it from `last_event`.
            .filter(|b| *b != Badge::Stale)
            .collect();
        findings.sort_by_key(|b| std::cmp::Reverse((b.severity(), *b)));
        findings.dedup();
        rows.push(CampaignRow {
            units: arms.iter().map(|a| a.rollup.units).sum(),
            last_event: arms.iter().filter_map(|a| a.rollup.last_event_ts).max(),
            campaign: c,
            arms,
            findings,
        });
    }
    let focused = focus
        .campaign
        .as_deref()
        .and_then(|k| rows.iter().find(|r| r.campaign.spec.key == k))
        .or(rows.first());
    let (mut report, mut series, mut jobs, mut bandit) = (None, Vec::new(), Vec::new(), None);
    let mut models = Vec::new();
    let mut saved_reports = Vec::new();
    if let Some(row) = focused {
        let key = &row.campaign.spec.key;
        report = report_ab(
            store,
            key,
            focus.metric,
            // The same options `report ab` and `health` build, margins included.
            &options_for(&row.campaign.spec, &ReportOverrides::default())?,
            Capping::None,
            None,
        )?
        .into_iter()
        .next()
        .map(|o| o.report);
        series = cumulative_series(&store.buckets(key)?);
        if row.campaign.spec.kind == CampaignKind::Bandit {
            bandit = Some(board(store, key, now)?);
        }
        let done = store.latest_done_jobs(key)?;
        jobs = store
            .latest_jobs(key)?
            .into_iter()
            .filter_map(|row| StoredJob::from_rows(row, &done))
            .collect();
        models = registry::list(store, key)?;
        saved_reports = crate::app::reports::recent(store, key, SAVED_REPORTS_SHOWN)?;
    }
    let focus_key = focused.map(|r| r.campaign.spec.key.clone());
    let mut activity = Vec::new();
    for row in &rows {
        let key = &row.campaign.spec.key;
        let (rate, newest) = store.recent_event_rate(key, 60_000_000)?;
        activity.push(format!(
            "{key}: {rate:.1} events/s over the last minute of data; last event {}",
            newest.map_or("never".into(), crate::clock::format_rfc3339)
        ));
    }
    let audit_entries = store.audit_log(AUDIT_READ)?;
    let (audit_actions, audit_campaigns) = store.audit_facets()?;
    let rejects = store
        .rejects(20)?
        .into_iter()
        // ratatui drops control characters; escaping shows the operator they were there.
        .map(|r| {
            format!(
                "{} line {}: {} ({})",
                escape_control(&r.source),
                r.line,
                escape_control(&r.detail),
                r.reason
            )
        })
        .collect();
    Ok(Snapshot {
        audit_entries,
        audit_actions,
        audit_campaigns,
        jobs,
        models,
        saved_reports,
        activity,
        series,
        bandit,
        campaigns: rows,
        focus: focus_key,
        report,
        health_lines: health::format_lines(&health)
            .lines()
            .map(str::to_string)
            .collect(),
        rejects,
        read_at: now,
        changed_at,
        stale_after,
    })
}

/// Audit rows the console reads for its filters (the CLI has no limit: `audit_where`).
pub const AUDIT_READ: usize = 500;

/// One audit row as the console shows it: when, who (and from where), what, on which campaign.
pub fn audit_line(a: &crate::store::AuditEntry) -> String {
    let from = a
        .client
        .as_deref()
        .map_or(String::new(), |c| format!(" from {c}"));
    escape_control(&format!(
        "{} {}{} {} {} {}",
        crate::clock::format_rfc3339(a.ts),
        a.actor,
        from,
        a.action,
        a.campaign.as_deref().unwrap_or_default(),
        short(&a.detail, 40)
    ))
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CampaignKind, CampaignSpec};

    fn row(status: Status, last_event: Option<Micros>, findings: Vec<Badge>) -> CampaignRow {
        CampaignRow {
            campaign: Campaign {
                id: 1,
                spec: CampaignSpec {
                    key: "k".into(),
                    name: "k".into(),
                    kind: CampaignKind::Ab,
                    arms: vec![],
                    control: None,
                    traffic: 1.0,
                    metric: "purchase".into(),
                    guardrails: vec![],
                    custom_kinds: vec![],
                    seed: 1,
                    settings: Default::default(),
                    bandit: None,
                },
                status,
                created_at: 0,
                started_at: Some(0),
                stopped_at: None,
            },
            arms: vec![],
            units: 0,
            last_event,
            findings,
        }
    }

    #[test]
    fn staleness_follows_the_clock_and_critical_beats_warning() {
        let r = row(Status::Running, Some(1_000), vec![]);
        assert_eq!(r.badge(1_500, 1_000), Badge::Ok);
        assert_eq!(r.badge(5_000, 1_000), Badge::Stale);
        let srm = row(Status::Running, Some(1_000), vec![Badge::Srm]);
        assert_eq!(srm.badge(5_000, 1_000), Badge::Srm);
        assert_eq!(
            row(Status::Paused, None, vec![Badge::Srm]).badge(0, 1),
            Badge::Unwatched
        );
    }

    #[test]
    fn critical_and_warning_labels_differ_in_symbols_not_only_colour() {
        for b in [Badge::Srm, Badge::Guardrail] {
            assert!(b.label().starts_with("!! "), "{b:?}");
        }
        for b in [Badge::Stale, Badge::NoData, Badge::StarvedArm] {
            assert!(
                b.label().starts_with("! ") && !b.label().starts_with("!!"),
                "{b:?}"
            );
        }
    }

    #[test]
    fn the_chart_band_is_wilsons_and_does_not_collapse_at_zero() {
        const Z: f64 = 1.959_963_984_540_054;
        // At no conversions the upper end has the closed form z² / (n + z²).
        let (low, high) = wilson_95(0.0, 10.0);
        assert!(low.abs() < 1e-12);
        assert!((high - Z * Z / (10.0 + Z * Z)).abs() < 1e-12, "{high}");
        // Each end is a rate p0 whose score test just accepts the observed p:
        // |p - p0| = z * sqrt(p0 (1 - p0) / n).
        for (p, n) in [(0.15, 200.0), (0.5, 7.0), (0.9, 40.0)] {
            let (low, high) = wilson_95(p, n);
            for p0 in [low, high] {
                let score = (p - p0).abs() / (p0 * (1.0 - p0) / n).sqrt();
                assert!((score - Z).abs() < 1e-9, "p {p} n {n} end {p0}: {score}");
            }
            assert!(low < p && p < high);
        }
    }

    #[test]
    fn days_run_to_the_callers_clock_while_running() {
        let r = row(Status::Running, None, vec![]);
        assert_eq!(r.days(2 * 86_400_000_000), Some(2.0));
    }
}
