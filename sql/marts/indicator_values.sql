-- grain: one row per (epoch, period, level, unit_code, indicator)
-- materialized: table
-- incremental: period
-- order_by: period, province_code
-- inputs: indicator_rollups, periods
-- The Directive 25 indicators of indicator_rollups (every unit, level and period type, against the
-- target) with the same period a year earlier (2026Q1 → 2025Q1) when it is comparable: the same
-- level and unit code in the same epoch (codes were reused with new meanings in 2025, so a
-- province or commune is never compared across the reform), or the nation, which is the same unit
-- `VN` in both epochs. A period that straddles the reform (2025, 2025N9, 2025YTD07–12) has no
-- value, so periods a year after it have no previous-year value either.
-- Written ordered by province within each period: one province's indicators at every level
-- (`WHERE province_code = … AND year = …`) are read from a few row groups.
SELECT
    r.epoch, r.period, r.period_type, p.year, r.level, r.unit_code, r.unit_name, r.province_code,
    r.indicator, r.indicator_name, r.indicator_name_en,
    r.numerator, r.denominator, r.value, r.null_reason,
    r.target, r.target_year, r.target_comparison, r.status, r.gap_to_target,
    p.previous_year_period,
    prev.value AS value_previous_year,
    r.value - prev.value AS change_from_previous_year,
    r.communes_reporting,
    r.communes_expected
FROM indicator_rollups AS r
JOIN periods AS p ON p.period = r.period
LEFT JOIN (
    SELECT epoch, period, level, unit_code, indicator, value
    FROM indicator_rollups
    WHERE {{ refresh_previous_periods(period) }}
) AS prev
    ON prev.period = p.previous_year_period AND prev.level = r.level AND prev.unit_code = r.unit_code
    AND prev.indicator = r.indicator AND (prev.epoch = r.epoch OR r.level = 'national')
WHERE {{ refresh_periods(r.period) }}
