//! Reading sufficient statistics back: per (arm, allocation period) rollups, recomputed by
//! ClickHouse from deduplicated rows on each node, and the look-ups ingest needs.
//!
//! Why a fan-out and not one query through a Distributed view: a per-unit view behind a
//! Distributed table is the textbook layout, but 18.16 does not push the campaign filter into
//! a view, so every report would aggregate every campaign (measured: 15x slower on five
//! campaigns). Instead each node runs the whole two-level aggregation (per unit, then per arm
//! and period) over its own local tables, where the filter hits the sort key, and liftdeck adds
//! the partial sums. Because the shard key is the unit, no unit is split across nodes, so the
//! sum of the nodes' answers is exactly the answer over all rows.

use super::schema::Names;
use super::{Warehouse, WarehouseError};
use crate::domain::{ArmRollup, RollupKind, RollupValue};
use foldhash::{HashMap, HashSet};
use serde::Deserialize;
use std::sync::OnceLock;
use std::time::Duration;

/// Each field over per-unit rows with columns `conflicts`, `x` (Nullable pre_value),
/// `exposures`, `clicks`, `carts`, `purchases`, `custom`, `r`, `c`, in `ArmRollup::FIELDS`
/// order (a test checks). `last_event_ts` is read separately (NULL when no unit has events).
const CH_RECOMPUTE: &[(&str, &str)] = &[
    ("units", "count()"),
    ("conflicted_units", "countIf(conflicts > 0)"),
    ("exposures", "sum(exposures)"),
    ("exposed_units", "countIf(exposures > 0)"),
    ("clicks", "sum(clicks)"),
    ("click_units", "countIf(clicks > 0)"),
    ("add_to_carts", "sum(carts)"),
    ("cart_units", "countIf(carts > 0)"),
    ("purchases", "sum(purchases)"),
    ("conversions", "countIf(purchases > 0)"),
    ("custom_events", "sum(custom)"),
    ("revenue_sum", "sumKahan(r)"),
    ("revenue_sumsq", "sumKahan(r * r)"),
    ("cost_sum", "sumKahan(c)"),
    ("cost_sumsq", "sumKahan(c * c)"),
    ("revenue_cost_sum", "sumKahan(r * c)"),
    ("x_units", "countIf(isNotNull(x))"),
    ("x_sum", "sumKahan(ifNull(x, 0.))"),
    ("x_sumsq", "sumKahan(ifNull(x, 0.) * ifNull(x, 0.))"),
    ("x_revenue_sum", "sumKahan(ifNull(x, 0.) * r)"),
    (
        "x_conversion_sum",
        "sumKahan(if(purchases > 0, ifNull(x, 0.), 0.))",
    ),
    ("last_event_ts", ""),
    ("exposures_sumsq", "sum(exposures * exposures)"),
    ("clicks_sumsq", "sum(clicks * clicks)"),
    ("clicks_exposures_sum", "sum(clicks * exposures)"),
    ("purchases_sumsq", "sum(purchases * purchases)"),
    ("revenue_purchases_sum", "sumKahan(r * purchases)"),
    ("x_cost_sum", "sumKahan(ifNull(x, 0.) * c)"),
    ("x_cart_sum", "sumKahan(if(carts > 0, ifNull(x, 0.), 0.))"),
    ("x_exposures_sum", "sumKahan(ifNull(x, 0.) * exposures)"),
    ("x_clicks_sum", "sumKahan(ifNull(x, 0.) * clicks)"),
    ("x_purchases_sum", "sumKahan(ifNull(x, 0.) * purchases)"),
];

/// One node's partial rollup of one (arm, period).
#[derive(Debug, Deserialize, clickhouse::Row)]
struct PartialRow {
    arm_id: i64,
    period: i64,
    counts: Vec<i64>,
    sums: Vec<f64>,
    units_with_events: u64,
    last_ts: i64,
}

/// An assignment as ingest looks it up.
#[derive(Debug, Deserialize, clickhouse::Row)]
struct AssignedRow {
    unit: String,
    arm_id: i64,
    period: i64,
    propensity: f64,
}

