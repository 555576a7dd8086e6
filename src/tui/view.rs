//! Rendering: a pure function of the state. Tabs on top, then the session line (READ-ONLY,
//! how fresh the data is, the worst alarm, the demo's end), the panel, a status line and a
//! two-line footer generated from the key table; `?` lays the same table over the screen.
//! Alarms carry a word and a symbol (`!!` critical, `!` warning), not just a colour, so they
//! survive NO_COLOR.

use super::keys::{self, BINDINGS};
use super::panel::Panel;
use super::state::App;
use super::text::{self, ROWS_ABOVE, ROWS_BELOW};
use crate::app::health::Severity;
use crate::app::snapshot::Badge;
use crate::domain::Micros;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Tabs, Wrap};
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame) {
    let [tabs, session, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(ROWS_ABOVE - 1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(ROWS_BELOW - 1),
    ])
    .areas(frame.area());
    let selected = Panel::ALL.iter().position(|p| *p == app.panel).unwrap_or(0);
    frame.render_widget(
        Tabs::new(Panel::ALL.iter().map(|p| p.title()))
            .select(selected)
            .highlight_style(app.theme.selected.add_modifier(Modifier::BOLD)),
        tabs,
    );
    frame.render_widget(Paragraph::new(session_line(app)), session);
    match app.panel {
        Panel::Campaigns => super::view_campaigns::render(app, frame, body),
        Panel::Ab => super::view_ab::render(app, frame, body),
        Panel::Health => {
            let width = body.width.saturating_sub(2) as usize;
            let lines = text::health_lines(&app.snapshot, &app.audit_filter, &app.theme, width);
            scrolled(app, frame, body, " Health ".into(), lines);
        }
        Panel::Bandit => super::view_bandit::render(app, frame, body),
        Panel::Models => super::view_models::render(app, frame, body),
        Panel::Causal => super::view_causal::render(app, frame, body),
        Panel::Forecast => super::view_forecast::render(app, frame, body),
    }
    frame.render_widget(
        Paragraph::new(app.status_line.as_str())
            .style(Style::default().add_modifier(Modifier::BOLD)),
        status,
    );
    frame.render_widget(
        Paragraph::new(Line::from(footer_spans(app))).wrap(Wrap { trim: true }),
        footer,
    );
    if let Some(f) = &app.form {
        form(app, f, frame, body);
    }
    if app.show_help {
        help(app, frame, frame.area());
    }
}

/// "12 s", "4 min", "3 h": how long ago, short enough for the session line.
pub fn ago(us: Micros) -> String {
    let s = us.max(0) / 1_000_000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h", s / 3600),
    }
}

/// READ-ONLY (always, in a read-only session), the worst alarm with how many campaigns raise
/// one, how long since the data changed, and when the demo's traffic ends.
fn session_line(app: &App) -> Line<'static> {
    let mut spans = Vec::new();
    if app.read_only {
        spans.push(Span::styled(" READ-ONLY ", app.theme.alarm));
        spans.push(Span::raw(" "));
    }
    let badges: Vec<Badge> = app
        .snapshot
        .campaigns
        .iter()
        .map(|r| r.badge(app.now, app.snapshot.stale_after))
        .collect();
    let count = |s: Severity| badges.iter().filter(|b| b.severity() == s).count();
    let (crit, warn) = (count(Severity::Critical), count(Severity::Warning));
    if crit > 0 {
        spans.push(Span::styled(format!("!! {crit} CRIT"), app.theme.alarm));
        spans.push(Span::raw(" "));
    }
    if warn > 0 {
        spans.push(Span::styled(format!("! {warn} WARN"), app.theme.warning));
        spans.push(Span::raw(" "));
    }
    if app.snapshot.read_at > 0 {
        spans.push(Span::raw(format!(
            "updated {} ago",
            ago(app.now - app.snapshot.changed_at)
        )));
    } else {
        spans.push(Span::raw("reading…"));
    }
    if let Some(until) = app.demo_until {
        let left = until - app.now;
        spans.push(Span::raw(if left > 0 {
            format!(
                " · demo traffic ends {} (in {})",
                crate::clock::format_rfc3339(until),
                ago(left)
            )
        } else {
            format!(
                " · demo traffic ended {}",
                crate::clock::format_rfc3339(until)
            )
        }));
    }
    Line::from(spans)
}

