//! The data path in and out: `assign` (one decision), `ingest` (assignment and event lines from
//! a file or a pipe), `export`, `verify` (rollups against a full recompute) and `rejects`.
//! Exit codes here are part of the contract with log shippers: 3 when lines were rejected,
//! 4 when a unit falls outside the campaign's traffic.

use super::{open, EXIT_EXCLUDED, EXIT_REJECTS};
use anyhow::{bail, Context, Result};
use clap::builder::{RangedU64ValueParser, TypedValueParser};
use clap::Args;
use liftdeck::app::{self, AppError, Assignment, Env, IngestOptions};
use liftdeck::lines::{Format, RejectReason, DEFAULT_MAX_LINE_BYTES};
use liftdeck::store::{RejectFilter, RunSelector, StoreError};
use liftdeck::text::escape_control;
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

/// `--format jsonl|csv`: clap lists the names, the line module parses them (it knows no clap).
fn format_arg() -> impl TypedValueParser<Value = Format> {
    clap::builder::PossibleValuesParser::new(Format::NAMES).try_map(|s| s.parse::<Format>())
}

#[derive(Args)]
pub struct IngestArgs {
    #[arg(default_value = "-")]
    file: String,
    /// Line format; by default csv for a `.csv` file, else jsonl.
    #[arg(long, value_parser = format_arg())]
    format: Option<Format>,
    /// Lines per transaction.
    #[arg(long, default_value_t = app::feed_batch_lines())]
    batch: usize,
    /// Longest line accepted, in bytes; longer lines are rejected (`line_too_long`) without
    /// being held in memory.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=1 << 30))]
    max_line_bytes: usize,
    /// How far ahead of this machine's clock a line's `ts` may be (e.g. 30s, 15m, 24h);
    /// later lines are rejected (`future_timestamp`).
    #[arg(long, default_value = "24h", value_parser = super::parse_duration)]
    max_future: u64,
    /// Print the summary as one JSON object on stdout (samples of rejects still go to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    campaign: String,
    #[arg(long, value_parser = format_arg(), default_value = "jsonl")]
    format: Format,
}

#[derive(Args)]
pub struct VerifyArgs {
    campaign: Option<String>,
}

#[derive(Args)]
pub struct RejectsArgs {
    /// At most this many rejects, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Only the rejects of this ingest run: its id (printed by `ingest`) or `last`.
    #[arg(long, value_parser = parse_run)]
    run: Option<RunSelector>,
    /// Only rejects with this reason code, e.g. `unassigned_unit`.
    #[arg(long, value_parser = parse_reason)]
    reason: Option<String>,
    /// One JSON array of reject objects on stdout, every field exact.
    #[arg(long)]
    json: bool,
}

fn parse_run(s: &str) -> Result<RunSelector, String> {
    if s == "last" {
        return Ok(RunSelector::Latest);
    }
    s.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(RunSelector::Id)
        .ok_or_else(|| format!("`{s}` is not a run id (a positive integer) or `last`"))
}

fn parse_reason(s: &str) -> Result<String, String> {
    match RejectReason::from_code(s) {
        Some(r) => Ok(r.code().to_string()),
        None => Err(format!(
            "unknown reason `{s}`; reasons: {}",
            RejectReason::ALL.map(|r| r.code()).join(", ")
        )),
    }
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
        max_line_bytes,
        max_future,
        json,
    } = args;
    let format = format.unwrap_or(if file.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Jsonl
    });
    let max_future = i64::try_from(max_future)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000))
        .with_context(|| format!("--max-future {max_future}s is too large"))?;
    let options = IngestOptions {
        batch_lines: batch,
        max_line_bytes,
        max_future,
        ..IngestOptions::new(format)
    };
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
    let summary = app::ingest_with(&mut store, env, reader, &source, &options, |_| {})?;
    let shown = escape_control(&source);
    for (line, e) in &summary.samples {
        eprintln!("{shown} line {line}: {}", escape_control(&e.to_string()));
    }
    if summary.rejected as usize > summary.samples.len() {
        eprintln!(
            "... and {} more (see `liftdeck rejects{}`)",
            summary.rejected as usize - summary.samples.len(),
            summary
                .run_id
                .map(|id| format!(" --run {id}"))
                .unwrap_or_default()
        );
    }
    if json {
        let samples: Vec<serde_json::Value> = summary
            .samples
            .iter()
            .map(|(line, e)| {
                serde_json::json!({"line": line, "reason": e.reason.code(), "detail": e.detail})
            })
            .collect();
        let out = serde_json::json!({
            "source": source,
            "run": summary.run_id,
            "lines": summary.lines,
            "accepted": summary.accepted,
            "duplicates": summary.duplicates,
            "rejected": summary.rejected,
            "by_reason": summary.by_reason,
            "samples": samples,
        });
        super::write_stdout(&format!("{out}\n"))?;
    } else {
        let reasons: Vec<String> = summary
            .by_reason
            .iter()
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        eprintln!(
            "{shown}: {} lines, {} accepted, {} duplicates (unchanged), {} rejected{}{}",
            summary.lines,
            summary.accepted,
            summary.duplicates,
            summary.rejected,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" [{}]", reasons.join(", "))
            },
            summary
                .run_id
                .map(|id| format!(" (run {id})"))
                .unwrap_or_default()
        );
    }
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
    let rows = store.rejects_where(&RejectFilter {
        run: args.run,
        reason: args.reason,
        limit: args.limit,
    })?;
    if args.json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "run": r.run, "source": r.source, "line": r.line,
                    "reason": r.reason, "detail": r.detail, "raw": r.raw,
                    "ts": liftdeck::clock::format_rfc3339(r.ts), "seen": r.seen,
                })
            })
            .collect();
        super::write_stdout(&format!("{}\n", serde_json::Value::Array(out)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for r in &rows {
        let run = r
            .run
            .map(|id| format!("run {id}"))
            .unwrap_or("no run".into());
        text.push_str(&format!(
            "{} line {}: {} ({}) [{}, {}{}]\n",
            escape_control(&r.source),
            r.line,
            escape_control(&r.detail),
            r.reason,
            run,
            liftdeck::clock::format_rfc3339(r.ts),
            if r.seen > 1 {
                format!(", seen in {} runs", r.seen)
            } else {
                String::new()
            }
        ));
        text.push_str(&format!("    {}\n", escape_control(&r.raw)));
    }
    super::write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
