-- grain: one row per (epoch, period, org_unit, data_element, disaggregation): the current value
-- inputs: data_value_versions
-- The current value of a key is its latest version, unless that version deletes the key.
SELECT epoch, period, org_unit, data_element, disaggregation, value, submission_id, received_at
FROM data_value_versions
WHERE version = 1 AND NOT deleted
