-- Migration 7: rejects are per run. An ingest run has one `ingest_runs` row with its totals
-- and the time of its last commit; each reject names its run and time; the same line of the
-- same source rejected again (re-running the same file) updates its row instead of adding one,
-- counting the runs that rejected it in `seen`.
ALTER TABLE ingest_runs ADD COLUMN finished_at INTEGER;
ALTER TABLE ingest_runs ADD COLUMN lines INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN accepted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN duplicates INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ingest_runs ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rejects ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;
-- Earlier versions stored a line again on every re-run: keep the newest row of each line,
-- counting the copies it replaces.
CREATE TEMP TABLE reject_keep (id INTEGER PRIMARY KEY, copies INTEGER NOT NULL);
INSERT INTO reject_keep (id, copies)
    SELECT MAX(id), COUNT(*) FROM rejects GROUP BY source, line, raw;
DELETE FROM rejects WHERE id NOT IN (SELECT id FROM reject_keep);
UPDATE rejects SET seen = (SELECT copies FROM reject_keep k WHERE k.id = rejects.id);
DROP TABLE reject_keep;
CREATE UNIQUE INDEX rejects_by_line ON rejects (source, line, raw);
CREATE INDEX rejects_by_run ON rejects (run_id, id);
UPDATE ingest_runs SET
    rejected = (SELECT COUNT(*) FROM rejects r WHERE r.run_id = ingest_runs.id),
    finished_at = started_at;
