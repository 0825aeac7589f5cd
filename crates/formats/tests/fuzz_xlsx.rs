//! `xlsx::read` on damaged workbooks: a filled report form cut at random points or with random
//! bytes flipped must give an error or some records, never a panic.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use tonghop_core::{Catalog, UnitRegistry};
use tonghop_formats::{template, xlsx, Collect, Format};

/// A filled form for a small province (Cao Bằng), written once.
fn form() -> &'static [u8] {
    static FORM: OnceLock<Vec<u8>> = OnceLock::new();
    FORM.get_or_init(|| {
        let root = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("../..");
        let registry = UnitRegistry::load(&root.join("reference/admin-units")).expect("registry");
        let catalog = Catalog::load(&root.join("catalog")).expect("catalog");
        let period = "202603".parse().expect("period");
        template::write_filled(&registry, &catalog, &period, "04", &|unit, element| Some((unit.len() * 7 + element.len()) as f64)).expect("template")
    })
}

fn read(bytes: &[u8], format: Option<Format>) {
    let mut sink = Collect::default();
    // Either outcome is fine; reaching the end without a panic is the test.
    let _ = xlsx::read(bytes, "fuzz.xlsx", format, &mut sink);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn truncated_forms_do_not_panic(fraction in 0.0f64..1.0) {
        let bytes = form();
        let cut = ((bytes.len() as f64) * fraction) as usize;
        read(&bytes[..cut], None);
    }

    #[test]
    fn flipped_bytes_do_not_panic(flips in prop::collection::vec((0.0f64..1.0, 1u8..=255), 1..8), forced in any::<bool>()) {
        let mut bytes = form().to_vec();
        for (at, mask) in flips {
            let i = ((bytes.len() as f64) * at) as usize % bytes.len();
            bytes[i] ^= mask;
        }
        read(&bytes, forced.then_some(Format::XlsxForm));
    }
}

/// A small long-layout sheet with one more value at (row, col).
fn with_stray_cell(row: u32, col: u16) -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (c, h) in ["period", "org_unit", "data_element", "value"].iter().enumerate() {
        sheet.write(0, c as u16, *h).unwrap();
    }
    sheet.write(1, 0, "202603").unwrap().write(1, 1, "00004").unwrap().write(1, 2, "DS_TONG").unwrap().write(1, 3, 5).unwrap();
    sheet.write(row, col, 1).unwrap();
    workbook.save_to_buffer().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Stray cells anywhere in the sheet's 17 billion: read when the used area stays within
    /// `MAX_SHEET_CELLS`, refused otherwise, never an attempt to allocate the whole area.
    #[test]
    fn stray_cells_anywhere_are_read_or_refused_by_the_area_they_span(row in 0u32..1_048_576, col in 0u16..16_384) {
        let mut sink = Collect::default();
        let result = xlsx::read(&with_stray_cell(row, col), "stray.xlsx", None, &mut sink);
        let span = (u64::from(row.max(1)) + 1) * (u64::from(col.max(3)) + 1);
        if span > xlsx::MAX_SHEET_CELLS {
            let message = result.expect_err("refused").to_string();
            prop_assert!(message.contains("more than the"), "{}", message);
        } else {
            prop_assert!(result.is_ok(), "{:?}", result);
        }
    }
}
