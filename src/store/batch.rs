//! Applying batches of parsed lines: validation against the store, idempotent inserts, and
//! incremental rollups, all in one transaction per batch (split, each part consistent on its
//! own, when a batch would hold the write lock longer than `WriteLimits::max_hold`).
//!
//! The store reads no wall clock: the time stamped on runs, rejects and campaigns created from
//! a line is the use case's clock, passed in (`Ingestor::new`, `set_clock`). The only clock
//! read here is the monotonic one that bounds how long the write lock is held.
//!
//! Per event only two B-trees are touched row by row (the events table and its event_id index).
//! Per-unit totals are read once per unit per batch and written back once; per-arm and
//! per-minute rollups are summed in memory and written once per batch. Revenue sums of squares
//! stay O(1) per event: when a unit's revenue goes from r to r+v, sumsq grows by 2rv + v².

use super::batch_warehouse::{WarehouseApplied, WarehouseState};
use super::campaigns::{insert_campaign, load_campaign};
use super::erasure::Tombstones;
use super::rejects::{insert_run, RunCounts};
use super::rollup_sql;
use super::write_lock::LockTimer;
pub use super::write_lock::WriteLimits;
use super::{Result, Store};
use crate::domain::{
    ArmRollup, CampaignDefinition, CampaignKind, EventEffect, EventRecord, Micros, Record,
    StandardKind, Status, UnitTotals,
};
use crate::lines::{AssignmentLine, IngestRecord, LineError, RejectReason};
use foldhash::HashMap;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// Width of the chart buckets.
pub const BUCKET_MICROS: Micros = 60_000_000;

/// One input line on its way into the store: a parsed line (`IngestRecord`) or a generated
/// `Record`.
pub struct IngestItem<'a, R = Record> {
    pub line: u64,
    pub raw: &'a str,
    pub parsed: std::result::Result<R, LineError>,
}

/// What happened to one batch.
#[derive(Debug, Default, Clone)]
pub struct BatchOutcome {
    pub accepted: u64,
    pub duplicates: u64,
    pub rejected: Vec<(u64, LineError)>,
    /// Lines of forgotten customers (`forget`), skipped: neither applied nor rejected.
    pub forgotten: u64,
}

/// Applies batches from one source (a file, stdin, the simulator) as one ingest run.
pub struct Ingestor<'s> {
    store: &'s mut Store,
    source: String,
    /// The use case's clock: stamped on the run, on rejects and on campaigns created here.
    now: Micros,
    /// The run's `ingest_runs` row: made by `begin_run`, else with the first reject (so every
    /// `assign` and simulator batch without rejects leaves no row).
    run_id: Option<i64>,
    actor: String,
    limits: WriteLimits,
    lock: LockTimer,
    /// An audit row (action, campaign, detail) written in the same transaction as a part that
    /// accepted a line: how a single decision (`assign`) is audited without a second commit.
    audit_accepted: Option<(String, Option<String>, String)>,
}

struct CampaignInfo {
    id: i64,
    status: Status,
    /// An observational campaign's lines may omit the propensity.
    kind: CampaignKind,
    arms: Vec<(String, i64)>,
    custom_kinds: Vec<String>,
    /// (start, period) in start order: an assignment belongs to the allocation period in force
    /// at its timestamp (the first one for timestamps before it).
    periods: Vec<(Micros, i64)>,
    /// The retention watermark: events before it were pruned (retention.rs).
    pruned_before: Option<Micros>,
}

impl CampaignInfo {
    fn period_at(&self, ts: Micros) -> i64 {
        let after = self.periods.partition_point(|&(start, _)| start <= ts);
        self.periods
            .get(after.saturating_sub(1))
            .map_or(1, |&(_, period)| period)
    }
}

/// A unit's totals as this batch sees them.
#[derive(Clone)]
struct UnitState {
    arm_id: i64,
    period: i64,
    totals: UnitTotals,
    is_new: bool,
    dirty: bool,
}

#[derive(Default)]
struct BucketDelta {
    new_units: i64,
    exposures: i64,
    clicks: i64,
    purchases: i64,
    conversions: i64,
    revenue: f64,
    cost: f64,
}

