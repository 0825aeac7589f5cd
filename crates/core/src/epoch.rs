//! The two administrative epochs. Unit codes were reused with new meanings on 2025-07-01, so a unit is
//! always identified by (epoch, code).

use chrono::NaiveDate;

use crate::{Error, Period, Result};

/// An administrative epoch: a span of time with one fixed set of units and levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Epoch {
    /// Until 2025-06-30: 63 provinces, 696 districts, 10,035 communes (province → district → commune).
    Pre2025,
    /// From 2025-07-01: 34 provinces, 3,321 communes, no district level (province → commune).
    Post2025,
}

/// The first day of the post-2025 epoch (Resolution 202/2025/QH15 and 19/2025/QĐ-TTg).
pub const REFORM_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2025, 7, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

impl Epoch {
    /// Every epoch, oldest first.
    pub const ALL: [Epoch; 2] = [Epoch::Pre2025, Epoch::Post2025];

    /// The stable name used in tables and files.
    pub fn as_str(self) -> &'static str {
        match self {
            Epoch::Pre2025 => "pre2025",
            Epoch::Post2025 => "post2025",
        }
    }

    /// The epoch in force on a day.
    pub fn on(date: NaiveDate) -> Epoch {
        if date < REFORM_DATE {
            Epoch::Pre2025
        } else {
            Epoch::Post2025
        }
    }

    /// The epoch whose units a period's figures are expressed in by default: the epoch in force for
    /// its whole span, or [`Epoch::Post2025`] for a period that straddles the reform (`2025`,
    /// `2025N9`, `2025YTD07`–`2025YTD12`), whose months before 2025-07-01 are carried into today's
    /// units (see [`crate::reform`]). Pre-2025 periods can also be read in post-2025 units.
    pub fn of_units_for(period: &Period) -> Epoch {
        Epoch::for_period(period).unwrap_or(Epoch::Post2025)
    }

    /// True when a period starts before and ends after 2025-07-01.
    pub fn straddles(period: &Period) -> bool {
        Epoch::for_period(period).is_err()
    }

    /// True when the period's figures can be expressed in this epoch's units: every period in
    /// post-2025 units (earlier months carried across the reform), only periods that end before
    /// 2025-07-01 in pre-2025 units.
    pub fn expresses(self, period: &Period) -> bool {
        match self {
            Epoch::Post2025 => true,
            Epoch::Pre2025 => period.end() < REFORM_DATE,
        }
    }

    /// The epoch in force for the whole span of a period, or [`Error::StraddlesReform`].
    pub fn for_period(period: &Period) -> Result<Epoch> {
        let (start, end) = (period.start(), period.end());
        let epoch = Epoch::on(start);
        if Epoch::on(end) != epoch {
            return Err(Error::StraddlesReform { period: period.to_string(), start, end });
        }
        Ok(epoch)
    }
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Epoch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pre2025" => Ok(Epoch::Pre2025),
            "post2025" => Ok(Epoch::Post2025),
            other => Err(Error::UnknownEpoch(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(code: &str) -> Result<Epoch> {
        Epoch::for_period(&code.parse().unwrap())
    }

    #[test]
    fn periods_on_each_side_of_the_reform() {
        assert_eq!(epoch("202506").unwrap(), Epoch::Pre2025);
        assert_eq!(epoch("202507").unwrap(), Epoch::Post2025);
        assert_eq!(epoch("2025Q2").unwrap(), Epoch::Pre2025);
        assert_eq!(epoch("2025Q3").unwrap(), Epoch::Post2025);
        assert_eq!(epoch("2025S1").unwrap(), Epoch::Pre2025);
        assert_eq!(epoch("2025S2").unwrap(), Epoch::Post2025);
        assert_eq!(epoch("2024").unwrap(), Epoch::Pre2025);
        assert_eq!(epoch("2025YTD06").unwrap(), Epoch::Pre2025);
        assert_eq!(epoch("2026YTD03").unwrap(), Epoch::Post2025);
    }

    #[test]
    fn units_a_period_is_expressed_in() {
        let p = |c: &str| c.parse::<Period>().unwrap();
        assert_eq!(Epoch::of_units_for(&p("2025")), Epoch::Post2025);
        assert_eq!(Epoch::of_units_for(&p("2025N9")), Epoch::Post2025);
        assert_eq!(Epoch::of_units_for(&p("2024Q1")), Epoch::Pre2025);
        assert!(Epoch::straddles(&p("2025YTD07")) && !Epoch::straddles(&p("2025YTD06")));
        assert!(Epoch::Post2025.expresses(&p("2024Q1")) && Epoch::Post2025.expresses(&p("2025")));
        assert!(Epoch::Pre2025.expresses(&p("2025S1")) && !Epoch::Pre2025.expresses(&p("2025")) && !Epoch::Pre2025.expresses(&p("202507")));
    }

    #[test]
    fn straddling_periods_are_refused_with_dates() {
        for code in ["2025", "2025N9", "2025YTD07", "2025YTD12"] {
            let err = epoch(code).unwrap_err().to_string();
            assert!(err.contains("straddles the administrative reform of 2025-07-01"), "{err}");
            assert!(err.contains(code), "{err}");
        }
    }
}
