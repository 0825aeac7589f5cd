-- grain: one row per (epoch, province_code): a province with data in the epoch
-- materialized: memory
-- inputs: commune_months, units
-- The provinces a deployment covers: those with any committed value (a deletion alone does not
-- count) in the epoch. indicator_rollups lists the units of these provinces (and the nation), so a
-- province's lake does not fill up with empty rows for the other 62. A province joining makes every
-- period of its epoch refresh.
SELECT DISTINCT u.epoch, u.province_code
FROM (SELECT DISTINCT epoch, org_unit FROM commune_months) AS d
JOIN units AS u ON u.epoch = d.epoch AND u.code = d.org_unit AND u.level = 'commune'
