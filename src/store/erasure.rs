//! Erasure on request (GDPR art. 17): one unit's assignments, events, per-unit totals and
//! rejected lines removed, its contribution subtracted from every rollup, and a tombstone
//! recorded, all in one transaction with its audit row.
//!
//! Subtracting (rather than recomputing the arms from raw rows) keeps what raw rows can no
//! longer show: after `prune` removed old events, a recompute would lose every pruned unit,
//! while the unit's own `unit_totals` row still says exactly what it added. The one field that
//! cannot be subtracted is a maximum (`last_event_ts`); it is recomputed from the units left.
//!
//! Tombstones never hold the raw id: the stored pseudonym when the database pseudonymises,
//! else `s1-` + hex(SHA-256(salt, 0x00, id)) with a random per-database salt (`forget.salt`).

use super::batch::BUCKET_MICROS;
use super::{rollup_sql, Result, Store, StoreError, PSEUDONYMIZE_FINGERPRINT};
use crate::domain::{ArmRollup, Micros, UnitTotals};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The setting holding the tombstone salt (hex), made by the first `forget`.
pub const FORGET_SALT: &str = "forget.salt";

/// One erasure request, the unit already mapped to the id the database stores.
#[derive(Debug, Clone)]
pub struct ForgetRequest<'a> {
    /// The id as stored (the pseudonym when the database pseudonymises).
    pub stored: &'a str,
    /// The id as the customer gave it: only used to find rejected lines that quote it, never
    /// written anywhere.
    pub raw: &'a str,
    /// Only this campaign; `None` for every campaign.
    pub campaign: Option<&'a str>,
    /// Count what would go, change nothing.
    pub dry_run: bool,
    pub ts: Micros,
    pub actor: &'a str,
}

/// What an erasure removed (or, on a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Forgotten {
    /// The tombstone's id (hashed; see the module comment). Empty on a dry run of a database
    /// that has no salt yet.
    pub tombstone: String,
    pub campaigns: Vec<String>,
    pub assignments: u64,
    pub events: u64,
    pub custom_totals: u64,
    pub rejects: u64,
    /// The tombstone was already there (the request was made before).
    pub already_forgotten: bool,
    pub dry_run: bool,
}

impl Forgotten {
    pub fn removed_anything(&self) -> bool {
        self.assignments + self.events + self.rejects > 0
    }
}

/// The tombstone id of a stored unit id.
pub(crate) fn tombstone_id(salt: &str, stored: &str, pseudonymized: bool) -> String {
    if pseudonymized {
        return stored.to_owned();
    }
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(stored.as_bytes());
    format!("s1-{}", data_encoding::HEXLOWER.encode(&h.finalize()))
}

/// How ingest recognises forgotten units: loaded once per batch.
pub(crate) struct Tombstones {
    /// `None` when nothing was ever forgotten: then no line pays for a look-up.
    salt: Option<String>,
    pseudonymized: bool,
}

impl Tombstones {
    pub(crate) fn load(conn: &Connection) -> Result<Tombstones> {
        let any: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM forgotten_units)")?
            .query_row([], |r| r.get(0))?;
        let salt = if any {
            setting(conn, FORGET_SALT)?
        } else {
            None
        };
        Ok(Tombstones {
            salt,
            pseudonymized: setting(conn, PSEUDONYMIZE_FINGERPRINT)?.is_some(),
        })
    }

    /// Whether `stored` was forgotten in every campaign or in campaign `campaign_id`.
    pub(crate) fn is_forgotten(
        &self,
        conn: &Connection,
        campaign_id: i64,
        stored: &str,
    ) -> Result<bool> {
        let Some(salt) = &self.salt else {
            return Ok(false);
        };
        let id = tombstone_id(salt, stored, self.pseudonymized);
        Ok(conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM forgotten_units
                                WHERE tombstone = ?1 AND campaign_id IN (0, ?2))",
            )?
            .query_row(params![id, campaign_id], |r| r.get(0))?)
    }
}

