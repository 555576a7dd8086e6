//! Allocation periods: the weights a campaign assigned with from one update to the next, the
//! stage and posterior summary they came from, and the per-(arm, period) rollups that let a
//! report compare arms within periods.

use super::campaigns::load_campaign;
use super::rollup_sql;
use super::{Result, Store, StoreError};
use crate::domain::{ArmRollup, CampaignKind, CampaignSpec, Micros};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

/// Where a campaign's allocation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Uniform weights until every arm has its minimum of units and the minimum time passed.
    Explore,
    /// Weights from the policy.
    Exploit,
    /// An arm reached the winner threshold.
    Winner,
    /// The campaign is paused: weights frozen.
    Paused,
    /// An A/B test: the creation weights, for the whole campaign.
    Fixed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Explore => "explore",
            Stage::Exploit => "exploit",
            Stage::Winner => "winner",
            Stage::Paused => "paused",
            Stage::Fixed => "fixed",
        }
    }

    fn parse(s: &str) -> Result<Stage> {
        Ok(match s {
            "explore" => Stage::Explore,
            "exploit" => Stage::Exploit,
            "winner" => Stage::Winner,
            "paused" => Stage::Paused,
            "fixed" => Stage::Fixed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown period stage `{other}`"
                )))
            }
        })
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored allocation period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodRow {
    pub period: i64,
    #[serde(with = "crate::domain::json_time")]
    pub started_at: Micros,
    pub stage: Stage,
    /// The campaign's units when the period began.
    pub units: i64,
    /// In arm order, summing to 1.
    pub weights: Vec<f64>,
    /// The posterior (or model) the weights were computed from; `{}` for the first period.
    pub summary: serde_json::Value,
}

/// A period about to be started by an allocation update.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPeriod {
    pub started_at: Micros,
    pub stage: Stage,
    pub units: i64,
    pub weights: Vec<f64>,
    pub summary: serde_json::Value,
}

/// One period's weights and per-arm rollups (arms in arm order; an arm without units in the
/// period has an empty rollup).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodRollups {
    pub period: i64,
    pub weights: Vec<f64>,
    pub arms: Vec<ArmRollup>,
}

/// (start, period) of a campaign's periods in start order: the ingest path's look-up.
pub(crate) fn period_starts(conn: &Connection, campaign_id: i64) -> Result<Vec<(Micros, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT started_at, period FROM allocation_periods WHERE campaign_id = ?1
         ORDER BY period",
    )?;
    let rows = stmt.query_map([campaign_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Period 1 of a new campaign: its definition's weights, normalised.
pub(crate) fn insert_first_period(
    conn: &Connection,
    campaign_id: i64,
    spec: &CampaignSpec,
    ts: Micros,
) -> Result<()> {
    let total: f64 = spec.arms.iter().map(|a| a.weight).sum();
    let weights: Vec<f64> = spec
        .arms
        .iter()
        .map(|a| if total > 0.0 { a.weight / total } else { 0.0 })
        .collect();
    let stage = match spec.kind {
        // An observational campaign's weights are never used: one fixed period.
        CampaignKind::Ab | CampaignKind::Observational => Stage::Fixed,
        CampaignKind::Bandit => Stage::Explore,
    };
    insert_period(
        conn,
        campaign_id,
        1,
        &NewPeriod {
            started_at: ts,
            stage,
            units: 0,
            weights,
            summary: serde_json::json!({}),
        },
    )
}

fn insert_period(conn: &Connection, campaign_id: i64, period: i64, p: &NewPeriod) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO allocation_periods (campaign_id, period, started_at, stage, units, weights,
                                         summary)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        campaign_id,
        period,
        p.started_at,
        p.stage.as_str(),
        p.units,
        serde_json::to_string(&p.weights).unwrap_or_else(|_| "[]".into()),
        p.summary.to_string(),
    ])?;
    Ok(())
}

fn campaign_id(conn: &Connection, key: &str) -> Result<i64> {
    load_campaign(conn, key)?
        .map(|(c, _)| c.id)
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))
}

