//! The ingest benchmark: the real `ingest_reader` path (parse, validate, rollups) into a fresh
//! database per repeat (or a copy of one already holding `--stored` events of other traffic),
//! with reading alone and parsing alone timed on the same file so the store's share shows, and
//! two baselines: the sqlite3 shell's `.import` of the same assignments and events into plain
//! tables (the fair one), and of the events alone (the first baseline, kept so old figures
//! compare).

use super::input::{write_traffic, TrafficFiles};
use super::procfs::{peak_rss_mib, process_cpu_seconds, reset_peak_rss};
use super::sqlite3::{sqlite_import, Baseline};
use super::{bench_env, db_bytes, fresh_store, median, median_u64, mib, remove_db};
use crate::app::{feed_batch_lines, ingest_reader, Env};
use crate::lines::{read_json_line, Format};
use anyhow::{ensure, Context};
use std::fmt;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The read buffer `liftdeck ingest FILE` uses.
const READ_BUFFER: usize = 1 << 20;

/// One repeat of the ingest benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestRun {
    /// `app::ingest_reader` over the JSONL file, into a fresh database.
    pub seconds: f64,
    /// The same plus closing the store (SQLite's final WAL checkpoint), which the sqlite3
    /// shell's wall time includes too.
    pub seconds_with_close: f64,
    /// CPU time of the bench process during `seconds`: the writer and the parser thread
    /// (nothing else runs in it meanwhile), 10 ms ticks. NaN where /proc has no stat.
    pub cpu_seconds: f64,
    /// Reading the JSONL file line by line, nothing else.
    pub read_seconds: f64,
    /// Reading and `read_json_line` on every line, no store.
    pub parse_seconds: f64,
    /// Wall time of the `sqlite3` child doing `.import` of the events CSV.
    pub sqlite_import_seconds: Option<f64>,
    /// Its CPU time (user + system, 10 ms ticks), comparable with `cpu_seconds`.
    pub sqlite_import_cpu_seconds: Option<f64>,
    /// Wall and CPU time of the `.import` of the assignments CSV and the events CSV.
    pub sqlite_import_all_seconds: Option<f64>,
    pub sqlite_import_all_cpu_seconds: Option<f64>,
    /// VmHWM of the bench process after the liftdeck ingest (reset before it where the kernel
    /// allows, so it is this run's peak).
    pub peak_rss_mib: f64,
    /// Database plus -wal bytes once the store is closed (closing checkpoints).
    pub db_bytes: u64,
    pub sqlite_db_bytes: Option<u64>,
}

/// Ingest throughput, medians over `runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestBench {
    /// Event records in the input (the figure the throughput is quoted in).
    pub events: u64,
    /// All lines in the input: events plus the assignment lines they need.
    pub lines: u64,
    /// Events of other traffic in the database before each timed ingest (`--stored`).
    pub stored: u64,
    /// Seconds the one ingest of the stored traffic took (0 when none), and the size it left.
    pub stored_seconds: f64,
    pub stored_db_bytes: u64,
    pub batch_lines: usize,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub lines_per_sec: f64,
    pub seconds_with_close: f64,
    pub cpu_seconds: f64,
    pub read_seconds: f64,
    pub parse_seconds: f64,
    pub peak_rss_mib: f64,
    pub db_bytes: u64,
    pub sqlite_import_seconds: Option<f64>,
    pub sqlite_import_events_per_sec: Option<f64>,
    pub sqlite_import_cpu_seconds: Option<f64>,
    pub sqlite_db_bytes: Option<u64>,
    /// The `.import` of assignments and events: the same records liftdeck ingests.
    pub sqlite_import_all_seconds: Option<f64>,
    pub sqlite_import_all_cpu_seconds: Option<f64>,
    pub ratio_vs_import_all: Option<f64>,
    pub cpu_ratio_vs_import_all: Option<f64>,
    /// liftdeck ingest seconds / sqlite3 `.import` (events only) seconds (medians).
    pub ratio_vs_import: Option<f64>,
    /// The same with liftdeck's close (final checkpoint) counted, as the child's time counts it.
    pub ratio_with_close_vs_import: Option<f64>,
    /// CPU seconds against CPU seconds: the ratio that other load on the machine disturbs least.
    pub cpu_ratio_vs_import: Option<f64>,
    pub jsonl_path: PathBuf,
    pub csv_path: PathBuf,
    pub jsonl_bytes: u64,
    pub csv_bytes: u64,
    pub runs: Vec<IngestRun>,
}

