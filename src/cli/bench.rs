//! `liftdeck bench ...`: whole-process benchmarks (see BENCHMARKS.md). The measuring is in
//! `liftdeck::app::bench` and `app::bench_aa`; this file resolves the working directory and the
//! sqlite3 shell, and runs the writer child process of the refresh benchmark.

use anyhow::Result;
use clap::Subcommand;
use liftdeck::app;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Ingest throughput with rollups, side by side with the sqlite3 shell's plain `.import`.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// The sqlite3 shell for the baseline (skipped when absent).
        #[arg(long, default_value = "sqlite3")]
        sqlite3: String,
        /// Working directory for the generated files and databases (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Events of other traffic ingested once beforehand; every timed ingest runs on a copy
        /// of that database (cost per event on a large database, not only an empty one).
        #[arg(long, default_value_t = 0)]
        stored: u64,
    },
    /// A/A experiments under continuous peeking: false-positive rates of fixed-horizon vs
    /// always-valid inference on the same data.
    Aa {
        #[arg(long, default_value_t = 2000)]
        experiments: usize,
        #[arg(long, default_value_t = 50)]
        looks: usize,
        /// Units (both arms) added between looks.
        #[arg(long, default_value_t = 100)]
        units: usize,
        #[arg(long, default_value_t = 0.1)]
        rate: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Compute time of a full A/B report (every metric) from rollups.
    Report {
        #[arg(long, default_value_t = 20)]
        arms: usize,
        #[arg(long, default_value_t = 21)]
        repeats: usize,
        /// Also compare with a full GROUP BY scan on a database of this many events.
        #[arg(long)]
        scan_events: Option<i64>,
        /// Database for the scan comparison (kept, so later runs reuse it).
        #[arg(long, default_value = "bench-scan.db")]
        scan_db: PathBuf,
    },
    /// Console refresh latency on DB while a demo ingests into it from a child process.
    Refresh {
        #[arg(long, default_value = "bench-scan.db")]
        db: PathBuf,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
    },
    /// Several processes on one database with faults: WRITERS `ingest` children feeding
    /// disjoint files, READERS `--read-only report ab`/`health` loops, KILLS SIGKILLs of
    /// writers that then resume; checks every event is stored once and every rollup equals a
    /// recompute. Measured beside one writer alone. Exit 1 when a check fails.
    Load {
        /// Wall time of each phase (baseline, then loaded).
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Stop each writer after this many chunks (bounds the work by count).
        #[arg(long)]
        chunks: Option<usize>,
        #[arg(long, default_value_t = 2)]
        writers: usize,
        #[arg(long, default_value_t = 3)]
        readers: usize,
        #[arg(long, default_value_t = 5)]
        kills: usize,
        /// Shoppers per chunk file (an assignment and 1-3 events each).
        #[arg(long, default_value_t = 20_000)]
        shoppers: usize,
        /// Ingest batch size of the writers.
        #[arg(long, default_value_t = 1000)]
        batch: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Working directory for the chunk files and databases (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
    /// The same traffic into SQLite and into a ClickHouse warehouse on local shards (started
    /// and stopped here; needs clickhouse-server), then the A/B report timed on each.
    Warehouse {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 2)]
        shards: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Working directory for the databases and the shards' data (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Assignment decisions per second in-process: hash alone, new units, repeat look-ups.
    Assign {
        #[arg(long, default_value_t = 200_000)]
        n: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Cumulative regret of every bandit policy on simulated worlds with known best arms.
    Regret {
        #[arg(long, default_value_t = 100_000)]
        rounds: u64,
        /// Rounds between weight updates.
        #[arg(long, default_value_t = 100)]
        batch: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Training rows/s of the hashed learners (LR, LR-SGD, FTRL) on one core, holdout AUC and log
    /// loss, prediction latency; `--write-vw` writes the same rows for Vowpal Wabbit.
    Train {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, value_enum, default_value_t = TrainLearner::Both)]
        learner: TrainLearner,
        #[arg(long, default_value_t = 18)]
        bits: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Single-row predictions timed for the latency median and p99.
        #[arg(long, default_value_t = 200_000)]
        latency_calls: usize,
        /// Write the training rows as VW text to FILE and the holdout to FILE.test.
        #[arg(long, value_name = "FILE")]
        write_vw: Option<PathBuf>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
    /// The DiD estimate on a units x periods panel, beside Python (linearmodels PanelOLS,
    /// statsmodels) on the same panel in the same run.
    Did {
        #[arg(long, default_value_t = 100_000)]
        units: usize,
        #[arg(long, default_value_t = 30)]
        periods: usize,
        #[arg(long, default_value_t = 500)]
        clusters: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Python with linearmodels and statsmodels (skipped when absent).
        #[arg(long, default_value = "python3")]
        python: String,
        /// The comparison script.
        #[arg(long, default_value = "bench/did_compare.py")]
        script: PathBuf,
        /// Working directory for the panel CSV (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
    /// Every stage of the causal report (propensity, IPW, AIPW, T/X learners, Qini) on an
    /// observational data set, beside Python (statsmodels, scikit-learn, CausalML) on the same CSV.
    Causal {
        #[arg(long, default_value_t = 1_000_000)]
        units: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Python with statsmodels, scikit-learn and causalml (`none` skips the comparison).
        #[arg(long, default_value = "python3")]
        python: String,
        /// The comparison script.
        #[arg(long, default_value = "bench/causal_compare.py")]
        script: PathBuf,
        /// Working directory for the units CSV (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
    /// The budget allocation (hull cost curve, Lagrangian) on N users x K offers, beside a
    /// numpy vectorised Lagrangian on the same table in the same run.
    Budget {
        #[arg(long, default_value_t = 1_000_000)]
        users: usize,
        /// Offers per user, "no offer" included.
        #[arg(long, default_value_t = 4)]
        offers: usize,
        /// The budget as a share of the spend that gives everyone their best offer.
        #[arg(long, default_value_t = 0.3)]
        share: f64,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Python with numpy (default: $LIFTDECK_PYTHON, else python3; `none` skips it).
        #[arg(long)]
        python: Option<String>,
        /// The comparison script.
        #[arg(long, default_value = "bench/budget_compare.py")]
        script: PathBuf,
        /// Working directory for the table file (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
    /// The plan forecaster: `coverage` (the long coverage proof on held-out simulated plans)
    /// or `speed` (a plan over 1M users, every user every draw, beside numpy).
    #[command(subcommand)]
    Forecast(ForecastBench),
}

#[derive(Subcommand)]
pub enum ForecastBench {
    /// Shares of held-out simulated plans inside their 80%/95% intervals, with Wilson
    /// intervals, by audience and offer type, and the median relative interval width.
    Coverage {
        #[arg(long, default_value_t = 1_000)]
        plans: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Past campaigns in each simulated history.
        #[arg(long, default_value_t = 6)]
        campaigns: usize,
        #[arg(long, default_value_t = 1_500)]
        units_per_arm: usize,
        #[arg(long, default_value_t = 400)]
        draws: usize,
        /// Audience units scored per draw.
        #[arg(long, default_value_t = 3_000)]
        max_sample: usize,
        /// Run every campaign in the shop's average season (no true campaign-to-campaign
        /// variation); by default each past and planned campaign has its own.
        #[arg(long)]
        no_seasons: bool,
        #[command(flatten)]
        json: super::JsonFlag,
    },
    /// Time to forecast one plan over N users with every user scored in every draw, beside
    /// numpy computing the same per-draw sums on the same features and parameter draws.
    Speed {
        #[arg(long, default_value_t = 1_000_000)]
        users: usize,
        #[arg(long, default_value_t = 400)]
        draws: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Python with numpy (default: $LIFTDECK_PYTHON, else python3; `none` skips it).
        #[arg(long)]
        python: Option<String>,
        /// The comparison script.
        #[arg(long, default_value = "bench/forecast_compare.py")]
        script: PathBuf,
        /// Working directory for the features and draws (default: a temp dir).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[command(flatten)]
        json: super::JsonFlag,
    },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TrainLearner {
    LrSgd,
    Ftrl,
    Both,
    Lr,
    All,
}

pub fn run(cmd: BenchCmd) -> Result<ExitCode> {
    match cmd {
        BenchCmd::Ingest {
            events,
            repeats,
            seed,
            sqlite3,
            dir,
            stored,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let shell = which(&sqlite3);
            if shell.is_none() {
                eprintln!("note: `{sqlite3}` not found; the .import baseline is skipped");
            }
            let report = app::bench::bench_ingest(
                &dir,
                events,
                seed,
                repeats.max(1),
                shell.as_deref(),
                stored,
            )?;
            println!("{report}");
        }
        BenchCmd::Warehouse {
            events,
            shards,
            repeats,
            seed,
            dir,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let options = app::bench::WarehouseBenchOptions {
                events,
                shards,
                repeats,
                seed,
            };
            println!("{}", app::bench::bench_warehouse(&dir, &options)?);
        }
        BenchCmd::Aa {
            experiments,
            looks,
            units,
            rate,
            seed,
        } => {
            let started = std::time::Instant::now();
            let r = app::bench_aa::bench_aa(experiments, looks, units, rate, seed);
            println!("{r}\n  ({:.1} s)", started.elapsed().as_secs_f64());
        }
        BenchCmd::Report {
            arms,
            repeats,
            scan_events,
            scan_db,
        } => {
            println!("{}", app::bench_aa::bench_report(arms, repeats, 1));
            if let Some(events) = scan_events {
                let r = app::bench_aa::bench_scan(&scan_db, events, repeats.clamp(1, 5))?;
                println!("{r}");
            }
        }
        BenchCmd::Refresh { db, seconds } => {
            // The writer: a headless demo into the same file, committing a batch per second
            // of simulated traffic as fast as it can.
            let exe = std::env::current_exe()?;
            let mut child = std::process::Command::new(exe)
                .arg("--db")
                .arg(&db)
                .args([
                    "demo",
                    "--headless",
                    "--duration",
                    "10000s",
                    "--rate",
                    "2000",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()?;
            let result = app::bench_aa::bench_refresh(&db, seconds);
            let _ = child.kill();
            let _ = child.wait();
            println!("{}", result?);
        }
        BenchCmd::Load {
            seconds,
            chunks,
            writers,
            readers,
            kills,
            shoppers,
            batch,
            seed,
            dir,
            json,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let options = app::bench::LoadOptions {
                seconds,
                chunks,
                writers,
                readers,
                kills,
                shoppers,
                batch: batch.max(1),
                seed,
            };
            let r = app::bench::bench_load(&std::env::current_exe()?, &dir, &options)?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
            if !(r.baseline.ok() && r.loaded.ok()) {
                return Ok(ExitCode::from(1));
            }
        }
        BenchCmd::Assign { n, repeats, dir } => {
            let (dir, _keep) = bench_dir(dir)?;
            println!("{}", app::bench::bench_assign(&dir, n, repeats.max(1))?);
        }
        BenchCmd::Regret {
            rounds,
            batch,
            seed,
        } => println!("{}", app::bench::bench_regret(rounds, batch, seed)),
        BenchCmd::Train {
            rows,
            learner,
            bits,
            seed,
            repeats,
            latency_calls,
            write_vw,
            json,
        } => {
            let learners = match learner {
                TrainLearner::LrSgd => app::bench::BenchLearners::LrSgd,
                TrainLearner::Ftrl => app::bench::BenchLearners::Ftrl,
                TrainLearner::Both => app::bench::BenchLearners::Both,
                TrainLearner::Lr => app::bench::BenchLearners::Lr,
                TrainLearner::All => app::bench::BenchLearners::All,
            };
            let r = app::bench::bench_train(&app::bench::TrainBenchOptions {
                rows,
                learners,
                bits,
                seed,
                repeats: repeats.max(1),
                latency_calls,
                write_vw,
            })?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
        }
        BenchCmd::Did {
            units,
            periods,
            clusters,
            repeats,
            seed,
            python,
            script,
            dir,
            json,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let shell = which(&python);
            if shell.is_none() {
                eprintln!("note: `{python}` not found; the Python side is skipped");
            }
            let options = app::bench::DidBenchOptions {
                units,
                periods,
                clusters,
                repeats,
                seed,
            };
            let py = shell.as_deref().map(|p| (p, script.as_path()));
            let r = app::bench::bench_did(&options, &dir, py)?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
        }
        BenchCmd::Causal {
            units,
            repeats,
            seed,
            python,
            script,
            dir,
            json,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let shell = if python == "none" {
                None
            } else {
                let s = which(&python);
                if s.is_none() {
                    eprintln!("note: `{python}` not found; the Python side is skipped");
                }
                s
            };
            let py = shell.as_deref().map(|p| (p, script.as_path()));
            let r = app::bench::bench_causal(units, repeats, seed, &dir, py)?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
        }
        BenchCmd::Budget {
            users,
            offers,
            share,
            repeats,
            seed,
            python,
            script,
            dir,
            json,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let python = python
                .or_else(|| std::env::var("LIFTDECK_PYTHON").ok())
                .unwrap_or_else(|| "python3".into());
            let shell = if python == "none" {
                None
            } else {
                let s = which(&python);
                if s.is_none() {
                    eprintln!("note: `{python}` not found; the Python side is skipped");
                }
                s
            };
            let options = app::bench::BudgetBenchOptions {
                users,
                offers,
                share,
                repeats,
                seed,
            };
            let py = shell.as_deref().map(|p| (p, script.as_path()));
            let r = app::bench::bench_budget(&options, &dir, py)?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
        }
        BenchCmd::Forecast(f) => run_forecast(f)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn python_shell(python: Option<String>) -> Option<PathBuf> {
    let python = python
        .or_else(|| std::env::var("LIFTDECK_PYTHON").ok())
        .unwrap_or_else(|| "python3".into());
    if python == "none" {
        return None;
    }
    let s = which(&python);
    if s.is_none() {
        eprintln!("note: `{python}` not found; the Python side is skipped");
    }
    s
}

fn run_forecast(cmd: ForecastBench) -> Result<()> {
    match cmd {
        ForecastBench::Coverage {
            plans,
            seed,
            campaigns,
            units_per_arm,
            draws,
            max_sample,
            no_seasons,
            json,
        } => {
            let o = app::bench::CoverageBenchOptions {
                plans,
                campaigns,
                units_per_arm,
                draws,
                max_sample,
                seed,
                seasons: !no_seasons,
            };
            let r = app::bench::bench_forecast_coverage(&o)?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
        }
        ForecastBench::Speed {
            users,
            draws,
            repeats,
            seed,
            python,
            script,
            dir,
            json,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let shell = python_shell(python);
            let o = app::bench::SpeedBenchOptions {
                users,
                draws,
                repeats,
                seed,
            };
            let py = shell.as_deref().map(|p| (p, script.as_path()));
            let r = app::bench::bench_forecast_speed(&o, &dir, py)?;
            if json.json {
                super::write_json(&r)?;
            } else {
                println!("{r}");
            }
        }
    }
    Ok(())
}

/// The working directory: `--dir` (created if needed), else a temporary one that lives as
/// long as the returned guard.
fn bench_dir(dir: Option<PathBuf>) -> Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)?;
            Ok((d, None))
        }
        None => {
            let t = tempfile::tempdir()?;
            Ok((t.path().to_path_buf(), Some(t)))
        }
    }
}

/// Resolves a program name on PATH (or a path as given).
fn which(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.components().count() > 1 {
        return p.exists().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|c| c.is_file())
    })
}
