//! Rendering: a pure function of the state. Tabs on top, the panel, a status line and a footer
//! generated from the key table; `?` lays the same table over the screen. Alarms carry a word,
//! not just a colour, so they survive NO_COLOR.

use super::keys::{self, BINDINGS};
use super::state::{App, Panel};
use crate::domain::Status;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Tabs, Wrap};
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame) {
    let [tabs, body, status, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let selected = Panel::ALL.iter().position(|p| *p == app.panel).unwrap_or(0);
    frame.render_widget(
        Tabs::new(Panel::ALL.iter().map(|p| p.title()))
            .select(selected)
            .highlight_style(app.theme.selected.add_modifier(Modifier::BOLD)),
        tabs,
    );
    match app.panel {
        Panel::Campaigns => campaigns(app, frame, body),
        Panel::Ab => ab(app, frame, body),
        Panel::Health => health(app, frame, body),
        Panel::Bandit => bandit(app, frame, body),
        Panel::Models | Panel::Causal | Panel::Forecast => {
            if let Some(kind) = app.panel.job() {
                super::view_jobs::render(app, frame, body, app.panel, kind);
            }
        }
    }
    frame.render_widget(
        Paragraph::new(app.status_line.as_str())
            .style(Style::default().add_modifier(Modifier::BOLD)),
        status,
    );
    let hint: Vec<Span> = keys::footer(app.panel)
        .into_iter()
        .flat_map(|b| {
            [
                Span::styled(b.key, app.theme.key),
                Span::raw(format!(" {}  ", b.help)),
            ]
        })
        .collect();
    frame.render_widget(Paragraph::new(Line::from(hint)), footer);
    if let Some(f) = &app.form {
        form(app, f, frame, body);
    }
    if app.show_help {
        help(frame, frame.area());
    }
}

/// The new-campaign form over the panel: one line per field, the focused one reversed, each
/// validation message under its field.
fn form(app: &App, f: &super::form::Form, frame: &mut Frame, area: Rect) {
    use super::form::FIELDS;
    let mut lines = Vec::new();
    for (i, (label, hint)) in FIELDS.iter().enumerate() {
        let value = &f.values[i];
        let shown = if value.is_empty() && i != f.focus {
            Span::raw(format!("({hint})"))
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
            lines.push(Line::styled(format!("           ! {msg}"), app.theme.alarm));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(
        " Tab/↓ next field · S-Tab/↑ previous · Enter create · Esc cancel",
    ));
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = area.width.min(76);
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

/// Until bandit policies exist: the selected campaign's current weights and pulls, or a plain
/// statement that it is not a bandit.
fn bandit(app: &App, frame: &mut Frame, area: Rect) {
    let Some(row) = app.selected_campaign() else {
        placeholder(frame, area, "Bandit", "No campaign selected.");
        return;
    };
    if row.campaign.spec.kind != crate::domain::CampaignKind::Bandit {
        placeholder(
            frame,
            area,
            "Bandit",
            &format!(
                "{} is an A/B test, not a bandit: its weights are fixed. Select a bandit \
                 campaign on the Campaigns panel.",
                row.campaign.spec.key
            ),
        );
        return;
    }
    let total: f64 = row.arms.iter().map(|a| a.weight).sum();
    let units: i64 = row.arms.iter().map(|a| a.rollup.units).sum();
    let rows: Vec<Row> = row
        .arms
        .iter()
        .map(|a| {
            let share = if total > 0.0 { a.weight / total } else { 0.0 };
            let bar = "#".repeat((share * 30.0).round() as usize);
            Row::new(vec![
                a.key.clone(),
                format!("{:.1}%", 100.0 * share),
                a.rollup.units.to_string(),
                format!(
                    "{:.1}%",
                    100.0 * a.rollup.units as f64 / units.max(1) as f64
                ),
                bar,
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(10),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Fill(1),
            ],
        )
        .header(
            Row::new(vec!["arm", "weight", "pulls", "share", ""])
                .style(Style::default().add_modifier(Modifier::BOLD)),
        )
        .block(Block::default().borders(Borders::ALL).title(format!(
            " {} — current weights (fixed until a bandit policy is set; history and posteriors \
             come with the bandit step) ",
            row.campaign.spec.key
        ))),
        area,
    );
}

fn placeholder(frame: &mut Frame, area: Rect, title: &str, text: &str) {
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {title} ")),
        ),
        area,
    );
}

fn campaigns(app: &App, frame: &mut Frame, area: Rect) {
    let wide = area.width >= 100;
    let header = if wide {
        vec![
            "", "campaign", "status", "kind", "units", "days", "health", "name",
        ]
    } else {
        vec!["", "campaign", "status", "units", "health"]
    };
    let now_days = |c: &crate::domain::Campaign| {
        c.started_at
            .map(|s| {
                let end = c.stopped_at.unwrap_or_else(|| {
                    app.snapshot
                        .campaigns
                        .iter()
                        .filter_map(|r| r.arms.iter().filter_map(|a| a.rollup.last_event_ts).max())
                        .max()
                        .unwrap_or(s)
                });
                format!("{:.1}", (end - s) as f64 / 86_400e6)
            })
            .unwrap_or_else(|| "-".into())
    };
    let rows: Vec<Row> = app
        .snapshot
        .campaigns
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = &r.campaign;
            let units: i64 = r.arms.iter().map(|a| a.rollup.units).sum();
            let mark = if i == app.selected { ">" } else { " " };
            let status = match c.status {
                Status::Running => "RUNNING",
                Status::Paused => "PAUSED",
                Status::Stopped => "STOPPED",
                Status::Draft => "draft",
            };
            let badge = if r.badge == "OK" || r.badge == "-" {
                r.badge.clone()
            } else {
                format!("! {}", r.badge)
            };
            let cells: Vec<String> = if wide {
                vec![
                    mark.into(),
                    c.spec.key.clone(),
                    status.into(),
                    c.spec.kind.as_str().into(),
                    units.to_string(),
                    now_days(c),
                    badge,
                    c.spec.name.clone(),
                ]
            } else {
                vec![
                    mark.into(),
                    c.spec.key.clone(),
                    status.into(),
                    units.to_string(),
                    badge,
                ]
            };
            let style = if i == app.selected {
                app.theme.selected
            } else if r.badge != "OK" && r.badge != "-" {
                app.theme.warning
            } else {
                Style::default()
            };
            Row::new(cells.into_iter().map(Cell::from)).style(style)
        })
        .collect();
    let widths: Vec<Constraint> = header
        .iter()
        .map(|h| match *h {
            "" => Constraint::Length(1),
            "campaign" => Constraint::Length(18),
            "status" | "units" => Constraint::Length(8),
            "kind" | "days" => Constraint::Length(6),
            "health" => Constraint::Length(14),
            _ => Constraint::Fill(1),
        })
        .collect();
    let title = if app.snapshot.campaigns.is_empty() {
        " Campaigns — none yet: press n to create one ".to_string()
    } else {
        " Campaigns ".to_string()
    };
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |v| format!("{:+.1}%", 100.0 * v))
}

