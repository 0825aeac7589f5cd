-- grain: one row per (epoch, period, level, unit_code, data_element): a data element of a unit over a period, as DHIS2 receives it
-- inputs: monthly_values, data_elements, period_months, unit_ancestors, units
-- What `tonghop export dhis2` sends. A commune's value for the period follows its data element's
-- time aggregation (catalog/data_elements.csv), as in indicator_terms: 'sum' adds the months (flows),
-- 'last' takes the commune's latest month with a value in the period (stocks, DHIS2 LAST), 'average'
-- averages its months with a value. A unit's value is then the sum over its communes (disaggregations
-- are summed already in monthly_values). A unit where no commune reported the element has no row:
-- DHIS2 gets no value rather than a zero.
WITH per_commune AS (
    SELECT
        m.epoch, pm.period, pm.period_type, m.org_unit, m.data_element, e.time_aggregation,
        SUM(m.value) AS value_sum, AVG(m.value) AS value_avg, MAX(m.period) AS last_month
    FROM period_months AS pm
    JOIN monthly_values AS m ON m.epoch = pm.epoch AND m.period = pm.month
    JOIN data_elements AS e ON e.code = m.data_element
    GROUP BY m.epoch, pm.period, pm.period_type, m.org_unit, m.data_element, e.time_aggregation
),
commune_values AS (
    SELECT
        c.epoch, c.period, c.period_type, c.org_unit, c.data_element,
        CASE c.time_aggregation WHEN 'sum' THEN c.value_sum WHEN 'average' THEN c.value_avg ELSE l.value END AS value
    FROM per_commune AS c
    -- 'last': the value of the latest month (a join, as in indicator_terms).
    JOIN monthly_values AS l
        ON l.epoch = c.epoch AND l.org_unit = c.org_unit AND l.data_element = c.data_element AND l.period = c.last_month
)
SELECT
    v.epoch, v.period, v.period_type, a.level, a.unit_code, u.province_code, u.district_code,
    v.data_element, SUM(v.value) AS value, COUNT(*) AS communes_reporting
FROM commune_values AS v
JOIN unit_ancestors AS a ON a.epoch = v.epoch AND a.commune_code = v.org_unit
JOIN units AS u ON u.epoch = a.epoch AND u.level = a.level AND u.code = a.unit_code
GROUP BY v.epoch, v.period, v.period_type, a.level, a.unit_code, u.province_code, u.district_code, v.data_element
