//! SQL literals for the queries tonghop builds in code (filters on ids, codes and periods).

/// A SQL string literal: `it's` → `'it''s'`.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Values as a list of SQL string literals, for `IN (…)`: `'a', 'b''c'`.
pub fn literal_list<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> String {
    values.into_iter().map(|v| literal(v.as_ref())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_are_doubled() {
        assert_eq!(super::literal("Hà Nội's"), "'Hà Nội''s'");
        assert_eq!(super::literal_list(["a", "b'c"]), "'a', 'b''c'");
        assert_eq!(super::literal_list(Vec::<String>::new()), "");
    }
}
