//! Whole-process benchmarks behind `liftdeck bench`: ingest throughput of the real path (parse,
//! validate, rollups) measured side by side with the sqlite3 shell's plain CSV `.import` of the
//! same events, and assignment decisions per second against pure hash bucketing. Each figure is
//! a median over repeats and is quoted as a ratio to its baseline from the same run. Nothing
//! here is a timed test: the functions only measure and report.

use super::demo::{self, DEMO_EPOCH, DEMO_KEYS};
use super::traffic::TrafficSource;
use super::{assign, feed_batch_lines, ingest_reader, Assignment, Env};
use crate::allocation::{bucket, Bucket};
use crate::clock::{format_rfc3339, Clock};
use crate::domain::{Micros, Record};
use crate::ingest::{parse_json_line, to_json_line, Format};
use crate::store::Store;
use anyhow::{bail, ensure, Context};
use std::fmt;
use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Simulated shoppers per generated chunk, spread over `CHUNK_SPAN` (100 shoppers a second:
/// a busy shop, so the per-minute chart buckets fill the way they would in production).
const SHOPPERS_PER_CHUNK: usize = 1_000;
const CHUNK_SPAN: Micros = 10_000_000;

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
    /// CPU time of the ingesting thread during `seconds`; the rest of the wall time is spent
    /// waiting: for I/O, or for a core when other work shares the machine. NaN where /proc
    /// has no schedstat.
    pub cpu_seconds: f64,
    /// Reading the JSONL file line by line, nothing else.
    pub read_seconds: f64,
    /// Reading and `parse_json_line` on every line, no store.
    pub parse_seconds: f64,
    /// Wall time of the `sqlite3` child doing `.import` of the events CSV.
    pub sqlite_import_seconds: Option<f64>,
    /// Its CPU time (user + system, 10 ms ticks), comparable with `cpu_seconds`.
    pub sqlite_import_cpu_seconds: Option<f64>,
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
    /// liftdeck ingest seconds / sqlite3 `.import` seconds (medians).
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

/// Generates the traffic once, then per repeat ingests it into a fresh database with liftdeck
/// and (when `sqlite3` is given) imports the events CSV with the sqlite3 shell, alternating
/// which goes first.
pub fn bench_ingest(
    dir: &Path,
    events: u64,
    seed: u64,
    repeats: usize,
    sqlite3: Option<&Path>,
) -> anyhow::Result<IngestBench> {
    ensure!(repeats > 0, "repeats must be at least 1");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let env = bench_env();
    let files = write_traffic(dir, &env, events, seed)?;
    let db = dir.join("bench-ingest.db");
    let import_db = dir.join("bench-import.db");
    let mut runs = Vec::with_capacity(repeats);
    for repeat in 0..repeats {
        let mut sqlite_import_seconds = None;
        let mut sqlite_import_cpu_seconds = None;
        let mut sqlite_db_bytes = None;
        let mut import = |sqlite3: &Path| -> anyhow::Result<()> {
            let (wall, cpu) = sqlite_import(sqlite3, &import_db, &files.csv, events)?;
            sqlite_import_seconds = Some(wall);
            sqlite_import_cpu_seconds = cpu;
            sqlite_db_bytes = Some(db_bytes(&import_db)?);
            remove_db(&import_db)?;
            Ok(())
        };
        if repeat % 2 == 1 {
            if let Some(s) = sqlite3 {
                import(s)?;
            }
        }
        let mut run = liftdeck_ingest(&db, &env, seed, &files)?;
        if repeat % 2 == 0 {
            if let Some(s) = sqlite3 {
                import(s)?;
            }
        }
        remove_db(&db)?;
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
    Ok(IngestBench {
        events,
        lines: files.lines,
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

fn bench_env() -> Env {
    Env {
        clock: Clock::System,
        actor: "bench".into(),
    }
}

struct TrafficFiles {
    jsonl: PathBuf,
    csv: PathBuf,
    lines: u64,
}

/// Writes simulated traffic over the demo campaigns until `events` event records are out: all
/// lines as JSONL, the events alone as CSV for the sqlite3 baseline.
fn write_traffic(dir: &Path, env: &Env, events: u64, seed: u64) -> anyhow::Result<TrafficFiles> {
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
    let mut source = TrafficSource::new(seed, campaigns, "b-");

    let jsonl_path = dir.join(format!("bench-{events}.jsonl"));
    let csv_path = dir.join(format!("bench-{events}-events.csv"));
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
            writeln!(jsonl, "{}", to_json_line(&record))?;
            lines += 1;
            if written == events {
                break;
            }
        }
    }
    jsonl.flush()?;
    csv.flush()?;
    Ok(TrafficFiles {
        jsonl: jsonl_path,
        csv: csv_path,
        lines,
    })
}

/// A new database at `path` holding the demo campaigns, created and started, and no traffic.
fn fresh_store(path: &Path, env: &Env, seed: u64) -> anyhow::Result<Store> {
    remove_db(path)?;
    let mut store = Store::open(path)?;
    demo::ensure_campaigns(&mut store, env, seed)?;
    Ok(store)
}

fn liftdeck_ingest(
    db: &Path,
    env: &Env,
    seed: u64,
    files: &TrafficFiles,
) -> anyhow::Result<IngestRun> {
    let mut store = fresh_store(db, env, seed)?;
    let reader = BufReader::with_capacity(READ_BUFFER, File::open(&files.jsonl)?);
    reset_peak_rss();
    let cpu_started = thread_cpu_seconds();
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
    let cpu_seconds = thread_cpu_seconds() - cpu_started;
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
        peak_rss_mib,
        db_bytes: db_bytes(db)?,
        sqlite_db_bytes: None,
    })
}

/// The baseline: the sqlite3 shell loading the events CSV into a plain table (no indexes, no
/// validation, no rollups), with the same journal settings liftdeck uses. Returns the child's
/// wall time (process start and final checkpoint included) and, where /proc tells, its CPU time.
fn sqlite_import(
    sqlite3: &Path,
    db: &Path,
    csv: &Path,
    events: u64,
) -> anyhow::Result<(f64, Option<f64>)> {
    remove_db(db)?;
    let csv_text = csv.to_str().context("CSV path is not UTF-8")?;
    ensure!(
        !csv_text.contains(['"', '\n', '\\']),
        "CSV path {csv_text} cannot be quoted for the sqlite3 shell"
    );
    let script = format!(
        "PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE events (event_id TEXT, campaign TEXT, unit TEXT, kind TEXT, value REAL, cost REAL, ts TEXT);
.mode csv
.import --skip 1 \"{csv_text}\" events
"
    );
    let children_cpu = waited_children_cpu_seconds();
    let started = Instant::now();
    let mut child = Command::new(sqlite3)
        .arg("-bail")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", sqlite3.display()))?;
    child
        .stdin
        .take()
        .context("sqlite3 stdin")?
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = match (children_cpu, waited_children_cpu_seconds()) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    if !out.status.success() || !out.stderr.is_empty() {
        bail!(
            "sqlite3 .import failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let count = Command::new(sqlite3)
        .arg(db)
        .arg("SELECT count(*) FROM events")
        .output()?;
    let count: u64 = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .context("counting imported rows")?;
    ensure!(
        count == events,
        "sqlite3 imported {count} of {events} events"
    );
    Ok((seconds, cpu))
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
        ok += u64::from(black_box(parse_json_line(&line?)).is_ok());
    }
    let seconds = started.elapsed().as_secs_f64();
    ensure!(ok == lines, "{ok} of {lines} lines parsed");
    Ok(seconds)
}

/// One repeat of the assignment benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignRun {
    pub bucket_seconds: f64,
    pub assign_new_seconds: f64,
    pub assign_repeat_seconds: f64,
}

/// Assignment decisions per second, medians over `runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignBench {
    pub n: u64,
    pub campaign: String,
    pub arms: usize,
    /// (a) `allocation::bucket` alone: the hash and the arm lookup.
    pub bucket_per_sec: f64,
    /// (b) `app::assign` of units never seen: campaign load, lookup, hash, insert, commit.
    pub assign_new_per_sec: f64,
    /// (c) `app::assign` of units already assigned: campaign load and lookup.
    pub assign_repeat_per_sec: f64,
    /// bucket rate / assign-new rate: what storing a decision costs over computing it.
    pub new_ratio_vs_bucket: f64,
    pub repeat_ratio_vs_bucket: f64,
    pub db_bytes: u64,
    pub runs: Vec<AssignRun>,
}

