//! The campaign list: filtered and sorted as the operator asked, scrolled so the selection is
//! always on screen, with a last row saying how many campaigns lie beyond the window.

use super::state::App;
use crate::app::health::Severity;
use crate::domain::Status;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let wide = area.width >= 100;
    let header = if wide {
        vec![
            "", "campaign", "status", "kind", "units", "days", "health", "name",
        ]
    } else {
        vec!["", "campaign", "status", "units", "days", "health"]
    };
    let visible = app.visible();
    let total = app.snapshot.campaigns.len();
    // Rows inside the borders, less the header; the last one is kept for the indicator when
    // the list is longer than the window.
    let rows_fit = area.height.saturating_sub(3) as usize;
    let window = super::text::window(visible.len(), rows_fit, 0);
    let shown = if window.indicator {
        window.shown
    } else {
        visible.len()
    };
    let offset = app.selected.saturating_sub(shown.saturating_sub(1));
    let rows: Vec<Row> = visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(shown)
        .map(|(i, &r)| {
            let row = &app.snapshot.campaigns[r];
            let c = &row.campaign;
            let mark = if i == app.selected { ">" } else { " " };
            let status = match c.status {
                Status::Running => "RUNNING",
                Status::Paused => "PAUSED",
                Status::Stopped => "STOPPED",
                Status::Draft => "draft",
            };
            let badge = row.badge(app.now, app.snapshot.stale_after);
            let badge_style = match badge.severity() {
                Severity::Critical => app.theme.alarm,
                Severity::Warning => app.theme.warning,
                Severity::Ok => Style::default(),
            };
            let days = row
                .days(app.now)
                .map_or("- ".to_string(), |d| format!("{d:.1} "));
            let mut cells = vec![
                Cell::from(mark),
                Cell::from(c.spec.key.clone()),
                Cell::from(status),
            ];
            if wide {
                cells.push(Cell::from(c.spec.kind.as_str()));
            }
            cells.push(Cell::from(
                Line::from(crate::format::count(row.units)).alignment(Alignment::Right),
            ));
            cells.push(Cell::from(Line::from(days).alignment(Alignment::Right)));
            cells.push(Cell::from(badge.label()).style(badge_style));
            if wide {
                cells.push(Cell::from(c.spec.name.clone()));
            }
            let style = if i == app.selected {
                app.theme.selected
            } else {
                Style::default()
            };
            Row::new(cells).style(style)
        })
        .collect();
    let widths: Vec<Constraint> = header
        .iter()
        .map(|h| match *h {
            "" => Constraint::Length(1),
            "campaign" => Constraint::Length(20),
            "status" => Constraint::Length(8),
            // 9,999,999 units fit.
            "units" => Constraint::Length(9),
            "kind" => Constraint::Length(6),
            // Right-aligned with a space after it, so health does not touch it.
            "days" => Constraint::Length(7),
            "health" => Constraint::Length(13),
            _ => Constraint::Fill(1),
        })
        .collect();
    let mut title = if total == 0 {
        " Campaigns — none yet: press n to create one ".to_string()
    } else {
        format!(
            " Campaigns {}/{} · sort {} ",
            visible.len(),
            total,
            app.list.sort.name()
        )
    };
    if !app.list.filter.is_empty() || app.list.editing {
        title.push_str(&format!(
            "· filter `{}`{} ",
            app.list.filter,
            if app.list.editing { "_" } else { "" }
        ));
    }
    if total > 0 && visible.is_empty() {
        title.push_str("· nothing matches: Esc clears ");
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(
        Table::new(rows, widths)
            .header(
                Row::new(header.iter().map(|h| {
                    Cell::from(match *h {
                        "units" => Line::from("units").alignment(Alignment::Right),
                        "days" => Line::from("days ").alignment(Alignment::Right),
                        other => Line::from(other),
                    })
                }))
                .style(Style::default().add_modifier(Modifier::BOLD)),
            )
            .block(block),
        area,
    );
    if window.indicator && inner.height > 0 {
        let above = offset;
        let below = visible.len().saturating_sub(offset + shown);
        let text = match (above, below) {
            (0, b) => format!("↓ {b} more (j, PgDn, G)"),
            (a, 0) => format!("↑ {a} above (k, PgUp, g)"),
            (a, b) => format!("↓ {b} more · ↑ {a} above"),
        };
        let last = Rect {
            y: inner.y + inner.height - 1,
            height: 1,
            ..inner
        };
        frame.render_widget(Paragraph::new(Line::styled(text, app.theme.title)), last);
    }
}
