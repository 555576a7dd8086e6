//! Unit-level reads: the per-unit rows the causal estimators, uplift learners and contextual
//! bandits page through, each unit's purchase history (RFM), and the data window and label
//! delays a report or a training run records. Every query runs on each node over its own
//! local tables (a unit lives on one shard) and liftdeck merges the answers, as `reads.rs`
//! does for rollups; duplicates from re-sent batches are collapsed with `FINAL` or by
//! grouping on the row's key.

use super::{Warehouse, WarehouseError};
use foldhash::HashMap;
use serde::Deserialize;

/// A unit of a campaign with its totals, as `Store::unit_rows` returns it (arm as an id).
#[derive(Debug, Clone, PartialEq, Deserialize, clickhouse::Row)]
pub struct WarehouseUnit {
    pub unit: String,
    pub arm_id: i64,
    pub propensity: f64,
    pub context: String,
    pub pre_value: Option<f64>,
    pub ts: i64,
    pub conflicts: i64,
    pub exposures: i64,
    pub clicks: i64,
    pub purchases: i64,
    pub revenue: f64,
    pub cost: f64,
}

/// First and last assignment or event time of a campaign and its assigned units.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DataWindow {
    pub first: Option<i64>,
    pub last: Option<i64>,
    pub units: i64,
    pub first_assigned: Option<i64>,
    pub last_assigned: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, clickhouse::Row)]
struct Span {
    n: u64,
    lo: i64,
    hi: i64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct Purchase {
    unit: String,
    ts: i64,
    value: f64,
}

/// One page of a node's units after `unit > ?`, in unit order. The event and conflict
/// aggregates are restricted to the page's units, so paging a campaign reads each event once.
const UNIT_PAGE: &str = "
    SELECT unit, arm_id, propensity, context, pre_value, ts,
           toInt64(conflicts) AS conflicts, toInt64(exposures) AS exposures,
           toInt64(clicks) AS clicks, toInt64(purchases) AS purchases, revenue, cost
    FROM (
        SELECT unit, arm_id, propensity, context, pre_value, ts, conflicts
        FROM (SELECT unit, arm_id, propensity, context, pre_value, ts FROM ? FINAL
              WHERE campaign_id = ? AND unit > ? ORDER BY unit LIMIT ?)
        ANY LEFT JOIN (SELECT unit, count() AS conflicts FROM ? FINAL
                       WHERE campaign_id = ? AND unit > ? GROUP BY unit) USING (unit)
    )
    ANY LEFT JOIN (
        SELECT unit, countIf(kind = 'exposure') AS exposures, countIf(kind = 'click') AS clicks,
               countIf(kind = 'purchase') AS purchases, sumKahan(value) AS revenue,
               sumKahan(cost) AS cost
        FROM ? FINAL
        WHERE campaign_id = ? AND unit IN (SELECT unit FROM ? FINAL
                                           WHERE campaign_id = ? AND unit > ?
                                           ORDER BY unit LIMIT ?)
        GROUP BY unit
    ) USING (unit)
    ORDER BY unit";

impl Warehouse {
    /// Up to `limit` units of a campaign whose id sorts after `after` (bytewise, as SQLite's
    /// text order), in that order, over every node.
    pub fn unit_page(
        &self,
        campaign_id: i64,
        after: &str,
        limit: usize,
    ) -> Result<Vec<WarehouseUnit>, WarehouseError> {
        let n = self.local_names();
        let (a, e, c) = (
            clickhouse::sql::Identifier(n.assignments),
            clickhouse::sql::Identifier(n.events),
            clickhouse::sql::Identifier(n.conflicts),
        );
        let limit = limit as u64;
        let pages = self.on_every_node(|client| {
            client
                .query(UNIT_PAGE)
                .bind(a)
                .bind(campaign_id)
                .bind(after)
                .bind(limit)
                .bind(c)
                .bind(campaign_id)
                .bind(after)
                .bind(e)
                .bind(campaign_id)
                .bind(a)
                .bind(campaign_id)
                .bind(after)
                .bind(limit)
                .fetch_all::<WarehouseUnit>()
        })?;
        let mut all: Vec<WarehouseUnit> = pages.into_iter().flatten().collect();
        all.sort_unstable_by(|x, y| x.unit.as_bytes().cmp(y.unit.as_bytes()));
        all.truncate(limit as usize);
        Ok(all)
    }

    /// Units assigned in a campaign.
    pub fn unit_count(&self, campaign_id: i64) -> Result<i64, WarehouseError> {
        self.count_rows(self.local_names().assignments, campaign_id)
    }

    /// Events stored, every campaign, each counted once.
    pub fn event_count(&self) -> Result<i64, WarehouseError> {
        self.count_rows(self.local_names().events, 0)
    }