/// Times `n` decisions three ways on the demo's two-arm coupon campaign in a file database.
pub fn bench_assign(dir: &Path, n: u64, repeats: usize) -> anyhow::Result<AssignBench> {
    ensure!(repeats > 0 && n > 0, "n and repeats must be at least 1");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let env = bench_env();
    let key = DEMO_KEYS[0];
    let db = dir.join("bench-assign.db");
    let units: Vec<String> = (0..n).map(|i| format!("a-{i}")).collect();
    let mut context = serde_json::Map::new();
    context.insert("device".into(), "mobile".into());
    context.insert("segment".into(), "returning".into());
    context.insert("pre_value".into(), 12.5.into());
    let mut runs = Vec::with_capacity(repeats);
    let mut arms = 0;
    let mut bytes = 0;
    for _ in 0..repeats {
        let mut store = fresh_store(&db, &env, 1)?;
        let (campaign, stored_arms) = store.campaign(key)?;
        let weights: Vec<f64> = stored_arms.iter().map(|a| a.weight).collect();
        arms = weights.len();

        let started = Instant::now();
        let mut sum = 0usize;
        for unit in &units {
            if let Bucket::Arm { index, .. } = bucket(
                campaign.spec.seed,
                black_box(unit),
                campaign.spec.traffic,
                black_box(&weights),
            ) {
                sum += index;
            }
        }
        black_box(sum);
        let bucket_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        for unit in &units {
            match assign(&mut store, &env, key, unit, context.clone())? {
                Assignment::Arm { new: true, .. } => {}
                other => bail!("first assign of {unit} gave {other:?}"),
            }
        }
        let assign_new_seconds = started.elapsed().as_secs_f64();

        let started = Instant::now();
        for unit in &units {
            match assign(&mut store, &env, key, unit, context.clone())? {
                Assignment::Arm { new: false, .. } => {}
                other => bail!("repeat assign of {unit} gave {other:?}"),
            }
        }
        let assign_repeat_seconds = started.elapsed().as_secs_f64();
        drop(store);
        bytes = db_bytes(&db)?;
        remove_db(&db)?;
        runs.push(AssignRun {
            bucket_seconds,
            assign_new_seconds,
            assign_repeat_seconds,
        });
    }
    let rate = |s: f64| n as f64 / s;
    let bucket_per_sec = rate(median(runs.iter().map(|r| r.bucket_seconds)));
    let assign_new_per_sec = rate(median(runs.iter().map(|r| r.assign_new_seconds)));
    let assign_repeat_per_sec = rate(median(runs.iter().map(|r| r.assign_repeat_seconds)));
    Ok(AssignBench {
        n,
        campaign: key.into(),
        arms,
        bucket_per_sec,
        assign_new_per_sec,
        assign_repeat_per_sec,
        new_ratio_vs_bucket: bucket_per_sec / assign_new_per_sec,
        repeat_ratio_vs_bucket: bucket_per_sec / assign_repeat_per_sec,
        db_bytes: bytes,
        runs,
    })
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

fn median_u64(values: impl Iterator<Item = u64>) -> u64 {
    median(values.map(|x| x as f64)).round() as u64
}

fn wal_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

fn remove_db(db: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        match std::fs::remove_file(PathBuf::from(s)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
    }
    Ok(())
}

/// Main file plus whatever is left in the -wal (nothing once the last connection closed).
fn db_bytes(db: &Path) -> anyhow::Result<u64> {
    let main = std::fs::metadata(db)?.len();
    let wal = std::fs::metadata(wal_path(db)).map_or(0, |m| m.len());
    Ok(main + wal)
}

/// CPU time this thread has run, from /proc/thread-self/schedstat (nanoseconds on CPU).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// User + system CPU of this process's waited-for children (cutime + cstime in
/// /proc/self/stat), in seconds; USER_HZ is 100 on Linux.
fn waited_children_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / 100.0)
}

