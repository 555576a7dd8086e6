//! The ingest use case: bytes from a reader (file or pipe) cut into bounded lines, parsed
//! and checked by the line formats (`lines`), stamped against the injected clock, and applied
//! in batched transactions by the store (`store::Ingestor`); and export back to lines.

mod read;

use read::{BoundedLines, LineRead};

use super::privacy::{UnitIds, WITHHELD_LINE};
use super::{AppError, Env, Result};
use crate::domain::{CampaignDefinition, Micros, Record};
use crate::lines::{
    check_not_future, read_json_line, to_csv_fields, to_json_line, CsvLayout, Format, IngestRecord,
    LineError, RejectReason, CSV_HEADER, DEFAULT_MAX_FUTURE, DEFAULT_MAX_LINE_BYTES,
};
use crate::store::{ExportRow, IngestItem, Ingestor, Store, WriteLimits};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::mpsc::sync_channel;

/// Lines per transaction: large enough that commit cost vanishes, small enough that a crash
/// loses little work and a reader never waits long for the write lock.
pub const DEFAULT_BATCH_LINES: usize = 20_000;

/// A batch also ends once it holds this many bytes of text, so memory stays bounded however
/// long the lines are (a batch is at most this plus one line).
pub const BATCH_BYTES: usize = 16 << 20;

/// Batches handed to the parser thread and not yet applied: enough to keep both threads busy.
const PARSE_AHEAD: usize = 2;

/// Keep this many rejects verbatim for the summary (all are in the rejects table).
const SAMPLE_REJECTS: usize = 20;

/// How an ingest reads and checks its input.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: Format,
    /// Lines per transaction (at least 1).
    pub batch_lines: usize,
    /// Lines longer than this (bytes, line ending excluded) are rejected as `line_too_long`.
    pub max_line_bytes: usize,
    /// Lines stamped more than this after the ingest clock are rejected as `future_timestamp`.
    pub max_future: Micros,
    pub write_limits: WriteLimits,
    /// How raw unit ids and identifying context fields become stored ones
    /// (`app::privacy::unit_ids`); raw by default.
    pub unit_ids: UnitIds,
}