    /// Assignments stored, every campaign, each counted once.
    pub fn assignment_count(&self) -> Result<i64, WarehouseError> {
        self.count_rows(self.local_names().assignments, 0)
    }

    /// Rows of `table` in campaign `scope` (0: every campaign) over every node, deduplicated.
    fn count_rows(&self, table: &'static str, scope: i64) -> Result<i64, WarehouseError> {
        let t = clickhouse::sql::Identifier(table);
        let counts = self.on_every_node(|client| {
            client
                .query("SELECT count() FROM ? FINAL WHERE ? = 0 OR campaign_id = ?")
                .bind(t)
                .bind(scope)
                .bind(scope)
                .fetch_one::<u64>()
        })?;
        Ok(counts.into_iter().sum::<u64>() as i64)
    }

    /// The campaign's data window: first and last assignment or event, and units assigned.
    pub fn data_window(&self, campaign_id: i64) -> Result<DataWindow, WarehouseError> {
        let n = self.local_names();
        let span = |table: &'static str| {
            let t = clickhouse::sql::Identifier(table);
            self.on_every_node(move |client| {
                client
                    .query(
                        "SELECT count() AS n, min(ts) AS lo, max(ts) AS hi FROM ?
                         WHERE campaign_id = ?",
                    )
                    .bind(t)
                    .bind(campaign_id)
                    .fetch_one::<Span>()
            })
        };
        let (assigned, events) = (span(n.assignments)?, span(n.events)?);
        let fold = |spans: &[Span]| {
            spans.iter().filter(|s| s.n > 0).fold(None, |acc, s| {
                Some(acc.map_or((s.lo, s.hi), |(lo, hi): (i64, i64)| {
                    (lo.min(s.lo), hi.max(s.hi))
                }))
            })
        };
        let a = fold(&assigned);
        let both = fold(&[assigned, events].concat());
        Ok(DataWindow {
            first: both.map(|b| b.0),
            last: both.map(|b| b.1),
            units: self.unit_count(campaign_id)?,
            first_assigned: a.map(|b| b.0),
            last_assigned: a.map(|b| b.1),
        })
    }

    /// For each unit with an event of `kind`, the time from its assignment to its first such
    /// event (0 when the event came first), in unit order.
    pub fn conversion_delays(
        &self,
        campaign_id: i64,
        kind: &str,
    ) -> Result<Vec<i64>, WarehouseError> {
        let n = self.local_names();
        let (a, e) = (
            clickhouse::sql::Identifier(n.assignments),
            clickhouse::sql::Identifier(n.events),
        );
        let parts = self.on_every_node(|client| {
            client
                .query(
                    "SELECT unit, greatest(first - assigned, 0) AS delay
                     FROM (SELECT unit, min(ts) AS first FROM ?
                           WHERE campaign_id = ? AND kind = ? GROUP BY unit)
                     ANY INNER JOIN (SELECT unit, ts AS assigned FROM ? FINAL
                                     WHERE campaign_id = ?) USING (unit)",
                )
                .bind(e)
                .bind(campaign_id)
                .bind(kind)
                .bind(a)
                .bind(campaign_id)
                .fetch_all::<(String, i64)>()
        })?;
        let mut all: Vec<(String, i64)> = parts.into_iter().flatten().collect();
        all.sort_unstable_by(|x, y| x.0.as_bytes().cmp(y.0.as_bytes()));
        Ok(all.into_iter().map(|(_, d)| d).collect())
    }

    /// Each unit's purchases (every campaign, each event once) among `units`: (ts, value),
    /// oldest first, asked of every node's own table.
    pub fn purchases_of(
        &self,
        units: &[&str],
    ) -> Result<HashMap<String, Vec<(i64, f64)>>, WarehouseError> {
        let mut out: HashMap<String, Vec<(i64, f64)>> = HashMap::default();
        if units.is_empty() {
            return Ok(out);
        }
        let e = clickhouse::sql::Identifier(self.local_names().events);
        let parts = self.on_every_node(|client| {
            client
                .query(
                    "SELECT unit, any(ts) AS ts, any(value) AS value FROM ?
                     WHERE kind = 'purchase' AND unit IN (SELECT arrayJoin(?))
                     GROUP BY campaign_id, unit, event_id",
                )
                .bind(e)
                .bind(units)
                .fetch_all::<Purchase>()
        })?;
        for p in parts.into_iter().flatten() {
            out.entry(p.unit).or_default().push((p.ts, p.value));
        }
        for v in out.values_mut() {
            v.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
        }
        Ok(out)
    }
}

/// One (arm, minute) of a campaign's chart, as `Store::buckets` returns it (arm as an id).
#[derive(Debug, Clone, PartialEq, Deserialize, clickhouse::Row)]
pub struct WarehouseBucket {
    pub arm_id: i64,
    pub bucket: i64,
    pub new_units: i64,
    pub exposures: i64,
    pub clicks: i64,
    pub purchases: i64,
    pub conversions: i64,
    pub revenue: f64,
    pub cost: f64,
}

