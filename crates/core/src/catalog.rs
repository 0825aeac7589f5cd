//! The indicator catalog: data elements, indicators and targets, read from the editable CSV files in
//! `catalog/`. A province adds its own indicator by adding rows there; no Rust changes.
//!
//! Indicators are ratios Σnumerator / Σdenominator × factor, where each commune contributes one
//! numerator and one denominator term computed from its own data values:
//!
//! - numerator: the value of `num_element`; or, when `num_test` is set, 1 if
//!   `num_element` (divided by `num_per` when given) passes `num_test num_threshold`, else 0;
//! - denominator: the value of `den_element`; or, when `den_test` is `count`, 1 for every commune that
//!   reported `den_element` (so "stations with a doctor / stations" is `TYT_BS >= 1` over `count`).

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::{text::nfc, units::read_csv, Error, Result};

/// How a data element behaves over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A state at the end of the period (population, staff).
    Stock,
    /// A count of events during the period (visits).
    Flow,
}

/// What values a data element accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A non-negative number.
    Count,
    /// 0 or 1.
    Boolean,
}

/// How monthly values combine into a longer period (over units they always sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeAggregation {
    /// The value of the latest month in the span with data (DHIS2's LAST).
    Last,
    /// The sum over months.
    Sum,
    /// The mean over months with data.
    Average,
}

/// How a data element's pre-reform values are carried into today's units (see [`crate::reform`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReformRemap {
    /// Shared among the old commune's new communes by the edge weights (people, visits, villages).
    #[default]
    Split,
    /// A fact about the station: taken whole from the new commune's main predecessor.
    MainPredecessor,
}

impl ReformRemap {
    /// The name used in `data_elements.csv` and in SQL tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ReformRemap::Split => "split",
            ReformRemap::MainPredecessor => "main_predecessor",
        }
    }
}

/// One data element reported by commune health stations.
#[derive(Debug, Clone, Deserialize)]
pub struct DataElement {
    /// Stable code (`DS_TONG`).
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Stock or flow.
    pub kind: Kind,
    /// Count or 0/1.
    pub value_type: ValueType,
    /// Aggregation over time.
    pub time_aggregation: TimeAggregation,
    /// How pre-reform values are carried into post-2025 units (`split` when the column is empty).
    #[serde(default)]
    pub reform_remap: ReformRemap,
}

/// One indicator: a ratio of sums (see the module docs).
#[derive(Debug, Clone, Deserialize)]
pub struct Indicator {
    /// Stable code.
    pub code: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Data element of the numerator.
    pub num_element: String,
    /// Optional data element the numerator element is divided by before the test.
    pub num_per: Option<String>,
    /// Optional comparison (`>=`, `>`, `<=`, `<`, `=`) turning the numerator into 0/1.
    pub num_test: Option<String>,
    /// Threshold of the comparison.
    pub num_threshold: Option<f64>,
    /// Data element of the denominator.
    pub den_element: String,
    /// Optional `count`: the denominator counts reporting communes instead of summing values.
    pub den_test: Option<String>,
    /// Multiplier (100 for a percentage).
    pub factor: f64,
}

impl Indicator {
    /// A count of stations (a test on the numerator, or a `count` denominator): carried across the
    /// reform from the main predecessor, never split (see [`crate::reform`]).
    pub fn counts_stations(&self) -> bool {
        self.num_test.is_some() || self.den_test.as_deref() == Some("count")
    }
}

/// A target for an indicator, national by default or for one unit.
#[derive(Debug, Clone, Deserialize)]
pub struct Target {
    /// Indicator code.
    pub indicator: String,
    /// Epoch of `unit_code`; empty for a default target.
    pub epoch: Option<String>,
    /// Unit the target applies to; empty for every unit.
    pub unit_code: Option<String>,
    /// Year the target is due.
    pub target_year: i32,
    /// `>` or `>=`: how the value must compare with the target to be met.
    pub comparison: String,
    /// Target value, in the indicator's unit (percent when factor = 100).
    pub target_value: f64,
    /// The policy document the target comes from.
    pub source: String,
}

/// How bad a broken validation rule is (DHIS2's importance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    /// The figures cannot both be right.
    High,
    /// Probably an error.
    Medium,
    /// Worth a look.
    Low,
}

/// A comparison of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operator {
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl Operator {
    /// Whether `left op right` holds.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Operator::Le => left <= right,
            Operator::Lt => left < right,
            Operator::Ge => left >= right,
            Operator::Gt => left > right,
            Operator::Eq => left == right,
            Operator::Ne => left != right,
        }
    }

    /// As written in the catalog and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Le => "<=",
            Operator::Lt => "<",
            Operator::Ge => ">=",
            Operator::Gt => ">",
            Operator::Eq => "==",
            Operator::Ne => "!=",
        }
    }

    /// As printed for people (`≤`).
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::Le => "≤",
            Operator::Lt => "<",
            Operator::Ge => "≥",
            Operator::Gt => ">",
            Operator::Eq => "=",
            Operator::Ne => "≠",
        }
    }
}

