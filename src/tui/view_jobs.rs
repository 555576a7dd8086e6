//! The Causal and Forecast panels (and the job part of Models, `view_models.rs`): each runs
//! one background job (`r`, `c`, `F`),
//! shows its progress while it runs (Esc cancels), then its result. How the newest recorded
//! run ended (cancelled, failed with its error) is shown above the result in force, the newest
//! done run's, which says when it ran when it is not the newest. The text scrolls and says
//! how much is below, so a long forecast or causal report is never cut.

use super::state::App;
use super::text;
use ratatui::layout::Rect;
use ratatui::Frame;

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let Some(kind) = app.panel.job() else {
        return;
    };
    let campaign = app
        .selected_key
        .clone()
        .unwrap_or_else(|| "no campaign selected".into());
    let width = area.width.saturating_sub(2) as usize;
    let lines = if app.panel == super::panel::Panel::Causal {
        super::saved_reports::causal_lines(app, width)
    } else {
        text::job_lines(&app.job_panel(kind), &app.theme, width)
    };
    super::view::scrolled(
        app,
        frame,
        area,
        format!(" {} — {campaign} ", app.panel.title()),
        lines,
    );
}
