-- grain: one row per value received in a committed submission (every version of every key; see lake.data_values)
-- The values of committed submissions only. Ingest writes a file's values, then its submissions
-- row last; a value is visible once that row is committed, so a crash midway shows nothing.
-- The (small) submissions table is the join's left side: its hash table is the one built, whether
-- or not the session reorders joins. Partition columns are plain strings (see
-- tonghop_lake::scan_provider), so `period IN (…)` prunes partitions through this view.
SELECT
    d.epoch, d.period, d.org_unit, d.data_element, d.disaggregation, d.value, d.deleted, d.comment,
    d.stored_by, d.submission_id, d.source_location, d.received_at, d.ingested_at
FROM (SELECT DISTINCT submission_id FROM lake.submissions) AS s
JOIN lake.data_values AS d ON d.submission_id = s.submission_id
