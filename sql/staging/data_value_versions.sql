-- grain: one row per value ever received for (epoch, period, org_unit, data_element, disaggregation), numbered newest first
-- inputs: data_values (committed submissions only)
-- A later submission of a key supersedes an earlier one: version 1 is the value received last
-- (ties broken by ingest time, then submission id, so the order is deterministic). A version may
-- be a deletion (`deleted`), which removes the key from the current values.
SELECT
    epoch, period, org_unit, data_element, disaggregation, value, deleted, comment, stored_by,
    submission_id, source_location, received_at, ingested_at,
    ROW_NUMBER() OVER (
        PARTITION BY epoch, period, org_unit, data_element, disaggregation
        ORDER BY received_at DESC, ingested_at DESC, submission_id DESC
    ) AS version
FROM data_values
