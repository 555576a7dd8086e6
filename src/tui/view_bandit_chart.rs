//! The Bandit panel's charts over the campaign's life, on one time axis from when it began
//! learning to when the board was read: the weights stacked (each arm's character filling its
//! share, a `┴` under each update), P(best) per arm from the posterior stored with each
//! update (a `-` line at the winner threshold when it has a row of its own), and cumulative
//! reward per arm. A column shows the time-weighted mean over its span, so a column that
//! covers several updates shows what was in force across it. The grids are pure functions of
//! the board, tested below.

use super::state::{App, BanditChart};
use super::view::ago;
use super::view_ab::marker;
use super::view_bandit::{reward_word, total_text};
use crate::app::bandit::BanditBoard;
use crate::domain::Micros;
use crate::format;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

/// Where two arms fall on the same cell of a line chart.
pub const OVERLAP: char = '*';
/// Under the weights chart: an update (a new allocation period) began in this column.
pub const UPDATE: char = '┴';
/// The winner threshold's row on the P(best) chart, where no arm is drawn.
pub const THRESHOLD: char = '-';
/// From this width the three charts sit side by side; below it two (the second chosen by `v`).
const THREE_CHARTS: u16 = 120;
/// Below this width only the weights chart is drawn.
const TWO_CHARTS: u16 = 60;

/// The charts' time axis: from when the campaign began learning to when the board was read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub from: Micros,
    pub to: Micros,
}

impl TimeAxis {
    pub fn of(b: &BanditBoard, read_at: Micros) -> TimeAxis {
        let from = b.learning_since;
        TimeAxis {
            from,
            to: read_at.max(from + 1),
        }
    }

    /// The end of column `c` of `w`: a column shows what was in force when its span ended, so
    /// the last column is now.
    fn col_end(&self, c: usize, w: usize) -> Micros {
        let span = (self.to - self.from) as f64;
        self.from + (span * (c + 1) as f64 / w.max(1) as f64).round() as Micros
    }

    /// The column whose span holds `t`.
    fn col_of(&self, t: Micros, w: usize) -> usize {
        let x = (t - self.from) as f64 / (self.to - self.from) as f64;
        ((x * w as f64).floor().max(0.0) as usize).min(w.saturating_sub(1))
    }
}

/// Values that hold from their time until the next point's (the last until the axis ends),
/// per arm per column: the time-weighted mean over the column's span, so a column that
/// covers several updates shows what was in force across it rather than whichever came last.
/// `None` where no point covers the span (or none has a value for that arm).
pub fn piecewise_columns(
    points: &[(Micros, Vec<Option<f64>>)],
    arms: usize,
    axis: TimeAxis,
    w: usize,
) -> Vec<Vec<Option<f64>>> {
    let mut out = vec![vec![None; w]; arms];
    for c in 0..w {
        let t0 = if c == 0 {
            axis.from
        } else {
            axis.col_end(c - 1, w)
        };
        let t1 = axis.col_end(c, w).max(t0 + 1);
        for (arm, col) in out.iter_mut().enumerate() {
            let (mut sum, mut time) = (0.0, 0.0);
            for (i, (start, values)) in points.iter().enumerate() {
                let end = points.get(i + 1).map_or(Micros::MAX, |p| p.0);
                let overlap = (end.min(t1) - (*start).max(t0)) as f64;
                if let (true, Some(v)) = (overlap > 0.0, values.get(arm).copied().flatten()) {
                    sum += v * overlap;
                    time += overlap;
                }
            }
            col[c] = (time > 0.0).then(|| sum / time);
        }
    }
    out
}

