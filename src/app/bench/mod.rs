//! Whole-process benchmarks behind `liftdeck bench`: ingest throughput of the real path (parse,
//! validate, rollups) measured side by side with the sqlite3 shell's plain CSV `.import` of the
//! same events, and assignment decisions per second against pure hash bucketing. Each figure is
//! a median over repeats and is quoted as a ratio to its baseline from the same run. Nothing
//! here is a timed test: the functions only measure and report.
//!
//! `train` times the hashed learners on `train_data`'s synthetic shop (no database).
//! `ingest` and `assign` are the two storage benchmarks (`regret`, the bandit policies' long
//! simulation, needs no database); `input` writes the ingest benchmark's files,
//! `sqlite3` runs its baseline, `procfs` reads the process figures (CPU, peak RSS) from /proc.
//! `warehouse` ingests the same traffic into SQLite and a local ClickHouse cluster and times
//! the A/B report on each. This file keeps what the benchmarks share: fresh demo databases, file sizes and medians.

mod assign;
mod budget;
mod causal;
/// A local ClickHouse cluster: `bench warehouse` runs on it, and so do the warehouse tests.
pub mod clickhouse_local;
mod did;
mod forecast;
mod forecast_speed;
mod ingest;
mod input;
mod load;
mod procfs;
mod regret;
mod sqlite3;
mod train;
mod train_data;
mod warehouse;

pub use assign::{bench_assign, AssignBench, AssignRun};
pub use budget::{
    bench_budget, lagrangian_table, BudgetBench, BudgetBenchOptions, BudgetBenchSide,
};
pub use causal::{bench_causal, synthetic_units, CausalBench, CausalBenchSide, CausalData};
pub use did::{bench_did, synthetic_panel, DidBench, DidBenchOptions, DidBenchRow};
pub use forecast::{
    bench_forecast_coverage, CoverageBench, CoverageBenchOptions, CoverageRow, RelativeWidths,
};
pub use forecast_speed::{
    bench_forecast_speed, PointSums, PythonSide, SpeedBench, SpeedBenchOptions,
};
pub use ingest::{bench_ingest, IngestBench, IngestRun};
pub use load::{bench_load, LoadBench, LoadOptions, LoadPhase, LOAD_CAMPAIGN};
pub use regret::{bench_regret, RegretBench, RegretRow};
pub use train::{bench_train, BenchLearners, LearnerBench, Phase, TrainBench, TrainBenchOptions};
pub use train_data::{synthetic_rows, write_vw, Synthetic};
pub use warehouse::{bench_warehouse, ReportTimes, WarehouseBench, WarehouseBenchOptions};

use super::demo;
use super::Env;
use crate::clock::Clock;
use crate::store::Store;
use std::path::{Path, PathBuf};

fn bench_env() -> Env {
    Env {
        clock: Clock::System,
        actor: "bench".into(),
    }
}

/// A new database at `path` holding the demo campaigns, created and started, and no traffic.
fn fresh_store(path: &Path, env: &Env, seed: u64) -> anyhow::Result<Store> {
    remove_db(path)?;
    let mut store = Store::open(path)?;
    demo::ensure_campaigns(&mut store, env, seed)?;
    Ok(store)
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

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts only: these check the plumbing, never a time.
    #[test]
    fn small_runs_produce_complete_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ingest = bench_ingest(dir.path(), 2_000, 7, 2, None, 0).expect("ingest bench");
        assert_eq!(ingest.events, 2_000);
        assert!(ingest.lines > ingest.events);
        assert_eq!(ingest.runs.len(), 2);
        assert!(ingest.ratio_vs_import.is_none());
        let csv = std::fs::read_to_string(&ingest.csv_path).expect("csv");
        assert_eq!(csv.lines().count(), 2_001);
        assert!(csv.starts_with("event_id,campaign,unit,kind,value,cost,ts\n"));
        assert!(ingest.to_string().contains("events/s"));

        // Into a database already holding other traffic, with both baselines when the shell
        // is here: the copy of the template and the assignment CSV are exercised too.
        let sqlite3 = Path::new("/usr/bin/sqlite3");
        let sqlite3 = sqlite3.exists().then_some(sqlite3);
        let onto = bench_ingest(dir.path(), 1_000, 7, 1, sqlite3, 1_500).expect("stored bench");
        assert_eq!((onto.stored, onto.events), (1_500, 1_000));
        assert!(onto.stored_db_bytes > 0 && onto.stored_seconds > 0.0);
        assert_eq!(
            onto.sqlite_import_all_seconds.is_some(),
            sqlite3.is_some(),
            "both baselines run when the shell is there"
        );
        assert!(onto.to_string().contains("already holding 1500 events"));

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
            println!("{}", bench_ingest(&dir, events, 42, repeats, sqlite3, 0)?);
        }
        if only != "ingest" {
            println!("{}", bench_assign(&dir, 200_000, repeats)?);
        }
        Ok(())
    }
}
