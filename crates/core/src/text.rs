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

/// An integer as Vietnamese readers write it, a dot between thousands: `1234567` → `1.234.567`,
/// `-12345` → `-12.345`.
pub fn integer_vi(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A number with one decimal, Vietnamese style (a comma before the decimal):
///
/// ```
/// use tonghop_core::text::decimal_vi;
/// assert_eq!(decimal_vi(95.34), "95,3");
/// assert_eq!(decimal_vi(1234.5), "1.234,5");
/// assert_eq!(decimal_vi(-2.06), "-2,1");
/// ```
pub fn decimal_vi(x: f64) -> String {
    let tenths = (x * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    format!("{sign}{},{}", integer_vi(tenths.abs() / 10), tenths.abs() % 10)
}

/// The text with its first letter in lower case, as a title reads inside a sentence
/// (`Tỉnh Nghệ An` → `tỉnh Nghệ An`).
pub fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
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
