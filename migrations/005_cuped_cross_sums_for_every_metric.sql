-- Migration 5: CUPED cross sums with the covariate x = pre_value for cost, profit, add-to-cart,
-- CTR and AOV (conversion and revenue had theirs from version 1), so every metric can be
-- adjusted from rollups in O(arms). Units without a pre_value count with x = 0, as in x_sum.
ALTER TABLE arm_rollups ADD COLUMN x_cost_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN x_cart_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN x_exposures_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN x_clicks_sum REAL NOT NULL DEFAULT 0;
ALTER TABLE arm_rollups ADD COLUMN x_purchases_sum REAL NOT NULL DEFAULT 0;
-- Backfill exactly from the per-unit totals, which hold each unit's pre_value and its counts
-- since version 1 (as migration 3 does); `verify` then checks them against the raw events.
UPDATE arm_rollups SET
    x_cost_sum = (SELECT COALESCE(SUM(COALESCE(pre_value, 0.0) * cost), 0)
                  FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    x_cart_sum = (SELECT COALESCE(SUM(CASE WHEN add_to_carts > 0 THEN COALESCE(pre_value, 0.0)
                                           ELSE 0.0 END), 0)
                  FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    x_exposures_sum = (SELECT COALESCE(SUM(COALESCE(pre_value, 0.0) * exposures), 0)
                       FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    x_clicks_sum = (SELECT COALESCE(SUM(COALESCE(pre_value, 0.0) * clicks), 0)
                    FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id),
    x_purchases_sum = (SELECT COALESCE(SUM(COALESCE(pre_value, 0.0) * purchases), 0)
                       FROM unit_totals u WHERE u.arm_id = arm_rollups.arm_id);
