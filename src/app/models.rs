//! The model registry's use cases (`liftdeck model ...`, the retrain job): list and show
//! versions, activate one, roll back. A version replaces the active one only when it beats it
//! on validation log loss (`holdout_log_loss` in its metrics), unless the operator forces it;
//! a rollback is the operator's call and is never gated. Every change of the active version is
//! audited (`model.activate`, `model.rollback`) in the transaction that makes it.

use super::{AppError, Env, Result};
use crate::clock::format_rfc3339;
use crate::domain::Micros;
use crate::format;
use crate::store::{ActiveChange, Choice, ModelVersion, Store, ACTIVE};
use crate::text::escape_control;
use serde::Serialize;
use serde_json::Value;

/// One version as `model list` and `model show` print it.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub version: i64,
    pub status: String,
    pub learner: String,
    #[serde(serialize_with = "crate::domain::json_time::serialize")]
    pub created_at: Micros,
    pub created_by: Option<String>,
    pub job_id: Option<i64>,
    #[serde(serialize_with = "crate::domain::json_time::option")]
    pub activated_at: Option<Micros>,
    #[serde(serialize_with = "crate::domain::json_time::option")]
    pub train_from: Option<Micros>,
    #[serde(serialize_with = "crate::domain::json_time::option")]
    pub train_to: Option<Micros>,
    pub train_rows: Option<i64>,
    pub validation_rows: Option<i64>,
    /// The metric activation compares (lower is better).
    pub validation_log_loss: Option<f64>,
    pub metrics: Value,
    pub feature_spec: Option<Value>,
    /// The stored model (weights); only `show` includes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<Value>,
}

/// What `activate` or `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct Activation {
    pub campaign: String,
    /// The version active before (None: there was none).
    pub from: Option<i64>,
    /// The version active now.
    pub to: i64,
    /// False when the version asked for was already active (nothing changed or audited).
    pub changed: bool,
}

/// Validation log loss from a version's metrics JSON; None when missing or not finite.
pub fn validation_log_loss(metrics: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(metrics).ok()?;
    v.get("holdout_log_loss")?
        .as_f64()
        .filter(|x| x.is_finite())
}

/// The log loss a retrain measured for active version `champion` on the retrain's own
/// validation units (`champion` in its metrics), if it measured that version.
pub fn champion_log_loss(metrics: &str, champion: i64) -> Option<f64> {
    let v: Value = serde_json::from_str(metrics).ok()?;
    let c = v.get("champion")?;
    (c.get("version")?.as_i64()? == champion)
        .then(|| c.get("log_loss")?.as_f64())
        .flatten()
        .filter(|x| x.is_finite())
}

fn parse(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.to_owned()))
}

fn view(v: ModelVersion, model: Option<&str>) -> VersionView {
    VersionView {
        validation_log_loss: validation_log_loss(&v.metrics),
        metrics: parse(&v.metrics),
        feature_spec: v.feature_spec.as_deref().map(parse),
        model: model.map(parse),
        version: v.version,
        status: v.status,
        learner: v.learner,
        created_at: v.created_at,
        created_by: v.created_by,
        job_id: v.job_id,
        activated_at: v.activated_at,
        train_from: v.train_from,
        train_to: v.train_to,
        train_rows: v.train_rows,
        validation_rows: v.validation_rows,
    }
}

fn unknown(key: &str, version: i64) -> AppError {
    AppError::Invalid(format!(
        "campaign `{key}` has no model version {version} (see `liftdeck model list {key}`)"
    ))
}

fn loss_text(l: Option<f64>) -> String {
    format::opt(l, |x| format!("{x:.4}"))
}

/// Every version of `key`, oldest first.
pub fn list(store: &Store, key: &str) -> Result<Vec<VersionView>> {
    Ok(store
        .model_versions(key)?
        .into_iter()
        .map(|v| view(v, None))
        .collect())
}

/// One version with its stored model.
pub fn show(store: &Store, key: &str, version: i64) -> Result<VersionView> {
    let (v, model) = store
        .model_version(key, version)?
        .ok_or_else(|| unknown(key, version))?;
    Ok(view(v, Some(&model)))
}

