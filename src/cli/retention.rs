//! `liftdeck prune`: retention of raw rows (the work is in `app::retention`).

use super::{write_json, write_stdout, JsonFlag, Session};
use anyhow::Result;
use clap::Args;
use liftdeck::app::{retention, Env};
use liftdeck::clock::format_rfc3339;
use std::process::ExitCode;

#[derive(Args)]
pub struct PruneArgs {
    /// Delete raw events (and clear assignment contexts) stamped longer ago than this: 12h,
    /// 180d, 26w. Rollups, per-unit totals, reports and models stay.
    #[arg(long, value_parser = retention::parse_window)]
    older_than: i64,
    /// Count what would go without changing anything.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn prune(session: &Session, env: &Env, args: PruneArgs) -> Result<ExitCode> {
    let mut store = session.open_to_write()?;
    let report = retention::prune(&mut store, env, args.older_than, args.dry_run)?;
    if args.out.json {
        write_json(&serde_json::json!({
            "dry_run": report.dry_run,
            "before": format_rfc3339(report.before),
            "campaigns": report.campaigns,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut text = String::new();
    if report.campaigns.is_empty() {
        text.push_str(&format!(
            "nothing stamped before {} to prune\n",
            format_rfc3339(report.before)
        ));
    }
    for c in &report.campaigns {
        text.push_str(&format!(
            "{}: {verb} {} events and the contexts of {} assignments before {}\n",
            liftdeck::text::escape_control(&c.campaign),
            liftdeck::format::count(c.events),
            liftdeck::format::count(c.contexts),
            format_rfc3339(report.before)
        ));
    }
    if !report.dry_run && !report.campaigns.is_empty() {
        text.push_str(
            "rollups, per-unit totals, reports and models are kept; `liftdeck verify` now \
             checks rollups against per-unit totals\n",
        );
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints, on stderr, that `key` was pruned (so a reader of raw rows never reports on a
/// fraction in silence). An unknown campaign says nothing here: the command's own check
/// reports it with its own exit code.
pub fn warn_if_pruned(session: &Session, key: &str) -> Result<()> {
    if session.require_database().is_err() {
        return Ok(());
    }
    let store = session.open_to_read()?;
    if let Some(note) = retention::pruned_note(&store, key)? {
        eprintln!("liftdeck: {}", liftdeck::text::escape_control(&note));
    }
    Ok(())
}
