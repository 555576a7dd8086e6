//! Database-wide settings (`settings` table, migration 7): named values that describe the
//! database itself rather than a campaign, e.g. that `liftdeck demo` created it.

use super::{Result, Store};
use rusqlite::{params, OptionalExtension};

/// The setting that marks a database as the demo's own.
const DEMO: &str = "demo";

impl Store {
    pub fn setting(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM settings WHERE name = ?1")?
            .query_row([name], |r| r.get(0))
            .optional()?)
    }

    pub fn set_setting(&mut self, name: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO settings (name, value) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![name, value])?;
        Ok(())
    }

    /// Whether `liftdeck demo` created this database (and so may write simulated traffic).
    pub fn is_demo(&self) -> Result<bool> {
        Ok(self.setting(DEMO)?.is_some())
    }

    /// Marks a database the demo just created as its own; `created` is an RFC 3339 time.
    pub fn mark_demo(&mut self, created: &str) -> Result<()> {
        self.set_setting(DEMO, created)
    }

    /// Whether the database holds nothing an operator made: no campaign, no ingest run.
    pub fn is_empty(&self) -> Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM campaigns) + (SELECT COUNT(*) FROM ingest_runs)",
            [],
            |r| r.get(0),
        )?;
        Ok(n == 0)
    }
}
