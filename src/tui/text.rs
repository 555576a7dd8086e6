//! The text panels (Models, Causal, Forecast, Health) as lines, and the screen geometry they
//! scroll in. Both `update` (to bound scrolling) and the view (to draw) build the same lines
//! here, so what scrolls is exactly what is drawn; long lines wrap instead of being cut. A job's
//! result is the CLI's text for the panel's width (`app::train`, `app::causal`,
//! `app::forecast` render it), so the console and the CLI cannot print different figures.

use super::jobview::{JobState, JobView};
use super::theme::Theme;
use crate::app::snapshot::{Snapshot, StoredJob};
use crate::domain::Micros;
use crate::format::NumberFormat;
use crate::jobs::{JobKind, JobOutput};
use ratatui::text::Line;

/// Rows above the panel body (tabs, the session line) and below it (status, two-line footer).
pub const ROWS_ABOVE: u16 = 2;
pub const ROWS_BELOW: u16 = 3;

/// Rows of text inside a bordered panel body on a `height`-row terminal.
pub fn text_rows(height: u16) -> usize {
    height.saturating_sub(ROWS_ABOVE + ROWS_BELOW + 2) as usize
}

/// Where a scrolled text starts, how many lines show, and what is left below: when the text
/// is longer than `rows`, the last row says how much more there is, so nothing is cut
/// silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub offset: usize,
    pub shown: usize,
    pub below: usize,
    /// Whether the last row is the "↓ N more" indicator.
    pub indicator: bool,
}

pub fn window(total: usize, rows: usize, scroll: usize) -> Window {
    if total <= rows {
        return Window {
            offset: 0,
            shown: total,
            below: 0,
            indicator: false,
        };
    }
    let shown = rows.saturating_sub(1);
    let offset = scroll.min(total - shown);
    Window {
        offset,
        shown,
        below: total - offset - shown,
        indicator: rows > 0,
    }
}

/// The furthest scroll offset that still fills the window.
pub fn max_scroll(total: usize, rows: usize) -> usize {
    window(total, rows, usize::MAX).offset
}

/// The indicator row's text.
pub fn indicator(w: &Window) -> String {
    match (w.offset, w.below) {
        (0, b) => format!("↓ {b} more (j, PgDn)"),
        (a, 0) => format!("↑ {a} above (k, PgUp) · end"),
        (a, b) => format!("↓ {b} more · ↑ {a} above"),
    }
}

/// Items joined by `sep` in rows of `width`; an item is never split across rows unless it is
/// longer than a row on its own (then it wraps). The legend of the A/B chart and the Bandit
/// panel's status lines.
pub fn pack(items: &[String], width: usize, sep: &str) -> Vec<String> {
    let gap = sep.chars().count();
    let mut rows: Vec<String> = Vec::new();
    for item in items {
        match rows.last_mut() {
            Some(row) if row.chars().count() + gap + item.chars().count() <= width => {
                row.push_str(sep);
                row.push_str(item);
            }
            _ => rows.extend(wrap(item, width)),
        }
    }
    rows
}

/// Word-wraps `text` to `width` columns; continuation lines of an indented line keep its
/// indent plus two spaces (prose wraps flush). A word longer than a line is split rather than lost.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    for raw in text.lines() {
        if raw.chars().count() <= width {
            out.push(raw.to_string());
            continue;
        }
        let indent: String = raw.chars().take_while(|c| *c == ' ').collect();
        // Past half the width an indent would leave no room to make progress.
        let hang = if !indent.is_empty() && indent.len() + 2 < width / 2 {
            format!("{indent}  ")
        } else {
            String::new()
        };
        let mut line = String::new();
        for word in raw.split_whitespace() {
            if line.is_empty() {
                line = format!("{indent}{word}");
            } else if line.chars().count() + 1 + word.chars().count() <= width {
                line.push(' ');
                line.push_str(word);
            } else {
                out.push(std::mem::take(&mut line));
                line = format!("{hang}{word}");
            }
            while line.chars().count() > width {
                out.push(line.chars().take(width).collect());
                line = format!("{hang}{}", line.chars().skip(width).collect::<String>());
            }
        }
        if !line.is_empty() {
            out.push(line);
        }
    }
    out
}

