-- grain: one row per (epoch, period, level, unit_code, data_element): a data element of a unit over a period, as DHIS2 receives it
-- inputs: monthly_values, data_elements, period_months, unit_lineage, unit_ancestors, units
-- What `tonghop export dhis2` sends. A commune's value for the period follows its data element's
-- time aggregation (catalog/data_elements.csv), as in indicator_terms: 'sum' adds the months (flows),
-- 'last' takes the commune's latest month with a value in the period (stocks, DHIS2 LAST), 'average'
-- averages its months with a value. A unit's value is then the sum over its communes (disaggregations
-- are summed already in monthly_values). A unit where no commune reported the element has no row:
-- DHIS2 gets no value rather than a zero.
-- In today's units (epoch post2025) the months before 2025-07-01 are carried across the reform as in
-- commune_terms: an element with reform_remap 'split' takes each old commune's value × the edge's
-- weight, a 'main_predecessor' element the main predecessor's value; a straddling period (2025,
-- 2025N9) adds the two parts of a 'sum' element and takes the new commune's own value of a 'last'
-- element when it reported after the reform. remapped marks values that use carried figures.
WITH per_commune AS (
    -- Each commune's months of each period, by the epoch they were reported in.
    SELECT
        m.epoch, pm.period, pm.period_type, m.org_unit, m.data_element, e.time_aggregation, e.reform_remap,
        SUM(m.value) AS value_sum, AVG(m.value) AS value_avg, MAX(m.period) AS last_month, COUNT(*) AS months
    FROM (SELECT DISTINCT period, period_type, month, month_epoch FROM period_months) AS pm
    JOIN monthly_values AS m ON m.epoch = pm.month_epoch AND m.period = pm.month
    JOIN data_elements AS e ON e.code = m.data_element
    GROUP BY m.epoch, pm.period, pm.period_type, m.org_unit, m.data_element, e.time_aggregation, e.reform_remap
),
commune_values AS (
    SELECT
        c.epoch, c.period, c.period_type, c.org_unit, c.data_element, c.time_aggregation, c.reform_remap, c.months,
        CASE c.time_aggregation WHEN 'sum' THEN c.value_sum WHEN 'average' THEN c.value_avg ELSE l.value END AS value
    FROM per_commune AS c
    -- 'last': the value of the latest month (a join, as in indicator_terms).
    JOIN monthly_values AS l
        ON l.epoch = c.epoch AND l.org_unit = c.org_unit AND l.data_element = c.data_element AND l.period = c.last_month
),
carried AS (
    -- Into the units of each epoch that expresses the period (unit_lineage).
    SELECT
        p.epoch, v.period, v.period_type, l.to_code AS org_unit, v.data_element, v.time_aggregation,
        v.epoch = p.epoch AS own,
        CASE WHEN v.reform_remap = 'main_predecessor' THEN 1.0 ELSE l.weight END * v.value AS value,
        v.months
    FROM commune_values AS v
    JOIN (SELECT DISTINCT epoch, period, month_epoch FROM period_months) AS p ON p.period = v.period AND p.month_epoch = v.epoch
    JOIN unit_lineage AS l ON l.from_epoch = v.epoch AND l.from_code = v.org_unit AND l.to_epoch = p.epoch
    WHERE l.main_predecessor OR v.reform_remap <> 'main_predecessor'
),
parted AS (
    SELECT
        epoch, period, period_type, org_unit, data_element, time_aggregation,
        SUM(CASE WHEN own THEN value END) AS own_value, MAX(CASE WHEN own THEN months END) AS own_months,
        SUM(CASE WHEN NOT own THEN value END) AS carried_value, MAX(CASE WHEN NOT own THEN months END) AS carried_months
    FROM carried
    GROUP BY epoch, period, period_type, org_unit, data_element, time_aggregation
),
combined AS (
    -- The two parts by the element's time aggregation (across_reform, as in commune_terms).
    SELECT
        epoch, period, period_type, org_unit, data_element,
        across_reform(time_aggregation, own_value, own_months, carried_value, carried_months) AS value,
        across_reform_uses_carried(time_aggregation, own_value, carried_value) AS remapped
    FROM parted
)
SELECT
    v.epoch, v.period, v.period_type, a.level, a.unit_code, u.province_code, u.district_code,
    v.data_element, SUM(v.value) AS value, COUNT(*) AS communes_reporting, bool_or(v.remapped) AS remapped
FROM combined AS v
JOIN unit_ancestors AS a ON a.epoch = v.epoch AND a.commune_code = v.org_unit
JOIN units AS u ON u.epoch = a.epoch AND u.level = a.level AND u.code = a.unit_code
GROUP BY v.epoch, v.period, v.period_type, a.level, a.unit_code, u.province_code, u.district_code, v.data_element
