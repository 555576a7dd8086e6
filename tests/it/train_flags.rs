//! `liftdeck train` flags for the hashed learners reach the stored version: the bucket bits
//! and crosses in its spec, the learner's parameters in its model, down-sampling with its
//! corrected predictions; a flag the chosen learner has no use for is a usage error (64).

use crate::common::{bin, ingest_str, sim_jsonl, temp_db};
use liftdeck::app::predict::StoredModel;
use liftdeck::app::train_pipeline;
use liftdeck::app::NoProgress;
use liftdeck::lines::Format;
use liftdeck::model::hashing::HashSpec;
use liftdeck::model::pipeline::{Learner, TrainedModel};
use liftdeck::store::Store;
use std::path::{Path, PathBuf};
use std::process::Output;

const KEY: &str = "coupon-10";

fn shop(dir: &tempfile::TempDir) -> PathBuf {
    let (path, mut store) = temp_db(dir, "flags.db");
    ingest_str(&mut store, &sim_jsonl(11, 1500), Format::Jsonl, 1000);
    path
}

fn train(db: &Path, args: &[&str]) -> Output {
    std::process::Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(["train", KEY, "--epochs", "3", "--json"])
        .args(args)
        .output()
        .expect("run liftdeck")
}

/// The newest version's spec and model, after a successful train.
fn newest(db: &Path) -> (HashSpec, TrainedModel) {
    let store = Store::open_existing(db).expect("open");
    let versions = store.model_versions(KEY).expect("versions");
    let v = versions.iter().map(|m| m.version).max().expect("a version");
    let (meta, json) = store.model_version(KEY, v).expect("read").expect("exists");
    let spec: HashSpec =
        serde_json::from_str(meta.feature_spec.as_deref().expect("spec")).expect("spec json");
    let StoredModel::Hashed(model) = serde_json::from_str(&json).expect("model json") else {
        panic!("a hashed learner stores a hashed model");
    };
    (spec, *model)
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "train failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bits_and_crosses_reach_the_stored_spec() {
    let dir = tempfile::tempdir().expect("dir");
    let db = shop(&dir);
    ok(&train(&db, &["--learner", "lr"]));
    let (spec, _) = newest(&db);
    assert_eq!(spec.bits, 18, "2^18 buckets by default");
    assert!(!spec.crosses.is_empty(), "crossed by default");
    ok(&train(
        &db,
        &["--learner", "lr", "--bits", "12", "--no-crosses"],
    ));
    let (spec, model) = newest(&db);
    assert_eq!(spec.bits, 12);
    assert!(spec.crosses.is_empty(), "--no-crosses: {:?}", spec.crosses);
    assert_eq!(model.spec, spec, "the model hashes with the stored spec");
}

#[test]
fn learner_parameters_override_only_what_was_given() {
    let dir = tempfile::tempdir().expect("dir");
    let db = shop(&dir);
    ok(&train(
        &db,
        &[
            "--learner",
            "lr-sgd",
            "--learning-rate",
            "0.2",
            "--batch",
            "32",
        ],
    ));
    let (_, model) = newest(&db);
    let Learner::Logistic {
        learning_rate,
        batch,
        l2,
        ..
    } = model.learner
    else {
        panic!("lr-sgd is logistic: {:?}", model.learner);
    };
    let Some(Learner::Logistic { l2: default_l2, .. }) =
        liftdeck::app::train::LearnerChoice::LrSgd.pipeline()
    else {
        panic!("lr-sgd has a pipeline learner");
    };
    assert_eq!((learning_rate, batch, l2), (0.2, 32, default_l2));
    ok(&train(
        &db,
        &[
            "--learner",
            "ftrl",
            "--l1",
            "0.5",
            "--alpha",
            "0.3",
            "--beta",
            "2",
        ],
    ));
    let Learner::Ftrl(p) = newest(&db).1.learner else {
        panic!("ftrl");
    };
    assert_eq!((p.l1, p.alpha, p.beta), (0.5, 0.3, 2.0));
    ok(&train(
        &db,
        &["--learner", "mlp", "--hidden", "8", "--patience", "1"],
    ));
    let (_, model) = newest(&db);
    let Learner::Mlp(o) = model.learner else {
        panic!("mlp");
    };
    assert_eq!(o.hidden, 8);
    // Patience 1: training stops one epoch after the best one (or at the last epoch).
    assert!(model.validation_losses.len() <= model.best_epoch + 1);
}

