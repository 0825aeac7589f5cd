-- grain: one row per (epoch, period, org_unit, data_element): a commune's current monthly value, disaggregations summed
-- materialized: table
-- incremental: month
-- inputs: stg_data_values
-- What the indicators and the quality checks start from: the current values of a commune and month
-- with their disaggregations (sex, age group, …) added up. Refreshed month by month.
SELECT epoch, period, org_unit, data_element, SUM(value) AS value, COUNT(*) AS disaggregations
FROM stg_data_values
WHERE {{ refresh_months(period) }}
GROUP BY epoch, period, org_unit, data_element
