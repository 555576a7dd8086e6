-- Migration 4: per-campaign report settings (JSON domain::ReportSettings): the horizon N* of
-- the always-valid intervals, the multiple-testing correction, alpha, the guardrail margin.
ALTER TABLE campaigns ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
