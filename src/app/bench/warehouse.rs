//! The warehouse benchmark: the same simulated traffic ingested into a SQLite database and
//! into a ClickHouse warehouse on a local cluster (`clickhouse_local`), then the A/B report of
//! each demo campaign timed three ways in the same run:
//!
//! - SQLite from its stored rollups (O(arms), what `report ab` reads by default);
//! - SQLite by a full GROUP BY over the raw rows (`verify`'s recompute of every period);
//! - the warehouse, which has no stored rollups: each shard aggregates its own raw rows
//!   (deduplicated with FINAL) per unit then per arm and period, and liftdeck adds the
//!   shards' partial sums. So the ClickHouse figure is a full GROUP BY too, on every read.
//!
//! Traffic is generated in chunks and fed to both planes from memory (no file), SQLite first,
//! each timed on its own, so ingest rates are per plane.

use super::clickhouse_local::LocalCluster;
use super::{bench_env, db_bytes, fresh_store, median, mib, remove_db};
use crate::app::demo::{DEMO_EPOCH, DEMO_KEYS};
use crate::app::report::{report_ab, Capping};
use crate::app::traffic::{apply_records, TrafficSource};
use crate::stats::ab::{Metric, Options};
use crate::store::warehouse::WarehouseUrl;
use crate::store::Store;
use anyhow::{ensure, Context};
use std::fmt;
use std::path::Path;
use std::time::Instant;

/// Shoppers per generated chunk, over ten simulated seconds (the ingest benchmark's pace).
const SHOPPERS_PER_CHUNK: usize = 20_000;
const CHUNK_SPAN: i64 = 200_000_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct WarehouseBenchOptions {
    pub events: u64,
    pub shards: usize,
    pub repeats: usize,
    pub seed: u64,
}

/// Per campaign: seconds (medians over the repeats) of one A/B report each way.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportTimes {
    pub campaign: String,
    pub units: i64,
    pub sqlite_rollups: f64,
    pub sqlite_group_by: f64,
    pub warehouse: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseBench {
    pub events: u64,
    pub lines: u64,
    pub shards: usize,
    pub repeats: usize,
    pub sqlite_ingest_seconds: f64,
    pub warehouse_ingest_seconds: f64,
    pub sqlite_db_bytes: u64,
    pub reports: Vec<ReportTimes>,
}

