//! The model registry: every trained version of a campaign's conversion model with what it
//! was trained on, and which one is active. A campaign has at most one active version; every
//! change of the active one is a single IMMEDIATE transaction that archives the old one,
//! activates the new one and writes the audit entry, so the registry and the audit log never
//! disagree. Which version to activate is the caller's decision, made inside that transaction
//! over the versions as they are then (`change_active_model`).

use super::{Result, Store, StoreError};
use crate::domain::Micros;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

/// Status of a version that was trained but not (yet) put in use.
pub const CANDIDATE: &str = "candidate";
/// Status of the version in use: at most one per campaign.
pub const ACTIVE: &str = "active";
/// Status of a version that was active and was replaced.
pub const ARCHIVED: &str = "archived";

/// A version to store, as the trainer describes it.
#[derive(Debug, Clone)]
pub struct NewModel<'a> {
    pub job_id: Option<i64>,
    pub ts: Micros,
    /// JSON: the learner's parameters (weights, encoding) as scoring reads them.
    pub model: &'a str,
    /// JSON: validation metrics; `holdout_log_loss` decides activation.
    pub metrics: &'a str,
    pub learner: &'a str,
    /// JSON: the feature spec training used, so scoring encodes identically.
    pub feature_spec: Option<&'a str>,
    pub train_from: Option<Micros>,
    pub train_to: Option<Micros>,
    pub train_rows: i64,
    pub validation_rows: i64,
    pub created_by: &'a str,
}

/// One stored version without its weights (those can be large: `model_json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub version: i64,
    pub created_at: Micros,
    pub job_id: Option<i64>,
    pub learner: String,
    pub feature_spec: Option<String>,
    pub train_from: Option<Micros>,
    pub train_to: Option<Micros>,
    pub train_rows: Option<i64>,
    pub validation_rows: Option<i64>,
    /// candidate, active or archived.
    pub status: String,
    pub created_by: Option<String>,
    /// When the version last became active (None: never was).
    pub activated_at: Option<Micros>,
    /// JSON of the validation metrics.
    pub metrics: String,
}

/// What a change of the active version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ActiveChange {
    /// The version that was active before (now archived), if any.
    pub from: Option<i64>,
    pub to: i64,
}

/// The caller's decision over the versions as they stand inside the transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    /// Make `version` active; `detail` goes to the audit log.
    Activate { version: i64, detail: String },
    /// Change nothing (and audit nothing).
    Keep,
}

const COLUMNS: &str = "version, created_at, job_id, learner, feature_spec, train_from, train_to,
                       train_rows, validation_rows, status, created_by, activated_at, metrics";

fn version_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelVersion> {
    Ok(ModelVersion {
        version: r.get(0)?,
        created_at: r.get(1)?,
        job_id: r.get(2)?,
        learner: r.get(3)?,
        feature_spec: r.get(4)?,
        train_from: r.get(5)?,
        train_to: r.get(6)?,
        train_rows: r.get(7)?,
        validation_rows: r.get(8)?,
        status: r.get(9)?,
        created_by: r.get(10)?,
        activated_at: r.get(11)?,
        metrics: r.get(12)?,
    })
}

