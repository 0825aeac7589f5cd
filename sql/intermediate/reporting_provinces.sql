-- grain: one row per (epoch, province_code): a province with data in the epoch's units
-- materialized: memory
-- inputs: commune_months, units, unit_mapping
-- The provinces a deployment covers: those with any committed value (a deletion alone does not
-- count) in the epoch, and in post-2025 units also the new province each old province with data
-- went into (its history is carried across the reform). indicator_rollups lists the units of these
-- provinces (and the nation), so a province's lake does not fill up with empty rows for the others.
-- A province joining makes every period of its epoch refresh.
WITH own AS (
    SELECT DISTINCT u.epoch, u.province_code
    FROM (SELECT DISTINCT epoch, org_unit FROM commune_months) AS d
    JOIN units AS u ON u.epoch = d.epoch AND u.code = d.org_unit AND u.level = 'commune'
)
SELECT epoch, province_code FROM own
UNION
SELECT m.new_epoch AS epoch, m.new_province_code AS province_code
FROM own AS o
JOIN unit_mapping AS m ON m.old_epoch = o.epoch AND m.old_province_code = o.province_code
