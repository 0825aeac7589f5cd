-- grain: one row per (rule, epoch, period, org_unit): a validation rule a commune's values break in a month
-- materialized: table
-- incremental: month
-- join_order: as_written
-- inputs: monthly_values, validation_rules, validation_rule_elements
-- The rule check of quality_issues, kept month by month: a rule reads one commune and one month,
-- so only the months being refreshed can change. Every rule of catalog/validation_rules.csv (left
-- operator right; each side a sum of data elements) per commune and month, on values with their
-- disaggregations summed (monthly_values). A side none of whose elements was reported skips the
-- rule (DHIS2's SKIP_IF_ALL_VALUES_MISSING); an unreported element of a partly reported side
-- counts 0. Rules applied at ingest can still break when a later submission corrects only one side.
WITH rule_totals AS (
    -- Each side of each rule per commune and month; NULL when none of the side's elements was reported.
    SELECT
        v.epoch, v.period, v.org_unit, re.rule,
        SUM(CASE WHEN re.side = 'left' THEN v.value END) AS left_total,
        SUM(CASE WHEN re.side = 'right' THEN v.value END) AS right_total
    FROM validation_rule_elements AS re
    JOIN monthly_values AS v ON v.data_element = re.data_element
    WHERE {{ refresh_months(v.period) }}
    GROUP BY v.epoch, v.period, v.org_unit, re.rule
)
SELECT t.rule, t.epoch, t.period, t.org_unit, t.left_total, t.right_total
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
