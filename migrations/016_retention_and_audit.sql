-- Version 16: retention (prune) and the audit log's SSH client (step 9).
--
-- `client` is the address part of SSH_CONNECTION (else SSH_CLIENT) of the process that wrote
-- the row; NULL for a local session. Old rows keep NULL (the actor already carried the
-- address as `name@addr`).
ALTER TABLE audit_log ADD COLUMN client TEXT;
-- The console's audit view filters by action as well as by campaign.
CREATE INDEX audit_log_action ON audit_log (action, id);

-- One row per campaign that `prune` has touched: every event before `pruned_before` (micros)
-- is gone and every assignment before it has lost its context, so nothing before it can be
-- recomputed from raw rows. Rollups and unit_totals are kept whole. `pruned_before` only ever
-- grows (a second prune with a shorter window moves it; a longer one leaves it).
CREATE TABLE prune_marks (
    campaign_id       INTEGER PRIMARY KEY REFERENCES campaigns(id),
    pruned_before     INTEGER NOT NULL,
    pruned_at         INTEGER NOT NULL,   -- micros, the last prune that touched the campaign
    actor             TEXT    NOT NULL,
    events_deleted    INTEGER NOT NULL DEFAULT 0,   -- over every prune
    contexts_cleared  INTEGER NOT NULL DEFAULT 0
);
