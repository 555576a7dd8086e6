//! The only module that speaks SQL. Opens the database (pragmas, migrations, owner-only file
//! mode) and offers typed operations on campaigns, assignments, events and rollups.
//! Every statement is parameterised; identifiers are never built from input.

mod audit;
mod bandit_reads;
mod batch;
mod batch_warehouse;
mod campaigns;
mod data_plane;
mod erasure;
mod forecasts;
mod jobs;
pub mod migrate;
mod models;
mod ope;
mod panel;
mod periods;
mod privacy_dp;
mod rejects;
mod reports;
mod retention;
pub use retention::{PruneCount, PruneMark};
mod rfm;
mod rollup_sql;
mod rollups;
mod settings;
pub mod shell_baseline;
pub use settings::{
    PseudonymizeStart, PRIVACY_CONTEXT_PREFIX, PSEUDONYMIZE_FINGERPRINT, PSEUDONYMIZE_KEY_FILE,
};
pub mod warehouse;
mod write_lock;

pub use crate::domain::ArmRollup;
pub use audit::{client_address, AuditFilter};
pub use bandit_reads::LoggedAssignment;
pub use batch::{BatchOutcome, IngestItem, Ingestor, WriteLimits};
pub use campaigns::AuditEntry;
pub use erasure::{ForgetRequest, Forgotten, FORGET_SALT};
pub use forecasts::{
    FrozenForecastRow, NewForecastReview, NewFrozenForecast, ReviewedForecastRow, StartedFromPlan,
};
pub use jobs::{JobRow, UnitRow};
pub use models::{ActiveChange, Choice, ModelVersion, NewModel, ACTIVE, ARCHIVED, CANDIDATE};
pub use ope::LoggedDecision;
pub use panel::{PanelMetric, PanelPeriod, PanelRow};
pub use periods::{NewPeriod, PeriodRollups, PeriodRow, Stage};
pub use privacy_dp::{PrivacyBudget, ReleaseRecord};
pub use rejects::{IngestRunRow, RejectFilter, RejectRow, RunSelector};
pub use reports::{NewReport, ReportRow};
pub use rfm::Rfm;
pub use rollups::{ArmSummary, BucketRow, ExportRow};

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create database file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database has schema version {found}, newer than this liftdeck understands \
         ({supported}); upgrade liftdeck"
    )]
    NewerSchema { found: i64, supported: i64 },
    #[error(
        "the database has schema version {found} but this liftdeck needs {needed}; \
         open it once without --read-only to upgrade it"
    )]
    NeedsUpgrade { found: i64, needed: i64 },
    #[error("database file {0} does not exist")]
    Missing(PathBuf),
    #[error(
        "cannot read {path} read-only: SQLite must create {path}-shm beside it, {dir} is not \
         writable by this user, and {path}-wal holds changes not yet in the main file. Ask the \
         owner to checkpoint it (`sqlite3 {path} 'PRAGMA wal_checkpoint(TRUNCATE)'`) or copy \
         {path} and {path}-wal to a directory you can write"
    )]
    ReadOnlyDirectory { path: PathBuf, dir: PathBuf },
    #[error(
        "campaign `{key}` is {status}; only a draft can be {action} (stop it instead, or \
         create a new campaign)"
    )]
    NotDraft {
        key: String,
        status: crate::domain::Status,
        action: &'static str,
    },
    #[error("no campaign `{0}` (see `liftdeck campaign list`)")]
    UnknownCampaign(String),
    #[error("campaign `{0}` already exists")]
    DuplicateCampaign(String),
    #[error(
        "campaign `{key}` is {from}; it cannot move to {to}. Legal moves from {from}: {legal}"
    )]
    IllegalMove {
        key: String,
        from: crate::domain::Status,
        to: crate::domain::Status,
        legal: String,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Warehouse(String),
    #[error(
        "{0} reads raw rows, which live in the ClickHouse warehouse for this database; it does \
         not run on the warehouse yet (see the README's data-plane section)"
    )]
    NotOnWarehouse(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ReadWrite,
    ReadOnly,
}

