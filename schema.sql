-- liftdeck schema, version 1. The single source of truth: embedded with include_str! and
-- applied when PRAGMA user_version is 0. Later changes are numbered migrations in
-- src/store/migrate.rs; never edit this file in a way that changes an existing database.
--
-- Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE campaigns (
    id            INTEGER PRIMARY KEY,
    key           TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('ab', 'bandit')),
    status        TEXT    NOT NULL DEFAULT 'draft'
                          CHECK (status IN ('draft', 'running', 'paused', 'stopped')),
    seed          INTEGER NOT NULL,
    traffic       REAL    NOT NULL CHECK (traffic > 0 AND traffic <= 1),
    control_arm   TEXT,
    metric        TEXT    NOT NULL DEFAULT 'purchase',
    guardrails    TEXT    NOT NULL DEFAULT '[]',  -- JSON array of metric names
    custom_kinds  TEXT    NOT NULL DEFAULT '[]',  -- JSON array of extra event kinds
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    stopped_at    INTEGER
);

CREATE TABLE arms (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    key          TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    weight       REAL    NOT NULL CHECK (weight >= 0),
    offer        TEXT    NOT NULL DEFAULT '{"type":"none"}',  -- JSON domain::Offer
    UNIQUE (campaign_id, key)
);

-- Weight changes over time (bandit allocations append here; the first row is the creation).
CREATE TABLE arm_weight_history (
    arm_id   INTEGER NOT NULL REFERENCES arms(id),
    ts       INTEGER NOT NULL,
    weight   REAL    NOT NULL
);
CREATE INDEX arm_weight_history_arm ON arm_weight_history (arm_id, ts);

-- One assignment per unit per campaign; the propensity it was made with is kept for
-- off-policy evaluation and IPW later.
CREATE TABLE assignments (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    unit         TEXT    NOT NULL,
    arm_id       INTEGER NOT NULL REFERENCES arms(id),
    propensity   REAL    NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    context      TEXT    NOT NULL DEFAULT '{}',
    ts           INTEGER NOT NULL,
    -- Lines that tried to put this unit in another arm (multiple exposure).
    conflicts    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, unit)
) WITHOUT ROWID;

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    event_id     TEXT    NOT NULL UNIQUE,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    unit         TEXT    NOT NULL,
    arm_id       INTEGER NOT NULL REFERENCES arms(id),
    kind         TEXT    NOT NULL,
    value        REAL    NOT NULL CHECK (value >= 0),
    cost         REAL    NOT NULL CHECK (cost >= 0),
    ts           INTEGER NOT NULL
);

-- Per-unit running totals: the state that makes per-unit sums of squares O(1) per event.
CREATE TABLE unit_totals (
    campaign_id   INTEGER NOT NULL,
    unit          TEXT    NOT NULL,
    arm_id        INTEGER NOT NULL,
    pre_value     REAL,                 -- CUPED covariate from the assignment context
    exposures     INTEGER NOT NULL DEFAULT 0,
    clicks        INTEGER NOT NULL DEFAULT 0,
    add_to_carts  INTEGER NOT NULL DEFAULT 0,
    purchases     INTEGER NOT NULL DEFAULT 0,
    custom_events INTEGER NOT NULL DEFAULT 0,
    revenue       REAL    NOT NULL DEFAULT 0,
    cost          REAL    NOT NULL DEFAULT 0,
    last_ts       INTEGER,
    PRIMARY KEY (campaign_id, unit),
    FOREIGN KEY (campaign_id, unit) REFERENCES assignments(campaign_id, unit)
) WITHOUT ROWID;

-- Per-arm sufficient statistics. `*_units` count units with at least one such event; revenue
-- and cost moments are over per-unit totals; x is the unit's pre_value (0 when absent, with
-- x_units counting units that had one).
CREATE TABLE arm_rollups (
    arm_id          INTEGER PRIMARY KEY REFERENCES arms(id),
    units           INTEGER NOT NULL DEFAULT 0,
    conflicted_units INTEGER NOT NULL DEFAULT 0,
    exposures       INTEGER NOT NULL DEFAULT 0,
    exposed_units   INTEGER NOT NULL DEFAULT 0,
    clicks          INTEGER NOT NULL DEFAULT 0,
    click_units     INTEGER NOT NULL DEFAULT 0,
    add_to_carts    INTEGER NOT NULL DEFAULT 0,
    cart_units      INTEGER NOT NULL DEFAULT 0,
    purchases       INTEGER NOT NULL DEFAULT 0,
    conversions     INTEGER NOT NULL DEFAULT 0,  -- units with >= 1 purchase
    custom_events   INTEGER NOT NULL DEFAULT 0,
    revenue_sum     REAL    NOT NULL DEFAULT 0,
    revenue_sumsq   REAL    NOT NULL DEFAULT 0,
    cost_sum        REAL    NOT NULL DEFAULT 0,
    cost_sumsq      REAL    NOT NULL DEFAULT 0,
    revenue_cost_sum REAL   NOT NULL DEFAULT 0,  -- sum of r*c per unit, for profit variance
    x_units         INTEGER NOT NULL DEFAULT 0,
    x_sum           REAL    NOT NULL DEFAULT 0,
    x_sumsq         REAL    NOT NULL DEFAULT 0,
    x_revenue_sum   REAL    NOT NULL DEFAULT 0,  -- sum of x*r per unit, for CUPED
    x_conversion_sum REAL   NOT NULL DEFAULT 0,  -- sum of x over converted units
    last_event_ts   INTEGER
);

-- Custom event kinds per arm.
CREATE TABLE arm_custom_rollups (
    arm_id   INTEGER NOT NULL REFERENCES arms(id),
    kind     TEXT    NOT NULL,
    events   INTEGER NOT NULL DEFAULT 0,
    units    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (arm_id, kind)
) WITHOUT ROWID;

-- Per-unit counts of custom event kinds (rare), so "units with >= 1 such event" stays exact.
CREATE TABLE unit_custom_totals (
    campaign_id  INTEGER NOT NULL,
    unit         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    events       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, unit, kind)
) WITHOUT ROWID;

-- Per-arm, per-minute increments for charts (cumulative series are prefix sums).
CREATE TABLE arm_buckets (
    arm_id       INTEGER NOT NULL REFERENCES arms(id),
    bucket       INTEGER NOT NULL,  -- start of the minute, microseconds
    new_units    INTEGER NOT NULL DEFAULT 0,
    exposures    INTEGER NOT NULL DEFAULT 0,
    clicks       INTEGER NOT NULL DEFAULT 0,
    purchases    INTEGER NOT NULL DEFAULT 0,
    conversions  INTEGER NOT NULL DEFAULT 0,  -- units whose first purchase fell in this minute
    revenue      REAL    NOT NULL DEFAULT 0,
    cost         REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (arm_id, bucket)
) WITHOUT ROWID;

CREATE TABLE ingest_runs (
    id         INTEGER PRIMARY KEY,
    source     TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    actor      TEXT    NOT NULL
);

CREATE TABLE rejects (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER REFERENCES ingest_runs(id),
    source     TEXT    NOT NULL,
    line       INTEGER NOT NULL,
    reason     TEXT    NOT NULL,   -- a stable code, e.g. unknown_campaign
    detail     TEXT    NOT NULL,   -- the human message, naming the field
    raw        TEXT    NOT NULL,
    ts         INTEGER NOT NULL
);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    ts        INTEGER NOT NULL,
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    campaign  TEXT,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_campaign ON audit_log (campaign, ts);
