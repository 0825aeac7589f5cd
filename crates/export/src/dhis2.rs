//! DHIS2 data value sets out (`tonghop export dhis2`): rolled-up data elements of units and periods,
//! with tonghop's codes translated to DHIS2 ids through the same id-scheme mapping file ingest reads
//! ([`tonghop_formats::IdMapping`], `kind,dhis2,tonghop`, read backwards by
//! [`IdMapping::to_dhis2`]).
//!
//! The values are the view `dhis2_data_values` of `sql/reports/`: each commune's value over the
//! period by its data element's time aggregation (months summed for flows, the latest month for
//! stocks), summed over the communes under each unit. One [`DataValue`] per unit, data element and
//! period, with the default category option combo (tonghop sends totals: disaggregations are summed)
//! and the default attribute option combo, unless the mapping maps a combo to `default`.
//!
//! ```json
//! {"dataSet": "BfMAe6Itzgt", "dataValues": [
//!   {"dataElement": "f7n9E0hX8qk", "period": "2026Q1", "orgUnit": "DiszpKrYNg8",
//!    "categoryOptionCombo": "HllvX50cXC0", "attributeOptionCombo": "HllvX50cXC0", "value": "12000"}]}
//! ```
//!
//! DHIS2 has no nine-month or year-to-date period type: such periods are refused.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tonghop_core::{AdminUnit, Epoch, Level, Period, PeriodType, UnitRegistry};
use tonghop_engine::Engine;
use tonghop_formats::dhis2::DEFAULT_COMBO_UID;
use tonghop_formats::{IdKind, IdMapping};

use crate::report::{numbers, resolve_unit, strings};
use crate::{Error, Result};

/// A DHIS2 data value set (the JSON body of `POST /api/dataValueSets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValueSet {
    /// The data set the values belong to (optional for DHIS2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_set: Option<String>,
    /// The values.
    pub data_values: Vec<DataValue>,
}

/// One DHIS2 data value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataValue {
    /// DHIS2 data element id.
    pub data_element: String,
    /// DHIS2 period (`202603`, `2026Q1`, `2026S1`, `2026`).
    pub period: String,
    /// DHIS2 organisation unit id.
    pub org_unit: String,
    /// DHIS2 category option combo id.
    pub category_option_combo: String,
    /// DHIS2 attribute option combo id.
    pub attribute_option_combo: String,
    /// The value, as DHIS2 writes numbers (`12000`, `3.5`).
    pub value: String,
}

/// The file format of a data value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dhis2Format {
    /// DHIS2 JSON (what `--push` sends).
    Json,
    /// DHIS2 CSV: `dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,storedby,lastupdated,comment,followup`.
    Csv,
}

impl Dhis2Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Dhis2Format::Json => "json",
            Dhis2Format::Csv => "csv",
        }
    }

    /// Parses `json` or `csv`.
    pub fn parse(s: &str) -> Option<Dhis2Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Some(Dhis2Format::Json),
            "csv" => Some(Dhis2Format::Csv),
            _ => None,
        }
    }
}

/// What to export: periods of one epoch, the units whose subtrees are exported, the levels.
#[derive(Debug, Clone)]
pub struct Dhis2Scope {
    /// The periods (all of one epoch).
    pub periods: Vec<Period>,
    /// Their epoch.
    pub epoch: Epoch,
    /// The units whose own rows and descendants' rows are exported (the nation by default).
    pub units: Vec<AdminUnit>,
    /// The levels exported (province by default).
    pub levels: Vec<Level>,
}

/// Checks that a period has a DHIS2 period type (months, quarters, six-months, years).
///
/// # Errors
///
/// [`Error::Dhis2Period`] for nine months and year to date.
pub fn check_dhis2_period(period: &Period) -> Result<()> {
    match period.kind() {
        PeriodType::Month | PeriodType::Quarter | PeriodType::HalfYear | PeriodType::Year => Ok(()),
        PeriodType::NineMonths | PeriodType::YearToDate => Err(Error::Dhis2Period { period: period.to_string() }),
    }
}

/// Parses a level name (`commune`, `district`, `province`, `national`).
pub fn parse_level(s: &str) -> Option<Level> {
    [Level::Commune, Level::District, Level::Province, Level::National].into_iter().find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
}

