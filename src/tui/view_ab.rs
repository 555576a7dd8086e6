//! The live A/B panel: alarm banners, one row per arm with every column (abbreviated headers
//! at 80 columns rather than dropped ones), and, when there is room, a chart of each arm's
//! cumulative conversion rate drawn with a distinct character per arm and a legend on its own
//! row, so it reads without colour and never covers the data.

use super::state::App;
use super::view::placeholder;
use crate::app::report::{arm_cells, IntervalView};
use crate::app::snapshot::ArmSeries;
use crate::format;
use crate::stats::ab::AbReport;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
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

/// A p-value in a sentence (`p < 0.0001`, `p = 0.0123`), `p = -` when there is none.
fn p_phrase(p: Option<f64>) -> String {
    p.map_or("p = -".into(), format::p_value_phrase)
}

/// The alarm lines above the table, as `report ab` words them, wrapped to `width`.
fn banner_lines(r: &AbReport, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    if r.srm.alarm {
        lines.push(format!(
            "!! SRM ALARM: units per arm do not match the weights ({})",
            p_phrase(r.srm.p_value)
        ));
    }
    for g in r.guardrails.iter().filter(|g| g.breached) {
        lines.push(format!(
            "!! GUARDRAIL {} breached by {}: {} vs control, one-sided {}",
            g.metric.name(),
            g.arm,
            format::opt(g.rel_lift, format::lift),
            p_phrase(g.p_worse)
        ));
    }
    lines
        .iter()
        .flat_map(|l| super::text::wrap(l, width))
        .collect()
}

/// Column widths that hold every header and cell; when they pass `room`, the arm column gives
/// way first (its keys then end in `…`, never cut silently). Returns the widths and whether
/// every column fits.
fn column_widths(
    header: &[&str],
    rows: &[Vec<String>],
    spacing: u16,
    room: u16,
) -> (Vec<u16>, bool) {
    let mut widths: Vec<u16> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.chars().count()])
                .max()
                .unwrap_or(0) as u16
        })
        .collect();
    let total = |w: &[u16]| w.iter().sum::<u16>() + spacing * (w.len() as u16).saturating_sub(1);
    let over = total(&widths).saturating_sub(room);
    widths[0] = widths[0].saturating_sub(over).max(4);
    let fits = total(&widths) <= room;
    (widths, fits)
}

