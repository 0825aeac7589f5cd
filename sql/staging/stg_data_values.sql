-- grain: one row per (epoch, period, org_unit, data_element, disaggregation): the current value
-- inputs: data_values (committed submissions only)
-- A later submission of the same key supersedes an earlier one: the value received last wins
-- (ties broken by ingest time, then submission id, so the choice is deterministic).
WITH ranked AS (
    SELECT
        epoch, period, org_unit, data_element, disaggregation, value, submission_id, received_at,
        ROW_NUMBER() OVER (
            PARTITION BY epoch, period, org_unit, data_element, disaggregation
            ORDER BY received_at DESC, ingested_at DESC, submission_id DESC
        ) AS rank_in_key
    FROM data_values
)
SELECT epoch, period, org_unit, data_element, disaggregation, value, submission_id, received_at
FROM ranked
WHERE rank_in_key = 1
