-- Migration 9: bandits. A bandit campaign's weights move at each allocation update; each
-- update starts an allocation period, and every assignment records the period it was drawn in,
-- so reports can compare arms within periods (pooling across periods whose weights and base
-- rates differ is Simpson's paradox) and off-policy evaluation knows the policy in force.

-- How the campaign learns: JSON domain::BanditConfig; NULL = every default.
ALTER TABLE campaigns ADD COLUMN bandit TEXT;

CREATE TABLE allocation_periods (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    period       INTEGER NOT NULL CHECK (period >= 1),  -- 1, 2, ... per campaign
    started_at   INTEGER NOT NULL,
    -- explore (uniform until enough units), exploit, winner (threshold reached), paused
    -- (weights frozen), fixed (an A/B test's one period).
    stage        TEXT    NOT NULL
                         CHECK (stage IN ('explore', 'exploit', 'winner', 'paused', 'fixed')),
    units        INTEGER NOT NULL DEFAULT 0,   -- the campaign's units when the period began
    weights      TEXT    NOT NULL,             -- JSON array in arm position order, sums to 1
    summary      TEXT    NOT NULL DEFAULT '{}', -- JSON: the posterior (or model) behind them
    PRIMARY KEY (campaign_id, period)
) WITHOUT ROWID;

ALTER TABLE assignments ADD COLUMN period INTEGER NOT NULL DEFAULT 1;
ALTER TABLE unit_totals ADD COLUMN period INTEGER NOT NULL DEFAULT 1;

-- The per-arm rollups split by allocation period: the same columns as arm_rollups (a test
-- checks), summed over the units assigned in that period.
CREATE TABLE arm_period_rollups (
    arm_id          INTEGER NOT NULL REFERENCES arms(id),
    period          INTEGER NOT NULL,
    units           INTEGER NOT NULL DEFAULT 0,
    conflicted_units INTEGER NOT NULL DEFAULT 0,
    exposures       INTEGER NOT NULL DEFAULT 0,
    exposed_units   INTEGER NOT NULL DEFAULT 0,
    clicks          INTEGER NOT NULL DEFAULT 0,
    click_units     INTEGER NOT NULL DEFAULT 0,
    add_to_carts    INTEGER NOT NULL DEFAULT 0,
    cart_units      INTEGER NOT NULL DEFAULT 0,
    purchases       INTEGER NOT NULL DEFAULT 0,
    conversions     INTEGER NOT NULL DEFAULT 0,
    custom_events   INTEGER NOT NULL DEFAULT 0,
    revenue_sum     REAL    NOT NULL DEFAULT 0,
    revenue_sumsq   REAL    NOT NULL DEFAULT 0,
    cost_sum        REAL    NOT NULL DEFAULT 0,
    cost_sumsq      REAL    NOT NULL DEFAULT 0,
    revenue_cost_sum REAL   NOT NULL DEFAULT 0,
    x_units         INTEGER NOT NULL DEFAULT 0,
    x_sum           REAL    NOT NULL DEFAULT 0,
    x_sumsq         REAL    NOT NULL DEFAULT 0,
    x_revenue_sum   REAL    NOT NULL DEFAULT 0,
    x_conversion_sum REAL   NOT NULL DEFAULT 0,
    last_event_ts   INTEGER,
    exposures_sumsq REAL    NOT NULL DEFAULT 0,
    clicks_sumsq    REAL    NOT NULL DEFAULT 0,
    clicks_exposures_sum REAL NOT NULL DEFAULT 0,
    purchases_sumsq REAL    NOT NULL DEFAULT 0,
    revenue_purchases_sum REAL NOT NULL DEFAULT 0,
    x_cost_sum      REAL    NOT NULL DEFAULT 0,
    x_cart_sum      REAL    NOT NULL DEFAULT 0,
    x_exposures_sum REAL    NOT NULL DEFAULT 0,
    x_clicks_sum    REAL    NOT NULL DEFAULT 0,
    x_purchases_sum REAL    NOT NULL DEFAULT 0,
    PRIMARY KEY (arm_id, period)
) WITHOUT ROWID;

-- Before this version no running campaign's weights could change (only drafts are edited), so
-- every existing campaign had exactly one period: its creation weights, normalised.
INSERT INTO allocation_periods (campaign_id, period, started_at, stage, units, weights)
SELECT c.id, 1, c.created_at,
       CASE c.kind WHEN 'bandit' THEN 'explore' ELSE 'fixed' END, 0,
       (SELECT json_group_array(a.weight / t.total)
        FROM (SELECT weight FROM arms WHERE campaign_id = c.id ORDER BY position) a,
             (SELECT SUM(weight) AS total FROM arms WHERE campaign_id = c.id) t)
FROM campaigns c;

INSERT INTO arm_period_rollups
SELECT arm_id, 1, units, conflicted_units, exposures, exposed_units, clicks, click_units,
       add_to_carts, cart_units, purchases, conversions, custom_events, revenue_sum,
       revenue_sumsq, cost_sum, cost_sumsq, revenue_cost_sum, x_units, x_sum, x_sumsq,
       x_revenue_sum, x_conversion_sum, last_event_ts, exposures_sumsq, clicks_sumsq,
       clicks_exposures_sum, purchases_sumsq, revenue_purchases_sum, x_cost_sum, x_cart_sum,
       x_exposures_sum, x_clicks_sum, x_purchases_sum
FROM arm_rollups;
