//! Job results in the console (issue 8 §4, "job results persist"): a cancelled or failed run
//! keeps no result of its own; the panel shows how the newest run ended and, below it, the
//! result of the newest done run, read from the jobs table with `Store::latest_done_jobs`.

use crate::common::*;
use crate::console_trust::{app_on, ch, key, on_models, reload, retrain, screen, shop, NOW};
use liftdeck::jobs::{self, JobKind, JobSettings, JobUpdate};
use liftdeck::store::Store;
use liftdeck::tui::{App, Msg, Panel};
use ratatui::crossterm::event::KeyCode;
use std::sync::atomic::AtomicBool;

/// Records a finished job row directly, as another console or an older version would.
fn record(store: &mut Store, kind: &str, campaign: &str, ts: i64, status: &str) -> i64 {
    let id = store.start_job(kind, campaign, "ops", ts).expect("start");
    let (result, error) = match status {
        "done" => (Some(format!(r#"{{"run":{id}}}"#)), None),
        "failed" => (None, Some("disk full")),
        _ => (None, None),
    };
    store
        .finish_job(id, status, ts + 1_000_000, result.as_deref(), error)
        .expect("finish");
    id
}

#[test]
fn the_store_gives_the_newest_done_run_of_each_kind_for_one_campaign() {
    let (_dir, mut store) = shop(3, 20);
    let t = 1_793_500_000_000_000;
    let _first = record(&mut store, "retrain", "c-00", t, "done");
    let second = record(&mut store, "retrain", "c-00", t + 10, "done");
    let failed = record(&mut store, "retrain", "c-00", t + 20, "failed");
    record(&mut store, "causal", "c-00", t + 30, "cancelled");
    let other = record(&mut store, "forecast", "c-01", t + 40, "done");
    // A newer done run of the same kind on another campaign does not count for this one.
    record(&mut store, "retrain", "c-01", t + 50, "done");

    let done = store.latest_done_jobs("c-00").expect("done");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0].id, done[0].kind.as_str()), (second, "retrain"));
    assert_eq!(done[0].status, "done");
    assert_eq!(
        done[0].result.as_deref(),
        Some(format!(r#"{{"run":{second}}}"#).as_str())
    );
    // The newest run of each kind is still what `latest_jobs` reports (health reads it).
    let newest = store.latest_jobs("c-00").expect("newest");
    let retrain = newest
        .iter()
        .find(|j| j.kind == "retrain")
        .expect("retrain");
    assert_eq!((retrain.id, retrain.result.as_deref()), (failed, None));
    let done = store.latest_done_jobs("c-01").expect("done");
    assert_eq!(done.len(), 2);
    assert!(done.iter().any(|j| j.id == other && j.kind == "forecast"));
    // A key that is not a campaign, quotes and all, is a bound value: no rows, no error.
    assert!(store
        .latest_done_jobs("c-00' OR '1'='1")
        .expect("bound")
        .is_empty());
}

#[test]
fn a_failed_run_shows_its_error_above_the_last_done_result() {
    let (_dir, mut store) = shop(2, 300);
    let end = retrain(&mut store, false);
    assert!(matches!(end, jobs::JobEnd::Done(_)), "{end:?}");
    let done = store.latest_done_jobs("broken").expect("done");
    let done_at = liftdeck::clock::format_rfc3339(done[0].finished_at.expect("finished"));
    // A later run that failed (as a crashed or refused run would record it).
    record(&mut store, "retrain", "broken", NOW - 5_000_000, "failed");
    let app = on_models(&store);
    // Tall enough for the job under the versions, calibration chart and top features.
    let text = liftdeck::tui::screen_text(&app, 80, 40);
    assert!(
        text.contains("last run: failed") && text.contains("disk full"),
        "{text}"
    );
    assert!(
        text.contains(&format!("showing the result of the run at {done_at}")),
        "{text}"
    );
    assert!(text.contains("holdout log loss"), "{text}");
    // The failure comes first, the older result below it.
    let failed_row = text.find("last run: failed").expect("status");
    let result_row = text.find("holdout log loss").expect("result");
    assert!(failed_row < result_row, "{text}");
}

#[test]
fn a_panel_with_no_done_run_says_so_instead_of_showing_a_cancelled_runs_result() {
    let (_dir, mut store) = shop(2, 300);
    retrain(&mut store, true);
    let text = screen(&on_models(&store));
    assert!(text.contains("last run: cancelled"), "{text}");
    assert!(
        text.contains("no run has finished with a result yet"),
        "{text}"
    );
    assert!(!text.contains("holdout log loss"), "{text}");
}

/// Runs the causal report of `broken` as a read-only console would, and hands the end over.
fn causal_read_only(store: &mut Store, app: &mut App, cancel: bool) {
    let flag = AtomicBool::new(cancel);
    let settings = JobSettings {
        read_only: true,
        ..Default::default()
    };
    let end = jobs::run_on(
        store,
        &test_env(),
        &settings,
        JobKind::Causal,
        "broken",
        &flag,
        &|_| {},
    );
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::Causal,
        campaign: "broken".into(),
        end: end.into(),
    }));
}

#[test]
fn a_read_only_session_keeps_its_own_newer_result_over_the_tables_older_one() {
    let (_dir, mut store) = shop(2, 300);
    // An earlier, writable session recorded a causal report.
    let flag = AtomicBool::new(false);
    jobs::run_on(
        &mut store,
        &test_env(),
        &JobSettings::default(),
        JobKind::Causal,
        "broken",
        &flag,
        &|_| {},
    )
    .expect("causal");
    let recorded = store.latest_done_jobs("broken").expect("done");
    let recorded_at = liftdeck::clock::format_rfc3339(recorded[0].finished_at.expect("at"));
    let mut app = app_on(&store, true);
    app.update(ch('G'));
    reload(&store, &mut app, NOW);
    app.update(key(KeyCode::Tab));
    while app.panel != Panel::Causal {
        app.update(key(KeyCode::Tab));
    }
    let text = screen(&app);
    assert!(text.contains("IPW"), "the recorded result: {text}");
    // This session's run records nothing; its result is the newest one.
    assert_eq!(app.update(ch('c')).len(), 1);
    causal_read_only(&mut store, &mut app, false);
    reload(&store, &mut app, NOW);
    let text = screen(&app);
    assert!(text.contains("IPW"), "{text}");
    assert!(!text.contains("showing the result of the run at"), "{text}");
    // A second run, cancelled: the session's own result (at the console's clock) stays, not
    // the older recorded one.
    app.update(ch('c'));
    causal_read_only(&mut store, &mut app, true);
    reload(&store, &mut app, NOW);
    let text = screen(&app);
    let session_at = liftdeck::clock::format_rfc3339(NOW);
    assert!(text.contains("cancelled"), "{text}");
    assert!(
        text.contains(&format!("showing the result of the run at {session_at}")),
        "{text}"
    );
    assert_ne!(recorded_at, session_at);
    assert!(
        !text.contains(&format!("showing the result of the run at {recorded_at}")),
        "{text}"
    );
}
