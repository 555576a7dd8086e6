//! The Models panel: the selected campaign's model versions (version, learner, status with the
//! active one marked `*`, created, training rows, validation log loss, AUC), newest first, the
//! active version's calibration chart and top features and crosses (`view_models_chart`),
//! then the retrain job (`r`: a learner choice, then a gauge while it runs, Esc cancels,
//! then its result) exactly as the other job panels show it. The rows are
//! `app::models::list`'s, read on the data thread into the snapshot, and every figure goes
//! through `format.rs` with the decimals `model list` prints, so the panel and the CLI agree.
//! The whole panel is one scrolled text: `update` bounds scrolling with the same [`lines`].

use super::state::App;
use super::text;
use super::view_models_chart as chart;
use crate::app::models::VersionView;
use crate::clock::format_rfc3339;
use crate::format;
use crate::jobs::JobKind;
use crate::model::eval::ReliabilityBin;
use crate::store::ACTIVE;
use crate::text::escape_control;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::Frame;
use serde_json::Value;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let campaign = app
        .selected_key
        .clone()
        .unwrap_or_else(|| "no campaign selected".into());
    let width = area.width.saturating_sub(2) as usize;
    super::view::scrolled(
        app,
        frame,
        area,
        format!(" Models — {campaign} "),
        lines(app, width),
    );
    if let Some(at) = app.learner_pick {
        super::view_models_chart::render_pick(app, at, frame, area);
    }
}

/// Everything the panel shows, top to bottom: versions, calibration, the retrain job.
pub fn lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    // Versions read for another campaign than the one selected are not shown as its own.
    let versions: &[VersionView] = if app.snapshot.focus == app.selected_key {
        &app.snapshot.models
    } else {
        &[]
    };
    if app.selected_key.is_some() {
        out.extend(version_lines(app, versions, width));
        out.push(Line::raw(""));
        if !app.read_only {
            for l in text::wrap(&chart::learner_line(app), width) {
                out.push(Line::raw(l));
            }
        }
    }
    // The job sits under the list, so its gauge and result stay on an 80x24 screen; the
    // active version's pictures follow.
    out.extend(text::job_lines(
        &app.job_panel(JobKind::Retrain),
        &app.theme,
        width,
    ));
    if app.selected_key.is_some() {
        out.push(Line::raw(""));
        out.extend(active_lines(versions, width));
    }
    out
}

/// Validation log loss as `model list` prints it.
pub fn loss_text(v: &VersionView) -> String {
    format::opt(v.validation_log_loss, |x| format!("{x:.4}"))
}

/// The version's holdout AUC from its metrics (`holdout_auc`, or `auc` as a number or an
/// object with an `auc` field), as `train` prints it.
pub fn auc_text(v: &VersionView) -> String {
    let auc = ["holdout_auc", "auc"]
        .iter()
        .find_map(|k| match v.metrics.get(k)? {
            Value::Object(o) => o.get("auc")?.as_f64(),
            x => x.as_f64(),
        });
    format::opt(auc, |a| format!("{a:.3}"))
}

/// Training rows, grouped.
pub fn rows_text(v: &VersionView) -> String {
    v.train_rows
        .map_or(format::MISSING.to_owned(), format::count)
}

/// Creation time to the minute (`2026-11-01 12:10`), short enough for 80 columns.
fn created_text(v: &VersionView) -> String {
    format_rfc3339(v.created_at)
        .chars()
        .take(16)
        .map(|c| if c == 'T' { ' ' } else { c })
        .collect()
}

fn row(mark: &str, cells: [&str; 7]) -> String {
    let [version, learner, status, created, rows, loss, auc] = cells;
    format!(
        "{mark}{version:>4}  {learner:<10}  {status:<9}  {created:<16}  {rows:>10}  {loss:>9}  {auc:>5}"
    )
}

fn version_lines(app: &App, versions: &[VersionView], width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if versions.is_empty() {
        for l in text::wrap(
            "No model versions yet: r trains one, and each run is stored as a new version.",
            width,
        ) {
            out.push(Line::raw(l));
        }
        return out;
    }
    out.push(Line::styled(
        format!(
            "Model versions ({}, newest first; * active)",
            versions.len()
        ),
        app.theme.title,
    ));
    out.push(Line::styled(
        row(
            " ",
            [
                "ver",
                "learner",
                "status",
                "created",
                "train rows",
                "val. loss",
                "AUC",
            ],
        ),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    for v in versions.iter().rev() {
        let active = v.status == ACTIVE;
        let learner: String = escape_control(&v.learner).chars().take(10).collect();
        let line = row(
            if active { "*" } else { " " },
            [
                &v.version.to_string(),
                &learner,
                &v.status,
                &created_text(v),
                &rows_text(v),
                &loss_text(v),
                &auc_text(v),
            ],
        );
        out.push(if active {
            Line::styled(line, Style::default().add_modifier(Modifier::BOLD))
        } else {
            Line::raw(line)
        });
    }
    out
}

/// The active version's calibration chart and top features, or how to make one active.
fn active_lines(versions: &[VersionView], width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    match versions.iter().find(|v| v.status == ACTIVE) {
        Some(a) => {
            out.extend(calibration_lines(a, width).into_iter().map(Line::raw));
            out.extend(chart::weight_lines(a, width).into_iter().map(Line::raw));
        }
        None if versions.is_empty() => {}
        None => out.push(Line::raw(
            "No active version: `liftdeck model activate` makes one the reports use.",
        )),
    }
    out
}

/// The reliability bins and ECE in a version's metrics, if it carries them: at the top level
/// (`bins`, `ece`) or under `evaluation` / `calibration` (as `model::eval::Evaluation`).
pub fn reliability(metrics: &Value) -> Option<(Vec<ReliabilityBin>, Option<f64>)> {
    let place = [
        Some(metrics),
        metrics.get("evaluation"),
        metrics.get("calibration"),
    ]
    .into_iter()
    .flatten()
    .find(|m| m.get("bins").is_some_and(Value::is_array))?;
    let bins: Vec<ReliabilityBin> = serde_json::from_value(place.get("bins")?.clone()).ok()?;
    if bins.is_empty() {
        return None;
    }
    Some((bins, place.get("ece").and_then(Value::as_f64)))
}

/// The active version's calibration as text: per non-empty bin, mean predicted → observed
/// rate (units), packed into rows; without bins, the overall predicted and observed rates.
pub fn calibration_lines(v: &VersionView, width: usize) -> Vec<String> {
    let head = format!("Calibration of active version {}", v.version);
    if let Some((bins, ece)) = reliability(&v.metrics) {
        let mut out = vec![format!(
            "{head}: ECE {}; per bin predicted → observed (units):",
            format::opt(ece, |e| format!("{e:.4}"))
        )];
        out.extend(chart::chart_lines(&bins, width));
        return out;
    }
    let rate = |k: &str| v.metrics.get(k).and_then(Value::as_f64);
    let overall = match (rate("predicted_rate"), rate("observed_rate")) {
        (Some(p), Some(o)) => format!(
            ": predicted {} vs observed {} on the holdout",
            format::rate(p),
            format::rate(o)
        ),
        _ => String::new(),
    };
    text::wrap(
        &format!("{head}{overall} (its metrics carry no reliability bins)."),
        width,
    )
}