fn about(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Retrain => {
            "r retrains the conversion model p = sigmoid(w·x + b) on this campaign's units \
             (context, arm, converted), validates on the newest 20% (log loss against the \
             base rate, AUC, calibration) and stores a new version."
        }
        JobKind::Causal => {
            "c estimates each arm's effect on conversion, revenue and profit per unit, \
             weighting units by the propensity logged at assignment (IPW), beside the naive \
             difference, and checks the balance of pre_value between arms."
        }
        JobKind::Uplift => {
            "u trains a T-learner (a conversion model per arm) on a hashed 70% of units and \
             scores the rest: the Qini curve and coefficient, AUUC, uplift by decile and whom \
             to target."
        }
        JobKind::Did => {
            "report did KEY --post-start TS --period week estimates a region- or \
             cohort-launched campaign's effect by difference in differences; its saved \
             reports are listed below."
        }
        JobKind::Forecast => {
            "a projects shipping each arm of the selected campaign to all traffic for 30 days at \
             the recent unit rate: incremental conversions, revenue, cost, profit and ROI with \
             95% intervals."
        }
        JobKind::PlanBudget => {
            "B chooses per user which depth of the plan's offer (or none) to give within its \
             budget, and draws the cost curve against the two baselines."
        }
        JobKind::PlanForecast => {
            "F forecasts the plan (e edits it) from every past randomised campaign: \
             incremental orders, cost, profit and ROI with 80% and 95% intervals."
        }
    }
}

/// A text progress bar: readable without colour, and in a test's screen text.
fn bar(done: f64, stage: &str, width: usize) -> String {
    let cells = width.saturating_sub(40).clamp(10, 40);
    let filled = ((done.clamp(0.0, 1.0) * cells as f64).round() as usize).min(cells);
    format!(
        "[{}{}] {:.0}% {stage} — Esc cancels",
        "#".repeat(filled),
        "-".repeat(cells - filled),
        100.0 * done
    )
}

/// Where the result a job panel shows comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// The newest run produced it: nothing more to say.
    NewestRun,
    /// An earlier run, finished at this time, produced it.
    EarlierRun(Micros),
}

/// What a job panel reads: this session's run of the kind, the newest recorded run (with the
/// newest done one), and how to show numbers.
pub struct JobPanel<'a> {
    pub kind: JobKind,
    pub job: Option<&'a JobView>,
    pub stored: Option<&'a StoredJob>,
    /// A read-only session records nothing, so its own results are newer than the table's.
    pub read_only: bool,
    pub numbers: &'a NumberFormat,
}

impl JobPanel<'_> {
    /// The result the panel shows, whichever run produced it.
    pub fn result_output(&self) -> Option<JobOutput> {
        self.result().map(|(out, _)| out)
    }

    /// The result to show and where it came from. A run done in this session shows its own
    /// result; otherwise the newest done run's, from the jobs table (or, in a read-only
    /// session, this session's last one first). A cancelled or failed run shows none of its own.
    fn result(&self) -> Option<(JobOutput, Origin)> {
        let session = self.job.and_then(|j| j.result.as_ref());
        if let (Some(j), Some(r)) = (self.job, session) {
            if j.state == JobState::Done {
                return Some((r.output.clone(), Origin::NewestRun));
            }
        }
        let from_session = session.map(|r| (r.output.clone(), Origin::EarlierRun(r.at)));
        let from_table = self.stored.and_then(|s| {
            let done = s.last_done.as_ref()?;
            let output = JobOutput::from_json(self.kind, done.result.as_deref()?)?;
            // The newest recorded run is the one on screen unless this session runs another.
            let newest = !s.result_is_older() && self.job.is_none();
            let origin = if newest {
                Origin::NewestRun
            } else {
                Origin::EarlierRun(done.finished_at)
            };
            Some((output, origin))
        });
        if self.read_only {
            from_session.or(from_table)
        } else {
            from_table.or(from_session)
        }
    }
}

