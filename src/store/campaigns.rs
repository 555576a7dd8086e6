//! Campaign and arm rows, the status state machine's persistence, and assignment look-ups.

use super::{Result, Store, StoreError};
use crate::domain::{Arm, ArmSpec, Campaign, CampaignKind, CampaignSpec, Offer, Status};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};

const CAMPAIGN_COLUMNS: &str = "id, key, name, kind, status, seed, traffic, control_arm, metric, \
     guardrails, custom_kinds, created_at, started_at, stopped_at, settings, bandit";

fn json_list(s: String) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn campaign_from_row(r: &Row<'_>) -> rusqlite::Result<(Campaign, String)> {
    let kind: String = r.get(3)?;
    let status: String = r.get(4)?;
    let bad = |what: String| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            Box::new(StoreError::Corrupt(what)),
        )
    };
    let spec = CampaignSpec {
        key: r.get(1)?,
        name: r.get(2)?,
        kind: kind.parse::<CampaignKind>().map_err(bad)?,
        arms: Vec::new(),
        control: r.get(7)?,
        traffic: r.get(6)?,
        metric: r.get(8)?,
        guardrails: json_list(r.get(9)?)?,
        custom_kinds: json_list(r.get(10)?)?,
        seed: r.get::<_, i64>(5)? as u64,
        settings: serde_json::from_str(&r.get::<_, String>(14)?).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(14, rusqlite::types::Type::Text, Box::new(e))
        })?,
        bandit: r
            .get::<_, Option<String>>(15)?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    15,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
    };
    let key = spec.key.clone();
    Ok((
        Campaign {
            id: r.get(0)?,
            spec,
            status: status.parse::<Status>().map_err(bad)?,
            created_at: r.get(11)?,
            started_at: r.get(12)?,
            stopped_at: r.get(13)?,
        },
        key,
    ))
}

pub(crate) fn load_arms(conn: &Connection, campaign_id: i64) -> Result<Vec<Arm>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, key, weight, offer FROM arms WHERE campaign_id = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([campaign_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, f64>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    let mut arms = Vec::new();
    for row in rows {
        let (id, key, weight, offer) = row?;
        let offer: Offer = serde_json::from_str(&offer)
            .map_err(|e| StoreError::Corrupt(format!("offer of arm {key}: {e}")))?;
        arms.push(Arm {
            id,
            key,
            weight,
            offer,
        });
    }
    Ok(arms)
}

pub(crate) fn load_campaign(conn: &Connection, key: &str) -> Result<Option<(Campaign, Vec<Arm>)>> {
    // sql-splice: constant -- the column list
    let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE key = ?1");
    let found = conn
        .prepare_cached(&sql)?
        .query_row([key], campaign_from_row)
        .optional()?;
    let Some((mut campaign, _)) = found else {
        return Ok(None);
    };
    let arms = load_arms(conn, campaign.id)?;
    campaign.spec.arms = arms
        .iter()
        .map(|a| ArmSpec {
            key: a.key.clone(),
            weight: a.weight,
            offer: a.offer.clone(),
        })
        .collect();
    Ok(Some((campaign, arms)))
}

/// Inserts a campaign with its arms and rollup rows; used by `campaign create` and by ingest
/// of an export's campaign line (inside the ingest transaction).
pub(crate) fn insert_campaign(
    conn: &Connection,
    spec: &CampaignSpec,
    status: Status,
    ts: i64,
    actor: &str,
) -> Result<i64> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT id FROM campaigns WHERE key = ?1")?
        .query_row([&spec.key], |r| r.get(0))
        .optional()?;
    if exists.is_some() {
        return Err(StoreError::DuplicateCampaign(spec.key.clone()));
    }
    let started = (status != Status::Draft).then_some(ts);
    let stopped = (status == Status::Stopped).then_some(ts);
    conn.prepare_cached(
        "INSERT INTO campaigns (key, name, kind, status, seed, traffic, control_arm, metric,
                                guardrails, custom_kinds, created_at, started_at, stopped_at,
                                settings, bandit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        spec.key,
        spec.name,
        spec.kind.as_str(),
        status.as_str(),
        spec.seed as i64,
        spec.traffic,
        spec.control,
        spec.metric,
        serde_json::to_string(&spec.guardrails).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&spec.custom_kinds).unwrap_or_else(|_| "[]".into()),
        ts,
        started,
        stopped,
        serde_json::to_string(&spec.settings).unwrap_or_else(|_| "{}".into()),
        bandit_json(spec),
    ])?;
    let campaign_id = conn.last_insert_rowid();
    insert_arms(conn, campaign_id, &spec.arms, ts)?;
    super::periods::insert_first_period(conn, campaign_id, spec, ts)?;
    let detail = serde_json::to_string(spec).unwrap_or_default();
    Store::audit_on(conn, ts, actor, "campaign.create", Some(&spec.key), &detail)?;
    Ok(campaign_id)
}

