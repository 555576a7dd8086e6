//! Operating the console and watching it: `console` (the default command), `demo` (a simulated
//! shop, in the console or headless), `replay` (a scripted fixture run headlessly, for tests
//! and CI) and `health` (for cron and monitoring, with its exit code as the verdict).

use super::{open, parse_duration, write_stdout};
use anyhow::{Context, Result};
use clap::Args;
use liftdeck::app::{self, Env};
use liftdeck::clock::format_rfc3339;
use liftdeck::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct DemoArgs {
    /// Print a per-arm summary instead of opening the console (simulated time, no waiting).
    #[arg(long)]
    headless: bool,
    /// How long to stream traffic: 30s, 5m, 1h.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: u64,
    /// Shoppers per second.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Args)]
pub struct HealthArgs {
    #[arg(long)]
    json: bool,
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

pub fn console(db: &Path, env: &Env, read_only: bool, theme_name: &str) -> Result<ExitCode> {
    liftdeck::tui::run_console(db, env, read_only, theme(theme_name)?, None)?;
    Ok(ExitCode::SUCCESS)
}

pub fn demo(db: &Path, env: &Env, args: DemoArgs, theme_name: &str) -> Result<ExitCode> {
    // The demo has its own file unless --db / LIFTDECK_DB names one.
    let db = if db == Path::new("liftdeck.db") {
        PathBuf::from("liftdeck-demo.db")
    } else {
        db.to_path_buf()
    };
    if args.headless {
        let env = Env {
            clock: liftdeck::clock::Clock::virtual_at(liftdeck::app::demo::DEMO_EPOCH),
            actor: env.actor.clone(),
        };
        let mut store = open(&db)?;
        let report =
            app::demo::run_headless(&mut store, &env, args.seed, args.duration, args.rate)?;
        println!(
            "liftdeck demo: {} simulated seconds at {} shoppers/s into {} (simulated clock ended {})",
            args.duration,
            args.rate,
            db.display(),
            format_rfc3339(env.clock.now())
        );
        print!("{report}");
        Ok(ExitCode::SUCCESS)
    } else {
        liftdeck::tui::run_console(
            &db,
            env,
            false,
            theme(theme_name)?,
            Some((args.seed, args.duration, args.rate)),
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

pub fn replay(args: ReplayArgs, read_only: bool) -> Result<ExitCode> {
    let ReplayArgs { file, size, show } = args;
    let (w, h) = size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .with_context(|| format!("--size `{size}`: use WIDTHxHEIGHT, e.g. 80x24"))?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut replay = liftdeck::replay::Replay::new((w, h), read_only)?;
    replay
        .run(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
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

pub fn health(db: &Path, env: &Env, args: HealthArgs) -> Result<ExitCode> {
    use liftdeck::app::health;
    // Read-only: a monitoring probe must never create or change the database it watches.
    let store = Store::open_read_only(db).with_context(|| format!("opening {}", db.display()))?;
    let report = health::check(&store, env.clock.now(), args.stale as i64 * 1_000_000)?;
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        health::format_lines(&report)
    };
    write_stdout(&text)?;
    Ok(ExitCode::from(health::overall(&report).exit_code()))
}

fn theme(name: &str) -> Result<liftdeck::tui::theme::Theme> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    liftdeck::tui::theme::Theme::choose(name, no_color).map_err(anyhow::Error::msg)
}
