//! Background job records and the unit-level stream the jobs read (the model registry is in
//! `models`).
//! Jobs read units in keyset-paginated chunks so they can report progress and stop early
//! when cancelled, without holding a read transaction open for the whole run.

use super::data_plane::warehouse_error;
use super::warehouse::Warehouse;
use super::{Result, Store};
use crate::domain::Micros;
use rusqlite::params;

/// One job as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub campaign: String,
    /// running, done, failed or cancelled.
    pub status: String,
    pub actor: String,
    pub started_at: Micros,
    pub finished_at: Option<Micros>,
    /// What the run produced, as JSON: only a done run has one.
    pub result: Option<String>,
    pub error: Option<String>,
}

/// One assigned unit with its totals: what causal estimators and the model learn from.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    pub unit: String,
    pub arm: String,
    /// The probability the unit had of getting its arm, logged at assignment.
    pub propensity: f64,
    /// The assignment context, as stored JSON.
    pub context: String,
    pub pre_value: Option<f64>,
    pub exposures: i64,
    pub clicks: i64,
    pub purchases: i64,
    pub revenue: f64,
    pub cost: f64,
    /// Lines that tried to put this unit in another arm.
    pub conflicts: i64,
    /// When the unit was assigned (the time its RFM features are computed as of).
    pub assigned_at: Micros,
}

/// The status of a job that finished with a result.
const DONE: &str = "done";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        campaign: r.get(2)?,
        status: r.get(3)?,
        actor: r.get(4)?,
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        result: r.get(7)?,
        error: r.get(8)?,
    })
}

