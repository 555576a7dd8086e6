-- Version 14: erasure on request (step 9). A tombstone per forgotten customer, so a replayed
-- ingest of an old file does not bring them back. The id is never the raw one: the stored
-- pseudonym when the database pseudonymises, else a salted SHA-256 of the raw id (the salt is
-- the `forget.salt` setting, random per database, so the table alone cannot be tested against
-- a list of guessed ids without the database's salt).
CREATE TABLE forgotten_units (
    tombstone    TEXT    NOT NULL,
    -- The campaign the erasure was limited to (`forget --campaign`), 0 for every campaign.
    campaign_id  INTEGER NOT NULL DEFAULT 0,
    forgotten_at INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    PRIMARY KEY (tombstone, campaign_id)
) WITHOUT ROWID;
