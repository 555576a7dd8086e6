//! Schema versions: `schema.sql` is version 1, each file in `migrations/` one more.
//! Applied in one EXCLUSIVE transaction so a crash mid-upgrade leaves the old version intact.

use super::StoreError;
use rusqlite::{Connection, TransactionBehavior};

/// Version N is reached by applying `MIGRATIONS[N-1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../schema.sql"),
    include_str!("../../migrations/002_events_by_campaign_time.sql"),
    include_str!("../../migrations/003_unit_moments_for_ratio_metrics.sql"),
    include_str!("../../migrations/004_campaign_report_settings.sql"),
    include_str!("../../migrations/005_cuped_cross_sums_for_every_metric.sql"),
    include_str!("../../migrations/006_jobs_and_models.sql"),
    include_str!("../../migrations/007_rejects_per_run.sql"),
    include_str!("../../migrations/008_settings.sql"),
    include_str!("../../migrations/009_bandit_allocation_periods.sql"),
    include_str!("../../migrations/010_model_registry.sql"),
    include_str!("../../migrations/011_saved_reports.sql"),
    include_str!("../../migrations/012_observational_campaign_kind.sql"),
    include_str!("../../migrations/013_forecast_ledger.sql"),
    include_str!("../../migrations/014_privacy_erasure.sql"),
    include_str!("../../migrations/015_privacy_dp_budget.sql"),
    include_str!("../../migrations/016_retention_and_audit.sql"),
];

/// The schema version this build writes and understands.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to `CURRENT_VERSION`; refuses one written by a newer liftdeck.
pub fn migrate(conn: &mut Connection) -> Result<i64, StoreError> {
    without_foreign_keys(conn, migrate_all)
}

/// Runs `f` with foreign-key enforcement off, as SQLite's procedure for rebuilding a table
/// that others reference requires (it cannot change inside a transaction), and puts it back
/// as it was. `f` checks the keys itself before it commits.
fn without_foreign_keys<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let on: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let out = f(conn);
    if on != 0 {
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
    }
    out
}

/// Refuses to commit a migration that left a reference dangling.
fn check_foreign_keys(tx: &Connection) -> Result<(), StoreError> {
    let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        return Err(StoreError::Corrupt(format!(
            "the upgrade would leave {broken} rows pointing at rows that do not exist; \
             nothing was changed"
        )));
    }
    Ok(())
}

fn migrate_all(conn: &mut Connection) -> Result<i64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let found = user_version(&tx)?;
    if found > CURRENT_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            supported: CURRENT_VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        // PRAGMA takes no bound parameters; the value is our own integer, never user input.
        // sql-splice: constant: i + 1 -- PRAGMA user_version takes no parameter; i counts migrations
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    check_foreign_keys(&tx)?;
    tx.commit()?;
    Ok(found)
}

/// Applies only the first `version` migrations: used by tests to build old databases.
pub fn migrate_to(conn: &mut Connection, version: i64) -> Result<(), StoreError> {
    without_foreign_keys(conn, |conn| migrate_first(conn, version))
}

fn migrate_first(conn: &mut Connection, version: i64) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let found = user_version(&tx)?;
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(version as usize)
        .skip(found as usize)
    {
        tx.execute_batch(sql)?;
        // sql-splice: constant: i + 1 -- PRAGMA user_version takes no parameter; i counts migrations
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    check_foreign_keys(&tx)?;
    tx.commit()?;
    Ok(())
}
