//! The click model of EVALUATION.md's Open Bandit Dataset section, on the fixture log: `import
//! obd`, then `train --learner lr` must validate on the newest 20% of the units by assignment
//! time, with the cut moved forward past rows sharing the last training row's time, so the
//! published evaluation's split cannot change silently. Also: every learner, the dense one
//! included, labels a click campaign by its clicks.

use crate::common::{bin, fixture};
use std::path::Path;
use std::process::{Command, Output};

fn liftdeck(db: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run liftdeck")
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The fixture log copied into `dir` with `ties` rows either side of the 80% cut sharing one
/// timestamp, so the cut has to move; returns (log path, number of rows, expected validation
/// rows).
fn log_with_ties_at_the_cut(dir: &Path, ties: usize) -> (std::path::PathBuf, usize, usize) {
    let src = fixture("obd/men/random/men.csv");
    let mut rdr = csv::Reader::from_path(&src).expect("fixture");
    let header = rdr.headers().expect("header").clone();
    let ts_col = header.iter().position(|h| h == "timestamp").expect("ts");
    let mut rows: Vec<Vec<String>> = rdr
        .records()
        .map(|r| r.expect("row").iter().map(String::from).collect())
        .collect();
    // The fixture is in time order (checked here, so the test cannot pass by accident).
    assert!(rows.windows(2).all(|w| w[0][ts_col] < w[1][ts_col]));
    let n = rows.len();
    let cut = (n as f64 * 0.8).round() as usize;
    let shared = rows[cut - 1][ts_col].clone();
    for row in &mut rows[cut - 1..cut - 1 + ties] {
        row[ts_col] = shared.clone();
    }
    let expected_validation = n - (cut - 1 + ties);
    let out_dir = dir.join("men").join("random");
    std::fs::create_dir_all(&out_dir).expect("dir");
    std::fs::copy(
        src.with_file_name("item_context.csv"),
        out_dir.join("item_context.csv"),
    )
    .expect("items");
    let path = out_dir.join("men.csv");
    let mut w = csv::Writer::from_path(&path).expect("write");
    w.write_record(&header).expect("header");
    for row in &rows {
        w.write_record(row).expect("row");
    }
    w.flush().expect("flush");
    (path, n, expected_validation)
}

#[test]
fn lr_on_an_obd_log_validates_on_the_newest_fifth_with_ties_kept_in_training() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("obd.db");
    let (log, n, expected_validation) = log_with_ties_at_the_cut(dir.path(), 4);
    let log = log.to_str().expect("utf-8 path");
    let imported = json_of(&liftdeck(&db, &["import", "obd", log, "--json"]));
    assert_eq!(imported["imported"], n);
    let key = imported["campaign"].as_str().expect("key").to_string();

    let summary = json_of(&liftdeck(
        &db,
        &["train", &key, "--learner", "lr", "--json"],
    ));
    assert_eq!(summary["holdout_units"], expected_validation);
    assert_eq!(summary["train_units"], n - expected_validation);
    // Without the ties the validation part would be exactly 20%; the cut moved past three.
    assert_eq!(expected_validation + 3, n / 5);

    let version = summary["version"].as_i64().expect("version").to_string();
    let shown = json_of(&liftdeck(&db, &["model", "show", &key, &version, "--json"]));
    let model = &shown["model"];
    let t = |w: &str, k: usize| model[w][k].as_i64().expect("window time");
    assert!(t("train_window", 0) <= t("train_window", 1));
    assert!(
        t("train_window", 1) < t("validation_window", 0),
        "validation must be strictly after training: {} vs {}",
        model["train_window"],
        model["validation_window"]
    );
    assert_eq!(shown["validation_rows"], expected_validation);
    // The registry's training window is the training part's, not the whole campaign's.
    let micros = |k: &str| {
        let at = shown[k].as_str().expect("rfc3339");
        liftdeck::clock::parse_rfc3339(at).expect("time")
    };
    assert_eq!(micros("train_from"), t("train_window", 0));
    assert_eq!(micros("train_to"), t("train_window", 1));
}

#[test]
fn the_dense_learner_labels_a_click_campaign_by_its_clicks() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("dense.db");
    let log = fixture("obd/men/bts/men.csv");
    let log = log.to_str().expect("utf-8 path");
    let imported = json_of(&liftdeck(&db, &["import", "obd", log, "--json"]));
    let key = imported["campaign"].as_str().expect("key").to_string();
    // OBD logs have clicks and no purchases: labelled by purchases there was nothing to learn
    // and `train` refused ("needs converting and non-converting units").
    let summary = json_of(&liftdeck(
        &db,
        &["train", &key, "--learner", "dense", "--json"],
    ));
    let observed = summary["observed_rate"].as_f64().expect("rate");
    assert!(observed > 0.0 && observed < 1.0, "{observed}");
    // A model of clicks is the reward model of a click reward: `report ope` stands on it.
    let ope = json_of(&liftdeck(
        &db,
        &[
            "report",
            "ope",
            &key,
            "--policy",
            "uniform",
            "--resamples",
            "20",
            "--reward-model",
            "active",
            "--json",
        ],
    ));
    assert_eq!(ope["reward_model"]["kind"], "model", "{ope}");
    assert_eq!(ope["reward_model"]["learner"], "logistic", "{ope}");
}
