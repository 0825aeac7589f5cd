-- grain: one row per (epoch, month): a month for which every commune of the epoch owes a report
-- materialized: memory
-- inputs: commune_months, period_months
-- An epoch's reporting horizon runs from its first to its latest month with any committed value (a
-- deletion alone does not count). Every month in between is expected, even one nobody reported;
-- months after the latest one with data are not expected yet, and straddling periods never exist.
WITH bounds AS (
    SELECT epoch, MIN(period) AS first_month, MAX(period) AS last_month
    FROM commune_months
    GROUP BY epoch
)
SELECT pm.epoch, pm.month
FROM period_months AS pm
JOIN bounds AS b ON b.epoch = pm.epoch
WHERE pm.period_type = 'month' AND NOT pm.remapped AND pm.month >= b.first_month AND pm.month <= b.last_month
