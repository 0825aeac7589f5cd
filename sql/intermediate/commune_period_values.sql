-- grain: one row per (epoch, period, org_unit, data_element) for every period type (month, quarter,
--        half_year, nine_months, year) containing a reported month
-- inputs: stg_data_values, period_months, data_elements
-- Disaggregations are summed first (per month); then months combine by the element's time
-- aggregation: flows sum, stocks take the latest month with data (DHIS2 LAST), 'average' averages.
WITH monthly AS (
    SELECT epoch, period AS month, org_unit, data_element, SUM(value) AS value
    FROM stg_data_values
    GROUP BY epoch, period, org_unit, data_element
)
SELECT
    m.epoch,
    pm.period,
    pm.period_type,
    m.org_unit,
    m.data_element,
    CASE e.time_aggregation
        WHEN 'sum' THEN SUM(m.value)
        WHEN 'average' THEN AVG(m.value)
        ELSE last_value(m.value ORDER BY m.month)
    END AS value,
    COUNT(*) AS months_reported
FROM monthly AS m
JOIN period_months AS pm ON pm.month = m.month AND pm.epoch = m.epoch
JOIN data_elements AS e ON e.code = m.data_element
GROUP BY m.epoch, pm.period, pm.period_type, m.org_unit, m.data_element, e.time_aggregation
