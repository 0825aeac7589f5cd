-- grain: one row per (epoch, period, level, unit_code, indicator)
-- materialized: table
-- incremental: period
-- order_by: period, province_code, level, unit_code, indicator
-- join_order: as_written
-- inputs: indicator_rollups, periods
-- The Directive 25 indicators of indicator_rollups (every unit, level and period type, against the
-- target) with the same period a year earlier (2026Q1 → 2025Q1): the same level and unit code in
-- the same epoch's units. Codes were reused with new meanings in 2025, so a unit is never compared
-- with another epoch's unit of the same code; instead, every earlier period also exists in today's
-- units (indicator_rollups carries the old communes' figures across the reform), so 2026Q1 compares
-- with 2025Q1 and 2025Q3 with 2024Q3 in today's units at every level (previous_year_remapped).
-- Written ordered by province within each period: one province's indicators at every level
-- (`WHERE province_code = … AND year = …`) are read from a few row groups, and, the order being
-- tagged on the files, come out ordered by period, level, unit and indicator with no sort.
SELECT
    r.epoch, r.period, r.period_type, p.year, r.level, r.unit_code, r.unit_name, r.province_code,
    r.indicator, r.indicator_name, r.indicator_name_en,
    r.numerator, r.denominator, r.value, r.null_reason,
    r.target, r.target_year, r.target_comparison, r.status, r.gap_to_target,
    p.previous_year_period,
    prev.value AS value_previous_year,
    r.value - prev.value AS change_from_previous_year,
    r.communes_reporting,
    r.communes_expected,
    r.remapped,
    r.estimated,
    COALESCE(prev.remapped, FALSE) AS previous_year_remapped,
    COALESCE(prev.estimated, FALSE) AS previous_year_estimated
-- Joins are built from their left input as written (join_order): the periods, then the previous
-- year's values (keys and three columns); the rows with their names stream past both (built from
-- them, the hash table held 3 M rows of names per chunk of the whole country).
FROM (
    SELECT epoch, period, level, unit_code, indicator, value, remapped, estimated
    FROM indicator_rollups
    WHERE {{ refresh_previous_periods(period) }}
) AS prev
RIGHT JOIN (periods AS p JOIN indicator_rollups AS r ON p.period = r.period)
    ON prev.period = p.previous_year_period AND prev.level = r.level AND prev.unit_code = r.unit_code
    AND prev.indicator = r.indicator AND prev.epoch = r.epoch
WHERE {{ refresh_periods(r.period) }}
