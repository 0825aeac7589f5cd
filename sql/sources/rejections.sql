-- grain: one row per value or row refused in a committed submission, with its reason
-- The rejections of committed submissions only (written before the submissions row, like
-- data_values: see sources/data_values.sql).
SELECT
    d.submission_id, d.source, d.row, d.location, d.field, d.value, d.reason, d.message_vi,
    d.message_en, d.ingested_at
FROM (SELECT DISTINCT submission_id FROM lake.submissions) AS s
JOIN lake.rejections AS d ON d.submission_id = s.submission_id