/// State that lives for one batch (one transaction).
#[derive(Default)]
struct Batch {
    campaigns: HashMap<String, Option<CampaignInfo>>,
    /// Per campaign id, so a unit is looked up by `&str` without building a key.
    units: HashMap<i64, HashMap<String, UnitState>>,
    /// Per (arm, allocation period): written to `arm_period_rollups` as they are and summed
    /// per arm into `arm_rollups`.
    arms: HashMap<(i64, i64), ArmRollup>,
    buckets: HashMap<(i64, Micros), BucketDelta>,
    custom: HashMap<(i64, String), (i64, i64)>,
    /// Loaded with the batch's first line: erasures commit in their own transactions.
    tombstones: Option<Tombstones>,
    /// Set when the data plane is a warehouse: its rows replace everything above but
    /// `campaigns` and `tombstones`.
    warehouse: Option<WarehouseState>,
}

enum Applied {
    New,
    Duplicate,
    /// A line of a unit `forget` erased: skipped, so an old file cannot bring them back.
    Forgotten,
}

enum Failure {
    Reject(LineError),
    Store(super::StoreError),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Store(e.into())
    }
}

impl From<super::StoreError> for Failure {
    fn from(e: super::StoreError) -> Self {
        Failure::Store(e)
    }
}

fn reject(reason: RejectReason, detail: String) -> Failure {
    Failure::Reject(LineError::new(reason, detail))
}

impl<'s> Ingestor<'s> {
    pub fn new(store: &'s mut Store, source: &str, actor: &str, ts: Micros) -> Result<Self> {
        // Foreign-key checks cost a parent look-up per inserted row (about 16% of the SQL of a
        // bulk ingest) and buy nothing here: every id this path writes was just read in the
        // same IMMEDIATE transaction (campaign and arms from `load_campaign`, the unit's
        // assignment from `assignments` or inserted a statement earlier), and the write lock
        // keeps any other connection from removing those parents before the commit. The
        // setting is per connection and cannot change inside a transaction, so it is switched
        // here, while no transaction is open, and `Drop` switches it back: the `&mut Store`
        // borrow means nothing else runs on this connection in between.
        store.conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        Ok(Ingestor {
            store,
            source: source.to_string(),
            now: ts,
            run_id: None,
            actor: actor.to_string(),
            limits: WriteLimits::default(),
            lock: LockTimer::default(),
            audit_accepted: None,
        })
    }

    /// Writes an audit row with every part that accepts a line, inside its transaction, so
    /// the log never disagrees with the data.
    pub fn audit_accepted(&mut self, action: &str, campaign: Option<&str>, detail: &str) {
        self.audit_accepted = Some((
            action.to_string(),
            campaign.map(str::to_string),
            detail.to_string(),
        ));
    }

    /// Records the run now (one `ingest_runs` row for the whole run, its totals updated with
    /// every commit), so even a run without rejects is listed; returns its id.
    pub fn begin_run(&mut self) -> Result<i64> {
        if let Some(id) = self.run_id {
            return Ok(id);
        }
        let id = insert_run(&self.store.conn, &self.source, self.now, &self.actor)?;
        self.run_id = Some(id);
        Ok(id)
    }

    /// The run's id, once it has a row.
    pub fn run_id(&self) -> Option<i64> {
        self.run_id
    }

    /// The use case's clock for the batches that follow.
    pub fn set_clock(&mut self, now: Micros) {
        self.now = now;
    }

    pub fn set_write_limits(&mut self, limits: WriteLimits) {
        self.limits = limits;
    }

    /// The store between batches (`apply` leaves no transaction open), for work that follows
    /// a commit within the run, such as a bandit's allocation update.
    pub fn store(&mut self) -> &mut Store {
        self.store
    }

