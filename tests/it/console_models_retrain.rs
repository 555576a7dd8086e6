//! The Models panel's retrain (issue 10, "Registry and retraining" and its proof item): `r`
//! opens a learner choice, Enter retrains with it through the console's own effect executor,
//! the new version appears with its metrics, Esc while it runs cancels it and leaves no
//! version, and an `activate` of an older version is what the panel marks and what the
//! reports' model loader (`ActiveModel::load`) returns. Also the calibration chart and the
//! active version's top features and crosses.

use crate::common::*;
use crate::console_trust::{ch, key, on_models, screen, shop, NOW};
use liftdeck::app::models;
use liftdeck::app::predict::ActiveModel;
use liftdeck::app::train::LearnerChoice;
use liftdeck::app::Env;
use liftdeck::clock::Clock;
use liftdeck::jobs::{self, JobEnd, JobKind, JobSettings, JobUpdate};
use liftdeck::model::eval::ReliabilityBin;
use liftdeck::store::{NewModel, Store};
use liftdeck::tui::effects::{Executor, InlineJobs, JobRunner};
use liftdeck::tui::view_models_chart::{bar, chart_lines, weight_text};
use liftdeck::tui::{App, Effect, Msg};
use ratatui::crossterm::event::KeyCode;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

fn env() -> Env {
    Env {
        clock: Clock::virtual_at(NOW),
        actor: "console-test".into(),
    }
}

/// Carries out `effects` and everything they lead to, feeding each answer to the app.
fn drive(app: &mut App, exec: &mut Executor, jobs: &mut dyn JobRunner, effects: Vec<Effect>) {
    let mut queue: VecDeque<Effect> = effects.into();
    while let Some(e) = queue.pop_front() {
        for msg in exec.apply(e, app.focus(), jobs) {
            queue.extend(app.update(msg));
        }
    }
}

/// The screen row of version `n` (marker stripped) and whether it carries the `*`.
fn row(text: &str, n: i64) -> Option<(bool, Vec<String>)> {
    text.lines().find_map(|l| {
        let inner = l.trim_start_matches('│').trim_end_matches('│');
        let cells: Vec<String> = inner.split_whitespace().map(str::to_string).collect();
        let marked = cells.first().is_some_and(|c| c == "*");
        let cells = cells[usize::from(marked)..].to_vec();
        (cells.len() == 8 && cells[0] == n.to_string()).then_some((marked, cells))
    })
}

#[test]
fn r_chooses_the_learner_esc_closes_without_starting_and_the_choice_is_kept() {
    let (_dir, store) = shop(2, 300);
    let mut app = on_models(&store);
    assert!(app.update(ch('r')).is_empty());
    let text = screen(&app);
    assert!(text.contains("> dense") && text.contains("mlp"), "{text}");
    // Esc closes the choice and starts nothing; the keys it took moved nothing else.
    app.update(key(KeyCode::Down));
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert!(app.learner_pick.is_none());
    assert!(app.jobs.is_empty(), "nothing started");
    assert!(!screen(&app).contains("> "), "{}", screen(&app));
    // Down twice from dense is lr-sgd; Enter starts with it.
    app.update(ch('r'));
    app.update(key(KeyCode::Down));
    app.update(key(KeyCode::Down));
    let effects = app.update(key(KeyCode::Enter));
    assert_eq!(
        effects,
        vec![Effect::StartJob {
            kind: JobKind::Retrain,
            campaign: "broken".into(),
            learner: LearnerChoice::LrSgd,
        }]
    );
    // The session remembers it: the panel says so, and r opens on it.
    let text = screen(&app);
    assert!(
        text.contains("retrain of broken with lr-sgd started"),
        "{text}"
    );
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::Retrain,
        campaign: "broken".into(),
        end: JobEnd::Cancelled,
    }));
    assert!(screen(&app).contains("last: lr-sgd"), "{}", screen(&app));
    app.update(ch('r'));
    assert!(screen(&app).contains("> lr-sgd"), "{}", screen(&app));
    // The footer names the key, the help says how the choice works.
    app.update(key(KeyCode::Esc));
    assert!(screen(&app).contains("retrain…"), "{}", screen(&app));
    app.update(ch('?'));
    assert!(screen(&app).contains("pick a learner"), "{}", screen(&app));
}

