-- grain: one row per (epoch, period, level, unit_code, indicator)
-- materialized: table
-- inputs: indicator_terms, unit_ancestors, reporting_months, period_months, periods, units, indicators, targets
-- Every unit of every level gets a row for every indicator and every period that has a month in the
-- reporting horizon (reporting_months), reported or not (communes_reporting = 0, value NULL,
-- null_reason 'no_data'), except the units of provinces with no data at all in the epoch.
-- value = Σ numerator / Σ denominator × factor at every level (never an average of commune ratios);
-- NULL with null_reason 'zero_denominator' when the denominator sums to 0.
-- value_previous_year is the value of the same period a year earlier (2026Q1 → 2025Q1) when it is
-- comparable: the same level and unit code in the same epoch (codes were reused with new meanings
-- in 2025, so a province or commune is never compared across the reform), or the nation, which is
-- the same unit `VN` in both epochs. A period that straddles the reform (2025, 2025N9,
-- 2025YTD07–12) has no value, so periods a year after it have no previous-year value either.
WITH rolled AS (
    SELECT
        t.epoch, t.period, a.level, a.unit_code, t.indicator,
        SUM(t.numerator) AS numerator,
        SUM(t.denominator) AS denominator,
        COUNT(DISTINCT t.org_unit) AS communes_reporting
    FROM indicator_terms AS t
    JOIN unit_ancestors AS a ON a.epoch = t.epoch AND a.commune_code = t.org_unit
    GROUP BY t.epoch, t.period, a.level, a.unit_code, t.indicator
),
horizon_periods AS (
    SELECT DISTINCT pm.epoch, pm.period, pm.period_type
    FROM period_months AS pm
    JOIN reporting_months AS m ON m.epoch = pm.epoch AND m.month = pm.month
),
expected AS (
    SELECT epoch, level, unit_code, COUNT(*) AS communes_expected
    FROM unit_ancestors
    GROUP BY epoch, level, unit_code
),
provinces_with_data AS (
    SELECT DISTINCT epoch, unit_code AS province_code
    FROM rolled
    WHERE level = 'province'
),
cells AS (
    -- Units of provinces that have no data at all in the epoch are left out (a deployment covering a
    -- few provinces does not list the others); the nation is always there and expects every commune.
    SELECT h.epoch, h.period, h.period_type, e.level, e.unit_code, e.communes_expected, i.code AS indicator
    FROM horizon_periods AS h
    JOIN expected AS e ON e.epoch = h.epoch
    JOIN units AS u ON u.epoch = e.epoch AND u.level = e.level AND u.code = e.unit_code
    LEFT JOIN provinces_with_data AS p ON p.epoch = u.epoch AND p.province_code = u.province_code
    CROSS JOIN indicators AS i
    WHERE e.level = 'national' OR p.province_code IS NOT NULL
),
valued AS (
    SELECT
        c.epoch, c.period, c.period_type, c.level, c.unit_code, c.indicator, c.communes_expected,
        r.numerator, r.denominator,
        COALESCE(r.communes_reporting, 0) AS communes_reporting,
        CASE WHEN r.denominator > 0 THEN r.numerator / r.denominator * i.factor END AS value,
        CASE
            WHEN r.denominator IS NULL THEN 'no_data'
            WHEN r.denominator = 0 THEN 'zero_denominator'
        END AS null_reason,
        i.name_vi AS indicator_name,
        i.name_en AS indicator_name_en,
        COALESCE(ts.target_value, td.target_value) AS target,
        COALESCE(ts.target_year, td.target_year) AS target_year,
        COALESCE(ts.comparison, td.comparison) AS target_comparison
    FROM cells AS c
    JOIN indicators AS i ON i.code = c.indicator
    LEFT JOIN rolled AS r
        ON r.epoch = c.epoch AND r.period = c.period AND r.level = c.level AND r.unit_code = c.unit_code AND r.indicator = c.indicator
    LEFT JOIN targets AS ts ON ts.indicator = c.indicator AND ts.epoch = c.epoch AND ts.unit_code = c.unit_code
    LEFT JOIN targets AS td ON td.indicator = c.indicator AND td.epoch IS NULL AND td.unit_code IS NULL
),
compared AS (
    SELECT
        v.*,
        p.previous_year_period,
        -- One series per comparable unit and period of the year: LAG finds the row of the year before.
        LAG(v.period) OVER series AS lag_period,
        LAG(v.value) OVER series AS lag_value
    FROM valued AS v
    JOIN periods AS p ON p.period = v.period
    WINDOW series AS (
        PARTITION BY CASE WHEN v.level = 'national' THEN 'VN' ELSE v.epoch END, v.level, v.unit_code, v.indicator, v.period_type, substr(v.period, 5)
        ORDER BY v.period
    )
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
    v.previous_year_period,
    CASE WHEN v.lag_period = v.previous_year_period THEN v.lag_value END AS value_previous_year,
    CASE WHEN v.lag_period = v.previous_year_period THEN v.value - v.lag_value END AS change_from_previous_year,
    v.communes_reporting,
    v.communes_expected
FROM compared AS v
JOIN units AS u ON u.epoch = v.epoch AND u.code = v.unit_code AND u.level = v.level
