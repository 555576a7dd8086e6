//! `liftdeck health`: one line per running or paused campaign and an exit code for cron and
//! monitoring (0 OK, 1 warning, 2 critical). Reads rollups only, so it is cheap on any database
//! size. A paused campaign is still checked (its units and any harm they took are still there;
//! a breached guardrail is often why it was paused), but not for staleness: no traffic is what
//! pausing means. The report options come from [`super::report::options_for`], the same as
//! `report ab`'s, so the two agree on every guardrail.

use super::report::{options_for, report_ab, Capping, ReportOverrides};
use super::Result;
use crate::domain::{CampaignKind, Micros, Status};
use crate::stats::ab::{Metric, Options};
use crate::store::Store;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Warning,
    Critical,
}

impl Severity {
    pub fn exit_code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARN",
            Severity::Critical => "CRIT",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A stable code: srm, stale, no_data, guardrail, starved_arm, multiple_exposure,
    /// training_failed, job_stuck, bad_settings.
    pub check: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignHealth {
    pub campaign: String,
    /// `running` or `paused`.
    pub status: Status,
    pub severity: Severity,
    pub units: i64,
    #[serde(serialize_with = "crate::domain::json_time::option")]
    pub last_event: Option<Micros>,
    pub findings: Vec<Finding>,
}

/// A bandit arm is starved when it holds less than this share of units once the campaign has
/// `STARVED_MIN_UNITS` units: the policy may have given up on it too early.
const STARVED_SHARE: f64 = 0.01;
const STARVED_MIN_UNITS: i64 = 1000;

/// A job still marked running after this long most likely lost its process (a kill -9, a
/// crash); jobs normally take seconds to minutes.
const STUCK_JOB: Micros = 3_600_000_000;

/// Checks every running or paused campaign. `now` and `stale_after` are microseconds.
pub fn check(store: &Store, now: Micros, stale_after: Micros) -> Result<Vec<CampaignHealth>> {
    let mut out = Vec::new();
    let shards_down = warehouse_findings(store);
    for campaign in store.campaigns()? {
        if !matches!(campaign.status, Status::Running | Status::Paused) {
            continue;
        }
        let paused = campaign.status == Status::Paused;
        let key = campaign.spec.key.clone();
        // With a shard down every figure would be wrong or an error: say so, check nothing.
        if !shards_down.is_empty() {
            out.push(CampaignHealth {
                campaign: key,
                status: campaign.status,
                severity: Severity::Critical,
                units: 0,
                last_event: None,
                findings: shards_down.clone(),
            });
            continue;
        }
        let arms = store.arm_summaries(&key)?;
        let units: i64 = arms.iter().map(|a| a.rollup.units).sum();
        let last_event = arms.iter().filter_map(|a| a.rollup.last_event_ts).max();
        let mut findings = Vec::new();
        match last_event {
            _ if paused => {}
            None => findings.push(Finding {
                severity: Severity::Warning,
                check: "no_data",
                message: "running but no events yet".into(),
            }),
            Some(t) if now - t > stale_after => findings.push(Finding {
                severity: Severity::Warning,
                check: "stale",
                message: format!(
                    "stale: last event {} ago (threshold {})",
                    human(now - t),
                    human(stale_after)
                ),
            }),
            Some(_) => {}
        }
        let metric = Metric::parse(&campaign.spec.metric).unwrap_or(Metric::Conversion);
        let opts = match options_for(&campaign.spec, &ReportOverrides::default()) {
            Ok(opts) => opts,
            Err(e) => {
                findings.push(Finding {
                    severity: Severity::Warning,
                    check: "bad_settings",
                    message: format!("stored report settings refused ({e}); checked with defaults"),
                });
                Options::default()
            }
        };
        let reports = report_ab(store, &key, metric, &opts, Capping::None, None)?;
        if let Some(r) = reports.first().map(|o| &o.report) {
            if r.srm.alarm {
                findings.push(Finding {
                    severity: Severity::Critical,
                    check: "srm",
                    message: format!(
                        "SRM: units per arm do not match the weights ({})",
                        crate::format::p_value_phrase(r.srm.p_value.unwrap_or(0.0))
                    ),
                });
            }
            if r.srm.multiple_exposure_flag {
                findings.push(Finding {
                    severity: Severity::Warning,
                    check: "multiple_exposure",
                    message: format!(
                        "{} units seen in more than one arm",
                        r.srm.multiple_exposure_units
                    ),
                });
            }
            for g in r.guardrails.iter().filter(|g| g.breached) {
                findings.push(Finding {
                    severity: Severity::Critical,
                    check: "guardrail",
                    message: format!("guardrail {} breached by arm {}", g.metric.name(), g.arm),
                });
            }
        }
        if campaign.spec.kind == CampaignKind::Bandit && units >= STARVED_MIN_UNITS {
            for a in &arms {
                if (a.rollup.units as f64) < STARVED_SHARE * units as f64 {
                    findings.push(Finding {
                        severity: Severity::Warning,
                        check: "starved_arm",
                        message: format!(
                            "bandit arm {} has {} of {} units",
                            a.key, a.rollup.units, units
                        ),
                    });
                }
            }
        }
        // The newest training run decides: a later success clears an earlier failure.
        for job in store.latest_jobs(&key)? {
            if job.status == "running" && now - job.started_at > STUCK_JOB {
                findings.push(Finding {
                    severity: Severity::Warning,
                    check: "job_stuck",
                    message: format!(
                        "{} job started {} ago is still marked running: its process may have died",
                        job.kind,
                        human(now - job.started_at)
                    ),
                });
            }
            if job.kind == "retrain" && job.status == "failed" {
                findings.push(Finding {
                    severity: Severity::Warning,
                    check: "training_failed",
                    message: format!(
                        "last model retrain failed: {}",
                        job.error.as_deref().unwrap_or("no reason recorded")
                    ),
                });
            }
        }
        let severity = findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Ok);
        out.push(CampaignHealth {
            campaign: key,
            status: campaign.status,
            severity,
            units,
            last_event,
            findings,
        });
    }
    Ok(out)
}

