-- grain: one row per value ever received for (epoch, period, org_unit, data_element, disaggregation), numbered newest first
-- inputs: data_values (committed submissions only)
-- A later submission of a key supersedes an earlier one: version 1 is the value received last
-- (ties broken by ingest time, then submission id, so the order is deterministic). A version may
-- be a deletion (`deleted`), which removes the key from the current values.
-- Only a commune and month sent in more than one submission can hold a key twice (a file never
-- holds one key twice: ingest keeps one of identical repeats and refuses conflicting ones), so
-- only those rows are numbered by sorting; every other row is version 1. Read month by month by the
-- refresh of monthly_values (refresh_months).
WITH received AS (
    SELECT
        epoch, period, org_unit, data_element, disaggregation, value, deleted, comment, stored_by,
        submission_id, source_location, received_at, ingested_at
    FROM data_values
    WHERE {{ refresh_months(period) }}
),
submissions_per_report AS (
    SELECT epoch, period, org_unit, COUNT(DISTINCT submission_id) AS submissions
    FROM received
    GROUP BY epoch, period, org_unit
)
-- Inner joins with the (small) commune-month keys on the left, rather than `NOT EXISTS`: DataFusion
-- builds a join's hash table from its left input when it has no statistics, and an anti join
-- would hold every row of the months being read in memory.
SELECT r.*, CAST(1 AS BIGINT) AS version
FROM submissions_per_report AS s
JOIN received AS r ON r.epoch = s.epoch AND r.period = s.period AND r.org_unit = s.org_unit
WHERE s.submissions = 1
UNION ALL
SELECT
    r.*,
    CAST(ROW_NUMBER() OVER (
        PARTITION BY r.epoch, r.period, r.org_unit, r.data_element, r.disaggregation
        ORDER BY r.received_at DESC, r.ingested_at DESC, r.submission_id DESC
    ) AS BIGINT) AS version
FROM submissions_per_report AS s
JOIN received AS r ON r.epoch = s.epoch AND r.period = s.period AND r.org_unit = s.org_unit
WHERE s.submissions > 1
