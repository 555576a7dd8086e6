//! The console at 80x24, keyboard first (issue 8 §4): a list that scrolls with its selection,
//! text panels that scroll and say what is below, a footer with every key, a chart that reads
//! without colour, prompts bound to their campaign, job results that survive cancels and
//! restarts, READ-ONLY / freshness / STALE on the clock, and the structure behind them.

use crate::common::*;
use liftdeck::app::snapshot::load_snapshot;
use liftdeck::domain::Status;
use liftdeck::jobs::{self, JobEnd, JobKind, JobSettings, JobUpdate};
use liftdeck::lines::Format;
use liftdeck::replay::Replay;
use liftdeck::store::Store;
use liftdeck::tui::keys::{self, BINDINGS};
use liftdeck::tui::{screen_text, App, Effect, Msg, Panel};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

pub(crate) const STALE: i64 = 15 * 60_000_000;
/// A minute after the data written by `shop`.
pub(crate) const NOW: i64 = 1_793_534_460_000_000;

pub(crate) fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub(crate) fn ch(c: char) -> Msg {
    key(KeyCode::Char(c))
}

/// Feeds the app snapshots until it stops asking for a reload (focus settled).
pub(crate) fn reload(store: &Store, app: &mut App, now: i64) {
    for _ in 0..3 {
        let snap = load_snapshot(store, &app.focus(), now, now, STALE).expect("snapshot");
        if !app
            .update(Msg::Loaded(Box::new(snap)))
            .contains(&Effect::Reload)
        {
            return;
        }
    }
}

