//! The Bandit panel: the selected bandit's leaderboard (per arm the weight now, pulls, mean
//! reward with its 95% interval, P(best) and cumulative reward), its stage, schedule and
//! estimated regret, then charts over the campaign's life: the weights (stacked, one
//! character per arm, a `┴` under each update), P(best) and cumulative reward per arm. Every
//! figure comes from `app::bandit::board` (the numbers `bandit show` prints) through
//! `format.rs`. Each arm keeps the Live A/B chart's character everywhere (`o`, `+`, `x`, ...),
//! so the panel reads without colour. At 80 columns two charts sit side by side (`v` swaps
//! the second); from 120 all three; on a short terminal the charts give way to the table.
//! The charts are drawn in `view_bandit_chart.rs`.

use super::state::App;
use super::view::{ago, placeholder};
use super::view_ab::marker;
use crate::app::bandit::BanditBoard;
use crate::domain::{CampaignKind, RewardKind, Status};
use crate::format;
use crate::store::Stage;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use ratatui::Frame;

/// Rows a chart box needs to say anything: borders, three plot rows and the time axis.
const MIN_CHART_ROWS: u16 = 6;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(row) = app.selected_campaign() else {
        placeholder(frame, area, "Bandit", "No campaign selected.");
        return;
    };
    if row.campaign.spec.kind != CampaignKind::Bandit {
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
    let board = app
        .snapshot
        .bandit
        .as_ref()
        .filter(|b| b.campaign == row.campaign.spec.key);
    let Some(b) = board else {
        placeholder(frame, area, "Bandit", "reading…");
        return;
    };
    let inner_width = area.width.saturating_sub(2) as usize;
    let status = status_lines(app, b, inner_width);
    let room = area.height.saturating_sub(3 + status.len() as u16);
    let arm_rows = (b.arms.len() as u16).min(room);
    let board_rows = 3 + arm_rows + status.len() as u16;
    let chart_rows = area.height.saturating_sub(board_rows);
    let chart_rows = if chart_rows >= MIN_CHART_ROWS {
        chart_rows
    } else {
        0
    };
    let [top, charts] = Layout::vertical([
        Constraint::Length(board_rows),
        Constraint::Length(chart_rows),
    ])
    .areas(area);
    leaderboard(
        app,
        b,
        frame,
        top,
        arm_rows as usize,
        status,
        chart_rows > 0,
    );
    if chart_rows > 0 {
        super::view_bandit_chart::render(app, b, frame, charts);
    }
}

/// How a mean reward reads (`NumberFormat::reward`, as `bandit show`).
pub(super) fn reward_text(app: &App, reward: RewardKind, x: f64) -> String {
    app.numbers.reward(reward, x)
}

/// How a total of rewards reads (`NumberFormat::reward_total`).
pub(super) fn total_text(app: &App, reward: RewardKind, x: f64) -> String {
    app.numbers.reward_total(reward, x)
}

/// What the reward is counted in, for sentences and the chart title.
pub(super) fn reward_word(reward: RewardKind) -> &'static str {
    match reward {
        RewardKind::Click => "clicks",
        RewardKind::Conversion => "conversions",
        RewardKind::Revenue => "revenue",
        RewardKind::Profit => "profit",
    }
}

/// The leaderboard's cells of one arm: marker and key, weight, pulls, mean, interval,
/// P(best), cumulative reward, and whether it leads.
fn arm_cells(app: &App, b: &BanditBoard) -> Vec<Vec<String>> {
    b.arms
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let tag = if b.winner.as_ref() == Some(&a.key) {
                "WINNER"
            } else if b.leader.as_ref() == Some(&a.key) {
                "leader"
            } else {
                ""
            };
            vec![
                format!("{} {}", marker(i), a.key),
                format::rate(a.weight),
                format::count(a.units),
                format::opt(a.reward_mean, |x| reward_text(app, b.reward, x)),
                format::interval(a.lower, a.upper, |x| reward_text(app, b.reward, x)),
                format::opt(a.p_best, format::probability),
                total_text(app, b.reward, a.cumulative_reward),
                tag.to_string(),
            ]
        })
        .collect()
}

