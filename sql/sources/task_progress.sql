-- grain: one row per progress report received in a committed submission (every version; see lake.task_progress)
-- What agencies reported of the plans' tasks (catalog/plans/), through the HTTP API or the
-- progress form. Like data_values, a row is visible once its submissions row is committed.
SELECT
    p.plan, p.task, p.agency, p.period, p.status, p.text, p.reported_on, p.evidence,
    p.submission_id, p.source_location, p.submitted_by, p.received_at, p.ingested_at
FROM (SELECT DISTINCT submission_id FROM lake.submissions) AS s
JOIN lake.task_progress AS p ON p.submission_id = s.submission_id
