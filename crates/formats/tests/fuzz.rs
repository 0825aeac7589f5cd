//! Property tests: no input makes the text readers panic. Random bytes, and valid files of every
//! text format cut at any point or with a byte changed, go through `tonghop_formats::read` (with
//! detection, and with each text format forced); the result is records and problems, or an error.
//! Workbooks are fuzzed in `fuzz_xlsx.rs`.

use std::io::BufReader;

use proptest::prelude::*;
use tonghop_formats::{detect, read, Collect, Format, IdMapping, ReadOptions};

const SAMPLES: [(&[u8], &str); 7] = [
    (include_bytes!("data/tonghop/bao_cao_202603_utf8.csv"), "a.csv"),
    (include_bytes!("data/tonghop/bao_cao_202603_unicode.txt"), "a.txt"),
    (include_bytes!("data/tonghop/bao_cao_202603_cp1258.csv"), "a.csv"),
    (include_bytes!("data/tonghop/bao_cao_202603.json"), "a.json"),
    (include_bytes!("data/dhis2/dataValueSetB.csv"), "b.csv"),
    (include_bytes!("data/dhis2/dataValueSetCreateDate.json"), "b.json"),
    (include_bytes!("data/dhis2/importC.adx.xml"), "c.adx.xml"),
];

const TEXT_FORMATS: [Format; 5] = [Format::Csv, Format::Json, Format::Dhis2Json, Format::Dhis2Csv, Format::Adx];

fn mapping() -> IdMapping {
    IdMapping::from_csv_bytes(include_bytes!("data/dhis2/mapping.csv"), "mapping.csv").unwrap_or_else(|e| panic!("{e}"))
}

/// Reads `bytes` through a reader whose buffer holds `capacity` bytes (so detection and encoding
/// sniffing see a head of that size), detecting the format unless `format` is given.
fn read_through(bytes: &[u8], name: &str, capacity: usize, format: Option<Format>, mapping: &IdMapping) {
    if format.is_none() && matches!(detect(&bytes[..bytes.len().min(capacity)], name), Ok(Format::XlsxLong | Format::XlsxForm)) {
        return; // the workbook reader has its own fuzz test
    }
    let options = ReadOptions { format, encoding: None, mapping: Some(mapping) };
    let mut sink = Collect::default();
    let mut reader = BufReader::with_capacity(capacity, bytes);
    if let Ok(read_as) = read(&mut reader, name, &options, &mut sink) {
        assert!(!matches!(read_as, Format::XlsxLong | Format::XlsxForm));
    }
    for p in &sink.problems {
        assert!(p.message_vi.starts_with(&p.location.vi()), "{p:?}");
        assert!(p.message_en.starts_with(&p.location.en()), "{p:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1500),
                    name in prop::sample::select(vec!["x.csv", "x.json", "x.xml", "x.txt", "x"]),
                    capacity in 1usize..8192) {
        let mapping = mapping();
        read_through(&bytes, name, capacity, None, &mapping);
        for format in TEXT_FORMATS {
            read_through(&bytes, name, capacity, Some(format), &mapping);
        }
    }

    #[test]
    fn truncated_samples(sample in 0..SAMPLES.len(), cut in any::<prop::sample::Index>(), capacity in 1usize..8192) {
        let (bytes, name) = SAMPLES[sample];
        let bytes = &bytes[..cut.index(bytes.len() + 1)];
        let mapping = mapping();
        read_through(bytes, name, capacity, None, &mapping);
        for format in TEXT_FORMATS {
            read_through(bytes, name, capacity, Some(format), &mapping);
        }
    }

    #[test]
    fn damaged_samples(sample in 0..SAMPLES.len(), at in any::<prop::sample::Index>(), byte in any::<u8>(),
                       cut in any::<prop::sample::Index>(), capacity in 1usize..8192) {
        let (bytes, name) = SAMPLES[sample];
        let mut bytes = bytes.to_vec();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1).max(i));
        read_through(&bytes, name, capacity, None, &mapping());
    }
}

#[test]
fn every_prefix_of_every_sample() {
    let mapping = mapping();
    for (bytes, name) in SAMPLES {
        for cut in 0..=bytes.len() {
            read_through(&bytes[..cut], name, 8192, None, &mapping);
        }
    }
}