impl Store {
    /// Records a job as running and returns its id.
    pub fn start_job(
        &mut self,
        kind: &str,
        campaign: &str,
        actor: &str,
        ts: Micros,
    ) -> Result<i64> {
        let id = self.campaign(campaign)?.0.id;
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO jobs (kind, campaign_id, status, actor, started_at)
             VALUES (?1, ?2, 'running', ?3, ?4)",
            params![kind, id, actor, ts],
        )?;
        let job = tx.last_insert_rowid();
        Store::audit_on(
            &tx,
            ts,
            actor,
            "job.start",
            Some(campaign),
            &format!("job {job}: {kind}"),
        )?;
        tx.commit()?;
        Ok(job)
    }

    /// Marks a job done, failed or cancelled.
    pub fn finish_job(
        &mut self,
        id: i64,
        status: &str,
        ts: Micros,
        result: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE jobs SET status = ?2, finished_at = ?3, result = ?4, error = ?5 WHERE id = ?1",
            params![id, status, ts, result, error],
        )?;
        // The job's own actor and campaign: a finish is the end of the operator's action.
        let (actor, campaign, kind): (String, String, String) = tx.query_row(
            "SELECT j.actor, c.key, j.kind FROM jobs j JOIN campaigns c ON c.id = j.campaign_id
             WHERE j.id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Store::audit_on(
            &tx,
            ts,
            &actor,
            "job.finish",
            Some(&campaign),
            &format!("job {id}: {kind} {status}"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The newest job of each kind for `campaign`, whatever its status.
    pub fn latest_jobs(&self, campaign: &str) -> Result<Vec<JobRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT j.id, j.kind, c.key, j.status, j.actor, j.started_at, j.finished_at,
                    j.result, j.error
             FROM jobs j JOIN campaigns c ON c.id = j.campaign_id
             WHERE c.key = ?1
               AND j.id = (SELECT max(id) FROM jobs WHERE campaign_id = j.campaign_id
                           AND kind = j.kind)
             ORDER BY j.kind",
        )?;
        let rows = stmt.query_map(params![campaign], job_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest *done* job of each kind for `campaign`: the run whose result is in force.
    /// A cancelled or failed run produced no result and keeps none, so a console shows the
    /// last done run's result beside how the newest run ended.
    pub fn latest_done_jobs(&self, campaign: &str) -> Result<Vec<JobRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT j.id, j.kind, c.key, j.status, j.actor, j.started_at, j.finished_at,
                    j.result, j.error
             FROM jobs j JOIN campaigns c ON c.id = j.campaign_id
             WHERE c.key = ?1 AND j.status = ?2
               AND j.id = (SELECT max(id) FROM jobs WHERE campaign_id = j.campaign_id
                           AND kind = j.kind AND status = ?2)
             ORDER BY j.kind",
        )?;
        let rows = stmt.query_map(params![campaign, DONE], job_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` units of `campaign` whose key sorts after `after`, in key order; pass the
    /// last unit of one chunk as `after` of the next.
    /// An unknown campaign has no units (callers look the campaign up once beforehand, so
    /// each chunk is one query).
    pub fn unit_rows(&self, campaign: &str, after: &str, limit: usize) -> Result<Vec<UnitRow>> {
        if let Some(w) = &self.warehouse {
            return self.warehouse_unit_rows(w, campaign, after, limit);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.unit, ar.key, a.propensity, a.context, u.pre_value,
                    coalesce(u.exposures, 0), coalesce(u.clicks, 0), coalesce(u.purchases, 0),
                    coalesce(u.revenue, 0), coalesce(u.cost, 0), a.conflicts, a.ts
             FROM assignments a
             JOIN arms ar ON ar.id = a.arm_id
             LEFT JOIN unit_totals u ON u.campaign_id = a.campaign_id AND u.unit = a.unit
             WHERE a.campaign_id = (SELECT id FROM campaigns WHERE key = ?1) AND a.unit > ?2
             ORDER BY a.unit
             LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![campaign, after, limit as i64], |r| {
            Ok(UnitRow {
                unit: r.get(0)?,
                arm: r.get(1)?,
                propensity: r.get(2)?,
                context: r.get(3)?,
                pre_value: r.get(4)?,
                exposures: r.get(5)?,
                clicks: r.get(6)?,
                purchases: r.get(7)?,
                revenue: r.get(8)?,
                cost: r.get(9)?,
                conflicts: r.get(10)?,
                assigned_at: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Number of units assigned in `campaign` (the denominator of a job's progress).
    pub fn unit_count(&self, campaign: &str) -> Result<i64> {
        let id = self.campaign(campaign)?.0.id;
        if let Some(w) = &self.warehouse {
            return w.unit_count(id).map_err(warehouse_error);
        }
        Ok(self.conn.query_row(
            "SELECT count(*) FROM assignments WHERE campaign_id = ?1",
            params![id],
            |r| r.get(0),
        )?)
    }
}

impl Store {
    /// For every unit of `campaign` with an event of `kind`, the time from its assignment to
    /// its first such event, in microseconds (0 for an event logged before the assignment),
    /// and the newest assignment or event time of the campaign: how long conversions take
    /// to arrive, and how far the data reaches.
    pub fn conversion_delays(
        &self,
        campaign: &str,
        kind: &str,
    ) -> Result<(Vec<Micros>, Option<Micros>)> {
        let id = self.campaign(campaign)?.0.id;
        if let Some(w) = &self.warehouse {
            let delays = w.conversion_delays(id, kind).map_err(warehouse_error)?;
            return Ok((delays, self.latest_activity(campaign)?));
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT max(min(e.ts) - a.ts, 0) FROM events e
             JOIN assignments a ON a.campaign_id = e.campaign_id AND a.unit = e.unit
             WHERE e.campaign_id = ?1 AND e.kind = ?2
             GROUP BY e.unit",
        )?;
        let delays = stmt
            .query_map(params![id, kind], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<Micros>>>()?;
        let latest = self.latest_activity(campaign)?;
        Ok((delays, latest))
    }

    /// The newest assignment or event time of `campaign`: how far its data reaches.
    pub fn latest_activity(&self, campaign: &str) -> Result<Option<Micros>> {
        let id = self.campaign(campaign)?.0.id;
        if let Some(w) = &self.warehouse {
            return Ok(w.data_window(id).map_err(warehouse_error)?.last);
        }
        Ok(self.conn.query_row(
            "SELECT max(t) FROM (SELECT max(ts) AS t FROM assignments WHERE campaign_id = ?1
                                 UNION ALL SELECT max(ts) FROM events WHERE campaign_id = ?1)",
            params![id],
            |r| r.get(0),
        )?)
    }
}

impl Store {
    /// `unit_rows` from the warehouse: the same page, arms named from this file.
    fn warehouse_unit_rows(
        &self,
        w: &Warehouse,
        campaign: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<UnitRow>> {
        let Some((c, arms)) = super::campaigns::load_campaign(&self.conn, campaign)? else {
            return Ok(Vec::new());
        };
        let page = w.unit_page(c.id, after, limit).map_err(warehouse_error)?;
        page.into_iter()
            .map(|u| {
                let arm = arms.iter().find(|a| a.id == u.arm_id).ok_or_else(|| {
                    super::StoreError::Corrupt(format!(
                        "warehouse unit `{}` of `{campaign}` is in arm id {}, which the \
                         campaign lacks",
                        u.unit, u.arm_id
                    ))
                })?;
                Ok(UnitRow {
                    unit: u.unit,
                    arm: arm.key.clone(),
                    propensity: u.propensity,
                    context: u.context,
                    pre_value: u.pre_value,
                    exposures: u.exposures,
                    clicks: u.clicks,
                    purchases: u.purchases,
                    revenue: u.revenue,
                    cost: u.cost,
                    conflicts: u.conflicts,
                    assigned_at: u.ts,
                })
            })
            .collect()
    }
}