/// A connection to one liftdeck database.
pub struct Store {
    pub(crate) conn: Connection,
    access: Access,
    /// The data plane when it is not this file (`warehouse` setting).
    pub(crate) warehouse: Option<warehouse::Warehouse>,
}

impl Store {
    /// Opens (creating with mode 0600 if needed) and migrates a database.
    pub fn open(path: &Path) -> Result<Store> {
        create_private(path)?;
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate::migrate(&mut conn)?;
        Store {
            conn,
            access: Access::ReadWrite,
            warehouse: None,
        }
        .with_configured_warehouse()
    }

    /// Opens and migrates an existing database for writing; never creates one.
    pub fn open_existing(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn)?;
        migrate::migrate(&mut conn)?;
        Store {
            conn,
            access: Access::ReadWrite,
            warehouse: None,
        }
        .with_configured_warehouse()
    }

    /// Opens an existing database without the ability to change it.
    ///
    /// A WAL database needs its -shm file; in a directory (or on a file system) this user
    /// cannot write, SQLite cannot create it and refuses. Then, when the -wal file holds no
    /// changes, the main file alone is the whole database and is read with `immutable=1`;
    /// otherwise the error says what to do (reading without the -wal would show old data).
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let conn = match read_only_connection(path, false) {
            Ok(conn) => conn,
            Err(StoreError::Sqlite(e)) => match read_only_fallback(&e, wal_len(path)) {
                ReadOnlyFallback::Immutable => read_only_connection(path, true)?,
                ReadOnlyFallback::Explain => {
                    return Err(StoreError::ReadOnlyDirectory {
                        path: path.to_path_buf(),
                        dir: parent_dir(path),
                    })
                }
                ReadOnlyFallback::None => return Err(StoreError::Sqlite(e)),
            },
            Err(e) => return Err(e),
        };
        let found = migrate::user_version(&conn)?;
        if found > migrate::CURRENT_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                supported: migrate::CURRENT_VERSION,
            });
        }
        if found < migrate::CURRENT_VERSION {
            return Err(StoreError::NeedsUpgrade {
                found,
                needed: migrate::CURRENT_VERSION,
            });
        }
        Store {
            conn,
            access: Access::ReadOnly,
            warehouse: None,
        }
        .with_configured_warehouse()
    }

    /// An in-memory database, for tests and benchmarks of the math around the store.
    pub fn open_in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrate::migrate(&mut conn)?;
        Store {
            conn,
            access: Access::ReadWrite,
            warehouse: None,
        }
        .with_configured_warehouse()
    }

    pub fn access(&self) -> Access {
        self.access
    }

    pub fn schema_version(&self) -> Result<i64> {
        migrate::user_version(&self.conn)
    }

    /// Changes whenever another connection commits: the console's cheap "anything new?" poll.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// Records an operator action. Called inside the same transaction as the action itself
    /// where there is one, so the log never disagrees with the data.
    pub(crate) fn audit_on(
        conn: &Connection,
        ts: i64,
        actor: &str,
        action: &str,
        campaign: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        // The client (SSH address, NULL locally) is the process's own: see audit.rs.
        conn.prepare_cached(
            "INSERT INTO audit_log (ts, actor, action, campaign, detail, client)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(rusqlite::params![
            ts,
            actor,
            action,
            campaign,
            detail,
            audit::process_client()
        ])?;
        Ok(())
    }
}

/// WAL lets readers (the console, health checks) run while an ingest writes; NORMAL sync is
/// durable against process crashes in WAL mode; the busy timeout turns lock contention between
/// operators into a short wait instead of a "database is locked" error.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    stable_plans(conn)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;
         PRAGMA cache_size = -65536;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

