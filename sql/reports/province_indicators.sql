-- grain: one row per (epoch, period, province_code, indicator): the province-level indicator table
-- inputs: indicator_values
SELECT
    epoch, period, period_type, unit_code AS province_code, unit_name AS province,
    indicator, indicator_name, numerator, denominator, value, target, status, gap_to_target,
    communes_reporting, communes_expected
FROM indicator_values
WHERE level = 'province'
ORDER BY epoch, period, province_code, indicator
