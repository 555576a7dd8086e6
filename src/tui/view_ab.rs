//! The live A/B panel: alarm banners, one row per arm with every column (abbreviated headers
//! at 80 columns rather than dropped ones), and, when there is room, a chart of each arm's
//! cumulative conversion rate drawn with a distinct character per arm and a legend on its own
//! row, so it reads without colour and never covers the data.

use super::state::App;
use super::view::placeholder;
use crate::app::snapshot::ArmSeries;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

/// One character per arm, in arm order; after these, digits and letters.
const MARKERS: &str = "o+x#@%&=123456789abcdefghijklmnopqrstuvwyz";
/// Where two arms fall on the same cell.
const OVERLAP: char = '*';

pub fn marker(i: usize) -> char {
    MARKERS
        .chars()
        .nth(i % MARKERS.chars().count())
        .unwrap_or('?')
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:+.1}%", 100.0 * v))
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(r) = &app.snapshot.report else {
        placeholder(
            frame,
            area,
            "Live A/B",
            "Select a campaign on the Campaigns panel (Enter).",
        );
        return;
    };
    let mut banner = Vec::new();
    if r.srm.alarm {
        banner.push(Line::styled(
            format!(
                "!! SRM ALARM: units per arm do not match the weights (p = {:.1e})",
                r.srm.p_value.unwrap_or(0.0)
            ),
            app.theme.alarm,
        ));
    }
    for g in r.guardrails.iter().filter(|g| g.breached) {
        banner.push(Line::styled(
            format!("!! GUARDRAIL {} breached by {}", g.metric.name(), g.arm),
            app.theme.alarm,
        ));
    }
    let foot_rows = 2u16;
    let room = area
        .height
        .saturating_sub(banner.len() as u16 + foot_rows + 3);
    let arm_rows = (r.arms.len() as u16).min(room);
    let table_rows = arm_rows + 3;
    let chart_rows = area
        .height
        .saturating_sub(banner.len() as u16 + table_rows + foot_rows);
    let chart_rows = if chart_rows >= 8 && !app.snapshot.series.is_empty() {
        chart_rows
    } else {
        0
    };
    let [banner_area, table, chart_area, _, foot] = Layout::vertical([
        Constraint::Length(banner.len() as u16),
        Constraint::Length(table_rows),
        Constraint::Length(chart_rows),
        Constraint::Fill(1),
        Constraint::Length(foot_rows),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(banner), banner_area);
    let wide = area.width >= 100;
    let interval = if app.fixed_horizon {
        "95% CI (fixed)"
    } else {
        "always-valid CI"
    };
    let header: Vec<&str> = if wide {
        vec![
            "arm", "units", "value", "lift", interval, "p", "P(beat)", "P(best)", "risk",
        ]
    } else {
        vec![
            "arm", "units", "value", "lift", interval, "p", "Pbeat", "Pbest", "risk",
        ]
    };
    let rows: Vec<Row> = r
        .arms
        .iter()
        .take(arm_rows as usize)
        .map(|a| {
            let value = match (a.rate, a.mean) {
                (Some(rate), _) => format!("{:.2}%", 100.0 * rate),
                (None, Some(m)) => format!("{m:.3}"),
                _ => "-".into(),
            };
            let (lo, hi, p) = if app.fixed_horizon {
                (a.ci_low, a.ci_high, a.p_value)
            } else {
                (a.seq_ci_low, a.seq_ci_high, a.seq_p_value)
            };
            let ci = match (lo, hi) {
                (Some(l), Some(h)) => format!("[{}, {}]", pct(Some(l)), pct(Some(h))),
                _ => "-".into(),
            };
            let share = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.0}%", 100.0 * v));
            let cells = vec![
                a.key.clone(),
                a.units.to_string(),
                value,
                pct(a.rel_lift),
                ci,
                p.map_or("-".into(), |p| format!("{p:.3}")),
                share(a.chance_to_beat_control),
                share(a.prob_best),
                a.expected_loss.map_or("-".into(), |v| format!("{v:.4}")),
            ];
            Row::new(cells.into_iter().map(Cell::from))
        })
        .collect();
    let widths: Vec<Constraint> = if wide {
        [10, 8, 8, 8, 20, 7, 8, 8, 8]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    } else {
        // 78 columns inside the border: every column stays, none is dropped.
        [9, 7, 7, 7, 18, 6, 5, 5, 6]
            .into_iter()
            .map(Constraint::Length)
            .collect()
    };
    let mut title = format!(
        " {} — {} — {} ",
        r.campaign,
        r.metric.name(),
        if app.fixed_horizon {
            "fixed horizon (valid at one planned look)"
        } else {
            "always valid (safe to peek)"
        }
    );
    if (arm_rows as usize) < r.arms.len() {
        title.push_str(&format!(
            "· {} of {} arms: a taller terminal shows all ",
            arm_rows,
            r.arms.len()
        ));
    }
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
            .block(Block::default().borders(Borders::ALL).title(title)),
        table,
    );
    if chart_rows > 0 {
        chart(app, frame, chart_area);
    }
    let srm = match (r.srm.p_value, r.srm.alarm) {
        (Some(p), true) => format!("SRM ALARM p={p:.1e}"),
        (Some(p), false) => format!("SRM ok p={p:.3}"),
        (None, _) => "SRM: too few units".into(),
    };
    let power = match (r.power.units_per_arm_needed, r.power.seconds_to_decision) {
        (Some(n), Some(t)) => format!(
            "{:.0}/arm to detect {:.0}%: {}",
            n,
            100.0 * r.power.target_mde_rel,
            crate::app::report::human_duration(t)
        ),
        _ => r
            .power
            .mde_rel
            .map_or("MDE: -".into(), |m| format!("MDE now {:.1}%", 100.0 * m)),
    };
    let legend = if wide {
        ""
    } else {
        " · Pbeat = P(beat control), Pbest = P(best arm)"
    };
    frame.render_widget(
        Paragraph::new(format!(" {srm} · {power}{legend}")).wrap(Wrap { trim: true }),
        foot,
    );
}

