//! One number format in the console (issue 8 §3): every figure on the Live A/B table, its
//! banners and footer, the chart legend, the Bandit panel, the campaign list and the job
//! panels is what `liftdeck::format` makes of the same value, and the same string the CLI's
//! `report ab` prints for it. A p-value reads `<0.0001`, never `p = <0.0001` or `3.1e-21`.

use crate::console_trust::{app_on, ch, reload, screen, shop, NOW};
use liftdeck::app::report::{format_text, options_for, report_ab, Capping, ReportOverrides};
use liftdeck::format;
use liftdeck::jobs::{JobKind, JobOutput};
use liftdeck::replay::Replay;
use liftdeck::stats::ab::{AbReport, ArmRow, Metric};
use liftdeck::store::Store;
use liftdeck::tui::{screen_text, App, Panel};

/// The figures of one arm as `liftdeck::format` shows them, in table order.
fn expected_cells(a: &ArmRow, fixed: bool) -> Vec<String> {
    let (lo, hi, p) = if fixed {
        (a.ci_low, a.ci_high, a.p_value)
    } else {
        (a.seq_ci_low, a.seq_ci_high, a.seq_p_value)
    };
    vec![
        format::count(a.units),
        format::opt(a.rate, format::rate),
        format::opt(a.rel_lift, format::lift),
        format::interval(lo, hi, format::lift),
        format::opt(p, format::p_value),
        format::opt(a.chance_to_beat_control, format::probability),
        format::opt(a.prob_best, format::probability),
        format::opt(a.expected_loss, format::rate),
    ]
}

/// The screen row of `arm` in the Live A/B table, split into its cells (an interval
/// `[a, b]` is one cell).
fn table_row(text: &str, arm: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.trim_start_matches('│').split_whitespace().next() == Some(arm))
        .unwrap_or_else(|| panic!("no row for {arm}:\n{text}"));
    let mut rest = line.trim_matches('│').trim();
    let mut cells = Vec::new();
    while !rest.is_empty() {
        let end = if rest.starts_with('[') {
            rest.find(']').map_or(rest.len(), |i| i + 1)
        } else {
            rest.find(' ').unwrap_or(rest.len())
        };
        cells.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    cells.into_iter().skip(1).collect()
}

/// The CLI's `report ab` line for `arm` in its text report.
fn cli_line<'a>(cli: &'a str, arm: &str) -> &'a str {
    cli.lines()
        .find(|l| l.split_whitespace().next() == Some(arm))
        .unwrap_or_else(|| panic!("no CLI line for {arm}:\n{cli}"))
}

fn cli_report(store: &Store, campaign: &str, report: &AbReport) -> String {
    let (spec, _) = store.campaign(campaign).expect("campaign");
    let outputs = report_ab(
        store,
        campaign,
        report.metric,
        &options_for(&spec.spec, &ReportOverrides::default()).expect("options"),
        Capping::None,
        None,
    )
    .expect("report");
    format_text(&outputs)
}

fn assert_table_matches(app: &App, text: &str, store: Option<&Store>) {
    let report = app.snapshot.report.as_ref().expect("a report");
    let cli = store.map(|s| cli_report(s, &report.campaign, report));
    for a in &report.arms {
        let want = expected_cells(a, app.fixed_horizon);
        assert_eq!(table_row(text, &a.key), want, "{}:\n{text}", a.key);
        if let Some(cli) = &cli {
            let line = cli_line(cli, &a.key);
            for cell in &want {
                assert!(line.contains(cell.as_str()), "CLI lacks {cell}: {line}");
            }
        }
    }
}

#[test]
fn live_ab_shows_every_figure_as_format_and_the_cli_do_at_80_and_120_columns() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":600}
{"op":"key","keys":"j<Enter>"}"#,
        )
        .expect("runs");
    let text = replay.screen();
    assert_table_matches(replay.app(), &text, None);
    assert_eq!(replay.app().panel, Panel::Ab);
    let wide = screen_text(replay.app(), 120, 40);
    assert_table_matches(replay.app(), &wide, None);
    // Fixed horizon: the other interval and the p-value of its test.
    replay.run(r#"{"op":"key","keys":"f"}"#).expect("f");
    let text = replay.screen();
    assert!(text.contains("95% CI (fixed)"), "{text}");
    assert_table_matches(replay.app(), &text, None);
}

