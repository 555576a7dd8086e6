//! The command line: the clap definitions of every command and the handler that runs each.
//!
//! The top-level `Cli` and `Command` live here with the helpers several groups share (opening
//! the store, writing to a pipe, parsing durations, exit codes); each command group has its own
//! file with its arguments next to its handler. Handlers only translate between arguments and
//! `liftdeck::app` (or the store and stats for read-only views) and print; the work is in the
//! library, so the console, replays and tests reach the same code without the CLI.

pub mod assign_stream;
pub mod bandit;
pub mod bench;
pub mod campaign;
pub mod did;
pub mod dp;
pub mod exit;
pub mod feed;
pub mod forecast;
pub mod forget;
pub mod import;
pub mod jobs;
pub mod model;
pub mod ops;
pub mod privacy;
pub mod report;
pub mod retention;
pub mod uplift;
pub mod warehouse;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use exit::CliError;
use liftdeck::store::Store;
use std::path::PathBuf;

/// Exit codes of results that are not failures (the whole table is in `exit`).
pub const EXIT_REJECTS: u8 = exit::REJECTS;
pub const EXIT_EXCLUDED: u8 = exit::EXCLUDED;

/// Where the database is when neither --db nor $LIFTDECK_DB names one.
pub const DEFAULT_DB: &str = "liftdeck.db";
/// The demo's own default file; the demo never reads $LIFTDECK_DB.
pub const DEFAULT_DEMO_DB: &str = "liftdeck-demo.db";

#[derive(Parser)]
#[command(
    name = "liftdeck",
    version,
    about = "Terminal console for e-commerce campaign experiments",
    after_help = "Exit codes: 0 ok, 1 health WARN, 2 health CRIT, 3 ingest had rejects, 4 unit \
                  outside traffic, 5 verify mismatch, 64 usage, 65 bad input data, 66 missing \
                  database or file, 70 internal, 74 I/O, 75 database busy (retry), 77 refused \
                  by --read-only."
)]
pub struct Cli {
    /// Database file [default: $LIFTDECK_DB, else liftdeck.db; `demo` uses liftdeck-demo.db
    /// and ignores $LIFTDECK_DB]. Only `campaign create`, `ingest`, `import` and `demo` create
    /// it (private to its owner); every other command needs it to exist.
    #[arg(long, global = true)]
    pub db: Option<PathBuf>,
    /// Open the database read-only for the whole process: commands that would change it are
    /// refused with exit 77 before anything is opened.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Pseudonymise unit ids (and identifying context fields) with the key in KEYFILE
    /// (`liftdeck keygen`) at ingest, assign and import. The first use records the key's
    /// fingerprint and file in the database; from then on those commands refuse to run
    /// without the matching key (the recorded file is used when this flag is absent).
    #[arg(
        long,
        global = true,
        env = "LIFTDECK_PSEUDONYMIZE",
        value_name = "KEYFILE"
    )]
    pub pseudonymize: Option<PathBuf>,
    /// The ClickHouse data plane, clickhouse://HOST:PORT[,HOST:PORT...]/DATABASE[?cluster=NAME]
    /// (HTTP ports; every shard listed). `warehouse init` records it in the database; after
    /// that it may be omitted, and a different one is refused.
    #[arg(
        long,
        global = true,
        env = "LIFTDECK_WAREHOUSE",
        value_name = "URL",
        value_parser = liftdeck::store::warehouse::WarehouseUrl::parse
    )]
    pub warehouse: Option<liftdeck::store::warehouse::WarehouseUrl>,
    /// Console colours: default, high-contrast or mono (NO_COLOR forces mono).
    #[arg(long, global = true, default_value = "default")]
    pub theme: String,
    /// With no command, the console opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

