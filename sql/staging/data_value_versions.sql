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
resent AS (
    SELECT epoch, period, org_unit
    FROM received
    GROUP BY epoch, period, org_unit
    HAVING COUNT(DISTINCT submission_id) > 1
)
-- (`NOT EXISTS` rather than RIGHT JOIN … IS NULL: DataFusion 55 returned no rows for the latter
-- once a filter on the right side was pushed down.)
SELECT r.*, CAST(1 AS BIGINT) AS version
FROM received AS r
WHERE NOT EXISTS (
    SELECT 1 FROM resent AS s WHERE s.epoch = r.epoch AND s.period = r.period AND s.org_unit = r.org_unit
)
UNION ALL
SELECT
    r.*,
    CAST(ROW_NUMBER() OVER (
        PARTITION BY r.epoch, r.period, r.org_unit, r.data_element, r.disaggregation
        ORDER BY r.received_at DESC, r.ingested_at DESC, r.submission_id DESC
    ) AS BIGINT) AS version
FROM resent AS s
JOIN received AS r ON r.epoch = s.epoch AND r.period = s.period AND r.org_unit = s.org_unit