#[test]
fn the_console_and_report_ab_print_the_same_strings_and_the_srm_p_reads_one_way() {
    let (_dir, store) = shop(2, 1000);
    let mut app = app_on(&store, false);
    app.update(ch('G'));
    reload(&store, &mut app, NOW);
    app.update(ch('\n'));
    app.panel = Panel::Ab;
    let text = screen(&app);
    let report = app.snapshot.report.as_ref().expect("report");
    assert_eq!(report.campaign, "broken");
    assert!(report.srm.alarm);
    assert_table_matches(&app, &text, Some(&store));
    let srm = format::p_value_phrase(report.srm.p_value.expect("srm p"));
    assert_eq!(srm, "p < 0.0001");
    assert!(
        text.contains(&format!(
            "!! SRM ALARM: units per arm do not match the weights ({srm})"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("SRM ALARM {srm}")), "footer: {text}");
    for bad in ["p = <", "p=<", "e-"] {
        assert!(!text.contains(bad), "{bad}:\n{text}");
    }
    // The list's units carry thousands separators.
    app.panel = Panel::Campaigns;
    let text = screen(&app);
    let units = app.snapshot.row("broken").expect("row").units;
    assert!(units >= 1000);
    let row = text
        .lines()
        .find(|l| l.contains("broken"))
        .expect("broken row");
    assert!(row.contains(&format::count(units)), "{row}");
}

#[test]
fn bandit_shares_and_job_panels_use_the_one_format() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":600}
{"op":"key","keys":"j<Tab><Tab>"}"#,
        )
        .expect("runs");
    let app = replay.app();
    assert_eq!(app.panel, Panel::Bandit);
    let text = replay.screen();
    let row = app.selected_campaign().expect("selected");
    let total: f64 = row.arms.iter().map(|a| a.weight).sum();
    for a in &row.arms {
        // Each arm's row starts with its chart character, then its key (the Bandit panel).
        let line = text
            .lines()
            .find(|l| {
                l.trim_start_matches('│')
                    .get(2..)
                    .is_some_and(|r| r.starts_with(&format!("{} ", a.key)))
            })
            .unwrap_or_else(|| panic!("{}:\n{text}", a.key));
        for want in [
            format::rate(a.weight / total),
            format::count(a.rollup.units),
        ] {
            assert!(line.contains(&want), "{want} in {line}");
        }
    }
    // The causal report: differences of rates as signed percentages, money per unit with
    // its symbol, p-values in four decimals.
    replay
        .run(r#"{"op":"key","keys":"<Tab><Tab>c"}"#)
        .expect("causal");
    let text = replay.screen();
    assert!(text.contains("conversion (vs control)"), "{text}");
    let conversion = text
        .lines()
        .skip_while(|l| !l.contains("conversion (vs control)"))
        .nth(1)
        .expect("first arm");
    assert!(
        conversion.contains("IPW ") && conversion.contains("%") && conversion.contains(" p "),
        "{conversion}"
    );
    let p = conversion
        .split(" p ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("p");
    assert!(
        p == "<0.0001" || (p.len() == 6 && p.starts_with("0.")),
        "{p}"
    );
    assert!(text.contains("IPW +$") || text.contains("IPW -$"), "{text}");
    // The forecast at 80 columns: projections abbreviated, ROI a percentage.
    replay
        .run(r#"{"op":"key","keys":"<Tab>a"}"#)
        .expect("forecast");
    let mut seen = String::new();
    for _ in 0..10 {
        seen.push_str(&replay.screen());
        replay.run(r#"{"op":"key","keys":"<PgDn>"}"#).expect("page");
    }
    let revenue = seen
        .lines()
        .find(|l| l.contains("incremental revenue"))
        .expect("revenue");
    assert!(
        revenue.contains("M") || revenue.contains("k"),
        "abbreviated: {revenue}"
    );
    let grouped = revenue
        .as_bytes()
        .windows(2)
        .any(|w| w[0] == b',' && w[1].is_ascii_digit());
    assert!(!grouped, "no full grouped amounts: {revenue}");
    let roi = seen.lines().find(|l| l.contains("ROI")).expect("roi");
    assert!(roi.contains('%'), "{roi}");
    // On a wide screen the forecast is the CLI's text exactly.
    let wide = screen_text(replay.app(), 120, 60);
    let forecast = match &replay.app().job(liftdeck::jobs::JobKind::Forecast) {
        Some(j) => match j.result.as_ref().map(|r| &r.output) {
            Some(liftdeck::jobs::JobOutput::Forecast(f)) => {
                liftdeck::app::forecast::format_text_with(f, &format::NumberFormat::default())
            }
            other => panic!("{other:?}"),
        },
        None => panic!("no forecast"),
    };
    for line in forecast.lines().filter(|l| l.contains("incremental")) {
        assert!(wide.contains(line.trim_end()), "{line}\n{wide}");
    }
}

/// The result of this session's `kind` job in the replay's console.
fn job_output(replay: &Replay, kind: JobKind) -> JobOutput {
    replay
        .app()
        .job(kind)
        .and_then(|j| j.result.as_ref())
        .map(|r| r.output.clone())
        .unwrap_or_else(|| panic!("no {} result", kind.as_str()))
}

/// Every non-blank line of the CLI's text appears, whole, on the console's screen.
fn assert_cli_text_on_screen(cli: &str, screen: &str) {
    for line in cli.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            screen.contains(line.trim_end()),
            "the console lacks the CLI's line\n{line}\n{screen}"
        );
    }
}

#[test]
fn the_models_panel_and_liftdeck_train_print_one_text() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":600}
{"op":"key","keys":"<Tab><Tab><Tab>r<Enter>"}"#,
        )
        .expect("retrain");
    let JobOutput::Model(m) = job_output(&replay, JobKind::Retrain) else {
        panic!("not a model");
    };
    let cli = liftdeck::app::train::format_text(&m);
    // The CLI's figures are the one format's: rates as percentages, counts grouped.
    for want in [
        format::rate(m.predicted_rate),
        format::rate(m.observed_rate),
        format::lift(m.holdout_log_loss / m.base_rate_log_loss - 1.0),
        format::count(m.train_units as i64),
    ] {
        assert!(cli.contains(&want), "{want} in\n{cli}");
    }
    assert_cli_text_on_screen(&cli, &screen_text(replay.app(), 120, 40));
    assert_cli_text_on_screen(&cli, &screen_text(replay.app(), 80, 40));
}