impl Dhis2Scope {
    /// Resolves period codes, units (`epoch:code`, a code of the periods' epoch, or `VN`; none means
    /// the nation) and level names (none means `province`).
    ///
    /// # Errors
    ///
    /// [`Error::Period`], [`Error::UnknownUnit`], [`Error::EpochMismatch`] as for a report;
    /// [`Error::Dhis2Period`] for a period DHIS2 has no type for; [`Error::Dhis2Scope`] for periods
    /// of two epochs, no period, an unknown level or a level the epoch does not have.
    pub fn resolve(registry: &UnitRegistry, periods: &[String], units: &[String], levels: &[String]) -> Result<Dhis2Scope> {
        let Some(first) = periods.first() else { return Err(Error::Dhis2Scope("give at least one period".into())) };
        let default_unit = [tonghop_core::units::NATIONAL_CODE.to_string()];
        let units = if units.is_empty() { &default_unit[..] } else { units };
        let mut resolved_periods = Vec::new();
        let mut resolved_units: Vec<AdminUnit> = Vec::new();
        let mut epoch = None;
        for period in periods {
            for unit in units {
                let (p, e, u) = resolve_unit(registry, unit, period)?;
                if *epoch.get_or_insert(e) != e {
                    return Err(Error::Dhis2Scope(format!("periods {first} and {period} belong to different epochs; export each epoch separately")));
                }
                check_dhis2_period(&p)?;
                if !resolved_periods.contains(&p) {
                    resolved_periods.push(p);
                }
                if !resolved_units.iter().any(|r| r.code == u.code) {
                    resolved_units.push(u.clone());
                }
            }
        }
        let epoch = epoch.unwrap_or(Epoch::Post2025);
        let mut resolved_levels = Vec::new();
        let default_level = ["province".to_string()];
        for name in if levels.is_empty() { &default_level[..] } else { levels } {
            let level = parse_level(name).ok_or_else(|| Error::Dhis2Scope(format!("unknown level {name:?}: use commune, district, province or national")))?;
            if !Level::of_epoch(epoch).contains(&level) {
                return Err(Error::Dhis2Scope(format!("the {epoch} epoch has no {} level", level.as_str())));
            }
            if !resolved_levels.contains(&level) {
                resolved_levels.push(level);
            }
        }
        Ok(Dhis2Scope { periods: resolved_periods, epoch, units: resolved_units, levels: resolved_levels })
    }

    /// A short label: `dhis2 post2025 2026Q1 province of VN`.
    pub fn label(&self) -> String {
        let periods: Vec<String> = self.periods.iter().map(Period::to_string).collect();
        let levels: Vec<&str> = self.levels.iter().map(|l| l.as_str()).collect();
        let units: Vec<&str> = self.units.iter().map(|u| u.code.as_str()).collect();
        format!("dhis2 {} {} {} of {}", self.epoch, periods.join(","), levels.join(","), units.join(","))
    }

    /// The default file name: `dhis2_<units>_<periods>.<ext>`.
    pub fn file_name(&self, format: Dhis2Format) -> String {
        let periods: Vec<String> = self.periods.iter().map(Period::to_string).collect();
        let units: Vec<&str> = self.units.iter().map(|u| u.code.as_str()).collect();
        format!("dhis2_{}_{}.{}", units.join("-"), periods.join("-"), format.extension())
    }

    /// The predicate on `dhis2_data_values` selecting the scope.
    fn predicate(&self) -> String {
        let periods: Vec<String> = self.periods.iter().map(|p| tonghop_core::sql::literal(&p.to_string())).collect();
        let levels: Vec<String> = self.levels.iter().map(|l| tonghop_core::sql::literal(l.as_str())).collect();
        let units: Vec<String> = self
            .units
            .iter()
            .map(|u| match u.level {
                Level::National => "TRUE".to_string(),
                Level::Province => format!("province_code = {}", tonghop_core::sql::literal(&u.code)),
                Level::District => format!("district_code = {}", tonghop_core::sql::literal(&u.code)),
                Level::Commune => format!("(level = 'commune' AND unit_code = {})", tonghop_core::sql::literal(&u.code)),
            })
            .collect();
        format!(
            "epoch = {} AND period IN ({}) AND level IN ({}) AND ({})",
            tonghop_core::sql::literal(self.epoch.as_str()),
            periods.join(", "),
            levels.join(", "),
            units.join(" OR ")
        )
    }
}

/// A data value set ready to write or push, and what was left out.
#[derive(Debug, Clone)]
pub struct Dhis2Export {
    /// The value set.
    pub set: DataValueSet,
    /// Values left out because their unit or data element has no DHIS2 id (with `skip_unmapped`).
    pub skipped: usize,
    /// The tonghop codes without a DHIS2 id: units as `level code`, then data elements.
    pub unmapped_units: Vec<String>,
    /// The data elements without a DHIS2 id.
    pub unmapped_elements: Vec<String>,
}

