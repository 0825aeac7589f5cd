-- grain: one row per (epoch, period, level, unit_code, indicator)
-- materialized: table
-- incremental: period
-- join_order: as_written
-- inputs: commune_terms, unit_ancestors, unit_lineage, reporting_months, reporting_provinces, period_months, units, indicators, targets
-- The indicators of every unit of every level, for every period that has a month in the reporting
-- horizon (reporting_months), reported or not (communes_reporting = 0, value NULL, null_reason
-- 'no_data'), against the target. Units of provinces without any data in the epoch are left out
-- (reporting_provinces: a deployment covering a few provinces does not list the others); the
-- nation is always there and expects every commune. indicator_values adds the previous-year
-- comparison.
-- value = Σ numerator / Σ denominator × factor at every level (never an average of commune ratios);
-- NULL with null_reason 'zero_denominator' when the denominator sums to 0.
-- Both epochs' units: a period before 2025-07-01 in old units, and every period in today's units,
-- with the months before the reform carried across it (commune_terms): such rows are remapped, and
-- estimated where a default weight decides the figure (at commune level; above it only in the rare
-- case commune_terms.estimated_above describes). A new commune without a main predecessor (the five
-- special zones formed from island districts) has no station figures before the reform:
-- null_reason 'no_main_predecessor'. The horizon of a period in today's units counts the months
-- reported in either epoch.
WITH rolled AS (
    -- A commune's own figures are its terms (one row per commune, period and indicator); the
    -- levels above add up their communes' terms (an aggregate of a few hundred thousand groups,
    -- not one of every commune's rows).
    SELECT
        epoch, period, 'commune' AS level, org_unit AS unit_code, indicator, numerator, denominator,
        1 AS communes_reporting, remapped, estimated
    FROM commune_terms
    UNION ALL
    SELECT
        t.epoch, t.period, a.level, a.unit_code, t.indicator,
        SUM(t.numerator) AS numerator,
        SUM(t.denominator) AS denominator,
        -- commune_terms has one row per commune, period and indicator: counting rows counts communes.
        COUNT(*) AS communes_reporting,
        bool_or(t.remapped) AS remapped,
        bool_or(t.estimated_above) AS estimated
    FROM unit_ancestors AS a
    JOIN commune_terms AS t ON t.epoch = a.epoch AND t.org_unit = a.commune_code
    WHERE a.level <> 'commune'
    GROUP BY t.epoch, t.period, a.level, a.unit_code, t.indicator
),
horizon_periods AS (
    SELECT pm.epoch, pm.period, pm.period_type, bool_or(pm.remapped) AS has_remapped_months
    FROM period_months AS pm
    JOIN reporting_months AS m ON m.epoch = pm.month_epoch AND m.month = pm.month
    WHERE {{ refresh_periods(pm.period) }}
    GROUP BY pm.epoch, pm.period, pm.period_type
),
no_main_predecessor AS (
    -- New communes whose station continues no old station.
    SELECT u.epoch, u.code AS unit_code
    FROM units AS u
    LEFT JOIN unit_lineage AS l ON l.to_epoch = u.epoch AND l.to_code = u.code AND l.from_epoch <> l.to_epoch AND l.main_predecessor
    WHERE u.level = 'commune' AND u.epoch = 'post2025' AND l.to_code IS NULL
),
expected AS (
    SELECT epoch, level, unit_code, COUNT(*) AS communes_expected
    FROM unit_ancestors
    GROUP BY epoch, level, unit_code
),
unit_indicators AS (
    -- Every unit of the covered provinces, and the nation, with every indicator and its target
    -- (the unit's own target if catalog/targets.csv has one, else the national default).
    SELECT
        e.epoch, e.level, e.unit_code, u.full_name AS unit_name,
        CASE WHEN e.level = 'province' THEN e.unit_code ELSE u.province_code END AS province_code,
        e.communes_expected,
        i.code AS indicator, i.name_vi AS indicator_name, i.name_en AS indicator_name_en, i.factor,
        -- A commune with no station before the reform to take station figures from (joined here,
        -- on the units, not on the rows of every period: that join cost ~3 s per year of periods).
        i.counts_stations AND e.level = 'commune' AND nm.unit_code IS NOT NULL AS lacks_station_history,
        COALESCE(ts.target_value, td.target_value) AS target,
        COALESCE(ts.target_year, td.target_year) AS target_year,
        COALESCE(ts.comparison, td.comparison) AS target_comparison
    -- Joins are built from their left input as written (join_order): the small tables (targets,
    -- the communes without a predecessor) come first and the unit × indicator rows stream past them.
    FROM no_main_predecessor AS nm
    RIGHT JOIN (
        targets AS td
        RIGHT JOIN (
            targets AS ts
            RIGHT JOIN (
                expected AS e
                JOIN units AS u ON u.epoch = e.epoch AND u.level = e.level AND u.code = e.unit_code
                LEFT JOIN reporting_provinces AS p ON p.epoch = u.epoch AND p.province_code = u.province_code
                CROSS JOIN indicators AS i
            ) ON ts.indicator = i.code AND ts.epoch = e.epoch AND ts.unit_code = e.unit_code
        ) ON td.indicator = i.code AND td.epoch IS NULL AND td.unit_code IS NULL
    ) ON nm.epoch = e.epoch AND nm.unit_code = e.unit_code
    WHERE e.level = 'national' OR p.province_code IS NOT NULL
),
valued AS (
    SELECT
        h.epoch, h.period, h.period_type, ui.level, ui.unit_code, ui.unit_name, ui.province_code,
        ui.indicator, ui.indicator_name, ui.indicator_name_en,
        r.numerator, r.denominator,
        CASE WHEN r.denominator > 0 THEN r.numerator / r.denominator * ui.factor END AS value,
        CASE
            WHEN r.denominator IS NULL AND h.has_remapped_months AND ui.lacks_station_history THEN 'no_main_predecessor'
            WHEN r.denominator IS NULL THEN 'no_data'
            WHEN r.denominator = 0 THEN 'zero_denominator'
        END AS null_reason,
        COALESCE(r.remapped, FALSE) AS remapped,
        COALESCE(r.estimated, FALSE) AS estimated,
        ui.target, ui.target_year, ui.target_comparison,
        COALESCE(r.communes_reporting, 0) AS communes_reporting,
        ui.communes_expected
    -- The hash table is built from the rolled terms (keys and numbers, one row per reported unit,
    -- period and indicator), not from the grid of every unit, period and indicator with its names:
    -- built from the grid, it held 3 M rows of names per chunk of the whole country (1.6 GB).
    FROM rolled AS r
    RIGHT JOIN (horizon_periods AS h JOIN unit_indicators AS ui ON ui.epoch = h.epoch)
        ON r.epoch = h.epoch AND r.period = h.period AND r.level = ui.level AND r.unit_code = ui.unit_code AND r.indicator = ui.indicator
)
SELECT
    epoch, period, period_type, level, unit_code, unit_name, province_code,
    indicator, indicator_name, indicator_name_en,
    numerator, denominator, value, null_reason,
    target, target_year, target_comparison,
    CASE
        WHEN value IS NULL OR target IS NULL THEN 'no_data'
        WHEN target_comparison = '>' AND value > target THEN 'met'
        WHEN target_comparison = '>=' AND value >= target THEN 'met'
        ELSE 'not_met'
    END AS status,
    target - value AS gap_to_target,
    communes_reporting,
    communes_expected,
    remapped,
    estimated
FROM valued
