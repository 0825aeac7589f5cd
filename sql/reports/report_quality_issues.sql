-- grain: one row per (check_type, subject, epoch, period, org_unit): a data-quality finding as the Excel report lists it
-- inputs: quality_issues, units
-- What `tonghop export report` writes on its data-quality sheet, with the commune's district and
-- province (to select a unit's communes) and the check and importance in Vietnamese.
SELECT
    q.epoch, q.period, q.org_unit, q.org_unit_name, u.province_code, u.district_code,
    q.check_type,
    CASE q.check_type WHEN 'rule' THEN 'Vi phạm quy tắc' WHEN 'outlier' THEN 'Giá trị bất thường' ELSE 'Thay đổi đột ngột' END AS check_name,
    q.subject, q.importance,
    CASE q.importance WHEN 'high' THEN 'Cao' WHEN 'medium' THEN 'Trung bình' ELSE 'Thấp' END AS importance_name,
    q.value, q.compared_with, q.message_vi, q.message_en
FROM quality_issues AS q
JOIN units AS u ON u.epoch = q.epoch AND u.level = 'commune' AND u.code = q.org_unit