/// One CRIT finding per warehouse node that does not answer (none without a warehouse).
fn warehouse_findings(store: &Store) -> Vec<Finding> {
    let Some(w) = store.warehouse() else {
        return Vec::new();
    };
    w.health()
        .into_iter()
        .filter_map(|s| {
            s.error.map(|e| Finding {
                severity: Severity::Critical,
                check: "warehouse_shard",
                message: format!(
                    "warehouse node {} does not answer ({e}); figures from the warehouse are \
                     unavailable until it is back",
                    s.node
                ),
            })
        })
        .collect()
}

/// A dead warehouse node is CRIT even when no campaign is running: `check`'s entries carry
/// it per campaign, this is the entry for the data plane itself.
pub fn warehouse_entry(store: &Store) -> Option<CampaignHealth> {
    let findings = warehouse_findings(store);
    (!findings.is_empty()).then(|| CampaignHealth {
        campaign: "(warehouse)".into(),
        status: Status::Running,
        severity: Severity::Critical,
        units: 0,
        last_event: None,
        findings,
    })
}

/// The worst severity over all campaigns (OK when nothing is running).
pub fn overall(health: &[CampaignHealth]) -> Severity {
    health
        .iter()
        .map(|h| h.severity)
        .max()
        .unwrap_or(Severity::Ok)
}

/// One line per campaign: `CRIT coupon-10 units=20000: SRM: ...; stale: ...`.
pub fn format_lines(health: &[CampaignHealth]) -> String {
    let mut s = String::new();
    if health.is_empty() {
        s.push_str("OK no running or paused campaigns\n");
    }
    for h in health {
        let detail = if h.findings.is_empty() {
            "healthy".to_string()
        } else {
            h.findings
                .iter()
                .map(|f| f.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        s.push_str(&format!(
            "{} {}{} units={}: {}\n",
            h.severity.word(),
            h.campaign,
            if h.status == Status::Paused {
                " (paused)"
            } else {
                ""
            },
            // Raw digits: `units=1000` is a key=value pair that scripts parse.
            h.units,
            detail
        ));
    }
    s
}

fn human(us: Micros) -> String {
    let s = us / 1_000_000;
    if s >= 86_400 {
        format!("{}d{}h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}
