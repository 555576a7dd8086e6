//! The unit x calendar-period panel behind `report did`: each assigned unit's metric total per
//! UTC calendar period (day, ISO week from Monday, month, quarter), aggregated in SQL with one
//! GROUP BY unit, period and streamed unit by unit, so raw events never reach Rust.
//!
//! A period is an integer key: days since 1970-01-01, weeks since the Monday 1969-12-29,
//! months and quarters since year 0 (year * 12 + month - 1, year * 4 + quarter - 1). Keys of
//! consecutive periods are consecutive integers, so a span is just its first and last key.

use super::campaigns::load_campaign;
use super::{Result, Store, StoreError};
use crate::domain::Micros;
use rusqlite::params;

/// The calendar period of a panel column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelPeriod {
    Day,
    Week,
    Month,
    Quarter,
}

impl PanelPeriod {
    pub fn parse(s: &str) -> Option<PanelPeriod> {
        Some(match s {
            "day" => PanelPeriod::Day,
            "week" => PanelPeriod::Week,
            "month" => PanelPeriod::Month,
            "quarter" => PanelPeriod::Quarter,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PanelPeriod::Day => "day",
            PanelPeriod::Week => "week",
            PanelPeriod::Month => "month",
            PanelPeriod::Quarter => "quarter",
        }
    }

    /// The SQL expression of the period key of `ts` (an expression in UTC microseconds).
    /// Only our own constant text is substituted, never operator input.
    fn key_sql(self, ts: &str) -> String {
        const DAY: &str = "86400000000";
        // Floor division, so instants before 1970 fall in the right day too.
        let day = format!("(({ts}) - ((({ts}) % {DAY}) + {DAY}) % {DAY}) / {DAY}");
        let year = format!("CAST(strftime('%Y', ({day}) * 86400, 'unixepoch') AS INTEGER)");
        let month0 = format!("(CAST(strftime('%m', ({day}) * 86400, 'unixepoch') AS INTEGER) - 1)");
        match self {
            PanelPeriod::Day => day,
            // 1970-01-01 was a Thursday: day + 3 counts from the Monday before it.
            PanelPeriod::Week => format!("(({day}) + 3 - (((({day}) + 3) % 7) + 7) % 7) / 7"),
            PanelPeriod::Month => format!("({year} * 12 + {month0})"),
            PanelPeriod::Quarter => format!("({year} * 4 + {month0} / 3)"),
        }
    }
}

/// What a panel cell sums over a unit's events in the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelMetric {
    /// Purchase events.
    Conversion,
    /// Event value (revenue).
    Revenue,
    /// Value minus cost.
    Profit,
    /// Click events.
    Clicks,
    /// Add-to-cart events.
    AddToCart,
    /// Offer cost.
    Cost,
}

impl PanelMetric {
    pub fn parse(s: &str) -> Option<PanelMetric> {
        Some(match s {
            "conversion" | "purchase" | "purchases" => PanelMetric::Conversion,
            "revenue" => PanelMetric::Revenue,
            "profit" => PanelMetric::Profit,
            "clicks" | "click" | "ctr" => PanelMetric::Clicks,
            "add_to_cart" => PanelMetric::AddToCart,
            "cost" => PanelMetric::Cost,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PanelMetric::Conversion => "conversion",
            PanelMetric::Revenue => "revenue",
            PanelMetric::Profit => "profit",
            PanelMetric::Clicks => "clicks",
            PanelMetric::AddToCart => "add_to_cart",
            PanelMetric::Cost => "cost",
        }
    }

    fn sum_sql(self) -> &'static str {
        match self {
            PanelMetric::Conversion => "SUM(kind = 'purchase')",
            PanelMetric::Revenue => "SUM(value)",
            PanelMetric::Profit => "SUM(value - cost)",
            PanelMetric::Clicks => "SUM(kind = 'click')",
            PanelMetric::AddToCart => "SUM(kind = 'add_to_cart')",
            PanelMetric::Cost => "SUM(cost)",
        }
    }
}

