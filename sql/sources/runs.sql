-- grain: one row per pipeline run: its latest row in lake.runs (its end if it ended, else its start)
-- A run writes a row when it starts and one when it ends; a run whose process died keeps only the
-- first, and shows here as `running` until a later run marks it.
SELECT run_id, pipeline, trigger, holder, status, started_at, finished_at, steps, error
FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY finished_at DESC NULLS LAST) AS n
    FROM lake.runs
) AS r
WHERE n = 1