fn outcome(key: &str, change: Option<ActiveChange>, asked: i64) -> Activation {
    match change {
        Some(c) => Activation {
            campaign: key.into(),
            from: c.from,
            to: c.to,
            changed: true,
        },
        None => Activation {
            campaign: key.into(),
            from: Some(asked),
            to: asked,
            changed: false,
        },
    }
}

/// Makes `version` active if it beats the active one on validation log loss, or always with
/// `force`. Refused (exit 65) when it does not beat it or either loss is unknown.
pub fn activate(
    store: &mut Store,
    env: &Env,
    key: &str,
    version: i64,
    force: bool,
) -> Result<Activation> {
    let change = store.change_active_model(
        key,
        env.clock.now(),
        &env.actor,
        "model.activate",
        |versions| -> Result<Choice> {
            let target = versions
                .iter()
                .find(|v| v.version == version)
                .ok_or_else(|| unknown(key, version))?;
            let active = versions.iter().find(|v| v.status == ACTIVE);
            let new = validation_log_loss(&target.metrics);
            let detail = match active {
                None => format!("version {version} (no active version before)"),
                Some(a) if a.version == version => return Ok(Choice::Keep),
                Some(a) => {
                    let old = validation_log_loss(&a.metrics);
                    let beats = matches!((new, old), (Some(n), Some(o)) if n < o);
                    let losses = format!(
                        "validation log loss {} vs {}",
                        loss_text(new),
                        loss_text(old)
                    );
                    if !beats && !force {
                        return Err(AppError::Invalid(format!(
                            "version {version} does not beat active version {} on {losses}; \
                             `--force` activates it anyway",
                            a.version
                        )));
                    }
                    let how = if beats { "beats" } else { "forced over" };
                    format!("version {version} {how} version {}: {losses}", a.version)
                }
            };
            Ok(Choice::Activate { version, detail })
        },
    )?;
    Ok(outcome(key, change, version))
}

/// Makes an earlier version active again: `version`, or by default the one that was active
/// before the current one (the most recently activated of the others). Not gated by metrics.
pub fn rollback(
    store: &mut Store,
    env: &Env,
    key: &str,
    version: Option<i64>,
) -> Result<Activation> {
    let mut asked = 0;
    let change = store.change_active_model(
        key,
        env.clock.now(),
        &env.actor,
        "model.rollback",
        |versions| -> Result<Choice> {
            let active = versions.iter().find(|v| v.status == ACTIVE);
            let target = match version {
                Some(n) => versions
                    .iter()
                    .find(|v| v.version == n)
                    .ok_or_else(|| unknown(key, n))?,
                None => versions
                    .iter()
                    .filter(|v| v.status != ACTIVE && v.activated_at.is_some())
                    .max_by_key(|v| (v.activated_at, v.version))
                    .ok_or_else(|| {
                        AppError::Invalid(format!(
                            "campaign `{key}` has no earlier active version to roll back to \
                             (see `liftdeck model list {key}`)"
                        ))
                    })?,
            };
            asked = target.version;
            if active.is_some_and(|a| a.version == target.version) {
                return Err(AppError::Invalid(format!(
                    "version {} of `{key}` is already the active one",
                    target.version
                )));
            }
            let detail = match active {
                Some(a) => format!("version {} -> version {}", a.version, target.version),
                None => format!("version {} (no active version before)", target.version),
            };
            Ok(Choice::Activate {
                version: target.version,
                detail,
            })
        },
    )?;
    Ok(outcome(key, change, asked))
}