/// Resets VmHWM to the current RSS (Linux 4.0+); without it the peak covers the whole process.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM of this process in MiB, from /proc/self/status.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
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
            "  of which on CPU           {:>8.3} s  ({:.0}%; the rest is waiting: I/O, other load)",
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
            "  read + parse_json_line    {:>8.3} s  ({:.0}% of ingest; store work is the other {:.0}%)",
            self.parse_seconds,
            100.0 * self.parse_seconds / self.seconds,
            100.0 * (1.0 - self.parse_seconds / self.seconds)
        )?;
        match (
            self.sqlite_import_seconds,
            self.sqlite_import_events_per_sec,
        ) {
            (Some(s), Some(r)) => writeln!(
                f,
                "  sqlite3 .import (CSV)     {s:>8.3} s  {r:>10.0} events/s  ({:.1} MiB CSV, \
                 WAL + synchronous=NORMAL, plain table)",
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
            "  runs (seconds): liftdeck / +close / on CPU / import / import CPU / parse"
        )?;
        for (i, r) in self.runs.iter().enumerate() {
            writeln!(
                f,
                "    {}: {:.3} / {:.3} / {:.3} / {} / {} / {:.3}",
                i + 1,
                r.seconds,
                r.seconds_with_close,
                r.cpu_seconds,
                r.sqlite_import_seconds
                    .map_or("-".into(), |s| format!("{s:.3}")),
                r.sqlite_import_cpu_seconds
                    .map_or("-".into(), |s| format!("{s:.2}")),
                r.parse_seconds
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for AssignBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "assign: {} units on `{}` ({} arms), median of {}",
            self.n,
            self.campaign,
            self.arms,
            self.runs.len()
        )?;
        writeln!(
            f,
            "  allocation::bucket (hash only)   {:>12.0} decisions/s",
            self.bucket_per_sec
        )?;
        writeln!(
            f,
            "  app::assign, new units           {:>12.0} decisions/s  ({:.0}x slower than hash)",
            self.assign_new_per_sec, self.new_ratio_vs_bucket
        )?;
        writeln!(
            f,
            "  app::assign, already assigned    {:>12.0} decisions/s  ({:.0}x slower than hash)",
            self.assign_repeat_per_sec, self.repeat_ratio_vs_bucket
        )?;
        writeln!(
            f,
            "  db {:.1} MiB after {} new units",
            mib(self.db_bytes),
            self.n
        )?;
        writeln!(f, "  runs (seconds): bucket / assign new / assign repeat")?;
        for (i, r) in self.runs.iter().enumerate() {
            writeln!(
                f,
                "    {}: {:.4} / {:.3} / {:.3}",
                i + 1,
                r.bucket_seconds,
                r.assign_new_seconds,
                r.assign_repeat_seconds
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts only: these check the plumbing, never a time.
    #[test]
    fn small_runs_produce_complete_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ingest = bench_ingest(dir.path(), 2_000, 7, 2, None).expect("ingest bench");
        assert_eq!(ingest.events, 2_000);
        assert!(ingest.lines > ingest.events);
        assert_eq!(ingest.runs.len(), 2);
        assert!(ingest.ratio_vs_import.is_none());
        let csv = std::fs::read_to_string(&ingest.csv_path).expect("csv");
        assert_eq!(csv.lines().count(), 2_001);
        assert!(csv.starts_with("event_id,campaign,unit,kind,value,cost,ts\n"));
        assert!(ingest.to_string().contains("events/s"));

        let assign = bench_assign(dir.path(), 50, 1).expect("assign bench");
        assert_eq!(assign.arms, 2);
        assert!(assign.to_string().contains("decisions/s"));
    }

    /// The figures for BENCHMARKS.md. `LIFTDECK_BENCH_DIR` picks the directory (default: a
    /// temporary one); `LIFTDECK_BENCH_EVENTS` the size, `LIFTDECK_BENCH_REPEATS` the repeats.
    #[test]
    #[ignore = "benchmark: cargo test --release --lib app::bench -- --ignored --nocapture"]
    fn print_benchmarks() -> anyhow::Result<()> {
        let tmp = tempfile::tempdir()?;
        let dir = std::env::var_os("LIFTDECK_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp.path().to_path_buf());
        let events = std::env::var("LIFTDECK_BENCH_EVENTS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let repeats = std::env::var("LIFTDECK_BENCH_REPEATS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3);
        // `ingest` or `assign` runs one of the two (handy under a profiler).
        let only = std::env::var("LIFTDECK_BENCH_ONLY").unwrap_or_default();
        let sqlite3 = Path::new("/usr/bin/sqlite3");
        let sqlite3 = sqlite3.exists().then_some(sqlite3);
        if only != "assign" {
            println!("{}", bench_ingest(&dir, events, 42, repeats, sqlite3)?);
        }
        if only != "ingest" {
            println!("{}", bench_assign(&dir, 200_000, repeats)?);
        }
        Ok(())
    }
}
