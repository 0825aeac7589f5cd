//! The Excel report of Directive 25-CT/TW for one unit and one period (`tonghop export report`).
//!
//! The figures come from the views of `sql/reports/` (`report_indicators`, `report_completeness`,
//! `report_quality_issues`, `missing_reports`), which analysts can read and query themselves; this
//! module only selects a unit's rows from them ([`ReportData::gather`]) and lays them out
//! ([`ReportData::to_xlsx`], in [`layout`]). The workbook:
//!
//! | sheet | content |
//! |---|---|
//! | `Tổng hợp` | title block; per indicator: 2030 target, this period, same period last year, change, assessment |
//! | `Theo đơn vị` | the indicators of the units one level down (districts before the 2025 reform, communes after, provinces for the nation), coloured by target status, and the unit's own value as the totals row |
//! | `Đầy đủ - kịp thời` | reports expected, received, on time, late, missing per sub-unit and in total, then the list of communes that did not report |
//! | `Chất lượng số liệu` | the data-quality findings on the unit's communes in the period's months |
//! | `Biểu đồ` | per indicator, a column chart of the sub-units against the target line |
//!
//! The totals row is the unit's own row of `indicator_values` (Σ numerator / Σ denominator over
//! its communes), not a sum or average of the sub-units' percentages.

pub mod layout;

use std::collections::BTreeMap;

use arrow::array::{Array, RecordBatch};
use chrono::{DateTime, NaiveDate, Utc};
use tonghop_core::{AdminUnit, Catalog, Epoch, Level, Period, UnitRegistry};
use tonghop_engine::Engine;

use crate::{Error, Result};

/// The title of the report.
pub const REPORT_TITLE: &str = "BÁO CÁO KẾT QUẢ THỰC HIỆN CÁC CHỈ TIÊU Y TẾ CƠ SỞ THEO CHỈ THỊ SỐ 25-CT/TW";

/// What a report is about: a unit with sub-units and a period, in the units of the unit's epoch.
#[derive(Debug, Clone)]
pub struct ReportScope {
    /// The period.
    pub period: Period,
    /// The epoch whose units the figures are expressed in (post2025 for a period that straddles
    /// the reform, or for an earlier period asked for with `post2025:<code>`).
    pub epoch: Epoch,
    /// In post-2025 units: the old (pre-2025) provinces whose communes went into the unit, whose
    /// missing reports and quality findings before 2025-07-01 the report lists (empty for the nation
    /// and in pre-2025 units).
    pub old_provinces: Vec<String>,
    /// The reporting unit (national, province or district).
    pub unit: AdminUnit,
    /// The level one down: the rows of the breakdown.
    pub sub_level: Level,
}

impl ReportScope {
    /// Resolves `unit` (`epoch:code`, or a code of the period's epoch; `VN` for the nation) and
    /// `period` (a period code).
    ///
    /// # Errors
    ///
    /// [`Error::Period`] for a malformed period or one straddling 2025-07-01;
    /// [`Error::UnknownUnit`] for a code that is not a unit of the period's epoch (saying when it
    /// is one of the other epoch); [`Error::EpochMismatch`] when `epoch:` names the other epoch;
    /// [`Error::NoSubunits`] for a commune.
    pub fn resolve(registry: &UnitRegistry, unit: &str, period: &str) -> Result<ReportScope> {
        let (parsed, epoch, found) = resolve_unit(registry, unit, period)?;
        let levels = Level::of_epoch(epoch);
        let position = levels.iter().position(|l| *l == found.level).unwrap_or(levels.len());
        let Some(sub_level) = levels.get(position + 1).copied() else {
            return Err(Error::NoSubunits { unit: format!("{} ({})", found.full_name, found.code) });
        };
        let mut old_provinces: Vec<String> = if epoch == Epoch::Post2025 && found.level == Level::Province {
            registry.mapping().iter().filter(|e| e.new_province_code == found.code).map(|e| e.old_province_code.clone()).collect()
        } else {
            Vec::new()
        };
        old_provinces.sort();
        old_provinces.dedup();
        Ok(ReportScope { period: parsed, epoch, old_provinces, unit: found.clone(), sub_level })
    }