/// `n` running campaigns `c-00`.. with `units` (+ index) units each, the last of them
/// ("broken") with at least 1000 units split 60/40 on its 50/50 weights.
pub(crate) fn shop(n: usize, units: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "c.db");
    let mut text = String::new();
    for c in 0..n {
        let key = if c + 1 == n {
            "broken".to_string()
        } else {
            format!("c-{c:02}")
        };
        text.push_str(&format!(
            r#"{{"type":"campaign","key":"{key}","name":"campaign {c}","kind":"ab","arms":[{{"key":"control","weight":50.0}},{{"key":"t","weight":50.0}}],"control":"control","traffic":1.0,"metric":"purchase","seed":5,"status":"running"}}"#
        ));
        text.push('\n');
        // The broken campaign is big enough for its split to be a clear SRM alarm.
        let total = if c + 1 == n {
            units.max(1000)
        } else {
            units + c
        };
        for i in 0..total {
            let control = if c + 1 == n {
                i * 10 < total * 6
            } else {
                i % 2 == 0
            };
            let arm = if control { "control" } else { "t" };
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
    (dir, store)
}

pub(crate) fn app_on(store: &Store, read_only: bool) -> App {
    let mut app = App::new(read_only);
    app.update(Msg::Resize(80, 24));
    reload(store, &mut app, NOW);
    app
}

pub(crate) fn screen(app: &App) -> String {
    screen_text(app, 80, 24)
}

/// The screen line holding the selection marker.
fn selected_line(text: &str) -> Option<&str> {
    text.lines().find(|l| l.starts_with("│>"))
}

#[test]
fn the_list_scrolls_with_the_selection_and_says_what_is_beyond() {
    let (_dir, store) = shop(40, 20);
    let mut app = app_on(&store, false);
    for _ in 0..30 {
        app.update(ch('j'));
        reload(&store, &mut app, NOW);
    }
    let text = screen(&app);
    let line = selected_line(&text).unwrap_or_else(|| panic!("marker off screen:\n{text}"));
    assert!(line.contains("c-30"), "{text}");
    assert!(text.contains("↑") && text.contains("above"), "{text}");
    assert!(text.contains("↓ 9 more"), "{text}");
    app.update(ch('G'));
    assert!(selected_line(&screen(&app)).is_some_and(|l| l.contains("broken")));
    app.update(ch('g'));
    assert!(selected_line(&screen(&app)).is_some_and(|l| l.contains("c-00")));
    app.update(key(KeyCode::PageDown));
    let paged = app.selected;
    assert!(paged >= 10, "a page is the rows on screen: {paged}");
    assert!(selected_line(&screen(&app)).is_some());
    app.update(key(KeyCode::PageUp));
    assert_eq!(app.selected, 0);
}

#[test]
fn slash_filters_by_key_or_name_and_o_cycles_the_sort() {
    let (_dir, store) = shop(12, 20);
    let mut app = app_on(&store, false);
    for m in [ch('/'), ch('c'), ch('-'), ch('0'), ch('7')] {
        app.update(m);
    }
    let text = screen(&app);
    assert!(text.contains("c-07") && !text.contains("c-08"), "{text}");
    assert!(text.contains("filter `c-07`"), "{text}");
    app.update(key(KeyCode::Enter));
    assert_eq!(app.selected_key.as_deref(), Some("c-07"));
    // By name: "campaign 3". Esc clears the filter first.
    app.update(key(KeyCode::Esc));
    assert!(app.list.filter.is_empty());
    app.update(ch('/'));
    for c in "campaign 3".chars() {
        app.update(ch(c));
    }
    app.update(key(KeyCode::Enter));
    let text = screen(&app);
    assert!(text.contains("c-03") && !text.contains("c-04"), "{text}");
    app.update(key(KeyCode::Esc));
    assert!(screen(&app).contains("c-11") || screen(&app).contains("broken"));
    // Sort by units: the biggest campaign first, and the selection stays on its campaign.
    let before = app.selected_key.clone();
    let mut sorts = Vec::new();
    for _ in 0..5 {
        app.update(ch('o'));
        sorts.push(app.list.sort.name());
        assert_eq!(
            app.selected_key, before,
            "the selection follows the campaign"
        );
        if app.list.sort.name() == "units" {
            let text = screen(&app);
            let first = text.lines().nth(4).unwrap_or_default();
            assert!(first.contains("broken"), "most units first:\n{text}");
        }
        if app.list.sort.name() == "health" {
            let first = screen(&app).lines().nth(4).unwrap_or_default().to_string();
            assert!(first.contains("!! SRM"), "worst first: {first}");
        }
    }
    assert_eq!(sorts, ["key", "status", "units", "health", "created"]);
    // A filter that matches nothing selects nothing, says so, and a refresh settles at once.
    for m in [ch('/'), ch('z'), ch('z'), key(KeyCode::Enter)] {
        app.update(m);
    }
    assert_eq!(app.selected_key, None);
    assert!(screen(&app).contains("nothing matches"));
    let snap = load_snapshot(&store, &app.focus(), NOW, NOW, STALE).expect("snapshot");
    assert!(app.update(Msg::Loaded(Box::new(snap))).is_empty());
}

/// Every line a text panel holds, collected by scrolling it with `j` to the end at 80x24.
fn scroll_through(replay: &mut Replay) -> (Vec<String>, bool) {
    let mut seen = Vec::new();
    let mut said_more = false;
    for _ in 0..80 {
        let text = replay.screen();
        said_more |= text.contains("more (j, PgDn)");
        for l in text.lines().skip(3).take(17) {
            let l = l.trim_matches('│').trim_end().to_string();
            if !seen.contains(&l) {
                seen.push(l);
            }
        }
        if !text.contains("↓") {
            break;
        }
        replay
            .run(r#"{"op":"key","keys":"j"}"#)
            .expect("scroll key");
    }
    (seen, said_more)
}

#[test]
fn forecast_and_causal_panels_scroll_at_80x24_so_nothing_is_cut() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":600}
{"op":"key","keys":"j<Tab><Tab><Tab><Tab><Tab>a"}"#,
        )
        .expect("runs");
    let (lines, said_more) = scroll_through(&mut replay);
    assert!(said_more, "the panel says more is below");
    for arm in ["d5", "d10", "d20"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("{arm} vs control"))),
            "{arm} missing: {lines:#?}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("incremental profit"))
            .count(),
        3,
        "every arm's profit: {lines:#?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("note:")), "{lines:#?}");
    // G jumps to the end and the end says so.
    replay.run(r#"{"op":"key","keys":"gG"}"#).expect("keys");
    assert!(replay.screen().contains("end"), "{}", replay.screen());

    replay
        .run(r#"{"op":"key","keys":"<BackTab>c"}"#)
        .expect("causal");
    let (lines, _) = scroll_through(&mut replay);
    for arm in ["d5", "d10", "d20"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("balance {arm}:"))),
            "balance of {arm} missing: {lines:#?}"
        );
    }
}

