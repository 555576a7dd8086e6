//! The Forecast panel: the plan (`e` edits it in place), the plan forecast's state, each
//! quantity as a row with a text interval bar (`─` 95%, `━` 80%, `●` the point, `┊` zero) and
//! its numbers beside, the warnings as `!` lines, plan A (pinned with `P`) beside plan B on a
//! shared axis per quantity, the budget cost curve and the ledger's score (placeholders until
//! they are computed), and last the old ship-an-arm forecast of the selected campaign (`a`).
//! Everything is one scrolling text that reads without colour.

use super::jobview::JobState;
use super::plan_form::{CostPoint, LedgerScore, PlanForm, FIELDS};
use super::state::App;
use super::text;
use crate::forecast::projection::{Band, PlanForecast};
use crate::format::{self, NumberFormat};
use crate::jobs::JobKind;
use crate::text::escape_control;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let width = area.width.saturating_sub(2) as usize;
    let campaign = app
        .selected_key
        .as_deref()
        .unwrap_or("no campaign selected");
    let title = match app.forecast.latest.as_ref() {
        _ if app.forecast.arms_first => format!(" Forecast — {} ", escape_control(campaign)),
        Some(f) => format!(" Forecast — plan {} ", escape_control(&f.plan)),
        None => " Forecast — plan ".to_string(),
    };
    super::view::scrolled(app, frame, area, title, lines(app, width));
}

/// How a quantity's numbers are written.
#[derive(Clone, Copy)]
enum Unit {
    Orders,
    Money,
    Roi,
}

fn show(unit: Unit, nf: &NumberFormat, x: f64) -> String {
    match unit {
        Unit::Orders => format::quantity_change(x),
        Unit::Money => nf.money_compact(x),
        Unit::Roi => format::roi(x),
    }
}

/// The axis that holds every band (and zero, so a loss reads as left of `┊`).
fn axis<'a>(bands: impl Iterator<Item = &'a Band>) -> (f64, f64) {
    let (lo, hi) = bands
        .filter(|b| b.low_95.is_finite() && b.high_95.is_finite())
        .fold((0.0f64, 0.0f64), |(lo, hi), b| {
            (lo.min(b.low_95), hi.max(b.high_95))
        });
    if hi > lo {
        (lo, hi)
    } else {
        (lo, lo + 1.0)
    }
}

/// A band drawn on `[lo, hi]` in `w` cells.
pub fn interval_bar(b: &Band, lo: f64, hi: f64, w: usize) -> String {
    let w = w.max(3);
    let cell = |x: f64| {
        let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
        (t * (w - 1) as f64).round() as usize
    };
    let mut cells = vec![' '; w];
    if lo <= 0.0 && 0.0 <= hi {
        cells[cell(0.0)] = '┊';
    }
    let mut fill = |a: f64, z: f64, c: char| {
        if a.is_finite() && z.is_finite() {
            for x in cells.iter_mut().take(cell(z) + 1).skip(cell(a)) {
                *x = c;
            }
        }
    };
    fill(b.low_95, b.high_95, '─');
    fill(b.low_80, b.high_80, '━');
    if b.value.is_finite() {
        cells[cell(b.value)] = '●';
    }
    cells.into_iter().collect()
}

/// Cells the bars take at `width` columns; the rest is the name and the numbers.
fn bar_width(width: usize) -> usize {
    width.saturating_sub(50).clamp(10, 40)
}

/// `name  value  bar  low..high (95%)`.
fn band_row(
    name: &str,
    b: &Band,
    unit: Unit,
    nf: &NumberFormat,
    (lo, hi): (f64, f64),
    width: usize,
) -> Line<'static> {
    Line::from(format!(
        "{name:<16}{:>9} {} {}..{}",
        show(unit, nf, b.value),
        interval_bar(b, lo, hi, bar_width(width)),
        show(unit, nf, b.low_95),
        show(unit, nf, b.high_95)
    ))
}