    /// The default file name: `bao_cao_<unit>_<period>.xlsx`.
    pub fn file_name(&self) -> String {
        format!("bao_cao_{}_{}.xlsx", self.unit.code, self.period)
    }

    /// The reporting unit as printed: `Tỉnh Quảng Ninh`, `Toàn quốc`.
    pub fn unit_label(&self) -> String {
        if self.unit.level == Level::National {
            "Toàn quốc".to_string()
        } else {
            self.unit.full_name.clone()
        }
    }

    /// The totals-row label: `Toàn quốc`, `Toàn tỉnh`, `Toàn thành phố`, `Toàn huyện`…
    pub fn totals_label(&self) -> String {
        if self.unit.level == Level::National {
            "Toàn quốc".to_string()
        } else {
            format!("Toàn {}", self.unit.unit_type.to_lowercase())
        }
    }

    /// The column heading of the sub-units.
    pub fn sub_level_label(&self) -> &'static str {
        match self.sub_level {
            Level::National => "Cả nước",
            Level::Province => "Tỉnh/Thành phố",
            Level::District => "Huyện/Quận/Thị xã/Thành phố",
            Level::Commune => "Xã/Phường/Đặc khu",
        }
    }

    /// The values of the named parameters of the report's queries: `$epoch`, `$period`, `$unit`
    /// (the unit's code), `$unit_level` and `$sub_level`.
    fn params(&self) -> [(&'static str, String); 5] {
        [
            ("epoch", self.epoch.as_str().to_string()),
            ("period", self.period.to_string()),
            ("unit", self.unit.code.clone()),
            ("unit_level", self.unit.level.as_str().to_string()),
            ("sub_level", self.sub_level.as_str().to_string()),
        ]
    }

    /// The unit's own rows, as a predicate on a view keyed by epoch, period, level and unit.
    const WHERE_UNIT: &'static str = "epoch = $epoch AND period = $period AND level = $unit_level AND unit_code = $unit";

    /// The rows of the units one level down.
    const WHERE_CHILDREN: &'static str = "epoch = $epoch AND period = $period AND level = $sub_level AND parent_code = $unit";

    /// Communes under the unit, as a predicate on a view of commune rows in the units they reported
    /// in, with `epoch`, `period` (a month), `province_code` and `district_code`. In post-2025 units,
    /// the months before the reform are those of the old communes that went into the unit.
    fn where_communes_under(&self) -> String {
        use tonghop_core::sql::{literal, literal_list};
        // The months of the period by the epoch they were reported in (a pre-2025 scope has only
        // pre-2025 months; a post-2025 one may have both).
        let clauses: Vec<String> = Epoch::ALL
            .into_iter()
            .filter_map(|epoch| {
                let months: Vec<String> = self.period.months().filter(|m| Epoch::on(m.start()) == epoch).map(|m| m.to_string()).collect();
                let unit = match self.unit.level {
                    Level::National => String::new(),
                    Level::Province if epoch == self.epoch => " AND province_code = $unit".to_string(),
                    Level::Province if self.old_provinces.is_empty() => return None,
                    Level::Province => format!(" AND province_code IN ({})", literal_list(&self.old_provinces)),
                    _ => " AND district_code = $unit".to_string(),
                };
                (!months.is_empty()).then(|| format!("(epoch = {} AND period IN ({}){unit})", literal(epoch.as_str()), literal_list(&months)))
            })
            .collect();
        if clauses.is_empty() {
            "FALSE".into()
        } else {
            clauses.join(" OR ")
        }
    }

    /// The Vietnamese footnote on figures carried across the 2025 reform (empty when none is).
    pub fn reform_footnote(&self, rows: &[IndicatorRow]) -> Vec<String> {
        if self.epoch != Epoch::Post2025 {
            return Vec::new();
        }
        let remapped = rows.iter().any(|r| r.remapped);
        let previous = rows.iter().any(|r| r.previous_year_remapped);
        if !remapped && !previous {
            return Vec::new();
        }
        let mut what = Vec::new();
        if remapped {
            what.push(reform_months_vi(&self.period));
        }
        if let Some(p) = self.period.previous_year().filter(|_| previous) {
            what.push(format!("cùng kỳ năm trước ({})", reform_months_vi(&p)));
        }
        let mut lines = vec![
            format!(
                "Ghi chú: Số liệu {} được quy đổi từ đơn vị hành chính cũ (trước ngày 01/07/2025) sang đơn vị hành chính hiện nay theo phương án sắp xếp đơn vị hành chính năm 2025.",
                what.join(" và số liệu ")
            ),
            "Các số liệu dân số, thẻ BHYT, lượt khám chữa bệnh, người có nguy cơ cao và thôn, bản được phân bổ theo tỷ lệ của từng xã cũ về xã mới (xã cũ chia về nhiều xã mới: theo tỷ lệ trong reform_weights.csv, chia đều khi chưa có tỷ lệ chính thức); các chỉ tiêu về trạm y tế lấy theo trạm y tế của xã cũ mà xã mới giữ mã."
                .to_string(),
            "Số liệu cấp tỉnh và toàn quốc bằng tổng của các xã cũ, không phụ thuộc tỷ lệ phân bổ.".to_string(),
        ];
        if rows.iter().any(|r| r.estimated || r.previous_year_estimated) {
            lines.push("Một số số liệu cấp xã là số ước tính (xã cũ chia về nhiều xã mới, chia đều do chưa có tỷ lệ chính thức).".to_string());
        }
        lines.into_iter().map(|l| tonghop_core::text::nfc(&l).into_owned()).collect()
    }
}

