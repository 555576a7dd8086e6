//! The assignment benchmark: decisions per second five ways on the same units: the hash
//! alone (`allocation::bucket`), `app::assign` of new units (stored) and of units already
//! assigned (looked up), and `assign_batch` (the `assign --batch` path, 1,000 units a batch)
//! of the same new units into a second fresh database, then again once they are assigned.

use super::{bench_env, db_bytes, fresh_store, median, mib, remove_db};
use crate::allocation::{bucket, Bucket};
use crate::app::assign_batch::{assign_batch, AssignRequest};
use crate::app::demo::DEMO_KEYS;
use crate::app::{assign, privacy, Assignment};
use anyhow::{bail, ensure, Context};
use std::fmt;
use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

/// One repeat of the assignment benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignRun {
    pub bucket_seconds: f64,
    pub assign_new_seconds: f64,
    pub assign_repeat_seconds: f64,
    pub batch_new_seconds: f64,
    pub batch_repeat_seconds: f64,
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
    /// (d) `assign_batch` of units never seen, `BATCH` a call: one look-up and one commit each.
    pub batch_new_per_sec: f64,
    /// (e) `assign_batch` of the same units once assigned.
    pub batch_repeat_per_sec: f64,
    /// bucket rate / assign-new rate: what storing a decision costs over computing it.
    pub new_ratio_vs_bucket: f64,
    pub repeat_ratio_vs_bucket: f64,
    pub db_bytes: u64,
    pub runs: Vec<AssignRun>,
}

/// Units per `assign_batch` call: what `assign --batch` gathers from a busy pipe.
const BATCH: usize = 1_000;

/// Times `n` decisions five ways on the demo's two-arm coupon campaign in a file database.
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

        let mut store = fresh_store(&db, &env, 1)?;
        let ids = privacy::UnitIds::raw();
        let mut batches = |want_new: bool| -> anyhow::Result<f64> {
            let started = Instant::now();
            for chunk in units.chunks(BATCH) {
                let requests = chunk
                    .iter()
                    .map(|u| AssignRequest {
                        unit: u.clone(),
                        context: context.clone(),
                    })
                    .collect();
                for d in assign_batch(&mut store, &env, &ids, key, requests)? {
                    match d {
                        Ok(Assignment::Arm { new, .. }) if new == want_new => {}
                        other => bail!("assign_batch (new: {want_new}) gave {other:?}"),
                    }
                }
            }
            Ok(started.elapsed().as_secs_f64())
        };
        let batch_new_seconds = batches(true)?;
        let batch_repeat_seconds = batches(false)?;
        drop(store);
        remove_db(&db)?;
        runs.push(AssignRun {
            bucket_seconds,
            assign_new_seconds,
            assign_repeat_seconds,
            batch_new_seconds,
            batch_repeat_seconds,
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
        batch_new_per_sec: rate(median(runs.iter().map(|r| r.batch_new_seconds))),
        batch_repeat_per_sec: rate(median(runs.iter().map(|r| r.batch_repeat_seconds))),
        new_ratio_vs_bucket: bucket_per_sec / assign_new_per_sec,
        repeat_ratio_vs_bucket: bucket_per_sec / assign_repeat_per_sec,
        db_bytes: bytes,
        runs,
    })
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
            "  assign_batch ({BATCH}), new units   {:>12.0} decisions/s  ({:.1}x app::assign)",
            self.batch_new_per_sec,
            self.batch_new_per_sec / self.assign_new_per_sec
        )?;
        writeln!(
            f,
            "  assign_batch ({BATCH}), assigned    {:>12.0} decisions/s  ({:.1}x app::assign)",
            self.batch_repeat_per_sec,
            self.batch_repeat_per_sec / self.assign_repeat_per_sec
        )?;
        writeln!(
            f,
            "  db {:.1} MiB after {} new units",
            mib(self.db_bytes),
            self.n
        )?;
        writeln!(
            f,
            "  runs (seconds): bucket / assign new / assign repeat / batch new / batch repeat"
        )?;
        for (i, r) in self.runs.iter().enumerate() {
            writeln!(
                f,
                "    {}: {:.4} / {:.3} / {:.3} / {:.3} / {:.3}",
                i + 1,
                r.bucket_seconds,
                r.assign_new_seconds,
                r.assign_repeat_seconds,
                r.batch_new_seconds,
                r.batch_repeat_seconds
            )?;
        }
        Ok(())
    }
}
