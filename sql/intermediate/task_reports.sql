-- grain: one row per (plan, task, agency, period): the latest report an agency sent on a task for a reporting period
-- inputs: task_progress, periods
-- An agency may send a task's report for a period more than once (a correction): the latest
-- received counts. report_start / report_end are the reporting period's first and last days.
SELECT
    r.plan, r.task, r.agency, r.period, p.start_date AS report_start, p.end_date AS report_end,
    r.status, r.text, r.reported_on, r.evidence, r.submitted_by, r.received_at, r.submission_id
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY plan, task, agency, period ORDER BY received_at DESC, submission_id DESC, source_location DESC) AS n
    FROM task_progress
) AS r
JOIN periods AS p ON p.period = r.period
WHERE r.n = 1
