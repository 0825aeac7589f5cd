-- grain: one row per (plan, period, agency): how an agency stands on the tasks it leads, at the end of a review period
-- inputs: task_agency_status
-- Counts of the tasks an agency leads by status; co-operating agencies are counted apart
-- (tasks_cooperating), since the lead answers for the deadline.
SELECT
    plan, period, agency, agency_name,
    SUM(CASE WHEN role = 'lead' THEN 1 ELSE 0 END) AS tasks_led,
    SUM(CASE WHEN role = 'cooperating' THEN 1 ELSE 0 END) AS tasks_cooperating,
    SUM(CASE WHEN role = 'lead' AND status IN ('done_on_time', 'done') THEN 1 ELSE 0 END) AS done_on_time,
    SUM(CASE WHEN role = 'lead' AND status = 'done_late' THEN 1 ELSE 0 END) AS done_late,
    SUM(CASE WHEN role = 'lead' AND status = 'overdue' THEN 1 ELSE 0 END) AS overdue,
    SUM(CASE WHEN role = 'lead' AND status = 'in_progress' THEN 1 ELSE 0 END) AS in_progress,
    SUM(CASE WHEN role = 'lead' AND status IN ('not_started', 'awaiting_condition') THEN 1 ELSE 0 END) AS not_started,
    SUM(CASE WHEN role = 'lead' AND status = 'reported' THEN 1 ELSE 0 END) AS recurring_reported,
    SUM(CASE WHEN role = 'lead' AND status IN ('not_reported', 'pending') THEN 1 ELSE 0 END) AS recurring_not_reported
FROM task_agency_status
GROUP BY plan, period, agency, agency_name
