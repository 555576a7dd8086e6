//! `train --learner lr|lr-sgd|ftrl|mlp` on a simulated shop: each writes a version with its
//! learner and metrics, bit for bit the same for a seed; a worse version stays a candidate;
//! `app::predict` scores with the active model as the stored model does and follows
//! `model activate`; a cancelled retrain writes nothing; `--read-only train` is refused.

use crate::common::{bin, ingest_str, sim_jsonl, temp_db, test_env};
use liftdeck::app::predict::{ActiveModel, ScoreRow};
use liftdeck::app::train::{retrain_with, LearnerChoice, ModelSummary};
use liftdeck::app::{models, train_pipeline, AppError, NoProgress, Progress};
use liftdeck::lines::Format;
use liftdeck::model::pipeline::TrainedModel;
use liftdeck::model::TrainOptions;
use liftdeck::store::{NewModel, Store};

const KEY: &str = "coupon-10";
const HASHED: [LearnerChoice; 4] = [
    LearnerChoice::Lr,
    LearnerChoice::LrSgd,
    LearnerChoice::Ftrl,
    LearnerChoice::Mlp,
];

fn shop(dir: &tempfile::TempDir, name: &str) -> (std::path::PathBuf, Store) {
    let (path, mut store) = temp_db(dir, name);
    ingest_str(&mut store, &sim_jsonl(11, 1500), Format::Jsonl, 1000);
    (path, store)
}

fn opts() -> TrainOptions {
    TrainOptions {
        epochs: 5,
        ..TrainOptions::default()
    }
}

fn train(store: &mut Store, learner: LearnerChoice) -> ModelSummary {
    retrain_with(
        store,
        &test_env(),
        KEY,
        None,
        &opts(),
        learner,
        false,
        &NoProgress,
    )
    .expect("train")
}

fn stored(store: &Store, version: i64) -> (liftdeck::store::ModelVersion, String) {
    store
        .model_version(KEY, version)
        .expect("read")
        .expect("version exists")
}

#[test]
fn each_learner_writes_its_version_with_metrics_deterministically() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut a) = shop(&dir, "a.db");
    let (_, mut b) = shop(&dir, "b.db");
    for learner in HASHED {
        let sa = train(&mut a, learner);
        let sb = train(&mut b, learner);
        let (va, vb) = (sa.version.expect("stored"), sb.version.expect("stored"));
        let (meta, model_a) = stored(&a, va);
        let (_, model_b) = stored(&b, vb);
        assert_eq!(meta.learner, learner.name());
        assert_eq!(
            model_a,
            model_b,
            "{}: same seed, same data, same model",
            learner.name()
        );
        let metrics: serde_json::Value = serde_json::from_str(&meta.metrics).expect("metrics");
        for k in [
            "holdout_log_loss",
            "normalised_entropy",
            "ece",
            "holdout_auc",
        ] {
            assert!(
                metrics[k].as_f64().is_some_and(f64::is_finite),
                "{k} in {metrics}"
            );
        }
        assert_eq!(
            models::validation_log_loss(&meta.metrics),
            Some(sa.holdout_log_loss)
        );
        assert_eq!(metrics["learner"], learner.name());
        let spec: serde_json::Value =
            serde_json::from_str(meta.feature_spec.as_deref().expect("spec")).expect("spec json");
        assert!(
            spec["bits"].as_u64().is_some(),
            "the hash spec is stored: {spec}"
        );
        let model: TrainedModel = serde_json::from_str(&model_a).expect("hashed model JSON");
        assert_eq!(model.learner.name(), learner.name());
        assert!(meta.train_rows.unwrap_or(0) > meta.validation_rows.unwrap_or(0));
        assert!(sa.holdout_units > 0 && sa.train_units > sa.holdout_units);
    }
}

#[test]
fn a_worse_version_stays_a_candidate() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = shop(&dir, "c.db");
    let env = test_env();
    let metrics = serde_json::json!({ "holdout_log_loss": 1e-9 }).to_string();
    let best = store
        .save_model(
            KEY,
            &NewModel {
                job_id: None,
                ts: env.clock.now(),
                model: "{}",
                metrics: &metrics,
                learner: "logistic",
                feature_spec: None,
                train_from: None,
                train_to: None,
                train_rows: 1,
                validation_rows: 1,
                created_by: "tester",
            },
        )
        .expect("save");
    models::activate_if_better(&mut store, &env, KEY, best).expect("activate");
    let s = train(&mut store, LearnerChoice::Ftrl);
    assert!(!s.activated);
    let (meta, _) = stored(&store, s.version.expect("stored"));
    assert_eq!(meta.status, "candidate");
    assert_eq!(
        store.active_model(KEY).expect("active").map(|m| m.0),
        Some(best)
    );
}

