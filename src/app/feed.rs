//! Ingest from a reader (file or pipe) in batched transactions, and export back to lines.

use super::{AppError, Env, Result};
use crate::domain::{CampaignDefinition, Record};
use crate::ingest::{
    read_json_line, to_csv_fields, to_json_line, CsvLayout, Format, IngestRecord, LineError,
    CSV_HEADER,
};
use crate::store::{ExportRow, IngestItem, Ingestor, Store};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::mpsc::sync_channel;

/// Lines per transaction: large enough that commit cost vanishes, small enough that a crash
/// loses little work and a reader never waits long for the write lock.
pub const DEFAULT_BATCH_LINES: usize = 20_000;

/// Batches handed to the parser thread and not yet applied: enough to keep both threads busy.
const PARSE_AHEAD: usize = 2;

/// Lines of one batch with what each parsed to.
type ParsedBatch = (
    Vec<(u64, String)>,
    Vec<std::result::Result<IngestRecord, LineError>>,
);

/// Keep this many rejects verbatim for the summary (all are in the rejects table).
const SAMPLE_REJECTS: usize = 20;

#[derive(Debug, Default, Clone)]
pub struct IngestSummary {
    pub lines: u64,
    pub accepted: u64,
    pub duplicates: u64,
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
        for (line, e) in outcome.rejected {
            self.rejected += 1;
            *self.by_reason.entry(e.reason.code()).or_default() += 1;
            if self.samples.len() < SAMPLE_REJECTS {
                self.samples.push((line, e));
            }
        }
    }
}

/// Reads every line of `reader`, applying them in batches of `batch_lines`.
/// `progress` is called after each committed batch.
pub fn ingest_reader(
    store: &mut Store,
    env: &Env,
    reader: impl BufRead,
    source: &str,
    format: Format,
    batch_lines: usize,
    mut progress: impl FnMut(&IngestSummary),
) -> Result<IngestSummary> {
    let mut ingestor = Ingestor::new(store, source, &env.actor, env.clock.now())?;
    let mut summary = IngestSummary::default();
    let batch_lines = batch_lines.max(1);
    match format {
        Format::Jsonl => {
            // Parsing runs on a second thread, one batch ahead of the writer: while the store
            // applies batch k, batch k+1 is being parsed. The reader stays here (stdin's lock
            // cannot move threads) and reading is ~1% of the time. Batches come back in the
            // order they went out, each with its line numbers and raw text, and each is still
            // applied as one transaction, so what commits, and when, is exactly as before.
            let (raw_tx, raw_rx) = sync_channel::<Vec<(u64, String)>>(PARSE_AHEAD);
            let (parsed_tx, parsed_rx) = sync_channel::<ParsedBatch>(PARSE_AHEAD);
            let mut lines = reader.lines();
            let mut line_no = 0u64;
            std::thread::scope(|scope| -> Result<()> {
                scope.spawn(move || {
                    for raw in raw_rx {
                        let parsed = raw.iter().map(|(_, l)| read_json_line(l)).collect();
                        if parsed_tx.send((raw, parsed)).is_err() {
                            break;
                        }
                    }
                });
                let mut in_flight = 0usize;
                let mut eof = false;
                loop {
                    // At most PARSE_AHEAD batches are out, so neither send can block for good.
                    while in_flight < PARSE_AHEAD && !eof {
                        let mut raw: Vec<(u64, String)> = Vec::with_capacity(batch_lines);
                        for line in lines.by_ref() {
                            line_no += 1;
                            let line = line?;
                            if line.trim().is_empty() {
                                continue;
                            }
                            raw.push((line_no, line));
                            if raw.len() == batch_lines {
                                break;
                            }
                        }
                        if raw.is_empty() {
                            eof = true;
                            break;
                        }
                        raw_tx.send(raw).map_err(|_| parser_stopped())?;
                        in_flight += 1;
                    }
                    if in_flight == 0 {
                        break;
                    }
                    let (raw, parsed) = parsed_rx.recv().map_err(|_| parser_stopped())?;
                    in_flight -= 1;
                    summary.lines += raw.len() as u64;
                    let items = raw
                        .iter()
                        .zip(parsed)
                        .map(|((n, l), parsed)| IngestItem {
                            line: *n,
                            raw: l,
                            parsed,
                        })
                        .collect();
                    summary.absorb(ingestor.apply(items)?);
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
                .from_reader(reader);
            let header = rdr.headers().map_err(csv_io)?.clone();
            let layout = CsvLayout::from_header(&header).map_err(|error| AppError::Line {
                source_name: source.into(),
                line: 1,
                error,
            })?;
            let mut records = rdr.records();
            loop {
                let mut raw: Vec<(u64, String, std::result::Result<IngestRecord, LineError>)> =
                    Vec::with_capacity(batch_lines);
                for rec in records.by_ref() {
                    match rec {
                        Ok(rec) => {
                            let line = rec.position().map_or(0, |p| p.line());
                            let text = rec.iter().collect::<Vec<_>>().join(",");
                            raw.push((line, text, layout.read(&rec)));
                        }
                        Err(e) => {
                            let line = e.position().map_or(0, |p| p.line());
                            let error = LineError::new(
                                crate::ingest::RejectReason::Malformed,
                                format!("malformed CSV: {e}"),
                            );
                            raw.push((line, String::new(), Err(error)));
                        }
                    }
                    if raw.len() == batch_lines {
                        break;
                    }
                }
                if raw.is_empty() {
                    break;
                }
                summary.lines += raw.len() as u64;
                let items = raw
                    .iter()
                    .map(|(n, text, parsed)| IngestItem {
                        line: *n,
                        raw: text,
                        parsed: parsed.clone(),
                    })
                    .collect();
                summary.absorb(ingestor.apply(items)?);
                progress(&summary);
            }
        }
    }
    Ok(summary)
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