/// The months of a period before the reform, in Vietnamese: `6 tháng đầu năm 2025` for a
/// straddling period, or the period's own name.
fn reform_months_vi(period: &Period) -> String {
    if Epoch::straddles(period) {
        "6 tháng đầu năm 2025 (từ tháng 1 đến tháng 6)".to_string()
    } else {
        period.name_vi()
    }
}

/// Resolves `period` (a period code) and `unit`: `epoch:code`, or a code of the epoch whose units
/// express the period by default ([`Epoch::of_units_for`]: the period's own epoch, post2025 for a
/// period that straddles 2025-07-01; `VN` for the nation). `post2025:<code>` also reads a period
/// before the reform in today's units. Shared by the report and the DHIS2 export.
///
/// # Errors
///
/// [`Error::Period`] for a malformed period; [`Error::UnknownUnit`] for a code that is not a unit
/// of that epoch (saying when it is one of the other epoch); [`Error::EpochMismatch`] when
/// `pre2025:` names a period that does not end before the reform.
pub fn resolve_unit<'r>(registry: &'r UnitRegistry, unit: &str, period: &str) -> Result<(Period, Epoch, &'r AdminUnit)> {
    let period_error = |source| Error::Period { period: period.to_string(), source };
    let parsed: Period = period.trim().parse().map_err(period_error)?;
    let mut epoch = Epoch::of_units_for(&parsed);
    let written: tonghop_core::units::UnitRef = unit.parse().map_err(|e: tonghop_core::Error| Error::UnknownUnit {
        unit: unit.to_string(),
        reason: format!("{e}: write pre2025:<code> or post2025:<code>, or the code alone"),
    })?;
    if let Some(named) = written.epoch {
        if !named.expresses(&parsed) {
            return Err(Error::EpochMismatch { unit: unit.to_string(), period: parsed.to_string(), epoch: epoch.to_string() });
        }
        epoch = named;
    }
    let code = written.code.as_str();
    let Some(found) = registry.get(epoch, code) else {
        let other = Epoch::ALL.into_iter().find(|e| *e != epoch).and_then(|e| registry.get(e, code));
        let reason = match other {
            Some(u) => format!(
                "{code} is {} in the {} epoch only; period {parsed} belongs to the {epoch} epoch (codes were reused at the 2025-07-01 reform)",
                u.full_name, u.epoch
            ),
            None => format!("no unit has code {code} in the {epoch} epoch of period {parsed} (use a province code such as 01, or VN)"),
        };
        return Err(Error::UnknownUnit { unit: unit.to_string(), reason });
    };
    Ok((parsed, epoch, found))
}

