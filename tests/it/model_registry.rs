//! The model registry: migration 10 on an old database, one active version per campaign,
//! activation gated by validation log loss, rollback, the audit trail, the retrain job's
//! auto-activation, and the `model` commands' exit codes.

use crate::common::{bin, ingest_str, temp_db, test_env};
use liftdeck::app::{self, models, AppError, NoProgress};
use liftdeck::lines::Format;
use liftdeck::model::TrainOptions;
use liftdeck::store::{migrate, NewModel, Store, ACTIVE, ARCHIVED, CANDIDATE};

const CAMPAIGN: &str = r#"{"type":"campaign","key":"reg","name":"registry","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"coupon","weight":50.0}],"control":"control","traffic":1.0,"metric":"purchase","seed":7,"status":"running"}"#;

/// A campaign with `n` units, every fourth (mobile) converting more often under the coupon.
fn campaign_lines(n: usize) -> String {
    let mut out = format!("{CAMPAIGN}\n");
    for i in 0..n {
        let arm = if i % 2 == 0 { "coupon" } else { "control" };
        let device = if i % 3 == 0 { "mobile" } else { "desktop" };
        out.push_str(&format!(
            r#"{{"type":"assignment","campaign":"reg","unit":"u{i:05}","arm":"{arm}","propensity":0.5,"context":{{"device":"{device}"}},"ts":"2026-11-01T12:{:02}:00Z"}}"#,
            i % 60
        ));
        out.push('\n');
        if i % 5 == 0 || (arm == "coupon" && i % 3 == 0) {
            out.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"reg","unit":"u{i:05}","kind":"purchase","value":20,"cost":0,"ts":"2026-11-01T13:00:00Z"}}"#
            ));
            out.push('\n');
        }
    }
    out
}

fn store_with_campaign(dir: &tempfile::TempDir, n: usize) -> (std::path::PathBuf, Store) {
    let (path, mut store) = temp_db(dir, "reg.db");
    ingest_str(&mut store, &campaign_lines(n), Format::Jsonl, 1000);
    (path, store)
}

/// Stores a version whose only metric is its validation log loss.
fn save(store: &mut Store, loss: f64) -> i64 {
    let metrics = serde_json::json!({ "holdout_log_loss": loss }).to_string();
    store
        .save_model(
            "reg",
            &NewModel {
                job_id: None,
                ts: test_env().clock.now(),
                model: "{}",
                metrics: &metrics,
                learner: "logistic",
                feature_spec: None,
                train_from: None,
                train_to: None,
                train_rows: 10,
                validation_rows: 2,
                created_by: "tester",
            },
        )
        .expect("save")
}

fn statuses(store: &Store) -> Vec<(i64, String)> {
    store
        .model_versions("reg")
        .expect("versions")
        .into_iter()
        .map(|v| (v.version, v.status))
        .collect()
}

fn audit(store: &Store, action: &str) -> Vec<String> {
    store
        .audit_log(100)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| e.detail)
        .collect()
}

