//! Reporting periods, written as DHIS2 period codes.
//!
//! | type | code | example | Vietnamese |
//! |---|---|---|---|
//! | month | `YYYYMM` | `202603` | Tháng 3 năm 2026 |
//! | quarter | `YYYYQn` | `2026Q1` | Quý I năm 2026 |
//! | half year | `YYYYSn` | `2026S1` | 6 tháng đầu năm 2026 |
//! | nine months | `YYYYN9` (tonghop's own; DHIS2 has none) | `2026N9` | 9 tháng năm 2026 (January–September) |
//! | year | `YYYY` | `2026` | Năm 2026 |
//! | year to date | `YYYYYTDmm` (tonghop's own) | `2026YTD03` | Từ tháng 1 đến tháng 3 năm 2026 (January–March) |
//!
//! Year to date ends at any month: `2026YTD01` … `2026YTD12`. It covers the same months as `202601`,
//! `2026Q1`, `2026S1`, `2026N9` or `2026` for months 1, 3, 6, 9 and 12, but is a period type of its
//! own, so that "the year so far" is always there under one code. The code cannot collide with the
//! others: after the four digits of the year it is the only one starting with `Y` (months are two
//! digits, the others start with `Q`, `S` or `N`).
//!
//! [`Period::name_vi`] gives the Vietnamese names of the table above, as reports write them.

use chrono::{Datelike, NaiveDate};

use crate::{Error, Result};

/// The kind of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeriodType {
    /// One calendar month.
    Month,
    /// Three months.
    Quarter,
    /// Six months.
    HalfYear,
    /// January to September.
    NineMonths,
    /// A calendar year.
    Year,
    /// January to the end of a month (year to date).
    YearToDate,
}

impl PeriodType {
    /// Every period type, shortest first.
    pub const ALL: [PeriodType; 6] =
        [PeriodType::Month, PeriodType::Quarter, PeriodType::HalfYear, PeriodType::NineMonths, PeriodType::Year, PeriodType::YearToDate];

    /// The stable name used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodType::Month => "month",
            PeriodType::Quarter => "quarter",
            PeriodType::HalfYear => "half_year",
            PeriodType::NineMonths => "nine_months",
            PeriodType::Year => "year",
            PeriodType::YearToDate => "year_to_date",
        }
    }
}

/// A reporting period: a type, a year and the index of the period within the year (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    year: i32,
    kind: PeriodType,
    index: u32,
}

impl Period {
    /// A month (1–12) of a year.
    pub fn month(year: i32, month: u32) -> Period {
        assert!((1..=12).contains(&month), "month {month} out of range");
        Period { year, kind: PeriodType::Month, index: month }
    }

    /// Builds a period, checking the index.
    pub fn new(kind: PeriodType, year: i32, index: u32) -> Option<Period> {
        let max = match kind {
            PeriodType::Month | PeriodType::YearToDate => 12,
            PeriodType::Quarter => 4,
            PeriodType::HalfYear => 2,
            PeriodType::NineMonths | PeriodType::Year => 1,
        };
        ((1..=max).contains(&index) && (1900..=9999).contains(&year)).then_some(Period { year, kind, index })
    }

    /// The period's type.
    pub fn kind(&self) -> PeriodType {
        self.kind
    }

    /// The calendar year.
    pub fn year(&self) -> i32 {
        self.year
    }

    /// First and last month (1-based) of the period.
    fn month_span(&self) -> (u32, u32) {
        match self.kind {
            PeriodType::Month => (self.index, self.index),
            PeriodType::Quarter => (3 * self.index - 2, 3 * self.index),
            PeriodType::HalfYear => (6 * self.index - 5, 6 * self.index),
            PeriodType::NineMonths => (1, 9),
            PeriodType::Year => (1, 12),
            PeriodType::YearToDate => (1, self.index),
        }
    }

