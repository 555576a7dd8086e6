//! The only module that speaks SQL. Opens the database (pragmas, migrations, owner-only file
//! mode) and offers typed operations on campaigns, assignments, events and rollups.
//! Every statement is parameterised; identifiers are never built from input.

mod batch;
mod campaigns;
mod jobs;
pub mod migrate;
mod rejects;
mod rollup_sql;
mod rollups;
mod write_lock;

pub use crate::domain::ArmRollup;
pub use batch::{BatchOutcome, IngestItem, Ingestor, WriteLimits};
pub use campaigns::AuditEntry;
pub use jobs::{JobRow, UnitRow};
pub use rejects::{IngestRunRow, RejectFilter, RejectRow, RunSelector};
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
}

impl Store {
    /// Opens (creating with mode 0600 if needed) and migrates a database.
    pub fn open(path: &Path) -> Result<Store> {
        create_private(path)?;
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn,
            access: Access::ReadWrite,
        })
    }

    /// Opens an existing database without the ability to change it.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        stable_plans(&conn)?;
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
        Ok(Store {
            conn,
            access: Access::ReadOnly,
        })
    }

    /// An in-memory database, for tests and benchmarks of the math around the store.
    pub fn open_in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn)?;
        migrate::migrate(&mut conn)?;
        Ok(Store {
            conn,
            access: Access::ReadWrite,
        })
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
        conn.prepare_cached(
            "INSERT INTO audit_log (ts, actor, action, campaign, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(rusqlite::params![ts, actor, action, campaign, detail])?;
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
/// SQLite gives the -wal and -shm files the same permissions as the main file.
fn create_private(path: &Path) -> Result<()> {
    if path.exists() || path.as_os_str() == ":memory:" {
        return Ok(());
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
