-- grain: one row per (epoch, period, indicator) at national level, for the latest month and year of each epoch
-- inputs: indicator_values
WITH latest AS (
    SELECT epoch, period_type, MAX(period) AS period
    FROM indicator_values
    WHERE level = 'national' AND period_type IN ('month', 'year')
    GROUP BY epoch, period_type
)
SELECT v.epoch, v.period, v.indicator, v.indicator_name, v.value, v.target, v.status, v.communes_reporting, v.communes_expected
FROM indicator_values AS v
JOIN latest AS l ON l.epoch = v.epoch AND l.period_type = v.period_type AND l.period = v.period
WHERE v.level = 'national'
ORDER BY v.epoch, v.period, v.indicator