#[test]
fn predict_scores_as_the_stored_model_and_follows_activation() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = shop(&dir, "p.db");
    let env = test_env();
    let first = train(&mut store, LearnerChoice::Lr);
    assert!(first.activated, "the first version becomes active");
    let rows = train_pipeline::training_rows(&store, KEY, &NoProgress).expect("rows");
    let units: Vec<String> = store
        .unit_rows(KEY, "", rows.len())
        .expect("units")
        .into_iter()
        .map(|u| u.unit)
        .collect();
    let score_rows: Vec<ScoreRow> = rows
        .iter()
        .zip(&units)
        .take(50)
        .map(|(r, u)| ScoreRow {
            unit: Some(u.clone()),
            context: r.context.clone(),
            arm: r.arm.clone(),
            at: r.assigned_at,
        })
        .collect();
    let (_, json) = store.active_model(KEY).expect("active").expect("one");
    let model: TrainedModel = serde_json::from_str(&json).expect("model");
    let active = ActiveModel::load(&store, KEY)
        .expect("load")
        .expect("active");
    assert_eq!(Some(active.version), first.version);
    let p = active.score(&store, &score_rows).expect("score");
    for (i, r) in rows.iter().take(50).enumerate() {
        assert_eq!(p[i], model.predict(r), "row {i}");
        assert!(p[i] > 0.0 && p[i] < 1.0);
    }
    assert_eq!(active.score_one(&store, &score_rows[3]).expect("one"), p[3]);
    // A dense version, activated by force, is the one predict uses now.
    let dense = train(&mut store, LearnerChoice::Dense);
    assert!(dense.learner.is_none(), "dense results read as before");
    let v = dense.version.expect("stored");
    models::activate(&mut store, &env, KEY, v, true).expect("activate");
    let after = liftdeck::app::predict::predict(&store, KEY, &score_rows)
        .expect("predict")
        .expect("active");
    assert_ne!(after, p, "scores change with the active version");
    let again = ActiveModel::load(&store, KEY)
        .expect("load")
        .expect("active");
    assert_eq!(again.version, v);
}

struct CancelAtEpoch;
impl Progress for CancelAtEpoch {
    fn update(&self, _done: f64, stage: &str) -> liftdeck::app::Result<()> {
        if stage.starts_with("epoch") {
            Err(AppError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_cancelled_retrain_writes_no_version() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, mut store) = shop(&dir, "x.db");
    for learner in [LearnerChoice::Lr, LearnerChoice::Mlp] {
        let r = retrain_with(
            &mut store,
            &test_env(),
            KEY,
            None,
            &opts(),
            learner,
            false,
            &CancelAtEpoch,
        );
        assert!(matches!(r, Err(AppError::Cancelled)), "{r:?}");
    }
    assert!(store.model_versions(KEY).expect("versions").is_empty());
}

#[test]
fn train_cli_learner_all_and_read_only() {
    let dir = tempfile::tempdir().expect("dir");
    let (db, store) = shop(&dir, "cli.db");
    drop(store);
    let cli = |args: &[&str]| {
        std::process::Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("run liftdeck")
    };
    let out = cli(&["--read-only", "train", KEY, "--learner", "lr"]);
    assert_eq!(out.status.code(), Some(77), "read-only refuses train");
    let out = cli(&["train", KEY, "--learner", "nope"]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "unknown learner is a usage error"
    );
    let out = cli(&[
        "train",
        "--all",
        "--learner",
        "ftrl",
        "--epochs",
        "3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let trained = v.as_array().expect("array");
    assert!(!trained.is_empty());
    for m in trained {
        assert_eq!(m["learner"], "ftrl");
        assert!(m["version"].as_i64().is_some());
    }
    let out = cli(&["train", KEY, "--learner", "mlp", "--epochs", "2"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("learner mlp"), "{text}");
}
