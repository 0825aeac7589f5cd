-- grain: one row per (plan, task, period): a task's status at the end of a review period (today while the period runs), from its lead agencies' standings
-- inputs: plan_review_periods, plan_tasks, task_agency_status
-- A dated task is done when every lead agency reported it done (done_late if any was late),
-- overdue when not and its due date has passed. A recurring task is reported when any lead agency
-- reported in the period. agencies_behind names the lead agencies not done (not reported, for a
-- recurring task), in name order: the review's "Ghi chú" and the limitations it lists. A task whose
-- lead is a group with no members in catalog/plans/agencies.csv still has a row (lead_agencies 0).
WITH leads AS (
    SELECT plan, task, period,
        COUNT(*) AS lead_agencies,
        SUM(CASE WHEN status IN ('done_on_time', 'done_late', 'done') THEN 1 ELSE 0 END) AS leads_done,
        SUM(CASE WHEN status = 'done_late' THEN 1 ELSE 0 END) AS leads_late,
        SUM(CASE WHEN status = 'in_progress' THEN 1 ELSE 0 END) AS leads_in_progress,
        SUM(CASE WHEN status = 'reported' THEN 1 ELSE 0 END) AS leads_reported,
        string_agg(CASE WHEN status NOT IN ('done_on_time', 'done_late', 'done', 'reported') THEN agency_name END, '; ' ORDER BY agency_name) AS agencies_behind
    FROM task_agency_status
    WHERE role = 'lead'
    GROUP BY plan, task, period
),
judged AS (
    SELECT
        v.plan, t.task, v.period, v.period_type, v.as_of, t.task_order, t.content_vi, t.lead_vi, t.deadline_vi,
        t.deadline_kind, t.due_date,
        COALESCE(l.lead_agencies, 0) AS lead_agencies,
        COALESCE(l.leads_done, 0) AS leads_done,
        CASE WHEN l.agencies_behind = '' THEN NULL ELSE l.agencies_behind END AS agencies_behind,
        CASE
            WHEN t.deadline_kind = 'recurring' THEN
                CASE WHEN COALESCE(l.leads_reported, 0) > 0 THEN 'reported' WHEN v.ended THEN 'not_reported' ELSE 'pending' END
            WHEN l.lead_agencies > 0 AND l.leads_done = l.lead_agencies THEN
                CASE WHEN l.leads_late > 0 THEN 'done_late' WHEN t.due_date IS NULL THEN 'done' ELSE 'done_on_time' END
            WHEN t.due_date < v.as_of THEN 'overdue'
            WHEN t.deadline_kind = 'conditional' THEN 'awaiting_condition'
            WHEN COALESCE(l.leads_in_progress, 0) + COALESCE(l.leads_done, 0) > 0 THEN 'in_progress'
            ELSE 'not_started'
        END AS status
    FROM plan_review_periods AS v
    JOIN plan_tasks AS t ON t.plan = v.plan
    LEFT JOIN leads AS l ON l.plan = v.plan AND l.task = t.task AND l.period = v.period
)
SELECT
    plan, task, period, period_type, as_of, task_order, content_vi, lead_vi, deadline_vi, deadline_kind, due_date,
    lead_agencies, leads_done, agencies_behind, status,
    CASE status
        WHEN 'done_on_time' THEN 'Hoàn thành đúng hạn'
        WHEN 'done_late' THEN 'Hoàn thành quá hạn'
        WHEN 'done' THEN 'Hoàn thành'
        WHEN 'overdue' THEN 'Quá hạn'
        WHEN 'in_progress' THEN 'Đang triển khai'
        WHEN 'not_started' THEN 'Chưa triển khai'
        WHEN 'awaiting_condition' THEN 'Chờ điều kiện thực hiện'
        WHEN 'reported' THEN 'Thường xuyên: đã báo cáo trong kỳ'
        WHEN 'not_reported' THEN 'Thường xuyên: chưa báo cáo trong kỳ'
        ELSE 'Thường xuyên: chưa hết kỳ'
    END AS status_vi,
    status IN ('overdue', 'not_reported') AS behind
FROM judged
