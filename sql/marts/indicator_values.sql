-- grain: one row per (epoch, period, level, unit_code, indicator)
-- materialized: table
-- incremental: period
-- order_by: period, province_code, level, unit_code, indicator
-- join_order: as_written
-- inputs: indicator_rollups, unit_ancestors, unit_lineage, reporting_months, reporting_provinces, period_months, periods, units, indicators, targets
-- The Directive 25 indicators of every unit of every level, for every period that has a month in the
-- reporting horizon (reporting_months), reported or not (communes_reporting = 0, value NULL,
-- null_reason 'no_data'), against the target, with the same period a year earlier (2026Q1 →
-- 2025Q1). Units of provinces without any data in the epoch are left out (reporting_provinces: a
-- deployment covering a few provinces does not list the others); the nation is always there and
-- expects every commune.
-- value = Σ numerator / Σ denominator × factor at every level (the sums of indicator_rollups);
-- NULL with null_reason 'zero_denominator' when the denominator sums to 0.
-- Both epochs' units: a period before 2025-07-01 in old units, and every period in today's units,
-- with the months before the reform carried across it (remapped; estimated where a default weight
-- decides the figure). A new commune without a main predecessor (the five special zones formed from
-- island districts) has no station figures before the reform: null_reason 'no_main_predecessor'.
-- The horizon of a period in today's units counts the months reported in either epoch.
-- The previous year: the same level and unit code in the same epoch's units. Codes were reused with
-- new meanings in 2025, so a unit is never compared with another epoch's unit of the same code;
-- instead, every earlier period also exists in today's units (indicator_rollups carries the old
-- communes' figures across the reform), so 2026Q1 compares with 2025Q1 and 2025Q3 with 2024Q3 in
-- today's units at every level (previous_year_remapped).
-- Written ordered by province within each period: one province's indicators at every level
-- (`WHERE province_code = … AND year = …`) are read from a few row groups, and, the order being
-- tagged on the files, come out ordered by period, level, unit and indicator with no sort.
WITH horizon_periods AS (
    SELECT pm.epoch, pm.period, pm.period_type, p.year, p.previous_year_period, bool_or(pm.remapped) AS has_remapped_months
    FROM period_months AS pm
    JOIN reporting_months AS m ON m.epoch = pm.month_epoch AND m.month = pm.month
    JOIN periods AS p ON p.period = pm.period
    WHERE {{ refresh_periods(pm.period) }}
    GROUP BY pm.epoch, pm.period, pm.period_type, p.year, p.previous_year_period
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
sums AS (
    -- The grid's keys (every unit, indicator and period) with the sums of the period and of the same
    -- period a year earlier. Joins are built from their left input as written (join_order): the
    -- previous year's sums, then those of the periods being built (keys and numbers, one row per
    -- reported unit, period and indicator) are held, and the keys stream past both; the names,
    -- targets and periods join last (valued), from the unit × indicator rows (170 k for the whole
    -- country) and a few dozen periods. Built from the grid with its names, a hash table held 3 M rows of names
    -- per chunk of the whole country (1.6 GB); DuckDB, which builds from the side it estimates
    -- smaller, did that with the names carried through both joins and ran out of memory. The
    -- unit's province and communes expected ride along with the keys, so that every column the
    -- rows are sorted by, and every column that is never NULL, comes from these rows.
    SELECT
        g.epoch, g.period, g.level, g.unit_code, g.indicator, g.province_code, g.communes_expected,
        r.numerator, r.denominator, r.communes_reporting, r.remapped, r.estimated,
        prev.numerator AS previous_numerator, prev.denominator AS previous_denominator,
        prev.remapped AS previous_remapped, prev.estimated AS previous_estimated
    FROM (
        SELECT epoch, period, level, unit_code, indicator, numerator, denominator, remapped, estimated
        FROM indicator_rollups
        WHERE {{ refresh_previous_periods(period) }}
    ) AS prev
    RIGHT JOIN (
        (
            SELECT epoch, period, level, unit_code, indicator, numerator, denominator, communes_reporting, remapped, estimated
            FROM indicator_rollups
            WHERE {{ refresh_periods(period) }}
        ) AS r
        RIGHT JOIN (
            SELECT h.epoch, h.period, h.previous_year_period, ui.level, ui.unit_code, ui.indicator, ui.province_code, ui.communes_expected
            FROM horizon_periods AS h
            JOIN unit_indicators AS ui ON ui.epoch = h.epoch
        ) AS g
            ON r.epoch = g.epoch AND r.period = g.period AND r.level = g.level AND r.unit_code = g.unit_code AND r.indicator = g.indicator
    ) ON prev.period = g.previous_year_period AND prev.level = g.level AND prev.unit_code = g.unit_code
        AND prev.indicator = g.indicator AND prev.epoch = g.epoch
),
valued AS (
    SELECT
        s.epoch, s.period, h.period_type, h.year, s.level, s.unit_code, ui.unit_name, s.province_code,
        s.indicator, ui.indicator_name, ui.indicator_name_en,
        s.numerator, s.denominator,
        CASE WHEN s.denominator > 0 THEN s.numerator / s.denominator * ui.factor END AS value,
        CASE
            WHEN s.denominator IS NULL AND h.has_remapped_months AND ui.lacks_station_history THEN 'no_main_predecessor'
            WHEN s.denominator IS NULL THEN 'no_data'
            WHEN s.denominator = 0 THEN 'zero_denominator'
        END AS null_reason,
        ui.target, ui.target_year, ui.target_comparison,
        h.previous_year_period,
        CASE WHEN s.previous_denominator > 0 THEN s.previous_numerator / s.previous_denominator * ui.factor END AS value_previous_year,
        COALESCE(s.communes_reporting, 0) AS communes_reporting,
        s.communes_expected,
        COALESCE(s.remapped, FALSE) AS remapped,
        COALESCE(s.estimated, FALSE) AS estimated,
        COALESCE(s.previous_remapped, FALSE) AS previous_year_remapped,
        COALESCE(s.previous_estimated, FALSE) AS previous_year_estimated
    -- Every row of sums has its unit × indicator and its period (the grid was made from them), so
    -- these right joins keep exactly the rows inner joins would. Written as inner joins, they were
    -- flattened and re-paired by the optimizer (the periods with the sums first, that pair then
    -- built into a hash table of 3 M rows a chunk, which the unit × indicator rows probed); right
    -- joins are kept as written: the sums stream past the periods, then past the unit × indicator
    -- rows, the narrow table first (each join copies the rows it passes on).
    FROM unit_indicators AS ui
    RIGHT JOIN (
        horizon_periods AS h
        RIGHT JOIN sums AS s ON h.epoch = s.epoch AND h.period = s.period
    ) ON s.epoch = ui.epoch AND s.level = ui.level AND s.unit_code = ui.unit_code AND s.indicator = ui.indicator
)
SELECT
    epoch, period, period_type, year, level, unit_code, unit_name, province_code,
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
    previous_year_period,
    value_previous_year,
    value - value_previous_year AS change_from_previous_year,
    communes_reporting,
    communes_expected,
    remapped,
    estimated,
    previous_year_remapped,
    previous_year_estimated
FROM valued