#[test]
fn live_ab_keeps_every_column_at_80_columns_and_leaves_no_empty_rows() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":120}
{"op":"key","keys":"j<Enter>"}"#,
        )
        .expect("runs");
    let text = replay.screen();
    for col in [
        "units",
        "value",
        "lift",
        "always-valid CI",
        "Pbeat",
        "Pbest",
        "risk",
    ] {
        assert!(text.contains(col), "{col} missing:\n{text}");
    }
    let d5 = text
        .lines()
        .find(|l| l.starts_with("│d5 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        d5.matches('%').count() >= 6,
        "value, lift, CI, P(beat), P(best) all filled: {d5}"
    );
    // No run of empty table rows inside the table box.
    let table_end = text
        .lines()
        .position(|l| l.starts_with('└'))
        .expect("table box");
    assert!(
        text.lines()
            .take(table_end)
            .all(|l| !l.trim_matches(|c| c == '│' || c == ' ').is_empty()),
        "{text}"
    );
}

#[test]
fn the_footer_shows_every_key_of_each_panel_and_help_always() {
    let (_dir, store) = shop(3, 20);
    let mut app = app_on(&store, false);
    for panel in Panel::ALL {
        app.panel = panel;
        let text = screen(&app);
        let footer: String = text.lines().skip(22).collect::<Vec<_>>().join(" ");
        assert!(footer.starts_with("? help"), "{panel:?}: {footer}");
        for b in BINDINGS.iter().filter(|b| b.panels.contains(&panel)) {
            assert!(
                footer.contains(&format!("{} {}", b.key, b.short)),
                "{panel:?} footer lacks {} {}: {footer}",
                b.key,
                b.short
            );
        }
        assert_eq!(keys::footer(panel)[0].key, "?");
    }
}

#[test]
fn the_chart_has_a_character_per_arm_and_a_legend_naming_all_four_arms() {
    let mut replay = Replay::new((120, 40), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":9000,"seconds":1800}
{"op":"key","keys":"j<Enter>"}"#,
        )
        .expect("runs");
    let text = replay.screen();
    let lines: Vec<&str> = text.lines().collect();
    let legend = lines
        .iter()
        .position(|l| l.contains("o control") && l.contains("+ d5"))
        .unwrap_or_else(|| panic!("no legend:\n{text}"));
    for arm in ["o control", "+ d5", "x d10", "# d20"] {
        assert!(lines[legend].contains(arm), "{arm}: {}", lines[legend]);
    }
    // The plot lies below the legend row, which holds no data.
    let plot: String = lines[legend + 1..]
        .iter()
        .take_while(|l| !l.contains("minutes"))
        .map(|l| l.split_once('│').map_or("", |x| x.1))
        .map(|l| l.split_once('│').map_or(l, |x| x.1))
        .collect();
    let marks: BTreeSet<char> = plot.chars().filter(|c| "o+x#".contains(*c)).collect();
    assert!(
        marks.len() >= 3,
        "distinct arm characters in the plot: {marks:?}\n{text}"
    );
}

#[test]
fn prompts_are_bound_to_their_campaign_and_illegal_moves_are_refused_before_asking() {
    let (_dir, mut store) = shop(3, 20);
    let mut app = app_on(&store, false);
    // `s` on a running campaign: refused, nothing to confirm.
    assert!(app.update(ch('s')).is_empty());
    assert!(app.pending.is_none());
    assert!(
        app.status_line.contains("cannot start c-00: it is running"),
        "{}",
        app.status_line
    );
    assert!(app.update(ch('y')).is_empty());
    // Esc clears the prompt line.
    app.update(ch('x'));
    assert!(screen(&app).contains("stop c-00? press y"));
    app.update(key(KeyCode::Esc));
    assert!(!screen(&app).contains("press y"), "{}", screen(&app));
    assert!(app.update(ch('y')).is_empty());
    // Moving the selection cancels the prompt: `y` cannot act on another campaign.
    app.update(ch('x'));
    app.update(ch('j'));
    reload(&store, &mut app, NOW);
    assert_eq!(app.selected_key.as_deref(), Some("c-01"));
    assert!(
        app.update(ch('y')).is_empty(),
        "the prompt went with the selection"
    );
    assert!(
        app.status_line.contains("prompt cancelled"),
        "{}",
        app.status_line
    );
    // A refresh that makes the move illegal (another operator stopped it) cancels too.
    app.update(ch('p'));
    liftdeck::app::set_status(&mut store, &test_env(), "c-01", Status::Stopped).expect("stop");
    reload(&store, &mut app, NOW);
    assert!(app.pending.is_none());
    assert!(
        app.status_line.contains("c-01 is now stopped"),
        "{}",
        app.status_line
    );
    // A refresh that changes nothing keeps the prompt on the campaign it names.
    app.update(ch('k'));
    reload(&store, &mut app, NOW);
    app.update(ch('x'));
    reload(&store, &mut app, NOW);
    assert_eq!(
        app.update(ch('y')),
        vec![Effect::SetStatus {
            campaign: "c-00".into(),
            to: Status::Stopped
        }]
    );
}

