//! Operating the console and watching it: `console` (the default command), `demo` (a simulated
//! shop, in the console or headless), `replay` (a scripted fixture run headlessly, for tests
//! and CI) and `health` (for cron and monitoring, with its exit code as the verdict).

use super::exit::{self, usage, CliError};
use super::{parse_duration, write_json, write_stdout, JsonFlag, Session};
use anyhow::{Context, Result};
use clap::Args;
use liftdeck::app::{self, Env};
use liftdeck::clock::format_rfc3339;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct DemoArgs {
    /// Print a per-arm summary instead of opening the console (simulated time, no waiting).
    #[arg(long)]
    headless: bool,
    /// How long to stream traffic: 30s, 5m, 1h (at most 24h) [default: 30s headless, 15m live,
    /// long enough to watch the bandit move its weights].
    #[arg(long, value_parser = demo_duration)]
    duration: Option<u64>,
    /// Shoppers per second, 1 to 100,000.
    #[arg(long, default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Keep the demo database's earlier runs instead of starting from a fresh one (then the
    /// table is no longer the same for the same seed).
    #[arg(long)]
    keep: bool,
}

#[derive(Args)]
pub struct HealthArgs {
    #[command(flatten)]
    out: JsonFlag,
    /// A running campaign with no event for this long is stale: 90s, 15m, 2h.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    stale: u64,
}

#[derive(Args)]
pub struct ReplayArgs {
    file: PathBuf,
    /// Terminal size.
    #[arg(long, default_value = "100x30")]
    size: String,
    /// Print the final screen.
    #[arg(long)]
    show: bool,
}

fn demo_duration(s: &str) -> Result<u64, String> {
    match parse_duration(s)? {
        0 => Err("the demo needs a duration of at least 1s".into()),
        d if d > 86_400 => Err(format!("`{s}`: the demo runs at most 24h")),
        d => Ok(d),
    }
}

/// The console and the live demo draw on a terminal; without one (cron, a pipe, `ssh host
/// liftdeck` without -t) they say so instead of failing inside the terminal library.
fn require_terminal(what: &'static str) -> Result<()> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        Ok(())
    } else {
        Err(CliError::NeedsTerminal(what).into())
    }
}

pub fn console(session: &Session, env: &Env, theme_name: &str) -> Result<ExitCode> {
    let theme = theme(theme_name)?;
    require_terminal("the console")?;
    // Check the database before taking over the screen, so a typo'd --db is a plain message.
    drop(session.open_to_read()?);
    liftdeck::tui::run_console(&session.db, env, session.read_only, theme, None)?;
    Ok(ExitCode::SUCCESS)
}

pub fn demo(session: &Session, env: &Env, args: DemoArgs, theme_name: &str) -> Result<ExitCode> {
    let theme = theme(theme_name)?;
    if !args.headless {
        require_terminal("the live demo")?;
    }
    let db = &session.db;
    let created = format_rfc3339(env.clock.now());
    let mut store = app::demo::open_demo_database(db, args.keep, &created)
        .with_context(|| format!("preparing the demo database {}", db.display()))?;
    // Headless runs are a fixed table for a seed; the live console is for watching learning.
    let duration = args
        .duration
        .unwrap_or(if args.headless { 30 } else { 15 * 60 });
    if args.headless {
        let env = Env {
            clock: liftdeck::clock::Clock::virtual_at(liftdeck::app::demo::DEMO_EPOCH),
            actor: env.actor.clone(),
        };
        let report = app::demo::run_headless(&mut store, &env, args.seed, duration, args.rate)?;
        write_stdout(&format!(
            "liftdeck demo: {} simulated seconds at {} shoppers/s into {} (simulated clock ended {})\n{report}",
            duration,
            args.rate,
            db.display(),
            format_rfc3339(env.clock.now())
        ))?;
        Ok(ExitCode::SUCCESS)
    } else {
        drop(store);
        liftdeck::tui::run_console(
            db,
            env,
            false,
            theme,
            Some((args.seed, duration, args.rate)),
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

pub fn replay(args: ReplayArgs, read_only: bool) -> Result<ExitCode> {
    let ReplayArgs { file, size, show } = args;
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .filter(|&(w, h): &(u16, u16)| w > 0 && h > 0)
        .ok_or_else(|| usage!("--size `{size}`: use WIDTHxHEIGHT, e.g. 80x24"))?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut replay = liftdeck::replay::Replay::new((w, h), read_only)?;
    replay
        .run(&text)
        .map_err(|e| CliError::Data(format!("{}: {e}", file.display())))?;
    let mut failed = 0;
    for c in &replay.checks {
        println!(
            "{} line {}: {}",
            if c.passed { "ok  " } else { "FAIL" },
            c.line,
            c.message
        );
        failed += usize::from(!c.passed);
    }
    if show {
        println!("{}", replay.screen());
    }
    println!(
        "expectations: {} met, {} not met",
        replay.checks.len() - failed,
        failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn health(session: &Session, env: &Env, args: HealthArgs) -> Result<ExitCode> {
    use liftdeck::app::health;
    // Read-only: a monitoring probe must never create or change the database it watches.
    let store = session.open_to_read()?;
    let mut report = health::check(&store, env.clock.now(), args.stale as i64 * 1_000_000)?;
    if report.is_empty() {
        report.extend(health::warehouse_entry(&store));
    }
    if args.out.json {
        write_json(&report)?;
    } else {
        write_stdout(&health::format_lines(&report))?;
    }
    Ok(ExitCode::from(match health::overall(&report) {
        health::Severity::Ok => exit::OK,
        health::Severity::Warning => exit::HEALTH_WARN,
        health::Severity::Critical => exit::HEALTH_CRIT,
    }))
}

fn theme(name: &str) -> Result<liftdeck::tui::theme::Theme> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    liftdeck::tui::theme::Theme::choose(name, no_color).map_err(|e| usage!("{e}"))
}