impl IngestOptions {
    pub fn new(format: Format) -> IngestOptions {
        IngestOptions {
            format,
            batch_lines: DEFAULT_BATCH_LINES,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_future: DEFAULT_MAX_FUTURE,
            write_limits: WriteLimits::default(),
            unit_ids: UnitIds::raw(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct IngestSummary {
    /// The run's `ingest_runs` id (`rejects --run N`).
    pub run_id: Option<i64>,
    pub lines: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Lines of forgotten customers, skipped (not rejects; see `forget`).
    pub forgotten: u64,
    pub rejected: u64,
    pub by_reason: BTreeMap<&'static str, u64>,
    pub samples: Vec<(u64, LineError)>,
    pub batches: u64,
}

impl IngestSummary {
    fn absorb(&mut self, outcome: crate::store::BatchOutcome) {
        self.batches += 1;
        self.accepted += outcome.accepted;
        self.duplicates += outcome.duplicates;
        self.forgotten += outcome.forgotten;
        for (line, e) in outcome.rejected {
            self.rejected += 1;
            *self.by_reason.entry(e.reason.code()).or_default() += 1;
            if self.samples.len() < SAMPLE_REJECTS {
                self.samples.push((line, e));
            }
        }
    }
}

/// What went wrong with a line before it could be parsed.
#[derive(Debug, Clone, Copy)]
enum Problem {
    TooLong(u64),
    InvalidUtf8(usize),
}

/// One line of a batch: its number and where its text is.
#[derive(Debug, Clone, Copy)]
struct Span {
    number: u64,
    start: usize,
    end: usize,
    problem: Option<Problem>,
}

/// Lines as read: one buffer of bytes for the whole batch (no allocation per line).
struct ByteBatch {
    bytes: Vec<u8>,
    lines: Vec<Span>,
    /// The ingest clock when the batch was read.
    now: Micros,
}

/// Lines as parsed: the text (valid UTF-8; a line that was not is kept as its lossy version)
/// and what each line parsed to.
struct TextBatch {
    text: String,
    lines: Vec<Span>,
    parsed: Vec<std::result::Result<IngestRecord, LineError>>,
    now: Micros,
}

/// Reads every line of `reader`, applying them in batches of `batch_lines`, with the default
/// limits. `progress` is called after each committed batch.
pub fn ingest_reader(
    store: &mut Store,
    env: &Env,
    reader: impl BufRead,
    source: &str,
    format: Format,
    batch_lines: usize,
    progress: impl FnMut(&IngestSummary),
) -> Result<IngestSummary> {
    let options = IngestOptions {
        batch_lines,
        ..IngestOptions::new(format)
    };
    ingest_with(store, env, reader, source, &options, progress)
}

/// Reads every line of `reader` as one ingest run (one `ingest_runs` row), and writes one
/// audit row for the run (`ingest.run`), also when it stops on an error after some batches
/// committed.
pub fn ingest_with(
    store: &mut Store,
    env: &Env,
    reader: impl BufRead,
    source: &str,
    options: &IngestOptions,
    progress: impl FnMut(&IngestSummary),
) -> Result<IngestSummary> {
    let out = ingest_run(store, env, reader, source, options, progress);
    let detail = match &out {
        Ok(s) => format!(
            "run {} from {source}: {} lines, {} accepted, {} duplicates, {} rejected",
            s.run_id.map_or("-".into(), |id| id.to_string()),
            s.lines,
            s.accepted,
            s.duplicates,
            s.rejected
        ),
        Err(e) => format!("from {source}: stopped: {e}"),
    };
    store.record_audit(env.clock.now(), &env.actor, "ingest.run", None, &detail)?;
    out
}

fn ingest_run(
    store: &mut Store,
    env: &Env,
    reader: impl BufRead,
    source: &str,
    options: &IngestOptions,
    mut progress: impl FnMut(&IngestSummary),
) -> Result<IngestSummary> {
    let mut ingestor = Ingestor::new(store, source, &env.actor, env.clock.now())?;
    ingestor.set_write_limits(options.write_limits);
    let mut summary = IngestSummary {
        run_id: Some(ingestor.begin_run()?),
        ..IngestSummary::default()
    };
    let batch_lines = options.batch_lines.max(1);
    match options.format {
        Format::Jsonl => {
            // Parsing runs on a second thread, one batch ahead of the writer: while the store
            // applies batch k, batch k+1 is being parsed. The reader stays here (stdin's lock
            // cannot move threads) and reading is ~2% of the time. Batches come back in the
            // order they went out, each with its line numbers and raw text, and each is still
            // applied as one transaction.
            let (raw_tx, raw_rx) = sync_channel::<ByteBatch>(PARSE_AHEAD);
            let (parsed_tx, parsed_rx) = sync_channel::<TextBatch>(PARSE_AHEAD);
            let mut lines = BoundedLines::new(reader, options.max_line_bytes);
            let (max_line, max_future) = (options.max_line_bytes, options.max_future);
            std::thread::scope(|scope| -> Result<()> {
                scope.spawn(move || {
                    for batch in raw_rx {
                        if parsed_tx
                            .send(parse_batch(batch, max_line, max_future))
                            .is_err()
                        {
                            break;
                        }
                    }
                });
                let mut in_flight = 0usize;
                let mut eof = false;
                loop {
                    // At most PARSE_AHEAD batches are out, so neither send can block for good.
                    while in_flight < PARSE_AHEAD && !eof {
                        match read_batch(&mut lines, batch_lines, env.clock.now())? {
                            None => eof = true,
                            Some(batch) => {
                                raw_tx.send(batch).map_err(|_| parser_stopped())?;
                                in_flight += 1;
                            }
                        }
                    }
                    if in_flight == 0 {
                        break;
                    }
                    let batch = parsed_rx.recv().map_err(|_| parser_stopped())?;
                    in_flight -= 1;
                    summary.lines += batch.lines.len() as u64;
                    let touched = assigned_campaigns(&batch.parsed);
                    let lines = batch
                        .lines
                        .iter()
                        .zip(batch.parsed)
                        .map(|(span, parsed)| {
                            let raw = batch.text.get(span.start..span.end).unwrap_or("");
                            (span.number, raw, parsed)
                        })
                        .collect();
                    let (texts, parsed) = stored_lines(&options.unit_ids, lines);
                    let items = ingest_items(&texts, parsed);
                    ingestor.set_clock(batch.now);
                    summary.absorb(ingestor.apply(items)?);
                    super::bandit::update_due(ingestor.store(), env, &touched)?;
                    progress(&summary);
                }
                // Ends the parser's loop; the scope then joins it.
                drop(raw_tx);
                Ok(())
            })?;
        }
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(CsvRecordGuard::new(reader, options.max_line_bytes));
            let header = rdr.headers().map_err(csv_io)?.clone();
            let layout = CsvLayout::from_header(&header).map_err(|error| AppError::Line {
                source_name: source.into(),
                line: 1,
                error,
            })?;
            let mut records = rdr.byte_records();
            // A read error ends the run, after the lines before it are applied.
            let mut fatal = None;
            while fatal.is_none() {
                let now = env.clock.now();
                let mut raw: Vec<(u64, String)> = Vec::with_capacity(batch_lines);
                let mut parsed = Vec::with_capacity(batch_lines);
                for rec in records.by_ref() {
                    let (line, text, result) = match rec {
                        Ok(rec) => {
                            let line = rec.position().map_or(0, |p| p.line());
                            match csv::StringRecord::from_byte_record(rec) {
                                Ok(rec) => {
                                    let text = rec.iter().collect::<Vec<_>>().join(",");
                                    let parsed = layout.read(&rec).and_then(|r| {
                                        check_not_future(&r, now, options.max_future).map(|_| r)
                                    });
                                    (line, text, parsed)
                                }
                                Err(e) => {
                                    let (field, at) =
                                        (e.utf8_error().field(), e.utf8_error().valid_up_to());
                                    let fields = e.into_byte_record();
                                    let text = fields
                                        .iter()
                                        .map(String::from_utf8_lossy)
                                        .collect::<Vec<_>>()
                                        .join(",");
                                    let error = LineError::new(
                                        RejectReason::InvalidUtf8,
                                        format!(
                                            "column {} is not valid UTF-8 (first bad byte at \
                                             offset {}); re-encode the feed as UTF-8",
                                            field + 1,
                                            at
                                        ),
                                    );
                                    (line, text, Err(error))
                                }
                            }
                        }
                        Err(e) => {
                            if let csv::ErrorKind::Io(_) = e.kind() {
                                fatal = Some(AppError::Invalid(format!("{source} {e}")));
                                break;
                            }
                            let line = e.position().map_or(0, |p| p.line());
                            let error = LineError::new(
                                RejectReason::Malformed,
                                format!("malformed CSV: {e}"),
                            );
                            (line, String::new(), Err(error))
                        }
                    };
                    raw.push((line, text));
                    parsed.push(result);
                    if raw.len() == batch_lines {
                        break;
                    }
                }
                if raw.is_empty() {
                    break;
                }
                summary.lines += raw.len() as u64;
                let touched = assigned_campaigns(&parsed);
                let lines = raw
                    .iter()
                    .zip(parsed)
                    .map(|((n, text), parsed)| (*n, text.as_str(), parsed))
                    .collect();
                let (texts, parsed) = stored_lines(&options.unit_ids, lines);
                let items = ingest_items(&texts, parsed);
                ingestor.set_clock(now);
                summary.absorb(ingestor.apply(items)?);
                super::bandit::update_due(ingestor.store(), env, &touched)?;
                progress(&summary);
            }
            if let Some(e) = fatal {
                return Err(e);
            }
        }
    }
    Ok(summary)
}

type Parsed = std::result::Result<IngestRecord, LineError>;

/// The store's items for a batch's stored lines (`stored_lines`), in line order.
fn ingest_items<'t>(
    texts: &'t [(u64, Cow<'_, str>)],
    parsed: Vec<Parsed>,
) -> Vec<IngestItem<'t, IngestRecord>> {
    texts
        .iter()
        .zip(parsed)
        .map(|((line, raw), parsed)| IngestItem {
            line: *line,
            raw,
            parsed,
        })
        .collect()
}

