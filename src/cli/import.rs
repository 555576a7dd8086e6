//! `import obd`: an Open Bandit Dataset log into a bandit campaign (`app::import_obd`). Exit 0
//! when every row was imported or already there, 3 when rows were rejected (each named by file,
//! line and field here and in `liftdeck rejects`), 66 when the log or its item_context.csv is
//! missing, 65 when a header lacks a needed column or the campaign does not fit the items.

use super::{write_stdout, JsonFlag, Session, EXIT_REJECTS};
use anyhow::Result;
use clap::{Args, Subcommand};
use liftdeck::app::{import_obd, Env};
use liftdeck::text::escape_control;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// An Open Bandit Dataset log (men.csv with item_context.csv beside it): items become the
    /// arms of a running bandit campaign, each row an assignment with its propensity, position
    /// and user features as context, an exposure, and a click when click = 1. Importing the
    /// same file again adds nothing.
    Obd(ObdArgs),
}

#[derive(Args)]
pub struct ObdArgs {
    /// The log, e.g. data/obd/men/random/men.csv.
    path: PathBuf,
    /// Campaign key [default: obd-<campaign folder>-<policy folder>, e.g. obd-men-random].
    #[arg(long)]
    campaign: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

pub fn run(session: &Session, env: &Env, cmd: ImportCmd) -> Result<ExitCode> {
    let ImportCmd::Obd(args) = cmd;
    // The inputs first: a missing file must not leave a new, empty database behind.
    std::fs::metadata(&args.path)?;
    import_obd::read_items(&args.path)?;
    let mut store = session.open_or_create()?;
    let ids = session.unit_ids(&mut store, env)?;
    let summary =
        import_obd::import_obd_with(&mut store, env, &ids, &args.path, args.campaign.as_deref())?;
    let shown = escape_control(&summary.source);
    for (line, e) in &summary.samples {
        eprintln!("{shown} line {line}: {}", escape_control(&e.to_string()));
    }
    if summary.rejected as usize > summary.samples.len() {
        eprintln!(
            "... and {} more (see `liftdeck rejects --run {}`)",
            summary.rejected as usize - summary.samples.len(),
            summary.run.unwrap_or_default()
        );
    }
    if args.out.json {
        let mut j = serde_json::to_value(&summary)?;
        j["samples"] = summary
            .samples
            .iter()
            .map(|(line, e)| {
                serde_json::json!({"line": line, "reason": e.reason.code(), "detail": e.detail})
            })
            .collect();
        write_stdout(&format!("{j}\n"))?;
    } else {
        write_stdout(&format!(
            "{}: {} rows into {} campaign `{}`: {} imported, {} already there (unchanged), {} \
             rejected; {} events{}\n",
            shown,
            summary.rows,
            if summary.created { "new" } else { "existing" },
            summary.campaign,
            summary.imported,
            summary.duplicates,
            summary.rejected,
            summary.events,
            summary
                .run
                .map(|id| format!(" (run {id})"))
                .unwrap_or_default()
        ))?;
    }
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_REJECTS)
    } else {
        ExitCode::SUCCESS
    })
}