/// The per-minute chart over one node's rows: new units at their assignment's minute, events
/// at theirs, and a conversion at the minute of the unit's first purchase. Three legs with the
/// same column types (18.16's UNION ALL does not unify them), summed per arm and minute.
const BUCKETS: &str = "
    SELECT arm_id, bucket, sum(u) AS new_units, sum(x) AS exposures, sum(k) AS clicks,
           sum(p) AS purchases, sum(v) AS conversions, sum(r) AS revenue, sum(c) AS cost
    FROM (
        SELECT arm_id, intDiv(ts, ?) * ? AS bucket, toInt64(1) AS u, toInt64(0) AS x,
               toInt64(0) AS k, toInt64(0) AS p, toInt64(0) AS v, toFloat64(0) AS r,
               toFloat64(0) AS c
        FROM ? FINAL WHERE campaign_id = ?
        UNION ALL
        SELECT arm_id, intDiv(ts, ?) * ? AS bucket, toInt64(0) AS u,
               toInt64(kind = 'exposure') AS x, toInt64(kind = 'click') AS k,
               toInt64(kind = 'purchase') AS p, toInt64(0) AS v, toFloat64(value) AS r,
               toFloat64(cost) AS c
        FROM ? FINAL WHERE campaign_id = ?
        UNION ALL
        SELECT arm_id, intDiv(min(ts), ?) * ? AS bucket, toInt64(0) AS u, toInt64(0) AS x,
               toInt64(0) AS k, toInt64(0) AS p, toInt64(1) AS v, toFloat64(0) AS r,
               toFloat64(0) AS c
        FROM ? FINAL WHERE campaign_id = ? AND kind = 'purchase' GROUP BY unit, arm_id
    )
    GROUP BY arm_id, bucket";

impl Warehouse {
    /// A campaign's per-minute chart rows (minutes of `bucket` microseconds), every node's
    /// added up, in no order. Times are after 1970, so `intDiv` floors.
    pub fn buckets(
        &self,
        campaign_id: i64,
        bucket: i64,
    ) -> Result<Vec<WarehouseBucket>, WarehouseError> {
        let n = self.local_names();
        let (a, e) = (
            clickhouse::sql::Identifier(n.assignments),
            clickhouse::sql::Identifier(n.events),
        );
        let parts = self.on_every_node(|client| {
            client
                .query(BUCKETS)
                .bind(bucket)
                .bind(bucket)
                .bind(a)
                .bind(campaign_id)
                .bind(bucket)
                .bind(bucket)
                .bind(e)
                .bind(campaign_id)
                .bind(bucket)
                .bind(bucket)
                .bind(e)
                .bind(campaign_id)
                .fetch_all::<WarehouseBucket>()
        })?;
        let mut sum: HashMap<(i64, i64), WarehouseBucket> = HashMap::default();
        for b in parts.into_iter().flatten() {
            let slot = sum.entry((b.arm_id, b.bucket)).or_insert(WarehouseBucket {
                new_units: 0,
                exposures: 0,
                clicks: 0,
                purchases: 0,
                conversions: 0,
                revenue: 0.0,
                cost: 0.0,
                ..b
            });
            slot.new_units += b.new_units;
            slot.exposures += b.exposures;
            slot.clicks += b.clicks;
            slot.purchases += b.purchases;
            slot.conversions += b.conversions;
            slot.revenue += b.revenue;
            slot.cost += b.cost;
        }
        Ok(sum.into_values().collect())
    }
}

impl Warehouse {
    /// Events per second over the `window` of data time before the campaign's newest event,
    /// and that newest time: SQLite's `recent_event_rate`, in two fan-outs.
    pub fn recent_event_rate(
        &self,
        campaign_id: i64,
        window: i64,
    ) -> Result<(f64, Option<i64>), WarehouseError> {
        let e = clickhouse::sql::Identifier(self.local_names().events);
        let spans = self.on_every_node(|client| {
            client
                .query("SELECT count() AS n, max(ts) AS lo, max(ts) AS hi FROM ? WHERE campaign_id = ?")
                .bind(e)
                .bind(campaign_id)
                .fetch_one::<Span>()
        })?;
        let Some(newest) = spans.iter().filter(|s| s.n > 0).map(|s| s.hi).max() else {
            return Ok((0.0, None));
        };
        let counts = self.on_every_node(|client| {
            client
                .query("SELECT count() FROM ? FINAL WHERE campaign_id = ? AND ts > ?")
                .bind(e)
                .bind(campaign_id)
                .bind(newest - window)
                .fetch_one::<u64>()
        })?;
        let n: u64 = counts.into_iter().sum();
        Ok((n as f64 / (window as f64 / 1e6), Some(newest)))
    }
}
