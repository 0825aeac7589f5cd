-- grain: one row per (epoch, period, org_unit, indicator): the commune's numerator and denominator terms
-- inputs: commune_period_values, indicators
-- Numerator: the num_element's value; or, when num_test is set, 1 if num_element (divided by
-- num_per when given) passes the test against num_threshold, else 0.
-- Denominator: the den_element's value; or 1 per commune reporting den_element when den_test = 'count'.
-- A commune contributes only when it reported both sides, so ratios are never inflated by half-reports.
WITH terms AS (
    SELECT
        n.epoch, n.period, n.period_type, n.org_unit, i.code AS indicator, i.num_test, i.num_threshold,
        n.value AS num_value,
        CASE WHEN i.num_per IS NULL THEN n.value ELSE n.value / NULLIF(p.value, 0) END AS tested_value,
        CASE WHEN i.den_test = 'count' THEN 1.0 ELSE d.value END AS denominator
    FROM indicators AS i
    JOIN commune_period_values AS n ON n.data_element = i.num_element
    JOIN commune_period_values AS d
        ON d.data_element = i.den_element AND d.epoch = n.epoch AND d.period = n.period AND d.org_unit = n.org_unit
    LEFT JOIN commune_period_values AS p
        ON p.data_element = i.num_per AND p.epoch = n.epoch AND p.period = n.period AND p.org_unit = n.org_unit
)
SELECT
    epoch, period, period_type, org_unit, indicator,
    CASE
        WHEN num_test IS NULL THEN num_value
        WHEN tested_value IS NULL THEN 0.0
        WHEN num_test = '>=' THEN CASE WHEN tested_value >= num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '>' THEN CASE WHEN tested_value > num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '<=' THEN CASE WHEN tested_value <= num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '<' THEN CASE WHEN tested_value < num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '=' THEN CASE WHEN tested_value = num_threshold THEN 1.0 ELSE 0.0 END
    END AS numerator,
    denominator
FROM terms