fn versions_on(conn: &rusqlite::Connection, campaign_id: i64) -> Result<Vec<ModelVersion>> {
    // sql-splice: constant -- the column list
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM models WHERE campaign_id = ?1 ORDER BY version"
    ))?;
    let rows = stmt.query_map(params![campaign_id], version_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Store {
    /// Stores a trained model as the campaign's next version, a candidate, audited as
    /// `model.train` in the same transaction, and returns that version. Activating it is a
    /// separate, audited decision (`change_active_model`).
    pub fn save_model(&mut self, campaign: &str, m: &NewModel<'_>) -> Result<i64> {
        let id = self.campaign(campaign)?.0.id;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) + 1 FROM models WHERE campaign_id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO models (campaign_id, version, created_at, job_id, model, metrics,
                 learner, feature_spec, train_from, train_to, train_rows, validation_rows,
                 status, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                id,
                version,
                m.ts,
                m.job_id,
                m.model,
                m.metrics,
                m.learner,
                m.feature_spec,
                m.train_from,
                m.train_to,
                m.train_rows,
                m.validation_rows,
                CANDIDATE,
                m.created_by
            ],
        )?;
        // Every change to the registry is audited, the new candidate as much as an activation.
        let detail = format!(
            "version {version} trained ({}, {} training and {} validation units), a candidate",
            m.learner, m.train_rows, m.validation_rows
        );
        Store::audit_on(
            &tx,
            m.ts,
            m.created_by,
            "model.train",
            Some(campaign),
            &detail,
        )?;
        tx.commit()?;
        Ok(version)
    }

    /// The newest model of `campaign`, whatever its status: (version, created_at, model JSON,
    /// metrics JSON).
    pub fn latest_model(&self, campaign: &str) -> Result<Option<(i64, Micros, String, String)>> {
        let id = self.campaign(campaign)?.0.id;
        Ok(self
            .conn
            .query_row(
                "SELECT version, created_at, model, metrics FROM models
                 WHERE campaign_id = ?1 ORDER BY version DESC LIMIT 1",
                params![id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?)
    }

    /// The active model of `campaign`, the one scoring and reports use: (version, model JSON).
    pub fn active_model(&self, campaign: &str) -> Result<Option<(i64, String)>> {
        let id = self.campaign(campaign)?.0.id;
        Ok(self
            .conn
            .query_row(
                "SELECT version, model FROM models WHERE campaign_id = ?1 AND status = ?2",
                params![id, ACTIVE],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Every version of `campaign`, oldest first.
    pub fn model_versions(&self, campaign: &str) -> Result<Vec<ModelVersion>> {
        let id = self.campaign(campaign)?.0.id;
        versions_on(&self.conn, id)
    }

    /// One version with its model JSON, or None when the campaign has no such version.
    pub fn model_version(
        &self,
        campaign: &str,
        version: i64,
    ) -> Result<Option<(ModelVersion, String)>> {
        let id = self.campaign(campaign)?.0.id;
        Ok(self
            .conn
            .query_row(
                // sql-splice: constant -- the column list
                &format!(
                    "SELECT {COLUMNS}, model FROM models WHERE campaign_id = ?1 AND version = ?2"
                ),
                params![id, version],
                |r| Ok((version_row(r)?, r.get(13)?)),
            )
            .optional()?)
    }

    /// Changes the active version of `campaign` as `choose` decides over its versions (read
    /// inside the transaction, oldest first): the old active one becomes archived, the chosen
    /// one active, and `action` is audited with the choice's detail. The decision and the
    /// change are one IMMEDIATE transaction, so two operators cannot both activate.
    /// Returns None when `choose` keeps things as they are (or picks the active version).
    pub fn change_active_model<E: From<StoreError>>(
        &mut self,
        campaign: &str,
        ts: Micros,
        actor: &str,
        action: &str,
        choose: impl FnOnce(&[ModelVersion]) -> std::result::Result<Choice, E>,
    ) -> std::result::Result<Option<ActiveChange>, E> {
        let id = self.campaign(campaign)?.0.id;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let versions = versions_on(&tx, id)?;
        let (version, detail) = match choose(&versions)? {
            Choice::Keep => return Ok(None),
            Choice::Activate { version, detail } => (version, detail),
        };
        let from = versions
            .iter()
            .find(|v| v.status == ACTIVE)
            .map(|v| v.version);
        if from == Some(version) {
            return Ok(None);
        }
        let set = |status: &str, version: i64| -> Result<usize> {
            Ok(tx
                .prepare_cached(
                    "UPDATE models SET status = ?3,
                         activated_at = CASE WHEN ?3 = 'active' THEN ?4 ELSE activated_at END
                     WHERE campaign_id = ?1 AND version = ?2",
                )?
                .execute(params![id, version, status, ts])?)
        };
        // Archive first: the unique index allows one active version per campaign.
        if let Some(old) = from {
            set(ARCHIVED, old)?;
        }
        if set(ACTIVE, version)? != 1 {
            return Err(StoreError::Corrupt(format!(
                "campaign `{campaign}` has no model version {version}"
            ))
            .into());
        }
        Store::audit_on(&tx, ts, actor, action, Some(campaign), &detail)?;
        tx.commit().map_err(StoreError::from)?;
        Ok(Some(ActiveChange { from, to: version }))
    }

    /// First and last assignment time of `campaign`: the window a model trained now sees.
    pub fn assignment_window(&self, campaign: &str) -> Result<(Option<Micros>, Option<Micros>)> {
        let id = self.campaign(campaign)?.0.id;
        if let Some(w) = &self.warehouse {
            let window = w
                .data_window(id)
                .map_err(super::data_plane::warehouse_error)?;
            return Ok((window.first_assigned, window.last_assigned));
        }
        Ok(self.conn.query_row(
            "SELECT min(ts), max(ts) FROM assignments WHERE campaign_id = ?1",
            params![id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }
}
