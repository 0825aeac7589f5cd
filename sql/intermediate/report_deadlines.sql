-- grain: one row per (month, level): the last day reports of that month are on time at that level
-- materialized: memory
-- inputs: calendar, holidays, reporting_deadlines
-- The deadline is the N-th working day after the month ends (N per level in
-- catalog/reporting_deadlines.csv); working days skip Saturdays, Sundays and the public holidays of
-- reference/holidays/ (Tết included). A report is on time when it arrives before the deadline day
-- ends in Asia/Ho_Chi_Minh (UTC+7), i.e. before 17:00 UTC that day: `deadline_at`.
WITH working_days AS (
    SELECT c.date, c.month, ROW_NUMBER() OVER (ORDER BY c.date) AS n
    FROM calendar AS c
    LEFT JOIN holidays AS h ON h.date = c.date
    WHERE NOT c.is_weekend AND h.date IS NULL
),
month_ends AS (
    SELECT month, MAX(n) AS last_n
    FROM working_days
    GROUP BY month
)
SELECT
    e.month, r.level, r.working_days, w.date AS deadline_date,
    arrow_cast(CAST(w.date AS TIMESTAMP) + INTERVAL '17 hours', 'Timestamp(Microsecond, Some("UTC"))') AS deadline_at
FROM month_ends AS e
CROSS JOIN reporting_deadlines AS r
JOIN working_days AS w ON w.n = e.last_n + r.working_days