/// After a retrain: the new candidate `version` becomes active when there is no active version
/// or it beats the active one; otherwise it stays a candidate. Returns the change, if any.
pub fn activate_if_better(
    store: &mut Store,
    env: &Env,
    key: &str,
    version: i64,
) -> Result<Option<ActiveChange>> {
    store.change_active_model(
        key,
        env.clock.now(),
        &env.actor,
        "model.activate",
        |versions| -> Result<Choice> {
            let new = versions
                .iter()
                .find(|v| v.version == version)
                .ok_or_else(|| unknown(key, version))?;
            let new_loss = validation_log_loss(&new.metrics);
            let detail = match versions.iter().find(|v| v.status == ACTIVE) {
                None => format!("version {version} after retraining (no active version before)"),
                Some(a) => {
                    // On the same units when the retrain re-scored the active version on
                    // its own validation part; else each version's stored loss.
                    let same_rows = champion_log_loss(&new.metrics, a.version);
                    let old = same_rows.or_else(|| validation_log_loss(&a.metrics));
                    let on = if same_rows.is_some() {
                        "on the same validation units"
                    } else {
                        "each on its own validation units"
                    };
                    match (new_loss, old) {
                        (Some(n), Some(o)) if n < o => format!(
                            "version {version} after retraining beats version {}: validation \
                             log loss {n:.4} vs {o:.4} ({on})",
                            a.version
                        ),
                        _ => return Ok(Choice::Keep),
                    }
                }
            };
            Ok(Choice::Activate { version, detail })
        },
    )
}

/// `model list` as text: one line per version, the active one marked.
pub fn format_list(key: &str, versions: &[VersionView]) -> String {
    if versions.is_empty() {
        return format!(
            "no model versions for {} yet (train one with `liftdeck train {}`)\n",
            escape_control(key),
            escape_control(key)
        );
    }
    let mut out = format!(
        "model versions of {}\n  {:>7}  {:<9}  {:<10}  {:>10}  {:>9}  {:<20}  {}\n",
        escape_control(key),
        "version",
        "status",
        "learner",
        "train rows",
        "val. loss",
        "created",
        "by"
    );
    for v in versions {
        out.push_str(&format!(
            "  {}{:>6}  {:<9}  {:<10}  {:>10}  {:>9}  {:<20}  {}\n",
            if v.status == ACTIVE { '*' } else { ' ' },
            v.version,
            v.status,
            escape_control(&v.learner),
            v.train_rows.map_or("-".to_owned(), format::count),
            loss_text(v.validation_log_loss),
            format_rfc3339(v.created_at),
            escape_control(v.created_by.as_deref().unwrap_or("-")),
        ));
    }
    out
}

/// `model show` as text: the registry fields and the metrics (not the weights; `--json` has
/// them).
pub fn format_show(key: &str, v: &VersionView) -> String {
    let time = |t: Option<Micros>| t.map_or("-".to_owned(), format_rfc3339);
    let mut out = format!(
        "model version {} of {}: {}\n  learner {}  created {} by {}{}\n  \
         trained on {} rows from {} to {}, validated on {} rows\n  \
         activated {}\n  validation log loss {}\n  metrics:\n",
        v.version,
        escape_control(key),
        v.status,
        escape_control(&v.learner),
        format_rfc3339(v.created_at),
        escape_control(v.created_by.as_deref().unwrap_or("-")),
        v.job_id.map_or(String::new(), |j| format!(" (job {j})")),
        v.train_rows.map_or("-".to_owned(), format::count),
        time(v.train_from),
        time(v.train_to),
        v.validation_rows.map_or("-".to_owned(), format::count),
        time(v.activated_at),
        loss_text(v.validation_log_loss),
    );
    if let Value::Object(m) = &v.metrics {
        for (k, val) in m {
            if val.is_number() || val.is_string() || val.is_boolean() {
                out.push_str(&format!(
                    "    {:<20} {}\n",
                    escape_control(k),
                    escape_control(&val.to_string())
                ));
            }
        }
    }
    out
}

/// `activate` / `rollback` as text.
pub fn format_activation(a: &Activation) -> String {
    let key = escape_control(&a.campaign);
    match (a.changed, a.from) {
        (false, _) => format!(
            "version {} of {key} is already active; nothing changed\n",
            a.to
        ),
        (true, Some(f)) => format!(
            "version {} of {key} is now active (version {f} archived)\n",
            a.to
        ),
        (true, None) => format!("version {} of {key} is now active\n", a.to),
    }
}
