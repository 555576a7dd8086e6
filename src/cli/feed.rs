//! The data path in and out: `assign` (one decision), `ingest` (assignment and event lines from
//! a file or a pipe), `export`, `verify` (rollups against a full recompute) and `rejects`.
//! Exit codes here are part of the contract with log shippers: 3 when lines were rejected,
//! 4 when a unit falls outside the campaign's traffic.

use super::exit::{self, usage};
use super::{write_json, write_stdout, JsonFlag, Session, EXIT_EXCLUDED, EXIT_REJECTS};
use anyhow::{Context, Result};
use clap::builder::{RangedU64ValueParser, TypedValueParser};
use clap::Args;
use liftdeck::app::{self, Assignment, Env, IngestOptions};
use liftdeck::lines::{Format, RejectReason, DEFAULT_MAX_LINE_BYTES};
use liftdeck::store::{RejectFilter, RunSelector};
use liftdeck::text::escape_control;
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Args)]
pub struct AssignArgs {
    campaign: String,
    /// The unit to assign (not with --batch).
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    unit: Option<String>,
    /// Context as a JSON object, e.g. '{"device":"mobile","pre_value":12.5}'.
    #[arg(long, conflicts_with = "batch")]
    context: Option<String>,
    /// Read units from stdin, one per line (an id, or {"unit":..,"context":{..}}), and write
    /// one decision per line in the same order: decided by hash, logged a batch at a time.
    #[arg(long)]
    batch: bool,
    #[command(flatten)]
    out: JsonFlag,
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
    /// Lines per transaction, 1 to 1,000,000.
    #[arg(long, default_value_t = app::feed_batch_lines(),
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
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
    /// The summary is one JSON object on stdout (samples of rejects still go to stderr).
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct ExportArgs {
    campaign: String,
    #[arg(long, value_parser = format_arg(), default_value = "jsonl")]
    format: Format,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// One campaign (default: every campaign).
    campaign: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
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
    /// Rejects as one JSON array on stdout, every field exact.
    #[command(flatten)]
    out: JsonFlag,
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
            RejectReason::ALL
                .iter()
                .map(|r| r.code())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

pub fn assign(session: &Session, env: &Env, args: AssignArgs) -> Result<ExitCode> {
    let AssignArgs {
        campaign,
        unit,
        context,
        batch,
        out,
    } = args;
    if batch {
        return super::assign_stream::assign_stream(session, env, &campaign, out.json);
    }
    let Some(unit) = unit else {
        return Err(usage!(
            "assign needs a UNIT, or --batch to read units from stdin"
        ));
    };
    // A bad --context is reported before the database is touched.
    let context = match context {
        None => serde_json::Map::new(),
        Some(s) => match serde_json::from_str(&s) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(usage!("--context must be a JSON object, got `{s}`")),
        },
    };
    let mut store = session.open_to_write()?;
    let ids = session.unit_ids(&mut store, env)?;
    match app::assign_with(&mut store, env, &ids, &campaign, &unit, context)? {
        Assignment::Arm {
            arm,
            propensity,
            new,
        } => {
            if out.json {
                write_json(&serde_json::json!({
                    "campaign": campaign, "unit": unit, "arm": arm,
                    "propensity": propensity, "new": new,
                }))?;
            } else {
                write_stdout(&format!("{arm}\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Assignment::Excluded => {
            if out.json {
                write_json(&serde_json::json!({
                    "campaign": campaign, "unit": unit, "arm": null, "excluded": true,
                }))?;
            }
            eprintln!(
                "unit `{}` is outside the traffic of `{campaign}`: no arm",
                escape_control(&unit)
            );
            Ok(ExitCode::from(EXIT_EXCLUDED))
        }
    }
}

pub fn ingest(session: &Session, env: &Env, args: IngestArgs) -> Result<ExitCode> {
    let IngestArgs {
        file,
        format,
        batch,
        max_line_bytes,
        max_future,
        out,
    } = args;
    let format = format.unwrap_or(if file.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Jsonl
    });
    let max_future = i64::try_from(max_future)
        .ok()
        .and_then(|s| s.checked_mul(1_000_000))
        .ok_or_else(|| usage!("--max-future {max_future}s is too large"))?;
    let mut options = IngestOptions {
        batch_lines: batch,
        max_line_bytes,
        max_future,
        ..IngestOptions::new(format)
    };
    // The input first: a missing file must not leave a new, empty database behind.
    let (reader, source): (Box<dyn BufRead>, String) = if file == "-" {
        (Box::new(std::io::stdin().lock()), "stdin".into())
    } else {
        let f = std::fs::File::open(&file).with_context(|| format!("opening {file}"))?;
        (
            Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            file.to_string(),
        )
    };
    let mut store = session.open_or_create()?;
    options.unit_ids = session.unit_ids(&mut store, env)?;
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
    if out.json {
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
            "forgotten": summary.forgotten,
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
            "{shown}: {} lines, {} accepted, {} duplicates (unchanged), {} rejected{}{}{}",
            summary.lines,
            summary.accepted,
            summary.duplicates,
            summary.rejected,
            if summary.forgotten > 0 {
                format!(
                    ", skipped {} lines of forgotten customers",
                    summary.forgotten
                )
            } else {
                String::new()
            },
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

pub fn export(session: &Session, args: ExportArgs) -> Result<ExitCode> {
    let store = session.open_to_read()?;
    if let Some(note) = app::retention::pruned_note(&store, &args.campaign)? {
        eprintln!("liftdeck: {}", escape_control(&note));
    }
    let closed = std::cell::Cell::new(false);
    let stdout = PipeWriter {
        inner: std::io::stdout().lock(),
        closed: &closed,
    };
    match app::export(&store, &args.campaign, args.format, stdout) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // `liftdeck export ... | head` closing the pipe early is not a failure, whichever
        // writer (JSONL or CSV, which rewraps the error) met it.
        Err(_) if closed.get() => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

/// Stdout that remembers whether the reader went away, so the export can tell a closed pipe
/// from a real failure even after a writer turned the error into its own type.
struct PipeWriter<'a, W> {
    inner: W,
    closed: &'a std::cell::Cell<bool>,
}

impl<W: std::io::Write> std::io::Write for PipeWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.note(e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.note(e))
    }
}

impl<W> PipeWriter<'_, W> {
    fn note(&self, e: &std::io::Error) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.closed.set(true);
        }
    }
}