fn ab(app: &App, frame: &mut Frame, area: Rect) {
    let Some(r) = &app.snapshot.report else {
        placeholder(
            frame,
            area,
            "Live A/B",
            "Select a campaign on the Campaigns panel (Enter).",
        );
        return;
    };
    let mut lines = Vec::new();
    if r.srm.alarm {
        lines.push(Line::styled(
            format!(
                "!! SRM ALARM: units per arm do not match the weights (p = {:.1e})",
                r.srm.p_value.unwrap_or(0.0)
            ),
            app.theme.alarm,
        ));
    }
    for g in r.guardrails.iter().filter(|g| g.breached) {
        lines.push(Line::styled(
            format!("!! GUARDRAIL {} breached by {}", g.metric.name(), g.arm),
            app.theme.alarm,
        ));
    }
    // The chart only when there is room for it next to the table: at 80x24 it collapses.
    let chart_rows = if area.height >= 22 && !app.snapshot.series.is_empty() {
        area.height
            .saturating_sub(lines.len() as u16 + r.arms.len() as u16 + 6)
    } else {
        0
    };
    let [banner, table, chart_area, foot] = Layout::vertical([
        Constraint::Length(lines.len() as u16),
        Constraint::Min(3),
        Constraint::Length(chart_rows),
        Constraint::Length(2),
    ])
    .areas(area);
    if chart_rows >= 8 {
        chart(app, frame, chart_area);
    }
    frame.render_widget(Paragraph::new(lines), banner);
    let wide = area.width >= 100;
    let interval = if app.fixed_horizon {
        "95% CI (fixed)"
    } else {
        "always-valid CI"
    };
    let mut header = vec!["arm", "units", "value", "lift", interval, "p"];
    if wide {
        header.extend(["P(beat)", "P(best)", "risk"]);
    }
    let rows: Vec<Row> = r
        .arms
        .iter()
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
            let mut cells = vec![
                a.key.clone(),
                a.units.to_string(),
                value,
                pct(a.rel_lift),
                ci,
                p.map_or("-".into(), |p| format!("{p:.3}")),
            ];
            if wide {
                cells.extend([
                    a.chance_to_beat_control
                        .map_or("-".into(), |v| format!("{:.0}%", 100.0 * v)),
                    a.prob_best
                        .map_or("-".into(), |v| format!("{:.0}%", 100.0 * v)),
                    a.expected_loss.map_or("-".into(), |v| format!("{v:.4}")),
                ]);
            }
            Row::new(cells.into_iter().map(Cell::from))
        })
        .collect();
    let widths: Vec<Constraint> = header
        .iter()
        .map(|h| match *h {
            "arm" => Constraint::Length(10),
            "value" | "units" | "lift" | "p" => Constraint::Length(8),
            h if h.ends_with("CI") || h.contains("CI (") => Constraint::Length(18),
            _ => Constraint::Min(8),
        })
        .collect();
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(Style::default().add_modifier(Modifier::BOLD)))
            .block(Block::default().borders(Borders::ALL).title(format!(
                " {} — {} — {} ",
                r.campaign,
                r.metric.name(),
                if app.fixed_horizon {
                    "fixed horizon (valid at one planned look)"
                } else {
                    "always valid (safe to peek)"
                }
            ))),
        table,
    );
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
    frame.render_widget(
        Paragraph::new(format!(" {srm} · {power} · m metric · f intervals"))
            .wrap(Wrap { trim: true }),
        foot,
    );
}