/// Query-planner stability: without it SQLite re-prepares cached statements whose plan depends
/// on a bound parameter every time rusqlite clears the bindings (measured: every call of the
/// arms and assignment look-ups, ~38% of `assign`'s CPU). Read-only connections (console,
/// health) run the same cached look-ups, so they get it too.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Creates the file with mode 0600 before SQLite opens it: campaign data is user data.
/// SQLite gives the -wal and -shm files the same permissions as the main file. An existing
/// empty file (a `touch`ed or `mktemp` path) is about to become a database, so it gets the
/// same mode.
fn create_private(path: &Path) -> Result<()> {
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    if path.exists() {
        return tighten_if_empty(path);
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Sets an existing, still empty file to mode 0600 before it is initialised as a database.
fn tighten_if_empty(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)?;
        if meta.is_file() && meta.len() == 0 && meta.permissions().mode() & 0o777 != 0o600 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Why a database file's mode deserves a warning: writable by its group or by everyone.
pub fn permission_warning(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        if mode & 0o022 != 0 {
            let who = if mode & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            };
            return Some(format!(
                "{} is writable by {who} (mode {:o}); anyone who can write it can change \
                 campaign data. Consider `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    None
}

/// A read-only connection that has run its first query (SQLite opens lazily, and the -shm
/// problem shows only then).
fn read_only_connection(path: &Path, immutable: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(Duration::from_secs(5))?;
    stable_plans(&conn)?;
    migrate::user_version(&conn)?;
    Ok(conn)
}

#[derive(Debug, PartialEq, Eq)]
enum ReadOnlyFallback {
    /// Not the missing -shm problem: report the error as it is.
    None,
    /// Read the main file as immutable: the -wal is absent or empty.
    Immutable,
    /// The -wal holds changes: reading without it would be wrong, so explain.
    Explain,
}

/// What to do when a read-only open failed with `err`; `wal_len` is the -wal file's size.
fn read_only_fallback(err: &rusqlite::Error, wal_len: Option<u64>) -> ReadOnlyFallback {
    use rusqlite::ErrorCode as C;
    match err.sqlite_error_code() {
        Some(C::ReadOnly | C::CannotOpen) => match wal_len {
            None | Some(0) => ReadOnlyFallback::Immutable,
            Some(_) => ReadOnlyFallback::Explain,
        },
        _ => ReadOnlyFallback::None,
    }
}

fn wal_len(path: &Path) -> Option<u64> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).ok().map(|m| m.len())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `file:PATH?immutable=1` with the path percent-encoded (a `?` or `#` in it would otherwise
/// end the path).
fn immutable_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                uri.push(char::from(*b))
            }
            _ => uri.push_str(&format!("%{b:02X}")),
        }
    }
    uri.push_str("?immutable=1");
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn a_missing_shm_falls_back_to_immutable_only_when_the_wal_is_empty() {
        let readonly = sqlite_error(8);
        let cantopen = sqlite_error(14);
        assert_eq!(
            read_only_fallback(&readonly, None),
            ReadOnlyFallback::Immutable
        );
        assert_eq!(
            read_only_fallback(&cantopen, Some(0)),
            ReadOnlyFallback::Immutable
        );
        assert_eq!(
            read_only_fallback(&readonly, Some(4096)),
            ReadOnlyFallback::Explain
        );
        assert_eq!(
            read_only_fallback(&sqlite_error(26), None),
            ReadOnlyFallback::None
        );
        assert_eq!(
            read_only_fallback(&sqlite_error(5), None),
            ReadOnlyFallback::None
        );
    }

    #[test]
    fn immutable_uris_escape_what_would_end_the_path() {
        assert_eq!(
            immutable_uri(Path::new("/tmp/a b?#%.db")),
            "file:/tmp/a%20b%3F%23%25.db?immutable=1"
        );
    }

    #[test]
    fn the_immutable_connection_reads_a_wal_database_whose_wal_is_empty() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("odd ?name.db");
        drop(Store::open(&path).expect("create"));
        let conn = read_only_connection(&path, true).expect("immutable open");
        assert_eq!(
            migrate::user_version(&conn).expect("version"),
            migrate::CURRENT_VERSION
        );
    }
}
