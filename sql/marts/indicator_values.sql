-- grain: one row per (epoch, period, level, unit_code, indicator)
-- materialized: table
-- inputs: indicator_terms, unit_ancestors, units, indicators, targets
-- value = Σ numerator / Σ denominator × factor at every level (never an average of commune ratios);
-- NULL with null_reason when the denominator is zero or nothing was reported.
WITH rolled AS (
    SELECT
        t.epoch, t.period, t.period_type, a.level, a.unit_code, t.indicator,
        SUM(t.numerator) AS numerator,
        SUM(t.denominator) AS denominator,
        COUNT(DISTINCT t.org_unit) AS communes_reporting
    FROM indicator_terms AS t
    JOIN unit_ancestors AS a ON a.epoch = t.epoch AND a.commune_code = t.org_unit
    GROUP BY t.epoch, t.period, t.period_type, a.level, a.unit_code, t.indicator
),
expected AS (
    SELECT epoch, level, unit_code, COUNT(*) AS communes_expected
    FROM unit_ancestors
    GROUP BY epoch, level, unit_code
),
valued AS (
    SELECT
        r.*,
        CASE WHEN r.denominator > 0 THEN r.numerator / r.denominator * i.factor END AS value,
        CASE WHEN r.denominator IS NULL OR r.denominator = 0 THEN 'zero_denominator' END AS null_reason,
        i.name_vi AS indicator_name,
        i.name_en AS indicator_name_en,
        COALESCE(ts.target_value, td.target_value) AS target,
        COALESCE(ts.target_year, td.target_year) AS target_year,
        COALESCE(ts.comparison, td.comparison) AS target_comparison
    FROM rolled AS r
    JOIN indicators AS i ON i.code = r.indicator
    LEFT JOIN targets AS ts ON ts.indicator = r.indicator AND ts.epoch = r.epoch AND ts.unit_code = r.unit_code
    LEFT JOIN targets AS td ON td.indicator = r.indicator AND td.epoch IS NULL AND td.unit_code IS NULL
)
SELECT
    v.epoch, v.period, v.period_type, v.level, v.unit_code, u.full_name AS unit_name,
    v.indicator, v.indicator_name, v.indicator_name_en,
    v.numerator, v.denominator, v.value, v.null_reason,
    v.target, v.target_year, v.target_comparison,
    CASE
        WHEN v.value IS NULL OR v.target IS NULL THEN 'no_data'
        WHEN v.target_comparison = '>' AND v.value > v.target THEN 'met'
        WHEN v.target_comparison = '>=' AND v.value >= v.target THEN 'met'
        ELSE 'not_met'
    END AS status,
    v.target - v.value AS gap_to_target,
    v.communes_reporting,
    e.communes_expected
FROM valued AS v
JOIN units AS u ON u.epoch = v.epoch AND u.code = v.unit_code AND u.level = v.level
JOIN expected AS e ON e.epoch = v.epoch AND e.level = v.level AND e.unit_code = v.unit_code