impl Dhis2Export {
    /// Reads the scope's values from `dhis2_data_values` and translates the codes.
    ///
    /// `mapping_name` names the mapping file in messages. With `skip_unmapped`, values whose unit or
    /// data element has no DHIS2 id are left out and counted; otherwise they are an error.
    ///
    /// # Errors
    ///
    /// [`Error::Query`] when the view fails; [`Error::Unmapped`] listing every unit and data element
    /// without a DHIS2 id (unless `skip_unmapped` leaves some values to send); [`Error::NoData`] when the scope has no value.
    #[tracing::instrument(skip_all, fields(scope = %scope.label()))]
    pub async fn gather(
        engine: &Engine,
        scope: &Dhis2Scope,
        mapping: &IdMapping,
        mapping_name: &str,
        data_set: Option<String>,
        skip_unmapped: bool,
    ) -> Result<Dhis2Export> {
        let sql = format!(
            "SELECT period, level, unit_code, data_element, value FROM dhis2_data_values WHERE {} AND value IS NOT NULL ORDER BY period, level, unit_code, data_element",
            scope.predicate()
        );
        tracing::debug!(sql, "dhis2 query");
        let batches = engine.query(&sql).await.map_err(|source| Error::Query { what: "dhis2_data_values".into(), source: Box::new(source) })?;
        let default_combo = |kind: IdKind| mapping.to_dhis2(kind, "default").filter(|id| !id.contains('=')).unwrap_or(DEFAULT_COMBO_UID).to_string();
        let (coc, aoc) = (default_combo(IdKind::CategoryOptionCombo), default_combo(IdKind::AttributeOptionCombo));
        let mut values = Vec::new();
        let (mut unmapped_units, mut unmapped_elements) = (BTreeSet::new(), BTreeSet::new());
        let mut skipped = 0;
        for batch in &batches {
            let (periods, levels, units, elements) =
                (strings(batch, "period")?, strings(batch, "level")?, strings(batch, "unit_code")?, strings(batch, "data_element")?);
            let numbers = numbers(batch, "value")?;
            for i in 0..batch.num_rows() {
                let (Some(period), Some(unit), Some(element), Some(value)) = (&periods[i], &units[i], &elements[i], numbers[i]) else { continue };
                let org_unit = mapping.to_dhis2(IdKind::OrgUnit, unit);
                let data_element = mapping.to_dhis2(IdKind::DataElement, element);
                if org_unit.is_none() {
                    unmapped_units.insert(format!("{} {unit}", levels[i].as_deref().unwrap_or("unit")));
                }
                if data_element.is_none() {
                    unmapped_elements.insert(element.clone());
                }
                let (Some(org_unit), Some(data_element)) = (org_unit, data_element) else {
                    skipped += 1;
                    continue;
                };
                values.push(DataValue {
                    data_element: data_element.to_string(),
                    period: period.clone(),
                    org_unit: org_unit.to_string(),
                    category_option_combo: coc.clone(),
                    attribute_option_combo: aoc.clone(),
                    value: format_value(value),
                });
            }
        }
        let (unmapped_units, unmapped_elements): (Vec<String>, Vec<String>) = (unmapped_units.into_iter().collect(), unmapped_elements.into_iter().collect());
        // Leaving the unmapped values out is no way out when that leaves nothing: say why, not "no data".
        if skipped > 0 && (!skip_unmapped || values.is_empty()) {
            return Err(Error::Unmapped { mapping: mapping_name.to_string(), units: unmapped_units, elements: unmapped_elements, values: skipped });
        }
        if values.is_empty() {
            let periods: Vec<String> = scope.periods.iter().map(Period::to_string).collect();
            let units: Vec<&str> = scope.units.iter().map(|u| u.code.as_str()).collect();
            return Err(Error::NoData { unit: units.join(", "), period: periods.join(", ") });
        }
        if skipped > 0 {
            tracing::warn!(skipped, units = unmapped_units.len(), elements = unmapped_elements.len(), "values without a DHIS2 id left out");
        }
        Ok(Dhis2Export { set: DataValueSet { data_set, data_values: values }, skipped, unmapped_units, unmapped_elements })
    }

    /// The push of this value set's JSON to the DHIS2 instance at `base_url`.
    pub fn push_request(
        &self,
        scope: &Dhis2Scope,
        base_url: &str,
        auth: crate::Auth,
        retry: crate::RetryPolicy,
        force: bool,
        record: &crate::ExportRecord,
    ) -> crate::Push {
        crate::Push {
            kind: crate::PushKind::Dhis2,
            export: scope.label(),
            target: base_url.to_string(),
            payload: self.to_json(),
            values: Some(self.set.data_values.len() as i64),
            auth,
            retry,
            force,
            versions: record.versions.clone(),
            data_as_of: Some(record.produced_at),
        }
    }

