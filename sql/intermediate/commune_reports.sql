-- grain: one row per (epoch, month, commune_code): a monthly report a commune owes, and when it came
-- inputs: reporting_months, units, commune_months, report_deadlines
-- Computed for the months being refreshed only (refresh_months).
-- Received: a committed submission brought at least one value (not a deletion) for the commune and
-- month; the first one's received_at counts, so a later correction never makes a report late and a
-- late first report stays late. status, against the commune deadline (report_deadlines):
--   on_time: received before the deadline day ended (Vietnam time); late: received after;
--   missing: nothing received and the deadline has passed at build time; pending: not due yet.
WITH received AS (
    SELECT epoch, period AS month, org_unit, first_received_at, submissions
    FROM commune_months
    WHERE {{ refresh_months(period) }}
)
SELECT
    m.epoch, m.month, u.code AS commune_code,
    r.first_received_at,
    COALESCE(r.submissions, 0) AS submissions,
    d.deadline_date,
    d.deadline_at,
    CASE
        WHEN r.first_received_at IS NULL AND now() < d.deadline_at THEN 'pending'
        WHEN r.first_received_at IS NULL THEN 'missing'
        WHEN r.first_received_at < d.deadline_at THEN 'on_time'
        ELSE 'late'
    END AS status
FROM reporting_months AS m
JOIN units AS u ON u.epoch = m.epoch AND u.level = 'commune'
JOIN report_deadlines AS d ON d.month = m.month AND d.level = 'commune'
LEFT JOIN received AS r ON r.epoch = m.epoch AND r.month = m.month AND r.org_unit = u.code
WHERE {{ refresh_months(m.month) }}