/// The stored form of a campaign's bandit configuration (NULL: none given, the defaults).
fn bandit_json(spec: &CampaignSpec) -> Option<String> {
    spec.bandit
        .as_ref()
        .map(|b| serde_json::to_string(b).unwrap_or_else(|_| "{}".into()))
}

// data-plane: an arm's zero rollup rows are the file's own on either plane (a warehouse never reads them)
/// The arms of a campaign with their empty rollups and first weight-history row.
fn insert_arms(conn: &Connection, campaign_id: i64, arms: &[ArmSpec], ts: i64) -> Result<()> {
    for (position, arm) in arms.iter().enumerate() {
        let offer = serde_json::to_string(&arm.offer)
            .map_err(|e| StoreError::Corrupt(format!("offer of arm {}: {e}", arm.key)))?;
        conn.prepare_cached(
            "INSERT INTO arms (campaign_id, key, position, weight, offer) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![campaign_id, arm.key, position as i64, arm.weight, offer])?;
        let arm_id = conn.last_insert_rowid();
        conn.prepare_cached("INSERT INTO arm_rollups (arm_id) VALUES (?1)")?
            .execute([arm_id])?;
        conn.prepare_cached(
            "INSERT INTO arm_weight_history (arm_id, ts, weight) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![arm_id, ts, arm.weight])?;
    }
    Ok(())
}

// data-plane: a draft's arms and their empty rollup rows, on either plane
/// Removes a draft's arms and everything hung on them (a draft takes no traffic, so these
/// are its empty rollups and its creation weights).
fn delete_arms(conn: &Connection, campaign_id: i64) -> Result<()> {
    for sql in [
        "DELETE FROM arm_rollups WHERE arm_id IN (SELECT id FROM arms WHERE campaign_id = ?1)",
        "DELETE FROM arm_period_rollups WHERE arm_id IN (SELECT id FROM arms WHERE campaign_id = ?1)",
        "DELETE FROM arm_custom_rollups WHERE arm_id IN (SELECT id FROM arms WHERE campaign_id = ?1)",
        "DELETE FROM arm_buckets WHERE arm_id IN (SELECT id FROM arms WHERE campaign_id = ?1)",
        "DELETE FROM arm_weight_history WHERE arm_id IN (SELECT id FROM arms WHERE campaign_id = ?1)",
        "DELETE FROM arms WHERE campaign_id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute([campaign_id])?;
    }
    Ok(())
}

/// The id of `key` if it is a draft; otherwise why it may not be `action` (edited, deleted).
fn draft_id(conn: &Connection, key: &str, action: &'static str) -> Result<i64> {
    let (id, status): (i64, String) = conn
        .prepare_cached("SELECT id, status FROM campaigns WHERE key = ?1")?
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))?;
    let status: Status = status.parse().map_err(StoreError::Corrupt)?;
    if status != Status::Draft {
        return Err(StoreError::NotDraft {
            key: key.into(),
            status,
            action,
        });
    }
    Ok(id)
}