    /// The first day of the period.
    pub fn start(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month_span().0, 1).expect("valid month")
    }

    /// The last day of the period.
    pub fn end(&self) -> NaiveDate {
        let last = self.month_span().1;
        let next = if last == 12 { NaiveDate::from_ymd_opt(self.year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(self.year, last + 1, 1) };
        next.expect("valid date").pred_opt().expect("valid date")
    }

    /// The months of the period, in order.
    pub fn months(&self) -> impl Iterator<Item = Period> + '_ {
        let (first, last) = self.month_span();
        (first..=last).map(move |m| Period::month(self.year, m))
    }

    /// The month containing a day.
    pub fn month_of(date: NaiveDate) -> Period {
        Period::month(date.year(), date.month())
    }

    /// Every period of a type within a year.
    pub fn all_in_year(kind: PeriodType, year: i32) -> impl Iterator<Item = Period> {
        (1..=12).filter_map(move |i| Period::new(kind, year, i))
    }

    /// The same period a year earlier (`2026Q1` → `2025Q1`, `2026YTD03` → `2025YTD03`).
    pub fn previous_year(&self) -> Option<Period> {
        Period::new(self.kind, self.year - 1, self.index)
    }

    /// The same period a year later (`2025Q1` → `2026Q1`).
    pub fn next_year(&self) -> Option<Period> {
        Period::new(self.kind, self.year + 1, self.index)
    }

    /// The latest period of a type that has ended before `today` (`today` 2026-04-15: month
    /// `202603`, quarter `2026Q1`, half year `2025S2`, nine months `2025N9`, year `2025`, year to date
    /// `2026YTD03`). For exports scheduled after a period closes.
    pub fn latest_ended(kind: PeriodType, today: NaiveDate) -> Period {
        let mut month = Period::month_of(today);
        loop {
            let start = month.start().pred_opt().expect("a day before");
            month = Period::month_of(start);
            let candidate = match kind {
                PeriodType::Month => Some(month),
                _ => month.containing().into_iter().find(|p| p.kind == kind && p.end() == month.end()),
            };
            if let Some(p) = candidate.filter(|p| p.end() < today) {
                return p;
            }
        }
    }

    /// The periods of every type that contain this month (the month itself included), ending with
    /// the year-to-date periods from this month to December.
    pub fn containing(&self) -> Vec<Period> {
        assert_eq!(self.kind, PeriodType::Month, "containing() is defined for months");
        let m = self.index;
        let mut out = vec![
            *self,
            Period { year: self.year, kind: PeriodType::Quarter, index: m.div_ceil(3) },
            Period { year: self.year, kind: PeriodType::HalfYear, index: m.div_ceil(6) },
        ];
        if m <= 9 {
            out.push(Period { year: self.year, kind: PeriodType::NineMonths, index: 1 });
        }
        out.push(Period { year: self.year, kind: PeriodType::Year, index: 1 });
        out.extend((m..=12).map(|index| Period { year: self.year, kind: PeriodType::YearToDate, index }));
        out
    }
}

impl Period {
    /// The period as Vietnamese reports write it (NFC): `Tháng 3 năm 2026`, `Quý III năm 2026`,
    /// `6 tháng đầu năm 2026` / `6 tháng cuối năm 2026`, `9 tháng năm 2026`, `Năm 2026`, and for a
    /// year to date `Từ tháng 1 đến tháng 5 năm 2026` (`2026YTD01` is `Tháng 1 năm 2026`: one month).
    pub fn name_vi(&self) -> String {
        const ROMAN: [&str; 4] = ["I", "II", "III", "IV"];
        let year = self.year;
        match self.kind {
            PeriodType::Month => format!("Tháng {} năm {year}", self.index),
            PeriodType::Quarter => format!("Quý {} năm {year}", ROMAN[self.index as usize - 1]),
            PeriodType::HalfYear if self.index == 1 => format!("6 tháng đầu năm {year}"),
            PeriodType::HalfYear => format!("6 tháng cuối năm {year}"),
            PeriodType::NineMonths => format!("9 tháng năm {year}"),
            PeriodType::Year => format!("Năm {year}"),
            PeriodType::YearToDate if self.index == 1 => format!("Tháng 1 năm {year}"),
            PeriodType::YearToDate => format!("Từ tháng 1 đến tháng {} năm {year}", self.index),
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            PeriodType::Month => write!(f, "{}{:02}", self.year, self.index),
            PeriodType::Quarter => write!(f, "{}Q{}", self.year, self.index),
            PeriodType::HalfYear => write!(f, "{}S{}", self.year, self.index),
            PeriodType::NineMonths => write!(f, "{}N9", self.year),
            PeriodType::Year => write!(f, "{}", self.year),
            PeriodType::YearToDate => write!(f, "{}YTD{:02}", self.year, self.index),
        }
    }
}

impl std::str::FromStr for Period {
    type Err = Error;
    fn from_str(code: &str) -> Result<Self> {
        let invalid = || Error::InvalidPeriod { code: code.to_string() };
        let s = code.trim();
        if s.len() < 4 || !s.is_char_boundary(4) || !s[..4].bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let year: i32 = s[..4].parse().map_err(|_| invalid())?;
        let rest = &s[4..];
        let number = |t: &str| -> Result<u32> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            t.parse().map_err(|_| invalid())
        };
        let (kind, index) = match rest.as_bytes() {
            [] => (PeriodType::Year, 1),
            [b'Q', ..] => (PeriodType::Quarter, number(&rest[1..])?),
            [b'S', ..] => (PeriodType::HalfYear, number(&rest[1..])?),
            [b'N', b'9'] => (PeriodType::NineMonths, 1),
            [b'Y', b'T', b'D', a, b] if a.is_ascii_digit() && b.is_ascii_digit() => (PeriodType::YearToDate, number(&rest[3..])?),
            [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => (PeriodType::Month, number(rest)?),
            _ => return Err(invalid()),
        };
        Period::new(kind, year, index).ok_or_else(invalid)
    }
}

