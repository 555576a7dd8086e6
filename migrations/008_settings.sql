-- Version 8: database-wide settings, one row per name. The first is `demo`: a database that
-- `liftdeck demo` created and may write simulated traffic into (it refuses every other).
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
