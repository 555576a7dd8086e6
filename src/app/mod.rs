//! Use cases: the one place that combines the store with the pure modules. The CLI, the
//! console, replays and the demo all go through here, so they behave the same.

pub mod assign_batch;
pub mod bandit;
pub mod bench;
pub mod bench_aa;
pub mod causal;
pub mod causal_observational;
pub mod causal_randomised;
pub mod causal_segments;
pub mod champion;
pub mod demo;
pub mod did;
pub mod dp_report;
pub mod erasure;
mod feed;
pub mod forecast;
pub mod forecast_ledger;
pub mod health;
pub mod import_obd;
pub mod maturity;
pub mod models;
pub mod ope;
pub mod plan_budget;
pub mod plan_forecast;
pub mod predict;
pub mod privacy;
pub mod report;
pub mod reports;
pub mod retention;
pub mod snapshot;
pub mod traffic;
pub mod train;
pub mod train_pipeline;
pub mod train_truth;
pub mod uplift;

pub use feed::{export, ingest_reader, ingest_with, IngestOptions, IngestSummary};

use crate::allocation::{bucket, Bucket};
use crate::clock::Clock;
use crate::domain::{AssignmentRecord, CampaignSpec, Record, Status};
use crate::lines::LineError;
use crate::store::{IngestItem, Ingestor, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("campaign `{key}` is {status}; assignments are only made while it is running")]
    NotRunning { key: String, status: Status },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cancelled")]
    Cancelled,
    #[error(
        "{} is not a demo database: `liftdeck demo` writes simulated shoppers only into a \
         database it created and marked as its own. Give it a new file with --db NEW.db, or \
         leave --db out to use liftdeck-demo.db",
        path.display()
    )]
    NotDemo { path: std::path::PathBuf },
    #[error("{source_name} line {line}: {error}")]
    Line {
        source_name: String,
        line: u64,
        error: LineError,
    },
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// How a long use case reports how far it got, and learns that the operator cancelled it.
/// The console's job runner implements it; the CLI and replays use [`NoProgress`].
pub trait Progress {
    /// `done` is the fraction finished in [0, 1]; `stage` says what is running.
    /// Returns `Err(AppError::Cancelled)` once the job should stop.
    fn update(&self, done: f64, stage: &str) -> Result<()>;
}

/// Progress that goes nowhere and never cancels.
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _done: f64, _stage: &str) -> Result<()> {
        Ok(())
    }
}

/// Streams every assigned unit of `key` in key order, a chunk at a time, to `each`. Progress
/// runs from 0 to `share` of the gauge as units are read; a cancel stops between chunks.
pub fn for_each_unit_chunk(
    store: &Store,
    key: &str,
    progress: &dyn Progress,
    share: f64,
    each: &mut dyn FnMut(Vec<crate::store::UnitRow>) -> Result<()>,
) -> Result<()> {
    // Big enough to amortise the query, small enough for a lively gauge.
    const CHUNK: usize = 2_000;
    let total = store.unit_count(key)?.max(1) as f64;
    let (mut read, mut after) = (0usize, String::new());
    loop {
        progress.update(share * read as f64 / total, "reading units")?;
        let rows = store.unit_rows(key, &after, CHUNK)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.unit.clone();
        read += rows.len();
        each(rows)?;
    }
}

/// Who is acting: `$LIFTDECK_ACTOR`, else `$USER`, plus the SSH client address when present.
pub fn actor_from_env() -> String {
    let name = std::env::var("LIFTDECK_ACTOR")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    match std::env::var("SSH_CONNECTION")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
    {
        Some(addr) => format!("{name}@{addr}"),
        None => name,
    }
}

/// The injected environment of a use case: clock and actor (the database is passed alongside).
#[derive(Debug, Clone)]
pub struct Env {
    pub clock: Clock,
    pub actor: String,
}

impl Env {
    pub fn from_process() -> Env {
        Env {
            clock: Clock::System,
            actor: actor_from_env(),
        }
    }
}

pub fn create_campaign(store: &mut Store, env: &Env, spec: &CampaignSpec) -> Result<i64> {
    spec.validate()
        .and_then(|_| bandit::check_spec(spec))
        .map_err(AppError::Invalid)?;
    Ok(store.create_campaign(spec, env.clock.now(), &env.actor)?)
}