    /// Applies a batch: every valid line and every reject of the batch is committed together,
    /// or nothing is, unless the batch holds the write lock longer than `max_hold`; then it
    /// commits in parts, each one consistent (rollups, totals and rejects of its lines).
    pub fn apply<R: Into<IngestRecord>>(
        &mut self,
        items: Vec<IngestItem<'_, R>>,
    ) -> Result<BatchOutcome> {
        let mut outcome = BatchOutcome::default();
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            self.apply_part(&mut items, &mut outcome)?;
        }
        Ok(outcome)
    }

    fn apply_part<'a, R: Into<IngestRecord>>(
        &mut self,
        items: &mut impl Iterator<Item = IngestItem<'a, R>>,
        outcome: &mut BatchOutcome,
    ) -> Result<()> {
        // How often the lock's age is looked at: cheap enough, and fine-grained enough.
        const CHECK_EVERY: usize = 64;
        let began = self.lock.before_begin(&self.limits);
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut batch = Batch::default();
        let mut counts = RunCounts::default();
        let mut run_id = self.run_id;
        let mut forgotten = 0u64;
        let ctx = Ctx {
            conn: &tx,
            actor: &self.actor,
            now: self.now,
        };
        type Line<'a> = (u64, &'a str, std::result::Result<IngestRecord, LineError>);
        let lines: Box<dyn Iterator<Item = Line<'a>> + '_> = match &self.store.warehouse {
            // A warehouse batch looks up its units first, so it is read whole; the SQLite
            // write lock it holds meanwhile covers only rejects and campaign lines.
            Some(warehouse) => {
                let all: Vec<Line<'a>> = items
                    .map(|i| (i.line, i.raw, i.parsed.map(Into::into)))
                    .collect();
                let state = WarehouseState::preload(
                    warehouse,
                    all.iter().filter_map(|l| l.2.as_ref().ok()),
                    |key| campaign_info(&tx, &mut batch, key).ok().map(|i| i.id),
                )?;
                batch.warehouse = Some(state);
                Box::new(all.into_iter())
            }
            None => Box::new(items.map(|i| (i.line, i.raw, i.parsed.map(Into::into)))),
        };
        for (n, (line, raw, parsed)) in lines.enumerate() {
            counts.lines += 1;
            let result = match parsed {
                Err(e) => Err(Failure::Reject(e)),
                Ok(record) => apply_record(&ctx, &mut batch, record),
            };
            match result {
                Ok(Applied::New) => counts.accepted += 1,
                Ok(Applied::Duplicate) => counts.duplicates += 1,
                Ok(Applied::Forgotten) => forgotten += 1,
                Err(Failure::Reject(e)) => {
                    let id = match run_id {
                        Some(id) => id,
                        None => insert_run(&tx, &self.source, self.now, &self.actor)?,
                    };
                    run_id = Some(id);
                    super::rejects::record_reject(&tx, id, &self.source, line, &e, raw, self.now)?;
                    counts.rejected += 1;
                    outcome.rejected.push((line, e));
                }
                Err(Failure::Store(e)) => return Err(e),
            }
            if (n + 1) % CHECK_EVERY == 0 && began.elapsed() >= self.limits.max_hold {
                break;
            }
        }
        // The warehouse's rows go before the SQLite commit: if they fail, the batch's rejects
        // and run totals roll back with them; if the commit fails after they were written, a
        // retry writes the same rows again, which the warehouse collapses on read.
        if let (Some(warehouse), Some(state)) = (&self.store.warehouse, &batch.warehouse) {
            warehouse
                .write_batch(&state.rows)
                .map_err(|e| super::StoreError::Warehouse(e.to_string()))?;
        }
        flush(&tx, batch)?;
        if let Some(id) = run_id {
            super::rejects::add_run_totals(&tx, id, &counts, self.now)?;
        }
        if let Some((action, campaign, detail)) = &self.audit_accepted {
            if counts.accepted > 0 {
                Store::audit_on(
                    &tx,
                    self.now,
                    &self.actor,
                    action,
                    campaign.as_deref(),
                    detail,
                )?;
            }
        }
        tx.commit()?;
        self.lock.after_commit(&self.limits);
        // Only remember the run once its row is committed; a rolled-back batch takes it along.
        self.run_id = run_id;
        outcome.accepted += counts.accepted as u64;
        outcome.duplicates += counts.duplicates as u64;
        outcome.forgotten += forgotten;
        Ok(())
    }
}

/// What every line of a transaction is applied with.
struct Ctx<'c> {
    conn: &'c Connection,
    actor: &'c str,
    now: Micros,
}

impl Drop for Ingestor<'_> {
    fn drop(&mut self) {
        // Cannot fail outside a transaction, and `apply` never leaves one open.
        let _ = self.store.conn.execute_batch("PRAGMA foreign_keys = ON");
    }
}