// The order of the variants is the order `--help` lists them in.
#[derive(Subcommand)]
pub enum Command {
    /// The operator console (the default when no command is given).
    Console,
    /// Define, list, show, edit and delete campaigns, and move them through
    /// draft -> running <-> paused -> stopped.
    #[command(subcommand)]
    Campaign(campaign::CampaignCmd),
    /// Assign a unit to an arm of a running campaign and print the arm.
    Assign(feed::AssignArgs),
    /// Ingest assignment and event lines from FILE or `-` (stdin).
    Ingest(feed::IngestArgs),
    /// Import logged bandit feedback from another format (the Open Bandit Dataset).
    #[command(subcommand)]
    Import(import::ImportCmd),
    /// Write a campaign's definition, assignments and events to stdout.
    Export(feed::ExportArgs),
    /// Recompute every rollup of a campaign from raw rows and compare (exit 5 on a mismatch).
    Verify(feed::VerifyArgs),
    /// Show the newest rejected lines with their reasons.
    Rejects(feed::RejectsArgs),
    /// Erase one customer on request (GDPR art. 17): assignments, events and their share of
    /// every rollup, with a tombstone so re-ingested files skip them.
    Forget(forget::ForgetArgs),
    /// Retention: delete raw events older than a window (rollups and reports stay).
    Prune(retention::PruneArgs),
    /// A simulated shop with three campaigns and live traffic, in its own database.
    Demo(ops::DemoArgs),
    /// Health of every running campaign for cron and monitoring: exit 0 OK, 1 warning, 2 critical.
    Health(ops::HealthArgs),
    /// Run a scripted fixture headlessly and report each expectation (exit 1 if any fails).
    Replay(ops::ReplayArgs),
    /// Units per arm needed to detect an effect (plan a campaign before starting it).
    Power(report::PowerArgs),
    /// Reports on a campaign's results.
    #[command(subcommand)]
    Report(report::ReportCmd),
    /// Bandit campaigns: the leaderboard, the weights to draw from, the allocation update and
    /// how a campaign learns.
    #[command(subcommand)]
    Bandit(bandit::BanditCmd),
    /// Retrain the campaign's conversion model and store it as a new version.
    Train(jobs::TrainArgs),
    /// The conversion-model registry: list and show versions, activate one, roll back.
    #[command(subcommand)]
    Model(model::ModelCmd),
    /// Forecasts: `forecast KEY` projects what shipping each arm of a campaign that ran would
    /// earn over the coming days; `forecast plan PLAN.json` what a planned campaign will earn.
    Forecast(forecast::ForecastCli),
    /// Whole-process benchmarks (see BENCHMARKS.md).
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Create a pseudonymisation key file (mode 0600) for --pseudonymize; prints its
    /// fingerprint, never the key. Writes no database.
    Keygen(privacy::KeygenArgs),
    /// Pseudonymisation: identifying context fields and the database's privacy status.
    #[command(subcommand)]
    Privacy(privacy::PrivacyCmd),
    /// The ClickHouse data plane: create its tables (`init`), see its shards (`status`).
    #[command(subcommand)]
    Warehouse(warehouse::WarehouseCmd),
}

/// What a command does to the database: the one place that decides what `--read-only`
/// refuses and which commands may create a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbUse {
    /// Never opens --db (power, replay).
    None,
    /// Reads an existing database; allowed under --read-only.
    Read,
    /// Changes an existing database (or, for bench, files of its own): refused under
    /// --read-only.
    Write,
    /// Creates the database when missing, then writes: refused under --read-only.
    Create,
}

impl DbUse {
    pub fn mutates(self) -> bool {
        matches!(self, DbUse::Write | DbUse::Create)
    }
}

impl Command {
    pub fn db_use(&self) -> DbUse {
        use campaign::CampaignCmd as C;
        match self {
            Command::Campaign(C::Create(_))
            | Command::Ingest(_)
            | Command::Import(_)
            | Command::Demo(_) => DbUse::Create,
            Command::Campaign(
                C::Start { .. } | C::Pause { .. } | C::Stop { .. } | C::Edit(_) | C::Delete { .. },
            )
            | Command::Assign(_)
            | Command::Forget(_)
            | Command::Bandit(bandit::BanditCmd::Update(_) | bandit::BanditCmd::Set(_))
            | Command::Train(_)
            | Command::Prune(_)
            | Command::Bench(_)
            | Command::Campaign(C::PrivacyBudget(_))
            // Writes a key file, not the database; still refused under --read-only, whose
            // promise is that nothing is written.
            | Command::Keygen(_) => DbUse::Write,
            Command::Privacy(p) if p.writes() => DbUse::Write,
            Command::Warehouse(w) if w.writes() => DbUse::Create,
            Command::Warehouse(_) => DbUse::Read,
            Command::Privacy(_) => DbUse::Read,
            // A DP release records what it spent of the campaign's privacy budget.
            Command::Report(r) if r.writes() => DbUse::Write,
            Command::Model(m) if m.writes() => DbUse::Write,
            Command::Model(_) => DbUse::Read,
            Command::Forecast(f) if f.writes() => DbUse::Write,
            Command::Console
            | Command::Campaign(C::List { .. } | C::Show { .. })
            | Command::Export(_)
            | Command::Verify(_)
            | Command::Rejects(_)
            | Command::Health(_)
            | Command::Report(_)
            | Command::Bandit(bandit::BanditCmd::Show { .. } | bandit::BanditCmd::Weights { .. })
            | Command::Forecast(_) => DbUse::Read,
            Command::Replay(_) | Command::Power(_) => DbUse::None,
        }
    }

