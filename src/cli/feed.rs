//! The data path in and out: `assign` (one decision), `ingest` (assignment and event lines from
//! a file or a pipe), `export`, `verify` (rollups against a full recompute) and `rejects`.
//! Exit codes here are part of the contract with log shippers: 3 when lines were rejected,
//! 4 when a unit falls outside the campaign's traffic.

use super::{open, EXIT_EXCLUDED, EXIT_REJECTS};
use anyhow::{bail, Context, Result};
use clap::Args;
use liftdeck::app::{self, AppError, Assignment, Env};
use liftdeck::ingest::Format;
use liftdeck::store::StoreError;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

#[derive(Args)]
pub struct AssignArgs {
    campaign: String,
    unit: String,
    /// Context as a JSON object, e.g. '{"device":"mobile","pre_value":12.5}'.
    #[arg(long)]
    context: Option<String>,
}

#[derive(Args)]
pub struct IngestArgs {
    #[arg(default_value = "-")]
    file: String,
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Lines per transaction.
    #[arg(long, default_value_t = app::feed_batch_lines())]
    batch: usize,
}

#[derive(Args)]
pub struct ExportArgs {
    campaign: String,
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
}

#[derive(Args)]
pub struct VerifyArgs {
    campaign: Option<String>,
}

#[derive(Args)]
pub struct RejectsArgs {
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub fn assign(db: &Path, env: &Env, args: AssignArgs) -> Result<ExitCode> {
    let AssignArgs {
        campaign,
        unit,
        context,
    } = args;
    // A bad --context is reported before the database is touched.
    let context = match context {
        None => serde_json::Map::new(),
        Some(s) => match serde_json::from_str(&s) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => bail!("--context must be a JSON object, got `{s}`"),
        },
    };
    let mut store = open(db)?;
    match app::assign(&mut store, env, &campaign, &unit, context)? {
        Assignment::Arm { arm, .. } => {
            println!("{arm}");
            Ok(ExitCode::SUCCESS)
        }
        Assignment::Excluded => {
            eprintln!("unit `{unit}` is outside the traffic of `{campaign}`: no arm");
            Ok(ExitCode::from(EXIT_EXCLUDED))
        }
    }
}

pub fn ingest(db: &Path, env: &Env, args: IngestArgs) -> Result<ExitCode> {
    let IngestArgs {
        file,
        format,
        batch,
    } = args;
    let format = format.unwrap_or(if file.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Jsonl
    });
    let mut store = open(db)?;
    let (reader, source): (Box<dyn BufRead>, String) = if file == "-" {
        (Box::new(std::io::stdin().lock()), "stdin".into())
    } else {
        let f = std::fs::File::open(&file).with_context(|| format!("opening {file}"))?;
        (
            Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            file.to_string(),
        )
    };
    let summary = app::ingest_reader(&mut store, env, reader, &source, format, batch, |_| {})?;
    for (line, e) in &summary.samples {
        eprintln!("{source} line {line}: {}", e);
    }
    if summary.rejected as usize > summary.samples.len() {
        eprintln!(
            "... and {} more (see `liftdeck rejects`)",
            summary.rejected as usize - summary.samples.len()
        );
    }
    let reasons: Vec<String> = summary
        .by_reason
        .iter()
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    eprintln!(
        "{source}: {} lines, {} accepted, {} duplicates (unchanged), {} rejected{}",
        summary.lines,
        summary.accepted,
        summary.duplicates,
        summary.rejected,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" [{}]", reasons.join(", "))
        }
    );
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_REJECTS)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn export(db: &Path, args: ExportArgs) -> Result<ExitCode> {
    let store = open(db)?;
    let stdout = std::io::stdout().lock();
    match app::export(&store, &args.campaign, args.format, stdout) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // `liftdeck export ... | head` closing the pipe early is not a failure.
        Err(AppError::Io(e)) | Err(AppError::Store(StoreError::Io(e)))
            if e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn verify(db: &Path, args: VerifyArgs) -> Result<ExitCode> {
    let store = open(db)?;
    let keys = match args.campaign {
        Some(k) => vec![k],
        None => store.campaigns()?.into_iter().map(|c| c.spec.key).collect(),
    };
    let mut bad = 0;
    for key in &keys {
        let diffs = store.verify_rollups(key)?;
        if diffs.is_empty() {
            println!("{key}: rollups match a full recompute");
        }
        for d in &diffs {
            println!("MISMATCH {d}");
        }
        bad += diffs.len();
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

pub fn rejects(db: &Path, args: RejectsArgs) -> Result<ExitCode> {
    let store = open(db)?;
    for r in store.rejects(args.limit)? {
        println!("{} line {}: {} ({})", r.source, r.line, r.detail, r.reason);
    }
    Ok(ExitCode::SUCCESS)
}