fn campaign_info<'b>(
    conn: &Connection,
    batch: &'b mut Batch,
    key: &str,
) -> std::result::Result<&'b CampaignInfo, Failure> {
    if !batch.campaigns.contains_key(key) {
        let info = load_campaign(conn, key)?.map(|(c, arms)| CampaignInfo {
            id: c.id,
            status: c.status,
            kind: c.spec.kind,
            arms: arms.iter().map(|a| (a.key.clone(), a.id)).collect(),
            custom_kinds: c.spec.custom_kinds.clone(),
            periods: Vec::new(),
            pruned_before: None,
        });
        let info = match info {
            Some(mut info) => {
                info.periods = super::periods::period_starts(conn, info.id)?;
                info.pruned_before = super::retention::pruned_before(conn, info.id)?;
                Some(info)
            }
            None => None,
        };
        batch.campaigns.insert(key.to_string(), info);
    }
    match batch.campaigns.get(key) {
        Some(Some(info)) => {
            if !info.status.accepts_data() {
                return Err(reject(
                    RejectReason::CampaignNotStarted,
                    format!("campaign `{key}` is still a draft; start it before sending traffic"),
                ));
            }
            Ok(info)
        }
        _ => Err(reject(
            RejectReason::UnknownCampaign,
            format!("field `campaign`: no campaign `{key}`"),
        )),
    }
}

/// Whether `unit` was erased from campaign `campaign_id` (or from every campaign).
fn forgotten(
    conn: &Connection,
    batch: &mut Batch,
    campaign_id: i64,
    unit: &str,
) -> std::result::Result<bool, Failure> {
    if batch.tombstones.is_none() {
        batch.tombstones = Some(Tombstones::load(conn)?);
    }
    match &batch.tombstones {
        Some(t) => Ok(t.is_forgotten(conn, campaign_id, unit)?),
        None => Ok(false),
    }
}

fn apply_record(
    ctx: &Ctx<'_>,
    batch: &mut Batch,
    record: IngestRecord,
) -> std::result::Result<Applied, Failure> {
    match record {
        IngestRecord::Campaign(def) => apply_campaign(ctx, batch, *def),
        IngestRecord::Assignment(a) => apply_assignment(ctx.conn, batch, a),
        IngestRecord::Event(e) => apply_event(ctx.conn, batch, e),
    }
}

fn apply_campaign(
    ctx: &Ctx<'_>,
    batch: &mut Batch,
    def: CampaignDefinition,
) -> std::result::Result<Applied, Failure> {
    let conn = ctx.conn;
    if let Some((existing, _)) = load_campaign(conn, &def.spec.key)? {
        if existing.spec == def.spec {
            return Ok(Applied::Duplicate);
        }
        return Err(reject(
            RejectReason::CampaignMismatch,
            format!(
                "campaign `{}` exists with a different definition; rename it or remove the line",
                def.spec.key
            ),
        ));
    }
    insert_campaign(conn, &def.spec, def.status, ctx.now, ctx.actor)?;
    batch.campaigns.remove(&def.spec.key);
    Ok(Applied::New)
}

