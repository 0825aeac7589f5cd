-- grain: one row per (epoch, period, org_unit, data_element): a commune's current monthly value, disaggregations summed
-- materialized: table
-- incremental: month
-- join_order: as_written
-- inputs: stg_data_values
-- What the indicators and the quality checks start from: the current values of a commune and month
-- with their disaggregations (sex, age group, …) added up. Refreshed month by month. Its joins (in
-- data_value_versions and the data_values view) put the small side first and are built as written.
SELECT epoch, period, org_unit, data_element, SUM(value) AS value, COUNT(*) AS disaggregations
FROM stg_data_values
WHERE {{ refresh_months(period) }}
GROUP BY epoch, period, org_unit, data_element