/// Vietnam's time zone: UTC+7 all year (no daylight saving time).
pub fn vietnam_offset() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

/// Today's date in Vietnam (UTC+7 all year: Vietnam has no daylight saving time). Reports are
/// dated, and periods judged in the future, against it.
pub fn today_in_vietnam() -> chrono::NaiveDate {
    chrono::Utc::now().with_timezone(&vietnam_offset()).date_naive()
}

/// The words an export may use instead of a period code, resolved on the day it runs (Vietnam's
/// date) to the latest period of that type that has ended (see [`Period::latest_ended`]): on
/// 2026-04-15 `previous_month` is `202603` and `previous_quarter` is `2026Q1`.
pub const RELATIVE_PERIODS: [(&str, PeriodType); 6] = [
    ("previous_month", PeriodType::Month),
    ("previous_quarter", PeriodType::Quarter),
    ("previous_half_year", PeriodType::HalfYear),
    ("previous_nine_months", PeriodType::NineMonths),
    ("previous_year", PeriodType::Year),
    ("previous_year_to_date", PeriodType::YearToDate),
];

/// A period as written in an export: a word of [`RELATIVE_PERIODS`] resolved for `today`, or the
/// code as written (trimmed).
pub fn resolve_relative(period: &str, today: NaiveDate) -> String {
    match RELATIVE_PERIODS.iter().find(|(word, _)| *word == period.trim()) {
        Some((_, kind)) => Period::latest_ended(*kind, today).to_string(),
        None => period.trim().to_string(),
    }
}

