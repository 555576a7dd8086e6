-- The model registry: what each version is (learner, feature spec, the window and row counts
-- it was trained on, who made it) and its place in the campaign's history. A version starts as
-- a candidate; at most one per campaign is active (the one scoring and reports use); the one it
-- replaced is archived. `activated_at` is when a version last became active, so a rollback
-- with no version named goes back to the one active before the current one.
ALTER TABLE models ADD COLUMN learner TEXT NOT NULL DEFAULT 'logistic';
ALTER TABLE models ADD COLUMN feature_spec TEXT;          -- JSON
ALTER TABLE models ADD COLUMN train_from INTEGER;         -- micros, first assignment seen
ALTER TABLE models ADD COLUMN train_to INTEGER;           -- micros, last assignment seen
ALTER TABLE models ADD COLUMN train_rows INTEGER;
ALTER TABLE models ADD COLUMN validation_rows INTEGER;
ALTER TABLE models ADD COLUMN status TEXT NOT NULL DEFAULT 'candidate'
    CHECK (status IN ('candidate', 'active', 'archived'));
ALTER TABLE models ADD COLUMN created_by TEXT;
ALTER TABLE models ADD COLUMN activated_at INTEGER;

-- Before this version the newest model was the one in use, and each version was in use from
-- the moment it was written until the next one: so the newest per campaign is active, older
-- ones archived, and each was activated when it was created. What the old JSON holds is copied
-- into the new columns (the feature spec, the row counts); the creator is the job's actor.
UPDATE models SET
    status = CASE WHEN version = (SELECT max(m.version) FROM models m
                                  WHERE m.campaign_id = models.campaign_id)
                  THEN 'active' ELSE 'archived' END,
    activated_at = created_at,
    learner = CASE WHEN json_valid(model)
                   THEN coalesce(json_extract(model, '$.kind'), 'logistic') ELSE 'logistic' END,
    feature_spec = CASE WHEN json_valid(model) THEN json_extract(model, '$.features') END,
    train_rows = CASE WHEN json_valid(metrics) THEN json_extract(metrics, '$.train_units') END,
    validation_rows = CASE WHEN json_valid(metrics)
                           THEN json_extract(metrics, '$.holdout_units') END,
    created_by = (SELECT j.actor FROM jobs j WHERE j.id = models.job_id);

-- The store keeps one active version per campaign; the index makes a second one impossible.
CREATE UNIQUE INDEX models_one_active ON models (campaign_id) WHERE status = 'active';

-- RFM as of a time reads a unit's purchases across campaigns before that time.
CREATE INDEX events_purchases_by_unit ON events (unit, ts, value) WHERE kind = 'purchase';