impl Store {
    /// Replaces a draft's definition, arms included, and logs the before and after. The key
    /// stays; the status check and the change are one IMMEDIATE transaction, so a campaign
    /// started meanwhile is not edited.
    pub fn edit_draft(&mut self, spec: &CampaignSpec, ts: i64, actor: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = draft_id(&tx, &spec.key, "edited")?;
        let before = load_campaign(&tx, &spec.key)?
            .map(|(c, _)| c.spec)
            .ok_or_else(|| StoreError::UnknownCampaign(spec.key.clone()))?;
        tx.prepare_cached(
            "UPDATE campaigns SET name = ?2, kind = ?3, seed = ?4, traffic = ?5, control_arm = ?6,
                 metric = ?7, guardrails = ?8, custom_kinds = ?9, settings = ?10, bandit = ?11
             WHERE id = ?1",
        )?
        .execute(params![
            id,
            spec.name,
            spec.kind.as_str(),
            spec.seed as i64,
            spec.traffic,
            spec.control,
            spec.metric,
            serde_json::to_string(&spec.guardrails).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&spec.custom_kinds).unwrap_or_else(|_| "[]".into()),
            serde_json::to_string(&spec.settings).unwrap_or_else(|_| "{}".into()),
            bandit_json(spec),
        ])?;
        if before.arms != spec.arms {
            delete_arms(&tx, id)?;
            insert_arms(&tx, id, &spec.arms, ts)?;
        }
        // A draft has taken no traffic: its one period simply takes the new definition.
        tx.prepare_cached("DELETE FROM allocation_periods WHERE campaign_id = ?1")?
            .execute([id])?;
        super::periods::insert_first_period(&tx, id, spec, ts)?;
        let detail = serde_json::json!({ "before": before, "after": spec }).to_string();
        Store::audit_on(&tx, ts, actor, "campaign.edit", Some(&spec.key), &detail)?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a draft with its arms; the audit entry keeps its definition.
    pub fn delete_draft(&mut self, key: &str, ts: i64, actor: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = draft_id(&tx, key, "deleted")?;
        let spec = load_campaign(&tx, key)?.map(|(c, _)| c.spec);
        delete_arms(&tx, id)?;
        tx.prepare_cached("DELETE FROM allocation_periods WHERE campaign_id = ?1")?
            .execute([id])?;
        // A causal report run on a draft leaves a job row; nothing else refers to a draft.
        tx.prepare_cached("DELETE FROM models WHERE campaign_id = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM jobs WHERE campaign_id = ?1")?
            .execute([id])?;
        // A draft holds no units, so its budget and releases (if any) revealed nothing.
        tx.prepare_cached("DELETE FROM dp_releases WHERE campaign_id = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM privacy_budgets WHERE campaign_id = ?1")?
            .execute([id])?;
        tx.prepare_cached("DELETE FROM campaigns WHERE id = ?1")?
            .execute([id])?;
        let detail = serde_json::to_string(&spec).unwrap_or_default();
        Store::audit_on(&tx, ts, actor, "campaign.delete", Some(key), &detail)?;
        tx.commit()?;
        Ok(())
    }

