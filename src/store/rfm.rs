//! Recency, frequency and monetary value of a unit as of a time: features the conversion model
//! learns from, computed over the unit's own purchases in the store (every campaign, the same
//! unit id) strictly before the time, so a training row never sees its own future.
//!
//! Recency is in days (fractional) from the last purchase before `t` to `t`, None when there
//! was none; frequency counts purchases before `t`; monetary sums their value (the revenue the
//! unit brought before `t`). Both queries use the partial index of purchases by unit and time.

use super::{Result, Store};
use crate::domain::Micros;
use rusqlite::params_from_iter;
use serde::Serialize;

const MICROS_PER_DAY: f64 = 86_400.0 * 1_000_000.0;
/// (unit, t) pairs per query of the batch form: three parameters each, well under SQLite's
/// limit on bound parameters.
const CHUNK: usize = 300;

/// A unit's purchase history as of a time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rfm {
    pub recency_days: Option<f64>,
    pub frequency: i64,
    pub monetary: f64,
}

impl Rfm {
    fn from_parts(t: Micros, last: Option<Micros>, frequency: i64, monetary: f64) -> Rfm {
        Rfm {
            recency_days: last.map(|l| (t - l) as f64 / MICROS_PER_DAY),
            frequency,
            monetary,
        }
    }
}

impl Store {
    /// RFM of `unit` over its purchases strictly before `t`.
    pub fn rfm_as_of(&self, unit: &str, t: Micros) -> Result<Rfm> {
        if self.warehouse.is_some() {
            return Ok(self.rfm_batch(&[(unit, t)])?[0]);
        }
        let (last, n, sum): (Option<Micros>, i64, f64) = self.conn.query_row(
            "SELECT max(ts), count(*), coalesce(sum(value), 0.0) FROM events
             WHERE unit = ?1 AND kind = 'purchase' AND ts < ?2",
            rusqlite::params![unit, t],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(Rfm::from_parts(t, last, n, sum))
    }

    /// RFM for many (unit, t) pairs, in the order given: one query per chunk of pairs.
    pub fn rfm_batch(&self, pairs: &[(&str, Micros)]) -> Result<Vec<Rfm>> {
        if let Some(w) = &self.warehouse {
            return warehouse_rfm(w, pairs);
        }
        let mut out = Vec::with_capacity(pairs.len());
        for chunk in pairs.chunks(CHUNK) {
            // Only placeholders are generated; every value is bound.
            let values = vec!["(?, ?, ?)"; chunk.len()].join(", ");
            // sql-splice: constant: values -- only "(?, ?, ?)" placeholders, one per bound pair
            let sql = format!(
                "WITH q(i, unit, t) AS (VALUES {values})
                 SELECT q.t, max(e.ts), count(e.ts), coalesce(sum(e.value), 0.0)
                 FROM q LEFT JOIN events e
                   ON e.unit = q.unit AND e.kind = 'purchase' AND e.ts < q.t
                 GROUP BY q.i ORDER BY q.i"
            );
            let params = chunk.iter().enumerate().flat_map(|(i, (unit, t))| {
                [
                    rusqlite::types::Value::Integer(i as i64),
                    rusqlite::types::Value::Text((*unit).to_owned()),
                    rusqlite::types::Value::Integer(*t),
                ]
            });
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), |r| {
                Ok(Rfm::from_parts(r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            for row in rows {
                out.push(row?);
            }
        }
        Ok(out)
    }
}

/// Units per warehouse query: the IN list travels as one bound array.
const WAREHOUSE_CHUNK: usize = 5_000;

/// RFM from the warehouse: each chunk's units' purchases fetched once, the as-of cut made here.
fn warehouse_rfm(w: &super::warehouse::Warehouse, pairs: &[(&str, Micros)]) -> Result<Vec<Rfm>> {
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(WAREHOUSE_CHUNK) {
        let mut units: Vec<&str> = chunk.iter().map(|(u, _)| *u).collect();
        units.sort_unstable();
        units.dedup();
        let bought = w
            .purchases_of(&units)
            .map_err(super::data_plane::warehouse_error)?;
        for (unit, t) in chunk {
            let before = bought
                .get(*unit)
                .map_or(&[][..], |p| &p[..p.partition_point(|(ts, _)| ts < t)]);
            let monetary = before.iter().map(|(_, v)| v).sum();
            let last = before.last().map(|(ts, _)| *ts);
            out.push(Rfm::from_parts(*t, last, before.len() as i64, monetary));
        }
    }
    Ok(out)
}