/// The rows every result and the comparison show.
fn key_rows(f: &PlanForecast) -> Vec<(&'static str, Band, Unit)> {
    let mut rows = vec![
        ("incr. orders", f.incremental_conversions, Unit::Orders),
        ("cost", f.cost, Unit::Money),
        ("incr. profit", f.incremental_profit, Unit::Money),
    ];
    if let Some(r) = f.roi {
        rows.push(("ROI", r, Unit::Roi));
    }
    rows
}

fn plan_lines(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    let form = &app.forecast.form;
    if !app.forecast.editing {
        let summary = match form.build() {
            Ok(p) => format!(
                "plan {}: {} to {} · {} users/day × {} days · margin {} · holdout {:.0}% \
                 (e edits, F forecasts)",
                escape_control(&p.name),
                p.offer.describe(),
                escape_control(&p.audience.describe()),
                format::quantity(p.traffic.daily_users.unwrap_or(0.0)),
                p.traffic.days.unwrap_or(0.0),
                p.margin,
                100.0 * p.holdout
            ),
            Err(e) => format!("! plan has {} problem(s): e edits it", e.len()),
        };
        out.extend(text::wrap(&summary, width).into_iter().map(Line::from));
        return;
    }
    out.push(Line::styled(
        "plan (Tab/↓ next field · S-Tab/↑ previous · Enter keeps · Esc closes):".to_string(),
        app.theme.title,
    ));
    for (i, label) in FIELDS.iter().enumerate() {
        let focused = i == form.focus;
        let value = &form.values[i];
        let shown = if value.is_empty() && !focused {
            format!("({})", PlanForm::placeholder(i))
        } else {
            format!(
                "{}{}",
                escape_control(value),
                if focused { "_" } else { "" }
            )
        };
        let line = format!("{} {label:>9}: {shown}", if focused { ">" } else { " " });
        out.push(if focused {
            Line::styled(line, app.theme.selected)
        } else {
            Line::from(line)
        });
        for (_, msg) in form.errors.iter().filter(|(j, _)| *j == i) {
            for l in text::wrap(&format!("            ! {msg}"), width) {
                out.push(Line::styled(l, app.theme.alarm));
            }
        }
    }
}

fn job_lines(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    let Some(name) = &app.forecast.job_plan else {
        return;
    };
    let Some(job) = app
        .jobs
        .iter()
        .find(|j| j.kind == JobKind::PlanForecast && &j.campaign == name)
    else {
        return;
    };
    let text = match &job.state {
        JobState::Running { done, stage } => format!(
            "forecasting plan {}: {:.0}% {} (Esc cancels)",
            escape_control(name),
            100.0 * done,
            escape_control(stage)
        ),
        JobState::Failed(e) => format!(
            "! FAILED: the forecast of plan {} did not run: {}",
            escape_control(name),
            escape_control(e)
        ),
        JobState::Cancelled => format!(
            "forecast of plan {} cancelled: the previous result stays",
            escape_control(name)
        ),
        JobState::Done => return,
    };
    let style = if matches!(job.state, JobState::Failed(_)) {
        app.theme.alarm
    } else {
        app.theme.title
    };
    out.extend(
        text::wrap(&text, width)
            .into_iter()
            .map(|l| Line::styled(l, style)),
    );
}