#[test]
fn help_closes_on_any_key_without_acting_q_included_and_ctrl_c_quits() {
    let (_dir, store) = shop(3, 20);
    let mut app = app_on(&store, false);
    for closing in [ch('q'), ch('z'), ch('x'), key(KeyCode::F(5))] {
        app.update(ch('?'));
        assert!(app.show_help);
        assert!(app.update(closing).is_empty());
        assert!(!app.show_help, "any key closes help");
        assert!(!app.quit, "q in help closes help");
        assert!(app.pending.is_none(), "the closing key does nothing else");
    }
    app.update(ch('n'));
    assert!(app.form.is_some());
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(app.quit, "Ctrl-c quits, even from the form");
}

/// A retrain of `broken` run on the store, its summary as the console would receive it.
pub(crate) fn retrain(store: &mut Store, cancel: bool) -> JobEnd {
    let flag = AtomicBool::new(cancel);
    jobs::run_on(
        store,
        &test_env(),
        &JobSettings::default(),
        JobKind::Retrain,
        "broken",
        &flag,
        &|_| {},
    )
    .into()
}

pub(crate) fn on_models(store: &Store) -> App {
    let mut app = app_on(store, false);
    app.update(ch('G'));
    reload(store, &mut app, NOW);
    for _ in 0..3 {
        app.update(key(KeyCode::Tab));
    }
    assert_eq!(app.panel, Panel::Models);
    app
}

#[test]
fn job_results_survive_a_cancelled_rerun_and_a_restart() {
    let (_dir, mut store) = shop(2, 300);
    let mut app = on_models(&store);
    // r opens the learner choice, Enter starts the retrain.
    assert!(app.update(ch('r')).is_empty());
    assert_eq!(app.update(key(KeyCode::Enter)).len(), 1);
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::Retrain,
        campaign: "broken".into(),
        end: retrain(&mut store, false),
    }));
    assert!(screen(&app).contains("holdout log loss"));
    reload(&store, &mut app, NOW);
    let text = screen(&app);
    assert!(text.contains("last run: done"), "{text}");
    assert!(
        !text.contains("showing the result of the run at"),
        "the newest run's own result needs no note:\n{text}"
    );
    // A second run, cancelled: its row records the cancel and holds no result of its own.
    app.update(ch('r'));
    app.update(key(KeyCode::Enter));
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::Retrain,
        campaign: "broken".into(),
        end: retrain(&mut store, true),
    }));
    let newest = store.latest_jobs("broken").expect("jobs");
    let newest = newest
        .iter()
        .find(|j| j.kind == "retrain")
        .expect("retrain row");
    assert_eq!(newest.status, "cancelled");
    assert_eq!(
        newest.result, None,
        "no result copied onto the cancelled row"
    );
    let done = store.latest_done_jobs("broken").expect("done jobs");
    let done = done.iter().find(|j| j.kind == "retrain").expect("done row");
    assert!(done.id < newest.id && done.result.is_some(), "{done:?}");
    let done_at = liftdeck::clock::format_rfc3339(done.finished_at.expect("finished"));
    reload(&store, &mut app, NOW);
    let text = screen(&app);
    assert!(text.contains("cancelled"), "{text}");
    assert!(
        text.contains("holdout log loss"),
        "previous result kept:\n{text}"
    );
    assert!(
        text.contains(&format!("showing the result of the run at {done_at}")),
        "{text}"
    );
    // A restarted console reads the newest run's status and the last done result from the
    // jobs table.
    let restarted = on_models(&store);
    let text = screen(&restarted);
    assert!(text.contains("last run: cancelled"), "{text}");
    assert!(
        text.contains(&format!("showing the result of the run at {done_at}")),
        "{text}"
    );
    assert!(text.contains("holdout log loss"), "{text}");
}