/// Parses a period as written in an export (a code or a word of [`RELATIVE_PERIODS`]); the error
/// names the words too.
///
/// # Errors
///
/// The code cannot be read; the message lists the relative words.
pub fn parse_relative(period: &str, today: NaiveDate) -> std::result::Result<Period, String> {
    resolve_relative(period, today).parse::<Period>().map_err(|e| {
        let words = RELATIVE_PERIODS.map(|(w, _)| w).join(", ");
        format!("period {period:?}: {e}; or use one of {words}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(code: &str) -> Period {
        code.parse().unwrap()
    }

    #[test]
    fn the_latest_ended_period_of_each_type() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let latest = |kind, today| Period::latest_ended(kind, today).to_string();
        let today = day(2026, 4, 15);
        let all: Vec<String> = PeriodType::ALL.iter().map(|k| latest(*k, today)).collect();
        assert_eq!(all, ["202603", "2026Q1", "2025S2", "2025N9", "2025", "2026YTD03"]);
        assert_eq!(latest(PeriodType::Quarter, day(2026, 4, 1)), "2026Q1", "the day after the quarter");
        assert_eq!(latest(PeriodType::Quarter, day(2026, 3, 31)), "2025Q4", "its last day: not ended yet");
        assert_eq!(latest(PeriodType::Month, day(2026, 1, 5)), "202512");
        assert_eq!(latest(PeriodType::NineMonths, day(2026, 10, 1)), "2026N9");
    }

    #[test]
    fn codes_round_trip() {
        for code in ["202603", "202612", "2026Q1", "2026Q4", "2026S2", "2026N9", "2026", "2026YTD01", "2026YTD03", "2026YTD12"] {
            assert_eq!(p(code).to_string(), code);
        }
    }

    #[test]
    fn malformed_codes_are_refused() {
        for code in [
            "",
            "2026M3",
            "202613",
            "202600",
            "2026Q5",
            "2026Q0",
            "2026S3",
            "2026N8",
            "26Q1",
            "2026Q",
            "2026Q1x",
            "ÂĂĂĂ",
            "2026YTD00",
            "2026YTD13",
            "2026YTD3",
            "2026YTD003",
            "2026YTD",
            "2026ytd03",
            "2026YT03",
        ] {
            assert!(code.parse::<Period>().is_err(), "{code} should be refused");
        }
    }

    #[test]
    fn spans() {
        assert_eq!(p("202602").end(), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        assert_eq!(p("2024Q1").end(), NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
        assert_eq!(p("2026N9").start(), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(p("2026N9").end(), NaiveDate::from_ymd_opt(2026, 9, 30).unwrap());
        assert_eq!(p("2026S2").months().map(|m| m.to_string()).collect::<Vec<_>>(), ["202607", "202608", "202609", "202610", "202611", "202612"]);
        assert_eq!(p("2026").months().count(), 12);
        assert_eq!(p("2026YTD03").start(), NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
        assert_eq!(p("2026YTD02").end(), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
        assert_eq!(p("2026YTD03").months().map(|m| m.to_string()).collect::<Vec<_>>(), ["202601", "202602", "202603"]);
        assert_eq!(p("2026YTD12").months().count(), 12);
    }

    #[test]
    fn year_to_date_codes_are_their_own_type_and_never_collide() {
        let all: Vec<Period> = PeriodType::ALL.iter().flat_map(|k| Period::all_in_year(*k, 2026)).collect();
        assert_eq!(all.len(), 12 + 4 + 2 + 1 + 1 + 12);
        let codes: std::collections::HashSet<String> = all.iter().map(|p| p.to_string()).collect();
        assert_eq!(codes.len(), all.len(), "every period of a year has its own code");
        for period in &all {
            assert_eq!(p(&period.to_string()), *period);
        }
        assert_eq!(p("2026YTD09").kind(), PeriodType::YearToDate);
        assert_eq!(p("2026YTD09").months().collect::<Vec<_>>(), p("2026N9").months().collect::<Vec<_>>());
        assert_eq!(p("2026YTD07").previous_year().unwrap().to_string(), "2025YTD07");
        assert_eq!(p("2026Q1").previous_year().unwrap().to_string(), "2025Q1");
    }

    #[test]
    fn vietnamese_names_of_every_period_type_in_both_epochs() {
        let cases = [
            // pre2025 epoch
            ("202403", "Tháng 3 năm 2024"),
            ("202412", "Tháng 12 năm 2024"),
            ("2024Q1", "Quý I năm 2024"),
            ("2024Q4", "Quý IV năm 2024"),
            ("2025Q2", "Quý II năm 2025"),
            ("2024S1", "6 tháng đầu năm 2024"),
            ("2024S2", "6 tháng cuối năm 2024"),
            ("2024N9", "9 tháng năm 2024"),
            ("2024", "Năm 2024"),
            ("2025YTD06", "Từ tháng 1 đến tháng 6 năm 2025"),
            ("2024YTD01", "Tháng 1 năm 2024"),
            // post2025 epoch
            ("202507", "Tháng 7 năm 2025"),
            ("2025Q3", "Quý III năm 2025"),
            ("2026Q1", "Quý I năm 2026"),
            ("2026Q3", "Quý III năm 2026"),
            ("2025S2", "6 tháng cuối năm 2025"),
            ("2026S1", "6 tháng đầu năm 2026"),
            ("2026N9", "9 tháng năm 2026"),
            ("2026", "Năm 2026"),
            ("2026YTD05", "Từ tháng 1 đến tháng 5 năm 2026"),
            ("2026YTD12", "Từ tháng 1 đến tháng 12 năm 2026"),
        ];
        for (code, name) in cases {
            assert_eq!(p(code).name_vi(), name, "{code}");
            assert_eq!(crate::text::nfc(name), name, "{code}: the name is NFC");
            crate::Epoch::for_period(&p(code)).unwrap();
        }
        // Every period of both epochs' years has a name, and distinct periods of one year distinct names
        // (apart from YTD01, which is January).
        for year in [2024, 2026] {
            let names: std::collections::HashSet<String> = PeriodType::ALL
                .iter()
                .flat_map(|k| Period::all_in_year(*k, year))
                .filter(|p| p.to_string() != format!("{year}YTD01"))
                .map(|p| p.name_vi())
                .collect();
            assert_eq!(names.len(), 12 + 4 + 2 + 1 + 1 + 11);
        }
    }

    #[test]
    fn containing_periods_of_a_month() {
        let codes = |m: &str| p(m).containing().iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            codes("202603"),
            [
                "202603",
                "2026Q1",
                "2026S1",
                "2026N9",
                "2026",
                "2026YTD03",
                "2026YTD04",
                "2026YTD05",
                "2026YTD06",
                "2026YTD07",
                "2026YTD08",
                "2026YTD09",
                "2026YTD10",
                "2026YTD11",
                "2026YTD12"
            ]
        );
        assert_eq!(codes("202611"), ["202611", "2026Q4", "2026S2", "2026", "2026YTD11", "2026YTD12"]);
        // every containing period really contains the month
        for m in 1..=12 {
            let month = Period::month(2026, m);
            for c in month.containing() {
                assert!(c.start() <= month.start() && month.end() <= c.end(), "{c} does not contain {month}");
            }
        }
    }
}