/// Edits a draft: `change` rewrites its definition (the key stays), which is then checked like
/// a new campaign's and stored. A campaign that is not a draft is refused before `change` runs.
pub fn edit_campaign(
    store: &mut Store,
    env: &Env,
    key: &str,
    change: impl FnOnce(&mut CampaignSpec) -> std::result::Result<(), String>,
) -> Result<CampaignSpec> {
    let (campaign, _) = store.campaign(key)?;
    if campaign.status != Status::Draft {
        return Err(StoreError::NotDraft {
            key: key.into(),
            status: campaign.status,
            action: "edited",
        }
        .into());
    }
    let mut spec = campaign.spec;
    change(&mut spec).map_err(AppError::Invalid)?;
    spec.key = key.into();
    spec.validate().map_err(AppError::Invalid)?;
    store.edit_draft(&spec, env.clock.now(), &env.actor)?;
    Ok(spec)
}

/// Deletes a draft (a campaign that never ran) and its arms.
pub fn delete_campaign(store: &mut Store, env: &Env, key: &str) -> Result<()> {
    Ok(store.delete_draft(key, env.clock.now(), &env.actor)?)
}

pub fn set_status(store: &mut Store, env: &Env, key: &str, to: Status) -> Result<Status> {
    Ok(store.set_status(key, to, env.clock.now(), &env.actor)?)
}

/// The result of `assign`.
#[derive(Debug, Clone, PartialEq)]
pub enum Assignment {
    Arm {
        arm: String,
        propensity: f64,
        /// False when the unit already had this assignment stored.
        new: bool,
    },
    /// The unit falls outside the campaign's traffic fraction.
    Excluded,
}

/// Assigns a unit: the stored assignment if there is one (a unit keeps its first arm), else the
/// hash decision by the weights in force now (for a contextual bandit, the probabilities its
/// current model gives this unit's context), stored with that exact probability as its
/// propensity through the same path as ingested assignment lines (so rollups and the period
/// stay right).
pub fn assign(
    store: &mut Store,
    env: &Env,
    key: &str,
    unit: &str,
    context: serde_json::Map<String, serde_json::Value>,
) -> Result<Assignment> {
    assign_with(store, env, &privacy::UnitIds::raw(), key, unit, context)
}

