-- Version 13: the forecast ledger. A campaign started from a plan keeps the forecast it was
-- started with, frozen (the plan, the whole forecast with its intervals and draws, the
-- forecaster's description and the hash of the data it learned from, when and by whom), and,
-- once it has stopped and been reviewed, the effect measured against it. One frozen forecast
-- per campaign (the first: resuming keeps it); one review per frozen forecast (a second
-- review replaces the first with the effect measured then).
CREATE TABLE forecasts (
    id           INTEGER PRIMARY KEY,
    campaign_id  INTEGER NOT NULL UNIQUE REFERENCES campaigns(id),
    offer_type   TEXT    NOT NULL,
    plan         TEXT    NOT NULL,   -- JSON of the plan
    forecast     TEXT    NOT NULL,   -- JSON of the PlanForecast (intervals, draws, training)
    model        TEXT    NOT NULL,   -- the forecaster and what it learned from, in words
    data_hash    TEXT    NOT NULL,   -- training.data_hash
    frozen_at    INTEGER NOT NULL,   -- micros
    actor        TEXT    NOT NULL
);
CREATE INDEX forecasts_by_offer_type ON forecasts (offer_type, id);

CREATE TABLE forecast_reviews (
    forecast_id  INTEGER PRIMARY KEY REFERENCES forecasts(id),
    reviewed_at  INTEGER NOT NULL,   -- micros
    actor        TEXT    NOT NULL,
    arm          TEXT    NOT NULL,   -- the treated arm whose effect was measured
    measured     REAL    NOT NULL,   -- incremental orders measured by the causal report
    measured_se  REAL    NOT NULL,   -- their standard error
    score        TEXT    NOT NULL    -- JSON of the ledger's score of this forecast
);
