//! Reading rollups (O(arms)), recomputing them from raw rows (the consistency check), and
//! exporting a campaign's raw rows.

use super::campaigns::load_campaign;
use super::rollup_sql;
use super::{Result, Store, StoreError};
use crate::domain::{ArmRollup, AssignmentRecord, EventRecord, Micros};
use rusqlite::{params, Connection};
use serde::Serialize;

/// One arm with its rollups, as `campaign show` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ArmSummary {
    pub key: String,
    pub weight: f64,
    pub rollup: ArmRollup,
}

/// A per-minute chart bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BucketRow {
    pub arm: String,
    pub bucket: Micros,
    pub new_units: i64,
    pub exposures: i64,
    pub clicks: i64,
    pub purchases: i64,
    pub conversions: i64,
    pub revenue: f64,
    pub cost: f64,
}

/// A raw row of a campaign, in export order.
pub enum ExportRow {
    Assignment(AssignmentRecord),
    Event(EventRecord),
}

fn campaign_id(conn: &Connection, key: &str) -> Result<i64> {
    load_campaign(conn, key)?
        .map(|(c, _)| c.id)
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))
}

impl Store {
    /// The stored rollups of every arm of a campaign, in arm order. O(arms).
    pub fn arm_summaries(&self, key: &str) -> Result<Vec<ArmSummary>> {
        let id = campaign_id(&self.conn, key)?;
        if let Some(w) = &self.warehouse {
            let arms = self
                .conn
                .prepare_cached(
                    "SELECT id, key, weight FROM arms WHERE campaign_id = ?1 ORDER BY position",
                )?
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            return self.warehouse_arm_summaries(w, id, arms);
        }
        // sql-splice: constant: rollup_sql::columns() -- the rollup field table
        let sql = format!(
            "SELECT a.key, a.weight, {} FROM arms a
             JOIN arm_rollups r ON r.arm_id = a.id WHERE a.campaign_id = ?1 ORDER BY a.position",
            rollup_sql::columns()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([id], |r| {
            Ok(ArmSummary {
                key: r.get(0)?,
                weight: r.get(1)?,
                rollup: rollup_sql::read(r, 2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The same statistics recomputed from assignments and events with plain SQL, ignoring
    /// every incremental table. Slow (a full scan); it is the check that the rollups are right.
    pub fn recompute_rollups(&self, key: &str) -> Result<Vec<ArmSummary>> {
        self.recompute_rollups_from(key, rollup_sql::UnitsSource::Raw)
    }

    /// The recompute over the per-unit rows `units` names (raw rows, or unit_totals
    /// once raw rows were pruned).
    pub(super) fn recompute_rollups_from(
        &self,
        key: &str,
        units: rollup_sql::UnitsSource,
    ) -> Result<Vec<ArmSummary>> {
        self.sqlite_plane_only("the recompute behind `verify`")?;
        let id = campaign_id(&self.conn, key)?;
        // sql-splice: constant: units.cte(), rollup_sql::recompute_list() -- field table; a constant CTE
        let sql = format!(
            "{}
             SELECT a.key, a.weight, {}
             FROM arms a LEFT JOIN per_unit p ON p.arm_id = a.id
             WHERE a.campaign_id = ?1
             GROUP BY a.id ORDER BY a.position",
            units.cte(),
            rollup_sql::recompute_list()
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map([id], |r| {
            Ok(ArmSummary {
                key: r.get(0)?,
                weight: r.get(1)?,
                rollup: rollup_sql::read(r, 2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Compares stored rollups to the recompute; returns one line per disagreement.
    pub fn verify_rollups(&self, key: &str) -> Result<Vec<String>> {
        self.verify_rollups_from(key, rollup_sql::UnitsSource::Raw)
    }

    /// `verify_rollups` against the per-unit rows `units` names.
    pub(super) fn verify_rollups_from(
        &self,
        key: &str,
        units: rollup_sql::UnitsSource,
    ) -> Result<Vec<String>> {
        let stored = self.arm_summaries(key)?;
        let fresh = self.recompute_rollups_from(key, units)?;
        let mut out = Vec::new();
        for (s, f) in stored.iter().zip(&fresh) {
            for d in s.rollup.differences(&f.rollup, 1e-9) {
                out.push(format!("{key}/{}: {d} (stored vs recomputed)", s.key));
            }
        }
        // The same per allocation period, which bandit reports stratify by.
        let arm_keys: Vec<&str> = stored.iter().map(|s| s.key.as_str()).collect();
        let by_period = self.period_rollups(key)?;
        let fresh = self.recompute_period_rollups_from(key, units)?;
        for (s, f) in by_period.iter().zip(&fresh) {
            for ((arm, s_arm), f_arm) in arm_keys.iter().zip(&s.arms).zip(&f.arms) {
                for d in s_arm.differences(f_arm, 1e-9) {
                    out.push(format!(
                        "{key}/{arm} period {}: {d} (stored vs recomputed)",
                        s.period
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Per-minute buckets of a campaign, oldest first.
    pub fn buckets(&self, key: &str) -> Result<Vec<BucketRow>> {
        let id = campaign_id(&self.conn, key)?;
        if let Some(w) = &self.warehouse {
            return self.warehouse_buckets(w, key);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.key, b.bucket, b.new_units, b.exposures, b.clicks, b.purchases,
                    b.conversions, b.revenue, b.cost
             FROM arm_buckets b JOIN arms a ON a.id = b.arm_id
             WHERE a.campaign_id = ?1 ORDER BY b.bucket, a.position",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(BucketRow {
                arm: r.get(0)?,
                bucket: r.get(1)?,
                new_units: r.get(2)?,
                exposures: r.get(3)?,
                clicks: r.get(4)?,
                purchases: r.get(5)?,
                conversions: r.get(6)?,
                revenue: r.get(7)?,
                cost: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Streams a campaign's assignments (then its events) in insertion order to `sink`.
    pub fn export_rows(
        &self,
        key: &str,
        mut sink: impl FnMut(ExportRow) -> std::io::Result<()>,
    ) -> Result<()> {
        self.sqlite_plane_only("export")?;
        let id = campaign_id(&self.conn, key)?;
        let mut stmt = self.conn.prepare(
            "SELECT s.unit, a.key, s.propensity, s.context, s.ts
             FROM assignments s JOIN arms a ON a.id = s.arm_id
             WHERE s.campaign_id = ?1 ORDER BY s.ts, s.unit",
        )?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            let context: String = r.get(3)?;
            let context = match serde_json::from_str(&context) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => return Err(StoreError::Corrupt(format!("context of unit {context}"))),
            };
            sink(ExportRow::Assignment(AssignmentRecord {
                campaign: key.to_string(),
                unit: r.get(0)?,
                arm: r.get(1)?,
                propensity: r.get(2)?,
                context,
                ts: r.get(4)?,
            }))?;
        }
        let mut stmt = self.conn.prepare(
            "SELECT event_id, unit, kind, value, cost, ts FROM events
             WHERE campaign_id = ?1 ORDER BY id",
        )?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            sink(ExportRow::Event(EventRecord {
                event_id: r.get(0)?,
                campaign: key.to_string(),
                unit: r.get(1)?,
                kind: r.get(2)?,
                value: r.get(3)?,
                cost: r.get(4)?,
                ts: r.get(5)?,
            }))?;
        }
        Ok(())
    }

    /// Total events stored (all campaigns).
    pub fn event_count(&self) -> Result<i64> {
        if let Some(w) = &self.warehouse {
            return w.event_count().map_err(super::data_plane::warehouse_error);
        }
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
    }

    /// The top-level context field names recorded on any assignment of `key`, sorted: what
    /// `report ab --by` can split by (an unknown name is an error listing these). O(units).
    pub fn context_fields(&self, key: &str) -> Result<Vec<String>> {
        self.sqlite_plane_only("the context fields of a campaign's units")?;
        let id = campaign_id(&self.conn, key)?;
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT j.key FROM assignments s, json_each(s.context) j
             WHERE s.campaign_id = ?1 AND json_valid(s.context) ORDER BY j.key",
        )?;
        let rows = stmt.query_map(params![id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Arm rollups recomputed from per-unit totals (O(units)), optionally split by a context
    /// field (`--by device`) and with each unit's revenue capped at `revenue_cap` (outlier
    /// control). Returns (segment value or "", arm key, rollup, units whose revenue was capped).
    pub fn unit_rollups(
        &self,
        key: &str,
        by: Option<&str>,
        revenue_cap: Option<f64>,
    ) -> Result<Vec<(String, String, ArmRollup, i64)>> {
        self.sqlite_plane_only("a per-segment or capped-revenue report (`--by`, `--revenue-cap`)")?;
        let id = campaign_id(&self.conn, key)?;
        let path = by.map(|f| format!("$.{f}"));
        // sql-splice: constant: rollup_sql::recompute_list() -- the rollup field table
        let sql = format!(
            "WITH p AS (
                 SELECT t.arm_id, t.unit,
                        CASE WHEN ?2 IS NULL THEN ''
                             ELSE COALESCE(CAST(json_extract(s.context, ?2) AS TEXT), '(none)')
                        END AS seg,
                        s.conflicts, t.pre_value AS x, t.exposures, t.clicks,
                        t.add_to_carts AS carts, t.purchases, t.custom_events AS custom,
                        t.cost AS c, t.last_ts,
                        CASE WHEN ?3 IS NOT NULL AND t.revenue > ?3 THEN ?3 ELSE t.revenue END AS r,
                        (?3 IS NOT NULL AND t.revenue > ?3) AS capped
                 FROM unit_totals t
                 JOIN assignments s ON s.campaign_id = t.campaign_id AND s.unit = t.unit
                 WHERE t.campaign_id = ?1
             )
             SELECT p.seg, a.key, {}, SUM(p.capped)
             FROM p JOIN arms a ON a.id = p.arm_id
             GROUP BY p.seg, a.id ORDER BY p.seg, a.position",
            rollup_sql::recompute_list()
        );
        let capped = 2 + crate::domain::ArmRollup::FIELDS.len();
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params![id, path, revenue_cap], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                rollup_sql::read(r, 2)?,
                r.get::<_, i64>(capped)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Units entering the campaign per second over the `window` of data time before its
    /// newest chart bucket (data time, so replays and late batches measure the same).
    pub fn recent_unit_rate(&self, key: &str, window: Micros) -> Result<Option<f64>> {
        let id = campaign_id(&self.conn, key)?;
        if let Some(w) = &self.warehouse {
            return w
                .recent_unit_rate(id, window, super::batch::BUCKET_MICROS)
                .map_err(super::data_plane::warehouse_error);
        }
        let (newest, oldest, units): (Option<i64>, Option<i64>, Option<i64>) =
            self.conn.query_row(
                "WITH b AS (SELECT bucket, new_units FROM arm_buckets
                            WHERE arm_id IN (SELECT id FROM arms WHERE campaign_id = ?1)
                              AND new_units > 0),
                      top AS (SELECT MAX(bucket) AS m FROM b),
                      recent AS (SELECT b.bucket, b.new_units FROM b, top
                                 WHERE b.bucket > top.m - ?2)
                 SELECT (SELECT m FROM top), (SELECT MIN(bucket) FROM recent),
                        (SELECT SUM(new_units) FROM recent)",
                params![id, window],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        // The span actually covered by data: a campaign younger than the window is measured
        // over its own age, bucket edges included.
        Ok(match (newest, oldest, units) {
            (Some(n), Some(o), Some(u)) => {
                let span = (n - o + super::batch::BUCKET_MICROS) as f64 / 1e6;
                Some(u as f64 / span)
            }
            _ => None,
        })
    }

    /// The `q`-quantile (0 < q < 1) of per-unit revenue over a campaign's units (nearest rank).
    pub fn revenue_quantile(&self, key: &str, q: f64) -> Result<Option<f64>> {
        self.sqlite_plane_only("the revenue quantile (outlier cap)")?;
        let id = campaign_id(&self.conn, key)?;
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM unit_totals WHERE campaign_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        if n == 0 {
            return Ok(None);
        }
        let rank = ((q * n as f64).ceil() as i64).clamp(1, n) - 1;
        Ok(Some(self.conn.query_row(
            "SELECT revenue FROM unit_totals WHERE campaign_id = ?1
             ORDER BY revenue LIMIT 1 OFFSET ?2",
            params![id, rank],
            |r| r.get(0),
        )?))
    }

    /// Events per second over the last `window` of a campaign's data and its newest event
    /// time. Two index seeks on `events(campaign_id, ts)`: cheap on any database size.
    pub fn recent_event_rate(&self, key: &str, window: Micros) -> Result<(f64, Option<Micros>)> {
        let id = campaign_id(&self.conn, key)?;
        if let Some(w) = &self.warehouse {
            return w
                .recent_event_rate(id, window)
                .map_err(super::data_plane::warehouse_error);
        }
        let newest: Option<i64> = self.conn.query_row(
            "SELECT MAX(ts) FROM events WHERE campaign_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let Some(newest) = newest else {
            return Ok((0.0, None));
        };
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM events WHERE campaign_id = ?1 AND ts > ?2",
            params![id, newest - window],
            |r| r.get(0),
        )?;
        Ok((n as f64 / (window as f64 / 1e6), Some(newest)))
    }
}

impl Store {
    /// `buckets` from the warehouse, in the same order (minute, then arm position).
    fn warehouse_buckets(
        &self,
        w: &super::warehouse::Warehouse,
        key: &str,
    ) -> Result<Vec<BucketRow>> {
        let (campaign, arms) = super::campaigns::load_campaign(&self.conn, key)?
            .ok_or_else(|| StoreError::UnknownCampaign(key.into()))?;
        let rows = w
            .buckets(campaign.id, super::batch::BUCKET_MICROS)
            .map_err(super::data_plane::warehouse_error)?;
        let mut out = rows
            .into_iter()
            .map(|b| {
                let pos = arms.iter().position(|a| a.id == b.arm_id).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "warehouse chart row of unknown arm id {}",
                        b.arm_id
                    ))
                })?;
                Ok((
                    pos,
                    BucketRow {
                        arm: arms[pos].key.clone(),
                        bucket: b.bucket,
                        new_units: b.new_units,
                        exposures: b.exposures,
                        clicks: b.clicks,
                        purchases: b.purchases,
                        conversions: b.conversions,
                        revenue: b.revenue,
                        cost: b.cost,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|(pos, b)| (b.bucket, *pos));
        Ok(out.into_iter().map(|(_, b)| b).collect())
    }
}
