-- grain: one row per (check_type, subject, epoch, period, org_unit): one data-quality finding on current monthly values
-- materialized: table
-- incremental: epoch
-- join_order: as_written
-- inputs: rule_breaks, monthly_values, data_elements, validation_rules, quality_settings, units
-- Findings are flagged, never altered: the values stay as reported. Three checks:
--   rule: a validation rule of catalog/validation_rules.csv broken by a commune's values in a
--     month (rule_breaks, which is refreshed month by month).
--   outlier: each count series (commune, data element, within one epoch) against its
--     own history: modified z = 0.6745 × (value − median) / MAD, where MAD is the median absolute
--     deviation from the median over every month of the series; when MAD is 0 (most months equal)
--     the mean absolute deviation is used instead: z = (value − median) / (1.253314 × meanAD).
--     Flagged when |z| ≥ outlier_min_z (3.5) and the series has at least outlier_min_months (6)
--     months with a value. Yes/no elements are never outliers.
--   stock_jump: a count stock whose value moved from the previous month with data by at least
--     stock_jump_min_change and by more than stock_jump_max_ratio (larger ÷ smaller), or to or
--     from 0.
-- Refreshed an epoch at a time (refresh_epochs): a new month changes the statistics of every series
-- of its epoch, so that epoch is recomputed whole and the other kept (a series never crosses the
-- reform: its units are those of one epoch).
-- Thresholds are data: catalog/quality_settings.csv, a default row per setting and optional rows
-- per data element. Joins put the smaller input first and are built as written (join_order), so a
-- hash table never holds every monthly value.
WITH resolved_settings AS (
    -- Each setting per data element: the element's own row if any, else the default row.
    SELECT e.code AS data_element, d.setting, COALESCE(o.value, d.value) AS value
    FROM data_elements AS e
    CROSS JOIN quality_settings AS d
    LEFT JOIN quality_settings AS o ON o.setting = d.setting AND o.data_element = e.code
    WHERE d.data_element IS NULL
),
settings AS (
    SELECT
        data_element,
        MAX(CASE WHEN setting = 'outlier_min_z' THEN value END) AS outlier_min_z,
        MAX(CASE WHEN setting = 'outlier_min_months' THEN value END) AS outlier_min_months,
        MAX(CASE WHEN setting = 'stock_jump_max_ratio' THEN value END) AS stock_jump_max_ratio,
        MAX(CASE WHEN setting = 'stock_jump_min_change' THEN value END) AS stock_jump_min_change
    FROM resolved_settings
    GROUP BY data_element
),
rule_findings AS (
    SELECT
        'rule' AS check_type, r.code AS subject, r.importance, b.epoch, b.period, b.org_unit,
        b.left_total AS value, b.right_total AS compared_with, CAST(NULL AS DOUBLE) AS score, CAST(NULL AS VARCHAR) AS compared_period,
        CAST(NULL AS BIGINT) AS months
    FROM validation_rules AS r
    JOIN rule_breaks AS b ON b.rule = r.code
    WHERE {{ refresh_epochs(b.epoch) }}
),
counts AS (
    SELECT v.epoch, v.period, v.org_unit, v.data_element, v.value, e.kind
    FROM data_elements AS e
    JOIN monthly_values AS v ON v.data_element = e.code
    WHERE e.value_type = 'count' AND {{ refresh_epochs(v.epoch) }}
),
-- Window functions over each series rather than aggregates joined back: the values are sorted
-- once by series and month, and every statistic below reads that order (a third of the time of
-- two hash joins of every monthly value with its series' figures). The windows are written out in
-- full: DataFusion 55 drops the PARTITION BY of a named window extended with an ORDER BY.
series AS (
    SELECT
        c.*,
        median(c.value) OVER (PARTITION BY c.epoch, c.org_unit, c.data_element) AS median,
        COUNT(*) OVER (PARTITION BY c.epoch, c.org_unit, c.data_element) AS months,
        LAG(c.value) OVER (PARTITION BY c.epoch, c.org_unit, c.data_element ORDER BY c.period) AS previous_value,
        LAG(c.period) OVER (PARTITION BY c.epoch, c.org_unit, c.data_element ORDER BY c.period) AS previous_period
    FROM counts AS c
),
spread AS (
    SELECT
        s.*,
        median(abs(s.value - s.median)) OVER (PARTITION BY s.epoch, s.org_unit, s.data_element) AS mad,
        AVG(abs(s.value - s.median)) OVER (PARTITION BY s.epoch, s.org_unit, s.data_element) AS mean_ad
    FROM series AS s
),
scored AS (
    SELECT
        d.*,
        CASE
            WHEN d.mad > 0 THEN 0.6745 * (d.value - d.median) / d.mad
            WHEN d.mean_ad > 0 THEN (d.value - d.median) / (1.253314 * d.mean_ad)
        END AS z
    FROM spread AS d
),
series_flags AS (
    -- Both series checks on each value, so the sorted series are read once: DataFusion would
    -- compute them again for a second query reading `scored`.
    SELECT
        d.*,
        d.months >= s.outlier_min_months AND abs(d.z) >= s.outlier_min_z AS is_outlier,
        d.kind = 'stock' AND d.previous_value IS NOT NULL
            AND abs(d.value - d.previous_value) >= s.stock_jump_min_change
            AND (least(d.value, d.previous_value) = 0 OR greatest(d.value, d.previous_value) / least(d.value, d.previous_value) > s.stock_jump_max_ratio)
            AS is_jump
    FROM settings AS s
    JOIN scored AS d ON d.data_element = s.data_element
),
flagged AS (
    SELECT
        *,
        CASE WHEN is_outlier AND is_jump THEN 'both' WHEN is_outlier THEN 'outlier' ELSE 'stock_jump' END AS failed
    FROM series_flags
    WHERE is_outlier OR is_jump
),
series_findings AS (
    -- One finding per check a flagged value failed (a value can be both an outlier and a jump).
    SELECT
        k.check_type, f.data_element AS subject, 'medium' AS importance, f.epoch, f.period, f.org_unit, f.value,
        CASE WHEN k.check_type = 'outlier' THEN f.median ELSE f.previous_value END AS compared_with,
        CASE
            WHEN k.check_type = 'outlier' THEN f.z
            WHEN least(f.value, f.previous_value) > 0 THEN greatest(f.value, f.previous_value) / least(f.value, f.previous_value)
        END AS score,
        CASE WHEN k.check_type = 'stock_jump' THEN f.previous_period END AS compared_period,
        CASE WHEN k.check_type = 'outlier' THEN f.months END AS months
    -- An equality join on the checks failed: a cross join with the condition in its filter was
    -- planned as a nested loop over every value of every series (the flagged filter merged into it).
    FROM (VALUES ('outlier', 'outlier'), ('stock_jump', 'stock_jump'), ('both', 'outlier'), ('both', 'stock_jump')) AS k(failed, check_type)
    JOIN flagged AS f ON f.failed = k.failed
),
findings AS (
    SELECT * FROM rule_findings
    UNION ALL
    SELECT * FROM series_findings
),
texts AS (
    -- Numbers as people write them: whole numbers without decimals, others to 2 decimals.
    SELECT
        f.*,
        CASE WHEN f.value = round(f.value) THEN CAST(CAST(f.value AS BIGINT) AS VARCHAR) ELSE CAST(round(f.value, 2) AS VARCHAR) END AS value_text,
        CASE WHEN f.compared_with = round(f.compared_with) THEN CAST(CAST(f.compared_with AS BIGINT) AS VARCHAR) ELSE CAST(round(f.compared_with, 2) AS VARCHAR) END AS compared_text
    FROM findings AS f
)
SELECT
    f.check_type, f.subject, f.importance, f.epoch, f.period, f.org_unit, u.full_name AS org_unit_name, u.province_code,
    f.value, f.compared_with, f.score, f.compared_period,
    CASE f.check_type
        WHEN 'rule' THEN concat('Vi phạm quy tắc ', r.code, ' (', r.name_vi, '): ', r."left", ' = ', f.value_text, ' phải ', r.operator, ' ', r."right", ' = ', f.compared_text)
        WHEN 'outlier' THEN concat('Giá trị bất thường: ', f.subject, ' = ', f.value_text, ', trung vị của ', CAST(f.months AS VARCHAR), ' tháng là ', f.compared_text, ', điểm z hiệu chỉnh ', CAST(round(f.score, 1) AS VARCHAR))
        ELSE concat('Thay đổi đột ngột: ', f.subject, ' từ ', f.compared_text, ' (tháng ', f.compared_period, ') thành ', f.value_text)
    END AS message_vi,
    CASE f.check_type
        WHEN 'rule' THEN concat('Rule ', r.code, ' broken (', r.name_en, '): ', r."left", ' = ', f.value_text, ' must be ', r.operator, ' ', r."right", ' = ', f.compared_text)
        WHEN 'outlier' THEN concat('Outlier: ', f.subject, ' = ', f.value_text, ', median of ', CAST(f.months AS VARCHAR), ' months ', f.compared_text, ', modified z-score ', CAST(round(f.score, 1) AS VARCHAR))
        ELSE concat('Sudden change: ', f.subject, ' from ', f.compared_text, ' (', f.compared_period, ') to ', f.value_text)
    END AS message_en
FROM texts AS f
JOIN units AS u ON u.epoch = f.epoch AND u.level = 'commune' AND u.code = f.org_unit
LEFT JOIN validation_rules AS r ON f.check_type = 'rule' AND r.code = f.subject
