-- grain: one row per (epoch, period, level, unit_code): reports expected, received, on time, late and missing, with the unit one level up
-- inputs: completeness, units
-- What `tonghop export report` writes on its completeness sheet: the units one level down
-- (parent_code = the unit) and the unit itself as the totals row. Each level judges timeliness by
-- its own deadline (see completeness).
SELECT
    c.epoch, c.period, c.level, c.unit_code, c.unit_name, u.parent_code,
    c.reports_expected, c.reports_received, c.reports_on_time, c.reports_late, c.reports_missing, c.reports_pending,
    c.completeness_pct, c.timeliness_pct
FROM completeness AS c
JOIN units AS u ON u.epoch = c.epoch AND u.level = c.level AND u.code = c.unit_code
