//! The data path in and out: `assign` (one decision), `ingest` (assignment and event lines from
//! a file or a pipe), `export`, `verify` (rollups against a full recompute) and `rejects`.
//! Exit codes here are part of the contract with log shippers: 3 when lines were rejected,
//! 4 when a unit falls outside the campaign's traffic.

use super::exit::{self, usage};
use super::{write_json, write_stdout, JsonFlag, Session, EXIT_EXCLUDED, EXIT_REJECTS};
use anyhow::{Context, Result};
use clap::Args;
use liftdeck::app::{self, Assignment, Env};
use liftdeck::ingest::Format;
use std::io::BufRead;
use std::process::ExitCode;

#[derive(Args)]
pub struct AssignArgs {
    campaign: String,
    unit: String,
    /// Context as a JSON object, e.g. '{"device":"mobile","pre_value":12.5}'.
    #[arg(long)]
    context: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct IngestArgs {
    #[arg(default_value = "-")]
    file: String,
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Lines per transaction, 1 to 1,000,000.
    #[arg(long, default_value_t = app::feed_batch_lines(),
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
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
    /// One campaign (default: every campaign).
    campaign: Option<String>,
    #[command(flatten)]
    out: JsonFlag,
}

#[derive(Args)]
pub struct RejectsArgs {
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

pub fn assign(session: &Session, env: &Env, args: AssignArgs) -> Result<ExitCode> {
    let AssignArgs {
        campaign,
        unit,
        context,
        out,
    } = args;
    // A bad --context is reported before the database is touched.
    let context = match context {
        None => serde_json::Map::new(),
        Some(s) => match serde_json::from_str(&s) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => return Err(usage!("--context must be a JSON object, got `{s}`")),
        },
    };
    let mut store = session.open_to_write()?;
    match app::assign(&mut store, env, &campaign, &unit, context)? {
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
            eprintln!("unit `{unit}` is outside the traffic of `{campaign}`: no arm");
            Ok(ExitCode::from(EXIT_EXCLUDED))
        }
    }
}

pub fn ingest(session: &Session, env: &Env, args: IngestArgs) -> Result<ExitCode> {
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
    let mut store = session.open_or_create()?;
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

pub fn export(session: &Session, args: ExportArgs) -> Result<ExitCode> {
    let store = session.open_to_read()?;
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
        let diffs = store.verify_rollups(key)?;
        if diffs.is_empty() {
            text.push_str(&format!("{key}: rollups match a full recompute\n"));
        }
        for d in &diffs {
            text.push_str(&format!("MISMATCH {d}\n"));
        }
        bad += diffs.len();
        results.push(serde_json::json!({
            "campaign": key, "ok": diffs.is_empty(), "mismatches": diffs,
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
    for r in store.rejects(args.limit)? {
        println!("{} line {}: {} ({})", r.source, r.line, r.detail, r.reason);
    }
    Ok(ExitCode::SUCCESS)
}