/// `broken` with 400 more units assigned over the 50 s after the first 1000, so a time-ordered
/// validation split (the hashed learners') has rows on both sides.
fn later_units(store: &mut Store) {
    let mut text = String::new();
    for i in 2000..2400 {
        let arm = if i % 2 == 0 { "control" } else { "t" };
        text.push_str(&format!(
            r#"{{"type":"assignment","campaign":"broken","unit":"u{i}","arm":"{arm}","propensity":0.5,"ts":"2026-11-01T12:00:{:02}Z"}}"#,
            1 + (i - 2000) / 8
        ));
        text.push('\n');
        if i % 7 == 0 {
            text.push_str(&format!(
                r#"{{"type":"event","event_id":"late{i}","campaign":"broken","unit":"u{i}","kind":"purchase","value":20,"ts":"2026-11-01T12:00:40Z"}}"#
            ));
            text.push('\n');
        }
    }
    ingest_str(store, &text, liftdeck::lines::Format::Jsonl, 5000);
}

#[test]
fn a_retrain_from_the_panel_adds_a_version_with_its_metrics_and_activate_moves_the_reports() {
    let (_dir, mut store) = shop(2, 300);
    later_units(&mut store);
    let mut app = on_models(&store);
    let mut exec = Executor::new(store, env(), false);
    // Version 1 with dense (the first choice), version 2 with lr.
    app.update(ch('r'));
    let start = app.update(key(KeyCode::Enter));
    drive(&mut app, &mut exec, &mut InlineJobs, start);
    app.update(ch('r'));
    app.update(key(KeyCode::Down));
    let start = app.update(key(KeyCode::Enter));
    assert!(matches!(
        start.as_slice(),
        [Effect::StartJob {
            learner: LearnerChoice::Lr,
            ..
        }]
    ));
    drive(&mut app, &mut exec, &mut InlineJobs, start);
    let versions = models::list(&exec.store, "broken").expect("list");
    assert_eq!(versions.len(), 2, "{}", app.status_line);
    let text = screen(&app);
    for v in &versions {
        let (_, cells) = row(&text, v.version).unwrap_or_else(|| panic!("{v:?}\n{text}"));
        let loss = liftdeck::format::opt(v.validation_log_loss, |x| format!("{x:.4}"));
        assert_eq!(cells[1], v.learner, "{text}");
        assert_eq!(cells[6], loss, "{text}");
        assert_ne!(cells[6], "-", "a trained version has its loss:\n{text}");
    }
    assert_eq!(row(&text, 2).expect("v2").1[1], "lr");
    // The operator makes the older version the one the reports use.
    models::activate(&mut exec.store, &env(), "broken", 1, true).expect("activate");
    let answer = exec.apply(Effect::Reload, app.focus(), &mut InlineJobs);
    for msg in answer {
        app.update(msg);
    }
    let text = liftdeck::tui::screen_text(&app, 80, 40);
    assert_eq!(row(&text, 1).map(|r| r.0), Some(true), "{text}");
    assert_eq!(row(&text, 2).map(|r| r.0), Some(false), "{text}");
    assert!(text.contains("Calibration of active version 1"), "{text}");
    let active = ActiveModel::load(&exec.store, "broken")
        .expect("load")
        .expect("an active model");
    assert_eq!(active.version, 1);
}

