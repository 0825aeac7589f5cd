//! Carrying figures across the 2025-07-01 reform: the shares of a split old commune, and which old
//! station a new commune's station continues.
//!
//! Every old (pre-2025) commune went, whole or in part, into one or more new communes (the mapping
//! in `reference/admin-units/mapping/`). To express pre-reform figures in today's units:
//!
//! - **Split figures** (population, visits, villages…: data elements with `reform_remap = split` in
//!   `catalog/data_elements.csv`) move with the land: an old commune's value goes to its new
//!   communes in proportion to each edge's **weight**. A `full` edge has weight 1. A `partial` edge
//!   takes the weight given in `reference/admin-units/reform_weights.csv`; when the old commune has
//!   no row there, its value is shared **equally** among its new communes, and the figures it feeds
//!   at commune level are marked *estimated*. Weights of one old commune sum to 1, so the figures of
//!   a province and of the nation are the same whatever the weights (no edge crosses a province).
//! - **Station figures** (staff, equipment, the commune-health criteria…: `reform_remap =
//!   main_predecessor`) are not split: before the reform, a new commune's station is the station of
//!   its **main predecessor**, the old commune whose code the new commune kept (3,316 of the 3,321 new
//!   communes kept the code of one of their old communes, the seat of the new commune). The five new
//!   special zones formed from island districts have no main predecessor; their station figures
//!   before the reform are NULL (`no_main_predecessor`).
//!
//! [`ReformWeights::load`] reads the weights file and reports every problem at once.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::units::UnitMappingEdge;
use crate::{Error, Result};

/// Where the weights file lives, below `reference/admin-units/`.
pub const WEIGHTS_FILE: &str = "reform_weights.csv";

/// How far from 1 an old commune's weights may sum (rounding in hand-made files).
const SUM_TOLERANCE: f64 = 1e-6;

/// One row of `reform_weights.csv`.
#[derive(Debug, Clone, Deserialize)]
struct WeightRow {
    old_code: String,
    new_code: String,
    weight: f64,
    #[serde(default)]
    source: Option<String>,
}

/// The weights given in `reform_weights.csv`, by (old code, new code), with their source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReformWeights {
    given: BTreeMap<(String, String), (f64, String)>,
}

/// The weight and provenance of one mapping edge.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeWeight {
    /// The share of the old unit's split figures that goes to the new commune.
    pub weight: f64,
    /// Where it comes from: the file's `source`, or how the default was made.
    pub source: String,
    /// True when a partial edge took the default (equal) share: figures it feeds are estimates.
    pub estimated: bool,
}

impl ReformWeights {
    /// Reads `path` (`old_code,new_code,weight,source`; lines starting with `#` are comments) and
    /// checks it against the mapping `edges`, reporting every problem at once: unknown edges, weights
    /// outside 0–1, rows given twice, old communes with weights for some of their new communes only,
    /// and weights of an old commune that do not sum to 1. A missing file means no weight is given.
    #[tracing::instrument(level = "debug", skip(edges), fields(path = %path.display()))]
    pub fn load(path: &Path, edges: &[UnitMappingEdge]) -> Result<ReformWeights> {
        if !path.exists() {
            return Ok(ReformWeights::default());
        }
        let file = std::fs::File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let mut reader = csv::ReaderBuilder::new().comment(Some(b'#')).trim(csv::Trim::All).from_reader(std::io::BufReader::new(file));
        let mut rows = Vec::new();
        let mut problems = Vec::new();
        for (i, row) in reader.deserialize::<WeightRow>().enumerate() {
            match row {
                Ok(row) => rows.push(row),
                Err(e) => problems.push(format!("row {}: {e}", e.position().map(|p| p.line()).unwrap_or(i as u64 + 2))),
            }
        }
        let weights = Self::check(rows, edges, &mut problems);
        if problems.is_empty() {
            Ok(weights)
        } else {
            Err(Error::InvalidReformWeights { path: path.to_path_buf(), problems: problems.into() })
        }
    }

