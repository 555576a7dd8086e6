//! The Causal panel: the text of the report shown (the job's result in force, or a saved
//! report chosen with `[`), and, when that report is an uplift report, its Qini curve as a
//! text chart above it: the model's curve (`o`) against random targeting (`+`), the share of
//! units targeted across, the normalised cumulative incremental orders up. A curve above the
//! diagonal means the model ranks persuadable customers first.

use super::state::App;
use super::view_bandit_chart::line_grid;
use crate::app::uplift::UpliftReport;
use crate::format;
use crate::jobs::{JobKind, JobOutput};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// Rows the chart takes (with its border) when the panel is tall enough for text below it.
pub const CHART_ROWS: u16 = 10;
/// Below this panel height the chart is left out: the report's text comes first.
const MIN_ROWS_FOR_CHART: u16 = 16;

/// The uplift report the panel shows, if it shows one.
pub fn shown_uplift(app: &App) -> Option<UpliftReport> {
    if let Some(r) = app.saved_cursor.and_then(|i| app.saved_reports().get(i)) {
        return (r.kind == JobKind::Uplift.as_str())
            .then(|| serde_json::from_value(r.result.clone()).ok())
            .flatten();
    }
    if app.causal_job != JobKind::Uplift {
        return None;
    }
    match app.job_panel(JobKind::Uplift).result_output()? {
        JobOutput::Uplift(u) => Some(*u),
        _ => None,
    }
}

/// Whether the chart is drawn for a panel of `height` rows.
pub fn chart_drawn(app: &App, height: u16) -> bool {
    height >= MIN_ROWS_FOR_CHART
        && shown_uplift(app).is_some_and(|u| u.evaluation.qini_points.len() >= 2)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let campaign = app
        .selected_key
        .clone()
        .unwrap_or_else(|| "no campaign selected".into());
    let width = area.width.saturating_sub(2) as usize;
    let lines = super::saved_reports::causal_lines(app, width);
    let title = format!(" Causal — {campaign} ");
    let uplift = shown_uplift(app).filter(|_| chart_drawn(app, area.height));
    let Some(u) = uplift else {
        super::view::scrolled(app, frame, area, title, lines);
        return;
    };
    let [top, rest] =
        Layout::vertical([Constraint::Length(CHART_ROWS), Constraint::Min(3)]).areas(area);
    qini_chart(app, &u, frame, top);
    super::view::scrolled(app, frame, rest, title, lines);
}

/// The normalised Qini curve at `x` (share targeted), linear between the report's points.
fn curve_at(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let i = points.iter().position(|p| p.0 >= x)?;
    if i == 0 {
        return Some(points[0].1);
    }
    let ((x0, y0), (x1, y1)) = (points[i - 1], points[i]);
    let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 1.0 };
    Some(y0 + t * (y1 - y0))
}

fn qini_chart(app: &App, u: &UpliftReport, frame: &mut Frame, area: Rect) {
    let e = &u.evaluation;
    let title = format!(
        " Qini · {} vs {} · o model  + random · coefficient {} ",
        crate::text::escape_control(&u.treated_arm),
        crate::text::escape_control(&u.control),
        format::opt(e.qini_coefficient, |q| format!("{q:.3}"))
    );
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let points = &e.qini_points;
    let end = points.last().map_or(0.0, |p| p.1);
    let hi = points.iter().map(|p| p.1).fold(end.max(0.0), f64::max);
    let lo = points.iter().map(|p| p.1).fold(end.min(0.0), f64::min);
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let labels = (format!("{hi:.2}"), format!("{lo:.2}"));
    let label_w = labels.0.chars().count().max(labels.1.chars().count());
    // The last row is the axis caption.
    let h = inner.height.saturating_sub(1) as usize;
    let w = (inner.width as usize).saturating_sub(label_w + 1).max(2);
    let x = |c: usize| c as f64 / (w - 1) as f64;
    let model: Vec<Option<f64>> = (0..w).map(|c| curve_at(points, x(c))).collect();
    let random: Vec<Option<f64>> = (0..w).map(|c| Some(end * x(c))).collect();
    let grid = line_grid(&[model, random], lo, hi, h, None);
    let mut lines: Vec<Line> = grid
        .iter()
        .enumerate()
        .map(|(row, cells)| {
            let label = match row {
                0 => labels.0.as_str(),
                r if r + 1 == grid.len() => labels.1.as_str(),
                _ => "",
            };
            Line::from(format!(
                "{label:>label_w$}│{}",
                cells.iter().collect::<String>()
            ))
        })
        .collect();
    lines.push(Line::styled(
        format!(
            "{:>label_w$} 0% of units targeted, by predicted uplift → 100%",
            ""
        ),
        app.theme.title,
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}