/// Jobs on a thread of their own (as in the console) whose every update waits until the test
/// takes it, so Esc lands while the job is certainly still running.
struct Gated {
    db: PathBuf,
    cancel: Arc<AtomicBool>,
    updates: mpsc::SyncSender<JobUpdate>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl JobRunner for Gated {
    fn start(
        &mut self,
        _store: &mut Store,
        env: &Env,
        kind: JobKind,
        campaign: &str,
        settings: &JobSettings,
    ) -> Vec<Msg> {
        let (db, env, cancel, tx, campaign, settings) = (
            self.db.clone(),
            env.clone(),
            self.cancel.clone(),
            self.updates.clone(),
            campaign.to_string(),
            settings.clone(),
        );
        self.thread = Some(std::thread::spawn(move || {
            let sink = move |u| {
                let _ = tx.send(u);
            };
            jobs::run(&db, &env, &settings, kind, &campaign, &cancel, &sink);
        }));
        vec![]
    }

    fn cancel(&mut self, _kind: JobKind) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

#[test]
fn esc_while_the_retrain_runs_cancels_it_and_writes_no_version() {
    let (dir, store) = shop(2, 300);
    let mut app = on_models(&store);
    let mut exec = Executor::new(store, env(), false);
    let (tx, rx) = mpsc::sync_channel(0);
    let mut gated = Gated {
        db: dir.path().join("c.db"),
        cancel: Arc::new(AtomicBool::new(false)),
        updates: tx,
        thread: None,
    };
    app.update(ch('r'));
    let start = app.update(key(KeyCode::Enter));
    drive(&mut app, &mut exec, &mut gated, start);
    // The first progress point: the job is running and waits for us.
    let first = rx.recv().expect("a progress update");
    assert!(matches!(first, JobUpdate::Progress { .. }), "{first:?}");
    app.update(Msg::Job(first));
    assert!(app.jobs.iter().any(|j| j.is_running()));
    let cancel = app.update(key(KeyCode::Esc));
    assert_eq!(cancel, vec![Effect::CancelJob(JobKind::Retrain)]);
    drive(&mut app, &mut exec, &mut gated, cancel);
    // The job stops at its next progress point and says so last.
    let mut end = None;
    while end.is_none() {
        let u = rx.recv().expect("the job reports its end");
        if let JobUpdate::Finished { end: e, .. } = &u {
            end = Some(e.clone());
        }
        let effects = app.update(Msg::Job(u));
        drive(&mut app, &mut exec, &mut gated, effects);
    }
    if let Some(t) = gated.thread.take() {
        t.join().expect("job thread");
    }
    assert!(matches!(end, Some(JobEnd::Cancelled)), "{end:?}");
    assert!(models::list(&exec.store, "broken")
        .expect("list")
        .is_empty());
    let job = exec
        .store
        .latest_jobs("broken")
        .expect("jobs")
        .into_iter()
        .find(|j| j.kind == "retrain")
        .expect("the run is recorded");
    assert_eq!(job.status, "cancelled");
    assert!(job.result.is_none());
    let text = screen(&app);
    assert!(
        text.contains("cancelled") && text.contains("No model versions yet"),
        "{text}"
    );
}

fn bin(lower: f64, count: usize, p: f64, o: f64) -> ReliabilityBin {
    ReliabilityBin {
        lower,
        upper: lower + 0.1,
        count,
        mean_predicted: p,
        observed_rate: o,
    }
}

#[test]
fn the_calibration_chart_skips_empty_bins_and_marks_predicted_on_the_observed_bar() {
    let bins = [
        bin(0.0, 900, 0.05, 0.05),
        bin(0.1, 0, 0.0, 0.0),
        bin(0.2, 50, 0.25, 0.10),
    ];
    let lines = chart_lines(&bins, 78);
    assert_eq!(lines.len(), 3, "legend + two non-empty bins: {lines:?}");
    assert!(lines.iter().all(|l| l.chars().count() <= 78), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("10–20%")), "{lines:?}");
    // On a 20-cell scale of 25%: the calibrated bin's bar ends at its mark, the
    // over-predicted bin's mark sits beyond its bar.
    assert_eq!(bar(&bins[0], 0.25, 20), "████|               ");
    assert_eq!(bar(&bins[2], 0.25, 20), "████████           |");
    assert_eq!(weight_text(-1.0304), "-1.030");
    assert_eq!(weight_text(f64::NAN), "-");
}

#[test]
fn top_features_and_crosses_show_with_weights_and_escaped_names() {
    let (_dir, mut store) = shop(2, 300);
    let metrics = r#"{"holdout_log_loss":0.2,
        "bins":[{"lower":0.0,"upper":0.1,"count":10,"mean_predicted":0.05,"observed_rate":0.1}],
        "top_features":[["device=mobile",0.4123],["seg\u001b[31m=x",-1.25]],
        "top_crosses":[["device=mobile x arm=t",0.0815]]}"#;
    let v = store
        .save_model(
            "broken",
            &NewModel {
                job_id: None,
                ts: NOW - 60_000_000,
                model: "{}",
                metrics,
                learner: "lr",
                feature_spec: None,
                train_from: None,
                train_to: None,
                train_rows: 40,
                validation_rows: 10,
                created_by: "test",
            },
        )
        .expect("save");
    models::activate(&mut store, &test_env(), "broken", v, true).expect("activate");
    let mut app = on_models(&store);
    app.update(Msg::Resize(80, 40));
    let text = liftdeck::tui::screen_text(&app, 80, 40);
    assert!(text.contains("Top features of version 1"), "{text}");
    assert!(text.contains("device=mobile +0.412"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(text.contains("-1.250"), "{text}");
    assert!(
        text.contains("Top crosses") && text.contains("device=mobile x arm=t +0.082"),
        "{text}"
    );
    assert!(text.contains("5.00% → 10.00% (10)"), "{text}");
}
