-- grain: one row per submission (a file or an HTTP body) received, accepted or refused
-- Writing a submission's row is what commits its values and rejections.
SELECT
    submission_id, content_hash, source, format, status, received_at, ingested_at, rows_accepted,
    rows_rejected, error, submitted_by
FROM lake.submissions
