-- grain: one row per (plan, task, period, agency): an agency's standing on a task it leads or co-operates on, at the end of a review period (today while the period runs)
-- inputs: plan_review_periods, plan_tasks, plan_task_agencies, task_reports
-- Review periods are plan_review_periods' (every quarter, half-year, nine months and year since the
-- plan was issued). What counts at a period's end is the agency's latest report for a
-- reporting period ending by then. A dated task is done on time when the agency reported it done
-- (hoan_thanh) on or before the due date, done late when after it or reported as
-- hoan_thanh_qua_han, overdue when not done and the due date has passed. A recurring task
-- ("Nhiệm vụ thường xuyên") is due at every period: reported when the agency sent a report for a
-- reporting period overlapping it, not_reported once the period has ended without one, pending
-- before. A conditional task ("Sau khi có …") waits for its condition (awaiting_condition) unless
-- done, or until catalog/plans/tasks.csv gives its due_on.
WITH latest AS (
    SELECT v.plan, v.period, r.task, r.agency, r.status, r.reported_on, r.period AS report_period,
        ROW_NUMBER() OVER (PARTITION BY v.plan, v.period, r.task, r.agency ORDER BY r.report_end DESC, r.received_at DESC) AS n
    FROM plan_review_periods AS v
    JOIN task_reports AS r ON r.plan = v.plan AND r.report_end <= v.end_date
),
in_period AS (
    SELECT DISTINCT v.plan, v.period, r.task, r.agency
    FROM plan_review_periods AS v
    JOIN task_reports AS r ON r.plan = v.plan AND r.report_start <= v.end_date AND r.report_end >= v.start_date
)
SELECT
    v.plan, a.task, v.period, v.period_type, v.as_of, a.agency, g.name_vi AS agency_name, a.role,
    t.deadline_kind, t.due_date, l.status AS reported_status, l.reported_on, l.report_period,
    i.agency IS NOT NULL AS reported_in_period,
    CASE
        WHEN t.deadline_kind = 'recurring' THEN
            CASE WHEN i.agency IS NOT NULL THEN 'reported' WHEN v.ended THEN 'not_reported' ELSE 'pending' END
        WHEN l.status IN ('hoan_thanh', 'hoan_thanh_qua_han') AND t.due_date IS NULL THEN 'done'
        WHEN l.status = 'hoan_thanh_qua_han' OR (l.status = 'hoan_thanh' AND l.reported_on > t.due_date) THEN 'done_late'
        WHEN l.status = 'hoan_thanh' THEN 'done_on_time'
        WHEN t.due_date < v.as_of THEN 'overdue'
        WHEN t.deadline_kind = 'conditional' THEN 'awaiting_condition'
        WHEN l.status = 'dang_trien_khai' THEN 'in_progress'
        ELSE 'not_started'
    END AS status
FROM plan_review_periods AS v
JOIN plan_task_agencies AS a ON a.plan = v.plan
JOIN plan_tasks AS t ON t.plan = a.plan AND t.task = a.task
JOIN plan_agencies AS g ON g.code = a.agency
LEFT JOIN latest AS l ON l.plan = v.plan AND l.period = v.period AND l.task = a.task AND l.agency = a.agency AND l.n = 1
LEFT JOIN in_period AS i ON i.plan = v.plan AND i.period = v.period AND i.task = a.task AND i.agency = a.agency
