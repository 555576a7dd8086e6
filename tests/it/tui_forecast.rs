//! The console's Forecast panel (issue 12): the plan form (`e`), `F` forecasting the plan as a
//! background job, each quantity's interval drawn as a text bar, plan A pinned (`P`) beside
//! plan B, the budget cost curve and ledger areas, and the old ship-an-arm forecast on `a`.
//! Screens are drawn at 80x24 with the monochrome theme: everything reads from symbols/words.

use liftdeck::domain::Offer;
use liftdeck::forecast::projection::{
    Band, CostSplit, HoldoutAdvice, PlanForecast, SupportWarning, Training,
};
use liftdeck::jobs::{JobEnd, JobKind, JobOutput, JobUpdate};
use liftdeck::tui::plan_form::{CostPoint, LedgerScore};
use liftdeck::tui::view_forecast::interval_bar;
use liftdeck::tui::{screen_text, App, Effect, Msg, Panel};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| app.update(key(KeyCode::Char(c))))
        .collect()
}

fn band(value: f64, spread: f64) -> Band {
    Band {
        value,
        low_80: value - spread,
        high_80: value + spread,
        low_95: value - 2.0 * spread,
        high_95: value + 2.0 * spread,
    }
}

/// A hand-made forecast of `pct`% off: deeper discounts add orders and cost more.
fn forecast(name: &str, pct: f64) -> PlanForecast {
    let orders = 40.0 * pct;
    let cost = 300.0 * pct;
    let profit = 2_000.0 - 8.0 * pct * pct;
    PlanForecast {
        plan: name.into(),
        offer: Offer::Discount { pct },
        offer_type: "discount".into(),
        audience: "segment=new".into(),
        reach: band(14_000.0, 500.0),
        conversions_without: band(700.0, 40.0),
        conversions_with: band(700.0 + orders, 60.0),
        incremental_conversions: band(orders, orders / 4.0),
        incremental_revenue: band(30.0 * orders, 8.0 * orders),
        cost: band(cost, cost / 10.0),
        incremental_profit: band(profit, 900.0),
        roi: Some(band(profit / cost, 0.3)),
        split: CostSplit {
            subsidy: band(0.8 * cost, 10.0),
            cost_on_incremental: band(0.2 * cost, 5.0),
            margin_on_incremental: band(20.0 * orders, 50.0),
        },
        segments: vec![],
        warnings: vec![SupportWarning::DepthOutsideTested {
            depth: pct,
            tested_min: 5.0,
            tested_max: 15.0,
            message: format!("{pct}% is outside the tested 5%..15%: interval widened"),
        }],
        recalibration: None,
        holdout: Some(HoldoutAdvice {
            holdout: 0.1,
            power: 0.55,
            assurance: 0.5,
            holdout_needed: Some(0.2),
            warnings: vec![],
        }),
        ledger: None,
        training: Training::default(),
        incremental_conversion_draws: vec![],
    }
}

fn finished(app: &mut App, f: PlanForecast) {
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::PlanForecast,
        campaign: f.plan.clone(),
        end: JobEnd::Done(JobOutput::PlanForecast(Box::new(f))),
    }));
}

fn forecast_panel() -> App {
    let mut app = App::new(false);
    app.panel = Panel::Forecast;
    app
}

#[test]
fn an_interval_bar_draws_95_80_and_the_point_on_its_axis() {
    let bar = interval_bar(&band(50.0, 10.0), 0.0, 100.0, 21);
    assert_eq!(bar.chars().count(), 21);
    // 95% = 30..70 (cells 6..14), 80% = 40..60 (cells 8..12), point at 50 (cell 10), zero at 0.
    assert_eq!(bar, "┊     ──━━●━━──      ");
    // A loss sits left of zero.
    let loss = interval_bar(&band(-20.0, 5.0), -40.0, 40.0, 9);
    assert!(loss.find('●') < loss.find('┊'), "{loss}");
}

#[test]
fn a_result_shows_each_quantity_as_a_bar_with_numbers_and_warnings_as_words() {
    let mut app = forecast_panel();
    finished(&mut app, forecast("ten-off", 10.0));
    let screen = screen_text(&app, 80, 24);
    for want in [
        "incr. orders",
        "cost",
        "incr. profit",
        "ROI",
        "●",
        "━",
        "─",
        "+400",
        "! WARNING 10% is outside",
    ] {
        assert!(screen.contains(want), "{want} missing:\n{screen}");
    }
    insta::assert_snapshot!("forecast_plan_result_80x24", screen);
}

