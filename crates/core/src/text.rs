//! Vietnamese text: everything tonghop stores or shows is NFC.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Returns `s` in Unicode Normalization Form C, borrowing when it already is.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(s.nfc().collect()),
    }
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
