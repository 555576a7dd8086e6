-- Migration 2: export and the stale-data check read a campaign's events in time order;
-- without this index both scan the whole events table.
CREATE INDEX events_campaign_ts ON events (campaign_id, ts);