/// Plots each arm's cumulative rate as its own character on a character grid: the legend row
/// above the plot names every arm with its character and current rate.
fn chart(app: &App, frame: &mut Frame, area: Rect) {
    let series = &app.snapshot.series;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" cumulative conversion rate by minute (one character per arm) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let legend: String = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let last = s
                .points
                .last()
                .map_or("-".into(), |p| format!("{:.2}%", 100.0 * p.1));
            format!("{} {} {last}", marker(i), s.arm)
        })
        .collect::<Vec<_>>()
        .join("  ");
    let legend = format!("{legend}  ({OVERLAP} several)");
    let legend_rows = super::text::wrap(&legend, inner.width as usize);
    let [legend_area, plot, axis] = Layout::vertical([
        Constraint::Length(legend_rows.len() as u16),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(legend_rows.into_iter().map(Line::from).collect::<Vec<_>>()),
        legend_area,
    );
    let (grid, y_max, x_max) = plot_grid(series, plot.width.saturating_sub(7), plot.height);
    let lines: Vec<Line> = grid
        .iter()
        .enumerate()
        .map(|(row, cells)| {
            let label = if row == 0 {
                format!("{:>5.1}%", 100.0 * y_max)
            } else if row + 1 == grid.len() {
                format!("{:>6}", "0%")
            } else {
                " ".repeat(6)
            };
            Line::from(format!("{label}│{}", cells.iter().collect::<String>()))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), plot);
    let width = plot.width.saturating_sub(7) as usize;
    let end = format!("{x_max:.0} minutes");
    let pad = width.saturating_sub(1 + end.chars().count());
    frame.render_widget(
        Paragraph::new(format!("      └0{}{end}", " ".repeat(pad))),
        axis,
    );
}

/// The plot cells (rows top to bottom), the rate at the top row, and the last minute.
pub fn plot_grid(series: &[ArmSeries], width: u16, height: u16) -> (Vec<Vec<char>>, f64, f64) {
    let (w, h) = (width.max(1) as usize, height.max(1) as usize);
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    // Scale to the settled rates, ignoring the noisy first quarter of each curve.
    let y_max = 1.1
        * series
            .iter()
            .flat_map(|s| s.points.iter().skip(s.points.len() / 4).map(|p| p.1))
            .fold(0.001, f64::max);
    let mut grid = vec![vec![' '; w]; h];
    for (i, s) in series.iter().enumerate() {
        let m = marker(i);
        // One point per column: the arm's rate at the last minute that column covers.
        let mut by_col: Vec<Option<f64>> = vec![None; w];
        for p in &s.points {
            let col = ((p.0 / x_max) * (w - 1) as f64).round() as usize;
            by_col[col.min(w - 1)] = Some(p.1);
        }
        // Between its first and last minute the curve holds its level across empty columns.
        let mut held = None;
        for (col, rate) in by_col.into_iter().enumerate() {
            held = rate.or(held);
            let Some(rate) = held else { continue };
            let y = (rate / y_max).clamp(0.0, 1.0);
            let row = ((1.0 - y) * (h - 1) as f64).round() as usize;
            let cell = &mut grid[row.min(h - 1)][col];
            *cell = if *cell == ' ' || *cell == m {
                m
            } else {
                OVERLAP
            };
        }
    }
    (grid, y_max, x_max)
}
