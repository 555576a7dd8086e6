//! The Causal panel's saved reports: the newest causal, DiD and uplift reports of the campaign
//! (`app::reports`, read with the snapshot), listed under the job's result; `[` steps to an
//! older one and shows it whole in place of the result in force, `]` back towards the newest.
//! A restarted console shows them as they were saved.

use super::state::App;
use super::text;
use ratatui::text::Line;

impl App {
    /// The saved reports the panel lists: the snapshot's, when it is about the selected
    /// campaign.
    pub fn saved_reports(&self) -> &[crate::app::reports::SavedReport] {
        if self.snapshot.focus != self.selected_key {
            return &[];
        }
        &self.snapshot.saved_reports
    }

    /// `[`: one saved report older (from the result in force, the newest saved one).
    pub(super) fn older_report(&mut self) {
        let n = self.saved_reports().len();
        if n == 0 {
            self.status_line = "no saved reports yet: c runs one".into();
            return;
        }
        let next = self.saved_cursor.map_or(0, |i| i + 1);
        if next >= n {
            self.status_line =
                format!("oldest of the {n} saved reports shown here (more: report list)");
            return;
        }
        self.saved_cursor = Some(next);
        self.scroll = 0;
    }

    /// `]`: one saved report newer; past the newest, back to the job's result in force.
    pub(super) fn newer_report(&mut self) {
        self.saved_cursor = match self.saved_cursor {
            Some(0) | None => None,
            Some(i) => Some(i - 1),
        };
        self.scroll = 0;
    }
}

/// The Causal panel's lines: the job (what `c` does, its progress, the result in force) or the
/// saved report chosen with `[`, then the list of saved reports with the chosen one marked.
pub fn causal_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let saved = app.saved_reports();
    let chosen = app.saved_cursor.and_then(|i| saved.get(i));
    let mut lines = match chosen {
        None => text::job_lines(&app.job_panel(app.causal_job), &app.theme, width),
        Some(r) => {
            let mut l: Vec<Line> = text::wrap(
                &format!(
                    "saved report {} — {} units, data {} .. {} (] newer, [ older)",
                    crate::app::reports::summary_line(r),
                    crate::format::count(r.units),
                    r.window_from.as_deref().unwrap_or("-"),
                    r.window_to.as_deref().unwrap_or("-"),
                ),
                width,
            )
            .into_iter()
            .map(|s| Line::styled(s, app.theme.title))
            .collect();
            l.push(Line::from(""));
            let body = crate::app::reports::body_for_width(r, &app.numbers, width);
            l.extend(text::wrap(&body, width).into_iter().map(Line::from));
            l
        }
    };
    lines.push(Line::from(""));
    if saved.is_empty() {
        lines.push(Line::styled(
            "saved reports: none yet (each report c runs is kept)".to_string(),
            app.theme.title,
        ));
        return lines;
    }
    lines.push(Line::styled(
        format!("saved reports ({}; [ older, ] newer):", saved.len()),
        app.theme.title,
    ));
    for (i, r) in saved.iter().enumerate() {
        let mark = if app.saved_cursor == Some(i) {
            ">"
        } else {
            " "
        };
        let line = format!("{mark} {}", crate::app::reports::summary_line(r));
        // One line each: a long headline is cut, the whole report is one key away.
        let cut: String = line.chars().take(width.max(1)).collect();
        if app.saved_cursor == Some(i) {
            lines.push(Line::styled(cut, app.theme.selected));
        } else {
            lines.push(Line::from(cut));
        }
    }
    lines
}