    pub fn create_campaign(&mut self, spec: &CampaignSpec, ts: i64, actor: &str) -> Result<i64> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = insert_campaign(&tx, spec, Status::Draft, ts, actor)?;
        tx.commit()?;
        Ok(id)
    }

    pub fn campaign(&self, key: &str) -> Result<(Campaign, Vec<Arm>)> {
        load_campaign(&self.conn, key)?.ok_or_else(|| StoreError::UnknownCampaign(key.into()))
    }

    pub fn campaigns(&self) -> Result<Vec<Campaign>> {
        // sql-splice: constant -- the column list
        let sql = format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_at, id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], campaign_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            let (mut c, _) = row?;
            c.spec.arms = load_arms(&self.conn, c.id)?
                .into_iter()
                .map(|a| ArmSpec {
                    key: a.key,
                    weight: a.weight,
                    offer: a.offer,
                })
                .collect();
            out.push(c);
        }
        Ok(out)
    }

    /// Moves a campaign along the state machine; refuses illegal moves naming the legal ones.
    /// Read and write happen in one IMMEDIATE transaction so two operators cannot race.
    pub fn set_status(&mut self, key: &str, to: Status, ts: i64, actor: &str) -> Result<Status> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from = set_status_on(&tx, key, to, ts, actor)?;
        tx.commit()?;
        Ok(from)
    }

    /// The stored assignment of a unit, if any: (arm key, propensity).
    pub fn assignment(&self, campaign_id: i64, unit: &str) -> Result<Option<(String, f64)>> {
        Ok(self.assignments_of(campaign_id, &[unit])?.remove(unit))
    }

    /// The stored assignments among `units` of a campaign: unit -> (arm key, propensity). One
    /// warehouse query, or one indexed look-up per unit on SQLite's primary key.
    pub fn assignments_of(
        &self,
        campaign_id: i64,
        units: &[&str],
    ) -> Result<std::collections::HashMap<String, (String, f64)>> {
        let arm_keys: Vec<(i64, String)> = self
            .conn
            .prepare_cached("SELECT id, key FROM arms WHERE campaign_id = ?1")?
            .query_map([campaign_id], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let key_of = |id: i64| {
            arm_keys
                .iter()
                .find(|(a, _)| *a == id)
                .map(|(_, k)| k.clone())
                .ok_or_else(|| StoreError::Corrupt(format!("an assignment to unknown arm id {id}")))
        };
        let mut out = std::collections::HashMap::new();
        if let Some(w) = &self.warehouse {
            for chunk in units.chunks(10_000) {
                let found = w
                    .assigned(campaign_id, chunk)
                    .map_err(super::data_plane::warehouse_error)?;
                for (unit, a) in found {
                    out.insert(unit, (key_of(a.arm_id)?, a.propensity));
                }
            }
            return Ok(out);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT arm_id, propensity FROM assignments WHERE campaign_id = ?1 AND unit = ?2",
        )?;
        for unit in units {
            let found: Option<(i64, f64)> = stmt
                .query_row(params![campaign_id, unit], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            if let Some((arm, p)) = found {
                out.insert((*unit).to_string(), (key_of(arm)?, p));
            }
        }
        Ok(out)
    }

    /// The newest audit entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_where(&super::AuditFilter::default(), limit)
    }
}

/// One operator action as logged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditEntry {
    pub ts: i64,
    pub actor: String,
    pub action: String,
    pub campaign: Option<String>,
    pub detail: String,
    /// The SSH client address of the session that acted; `None` locally.
    pub client: Option<String>,
}

/// Moves `key` to `to` inside the caller's transaction (so a start can commit together with
/// what it stores beside it, e.g. the frozen forecast), audited. Returns the old status.
pub(super) fn set_status_on(
    tx: &Connection,
    key: &str,
    to: Status,
    ts: i64,
    actor: &str,
) -> Result<Status> {
    let from: String = tx
        .prepare_cached("SELECT status FROM campaigns WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))?;
    let from: Status = from.parse().map_err(StoreError::Corrupt)?;
    if !from.can_move_to(to) {
        let legal: Vec<&str> = from.legal_moves().iter().map(|s| s.as_str()).collect();
        return Err(StoreError::IllegalMove {
            key: key.into(),
            from,
            to,
            legal: if legal.is_empty() {
                "none (stopped is final)".into()
            } else {
                legal.join(", ")
            },
        });
    }
    tx.prepare_cached(
            "UPDATE campaigns SET status = ?2,
                 started_at = CASE WHEN started_at IS NULL AND ?2 = 'running' THEN ?3 ELSE started_at END,
                 stopped_at = CASE WHEN ?2 = 'stopped' THEN ?3 ELSE stopped_at END
             WHERE key = ?1",
        )?
        .execute(params![key, to.as_str(), ts])?;
    Store::audit_on(
        tx,
        ts,
        actor,
        &format!("campaign.{}", verb(to)),
        Some(key),
        &format!("{from} -> {to}"),
    )?;
    Ok(from)
}

fn verb(to: Status) -> &'static str {
    match to {
        Status::Draft => "draft",
        Status::Running => "start",
        Status::Paused => "pause",
        Status::Stopped => "stop",
    }
}
