-- grain: one row per (epoch, period, level, unit_code, indicator) with at least one reporting commune under the unit
-- materialized: table
-- incremental: period
-- join_order: as_written
-- inputs: commune_terms, unit_ancestors
-- The sums behind the Directive 25 indicators, for every unit of every level and every period in
-- which a commune under the unit reported both sides of an indicator: the communes' numerators and
-- denominators added up (value = Σ numerator / Σ denominator × factor at every level, never an
-- average of commune ratios) and how many communes took part. Both epochs' units: a period before
-- 2025-07-01 in old units, and every period in today's units, the months before the reform carried
-- across it (commune_terms: remapped, estimated).
-- Keys and numbers only: indicator_values puts these rows on the grid of every unit, indicator and
-- period (unreported ones too), with the names, the targets and the same period a year earlier,
-- which it reads from here as well. Written once, the names and the grid are encoded once.
-- A commune's own sums are its terms (commune_terms: one row per commune, period and indicator);
-- the levels above add up their communes' terms (an aggregate of a few hundred thousand groups,
-- not one of every commune's rows).
SELECT
    epoch, period, 'commune' AS level, org_unit AS unit_code, indicator, numerator, denominator,
    1 AS communes_reporting, remapped, estimated
FROM commune_terms
UNION ALL
SELECT
    t.epoch, t.period, a.level, a.unit_code, t.indicator,
    SUM(t.numerator) AS numerator,
    SUM(t.denominator) AS denominator,
    -- commune_terms has one row per commune, period and indicator: counting rows counts communes.
    COUNT(*) AS communes_reporting,
    bool_or(t.remapped) AS remapped,
    bool_or(t.estimated_above) AS estimated
-- Joins are built from their left input as written (join_order): the units' ancestors (tens of
-- thousands of rows) are held and the communes' terms stream past them.
FROM unit_ancestors AS a
JOIN commune_terms AS t ON t.epoch = a.epoch AND t.org_unit = a.commune_code
WHERE a.level <> 'commune'
GROUP BY t.epoch, t.period, a.level, a.unit_code, t.indicator
