-- grain: one row per (epoch, commune_code, level): the unit at that level that contains the commune
-- materialized: memory
-- inputs: units
-- Levels: commune → district → province → national before 2025-07-01; commune → province → national after.
SELECT epoch, code AS commune_code, 'commune' AS level, code AS unit_code FROM units WHERE level = 'commune'
UNION ALL
SELECT epoch, code, 'district', district_code FROM units WHERE level = 'commune' AND district_code IS NOT NULL
UNION ALL
SELECT epoch, code, 'province', province_code FROM units WHERE level = 'commune'
UNION ALL
SELECT epoch, code, 'national', 'VN' FROM units WHERE level = 'commune'
