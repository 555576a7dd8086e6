//! The SQL the ingest benchmark feeds the sqlite3 shell as its baseline (`app::bench::sqlite3`):
//! kept here because store/ is the only module with SQL strings. Fixed text, nothing spliced.

/// Same journal settings as liftdeck, and plain tables: no indexes, no rollups.
pub const IMPORT_PRELUDE: &str = "PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE events (event_id TEXT, campaign TEXT, unit TEXT, kind TEXT, value REAL, cost REAL, ts TEXT);
CREATE TABLE assignments (campaign TEXT, unit TEXT, arm TEXT, propensity REAL, context TEXT, ts TEXT);
";

/// How many rows the shell imported into each table.
pub const COUNT_EVENTS: &str = "SELECT count(*) FROM events";
pub const COUNT_ASSIGNMENTS: &str = "SELECT count(*) FROM assignments";
