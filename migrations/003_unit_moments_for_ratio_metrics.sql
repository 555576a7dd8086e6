-- Migration 3: per-unit second moments for ratio metrics (CTR = clicks/exposures, average order
-- value = revenue/orders) so their delta-method variances come from rollups in O(arms).
ALTER TABLE arm_rollups ADD COLUMN exposures_sumsq REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN clicks_sumsq REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN clicks_exposures_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN purchases_sumsq REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN revenue_purchases_sum REAL NOT NULL DEFAULT 0;
-- Backfill exactly from the per-unit totals that earlier versions already kept.
UPDATE arm_rollups SET
    exposures_sumsq = (SELECT COALESCE(SUM(exposures * exposures), 0)
                       FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    clicks_sumsq = (SELECT COALESCE(SUM(clicks * clicks), 0)
                    FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    clicks_exposures_sum = (SELECT COALESCE(SUM(clicks * exposures), 0)
                            FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    purchases_sumsq = (SELECT COALESCE(SUM(purchases * purchases), 0)
                       FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    revenue_purchases_sum = (SELECT COALESCE(SUM(revenue * purchases), 0)
                             FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id);
