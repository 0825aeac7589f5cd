-- grain: one row per (plan, period): the periods a plan's review can cover, and the day its tasks are judged at
-- inputs: plans, periods
-- Every quarter, half-year, nine months and year from the one the plan was issued in to the one
-- running today (Vietnam time). as_of is the period's last day, or today while it runs (ended:
-- false): a task's status is taken at as_of.
WITH today AS (
    SELECT CAST(now() + INTERVAL '7 hours' AS DATE) AS d
)
SELECT
    pl.code AS plan, p.period, p.period_type, p.start_date, p.end_date,
    CASE WHEN p.end_date < t.d THEN p.end_date ELSE t.d END AS as_of,
    p.end_date < t.d AS ended
FROM plans AS pl
CROSS JOIN periods AS p
CROSS JOIN today AS t
WHERE p.period_type IN ('quarter', 'half_year', 'nine_months', 'year')
    AND p.end_date >= pl.issued_on AND p.start_date <= t.d