#[test]
fn an_old_database_gets_its_newest_version_active_and_older_ones_archived() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("old.db");
    {
        let mut raw = rusqlite::Connection::open(&path).expect("raw");
        migrate::migrate_to(&mut raw, 9).expect("v9");
        raw.execute_batch(
            "INSERT INTO campaigns (id, key, name, kind, seed, traffic, created_at)
                 VALUES (1, 'a', 'A', 'ab', 1, 1.0, 0), (2, 'b', 'B', 'ab', 1, 1.0, 0),
                        (3, 'c', 'C', 'ab', 1, 1.0, 0);
             INSERT INTO jobs (id, kind, campaign_id, status, actor, started_at)
                 VALUES (1, 'retrain', 1, 'done', 'alice', 100);
             INSERT INTO models (campaign_id, version, created_at, job_id, model, metrics) VALUES
                 (1, 1, 100, 1, '{\"kind\":\"logistic\",\"features\":{\"f\":1}}',
                  '{\"holdout_log_loss\":0.5,\"train_units\":80,\"holdout_units\":20}'),
                 (1, 2, 200, NULL, '{}', '{}'),
                 (1, 3, 300, NULL, '{}', '{}'),
                 (2, 1, 150, NULL, '{}', '{}');",
        )
        .expect("old rows");
    }
    let store = Store::open(&path).expect("upgrade");
    assert_eq!(store.schema_version().expect("v"), migrate::CURRENT_VERSION);
    let a = store.model_versions("a").expect("a");
    let got: Vec<(i64, &str, Option<i64>)> = a
        .iter()
        .map(|v| (v.version, v.status.as_str(), v.activated_at))
        .collect();
    assert_eq!(
        got,
        [
            (1, ARCHIVED, Some(100)),
            (2, ARCHIVED, Some(200)),
            (3, ACTIVE, Some(300))
        ]
    );
    assert_eq!(a[0].created_by.as_deref(), Some("alice"));
    assert_eq!(a[1].created_by, None);
    assert_eq!(
        (a[0].train_rows, a[0].validation_rows),
        (Some(80), Some(20))
    );
    assert_eq!(a[0].learner, "logistic");
    assert_eq!(a[0].feature_spec.as_deref(), Some(r#"{"f":1}"#));
    let b = store.model_versions("b").expect("b");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].status, ACTIVE);
    assert!(store.model_versions("c").expect("c").is_empty());
    assert_eq!(
        store.active_model("a").expect("active").map(|m| m.0),
        Some(3)
    );
}

#[test]
fn a_campaign_never_has_two_active_versions() {
    let dir = tempfile::tempdir().expect("tmp");
    let (path, mut store) = store_with_campaign(&dir, 20);
    let env = test_env();
    let count_active = |s: &Store| {
        statuses(s)
            .iter()
            .filter(|(_, st)| st.as_str() == ACTIVE)
            .count()
    };
    for loss in [0.6, 0.5, 0.7, 0.4] {
        let v = save(&mut store, loss);
        assert_eq!(count_active(&store), usize::from(v > 1));
        models::activate(&mut store, &env, "reg", v, true).expect("forced");
        assert_eq!(count_active(&store), 1);
    }
    models::rollback(&mut store, &env, "reg", Some(1)).expect("rollback");
    assert_eq!(count_active(&store), 1);
    drop(store);
    // And the database itself refuses a second one written behind the store's back.
    let raw = rusqlite::Connection::open(&path).expect("raw");
    let second = raw.execute("UPDATE models SET status = 'active' WHERE version = 2", []);
    assert!(second.is_err(), "a second active version was accepted");
}

#[test]
fn activation_needs_a_lower_validation_log_loss_unless_forced() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = store_with_campaign(&dir, 20);
    let env = test_env();
    let v1 = save(&mut store, 0.5);
    let a = models::activate(&mut store, &env, "reg", v1, false).expect("first");
    assert_eq!((a.from, a.to, a.changed), (None, 1, true));
    let v2 = save(&mut store, 0.6);
    match models::activate(&mut store, &env, "reg", v2, false) {
        Err(AppError::Invalid(m)) => assert!(m.contains("does not beat"), "{m}"),
        other => panic!("worse version activated: {other:?}"),
    }
    // Equal is not better either.
    let v3 = save(&mut store, 0.5);
    assert!(models::activate(&mut store, &env, "reg", v3, false).is_err());
    assert_eq!(
        statuses(&store),
        [
            (1, ACTIVE.to_owned()),
            (2, CANDIDATE.to_owned()),
            (3, CANDIDATE.to_owned())
        ]
    );
    let a = models::activate(&mut store, &env, "reg", v2, true).expect("forced");
    assert_eq!((a.from, a.to), (Some(1), 2));
    let v4 = save(&mut store, 0.3);
    models::activate(&mut store, &env, "reg", v4, false).expect("better");
    assert_eq!(
        statuses(&store),
        [
            (1, ARCHIVED.to_owned()),
            (2, ARCHIVED.to_owned()),
            (3, CANDIDATE.to_owned()),
            (4, ACTIVE.to_owned())
        ]
    );
    // Activating the active one changes (and audits) nothing.
    let again = models::activate(&mut store, &env, "reg", v4, false).expect("noop");
    assert!(!again.changed);
    let details = audit(&store, "model.activate");
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(details[1].contains("forced over version 1"), "{details:?}");
    assert!(
        details[0].contains("version 4 beats version 2"),
        "{details:?}"
    );
    match models::activate(&mut store, &env, "reg", 99, true) {
        Err(AppError::Invalid(m)) => assert!(m.contains("no model version 99"), "{m}"),
        other => panic!("unknown version accepted: {other:?}"),
    }
}

