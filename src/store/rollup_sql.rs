//! The SQL side of `ArmRollup::FIELDS`: the `arm_rollups` column list, the row reader, the
//! batch UPDATE, and one recompute expression per field over per-unit rows (used by `verify`'s
//! full recompute and by the per-segment reports). Everything here is built from the field
//! table, so a new statistic needs only its expression in `RECOMPUTE`.

use crate::domain::{ArmRollup, RollupKind, RollupValue};
use rusqlite::types::Value;
use rusqlite::Row;
use std::sync::OnceLock;

/// Each field recomputed from per-unit rows `p` with columns `unit`, `conflicts`, `x`
/// (pre_value, NULL when absent), `exposures`, `clicks`, `carts`, `purchases`, `custom`, `r`
/// (revenue), `c` (cost) and `last_ts`; NULL sums (no units) read as 0. In
/// `ArmRollup::FIELDS` order (a test checks).
const RECOMPUTE: &[(&str, &str)] = &[
    ("units", "COUNT(p.unit)"),
    ("conflicted_units", "SUM(p.conflicts > 0)"),
    ("exposures", "SUM(p.exposures)"),
    ("exposed_units", "SUM(p.exposures > 0)"),
    ("clicks", "SUM(p.clicks)"),
    ("click_units", "SUM(p.clicks > 0)"),
    ("add_to_carts", "SUM(p.carts)"),
    ("cart_units", "SUM(p.carts > 0)"),
    ("purchases", "SUM(p.purchases)"),
    ("conversions", "SUM(p.purchases > 0)"),
    ("custom_events", "SUM(p.custom)"),
    ("revenue_sum", "SUM(p.r)"),
    ("revenue_sumsq", "SUM(p.r * p.r)"),
    ("cost_sum", "SUM(p.c)"),
    ("cost_sumsq", "SUM(p.c * p.c)"),
    ("revenue_cost_sum", "SUM(p.r * p.c)"),
    ("x_units", "SUM(p.x IS NOT NULL)"),
    ("x_sum", "SUM(COALESCE(p.x, 0.0))"),
    ("x_sumsq", "SUM(COALESCE(p.x, 0.0) * COALESCE(p.x, 0.0))"),
    ("x_revenue_sum", "SUM(COALESCE(p.x, 0.0) * p.r)"),
    (
        "x_conversion_sum",
        "SUM(CASE WHEN p.purchases > 0 THEN COALESCE(p.x, 0.0) ELSE 0.0 END)",
    ),
    ("last_event_ts", "MAX(p.last_ts)"),
    ("exposures_sumsq", "SUM(p.exposures * p.exposures)"),
    ("clicks_sumsq", "SUM(p.clicks * p.clicks)"),
    ("clicks_exposures_sum", "SUM(p.clicks * p.exposures)"),
    ("purchases_sumsq", "SUM(p.purchases * p.purchases)"),
    ("revenue_purchases_sum", "SUM(p.r * p.purchases)"),
    ("x_cost_sum", "SUM(COALESCE(p.x, 0.0) * p.c)"),
    (
        "x_cart_sum",
        "SUM(CASE WHEN p.carts > 0 THEN COALESCE(p.x, 0.0) ELSE 0.0 END)",
    ),
    ("x_exposures_sum", "SUM(COALESCE(p.x, 0.0) * p.exposures)"),
    ("x_clicks_sum", "SUM(COALESCE(p.x, 0.0) * p.clicks)"),
    ("x_purchases_sum", "SUM(COALESCE(p.x, 0.0) * p.purchases)"),
];

/// Where a recompute reads its per-unit rows from: raw assignments and events, or
/// `unit_totals` once retention pruned the raw rows. An enum, not a string, so that only these
/// two constant CTEs can ever be spliced into the recompute's SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnitsSource {
    Raw,
    Totals,
}

impl UnitsSource {
    // data-plane: SQL for the SQLite writer and the recompute, which a warehouse database never runs
    pub(super) fn cte(self) -> &'static str {
        match self {
            UnitsSource::Raw => RAW_UNITS_CTE,
            UnitsSource::Totals => super::retention::TOTALS_UNITS_CTE,
        }
    }
}