/// One indicator of one unit (a row of `report_indicators`).
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorRow {
    /// Unit code.
    pub unit_code: String,
    /// Unit name.
    pub unit_name: String,
    /// Indicator code.
    pub indicator: String,
    /// Vietnamese indicator name.
    pub indicator_name: String,
    /// Σ numerator.
    pub numerator: Option<f64>,
    /// Σ denominator.
    pub denominator: Option<f64>,
    /// The value (percent).
    pub value: Option<f64>,
    /// The 2030 target.
    pub target: Option<f64>,
    /// `>`, `>=`, …
    pub target_comparison: Option<String>,
    /// `met`, `not_met` or `no_data`.
    pub status: String,
    /// `Đạt`, `Chưa đạt`, `Không có số liệu`.
    pub assessment: String,
    /// The same period a year earlier.
    pub value_previous_year: Option<f64>,
    /// value − value_previous_year.
    pub change: Option<f64>,
    /// The value uses figures carried across the 2025 reform.
    pub remapped: bool,
    /// The value depends on a default (equal) weight of a split old commune.
    pub estimated: bool,
    /// The previous year's value was carried across the reform.
    pub previous_year_remapped: bool,
    /// The previous year's value depends on a default weight.
    pub previous_year_estimated: bool,
}

/// Everything the workbook shows, read from the `sql/reports/` views.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// Unit and period.
    pub scope: ReportScope,
    /// The date printed as the date the report was produced (Vietnam time).
    pub produced_on: NaiveDate,
    /// The indicators, in catalog order: `(code, Vietnamese name)`.
    pub indicators: Vec<(String, String)>,
    /// The unit's own indicator rows, in catalog order.
    pub summary: Vec<IndicatorRow>,
    /// The sub-units' rows, by unit code, then in catalog order.
    pub breakdown: Vec<IndicatorRow>,
    /// Completeness per sub-unit, then the unit's own row (the totals).
    pub completeness: Vec<RecordBatch>,
    /// The communes that did not report in the period's months.
    pub missing: Vec<RecordBatch>,
    /// Data-quality findings on the unit's communes in the period's months.
    pub quality: Vec<RecordBatch>,
    /// The versions of the Delta tables read, and when (written into the workbook's properties).
    pub versions: BTreeMap<String, i64>,
    /// The instant the data stood at (the export time, or the as-of time).
    pub produced_at: DateTime<Utc>,
    /// The administrative frame printed above the summary and the signatures below it (Decree
    /// 30/2020/NĐ-CP); none prints the title block only.
    pub frame: Option<tonghop_core::frames::UnitFrame>,
    /// The reviews of the plans covering the unit in the period, each on a sheet of its own
    /// (the same content as `tonghop export review`, for readers of Excel).
    pub reviews: Vec<crate::review::Review>,
}