fn apply_assignment(
    conn: &Connection,
    batch: &mut Batch,
    a: AssignmentLine,
) -> std::result::Result<Applied, Failure> {
    let campaign_id = campaign_info(conn, batch, &a.campaign)?.id;
    if forgotten(conn, batch, campaign_id, &a.unit)? {
        return Ok(Applied::Forgotten);
    }
    let info = campaign_info(conn, batch, &a.campaign)?;
    let period = info.period_at(a.ts);
    let Some(&(_, arm_id)) = info.arms.iter().find(|(k, _)| *k == a.arm) else {
        let known: Vec<&str> = info.arms.iter().map(|(k, _)| k.as_str()).collect();
        return Err(reject(
            RejectReason::UnknownArm,
            format!(
                "field `arm`: campaign `{}` has no arm `{}` (arms: {})",
                a.campaign,
                a.arm,
                known.join(", ")
            ),
        ));
    };
    // The column is NOT NULL: an observational line without a propensity stores 1.0, which
    // means "not logged" for that kind and which no estimator reads (README, Observational).
    let propensity = match (a.propensity, info.kind) {
        (Some(p), _) => p,
        (None, CampaignKind::Observational) => 1.0,
        (None, _) => {
            return Err(reject(
                RejectReason::MissingField,
                format!(
                    "missing field `propensity` (required unless the campaign is observational; `{}` is {})",
                    a.campaign,
                    info.kind.as_str()
                ),
            ))
        }
    };
    if let Some(warehouse) = batch.warehouse.as_mut() {
        let (unit, campaign) = (a.unit.clone(), a.campaign.clone());
        return match warehouse.assignment(campaign_id, arm_id, period, propensity, a) {
            WarehouseApplied::New => Ok(Applied::New),
            WarehouseApplied::Duplicate | WarehouseApplied::Unassigned => Ok(Applied::Duplicate),
            WarehouseApplied::Conflict => Err(conflict(&unit, &campaign)),
        };
    }
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO assignments
                 (campaign_id, unit, arm_id, propensity, context, ts, period)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            campaign_id,
            a.unit,
            arm_id,
            propensity,
            a.context,
            a.ts,
            period
        ])?;
    if inserted == 0 {
        let (existing_arm, conflicts, existing_period): (i64, i64, i64) = conn
            .prepare_cached(
                "SELECT arm_id, conflicts, period FROM assignments
                 WHERE campaign_id = ?1 AND unit = ?2",
            )?
            .query_row(params![campaign_id, a.unit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if existing_arm == arm_id {
            return Ok(Applied::Duplicate);
        }
        conn.prepare_cached(
            "UPDATE assignments SET conflicts = conflicts + 1 WHERE campaign_id = ?1 AND unit = ?2",
        )?
        .execute(params![campaign_id, a.unit])?;
        if conflicts == 0 {
            *batch
                .arms
                .entry((existing_arm, existing_period))
                .or_default() += ArmRollup::conflicted();
        }
        return Err(conflict(&a.unit, &a.campaign));
    }
    *batch.arms.entry((arm_id, period)).or_default() += ArmRollup::assigned(a.pre_value);
    batch
        .buckets
        .entry((arm_id, bucket_of(a.ts)))
        .or_default()
        .new_units += 1;
    batch.units.entry(campaign_id).or_default().insert(
        a.unit,
        UnitState {
            arm_id,
            period,
            totals: UnitTotals {
                x: a.pre_value,
                ..UnitTotals::default()
            },
            is_new: true,
            dirty: true,
        },
    );
    Ok(Applied::New)
}

fn conflict(unit: &str, campaign: &str) -> Failure {
    reject(
        RejectReason::ConflictingAssignment,
        format!(
            "field `arm`: unit `{unit}` is already assigned to another arm of `{campaign}`; kept \
             the first assignment and counted a multiple exposure"
        ),
    )
}

fn unassigned(unit: &str, campaign: &str) -> Failure {
    reject(
        RejectReason::UnassignedUnit,
        format!(
            "field `unit`: `{unit}` has no assignment in `{campaign}`; send its assignment line \
             first"
        ),
    )
}

fn bucket_of(ts: Micros) -> Micros {
    ts.div_euclid(BUCKET_MICROS) * BUCKET_MICROS
}

/// The unit's running totals: from this batch, else from `unit_totals`; `None` when the unit
/// has no assignment.
fn load_unit<'b>(
    conn: &Connection,
    units: &'b mut HashMap<i64, HashMap<String, UnitState>>,
    campaign_id: i64,
    unit: &str,
) -> std::result::Result<Option<&'b mut UnitState>, Failure> {
    let units = units.entry(campaign_id).or_default();
    // Looked up twice on a hit: a borrow returned from inside the `if let` would outlive it.
    if units.contains_key(unit) {
        return Ok(units.get_mut(unit));
    }
    let state = conn
        .prepare_cached(
            "SELECT arm_id, pre_value, exposures, clicks, add_to_carts, purchases, custom_events,
                    revenue, cost, last_ts, period
             FROM unit_totals WHERE campaign_id = ?1 AND unit = ?2",
        )?
        .query_row(params![campaign_id, unit], |r| {
            Ok(UnitState {
                arm_id: r.get(0)?,
                period: r.get(10)?,
                totals: UnitTotals {
                    x: r.get(1)?,
                    exposures: r.get(2)?,
                    clicks: r.get(3)?,
                    add_to_carts: r.get(4)?,
                    purchases: r.get(5)?,
                    custom_events: r.get(6)?,
                    revenue: r.get(7)?,
                    cost: r.get(8)?,
                    last_ts: r.get(9)?,
                },
                is_new: false,
                dirty: false,
            })
        })
        .optional()?;
    Ok(state.map(|s| units.entry(unit.to_owned()).or_insert(s)))
}

