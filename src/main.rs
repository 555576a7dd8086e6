//! The `liftdeck` command: CLI parsing and dispatch only; the work happens in `liftdeck::app`.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use liftdeck::app::{self, AppError, Assignment, Env};
use liftdeck::clock::format_rfc3339;
use liftdeck::domain::{CampaignKind, CampaignSpec, Offer, Status};
use liftdeck::ingest::Format;
use liftdeck::store::{Store, StoreError};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes (documented in the README).
const EXIT_REJECTS: u8 = 3;
const EXIT_EXCLUDED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "liftdeck",
    version,
    about = "Terminal console for e-commerce campaign experiments"
)]
struct Cli {
    /// Database file (created private to its owner when missing).
    #[arg(
        long,
        global = true,
        env = "LIFTDECK_DB",
        default_value = "liftdeck.db"
    )]
    db: PathBuf,
    /// Open the database read-only: look without being able to change anything.
    #[arg(long, global = true)]
    read_only: bool,
    /// Console colours: default, high-contrast or mono (NO_COLOR forces mono).
    #[arg(long, global = true, default_value = "default")]
    theme: String,
    /// With no command, the console opens.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// The operator console (the default when no command is given).
    Console,
    /// Define, list, show and move campaigns through draft -> running <-> paused -> stopped.
    #[command(subcommand)]
    Campaign(CampaignCmd),
    /// Assign a unit to an arm of a running campaign and print the arm.
    Assign {
        campaign: String,
        unit: String,
        /// Context as a JSON object, e.g. '{"device":"mobile","pre_value":12.5}'.
        #[arg(long)]
        context: Option<String>,
    },
    /// Ingest assignment and event lines from FILE or `-` (stdin).
    Ingest {
        #[arg(default_value = "-")]
        file: String,
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Lines per transaction.
        #[arg(long, default_value_t = app::feed_batch_lines())]
        batch: usize,
    },
    /// Write a campaign's definition, assignments and events to stdout.
    Export {
        campaign: String,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
    },
    /// Recompute every rollup of a campaign from raw rows and compare with the stored ones.
    Verify { campaign: Option<String> },
    /// Show the newest rejected lines with their reasons.
    Rejects {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// A simulated shop with three campaigns and live traffic.
    Demo(DemoArgs),
    /// Health of every running campaign for cron and monitoring: exit 0 OK, 1 warning, 2 critical.
    Health {
        #[arg(long)]
        json: bool,
        /// A running campaign with no event for this long is stale: 90s, 15m, 2h.
        #[arg(long, default_value = "15m", value_parser = parse_duration)]
        stale: u64,
    },
    /// Run a scripted fixture headlessly and report each expectation (exit 1 if any fails).
    Replay {
        file: PathBuf,
        /// Terminal size.
        #[arg(long, default_value = "100x30")]
        size: String,
        /// Print the final screen.
        #[arg(long)]
        show: bool,
    },
    /// Units per arm needed to detect an effect (plan a campaign before starting it).
    Power(PowerArgs),
    /// Reports on a campaign's results.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Whole-process benchmarks (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Args)]
struct PowerArgs {
    /// Baseline conversion rate of a proportion metric, e.g. 0.05.
    #[arg(long, required_unless_present = "sd")]
    baseline: Option<f64>,
    /// Per-unit standard deviation of a mean metric (with --mean).
    #[arg(long)]
    sd: Option<f64>,
    /// Baseline mean of a mean metric (with --sd), to express the effect relatively.
    #[arg(long, requires = "sd")]
    mean: Option<f64>,
    /// Relative effect to detect, e.g. 0.05 for +5%.
    #[arg(long)]
    mde: f64,
    #[arg(long, default_value_t = 0.05)]
    alpha: f64,
    #[arg(long, default_value_t = 0.8)]
    power: f64,
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Every treatment arm against control: fixed-horizon, Bayesian and always-valid figures.
    Ab(Box<ReportArgs>),
}

#[derive(Args)]
struct ReportArgs {
    campaign: String,
    /// conversion (purchase), ctr (click), add_to_cart, revenue, cost, profit, aov.
    /// Default: the campaign's metric.
    #[arg(long)]
    metric: Option<String>,
    #[arg(long)]
    json: bool,
    /// Significance level (default: the campaign's, else 0.05).
    #[arg(long)]
    alpha: Option<f64>,
    /// Total units at which you expect to decide (default: the campaign's, else 5000).
    #[arg(long)]
    n_star: Option<f64>,
    /// Prior of the Gaussian effect model: flat, or proper = N(0, 0.3²) on the relative effect.
    #[arg(long, default_value = "flat")]
    prior: String,
    /// Multiple-testing adjustment across arms: holm or bh (default: the campaign's, else holm).
    #[arg(long)]
    correction: Option<String>,
    /// Regression adjustment with the assignment context's pre_value.
    #[arg(long)]
    cuped: bool,
    /// Split by a context field, e.g. device.
    #[arg(long)]
    by: Option<String>,
    /// Cap each unit's revenue at this amount.
    #[arg(long, conflicts_with = "winsorize")]
    cap: Option<f64>,
    /// Cap each unit's revenue at this quantile of the campaign's units, e.g. 0.99.
    #[arg(long)]
    winsorize: Option<f64>,
    /// Relative effect you want to detect; sets the time-to-decision estimate.
    #[arg(long, default_value_t = 0.05)]
    mde: f64,
}

#[derive(Subcommand)]
enum BenchCmd {
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
    /// Assignment decisions per second in-process: hash alone, new units, repeat look-ups.
    Assign {
        #[arg(long, default_value_t = 200_000)]
        n: u64,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CampaignCmd {
    /// Create a campaign in draft.
    Create(Box<CreateArgs>),
    /// List campaigns.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a campaign, its arms and their rollups.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Start (or resume) a campaign.
    Start { key: String },
    /// Pause a running campaign.
    Pause { key: String },
    /// Stop a campaign for good.
    Stop { key: String },
}

#[derive(Args)]
struct CreateArgs {
    /// Short unique key, e.g. coupon-10.
    #[arg(long)]
    key: String,
    /// Human name; defaults to the key.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "ab")]
    kind: String,
    /// Arms and weights: control:50,coupon:50.
    #[arg(long)]
    arms: String,
    /// The control arm (default: the first arm).
    #[arg(long)]
    control: Option<String>,
    /// Per-arm offer, repeatable: ARM:type=coupon,value=10 (type defaults to coupon).
    #[arg(long)]
    offer: Vec<String>,
    /// Fraction of units that enter the campaign.
    #[arg(long, default_value_t = 1.0)]
    traffic: f64,
    /// Primary metric: an event kind.
    #[arg(long, default_value = "purchase")]
    metric: String,
    /// Guardrail metrics, repeatable (revenue, cost, profit, aov or an event kind).
    #[arg(long)]
    guardrail: Vec<String>,
    /// Custom event kinds accepted on top of exposure, click, add_to_cart, purchase.
    #[arg(long = "custom-kind")]
    custom_kind: Vec<String>,
    /// Assignment hash seed (default: random, fixed at creation).
    #[arg(long)]
    seed: Option<u64>,
    /// Report setting: units at which you expect to decide (tunes always-valid intervals).
    #[arg(long)]
    n_star: Option<f64>,
    /// Report setting: multiple-testing correction across arms, holm or bh.
    #[arg(long)]
    correction: Option<String>,
    /// Report setting: significance level.
    #[arg(long)]
    alpha: Option<f64>,
    /// Report setting: tolerated relative harm on guardrails before flagging (e.g. 0.02).
    #[arg(long)]
    guardrail_margin: Option<f64>,
}

#[derive(Args)]
struct DemoArgs {
    /// Print a per-arm summary instead of opening the console (simulated time, no waiting).
    #[arg(long)]
    headless: bool,
    /// How long to stream traffic: 30s, 5m, 1h.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: u64,
    /// Shoppers per second.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s"))?;
    match unit {
        "" | "s" => Ok(n),
        "m" => Ok(n * 60),
        "h" => Ok(n * 3600),
        _ => Err(format!("`{s}`: use s, m or h")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn open(db: &Path) -> Result<Store> {
    Store::open(db).with_context(|| format!("opening {}", db.display()))
}

fn run(cli: Cli) -> Result<ExitCode> {
    let env = Env::from_process();
    let command = cli.command.unwrap_or(Command::Console);
    match command {
        Command::Console => {
            liftdeck::tui::run_console(&cli.db, &env, cli.read_only, theme(&cli.theme)?, None)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Campaign(cmd) => campaign(&cli.db, &env, cmd),
        Command::Assign {
            campaign,
            unit,
            context,
        } => {
            let context = match context {
                None => serde_json::Map::new(),
                Some(s) => match serde_json::from_str(&s) {
                    Ok(serde_json::Value::Object(m)) => m,
                    _ => bail!("--context must be a JSON object, got `{s}`"),
                },
            };
            let mut store = open(&cli.db)?;
            match app::assign(&mut store, &env, &campaign, &unit, context)? {
                Assignment::Arm { arm, .. } => {
                    println!("{arm}");
                    Ok(ExitCode::SUCCESS)
                }
                Assignment::Excluded => {
                    eprintln!("unit `{unit}` is outside the traffic of `{campaign}`: no arm");
                    Ok(ExitCode::from(EXIT_EXCLUDED))
                }
            }
        }
        Command::Ingest {
            file,
            format,
            batch,
        } => ingest(&cli.db, &env, &file, format, batch),
        Command::Export { campaign, format } => {
            let store = open(&cli.db)?;
            let stdout = std::io::stdout().lock();
            match app::export(&store, &campaign, format, stdout) {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(AppError::Io(e)) | Err(AppError::Store(StoreError::Io(e)))
                    if e.kind() == std::io::ErrorKind::BrokenPipe =>
                {
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Verify { campaign } => {
            let store = open(&cli.db)?;
            let keys = match campaign {
                Some(k) => vec![k],
                None => store.campaigns()?.into_iter().map(|c| c.spec.key).collect(),
            };
            let mut bad = 0;
            for key in &keys {
                let diffs = store.verify_rollups(key)?;
                if diffs.is_empty() {
                    println!("{key}: rollups match a full recompute");
                }
                for d in &diffs {
                    println!("MISMATCH {d}");
                }
                bad += diffs.len();
            }
            Ok(if bad == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Rejects { limit } => {
            let store = open(&cli.db)?;
            for r in store.rejects(limit)? {
                println!("{} line {}: {} ({})", r.source, r.line, r.detail, r.reason);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => demo(&cli.db, &env, args, &cli.theme),
        Command::Bench(cmd) => bench(cmd),
        Command::Report(ReportCmd::Ab(args)) => report_ab(&cli.db, *args),
        Command::Power(p) => power(p),
        Command::Replay { file, size, show } => {
            let (w, h) = size
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .with_context(|| format!("--size `{size}`: use WIDTHxHEIGHT, e.g. 80x24"))?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let mut replay = liftdeck::replay::Replay::new((w, h), cli.read_only)?;
            replay
                .run(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let mut failed = 0;
            for c in &replay.checks {
                println!(
                    "{} line {}: {}",
                    if c.passed { "ok  " } else { "FAIL" },
                    c.line,
                    c.message
                );
                failed += usize::from(!c.passed);
            }
            if show {
                println!("{}", replay.screen());
            }
            println!(
                "expectations: {} met, {} not met",
                replay.checks.len() - failed,
                failed
            );
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Health { json, stale } => {
            use liftdeck::app::health;
            let store = Store::open_read_only(&cli.db)
                .with_context(|| format!("opening {}", cli.db.display()))?;
            let report = health::check(&store, env.clock.now(), stale as i64 * 1_000_000)?;
            let text = if json {
                format!("{}\n", serde_json::to_string_pretty(&report)?)
            } else {
                health::format_lines(&report)
            };
            write_stdout(&text)?;
            Ok(ExitCode::from(health::overall(&report).exit_code()))
        }
    }
}

fn campaign(db: &Path, env: &Env, cmd: CampaignCmd) -> Result<ExitCode> {
    match cmd {
        CampaignCmd::Create(a) => {
            let mut arms = CampaignSpec::parse_arms(&a.arms).map_err(anyhow::Error::msg)?;
            for spec in &a.offer {
                let (arm_key, offer) = spec
                    .split_once(':')
                    .with_context(|| format!("--offer `{spec}` must look like ARM:value=10"))?;
                let offer = Offer::parse_spec(offer)
                    .map_err(|e| anyhow::anyhow!("--offer `{spec}`: {e}"))?;
                let Some(arm) = arms.iter_mut().find(|x| x.key == arm_key) else {
                    bail!("--offer `{spec}`: no arm `{arm_key}` in --arms");
                };
                arm.offer = offer;
            }
            let control = a.control.or_else(|| arms.first().map(|x| x.key.clone()));
            let spec = CampaignSpec {
                name: a.name.unwrap_or_else(|| a.key.clone()),
                key: a.key,
                kind: a.kind.parse::<CampaignKind>().map_err(anyhow::Error::msg)?,
                arms,
                control,
                traffic: a.traffic,
                metric: a.metric,
                guardrails: a.guardrail,
                custom_kinds: a.custom_kind,
                settings: liftdeck::domain::ReportSettings {
                    n_star: a.n_star,
                    correction: a.correction,
                    alpha: a.alpha,
                    guardrail_margin: a.guardrail_margin,
                },
                seed: a.seed.unwrap_or_else(rand::random),
            };
            let mut store = open(db)?;
            app::create_campaign(&mut store, env, &spec)?;
            println!(
                "created campaign {} (draft); start it with `liftdeck campaign start {}`",
                spec.key, spec.key
            );
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::List { json } => {
            let store = open(db)?;
            let list = store.campaigns()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<20} {:<8} {:<8} {:>5}  name",
                    "key", "kind", "status", "arms"
                );
                for c in list {
                    println!(
                        "{:<20} {:<8} {:<8} {:>5}  {}",
                        c.spec.key,
                        c.spec.kind.as_str(),
                        c.status,
                        c.spec.arms.len(),
                        c.spec.name
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Show { key, json } => {
            let store = open(db)?;
            let (c, _) = store.campaign(&key)?;
            let arms = store.arm_summaries(&key)?;
            if json {
                let v = serde_json::json!({ "campaign": c, "arms": arms });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", app::show_text(&c, &arms));
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignCmd::Start { key } => status(db, env, &key, Status::Running),
        CampaignCmd::Pause { key } => status(db, env, &key, Status::Paused),
        CampaignCmd::Stop { key } => status(db, env, &key, Status::Stopped),
    }
}

fn status(db: &Path, env: &Env, key: &str, to: Status) -> Result<ExitCode> {
    let mut store = open(db)?;
    let from = app::set_status(&mut store, env, key, to)?;
    println!("{key}: {from} -> {to}");
    Ok(ExitCode::SUCCESS)
}

fn ingest(
    db: &Path,
    env: &Env,
    file: &str,
    format: Option<Format>,
    batch: usize,
) -> Result<ExitCode> {
    let format = format.unwrap_or(if file.ends_with(".csv") {
        Format::Csv
    } else {
        Format::Jsonl
    });
    let mut store = open(db)?;
    let (reader, source): (Box<dyn BufRead>, String) = if file == "-" {
        (Box::new(std::io::stdin().lock()), "stdin".into())
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {file}"))?;
        (
            Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            file.to_string(),
        )
    };
    let summary = app::ingest_reader(&mut store, env, reader, &source, format, batch, |_| {})?;
    for (line, e) in &summary.samples {
        eprintln!("{source} line {line}: {}", e);
    }
    if summary.rejected as usize > summary.samples.len() {
        eprintln!(
            "... and {} more (see `liftdeck rejects`)",
            summary.rejected as usize - summary.samples.len()
        );
    }
    let reasons: Vec<String> = summary
        .by_reason
        .iter()
        .map(|(r, n)| format!("{r}={n}"))
        .collect();
    eprintln!(
        "{source}: {} lines, {} accepted, {} duplicates (unchanged), {} rejected{}",
        summary.lines,
        summary.accepted,
        summary.duplicates,
        summary.rejected,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" [{}]", reasons.join(", "))
        }
    );
    Ok(if summary.rejected > 0 {
        ExitCode::from(EXIT_REJECTS)
    } else {
        ExitCode::SUCCESS
    })
}

fn demo(db: &Path, env: &Env, args: DemoArgs, theme_name: &str) -> Result<ExitCode> {
    // The demo has its own file unless --db / LIFTDECK_DB names one.
    let db = if db == Path::new("liftdeck.db") {
        PathBuf::from("liftdeck-demo.db")
    } else {
        db.to_path_buf()
    };
    if args.headless {
        let env = Env {
            clock: liftdeck::clock::Clock::virtual_at(liftdeck::app::demo::DEMO_EPOCH),
            actor: env.actor.clone(),
        };
        let mut store = open(&db)?;
        let report =
            app::demo::run_headless(&mut store, &env, args.seed, args.duration, args.rate)?;
        println!(
            "liftdeck demo: {} simulated seconds at {} shoppers/s into {} (simulated clock ended {})",
            args.duration,
            args.rate,
            db.display(),
            format_rfc3339(env.clock.now())
        );
        print!("{report}");
        Ok(ExitCode::SUCCESS)
    } else {
        liftdeck::tui::run_console(
            &db,
            env,
            false,
            theme(theme_name)?,
            Some((args.seed, args.duration, args.rate)),
        )?;
        Ok(ExitCode::SUCCESS)
    }
}

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

fn bench(cmd: BenchCmd) -> Result<ExitCode> {
    match cmd {
        BenchCmd::Ingest {
            events,
            repeats,
            seed,
            sqlite3,
            dir,
        } => {
            let (dir, _keep) = bench_dir(dir)?;
            let shell = which(&sqlite3);
            if shell.is_none() {
                eprintln!("note: `{sqlite3}` not found; the .import baseline is skipped");
            }
            let report =
                app::bench::bench_ingest(&dir, events, seed, repeats.max(1), shell.as_deref())?;
            println!("{report}");
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
        BenchCmd::Assign { n, repeats, dir } => {
            let (dir, _keep) = bench_dir(dir)?;
            println!("{}", app::bench::bench_assign(&dir, n, repeats.max(1))?);
        }
    }
    Ok(ExitCode::SUCCESS)
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

fn report_ab(db: &Path, a: ReportArgs) -> Result<ExitCode> {
    use liftdeck::app::report::{format_text, report_ab, Capping};
    use liftdeck::stats::ab::{Metric, Options};
    use liftdeck::stats::bayes::EffectPrior;
    use liftdeck::stats::multiple::Adjustment;
    let store = Store::open_read_only(db)
        .or_else(|_| Store::open(db))
        .with_context(|| format!("opening {}", db.display()))?;
    let (campaign, _) = store.campaign(&a.campaign)?;
    let metric_name = a.metric.unwrap_or(campaign.spec.metric.clone());
    let Some(metric) = Metric::parse(&metric_name) else {
        bail!(
            "--metric `{metric_name}`: use one of conversion, ctr, add_to_cart, revenue, cost, \
             profit, aov"
        );
    };
    let prior = match a.prior.as_str() {
        "flat" => EffectPrior::Flat,
        "proper" => EffectPrior::PROPER_DEFAULT,
        other => bail!("--prior `{other}`: use flat or proper"),
    };
    let settings = &campaign.spec.settings;
    let correction = a
        .correction
        .or(settings.correction.clone())
        .unwrap_or_else(|| "holm".into());
    let alpha = a.alpha.or(settings.alpha).unwrap_or(0.05);
    let n_star = a.n_star.or(settings.n_star).unwrap_or(5000.0);
    let adjustment = match correction.as_str() {
        "holm" => Adjustment::Holm,
        "bh" => Adjustment::BenjaminiHochberg,
        other => bail!("--correction `{other}`: use holm or bh"),
    };
    if !(alpha > 0.0 && alpha < 0.5) {
        bail!("--alpha must be in (0, 0.5)");
    }
    if !(n_star.is_finite() && n_star >= 10.0) {
        bail!("--n-star must be at least 10 units");
    }
    let opts = Options {
        alpha,
        n_star,
        guardrail_margin: settings.guardrail_margin.unwrap_or(0.0),
        prior,
        adjustment,
        cuped: a.cuped,
        target_mde_rel: a.mde,
        ..Options::default()
    };
    let capping = match (a.cap, a.winsorize) {
        (Some(c), _) => Capping::Absolute(c),
        (None, Some(q)) => Capping::Quantile(q),
        _ => Capping::None,
    };
    let out = report_ab(&store, &a.campaign, metric, &opts, capping, a.by.as_deref())?;
    let text = if a.json {
        let mut j = if a.by.is_some() {
            serde_json::to_string_pretty(&out)?
        } else {
            serde_json::to_string_pretty(&out.first())?
        };
        j.push('\n');
        j
    } else {
        format_text(&out)
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn power(p: PowerArgs) -> Result<ExitCode> {
    use liftdeck::stats::power::{units_per_arm_mean, units_per_arm_proportion, TestDesign};
    let design = TestDesign {
        alpha: p.alpha,
        power: p.power,
    };
    let needed = match (p.baseline, p.sd) {
        (Some(rate), _) => units_per_arm_proportion(rate, p.mde, design),
        (None, Some(sd)) => {
            let Some(mean) = p.mean else {
                bail!("--sd needs --mean to turn the relative --mde into an absolute effect");
            };
            units_per_arm_mean(sd, p.mde * mean.abs(), design)
        }
        (None, None) => bail!("give --baseline RATE or --sd SD --mean MEAN"),
    };
    let Some(n) = needed else {
        bail!("no sample size for these inputs: rates must be in (0, 1), alpha and power in (0, 1), mde non-zero");
    };
    write_stdout(&format!(
        "{} units per arm ({:.1} exact) detect a {:+.1}% relative effect at alpha {} with {:.0}% power\n",
        n.ceil(),
        n,
        100.0 * p.mde,
        p.alpha,
        100.0 * p.power
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn theme(name: &str) -> Result<liftdeck::tui::theme::Theme> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    liftdeck::tui::theme::Theme::choose(name, no_color).map_err(anyhow::Error::msg)
}