#[test]
fn rollback_returns_to_the_previously_active_version_by_default() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = store_with_campaign(&dir, 20);
    let env = test_env();
    assert!(models::rollback(&mut store, &env, "reg", None).is_err());
    for loss in [0.5, 0.4, 0.3] {
        let v = save(&mut store, loss);
        env.clock.advance(1_000_000);
        models::activate(&mut store, &env, "reg", v, false).expect("better");
    }
    env.clock.advance(1_000_000);
    let r = models::rollback(&mut store, &env, "reg", None).expect("rollback");
    assert_eq!((r.from, r.to), (Some(3), 2));
    env.clock.advance(1_000_000);
    // The previous active version is now 3 again, although it is the newer one.
    let r = models::rollback(&mut store, &env, "reg", None).expect("rollback");
    assert_eq!((r.from, r.to), (Some(2), 3));
    env.clock.advance(1_000_000);
    let r = models::rollback(&mut store, &env, "reg", Some(1)).expect("to 1");
    assert_eq!((r.from, r.to), (Some(3), 1));
    assert_eq!(
        store.active_model("reg").expect("active").map(|m| m.0),
        Some(1)
    );
    assert!(models::rollback(&mut store, &env, "reg", Some(1)).is_err());
    assert!(models::rollback(&mut store, &env, "reg", Some(42)).is_err());
    let details = audit(&store, "model.rollback");
    assert_eq!(
        details,
        [
            "version 3 -> version 1",
            "version 2 -> version 3",
            "version 3 -> version 2"
        ]
    );
}

