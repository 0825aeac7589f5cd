-- grain: one row per (epoch, period, org_unit): a unit and month with at least one committed value
-- materialized: table
-- incremental: month
-- inputs: data_values (committed submissions)
-- What the reporting horizon, the coverage and the completeness read instead of every value: a
-- unit-month is here when a committed submission brought at least one value (not a deletion) for
-- it. The first submission's received_at counts (a later correction never makes a report late).
-- Refreshed month by month, and before the build decides what else to refresh, since the horizon
-- (reporting_months) and the coverage (reporting_provinces) are computed from it.
SELECT
    epoch, period, org_unit,
    MIN(received_at) AS first_received_at,
    COUNT(DISTINCT submission_id) AS submissions
FROM data_values
WHERE NOT deleted AND {{ refresh_months(period) }}
GROUP BY epoch, period, org_unit
