//! Key bindings as data: one table drives dispatch, the footer and the help overlay, so the
//! help can never disagree with what a key does. README's console key table is this table.

use super::panel::Panel;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks the console to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Help,
    NextPanel,
    PrevPanel,
    /// Selection on the campaign list, scrolling on the text panels.
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Filter,
    Sort,
    Open,
    New,
    Back,
    Start,
    Pause,
    Stop,
    Confirm,
    NextMetric,
    ToggleFixedHorizon,
    /// The Bandit panel's second chart: P(best) over time or cumulative reward.
    NextChart,
    Refresh,
    /// Start the panel's background job (retrain, causal report, forecast).
    RunJob,
    /// The Causal panel's second job: the uplift report.
    RunUplift,
    /// The Forecast panel: open the plan form, forecast the plan, pin the result as plan A.
    EditPlan,
    ForecastPlan,
    /// The Forecast panel: the budget allocation's cost curve for the plan (`B`).
    BudgetPlan,
    PinPlan,
    /// The Causal panel: show an older saved report, or a newer one.
    OlderReport,
    NewerReport,
    /// The Health panel's audit log: show one campaign's rows (cycles), or one action's.
    AuditCampaign,
    AuditAction,
}

/// One binding: the key as shown, where it applies (empty = everywhere), what it does.
pub struct Binding {
    pub key: &'static str,
    pub panels: &'static [Panel],
    pub action: Action,
    /// What the help overlay says.
    pub help: &'static str,
    /// What the footer says (short: the footer holds every key of a panel at 80 columns).
    pub short: &'static str,
    /// Whether the action changes data (refused in a read-only session).
    pub mutates: bool,
}

const EVERYWHERE: &[Panel] = &[];
const LIST: &[Panel] = &[Panel::Campaigns];
const TEXT: &[Panel] = &Panel::SCROLLING;

const fn bind(
    key: &'static str,
    panels: &'static [Panel],
    action: Action,
    help: &'static str,
    short: &'static str,
) -> Binding {
    Binding {
        key,
        panels,
        action,
        help,
        short,
        mutates: false,
    }
}

const fn mutating(binding: Binding) -> Binding {
    Binding {
        mutates: true,
        ..binding
    }
}

