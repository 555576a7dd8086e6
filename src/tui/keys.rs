//! Key bindings as data: one table drives dispatch, the footer and the help overlay, so the
//! help can never disagree with what a key does.

use super::state::Panel;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks the console to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    NextPanel,
    PrevPanel,
    Up,
    Down,
    Open,
    New,
    Back,
    Start,
    Pause,
    Stop,
    Confirm,
    NextMetric,
    ToggleFixedHorizon,
    Refresh,
    /// Start the panel's background job (retrain, causal report, forecast).
    RunJob,
}

/// One binding: the key as shown, where it applies (`None` = everywhere), what it does.
pub struct Binding {
    pub key: &'static str,
    pub panel: Option<Panel>,
    pub action: Action,
    pub help: &'static str,
    /// Whether the action changes data (refused in a read-only session).
    pub mutates: bool,
}

pub const BINDINGS: &[Binding] = &[
    Binding {
        key: "q",
        panel: None,
        action: Action::Quit,
        help: "quit",
        mutates: false,
    },
    Binding {
        key: "?",
        panel: None,
        action: Action::Help,
        help: "help",
        mutates: false,
    },
    Binding {
        key: "Tab",
        panel: None,
        action: Action::NextPanel,
        help: "next panel",
        mutates: false,
    },
    Binding {
        key: "S-Tab",
        panel: None,
        action: Action::PrevPanel,
        help: "previous panel",
        mutates: false,
    },
    Binding {
        key: "Ctrl-r",
        panel: None,
        action: Action::Refresh,
        help: "refresh now",
        mutates: false,
    },
    Binding {
        key: "↑/k",
        panel: Some(Panel::Campaigns),
        action: Action::Up,
        help: "select previous",
        mutates: false,
    },
    Binding {
        key: "↓/j",
        panel: Some(Panel::Campaigns),
        action: Action::Down,
        help: "select next",
        mutates: false,
    },
    Binding {
        key: "Enter",
        panel: Some(Panel::Campaigns),
        action: Action::Open,
        help: "open campaign",
        mutates: false,
    },
    Binding {
        key: "n",
        panel: Some(Panel::Campaigns),
        action: Action::New,
        help: "new campaign",
        mutates: true,
    },
    Binding {
        key: "s",
        panel: Some(Panel::Campaigns),
        action: Action::Start,
        help: "start",
        mutates: true,
    },
    Binding {
        key: "p",
        panel: Some(Panel::Campaigns),
        action: Action::Pause,
        help: "pause",
        mutates: true,
    },
    Binding {
        key: "x",
        panel: Some(Panel::Campaigns),
        action: Action::Stop,
        help: "stop",
        mutates: true,
    },
    Binding {
        key: "y",
        panel: Some(Panel::Campaigns),
        action: Action::Confirm,
        help: "confirm",
        mutates: true,
    },
    Binding {
        key: "m",
        panel: Some(Panel::Ab),
        action: Action::NextMetric,
        help: "next metric",
        mutates: false,
    },
    Binding {
        key: "f",
        panel: Some(Panel::Ab),
        action: Action::ToggleFixedHorizon,
        help: "fixed-horizon / always-valid",
        mutates: false,
    },
    Binding {
        key: "r",
        panel: Some(Panel::Models),
        action: Action::RunJob,
        help: "retrain the conversion model",
        mutates: true,
    },
    Binding {
        key: "c",
        panel: Some(Panel::Causal),
        action: Action::RunJob,
        help: "run the causal report",
        mutates: false,
    },
    Binding {
        key: "F",
        panel: Some(Panel::Forecast),
        action: Action::RunJob,
        help: "forecast shipping each arm",
        mutates: false,
    },
    Binding {
        key: "Esc",
        panel: None,
        action: Action::Back,
        help: "back / cancel a running job",
        mutates: false,
    },
];

fn matches(binding: &Binding, key: &KeyEvent) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match (binding.key, key.code) {
        ("Ctrl-r", KeyCode::Char('r')) => ctrl,
        ("Tab", KeyCode::Tab) => true,
        ("S-Tab", KeyCode::BackTab) => true,
        ("Enter", KeyCode::Enter) => true,
        ("Esc", KeyCode::Esc) => true,
        ("↑/k", KeyCode::Up | KeyCode::Char('k')) => !ctrl,
        ("↓/j", KeyCode::Down | KeyCode::Char('j')) => !ctrl,
        (k, KeyCode::Char(c)) => !ctrl && k.chars().eq(std::iter::once(c)),
        _ => false,
    }
}

/// The binding a key triggers on `panel`, if any.
pub fn lookup(panel: Panel, key: &KeyEvent) -> Option<&'static Binding> {
    BINDINGS
        .iter()
        .find(|b| b.panel.is_none_or(|p| p == panel) && matches(b, key))
}

/// The bindings to show in the footer of `panel`: help, quit and panel switching first (so
/// they survive a narrow terminal), then the panel's own keys.
pub fn footer(panel: Panel) -> Vec<&'static Binding> {
    let global = BINDINGS.iter().filter(|b| {
        b.panel.is_none() && matches!(b.action, Action::Quit | Action::Help | Action::NextPanel)
    });
    let own = BINDINGS.iter().filter(|b| b.panel == Some(panel));
    global.chain(own).collect()
}
