-- grain: one row per (epoch, period, org_unit, indicator): the commune's numerator and denominator terms over the period's months reported in that epoch
-- materialized: chunk
-- inputs: monthly_terms, period_months
-- Computed for the periods being refreshed only (refresh_periods, from their months).
-- The month-by-month terms (monthly_terms: a month counts only when the commune reported both
-- sides) over the months of each period, each side by its own data element's time aggregation
-- (catalog/data_elements.csv): 'sum' sums the months (flows), 'last' takes the latest month of the
-- period with both sides reported (stocks, DHIS2 LAST), 'average' averages the months with both
-- sides. A 'count' denominator follows the numerator's aggregation (1 per station for a stock, 1
-- per station-month for a flow). Disaggregations are summed already (monthly_values). A month is
-- its own terms; only the longer periods are aggregated.
-- The epoch is the units the commune reported in. A period that straddles the 2025 reform (2025,
-- 2025N9, 2025YTD07–12) has one row per epoch: the old commune's terms over January–June 2025, the
-- new commune's over the months from July. commune_terms carries them into the units of each epoch.
WITH terms AS (
    SELECT epoch, period AS month, org_unit, indicator, numerator, denominator, num_aggregation, den_aggregation, counts_stations
    FROM monthly_terms
    WHERE {{ refresh_months(period) }}
),
periodized AS (
    -- Sums, averages and the latest month of each side over the months of each longer period.
    -- Grouped by the grain alone (text keys are what a large aggregate spends its time on): the
    -- indicator's aggregations come with the latest month's terms below.
    SELECT
        t.epoch, pm.period, t.org_unit, t.indicator,
        SUM(t.numerator) AS num_sum, AVG(t.numerator) AS num_avg,
        SUM(t.denominator) AS den_sum, AVG(t.denominator) AS den_avg,
        MAX(t.month) AS last_month,
        COUNT(*) AS months_reported
    -- The months of each period, by the epoch they were reported in.
    FROM (SELECT DISTINCT period, month, month_epoch FROM period_months WHERE period_type <> 'month') AS pm
    JOIN terms AS t ON t.month = pm.month AND t.epoch = pm.month_epoch
    WHERE {{ refresh_periods(pm.period) }}
    GROUP BY t.epoch, pm.period, t.org_unit, t.indicator
)
SELECT t.epoch, t.month AS period, t.org_unit, t.indicator, t.numerator, t.denominator, t.num_aggregation, t.den_aggregation, 1 AS months_reported, t.counts_stations
FROM (SELECT DISTINCT period, month_epoch FROM period_months WHERE period_type = 'month') AS pm
JOIN terms AS t ON t.month = pm.period AND t.epoch = pm.month_epoch
WHERE {{ refresh_periods(pm.period) }}
UNION ALL
SELECT
    p.epoch, p.period, p.org_unit, p.indicator,
    CASE l.num_aggregation WHEN 'sum' THEN p.num_sum WHEN 'average' THEN p.num_avg ELSE l.numerator END AS numerator,
    CASE l.den_aggregation WHEN 'sum' THEN p.den_sum WHEN 'average' THEN p.den_avg ELSE l.denominator END AS denominator,
    l.num_aggregation, l.den_aggregation, p.months_reported, l.counts_stations
FROM periodized AS p
-- 'last': the terms of the latest month (a join, not an ordered aggregate: much faster).
JOIN terms AS l ON l.epoch = p.epoch AND l.org_unit = p.org_unit AND l.indicator = p.indicator AND l.month = p.last_month
