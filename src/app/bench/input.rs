//! The ingest benchmark's input: simulated traffic over the demo campaigns, written once per
//! run as JSONL (every line, for liftdeck) and as two CSVs (the events, and the assignments,
//! for the sqlite3 baselines).

use super::{fresh_store, remove_db};
use crate::app::demo::{DEMO_EPOCH, DEMO_KEYS};
use crate::app::traffic::TrafficSource;
use crate::app::Env;
use crate::clock::format_rfc3339;
use crate::domain::{Micros, Record};
use crate::lines::to_json_line;
use anyhow::{ensure, Context};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Simulated shoppers per generated chunk, spread over `CHUNK_SPAN` (100 shoppers a second:
/// a busy shop, so the per-minute chart buckets fill the way they would in production).
const SHOPPERS_PER_CHUNK: usize = 1_000;
const CHUNK_SPAN: Micros = 10_000_000;

pub(super) struct TrafficFiles {
    pub(super) jsonl: PathBuf,
    pub(super) csv: PathBuf,
    pub(super) assignments_csv: PathBuf,
    pub(super) lines: u64,
    pub(super) assignments: u64,
}

/// Writes simulated traffic over the demo campaigns until `events` event records are out: all
/// lines as JSONL, the events and the assignments as CSVs for the sqlite3 baselines. Unit ids
/// start with `prefix`, so traffic stored beforehand never collides with the timed traffic.
pub(super) fn write_traffic(
    dir: &Path,
    env: &Env,
    events: u64,
    seed: u64,
    prefix: &str,
) -> anyhow::Result<TrafficFiles> {
    // The traffic source needs the campaigns as stored (ids, arm weights): make them once.
    let setup_db = dir.join("bench-setup.db");
    let campaigns = {
        let store = fresh_store(&setup_db, env, seed)?;
        DEMO_KEYS
            .iter()
            .map(|k| store.campaign(k))
            .collect::<Result<Vec<_>, _>>()?
    };
    remove_db(&setup_db)?;
    let mut source = TrafficSource::new(seed, campaigns, prefix);

    let jsonl_path = dir.join(format!("bench-{prefix}{events}.jsonl"));
    let csv_path = dir.join(format!("bench-{prefix}{events}-events.csv"));
    let assignments_path = dir.join(format!("bench-{prefix}{events}-assignments.csv"));
    let mut assignments_csv = csv::Writer::from_path(&assignments_path)
        .with_context(|| format!("creating {}", assignments_path.display()))?;
    assignments_csv.write_record(["campaign", "unit", "arm", "propensity", "context", "ts"])?;
    let mut assignments = 0u64;
    let mut jsonl = BufWriter::new(
        File::create(&jsonl_path).with_context(|| format!("creating {}", jsonl_path.display()))?,
    );
    let mut csv = csv::Writer::from_path(&csv_path)
        .with_context(|| format!("creating {}", csv_path.display()))?;
    csv.write_record([
        "event_id", "campaign", "unit", "kind", "value", "cost", "ts",
    ])?;
    let (mut written, mut lines) = (0u64, 0u64);
    let mut start = DEMO_EPOCH;
    while written < events {
        let records = source.generate(SHOPPERS_PER_CHUNK, start, CHUNK_SPAN);
        start += CHUNK_SPAN;
        ensure!(!records.is_empty(), "the traffic source produced nothing");
        for record in records {
            if let Record::Event(e) = &record {
                csv.write_record([
                    e.event_id.as_str(),
                    &e.campaign,
                    &e.unit,
                    &e.kind,
                    &e.value.to_string(),
                    &e.cost.to_string(),
                    &format_rfc3339(e.ts),
                ])?;
                written += 1;
            }
            if let Record::Assignment(a) = &record {
                assignments_csv.write_record([
                    a.campaign.as_str(),
                    &a.unit,
                    &a.arm,
                    &a.propensity.to_string(),
                    &serde_json::Value::Object(a.context.clone()).to_string(),
                    &format_rfc3339(a.ts),
                ])?;
                assignments += 1;
            }
            writeln!(jsonl, "{}", to_json_line(&record))?;
            lines += 1;
            if written == events {
                break;
            }
        }
    }
    jsonl.flush()?;
    csv.flush()?;
    assignments_csv.flush()?;
    Ok(TrafficFiles {
        jsonl: jsonl_path,
        csv: csv_path,
        assignments_csv: assignments_path,
        lines,
        assignments,
    })
}