/// `WITH` clauses that rebuild every unit of campaign `?1` from raw rows alone: `per_unit`
/// has the columns `RECOMPUTE` reads plus `arm_id` and `period`. The from-scratch side of
/// `verify`, per arm and per (arm, period).
pub const RAW_UNITS_CTE: &str = "WITH ev AS (
                 -- Aggregate events per unit first: one pass over the campaign's events.
                 SELECT unit,
                        SUM(kind = 'exposure') AS exposures,
                        SUM(kind = 'click') AS clicks,
                        SUM(kind = 'add_to_cart') AS carts,
                        SUM(kind = 'purchase') AS purchases,
                        SUM(kind NOT IN ('exposure','click','add_to_cart','purchase')) AS custom,
                        SUM(value) AS r,
                        SUM(cost) AS c,
                        MAX(ts) AS last_ts
                 FROM events WHERE campaign_id = ?1 GROUP BY unit
             ),
             per_unit AS (
                 SELECT s.arm_id, s.period, s.unit, s.conflicts,
                        json_extract(s.context, '$.pre_value') AS x,
                        COALESCE(ev.exposures, 0) AS exposures,
                        COALESCE(ev.clicks, 0) AS clicks,
                        COALESCE(ev.carts, 0) AS carts,
                        COALESCE(ev.purchases, 0) AS purchases,
                        COALESCE(ev.custom, 0) AS custom,
                        COALESCE(ev.r, 0.0) AS r,
                        COALESCE(ev.c, 0.0) AS c,
                        ev.last_ts AS last_ts
                 FROM assignments s LEFT JOIN ev ON ev.unit = s.unit
                 WHERE s.campaign_id = ?1
             )";

/// `units, conflicted_units, ...`: the stored columns, in field order.
pub fn columns() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        ArmRollup::FIELDS
            .iter()
            .map(|f| f.name)
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The recompute expressions over per-unit rows `p`, in field order, as a select list.
pub fn recompute_list() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        ArmRollup::FIELDS
            .iter()
            .map(|f| {
                let expr = RECOMPUTE
                    .iter()
                    .find(|(name, _)| *name == f.name)
                    .map_or("NULL", |(_, e)| *e);
                match f.kind {
                    RollupKind::Count => format!("COALESCE({expr}, 0)"),
                    RollupKind::Sum => format!("COALESCE({expr}, 0.0)"),
                    RollupKind::Latest => expr.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join(",\n       ")
    })
}

// data-plane: SQL for the SQLite writer and the recompute, which a warehouse database never runs
/// Adds a batch's delta to one arm: `?1` is the arm id, `?2...` the fields in order.
pub fn update_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let sets: Vec<String> = ArmRollup::FIELDS
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (n, p) = (f.name, i + 2);
                match f.kind {
                    RollupKind::Count | RollupKind::Sum => format!("{n} = {n} + ?{p}"),
                    // The later of the two; either may be NULL.
                    RollupKind::Latest => format!("{n} = COALESCE(MAX({n}, ?{p}), {n}, ?{p})"),
                }
            })
            .collect();
        // sql-splice: constant: sets.join(", ") -- built from the field table above
        format!(
            "UPDATE arm_rollups SET {} WHERE arm_id = ?1",
            sets.join(", ")
        )
    })
}

