//! Retraining the campaign's conversion model (the console's `r` key, `liftdeck train`):
//! streams every unit's context, arm and outcome out of the store, learns the encoding,
//! trains the logistic model on the oldest 80% of units by assignment time and measures it
//! on the newest 20% (the split every learner uses: train on the past, validate on the most
//! recent, as the model will be used), then writes a new version to the model registry. It
//! replaces the active version only if it beats it on these same validation units
//! ([`super::champion`]).

use super::predict::ScoreRow;
use super::{AppError, Env, Progress, Result};
use crate::format;
use crate::model::{auc, fit, log_loss, FeatureSpec, Rows, TrainOptions};
use crate::store::{NewModel, Store};
use crate::text::escape_control;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const HOLDOUT_SHARE: f64 = 0.2;

/// One unit as the dense learner reads it.
struct DenseRow {
    context: Map<String, Value>,
    arm: String,
    converted: f64,
    unit: String,
    at: crate::domain::Micros,
}
/// Reading takes this share of the gauge, training the rest.
const READ_SHARE: f64 = 0.3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSummary {
    pub campaign: String,
    pub version: Option<i64>,
    pub train_units: usize,
    pub holdout_units: usize,
    /// Holdout cross-entropy of the model, and of always predicting the training base rate:
    /// the model is worth something only when the first is clearly below the second.
    pub holdout_log_loss: f64,
    pub base_rate_log_loss: f64,
    pub holdout_auc: Option<f64>,
    /// Mean predicted conversion on the holdout against the rate observed there.
    pub predicted_rate: f64,
    pub observed_rate: f64,
    /// The largest weights by magnitude (standardised features), at most 8.
    pub top_features: Vec<(String, f64)>,
    pub options: TrainOptions,
    /// Whether the stored version became the active one (it does only when it beats the
    /// active version on holdout log loss, or there was none); absent in old results.
    #[serde(default)]
    pub activated: bool,
    /// The learner (`lr`, `lr-sgd`, `ftrl`, `mlp`); absent for the dense learner, whose
    /// results read as they always did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learner: Option<String>,
    /// Validation log loss over the base rate's entropy (below 1: better than the base rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalised_entropy: Option<f64>,
    /// Expected calibration error over the reliability bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ece: Option<f64>,
    /// Bootstrap interval of the holdout AUC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auc_interval: Option<(f64, f64)>,
    /// The epoch kept by early stopping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_epoch: Option<usize>,
    /// The largest cross weights (user field x arm or offer), at most 8; hashed linear
    /// learners only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_crosses: Vec<(String, f64)>,
    /// Reliability bins of the holdout predictions (the Models panel's calibration chart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bins: Vec<crate::model::eval::ReliabilityBin>,
    /// On the simulated shop only: the validation predictions against the known true
    /// probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth: Option<super::train_truth::TruthCheck>,
    /// The version that was active, re-scored on this version's validation units: what
    /// decided whether this one replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion: Option<super::champion::ChampionCheck>,
    /// How many validation units are too recent for their conversions to have arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_maturity: Option<super::maturity::LabelMaturity>,
    /// Units left out as too recent for their labels (the maturity window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<super::maturity::LeftOut>,
}

/// Equal-width reliability bins stored with every version.
pub const CALIBRATION_BINS: usize = 10;

/// Which learner a retrain uses: `dense` (the learned one-hot encoding with Adam logistic
/// regression, the default, which the console's replays were recorded with) or one of the
/// hashed-feature learners of [`crate::model::pipeline`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LearnerChoice {
    #[default]
    Dense,
    Lr,
    LrSgd,
    Ftrl,
    Mlp,
}

impl LearnerChoice {
    pub const ALL: [LearnerChoice; 5] = [
        LearnerChoice::Dense,
        LearnerChoice::Lr,
        LearnerChoice::LrSgd,
        LearnerChoice::Ftrl,
        LearnerChoice::Mlp,
    ];

