-- grain: one row per (epoch, period, org_unit, indicator): a commune's numerator and denominator terms in the units of the epoch
-- materialized: chunk
-- inputs: indicator_terms, unit_lineage, period_months
-- Computed for the periods being refreshed only (refresh_periods).
-- The terms indicator_rollups adds up, in the units each period is expressed in:
--   - a commune's own terms (pre-2025 periods in old units, every period from July 2025 in new);
--   - in post-2025 units, the terms of the old communes before 2025-07-01 carried into the new
--     communes (unit_lineage): a ratio of split figures takes each old commune's terms × the edge's
--     weight; a count of stations (indicators.counts_stations) takes the terms of the new commune's
--     main predecessor alone, never split. Weights of an old commune sum to 1 and no edge crosses a
--     province, so province and national sums are those of the old communes whatever the weights.
-- A period that straddles the reform combines both parts per side of the indicator, by the side's
-- time aggregation, with across_reform() (tonghop's SQL function, see crates/engine/src/functions.rs):
-- 'sum' adds the carried months (January–June) and the commune's own months; 'last' takes the
-- commune's own latest month when it reported after the reform, else the carried terms (each old
-- commune's latest month before July); 'average' weights the two parts' averages by their months
-- (the carried part counts the most months any predecessor reported).
-- remapped: the figure uses carried terms. estimated: carried terms of a partial edge with the
-- default equal weight took part (the commune's figure depends on it). estimated_above: the sum over
-- a province or the nation may depend on that weight too, which only happens when a straddling
-- period takes 'last' or 'average' terms partly from own months and partly from carried ones.
-- A period made of its own epoch's months alone (most rows) takes the terms as they are; only the
-- others go through the lineage and the aggregate.
WITH parts AS (
    -- The epochs whose reports make up a period in the units of each epoch, and whether it mixes two.
    SELECT epoch, period, month_epoch, COUNT(*) OVER (PARTITION BY epoch, period) > 1 AS mixed
    FROM (SELECT DISTINCT epoch, period, month_epoch FROM period_months WHERE {{ refresh_periods(period) }}) AS pe
),
own_only AS (
    SELECT
        t.epoch, t.period, t.org_unit, t.indicator, t.numerator, t.denominator,
        FALSE AS remapped, FALSE AS estimated, FALSE AS estimated_above
    FROM parts AS p
    JOIN indicator_terms AS t ON p.period = t.period AND p.month_epoch = t.epoch AND p.epoch = t.epoch
    WHERE NOT p.mixed
),
carried AS (
    SELECT
        p.epoch, t.period, l.to_code AS org_unit, t.indicator,
        t.num_aggregation, t.den_aggregation, p.mixed,
        t.epoch = p.epoch AS own,
        CASE WHEN t.counts_stations THEN 1.0 ELSE l.weight END AS weight,
        l.estimated AND NOT t.counts_stations AS estimated,
        t.numerator, t.denominator, t.months_reported
    -- The small inputs first: DataFusion builds each hash join from its left input when it cannot
    -- estimate the other (an aggregate), and building one from the terms took twice the time and memory.
    FROM unit_lineage AS l
    JOIN (parts AS p JOIN indicator_terms AS t ON p.period = t.period AND p.month_epoch = t.epoch)
        ON l.from_epoch = t.epoch AND l.from_code = t.org_unit AND l.to_epoch = p.epoch
    WHERE (l.main_predecessor OR NOT t.counts_stations) AND (p.mixed OR p.epoch <> t.epoch)
),
parted AS (
    -- Each side's own part and carried part (Σ weight × term over the predecessors).
    SELECT
        epoch, period, org_unit, indicator,
        -- The same for every row of a group (they follow from the indicator and the period): taken
        -- by aggregates, so the group key holds the grain's columns only.
        MAX(num_aggregation) AS num_aggregation, MAX(den_aggregation) AS den_aggregation, bool_or(mixed) AS mixed,
        SUM(CASE WHEN own THEN numerator END) AS own_num,
        SUM(CASE WHEN own THEN denominator END) AS own_den,
        MAX(CASE WHEN own THEN months_reported END) AS own_months,
        SUM(CASE WHEN NOT own THEN weight * numerator END) AS carried_num,
        SUM(CASE WHEN NOT own THEN weight * denominator END) AS carried_den,
        MAX(CASE WHEN NOT own THEN months_reported END) AS carried_months,
        bool_or(NOT own AND estimated) AS carried_estimated
    FROM carried
    GROUP BY epoch, period, org_unit, indicator
),
uses AS (
    -- Whether each side's figure takes the carried part.
    SELECT
        *,
        across_reform_uses_carried(num_aggregation, own_num, carried_num) AS num_carried,
        across_reform_uses_carried(den_aggregation, own_den, carried_den) AS den_carried
    FROM parted
)
SELECT * FROM own_only
UNION ALL
SELECT
    epoch, period, org_unit, indicator,
    across_reform(num_aggregation, own_num, own_months, carried_num, carried_months) AS numerator,
    across_reform(den_aggregation, own_den, own_months, carried_den, carried_months) AS denominator,
    num_carried OR den_carried AS remapped,
    carried_estimated AND (num_carried OR den_carried) AS estimated,
    carried_estimated AND mixed
        AND ((num_carried AND num_aggregation <> 'sum') OR (den_carried AND den_aggregation <> 'sum')) AS estimated_above
FROM uses
