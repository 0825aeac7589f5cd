-- grain: one row per (epoch, period, org_unit, indicator): the commune's numerator and denominator terms over the period's months reported in that epoch
-- inputs: monthly_values, indicators, data_elements, period_months
-- Computed for the periods being refreshed only (refresh_periods, from their months).
-- Terms are paired month by month first, so a month counts only when the commune reported both sides
-- (a quarter never divides three months of insured visits by two months of visits). Per month:
--   numerator = the num_element's value; or, when num_test is set, 1 if num_element (divided by num_per
--   when given) passes the test against num_threshold, else 0;
--   denominator = the den_element's value; or 1 per reporting commune when den_test = 'count'.
-- Then over the months of each period, each side by its own data element's time aggregation
-- (catalog/data_elements.csv): 'sum' sums the months (flows), 'last' takes the latest month of the
-- period with both sides reported (stocks, DHIS2 LAST), 'average' averages the months with both sides.
-- A 'count' denominator follows the numerator's aggregation (1 per station for a stock, 1 per
-- station-month for a flow). Disaggregations are summed already (monthly_values).
-- The epoch is the units the commune reported in. A period that straddles the 2025 reform (2025,
-- 2025N9, 2025YTD07–12) has one row per epoch: the old commune's terms over January–June 2025, the
-- new commune's over the months from July. commune_terms carries them into the units of each epoch.
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
),
terms AS (
    SELECT
        epoch, month, org_unit, indicator, counts_stations, num_aggregation, den_aggregation, denominator,
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
),
periodized AS (
    -- Sums, averages and the latest month of each side over the months of each period.
    SELECT
        t.epoch, pm.period, pm.period_type, t.org_unit, t.indicator, t.counts_stations, t.num_aggregation, t.den_aggregation,
        SUM(t.numerator) AS num_sum, AVG(t.numerator) AS num_avg,
        SUM(t.denominator) AS den_sum, AVG(t.denominator) AS den_avg,
        MAX(t.month) AS last_month,
        COUNT(*) AS months_reported
    -- The months of each period, by the epoch they were reported in.
    FROM (SELECT DISTINCT period, period_type, month, month_epoch FROM period_months) AS pm
    JOIN terms AS t ON t.month = pm.month AND t.epoch = pm.month_epoch
    WHERE {{ refresh_periods(pm.period) }}
    GROUP BY t.epoch, pm.period, pm.period_type, t.org_unit, t.indicator, t.counts_stations, t.num_aggregation, t.den_aggregation
)
SELECT
    p.epoch, p.period, p.period_type, p.org_unit, p.indicator,
    CASE p.num_aggregation WHEN 'sum' THEN p.num_sum WHEN 'average' THEN p.num_avg ELSE l.numerator END AS numerator,
    CASE p.den_aggregation WHEN 'sum' THEN p.den_sum WHEN 'average' THEN p.den_avg ELSE l.denominator END AS denominator,
    p.num_aggregation, p.den_aggregation, p.months_reported, p.counts_stations
FROM periodized AS p
-- 'last': the terms of the latest month (a join, not an ordered aggregate: much faster).
JOIN terms AS l ON l.epoch = p.epoch AND l.org_unit = p.org_unit AND l.indicator = p.indicator AND l.month = p.last_month
