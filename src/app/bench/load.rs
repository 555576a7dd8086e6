//! `liftdeck bench load`: several processes on one database file, with faults. Writers are
//! `liftdeck ingest` child processes feeding disjoint generated files (chunks) into one
//! campaign; readers are `liftdeck --read-only report ab` / `health` child processes in a loop;
//! some writers are SIGKILLed at random moments and then resume by ingesting the same chunk
//! again (event_id idempotency). At the end every generated event must be stored exactly once
//! and every rollup must equal a recompute from the raw rows.
//!
//! The same run first measures one writer alone (no readers, no kills) as the baseline, so the
//! throughput under load is quoted as a ratio. Loopback only: nothing here opens a socket.

use crate::store::Store;
use anyhow::{bail, ensure, Context};
use rand::rngs::Xoshiro256PlusPlus as Prng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The campaign every writer feeds.
pub const LOAD_CAMPAIGN: &str = "load-test";

#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Wall time of each phase (the writers stop starting new chunks after it).
    pub seconds: f64,
    /// Chunks per writer at most (bounds the work by count: the tests use this, not time).
    pub chunks: Option<usize>,
    pub writers: usize,
    pub readers: usize,
    /// SIGKILLs of writers to deliver in the loaded phase.
    pub kills: usize,
    /// Shoppers per chunk file (each brings an assignment and 1-3 events).
    pub shoppers: usize,
    pub batch: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadPhase {
    pub writers: usize,
    pub readers: usize,
    pub seconds: f64,
    pub chunks: usize,
    pub events: u64,
    pub events_per_second: f64,
    pub kills_survived: usize,
    /// Kills that came too late: the child had already finished its chunk.
    pub kills_missed: usize,
    pub reader_calls: usize,
    /// Reader or writer runs that failed with "database is locked"/busy (exit 75): must be 0.
    pub busy_errors: usize,
    /// Any other failed run (with its stderr), which also fails the benchmark.
    pub other_errors: Vec<String>,
    pub reader_latency_median_ms: f64,
    pub reader_latency_max_ms: f64,
    /// Every generated event stored exactly once, every unit assigned once.
    pub exact: bool,
    /// Rollup fields that differ from a recompute (empty: verify passes).
    pub rollup_differences: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadBench {
    pub baseline: LoadPhase,
    pub loaded: LoadPhase,
    /// loaded events/s over baseline events/s.
    pub throughput_ratio: f64,
}

impl LoadPhase {
    pub fn ok(&self) -> bool {
        self.exact
            && self.rollup_differences.is_empty()
            && self.busy_errors == 0
            && self.other_errors.is_empty()
    }
}

/// Runs the baseline phase, then the loaded phase, each on a fresh database in `dir`.
pub fn bench_load(exe: &Path, dir: &Path, o: &LoadOptions) -> anyhow::Result<LoadBench> {
    ensure!(o.writers >= 1, "--writers must be at least 1");
    ensure!(o.shoppers >= 1, "--shoppers must be at least 1");
    let alone = LoadOptions {
        writers: 1,
        readers: 0,
        kills: 0,
        ..o.clone()
    };
    let baseline = phase(exe, &dir.join("load-baseline.db"), dir, &alone, "b")?;
    let loaded = phase(exe, &dir.join("load.db"), dir, o, "l")?;
    let throughput_ratio = loaded.events_per_second / baseline.events_per_second.max(1e-9);
    Ok(LoadBench {
        baseline,
        loaded,
        throughput_ratio,
    })
}

struct Shared {
    stop: AtomicBool,
    kills_left: AtomicUsize,
    kills_survived: AtomicUsize,
    kills_missed: AtomicUsize,
    busy: AtomicUsize,
    errors: Mutex<Vec<String>>,
    latencies_ms: Mutex<Vec<f64>>,
}

fn phase(
    exe: &Path,
    db: &Path,
    dir: &Path,
    o: &LoadOptions,
    tag: &str,
) -> anyhow::Result<LoadPhase> {
    for side in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{side}", db.display()));
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let campaign = dir.join(format!("{tag}-campaign.jsonl"));
    std::fs::write(&campaign, campaign_line())?;
    let out = liftdeck(exe, db).arg("ingest").arg(&campaign).output()?;
    if !out.status.success() {
        bail!(
            "creating the load campaign failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        kills_left: AtomicUsize::new(o.kills),
        kills_survived: AtomicUsize::new(0),
        kills_missed: AtomicUsize::new(0),
        busy: AtomicUsize::new(0),
        errors: Mutex::new(Vec::new()),
        latencies_ms: Mutex::new(Vec::new()),
    });
    let started = Instant::now();
    let readers: Vec<_> = (0..o.readers)
        .map(|r| {
            let (exe, db, shared) = (exe.to_path_buf(), db.to_path_buf(), shared.clone());
            std::thread::spawn(move || reader(&exe, &db, r, &shared))
        })
        .collect();
    let writers: Vec<_> = (0..o.writers)
        .map(|w| {
            let (exe, db, dir) = (exe.to_path_buf(), db.to_path_buf(), dir.to_path_buf());
            let (shared, o, tag) = (shared.clone(), o.clone(), tag.to_string());
            std::thread::spawn(move || writer(&exe, &db, &dir, &tag, w, &o, &shared, started))
        })
        .collect();
    let mut chunks = 0;
    let mut expected_events = 0u64;
    let mut expected_units = 0u64;
    for w in writers {
        match w.join() {
            Ok(Ok((c, e, u))) => {
                chunks += c;
                expected_events += e;
                expected_units += u;
            }
            Ok(Err(e)) => lock(&shared.errors).push(format!("writer: {e:#}")),
            Err(_) => lock(&shared.errors).push("a writer thread panicked".into()),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::SeqCst);
    for r in readers {
        if r.join().is_err() {
            lock(&shared.errors).push("a reader thread panicked".into());
        }
    }
    let store = Store::open_read_only(db)?;
    let events = store.event_count()? as u64;
    let units: u64 = store
        .arm_summaries(LOAD_CAMPAIGN)?
        .iter()
        .map(|a| a.rollup.units as u64)
        .sum();
    let rollup_differences = store.verify_rollups(LOAD_CAMPAIGN)?;
    let mut lat = lock(&shared.latencies_ms).clone();
    lat.sort_by(f64::total_cmp);
    let errors = lock(&shared.errors).clone();
    Ok(LoadPhase {
        writers: o.writers,
        readers: o.readers,
        seconds,
        chunks,
        events,
        events_per_second: events as f64 / seconds.max(1e-9),
        kills_survived: shared.kills_survived.load(Ordering::SeqCst),
        kills_missed: shared.kills_missed.load(Ordering::SeqCst),
        reader_calls: lat.len(),
        busy_errors: shared.busy.load(Ordering::SeqCst),
        other_errors: errors,
        reader_latency_median_ms: lat.get(lat.len() / 2).copied().unwrap_or(0.0),
        reader_latency_max_ms: lat.last().copied().unwrap_or(0.0),
        exact: events == expected_events && units == expected_units,
        rollup_differences,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn liftdeck(exe: &Path, db: &Path) -> Command {
    let mut c = Command::new(exe);
    c.env_remove("LIFTDECK_DB")
        .arg("--db")
        .arg(db)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

/// A busy database that reached the user: exit 75 or SQLite's own words.
fn is_busy(code: Option<i32>, stderr: &str) -> bool {
    code == Some(75) || stderr.contains("database is locked") || stderr.contains("busy")
}

/// Loops `report ab` and `health` read-only until the writers are done.
fn reader(exe: &Path, db: &Path, r: usize, shared: &Shared) {
    let mut i = r;
    while !shared.stop.load(Ordering::SeqCst) {
        let mut cmd = liftdeck(exe, db);
        cmd.arg("--read-only");
        // Health's exit 1/2 is a verdict on the campaign, not a failure of the run.
        let (args, ok_codes): (&[&str], &[i32]) = if i.is_multiple_of(2) {
            (&["report", "ab", LOAD_CAMPAIGN], &[0])
        } else {
            (&["health"], &[0, 1, 2])
        };
        i += 1;
        let t = Instant::now();
        let out = match cmd.args(args).stderr(Stdio::piped()).output() {
            Ok(out) => out,
            Err(e) => {
                lock(&shared.errors).push(format!("reader {r}: {e}"));
                return;
            }
        };
        lock(&shared.latencies_ms).push(t.elapsed().as_secs_f64() * 1000.0);
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if is_busy(code, &stderr) {
            shared.busy.fetch_add(1, Ordering::SeqCst);
        } else if !code.is_some_and(|c| ok_codes.contains(&c)) {
            lock(&shared.errors).push(format!("reader `{}`: {code:?} {stderr}", args.join(" ")));
        }
    }
}

/// Ingests chunk after chunk until the phase's time or chunk count is up; returns (chunks,
/// events, units) generated. A chunk that is due a kill is killed after its first committed
/// batch plus a random delay, then ingested again from the start.
#[allow(clippy::too_many_arguments)]
fn writer(
    exe: &Path,
    db: &Path,
    dir: &Path,
    tag: &str,
    w: usize,
    o: &LoadOptions,
    shared: &Shared,
    started: Instant,
) -> anyhow::Result<(usize, u64, u64)> {
    let mut rng = Prng::seed_from_u64(o.seed ^ ((w as u64 + 1) << 32));
    let (mut chunks, mut events, mut units) = (0, 0u64, 0u64);
    loop {
        let elapsed = started.elapsed().as_secs_f64();
        let time_up = elapsed >= o.seconds;
        let count_up = o.chunks.is_some_and(|c| chunks >= c);
        // Kills still due keep a writer going past its time (up to three times it), never
        // past its chunk count.
        let kills_due = shared.kills_left.load(Ordering::SeqCst) > 0;
        if count_up || (time_up && (!kills_due || elapsed >= 3.0 * o.seconds)) {
            break;
        }
        let file = dir.join(format!("{tag}-w{w}-c{chunks}.jsonl"));
        let (text, n_events) = chunk_lines(w, chunks, o.shoppers, &mut rng);
        std::fs::write(&file, text)?;
        loop {
            let take = shared.kills_left.load(Ordering::SeqCst) > 0
                && shared
                    .kills_left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| k.checked_sub(1))
                    .is_ok();
            let before = count_events(db);
            let mut child = liftdeck(exe, db)
                .args(["ingest", "--batch", &o.batch.to_string()])
                .arg(&file)
                .stderr(Stdio::piped())
                .spawn()?;
            if take {
                if kill_mid_ingest(&mut child, db, before, &mut rng)? {
                    shared.kills_survived.fetch_add(1, Ordering::SeqCst);
                } else {
                    shared.kills_missed.fetch_add(1, Ordering::SeqCst);
                    shared.kills_left.fetch_add(1, Ordering::SeqCst);
                    check_ingest(child, shared)?;
                    break;
                }
                continue; // resume: the same file again
            }
            check_ingest(child, shared)?;
            break;
        }
        chunks += 1;
        events += n_events;
        units += o.shoppers as u64;
    }
    Ok((chunks, events, units))
}

/// Waits for the first committed batch after `before`, then a random 0-50 ms, then SIGKILL.
/// False when the child finished first (nothing was killed).
fn kill_mid_ingest(
    child: &mut Child,
    db: &Path,
    before: i64,
    rng: &mut Prng,
) -> anyhow::Result<bool> {
    loop {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        if count_events(db) > before {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(rng.random_range(0..=50)));
    if child.try_wait()?.is_some() {
        return Ok(false);
    }
    child.kill()?; // SIGKILL on unix
    child.wait()?;
    Ok(true)
}

fn check_ingest(child: Child, shared: &Shared) -> anyhow::Result<()> {
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if is_busy(out.status.code(), &stderr) {
        shared.busy.fetch_add(1, Ordering::SeqCst);
    } else if !out.status.success() {
        bail!("ingest exited {:?}: {stderr}", out.status.code());
    }
    Ok(())
}

/// Committed events, 0 while the database cannot be read yet.
fn count_events(db: &Path) -> i64 {
    Store::open_read_only(db)
        .and_then(|s| s.event_count())
        .unwrap_or(0)
}

fn campaign_line() -> String {
    format!(
        concat!(
            r#"{{"type":"campaign","key":"{key}","name":"load test","kind":"ab","#,
            r#""arms":[{{"key":"control","weight":50.0}},{{"key":"treatment","weight":50.0}}],"#,
            r#""control":"control","traffic":1.0,"metric":"purchase","guardrails":[],"#,
            r#""seed":5,"status":"running","settings":{{}}}}"#,
            "\n"
        ),
        key = LOAD_CAMPAIGN
    )
}

/// One chunk: `shoppers` assignments, each followed by an exposure and, for some, a click and
/// a purchase. Unit and event ids carry the writer and chunk, so chunks never overlap.
fn chunk_lines(w: usize, c: usize, shoppers: usize, rng: &mut Prng) -> (String, u64) {
    let mut s = String::with_capacity(shoppers * 400);
    let mut events = 0;
    let ts = format!("2026-11-01T12:{:02}:{:02}Z", c % 60, w % 60);
    for i in 0..shoppers {
        let unit = format!("w{w}-c{c}-u{i}");
        let arm = if rng.random_bool(0.5) {
            "control"
        } else {
            "treatment"
        };
        s.push_str(&format!(
            r#"{{"type":"assignment","campaign":"{LOAD_CAMPAIGN}","unit":"{unit}","arm":"{arm}","propensity":0.5,"ts":"{ts}"}}"#
        ));
        s.push('\n');
        let mut event = |kind: &str, value: f64| {
            s.push_str(&format!(
                r#"{{"type":"event","event_id":"{unit}-{kind}","campaign":"{LOAD_CAMPAIGN}","unit":"{unit}","kind":"{kind}","value":{value},"ts":"{ts}"}}"#
            ));
            s.push('\n');
            events += 1;
        };
        event("exposure", 0.0);
        if rng.random_bool(0.3) {
            event("click", 0.0);
            if rng.random_bool(0.4) {
                event("purchase", (rng.random_range(500..20_000) as f64) / 100.0);
            }
        }
    }
    (s, events)
}

impl std::fmt::Display for LoadBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::format::count as thousands;
        writeln!(
            f,
            "load: writers ingest disjoint chunks into one database, readers loop"
        )?;
        writeln!(
            f,
            "  {:<28} {:>8} {:>8} {:>10} {:>10} {:>6} {:>6} {:>9} {:>9}",
            "phase", "seconds", "chunks", "events", "events/s", "kills", "busy", "rd p50", "rd max"
        )?;
        for (name, p) in [
            ("1 writer alone (baseline)", &self.baseline),
            ("under load", &self.loaded),
        ] {
            let label = format!("{name} {}w/{}r", p.writers, p.readers);
            writeln!(
                f,
                "  {:<28} {:>8.1} {:>8} {:>10} {:>10} {:>6} {:>6} {:>7.0}ms {:>7.0}ms",
                label,
                p.seconds,
                p.chunks,
                thousands(p.events as i64),
                thousands(p.events_per_second.round() as i64),
                p.kills_survived,
                p.busy_errors,
                p.reader_latency_median_ms,
                p.reader_latency_max_ms
            )?;
        }
        writeln!(
            f,
            "  throughput under load / alone: {:.2}x; reader calls {}; kills missed {}",
            self.throughput_ratio, self.loaded.reader_calls, self.loaded.kills_missed
        )?;
        for (name, p) in [("baseline", &self.baseline), ("under load", &self.loaded)] {
            let verdict = if p.ok() { "OK" } else { "FAILED" };
            writeln!(
                f,
                "  {name}: exact {} | rollups equal a recompute {} | busy errors {} | other \
                 errors {} -> {verdict}",
                p.exact,
                p.rollup_differences.is_empty(),
                p.busy_errors,
                p.other_errors.len()
            )?;
            for e in p.other_errors.iter().take(5) {
                writeln!(f, "    {e}")?;
            }
        }
        Ok(())
    }
}
