-- grain: one row per (epoch, period, level, unit_code, indicator): an indicator of a unit as the Excel report shows it
-- inputs: indicator_values, units
-- What `tonghop export report` writes on its first two sheets: a unit's own rows (unit_code = the
-- unit: the summary) and the rows of the units one level down (parent_code = the unit: the
-- breakdown, whose totals row is the unit's own row). Every value comes straight from
-- indicator_values, so a unit's value is Σ numerator / Σ denominator over the communes under it,
-- never a sum or average of its sub-units' percentages. assessment is the Vietnamese word the
-- report prints for status.
SELECT
    v.epoch, v.period, v.level, v.unit_code, v.unit_name, u.parent_code,
    v.indicator, v.indicator_name, v.numerator, v.denominator, v.value,
    v.target, v.target_comparison, v.status,
    CASE v.status WHEN 'met' THEN 'Đạt' WHEN 'not_met' THEN 'Chưa đạt' ELSE 'Không có số liệu' END AS assessment,
    v.previous_year_period, v.value_previous_year, v.change_from_previous_year,
    v.remapped, v.estimated, v.previous_year_remapped, v.previous_year_estimated,
    v.communes_reporting, v.communes_expected
FROM indicator_values AS v
JOIN units AS u ON u.epoch = v.epoch AND u.level = v.level AND u.code = v.unit_code