/// The IPW figures of every arm on every outcome as `liftdeck::format` shows them: a
/// conversion effect as a signed percentage, revenue and profit per unit as signed money.
fn expected_effects(r: &liftdeck::app::causal::CausalReport) -> Vec<(String, [String; 3])> {
    let nf = format::NumberFormat::default();
    let mut out = Vec::new();
    for o in &r.outcomes {
        let show = |x: f64| {
            if o.outcome == "conversion" {
                format::lift(x)
            } else {
                nf.money_change(x)
            }
        };
        for a in &o.arms {
            if let Some(e) = &a.effect {
                out.push((
                    a.arm.clone(),
                    [
                        show(e.ipw_diff),
                        format::interval(Some(e.ipw_ci.0), Some(e.ipw_ci.1), show),
                        format::p_value(e.p_value),
                    ],
                ));
            }
        }
    }
    out
}

#[test]
fn the_causal_panel_and_report_causal_print_one_text() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":600}
{"op":"key","keys":"<Tab><Tab><Tab><Tab>c"}"#,
        )
        .expect("causal");
    let JobOutput::Causal(r) = job_output(&replay, JobKind::Causal) else {
        panic!("not a causal report");
    };
    let cli = liftdeck::app::causal::format_text(&r);
    let effects = expected_effects(&r);
    assert_eq!(effects.len(), 3, "one arm against control, three outcomes");
    // The CLI's table rows hold the one format's figures, in order.
    let rows: Vec<&str> = cli
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("coupon"))
        .collect();
    assert_eq!(rows.len(), effects.len(), "{cli}");
    for (row, (_, cells)) in rows.iter().zip(&effects) {
        for cell in cells {
            assert!(row.contains(cell.as_str()), "{cell} in {row}");
        }
    }
    // Wide, the console shows the CLI's text exactly; at 80 columns, each arm's line carries
    // the same figure strings.
    assert_cli_text_on_screen(&cli, &screen_text(replay.app(), 120, 90));
    let mut narrow = String::new();
    for _ in 0..4 {
        narrow.push_str(&replay.screen());
        replay.run(r#"{"op":"key","keys":"<PgDn>"}"#).expect("page");
    }
    let lines: Vec<&str> = narrow
        .lines()
        .map(|l| l.trim_matches('│').trim())
        .filter(|l| l.starts_with("coupon "))
        .collect();
    for (arm, [ipw, ci, p]) in &effects {
        let want = format!("{arm:<10} IPW {ipw} {ci} p {p}");
        assert!(lines.contains(&want.as_str()), "{want} in {lines:#?}");
    }
}

/// A running revenue campaign `rev` with units in `control` and `t` and none in `empty`.
fn revenue_shop() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tmp");
    let (_, mut store) = crate::common::temp_db(&dir, "r.db");
    let mut text = String::from(
        r#"{"type":"campaign","key":"rev","name":"revenue","kind":"ab","arms":[{"key":"control","weight":50.0},{"key":"t","weight":49.0},{"key":"empty","weight":1.0}],"control":"control","traffic":1.0,"metric":"revenue","seed":5,"status":"running"}"#,
    );
    text.push('\n');
    for i in 0..800 {
        let arm = if i % 2 == 0 { "control" } else { "t" };
        text.push_str(&format!(
            r#"{{"type":"assignment","campaign":"rev","unit":"u{i}","arm":"{arm}","propensity":0.5,"ts":"2026-11-01T12:00:00Z"}}"#
        ));
        text.push('\n');
        if i % 7 == 0 || (arm == "t" && i % 5 == 0) {
            let value = 1000.0 + (i % 13) as f64 * 37.5;
            text.push_str(&format!(
                r#"{{"type":"event","event_id":"e{i}","campaign":"rev","unit":"u{i}","kind":"purchase","value":{value},"ts":"2026-11-01T12:01:00Z"}}"#
            ));
            text.push('\n');
        }
    }
    crate::common::ingest_str(&mut store, &text, liftdeck::lines::Format::Jsonl, 5000);
    (dir, store)
}

