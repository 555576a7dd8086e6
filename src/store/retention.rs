//! Retention: deleting raw rows older than a window while every aggregate stays.
//!
//! What `prune` removes and keeps, and why:
//! - Raw events before the cutoff are deleted.
//! - Assignments before the cutoff keep their row (campaign, unit, arm, propensity, period,
//!   conflicts, ts) and lose their context (`'{}'`), where a feed's personal detail lives.
//!   The row itself must stay: `unit_totals` references it (a foreign key), an event arriving
//!   later for that unit is matched through it, and without it a replayed assignment line
//!   would enter the unit a second time and count it twice.
//! - `unit_totals` stays whole. A unit's running revenue r is what makes the arm's sum of
//!   squares exact when it buys again (sumsq grows by 2rv + v², see batch.rs); without it a
//!   later purchase could only be added as if it were the unit's first. The same holds for
//!   the count moments (exposures², clicks·exposures, ...) and the CUPED covariate.
//! - Rollups (arm, per minute, per period, custom), reports, models and forecasts are
//!   aggregates and stay, so every report still shows.
//!
//! The prune runs in one IMMEDIATE transaction (all campaigns, their audit rows and their
//! watermarks commit together or not at all). The watermark (`prune_marks.pruned_before`) lets
//! `verify` check rollups against unit_totals instead of raw rows, lets the readers of raw rows
//! say what is missing, and makes ingest refuse an event from before it (its original was
//! deleted, so the event_id no longer deduplicates a re-ingested old file).

use super::{Result, Store};
use crate::domain::Micros;
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// What a prune removes (or, dry, would remove) from one campaign.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PruneCount {
    pub campaign: String,
    pub events: i64,
    pub contexts: i64,
}

/// A campaign's retention watermark: nothing before `pruned_before` is in raw rows any more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneMark {
    pub pruned_before: Micros,
    pub pruned_at: Micros,
    pub actor: String,
    pub events_deleted: i64,
    pub contexts_cleared: i64,
}

/// Every unit of campaign `?1` rebuilt from its assignment skeleton and `unit_totals` (the
/// columns `rollup_sql::RECOMPUTE` reads): the recompute that still works after a prune.
pub(super) const TOTALS_UNITS_CTE: &str = "WITH per_unit AS (
                 SELECT s.arm_id, s.period, s.unit, s.conflicts,
                        t.pre_value AS x,
                        COALESCE(t.exposures, 0) AS exposures,
                        COALESCE(t.clicks, 0) AS clicks,
                        COALESCE(t.add_to_carts, 0) AS carts,
                        COALESCE(t.purchases, 0) AS purchases,
                        COALESCE(t.custom_events, 0) AS custom,
                        COALESCE(t.revenue, 0.0) AS r,
                        COALESCE(t.cost, 0.0) AS c,
                        t.last_ts AS last_ts
                 FROM assignments s
                 LEFT JOIN unit_totals t ON t.campaign_id = s.campaign_id AND t.unit = s.unit
                 WHERE s.campaign_id = ?1
             )";

const COUNT_SQL: &str = "SELECT c.key, c.id,
        (SELECT COUNT(*) FROM events e WHERE e.campaign_id = c.id AND e.ts < ?1),
        (SELECT COUNT(*) FROM assignments s
          WHERE s.campaign_id = c.id AND s.ts < ?1 AND s.context <> '{}')
     FROM campaigns c ORDER BY c.key";

// data-plane: only prune and prune_counts call it, which refuse on a warehouse
fn counts(conn: &rusqlite::Connection, before: Micros) -> Result<Vec<(i64, PruneCount)>> {
    let mut stmt = conn.prepare_cached(COUNT_SQL)?;
    let rows = stmt.query_map([before], |r| {
        Ok((
            r.get::<_, i64>(1)?,
            PruneCount {
                campaign: r.get(0)?,
                events: r.get(2)?,
                contexts: r.get(3)?,
            },
        ))
    })?;
    let all = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(all
        .into_iter()
        .filter(|(_, c)| c.events > 0 || c.contexts > 0)
        .collect())
}

impl Store {
    /// What `prune(before, ..)` would remove, per campaign with anything to remove.
    pub fn prune_counts(&self, before: Micros) -> Result<Vec<PruneCount>> {
        self.sqlite_plane_only("prune (deleting old rows)")?;
        Ok(counts(&self.conn, before)?
            .into_iter()
            .map(|(_, c)| c)
            .collect())
    }

    /// Deletes events and clears assignment contexts older than `before`, records each
    /// campaign's watermark and one audit row per campaign, all in one transaction.
    pub fn prune(&mut self, before: Micros, now: Micros, actor: &str) -> Result<Vec<PruneCount>> {
        self.sqlite_plane_only("prune (deleting old rows)")?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = counts(&tx, before)?;
        for (id, c) in &found {
            tx.prepare_cached("DELETE FROM events WHERE campaign_id = ?1 AND ts < ?2")?
                .execute(params![id, before])?;
            tx.prepare_cached(
                "UPDATE assignments SET context = '{}'
                 WHERE campaign_id = ?1 AND ts < ?2 AND context <> '{}'",
            )?
            .execute(params![id, before])?;
            tx.prepare_cached(
                "INSERT INTO prune_marks (campaign_id, pruned_before, pruned_at, actor,
                                          events_deleted, contexts_cleared)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (campaign_id) DO UPDATE SET
                    pruned_before = MAX(pruned_before, excluded.pruned_before),
                    pruned_at = excluded.pruned_at, actor = excluded.actor,
                    events_deleted = events_deleted + excluded.events_deleted,
                    contexts_cleared = contexts_cleared + excluded.contexts_cleared",
            )?
            .execute(params![id, before, now, actor, c.events, c.contexts])?;
            let detail = format!(
                "before {}: {} events deleted, {} assignment contexts cleared",
                crate::clock::format_rfc3339(before),
                c.events,
                c.contexts
            );
            Store::audit_on(
                &tx,
                now,
                actor,
                "retention.prune",
                Some(&c.campaign),
                &detail,
            )?;
        }
        tx.commit()?;
        Ok(found.into_iter().map(|(_, c)| c).collect())
    }

    /// The campaign's watermark, `None` when it was never pruned.
    pub fn prune_mark(&self, key: &str) -> Result<Option<PruneMark>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT m.pruned_before, m.pruned_at, m.actor, m.events_deleted,
                        m.contexts_cleared
                 FROM prune_marks m JOIN campaigns c ON c.id = m.campaign_id WHERE c.key = ?1",
            )?
            .query_row([key], |r| {
                Ok(PruneMark {
                    pruned_before: r.get(0)?,
                    pruned_at: r.get(1)?,
                    actor: r.get(2)?,
                    events_deleted: r.get(3)?,
                    contexts_cleared: r.get(4)?,
                })
            })
            .optional()?)
    }

    /// Compares the stored rollups (per arm and per period) with a recompute from
    /// `unit_totals`: what `verify` can still check once raw events were pruned.
    pub fn verify_rollups_against_unit_totals(&self, key: &str) -> Result<Vec<String>> {
        self.verify_rollups_from(key, super::rollup_sql::UnitsSource::Totals)
    }
}

/// The campaign's watermark, for the ingest path inside its transaction.
pub(super) fn pruned_before(
    conn: &rusqlite::Connection,
    campaign_id: i64,
) -> Result<Option<Micros>> {
    Ok(conn
        .prepare_cached("SELECT pruned_before FROM prune_marks WHERE campaign_id = ?1")?
        .query_row([campaign_id], |r| r.get(0))
        .optional()?)
}