/// One assigned unit with the periods in which it had events, as (key, total), in no order.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelRow {
    pub unit: String,
    pub arm: String,
    /// Lines that tried to put the unit in another arm.
    pub conflicts: i64,
    /// The cluster field's value as text; `None` when asked for none or the unit lacks it.
    pub cluster: Option<String>,
    pub totals: Vec<(i64, f64)>,
}

fn campaign_id(store: &Store, key: &str) -> Result<i64> {
    load_campaign(&store.conn, key)?
        .map(|(c, _)| c.id)
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))
}

impl Store {
    /// The period keys of the campaign's first and last events; `None` with no events.
    pub fn panel_span(&self, key: &str, period: PanelPeriod) -> Result<Option<(i64, i64)>> {
        self.sqlite_plane_only("the unit x period panel (`report did`)")?;
        let id = campaign_id(self, key)?;
        // sql-splice: constant: period.key_sql("lo"), period.key_sql("hi") -- key_sql is a fixed expression per period over a fixed column
        let sql = format!(
            "SELECT {}, {} FROM (SELECT MIN(ts) AS lo, MAX(ts) AS hi FROM events
             WHERE campaign_id = ?1) WHERE lo IS NOT NULL",
            period.key_sql("lo"),
            period.key_sql("hi")
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params![id])?;
        Ok(match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?)),
            None => None,
        })
    }

    /// The period key of an instant, by the same SQL as the panel's cells.
    pub fn panel_period_key(&self, period: PanelPeriod, ts: Micros) -> Result<i64> {
        // sql-splice: constant: period.key_sql("?1") -- a fixed expression per period over a parameter
        let sql = format!("SELECT {}", period.key_sql("?1"));
        Ok(self.conn.query_row(&sql, params![ts], |r| r.get(0))?)
    }

    /// Every assigned unit of `key` in unit order, with its metric total per period in which
    /// it had events, and the context field `cluster_field` (`None`: no field is read).
    pub fn for_each_panel_row(
        &self,
        key: &str,
        period: PanelPeriod,
        metric: PanelMetric,
        cluster_field: Option<&str>,
        each: &mut dyn FnMut(PanelRow),
    ) -> Result<()> {
        self.sqlite_plane_only("the unit x period panel (`report did`)")?;
        let id = campaign_id(self, key)?;
        // A quoted JSON path, so a field name with a dot is one key, not a nested path.
        let path = cluster_field.map(|f| format!("$.\"{f}\""));
        // sql-splice: constant: period.key_sql("ts"), metric.sum_sql() -- fixed expressions per period and metric
        let sql = format!(
            "WITH e AS (
                 SELECT unit, {bucket} AS period, {sum} AS total FROM events
                 WHERE campaign_id = ?1 GROUP BY unit, period
             )
             SELECT s.unit, a.key, s.conflicts,
                    CASE WHEN ?2 IS NULL OR NOT json_valid(s.context) THEN NULL
                         ELSE CAST(json_extract(s.context, ?2) AS TEXT) END,
                    e.period, e.total
             FROM assignments s
             JOIN arms a ON a.id = s.arm_id
             LEFT JOIN e ON e.unit = s.unit
             WHERE s.campaign_id = ?1
             ORDER BY s.unit",
            bucket = period.key_sql("ts"),
            sum = metric.sum_sql(),
        );
        // Units come in primary-key order, so only the event aggregate is sorted (by its GROUP BY).
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params![id, path])?;
        let mut current: Option<PanelRow> = None;
        while let Some(r) = rows.next()? {
            let unit: String = r.get(0)?;
            if current.as_ref().is_none_or(|c| c.unit != unit) {
                if let Some(done) = current.take() {
                    each(done);
                }
                current = Some(PanelRow {
                    unit,
                    arm: r.get(1)?,
                    conflicts: r.get(2)?,
                    cluster: r.get(3)?,
                    totals: Vec::new(),
                });
            }
            let period: Option<i64> = r.get(4)?;
            let total: Option<f64> = r.get(5)?;
            if let (Some(p), Some(t), Some(c)) = (period, total, current.as_mut()) {
                c.totals.push((p, t));
            }
        }
        if let Some(done) = current {
            each(done);
        }
        Ok(())
    }
}
