//! The Models, Causal and Forecast panels: each runs one background job (`r`, `c`, `F`),
//! shows its progress as a gauge while it runs (Esc cancels), then its result. Before a job
//! has run in this session they say what the key will produce and when it last ran.

use super::state::{App, JobState, Panel};
use crate::app::causal::CausalReport;
use crate::jobs::{JobKind, JobOutput};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Wrap};
use ratatui::Frame;

fn about(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Retrain => {
            "r retrains the conversion model p = sigmoid(w·x + b) on this campaign's units \
             (context, arm, converted), holds out 20% and reports log loss against the base \
             rate, AUC and calibration. Each run is stored as a new model version."
        }
        JobKind::Causal => {
            "c estimates each arm's effect on conversion, revenue and profit per unit, \
             weighting units by the propensity logged at assignment (IPW), beside the naive \
             difference, and checks the balance of pre_value between arms."
        }
        JobKind::Forecast => {
            "F projects shipping each arm to all traffic for 30 days at the recent unit rate: \
             incremental conversions, revenue, cost, profit and ROI with 95% intervals."
        }
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect, panel: Panel, kind: JobKind) {
    let campaign = app
        .selected_campaign()
        .map_or("no campaign selected".to_string(), |r| {
            r.campaign.spec.key.clone()
        });
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} — {campaign} ", panel.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut head = vec![Line::from(about(kind))];
    if let Some(j) = app.snapshot.jobs.iter().find(|j| j.kind == kind.as_str()) {
        let when = crate::clock::format_rfc3339(j.finished_at.unwrap_or(j.started_at));
        let mut line = format!("last run: {} {when} by {}", j.status, j.actor);
        if let Some(e) = &j.error {
            line.push_str(&format!(" — {e}"));
        }
        head.push(Line::from(line));
    }
    let head_height = if inner.width >= 100 { 3 } else { 5 };
    let [top, rest] =
        Layout::vertical([Constraint::Length(head_height), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Paragraph::new(head).wrap(Wrap { trim: true }), top);
    let Some(job) = app.job(kind) else {
        return;
    };
    match &job.state {
        JobState::Running { done, stage } => {
            let [gauge, _] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(rest);
            frame.render_widget(
                Gauge::default()
                    .gauge_style(app.theme.selected)
                    .ratio(done.clamp(0.0, 1.0))
                    .label(format!("{:.0}% {stage} — Esc cancels", 100.0 * done)),
                gauge,
            );
        }
        JobState::Failed(e) => frame.render_widget(
            Paragraph::new(format!("FAILED: {e}"))
                .style(app.theme.alarm.add_modifier(Modifier::BOLD))
                .wrap(Wrap { trim: true }),
            rest,
        ),
        JobState::Cancelled => frame.render_widget(
            Paragraph::new(format!("{} of {} cancelled", kind.as_str(), job.campaign)),
            rest,
        ),
        JobState::Done(out) => {
            let text = match out {
                JobOutput::Model(m) => crate::app::train::format_text(m),
                JobOutput::Forecast(f) => crate::app::forecast::format_text(f),
                JobOutput::Causal(c) => causal_text(c, rest.width >= 100),
            };
            frame.render_widget(
                Paragraph::new(text.lines().map(Line::from).collect::<Vec<_>>()),
                rest,
            );
        }
    }
}

/// The causal report, with the naive column and effective units dropped on narrow screens.
fn causal_text(r: &CausalReport, wide: bool) -> String {
    let mut s = String::new();
    for o in &r.outcomes {
        s.push_str(&format!("{} (vs {})\n", o.outcome, r.control));
        for a in o.arms.iter().filter(|a| a.arm != r.control) {
            let Some(e) = &a.effect else {
                s.push_str(&format!(
                    "  {:<10} {:>7} units  not enough data\n",
                    a.arm, a.units
                ));
                continue;
            };
            let naive = if wide {
                format!(
                    "  naive {:+.4}  eff.units {:.0}",
                    e.naive_diff, a.effective_units
                )
            } else {
                String::new()
            };
            s.push_str(&format!(
                "  {:<10} IPW {:+.4} [{:+.4}, {:+.4}] p={:.3}{naive}\n",
                a.arm, e.ipw_diff, e.ipw_ci.0, e.ipw_ci.1, e.p_value
            ));
        }
    }
    for b in &r.balance {
        if let Some(x) = &b.balance {
            s.push_str(&format!(
                "balance {}: pre_value SMD {:+.3} weighted {:+.3}{}\n",
                b.arm,
                x.smd_raw,
                x.smd_weighted,
                if b.imbalanced { " IMBALANCED" } else { " ok" }
            ));
        }
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s
}
