//! The forecast ledger's rows: the forecast a campaign was started with, frozen, and its
//! review once the campaign has stopped (the effect measured against it and its score).

use super::{campaigns::set_status_on, Result, Store, StoreError};
use crate::domain::{Micros, Status};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// A forecast to freeze at a campaign's start.
#[derive(Debug, Clone)]
pub struct NewFrozenForecast<'a> {
    pub offer_type: &'a str,
    /// JSON of the plan.
    pub plan: &'a str,
    /// JSON of the PlanForecast.
    pub forecast: &'a str,
    /// The forecaster and what it learned from, in words.
    pub model: &'a str,
    pub data_hash: &'a str,
}

/// What starting a campaign from a plan did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartedFromPlan {
    pub from: Status,
    /// False when the campaign already had a frozen forecast (a resume): it was kept.
    pub frozen: bool,
    pub forecast_id: i64,
}

/// A frozen forecast as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenForecastRow {
    pub id: i64,
    pub campaign: String,
    pub offer_type: String,
    pub plan: String,
    pub forecast: String,
    pub model: String,
    pub data_hash: String,
    pub frozen_at: Micros,
    pub actor: String,
}

/// A review to store.
#[derive(Debug, Clone)]
pub struct NewForecastReview<'a> {
    pub reviewed_at: Micros,
    pub actor: &'a str,
    pub arm: &'a str,
    pub measured: f64,
    pub measured_se: f64,
    /// JSON of the score.
    pub score: &'a str,
}

/// A reviewed forecast: the frozen row with its review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewedForecastRow {
    pub frozen: FrozenForecastRow,
    pub reviewed_at: Micros,
    pub reviewed_by: String,
    pub arm: String,
    pub measured: f64,
    pub measured_se: f64,
    pub score: String,
}

const FROZEN_COLUMNS: &str = "f.id, c.key, f.offer_type, f.plan, f.forecast, f.model, \
     f.data_hash, f.frozen_at, f.actor";

fn frozen_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FrozenForecastRow> {
    Ok(FrozenForecastRow {
        id: r.get(0)?,
        campaign: r.get(1)?,
        offer_type: r.get(2)?,
        plan: r.get(3)?,
        forecast: r.get(4)?,
        model: r.get(5)?,
        data_hash: r.get(6)?,
        frozen_at: r.get(7)?,
        actor: r.get(8)?,
    })
}

impl Store {
    /// Starts (or resumes) `key` and freezes `f` beside it in one transaction: either both
    /// happen or neither. A campaign that already has a frozen forecast keeps it.
    pub fn start_with_forecast(
        &mut self,
        key: &str,
        f: &NewFrozenForecast<'_>,
        ts: Micros,
        actor: &str,
    ) -> Result<StartedFromPlan> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from = set_status_on(&tx, key, Status::Running, ts, actor)?;
        let campaign_id: i64 = tx
            .prepare_cached("SELECT id FROM campaigns WHERE key = ?1")?
            .query_row([key], |r| r.get(0))?;
        let inserted = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO forecasts (campaign_id, offer_type, plan, forecast, model,
                     data_hash, frozen_at, actor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                campaign_id,
                f.offer_type,
                f.plan,
                f.forecast,
                f.model,
                f.data_hash,
                ts,
                actor
            ])?;
        let forecast_id: i64 = tx
            .prepare_cached("SELECT id FROM forecasts WHERE campaign_id = ?1")?
            .query_row([campaign_id], |r| r.get(0))?;
        if inserted > 0 {
            Store::audit_on(
                &tx,
                ts,
                actor,
                "forecast.freeze",
                Some(key),
                &format!(
                    "forecast {forecast_id} frozen ({} offer, data {})",
                    f.offer_type, f.data_hash
                ),
            )?;
        }
        tx.commit()?;
        Ok(StartedFromPlan {
            from,
            frozen: inserted > 0,
            forecast_id,
        })
    }

    /// The forecast `key` was started with, if it was started from a plan.
    pub fn frozen_forecast(&self, key: &str) -> Result<Option<FrozenForecastRow>> {
        self.campaign(key)?;
        // sql-splice: constant -- the column list
        let sql = format!(
            "SELECT {FROZEN_COLUMNS} FROM forecasts f JOIN campaigns c ON c.id = f.campaign_id
             WHERE c.key = ?1"
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([key], frozen_row)
            .optional()?)
    }

    /// Stores the review of frozen forecast `forecast_id`, replacing an earlier one, audited.
    /// Returns true when it replaced one.
    pub fn save_forecast_review(
        &mut self,
        forecast_id: i64,
        r: &NewForecastReview<'_>,
    ) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let key: String = tx
            .prepare_cached(
                "SELECT c.key FROM forecasts f JOIN campaigns c ON c.id = f.campaign_id
                 WHERE f.id = ?1",
            )?
            .query_row([forecast_id], |row| row.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Corrupt(format!("no frozen forecast {forecast_id}")))?;
        let existed: bool = tx
            .prepare_cached("SELECT count(*) > 0 FROM forecast_reviews WHERE forecast_id = ?1")?
            .query_row([forecast_id], |row| row.get(0))?;
        tx.prepare_cached(
            "INSERT INTO forecast_reviews (forecast_id, reviewed_at, actor, arm, measured,
                 measured_se, score)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (forecast_id) DO UPDATE SET reviewed_at = excluded.reviewed_at,
                 actor = excluded.actor, arm = excluded.arm, measured = excluded.measured,
                 measured_se = excluded.measured_se, score = excluded.score",
        )?
        .execute(params![
            forecast_id,
            r.reviewed_at,
            r.actor,
            r.arm,
            r.measured,
            r.measured_se,
            r.score
        ])?;
        Store::audit_on(
            &tx,
            r.reviewed_at,
            r.actor,
            "forecast.review",
            Some(&key),
            &format!(
                "forecast {forecast_id} {} against arm {}: measured {} (SE {})",
                if existed { "re-reviewed" } else { "reviewed" },
                r.arm,
                r.measured,
                r.measured_se
            ),
        )?;
        tx.commit()?;
        Ok(existed)
    }

    /// Every reviewed forecast, oldest frozen first; of one offer type or of all.
    pub fn reviewed_forecasts(&self, offer_type: Option<&str>) -> Result<Vec<ReviewedForecastRow>> {
        // sql-splice: constant -- the column list
        let sql = format!(
            "SELECT {FROZEN_COLUMNS}, r.reviewed_at, r.actor, r.arm, r.measured, r.measured_se,
                    r.score
             FROM forecasts f JOIN campaigns c ON c.id = f.campaign_id
                  JOIN forecast_reviews r ON r.forecast_id = f.id
             WHERE ?1 IS NULL OR f.offer_type = ?1
             ORDER BY f.id"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![offer_type], |r| {
            Ok(ReviewedForecastRow {
                frozen: frozen_row(r)?,
                reviewed_at: r.get(9)?,
                reviewed_by: r.get(10)?,
                arm: r.get(11)?,
                measured: r.get(12)?,
                measured_se: r.get(13)?,
                score: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