/// Stacked weights, rows top to bottom: each column's mean weights split among the arms (the
/// first at the bottom) in proportion.
pub fn weight_grid(b: &BanditBoard, axis: TimeAxis, w: usize, h: usize) -> Vec<Vec<char>> {
    let points: Vec<(Micros, Vec<Option<f64>>)> = b
        .history
        .iter()
        .map(|p| (p.started_at, p.weights.iter().copied().map(Some).collect()))
        .collect();
    let columns = piecewise_columns(&points, b.arms.len(), axis, w);
    let mut grid = vec![vec![' '; w]; h];
    for c in 0..w {
        let weights: Vec<f64> = columns.iter().map(|a| a[c].unwrap_or(0.0)).collect();
        let total: f64 = weights.iter().sum();
        if total <= 0.0 {
            continue;
        }
        let mut below = 0usize;
        let mut cum = 0.0;
        for (i, weight) in weights.iter().enumerate() {
            cum += weight / total;
            let top = ((cum * h as f64).round() as usize).min(h);
            for row in below..top {
                grid[h - 1 - row][c] = marker(i);
            }
            below = below.max(top);
        }
    }
    grid
}

/// Columns of the weights chart under which an update (period 2 onwards) began.
pub fn update_ticks(b: &BanditBoard, axis: TimeAxis, w: usize) -> Vec<bool> {
    let mut ticks = vec![false; w];
    for p in b.history.iter().filter(|p| p.period > 1) {
        if p.started_at >= axis.from && p.started_at <= axis.to {
            ticks[axis.col_of(p.started_at, w)] = true;
        }
    }
    ticks
}

/// P(best) per arm per column, from the posterior stored with each update (the mean over
/// the column's span); `None` before the first update.
pub fn p_best_columns(b: &BanditBoard, axis: TimeAxis, w: usize) -> Vec<Vec<Option<f64>>> {
    let points: Vec<(Micros, Vec<Option<f64>>)> = b
        .history
        .iter()
        .filter(|p| p.p_best.iter().any(Option::is_some))
        .map(|p| (p.started_at, p.p_best.clone()))
        .collect();
    piecewise_columns(&points, b.arms.len(), axis, w)
}

/// Cumulative reward per arm per column, linear between the totals stored at each period's
/// start (0 at the creation) and the board's total now.
pub fn reward_columns(b: &BanditBoard, axis: TimeAxis, w: usize) -> Vec<Vec<Option<f64>>> {
    (0..b.arms.len())
        .map(|arm| {
            let mut points: Vec<(Micros, f64)> = b
                .history
                .iter()
                .filter_map(|p| {
                    let v = p.cumulative_reward.get(arm).copied().flatten()?;
                    Some((p.started_at.max(axis.from), v))
                })
                .collect();
            points.push((axis.to, b.arms[arm].cumulative_reward));
            (0..w)
                .map(|c| {
                    let t = axis.col_end(c, w);
                    let after = points.iter().position(|(at, _)| *at >= t)?;
                    let (t1, v1) = points[after];
                    match after.checked_sub(1).map(|i| points[i]) {
                        Some((t0, v0)) if t1 > t0 => {
                            Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
                        }
                        _ if t1 == t => Some(v1),
                        _ => None,
                    }
                })
                .collect()
        })
        .collect()
}

/// One character per arm at its value's row in each column (`*` where arms meet), rows top
/// to bottom over [lo, hi]; `mark` fills the empty cells of one row (the winner line).
pub fn line_grid(
    columns: &[Vec<Option<f64>>],
    lo: f64,
    hi: f64,
    h: usize,
    mark: Option<(f64, char)>,
) -> Vec<Vec<char>> {
    let w = columns.first().map_or(0, Vec::len);
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let row_of = |v: f64| {
        let y = ((hi - v) / span).clamp(0.0, 1.0);
        ((y * (h.max(1) - 1) as f64).round() as usize).min(h.saturating_sub(1))
    };
    let mut grid = vec![vec![' '; w]; h];
    for (i, col) in columns.iter().enumerate() {
        let m = marker(i);
        for (c, v) in col.iter().enumerate() {
            let Some(v) = v.filter(|v| v.is_finite()) else {
                continue;
            };
            let cell = &mut grid[row_of(v)][c];
            *cell = if *cell == ' ' || *cell == m {
                m
            } else {
                OVERLAP
            };
        }
    }
    if let Some((v, ch)) = mark.filter(|(v, _)| winner_line_drawn((v - lo) / span, h)) {
        let r = row_of(v);
        {
            for cell in grid[r].iter_mut().filter(|c| **c == ' ') {
                *cell = ch;
            }
        }
    }
    grid
}