    /// The operator's word, also the registry's `learner` column (dense stores `logistic`).
    pub fn name(self) -> &'static str {
        match self {
            LearnerChoice::Dense => "dense",
            LearnerChoice::Lr => "lr",
            LearnerChoice::LrSgd => "lr-sgd",
            LearnerChoice::Ftrl => "ftrl",
            LearnerChoice::Mlp => "mlp",
        }
    }

    pub fn parse(s: &str) -> Option<LearnerChoice> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The pipeline learner with its defaults; `None` for dense.
    pub fn pipeline(self) -> Option<crate::model::pipeline::Learner> {
        use crate::model::logistic::Optimizer;
        use crate::model::pipeline::Learner;
        match self {
            LearnerChoice::Dense => None,
            LearnerChoice::Lr => Some(Learner::logistic(Optimizer::Adam)),
            LearnerChoice::LrSgd => Some(Learner::logistic(Optimizer::Sgd)),
            LearnerChoice::Ftrl => Some(Learner::Ftrl(Default::default())),
            LearnerChoice::Mlp => Some(Learner::Mlp(Default::default())),
        }
    }
}

/// Trains `learner` and (unless `dry_run`) stores a new model version for `key`.
#[allow(clippy::too_many_arguments)]
pub fn retrain_with(
    store: &mut Store,
    env: &Env,
    key: &str,
    job_id: Option<i64>,
    opts: &TrainOptions,
    learner: LearnerChoice,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<ModelSummary> {
    match learner {
        LearnerChoice::Dense => {
            retrain_dense_with(store, env, key, job_id, opts, None, dry_run, progress)
        }
        _ => super::train_pipeline::retrain_hashed(
            store, env, key, job_id, opts, learner, dry_run, progress,
        ),
    }
}

/// Trains the dense learner and (unless `dry_run`) stores a new model version for `key`.
pub fn retrain(
    store: &mut Store,
    env: &Env,
    key: &str,
    job_id: Option<i64>,
    opts: &TrainOptions,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<ModelSummary> {
    retrain_dense_with(store, env, key, job_id, opts, None, dry_run, progress)
}

/// [`retrain`] with a maturity window (`None`: the campaign's reward delay).
#[allow(clippy::too_many_arguments)]
pub fn retrain_dense_with(
    store: &mut Store,
    env: &Env,
    key: &str,
    job_id: Option<i64>,
    opts: &TrainOptions,
    maturity_secs: Option<u64>,
    dry_run: bool,
    progress: &dyn Progress,
) -> Result<ModelSummary> {
    let (campaign, arms) = store.campaign(key)?;
    let arm_keys: Vec<String> = arms.iter().map(|a| a.key.clone()).collect();
    let control = campaign
        .spec
        .control
        .clone()
        .or_else(|| arm_keys.first().cloned())
        .unwrap_or_default();
    // The campaign's own metric is the label: a click campaign (an Open Bandit Dataset log)
    // has clicks and no purchases, so labelling purchases would leave nothing to learn.
    let clicks = campaign.spec.metric == "click";
    let mut rows: Vec<DenseRow> = Vec::new();
    super::for_each_unit_chunk(store, key, progress, READ_SHARE, &mut |chunk| {
        for r in chunk {
            let context: Map<String, Value> = serde_json::from_str(&r.context).map_err(|e| {
                AppError::Invalid(format!("unit {}: stored context is not JSON: {e}", r.unit))
            })?;
            let converted = if clicks {
                r.clicks > 0
            } else {
                r.purchases > 0
            };
            rows.push(DenseRow {
                context,
                arm: r.arm,
                converted: f64::from(u8::from(converted)),
                unit: r.unit,
                at: r.assigned_at,
            });
        }
        Ok(())
    })?;
    let left_out =
        super::maturity::leave_out_immature(store, key, maturity_secs, &mut rows, |r| r.at, None)?;
    let times: Vec<i64> = rows.iter().map(|r| r.at).collect();
    let (train_idx, test_idx) = crate::model::pipeline::split_times(&times, HOLDOUT_SHARE);
    let train: Vec<&DenseRow> = train_idx.iter().map(|&i| &rows[i]).collect();
    let test: Vec<&DenseRow> = test_idx.iter().map(|&i| &rows[i]).collect();
    if test.is_empty()
        || train.iter().all(|r| r.converted == 0.0)
        || train.iter().all(|r| r.converted == 1.0)
    {
        return Err(AppError::Invalid(format!(
            "campaign `{key}` needs converting and non-converting units to train on, and \
             later units to validate on ({} training units so far)",
            train.len()
        )));
    }
    let (train_from, train_to) = (train.first().map(|r| r.at), train.last().map(|r| r.at));
    let spec = FeatureSpec::learn(
        train.iter().map(|r| (&r.context, r.arm.as_str())),
        &arm_keys,
        &control,
    );
    let encode = |set: &[&DenseRow]| {
        let mut x = Rows::new(spec.len());
        let mut buf = Vec::new();
        for r in set {
            spec.encode(&r.context, &r.arm, &mut buf);
            x.push(&buf);
        }
        (x, set.iter().map(|r| r.converted).collect::<Vec<f64>>())
    };
    let (x, y) = encode(&train);
    let (xt, yt) = encode(&test);
    let mut cancelled = false;
    let model = fit(&x, &y, opts, &mut |epoch, loss| {
        let done = READ_SHARE + (1.0 - READ_SHARE) * epoch as f64 / opts.epochs.max(1) as f64;
        let stage = format!("epoch {epoch}/{} loss {loss:.4}", opts.epochs);
        cancelled = progress.update(done, &stage).is_err();
        !cancelled
    });
    let Some(model) = model.filter(|_| !cancelled) else {
        return Err(AppError::Cancelled);
    };
    let base = y.iter().sum::<f64>() / y.len() as f64;
    let p: Vec<f64> = (0..xt.len()).map(|i| model.predict(xt.row(i))).collect();
    let mean = |v: &[f64]| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let mut top: Vec<(String, f64)> = spec
        .names()
        .into_iter()
        .zip(model.weights.clone())
        .collect();
    top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    top.truncate(8);
    let units: Vec<_> = test.iter().map(|r| (&r.context, r.arm.as_str())).collect();
    let truth = super::train_truth::check_against_truth(&units, &arms, &yt, &p, clicks);
    let champion_rows: Vec<ScoreRow> = test
        .iter()
        .map(|r| ScoreRow {
            unit: Some(r.unit.clone()),
            context: r.context.clone(),
            arm: r.arm.clone(),
            at: r.at,
        })
        .collect();
    let (champion, label_maturity) =
        super::champion::validation_checks(store, key, clicks, &champion_rows, &yt)?;
    let eval = crate::model::eval::evaluate(&yt, &p, &crate::model::eval::EvalOptions::default());
    let mut summary = ModelSummary {
        campaign: key.into(),
        version: None,
        train_units: train.len(),
        holdout_units: test.len(),
        holdout_log_loss: log_loss(&yt, &p),
        base_rate_log_loss: log_loss(&yt, &vec![base; yt.len()]),
        holdout_auc: auc(&p, &yt),
        predicted_rate: mean(&p),
        observed_rate: mean(&yt),
        top_features: top,
        options: *opts,
        activated: false,
        learner: None,
        normalised_entropy: Some(eval.normalised_entropy),
        ece: Some(eval.ece),
        auc_interval: eval.auc_interval.map(|a| (a.lo, a.hi)),
        best_epoch: None,
        top_crosses: Vec::new(),
        bins: eval.bins,
        truth,
        champion,
        label_maturity,
        left_out,
    };
    if !dry_run {
        let model_json = serde_json::json!({
            "kind": "logistic", "features": spec, "weights": model.weights,
            "bias": model.bias, "options": opts,
        });
        let metrics =
            serde_json::to_string(&summary).map_err(|e| AppError::Invalid(e.to_string()))?;
        let feature_spec =
            serde_json::to_string(&spec).map_err(|e| AppError::Invalid(e.to_string()))?;
        let version = store.save_model(
            key,
            &NewModel {
                job_id,
                ts: env.clock.now(),
                model: &model_json.to_string(),
                metrics: &metrics,
                learner: "logistic",
                feature_spec: Some(&feature_spec),
                train_from,
                train_to,
                train_rows: train.len() as i64,
                validation_rows: test.len() as i64,
                created_by: &env.actor,
            },
        )?;
        summary.version = Some(version);
        summary.activated = super::models::activate_if_better(store, env, key, version)?.is_some();
    }
    Ok(summary)
}

/// The trained model as the CLI (`liftdeck train`) and the console's Models panel both show
/// it, in the one number format: counts grouped, rates as percentages, the log loss against the
/// base rate as a signed relative change. Log losses, AUC and weights are not percentages and
/// keep their own decimals. Feature names come from unit contexts, so they are escaped.
pub fn format_text(s: &ModelSummary) -> String {
    let mut out = format!(
        "conversion model for {}{}\n  trained on {} units, measured on {} held-out units\n  \
         holdout log loss {:.4} (base rate {:.4}, {})  AUC {}\n  \
         predicted conversion {} vs observed {}\n",
        escape_control(&s.campaign),
        // Only a version left as a candidate says so: the usual case (it became active)
        // reads as before.
        s.version.map_or(String::new(), |v| if s.activated {
            format!(" — version {v}")
        } else {
            format!(" — version {v}, a candidate (it does not beat the active version)")
        }),
        format::count(s.train_units as i64),
        format::count(s.holdout_units as i64),
        s.holdout_log_loss,
        s.base_rate_log_loss,
        format::lift(s.holdout_log_loss / s.base_rate_log_loss - 1.0),
        format::opt(s.holdout_auc, |a| format!("{a:.3}")),
        format::rate(s.predicted_rate),
        format::rate(s.observed_rate),
    );
    // Hashed learners: the learner and the calibration numbers (dense results read as before).
    // The dense learner's results carry no learner name (older results read as before);
    // since it validates like the others it has their figures too.
    let learner = s
        .learner
        .as_deref()
        .or(s.normalised_entropy.map(|_| LearnerChoice::Dense.name()));
    if let Some(learner) = learner {
        // Two short lines, so the Models panel shows them whole at 80 columns.
        let epoch = s
            .best_epoch
            .map_or(String::new(), |e| format!("  best epoch {e}"));
        out.push_str(&format!(
            "  learner {}  normalised entropy {}  ECE {}\n  AUC interval {}{epoch}\n",
            escape_control(learner),
            format::opt(s.normalised_entropy, |x| format!("{x:.4}")),
            format::opt(s.ece, |x| format!("{x:.4}")),
            s.auc_interval
                .map_or(format::MISSING.into(), |(lo, hi)| format!(
                    "{lo:.3} to {hi:.3}"
                )),
        ));
    }
    if let Some(l) = &s.left_out {
        out.push_str(&super::maturity::format_left_out(l));
    }
    if let Some(m) = s.label_maturity.as_ref().filter(|m| m.warn) {
        out.push_str(&super::maturity::format_text(m));
    }
    if let Some(c) = &s.champion {
        out.push_str(&format!(
            "  active version {} ({}) on the same {} units: log loss {:.4}\n",
            c.version,
            escape_control(&c.learner),
            format::count(c.units as i64),
            c.log_loss
        ));
    }
    if let Some(t) = &s.truth {
        out.push_str(&super::train_truth::format_text(t));
    }
    out.push_str("  top features:\n");
    for (name, w) in &s.top_features {
        out.push_str(&format!("    {:<24} {w:+.3}\n", escape_control(name)));
    }
    if !s.top_crosses.is_empty() {
        out.push_str("  top crosses (user field x offer)\n");
        for (name, w) in &s.top_crosses {
            out.push_str(&format!("    {:<40} {w:+.3}\n", escape_control(name)));
        }
    }
    out
}
