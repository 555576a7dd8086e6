//! Database-wide settings (`settings` table, migration 8): named values that describe the
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

    /// The next number of a counter named `name` (1, 2, ...), kept in `settings` so that
    /// simulated traffic gets fresh unit ids on every run without writing fake ingest runs.
    pub fn next_run_number(&mut self, name: &str) -> Result<u64> {
        let key = format!("counter:{name}");
        let tx = self.conn.transaction()?;
        let last: i64 = tx
            .query_row(
                "SELECT CAST(value AS INTEGER) FROM settings WHERE name = ?1",
                [&key],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let n = u64::try_from(last).unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![key, n.to_string()],
        )?;
        tx.commit()?;
        Ok(n)
    }
}

/// Settings that say a database pseudonymises unit ids (`app::privacy` owns their meaning).
pub const PSEUDONYMIZE_FINGERPRINT: &str = "pseudonymize.fingerprint";
pub const PSEUDONYMIZE_KEY_FILE: &str = "pseudonymize.key_file";

/// Why a database cannot start pseudonymising.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PseudonymizeStart {
    Started,
    /// It already holds this many assigned units under raw ids; hashed ids beside them would
    /// split one customer in two.
    HoldsRawIds(i64),
}

impl Store {
    /// Records, once, that this database pseudonymises with the key of `fingerprint` (and,
    /// when given, where its key file lives so later commands find it without the flag), with
    /// its audit row, in one transaction. Refused when raw ids are already stored.
    pub fn start_pseudonymizing(
        &mut self,
        fingerprint: &str,
        key_file: Option<&str>,
        ts: i64,
        actor: &str,
    ) -> Result<PseudonymizeStart> {
        // On a warehouse the raw ids would be there; the file's own table is empty.
        let held_elsewhere = match &self.warehouse {
            Some(w) => w
                .assignment_count()
                .map_err(super::data_plane::warehouse_error)?,
            None => 0,
        };
        let tx = self.conn.transaction()?;
        let held: i64 = held_elsewhere
            + tx.query_row("SELECT COUNT(*) FROM assignments", [], |r| {
                r.get::<_, i64>(0)
            })?;
        if held > 0 {
            return Ok(PseudonymizeStart::HoldsRawIds(held));
        }
        let upsert = "INSERT INTO settings (name, value) VALUES (?1, ?2)
                      ON CONFLICT (name) DO UPDATE SET value = excluded.value";
        tx.execute(upsert, params![PSEUDONYMIZE_FINGERPRINT, fingerprint])?;
        if let Some(path) = key_file {
            tx.execute(upsert, params![PSEUDONYMIZE_KEY_FILE, path])?;
        }
        let detail = format!("key fingerprint {fingerprint}");
        Store::audit_on(&tx, ts, actor, "privacy.pseudonymize", None, &detail)?;
        tx.commit()?;
        Ok(PseudonymizeStart::Started)
    }
}

/// Prefix of the settings that mark a context field identifying: `privacy.context.email` =
/// `hash` or `drop` (`app::privacy` owns the meaning; no row means the field is kept).
pub const PRIVACY_CONTEXT_PREFIX: &str = "privacy.context.";

impl Store {
    /// Every identifying context field and its rule text, by field name.
    pub fn context_rules(&self) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT substr(name, length(?1) + 1), value FROM settings
             WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
        )?;
        let rows = stmt
            .query_map([PRIVACY_CONTEXT_PREFIX], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        Ok(rows)
    }

    /// Sets (`Some(rule)`) or clears (`None`: keep the field) the rule of one context field,
    /// with its audit row, in one transaction.
    pub fn set_context_rule(
        &mut self,
        field: &str,
        rule: Option<&str>,
        ts: i64,
        actor: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        let name = format!("{PRIVACY_CONTEXT_PREFIX}{field}");
        match rule {
            Some(rule) => {
                tx.execute(
                    "INSERT INTO settings (name, value) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    params![name, rule],
                )?;
            }
            None => {
                tx.execute("DELETE FROM settings WHERE name = ?1", params![name])?;
            }
        }
        let detail = format!("context field {field}: {}", rule.unwrap_or("keep"));
        Store::audit_on(&tx, ts, actor, "privacy.context", None, &detail)?;
        tx.commit()?;
        Ok(())
    }

    /// How many assignments the database holds (a rule set now does not rewrite them).
    pub fn assignment_count(&self) -> Result<i64> {
        if let Some(w) = &self.warehouse {
            return w
                .assignment_count()
                .map_err(super::data_plane::warehouse_error);
        }
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM assignments", [], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_counters_count_per_name_and_write_no_ingest_runs() {
        let mut store = Store::open_in_memory().expect("store");
        assert_eq!(store.next_run_number("demo").expect("n"), 1);
        assert_eq!(store.next_run_number("demo").expect("n"), 2);
        assert_eq!(store.next_run_number("bench-scan").expect("n"), 1);
        let runs: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM ingest_runs", [], |r| r.get(0))
            .expect("count");
        assert_eq!(runs, 0, "a counter is not an ingest run");
        assert!(
            store.is_empty().expect("empty"),
            "counters make no database non-empty"
        );
    }
}