#[test]
fn read_only_badge_stays_and_freshness_and_stale_follow_the_tick() {
    let (_dir, store) = shop(3, 20);
    let mut app = app_on(&store, true);
    app.update(key(KeyCode::Tab));
    app.update(Msg::Done(Err("some other message".into())));
    let text = screen(&app);
    assert!(
        text.lines().nth(1).is_some_and(|l| l.contains("READ-ONLY")),
        "{text}"
    );
    assert!(text.contains("updated 0 s ago"), "{text}");
    // An idle console: no new data, only ticks. The tick reads nothing.
    assert!(app.update(Msg::Tick(NOW + 42_000_000)).is_empty());
    assert!(screen(&app).contains("updated 42 s ago"));
    app.update(key(KeyCode::BackTab));
    assert!(!screen(&app).contains("STALE"));
    assert!(app.update(Msg::Tick(NOW + 20 * 60_000_000)).is_empty());
    let text = screen(&app);
    assert!(text.contains("! STALE"), "the feed stopped:\n{text}");
    // Critical and warning badges differ in symbols as well as colour.
    let broken = text
        .lines()
        .find(|l| l.contains("broken"))
        .unwrap_or_default();
    assert!(broken.contains("!! SRM"), "{broken}");
    let fair = text
        .lines()
        .find(|l| l.contains("c-00"))
        .unwrap_or_default();
    assert!(fair.contains("! STALE") && !fair.contains("!!"), "{fair}");
    assert!(text
        .lines()
        .nth(1)
        .is_some_and(|l| l.contains("!! 1 CRIT") && l.contains("! 2 WARN")));
}

#[test]
fn days_run_on_the_consoles_clock_and_the_demo_says_when_it_ends() {
    let (_dir, store) = shop(2, 20);
    let mut app = app_on(&store, false);
    let started = app.snapshot.campaigns[0]
        .campaign
        .started_at
        .expect("started");
    app.demo_until = Some(NOW + 30_000_000);
    app.update(Msg::Tick(started + 2 * 86_400_000_000));
    let text = screen(&app);
    let row = selected_line(&text).unwrap_or_default();
    assert!(
        row.contains(" 2.0 "),
        "two days on the console's clock: {row}"
    );
    assert!(text.contains("demo traffic ended"), "{text}");
    let mut fresh = app_on(&store, false);
    fresh.demo_until = Some(NOW + 30_000_000);
    let text = screen(&fresh);
    assert!(
        text.contains("demo traffic ends") && text.contains("(in 30 s)"),
        "{text}"
    );
}

#[test]
fn app_does_not_reach_up_into_tui_and_keys_do_not_reach_into_state() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(root.join("app")).expect("src/app") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read");
            assert!(!text.contains("crate::tui"), "{} uses tui", path.display());
        }
    }
    let keys = std::fs::read_to_string(root.join("tui/keys.rs")).expect("keys.rs");
    assert!(!keys.contains("state"), "keys.rs depends on state");
    assert!(!root.join("tui/data.rs").exists());
    let view: String = [
        "view.rs",
        "view_campaigns.rs",
        "view_ab.rs",
        "view_forecast.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(root.join("tui").join(f)).expect("view"))
    .collect();
    assert!(
        !view.contains("badge == \""),
        "the view compares typed badges"
    );
}

#[test]
fn the_readme_keys_table_is_the_binding_table() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let section = readme
        .split("### Keys")
        .nth(1)
        .and_then(|s| s.split("\n### ").next())
        .expect("a Keys section");
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with("| `")).collect();
    let want: Vec<String> = BINDINGS
        .iter()
        .map(|b| {
            let scope = if b.panels.is_empty() {
                "everywhere".to_string()
            } else {
                b.panels
                    .iter()
                    .map(|p| p.title())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("| `{}` | {scope} | {} |", b.key, b.help)
        })
        .collect();
    assert_eq!(
        rows, want,
        "README's console keys table and src/tui/keys.rs disagree"
    );
}

/// The console's Live A/B report is built from the same options as `report ab` and `health`
/// (`app::report::options_for`): a guardrail the campaign tolerates is not breached on screen.
#[test]
fn the_console_report_honours_the_campaigns_guardrail_margin() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = temp_db(&dir, "margin.db");
    let text = guardrail_lines("tolerant", "running", r#"{"guardrail_margin":0.2}"#)
        + &guardrail_lines("strict", "running", "{}");
    ingest_str(&mut store, &text, Format::Jsonl, 1000);
    let breached = |key: &str| {
        let focus = liftdeck::app::snapshot::Focus {
            campaign: Some(key.into()),
            ..Default::default()
        };
        let snap = load_snapshot(&store, &focus, NOW, NOW, STALE).expect("snapshot");
        let report = snap.report.expect("report of the focused campaign");
        assert_eq!(report.guardrails.len(), 1);
        report.guardrails[0].breached
    };
    assert!(!breached("tolerant"), "a 20% margin tolerates a 9% harm");
    assert!(breached("strict"));
}
