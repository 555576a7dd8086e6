//! The Models panel's pictures of the active version: its calibration as a text chart (one
//! row per non-empty reliability bin: the observed rate as a bar, the mean predicted rate as
//! `|`, so a calibrated bin's bar ends at its mark, the diagonal of a reliability plot), its
//! top features and crosses with their weights, and the learner choice `r` opens. Names come
//! from data, so they are escaped before they reach the terminal.

use super::learner_pick::describe;
use super::state::App;
use super::text;
use crate::app::models::VersionView;
use crate::app::train::LearnerChoice;
use crate::format;
use crate::model::eval::ReliabilityBin;
use crate::text::escape_control;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;
use serde_json::Value;

/// Bars at most this wide, so a row fits 80 columns with its figures.
const BAR_MAX: usize = 24;
/// Feature names are cut here (hashed crosses can be long).
const NAME_MAX: usize = 28;

/// A bin's bounds as whole percentages: `10–20%`.
fn bounds(b: &ReliabilityBin) -> String {
    format!("{:.0}–{:.0}%", b.lower * 100.0, b.upper * 100.0)
}

/// A bin's figures as `model show` would read them: predicted → observed (units).
pub fn bin_figures(b: &ReliabilityBin) -> String {
    format!(
        "{} → {} ({})",
        format::rate(b.mean_predicted),
        format::rate(b.observed_rate),
        format::count(b.count as i64)
    )
}

/// The bar of one bin on a scale where `scale` fills `cells`: `█` up to the observed rate,
/// `|` at the mean predicted rate.
pub fn bar(b: &ReliabilityBin, scale: f64, cells: usize) -> String {
    let at = |x: f64| -> usize {
        if !(x.is_finite() && scale > 0.0) {
            return 0;
        }
        ((x / scale) * cells as f64)
            .round()
            .clamp(0.0, cells as f64) as usize
    };
    let filled = at(b.observed_rate);
    let mark = at(b.mean_predicted).min(cells.saturating_sub(1));
    (0..cells)
        .map(|i| match i {
            _ if i == mark => '|',
            _ if i < filled => '█',
            _ => ' ',
        })
        .collect()
}

/// The chart rows: a legend, then one row per non-empty bin (empty bins are skipped).
pub fn chart_lines(bins: &[ReliabilityBin], width: usize) -> Vec<String> {
    let shown: Vec<&ReliabilityBin> = bins.iter().filter(|b| b.count > 0).collect();
    let scale = shown
        .iter()
        .flat_map(|b| [b.mean_predicted, b.observed_rate])
        .filter(|x| x.is_finite())
        .fold(0.0_f64, f64::max);
    if shown.is_empty() || scale <= 0.0 {
        return vec!["  (no holdout row fell in any bin)".into()];
    }
    let labels: Vec<(String, String)> = shown.iter().map(|b| (bounds(b), bin_figures(b))).collect();
    let left = labels
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let right = labels
        .iter()
        .map(|(_, r)| r.chars().count())
        .max()
        .unwrap_or(0);
    // Two-space indent, label, space, bar, space, figures.
    let cells = width
        .saturating_sub(2 + left + 1 + 1 + right)
        .clamp(4, BAR_MAX);
    let mut out = vec![format!(
        "  bar = observed, | = predicted (calibrated: they meet); full bar {}",
        format::rate(scale)
    )];
    for (b, (label, figures)) in shown.iter().zip(&labels) {
        out.push(format!(
            "  {label:>left$} {} {figures}",
            bar(b, scale, cells)
        ));
    }
    out
}

/// A signed model weight to three decimals (`+0.412`, `-1.030`); `-` when not a number.
pub fn weight_text(w: f64) -> String {
    if w.is_finite() {
        format!("{w:+.3}")
    } else {
        format::MISSING.into()
    }
}

/// `[name, weight]` pairs from the metrics field `key`.
pub fn weights(metrics: &Value, key: &str) -> Vec<(String, f64)> {
    metrics
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let name = p.get(0)?.as_str()?;
                    let w = p.get(1)?.as_f64()?;
                    Some((name.to_string(), w))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The active version's top features and crosses, each `name weight`, packed into rows.
pub fn weight_lines(v: &VersionView, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (key, title) in [
        ("top_features", "Top features"),
        ("top_crosses", "Top crosses (user field x offer)"),
    ] {
        let pairs = weights(&v.metrics, key);
        if pairs.is_empty() {
            continue;
        }
        out.push(format!(
            "{title} of version {} (weight, largest first):",
            v.version
        ));
        let cells: Vec<String> = pairs
            .iter()
            .map(|(name, w)| {
                let name: String = escape_control(name).chars().take(NAME_MAX).collect();
                format!("{name} {}", weight_text(*w))
            })
            .collect();
        out.extend(
            text::pack(&cells, width.saturating_sub(2), " · ")
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    out
}

/// The retrain line under the versions: which learner `r` starts with.
pub fn learner_line(app: &App) -> String {
    format!(
        "r retrains with a learner choice (this session's last: {}); Enter starts, Esc closes.",
        app.learner.name()
    )
}

/// The learner choice over the Models panel while it is open.
pub fn render_pick(app: &App, at: usize, frame: &mut Frame, area: Rect) {
    let rows: Vec<Line> = LearnerChoice::ALL
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let text = format!(
                "{} {:<7} {}",
                if i == at { ">" } else { " " },
                l.name(),
                describe(*l)
            );
            if i == at {
                Line::styled(text, app.theme.selected.add_modifier(Modifier::BOLD))
            } else {
                Line::raw(text)
            }
        })
        .chain([Line::styled(
            "↑/↓ choose · Enter retrain · Esc close",
            Style::default().add_modifier(Modifier::DIM),
        )])
        .collect();
    let rect = super::view::centered(area, 54, rows.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(rows).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Retrain with which learner? "),
        ),
        rect,
    );
}