pub const BINDINGS: &[Binding] = &[
    bind(
        "?",
        EVERYWHERE,
        Action::Help,
        "help (any key closes it)",
        "help",
    ),
    bind("q", EVERYWHERE, Action::Quit, "quit", "quit"),
    bind("Ctrl-c", EVERYWHERE, Action::Quit, "quit", "quit"),
    bind("Tab", EVERYWHERE, Action::NextPanel, "next panel", "panel"),
    bind(
        "S-Tab",
        EVERYWHERE,
        Action::PrevPanel,
        "previous panel",
        "back",
    ),
    bind(
        "Ctrl-r",
        EVERYWHERE,
        Action::Refresh,
        "refresh now",
        "refresh",
    ),
    bind(
        "Esc",
        EVERYWHERE,
        Action::Back,
        "clear the prompt or filter / cancel a running job",
        "cancel",
    ),
    bind("↑/k", LIST, Action::Up, "select previous", "up"),
    bind("↓/j", LIST, Action::Down, "select next", "down"),
    bind("PgUp", LIST, Action::PageUp, "select a page up", "page"),
    bind("PgDn", LIST, Action::PageDown, "select a page down", "page"),
    bind("g", LIST, Action::Top, "select the first", "first"),
    bind("G", LIST, Action::Bottom, "select the last", "last"),
    bind(
        "/",
        LIST,
        Action::Filter,
        "filter by key or name (Enter keeps, Esc clears)",
        "filter",
    ),
    bind(
        "o",
        LIST,
        Action::Sort,
        "sort by key, status, units, health",
        "sort",
    ),
    bind("Enter", LIST, Action::Open, "open campaign", "open"),
    mutating(bind("n", LIST, Action::New, "new campaign", "new")),
    mutating(bind(
        "s",
        LIST,
        Action::Start,
        "start the campaign (then y)",
        "start",
    )),
    mutating(bind(
        "p",
        LIST,
        Action::Pause,
        "pause the campaign (then y)",
        "pause",
    )),
    mutating(bind(
        "x",
        LIST,
        Action::Stop,
        "stop the campaign (then y)",
        "stop",
    )),
    mutating(bind(
        "y",
        LIST,
        Action::Confirm,
        "confirm: acts on the campaign the prompt names",
        "yes",
    )),
    bind("↑/k", TEXT, Action::Up, "scroll up", "up"),
    bind("↓/j", TEXT, Action::Down, "scroll down", "down"),
    bind("PgUp", TEXT, Action::PageUp, "scroll a page up", "page"),
    bind("PgDn", TEXT, Action::PageDown, "scroll a page down", "page"),
    bind("g", TEXT, Action::Top, "scroll to the top", "top"),
    bind("G", TEXT, Action::Bottom, "scroll to the end", "end"),
    bind(
        "m",
        &[Panel::Ab],
        Action::NextMetric,
        "next metric",
        "metric",
    ),
    bind(
        "f",
        &[Panel::Ab],
        Action::ToggleFixedHorizon,
        "fixed-horizon / always-valid intervals",
        "intervals",
    ),
    bind(
        "v",
        &[Panel::Bandit],
        Action::NextChart,
        "second chart: P(best) / cumulative reward",
        "chart",
    ),
    mutating(bind(
        "r",
        &[Panel::Models],
        Action::RunJob,
        "retrain: pick a learner (Enter starts, Esc closes; kept)",
        "retrain…",
    )),
    bind(
        "c",
        &[Panel::Causal],
        Action::RunJob,
        "run the causal report",
        "run",
    ),
    bind(
        "u",
        &[Panel::Causal],
        Action::RunUplift,
        "run the uplift report (T-learner, held-out Qini)",
        "uplift",
    ),
    bind(
        "[",
        &[Panel::Causal],
        Action::OlderReport,
        "show an older saved report",
        "older",
    ),
    bind(
        "]",
        &[Panel::Causal],
        Action::NewerReport,
        "show a newer saved report (then the latest result)",
        "newer",
    ),
    bind(
        "e",
        &[Panel::Forecast],
        Action::EditPlan,
        "edit the plan (Tab next, Enter keeps, Esc closes)",
        "plan",
    ),
    bind(
        "F",
        &[Panel::Forecast],
        Action::ForecastPlan,
        "forecast the plan (80%/95% intervals)",
        "forecast",
    ),
    bind(
        "B",
        &[Panel::Forecast],
        Action::BudgetPlan,
        "budget: who gets which depth, the cost curve",
        "budget",
    ),
    bind(
        "P",
        &[Panel::Forecast],
        Action::PinPlan,
        "pin this result as plan A (the next is B)",
        "pin A",
    ),
    bind(
        "a",
        &[Panel::Forecast],
        Action::RunJob,
        "forecast shipping each arm of the campaign",
        "arms",
    ),
    bind(
        "c",
        &[Panel::Health],
        Action::AuditCampaign,
        "audit log: next campaign, then all",
        "camp",
    ),
    bind(
        "a",
        &[Panel::Health],
        Action::AuditAction,
        "audit log: next action, then all",
        "act",
    ),
];

fn matches(binding: &Binding, key: &KeyEvent) -> bool {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match (binding.key, key.code) {
        ("Ctrl-r", KeyCode::Char('r')) | ("Ctrl-c", KeyCode::Char('c')) => ctrl,
        ("Tab", KeyCode::Tab) => true,
        ("S-Tab", KeyCode::BackTab) => true,
        ("Enter", KeyCode::Enter) => true,
        ("Esc", KeyCode::Esc) => true,
        ("PgUp", KeyCode::PageUp) => true,
        ("PgDn", KeyCode::PageDown) => true,
        ("g", KeyCode::Home) | ("G", KeyCode::End) => true,
        ("↑/k", KeyCode::Up | KeyCode::Char('k')) => !ctrl,
        ("↓/j", KeyCode::Down | KeyCode::Char('j')) => !ctrl,
        (k, KeyCode::Char(c)) => !ctrl && k.chars().eq(std::iter::once(c)),
        _ => false,
    }
}

fn applies(binding: &Binding, panel: Panel) -> bool {
    binding.panels.is_empty() || binding.panels.contains(&panel)
}

/// The binding a key triggers on `panel`, if any.
pub fn lookup(panel: Panel, key: &KeyEvent) -> Option<&'static Binding> {
    BINDINGS
        .iter()
        .find(|b| applies(b, panel) && matches(b, key))
}

/// The bindings the footer of `panel` shows: `?` first (always), then every key of the panel,
/// then panel switching, cancel and quit.
pub fn footer(panel: Panel) -> Vec<&'static Binding> {
    let help = BINDINGS.iter().filter(|b| b.action == Action::Help);
    let own = BINDINGS.iter().filter(|b| b.panels.contains(&panel));
    let global = BINDINGS.iter().filter(|b| {
        b.panels.is_empty() && matches!(b.action, Action::NextPanel | Action::Back) || b.key == "q"
    });
    help.chain(own).chain(global).collect()
}

/// Whether a key is Ctrl-c, which quits from anywhere (the form and prompts included).
pub fn is_interrupt(key: &KeyEvent) -> bool {
    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL)
}
