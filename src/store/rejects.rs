//! Rejected lines and the ingest runs they belong to: recording them (inside an ingest's
//! transaction) and listing them with filters (`rejects`).

use super::{Result, Store};
use crate::domain::Micros;
use crate::lines::LineError;
use rusqlite::{params, Connection};
use serde::Serialize;

/// A rejected line, in the newest run that rejected it.
#[derive(Debug, Clone, Serialize)]
pub struct RejectRow {
    pub id: i64,
    /// The ingest run (`ingest_runs.id`); none for rejects kept from before runs were recorded.
    pub run: Option<i64>,
    pub source: String,
    pub line: i64,
    pub reason: String,
    pub detail: String,
    pub raw: String,
    /// When the newest run rejected it (the ingest clock), microseconds.
    pub ts: Micros,
    /// How many runs rejected this same line.
    pub seen: i64,
}

/// Which rejects to list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct RejectFilter {
    pub run: Option<RunSelector>,
    pub reason: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunSelector {
    Id(i64),
    /// The newest run that rejected anything.
    Latest,
}

/// One ingest run with its totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IngestRunRow {
    pub id: i64,
    pub source: String,
    pub actor: String,
    pub started_at: Micros,
    pub finished_at: Option<Micros>,
    pub lines: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub rejected: i64,
}

impl Store {
    /// The newest rejects, newest first.
    pub fn rejects(&self, limit: usize) -> Result<Vec<RejectRow>> {
        self.rejects_where(&RejectFilter {
            limit,
            ..RejectFilter::default()
        })
    }

    /// Rejects matching `filter`, newest first.
    pub fn rejects_where(&self, filter: &RejectFilter) -> Result<Vec<RejectRow>> {
        let run = match filter.run {
            None => None,
            Some(RunSelector::Id(id)) => Some(id),
            Some(RunSelector::Latest) => {
                match self
                    .conn
                    .query_row("SELECT MAX(run_id) FROM rejects", [], |r| r.get(0))?
                {
                    Some(id) => Some(id),
                    None => return Ok(Vec::new()),
                }
            }
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, run_id, source, line, reason, detail, raw, ts, seen FROM rejects
             WHERE (?1 IS NULL OR run_id = ?1) AND (?2 IS NULL OR reason = ?2)
             ORDER BY id DESC LIMIT ?3",
        )?;
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![run, filter.reason, limit], |r| {
            Ok(RejectRow {
                id: r.get(0)?,
                run: r.get(1)?,
                source: r.get(2)?,
                line: r.get(3)?,
                reason: r.get(4)?,
                detail: r.get(5)?,
                raw: r.get(6)?,
                ts: r.get(7)?,
                seen: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// One ingest run with its totals.
    pub fn ingest_run(&self, id: i64) -> Result<Option<IngestRunRow>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT id, source, actor, started_at, finished_at, lines, accepted, duplicates,
                        rejected
                 FROM ingest_runs WHERE id = ?1",
                [id],
                |r| {
                    Ok(IngestRunRow {
                        id: r.get(0)?,
                        source: r.get(1)?,
                        actor: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        lines: r.get(5)?,
                        accepted: r.get(6)?,
                        duplicates: r.get(7)?,
                        rejected: r.get(8)?,
                    })
                },
            )
            .optional()?)
    }
}

/// What one transaction added to its run's totals.
#[derive(Default)]
pub(super) struct RunCounts {
    pub lines: i64,
    pub accepted: i64,
    pub duplicates: i64,
    pub rejected: i64,
}

pub(super) fn insert_run(conn: &Connection, source: &str, now: Micros, actor: &str) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO ingest_runs (source, started_at, actor, finished_at) VALUES (?1, ?2, ?3, ?2)",
    )?
    .execute(params![source, now, actor])?;
    Ok(conn.last_insert_rowid())
}

pub(super) fn add_run_totals(
    conn: &Connection,
    run: i64,
    counts: &RunCounts,
    now: Micros,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE ingest_runs SET lines = lines + ?2, accepted = accepted + ?3,
             duplicates = duplicates + ?4, rejected = rejected + ?5, finished_at = ?6
         WHERE id = ?1",
    )?
    .execute(params![
        run,
        counts.lines,
        counts.accepted,
        counts.duplicates,
        counts.rejected,
        now
    ])?;
    Ok(())
}

/// Stores a reject in `run`. The same line of the same source rejected again (a re-run of the
/// same file) moves to this run, counted in `seen`, instead of piling up.
pub(super) fn record_reject(
    conn: &Connection,
    run: i64,
    source: &str,
    line: u64,
    error: &LineError,
    raw: &str,
    now: Micros,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO rejects (run_id, source, line, reason, detail, raw, ts)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (source, line, raw) DO UPDATE SET
             run_id = excluded.run_id, reason = excluded.reason,
             detail = excluded.detail, ts = excluded.ts, seen = seen + 1",
    )?
    .execute(params![
        run,
        source,
        i64::try_from(line).unwrap_or(i64::MAX),
        error.reason.code(),
        error.detail,
        raw,
        now
    ])?;
    Ok(())
}
