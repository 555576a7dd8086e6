//! Champion and challenger on the same rows: a retrained version (the challenger) replaces
//! the active one (the champion) only when it predicts the challenger's own validation units
//! better. Comparing each version's stored validation loss would compare different units
//! (each retrain validates on the newest 20% of the data it saw, and the base rate moves),
//! so the champion is re-scored here on exactly the rows the challenger was measured on.

use super::predict::{ActiveModel, ScoreRow};
use super::Result;
use crate::model::log_loss;
use crate::store::Store;
use serde::{Deserialize, Serialize};

/// The active version's log loss on the challenger's validation units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChampionCheck {
    pub version: i64,
    pub learner: String,
    pub log_loss: f64,
    pub units: usize,
}

/// What a retrain checks on its validation units (`rows`, labels `y`) before it stores the
/// version: the champion's loss on them, and whether their labels have had time to arrive.
pub fn validation_checks(
    store: &Store,
    key: &str,
    clicks: bool,
    rows: &[ScoreRow],
    y: &[f64],
) -> Result<(
    Option<ChampionCheck>,
    Option<super::maturity::LabelMaturity>,
)> {
    let champion = champion_on(store, key, rows, y)?;
    let times: Vec<crate::domain::Micros> = rows.iter().map(|r| r.at).collect();
    let maturity = super::maturity::check(store, key, clicks, &times)?;
    Ok((champion, maturity))
}

/// Scores `key`'s active model on `rows` (labels `y`); `None` when there is no active model,
/// no rows, or the active model cannot be read or scored (a version written by an older
/// liftdeck), in which case the stored validation losses decide as before.
pub fn champion_on(
    store: &Store,
    key: &str,
    rows: &[ScoreRow],
    y: &[f64],
) -> Result<Option<ChampionCheck>> {
    if rows.is_empty() || rows.len() != y.len() {
        return Ok(None);
    }
    let Ok(Some(active)) = ActiveModel::load(store, key) else {
        return Ok(None);
    };
    let Ok(p) = active.score(store, rows) else {
        return Ok(None);
    };
    let loss = log_loss(y, &p);
    if !loss.is_finite() {
        return Ok(None);
    }
    let learner = store
        .model_versions(key)?
        .into_iter()
        .find(|v| v.version == active.version)
        .map_or_else(String::new, |v| v.learner);
    Ok(Some(ChampionCheck {
        version: active.version,
        learner,
        log_loss: loss,
        units: rows.len(),
    }))
}