pub fn verify(session: &Session, args: VerifyArgs) -> Result<ExitCode> {
    let store = session.open_to_read()?;
    let keys = match args.campaign {
        Some(k) => vec![k],
        None => store.campaigns()?.into_iter().map(|c| c.spec.key).collect(),
    };
    let mut bad = 0;
    let mut results = Vec::new();
    let mut text = String::new();
    for key in &keys {
        // A pruned campaign is checked against per-unit totals, and says so.
        let outcome = liftdeck::app::retention::verify_campaign(&store, key)?;
        let diffs = outcome.mismatches;
        let shown = escape_control(key);
        if let Some(note) = &outcome.pruned {
            text.push_str(&format!("{}\n", escape_control(note)));
        }
        if diffs.is_empty() {
            text.push_str(&match outcome.pruned {
                None => format!("{shown}: rollups match a full recompute\n"),
                Some(_) => format!("{shown}: rollups match the per-unit totals\n"),
            });
        }
        for d in &diffs {
            text.push_str(&format!("MISMATCH {}\n", escape_control(d)));
        }
        bad += diffs.len();
        results.push(serde_json::json!({
            "campaign": key, "ok": diffs.is_empty(), "mismatches": diffs,
            "pruned": outcome.pruned,
        }));
    }
    if args.out.json {
        write_json(&serde_json::json!({ "ok": bad == 0, "campaigns": results }))?;
    } else {
        write_stdout(&text)?;
    }
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::MISMATCH)
    })
}

pub fn rejects(session: &Session, args: RejectsArgs) -> Result<ExitCode> {
    let store = session.open_to_read()?;
    let rows = store.rejects_where(&RejectFilter {
        run: args.run,
        reason: args.reason,
        limit: args.limit,
    })?;
    if args.out.json {
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
