-- Background jobs started from the console (retrain, causal report, forecast) and the
-- conversion-model registry the retrain job writes. A job row is written when the job starts
-- and finished when it ends, so `health` can report a failed training run and the console can
-- show the last result after a restart.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('retrain', 'causal', 'forecast')),
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    status       TEXT    NOT NULL CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
    actor        TEXT    NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    result       TEXT,            -- JSON of the result when done
    error        TEXT             -- why it failed
);
CREATE INDEX jobs_by_campaign_kind ON jobs (campaign_id, kind, id);

CREATE TABLE models (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    version      INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    job_id       INTEGER REFERENCES jobs(id),
    model        TEXT    NOT NULL,  -- JSON: features, weights, training settings
    metrics      TEXT    NOT NULL,  -- JSON: holdout log loss, AUC, base rate
    UNIQUE (campaign_id, version)
);
