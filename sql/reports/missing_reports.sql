-- grain: one row per (epoch, period, commune_code): a monthly report whose deadline has passed with nothing received
-- inputs: commune_reports, units
-- Who has not reported: the commune, its district (pre2025) and province, and the deadline missed.
SELECT
    c.epoch, c.month AS period, cu.province_code, pu.full_name AS province_name,
    cu.district_code, du.full_name AS district_name,
    c.commune_code, cu.full_name AS commune_name, c.deadline_date
FROM commune_reports AS c
JOIN units AS cu ON cu.epoch = c.epoch AND cu.level = 'commune' AND cu.code = c.commune_code
JOIN units AS pu ON pu.epoch = c.epoch AND pu.level = 'province' AND pu.code = cu.province_code
LEFT JOIN units AS du ON du.epoch = c.epoch AND du.level = 'district' AND du.code = cu.district_code
WHERE c.status = 'missing'
ORDER BY c.epoch, c.month, cu.province_code, c.commune_code
