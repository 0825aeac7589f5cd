//! The administrative-unit registry, keyed by (epoch, code), loaded from `reference/admin-units/`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::reform::ReformWeights;
use crate::{text::nfc, Epoch, Error, Result};

/// The level of a unit in the hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The whole country (one per epoch, code `VN`).
    National,
    /// Province or centrally-run city (tỉnh, thành phố trực thuộc trung ương).
    Province,
    /// District (huyện, quận, thị xã, thành phố thuộc tỉnh); only before 2025-07-01.
    District,
    /// Commune, ward, township or special zone (xã, phường, thị trấn, đặc khu): where the health station is.
    Commune,
}

impl Level {
    /// The stable name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::National => "national",
            Level::Province => "province",
            Level::District => "district",
            Level::Commune => "commune",
        }
    }

    /// The levels of an epoch, top down.
    pub fn of_epoch(epoch: Epoch) -> &'static [Level] {
        match epoch {
            Epoch::Pre2025 => &[Level::National, Level::Province, Level::District, Level::Commune],
            Epoch::Post2025 => &[Level::National, Level::Province, Level::Commune],
        }
    }
}

/// The code of the national unit in every epoch.
pub const NATIONAL_CODE: &str = "VN";

/// A unit as people write it: `epoch:code` (`post2025:04`), or a code alone whose epoch the context
/// decides (a report's period, say). Codes were reused at the 2025 reform, so a code alone is only
/// meaningful beside an epoch.
///
/// ```
/// use tonghop_core::{units::UnitRef, Epoch};
/// let unit: UnitRef = "post2025:04".parse().unwrap();
/// assert_eq!((unit.epoch, unit.code.as_str()), (Some(Epoch::Post2025), "04"));
/// assert_eq!("04".parse::<UnitRef>().unwrap().epoch, None);
/// assert!("2025:04".parse::<UnitRef>().is_err());
/// assert!("post2025:04".parse::<UnitRef>().unwrap().with_epoch().is_ok());
/// assert!("04".parse::<UnitRef>().unwrap().with_epoch().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitRef {
    /// The epoch written, if any.
    pub epoch: Option<Epoch>,
    /// The code (trimmed).
    pub code: String,
}

impl UnitRef {
    /// The (epoch, code) pair, when the epoch was written.
    ///
    /// # Errors
    ///
    /// [`Error::UnitWithoutEpoch`] for a code alone.
    pub fn with_epoch(self) -> Result<(Epoch, String)> {
        match self.epoch {
            Some(epoch) => Ok((epoch, self.code)),
            None => Err(Error::UnitWithoutEpoch(self.code)),
        }
    }
}

impl std::str::FromStr for UnitRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().split_once(':') {
            Some((epoch, code)) => Ok(UnitRef { epoch: Some(epoch.trim().parse()?), code: code.trim().to_string() }),
            None => Ok(UnitRef { epoch: None, code: s.trim().to_string() }),
        }
    }
}

impl std::fmt::Display for UnitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.epoch {
            Some(epoch) => write!(f, "{epoch}:{}", self.code),
            None => f.write_str(&self.code),
        }
    }
}

/// One administrative unit of one epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminUnit {
    /// The epoch the code belongs to.
    pub epoch: Epoch,
    /// The level.
    pub level: Level,
    /// The GSO code (2, 3 or 5 digits), or `VN`.
    pub code: String,
    /// Short Vietnamese name ("Phúc Xá").
    pub name: String,
    /// Full Vietnamese name with the unit type ("Phường Phúc Xá").
    pub full_name: String,
    /// Short English name ("Phuc Xa").
    pub name_en: String,
    /// Full English name ("Phuc Xa Ward").
    pub full_name_en: String,
    /// Vietnamese unit type ("Phường", "Xã", "Tỉnh", ...).
    pub unit_type: String,
    /// The province the unit lies in (itself for a province; none for the nation).
    pub province_code: Option<String>,
    /// The district the unit lies in (pre-2025 communes only; itself for a district).
    pub district_code: Option<String>,
}

impl AdminUnit {
    /// The code of the unit one level up.
    pub fn parent_code(&self) -> Option<&str> {
        match self.level {
            Level::National => None,
            Level::Province => Some(NATIONAL_CODE),
            Level::District => self.province_code.as_deref(),
            Level::Commune => self.district_code.as_deref().or(self.province_code.as_deref()),
        }
    }
}