impl ReportData {
    /// Reads the report's figures for `scope` from the `sql/reports/` views.
    ///
    /// `produced_at` is the instant the report stands for (now, or the as-of time); the date
    /// printed is its date in Vietnam (UTC+7).
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when a view fails; [`Error::NoData`] when the models hold no indicator for
    /// the unit and period (not built yet, or no data in that period).
    #[tracing::instrument(skip_all, fields(unit = %scope.unit.code, period = %scope.period))]
    pub async fn gather(engine: &Engine, catalog: &Catalog, scope: ReportScope, produced_at: DateTime<Utc>) -> Result<ReportData> {
        let order: Vec<String> = catalog.indicators.iter().map(|i| i.code.clone()).collect();
        let rank = |code: &str| order.iter().position(|c| c == code).unwrap_or(usize::MAX);
        let columns = "unit_code, unit_name, indicator, indicator_name, numerator, denominator, value, target, target_comparison, status, assessment, value_previous_year, change_from_previous_year, \
                       remapped, estimated, previous_year_remapped, previous_year_estimated";

        let mut summary = indicator_rows(
            &query(engine, &scope, "report_indicators", &format!("SELECT {columns} FROM report_indicators WHERE {}", ReportScope::WHERE_UNIT)).await?,
        )?;
        if summary.is_empty() {
            return Err(Error::NoData { unit: scope.unit_label(), period: scope.period.to_string() });
        }
        summary.sort_by_key(|r| rank(&r.indicator));
        let mut breakdown = indicator_rows(
            &query(engine, &scope, "report_indicators", &format!("SELECT {columns} FROM report_indicators WHERE {}", ReportScope::WHERE_CHILDREN)).await?,
        )?;
        breakdown.sort_by(|a, b| a.unit_code.cmp(&b.unit_code).then(rank(&a.indicator).cmp(&rank(&b.indicator))));
        let indicators = summary.iter().map(|r| (r.indicator.clone(), r.indicator_name.clone())).collect();

        let completeness_columns = "unit_code, unit_name, reports_expected, reports_received, reports_on_time, reports_late, reports_missing, reports_pending, completeness_pct, timeliness_pct";
        let completeness = query(
            engine,
            &scope,
            "report_completeness",
            &format!(
                "SELECT {completeness_columns} FROM report_completeness WHERE ({}) OR ({}) ORDER BY CASE WHEN level = $unit_level THEN 1 ELSE 0 END, unit_code",
                ReportScope::WHERE_CHILDREN,
                ReportScope::WHERE_UNIT,
            ),
        )
        .await?;

        let month_label = "concat('Tháng ', CAST(CAST(substr(period, 5, 2) AS INT) AS VARCHAR), '/', substr(period, 1, 4))";
        let mut missing_columns = vec![format!("{month_label} AS month")];
        if scope.unit.level == Level::National {
            missing_columns.push("province_name".into());
        }
        if scope.epoch == Epoch::Pre2025 && scope.unit.level != Level::District {
            missing_columns.push("district_name".into());
        }
        missing_columns.extend(["commune_code".into(), "commune_name".into(), "deadline_date".into()]);
        let missing = query(
            engine,
            &scope,
            "missing_reports",
            &format!(
                "SELECT {} FROM missing_reports WHERE {} ORDER BY period, province_code, district_code, commune_code",
                missing_columns.join(", "),
                scope.where_communes_under()
            ),
        )
        .await?;

        let quality = query(
            engine,
            &scope,
            "report_quality_issues",
            &format!(
                "SELECT {month_label} AS month, org_unit, org_unit_name, check_name, subject, importance_name, value, compared_with, message_vi \
                 FROM report_quality_issues WHERE {} ORDER BY period, org_unit, check_type, subject",
                scope.where_communes_under()
            ),
        )
        .await?;

        let produced_on = (produced_at + chrono::Duration::hours(7)).date_naive();
        Ok(ReportData {
            scope,
            produced_on,
            indicators,
            summary,
            breakdown,
            completeness,
            missing,
            quality,
            versions: engine.versions().clone(),
            produced_at,
            frame: None,
            reviews: Vec::new(),
        })
    }

    /// The workbook (see the module docs).
    ///
    /// # Errors
    ///
    /// [`Error::Xlsx`] if the writer refuses a cell or setting.
    pub fn to_xlsx(&self) -> Result<Vec<u8>> {
        layout::workbook(self)
    }
}

/// Runs one of the report's queries, with the scope's values as its named parameters.
async fn query(engine: &Engine, scope: &ReportScope, view: &str, sql: &str) -> Result<Vec<RecordBatch>> {
    tracing::debug!(sql, "report query");
    let params = scope.params();
    let params: Vec<(&str, &str)> = params.iter().map(|(name, value)| (*name, value.as_str())).collect();
    engine.query_with(sql, &params).await.map_err(|source| Error::Query { what: view.to_string(), source: Box::new(source) })
}