    /// The command as typed, for messages: `campaign start`.
    pub fn name(&self) -> &'static str {
        use campaign::CampaignCmd as C;
        match self {
            Command::Console => "console",
            Command::Campaign(c) => match c {
                C::Create(_) => "campaign create",
                C::List { .. } => "campaign list",
                C::Show { .. } => "campaign show",
                C::Start { .. } => "campaign start",
                C::Pause { .. } => "campaign pause",
                C::Stop { .. } => "campaign stop",
                C::Edit(_) => "campaign edit",
                C::Delete { .. } => "campaign delete",
                C::PrivacyBudget(_) => "campaign privacy-budget",
            },
            Command::Assign(_) => "assign",
            Command::Ingest(_) => "ingest",
            Command::Import(_) => "import",
            Command::Export(_) => "export",
            Command::Verify(_) => "verify",
            Command::Rejects(_) => "rejects",
            Command::Forget(_) => "forget",
            Command::Prune(_) => "prune",
            Command::Demo(_) => "demo",
            Command::Health(_) => "health",
            Command::Replay(_) => "replay",
            Command::Power(_) => "power",
            Command::Report(_) => "report",
            Command::Bandit(b) => match b {
                bandit::BanditCmd::Show { .. } => "bandit show",
                bandit::BanditCmd::Weights { .. } => "bandit weights",
                bandit::BanditCmd::Update(_) => "bandit update",
                bandit::BanditCmd::Set(_) => "bandit set",
            },
            Command::Train(_) => "train",
            Command::Model(m) => m.name(),
            Command::Forecast(f) => f.name(),
            Command::Bench(_) => "bench",
            Command::Keygen(_) => "keygen",
            Command::Privacy(p) => p.name(),
            Command::Warehouse(w) => w.name(),
        }
    }
}

/// The `--json` flag, one definition for every command that has it so each `--help` says the
/// same thing.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct JsonFlag {
    /// Print JSON instead of text: timestamps are RFC 3339 strings, seeds are strings, and an
    /// error is `{"error": {"code": EXIT_CODE, "message": ...}}` on stdout (text on stderr too).
    #[arg(long)]
    pub json: bool,
}

