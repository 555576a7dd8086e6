//! `liftdeck bandit ...`: watch a bandit learn (`show`), give a storefront the weights to draw
//! from (`weights`), run the allocation loop from cron (`update`) and change how a campaign
//! learns (`set`). The flags that configure a bandit are shared with `campaign create`.

use super::exit::{bail_usage, usage};
use super::{parse_duration, write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::{Args, Subcommand};
use liftdeck::app::bandit::{self, BanditBoard, NoUpdate, UpdateOutcome};
use liftdeck::app::Env;
use liftdeck::clock::format_rfc3339;
use liftdeck::domain::{BanditConfig, PolicyKind, RewardKind};
use liftdeck::format::{self, NumberFormat};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BanditCmd {
    /// The leaderboard: per arm the weight now, pulls, mean reward with its 95% interval and
    /// P(best); the stage, last and next update, and estimated regret.
    Show {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// The period in force and its weights, for a storefront that draws its own units.
    Weights {
        key: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Recompute the weights of a campaign (or every running bandit) if its schedule says so.
    Update(UpdateArgs),
    /// Change how a campaign learns; allowed while it runs (the next update uses it).
    Set(Box<SetArgs>),
}

#[derive(Args)]
pub struct UpdateArgs {
    /// The campaign; with --all, every running bandit campaign.
    key: Option<String>,
    #[arg(long, conflicts_with = "key")]
    all: bool,
    /// Update now whatever the schedule says (a paused campaign still stays frozen).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct SetArgs {
    key: String,
    #[command(flatten)]
    flags: BanditFlags,
    #[command(flatten)]
    out: JsonFlag,
}

/// How a bandit learns: `campaign create --kind bandit` and `bandit set` take these. In `set`
/// each flag left out keeps its value.
#[derive(Args, Default)]
pub struct BanditFlags {
    /// Policy: ts (Thompson), top2, ucb, eps, linucb, lints or uniform [default: ts].
    #[arg(long, value_parser = |s: &str| s.parse::<PolicyKind>())]
    policy: Option<PolicyKind>,
    /// Reward: click, conversion, revenue or profit (revenue minus the offer's cost)
    /// [default: from the primary metric].
    #[arg(long, value_parser = |s: &str| s.parse::<RewardKind>())]
    reward: Option<RewardKind>,
    /// Least weight per arm, added before the policy's share: p = f + (1 - K f) w
    /// [default: 0.01].
    #[arg(long)]
    floor: Option<f64>,
    /// Update after this many new units (0: only on time) [default: 1000].
    #[arg(long)]
    update_every_units: Option<u64>,
    /// ... or after this long, whichever comes first: 30s, 15m (0: only on units)
    /// [default: 60s].
    #[arg(long, value_parser = parse_duration)]
    update_every_secs: Option<u64>,
    /// Uniform until every arm has this many units [default: 100] ...
    #[arg(long)]
    explore_units: Option<u64>,
    /// ... and this long has passed since the start [default: 5m].
    #[arg(long, value_parser = parse_duration)]
    explore_secs: Option<u64>,
    /// P(best) at which the leader is reported the winner [default: 0.95].
    #[arg(long)]
    winner_threshold: Option<f64>,
    /// Once there is a winner, give it all but the floor (true/false) [default: false].
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    stop_on_winner: Option<bool>,
    /// Epsilon-greedy's epsilon [default: 0.1].
    #[arg(long)]
    epsilon: Option<f64>,
    /// Epsilon-greedy's decay: epsilon / (1 + decay x updates) [default: 0].
    #[arg(long)]
    epsilon_decay: Option<f64>,
    /// Top-two Thompson's share for the leader [default: 0.5].
    #[arg(long)]
    top_two_beta: Option<f64>,
    /// Context fields the linear policies learn from, comma-separated: device,segment.
    #[arg(long, value_delimiter = ',')]
    context_fields: Option<Vec<String>>,
    /// LinUCB's width / LinTS's posterior scale [default: 1].
    #[arg(long)]
    linear_alpha: Option<f64>,
    /// Ridge penalty of the linear policies [default: 1].
    #[arg(long)]
    ridge: Option<f64>,
    /// Learn only from units of periods that ended this long ago, so purchases have arrived:
    /// 10m [default: 0, every unit].
    #[arg(long, value_parser = parse_duration)]
    reward_delay: Option<u64>,
}

impl BanditFlags {
    /// Whether any flag was given.
    pub fn any(&self) -> bool {
        let numbers = [
            self.floor,
            self.winner_threshold,
            self.epsilon,
            self.epsilon_decay,
            self.top_two_beta,
            self.linear_alpha,
            self.ridge,
        ];
        let counts = [
            self.update_every_units,
            self.update_every_secs,
            self.explore_units,
            self.explore_secs,
            self.reward_delay,
        ];
        self.policy.is_some()
            || self.reward.is_some()
            || self.stop_on_winner.is_some()
            || self.context_fields.is_some()
            || numbers.iter().any(Option::is_some)
            || counts.iter().any(Option::is_some)
    }

    /// Sets every given flag on `config`.
    pub fn apply(&self, config: &mut BanditConfig) {
        if let Some(p) = self.policy {
            config.policy = p;
        }
        let set = |slot: &mut Option<f64>, v: Option<f64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        let set_u = |slot: &mut Option<u64>, v: Option<u64>| {
            if v.is_some() {
                *slot = v;
            }
        };
        if self.reward.is_some() {
            config.reward = self.reward;
        }
        set(&mut config.floor, self.floor);
        set_u(&mut config.update_every_units, self.update_every_units);
        set_u(&mut config.update_every_secs, self.update_every_secs);
        set_u(&mut config.explore_min_units, self.explore_units);
        set_u(&mut config.explore_min_secs, self.explore_secs);
        set(&mut config.winner_threshold, self.winner_threshold);
        if let Some(s) = self.stop_on_winner {
            config.stop_on_winner = s;
        }
        set(&mut config.epsilon, self.epsilon);
        set(&mut config.epsilon_decay, self.epsilon_decay);
        set(&mut config.top_two_beta, self.top_two_beta);
        if let Some(f) = &self.context_fields {
            config.context_fields = f.iter().map(|s| s.trim().to_string()).collect();
        }
        set(&mut config.linear_alpha, self.linear_alpha);
        set(&mut config.ridge, self.ridge);
        set_u(&mut config.reward_delay_secs, self.reward_delay);
    }
}

pub fn run(session: &Session, env: &Env, cmd: BanditCmd) -> Result<ExitCode> {
    match cmd {
        BanditCmd::Show { key, out } => {
            let store = session.open_to_read()?;
            let board = bandit::board(&store, &key, env.clock.now())?;
            if out.json {
                write_json(&board)?;
            } else {
                write_stdout(&show_text(&board, &super::report::number_format()))?;
            }
        }
        BanditCmd::Weights { key, out } => {
            let store = session.open_to_read()?;
            let w = bandit::current_weights(&store, &key)?;
            if out.json {
                write_json(&w)?;
            } else {
                let mut text = format!(
                    "{} period {} since {} ({})\n",
                    w.campaign,
                    w.period,
                    format_rfc3339(w.started_at),
                    w.stage
                );
                for (arm, weight) in w.arms.iter().zip(&w.weights) {
                    text.push_str(&format!("  {arm:<12} {:>8}\n", format::rate(*weight)));
                }
                if let Some(note) = &w.note {
                    text.push_str(&format!("  note: {note}\n"));
                }
                write_stdout(&text)?;
            }
        }
        BanditCmd::Update(a) => return update(session, env, a),
        BanditCmd::Set(a) => {
            if !a.flags.any() {
                bail_usage!("bandit set needs at least one setting, e.g. --policy ts");
            }
            let mut store = session.open_to_write()?;
            let config = bandit::set_config(&mut store, env, &a.key, |c| a.flags.apply(c))?;
            if a.out.json {
                write_json(&serde_json::json!({ "campaign": a.key, "bandit": config }))?;
            } else {
                write_stdout(&format!(
                    "{}: bandit configuration set ({}); the next update uses it\n",
                    a.key,
                    serde_json::to_string(&config)?
                ))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn update(session: &Session, env: &Env, a: UpdateArgs) -> Result<ExitCode> {
    let mut store = session.open_to_write()?;
    let keys = match (a.key, a.all) {
        (Some(k), false) => vec![k],
        (None, true) => bandit::running_bandits(&store)?,
        _ => return Err(usage!("name a campaign, or give --all")),
    };
    let mut results = Vec::new();
    let mut text = String::new();
    for key in keys {
        let outcome = bandit::update(&mut store, env, &key, a.force)?;
        text.push_str(&format!("{key}: {}\n", outcome_text(&outcome)));
        results.push(serde_json::json!({ "campaign": key, "result": outcome }));
    }
    if a.out.json {
        write_json(&serde_json::json!({ "updates": results }))?;
    } else {
        write_stdout(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn outcome_text(o: &UpdateOutcome) -> String {
    match o {
        UpdateOutcome::Started { period } => format!(
            "period {} started ({}), weights {}",
            period.period,
            period.stage,
            period
                .weights
                .iter()
                .map(|w| format::rate(*w))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        UpdateOutcome::Skipped(why) => match why {
            NoUpdate::NotBandit => "an A/B test: weights are fixed".into(),
            NoUpdate::NotRunning { status } => format!("{status}: weights frozen, no update"),
            NoUpdate::NotDue { next } => format!("not due ({})", next_text(next)),
            NoUpdate::Unchanged => "still exploring with uniform weights: nothing to change".into(),
            NoUpdate::Raced => "another process started a period first: nothing to do".into(),
        },
    }
}

fn next_text(n: &bandit::NextUpdate) -> String {
    let mut parts = Vec::new();
    if let Some(u) = n.units_to_go {
        parts.push(format!("{} units", format::count(u)));
    }
    if let Some(s) = n.secs_to_go {
        parts.push(format!("{s} s"));
    }
    if n.due {
        "due now".into()
    } else if parts.is_empty() {
        "no schedule".into()
    } else {
        format!("next in {}", parts.join(" or "))
    }
}

/// The text form of `bandit show`.
pub fn show_text(b: &BanditBoard, nf: &NumberFormat) -> String {
    let reward = |x: f64| nf.reward(b.reward, x);
    let total = |x: f64| nf.reward_total(b.reward, x);
    let mut s = format!(
        "{} — {}\n  status {}  policy {}  reward {}  stage {}  floor {}\n  period {} since {}",
        b.campaign,
        b.name,
        b.status,
        b.policy,
        b.reward,
        b.stage,
        format::rate(b.floor),
        b.period,
        format_rfc3339(b.period_started_at),
    );
    if b.reward_delay_secs > 0 {
        // Only after the period line: the status line keeps its width at 80 columns.
        s.push_str(&format!(
            "  learns from units {} old",
            liftdeck::app::report::human_duration(b.reward_delay_secs as f64)
        ));
    }
    match b.last_update_at {
        Some(t) => s.push_str(&format!("  last update {}", format_rfc3339(t))),
        None => s.push_str("  no update yet"),
    }
    match &b.next_update {
        Some(n) => s.push_str(&format!("  {}\n", next_text(n))),
        None => s.push_str("  no update will come\n"),
    }
    if b.contextual {
        s.push_str("  weights are the period's summary; each unit is drawn from its context\n");
    }
    s.push_str(&format!(
        "  {:<12} {:>7} {:>9} {:>11} {:>25} {:>8} {:>13}\n",
        "arm", "weight", "units", "mean", "95% interval", "P(best)", "reward"
    ));
    for a in &b.arms {
        s.push_str(&format!(
            "  {:<12} {:>7} {:>9} {:>11} {:>25} {:>8} {:>13}\n",
            a.key,
            format::rate(a.weight),
            format::count(a.units),
            format::opt(a.reward_mean, reward),
            format::interval(a.lower, a.upper, reward),
            format::opt(a.p_best, format::probability),
            total(a.cumulative_reward),
        ));
    }
    let leader = match (&b.winner, &b.leader) {
        (Some(w), _) => format!(
            "winner {w} (P(best) reached {})",
            format::probability(b.winner_threshold)
        ),
        (None, Some(l)) => format!(
            "leader {l}; the winner needs P(best) >= {}",
            format::probability(b.winner_threshold)
        ),
        (None, None) => "no leader yet".into(),
    };
    s.push_str(&format!(
        "  {leader}; estimated regret {} (units x gap to the best mean)\n",
        format::opt(b.regret, total)
    ));
    let n = b.history.len();
    s.push_str(&format!(
        "  {n} allocation period{}\n",
        if n == 1 { "" } else { "s" }
    ));
    s
}