/// A CLI row split like `table_row` splits a screen row, without the arm.
fn cli_cells(line: &str) -> Vec<String> {
    table_row(line, line.split_whitespace().next().unwrap_or(""))
}

#[test]
fn report_ab_and_the_live_table_print_the_same_cells_for_money_and_missing_figures() {
    let (_dir, store) = revenue_shop();
    let mut app = app_on(&store, false);
    app.update(ch('\n'));
    reload(&store, &mut app, NOW);
    app.panel = Panel::Ab;
    // `m` steps the Live A/B table through the metrics; revenue's value is money.
    for _ in 0..Metric::ALL.len() {
        if app.snapshot.report.as_ref().map(|r| r.metric) == Some(Metric::Revenue) {
            break;
        }
        app.update(ch('m'));
        reload(&store, &mut app, NOW);
    }
    let report = app.snapshot.report.clone().expect("report");
    assert_eq!(
        (report.campaign.as_str(), report.metric),
        ("rev", Metric::Revenue)
    );
    let cli = cli_report(&store, "rev", &report);
    for fixed in [false, true] {
        if fixed {
            app.update(ch('f'));
        }
        assert_eq!(app.fixed_horizon, fixed);
        let text = screen_text(&app, 140, 40);
        for a in &report.arms {
            // CLI: units value lift CI p seq-CI seq-p P(beat) P(best) risk adj-p.
            let c = cli_cells(cli_line(&cli, &a.key));
            assert_eq!(c.len(), 11, "{c:?}");
            let (ci, p) = if fixed { (3, 4) } else { (5, 6) };
            let want: Vec<String> = [0, 1, 2, ci, p, 7, 8, 9]
                .iter()
                .map(|&i| c[i].clone())
                .collect();
            assert_eq!(table_row(&text, &a.key), want, "{}:\n{cli}\n{text}", a.key);
        }
    }
    // The value of a money metric is money; an arm without units shows `-`, never 0 or 50%.
    let control = cli_cells(cli_line(&cli, "control"));
    assert!(control[1].starts_with('$'), "{control:?}");
    let empty = cli_cells(cli_line(&cli, "empty"));
    assert_eq!(empty[0], "0");
    assert!(empty[1..].iter().all(|c| c == "-"), "{empty:?}");
}

#[test]
fn the_forecast_panel_at_80_columns_is_the_forecast_renderer_at_that_width() {
    let mut replay = Replay::new((80, 24), false).expect("replay");
    replay
        .run(
            r#"{"op":"sim","seed":7,"shoppers":3000,"seconds":600}
{"op":"key","keys":"<Tab><Tab><Tab><Tab><Tab>a"}"#,
        )
        .expect("forecast");
    let JobOutput::Forecast(f) = job_output(&replay, JobKind::Forecast) else {
        panic!("not a forecast");
    };
    let nf = format::NumberFormat::default();
    let cli = liftdeck::app::forecast::format_text_with(&f, &nf);
    let narrow = liftdeck::app::forecast::format_text_for_width(&f, &nf, 78);
    let mut seen = String::new();
    for _ in 0..6 {
        seen.push_str(&replay.screen());
        seen.push('\n');
        replay.run(r#"{"op":"key","keys":"<PgDn>"}"#).expect("page");
    }
    // The panel wraps what is longer than its 78 columns (the notes).
    assert_cli_text_on_screen(&liftdeck::tui::text::wrap(&narrow, 78).join("\n"), &seen);
    // One layout: the same lines in the same order, only projections abbreviated; the
    // expected units and every ROI are the CLI's strings exactly.
    assert_eq!(cli.lines().count(), narrow.lines().count());
    for (wide, short) in cli.lines().zip(narrow.lines()) {
        let label = |l: &str| l.split(['+', '-', '[']).next().unwrap_or("").to_string();
        assert_eq!(label(wide), label(short), "{wide} / {short}");
        if wide.contains("expected units") || wide.trim_start().starts_with("ROI") {
            assert_eq!(wide, short);
        }
    }
    assert!(narrow.contains('M') || narrow.contains('k'), "{narrow}");
}