/// Reads the rows of `report_indicators` (the columns selected in [`ReportData::gather`]).
fn indicator_rows(batches: &[RecordBatch]) -> Result<Vec<IndicatorRow>> {
    let mut rows = Vec::new();
    for batch in batches {
        let text = |name: &str| -> Result<Vec<Option<String>>> { strings(batch, name) };
        let number = |name: &str| -> Result<Vec<Option<f64>>> { numbers(batch, name) };
        let (codes, names, indicators, indicator_names) = (text("unit_code")?, text("unit_name")?, text("indicator")?, text("indicator_name")?);
        let (num, den, value, target) = (number("numerator")?, number("denominator")?, number("value")?, number("target")?);
        let (comparison, status, assessment) = (text("target_comparison")?, text("status")?, text("assessment")?);
        let (previous, change) = (number("value_previous_year")?, number("change_from_previous_year")?);
        let flag = |name: &str| -> Result<Vec<bool>> { Ok(strings(batch, name)?.into_iter().map(|v| v.as_deref() == Some("true")).collect()) };
        let (remapped, estimated) = (flag("remapped")?, flag("estimated")?);
        let (previous_remapped, previous_estimated) = (flag("previous_year_remapped")?, flag("previous_year_estimated")?);
        for i in 0..batch.num_rows() {
            rows.push(IndicatorRow {
                unit_code: codes[i].clone().unwrap_or_default(),
                unit_name: names[i].clone().unwrap_or_default(),
                indicator: indicators[i].clone().unwrap_or_default(),
                indicator_name: indicator_names[i].clone().unwrap_or_default(),
                numerator: num[i],
                denominator: den[i],
                value: value[i],
                target: target[i],
                target_comparison: comparison[i].clone(),
                status: status[i].clone().unwrap_or_default(),
                assessment: assessment[i].clone().unwrap_or_default(),
                value_previous_year: previous[i],
                change: change[i],
                remapped: remapped[i],
                estimated: estimated[i],
                previous_year_remapped: previous_remapped[i],
                previous_year_estimated: previous_estimated[i],
            });
        }
    }
    Ok(rows)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a arrow::array::ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| Error::MissingColumn { column: name.to_string() })
}

/// A column as optional strings.
pub(crate) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let array = column(batch, name)?;
    tonghop_lake::array_strings(array).map_err(|source| Error::Convert { column: name.to_string(), data_type: array.data_type().clone(), source })
}

