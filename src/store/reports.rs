//! Saved reports: each causal, DiD and uplift result with what it was asked, the data window
//! it read and who ran it, kept so it can be shown again after the data has moved on.

use super::{Result, Store};
use crate::domain::Micros;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// A report to save.
#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub kind: &'a str,
    pub created_at: Micros,
    pub actor: &'a str,
    pub job_id: Option<i64>,
    /// JSON of the options it ran with.
    pub parameters: &'a str,
    pub model_version: Option<i64>,
    /// JSON of the report.
    pub result: &'a str,
}

/// A saved report as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub id: i64,
    pub campaign: String,
    pub kind: String,
    pub created_at: Micros,
    pub actor: String,
    pub job_id: Option<i64>,
    pub parameters: String,
    pub window_from: Option<Micros>,
    pub window_to: Option<Micros>,
    pub units: i64,
    pub model_version: Option<i64>,
    pub result: String,
}

fn report_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReportRow> {
    Ok(ReportRow {
        id: r.get(0)?,
        campaign: r.get(1)?,
        kind: r.get(2)?,
        created_at: r.get(3)?,
        actor: r.get(4)?,
        job_id: r.get(5)?,
        parameters: r.get(6)?,
        window_from: r.get(7)?,
        window_to: r.get(8)?,
        units: r.get(9)?,
        model_version: r.get(10)?,
        result: r.get(11)?,
    })
}

impl Store {
    /// Saves a report of `campaign` with the data window it read (first and last assignment
    /// or event, and the units assigned, as of now), audited, in one transaction: the
    /// window is read in the same transaction, so it is the data the report saw unless an
    /// ingest landed between the report's read and this save (then it is that ingest's).
    pub fn save_report(&mut self, campaign: &str, r: &NewReport<'_>) -> Result<i64> {
        let id = self.campaign(campaign)?.0.id;
        // On a warehouse the window is read from there first: the report was computed from
        // it, and no SQLite transaction can hold it still.
        let window = match &self.warehouse {
            Some(w) => Some(
                w.data_window(id)
                    .map_err(super::data_plane::warehouse_error)?,
            ),
            None => None,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (from, to, units): (Option<Micros>, Option<Micros>, i64) = match window {
            Some(w) => (w.first, w.last, w.units),
            None => tx.query_row(
                "SELECT min(lo), max(hi), (SELECT count(*) FROM assignments WHERE campaign_id = ?1)
             FROM (SELECT min(ts) AS lo, max(ts) AS hi FROM assignments WHERE campaign_id = ?1
                   UNION ALL
                   SELECT min(ts), max(ts) FROM events WHERE campaign_id = ?1)",
                params![id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )?,
        };
        tx.execute(
            "INSERT INTO reports (campaign_id, kind, created_at, actor, job_id, parameters,
                 window_from, window_to, units, model_version, result)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                id,
                r.kind,
                r.created_at,
                r.actor,
                r.job_id,
                r.parameters,
                from,
                to,
                units,
                r.model_version,
                r.result
            ],
        )?;
        let report = tx.last_insert_rowid();
        Store::audit_on(
            &tx,
            r.created_at,
            r.actor,
            "report.save",
            Some(campaign),
            &format!("{} report {report} saved ({units} units)", r.kind),
        )?;
        tx.commit()?;
        Ok(report)
    }

    /// Saved reports, newest first: of one campaign, or of all.
    pub fn reports(&self, campaign: Option<&str>, limit: usize) -> Result<Vec<ReportRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.id, c.key, r.kind, r.created_at, r.actor, r.job_id, r.parameters,
                    r.window_from, r.window_to, r.units, r.model_version, r.result
             FROM reports r JOIN campaigns c ON c.id = r.campaign_id
             WHERE ?1 IS NULL OR c.key = ?1 ORDER BY r.id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![campaign, limit as i64], report_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One saved report by id.
    pub fn report(&self, id: i64) -> Result<Option<ReportRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.id, c.key, r.kind, r.created_at, r.actor, r.job_id, r.parameters,
                    r.window_from, r.window_to, r.units, r.model_version, r.result
             FROM reports r JOIN campaigns c ON c.id = r.campaign_id
             WHERE r.id = ?1",
        )?;
        Ok(stmt.query_row(params![id], report_row).optional()?)
    }
}
