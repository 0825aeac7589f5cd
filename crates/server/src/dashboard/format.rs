//! Numbers, dates and labels as Vietnamese readers write them: a comma before the decimals and a
//! dot between thousands (`95,3 %`, `12.345`), dates as `05/12/2026 14:53` (Vietnam time).

use chrono::{DateTime, Utc};

pub use tonghop_core::text::{decimal_vi as decimal, integer_vi as integer};

/// A percentage: `95.34` → `95,3 %`; none → `—`.
pub fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "—".into(), |x| format!("{} %", decimal(x)))
}

/// A change in percentage points, signed: `1.25` → `+1,3 điểm %`, `-0.4` → `-0,4 điểm %`.
pub fn points(x: Option<f64>) -> String {
    match x {
        None => "—".into(),
        Some(x) if (x * 10.0).round() > 0.0 => format!("+{} điểm %", decimal(x)),
        Some(x) => format!("{} điểm %", decimal(x)),
    }
}

/// A target with its comparison: (`>`, 95) → `> 95 %`, (`>=`, 100) → `≥ 100 %`.
pub fn target(comparison: &str, value: Option<f64>) -> String {
    let Some(value) = value else { return "—".into() };
    let sign = match comparison {
        ">=" => "≥",
        "<=" => "≤",
        other => other,
    };
    format!("{sign} {}", percent(Some(value)))
}

/// An instant as Vietnam's clocks show it: `05/12/2026 14:53`.
pub fn instant(at: DateTime<Utc>) -> String {
    at.with_timezone(&tonghop_core::period::vietnam_offset()).format("%d/%m/%Y %H:%M").to_string()
}

/// A period as a chart's axis writes it: `T3/2026`, `Q1/2026`, `6T đầu 2026`, `9T/2026`, `2026`.
pub fn short_period(p: &tonghop_core::Period) -> String {
    use tonghop_core::PeriodType;
    let (year, index) = (p.year(), p.to_string());
    match p.kind() {
        PeriodType::Month => format!("T{}/{year}", index[4..].trim_start_matches('0')),
        PeriodType::Quarter => format!("Q{}/{year}", &index[5..]),
        PeriodType::HalfYear if index.ends_with('1') => format!("6T đầu {year}"),
        PeriodType::HalfYear => format!("6T cuối {year}"),
        PeriodType::NineMonths => format!("9T/{year}"),
        PeriodType::Year => year.to_string(),
        PeriodType::YearToDate => format!("1–{}/{year}", index[7..].trim_start_matches('0')),
    }
}

/// Text for an HTML or SVG element or attribute.
pub fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_the_vietnamese_way() {
        assert_eq!(integer(0), "0");
        assert_eq!(integer(999), "999");
        assert_eq!(integer(12345), "12.345");
        assert_eq!(integer(-1234567), "-1.234.567");
        assert_eq!(percent(Some(95.34)), "95,3 %");
        assert_eq!(percent(Some(100.0)), "100,0 %");
        assert_eq!(percent(Some(1234.56)), "1.234,6 %");
        assert_eq!(percent(None), "—");
        assert_eq!(points(Some(1.25)), "+1,3 điểm %");
        assert_eq!(points(Some(-0.44)), "-0,4 điểm %");
        assert_eq!(points(Some(0.01)), "0,0 điểm %");
        assert_eq!(target(">=", Some(100.0)), "≥ 100,0 %");
        assert_eq!(target(">", Some(95.0)), "> 95,0 %");
        let at = DateTime::parse_from_rfc3339("2026-12-05T07:53:26Z").unwrap().with_timezone(&Utc);
        assert_eq!(instant(at), "05/12/2026 14:53");
        let short = |p: &str| short_period(&p.parse().unwrap());
        assert_eq!(
            [short("202603"), short("2026Q1"), short("2025S2"), short("2026N9"), short("2026"), short("2026YTD11")],
            ["T3/2026", "Q1/2026", "6T cuối 2025", "9T/2026", "2026", "1–11/2026"]
        );
    }
}