/// A column as optional numbers.
pub(crate) fn numbers(batch: &RecordBatch, name: &str) -> Result<Vec<Option<f64>>> {
    let array = column(batch, name)?;
    tonghop_lake::array_numbers(array).map_err(|source| Error::Convert { column: name.to_string(), data_type: array.data_type().clone(), source })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The vendored unit lists (also used by the DHIS2 tests).
    pub(crate) fn registry() -> UnitRegistry {
        let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../reference/admin-units");
        UnitRegistry::load(&dir).expect("the vendored unit lists")
    }

    #[test]
    fn units_resolve_in_the_period_epoch_one_level_down() {
        let r = registry();
        let s = ReportScope::resolve(&r, "01", "2024Q1").unwrap();
        assert_eq!((s.epoch, s.unit.level, s.sub_level), (Epoch::Pre2025, Level::Province, Level::District));
        assert_eq!(s.file_name(), "bao_cao_01_2024Q1.xlsx");
        let s = ReportScope::resolve(&r, "post2025:01", "2026Q1").unwrap();
        assert_eq!((s.epoch, s.unit.level, s.sub_level), (Epoch::Post2025, Level::Province, Level::Commune));
        assert!(s.totals_label().starts_with("Toàn "), "{}", s.totals_label());
        let s = ReportScope::resolve(&r, "VN", "2026YTD05").unwrap();
        assert_eq!((s.unit.level, s.sub_level, s.unit_label()), (Level::National, Level::Province, "Toàn quốc".to_string()));
        assert_eq!(s.totals_label(), "Toàn quốc");
        let district = r.at_level(Epoch::Pre2025, Level::District).next().unwrap().code.clone();
        let s = ReportScope::resolve(&r, &district, "202403").unwrap();
        assert_eq!(s.sub_level, Level::Commune);
        assert!(s.where_communes_under().contains("district_code"));
    }

    #[test]
    fn periods_across_the_reform_resolve_in_todays_units() {
        let r = registry();
        // The year 2025 straddles the reform: new province 08 Tuyên Quang (old Hà Giang 02 and Tuyên Quang 08).
        let s = ReportScope::resolve(&r, "08", "2025").unwrap();
        assert_eq!((s.epoch, s.unit.level, s.sub_level), (Epoch::Post2025, Level::Province, Level::Commune));
        assert_eq!(s.old_provinces, ["02", "08"]);
        let under = s.where_communes_under();
        assert!(under.contains("epoch = 'pre2025' AND period IN ('202501'") && under.contains("province_code IN ('02', '08')"), "{under}");
        assert!(under.contains("epoch = 'post2025' AND period IN ('202507'") && under.contains("province_code = $unit"), "{under}");
        // An earlier period in today's units when asked for; in old units by default.
        assert_eq!(ReportScope::resolve(&r, "post2025:08", "2024").unwrap().epoch, Epoch::Post2025);
        assert_eq!(ReportScope::resolve(&r, "08", "2024").unwrap().epoch, Epoch::Pre2025);
        let row = |remapped, previous| IndicatorRow {
            unit_code: "08".into(),
            unit_name: String::new(),
            indicator: String::new(),
            indicator_name: String::new(),
            numerator: None,
            denominator: None,
            value: None,
            target: None,
            target_comparison: None,
            status: String::new(),
            assessment: String::new(),
            value_previous_year: None,
            change: None,
            remapped,
            estimated: false,
            previous_year_remapped: previous,
            previous_year_estimated: false,
        };
        let note = s.reform_footnote(&[row(true, true)]).join(" ");
        assert!(note.starts_with("Ghi chú: Số liệu 6 tháng đầu năm 2025 (từ tháng 1 đến tháng 6) và số liệu"), "{note}");
        assert!(note.contains("được quy đổi từ đơn vị hành chính cũ"), "{note}");
        assert!(note.contains("và số liệu cùng kỳ năm trước (Năm 2024)"), "{note}");
        assert_eq!(tonghop_core::text::nfc(&note), note);
        let s2026 = ReportScope::resolve(&r, "08", "2026Q1").unwrap();
        assert!(s2026.reform_footnote(&[row(false, false)]).is_empty());
        assert!(s2026.reform_footnote(&[row(false, true)])[0].contains("Số liệu cùng kỳ năm trước (Quý I năm 2025) được quy đổi"));
    }

    #[test]
    fn bad_units_and_periods_are_refused_naming_them() {
        let r = registry();
        let err = |unit: &str, period: &str| ReportScope::resolve(&r, unit, period).unwrap_err().to_string();
        assert!(err("pre2025:01", "2025").contains("another epoch"), "{}", err("pre2025:01", "2025"));
        assert!(err("01", "2026Q7").contains("2026Q7"), "{}", err("01", "2026Q7"));
        assert!(err("pre2025:01", "2026Q1").contains("another epoch"), "{}", err("pre2025:01", "2026Q1"));
        assert!(err("mars:01", "2026Q1").contains("not an epoch"), "{}", err("mars:01", "2026Q1"));
        assert!(err("98765", "2026Q1").contains("no unit has code 98765"), "{}", err("98765", "2026Q1"));
        let commune = r.at_level(Epoch::Post2025, Level::Commune).next().unwrap().code.clone();
        assert!(err(&commune, "2026Q1").contains("is a commune"), "{}", err(&commune, "2026Q1"));
        // A district code of the old epoch asked for a period of the new one: said so.
        let district = r.at_level(Epoch::Pre2025, Level::District).find(|d| r.get(Epoch::Post2025, &d.code).is_none()).unwrap().code.clone();
        assert!(err(&district, "2026Q1").contains("pre2025 epoch only"), "{}", err(&district, "2026Q1"));
    }
}