/// The lines of a job panel: what the key does, how the newest recorded run ended, this
/// session's run, and the result in force, saying which run produced it when that is not the
/// newest one.
pub fn job_lines(panel: &JobPanel, theme: &Theme, width: usize) -> Vec<Line<'static>> {
    let kind = panel.kind;
    let mut lines: Vec<Line> = wrap(about(kind), width)
        .into_iter()
        .map(Line::from)
        .collect();
    if let Some(j) = panel.stored {
        let when = crate::clock::format_rfc3339(j.finished_at.unwrap_or(j.started_at));
        let mut s = format!("last run: {} {when} by {}", j.status.as_str(), j.actor);
        if let Some(e) = &j.error {
            s.push_str(&format!(" — {e}"));
        }
        lines.extend(wrap(&s, width).into_iter().map(Line::from));
    }
    lines.push(Line::from(""));
    let result = panel.result();
    let keeps = if result.is_some() {
        ": the previous result stays below"
    } else {
        ""
    };
    if let Some(job) = panel.job {
        match &job.state {
            JobState::Running { done, stage } => {
                lines.push(Line::styled(bar(*done, stage, width), theme.selected));
            }
            JobState::Done => {}
            JobState::Failed(e) => {
                for l in wrap(&format!("FAILED: {e}{keeps}"), width) {
                    lines.push(Line::styled(l, theme.alarm));
                }
            }
            JobState::Cancelled => {
                let s = format!("{} of {} cancelled{keeps}", kind.as_str(), job.campaign);
                lines.extend(wrap(&s, width).into_iter().map(Line::from));
            }
        }
    }
    let Some((out, origin)) = result else {
        if panel.stored.is_some() && panel.job.is_none_or(|j| !j.is_running()) {
            lines.push(Line::from("no run has finished with a result yet"));
        }
        return lines;
    };
    if let Origin::EarlierRun(at) = origin {
        let s = format!(
            "showing the result of the run at {}:",
            crate::clock::format_rfc3339(at)
        );
        lines.extend(
            wrap(&s, width)
                .into_iter()
                .map(|l| Line::styled(l, theme.title)),
        );
    }
    let text = match &out {
        JobOutput::Model(m) => crate::app::train::format_text(m),
        JobOutput::Forecast(f) => {
            crate::app::forecast::format_text_for_width(f, panel.numbers, width)
        }
        JobOutput::Causal(c) => crate::app::causal::format_text_for_width(c, panel.numbers, width),
        JobOutput::PlanForecast(f) => {
            crate::app::plan_forecast::format_text(f, panel.numbers, width)
        }
        JobOutput::PlanBudget(b) => crate::app::plan_budget::format_text(b, panel.numbers),
        JobOutput::Uplift(u) => crate::app::uplift::format_text(u),
        JobOutput::Did(d) => d.format_text(),
        JobOutput::Observational(o) => {
            crate::app::causal_observational::format_text_for_width(o, panel.numbers, width)
        }
    };
    lines.extend(wrap(&text, width).into_iter().map(Line::from));
    lines
}

/// Audit rows the Health panel shows after its filters.
const AUDIT_SHOWN: usize = 20;

/// The Health panel as one scrolling text: verdicts and ingest activity, rejected lines, and
/// the audit log.
pub fn health_lines(
    snapshot: &Snapshot,
    audit_filter: &crate::store::AuditFilter,
    theme: &Theme,
    width: usize,
) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let mut section = |title: &str, body: Vec<&String>, empty: &str| {
        lines.push(Line::styled(title.to_string(), theme.title));
        if body.is_empty() {
            lines.push(Line::from(format!("  {empty}")));
        }
        for l in body {
            lines.extend(wrap(&format!("  {l}"), width).into_iter().map(Line::from));
        }
    };
    section(
        "Health",
        snapshot
            .health_lines
            .iter()
            .chain(&snapshot.activity)
            .collect(),
        "nothing read yet",
    );
    section(
        "Rejected lines",
        snapshot.rejects.iter().collect(),
        "no rejected lines",
    );
    // The filters (`c`, `a`) pick from the newest rows the snapshot read; the title says
    // which are in force so a filtered log is never mistaken for the whole one.
    let audit: Vec<String> = snapshot
        .audit_entries
        .iter()
        .filter(|e| {
            audit_filter
                .campaign
                .as_ref()
                .is_none_or(|c| e.campaign.as_ref() == Some(c))
                && audit_filter.action.as_ref().is_none_or(|a| &e.action == a)
        })
        .take(AUDIT_SHOWN)
        .map(crate::app::snapshot::audit_line)
        .collect();
    let title = match (&audit_filter.campaign, &audit_filter.action) {
        (None, None) => "Audit log (c campaign, a action)".to_string(),
        (c, a) => format!(
            "Audit log: campaign {}, action {} (c, a to change)",
            crate::text::escape_control(c.as_deref().unwrap_or("all")),
            crate::text::escape_control(a.as_deref().unwrap_or("all"))
        ),
    };
    section(&title, audit.iter().collect(), "no actions match");
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_the_indent() {
        let text = "  incremental revenue +607081.87 [-11956225.49, +13170389.23] and more words";
        let lines = wrap(text, 30);
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{lines:?}");
        let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(joined, words);
        assert!(lines[1].starts_with("    "));
        assert!(!wrap("flush prose that is long enough to wrap", 12)[1].starts_with(' '));
    }

    #[test]
    fn the_window_says_what_is_below_and_never_passes_the_end() {
        assert_eq!(window(5, 10, 3).shown, 5);
        let w = window(30, 10, 0);
        assert_eq!((w.offset, w.shown, w.below), (0, 9, 21));
        assert!(indicator(&w).contains("↓ 21 more"));
        let end = window(30, 10, 1000);
        assert_eq!((end.offset, end.below), (21, 0));
        assert_eq!(max_scroll(30, 10), 21);
    }
}