/// A stored assignment: arm id, allocation period, propensity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assigned {
    pub arm_id: i64,
    pub period: i64,
    pub propensity: f64,
}

/// One node as `warehouse status` and `health` see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShardHealth {
    pub node: String,
    /// The server's version, or None when it did not answer.
    pub version: Option<String>,
    pub error: Option<String>,
    /// Rows in this node's own assignment and event tables (before deduplication).
    pub assignments: Option<u64>,
    pub events: Option<u64>,
}

/// The per-node aggregation over `names`, built once from the field table.
fn node_rollups_sql(names: Names) -> String {
    let counts: Vec<String> = ArmRollup::FIELDS
        .iter()
        .filter(|f| f.kind == RollupKind::Count)
        .map(|f| format!("toInt64({})", expr(f.name)))
        .collect();
    let sums: Vec<String> = ArmRollup::FIELDS
        .iter()
        .filter(|f| f.kind == RollupKind::Sum)
        .map(|f| format!("toFloat64({})", expr(f.name)))
        .collect();
    // sql-splice: constant: counts.join(", "), sums.join(", "), names.assignments, names.conflicts, names.events -- the field table above; schema::LOCAL or FRONT
    format!(
        "SELECT arm_id, period, [{}] AS counts, [{}] AS sums,
                countIf(n > 0) AS units_with_events, toInt64(maxIf(last_ts, n > 0)) AS last_ts
         FROM (
             SELECT unit, arm_id, period, x, conflicts,
                    exposures, clicks, carts, purchases, custom, r, c, last_ts, n
             FROM (
                 SELECT unit, arm_id, period, pre_value AS x, conflicts
                 FROM (SELECT unit, arm_id, period, pre_value FROM {} FINAL
                       WHERE campaign_id = ?)
                 ANY LEFT JOIN (SELECT unit, count() AS conflicts FROM {} FINAL
                                WHERE campaign_id = ? GROUP BY unit) USING (unit)
             )
             ANY LEFT JOIN (
                 SELECT unit,
                        countIf(kind = 'exposure') AS exposures,
                        countIf(kind = 'click') AS clicks,
                        countIf(kind = 'add_to_cart') AS carts,
                        countIf(kind = 'purchase') AS purchases,
                        countIf(kind NOT IN ('exposure', 'click', 'add_to_cart', 'purchase'))
                            AS custom,
                        sumKahan(value) AS r, sumKahan(cost) AS c, max(ts) AS last_ts,
                        count() AS n
                 FROM {} FINAL WHERE campaign_id = ? GROUP BY unit
             ) USING (unit)
         )
         GROUP BY arm_id, period",
        counts.join(", "),
        sums.join(", "),
        names.assignments,
        names.conflicts,
        names.events
    )
}

fn expr(name: &str) -> &'static str {
    CH_RECOMPUTE
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("0", |(_, e)| *e)
}