#[test]
fn a_pinned_plan_a_sits_beside_plan_b_on_one_axis() {
    let mut app = forecast_panel();
    finished(&mut app, forecast("ten-off", 10.0));
    app.update(key(KeyCode::Char('P')));
    assert!(app.status_line.contains("pinned `ten-off` as plan A"));
    finished(&mut app, forecast("twenty-off", 20.0));
    let screen = screen_text(&app, 80, 24);
    assert!(screen.contains("A ten-off (10% discount) vs B twenty-off (20% discount)"));
    // Deeper: more orders, less profit.
    assert!(
        screen.contains("B vs A: more orders (+400), more cost (+$3.0k), less profit"),
        "{screen}"
    );
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("incr. orders") || l.contains("              B"))
        .collect();
    assert!(rows.len() >= 2, "{screen}");
    // One axis: B's point (800) lies right of A's (400).
    let at = |l: &str| l.chars().position(|c| c == '●');
    assert!(at(rows[0]) < at(rows[1]), "{rows:?}");
    insta::assert_snapshot!("forecast_plan_compare_80x24", screen);
}

#[test]
fn pinning_with_nothing_forecast_says_so() {
    let mut app = forecast_panel();
    app.update(key(KeyCode::Char('P')));
    assert!(app.status_line.contains("nothing to pin yet"));
    assert!(app.forecast.pinned.is_none());
}

#[test]
fn cost_curve_and_ledger_say_not_computed_until_fed_then_draw_the_data() {
    let mut app = forecast_panel();
    app.size = (80, 24);
    let lines = |app: &App| {
        liftdeck::tui::view_forecast::lines(app, 78)
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = lines(&app);
    assert!(before.contains("budget cost curve"));
    assert!(before.contains("not computed yet"));
    assert!(before.contains("no reviewed forecast of this offer type yet"));
    app.forecast.cost_curve = Some(vec![
        CostPoint {
            spend: 1_000.0,
            orders: 50.0,
            low: 30.0,
            high: 70.0,
        },
        CostPoint {
            spend: 4_000.0,
            orders: 120.0,
            low: 80.0,
            high: 160.0,
        },
    ]);
    app.forecast.ledger = Some(LedgerScore {
        coverage_80: 0.75,
        coverage_95: 0.92,
        n: 12,
    });
    let after = lines(&app);
    assert!(!after.contains("not computed yet"), "{after}");
    assert!(after.contains("80% intervals held 75% and 95% held 92% of 12 outcomes"));
    let curve: Vec<&str> = after.lines().filter(|l| l.contains("+$")).collect();
    assert!(curve
        .iter()
        .any(|l| l.contains("+$1.0k") && l.contains("+50")));
    assert!(curve
        .iter()
        .any(|l| l.contains("+$4.0k") && l.contains("+120")));
    // Shared axis: the bigger spend's point is further right.
    let at = |s: &str| {
        curve
            .iter()
            .find(|l| l.contains(s))
            .and_then(|l| l.find('●'))
    };
    assert!(at("+$1.0k") < at("+$4.0k"), "{curve:?}");
    insta::assert_snapshot!(
        "forecast_plan_curve_ledger_80x24",
        screen_text(&app, 80, 24)
    );
}

#[test]
fn the_form_edits_fields_and_f_forecasts_the_plan_it_describes() {
    let mut app = forecast_panel();
    assert!(app.update(key(KeyCode::Char('e'))).is_empty());
    assert!(app.forecast.editing);
    let screen = screen_text(&app, 80, 24);
    assert!(screen.contains(">      name: _"), "{screen}");
    assert!(
        screen.contains("(discount; or coupon, recommend)"),
        "{screen}"
    );
    // Keys go to the form, not the panel: `F` and `P` are letters of the name.
    assert!(typed(&mut app, "xFP").is_empty());
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Tab));
    typed(&mut app, "coupon");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "20");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "segment=new,device=mobile|tablet");
    app.update(key(KeyCode::Tab));
    typed(&mut app, "500");
    insta::assert_snapshot!("forecast_plan_form_80x24", screen_text(&app, 80, 24));
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(!app.forecast.editing);
    let effects = app.update(key(KeyCode::Char('F')));
    let [Effect::ForecastPlan(plan)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(plan.name, "xF");
    assert_eq!(plan.offer, Offer::Coupon { pct: 20.0 });
    assert_eq!(
        plan.audience.describe(),
        "device in {mobile, tablet}, segment=new"
    );
    assert_eq!(plan.traffic.expected_users(), 500.0 * 14.0);
    assert!(app.status_line.contains("forecast of plan xF started"));
    // Running: a second F waits, Esc cancels this job.
    assert!(app.update(key(KeyCode::Char('F'))).is_empty());
    assert!(app.status_line.contains("already running"));
    assert_eq!(
        app.update(key(KeyCode::Esc)),
        vec![Effect::CancelJob(JobKind::PlanForecast)]
    );
}