pub fn bench_warehouse(dir: &Path, o: &WarehouseBenchOptions) -> anyhow::Result<WarehouseBench> {
    ensure!(
        o.repeats > 0 && o.shards > 0,
        "repeats and shards must be at least 1"
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let env = bench_env();
    let shards_dir = dir.join("clickhouse");
    let cluster = LocalCluster::start(o.shards, &shards_dir)?;
    let sqlite_path = dir.join("bench-warehouse-sqlite.db");
    let wh_path = dir.join("bench-warehouse-ch.db");
    let mut sqlite = fresh_store(&sqlite_path, &env, o.seed)?;
    remove_db(&wh_path)?;
    let mut wh = Store::open(&wh_path)?;
    let url = WarehouseUrl::parse(&cluster.url("bench")).map_err(anyhow::Error::msg)?;
    wh.set_warehouse(&url)?;
    wh.warehouse().context("attached")?.init()?;
    crate::app::demo::ensure_campaigns(&mut wh, &env, o.seed)?;

    let campaigns = DEMO_KEYS
        .iter()
        .map(|k| sqlite.campaign(k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut source = TrafficSource::new(o.seed, campaigns, "w-");
    let (mut events, mut lines) = (0u64, 0u64);
    let (mut sqlite_secs, mut wh_secs) = (0.0, 0.0);
    let mut start = DEMO_EPOCH;
    let now = env.clock.now();
    while events < o.events {
        let records = source.generate(SHOPPERS_PER_CHUNK, start, CHUNK_SPAN);
        start += CHUNK_SPAN;
        ensure!(!records.is_empty(), "the traffic source produced nothing");
        events += records
            .iter()
            .filter(|r| matches!(r, crate::domain::Record::Event(_)))
            .count() as u64;
        lines += records.len() as u64;
        let t = Instant::now();
        let a = apply_records(&mut sqlite, "bench", "bench", now, records.clone())?;
        sqlite_secs += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let b = apply_records(&mut wh, "bench", "bench", now, records)?;
        wh_secs += t.elapsed().as_secs_f64();
        ensure!(
            a.rejected.is_empty() && b.rejected.is_empty(),
            "rejects: {:?} / {:?}",
            a.rejected.first(),
            b.rejected.first()
        );
    }

    let mut reports = Vec::new();
    for key in DEMO_KEYS {
        let (campaign, _) = sqlite.campaign(key)?;
        let metric = Metric::parse(&campaign.spec.metric).unwrap_or(Metric::Conversion);
        let time = |store: &Store| -> anyhow::Result<f64> {
            let t = Instant::now();
            let out = report_ab(store, key, metric, &Options::default(), Capping::None, None)?;
            std::hint::black_box(out);
            Ok(t.elapsed().as_secs_f64())
        };
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..o.repeats {
            a.push(time(&sqlite)?);
            let t = Instant::now();
            std::hint::black_box(sqlite.recompute_period_rollups(key)?);
            b.push(t.elapsed().as_secs_f64());
            c.push(time(&wh)?);
        }
        reports.push(ReportTimes {
            campaign: key.to_string(),
            units: sqlite.unit_count(key)?,
            sqlite_rollups: median(a.into_iter()),
            sqlite_group_by: median(b.into_iter()),
            warehouse: median(c.into_iter()),
        });
    }
    drop((sqlite, wh));
    let sqlite_db_bytes = db_bytes(&sqlite_path)?;
    remove_db(&sqlite_path)?;
    remove_db(&wh_path)?;
    drop(cluster);
    std::fs::remove_dir_all(&shards_dir)
        .with_context(|| format!("removing the shards' data in {}", shards_dir.display()))?;
    Ok(WarehouseBench {
        events,
        lines,
        shards: o.shards,
        repeats: o.repeats,
        sqlite_ingest_seconds: sqlite_secs,
        warehouse_ingest_seconds: wh_secs,
        sqlite_db_bytes,
        reports,
    })
}

impl fmt::Display for WarehouseBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "warehouse: {} events in {} lines, {} ClickHouse shard(s) on this machine, medians of {}",
            self.events, self.lines, self.shards, self.repeats
        )?;
        let rate = |s: f64| self.events as f64 / s;
        writeln!(
            f,
            "  ingest into SQLite        {:>9.1} s  {:>10.0} events/s  (db {:.1} MiB)",
            self.sqlite_ingest_seconds,
            rate(self.sqlite_ingest_seconds),
            mib(self.sqlite_db_bytes)
        )?;
        writeln!(
            f,
            "  ingest into the warehouse {:>9.1} s  {:>10.0} events/s  ({:.2}x SQLite's time)",
            self.warehouse_ingest_seconds,
            rate(self.warehouse_ingest_seconds),
            self.warehouse_ingest_seconds / self.sqlite_ingest_seconds
        )?;
        writeln!(
            f,
            "  report ab, seconds: SQLite rollups / SQLite full GROUP BY / warehouse (a GROUP BY per shard)"
        )?;
        for r in &self.reports {
            writeln!(
                f,
                "    {:<16} {:>9} units  {:>9.4} / {:>9.3} / {:>9.3}   warehouse = {:.0}x rollups, {:.2}x GROUP BY",
                r.campaign,
                r.units,
                r.sqlite_rollups,
                r.sqlite_group_by,
                r.warehouse,
                r.warehouse / r.sqlite_rollups,
                r.warehouse / r.sqlite_group_by
            )?;
        }
        Ok(())
    }
}