fn setting(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// The salt, made on first use.
fn salt(conn: &Connection) -> Result<String> {
    if let Some(s) = setting(conn, FORGET_SALT)? {
        return Ok(s);
    }
    // ThreadRng: a CSPRNG seeded from the operating system.
    let bytes: [u8; 16] = rand::RngExt::random(&mut rand::rng());
    let s = data_encoding::HEXLOWER.encode(&bytes);
    conn.prepare_cached("INSERT INTO settings (name, value) VALUES (?1, ?2)")?
        .execute(params![FORGET_SALT, s])?;
    Ok(s)
}

/// One assignment of the unit, with what it added.
struct Held {
    campaign_id: i64,
    campaign: String,
    arm_id: i64,
    period: i64,
    assigned_ts: Micros,
    conflicted: bool,
    totals: UnitTotals,
}

impl Store {
    /// Erases one unit (see the module comment). A unit that is not there is not an error:
    /// the tombstone is still recorded, so data sent later for it is skipped.
    pub fn forget_unit(&mut self, req: &ForgetRequest<'_>) -> Result<Forgotten> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let scope_id = match req.campaign {
            None => 0,
            Some(key) => tx
                .prepare_cached("SELECT id FROM campaigns WHERE key = ?1")?
                .query_row([key], |r| r.get::<_, i64>(0))
                .optional()?
                .ok_or_else(|| StoreError::UnknownCampaign(key.to_owned()))?,
        };
        let mut out = Forgotten {
            dry_run: req.dry_run,
            ..Forgotten::default()
        };
        match &self.warehouse {
            // The warehouse's rows are counted here and deleted below, under this write lock.
            Some(w) => {
                let held = w
                    .unit_rows_held(req.stored, scope_id)
                    .map_err(super::data_plane::warehouse_error)?;
                out.assignments = held.assignments.iter().map(|(_, n)| n).sum();
                out.events = held.events;
                for (id, _) in &held.assignments {
                    out.campaigns.push(
                        tx.prepare_cached("SELECT key FROM campaigns WHERE id = ?1")?
                            .query_row([id], |r| r.get(0))?,
                    );
                }
            }
            None => {
                for held in held_by(&tx, req.stored, scope_id)? {
                    out.assignments += 1;
                    out.events += erase_one(&tx, req.stored, &held, &mut out.custom_totals)?;
                    out.campaigns.push(held.campaign);
                }
            }
        }
        out.rejects = tx
            .prepare_cached(
                "DELETE FROM rejects
                 WHERE json_valid(raw) AND json_extract(raw, '$.unit') IN (?1, ?2)
                   AND (?3 IS NULL OR json_extract(raw, '$.campaign') = ?3)",
            )?
            .execute(params![req.stored, req.raw, req.campaign])? as u64;
        let pseudonymized = setting(&tx, PSEUDONYMIZE_FINGERPRINT)?.is_some();
        if req.dry_run {
            // No salt is made on a dry run: it changes nothing, settings included.
            out.tombstone = setting(&tx, FORGET_SALT)?
                .map(|s| tombstone_id(&s, req.stored, pseudonymized))
                .unwrap_or_default();
            out.already_forgotten = is_tombstoned(&tx, &out.tombstone, scope_id)?;
            return Ok(out); // dropping the transaction rolls everything back
        }
        out.tombstone = tombstone_id(&salt(&tx)?, req.stored, pseudonymized);
        out.already_forgotten = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO forgotten_units (tombstone, campaign_id, forgotten_at, actor)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![out.tombstone, scope_id, req.ts, req.actor])?
            == 0;
        // Still inside the write lock, so no ingest batch can write the unit's rows between
        // the delete and the tombstone. A failure keeps the tombstone (later data for the
        // unit is refused) and is audited; `forget` again deletes what is left.
        let incomplete = match &self.warehouse {
            Some(w) => w
                .erase_unit(req.stored, scope_id)
                .err()
                .map(|e| e.to_string()),
            None => None,
        };
        // The audit row says what went and where, never who: the tombstone id stands in.
        let mut detail = serde_json::json!({
            "tombstone": out.tombstone,
            "campaigns": out.campaigns,
            "assignments": out.assignments,
            "events": out.events,
            "custom_totals": out.custom_totals,
            "rejects": out.rejects,
            "already_forgotten": out.already_forgotten,
        });
        if let Some(e) = &incomplete {
            // A server's message may quote the statement, and so the id: never in the log.
            let mut scrubbed = e.clone();
            for id in [req.stored, req.raw].into_iter().filter(|s| !s.is_empty()) {
                scrubbed = scrubbed.replace(id, "<unit>");
            }
            detail["warehouse_incomplete"] = serde_json::Value::String(scrubbed);
        }
        Store::audit_on(
            &tx,
            req.ts,
            req.actor,
            "privacy.forget",
            req.campaign,
            &detail.to_string(),
        )?;
        tx.commit()?;
        if let Some(e) = incomplete {
            return Err(StoreError::Warehouse(format!(
                "the tombstone is recorded (later data for the unit is refused), but deleting its \
                 rows did not finish: {e}; run forget again to delete what is left"
            )));
        }
        Ok(out)
    }

    /// Removes a tombstone so a returning customer's new data is accepted again; true when
    /// there was one. Their erased data stays erased.
    pub fn readmit_unit(
        &mut self,
        stored: &str,
        campaign: Option<&str>,
        ts: Micros,
        actor: &str,
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let scope_id = match campaign {
            None => 0,
            Some(key) => tx
                .prepare_cached("SELECT id FROM campaigns WHERE key = ?1")?
                .query_row([key], |r| r.get::<_, i64>(0))
                .optional()?
                .ok_or_else(|| StoreError::UnknownCampaign(key.to_owned()))?,
        };
        let Some(salt) = setting(&tx, FORGET_SALT)? else {
            return Ok(false);
        };
        let pseudonymized = setting(&tx, PSEUDONYMIZE_FINGERPRINT)?.is_some();
        let id = tombstone_id(&salt, stored, pseudonymized);
        let removed = tx
            .prepare_cached(
                "DELETE FROM forgotten_units WHERE tombstone = ?1 AND campaign_id = ?2",
            )?
            .execute(params![id, scope_id])?
            > 0;
        if removed {
            let detail = serde_json::json!({ "tombstone": id });
            Store::audit_on(
                &tx,
                ts,
                actor,
                "privacy.readmit",
                campaign,
                &detail.to_string(),
            )?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// A campaign's custom-kind rollups as (arm, kind, events, units), in arm and kind order:
    /// what erasure subtracts from besides the per-arm statistics.
    pub fn custom_kind_rollups(&self, key: &str) -> Result<Vec<(String, String, i64, i64)>> {
        self.sqlite_plane_only("the custom-kind rollups")?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.key, r.kind, r.events, r.units
             FROM arm_custom_rollups r JOIN arms a ON a.id = r.arm_id
             JOIN campaigns c ON c.id = a.campaign_id
             WHERE c.key = ?1 ORDER BY a.position, r.kind",
        )?;
        let rows = stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Tombstones recorded, for `health`-style counts and tests.
    pub fn forgotten_count(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM forgotten_units", [], |r| r.get(0))?)
    }
}

fn is_tombstoned(conn: &Connection, tombstone: &str, scope_id: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM forgotten_units WHERE tombstone = ?1 AND campaign_id = ?2)",
        )?
        .query_row(params![tombstone, scope_id], |r| r.get(0))?)
}