/// Generates the traffic once (and, with `stored` > 0, ingests that many events of other
/// traffic into a template database once), then per repeat ingests it with liftdeck into a
/// fresh database or a copy of the template and (when `sqlite3` is given) runs both `.import`
/// baselines, alternating which goes first.
pub fn bench_ingest(
    dir: &Path,
    events: u64,
    seed: u64,
    repeats: usize,
    sqlite3: Option<&Path>,
    stored: u64,
) -> anyhow::Result<IngestBench> {
    ensure!(repeats > 0, "repeats must be at least 1");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let env = bench_env();
    let files = write_traffic(dir, &env, events, seed, "b-")?;
    let db = dir.join("bench-ingest.db");
    let import_db = dir.join("bench-import.db");
    let template = dir.join("bench-stored.db");
    let (stored_seconds, stored_db_bytes) = if stored > 0 {
        let other = write_traffic(dir, &env, stored, seed.wrapping_add(1), "s-")?;
        let run = liftdeck_ingest(&template, &env, seed, &other, None)?;
        for f in [&other.jsonl, &other.csv, &other.assignments_csv] {
            std::fs::remove_file(f)?;
        }
        (run.seconds_with_close, db_bytes(&template)?)
    } else {
        (0.0, 0)
    };
    let mut runs = Vec::with_capacity(repeats);
    for repeat in 0..repeats {
        let mut timed: [(Option<f64>, Option<f64>, Option<u64>); 2] = [(None, None, None); 2];
        let mut import = |sqlite3: &Path| -> anyhow::Result<()> {
            for (slot, what) in [Baseline::EventsOnly, Baseline::AssignmentsAndEvents]
                .into_iter()
                .enumerate()
            {
                let (wall, cpu) = sqlite_import(sqlite3, &import_db, &files, events, what)?;
                timed[slot] = (Some(wall), cpu, Some(db_bytes(&import_db)?));
                remove_db(&import_db)?;
            }
            Ok(())
        };
        if repeat % 2 == 1 {
            if let Some(s) = sqlite3 {
                import(s)?;
            }
        }
        let start_from = (stored > 0).then_some(template.as_path());
        let mut run = liftdeck_ingest(&db, &env, seed, &files, start_from)?;
        if repeat % 2 == 0 {
            if let Some(s) = sqlite3 {
                import(s)?;
            }
        }
        remove_db(&db)?;
        let [(sqlite_import_seconds, sqlite_import_cpu_seconds, _), (all, all_cpu, sqlite_db_bytes)] =
            timed;
        run.sqlite_import_all_seconds = all;
        run.sqlite_import_all_cpu_seconds = all_cpu;
        run.read_seconds = read_only(&files.jsonl)?;
        run.parse_seconds = parse_only(&files.jsonl, files.lines)?;
        run.sqlite_import_seconds = sqlite_import_seconds;
        run.sqlite_import_cpu_seconds = sqlite_import_cpu_seconds;
        run.sqlite_db_bytes = sqlite_db_bytes;
        runs.push(run);
    }
    let seconds = median(runs.iter().map(|r| r.seconds));
    let seconds_with_close = median(runs.iter().map(|r| r.seconds_with_close));
    let sqlite_import_seconds =
        sqlite3.map(|_| median(runs.iter().filter_map(|r| r.sqlite_import_seconds)));
    let sqlite_import_cpu_seconds = sqlite3
        .map(|_| median(runs.iter().filter_map(|r| r.sqlite_import_cpu_seconds)))
        .filter(|s| s.is_finite());
    let cpu_seconds = median(runs.iter().map(|r| r.cpu_seconds));
    let sqlite_import_all_seconds =
        sqlite3.map(|_| median(runs.iter().filter_map(|r| r.sqlite_import_all_seconds)));
    let sqlite_import_all_cpu_seconds = sqlite3
        .map(|_| median(runs.iter().filter_map(|r| r.sqlite_import_all_cpu_seconds)))
        .filter(|s| s.is_finite());
    if stored > 0 {
        remove_db(&template)?;
    }
    Ok(IngestBench {
        events,
        lines: files.lines,
        stored,
        stored_seconds,
        stored_db_bytes,
        sqlite_import_all_seconds,
        sqlite_import_all_cpu_seconds,
        ratio_vs_import_all: sqlite_import_all_seconds.map(|s| seconds / s),
        cpu_ratio_vs_import_all: sqlite_import_all_cpu_seconds.map(|s| cpu_seconds / s),
        batch_lines: feed_batch_lines(),
        seconds,
        events_per_sec: events as f64 / seconds,
        lines_per_sec: files.lines as f64 / seconds,
        seconds_with_close,
        cpu_seconds,
        read_seconds: median(runs.iter().map(|r| r.read_seconds)),
        parse_seconds: median(runs.iter().map(|r| r.parse_seconds)),
        peak_rss_mib: median(runs.iter().map(|r| r.peak_rss_mib)),
        db_bytes: median_u64(runs.iter().map(|r| r.db_bytes)),
        sqlite_import_seconds,
        sqlite_import_events_per_sec: sqlite_import_seconds.map(|s| events as f64 / s),
        sqlite_import_cpu_seconds,
        sqlite_db_bytes: sqlite3.map(|_| median_u64(runs.iter().filter_map(|r| r.sqlite_db_bytes))),
        ratio_vs_import: sqlite_import_seconds.map(|s| seconds / s),
        ratio_with_close_vs_import: sqlite_import_seconds.map(|s| seconds_with_close / s),
        cpu_ratio_vs_import: sqlite_import_cpu_seconds.map(|s| cpu_seconds / s),
        jsonl_bytes: std::fs::metadata(&files.jsonl)?.len(),
        csv_bytes: std::fs::metadata(&files.csv)?.len(),
        jsonl_path: files.jsonl,
        csv_path: files.csv,
        runs,
    })
}