    /// The value set in `format`.
    ///
    /// # Errors
    ///
    /// [`Error::Dhis2Csv`] if the CSV writer fails.
    pub fn to_bytes(&self, format: Dhis2Format) -> Result<Vec<u8>> {
        match format {
            Dhis2Format::Json => Ok(self.to_json()),
            Dhis2Format::Csv => self.to_csv(),
        }
    }

    /// DHIS2 JSON, compact, the same bytes for the same values (what is pushed and hashed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.set).expect("a value set serialises")
    }

    /// DHIS2 CSV with its header line.
    ///
    /// # Errors
    ///
    /// [`Error::Dhis2Csv`] if the writer fails.
    pub fn to_csv(&self) -> Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let csv_error = |e: csv::Error| Error::Dhis2Csv(e.to_string());
        writer.write_record(tonghop_formats::dhis2::CSV_COLUMNS).map_err(csv_error)?;
        for v in &self.set.data_values {
            writer
                .write_record([&v.data_element, &v.period, &v.org_unit, &v.category_option_combo, &v.attribute_option_combo, &v.value, "", "", "", "false"])
                .map_err(csv_error)?;
        }
        writer.into_inner().map_err(|e| Error::Dhis2Csv(e.to_string()))
    }
}

/// A number as DHIS2 values write it: `12000`, not `12000.0`; `3.5`.
pub fn format_value(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    format!("{value}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::registry;

    #[test]
    fn scopes_resolve_and_refuse_what_dhis2_cannot_hold() {
        let r = registry();
        let s = Dhis2Scope::resolve(&r, &["2026Q1".into()], &[], &[]).unwrap();
        assert_eq!((s.epoch, s.levels.clone(), s.units[0].code.as_str()), (Epoch::Post2025, vec![Level::Province], "VN"));
        assert_eq!(s.file_name(Dhis2Format::Json), "dhis2_VN_2026Q1.json");
        let s = Dhis2Scope::resolve(&r, &["202603".into(), "202602".into()], &["04".into()], &["commune".into(), "province".into()]).unwrap();
        assert!(s.predicate().contains("province_code = '04'") && s.predicate().contains("'202602'"), "{}", s.predicate());
        let err = |p: &[&str], u: &[&str], l: &[&str]| {
            let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
            Dhis2Scope::resolve(&r, &s(p), &s(u), &s(l)).unwrap_err().to_string()
        };
        assert!(err(&["2026N9"], &[], &[]).contains("no DHIS2 period type"), "{}", err(&["2026N9"], &[], &[]));
        assert!(err(&["2026YTD03"], &[], &[]).contains("2026YTD03"));
        assert!(err(&["202403", "202603"], &[], &[]).contains("different epochs"));
        assert!(err(&["202603"], &[], &["district"]).contains("no district level"));
        assert!(err(&["202603"], &[], &["ward"]).contains("unknown level \"ward\""));
        assert!(err(&[], &[], &[]).contains("at least one period"));
    }

    #[test]
    fn values_are_written_as_dhis2_numbers_and_csv_has_its_header() {
        assert_eq!(format_value(12000.0), "12000");
        assert_eq!(format_value(3.5), "3.5");
        assert_eq!(format_value(-0.0), "0");
        let export = Dhis2Export {
            set: DataValueSet {
                data_set: None,
                data_values: vec![DataValue {
                    data_element: "f7n9E0hX8qk".into(),
                    period: "2026Q1".into(),
                    org_unit: "Diszp,Kr".into(),
                    category_option_combo: DEFAULT_COMBO_UID.into(),
                    attribute_option_combo: DEFAULT_COMBO_UID.into(),
                    value: "12".into(),
                }],
            },
            skipped: 0,
            unmapped_units: vec![],
            unmapped_elements: vec![],
        };
        let csv = String::from_utf8(export.to_csv().unwrap()).unwrap();
        assert_eq!(csv, "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value,storedby,lastupdated,comment,followup\nf7n9E0hX8qk,2026Q1,\"Diszp,Kr\",HllvX50cXC0,HllvX50cXC0,12,,,,false\n");
        let json: serde_json::Value = serde_json::from_slice(&export.to_json()).unwrap();
        assert_eq!(json["dataValues"][0]["orgUnit"], "Diszp,Kr");
        assert!(json.get("dataSet").is_none());
    }
}