fn result_lines(app: &App, f: &PlanForecast, width: usize, out: &mut Vec<Line<'static>>) {
    let nf = &app.numbers;
    let tag = if app.forecast.pinned.is_some() {
        "plan B"
    } else {
        "result"
    };
    let head = format!(
        "{tag} {}: {} to {}, reach {} users (P pins it as plan A)",
        escape_control(&f.plan),
        f.offer.describe(),
        escape_control(&f.audience),
        format::quantity(f.reach.value),
    );
    out.extend(
        text::wrap(&head, width)
            .into_iter()
            .map(|l| Line::styled(l, app.theme.title)),
    );
    out.push(Line::from(format!(
        "{:<16}{:>9} {:<w$} 95% interval",
        "",
        "point",
        "─ 95%  ━ 80%  ● point  ┊ 0",
        w = bar_width(width)
    )));
    let mut rows = vec![
        ("orders w/ offer", f.conversions_with, Unit::Orders),
        ("incr. revenue", f.incremental_revenue, Unit::Money),
    ];
    rows.extend(key_rows(f));
    for (name, b, unit) in rows {
        out.push(band_row(name, &b, unit, nf, axis([b].iter()), width));
    }
    let split = format!(
        "cost: subsidy (would buy anyway) {} · discount on extra orders {}",
        nf.money_compact(f.split.subsidy.value),
        nf.money_compact(f.split.cost_on_incremental.value)
    );
    out.extend(text::wrap(&split, width).into_iter().map(Line::from));
    if let Some(h) = &f.holdout {
        let line = format!(
            "holdout {:.0}%: power {:.0}%, assurance {:.0}%{}",
            100.0 * h.holdout,
            100.0 * h.power,
            100.0 * h.assurance,
            h.holdout_needed
                .map_or(String::new(), |n| format!("; {:.0}% needed", 100.0 * n))
        );
        out.extend(text::wrap(&line, width).into_iter().map(Line::from));
        for w in &h.warnings {
            warn(app, &format!("! WARNING {}", escape_control(w)), width, out);
        }
    }
    if let Some((_, why)) = &f.recalibration {
        let line = format!("recalibrated: {}", escape_control(why));
        out.extend(text::wrap(&line, width).into_iter().map(Line::from));
    }
    for w in &f.warnings {
        warn(
            app,
            &format!("! WARNING {}", escape_control(w.message())),
            width,
            out,
        );
    }
}

fn warn(app: &App, text: &str, width: usize, out: &mut Vec<Line<'static>>) {
    out.extend(
        text::wrap(text, width)
            .into_iter()
            .map(|l| Line::styled(l, app.theme.warning)),
    );
}

/// "more orders (+866), less profit (-$1.2k)": how B moves the key numbers against A.
fn verdict(a: &PlanForecast, b: &PlanForecast, nf: &NumberFormat) -> String {
    let word = |d: f64| if d >= 0.0 { "more" } else { "less" };
    let d_orders = b.incremental_conversions.value - a.incremental_conversions.value;
    let d_cost = b.cost.value - a.cost.value;
    let d_profit = b.incremental_profit.value - a.incremental_profit.value;
    format!(
        "B vs A: {} orders ({}), {} cost ({}), {} profit ({})",
        if d_orders >= 0.0 { "more" } else { "fewer" },
        format::quantity_change(d_orders),
        word(d_cost),
        nf.money_compact(d_cost),
        word(d_profit),
        nf.money_compact(d_profit)
    )
}

fn comparison_lines(
    app: &App,
    a: &PlanForecast,
    b: &PlanForecast,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    let nf = &app.numbers;
    let head = format!(
        "A {} ({}) vs B {} ({}), one axis per row:",
        escape_control(&a.plan),
        a.offer.describe(),
        escape_control(&b.plan),
        b.offer.describe()
    );
    out.extend(
        text::wrap(&head, width)
            .into_iter()
            .map(|l| Line::styled(l, app.theme.title)),
    );
    for ((name, ba, unit), (_, bb, _)) in key_rows(a).into_iter().zip(key_rows(b)) {
        let ax = axis([ba, bb].iter());
        out.push(band_row(&format!("{name:<13} A"), &ba, unit, nf, ax, width));
        out.push(band_row(&format!("{:<13} B", ""), &bb, unit, nf, ax, width));
    }
    out.extend(
        text::wrap(&verdict(a, b, nf), width)
            .into_iter()
            .map(Line::from),
    );
}

fn cost_curve_lines(
    app: &App,
    curve: Option<&[CostPoint]>,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    out.push(Line::styled(
        "budget cost curve (spend → incremental orders, 80%):".to_string(),
        app.theme.title,
    ));
    budget_job_lines(app, width, out);
    let Some(curve) = curve.filter(|c| !c.is_empty()) else {
        out.push(Line::from(
            "  not computed yet: B computes it (liftdeck forecast budget PLAN.json)",
        ));
        return;
    };
    let bands: Vec<Band> = curve
        .iter()
        .map(|p| Band {
            value: p.orders,
            low_80: p.low,
            high_80: p.high,
            low_95: p.low,
            high_95: p.high,
        })
        .collect();
    let ax = axis(bands.iter());
    for (p, b) in curve.iter().zip(&bands) {
        let name = format!("  {}", app.numbers.money_compact(p.spend));
        out.push(band_row(&name, b, Unit::Orders, &app.numbers, ax, width));
    }
}