/// One timed ingest of `files` into a fresh database, or into a copy of `start_from`.
fn liftdeck_ingest(
    db: &Path,
    env: &Env,
    seed: u64,
    files: &TrafficFiles,
    start_from: Option<&Path>,
) -> anyhow::Result<IngestRun> {
    let mut store = match start_from {
        None => fresh_store(db, env, seed)?,
        Some(template) => {
            // Closed, so checkpointed: the main file is the whole database.
            remove_db(db)?;
            std::fs::copy(template, db)
                .with_context(|| format!("copying {} to {}", template.display(), db.display()))?;
            crate::store::Store::open(db)?
        }
    };
    let reader = BufReader::with_capacity(READ_BUFFER, File::open(&files.jsonl)?);
    reset_peak_rss();
    let cpu_started = process_cpu_seconds();
    let started = Instant::now();
    let summary = ingest_reader(
        &mut store,
        env,
        reader,
        "bench",
        Format::Jsonl,
        feed_batch_lines(),
        |_| {},
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_started;
    drop(store);
    let seconds_with_close = started.elapsed().as_secs_f64();
    let peak_rss_mib = peak_rss_mib().unwrap_or(f64::NAN);
    // A benchmark that silently rejected lines would be measuring the reject path.
    ensure!(
        summary.lines == files.lines && summary.accepted == files.lines,
        "ingest accepted {} of {} lines ({} duplicates, {} rejected: {:?})",
        summary.accepted,
        files.lines,
        summary.duplicates,
        summary.rejected,
        summary.samples.first()
    );
    Ok(IngestRun {
        seconds,
        seconds_with_close,
        cpu_seconds,
        read_seconds: 0.0,
        parse_seconds: 0.0,
        sqlite_import_seconds: None,
        sqlite_import_cpu_seconds: None,
        sqlite_import_all_seconds: None,
        sqlite_import_all_cpu_seconds: None,
        peak_rss_mib,
        db_bytes: db_bytes(db)?,
        sqlite_db_bytes: None,
    })
}

fn read_only(jsonl: &Path) -> anyhow::Result<f64> {
    let reader = BufReader::with_capacity(READ_BUFFER, File::open(jsonl)?);
    let started = Instant::now();
    let mut bytes = 0usize;
    for line in reader.lines() {
        bytes += line?.len();
    }
    black_box(bytes);
    Ok(started.elapsed().as_secs_f64())
}

fn parse_only(jsonl: &Path, lines: u64) -> anyhow::Result<f64> {
    let reader = BufReader::with_capacity(READ_BUFFER, File::open(jsonl)?);
    let started = Instant::now();
    let mut ok = 0u64;
    for line in reader.lines() {
        ok += u64::from(black_box(read_json_line(&line?)).is_ok());
    }
    let seconds = started.elapsed().as_secs_f64();
    ensure!(ok == lines, "{ok} of {lines} lines parsed");
    Ok(seconds)
}

impl fmt::Display for IngestBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.runs.len();
        writeln!(
            f,
            "ingest: {} events in {} lines ({:.1} MiB JSONL), batches of {} lines, median of {n}",
            self.events,
            self.lines,
            mib(self.jsonl_bytes),
            self.batch_lines
        )?;
        if self.stored > 0 {
            writeln!(
                f,
                "  into a database already holding {} events of other traffic ({:.1} MiB; \
                 that ingest took {:.1} s, {:.0} events/s)",
                self.stored,
                mib(self.stored_db_bytes),
                self.stored_seconds,
                self.stored as f64 / self.stored_seconds
            )?;
        }
        writeln!(
            f,
            "  liftdeck ingest_reader    {:>8.3} s  {:>10.0} events/s  {:>10.0} lines/s",
            self.seconds, self.events_per_sec, self.lines_per_sec
        )?;
        writeln!(
            f,
            "  ... plus close/checkpoint {:>8.3} s  {:>10.0} events/s",
            self.seconds_with_close,
            self.events as f64 / self.seconds_with_close
        )?;
        writeln!(
            f,
            "  CPU, writer + parser      {:>8.3} s  ({:.0}% of wall; under 100%: waiting for I/O or a core)",
            self.cpu_seconds,
            100.0 * self.cpu_seconds / self.seconds
        )?;
        writeln!(
            f,
            "  read lines only           {:>8.3} s  ({:.0}% of ingest)",
            self.read_seconds,
            100.0 * self.read_seconds / self.seconds
        )?;
        writeln!(
            f,
            "  read + read_json_line     {:>8.3} s  ({:.0}% of ingest; store work is the other {:.0}%)",
            self.parse_seconds,
            100.0 * self.parse_seconds / self.seconds,
            100.0 * (1.0 - self.parse_seconds / self.seconds)
        )?;
        if let (Some(s), Some(r)) = (self.sqlite_import_all_seconds, self.ratio_vs_import_all) {
            writeln!(
                f,
                "  sqlite3 .import, assignments + events CSV {s:>8.3} s  {:>10.0} events/s  \
                 ratio liftdeck / this import {r:.2}x{}",
                self.events as f64 / s,
                self.cpu_ratio_vs_import_all
                    .map(|c| format!(" (CPU {c:.2}x)"))
                    .unwrap_or_default()
            )?;
        }
        match (
            self.sqlite_import_seconds,
            self.sqlite_import_events_per_sec,
        ) {
            (Some(s), Some(r)) => writeln!(
                f,
                "  sqlite3 .import, events CSV only {s:>8.3} s  {r:>10.0} events/s  ({:.1} MiB \
                 CSV, WAL + synchronous=NORMAL, plain table; the first baseline)",
                mib(self.csv_bytes)
            )?,
            _ => writeln!(f, "  sqlite3 .import           not run (no sqlite3 given)")?,
        }
        if let (Some(r), Some(rc)) = (self.ratio_vs_import, self.ratio_with_close_vs_import) {
            writeln!(
                f,
                "  ratio liftdeck / import   {r:.2}x  ({rc:.2}x counting liftdeck's close)"
            )?;
        }
        if let (Some(c), Some(r)) = (self.sqlite_import_cpu_seconds, self.cpu_ratio_vs_import) {
            writeln!(
                f,
                "  CPU: liftdeck {:.3} s, sqlite3 {c:.2} s: ratio {r:.2}x",
                self.cpu_seconds
            )?;
        }
        writeln!(
            f,
            "  peak RSS {:.1} MiB (VmHWM of the bench process)  db {:.1} MiB{}",
            self.peak_rss_mib,
            mib(self.db_bytes),
            self.sqlite_db_bytes
                .map(|b| format!("  (sqlite3 import db {:.1} MiB)", mib(b)))
                .unwrap_or_default()
        )?;
        writeln!(
            f,
            "  runs (seconds): liftdeck / +close / on CPU / import all / import all CPU / \
             import events / import events CPU / parse"
        )?;
        let opt = |v: Option<f64>| v.map_or("-".into(), |s| format!("{s:.3}"));
        for (i, r) in self.runs.iter().enumerate() {
            writeln!(
                f,
                "    {}: {:.3} / {:.3} / {:.3} / {} / {} / {} / {} / {:.3}",
                i + 1,
                r.seconds,
                r.seconds_with_close,
                r.cpu_seconds,
                opt(r.sqlite_import_all_seconds),
                opt(r.sqlite_import_all_cpu_seconds),
                opt(r.sqlite_import_seconds),
                opt(r.sqlite_import_cpu_seconds),
                r.parse_seconds
            )?;
        }
        Ok(())
    }
}
