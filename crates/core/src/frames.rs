//! The administrative frame of the documents a unit sends upward (Decree 30/2020/NĐ-CP): the
//! issuing body and its superior, the number symbol, the place of the date line, the signer and
//! the preparer, and the recipients ("Nơi nhận"). Read from `catalog/report_frames.csv`, one row
//! per unit `(epoch, unit_code)`, a default row (both empty) for every province and a row with
//! `unit_code` `VN` (epoch empty) for the nation. In the default rows `{unit}` stands for the
//! unit's full name (`Tỉnh Nghệ An`), `{UNIT}` for it in upper case and `{name}` for its short
//! name (`Nghệ An`). `recipients` are joined by `;`.

use std::path::Path;

use serde::Deserialize;

use crate::text::nfc;
use crate::{AdminUnit, Error, Problems, Result};

/// One row of `report_frames.csv`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct FrameRow {
    /// Epoch of `unit_code`; empty for a default row.
    #[serde(default)]
    pub epoch: Option<String>,
    /// The unit; empty for the provinces' default, `VN` for the nation.
    #[serde(default)]
    pub unit_code: Option<String>,
    /// The issuing body's superior (`UBND TỈNH NGHỆ AN`); may be empty.
    #[serde(default)]
    pub parent_body: Option<String>,
    /// The issuing body (`SỞ Y TẾ`).
    pub issuing_body: String,
    /// The symbol after the number (`BC-SYT`).
    pub symbol: String,
    /// The place of the date line.
    pub place: String,
    /// The signer's title.
    pub signer_title: String,
    /// The signer's name; may be empty.
    #[serde(default)]
    pub signer_name: Option<String>,
    /// The preparer's title (`NGƯỜI LẬP BIỂU`); may be empty.
    #[serde(default)]
    pub preparer_title: Option<String>,
    /// The preparer's name; may be empty.
    #[serde(default)]
    pub preparer_name: Option<String>,
    /// Recipients joined by `;`.
    #[serde(default)]
    pub recipients: Option<String>,
}

/// A frame filled in for one unit: every field as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitFrame {
    /// The issuing body's superior, upper case; may be empty.
    pub parent_body: String,
    /// The issuing body, upper case.
    pub issuing_body: String,
    /// `Số:      /BC-SYT`.
    pub number_line: String,
    /// The place of the date line.
    pub place: String,
    /// The signer's title.
    pub signer_title: String,
    /// The signer's name; may be empty.
    pub signer_name: String,
    /// The preparer's title; may be empty.
    pub preparer_title: String,
    /// The preparer's name; may be empty.
    pub preparer_name: String,
    /// "Nơi nhận" lines, each starting with `- ` and ending with `;` (the last with `.`).
    pub recipients: Vec<String>,
}

/// The frames of `catalog/report_frames.csv`.
#[derive(Debug, Clone, Default)]
pub struct Frames {
    rows: Vec<FrameRow>,
}

impl Frames {
    /// Loads `report_frames.csv` from the catalog folder; a project without it gets the built-in
    /// default (a provincial Department of Health).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCatalog`] naming the row at fault.
    pub fn load(catalog_dir: &Path) -> Result<Frames> {
        let path = catalog_dir.join("report_frames.csv");
        if !path.exists() {
            return Ok(Frames::default());
        }
        let mut problems = Problems::default();
        let mut rows = Vec::new();
        let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(&path).map_err(|source| Error::Csv { path: path.clone(), source })?;
        for (i, row) in reader.deserialize::<FrameRow>().enumerate() {
            match row {
                Ok(r) => {
                    if r.epoch.is_some() && r.unit_code.is_none() {
                        problems.push(format!("report_frames.csv row {}: an epoch needs a unit_code", i + 2));
                    }
                    if let Some(e) = r.epoch.as_deref().filter(|e| e.parse::<crate::Epoch>().is_err()) {
                        problems.push(format!("report_frames.csv row {}: epoch {e:?} must be pre2025 or post2025", i + 2));
                    }
                    rows.push(r);
                }
                Err(e) => problems.push(format!("report_frames.csv row {}: {e}", i + 2)),
            }
        }
        problems.into_result().map_err(Error::InvalidCatalog)?;
        Ok(Frames { rows })
    }

