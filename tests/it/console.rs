//! The console driven headlessly: key handling through the binding table, confirmations,
//! read-only refusals, the help overlay, and the SRM banner on the live A/B panel.

use crate::common::*;
use liftdeck::app::snapshot::load_snapshot;
use liftdeck::domain::Status;
use liftdeck::lines::Format;
use liftdeck::stats::ab::Metric;
use liftdeck::tui::keys::BINDINGS;
use liftdeck::tui::{render, App, Effect, Msg, Panel};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn screen(app: &App, w: u16, h: u16) -> String {
    liftdeck::tui::screen_text(app, w, h)
}

/// A database with one fair campaign and one whose split is broken (600/400 on 50/50).
fn app_with_data(read_only: bool) -> (tempfile::TempDir, liftdeck::store::Store, App) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "c.db");
    let mut text = String::new();
    for (key, control, treat) in [("fair", 500, 500), ("broken", 600, 400)] {
        text.push_str(&format!(
            r#"{{"type":"campaign","key":"{key}","name":"{key} test","kind":"ab","arms":[{{"key":"control","weight":50.0}},{{"key":"t","weight":50.0}}],"control":"control","traffic":1.0,"metric":"purchase","seed":5,"status":"running"}}"#
        ));
        text.push('\n');
        for i in 0..control + treat {
            let arm = if i < control { "control" } else { "t" };
            text.push_str(&format!(
                r#"{{"type":"assignment","campaign":"{key}","unit":"u{i}","arm":"{arm}","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}}"#
            ));
            text.push('\n');
            if i % 9 == 0 {
                text.push_str(&format!(
                    r#"{{"type":"event","event_id":"{key}{i}","campaign":"{key}","unit":"u{i}","kind":"purchase","value":20,"ts":"2026-11-01T12:01:00Z"}}"#
                ));
                text.push('\n');
            }
        }
    }
    ingest_str(&mut store, &text, Format::Jsonl, 5000);
    let mut app = App::new(read_only);
    reload(&store, &mut app);
    (dir, store, app)
}

/// A minute after the data.
const NOW: i64 = 1_793_534_460_000_000;

/// Reads a snapshot for what `app` looks at and hands it over, following any reload the
/// update asks for (the first snapshot focuses the first campaign).
fn reload(store: &liftdeck::store::Store, app: &mut App) {
    for _ in 0..3 {
        let snap = load_snapshot(store, &app.focus(), NOW, NOW, 15 * 60_000_000).expect("snapshot");
        if !app
            .update(Msg::Loaded(Box::new(snap)))
            .contains(&Effect::Reload)
        {
            return;
        }
    }
}

#[test]
fn stop_needs_confirmation_and_esc_cancels() {
    let (_dir, _store, mut app) = app_with_data(false);
    assert!(
        app.update(key(KeyCode::Char('x'))).is_empty(),
        "no effect before y"
    );
    assert!(
        app.status_line.contains("stop fair? press y"),
        "{}",
        app.status_line
    );
    app.update(key(KeyCode::Esc));
    assert!(
        app.update(key(KeyCode::Char('y'))).is_empty(),
        "Esc cancelled the stop"
    );
    app.update(key(KeyCode::Char('x')));
    assert_eq!(
        app.update(key(KeyCode::Char('y'))),
        vec![Effect::SetStatus {
            campaign: "fair".into(),
            to: Status::Stopped
        }]
    );
}

#[test]
fn read_only_session_refuses_every_mutating_key() {
    let (_dir, _store, mut app) = app_with_data(true);
    for c in ['s', 'p', 'x', 'y'] {
        assert!(app.update(key(KeyCode::Char(c))).is_empty());
        assert_eq!(app.status_line, "read-only session: nothing was changed");
    }
    assert!(screen(&app, 80, 24).contains("read-only session"));
}

#[test]
fn help_overlay_lists_every_binding_of_each_panel_from_the_table_at_80x24() {
    let (_dir, _store, mut app) = app_with_data(false);
    for panel in Panel::ALL {
        app.panel = panel;
        app.update(key(KeyCode::Char('?')));
        let text = screen(&app, 80, 24);
        for b in BINDINGS
            .iter()
            .filter(|b| b.panels.is_empty() || b.panels.contains(&panel))
        {
            let row = format!("{:<7} ", b.key);
            assert!(
                text.lines().any(|l| l.contains(&row) && l.contains(b.help)),
                "{panel:?} help lacks `{}` `{}`:\n{text}",
                b.key,
                b.help
            );
        }
        app.update(key(KeyCode::Char('j')));
        assert!(!app.show_help, "any key closes help");
    }
    assert_eq!(app.selected, 0, "the closing key does nothing else");
}

