//! Vietnamese text: everything tonghop stores or shows is NFC.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Returns `s` in Unicode Normalization Form C, borrowing when it already is.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(s.nfc().collect()),
    }
}

/// Lower case, Vietnamese diacritics removed (`Mã Xã` → `ma xa`), inner spaces collapsed, a
/// trailing `:` dropped: how labels typed by people are compared.
///
/// ```
/// assert_eq!(tonghop_core::text::fold("  Nhiệm vụ\nTHƯỜNG xuyên: "), "nhiem vu thuong xuyen");
/// ```
pub fn fold(text: &str) -> String {
    const TABLE: [(&str, char); 7] =
        [("àáảãạăằắẳẵặâầấẩẫậ", 'a'), ("èéẻẽẹêềếểễệ", 'e'), ("ìíỉĩị", 'i'), ("òóỏõọôồốổỗộơờớởỡợ", 'o'), ("ùúủũụưừứửữự", 'u'), ("ỳýỷỹỵ", 'y'), ("đ", 'd')];
    let lower = nfc(text).to_lowercase();
    let folded: String = lower
        .chars()
        .filter(|c| !matches!(*c as u32, 0x0300..=0x036F))
        .map(|c| TABLE.iter().find(|(from, _)| from.contains(c)).map_or(c, |(_, to)| *to))
        .collect();
    let words: Vec<&str> = folded.split_whitespace().collect();
    words.join(" ").trim_end_matches(':').trim_end().to_string()
}

/// The name among `known` closest to a mistyped `name`, when it is at most three edits away (a
/// likely typo): the "did you mean" of every message naming an unknown table, model or option.
///
/// ```
/// let known = ["indicator_values".to_string(), "completeness".to_string()];
/// assert_eq!(tonghop_core::text::closest(&known, "indicator_value"), Some("indicator_values"));
/// assert_eq!(tonghop_core::text::closest(&known, "units"), None);
/// ```
pub fn closest<'a, S: AsRef<str>>(known: &'a [S], name: &str) -> Option<&'a str> {
    known.iter().map(AsRef::as_ref).map(|k| (strsim::levenshtein(k, name), k)).filter(|(d, _)| *d <= 3).min_by_key(|(d, _)| *d).map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decomposed_vietnamese_is_composed() {
        let decomposed = "Ho\u{0300}a Bi\u{0300}nh"; // "Hòa Bình" with combining marks
        assert_eq!(nfc(decomposed), "Hòa Bình");
        assert!(matches!(nfc("Hòa Bình"), std::borrow::Cow::Borrowed(_)));
    }
}
