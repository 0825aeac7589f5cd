-- grain: one row per (check_type, subject, epoch, period, org_unit): one data-quality finding on current monthly values
-- materialized: table
-- inputs: monthly_values, data_elements, validation_rules, validation_rule_elements, quality_settings, units
-- Findings are flagged, never altered: the values stay as reported. Three checks:
--   rule: every rule of catalog/validation_rules.csv (left operator right; each side a sum of data
--     elements) per commune and month, on values with their disaggregations summed (monthly_values). A side none of whose elements was reported
--     skips the rule (DHIS2's SKIP_IF_ALL_VALUES_MISSING); an unreported element of a partly
--     reported side counts 0. Rules applied at ingest can still break when a later submission
--     corrects only one side.
--   outlier: each count series (commune, data element, within one epoch) against its
--     own history: modified z = 0.6745 × (value − median) / MAD, where MAD is the median absolute
--     deviation from the median over every month of the series; when MAD is 0 (most months equal)
--     the mean absolute deviation is used instead: z = (value − median) / (1.253314 × meanAD).
--     Flagged when |z| ≥ outlier_min_z (3.5) and the series has at least outlier_min_months (6)
--     months with a value. Yes/no elements are never outliers.
--   stock_jump: a count stock whose value moved from the previous month with data by at least
--     stock_jump_min_change and by more than stock_jump_max_ratio (larger ÷ smaller), or to or
--     from 0.
-- Thresholds are data: catalog/quality_settings.csv, a default row per setting and optional rows
-- per data element. Joins put the smaller input first: DataFusion builds its hash table from the
-- left side when it has no statistics to choose.
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
rule_totals AS (
    -- Each side of each rule per commune and month; NULL when none of the side's elements was reported.
    SELECT
        v.epoch, v.period, v.org_unit, re.rule,
        SUM(CASE WHEN re.side = 'left' THEN v.value END) AS left_total,
        SUM(CASE WHEN re.side = 'right' THEN v.value END) AS right_total
    FROM validation_rule_elements AS re
    JOIN monthly_values AS v ON v.data_element = re.data_element
    GROUP BY v.epoch, v.period, v.org_unit, re.rule
),
rule_findings AS (
    SELECT
        'rule' AS check_type, r.code AS subject, r.importance, t.epoch, t.period, t.org_unit,
        t.left_total AS value, t.right_total AS compared_with, CAST(NULL AS DOUBLE) AS score, CAST(NULL AS VARCHAR) AS compared_period,
        CAST(NULL AS BIGINT) AS months
    FROM validation_rules AS r
    JOIN rule_totals AS t ON t.rule = r.code
    WHERE t.left_total IS NOT NULL AND t.right_total IS NOT NULL
      AND NOT CASE r.operator
            WHEN '<=' THEN t.left_total <= t.right_total
            WHEN '<' THEN t.left_total < t.right_total
            WHEN '>=' THEN t.left_total >= t.right_total
            WHEN '>' THEN t.left_total > t.right_total
            WHEN '==' THEN t.left_total = t.right_total
            WHEN '!=' THEN t.left_total <> t.right_total
        END
),
counts AS (
    SELECT v.epoch, v.period, v.org_unit, v.data_element, v.value, e.kind
    FROM data_elements AS e
    JOIN monthly_values AS v ON v.data_element = e.code
    WHERE e.value_type = 'count'
),
centre AS (
    SELECT epoch, org_unit, data_element, median(value) AS median, COUNT(*) AS months
    FROM counts
    GROUP BY epoch, org_unit, data_element
),
deviations AS (
    SELECT c.*, m.median, m.months, abs(c.value - m.median) AS deviation
    FROM centre AS m
    JOIN counts AS c
        ON m.epoch = c.epoch AND m.org_unit = c.org_unit AND m.data_element = c.data_element
),
spread AS (
    SELECT epoch, org_unit, data_element, median(deviation) AS mad, AVG(deviation) AS mean_ad
    FROM deviations
    GROUP BY epoch, org_unit, data_element
),
scored AS (
    SELECT
        d.*,
        CASE
            WHEN s.mad > 0 THEN 0.6745 * (d.value - d.median) / s.mad
            WHEN s.mean_ad > 0 THEN (d.value - d.median) / (1.253314 * s.mean_ad)
        END AS z
    FROM spread AS s
    JOIN deviations AS d
        ON s.epoch = d.epoch AND s.org_unit = d.org_unit AND s.data_element = d.data_element
),
outlier_findings AS (
    SELECT
        'outlier' AS check_type, d.data_element AS subject, 'medium' AS importance, d.epoch, d.period, d.org_unit,
        d.value, d.median AS compared_with, d.z AS score, CAST(NULL AS VARCHAR) AS compared_period, d.months
    FROM settings AS s
    JOIN scored AS d ON d.data_element = s.data_element
    WHERE d.months >= s.outlier_min_months AND abs(d.z) >= s.outlier_min_z
),
stock_steps AS (
    SELECT
        c.*,
        LAG(c.value) OVER (PARTITION BY c.epoch, c.org_unit, c.data_element ORDER BY c.period) AS previous_value,
        LAG(c.period) OVER (PARTITION BY c.epoch, c.org_unit, c.data_element ORDER BY c.period) AS previous_period
    FROM counts AS c
    WHERE c.kind = 'stock'
),
jump_findings AS (
    SELECT
        'stock_jump' AS check_type, j.data_element AS subject, 'medium' AS importance, j.epoch, j.period, j.org_unit,
        j.value, j.previous_value AS compared_with,
        CASE WHEN least(j.value, j.previous_value) > 0 THEN greatest(j.value, j.previous_value) / least(j.value, j.previous_value) END AS score,
        j.previous_period AS compared_period, CAST(NULL AS BIGINT) AS months
    FROM settings AS s
    JOIN stock_steps AS j ON j.data_element = s.data_element
    WHERE j.previous_value IS NOT NULL
      AND abs(j.value - j.previous_value) >= s.stock_jump_min_change
      AND (least(j.value, j.previous_value) = 0 OR greatest(j.value, j.previous_value) / least(j.value, j.previous_value) > s.stock_jump_max_ratio)
),
findings AS (
    SELECT * FROM rule_findings
    UNION ALL
    SELECT * FROM outlier_findings
    UNION ALL
    SELECT * FROM jump_findings
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
