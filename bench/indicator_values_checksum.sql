-- A fingerprint of indicator_values for comparing two builds of the same inbox (before and after a
-- change that must not change results): per (epoch, period, level, indicator), the row count, sums of
-- every numeric column rounded to 4 decimals (sums of fractional weights differ in their last bits with
-- the order DataFusion's parallel aggregation adds them in), counts of each flag and status, and sums
-- over the codes and names. Run: tonghop sql --format csv -- "$(cat bench/indicator_values_checksum.sql)"
SELECT epoch, period, level, indicator, count(*) AS n,
  round(sum(numerator), 4) AS num, round(sum(denominator), 4) AS den, round(sum(value), 4) AS val,
  round(sum(value_previous_year), 4) AS prev, round(sum(gap_to_target), 4) AS gap, round(sum(change_from_previous_year), 4) + 0.0 AS chg,
  sum(CASE WHEN status = 'met' THEN 1 ELSE 0 END) AS met, sum(CASE WHEN status = 'no_data' THEN 1 ELSE 0 END) AS nodata,
  sum(communes_reporting) AS cr, sum(communes_expected) AS ce,
  sum(CASE WHEN remapped THEN 1 ELSE 0 END) AS rm, sum(CASE WHEN estimated THEN 1 ELSE 0 END) AS est,
  sum(CASE WHEN previous_year_remapped THEN 1 ELSE 0 END) AS prm, sum(CASE WHEN previous_year_estimated THEN 1 ELSE 0 END) AS pest,
  count(null_reason) AS nr, sum(length(unit_name)) AS names, sum(TRY_CAST(unit_code AS BIGINT)) AS codes,
  sum(TRY_CAST(province_code AS BIGINT)) AS provs, count(DISTINCT previous_year_period) AS pyp, min(period_type) AS pt, min(year) AS y
FROM indicator_values GROUP BY epoch, period, level, indicator ORDER BY epoch, period, level, indicator