/// A validation rule between data elements of one unit, period and disaggregation, as DHIS2 has
/// them: `left operator right`, each side a data element or a sum of them (`A + B`).
#[derive(Debug, Clone, Deserialize)]
pub struct ValidationRule {
    /// Stable code.
    pub code: String,
    /// Vietnamese description.
    pub name_vi: String,
    /// English description.
    pub name_en: String,
    /// Left side: data element codes joined by `+`.
    pub left: String,
    /// The comparison.
    pub operator: Operator,
    /// Right side: data element codes joined by `+`.
    pub right: String,
    /// How bad a violation is.
    pub importance: Importance,
    /// Whether ingest refuses the rows of a submission that breaks the rule (otherwise the rule only
    /// reports data-quality issues).
    pub on_ingest: bool,
}

impl ValidationRule {
    /// The data element codes of the left side.
    pub fn left_elements(&self) -> impl Iterator<Item = &str> {
        self.left.split('+').map(str::trim)
    }

    /// The data element codes of the right side.
    pub fn right_elements(&self) -> impl Iterator<Item = &str> {
        self.right.split('+').map(str::trim)
    }
}

/// The whole catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Data elements.
    pub data_elements: Vec<DataElement>,
    /// Indicators.
    pub indicators: Vec<Indicator>,
    /// Targets.
    pub targets: Vec<Target>,
    /// Validation rules.
    pub validation_rules: Vec<ValidationRule>,
    /// The implementation plans of `catalog/plans/` (empty unless loaded by
    /// [`Catalog::load_with_plans`], which needs the units).
    pub plans: crate::plans::Plans,
    /// The administrative frames of `catalog/report_frames.csv`.
    pub frames: crate::frames::Frames,
}

const TESTS: [&str; 5] = [">=", ">", "<=", "<", "="];

impl Catalog {
    /// Loads `data_elements.csv`, `indicators.csv`, `targets.csv`, `validation_rules.csv` and
    /// `report_frames.csv` from `dir` and checks them,
    /// reporting every problem at once.
    #[tracing::instrument(level = "debug", fields(dir = %dir.display()))]
    pub fn load(dir: &Path) -> Result<Catalog> {
        let mut data_elements: Vec<DataElement> = read_csv(&dir.join("data_elements.csv"))?;
        let mut indicators: Vec<Indicator> = read_csv(&dir.join("indicators.csv"))?;
        let mut targets: Vec<Target> = read_csv(&dir.join("targets.csv"))?;
        let mut validation_rules: Vec<ValidationRule> = read_csv(&dir.join("validation_rules.csv"))?;
        for r in &mut validation_rules {
            r.name_vi = nfc(&r.name_vi).into_owned();
        }
        for e in &mut data_elements {
            e.name_vi = nfc(&e.name_vi).into_owned();
        }
        for i in &mut indicators {
            i.name_vi = nfc(&i.name_vi).into_owned();
        }
        for t in &mut targets {
            t.source = nfc(&t.source).into_owned();
        }
        let frames = crate::frames::Frames::load(dir)?;
        let catalog = Catalog { data_elements, indicators, targets, validation_rules, plans: Default::default(), frames };
        let problems = catalog.problems();
        if !problems.is_empty() {
            return Err(Error::InvalidCatalog(problems.into()));
        }
        Ok(catalog)
    }

    /// [`Catalog::load`], and the plans of `dir/plans/` checked against `registry` and the
    /// indicators (see [`crate::plans::Plans::load`]): what the CLI and the service load once.
    ///
    /// # Errors
    ///
    /// As [`Catalog::load`], or [`Error::InvalidPlans`] listing every problem of the plans.
    pub fn load_with_plans(dir: &Path, registry: &crate::UnitRegistry) -> Result<Catalog> {
        let mut catalog = Catalog::load(dir)?;
        let indicators: Vec<String> = catalog.indicators.iter().map(|i| i.code.clone()).collect();
        catalog.plans = crate::plans::Plans::load(&crate::plans::plans_dir(dir), registry, &indicators)?;
        Ok(catalog)
    }

    /// The data element with this code.
    pub fn data_element(&self, code: &str) -> Option<&DataElement> {
        self.data_elements.iter().find(|e| e.code == code)
    }