/// Every key of the panel, `?` first; it wraps onto the footer's second line.
fn footer_spans(app: &App) -> Vec<Span<'static>> {
    keys::footer(app.panel)
        .into_iter()
        .flat_map(|b| {
            [
                Span::styled(b.key, app.theme.key),
                Span::raw(format!(" {} ", b.short)),
            ]
        })
        .collect()
}

/// A bordered text body that scrolls; when it is longer than the box, the last row says how
/// much is below (nothing is cut silently).
pub fn scrolled(app: &App, frame: &mut Frame, area: Rect, title: String, lines: Vec<Line>) {
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = text::window(lines.len(), inner.height as usize, app.scroll);
    let mut shown: Vec<Line> = lines.into_iter().skip(w.offset).take(w.shown).collect();
    if w.indicator {
        shown.push(Line::styled(text::indicator(&w), app.theme.title));
    }
    frame.render_widget(Paragraph::new(shown), inner);
}

/// The new-campaign form over the panel: one line per field, the focused one reversed, and
/// every problem under its own field.
fn form(app: &App, f: &super::form::Form, frame: &mut Frame, area: Rect) {
    use super::form::FIELDS;
    let w = area.width.min(76);
    let inner_w = w.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for (i, label) in FIELDS.iter().enumerate() {
        let value = &f.values[i];
        let shown = if value.is_empty() && i != f.focus {
            Span::raw(format!("({})", f.placeholder(i)))
        } else {
            Span::raw(format!("{value}{}", if i == f.focus { "_" } else { "" }))
        };
        let style = if i == f.focus {
            app.theme.selected
        } else {
            Style::default()
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} {label:>8}: ", if i == f.focus { ">" } else { " " }),
                style,
            ),
            shown,
        ]));
        for (_, msg) in f.errors.iter().filter(|(j, _)| *j == i) {
            for l in text::wrap(&format!("           ! {msg}"), inner_w) {
                lines.push(Line::styled(l, app.theme.alarm));
            }
        }
    }
    lines.push(Line::from(
        " Tab/↓ next field · S-Tab/↑ previous · Enter create · Esc cancel",
    ));
    let height: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(inner_w.max(1)).max(1))
        .sum();
    let h = (height as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" New campaign (draft) "),
        ),
        rect,
    );
}

pub fn placeholder(frame: &mut Frame, area: Rect, title: &str, text: &str) {
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {title} ")),
        ),
        area,
    );
}

/// A popup of at most `width` x `height` in the middle of `area` (clipped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let (w, h) = (width.min(area.width), height.min(area.height));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The keys that work on the current panel (its own and the global ones), straight from the
/// binding table; one panel's list fits at 80x24.
fn help(app: &App, frame: &mut Frame, area: Rect) {
    let here: Vec<_> = BINDINGS
        .iter()
        .filter(|b| b.panels.is_empty() || b.panels.contains(&app.panel))
        .collect();
    let rect = centered(area, 78, here.len() as u16 + 2);
    let rows: Vec<Row> = here
        .iter()
        .map(|b| {
            let scope = if b.panels.is_empty() {
                "everywhere"
            } else {
                app.panel.title()
            };
            Row::new(vec![
                b.key.to_string(),
                scope.to_string(),
                b.help.to_string(),
            ])
        })
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(7),
                Constraint::Length(11),
                Constraint::Min(10),
            ],
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" Keys on {} (any key closes) ", app.panel.title())),
        ),
        rect,
    );
}
