-- Version 15: differentially private releases and each campaign's privacy budget (step 9).
-- A campaign's total (epsilon, delta) is set by an operator; every DP release spends part of
-- it and is recorded here in the transaction that checked what was left, so the sum of a
-- campaign's releases never passes its budget. Without a budget row DP releases are refused.
CREATE TABLE privacy_budgets (
    campaign_id  INTEGER PRIMARY KEY REFERENCES campaigns(id),
    epsilon      REAL    NOT NULL CHECK (epsilon > 0),
    delta        REAL    NOT NULL CHECK (delta >= 0 AND delta < 1),
    set_at       INTEGER NOT NULL,   -- micros
    actor        TEXT    NOT NULL
);

CREATE TABLE dp_releases (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    ts           INTEGER NOT NULL,   -- micros
    actor        TEXT    NOT NULL,
    epsilon      REAL    NOT NULL CHECK (epsilon > 0),
    delta        REAL    NOT NULL CHECK (delta >= 0),
    released     TEXT    NOT NULL    -- JSON: report, metric, caps, mechanism, statistics, scales
);
CREATE INDEX dp_releases_by_campaign ON dp_releases (campaign_id, ts);
