-- grain: one row per value ever received (every version of every key), with who sent it and when
-- inputs: data_value_versions, submissions
-- For audits and corrections: what a commune reported, what replaced it, and who sent each version.
SELECT
    v.epoch, v.period, v.org_unit, v.data_element, v.disaggregation, v.version,
    v.version = 1 AND NOT v.deleted AS is_current,
    v.value, v.deleted, v.comment, v.stored_by, s.submitted_by, s.source, s.format,
    v.received_at, v.ingested_at, v.submission_id, v.source_location
FROM data_value_versions v
JOIN submissions s ON s.submission_id = v.submission_id