/// `B`'s run while it runs, fails or is cancelled (a finished one is the curve below).
fn budget_job_lines(app: &App, width: usize, out: &mut Vec<Line<'static>>) {
    let Some(name) = &app.forecast.budget_plan else {
        return;
    };
    let Some(job) = app
        .jobs
        .iter()
        .find(|j| j.kind == JobKind::PlanBudget && &j.campaign == name)
    else {
        return;
    };
    let name = escape_control(name);
    let (text, style) = match &job.state {
        JobState::Running { done, stage } => (
            format!(
                "  budgeting plan {name}: {:.0}% {} (Esc cancels)",
                100.0 * done,
                escape_control(stage)
            ),
            app.theme.title,
        ),
        JobState::Failed(e) => (
            format!(
                "  ! FAILED: the budget of plan {name} did not run: {}",
                escape_control(e)
            ),
            app.theme.alarm,
        ),
        JobState::Cancelled => (
            format!("  budget of plan {name} cancelled: the previous curve stays"),
            app.theme.title,
        ),
        JobState::Done => return,
    };
    out.extend(
        text::wrap(&text, width)
            .into_iter()
            .map(|l| Line::styled(l, style)),
    );
}

fn ledger_lines(
    app: &App,
    score: Option<&LedgerScore>,
    width: usize,
    out: &mut Vec<Line<'static>>,
) {
    out.push(Line::styled(
        "forecast ledger (past forecasts against outcomes):".to_string(),
        app.theme.title,
    ));
    let Some(s) = score else {
        out.push(Line::from(
            "  no reviewed forecast of this offer type yet (F fills it; liftdeck forecast ledger)",
        ));
        return;
    };
    let text = format!(
        "  80% intervals held {:.0}% and 95% held {:.0}% of {} outcomes",
        100.0 * s.coverage_80,
        100.0 * s.coverage_95,
        s.n
    );
    out.extend(text::wrap(&text, width).into_iter().map(Line::from));
}

/// The panel's text at `width` columns: the plan part, and the ship-an-arm part below it;
/// after `a`, the ship-an-arm part alone under a line saying how to get the plan back.
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    if app.forecast.arms_first {
        let mut out = vec![Line::styled(
            "plan forecast: F forecasts the plan, e edits it".to_string(),
            app.theme.title,
        )];
        out.extend(arms_part(app, width));
        return out;
    }
    let mut out = plan_part(app, width);
    out.push(Line::from(""));
    out.extend(arms_part(app, width));
    out
}

fn plan_part(app: &App, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    plan_lines(app, width, &mut out);
    job_lines(app, width, &mut out);
    let fc = &app.forecast;
    match (&fc.latest, fc.pair()) {
        (_, Some((a, b))) => {
            out.push(Line::from(""));
            comparison_lines(app, a, b, width, &mut out);
            out.push(Line::from(""));
            result_lines(app, b, width, &mut out);
        }
        (Some(f), None) => {
            out.push(Line::from(""));
            result_lines(app, f, width, &mut out);
        }
        (None, None) => out.push(Line::from("no plan forecast yet: F forecasts the plan")),
    }
    out.push(Line::from(""));
    cost_curve_lines(app, fc.cost_curve.as_deref(), width, &mut out);
    ledger_lines(app, fc.ledger.as_ref(), width, &mut out);
    out
}

fn arms_part(app: &App, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let campaign = app
        .selected_key
        .as_deref()
        .unwrap_or("no campaign selected");
    out.push(Line::styled(
        format!("ship an arm of {} (a runs it):", escape_control(campaign)),
        app.theme.title,
    ));
    out.extend(text::job_lines(
        &app.job_panel(JobKind::Forecast),
        &app.theme,
        width,
    ));
    out
}
