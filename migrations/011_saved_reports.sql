-- Saved reports: every causal, difference-in-differences and uplift report a job produced,
-- with what it was asked (parameters), the data it saw (window and unit count), the model
-- version it used, its result and who ran it, so it can be listed, shown and exported again
-- after the data has moved on.
CREATE TABLE reports (
    id            INTEGER PRIMARY KEY,
    campaign_id   INTEGER NOT NULL REFERENCES campaigns(id),
    kind          TEXT    NOT NULL,   -- causal, did, uplift (validated by the app)
    created_at    INTEGER NOT NULL,   -- micros
    actor         TEXT    NOT NULL,
    job_id        INTEGER REFERENCES jobs(id),
    parameters    TEXT    NOT NULL,   -- JSON: the options the report ran with
    window_from   INTEGER,            -- micros: first assignment or event it read
    window_to     INTEGER,            -- micros: last assignment or event it read
    units         INTEGER NOT NULL,   -- units assigned when it ran
    model_version INTEGER,            -- the conversion model version it used, if any
    result        TEXT    NOT NULL    -- JSON of the report
);
CREATE INDEX reports_by_campaign ON reports (campaign_id, id);

-- Job kinds were a CHECK list; new report kinds (did, uplift) run as jobs too, so the kind is
-- validated by the app instead. SQLite cannot alter a CHECK: the table is rebuilt (migrations
-- run with foreign keys off and are checked with `foreign_key_check` before they commit, the
-- procedure SQLite documents for this).
CREATE TABLE jobs_new (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    status       TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    actor        TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    result       TEXT,
    error        TEXT
);
INSERT INTO jobs_new SELECT id, kind, campaign_id, status, actor, started_at, finished_at,
    result, error FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_by_campaign_kind ON jobs (campaign_id, kind, id);