/// Whether a line at `share` of the height (0 bottom, 1 top) has a row of its own among `h`:
/// on the top or bottom row it would read as the box's border or the axis.
fn winner_line_drawn(share: f64, h: usize) -> bool {
    let r = (((1.0 - share.clamp(0.0, 1.0)) * (h.max(1) - 1) as f64).round()) as usize;
    r > 0 && r + 1 < h
}

pub fn render(app: &App, b: &BanditBoard, frame: &mut Frame, area: Rect) {
    let second = match app.bandit_chart {
        BanditChart::PBest => Chart::PBest,
        BanditChart::Reward => Chart::Reward,
    };
    let kinds: Vec<Chart> = if area.width >= THREE_CHARTS {
        vec![Chart::Weights, Chart::PBest, Chart::Reward]
    } else if area.width >= TWO_CHARTS {
        vec![Chart::Weights, second]
    } else {
        vec![Chart::Weights]
    };
    let areas = Layout::horizontal(kinds.iter().map(|_| Constraint::Fill(1))).split(area);
    for (kind, rect) in kinds.into_iter().zip(areas.iter()) {
        chart(app, b, kind, frame, *rect);
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Chart {
    Weights,
    PBest,
    Reward,
}

fn chart(app: &App, b: &BanditBoard, kind: Chart, frame: &mut Frame, area: Rect) {
    let axis = TimeAxis::of(b, app.snapshot.read_at);
    let span = ago(axis.to - axis.from);
    let updates = b.history.iter().filter(|p| p.period > 1).count();
    let h = area.height.saturating_sub(3) as usize;
    let threshold = format::probability(b.winner_threshold);
    let title = match kind {
        Chart::Weights if updates == 0 => format!(" weights · {span} · no update yet "),
        Chart::Weights => format!(" weights · {span} · {UPDATE} {updates} updates "),
        Chart::PBest if winner_line_drawn(b.winner_threshold, h) => {
            format!(" P(best) · {THRESHOLD} winner at {threshold} ")
        }
        Chart::PBest => format!(" P(best) · winner at {threshold} "),
        Chart::Reward => format!(" cumulative {} ", reward_word(b.reward)),
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let (labels, grid) =
        match kind {
            Chart::Weights => {
                let labels = (format::probability(1.0), format::probability(0.0));
                let w = plot_width(inner.width, &labels);
                (labels, weight_grid(b, axis, w, h))
            }
            Chart::PBest => {
                let labels = (format::probability(1.0), format::probability(0.0));
                let w = plot_width(inner.width, &labels);
                let cols = p_best_columns(b, axis, w);
                if cols.iter().flatten().all(Option::is_none) {
                    frame.render_widget(
                    Paragraph::new(super::text::wrap(
                        "No update yet: P(best) over time starts at the first update after \
                         the explore stage.",
                        inner.width as usize,
                    )
                    .into_iter()
                    .map(Line::from)
                    .collect::<Vec<_>>()),
                    inner,
                );
                    return;
                }
                let mark = Some((b.winner_threshold, THRESHOLD));
                (labels, line_grid(&cols, 0.0, 1.0, h, mark))
            }
            Chart::Reward => {
                let probe = plot_width(inner.width, &(String::new(), String::new()));
                let cols = reward_columns(b, axis, probe);
                let values = cols.iter().flatten().flatten().copied();
                let hi = values.clone().fold(0.0, f64::max);
                let lo = values.fold(0.0, f64::min);
                let hi = if hi > lo { hi } else { lo + 1.0 };
                let labels = (total_text(app, b.reward, hi), total_text(app, b.reward, lo));
                let w = plot_width(inner.width, &labels);
                let cols = reward_columns(b, axis, w);
                (labels, line_grid(&cols, lo, hi, h, None))
            }
        };
    let label_width = labels.0.chars().count().max(labels.1.chars().count());
    let mut lines: Vec<Line> = grid
        .iter()
        .enumerate()
        .map(|(row, cells)| {
            let label = if row == 0 {
                labels.0.as_str()
            } else if row + 1 == grid.len() {
                labels.1.as_str()
            } else {
                ""
            };
            let mut spans = vec![Span::raw(format!("{label:>label_width$}│"))];
            // The winner line is faint; the arms' characters on its row stay plain.
            let mut run = String::new();
            let mut faint = false;
            for &c in cells {
                let is_mark = kind == Chart::PBest && c == THRESHOLD;
                if is_mark != faint && !run.is_empty() {
                    spans.push(styled(std::mem::take(&mut run), faint, app));
                }
                faint = is_mark;
                run.push(c);
            }
            if !run.is_empty() {
                spans.push(styled(run, faint, app));
            }
            Line::from(spans)
        })
        .collect();
    let w = grid.first().map_or(0, Vec::len);
    let axis_row: String = if kind == Chart::Weights {
        update_ticks(b, axis, w)
            .into_iter()
            .map(|t| if t { UPDATE } else { '─' })
            .collect()
    } else {
        "─".repeat(w)
    };
    lines.push(Line::from(format!("{:label_width$}└{axis_row}", "")));
    frame.render_widget(Paragraph::new(lines), inner);
}

fn styled(text: String, faint: bool, app: &App) -> Span<'static> {
    if faint {
        Span::styled(text, app.theme.faint)
    } else {
        Span::raw(text)
    }
}

/// Columns left for the plot right of the labels and the axis line.
fn plot_width(inner: u16, labels: &(String, String)) -> usize {
    let label = labels.0.chars().count().max(labels.1.chars().count());
    (inner as usize).saturating_sub(label + 1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::bandit::{BoardArm, BoardPeriod};
    use crate::domain::{CampaignKind, PolicyKind, RewardKind, Status};
    use crate::store::Stage;

    /// A two-arm board whose periods start at `starts` with `weights`; per-arm P(best) and
    /// cumulative reward stored from the second period on.
    fn board(starts: &[Micros], weights: &[[f64; 2]], rewards: &[[f64; 2]]) -> BanditBoard {
        let arm = |key: &str, total: f64| BoardArm {
            key: key.into(),
            weight: 0.5,
            units: 10,
            reward_mean: Some(0.1),
            lower: Some(0.0),
            upper: Some(0.2),
            p_best: Some(0.5),
            cumulative_reward: total,
        };
        let history = starts
            .iter()
            .enumerate()
            .map(|(i, &t)| BoardPeriod {
                period: i as i64 + 1,
                started_at: t,
                stage: if i == 0 {
                    Stage::Explore
                } else {
                    Stage::Exploit
                },
                units: i as i64 * 10,
                weights: weights[i].to_vec(),
                leader: None,
                leader_p_best: None,
                p_best: if i == 0 {
                    vec![None, None]
                } else {
                    weights[i].iter().copied().map(Some).collect()
                },
                cumulative_reward: rewards[i].iter().copied().map(Some).collect(),
            })
            .collect();
        BanditBoard {
            campaign: "k".into(),
            name: "k".into(),
            kind: CampaignKind::Bandit,
            status: Status::Running,
            policy: PolicyKind::Thompson,
            reward: RewardKind::Conversion,
            contextual: false,
            stage: Stage::Exploit,
            period: starts.len() as i64,
            period_started_at: *starts.last().unwrap_or(&0),
            last_update_at: None,
            next_update: None,
            explored: true,
            floor: 0.01,
            reward_delay_secs: 0,
            winner_threshold: 0.95,
            explore_min_units: 100,
            explore_min_secs: 60,
            learning_since: 0,
            leader: None,
            winner: None,
            total_units: 20,
            regret: None,
            arms: vec![arm("a", 30.0), arm("b", 60.0)],
            history,
        }
    }

    fn axis(to: Micros) -> TimeAxis {
        TimeAxis { from: 0, to }
    }

    #[test]
    fn a_column_shows_the_time_weighted_mean_of_the_periods_it_covers() {
        let points = vec![
            (0, vec![Some(1.0), Some(0.0)]),
            (30, vec![Some(0.0), Some(1.0)]),
        ];
        let one = piecewise_columns(&points, 2, axis(100), 1);
        assert!((one[0][0].expect("a") - 0.3).abs() < 1e-12, "{one:?}");
        assert!((one[1][0].expect("b") - 0.7).abs() < 1e-12, "{one:?}");
        let two = piecewise_columns(&points, 2, axis(100), 2);
        assert!((two[0][0].expect("a") - 0.6).abs() < 1e-12, "{two:?}");
        assert_eq!(two[0][1], Some(0.0));
        // Before the first point nothing is drawn.
        let late = piecewise_columns(&[(60, vec![Some(1.0), None])], 2, axis(100), 2);
        assert_eq!(late[0][0], None);
        assert_eq!(late[0][1], Some(1.0));
        assert_eq!(late[1][1], None, "an arm without a value stays blank");
    }

    #[test]
    fn stacked_weights_fill_every_row_in_arm_order_and_ticks_mark_updates() {
        let b = board(
            &[0, 50],
            &[[0.5, 0.5], [0.25, 0.75]],
            &[[0.0; 2], [1.0, 2.0]],
        );
        let grid = weight_grid(&b, axis(100), 2, 4);
        let col = |c: usize| grid.iter().map(|r| r[c]).collect::<String>();
        // Rows top to bottom; the first arm at the bottom.
        assert_eq!(col(0), "++oo");
        assert_eq!(col(1), "+++o");
        // The creation (period 1) is no update; period 2 began in the second column.
        assert_eq!(update_ticks(&b, axis(100), 2), vec![false, true]);
        assert_eq!(
            update_ticks(&b, axis(100), 4),
            vec![false, false, true, false]
        );
    }

    #[test]
    fn p_best_starts_at_the_first_update_and_reward_interpolates_to_now() {
        let b = board(
            &[0, 50],
            &[[0.5, 0.5], [0.2, 0.8]],
            &[[0.0; 2], [10.0, 20.0]],
        );
        let p = p_best_columns(&b, axis(100), 2);
        assert_eq!(p[0], vec![None, Some(0.2)]);
        assert_eq!(p[1], vec![None, Some(0.8)]);
        // 0 at the creation, 10 at 50, the board's 30 now (100): at the columns' ends.
        let r = reward_columns(&b, axis(100), 4);
        let a: Vec<f64> = r[0].iter().map(|v| v.expect("value")).collect();
        assert_eq!(a, vec![5.0, 10.0, 20.0, 30.0]);
        assert_eq!(r[1][3], Some(60.0));
    }

    #[test]
    fn arms_that_meet_show_the_overlap_and_the_winner_line_needs_its_own_row() {
        let cols = vec![vec![Some(0.5), Some(1.0)], vec![Some(0.5), Some(0.0)]];
        let grid = line_grid(&cols, 0.0, 1.0, 5, Some((0.75, THRESHOLD)));
        let rows: Vec<String> = grid.iter().map(|r| r.iter().collect()).collect();
        assert_eq!(rows, vec![" o", "--", "* ", "  ", " +"]);
        // On 3 rows 95% falls on the top row: no line (it would read as the border).
        let small = line_grid(&cols, 0.0, 1.0, 3, Some((0.95, THRESHOLD)));
        assert!(small.iter().flatten().all(|c| *c != THRESHOLD));
    }
}