impl Warehouse {
    fn rollups_sql(&self) -> &'static str {
        static CLUSTER: OnceLock<String> = OnceLock::new();
        static SINGLE: OnceLock<String> = OnceLock::new();
        let names = self.local_names();
        if self.is_cluster() {
            CLUSTER.get_or_init(|| node_rollups_sql(names))
        } else {
            SINGLE.get_or_init(|| node_rollups_sql(names))
        }
    }

    /// Every (arm id, period) of a campaign with its rollup, summed over the nodes.
    pub fn period_rollups(
        &self,
        campaign_id: i64,
    ) -> Result<HashMap<(i64, i64), ArmRollup>, WarehouseError> {
        let sql = self.rollups_sql();
        let parts = self.run(futures_util::future::join_all(
            self.clients
                .iter()
                .enumerate()
                .map(|(i, client)| async move {
                    client
                        .query(sql)
                        .bind(campaign_id)
                        .bind(campaign_id)
                        .bind(campaign_id)
                        .fetch_all::<PartialRow>()
                        .await
                        .map_err(|e| self.node_error(i, e))
                }),
        ));
        let mut out: HashMap<(i64, i64), ArmRollup> = HashMap::default();
        for rows in parts {
            for row in rows? {
                let key = (row.arm_id, row.period);
                *out.entry(key).or_default() += to_rollup(&row)?;
            }
        }
        Ok(out)
    }

    /// The stored (arm id, period) of each of `units` in a campaign that has an assignment.
    pub fn assigned(
        &self,
        campaign_id: i64,
        units: &[&str],
    ) -> Result<HashMap<String, Assigned>, WarehouseError> {
        if units.is_empty() {
            return Ok(HashMap::default());
        }
        const SQL: &str = "SELECT unit, any(arm_id) AS arm_id, any(period) AS period,
                    any(propensity) AS propensity
             FROM assignments WHERE campaign_id = ? AND unit IN (SELECT arrayJoin(?))
             GROUP BY unit";
        let rows = self
            .run(
                self.primary()
                    .query(SQL)
                    .bind(campaign_id)
                    .bind(units)
                    .fetch_all::<AssignedRow>(),
            )
            .map_err(|e| self.node_error(0, e))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let a = Assigned {
                    arm_id: r.arm_id,
                    period: r.period,
                    propensity: r.propensity,
                };
                (r.unit, a)
            })
            .collect())
    }

    /// Which of `events` (unit, event id) of a campaign are stored already: what lets ingest
    /// count a re-sent event as a duplicate instead of writing it again.
    pub fn stored_events(
        &self,
        campaign_id: i64,
        events: &[(&str, &str)],
    ) -> Result<HashSet<(String, String)>, WarehouseError> {
        let mut out = HashSet::default();
        if events.is_empty() {
            return Ok(out);
        }
        // The sort key is (campaign, unit, event id): both IN lists narrow it, and the pairs
        // that matched only across lists are dropped below.
        const SQL: &str = "SELECT DISTINCT unit, event_id FROM events
             WHERE campaign_id = ? AND unit IN (SELECT arrayJoin(?))
               AND event_id IN (SELECT arrayJoin(?))";
        let mut units: Vec<&str> = events.iter().map(|(u, _)| *u).collect();
        units.sort_unstable();
        units.dedup();
        let ids: Vec<&str> = events.iter().map(|(_, e)| *e).collect();
        let rows = self
            .run(
                self.primary()
                    .query(SQL)
                    .bind(campaign_id)
                    .bind(&units)
                    .bind(&ids)
                    .fetch_all::<(String, String)>(),
            )
            .map_err(|e| self.node_error(0, e))?;
        let wanted: HashSet<(&str, &str)> = events.iter().copied().collect();
        out.extend(
            rows.into_iter()
                .filter(|(u, e)| wanted.contains(&(u.as_str(), e.as_str()))),
        );
        Ok(out)
    }

    /// Asks every node for its version and row counts; a node that does not answer within a
    /// few seconds is reported with its error, never waited on forever.
    pub fn health(&self) -> Vec<ShardHealth> {
        let names = self.local_names();
        self.run(futures_util::future::join_all(
            self.clients
                .iter()
                .enumerate()
                .map(|(i, client)| async move {
                    let probe = async {
                        let version = client
                            .query("SELECT version()")
                            .fetch_one::<String>()
                            .await?;
                        let assignments = part_rows(client, names.assignments).await?;
                        let events = part_rows(client, names.events).await?;
                        Ok::<_, clickhouse::error::Error>((version, assignments, events))
                    };
                    let answer = match tokio::time::timeout(Duration::from_secs(5), probe).await {
                        Ok(Ok(found)) => Ok(found),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("no answer within 5 s".to_string()),
                    };
                    let (version, assignments, events) = match &answer {
                        Ok((v, a, e)) => (Some(v.clone()), Some(*a), Some(*e)),
                        Err(_) => (None, None, None),
                    };
                    ShardHealth {
                        node: self.url.nodes[i].clone(),
                        version,
                        error: answer.err(),
                        assignments,
                        events,
                    }
                }),
        ))
    }
}

