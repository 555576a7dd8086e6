//! The command line: the clap definitions of every command and the handler that runs each.
//!
//! The top-level `Cli` and `Command` live here with the helpers several groups share (opening
//! the store, writing to a pipe, parsing durations, exit codes); each command group has its own
//! file with its arguments next to its handler. Handlers only translate between arguments and
//! `liftdeck::app` (or the store and stats for read-only views) and print; the work is in the
//! library, so the console, replays and tests reach the same code without the CLI.

pub mod bench;
pub mod campaign;
pub mod feed;
pub mod jobs;
pub mod ops;
pub mod report;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use liftdeck::store::Store;
use std::path::{Path, PathBuf};

/// Exit codes (documented in the README).
pub const EXIT_REJECTS: u8 = 3;
pub const EXIT_EXCLUDED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "liftdeck",
    version,
    about = "Terminal console for e-commerce campaign experiments"
)]
pub struct Cli {
    /// Database file (created private to its owner when missing).
    #[arg(
        long,
        global = true,
        env = "LIFTDECK_DB",
        default_value = "liftdeck.db"
    )]
    pub db: PathBuf,
    /// Open the database read-only: look without being able to change anything.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Console colours: default, high-contrast or mono (NO_COLOR forces mono).
    #[arg(long, global = true, default_value = "default")]
    pub theme: String,
    /// With no command, the console opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// The order of the variants is the order `--help` lists them in.
#[derive(Subcommand)]
pub enum Command {
    /// The operator console (the default when no command is given).
    Console,
    /// Define, list, show and move campaigns through draft -> running <-> paused -> stopped.
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// Assign a unit to an arm of a running campaign and print the arm.
    Assign(feed::AssignArgs),
    /// Ingest assignment and event lines from FILE or `-` (stdin).
    Ingest(feed::IngestArgs),
    /// Write a campaign's definition, assignments and events to stdout.
    Export(feed::ExportArgs),
    /// Recompute every rollup of a campaign from raw rows and compare with the stored ones.
    Verify(feed::VerifyArgs),
    /// Show the newest rejected lines with their reasons.
    Rejects(feed::RejectsArgs),
    /// A simulated shop with three campaigns and live traffic.
    Demo(ops::DemoArgs),
    /// Health of every running campaign for cron and monitoring: exit 0 OK, 1 warning, 2 critical.
    Health(ops::HealthArgs),
    /// Run a scripted fixture headlessly and report each expectation (exit 1 if any fails).
    Replay(ops::ReplayArgs),
    /// Units per arm needed to detect an effect (plan a campaign before starting it).
    Power(report::PowerArgs),
    /// Reports on a campaign's results.
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Retrain the campaign's conversion model and store it as a new version.
    Train(jobs::TrainArgs),
    /// Project what shipping each arm to all traffic would earn over the coming days.
    Forecast(jobs::ForecastArgs),
    /// Whole-process benchmarks (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

/// Opens (creating when missing) the database for a command that may write.
pub fn open(db: &Path) -> Result<Store> {
    Store::open(db).with_context(|| format!("opening {}", db.display()))
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// A clap value parser for durations in seconds: `90`, `90s`, `15m`, `2h`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s"))?;
    match unit {
        "" | "s" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(format!("`{s}`: use s, m or h")),
    }
}
