//! Vietnamese text: everything tonghop stores or shows is NFC.

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Returns `s` in Unicode Normalization Form C, borrowing when it already is.
pub fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    match is_nfc_quick(s.chars()) {
        IsNormalized::Yes => std::borrow::Cow::Borrowed(s),
        _ => std::borrow::Cow::Owned(s.nfc().collect()),
    }
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