/// `s` in at most `n` characters, ending in `…` when cut.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
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
    let banner: Vec<Line> = banner_lines(r, area.width as usize)
        .into_iter()
        .map(|l| Line::styled(l, app.theme.alarm))
        .collect();
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
    let view = if app.fixed_horizon {
        IntervalView::Fixed
    } else {
        IntervalView::AlwaysValid
    };
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
    let cells: Vec<Vec<String>> = r
        .arms
        .iter()
        .take(arm_rows as usize)
        .map(|a| arm_cells(r, a, &app.numbers).live_row(view))
        .collect();
    let spacing = if wide { 2 } else { 1 };
    let (widths, fits) = column_widths(&header, &cells, spacing, area.width.saturating_sub(2));
    // Figures right-aligned so their decimal points line up; the arm key reads left to right.
    let align = |i: usize, s: String| {
        let line = Line::from(s);
        if i == 0 {
            line
        } else {
            line.alignment(Alignment::Right)
        }
    };
    let rows: Vec<Row> = cells
        .into_iter()
        .map(|mut c| {
            c[0] = fit(&c[0], widths[0] as usize);
            Row::new(
                c.into_iter()
                    .enumerate()
                    .map(|(i, s)| Cell::from(align(i, s))),
            )
        })
        .collect();
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
    if !fits {
        title.push_str("· a wider terminal shows every column in full ");
    }
    frame.render_widget(
        Table::new(rows, widths.into_iter().map(Constraint::Length))
            .column_spacing(spacing)
            .header(
                Row::new(
                    header
                        .iter()
                        .enumerate()
                        .map(|(i, h)| Cell::from(align(i, h.to_string()))),
                )
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(Block::default().borders(Borders::ALL).title(title)),
        table,
    );
    if chart_rows > 0 {
        chart(app, frame, chart_area);
    }
    let srm = match (r.srm.p_value, r.srm.alarm) {
        (Some(p), true) => format!("SRM ALARM {}", format::p_value_phrase(p)),
        (Some(p), false) => format!("SRM ok {}", format::p_value_phrase(p)),
        (None, _) => "SRM: too few units".into(),
    };
    let power = match (r.power.units_per_arm_needed, r.power.seconds_to_decision) {
        (Some(n), Some(t)) => format!(
            "{} units/arm detect {}: {}",
            format::quantity(n),
            format::rate(r.power.target_mde_rel),
            crate::app::report::human_duration(t)
        ),
        _ => r.power.mde_rel.map_or("MDE: -".into(), |m| {
            format!("MDE now {} relative", format::rate(m))
        }),
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

/// Plots each arm's cumulative rate as its own character on a character grid, over a faint
/// band of `·` for its 95% interval (`:` where the bands of several arms overlap, so arms whose
/// bands do not meet stand apart without colour). The legend row above the plot names every
/// arm with its character and current rate, and says what the band characters mean.
fn chart(app: &App, frame: &mut Frame, area: Rect) {
    let series = &app.snapshot.series;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" cumulative conversion rate by minute (one character per arm) ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut legend: Vec<String> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let last = s
                .points
                .last()
                .map_or(format::MISSING.into(), |p| format::rate(p.1));
            format!("{} {} {last}", marker(i), s.arm)
        })
        .collect();
    legend.push(format!("{OVERLAP} several arms"));
    legend.push(format!("{BAND} 95% band"));
    legend.push(format!("{BANDS} bands overlap"));
    let legend_rows = super::text::pack(&legend, inner.width as usize, "  ");
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
    let label_width = LABEL_WIDTH as usize;
    let width = plot.width.saturating_sub(LABEL_WIDTH + 1);
    let (grid, y_max, x_max) = plot_grid(series, width, plot.height);
    let lines: Vec<Line> = grid
        .iter()
        .enumerate()
        .map(|(row, cells)| {
            let label = if row == 0 {
                format::rate(y_max)
            } else if row + 1 == grid.len() {
                format::rate(0.0)
            } else {
                String::new()
            };
            let mut spans = vec![Span::raw(format!("{label:>label_width$}│"))];
            // Runs of band characters share the faint style; markers stay plain.
            let mut run = String::new();
            let mut faint = false;
            for &c in cells {
                let is_band = c == BAND || c == BANDS;
                if is_band != faint && !run.is_empty() {
                    spans.push(band_span(std::mem::take(&mut run), faint, app));
                }
                faint = is_band;
                run.push(c);
            }
            if !run.is_empty() {
                spans.push(band_span(run, faint, app));
            }
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), plot);
    let end = format!("{} minutes", format::quantity(x_max));
    let pad = (width as usize).saturating_sub(1 + end.chars().count());
    frame.render_widget(
        Paragraph::new(format!("{:label_width$}└0{}{end}", "", " ".repeat(pad))),
        axis,
    );
}

fn band_span(text: String, faint: bool, app: &App) -> Span<'static> {
    if faint {
        Span::styled(text, app.theme.faint)
    } else {
        Span::raw(text)
    }
}

/// Columns left of the plot for the rate labels (`100.00%` fits).
const LABEL_WIDTH: u16 = 7;
/// A cell inside one arm's 95% band, and inside the bands of several arms.
pub const BAND: char = '·';
pub const BANDS: char = ':';