/// One edge of the 2025-07-01 old → new mapping: part or all of an old unit went into a new commune.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitMappingEdge {
    /// Level of the old unit (`commune`, or `district` for five island districts without communes).
    pub old_level: Level,
    /// Old code (pre2025 epoch).
    pub old_code: String,
    /// Old full name.
    pub old_full_name: String,
    /// Old province code (pre2025 epoch).
    pub old_province_code: String,
    /// New commune code (post2025 epoch).
    pub new_code: String,
    /// New full name.
    pub new_full_name: String,
    /// New province code (post2025 epoch).
    pub new_province_code: String,
    /// `full` (the whole old unit went here) or `partial`.
    pub merge_type: String,
    /// The share of the old unit's split figures that goes to the new commune (see [`crate::reform`]).
    pub weight: f64,
    /// Where the weight comes from (`reform_weights.csv`'s source, or how the default was made).
    pub weight_source: String,
    /// A partial edge with the default (equal) weight: the figures it feeds are estimates.
    pub estimated: bool,
    /// The old commune is the new commune's main predecessor (the new commune kept its code): its
    /// station's figures are the new commune's station figures before the reform.
    pub main_predecessor: bool,
}

/// All units of both epochs and the mapping between them.
#[derive(Debug, Clone, Default)]
pub struct UnitRegistry {
    units: Vec<AdminUnit>,
    /// Per epoch (in [`Epoch::ALL`] order): code → index into `units`. Looked up by `&str`, no allocation.
    index: [HashMap<String, usize>; 2],
    mapping: Vec<UnitMappingEdge>,
    /// old (pre2025) code → indices into `mapping`.
    successors: HashMap<String, Vec<usize>>,
    /// How many edges have a weight given in `reform_weights.csv`.
    given_weights: usize,
}

fn epoch_slot(epoch: Epoch) -> usize {
    match epoch {
        Epoch::Pre2025 => 0,
        Epoch::Post2025 => 1,
    }
}

#[derive(Deserialize)]
struct UnitRow {
    code: String,
    name: String,
    name_en: String,
    full_name: String,
    full_name_en: String,
    #[serde(default)]
    province_code: Option<String>,
    #[serde(default)]
    district_code: Option<String>,
    unit_type: String,
}

#[derive(Deserialize)]
struct MappingRow {
    old_level: String,
    old_code: String,
    old_full_name: String,
    old_province_code: String,
    new_ward_code: String,
    new_ward_full_name: String,
    new_province_code: String,
    merge_type: String,
}

/// Reads every record of a CSV file into `T`.
pub(crate) fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let mut reader = csv::Reader::from_reader(std::io::BufReader::new(file));
    reader.deserialize().collect::<std::result::Result<Vec<T>, _>>().map_err(|source| Error::Csv { path: path.to_path_buf(), source })
}