fn apply_event(
    conn: &Connection,
    batch: &mut Batch,
    e: EventRecord,
) -> std::result::Result<Applied, Failure> {
    let campaign_id = campaign_info(conn, batch, &e.campaign)?.id;
    if forgotten(conn, batch, campaign_id, &e.unit)? {
        return Ok(Applied::Forgotten);
    }
    let info = campaign_info(conn, batch, &e.campaign)?;
    // Events before the watermark were deleted, so their event_ids no longer catch a replay:
    // applying one could count it a second time.
    if let Some(before) = info.pruned_before.filter(|&b| e.ts < b) {
        return Err(reject(
            RejectReason::Pruned,
            format!(
                "field `ts`: `{}` pruned its events before {}; an event this old cannot be told \
                 from a replay of one already counted, so it is not applied",
                e.campaign,
                crate::clock::format_rfc3339(before)
            ),
        ));
    }
    let standard = StandardKind::parse(&e.kind);
    if standard.is_none() && !info.custom_kinds.contains(&e.kind) {
        return Err(reject(
            RejectReason::UnknownKind,
            format!(
                "field `kind`: `{}` is not exposure, click, add_to_cart, purchase or a custom kind \
                 of `{}`",
                e.kind, e.campaign
            ),
        ));
    }
    if let Some(warehouse) = batch.warehouse.as_mut() {
        let (unit, campaign) = (e.unit.clone(), e.campaign.clone());
        return match warehouse.event(campaign_id, e) {
            WarehouseApplied::New => Ok(Applied::New),
            WarehouseApplied::Duplicate | WarehouseApplied::Conflict => Ok(Applied::Duplicate),
            WarehouseApplied::Unassigned => Err(unassigned(&unit, &campaign)),
        };
    }
    let Some(unit) = load_unit(conn, &mut batch.units, campaign_id, &e.unit)? else {
        return Err(unassigned(&e.unit, &e.campaign));
    };
    let effect = EventEffect {
        kind: standard,
        value: e.value,
        cost: e.cost,
        ts: e.ts,
    };
    let delta = ArmRollup::event_delta(&unit.totals, &effect);
    let after = unit.totals.after(&effect);
    // Unreachable with the line formats' bounds (see `lines::MAX_AMOUNT`), and checked anyway:
    // a non-finite number must never reach a rollup, where it would fail every later batch.
    if !(delta.is_finite() && after.is_finite()) {
        return Err(reject(
            RejectReason::ValueOutOfRange,
            format!(
                "fields `value`/`cost`: unit `{}` of `{}` would reach a total too large to \
                 store",
                e.unit, e.campaign
            ),
        ));
    }
    let inserted = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO events (event_id, campaign_id, unit, arm_id, kind, value, cost, ts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            e.event_id,
            campaign_id,
            e.unit,
            unit.arm_id,
            e.kind,
            e.value,
            e.cost,
            e.ts
        ])?;
    if inserted == 0 {
        return Ok(Applied::Duplicate);
    }
    let (arm_id, period) = (unit.arm_id, unit.period);
    let b = batch.buckets.entry((arm_id, bucket_of(e.ts))).or_default();
    match standard {
        Some(StandardKind::Exposure) => b.exposures += 1,
        Some(StandardKind::Click) => b.clicks += 1,
        Some(StandardKind::Purchase) => {
            b.purchases += 1;
            b.conversions += delta.conversions;
        }
        Some(StandardKind::AddToCart) => {}
        None => {
            let events_so_far: i64 = conn
                .prepare_cached(
                    "INSERT INTO unit_custom_totals (campaign_id, unit, kind, events)
                     VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT (campaign_id, unit, kind) DO UPDATE SET events = events + 1
                     RETURNING events",
                )?
                .query_row(params![campaign_id, e.unit, e.kind], |r| r.get(0))?;
            let c = batch.custom.entry((arm_id, e.kind)).or_default();
            c.0 += 1;
            c.1 += i64::from(events_so_far == 1);
        }
    }
    b.revenue += e.value;
    b.cost += e.cost;
    *batch.arms.entry((arm_id, period)).or_default() += delta;
    unit.totals = after;
    unit.dirty = true;
    Ok(Applied::New)
}