// data-plane: only forget_unit calls it, which refuses on a warehouse
/// The unit's assignments (all campaigns when `scope_id` is 0) with their per-unit totals.
fn held_by(conn: &Connection, stored: &str, scope_id: i64) -> Result<Vec<Held>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.campaign_id, c.key, a.arm_id, a.period, a.ts, a.conflicts,
                COALESCE(t.pre_value, json_extract(a.context, '$.pre_value')),
                COALESCE(t.exposures, 0), COALESCE(t.clicks, 0), COALESCE(t.add_to_carts, 0),
                COALESCE(t.purchases, 0), COALESCE(t.custom_events, 0),
                COALESCE(t.revenue, 0.0), COALESCE(t.cost, 0.0), t.last_ts
         FROM assignments a
         JOIN campaigns c ON c.id = a.campaign_id
         LEFT JOIN unit_totals t ON t.campaign_id = a.campaign_id AND t.unit = a.unit
         WHERE a.unit = ?1 AND (?2 = 0 OR a.campaign_id = ?2)
         ORDER BY c.key",
    )?;
    let rows = stmt.query_map(params![stored, scope_id], |r| {
        Ok(Held {
            campaign_id: r.get(0)?,
            campaign: r.get(1)?,
            arm_id: r.get(2)?,
            period: r.get(3)?,
            assigned_ts: r.get(4)?,
            conflicted: r.get::<_, i64>(5)? > 0,
            totals: UnitTotals {
                x: r.get(6)?,
                exposures: r.get(7)?,
                clicks: r.get(8)?,
                add_to_carts: r.get(9)?,
                purchases: r.get(10)?,
                custom_events: r.get(11)?,
                revenue: r.get(12)?,
                cost: r.get(13)?,
                last_ts: r.get(14)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn bucket_of(ts: Micros) -> Micros {
    ts.div_euclid(BUCKET_MICROS) * BUCKET_MICROS
}

// data-plane: only forget_unit calls it, which refuses on a warehouse
/// Takes one assignment's contribution out of every rollup and deletes its rows; returns
/// the events deleted.
fn erase_one(conn: &Connection, stored: &str, h: &Held, custom_totals: &mut u64) -> Result<u64> {
    let minus = ArmRollup::of_unit(&h.totals, h.conflicted).negated();
    conn.prepare_cached(rollup_sql::update_sql())?
        .execute(rusqlite::params_from_iter(rollup_sql::update_params(
            h.arm_id, &minus,
        )))?;
    conn.prepare_cached(rollup_sql::upsert_period_sql())?
        .execute(rusqlite::params_from_iter(rollup_sql::period_params(
            h.arm_id, h.period, &minus,
        )))?;
    subtract_buckets(conn, stored, h)?;
    // Custom kinds: the unit's counts per kind, and it no longer counts as a unit with one.
    let kinds: Vec<(String, i64)> = conn
        .prepare_cached(
            "SELECT kind, events FROM unit_custom_totals WHERE campaign_id = ?1 AND unit = ?2",
        )?
        .query_map(params![h.campaign_id, stored], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (kind, events) in &kinds {
        conn.prepare_cached(
            "UPDATE arm_custom_rollups SET events = events - ?3, units = units - (?3 > 0)
             WHERE arm_id = ?1 AND kind = ?2",
        )?
        .execute(params![h.arm_id, kind, events])?;
    }
    // A kind nobody else has is gone, as if the unit had never been seen.
    conn.prepare_cached("DELETE FROM arm_custom_rollups WHERE arm_id = ?1 AND events <= 0")?
        .execute([h.arm_id])?;
    *custom_totals += kinds.len() as u64;
    let events = conn
        .prepare_cached("DELETE FROM events WHERE campaign_id = ?1 AND unit = ?2")?
        .execute(params![h.campaign_id, stored])? as u64;
    for sql in [
        "DELETE FROM unit_custom_totals WHERE campaign_id = ?1 AND unit = ?2",
        "DELETE FROM unit_totals WHERE campaign_id = ?1 AND unit = ?2",
        "DELETE FROM assignments WHERE campaign_id = ?1 AND unit = ?2",
    ] {
        conn.prepare_cached(sql)?
            .execute(params![h.campaign_id, stored])?;
    }
    // The latest event time, when it was this unit's, falls back to the latest of the rest.
    if h.totals.last_ts.is_some() {
        conn.prepare_cached(
            "UPDATE arm_rollups SET last_event_ts =
                 (SELECT MAX(last_ts) FROM unit_totals WHERE arm_id = ?1)
             WHERE arm_id = ?1 AND last_event_ts = ?2",
        )?
        .execute(params![h.arm_id, h.totals.last_ts])?;
        conn.prepare_cached(
            "UPDATE arm_period_rollups SET last_event_ts =
                 (SELECT MAX(last_ts) FROM unit_totals WHERE arm_id = ?1 AND period = ?2)
             WHERE arm_id = ?1 AND period = ?2 AND last_event_ts = ?3",
        )?
        .execute(params![h.arm_id, h.period, h.totals.last_ts])?;
    }
    Ok(events)
}

// data-plane: only forget_unit calls it, which refuses on a warehouse
/// Per-minute buckets: the assignment's minute loses a new unit, each event's minute its
/// counts and amounts, and the minute of the unit's first purchase (in the order the events
/// were applied, as ingest counted it) a conversion.
fn subtract_buckets(conn: &Connection, stored: &str, h: &Held) -> Result<()> {
    #[derive(Default)]
    struct Minus {
        new_units: i64,
        exposures: i64,
        clicks: i64,
        purchases: i64,
        conversions: i64,
        revenue: f64,
        cost: f64,
    }
    let mut by_bucket: std::collections::BTreeMap<Micros, Minus> = Default::default();
    by_bucket
        .entry(bucket_of(h.assigned_ts))
        .or_default()
        .new_units += 1;
    let mut stmt = conn.prepare_cached(
        "SELECT kind, value, cost, ts FROM events WHERE campaign_id = ?1 AND unit = ?2 ORDER BY id",
    )?;
    let rows = stmt.query_map(params![h.campaign_id, stored], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, f64>(1)?,
            r.get::<_, f64>(2)?,
            r.get::<_, Micros>(3)?,
        ))
    })?;
    let mut converted = false;
    for row in rows {
        let (kind, value, cost, ts) = row?;
        let m = by_bucket.entry(bucket_of(ts)).or_default();
        match kind.as_str() {
            "exposure" => m.exposures += 1,
            "click" => m.clicks += 1,
            "purchase" => {
                m.purchases += 1;
                m.conversions += i64::from(!converted);
                converted = true;
            }
            _ => {}
        }
        m.revenue += value;
        m.cost += cost;
    }
    for (bucket, m) in by_bucket {
        conn.prepare_cached(
            "UPDATE arm_buckets SET new_units = new_units - ?3, exposures = exposures - ?4,
                 clicks = clicks - ?5, purchases = purchases - ?6, conversions = conversions - ?7,
                 revenue = revenue - ?8, cost = cost - ?9
             WHERE arm_id = ?1 AND bucket = ?2",
        )?
        .execute(params![
            h.arm_id,
            bucket,
            m.new_units,
            m.exposures,
            m.clicks,
            m.purchases,
            m.conversions,
            m.revenue,
            m.cost
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tombstone_never_holds_the_raw_id_and_depends_on_the_salt() {
        let a = tombstone_id("salt-a", "alice@example.com", false);
        let b = tombstone_id("salt-b", "alice@example.com", false);
        assert!(a.starts_with("s1-") && a.len() == 3 + 64, "{a}");
        assert!(!a.contains("alice"));
        assert_ne!(a, b, "another database's salt gives another id");
        assert_eq!(a, tombstone_id("salt-a", "alice@example.com", false));
        assert_eq!(tombstone_id("x", "p1-abc", true), "p1-abc");
    }
}
