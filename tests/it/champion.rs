//! Champion and challenger on the same rows: a retrain re-scores the active version on its
//! own validation units, and that comparison (not each version's stored loss on units of its
//! own) decides whether the new version replaces the active one.

use crate::common::{ingest_str, temp_db, test_env};
use liftdeck::app::{self, train::LearnerChoice, NoProgress};
use liftdeck::lines::Format;
use liftdeck::model::TrainOptions;
use liftdeck::store::{Store, ACTIVE, CANDIDATE};

const CAMPAIGN: &str = r#"{"type":"campaign","key":"cc","name":"champion","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"coupon","weight":50.0}],"control":"control","traffic":1.0,"metric":"purchase","seed":7,"status":"running"}"#;

/// `n` units from unit number `from`, one a minute from `hour`:00, converting when
/// `converts(i)`; mobile units under the coupon convert more.
fn units(from: usize, n: usize, hour: u32, converts: impl Fn(usize) -> bool) -> String {
    let mut out = String::new();
    for i in from..from + n {
        let arm = if i % 2 == 0 { "coupon" } else { "control" };
        let device = if i % 3 == 0 { "mobile" } else { "desktop" };
        let minute = (i - from) % 60;
        let second = (i - from) / 60;
        out.push_str(&format!(
            r#"{{"type":"assignment","campaign":"cc","unit":"u{i:05}","arm":"{arm}","propensity":0.5,"context":{{"device":"{device}"}},"ts":"2026-11-01T{hour:02}:{minute:02}:{second:02}Z"}}"#
        ));
        out.push('\n');
        if converts(i) || (arm == "coupon" && device == "mobile" && i % 4 == 0) {
            out.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"cc","unit":"u{i:05}","kind":"purchase","value":20,"cost":0,"ts":"2026-11-01T{hour:02}:59:59Z"}}"#
            ));
            out.push('\n');
        }
    }
    out
}

fn retrain(store: &mut Store, learner: LearnerChoice) -> app::train::ModelSummary {
    let opts = TrainOptions {
        epochs: 5,
        ..TrainOptions::default()
    };
    app::train::retrain_with(
        store,
        &test_env(),
        "cc",
        None,
        &opts,
        learner,
        false,
        &NoProgress,
    )
    .expect("train")
}

fn status(store: &Store, version: i64) -> String {
    store
        .model_versions("cc")
        .expect("versions")
        .into_iter()
        .find(|v| v.version == version)
        .map(|v| v.status)
        .expect("version")
}

#[test]
fn re_scoring_the_active_version_on_the_same_data_reproduces_its_stored_loss() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "cc.db");
    let lines = format!("{CAMPAIGN}\n{}", units(0, 600, 10, |i| i % 9 == 0));
    ingest_str(&mut store, &lines, Format::Jsonl, 1000);
    // Each learner in turn becomes the champion the next one is measured against; on the
    // same data the next retrain validates on the same units, so re-scoring the champion
    // must give exactly the loss it was stored with: scoring is training's own arithmetic.
    let mut previous: Option<app::train::ModelSummary> = None;
    for learner in [
        LearnerChoice::Lr,
        LearnerChoice::Dense,
        LearnerChoice::Ftrl,
        LearnerChoice::Mlp,
    ] {
        let s = retrain(&mut store, learner);
        match &previous {
            None => assert!(s.champion.is_none(), "no active version before the first"),
            Some(p) => {
                let c = s
                    .champion
                    .as_ref()
                    .expect("the active version was re-scored");
                let active = store
                    .model_versions("cc")
                    .expect("versions")
                    .into_iter()
                    .filter(|v| v.version < s.version.expect("stored"))
                    .find(|v| v.status == ACTIVE || v.version == p.version.expect("v"));
                assert!(active.is_some());
                assert_eq!(c.units, s.holdout_units);
                if p.activated {
                    assert_eq!(Some(c.version), p.version);
                    assert!(
                        (c.log_loss - p.holdout_log_loss).abs() < 1e-12,
                        "{learner:?}: re-scored {} vs stored {}",
                        c.log_loss,
                        p.holdout_log_loss
                    );
                }
                // The decision follows the same-rows comparison.
                assert_eq!(s.activated, s.holdout_log_loss < c.log_loss, "{learner:?}");
            }
        }
        if s.activated || previous.is_none() {
            previous = Some(s);
        }
    }
}

