-- grain: one row per (epoch, period, org_unit, indicator): the commune's numerator and denominator terms
-- inputs: stg_data_values, indicators, data_elements, period_months
-- Terms are paired month by month first, so a month counts only when the commune reported both sides
-- (a quarter never divides three months of insured visits by two months of visits). Per month:
--   numerator = the num_element's value; or, when num_test is set, 1 if num_element (divided by num_per
--   when given) passes the test against num_threshold, else 0;
--   denominator = the den_element's value; or 1 per reporting commune when den_test = 'count'.
-- Then over the months of each period, each side by its own data element's time aggregation
-- (catalog/data_elements.csv): 'sum' sums the months (flows), 'last' takes the latest month of the
-- period with both sides reported (stocks, DHIS2 LAST), 'average' averages the months with both sides.
-- A 'count' denominator follows the numerator's aggregation (1 per station for a stock, 1 per
-- station-month for a flow). Disaggregations of a data element are summed first.
WITH monthly AS (
    SELECT epoch, period AS month, org_unit, data_element, SUM(value) AS value
    FROM stg_data_values
    GROUP BY epoch, period, org_unit, data_element
),
paired AS (
    SELECT
        n.epoch, n.month, n.org_unit, i.code AS indicator, i.num_test, i.num_threshold,
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
),
terms AS (
    SELECT
        epoch, month, org_unit, indicator, num_aggregation, den_aggregation, denominator,
        CASE
            WHEN num_test IS NULL THEN num_value
            WHEN tested_value IS NULL THEN 0.0
            WHEN num_test = '>=' THEN CASE WHEN tested_value >= num_threshold THEN 1.0 ELSE 0.0 END
            WHEN num_test = '>' THEN CASE WHEN tested_value > num_threshold THEN 1.0 ELSE 0.0 END
            WHEN num_test = '<=' THEN CASE WHEN tested_value <= num_threshold THEN 1.0 ELSE 0.0 END
            WHEN num_test = '<' THEN CASE WHEN tested_value < num_threshold THEN 1.0 ELSE 0.0 END
            WHEN num_test = '=' THEN CASE WHEN tested_value = num_threshold THEN 1.0 ELSE 0.0 END
        END AS numerator
    FROM paired
)
SELECT
    t.epoch, pm.period, pm.period_type, t.org_unit, t.indicator,
    CASE t.num_aggregation
        WHEN 'sum' THEN SUM(t.numerator)
        WHEN 'average' THEN AVG(t.numerator)
        ELSE last_value(t.numerator ORDER BY t.month)
    END AS numerator,
    CASE t.den_aggregation
        WHEN 'sum' THEN SUM(t.denominator)
        WHEN 'average' THEN AVG(t.denominator)
        ELSE last_value(t.denominator ORDER BY t.month)
    END AS denominator,
    COUNT(*) AS months_reported
FROM terms AS t
JOIN period_months AS pm ON pm.month = t.month AND pm.epoch = t.epoch
GROUP BY t.epoch, pm.period, pm.period_type, t.org_unit, t.indicator, t.num_aggregation, t.den_aggregation