fn read_periods(conn: &Connection, campaign_id: i64) -> Result<Vec<PeriodRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT period, started_at, stage, units, weights, summary FROM allocation_periods
         WHERE campaign_id = ?1 ORDER BY period",
    )?;
    let raw = stmt
        .query_map([campaign_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    raw.into_iter()
        .map(|(period, started_at, stage, units, weights, summary)| {
            let corrupt = |what: &str, e: serde_json::Error| {
                StoreError::Corrupt(format!("period {period}: {what}: {e}"))
            };
            Ok(PeriodRow {
                period,
                started_at,
                stage: Stage::parse(&stage)?,
                units,
                weights: serde_json::from_str(&weights).map_err(|e| corrupt("weights", e))?,
                summary: serde_json::from_str(&summary).map_err(|e| corrupt("summary", e))?,
            })
        })
        .collect()
}

impl Store {
    /// Every allocation period of a campaign, oldest first (an existing campaign has >= 1).
    pub fn periods(&self, key: &str) -> Result<Vec<PeriodRow>> {
        read_periods(&self.conn, campaign_id(&self.conn, key)?)
    }

    /// The period in force now: the newest.
    pub fn current_period(&self, key: &str) -> Result<PeriodRow> {
        let id = campaign_id(&self.conn, key)?;
        let row: Option<i64> = self
            .conn
            .prepare_cached("SELECT MAX(period) FROM allocation_periods WHERE campaign_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(newest) = row else {
            return Err(StoreError::Corrupt(format!(
                "campaign `{key}` has no allocation period"
            )));
        };
        read_periods(&self.conn, id)?
            .into_iter()
            .find(|p| p.period == newest)
            .ok_or_else(|| StoreError::Corrupt(format!("campaign `{key}` lost period {newest}")))
    }

    /// Starts the period after `after`: stores it, moves the arms' current weights to its
    /// weights and appends them to the weight history, and audits the change, in one IMMEDIATE
    /// transaction. Returns the new period's number, or `None` when another process started a
    /// period after `after` first (the caller's update is stale and is dropped).
    pub fn start_period(
        &mut self,
        key: &str,
        after: i64,
        p: &NewPeriod,
        actor: &str,
    ) -> Result<Option<i64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (campaign, arms) =
            load_campaign(&tx, key)?.ok_or_else(|| StoreError::UnknownCampaign(key.into()))?;
        if p.weights.len() != arms.len() {
            return Err(StoreError::Corrupt(format!(
                "{} weights for the {} arms of `{key}`",
                p.weights.len(),
                arms.len()
            )));
        }
        let newest: i64 = tx
            .prepare_cached(
                "SELECT COALESCE(MAX(period), 0) FROM allocation_periods WHERE campaign_id = ?1",
            )?
            .query_row([campaign.id], |r| r.get(0))?;
        if newest != after {
            return Ok(None);
        }
        let period = newest + 1;
        insert_period(&tx, campaign.id, period, p)?;
        for (arm, &w) in arms.iter().zip(&p.weights) {
            tx.prepare_cached("UPDATE arms SET weight = ?2 WHERE id = ?1")?
                .execute(params![arm.id, w])?;
            tx.prepare_cached(
                "INSERT INTO arm_weight_history (arm_id, ts, weight) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![arm.id, p.started_at, w])?;
        }
        let detail = serde_json::json!({
            "period": period, "stage": p.stage, "weights": p.weights, "units": p.units,
        })
        .to_string();
        Store::audit_on(
            &tx,
            p.started_at,
            actor,
            "bandit.update",
            Some(key),
            &detail,
        )?;
        tx.commit()?;
        Ok(Some(period))
    }

    // data-plane: collect_period_rollups answers from the warehouse
    /// The per-(arm, period) rollups of every period, with the period's weights. O(arms x
    /// periods).
    pub fn period_rollups(&self, key: &str) -> Result<Vec<PeriodRollups>> {
        let id = campaign_id(&self.conn, key)?;
        // sql-splice: constant: rollup_sql::columns() -- the rollup field table
        let sql = format!(
            "SELECT a.position, r.period, {} FROM arm_period_rollups r
             JOIN arms a ON a.id = r.arm_id WHERE a.campaign_id = ?1",
            rollup_sql::columns()
        );
        self.collect_period_rollups(id, &sql)
    }

    /// The same, recomputed from assignments and events (the check behind `verify`).
    pub fn recompute_period_rollups(&self, key: &str) -> Result<Vec<PeriodRollups>> {
        self.recompute_period_rollups_from(key, rollup_sql::UnitsSource::Raw)
    }

    /// The same over the per-unit rows `units` names.
    pub(super) fn recompute_period_rollups_from(
        &self,
        key: &str,
        units: rollup_sql::UnitsSource,
    ) -> Result<Vec<PeriodRollups>> {
        self.sqlite_plane_only("the recompute behind `verify`")?;
        let id = campaign_id(&self.conn, key)?;
        // sql-splice: constant: units.cte(), rollup_sql::recompute_list() -- field table; a constant CTE
        let sql = format!(
            "{}
             SELECT a.position, p.period, {}
             FROM per_unit p JOIN arms a ON a.id = p.arm_id
             GROUP BY p.arm_id, p.period",
            units.cte(),
            rollup_sql::recompute_list()
        );
        self.collect_period_rollups(id, &sql)
    }

    fn collect_period_rollups(&self, campaign_id: i64, sql: &str) -> Result<Vec<PeriodRollups>> {
        let periods = read_periods(&self.conn, campaign_id)?;
        let arm_count = periods.first().map_or(0, |p| p.weights.len());
        let mut out: Vec<PeriodRollups> = periods
            .into_iter()
            .map(|p| PeriodRollups {
                period: p.period,
                weights: p.weights,
                arms: vec![ArmRollup::default(); arm_count],
            })
            .collect();
        if let Some(w) = &self.warehouse {
            let arm_ids = self
                .conn
                .prepare_cached("SELECT id FROM arms WHERE campaign_id = ?1 ORDER BY position")?
                .query_map([campaign_id], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<i64>>>()?;
            self.warehouse_period_rollups(w, campaign_id, &arm_ids, &mut out)?;
            return Ok(out);
        }
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([campaign_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                rollup_sql::read(r, 2)?,
            ))
        })?;
        for row in rows {
            let (position, period, rollup) = row?;
            let slot = out
                .iter_mut()
                .find(|p| p.period == period)
                .and_then(|p| p.arms.get_mut(position as usize))
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "rollups for period {period}, arm {position}, which the campaign lacks"
                    ))
                })?;
            *slot = rollup;
        }
        Ok(out)
    }
}