#[test]
fn a_retrain_on_harder_recent_data_replaces_a_champion_it_beats_on_the_same_units() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "cc.db");
    // A quiet hour (about 3% convert) ...
    let quiet = format!("{CAMPAIGN}\n{}", units(0, 600, 10, |i| i % 33 == 0));
    ingest_str(&mut store, &quiet, Format::Jsonl, 1000);
    let first = retrain(&mut store, LearnerChoice::Dense);
    assert!(first.activated);
    // ... then a sale hour two hours later (about 40% convert).
    let sale = units(600, 600, 12, |i| i % 5 < 2);
    ingest_str(&mut store, &sale, Format::Jsonl, 1000);
    let second = retrain(&mut store, LearnerChoice::Dense);
    let champion = second.champion.as_ref().expect("re-scored");
    assert_eq!(Some(champion.version), first.version);
    assert_eq!(champion.units, second.holdout_units);
    // Its own stored loss looks worse than the champion's (measured on the quiet hour) ...
    assert!(
        second.holdout_log_loss > first.holdout_log_loss,
        "{} vs {}",
        second.holdout_log_loss,
        first.holdout_log_loss
    );
    // ... but on the units it was measured on, the champion does worse still: it replaces it.
    assert!(second.holdout_log_loss < champion.log_loss);
    assert!(second.activated);
    let second_version = second.version.expect("stored");
    assert_eq!(status(&store, second_version), ACTIVE);
    let audit = store.audit_log(20).expect("audit");
    let detail = audit
        .iter()
        .find(|e| e.action == "model.activate")
        .map(|e| e.detail.clone())
        .expect("audited");
    assert!(detail.contains("on the same validation units"), "{detail}");
    // The text output says what the active version scored on these units.
    let text = app::train::format_text(&second);
    assert!(
        text.contains(&format!(
            "active version {} (logistic) on the same",
            champion.version
        )),
        "{text}"
    );
    // A retrain on unchanged data does not beat itself: it stays a candidate.
    let third = retrain(&mut store, LearnerChoice::Dense);
    assert!(!third.activated);
    assert_eq!(status(&store, third.version.expect("stored")), CANDIDATE);
}

#[test]
fn a_retrain_warns_when_the_validation_units_are_too_recent_to_have_converted() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "cc.db");
    // Conversions land at 10:59:59, up to an hour after assignment: the newest 20% of units
    // (assigned 10:48 onwards) are well inside the 95% delay of the newest data.
    let lines = format!("{CAMPAIGN}\n{}", units(0, 600, 10, |i| i % 7 == 0));
    ingest_str(&mut store, &lines, Format::Jsonl, 1000);
    let s = retrain(&mut store, LearnerChoice::Lr);
    let m = s.label_maturity.as_ref().expect("checked");
    assert!(m.warn, "{m:?}");
    assert_eq!(m.validation_units, s.holdout_units);
    assert!(m.immature_units * 2 >= m.validation_units);
    assert!(app::train::format_text(&s).contains("their\n    conversions may not have arrived"));
    // Two hours later the data has moved on (a new unit): the same units are mature now.
    ingest_str(
        &mut store,
        &units(600, 1, 13, |_| false),
        Format::Jsonl,
        1000,
    );
    let s = retrain(&mut store, LearnerChoice::Dense);
    let m = s.label_maturity.as_ref().expect("checked");
    assert!(!m.warn && m.immature_units <= 1, "{m:?}");
    assert!(!app::train::format_text(&s).contains("may not have arrived"));
}

#[test]
fn a_maturity_window_leaves_the_newest_units_out_of_training_and_validation() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "cc.db");
    let lines = format!("{CAMPAIGN}\n{}", units(0, 600, 10, |i| i % 7 == 0));
    ingest_str(&mut store, &lines, Format::Jsonl, 1000);
    // The newest data is 10:59:59; 30 minutes leave out units assigned after 10:29:59, that
    // is minutes 30..59 of the hour: 30 of each 60 units.
    let cutoff_units = (0..600).filter(|i| i % 60 < 30).count();
    let opts = TrainOptions {
        epochs: 5,
        ..TrainOptions::default()
    };
    let dense = app::train::retrain_dense_with(
        &mut store,
        &test_env(),
        "cc",
        None,
        &opts,
        Some(1800),
        true,
        &NoProgress,
    )
    .expect("dense");
    let hashed = app::train_pipeline::retrain_hashed_with(
        &mut store,
        &test_env(),
        "cc",
        None,
        &opts,
        LearnerChoice::Lr,
        &app::train_pipeline::RetrainOptions {
            maturity_secs: Some(1800),
            ..Default::default()
        },
        true,
        &NoProgress,
    )
    .expect("lr");
    for s in [&dense, &hashed] {
        let left = s.left_out.as_ref().expect("left out");
        assert_eq!((left.maturity_secs, left.units), (1800, 600 - cutoff_units));
        assert_eq!(s.train_units + s.holdout_units, cutoff_units);
        assert!(
            app::train::format_text(s).contains("left out 300 units assigned in the last 30 min")
        );
    }
    // Without a window (an A/B campaign has no reward delay) nothing is left out.
    let all = retrain(&mut store, LearnerChoice::Lr);
    assert!(all.left_out.is_none());
    assert_eq!(all.train_units + all.holdout_units, 600);
}