// data-plane: SQL for the SQLite writer and the recompute, which a warehouse database never runs
/// Adds a batch's delta to one (arm, allocation period) of `arm_period_rollups`, creating the
/// row on the period's first unit: `?1` arm id, `?2` period, `?3...` the fields in order.
pub fn upsert_period_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let params: Vec<String> = (0..ArmRollup::FIELDS.len())
            .map(|i| format!("?{}", i + 3))
            .collect();
        let sets: Vec<String> = ArmRollup::FIELDS
            .iter()
            .map(|f| {
                let n = f.name;
                match f.kind {
                    RollupKind::Count | RollupKind::Sum => format!("{n} = {n} + excluded.{n}"),
                    RollupKind::Latest => {
                        format!("{n} = COALESCE(MAX({n}, excluded.{n}), {n}, excluded.{n})")
                    }
                }
            })
            .collect();
        // sql-splice: constant: columns(), params.join(", "), sets.join(", ") -- built from the field table above
        format!(
            "INSERT INTO arm_period_rollups (arm_id, period, {}) VALUES (?1, ?2, {})
             ON CONFLICT (arm_id, period) DO UPDATE SET {}",
            columns(),
            params.join(", "),
            sets.join(", ")
        )
    })
}

/// The parameters of `upsert_period_sql`.
pub fn period_params(arm_id: i64, period: i64, delta: &ArmRollup) -> Vec<Value> {
    let mut out = update_params(arm_id, delta);
    out.insert(1, Value::Integer(period));
    out
}

/// The parameters of `update_sql` for `delta`.
pub fn update_params(arm_id: i64, delta: &ArmRollup) -> Vec<Value> {
    let mut out = Vec::with_capacity(ArmRollup::FIELDS.len() + 1);
    out.push(Value::Integer(arm_id));
    out.extend(ArmRollup::FIELDS.iter().map(|f| match (f.get)(delta) {
        RollupValue::Count(n) => Value::Integer(n),
        RollupValue::Sum(x) => Value::Real(x),
        RollupValue::Latest(t) => t.map_or(Value::Null, Value::Integer),
    }));
    out
}

/// Reads the fields from columns `offset..` of a row selected with `columns()` or
/// `recompute_list()`.
pub fn read(r: &Row<'_>, offset: usize) -> rusqlite::Result<ArmRollup> {
    let mut rollup = ArmRollup::default();
    for (i, f) in ArmRollup::FIELDS.iter().enumerate() {
        let v = match f.kind {
            RollupKind::Count => RollupValue::Count(r.get(offset + i)?),
            RollupKind::Sum => RollupValue::Sum(r.get(offset + i)?),
            RollupKind::Latest => RollupValue::Latest(r.get(offset + i)?),
        };
        (f.set)(&mut rollup, v);
    }
    Ok(rollup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_one_recompute_expression_in_order() {
        let fields: Vec<&str> = ArmRollup::FIELDS.iter().map(|f| f.name).collect();
        let exprs: Vec<&str> = RECOMPUTE.iter().map(|(n, _)| *n).collect();
        assert_eq!(fields, exprs);
    }

    #[test]
    fn the_update_round_trips_through_sqlite() {
        let store = crate::store::Store::open_in_memory().expect("store");
        let conn = &store.conn;
        conn.execute_batch(
            "INSERT INTO campaigns (id, key, name, kind, seed, traffic, created_at)
                 VALUES (1, 'c', 'c', 'ab', 1, 1.0, 0);
             INSERT INTO arms (id, campaign_id, key, position, weight) VALUES (7, 1, 'a', 0, 1);
             INSERT INTO arm_rollups (arm_id) VALUES (7);",
        )
        .expect("rows");
        let mut delta = ArmRollup::default();
        for (i, f) in ArmRollup::FIELDS.iter().enumerate() {
            let v = match f.kind {
                RollupKind::Count => RollupValue::Count(i as i64),
                RollupKind::Sum => RollupValue::Sum(i as f64 / 4.0),
                RollupKind::Latest => RollupValue::Latest(Some(100)),
            };
            (f.set)(&mut delta, v);
        }
        for _ in 0..2 {
            conn.execute(
                update_sql(),
                rusqlite::params_from_iter(update_params(7, &delta)),
            )
            .expect("update");
        }
        let got = conn
            .query_row(
                // sql-splice: constant: columns() -- the field table
                &format!("SELECT {} FROM arm_rollups WHERE arm_id = 7", columns()),
                [],
                |r| read(r, 0),
            )
            .expect("read");
        let mut twice = delta.clone();
        twice += delta;
        assert_eq!(got, twice);
    }
}