/// Whether the command line asked for JSON, decided from the raw arguments so that errors
/// clap raises before parsing finishes are JSON too.
pub fn json_requested(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// The database this process works on and how it may use it.
#[derive(Debug, Clone)]
pub struct Session {
    pub db: PathBuf,
    pub read_only: bool,
    /// `--pseudonymize KEYFILE`, for the commands that take raw unit ids.
    pub pseudonymize: Option<PathBuf>,
    /// `--warehouse URL`: recorded by `warehouse init`, checked against the database by
    /// every other open.
    pub warehouse: Option<liftdeck::store::warehouse::WarehouseUrl>,
}

impl Session {
    /// `--db` wins; otherwise `$LIFTDECK_DB`, except for the demo, which uses its own file
    /// so that an operator's environment never points it at a real database.
    pub fn new(db: Option<PathBuf>, read_only: bool, command: &Command) -> Session {
        let db = match (db, command) {
            (Some(db), _) => db,
            (None, Command::Demo(_)) => PathBuf::from(DEFAULT_DEMO_DB),
            (None, _) => std::env::var_os("LIFTDECK_DB")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DB)),
        };
        Session {
            db,
            read_only,
            pseudonymize: None,
            warehouse: None,
        }
    }

    /// The same session with the `--warehouse` URL.
    pub fn with_warehouse(
        mut self,
        url: Option<liftdeck::store::warehouse::WarehouseUrl>,
    ) -> Session {
        self.warehouse = url;
        self
    }

    /// A `--warehouse` that names another data plane than the database's own is refused: the
    /// flag never redirects a database's traffic (only `warehouse init` records one).
    fn check_warehouse(&self, store: Store) -> Result<Store> {
        if let Some(url) = &self.warehouse {
            let own = store.warehouse().map(|w| w.url().to_string());
            if own.as_deref() != Some(url.to_string().as_str()) {
                return Err(CliError::Usage(format!(
                    "--warehouse {url}: {} {}; `liftdeck warehouse init` attaches a warehouse \
                     to a database without traffic",
                    self.db.display(),
                    match own {
                        Some(own) => format!("reads and writes {own}"),
                        None => "keeps its data in the file itself".to_string(),
                    }
                ))
                .into());
            }
        }
        Ok(store)
    }

    /// The same session with the `--pseudonymize` key file.
    pub fn with_pseudonymize(mut self, key_file: Option<PathBuf>) -> Session {
        self.pseudonymize = key_file.filter(|p| !p.as_os_str().is_empty());
        self
    }

    /// How this session's raw unit ids become stored ones (`app::privacy::unit_ids`): every
    /// command that takes raw ids calls this on the store it writes.
    pub fn unit_ids(
        &self,
        store: &mut Store,
        env: &liftdeck::app::Env,
    ) -> Result<liftdeck::app::privacy::UnitIds> {
        Ok(liftdeck::app::privacy::unit_ids(
            store,
            self.pseudonymize.as_deref(),
            env,
        )?)
    }

    /// Fails with exit 66 unless the database exists and is not an empty file.
    pub fn require_database(&self) -> Result<()> {
        match std::fs::metadata(&self.db) {
            Ok(m) if m.len() > 0 && !m.is_dir() => Ok(()),
            _ => Err(CliError::MissingDatabase {
                path: self.db.clone(),
            }
            .into()),
        }
    }

    /// Opens an existing database to read it: read-only whenever the schema is current (so
    /// reading takes no write lock), upgrading it first when it is older and the session may
    /// write. Never creates a database.
    pub fn open_to_read(&self) -> Result<Store> {
        self.require_database()?;
        self.warn_permissions();
        let read_only = Store::open_read_only(&self.db);
        let store = match read_only {
            Err(liftdeck::store::StoreError::NeedsUpgrade { .. }) if !self.read_only => {
                drop(Store::open_existing(&self.db).with_context(|| self.opening())?);
                Store::open_read_only(&self.db)
            }
            other => other,
        };
        self.check_warehouse(store.with_context(|| self.opening())?)
    }

    /// Opens an existing database to change it. Never creates one; refused under --read-only
    /// (commands that write are refused before they get here; this is the second lock).
    pub fn open_to_write(&self) -> Result<Store> {
        self.refuse_if_read_only("write")?;
        self.require_database()?;
        self.warn_permissions();
        self.check_warehouse(Store::open_existing(&self.db).with_context(|| self.opening())?)
    }

    /// Opens the database, creating it (mode 0600) when missing: only for the commands that
    /// are meant to create one.
    pub fn open_or_create(&self) -> Result<Store> {
        self.check_warehouse(self.open_or_create_for_warehouse_init()?)
    }

    /// `open_or_create` without the `--warehouse` check: for `warehouse init`, which is what
    /// records the flag's URL.
    pub fn open_or_create_for_warehouse_init(&self) -> Result<Store> {
        self.refuse_if_read_only("create")?;
        self.warn_permissions();
        Store::open(&self.db).with_context(|| self.opening())
    }

    fn refuse_if_read_only(&self, what: &str) -> Result<()> {
        if self.read_only {
            return Err(CliError::ReadOnly(format!("{what} {}", self.db.display())).into());
        }
        Ok(())
    }

    fn opening(&self) -> String {
        format!("opening {}", self.db.display())
    }

    fn warn_permissions(&self) {
        if let Some(w) = liftdeck::store::permission_warning(&self.db) {
            eprintln!("warning: {w}");
        }
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    // Names, arm keys, segment values and unit ids come from outside: no control character
    // but our own newlines reaches the terminal (JSON escapes its own, so it is unchanged).
    let text = liftdeck::text::escape_output(text);
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Pretty JSON and a newline, on stdout.
pub fn write_json(value: &impl serde::Serialize) -> Result<()> {
    write_stdout(&(serde_json::to_string_pretty(value)? + "\n"))
}

/// A clap value parser for durations in seconds: `90`, `90s`, `15m`, `2h`. A value whose
/// seconds do not fit is refused rather than wrapped.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 30s, 15m or 2h"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("`{s}`: use s, m or h")),
    };
    // Durations become microseconds (i64) downstream: keep the product representable there.
    n.checked_mul(scale)
        .filter(|secs| {
            secs.checked_mul(1_000_000)
                .is_some_and(|us| us <= i64::MAX as u64)
        })
        .ok_or_else(|| format!("`{s}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_that_overflow_are_refused() {
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert!(parse_duration("18446744073709551615h").is_err());
        assert!(parse_duration("5124095576030432h").is_err());
        assert!(parse_duration("9223372036855s").is_err());
        assert!(parse_duration("9223372036854s").is_ok());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5m").is_err());
    }

    #[test]
    fn every_command_is_classified_for_read_only() {
        // Reading commands never mutate; creating ones always do.
        assert!(!Command::Console.db_use().mutates());
        assert!(!DbUse::Read.mutates() && !DbUse::None.mutates());
        assert!(DbUse::Write.mutates() && DbUse::Create.mutates());
        // keygen writes a key file: refused under --read-only like any write.
        let keygen = Cli::try_parse_from(["liftdeck", "keygen", "k.key"]).expect("parse");
        assert!(keygen.command.expect("command").db_use().mutates());
        let context = Cli::try_parse_from(["liftdeck", "privacy", "context", "email", "drop"])
            .expect("parse");
        assert!(context.command.expect("command").db_use().mutates());
        let status = Cli::try_parse_from(["liftdeck", "privacy", "status"]).expect("parse");
        assert!(!status.command.expect("command").db_use().mutates());
    }
}