    /// Every inconsistency, each naming the file, the row and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for e in &self.data_elements {
            if !seen.insert(e.code.as_str()) {
                out.push(format!("data_elements.csv: code {} appears twice; codes must be unique", e.code));
            }
            if e.code.is_empty() || !e.code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
                out.push(format!("data_elements.csv: code {:?} must be upper-case letters, digits and _", e.code));
            }
        }
        let element = |code: &str| self.data_element(code).is_some();
        let mut indicator_codes = HashSet::new();
        for i in &self.indicators {
            let at = format!("indicators.csv: indicator {}", i.code);
            if !indicator_codes.insert(i.code.as_str()) {
                out.push(format!("{at} appears twice; codes must be unique"));
            }
            for (field, code) in [("num_element", Some(&i.num_element)), ("num_per", i.num_per.as_ref()), ("den_element", Some(&i.den_element))] {
                if let Some(code) = code {
                    if !element(code) {
                        out.push(format!("{at}: {field} {code} is not in data_elements.csv; add it there or fix the code"));
                    }
                }
            }
            match (&i.num_test, i.num_threshold) {
                (Some(t), Some(_)) if TESTS.contains(&t.as_str()) => {}
                (Some(t), Some(_)) => out.push(format!("{at}: num_test {t:?} must be one of {TESTS:?}")),
                (Some(_), None) => out.push(format!("{at}: num_test needs a num_threshold")),
                (None, Some(_)) => out.push(format!("{at}: num_threshold is set but num_test is empty")),
                (None, None) if i.num_per.is_some() => out.push(format!("{at}: num_per needs a num_test")),
                (None, None) => {}
            }
            if let Some(t) = &i.den_test {
                if t != "count" {
                    out.push(format!("{at}: den_test {t:?} must be empty or \"count\""));
                }
            }
            // Across the reform a count of stations takes the main predecessor's station, a ratio
            // of split figures splits both sides: the elements must agree.
            let (wanted, why, sides): (_, _, Vec<&String>) = if i.counts_stations() {
                (
                    ReformRemap::MainPredecessor,
                    "it counts stations (num_test or a count denominator)",
                    [Some(&i.num_element), i.num_per.as_ref()].into_iter().flatten().collect(),
                )
            } else {
                (ReformRemap::Split, "it is a ratio of split figures", vec![&i.num_element, &i.den_element])
            };
            for code in sides {
                if let Some(e) = self.data_element(code).filter(|e| e.reform_remap != wanted) {
                    out.push(format!(
                        "{at}: data element {code} has reform_remap {} but {why}; set reform_remap = {} in data_elements.csv",
                        e.reform_remap.as_str(),
                        wanted.as_str()
                    ));
                }
            }
            if !(i.factor.is_finite() && i.factor > 0.0) {
                out.push(format!("{at}: factor must be a positive number"));
            }
        }
        for (n, t) in self.targets.iter().enumerate() {
            let at = format!("targets.csv row {}: indicator {}", n + 2, t.indicator);
            if !indicator_codes.contains(t.indicator.as_str()) {
                out.push(format!("{at} is not in indicators.csv"));
            }
            if t.comparison != ">" && t.comparison != ">=" {
                out.push(format!("{at}: comparison {:?} must be \">\" or \">=\"", t.comparison));
            }
            if t.unit_code.is_some() != t.epoch.is_some() {
                out.push(format!("{at}: a unit-specific target needs both epoch and unit_code (codes are reused across epochs)"));
            }
            if let Some(epoch) = &t.epoch {
                if epoch.parse::<crate::Epoch>().is_err() {
                    out.push(format!("{at}: epoch {epoch:?} must be pre2025 or post2025"));
                }
            }
        }
        let mut rule_codes = HashSet::new();
        for r in &self.validation_rules {
            let at = format!("validation_rules.csv: rule {}", r.code);
            if !rule_codes.insert(r.code.as_str()) {
                out.push(format!("{at} appears twice; codes must be unique"));
            }
            for (side, codes) in [("left", &r.left), ("right", &r.right)] {
                for code in codes.split('+').map(str::trim) {
                    if !element(code) {
                        out.push(format!("{at}: {side} side names {code:?}, which is not in data_elements.csv; write data element codes joined by +"));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../catalog")).unwrap()
    }

    #[test]
    fn seeded_directive_25_catalog_loads() {
        let c = catalog();
        assert_eq!(c.data_elements.len(), 17);
        assert_eq!(c.indicators.len(), 12);
        assert!(c.targets.iter().all(|t| t.target_year == 2030));
        assert_eq!(c.data_element("KCB_TONG").unwrap().time_aggregation, TimeAggregation::Sum);
        assert_eq!(c.data_element("DS_TONG").unwrap().time_aggregation, TimeAggregation::Last);
        assert_eq!(c.validation_rules.len(), 6);
        assert_eq!(c.data_element("DS_TONG").unwrap().reform_remap, ReformRemap::Split);
        assert_eq!(c.data_element("TYT_BS").unwrap().reform_remap, ReformRemap::MainPredecessor);
        assert!(c.validation_rules.iter().all(|r| r.on_ingest && r.operator == Operator::Le));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut c = catalog();
        c.indicators[0].num_element = "DS_BHYTT".into();
        c.indicators[1].num_test = Some("~".into());
        c.indicators[1].num_threshold = Some(1.0);
        c.targets[2].comparison = "<".into();
        c.validation_rules[0].right = "DS_TONG + DS_X".into();
        c.data_elements.iter_mut().find(|e| e.code == "TYT_BS").unwrap().reform_remap = ReformRemap::Split;
        let problems = c.problems();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("TYT_CO_BS: data element TYT_BS has reform_remap split but it counts stations")), "{problems:#?}");
        let problems: Vec<String> = problems.into_iter().filter(|p| !p.contains("reform_remap")).collect();
        assert!(problems[3].contains("right side names \"DS_X\""), "{}", problems[3]);
        assert!(problems[0].contains("BHYT_BAO_PHU: num_element DS_BHYTT is not in data_elements.csv"));
    }
}
