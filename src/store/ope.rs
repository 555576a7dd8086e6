//! Reading a campaign's logged decisions for off-policy evaluation and replay: one row per
//! assignment with its arm, the logged propensity, the
//! context as stored, and the unit's totals (the reward is picked from them by the use case),
//! in the order the decisions were made.

use super::{Result, Store};
use rusqlite::params;

/// One logged decision as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedDecision {
    pub unit: String,
    pub arm: String,
    pub propensity: f64,
    /// The assignment's context, JSON text as received.
    pub context: String,
    pub ts: i64,
    pub clicks: i64,
    pub purchases: i64,
    pub revenue: f64,
    pub cost: f64,
}

impl Store {
    /// Every assignment of `campaign` with its unit's totals, oldest first (ties by unit).
    pub fn logged_decisions(&self, campaign: &str) -> Result<Vec<LoggedDecision>> {
        self.sqlite_plane_only("off-policy evaluation (the logged decisions)")?;
        let id = self.campaign(campaign)?.0.id;
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.unit, ar.key, a.propensity, a.context, a.ts,
                    coalesce(u.clicks, 0), coalesce(u.purchases, 0),
                    coalesce(u.revenue, 0), coalesce(u.cost, 0)
             FROM assignments a
             JOIN arms ar ON ar.id = a.arm_id
             LEFT JOIN unit_totals u ON u.campaign_id = a.campaign_id AND u.unit = a.unit
             WHERE a.campaign_id = ?1
             ORDER BY a.ts, a.unit",
        )?;
        let rows = stmt.query_map(params![id], |r| {
            Ok(LoggedDecision {
                unit: r.get(0)?,
                arm: r.get(1)?,
                propensity: r.get(2)?,
                context: r.get(3)?,
                ts: r.get(4)?,
                clicks: r.get(5)?,
                purchases: r.get(6)?,
                revenue: r.get(7)?,
                cost: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