/// The plot cells (rows top to bottom), the rate at the top row, and the last minute. Each
/// arm's marker is drawn over the bands; a band cell is `BAND` for one arm, `BANDS` for more.
pub fn plot_grid(series: &[ArmSeries], width: u16, height: u16) -> (Vec<Vec<char>>, f64, f64) {
    let (w, h) = (width.max(1) as usize, height.max(1) as usize);
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    // Scale to the settled rates, ignoring the noisy first quarter of each curve (a band
    // that runs past the top is cut at the top row).
    let y_max = 1.1
        * series
            .iter()
            .flat_map(|s| s.points.iter().skip(s.points.len() / 4).map(|p| p.1))
            .fold(0.001, f64::max);
    let row_of = |rate: f64| {
        let y = (rate / y_max).clamp(0.0, 1.0);
        (((1.0 - y) * (h - 1) as f64).round() as usize).min(h - 1)
    };
    let mut grid = vec![vec![' '; w]; h];
    let mut bands = vec![vec![0u8; w]; h];
    for (i, s) in series.iter().enumerate() {
        let m = marker(i);
        // One point per column: the arm's rate and band at the last minute that column covers.
        let mut by_col: Vec<Option<(f64, f64, f64)>> = vec![None; w];
        for p in &s.points {
            let col = ((p.0 / x_max) * (w - 1) as f64).round() as usize;
            by_col[col.min(w - 1)] = Some((p.1, p.2, p.3));
        }
        // Between its first and last minute the curve holds its level across empty columns.
        let mut held = None;
        for (col, point) in by_col.into_iter().enumerate() {
            held = point.or(held);
            let Some((rate, low, high)) = held else {
                continue;
            };
            for band in &mut bands[row_of(high)..=row_of(low)] {
                band[col] = band[col].saturating_add(1);
            }
            let cell = &mut grid[row_of(rate)][col];
            *cell = if *cell == ' ' || *cell == m {
                m
            } else {
                OVERLAP
            };
        }
    }
    for (cells, counts) in grid.iter_mut().zip(&bands) {
        for (cell, &n) in cells.iter_mut().zip(counts) {
            if *cell == ' ' && n > 0 {
                *cell = if n == 1 { BAND } else { BANDS };
            }
        }
    }
    (grid, y_max, x_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(name: &str, points: Vec<(f64, f64, f64, f64)>) -> ArmSeries {
        ArmSeries {
            arm: name.into(),
            points,
        }
    }

    #[test]
    fn bands_lie_under_the_markers_and_overlaps_read_differently() {
        // Two flat arms: a at 10% with band [6%, 14%], b at 30% with band [20%, 40%];
        // y_max is 44%, so on 12 rows the bands do not meet.
        let a = arm("a", vec![(0.0, 0.10, 0.06, 0.14), (10.0, 0.10, 0.06, 0.14)]);
        let b = arm("b", vec![(0.0, 0.30, 0.20, 0.40), (10.0, 0.30, 0.20, 0.40)]);
        let (grid, y_max, _) = plot_grid(&[a.clone(), b], 20, 12);
        assert!((y_max - 0.33).abs() < 1e-9, "{y_max}");
        let col: Vec<char> = grid.iter().map(|r| r[5]).collect();
        let at = |c: char| col.iter().position(|&x| x == c).expect("marker");
        let (b_at, a_at) = (at(marker(1)), at(marker(0)));
        // Top to bottom: b's band around b's marker, a gap, a's band around a's marker.
        assert!(b_at < a_at, "{col:?}");
        assert_eq!((col[b_at - 1], col[b_at + 1]), (BAND, BAND), "{col:?}");
        assert_eq!((col[a_at - 1], col[a_at + 1]), (BAND, BAND), "{col:?}");
        assert!(col[b_at..a_at].contains(&' '), "{col:?}");
        assert!(!col.contains(&BANDS), "the bands do not overlap: {col:?}");
        // A third arm whose band covers both: overlaps show as BANDS, markers stay on top.
        let wide = arm("c", vec![(0.0, 0.2, 0.0, 0.5), (10.0, 0.2, 0.0, 0.5)]);
        let (grid, _, _) = plot_grid(&[a, wide], 20, 12);
        let col: String = grid.iter().map(|r| r[5]).collect();
        assert!(col.contains(BANDS) && col.contains(marker(0)) && col.contains(marker(1)));
        assert!(!col.contains(' '), "the wide band spans the plot: {col:?}");
    }
}
