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
        let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
        let registry = UnitRegistry::load(&root.join("reference/admin-units")).expect("registry");
        let catalog = Catalog::load(&root.join("catalog")).expect("catalog");
        let period = "202603".parse().expect("period");
        template::write_filled(&registry, &catalog, &period, "04", &|unit, element| {
            Some((unit.len() * 7 + element.len()) as f64)
        })
        .expect("template")
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