impl UnitRegistry {
    /// Loads the registry from `reference/admin-units/` (see its PROVENANCE.md).
    #[tracing::instrument(level = "debug", fields(dir = %dir.display()))]
    pub fn load(dir: &Path) -> Result<UnitRegistry> {
        let mut registry = UnitRegistry::default();
        let files: [(Epoch, Level, PathBuf); 5] = [
            (Epoch::Pre2025, Level::Province, dir.join("pre2025/provinces_63.csv")),
            (Epoch::Pre2025, Level::District, dir.join("pre2025/districts_696.csv")),
            (Epoch::Pre2025, Level::Commune, dir.join("pre2025/communes_10035.csv")),
            (Epoch::Post2025, Level::Province, dir.join("post2025/provinces_34_2025-07-01.csv")),
            (Epoch::Post2025, Level::Commune, dir.join("post2025/wards_3321_2025-07-01.csv")),
        ];
        for epoch in Epoch::ALL {
            registry.push(AdminUnit {
                epoch,
                level: Level::National,
                code: NATIONAL_CODE.into(),
                name: "Toàn quốc".into(),
                full_name: "Toàn quốc".into(),
                name_en: "Viet Nam".into(),
                full_name_en: "Viet Nam (national)".into(),
                unit_type: "Quốc gia".into(),
                province_code: None,
                district_code: None,
            });
        }
        for (epoch, level, path) in &files {
            for row in read_csv::<UnitRow>(path)? {
                let (province_code, district_code) = match level {
                    Level::Province => (Some(row.code.clone()), None),
                    Level::District => (row.province_code, Some(row.code.clone())),
                    _ => (row.province_code, row.district_code),
                };
                registry.push(AdminUnit {
                    epoch: *epoch,
                    level: *level,
                    name: nfc(&row.name).into_owned(),
                    full_name: nfc(&row.full_name).into_owned(),
                    name_en: row.name_en,
                    full_name_en: row.full_name_en,
                    unit_type: nfc(&row.unit_type).into_owned(),
                    code: row.code,
                    province_code,
                    district_code,
                });
            }
        }
        let mapping_path = dir.join("mapping/old_to_new_ward_2025-07-01.csv");
        for row in read_csv::<MappingRow>(&mapping_path)? {
            registry.successors.entry(row.old_code.clone()).or_default().push(registry.mapping.len());
            let main_predecessor = row.old_level == "commune" && row.old_code == row.new_ward_code;
            registry.mapping.push(UnitMappingEdge {
                old_level: if row.old_level == "district" { Level::District } else { Level::Commune },
                old_code: row.old_code,
                old_full_name: nfc(&row.old_full_name).into_owned(),
                old_province_code: row.old_province_code,
                new_code: row.new_ward_code,
                new_full_name: nfc(&row.new_ward_full_name).into_owned(),
                main_predecessor,
                new_province_code: row.new_province_code,
                merge_type: row.merge_type,
                weight: 1.0,
                weight_source: String::new(),
                estimated: false,
            });
        }
        let weights = ReformWeights::load(&crate::reform::weights_path(dir), &registry.mapping)?;
        for edge in &mut registry.mapping {
            let targets = registry.successors.get(&edge.old_code).map_or(1, Vec::len);
            let w = weights.edge(&edge.old_code, &edge.new_code, targets);
            (edge.weight, edge.weight_source, edge.estimated) = (w.weight, w.source, w.estimated);
        }
        registry.given_weights = weights.len();
        registry.check(dir)?;
        tracing::debug!(units = registry.units.len(), mapping_edges = registry.mapping.len(), "unit registry loaded");
        Ok(registry)
    }

    fn push(&mut self, unit: AdminUnit) {
        self.index[epoch_slot(unit.epoch)].insert(unit.code.clone(), self.units.len());
        self.units.push(unit);
    }

    /// Every parent reference must resolve within the same epoch.
    fn check(&self, dir: &Path) -> Result<()> {
        for unit in &self.units {
            if let Some(parent) = unit.parent_code() {
                if self.get(unit.epoch, parent).is_none() {
                    return Err(Error::InvalidReference {
                        path: dir.to_path_buf(),
                        message: format!("{} {} {} names parent {parent}, which does not exist", unit.epoch, unit.level.as_str(), unit.code),
                    });
                }
            }
        }
        Ok(())
    }

    /// The unit with this code in this epoch.
    pub fn get(&self, epoch: Epoch, code: &str) -> Option<&AdminUnit> {
        self.index[epoch_slot(epoch)].get(code).map(|&i| &self.units[i])
    }

    /// Every unit of both epochs (national rows first).
    pub fn units(&self) -> &[AdminUnit] {
        &self.units
    }

    /// The units of one epoch and level.
    pub fn at_level(&self, epoch: Epoch, level: Level) -> impl Iterator<Item = &AdminUnit> {
        self.units.iter().filter(move |u| u.epoch == epoch && u.level == level)
    }

    /// The 2025-07-01 mapping edges.
    pub fn mapping(&self) -> &[UnitMappingEdge] {
        &self.mapping
    }

    /// Where the old (pre-2025) unit `old_code` went on 2025-07-01: one edge per new commune that
    /// received all or part of it.
    pub fn successors(&self, old_code: &str) -> impl Iterator<Item = &UnitMappingEdge> {
        self.successors.get(old_code).into_iter().flatten().map(|&i| &self.mapping[i])
    }

    /// How many mapping edges have a weight given in `reform_weights.csv` (the others are full
    /// edges, weight 1, or partial edges with the default equal share).
    pub fn given_weights(&self) -> usize {
        self.given_weights
    }

