//! Exit codes: the one table every command uses (sysexits style, documented in the README), the
//! CLI's own errors, and the single mapping from an error chain to its code and its message.
//!
//! Handlers return `anyhow::Error`; `code_for` walks the chain and the first typed error it
//! recognises decides the code, so a store's "database is busy" is 75 whichever command met it.

use liftdeck::app::AppError;
use liftdeck::store::StoreError;
use std::path::PathBuf;

pub const OK: u8 = 0;
/// Results, not failures: `health` verdicts, ingest with rejects, a unit outside traffic,
/// `verify` mismatches.
pub const HEALTH_WARN: u8 = 1;
pub const HEALTH_CRIT: u8 = 2;
pub const REJECTS: u8 = 3;
pub const EXCLUDED: u8 = 4;
pub const MISMATCH: u8 = 5;
/// Failures.
pub const USAGE: u8 = 64;
pub const DATA: u8 = 65;
pub const NO_INPUT: u8 = 66;
pub const INTERNAL: u8 = 70;
pub const IO: u8 = 74;
pub const BUSY: u8 = 75;
pub const READ_ONLY: u8 = 77;

/// Errors the command line raises itself, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag or argument the command cannot use.
    #[error("{0}")]
    Usage(String),
    /// The arguments are well formed but the data says no (a job could not run on it, ...).
    #[error("{0}")]
    Data(String),
    #[error(
        "--read-only: {0} would change the database, so it was refused before anything was \
         opened; nothing was changed"
    )]
    ReadOnly(String),
    #[error(
        "no database at {path}; check --db or $LIFTDECK_DB, or create one with \
         `liftdeck campaign create` or `liftdeck ingest`"
    )]
    MissingDatabase { path: PathBuf },
    #[error("{0} needs a terminal; use --headless or a subcommand")]
    NeedsTerminal(&'static str),
}

impl CliError {
    pub fn code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::NeedsTerminal(_) => USAGE,
            CliError::Data(_) => DATA,
            CliError::ReadOnly(_) => READ_ONLY,
            CliError::MissingDatabase { .. } => NO_INPUT,
        }
    }
}

/// `return Err(usage!("..."))`-style shorthand for a refused flag value.
macro_rules! usage {
    ($($arg:tt)*) => {
        anyhow::Error::from($crate::cli::exit::CliError::Usage(format!($($arg)*)))
    };
}
pub(crate) use usage;

/// `bail!` for a refused flag value: returns the usage error (exit 64).
macro_rules! bail_usage {
    ($($arg:tt)*) => {
        return Err($crate::cli::exit::usage!($($arg)*))
    };
}
pub(crate) use bail_usage;

/// The exit code of a failed command: the first error in the chain that has a meaning here.
pub fn code_for(err: &anyhow::Error) -> u8 {
    err.chain().find_map(code_of).unwrap_or(INTERNAL)
}

fn code_of(e: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if let Some(e) = e.downcast_ref::<CliError>() {
        return Some(e.code());
    }
    if let Some(e) = e.downcast_ref::<AppError>() {
        return Some(app_code(e));
    }
    if let Some(e) = e.downcast_ref::<StoreError>() {
        return Some(store_code(e));
    }
    if let Some(e) = e.downcast_ref::<rusqlite::Error>() {
        return Some(sqlite_code(e));
    }
    if let Some(e) = e.downcast_ref::<std::io::Error>() {
        return Some(io_code(e));
    }
    if e.downcast_ref::<serde_json::Error>().is_some() {
        return Some(DATA);
    }
    if e.downcast_ref::<clap::Error>().is_some() {
        return Some(USAGE);
    }
    None
}

fn app_code(e: &AppError) -> u8 {
    match e {
        AppError::Store(s) => store_code(s),
        AppError::Io(e) => io_code(e),
        AppError::Cancelled => INTERNAL,
        AppError::NotDemo { .. } => DATA,
        AppError::Invalid(_) | AppError::NotRunning { .. } | AppError::Line { .. } => DATA,
    }
}

fn store_code(e: &StoreError) -> u8 {
    match e {
        StoreError::Sqlite(e) => sqlite_code(e),
        StoreError::Create { source, .. } | StoreError::Io(source) => io_code(source),
        StoreError::Missing(_) => NO_INPUT,
        StoreError::NeedsUpgrade { .. } => READ_ONLY,
        StoreError::ReadOnlyDirectory { .. } => NO_INPUT,
        StoreError::NewerSchema { .. }
        | StoreError::UnknownCampaign(_)
        | StoreError::DuplicateCampaign(_)
        | StoreError::IllegalMove { .. }
        | StoreError::NotDraft { .. }
        | StoreError::Corrupt(_) => DATA,
        // An unreachable or failing warehouse node: the network or the server, like an I/O
        // error on a file; a read that does not run on the warehouse is the caller's choice.
        StoreError::Warehouse(_) => IO,
        StoreError::NotOnWarehouse(_) => USAGE,
    }
}

fn sqlite_code(e: &rusqlite::Error) -> u8 {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => BUSY,
        Some(C::NotADatabase | C::DatabaseCorrupt) => DATA,
        Some(C::ReadOnly) => READ_ONLY,
        Some(C::CannotOpen) => NO_INPUT,
        Some(C::SystemIoFailure | C::DiskFull | C::PermissionDenied) => IO,
        _ => INTERNAL,
    }
}

fn io_code(e: &std::io::Error) -> u8 {
    match e.kind() {
        std::io::ErrorKind::NotFound => NO_INPUT,
        _ => IO,
    }
}

/// The message of an error chain with each cause printed once: a layer that already quotes its
/// source ("database error: file is not a database") is not followed by the same text again.
pub fn describe(err: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // Already said, or the same thing restated with a prefix ("Error code 26: ...").
        if text.is_empty() || out.contains(&text) || (!last.is_empty() && text.contains(&last)) {
            last = text;
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
        last = text;
    }
    out
}

/// The `--json` form of an error, printed on stdout beside the text on stderr.
pub fn json_error(code: u8, message: &str) -> String {
    serde_json::json!({ "error": { "code": code, "message": message } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_quoted_by_its_parent_is_printed_once() {
        let inner = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(26),
            Some("file is not a database".into()),
        );
        let err = anyhow::Error::from(StoreError::Sqlite(inner)).context("opening x.db");
        let text = describe(&err);
        assert!(!text.contains("Error code"), "{text}");
        assert_eq!(text.matches("file is not a database").count(), 1, "{text}");
        assert!(text.starts_with("opening x.db: "), "{text}");
        assert_eq!(code_for(&err), DATA);
    }

    #[test]
    fn busy_anywhere_in_the_chain_is_retry() {
        let busy =
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), Some("locked".into()));
        let err = anyhow::Error::from(AppError::Store(StoreError::Sqlite(busy))).context("x");
        assert_eq!(code_for(&err), BUSY);
    }

    #[test]
    fn untyped_errors_are_internal_and_typed_ones_keep_their_code() {
        assert_eq!(code_for(&anyhow::anyhow!("surprise")), INTERNAL);
        assert_eq!(code_for(&usage!("--x")), USAGE);
        let missing = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(code_for(&missing), NO_INPUT);
    }
}