/// Cumulative conversion rate per arm over time, each with its 95% band drawn as dots.
fn chart(app: &App, frame: &mut Frame, area: Rect) {
    use ratatui::symbols::Marker;
    use ratatui::widgets::{Axis, Chart, Dataset, GraphType};
    let series = &app.snapshot.series;
    let lines: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.points.iter().map(|p| (p.0, p.1)).collect())
        .collect();
    let bands: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .flat_map(|p| [(p.0, p.2), (p.0, p.3)])
                .collect()
        })
        .collect();
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    // Scale to the rates, ignoring the wide early bands.
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().skip(s.points.len() / 4).map(|p| p.3))
        .fold(0.001, f64::max);
    let mut datasets = Vec::new();
    for (i, s) in series.iter().enumerate() {
        datasets.push(
            Dataset::default()
                .name(s.arm.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .data(&lines[i]),
        );
        datasets.push(Dataset::default().marker(Marker::Dot).data(&bands[i]));
    }
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" cumulative conversion rate, 95% band (dots) "),
        )
        .x_axis(
            Axis::default()
                .title("minutes")
                .bounds([0.0, x_max])
                .labels(["0".to_string(), format!("{x_max:.0}")]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, y_max])
                .labels(["0%".to_string(), format!("{:.1}%", 100.0 * y_max)]),
        );
    frame.render_widget(chart, area);
}

fn health(app: &App, frame: &mut Frame, area: Rect) {
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let lines: Vec<Line> = app
        .snapshot
        .health_lines
        .iter()
        .chain(&app.snapshot.activity)
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Health ")),
        top,
    );
    let rejects: Vec<Line> = if app.snapshot.rejects.is_empty() {
        vec![Line::from("no rejected lines")]
    } else {
        app.snapshot
            .rejects
            .iter()
            .map(|l| Line::from(l.as_str()))
            .collect()
    };
    let [rej, aud] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(bottom);
    frame.render_widget(
        Paragraph::new(rejects).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Rejected lines "),
        ),
        rej,
    );
    let audit: Vec<Line> = app
        .snapshot
        .audit
        .iter()
        .map(|l| Line::from(l.as_str()))
        .collect();
    frame.render_widget(
        Paragraph::new(audit)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Audit log ")),
        aud,
    );
}

fn help(frame: &mut Frame, area: Rect) {
    let w = area.width.min(64);
    let h = (BINDINGS.len() as u16 + 2).min(area.height);
    let rect = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    let rows: Vec<Row> = BINDINGS
        .iter()
        .map(|b| {
            Row::new(vec![
                b.key.to_string(),
                b.panel
                    .map_or("everywhere".into(), |p| p.title().to_string()),
                b.help.to_string(),
            ])
        })
        .collect();
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(12),
                Constraint::Min(10),
            ],
        )
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys (any key closes) "),
        ),
        rect,
    );
}
