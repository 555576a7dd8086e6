//! The console's panels, in tab order, and the job each one runs. Its own module so the key
//! table and the state both depend on it without depending on each other.

use crate::jobs::JobKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Panel {
    Campaigns,
    Ab,
    Bandit,
    Models,
    Causal,
    Forecast,
    Health,
}

impl Panel {
    pub const ALL: [Panel; 7] = [
        Panel::Campaigns,
        Panel::Ab,
        Panel::Bandit,
        Panel::Models,
        Panel::Causal,
        Panel::Forecast,
        Panel::Health,
    ];

    /// Panels whose text can run past the screen and so scroll with ↑/↓, PgUp/PgDn, g/G.
    pub const SCROLLING: [Panel; 4] =
        [Panel::Models, Panel::Causal, Panel::Forecast, Panel::Health];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Campaigns => "Campaigns",
            Panel::Ab => "Live A/B",
            Panel::Bandit => "Bandit",
            Panel::Models => "Models",
            Panel::Causal => "Causal",
            Panel::Forecast => "Forecast",
            Panel::Health => "Health",
        }
    }

    /// The job a panel runs, if it runs one.
    pub fn job(self) -> Option<JobKind> {
        match self {
            Panel::Models => Some(JobKind::Retrain),
            Panel::Causal => Some(JobKind::Causal),
            Panel::Forecast => Some(JobKind::Forecast),
            _ => None,
        }
    }

    /// The panel `step` tabs away (negative: backwards), wrapping around.
    pub fn step(self, step: isize) -> Panel {
        let n = Panel::ALL.len() as isize;
        let i = Panel::ALL.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Panel::ALL[(i + step).rem_euclid(n) as usize]
    }
}
