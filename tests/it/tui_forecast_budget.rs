//! The Forecast panel's `B`: the budget allocation for the plan in the form runs in the
//! background and fills the panel's cost curve; its budget is the plan forecast's cost (the
//! form names no budget), and the status line says so.

use liftdeck::jobs::{JobEnd, JobKind, JobUpdate};
use liftdeck::tui::{screen_text, App, Effect, Msg, Panel};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

#[test]
fn b_sends_the_forms_plan_to_the_budget_and_a_failure_is_named_on_the_panel() {
    let mut app = App::new(true);
    app.panel = Panel::Forecast;
    let effects = app.update(key(KeyCode::Char('B')));
    let [Effect::BudgetPlan(plan)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(plan.name, "draft");
    assert!(app.status_line.contains("budget of plan draft started"));
    // A second B while it runs starts nothing.
    assert!(app.update(key(KeyCode::Char('B'))).is_empty());
    assert!(app.status_line.contains("already running"));
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::PlanBudget,
        campaign: "draft".into(),
        end: JobEnd::Failed("no usable history: too few units".into()),
    }));
    let screen = screen_text(&app, 80, 24);
    assert!(
        screen.contains("! FAILED: the budget of plan draft did not run"),
        "{screen}"
    );
    assert!(app.forecast.cost_curve.is_none());
}

#[test]
fn a_replayed_b_fills_the_cost_curve_from_the_simulated_shop() {
    let mut replay = liftdeck::replay::Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":300,"seconds":60}
{"op":"key","keys":"<Tab><Tab><Tab><Tab><Tab>B"}"#,
        )
        .expect("runs");
    let app = replay.app();
    let curve = app
        .forecast
        .cost_curve
        .clone()
        .expect("the curve is filled");
    assert!(curve.len() >= 2, "{curve:?}");
    for p in &curve {
        assert!(p.low <= p.orders && p.orders <= p.high, "{p:?}");
    }
    assert!(curve.windows(2).all(|w| w[0].spend <= w[1].spend + 1e-9));
    let status = &app.status_line;
    assert!(
        status.contains("budget of plan draft at")
            && status.contains("the cost of the plan's forecast"),
        "{status}"
    );
    let text = liftdeck::tui::view_forecast::lines(app, 78)
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!text.contains("not computed yet"), "{text}");
    assert!(
        text.lines().filter(|l| l.contains("+$")).count() >= 2,
        "{text}"
    );
}