/// A batch's lines as the store receives them: each record's unit and context mapped by the
/// database's `UnitIds` and, where that mapping redacts, raw text rebuilt from the mapped
/// record (kept for the rejects table) so no raw id or identifying value is stored through it.
fn stored_lines<'a>(
    ids: &UnitIds,
    lines: Vec<(u64, &'a str, Parsed)>,
) -> (Vec<(u64, Cow<'a, str>)>, Vec<Parsed>) {
    lines
        .into_iter()
        .map(|(line, raw, parsed)| {
            if !ids.redacts() {
                return ((line, Cow::Borrowed(raw)), parsed);
            }
            let parsed = parsed.map(|r| ids.map_record(r));
            let raw = match &parsed {
                Ok(r) => Cow::Owned(to_json_line(&Record::from(r.clone()))),
                Err(_) => Cow::Borrowed(WITHHELD_LINE),
            };
            ((line, raw), parsed)
        })
        .unzip()
}

/// The campaigns a batch assigns units in, once each: the bandits among them may be due an
/// allocation update once the batch commits (one check per campaign per batch).
fn assigned_campaigns(parsed: &[std::result::Result<IngestRecord, LineError>]) -> Vec<String> {
    let keys: std::collections::BTreeSet<&str> = parsed
        .iter()
        .filter_map(|p| match p {
            Ok(IngestRecord::Assignment(a)) => Some(a.campaign.as_str()),
            _ => None,
        })
        .collect();
    keys.into_iter().map(str::to_string).collect()
}

/// Bounds the memory of a CSV read: the csv reader holds a record whole, and a record can
/// span lines inside quotes, so once one passes `max` bytes the read fails (naming the line)
/// rather than growing without bound. Unlike JSON lines, CSV cannot be resynchronised safely
/// after such a record, so the run stops there; the lines before it are applied.
struct CsvRecordGuard<R> {
    inner: R,
    max: usize,
    in_quotes: bool,
    record_bytes: usize,
    line: u64,
}

impl<R> CsvRecordGuard<R> {
    fn new(inner: R, max: usize) -> CsvRecordGuard<R> {
        CsvRecordGuard {
            inner,
            max,
            in_quotes: false,
            record_bytes: 0,
            line: 1,
        }
    }
}

impl<R: std::io::Read> std::io::Read for CsvRecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            match b {
                // A doubled quote inside a field toggles twice: parity is all that matters.
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' => {
                    self.line += 1;
                    if !self.in_quotes {
                        self.record_bytes = 0;
                        continue;
                    }
                }
                _ => {}
            }
            self.record_bytes += 1;
            if self.record_bytes > self.max {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "line {}: a CSV record longer than {} bytes (raise --max-line-bytes); \
                         the lines before it were ingested",
                        self.line, self.max
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// Reads up to `batch_lines` lines (or `BATCH_BYTES` of text) into one buffer; `None` at the
/// end of the input.
fn read_batch<R: BufRead>(
    lines: &mut BoundedLines<R>,
    batch_lines: usize,
    now: Micros,
) -> Result<Option<ByteBatch>> {
    let mut batch = ByteBatch {
        bytes: Vec::new(),
        lines: Vec::with_capacity(batch_lines.min(1 << 16)),
        now,
    };
    while batch.lines.len() < batch_lines && batch.bytes.len() < BATCH_BYTES {
        let start = batch.bytes.len();
        let (number, problem) = match lines.next_into(&mut batch.bytes)? {
            None => break,
            Some(LineRead::Line { number }) => (number, None),
            Some(LineRead::TooLong { number, bytes }) => (number, Some(Problem::TooLong(bytes))),
        };
        batch.lines.push(Span {
            number,
            start,
            end: batch.bytes.len(),
            problem,
        });
    }
    Ok((!batch.lines.is_empty()).then_some(batch))
}

/// Checks a batch's bytes as UTF-8 and parses each line. The common case (every line valid)
/// validates the whole buffer at once and moves it into a `String` without copying.
fn parse_batch(batch: ByteBatch, max_line: usize, max_future: Micros) -> TextBatch {
    let ByteBatch {
        bytes,
        mut lines,
        now,
    } = batch;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => lossy_lines(e.into_bytes(), &mut lines),
    };
    let parsed = lines
        .iter()
        .map(|span| match span.problem {
            Some(Problem::TooLong(bytes)) => Err(LineError::line_too_long(bytes, max_line)),
            Some(Problem::InvalidUtf8(at)) => Err(LineError::invalid_utf8(at)),
            None => read_json_line(text.get(span.start..span.end).unwrap_or("")).and_then(|r| {
                check_not_future(&r, now, max_future)?;
                Ok(r)
            }),
        })
        .collect();
    TextBatch {
        text,
        lines,
        parsed,
        now,
    }
}