fn flush(conn: &Connection, batch: Batch) -> Result<()> {
    for (campaign_id, unit, s) in batch
        .units
        .into_iter()
        .flat_map(|(c, units)| units.into_iter().map(move |(u, s)| (c, u, s)))
    {
        if !s.dirty {
            continue;
        }
        let sql = if s.is_new {
            "INSERT INTO unit_totals (campaign_id, unit, arm_id, pre_value, exposures, clicks,
                 add_to_carts, purchases, custom_events, revenue, cost, last_ts, period)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        } else {
            "UPDATE unit_totals SET arm_id = ?3, pre_value = ?4, exposures = ?5, clicks = ?6,
                 add_to_carts = ?7, purchases = ?8, custom_events = ?9, revenue = ?10, cost = ?11,
                 last_ts = ?12, period = ?13
             WHERE campaign_id = ?1 AND unit = ?2"
        };
        let t = &s.totals;
        conn.prepare_cached(sql)?.execute(params![
            campaign_id,
            unit,
            s.arm_id,
            t.x,
            t.exposures,
            t.clicks,
            t.add_to_carts,
            t.purchases,
            t.custom_events,
            t.revenue,
            t.cost,
            t.last_ts,
            s.period
        ])?;
    }
    let mut per_arm: HashMap<i64, ArmRollup> = HashMap::default();
    for ((arm_id, period), delta) in batch.arms {
        conn.prepare_cached(rollup_sql::upsert_period_sql())?
            .execute(rusqlite::params_from_iter(rollup_sql::period_params(
                arm_id, period, &delta,
            )))?;
        *per_arm.entry(arm_id).or_default() += delta;
    }
    for (arm_id, delta) in per_arm {
        conn.prepare_cached(rollup_sql::update_sql())?
            .execute(rusqlite::params_from_iter(rollup_sql::update_params(
                arm_id, &delta,
            )))?;
    }
    for ((arm_id, bucket), b) in batch.buckets {
        conn.prepare_cached(
            "INSERT INTO arm_buckets (arm_id, bucket, new_units, exposures, clicks, purchases,
                                      conversions, revenue, cost)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (arm_id, bucket) DO UPDATE SET
                 new_units = new_units + excluded.new_units,
                 exposures = exposures + excluded.exposures,
                 clicks = clicks + excluded.clicks,
                 purchases = purchases + excluded.purchases,
                 conversions = conversions + excluded.conversions,
                 revenue = revenue + excluded.revenue,
                 cost = cost + excluded.cost",
        )?
        .execute(params![
            arm_id,
            bucket,
            b.new_units,
            b.exposures,
            b.clicks,
            b.purchases,
            b.conversions,
            b.revenue,
            b.cost
        ])?;
    }
    for ((arm_id, kind), (events, units)) in batch.custom {
        conn.prepare_cached(
            "INSERT INTO arm_custom_rollups (arm_id, kind, events, units) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (arm_id, kind) DO UPDATE SET
                 events = events + excluded.events, units = units + excluded.units",
        )?
        .execute(params![arm_id, kind, events, units])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn foreign_keys(store: &Store) -> i64 {
        store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .expect("pragma")
    }

    #[test]
    fn foreign_keys_come_back_on_after_an_ingest() {
        let mut store = Store::open_in_memory().expect("store");
        assert_eq!(foreign_keys(&store), 1);
        {
            let mut ingestor = Ingestor::new(&mut store, "test", "tester", 0).expect("ingestor");
            let outcome = ingestor
                .apply(vec![IngestItem::<Record> {
                    line: 1,
                    raw: "",
                    parsed: Err(LineError::new(RejectReason::Malformed, "bad")),
                }])
                .expect("apply");
            assert_eq!(outcome.rejected.len(), 1);
            assert_eq!(foreign_keys(ingestor.store), 0);
        }
        assert_eq!(foreign_keys(&store), 1);
    }
}
