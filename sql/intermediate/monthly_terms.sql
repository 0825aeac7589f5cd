-- grain: one row per (epoch, period, org_unit, indicator): a commune's numerator and denominator terms of one month (period is the month, YYYYMM)
-- materialized: table
-- incremental: month
-- inputs: monthly_values, indicators, data_elements
-- Each indicator's two sides paired month by month: a row exists only when the commune reported
-- both sides that month (a quarter never divides three months of insured visits by two months of
-- visits). Per month:
--   numerator = the num_element's value; or, when num_test is set, 1 if num_element (divided by num_per
--   when given) passes the test against num_threshold, else 0;
--   denominator = the den_element's value; or 1 per reporting commune when den_test = 'count'.
-- num_aggregation and den_aggregation say how indicator_terms aggregates each side over a period's
-- months (the data element's time_aggregation; a 'count' denominator follows the numerator's).
-- Materialised, month by month, because every period type reads the same months: computed once
-- per month instead of once per period chunk and side (it was the costliest step of the rollups).
WITH monthly AS (
    SELECT epoch, period AS month, org_unit, data_element, value
    FROM monthly_values
    WHERE {{ refresh_months(period) }}
),
paired AS (
    SELECT
        n.epoch, n.month, n.org_unit, i.code AS indicator, i.counts_stations, i.num_test, i.num_threshold,
        ne.time_aggregation AS num_aggregation,
        CASE WHEN i.den_test = 'count' THEN ne.time_aggregation ELSE de.time_aggregation END AS den_aggregation,
        n.value AS num_value,
        CASE WHEN i.num_per IS NULL THEN n.value ELSE n.value / NULLIF(p.value, 0) END AS tested_value,
        CASE WHEN i.den_test = 'count' THEN 1.0 ELSE d.value END AS denominator
    FROM indicators AS i
    JOIN data_elements AS ne ON ne.code = i.num_element
    JOIN data_elements AS de ON de.code = i.den_element
    JOIN monthly AS n ON n.data_element = i.num_element
    JOIN monthly AS d
        ON d.data_element = i.den_element AND d.epoch = n.epoch AND d.month = n.month AND d.org_unit = n.org_unit
    LEFT JOIN monthly AS p
        ON p.data_element = i.num_per AND p.epoch = n.epoch AND p.month = n.month AND p.org_unit = n.org_unit
)
SELECT
    epoch, month AS period, org_unit, indicator,
    CASE
        WHEN num_test IS NULL THEN num_value
        WHEN tested_value IS NULL THEN 0.0
        WHEN num_test = '>=' THEN CASE WHEN tested_value >= num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '>' THEN CASE WHEN tested_value > num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '<=' THEN CASE WHEN tested_value <= num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '<' THEN CASE WHEN tested_value < num_threshold THEN 1.0 ELSE 0.0 END
        WHEN num_test = '=' THEN CASE WHEN tested_value = num_threshold THEN 1.0 ELSE 0.0 END
    END AS numerator,
    denominator,
    num_aggregation, den_aggregation, counts_stations
FROM paired
