-- Version 12: campaigns may be of kind 'observational' (treatment chosen outside liftdeck).
-- The kind column's CHECK is widened in place with SQLite's documented procedure for loosening
-- a CHECK constraint (https://sqlite.org/lang_altertable.html, "making other kinds of table
-- schema changes"): no stored row changes format, and every row valid before stays valid, so
-- the table is not rebuilt (which would touch every foreign key that references it).
PRAGMA writable_schema = ON;
UPDATE sqlite_master
SET sql = replace(sql, 'CHECK (kind IN (''ab'', ''bandit''))',
                       'CHECK (kind IN (''ab'', ''bandit'', ''observational''))')
WHERE type = 'table' AND name = 'campaigns';
-- RESET makes this connection re-read the schema it just changed.
PRAGMA writable_schema = RESET;
PRAGMA writable_schema = OFF;