/// Rebuilds a batch's text with each invalid line replaced by its lossy version (so the raw
/// text can still be stored and shown), marking those lines.
fn lossy_lines(bytes: Vec<u8>, lines: &mut [Span]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for span in lines.iter_mut() {
        let raw = bytes.get(span.start..span.end).unwrap_or_default();
        let start = text.len();
        match std::str::from_utf8(raw) {
            Ok(s) => text.push_str(s),
            Err(e) => {
                text.push_str(&String::from_utf8_lossy(raw));
                if span.problem.is_none() {
                    span.problem = Some(Problem::InvalidUtf8(e.valid_up_to()));
                }
            }
        }
        span.start = start;
        span.end = text.len();
    }
    text
}

/// Only reachable if the parser thread panicked; the scope re-raises that panic.
fn parser_stopped() -> AppError {
    AppError::Io(std::io::Error::other("the ingest parser thread stopped"))
}

fn csv_io(e: csv::Error) -> AppError {
    AppError::Io(std::io::Error::other(e.to_string()))
}

/// Writes a campaign (its definition line, then assignments, then events) in `format`.
/// Ingesting the output into an empty database reproduces the campaign and its rollups.
pub fn export(store: &Store, key: &str, format: Format, out: impl Write) -> Result<u64> {
    let (campaign, _) = store.campaign(key)?;
    let definition = Record::Campaign(Box::new(CampaignDefinition {
        spec: campaign.spec,
        status: campaign.status,
    }));
    let mut count = 0u64;
    match format {
        Format::Jsonl => {
            let mut out = std::io::BufWriter::new(out);
            writeln!(out, "{}", to_json_line(&definition))?;
            store.export_rows(key, |row| {
                count += 1;
                writeln!(out, "{}", to_json_line(&row_record(row)))
            })?;
            out.flush()?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(CSV_HEADER).map_err(csv_io)?;
            w.write_record(to_csv_fields(&definition)).map_err(csv_io)?;
            store.export_rows(key, |row| {
                count += 1;
                w.write_record(to_csv_fields(&row_record(row)))
                    .map_err(|e| std::io::Error::other(e.to_string()))
            })?;
            w.flush()?;
        }
    }
    Ok(count)
}

fn row_record(row: ExportRow) -> Record {
    match row {
        ExportRow::Assignment(a) => Record::Assignment(a),
        ExportRow::Event(e) => Record::Event(e),
    }
}