    /// The frame of `unit`: its own row, else the nation's or the provinces' default.
    pub fn for_unit(&self, unit: &AdminUnit) -> UnitFrame {
        let own = self.rows.iter().find(|r| r.epoch.as_deref() == Some(unit.epoch.as_str()) && r.unit_code.as_deref() == Some(unit.code.as_str()));
        let national = unit.code == crate::units::NATIONAL_CODE;
        let default = self.rows.iter().find(|r| r.epoch.is_none() && r.unit_code.as_deref() == national.then_some(crate::units::NATIONAL_CODE));
        let row = own.or(default).cloned().unwrap_or_else(|| FrameRow {
            epoch: None,
            unit_code: None,
            parent_body: (!national).then(|| "UBND {UNIT}".into()),
            issuing_body: if national { "BỘ Y TẾ".into() } else { "SỞ Y TẾ".into() },
            symbol: if national { "BC-BYT".into() } else { "BC-SYT".into() },
            place: if national { "Hà Nội".into() } else { "{name}".into() },
            signer_title: if national { "BỘ TRƯỞNG".into() } else { "GIÁM ĐỐC".into() },
            signer_name: None,
            preparer_title: Some("NGƯỜI LẬP BIỂU".into()),
            preparer_name: None,
            recipients: Some("Lưu: VT".into()),
        });
        let fill = |s: &str| {
            nfc(&s
                .replace("{UNIT}", &unit.full_name.to_uppercase())
                .replace("{unit}", &crate::text::lower_first(&unit.full_name))
                .replace("{name}", &unit.name))
            .into_owned()
        };
        let list: Vec<&str> = row.recipients.as_deref().unwrap_or("").split(';').map(str::trim).filter(|r| !r.is_empty()).collect();
        let recipients = list.iter().enumerate().map(|(i, r)| format!("- {}{}", fill(r), if i + 1 == list.len() { "." } else { ";" })).collect();
        UnitFrame {
            parent_body: fill(row.parent_body.as_deref().unwrap_or("")).to_uppercase(),
            issuing_body: fill(&row.issuing_body).to_uppercase(),
            number_line: format!("Số:        /{}", fill(&row.symbol)),
            place: fill(&row.place),
            signer_title: fill(&row.signer_title).to_uppercase(),
            signer_name: fill(row.signer_name.as_deref().unwrap_or("")),
            preparer_title: fill(row.preparer_title.as_deref().unwrap_or("")).to_uppercase(),
            preparer_name: fill(row.preparer_name.as_deref().unwrap_or("")),
            recipients,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Epoch, UnitRegistry};

    fn registry() -> UnitRegistry {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../reference/admin-units");
        UnitRegistry::load(&root).unwrap()
    }

    #[test]
    fn a_province_gets_its_own_row_or_the_default_filled_in() {
        let frames = Frames::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../catalog")).unwrap();
        let r = registry();
        let nghe_an = frames.for_unit(r.get(Epoch::Post2025, "40").unwrap());
        assert_eq!(nghe_an.parent_body, "UBND TỈNH NGHỆ AN");
        assert_eq!(nghe_an.issuing_body, "SỞ Y TẾ");
        assert!(nghe_an.recipients.last().unwrap().ends_with("Lưu: VT."), "{:?}", nghe_an.recipients);
        let cao_bang = frames.for_unit(r.get(Epoch::Post2025, "04").unwrap());
        assert_eq!(cao_bang.parent_body, "UBND TỈNH CAO BẰNG");
        assert_eq!(cao_bang.place, "Cao Bằng");
        assert!(cao_bang.recipients.iter().any(|l| l == "- UBND tỉnh Cao Bằng (để b/c);"), "{:?}", cao_bang.recipients);
        let nation = frames.for_unit(r.get(Epoch::Post2025, "VN").unwrap());
        assert_eq!((nation.parent_body.as_str(), nation.issuing_body.as_str()), ("", "BỘ Y TẾ"));
        assert_eq!(nation.number_line, "Số:        /BC-BYT");
    }
}
