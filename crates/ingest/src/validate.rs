//! Row-level validation. Every failure is a [`Rejection`] with a stable reason code and a message in
//! Vietnamese (for the commune's data-entry officer) and English.

use std::collections::HashMap;

use tonghop_core::{catalog::ValueType, Catalog, Epoch, Level, Period, PeriodType, UnitRegistry};

/// One accepted value.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// Epoch of the period.
    pub epoch: Epoch,
    /// Month code.
    pub period: String,
    /// Commune code (in `epoch`).
    pub org_unit: String,
    /// Data element code.
    pub data_element: String,
    /// Disaggregation (`default` when none).
    pub disaggregation: String,
    /// The value.
    pub value: f64,
    /// Free-text comment.
    pub comment: Option<String>,
    /// Line in the source file.
    pub row: i64,
}

/// One refused row or field.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Line in the source file (1 = header).
    pub row: i64,
    /// The field at fault.
    pub field: String,
    /// The offending value as written.
    pub value: Option<String>,
    /// Stable reason code (`unknown_org_unit`, `value_not_numeric`, ...).
    pub reason: &'static str,
    /// Message in Vietnamese.
    pub message_vi: String,
    /// Message in English.
    pub message_en: String,
}

/// A raw row as read from a submission, before checks.
#[derive(Debug, Clone, Default)]
pub struct RawRow<'a> {
    /// Line in the file.
    pub row: i64,
    /// `period` field.
    pub period: &'a str,
    /// `org_unit` field.
    pub org_unit: &'a str,
    /// `data_element` field.
    pub data_element: &'a str,
    /// `value` field.
    pub value: &'a str,
    /// `disaggregation` field, if the column exists.
    pub disaggregation: Option<&'a str>,
    /// `comment` field, if the column exists.
    pub comment: Option<&'a str>,
}

/// Checks rows of one submission against the registry and the catalog.
pub struct Validator<'a> {
    registry: &'a UnitRegistry,
    catalog: &'a Catalog,
    today: chrono::NaiveDate,
    seen: HashMap<(String, String, String, String), (i64, f64)>,
}

impl<'a> Validator<'a> {
    /// A validator for one submission; `today` decides which periods are in the future.
    pub fn new(registry: &'a UnitRegistry, catalog: &'a Catalog, today: chrono::NaiveDate) -> Self {
        Validator { registry, catalog, today, seen: HashMap::new() }
    }

    /// Checks one row: the value, or the reason it is refused.
    pub fn check(&mut self, raw: &RawRow<'_>) -> Result<Value, Rejection> {
        let reject = |field: &str, value: &str, reason: &'static str, vi: String, en: String| Rejection {
            row: raw.row,
            field: field.to_string(),
            value: Some(value.to_string()),
            reason,
            message_vi: format!("Dòng {}, cột {field}: {vi}", raw.row),
            message_en: format!("line {}, field {field}: {en}", raw.row),
        };
        let period_code = raw.period.trim();
        let period: Period = period_code.parse().map_err(|_| {
            reject("period", period_code, "period_malformed",
                format!("kỳ báo cáo \"{period_code}\" không đúng định dạng (ví dụ: 202603 cho tháng 3/2026)"),
                format!("period \"{period_code}\" is malformed (expected e.g. 202603 for March 2026)"))
        })?;
        let epoch = Epoch::for_period(&period).map_err(|e| {
            reject("period", period_code, "period_straddles_reform",
                format!("kỳ {period_code} trải qua ngày sắp xếp đơn vị hành chính 01/07/2025; hãy báo cáo riêng các tháng trước và sau"),
                e.to_string())
        })?;
        if period.kind() != PeriodType::Month {
            return Err(reject("period", period_code, "period_not_monthly",
                format!("trạm y tế xã báo cáo theo tháng; kỳ {period_code} không phải là tháng"),
                format!("commune stations report monthly; {period_code} is not a month")));
        }
        if period.start() > self.today {
            return Err(reject("period", period_code, "period_in_future",
                format!("kỳ {period_code} chưa bắt đầu"),
                format!("period {period_code} has not started yet")));
        }
        let code = raw.org_unit.trim();
        match self.registry.get(epoch, code) {
            Some(u) if u.level == Level::Commune => {}
            found => {
                let other = Epoch::ALL.into_iter().find(|e| *e != epoch).and_then(|e| self.registry.get(e, code));
                let (vi, en) = match (found, other) {
                    (Some(u), _) => (
                        format!("{code} ({}) không phải là đơn vị cấp xã", u.full_name),
                        format!("{code} ({}) is not a commune", u.full_name),
                    ),
                    (None, Some(o)) => (
                        format!("mã {code} không tồn tại trong kỳ {period_code} ({}); mã này là {} trong danh mục {}", epoch_vi(epoch), o.full_name, epoch_vi(o.epoch)),
                        format!("commune {code} does not exist in {period_code} ({epoch}); it is {} in the {} unit list", o.full_name, o.epoch),
                    ),
                    (None, None) => (format!("không có đơn vị hành chính mã {code}"), format!("unknown administrative unit {code}")),
                };
                return Err(reject("org_unit", code, "unknown_org_unit", vi, en));
            }
        }
        let element_code = raw.data_element.trim();
        let Some(element) = self.catalog.data_element(element_code) else {
            return Err(reject("data_element", element_code, "unknown_data_element",
                format!("không có chỉ số mã \"{element_code}\" trong danh mục"),
                format!("unknown data element \"{element_code}\"")));
        };
        let text = raw.value.trim();
        let value: f64 = match text.parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => return Err(reject("value", text, "value_not_numeric",
                format!("giá trị \"{text}\" không phải là số"),
                format!("value \"{text}\" is not a number"))),
        };
        if value < 0.0 {
            return Err(reject("value", text, "value_negative",
                format!("giá trị {text} của {element_code} không được âm"),
                format!("value {text} of {element_code} must not be negative")));
        }
        if element.value_type == ValueType::Boolean && value != 0.0 && value != 1.0 {
            return Err(reject("value", text, "value_not_boolean",
                format!("{element_code} chỉ nhận giá trị 0 (không) hoặc 1 (có), không phải {text}"),
                format!("{element_code} takes 0 (no) or 1 (yes), not {text}")));
        }
        let disaggregation = raw.disaggregation.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("default").to_string();
        let key = (period_code.to_string(), code.to_string(), element_code.to_string(), disaggregation.clone());
        if let Some((first_row, first_value)) = self.seen.get(&key) {
            let (vi, en) = if *first_value == value {
                (format!("trùng lặp dòng {first_row}"), format!("repeats line {first_row}"))
            } else {
                (format!("trùng khóa với dòng {first_row} nhưng khác giá trị ({first_value} và {value})"),
                 format!("same key as line {first_row} with a different value ({first_value} vs {value})"))
            };
            return Err(reject("data_element", element_code, "duplicate_key", vi, en));
        }
        self.seen.insert(key, (raw.row, value));
        Ok(Value {
            epoch,
            period: period_code.to_string(),
            org_unit: code.to_string(),
            data_element: element_code.to_string(),
            disaggregation,
            value,
            comment: raw.comment.map(|c| tonghop_core::text::nfc(c.trim()).into_owned()).filter(|c| !c.is_empty()),
            row: raw.row,
        })
    }
}

fn epoch_vi(epoch: Epoch) -> &'static str {
    match epoch {
        Epoch::Pre2025 => "đơn vị hành chính trước 01/07/2025",
        Epoch::Post2025 => "đơn vị hành chính từ 01/07/2025",
    }
}
