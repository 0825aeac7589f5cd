//! Every problem found at once: the one shape of "N problem(s):" messages, from the catalog, the
//! `sql/` project, pipeline specs, export requests and the service configuration alike.

use std::fmt;

/// Problems found together, each saying where and what to change; shown as `N problem(s):` and
/// one indented line per problem.
///
/// ```
/// let mut problems = tonghop_core::Problems::default();
/// problems.push("catalog/indicators.csv line 4: unknown data element KCB_TONGG");
/// assert_eq!(problems.to_string(), "1 problem(s):\n  - catalog/indicators.csv line 4: unknown data element KCB_TONGG");
/// assert!(problems.into_result().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl Problems {
    /// Adds a problem.
    pub fn push(&mut self, problem: impl Into<String>) {
        self.0.push(problem.into());
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when there is none, else these problems.
    ///
    /// # Errors
    ///
    /// The problems, when there are any.
    pub fn into_result(self) -> Result<(), Problems> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<Vec<String>> for Problems {
    fn from(problems: Vec<String>) -> Self {
        Problems(problems)
    }
}

impl Extend<String> for Problems {
    fn extend<T: IntoIterator<Item = String>>(&mut self, iter: T) {
        self.0.extend(iter);
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s):", self.0.len())?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}