    fn check(rows: Vec<WeightRow>, edges: &[UnitMappingEdge], problems: &mut Vec<String>) -> ReformWeights {
        let mut targets: HashMap<&str, Vec<&str>> = HashMap::new();
        for e in edges {
            targets.entry(e.old_code.as_str()).or_default().push(e.new_code.as_str());
        }
        let mut given = BTreeMap::new();
        for row in rows {
            let at = format!("old {} → new {}", row.old_code, row.new_code);
            match targets.get(row.old_code.as_str()) {
                None => problems.push(format!("{at}: old commune {} is not in the 2025 mapping", row.old_code)),
                Some(new) if !new.contains(&row.new_code.as_str()) => {
                    problems.push(format!("{at}: not an edge of the 2025 mapping; {} went to {}", row.old_code, new.join(", ")))
                }
                Some(_) => {}
            }
            if !(row.weight.is_finite() && (0.0..=1.0).contains(&row.weight)) {
                problems.push(format!("{at}: weight {} must be between 0 and 1", row.weight));
            }
            let source = row.source.unwrap_or_default();
            if source.trim().is_empty() {
                problems.push(format!("{at}: source is empty; say where the share comes from (e.g. the resolution and whether it is by area or population)"));
            }
            if given.insert((row.old_code.clone(), row.new_code.clone()), (row.weight, crate::text::nfc(&source).into_owned())).is_some() {
                problems.push(format!("{at}: given more than once"));
            }
        }
        let mut by_old: BTreeMap<&str, Vec<(&str, f64)>> = BTreeMap::new();
        for ((old, new), (w, _)) in &given {
            by_old.entry(old.as_str()).or_default().push((new.as_str(), *w));
        }
        for (old, rows) in by_old {
            let Some(new) = targets.get(old) else { continue };
            let missing: Vec<&str> = new.iter().copied().filter(|n| !rows.iter().any(|(r, _)| r == n)).collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "old {old}: weights are given for {} but not for {}; give every new commune of {old} a weight",
                    rows.iter().map(|r| r.0).collect::<Vec<_>>().join(", "),
                    missing.join(", ")
                ));
                continue;
            }
            let sum: f64 = rows.iter().map(|r| r.1).sum();
            if (sum - 1.0).abs() > SUM_TOLERANCE {
                problems.push(format!("old {old}: weights sum to {sum}, they must sum to 1"));
            }
        }
        ReformWeights { given }
    }

    /// How many edges have a weight given in the file.
    pub fn len(&self) -> usize {
        self.given.len()
    }

    /// True when the file gives no weight.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
    }

    /// The weight of the edge old → new, which goes to one of `targets` new communes: the given one,
    /// else 1 for a sole target, else an equal share (estimated).
    pub fn edge(&self, old_code: &str, new_code: &str, targets: usize) -> EdgeWeight {
        if let Some((weight, source)) = self.given.get(&(old_code.to_string(), new_code.to_string())) {
            return EdgeWeight { weight: *weight, source: source.clone(), estimated: false };
        }
        if targets <= 1 {
            return EdgeWeight { weight: 1.0, source: "whole old commune (full edge)".into(), estimated: false };
        }
        EdgeWeight {
            weight: 1.0 / targets as f64,
            source: format!("default: equal shares among the {targets} new communes (no weight in {WEIGHTS_FILE})"),
            estimated: true,
        }
    }
}

/// The path of the weights file in a reference folder.
pub fn weights_path(admin_units_dir: &Path) -> PathBuf {
    admin_units_dir.join(WEIGHTS_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Level;

    fn edge(old: &str, new: &str, merge: &str) -> UnitMappingEdge {
        UnitMappingEdge {
            old_level: Level::Commune,
            old_code: old.into(),
            old_full_name: String::new(),
            old_province_code: "01".into(),
            new_code: new.into(),
            new_full_name: String::new(),
            new_province_code: "01".into(),
            merge_type: merge.into(),
            weight: 1.0,
            weight_source: String::new(),
            estimated: false,
            main_predecessor: false,
        }
    }

    fn load(text: &str, edges: &[UnitMappingEdge]) -> Result<ReformWeights> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(WEIGHTS_FILE);
        std::fs::write(&path, text).unwrap();
        ReformWeights::load(&path, edges)
    }

    fn edges() -> Vec<UnitMappingEdge> {
        vec![edge("00007", "00008", "partial"), edge("00007", "00004", "partial"), edge("00007", "00097", "partial"), edge("00001", "00097", "full")]
    }

    #[test]
    fn defaults_are_equal_shares_and_marked_estimated() {
        let w = load("old_code,new_code,weight,source\n", &edges()).unwrap();
        assert!(w.is_empty());
        let e = w.edge("00007", "00008", 3);
        assert!((e.weight - 1.0 / 3.0).abs() < 1e-15 && e.estimated, "{e:?}");
        assert!(e.source.contains("equal shares among the 3"));
        let full = w.edge("00001", "00097", 1);
        assert_eq!((full.weight, full.estimated), (1.0, false));
    }

    #[test]
    fn given_weights_are_used_and_comments_skipped() {
        let text = "# shares from the resolution\nold_code,new_code,weight,source\n00007,00008,0.5,NQ 1656 (dân số)\n00007,00004,0.3,NQ 1656\n# a comment\n00007,00097,0.2,NQ 1656\n";
        let w = load(text, &edges()).unwrap();
        assert_eq!(w.len(), 3);
        let e = w.edge("00007", "00004", 3);
        assert_eq!((e.weight, e.estimated, e.source.as_str()), (0.3, false, "NQ 1656"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "old_code,new_code,weight,source\n\
                    00007,00008,0.5,a\n00007,00004,0.4,a\n00007,00097,0.2,a\n\
                    00001,00004,1,a\n\
                    99999,00004,1,a\n\
                    00002,00004,1.5,\n";
        let mut edges = edges();
        edges.push(edge("00002", "00004", "partial"));
        edges.push(edge("00002", "00008", "partial"));
        let err = load(text, &edges).unwrap_err().to_string();
        for expected in [
            "old 00007: weights sum to 1.1",
            "old 00001 → new 00004: not an edge of the 2025 mapping; 00001 went to 00097",
            "old 99999 → new 00004: old commune 99999 is not in the 2025 mapping",
            "old 00002 → new 00004: weight 1.5 must be between 0 and 1",
            "old 00002 → new 00004: source is empty",
            "old 00002: weights are given for 00004 but not for 00008",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        assert!(err.contains("7 problem(s)"), "{err}");
    }
}
