//! What the allocation loop reads and writes beyond the periods themselves: the units drawn in
//! one period (the schedule's "N new units"), the assignment log with each unit's propensity
//! and period (what the demo test and off-policy checks read back), and a running campaign's
//! bandit configuration (`bandit set`, audited).

use super::campaigns::load_campaign;
use super::{Result, Store, StoreError};
use crate::domain::{BanditConfig, Micros};
use rusqlite::{params, TransactionBehavior};
use serde::Serialize;

/// One logged assignment: which arm a unit got, with which probability, in which period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedAssignment {
    pub unit: String,
    pub arm: String,
    pub propensity: f64,
    pub period: i64,
    #[serde(with = "crate::domain::json_time")]
    pub ts: Micros,
}

fn campaign_id(store: &Store, key: &str) -> Result<i64> {
    load_campaign(&store.conn, key)?
        .map(|(c, _)| c.id)
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))
}

impl Store {
    /// Units assigned in allocation period `period` of `key` (from the per-period rollups:
    /// O(arms)).
    pub fn period_units(&self, key: &str, period: i64) -> Result<i64> {
        let id = campaign_id(self, key)?;
        if self.warehouse.is_some() {
            let periods = self.period_rollups(key)?;
            return Ok(periods
                .iter()
                .filter(|p| p.period == period)
                .flat_map(|p| p.arms.iter())
                .map(|a| a.units)
                .sum());
        }
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COALESCE(SUM(r.units), 0) FROM arm_period_rollups r
                 JOIN arms a ON a.id = r.arm_id WHERE a.campaign_id = ?1 AND r.period = ?2",
            )?
            .query_row(params![id, period], |r| r.get(0))?)
    }

    /// Every assignment of `key` in time order (then unit order), with its logged propensity
    /// and period. A full read: for checks and exports of the decision log, not for refreshes.
    pub fn logged_assignments(&self, key: &str) -> Result<Vec<LoggedAssignment>> {
        self.sqlite_plane_only("the decision log (OPE, IPW)")?;
        let id = campaign_id(self, key)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.unit, a.key, s.propensity, s.period, s.ts FROM assignments s
             JOIN arms a ON a.id = s.arm_id WHERE s.campaign_id = ?1 ORDER BY s.ts, s.unit",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(LoggedAssignment {
                unit: r.get(0)?,
                arm: r.get(1)?,
                propensity: r.get(2)?,
                period: r.get(3)?,
                ts: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Replaces the bandit configuration of `key` (any status: the next allocation update uses
    /// it), audited as `bandit.set` with the old and new configuration, in one transaction.
    pub fn set_bandit_config(
        &mut self,
        key: &str,
        config: &BanditConfig,
        ts: Micros,
        actor: &str,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (campaign, _) =
            load_campaign(&tx, key)?.ok_or_else(|| StoreError::UnknownCampaign(key.into()))?;
        let text = serde_json::to_string(config)
            .map_err(|e| StoreError::Corrupt(format!("bandit configuration: {e}")))?;
        tx.prepare_cached("UPDATE campaigns SET bandit = ?2 WHERE id = ?1")?
            .execute(params![campaign.id, text])?;
        let detail = serde_json::json!({ "from": campaign.spec.bandit, "to": config }).to_string();
        Store::audit_on(&tx, ts, actor, "bandit.set", Some(key), &detail)?;
        tx.commit()?;
        Ok(())
    }
}
