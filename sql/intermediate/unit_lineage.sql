-- grain: one row per (from_epoch, from_code, to_epoch, to_code): a commune whose figures count, whole or in part, for a commune in the units of an epoch
-- materialized: memory
-- inputs: units, unit_mapping
-- How reported figures reach the communes of each epoch's units. Every commune carries its own
-- figures (weight 1). An old (pre-2025) commune also carries its figures into each new commune it
-- went into on 2025-07-01, with the edge's weight (1 for a full edge; for a partial edge the share
-- in reference/admin-units/reform_weights.csv, or an equal share, marked estimated) and whether it is
-- the new commune's main predecessor (the new commune kept its code). Split figures use the weight;
-- station figures come from the main predecessor alone (see tonghop_core::reform).
SELECT
    epoch AS from_epoch, code AS from_code, epoch AS to_epoch, code AS to_code,
    1.0 AS weight, TRUE AS main_predecessor, FALSE AS estimated
FROM units
WHERE level = 'commune'
UNION ALL
SELECT old_epoch, old_code, new_epoch, new_code, weight, main_predecessor, estimated
FROM unit_mapping
WHERE old_level = 'commune'