#[test]
fn a_flag_of_another_learner_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    let db = shop(&dir);
    for (learner, flag, value) in [
        ("lr", "--l1", Some("0.1")),
        ("lr", "--hidden", Some("8")),
        ("ftrl", "--batch", Some("8")),
        ("dense", "--bits", Some("12")),
        ("dense", "--no-crosses", None),
        ("mlp", "--alpha", Some("0.1")),
    ] {
        let mut args = vec!["--learner", learner, flag];
        args.extend(value);
        let out = train(&db, &args);
        assert_eq!(out.status.code(), Some(64), "{learner} {flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains(learner), "{err}");
    }
    let store = Store::open_existing(&db).expect("open");
    assert!(store.model_versions(KEY).expect("versions").is_empty());
    for bad in [
        ["--negative-rate", "0"],
        ["--negative-rate", "1.5"],
        ["--bits", "31"],
    ] {
        let mut args = vec!["--learner", "lr"];
        args.extend(bad);
        assert_eq!(train(&db, &args).status.code(), Some(64), "{bad:?}");
    }
}

#[test]
fn negative_rate_is_stored_and_predictions_are_corrected() {
    let dir = tempfile::tempdir().expect("dir");
    let db = shop(&dir);
    ok(&train(&db, &["--learner", "lr", "--negative-rate", "0.3"]));
    let (_, model) = newest(&db);
    assert_eq!(model.negative_rate, Some(0.3));
    assert!(model.sampled_train_rows < model.train_rows);
    let store = Store::open_existing(&db).expect("open");
    let rows = train_pipeline::training_rows(&store, KEY, &NoProgress).expect("rows");
    let (mut p_sum, mut q_sum) = (0.0, 0.0);
    for r in rows.iter().take(200) {
        let (p, q) = (model.predict(r), model.predict_uncorrected(r));
        assert!((p - q / (q + (1.0 - q) / 0.3)).abs() < 1e-12);
        p_sum += p;
        q_sum += q;
    }
    assert!(p_sum < q_sum, "the correction lowers the sampled rate");
}

#[test]
fn maturity_takes_a_duration_for_every_learner_and_zero_turns_it_off() {
    let dir = tempfile::tempdir().expect("dir");
    let db = shop(&dir);
    let units = |s: &serde_json::Value| {
        s["train_units"].as_u64().expect("n") + s["holdout_units"].as_u64().expect("n")
    };
    let out = train(&db, &["--learner", "lr", "--maturity", "0"]);
    ok(&out);
    // A window that reaches back to the middle of the assignments: the newer half is left
    // out (purchases arrive minutes after the last assignment, so it is longer than that).
    let window = {
        let store = Store::open_existing(&db).expect("open");
        let (first, last) = store.assignment_window(KEY).expect("window");
        let latest = store.latest_activity(KEY).expect("latest").expect("data");
        let middle = (first.expect("first") + last.expect("last")) / 2;
        (latest - middle) / 1_000_000
    };
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(all.get("left_out").is_none(), "{all}");
    for learner in ["dense", "ftrl"] {
        let out = train(
            &db,
            &["--learner", learner, "--maturity", &window.to_string()],
        );
        ok(&out);
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(s["left_out"]["maturity_secs"], window, "{s}");
        assert_eq!(s["left_out"]["source"], "--maturity", "{s}");
        let left = s["left_out"]["units"].as_u64().expect("units");
        assert!(left > 0 && left < units(&all), "{s}");
        assert_eq!(left + units(&s), units(&all), "{s}");
    }
    let bad = train(&db, &["--learner", "lr", "--maturity", "soon"]);
    assert_eq!(bad.status.code(), Some(64));
}