/// The stage with what it means now, the schedule, the leader or winner, the regret.
fn status_lines(app: &App, b: &BanditBoard, width: usize) -> Vec<Line<'static>> {
    let stage = match b.stage {
        Stage::Explore => "EXPLORE",
        Stage::Exploit => "EXPLOIT",
        Stage::Winner => "WINNER",
        Stage::Paused => "PAUSED",
        Stage::Fixed => "FIXED",
    };
    let mut items = vec![format!("period {}", b.period)];
    items.push(match b.last_update_at {
        Some(t) => format!("last update {} ago", ago(app.now - t)),
        None => "no update yet".into(),
    });
    match b.stage {
        // Updates while exploring change nothing: what ends the stage is its minimums.
        Stage::Explore if b.explored => {
            items.push("explore minimums met: weights move at the next update".into())
        }
        Stage::Explore => {
            let fewest = b.arms.iter().map(|a| a.units).min().unwrap_or(0);
            let min_time = b.explore_min_secs.saturating_mul(1_000_000);
            let left = min_time - (app.now - b.learning_since);
            items.push("uniform weights".into());
            items.push(format!(
                "explore ends at {} units per arm (fewest {}) and {}{}",
                format::count(b.explore_min_units),
                format::count(fewest),
                ago(min_time),
                if left > 0 {
                    format!(" ({} left)", ago(left))
                } else {
                    String::new()
                }
            ));
        }
        Stage::Paused => items.push("weights frozen while paused".into()),
        _ => items.push(next_text(app, b)),
    }
    let mut lines = super::text::pack(&items, width.saturating_sub(stage.len() + 1), " · ");
    let threshold = format::probability(b.winner_threshold);
    let p_best = |key: &str| {
        b.arms
            .iter()
            .find(|a| a.key == key)
            .and_then(|a| a.p_best)
            .map_or(format::MISSING.into(), format::probability)
    };
    let mut second = vec![match (&b.winner, &b.leader) {
        (Some(w), _) => format!("winner {w}: P(best) {} >= {threshold}", p_best(w)),
        (None, Some(l)) => format!("leader {l} P(best) {} (winner at {threshold})", p_best(l)),
        (None, None) => "no leader before the first unit".into(),
    }];
    let regret = format::opt(b.regret, |x| total_text(app, b.reward, x));
    second.push(if b.reward.is_binary() && b.regret.is_some() {
        format!("est. regret {regret} {}", reward_word(b.reward))
    } else {
        format!("est. regret {regret}")
    });
    second.push(format!("floor {}", format::rate(b.floor)));
    if b.contextual {
        second.push(
            "weights: the period's context-free summary; each unit is drawn from its context"
                .into(),
        );
    }
    lines.extend(super::text::pack(&second, width, " · "));
    let stage_style = match b.stage {
        Stage::Winner => app.theme.ok.add_modifier(Modifier::BOLD),
        _ => Style::default().add_modifier(Modifier::BOLD),
    };
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                Line::from(vec![
                    Span::styled(stage, stage_style),
                    Span::raw(format!(" {l}")),
                ])
            } else {
                Line::from(l)
            }
        })
        .collect()
}

/// When the next update comes, counted down on the console's clock since the snapshot.
fn next_text(app: &App, b: &BanditBoard) -> String {
    let Some(n) = &b.next_update else {
        return match b.status {
            Status::Paused => "no update while paused".into(),
            Status::Stopped => "stopped: no more updates".into(),
            _ => "no update until it starts".into(),
        };
    };
    let since = (app.now - app.snapshot.read_at).max(0) / 1_000_000;
    let secs = n.secs_to_go.map(|s| (s - since).max(0));
    let mut parts = Vec::new();
    if let Some(u) = n.units_to_go {
        parts.push(format!("{} units", format::count(u)));
    }
    if let Some(s) = secs {
        parts.push(ago(s * 1_000_000));
    }
    if n.due {
        "next update due now".into()
    } else if secs == Some(0) {
        // Time is up, but an idle campaign waits for a unit before it updates.
        "next update with the next unit".into()
    } else if parts.is_empty() {
        "no schedule".into()
    } else {
        format!("next in {}", parts.join(" or "))
    }
}