#[test]
fn a_bad_plan_is_named_under_its_field_and_nothing_is_forecast() {
    let mut app = forecast_panel();
    app.update(key(KeyCode::Char('e')));
    for _ in 0..5 {
        app.update(key(KeyCode::Tab));
    }
    typed(&mut app, "400");
    app.update(key(KeyCode::Esc));
    assert!(!app.forecast.editing);
    assert!(app.update(key(KeyCode::Char('F'))).is_empty());
    assert!(app.forecast.editing, "the form opens on the problem");
    assert!(app
        .status_line
        .contains("1 problem(s) in the plan: nothing forecast"));
    let screen = screen_text(&app, 80, 24);
    assert!(screen.contains(">      days: 400_"), "{screen}");
    assert!(screen.contains("! a duration of 0 to 366 days"), "{screen}");
}

#[test]
fn the_forecasters_refusal_is_the_jobs_failure_message() {
    let mut app = forecast_panel();
    let effects = app.update(key(KeyCode::Char('F')));
    assert!(matches!(effects.as_slice(), [Effect::ForecastPlan(_)]));
    app.update(Msg::Job(JobUpdate::Finished {
        kind: JobKind::PlanForecast,
        campaign: "draft".into(),
        end: JobEnd::Failed("no randomised campaigns to learn from".into()),
    }));
    let screen = screen_text(&app, 80, 24);
    assert!(
        screen.contains("! FAILED: the forecast of plan draft did not run: no randomised"),
        "{screen}"
    );
    assert!(app.status_line.contains("failed"));
}

#[test]
fn a_read_only_session_forecasts_plans_and_a_still_ships_an_arm() {
    let mut app = App::new(true);
    app.panel = Panel::Forecast;
    assert!(matches!(
        app.update(key(KeyCode::Char('F'))).as_slice(),
        [Effect::ForecastPlan(_)]
    ));
    app.selected_key = Some("coupon-10".into());
    assert!(matches!(
        app.update(key(KeyCode::Char('a'))).as_slice(),
        [Effect::StartJob {
            kind: JobKind::Forecast,
            ..
        }]
    ));
}

#[test]
fn the_replayed_plan_forecast_keeps_no_job_row_and_a_puts_the_arms_first() {
    let mut replay = liftdeck::replay::Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":300,"seconds":60}
{"op":"key","keys":"<Tab><Tab><Tab><Tab><Tab>e<Tab><Tab>15<Enter>F"}"#,
        )
        .expect("runs");
    let screen = replay.screen();
    assert!(screen.contains("plan draft: 15% discount"), "{screen}");
    // The plan belongs to no stored campaign: the job does not look one up to record itself
    // (that would refuse it as `no campaign`), and nothing is recorded under its name.
    let status = &replay.app().status_line;
    assert!(status.contains("forecast_plan of draft"), "{status}");
    assert!(!status.contains("no campaign"), "{status}");
    let rows = replay.store().latest_jobs("draft").expect("jobs");
    assert!(rows.is_empty(), "{rows:?}");
    replay.run(r#"{"op":"key","keys":"a"}"#).expect("a");
    let first = replay
        .screen()
        .lines()
        .nth(3)
        .unwrap_or_default()
        .to_string();
    assert!(
        first.contains("plan forecast: F forecasts the plan"),
        "{first}"
    );
    replay.run(r#"{"op":"key","keys":"F"}"#).expect("F");
    assert!(replay.screen().contains("plan draft: 15% discount"));
}
