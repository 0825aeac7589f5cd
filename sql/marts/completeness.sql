-- grain: one row per (epoch, period, level, unit_code): reports expected, received, on time, late, missing
-- materialized: table
-- incremental: period
-- inputs: commune_reports, unit_ancestors, unit_lineage, report_deadlines, period_months, units
-- Expected reports are every commune under the unit for every month of the period within the
-- reporting horizon (reporting_months). Each level judges timeliness by its own deadline
-- (catalog/reporting_deadlines.csv): at district level a commune report counts as on time when it
-- arrived within the district's working days, and so on. The figures are counted per month first and
-- then summed over the months of each period (month, quarter, half year, nine months, year, year to
-- date), so the join never multiplies commune rows by periods.
-- In today's units, a month before 2025-07-01 expects the reports of the old communes that went
-- into the unit (unit_lineage): a new commune expects one report from each of its old communes, a
-- province or the nation each old commune's report once. So a period that straddles the reform
-- (2025, 2025N9, 2025YTD07–12) expects the old communes' months before July and the new communes'
-- months from July. A report for June 2025 or earlier sent late, after the reform, still comes
-- from the old commune under its old code (ingest refuses a new code for a month before July): it
-- counts as that old commune's report for its month, late against the month's deadline like any
-- other, in both the old units and today's.
WITH ancestors AS (
    -- Every unit of each epoch's units a commune's report counts for.
    SELECT DISTINCT l.from_epoch, l.from_code, a.epoch, a.level, a.unit_code
    FROM unit_lineage AS l
    JOIN unit_ancestors AS a ON a.epoch = l.to_epoch AND a.commune_code = l.to_code
),
monthly AS (
    SELECT
        a.epoch, c.month, a.level, a.unit_code, d.working_days,
        COUNT(*) AS expected,
        COUNT(c.first_received_at) AS received,
        SUM(CASE WHEN c.first_received_at < d.deadline_at THEN 1 ELSE 0 END) AS on_time,
        SUM(CASE WHEN c.first_received_at >= d.deadline_at THEN 1 ELSE 0 END) AS late,
        SUM(CASE WHEN c.first_received_at IS NULL AND now() >= d.deadline_at THEN 1 ELSE 0 END) AS missing,
        SUM(CASE WHEN c.first_received_at IS NULL AND now() < d.deadline_at THEN 1 ELSE 0 END) AS pending
    FROM ancestors AS a
    JOIN commune_reports AS c ON c.epoch = a.from_epoch AND c.commune_code = a.from_code
    JOIN report_deadlines AS d ON d.month = c.month AND d.level = a.level
    GROUP BY a.epoch, c.month, a.level, a.unit_code, d.working_days
)
SELECT
    m.epoch, pm.period, pm.period_type, m.level, m.unit_code, u.full_name AS unit_name,
    MAX(m.working_days) AS deadline_working_days,
    COUNT(*) AS months_expected,
    MAX(m.expected) AS communes_expected,
    SUM(m.expected) AS reports_expected,
    SUM(m.received) AS reports_received,
    SUM(m.on_time) AS reports_on_time,
    SUM(m.late) AS reports_late,
    SUM(m.missing) AS reports_missing,
    SUM(m.pending) AS reports_pending,
    100.0 * SUM(m.received) / SUM(m.expected) AS completeness_pct,
    100.0 * SUM(m.on_time) / SUM(m.expected) AS timeliness_pct
FROM period_months AS pm
JOIN monthly AS m ON m.epoch = pm.epoch AND m.month = pm.month AND {{ refresh_periods(pm.period) }}
JOIN units AS u ON u.epoch = m.epoch AND u.level = m.level AND u.code = m.unit_code
GROUP BY m.epoch, pm.period, pm.period_type, m.level, m.unit_code, u.full_name