/// Column widths holding every header and cell.
fn natural_widths(header: &[&str], rows: &[Vec<String>]) -> Vec<u16> {
    (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0) as u16
        })
        .collect()
}

fn total_width(widths: &[u16], spacing: u16) -> u16 {
    widths.iter().sum::<u16>() + spacing * (widths.len() as u16).saturating_sub(1)
}

/// Widths within `room`, the columns kept and whether every figure fits: the tag column goes
/// first, then the arm keys give way (ending in `…`).
fn column_widths(
    header: &[&str],
    rows: &[Vec<String>],
    spacing: u16,
    room: u16,
) -> (Vec<u16>, usize, bool) {
    let mut widths = natural_widths(header, rows);
    if total_width(&widths, spacing) > room {
        widths.pop();
    }
    let over = total_width(&widths, spacing).saturating_sub(room);
    widths[0] = widths[0].saturating_sub(over).max(4);
    let fits = total_width(&widths, spacing) <= room;
    (widths.clone(), widths.len(), fits)
}

fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

const HEADER_FULL: [&str; 8] = [
    "arm",
    "weight",
    "pulls",
    "mean reward",
    "95% interval",
    "P(best)",
    "total reward",
    "",
];
const HEADER_SHORT: [&str; 8] = [
    "arm",
    "weight",
    "pulls",
    "mean",
    "95% interval",
    "P(best)",
    "total",
    "",
];

fn leaderboard(
    app: &App,
    b: &BanditBoard,
    frame: &mut Frame,
    area: Rect,
    arm_rows: usize,
    status: Vec<Line<'static>>,
    charts: bool,
) {
    let cells: Vec<Vec<String>> = arm_cells(app, b).into_iter().take(arm_rows).collect();
    let room = area.width.saturating_sub(2);
    // The full headers when they fit, else the short ones; a wide terminal spaces the columns.
    let spacing = if area.width >= 100 { 2 } else { 1 };
    let header = if total_width(&natural_widths(&HEADER_FULL, &cells), spacing) <= room {
        HEADER_FULL
    } else {
        HEADER_SHORT
    };
    let (widths, kept, fits) = column_widths(&header, &cells, spacing, room);
    // Figures right-aligned so their decimal points line up; keys and tags read left to right.
    let align = |i: usize, s: String| {
        let line = Line::from(s);
        if i == 0 || i == 7 {
            line
        } else {
            line.alignment(Alignment::Right)
        }
    };
    let rows: Vec<Row> = cells
        .into_iter()
        .map(|mut c| {
            c.truncate(kept);
            c[0] = fit(&c[0], widths[0] as usize);
            Row::new(
                c.into_iter()
                    .enumerate()
                    .map(|(i, s)| Cell::from(align(i, s))),
            )
        })
        .collect();
    let mut title = format!(
        " {} — {} on {} — {} ",
        b.campaign, b.policy, b.reward, b.status
    );
    if arm_rows < b.arms.len() {
        title.push_str(&format!(
            "· {} of {} arms: a taller terminal shows all ",
            arm_rows,
            b.arms.len()
        ));
    } else if !charts {
        title.push_str("· a taller terminal shows the charts ");
    }
    if !fits {
        title.push_str("· a wider terminal shows every column in full ");
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [table, lines] =
        Layout::vertical([Constraint::Length(1 + arm_rows as u16), Constraint::Fill(1)])
            .areas(inner);
    frame.render_widget(
        Table::new(rows, widths.into_iter().map(Constraint::Length))
            .column_spacing(spacing)
            .header(
                Row::new(
                    header
                        .iter()
                        .take(kept)
                        .enumerate()
                        .map(|(i, h)| Cell::from(align(i, h.to_string()))),
                )
                .style(Style::default().add_modifier(Modifier::BOLD)),
            ),
        table,
    );
    frame.render_widget(Paragraph::new(status), lines);
}