#[test]
fn srm_banner_shows_on_the_broken_campaign_and_health_badges_name_it() {
    let (_dir, store, mut app) = app_with_data(false);
    let list = screen(&app, 80, 24);
    assert!(list.contains("! SRM"), "{list}");
    app.update(key(KeyCode::Char('j')));
    reload(&store, &mut app);
    app.update(key(KeyCode::Enter));
    assert_eq!(app.panel, Panel::Ab);
    let ab = screen(&app, 80, 24);
    assert!(ab.contains("!! SRM ALARM"), "{ab}");
    assert!(
        ab.contains("always valid"),
        "sequential intervals by default:\n{ab}"
    );
    app.update(key(KeyCode::Char('f')));
    assert!(screen(&app, 80, 24).contains("fixed horizon"));
    // The fair campaign has no banner.
    app.update(key(KeyCode::Tab));
    let mut fair = App::new(false);
    reload(&store, &mut fair);
    fair.update(key(KeyCode::Enter));
    assert!(!screen(&fair, 80, 24).contains("SRM ALARM"));
}

#[test]
fn metric_key_cycles_and_job_panels_run_show_progress_and_cancel() {
    use liftdeck::jobs::{JobEnd, JobKind, JobUpdate};
    use liftdeck::tui::Msg;
    let (_dir, _store, mut app) = app_with_data(false);
    app.update(key(KeyCode::Enter));
    assert_eq!(app.update(key(KeyCode::Char('m'))), vec![Effect::Reload]);
    assert_eq!(app.metric, Metric::ALL[1]);
    for _ in 0..2 {
        app.update(key(KeyCode::Tab));
    }
    assert_eq!(app.panel, Panel::Models);
    let text = screen(&app, 80, 24);
    assert!(text.contains("r retrains the conversion model"), "{text}");
    let campaign = app
        .selected_campaign()
        .expect("row")
        .campaign
        .spec
        .key
        .clone();
    // Esc with nothing running cancels nothing.
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    // r opens the learner choice; Enter starts the retrain with the highlighted one.
    assert!(app.update(key(KeyCode::Char('r'))).is_empty());
    assert_eq!(
        app.update(key(KeyCode::Enter)),
        vec![Effect::StartJob {
            kind: JobKind::Retrain,
            campaign: campaign.clone(),
            learner: liftdeck::app::train::LearnerChoice::Dense,
        }]
    );
    // A second r while it runs starts nothing.
    assert!(app.update(key(KeyCode::Char('r'))).is_empty());
    app.update(Msg::Job(JobUpdate::Progress {
        kind: JobKind::Retrain,
        done: 0.42,
        stage: "epoch 3/8".into(),
    }));
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("42% epoch 3/8"),
        "gauge with its label:\n{text}"
    );
    assert_eq!(
        app.update(key(KeyCode::Esc)),
        vec![Effect::CancelJob(JobKind::Retrain)]
    );
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::Retrain,
        campaign,
        end: JobEnd::Cancelled,
    }));
    let text = screen(&app, 80, 24);
    assert!(
        text.contains("cancelled") && !text.contains("42%"),
        "{text}"
    );
    // Causal and Forecast panels run their own jobs with their own keys (`a`: ship an arm).
    app.update(key(KeyCode::Tab));
    assert!(matches!(
        app.update(key(KeyCode::Char('c'))).as_slice(),
        [Effect::StartJob {
            kind: JobKind::Causal,
            ..
        }]
    ));
    app.update(key(KeyCode::Tab));
    assert!(matches!(
        app.update(key(KeyCode::Char('a'))).as_slice(),
        [Effect::StartJob {
            kind: JobKind::Forecast,
            ..
        }]
    ));
}

#[test]
fn read_only_session_refuses_retraining_but_runs_reports() {
    let (_dir, _store, mut app) = app_with_data(true);
    for _ in 0..3 {
        app.update(key(KeyCode::Tab));
    }
    assert_eq!(app.panel, Panel::Models);
    assert!(app.update(key(KeyCode::Char('r'))).is_empty());
    assert!(
        app.status_line.contains("read-only session"),
        "{}",
        app.status_line
    );
    app.update(key(KeyCode::Tab));
    assert_eq!(app.update(key(KeyCode::Char('c'))).len(), 1);
}

#[test]
fn no_color_drops_colours_but_alarms_keep_bold_reverse_and_words() {
    use liftdeck::tui::theme::Theme;
    use ratatui::style::{Color, Modifier};
    let (_dir, store, mut app) = app_with_data(false);
    app.update(key(KeyCode::Char('j')));
    reload(&store, &mut app);
    app.update(key(KeyCode::Enter));
    for (theme, coloured) in [
        (Theme::choose("default", true).expect("mono"), false),
        (Theme::choose("high-contrast", false).expect("hc"), true),
        (Theme::choose("default", false).expect("default"), true),
    ] {
        app.theme = theme;
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
        terminal.draw(|f| render(&app, f)).expect("draw");
        let buf = terminal.backend().buffer().clone();
        let any_colour = buf.content().iter().any(|c| c.fg != Color::Reset);
        assert_eq!(any_colour, coloured);
        // The banner row: its word is there and its cells are bold and reversed.
        let row = (0..24)
            .find(|&y| {
                (0..80)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .contains("!! SRM ALARM")
            })
            .expect("banner row");
        let cell = &buf[(3, row)];
        assert!(cell.modifier.contains(Modifier::BOLD | Modifier::REVERSED));
    }
    assert!(Theme::choose("neon", false).is_err());
}