/// Rows in a node's own `table` (active parts, before deduplication).
async fn part_rows(
    client: &clickhouse::Client,
    table: &str,
) -> Result<u64, clickhouse::error::Error> {
    client
        .query(
            "SELECT toUInt64(sum(rows)) FROM system.parts
             WHERE active AND database = currentDatabase() AND table = ?",
        )
        .bind(table)
        .fetch_one::<u64>()
        .await
}

impl Warehouse {
    /// Units entering a campaign per second over `window` of data time before its newest
    /// per-minute bucket that has a new unit: the same definition as SQLite's
    /// `recent_unit_rate` (which reads its chart buckets), in two fan-outs (the newest bucket
    /// over every node, then each node's units after its start).
    pub fn recent_unit_rate(
        &self,
        campaign_id: i64,
        window: i64,
        bucket: i64,
    ) -> Result<Option<f64>, WarehouseError> {
        let names = self.local_names();
        let newest = self.run(futures_util::future::join_all(
            self.clients
                .iter()
                .enumerate()
                .map(|(i, client)| async move {
                    client
                        .query(
                            "SELECT count() AS n, toInt64(max(intDiv(ts, ?) * ?)) AS newest FROM ?
                         WHERE campaign_id = ?",
                        )
                        .bind(bucket)
                        .bind(bucket)
                        .bind(clickhouse::sql::Identifier(names.assignments))
                        .bind(campaign_id)
                        .fetch_one::<(u64, i64)>()
                        .await
                        .map_err(|e| self.node_error(i, e))
                }),
        ));
        let mut top: Option<i64> = None;
        for r in newest {
            let (n, m) = r?;
            if n > 0 {
                top = Some(top.map_or(m, |t: i64| t.max(m)));
            }
        }
        let Some(top) = top else { return Ok(None) };
        let recent = self.run(futures_util::future::join_all(
            self.clients
                .iter()
                .enumerate()
                .map(|(i, client)| async move {
                    client
                        .query(
                            "SELECT count() AS n, toInt64(min(intDiv(ts, ?) * ?)) AS oldest
                         FROM (SELECT ts FROM ? FINAL WHERE campaign_id = ?)
                         WHERE intDiv(ts, ?) * ? > ?",
                        )
                        .bind(bucket)
                        .bind(bucket)
                        .bind(clickhouse::sql::Identifier(names.assignments))
                        .bind(campaign_id)
                        .bind(bucket)
                        .bind(bucket)
                        .bind(top - window)
                        .fetch_one::<(u64, i64)>()
                        .await
                        .map_err(|e| self.node_error(i, e))
                }),
        ));
        let (mut units, mut oldest) = (0u64, None::<i64>);
        for r in recent {
            let (n, o) = r?;
            if n > 0 {
                units += n;
                oldest = Some(oldest.map_or(o, |x: i64| x.min(o)));
            }
        }
        Ok(oldest.map(|o| units as f64 / ((top - o + bucket) as f64 / 1e6)))
    }
}

fn to_rollup(row: &PartialRow) -> Result<ArmRollup, WarehouseError> {
    let mut rollup = ArmRollup::default();
    let (mut counts, mut sums) = (row.counts.iter(), row.sums.iter());
    for f in ArmRollup::FIELDS {
        let v = match f.kind {
            RollupKind::Count => RollupValue::Count(*counts.next().ok_or_else(short)?),
            RollupKind::Sum => RollupValue::Sum(*sums.next().ok_or_else(short)?),
            RollupKind::Latest => {
                RollupValue::Latest((row.units_with_events > 0).then_some(row.last_ts))
            }
        };
        (f.set)(&mut rollup, v);
    }
    Ok(rollup)
}

fn short() -> WarehouseError {
    WarehouseError::Other("a rollup row has fewer values than liftdeck's field table".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_one_expression_in_order() {
        let fields: Vec<&str> = ArmRollup::FIELDS.iter().map(|f| f.name).collect();
        let exprs: Vec<&str> = CH_RECOMPUTE.iter().map(|(n, _)| *n).collect();
        assert_eq!(fields, exprs);
        for f in ArmRollup::FIELDS {
            assert_eq!(
                expr(f.name).is_empty(),
                f.kind == RollupKind::Latest,
                "{}",
                f.name
            );
        }
    }
}