/// [`assign`] on a database that may pseudonymise: `ids` (from `privacy::unit_ids`) maps the
/// raw `unit` and the context before anything is stored or looked up. The arm is drawn from
/// the raw id, so a customer gets the same arm whether or not the database pseudonymises.
pub fn assign_with(
    store: &mut Store,
    env: &Env,
    ids: &privacy::UnitIds,
    key: &str,
    unit: &str,
    mut context: serde_json::Map<String, serde_json::Value>,
) -> Result<Assignment> {
    ids.map_context(&mut context);
    crate::lines::check_context(&context).map_err(|error| AppError::Line {
        source_name: "--context".into(),
        line: 1,
        error,
    })?;
    let (campaign, arms) = store.campaign(key)?;
    if campaign.spec.kind == crate::domain::CampaignKind::Observational {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` is observational: treatment was chosen outside liftdeck, so \
             liftdeck does not assign its units; ingest assignment lines with the arm each unit got"
        )));
    }
    if campaign.status != Status::Running {
        return Err(AppError::NotRunning {
            key: key.into(),
            status: campaign.status,
        });
    }
    if unit.is_empty() {
        return Err(AppError::Invalid("unit must not be empty".into()));
    }
    let stored = ids.stored(unit);
    if let Some((arm, propensity)) = store.assignment(campaign.id, &stored)? {
        return Ok(Assignment::Arm {
            arm,
            propensity,
            new: false,
        });
    }
    // A bandit whose schedule came round learns before it decides, so a storefront that only
    // calls `assign` gets a learning campaign without a cron job.
    let (campaign, arms) = if campaign.spec.kind == crate::domain::CampaignKind::Bandit
        && bandit::update_if_due(store, env, key)?.is_some()
    {
        store.campaign(key)?
    } else {
        (campaign, arms)
    };
    let weights = bandit::unit_probabilities(store, &campaign, &arms, &context)?;
    let Bucket::Arm { index, propensity } =
        bucket(campaign.spec.seed, unit, campaign.spec.traffic, &weights)
    else {
        return Ok(Assignment::Excluded);
    };
    let arm = arms[index].key.clone();
    let record = Record::Assignment(AssignmentRecord {
        campaign: key.into(),
        unit: stored.into_owned(),
        arm: arm.clone(),
        propensity,
        context,
        ts: env.clock.now(),
    });
    let mut ingestor = Ingestor::new(store, "assign", &env.actor, env.clock.now())?;
    // The unit id stays out of the audit log: it is personal data (and erasure must not have
    // to rewrite the log). A repeated assign changes nothing and logs nothing.
    ingestor.audit_accepted(
        "assign",
        Some(key),
        &format!("a new unit assigned to arm {arm}"),
    );
    let outcome = ingestor.apply(vec![IngestItem {
        line: 1,
        raw: "",
        parsed: Ok(record),
    }])?;
    if let Some((line, error)) = outcome.rejected.into_iter().next() {
        return Err(AppError::Line {
            source_name: "assign".into(),
            line,
            error,
        });
    }
    let new = outcome.accepted == 1;
    Ok(Assignment::Arm {
        arm,
        propensity,
        new,
    })
}

/// Lines per ingest transaction unless `--batch` says otherwise.
pub fn feed_batch_lines() -> usize {
    feed::DEFAULT_BATCH_LINES
}

/// The plain-text `campaign show`: the campaign, then one row per arm with its rollups.
pub fn show_text(
    c: &crate::domain::Campaign,
    arms: &[crate::store::ArmSummary],
    nf: &crate::format::NumberFormat,
) -> String {
    use crate::clock::format_rfc3339;
    use crate::format::count;
    let mut s = format!(
        "{} — {}\n  kind {}  status {}  traffic {:.0}%  metric {}  control {}\n  created {}{}{}\n",
        c.spec.key,
        c.spec.name,
        c.spec.kind.as_str(),
        c.status,
        100.0 * c.spec.traffic,
        c.spec.metric,
        c.spec.control.as_deref().unwrap_or("-"),
        format_rfc3339(c.created_at),
        c.started_at
            .map(|t| format!("  started {}", format_rfc3339(t)))
            .unwrap_or_default(),
        c.stopped_at
            .map(|t| format!("  stopped {}", format_rfc3339(t)))
            .unwrap_or_default(),
    );
    if !c.spec.guardrails.is_empty() {
        s.push_str(&format!("  guardrails {}\n", c.spec.guardrails.join(", ")));
    }
    if c.spec.kind == crate::domain::CampaignKind::Bandit {
        // A bandit's log is read as rounds (decisions) and rewards, e.g. an imported OBD log.
        let sum = |f: fn(&crate::domain::ArmRollup) -> i64| arms.iter().map(|a| f(&a.rollup)).sum();
        s.push_str(&format!(
            "  rounds {}  exposures {}  clicks {}\n",
            count(sum(|r| r.units)),
            count(sum(|r| r.exposures)),
            count(sum(|r| r.clicks))
        ));
    }
    let total: f64 = arms.iter().map(|a| a.weight).sum();
    s.push_str(&format!(
        "  {:<12} {:>6} {:>8} {:>9} {:>7} {:>11} {:>11} {:>10}  offer\n",
        "arm", "weight", "units", "exposures", "clicks", "conversions", "revenue", "cost"
    ));
    for (a, spec) in arms.iter().zip(&c.spec.arms) {
        let r = &a.rollup;
        // Counts and money in the one number format (`format.rs`), as `report ab` prints them.
        s.push_str(&format!(
            "  {:<12} {:>6} {:>8} {:>9} {:>7} {:>11} {:>11} {:>10}  {}\n",
            a.key,
            crate::format::rate(if total > 0.0 { a.weight / total } else { 0.0 }),
            count(r.units),
            count(r.exposures),
            count(r.clicks),
            count(r.conversions),
            nf.money(r.revenue_sum),
            nf.money(r.cost_sum),
            spec.offer.describe()
        ));
    }
    s
}