#[test]
fn retrain_saves_a_candidate_and_activates_it_only_when_it_beats_the_active_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = store_with_campaign(&dir, 400);
    let env = test_env();
    let opts = TrainOptions {
        epochs: 3,
        ..TrainOptions::default()
    };
    let retrain = |store: &mut Store| {
        app::train::retrain(store, &env, "reg", None, &opts, false, &NoProgress).expect("train")
    };
    // No active version: the first one trained becomes active.
    let s = retrain(&mut store);
    assert_eq!((s.version, s.activated), (Some(1), true));
    let v = &store.model_versions("reg").expect("versions")[0];
    assert_eq!(v.status, ACTIVE);
    assert_eq!(v.learner, "logistic");
    assert_eq!(v.created_by.as_deref(), Some(env.actor.as_str()));
    assert_eq!(
        (v.train_rows, v.validation_rows),
        (Some(s.train_units as i64), Some(s.holdout_units as i64))
    );
    assert_eq!(s.train_units + s.holdout_units, 400);
    // The training window is the training part's: the oldest 80% by time (units at minutes
    // 0-39 number 7 each, later ones 6, so the cut at 320 units falls in minute 46, and the
    // ties there stay in training).
    let first = liftdeck::clock::parse_rfc3339("2026-11-01T12:00:00Z");
    let last = liftdeck::clock::parse_rfc3339("2026-11-01T12:46:00Z");
    assert_eq!((v.train_from, v.train_to), (first, last));
    assert_eq!(s.holdout_units, 400 - (40 * 7 + 7 * 6));
    let spec: serde_json::Value =
        serde_json::from_str(v.feature_spec.as_deref().expect("spec")).expect("spec json");
    assert!(spec.is_object(), "{spec}");
    // An active version no real model can beat: the retrained one stays a candidate.
    let unbeatable = save(&mut store, 1e-9);
    models::activate(&mut store, &env, "reg", unbeatable, true).expect("forced");
    let s = retrain(&mut store);
    assert_eq!((s.version, s.activated), (Some(3), false));
    assert!(app::train::format_text(&s).contains("version 3, a candidate"));
    // An active version any model beats: the retrained one replaces it.
    let poor = save(&mut store, 50.0);
    models::activate(&mut store, &env, "reg", poor, true).expect("forced");
    let s = retrain(&mut store);
    assert_eq!((s.version, s.activated), (Some(5), true));
    assert_eq!(
        statuses(&store),
        [
            (1, ARCHIVED.to_owned()),
            (2, ARCHIVED.to_owned()),
            (3, CANDIDATE.to_owned()),
            (4, ARCHIVED.to_owned()),
            (5, ACTIVE.to_owned())
        ]
    );
    let auto = audit(&store, "model.activate");
    assert!(
        auto[0].contains("version 5 after retraining beats version 4"),
        "{auto:?}"
    );
    // Every stored version is audited too, the candidates as much as the activated ones.
    let trained = audit(&store, "model.train");
    assert_eq!(trained.len(), 5, "{trained:?}");
    for v in 1..=5 {
        assert!(
            trained
                .iter()
                .any(|d| d.starts_with(&format!("version {v} trained ("))),
            "{trained:?}"
        );
    }
}

#[test]
fn model_commands_print_json_and_keep_the_exit_code_table() {
    let dir = tempfile::tempdir().expect("tmp");
    let (db, mut store) = store_with_campaign(&dir, 20);
    let env = test_env();
    let v1 = save(&mut store, 0.5);
    models::activate(&mut store, &env, "reg", v1, false).expect("first");
    save(&mut store, 0.6);
    drop(store);
    let cli = |args: &[&str]| {
        std::process::Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .expect("run liftdeck")
    };
    let json = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let out = cli(&["--read-only", "model", "list", "reg", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = json(&out);
    assert_eq!(l["versions"][0]["status"], "active");
    assert_eq!(l["versions"][1]["validation_log_loss"], 0.6);
    assert!(l["versions"][0]["created_at"].is_string(), "RFC 3339 time");
    let out = cli(&["model", "list", "reg"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("*     1  active"));
    let out = cli(&["model", "show", "reg", "2", "--json"]);
    assert_eq!(json(&out)["status"], "candidate");
    let out = cli(&["model", "show", "reg", "9"]);
    assert_eq!(out.status.code(), Some(65), "unknown version");
    let out = cli(&["--read-only", "model", "activate", "reg", "2", "--force"]);
    assert_eq!(out.status.code(), Some(77), "read-only refuses activate");
    let out = cli(&["--read-only", "model", "rollback", "reg"]);
    assert_eq!(out.status.code(), Some(77), "read-only refuses rollback");
    let out = cli(&["model", "activate", "reg", "2", "--json"]);
    assert_eq!(out.status.code(), Some(65), "worse version refused");
    assert_eq!(json(&out)["error"]["code"], 65);
    let out = cli(&["model", "activate", "reg", "2", "--force", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        (json(&out)["from"].clone(), json(&out)["to"].clone()),
        (1.into(), 2.into())
    );
    let out = cli(&["model", "rollback", "reg", "--json"]);
    assert_eq!(json(&out)["to"], 1);
    let out = cli(&["model", "list", "nope"]);
    assert_eq!(out.status.code(), Some(65), "unknown campaign");
}