    /// The post-2025 province most of a pre-2025 province's communes went into (Quảng Bình, 44
    /// before, → Quảng Trị, 44 after), by the number of mapping edges.
    pub fn successor_province(&self, old_province: &str) -> Option<&str> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for e in self.mapping.iter().filter(|e| e.old_province_code == old_province) {
            *counts.entry(e.new_province_code.as_str()).or_default() += 1;
        }
        counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(code, _)| code)
    }

    /// The old commune whose station a new commune continues (see [`crate::reform`]), if any.
    pub fn main_predecessor(&self, new_code: &str) -> Option<&UnitMappingEdge> {
        self.mapping.iter().find(|e| e.main_predecessor && e.new_code == new_code)
    }

    /// The old (pre-2025) units that went, wholly or partly, into the new commune `new_code`.
    pub fn predecessors<'a>(&'a self, new_code: &'a str) -> impl Iterator<Item = &'a UnitMappingEdge> + 'a {
        self.mapping.iter().filter(move |e| e.new_code == new_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> UnitRegistry {
        let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../../reference/admin-units");
        UnitRegistry::load(&dir).unwrap()
    }

    #[test]
    fn official_counts_per_epoch_and_level() {
        let r = registry();
        let count = |e, l| r.at_level(e, l).count();
        assert_eq!(count(Epoch::Pre2025, Level::Province), 63);
        assert_eq!(count(Epoch::Pre2025, Level::District), 696);
        assert_eq!(count(Epoch::Pre2025, Level::Commune), 10_035);
        assert_eq!(count(Epoch::Post2025, Level::Province), 34);
        assert_eq!(count(Epoch::Post2025, Level::District), 0);
        assert_eq!(count(Epoch::Post2025, Level::Commune), 3_321);
        assert_eq!(r.mapping().len(), 10_604);
    }

    #[test]
    fn reused_codes_mean_different_units_per_epoch() {
        let r = registry();
        assert_eq!(r.get(Epoch::Pre2025, "00004").unwrap().full_name, "Phường Trúc Bạch");
        assert_eq!(r.get(Epoch::Post2025, "00004").unwrap().full_name, "Phường Ba Đình");
        assert_eq!(r.get(Epoch::Pre2025, "80").unwrap().name, "Long An");
        assert_eq!(r.get(Epoch::Post2025, "80").unwrap().name, "Tây Ninh");
        assert!(r.get(Epoch::Post2025, "001").is_none(), "no districts after the reform");
        let old = r.get(Epoch::Pre2025, "00001").unwrap();
        assert_eq!((old.district_code.as_deref(), old.province_code.as_deref()), (Some("001"), Some("01")));
        assert_eq!(old.parent_code(), Some("001"));
        assert_eq!(r.get(Epoch::Post2025, "00004").unwrap().parent_code(), Some("01"));
    }

    #[test]
    fn old_communes_lead_to_their_successors() {
        let r = registry();
        let went: Vec<_> = r.successors("00001").map(|e| (e.new_code.as_str(), e.new_full_name.as_str())).collect();
        assert_eq!(went, [("00097", "Phường Hồng Hà")]);
        assert!(r.predecessors("00097").any(|e| e.old_code == "00001"));
    }

    #[test]
    fn weights_of_every_old_commune_sum_to_one_and_main_predecessors_keep_the_code() {
        let r = registry();
        let mut sums: HashMap<&str, f64> = HashMap::new();
        for e in r.mapping() {
            *sums.entry(e.old_code.as_str()).or_default() += e.weight;
            assert_eq!(e.estimated, e.merge_type == "partial" && r.given_weights() == 0, "{e:?}");
        }
        assert!(sums.values().all(|s| (s - 1.0).abs() < 1e-12));
        // 00007 Phường Cống Vị went to two new wards in equal default shares.
        let split: Vec<f64> = r.successors("00007").map(|e| e.weight).collect();
        assert_eq!(split.len(), 2);
        assert!(split.iter().all(|w| (w - 0.5).abs() < 1e-15), "{split:?}");
        // 3,316 new communes kept the code of one of their old communes; 5 special zones did not.
        let with_main = r.at_level(Epoch::Post2025, crate::Level::Commune).filter(|u| r.main_predecessor(&u.code).is_some()).count();
        assert_eq!(with_main, 3_316);
        assert_eq!(r.main_predecessor("00004").unwrap().old_full_name, "Phường Trúc Bạch");
    }
}
