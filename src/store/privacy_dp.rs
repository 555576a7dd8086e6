//! Privacy budgets and differentially private releases (migration 15). The check of what is
//! left and the record of a release happen in one IMMEDIATE transaction, so two reports run at
//! once cannot both spend the last of a budget.

use super::campaigns::load_campaign;
use super::{Result, Store, StoreError};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::Serialize;

/// A campaign's total privacy budget and what its releases have spent of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PrivacyBudget {
    pub epsilon: f64,
    pub delta: f64,
    pub spent_epsilon: f64,
    pub spent_delta: f64,
    pub releases: i64,
}

impl PrivacyBudget {
    pub fn left_epsilon(&self) -> f64 {
        (self.epsilon - self.spent_epsilon).max(0.0)
    }

    pub fn left_delta(&self) -> f64 {
        (self.delta - self.spent_delta).max(0.0)
    }

    /// Whether (ε, δ) more fits; a relative slack of 1e-9 absorbs the rounding of sums of
    /// shares (ten releases of 0.1 must fit a budget of 1).
    pub fn allows(&self, epsilon: f64, delta: f64) -> bool {
        let fits = |spent: f64, more: f64, total: f64| spent + more <= total * (1.0 + 1e-9);
        fits(self.spent_epsilon, epsilon, self.epsilon)
            && (delta == 0.0 || fits(self.spent_delta, delta, self.delta))
    }
}

/// What became of a release asked to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseRecord {
    /// Recorded with this id; the budget after it.
    Recorded { id: i64, budget: PrivacyBudget },
    /// The campaign has no budget: DP releases are refused until one is set.
    NoBudget,
    /// It would pass the budget; nothing was recorded.
    Exceeded(PrivacyBudget),
}

fn campaign_id(conn: &Connection, key: &str) -> Result<i64> {
    load_campaign(conn, key)?
        .map(|(c, _)| c.id)
        .ok_or_else(|| StoreError::UnknownCampaign(key.into()))
}

fn read_budget(conn: &Connection, campaign_id: i64) -> Result<Option<PrivacyBudget>> {
    Ok(conn
        .prepare_cached(
            "SELECT b.epsilon, b.delta,
                    COALESCE((SELECT SUM(epsilon) FROM dp_releases WHERE campaign_id = ?1), 0),
                    COALESCE((SELECT SUM(delta) FROM dp_releases WHERE campaign_id = ?1), 0),
                    (SELECT COUNT(*) FROM dp_releases WHERE campaign_id = ?1)
             FROM privacy_budgets b WHERE b.campaign_id = ?1",
        )?
        .query_row([campaign_id], |r| {
            Ok(PrivacyBudget {
                epsilon: r.get(0)?,
                delta: r.get(1)?,
                spent_epsilon: r.get(2)?,
                spent_delta: r.get(3)?,
                releases: r.get(4)?,
            })
        })
        .optional()?)
}

impl Store {
    /// The campaign's budget and what is spent, `None` when none was set.
    pub fn privacy_budget(&self, key: &str) -> Result<Option<PrivacyBudget>> {
        let id = campaign_id(&self.conn, key)?;
        read_budget(&self.conn, id)
    }

    /// Sets (or replaces) the campaign's total budget, with its audit row. Releases already
    /// made stay spent: a total below them leaves nothing to spend.
    pub fn set_privacy_budget(
        &mut self,
        key: &str,
        epsilon: f64,
        delta: f64,
        ts: i64,
        actor: &str,
    ) -> Result<PrivacyBudget> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = campaign_id(&tx, key)?;
        let before = read_budget(&tx, id)?;
        tx.prepare_cached(
            "INSERT INTO privacy_budgets (campaign_id, epsilon, delta, set_at, actor)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (campaign_id) DO UPDATE SET epsilon = excluded.epsilon,
                 delta = excluded.delta, set_at = excluded.set_at, actor = excluded.actor",
        )?
        .execute(params![id, epsilon, delta, ts, actor])?;
        let detail = match before {
            Some(b) => format!(
                "epsilon {epsilon}, delta {delta} (was epsilon {}, delta {})",
                b.epsilon, b.delta
            ),
            None => format!("epsilon {epsilon}, delta {delta}"),
        };
        Store::audit_on(&tx, ts, actor, "privacy.budget", Some(key), &detail)?;
        let after = read_budget(&tx, id)?.unwrap_or(PrivacyBudget {
            epsilon,
            delta,
            spent_epsilon: 0.0,
            spent_delta: 0.0,
            releases: 0,
        });
        tx.commit()?;
        Ok(after)
    }

    /// Records a release of (ε, δ) described by `released` (JSON) if the campaign's budget
    /// still holds it, with its audit row; refused, recording nothing, otherwise.
    pub fn record_dp_release(
        &mut self,
        key: &str,
        epsilon: f64,
        delta: f64,
        released: &str,
        ts: i64,
        actor: &str,
    ) -> Result<ReleaseRecord> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = campaign_id(&tx, key)?;
        let Some(budget) = read_budget(&tx, id)? else {
            return Ok(ReleaseRecord::NoBudget);
        };
        if !budget.allows(epsilon, delta) {
            return Ok(ReleaseRecord::Exceeded(budget));
        }
        tx.prepare_cached(
            "INSERT INTO dp_releases (campaign_id, ts, actor, epsilon, delta, released)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![id, ts, actor, epsilon, delta, released])?;
        let release_id = tx.last_insert_rowid();
        let detail = format!("release {release_id}: epsilon {epsilon}, delta {delta}");
        Store::audit_on(&tx, ts, actor, "privacy.dp_release", Some(key), &detail)?;
        let budget = read_budget(&tx, id)?.unwrap_or(budget);
        tx.commit()?;
        Ok(ReleaseRecord::Recorded {
            id: release_id,
            budget,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PrivacyBudget;

    #[test]
    fn shares_that_sum_to_the_total_fit_and_one_more_does_not() {
        let mut b = PrivacyBudget {
            epsilon: 1.0,
            delta: 0.0,
            spent_epsilon: 0.0,
            spent_delta: 0.0,
            releases: 0,
        };
        for _ in 0..10 {
            assert!(b.allows(0.1, 0.0));
            b.spent_epsilon += 0.1;
        }
        assert!(!b.allows(1e-6, 0.0));
        // Delta is checked only when spent; a pure-epsilon budget refuses any delta.
        b.spent_epsilon = 0.0;
        assert!(!b.allows(0.1, 1e-9));
        assert_eq!(b.left_epsilon(), 1.0);
    }
}
