//! Row-level validation. Every failure is a [`Rejection`] with a stable reason code and a message in
//! Vietnamese (for the commune's data-entry officer) and English, both naming the place in the file
//! and the field.
//!
//! [`Validator::check`] judges one record on its own. Two checks need the whole submission and are
//! settled by [`Validator::finish`]: keys given twice with different values (both are refused: we
//! cannot tell which is right) and the catalog's cross-field rules marked `on_ingest` (every value
//! taking part in a broken rule is refused, for the same reason).

use std::borrow::Cow;
use std::collections::HashMap as StdHashMap;

/// Maps keyed by short codes, hashed by aHash (SipHash was a tenth of the parsing thread's time).
type HashMap<K, V> = StdHashMap<K, V, ahash::RandomState>;

use tonghop_core::catalog::{ValidationRule, ValueType};
use tonghop_core::{text::nfc, Catalog, DataElement, Epoch, Level, Period, PeriodType, UnitRegistry};
use tonghop_formats::{Location, Problem, Record};

/// One accepted value, borrowing from its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked<'r> {
    /// Epoch of the period.
    pub epoch: Epoch,
    /// Period code.
    pub period: &'r str,
    /// Commune code (in `epoch`).
    pub org_unit: &'r str,
    /// Data element code.
    pub data_element: &'r str,
    /// Disaggregation (`default` when none).
    pub disaggregation: Cow<'r, str>,
    /// The value; `None` only for a deletion that gave none.
    pub value: Option<f64>,
    /// An explicit deletion of the key.
    pub deleted: bool,
    /// Free-text comment, NFC.
    pub comment: Option<Cow<'r, str>>,
    /// Who entered it, when the format says.
    pub stored_by: Option<&'r str>,
}

/// One refused row or field: the readers' [`Problem`] (same place, field, value, reason and
/// messages), whether a reader or the validator refused it.
pub type Rejection = Problem;

/// Every reason code [`Validator`] can give, for documentation and tests.
pub const REASONS: [&str; 12] = [
    "period_malformed",
    "period_straddles_reform",
    "period_not_monthly",
    "period_in_future",
    "unknown_org_unit",
    "unknown_data_element",
    "value_missing",
    "value_not_numeric",
    "value_negative",
    "value_not_boolean",
    "duplicate_key",
    "rule_violated",
];

/// One accepted value remembered for the whole-submission checks (24 bytes, so ten million fit).
#[derive(Debug, Clone, Copy)]
struct Seen {
    element: u16,
    seq: u32,
    row: i64,
    value: f64,
}

/// A rule of the catalog with its data elements as indices.
struct Rule<'a> {
    rule: &'a ValidationRule,
    left: Vec<u16>,
    right: Vec<u16>,
}

/// Checks the records of one submission against the registry and the catalog.
pub struct Validator<'a> {
    registry: &'a UnitRegistry,
    today: chrono::NaiveDate,
    elements: HashMap<&'a str, (u16, &'a DataElement)>,
    rules: Vec<Rule<'a>>,
    /// `period \0 unit \0 disaggregation` → the values accepted for it.
    groups: HashMap<String, Vec<Seen>>,
    key: String,
    /// Keys given twice with different values: the earlier value's seq and its rejection, taken
    /// back in [`Self::finish`] (the later value is refused at once).
    conflicts: Vec<(u32, Rejection)>,
    /// Locations of accepted values that are not plain lines (cells, JSON paths), by seq.
    places: HashMap<u32, Location>,
    /// The last period that passed the period checks, with its epoch.
    last_period: Option<(String, Epoch)>,
    /// The last unit that passed the unit checks.
    last_unit: Option<(Epoch, String)>,
}

impl<'a> Validator<'a> {
    /// A validator for one submission; `today` decides which periods are in the future.
    pub fn new(registry: &'a UnitRegistry, catalog: &'a Catalog, today: chrono::NaiveDate) -> Self {
        let elements: HashMap<&str, (u16, &DataElement)> = catalog.data_elements.iter().enumerate().map(|(i, e)| (e.code.as_str(), (i as u16, e))).collect();
        let index = |code: &str| elements.get(code).map(|(i, _)| *i);
        let rules = catalog
            .validation_rules
            .iter()
            .filter(|r| r.on_ingest)
            .filter_map(|rule| {
                // The catalog was checked at load: every code resolves.
                let left = rule.left_elements().map(index).collect::<Option<Vec<_>>>()?;
                let right = rule.right_elements().map(index).collect::<Option<Vec<_>>>()?;
                Some(Rule { rule, left, right })
            })
            .collect();
        Validator {
            registry,
            today,
            elements,
            rules,
            groups: HashMap::default(),
            key: String::new(),
            conflicts: Vec::new(),
            places: HashMap::default(),
            last_period: None,
            last_unit: None,
        }
    }

    /// Checks one record; `seq` numbers the accepted values of the submission (0, 1, 2, ...), so
    /// that [`Self::finish`] can name values to take back.
    #[allow(clippy::result_large_err)] // a Rejection is the common case, not an exceptional one
    pub fn check<'r>(&mut self, r: &Record<'r>, seq: u32) -> Result<Checked<'r>, Rejection> {
        let reject = |field: &str, value: &str, reason: &'static str, vi: String, en: String| Rejection {
            location: r.location.clone(),
            field: field.to_string(),
            value: Some(value.to_string()),
            reason,
            message_vi: format!("{}, cột {field}: {vi}", r.location.vi()),
            message_en: format!("{}, field {field}: {en}", r.location.en()),
        };
        let period_code = r.period.trim();
        // Rows of one file mostly share the period and come unit by unit: remember the last good ones.
        let epoch = match &self.last_period {
            Some((p, epoch)) if p == period_code => *epoch,
            _ => {
                let period: Period = period_code.parse().map_err(|_| {
                    reject(
                        "period",
                        period_code,
                        "period_malformed",
                        format!("kỳ báo cáo \"{period_code}\" không đúng định dạng (tháng: 202603; quý: 2026Q1; 6 tháng: 2026S1; 9 tháng: 2026N9; năm: 2026)"),
                        format!("period \"{period_code}\" is malformed (month 202603, quarter 2026Q1, half year 2026S1, nine months 2026N9, year 2026)"),
                    )
                })?;
                let epoch = Epoch::for_period(&period).map_err(|e| {
                    reject(
                        "period",
                        period_code,
                        "period_straddles_reform",
                        format!("kỳ {period_code} trải qua ngày sắp xếp đơn vị hành chính 01/07/2025; hãy báo cáo riêng các tháng trước và sau"),
                        e.to_string(),
                    )
                })?;
                if period.kind() != PeriodType::Month {
                    return Err(reject(
                        "period",
                        period_code,
                        "period_not_monthly",
                        format!("trạm y tế xã báo cáo số liệu theo tháng; kỳ {period_code} không phải là một tháng (số liệu quý, năm do hệ thống tự tổng hợp)"),
                        format!("commune stations report monthly figures; {period_code} is not a month (quarters and years are computed)"),
                    ));
                }
                if period.start() > self.today {
                    return Err(reject(
                        "period",
                        period_code,
                        "period_in_future",
                        format!("kỳ {period_code} chưa bắt đầu"),
                        format!("period {period_code} has not started yet"),
                    ));
                }
                self.last_period = Some((period_code.to_string(), epoch));
                epoch
            }
        };
        let code = r.org_unit.trim();
        if !matches!(&self.last_unit, Some((e, c)) if *e == epoch && c == code) {
            match self.registry.get(epoch, code) {
                Some(u) if u.level == Level::Commune => {}
                found => {
                    let (vi, en) = self.unknown_unit(code, epoch, period_code, found);
                    return Err(reject("org_unit", code, "unknown_org_unit", vi, en));
                }
            }
            self.last_unit = Some((epoch, code.to_string()));
        }
        let element_code = r.data_element.trim();
        let Some(&(element_index, element)) = self.elements.get(element_code) else {
            return Err(reject(
                "data_element",
                element_code,
                "unknown_data_element",
                format!("không có chỉ tiêu mã \"{element_code}\" trong danh mục"),
                format!("unknown data element \"{element_code}\""),
            ));
        };
        let text = r.value.trim();
        let value = if r.deleted && text.is_empty() {
            None
        } else {
            let value: f64 = match text.parse::<f64>() {
                Ok(v) if v.is_finite() => v,
                _ if text.is_empty() => {
                    return Err(reject(
                        "value",
                        text,
                        "value_missing",
                        format!("thiếu giá trị của {element_code}"),
                        format!("the value of {element_code} is missing"),
                    ))
                }
                _ => {
                    return Err(reject(
                        "value",
                        text,
                        "value_not_numeric",
                        format!("giá trị \"{text}\" không phải là số (dùng dấu chấm cho phần thập phân, không dùng dấu phân cách hàng nghìn)"),
                        format!("value \"{text}\" is not a number (use a dot for decimals and no thousands separator)"),
                    ))
                }
            };
            if !r.deleted {
                if value < 0.0 {
                    return Err(reject(
                        "value",
                        text,
                        "value_negative",
                        format!("giá trị {text} của {element_code} không được âm"),
                        format!("value {text} of {element_code} must not be negative"),
                    ));
                }
                if element.value_type == ValueType::Boolean && value != 0.0 && value != 1.0 {
                    return Err(reject(
                        "value",
                        text,
                        "value_not_boolean",
                        format!("{element_code} chỉ nhận giá trị 0 (không) hoặc 1 (có), không phải {text}"),
                        format!("{element_code} takes 0 (no) or 1 (yes), not {text}"),
                    ));
                }
            }
            Some(value)
        };
        let disaggregation = match r.disaggregation.map(str::trim).filter(|s| !s.is_empty()) {
            Some(d) => nfc(d),
            None => Cow::Borrowed("default"),
        };

        // Same key earlier in this submission?
        self.key.clear();
        for part in [period_code, code, &disaggregation] {
            self.key.push_str(part);
            self.key.push('\0');
        }
        let row = r.location.row();
        let seen = Seen { element: element_index, seq, row, value: value.unwrap_or(f64::NAN) };
        let group = match self.groups.get_mut(self.key.as_str()) {
            Some(g) => g,
            // Room for every element of the catalog at once: a commune's month is one group.
            None => self.groups.entry(self.key.clone()).or_insert_with(|| Vec::with_capacity(self.elements.len().min(32))),
        };
        if let Some(first) = group.iter().find(|s| s.element == element_index).copied() {
            let same = first.value == seen.value || (first.value.is_nan() && seen.value.is_nan());
            if same {
                return Err(reject(
                    "data_element",
                    element_code,
                    "duplicate_key",
                    format!("lặp lại đúng số liệu của dòng {}; chỉ giữ một lần", first.row),
                    format!("repeats row {} exactly; kept once", first.row),
                ));
            }
            let first_location = self.places.get(&first.seq).cloned().unwrap_or(Location::Line(first.row.max(0) as u64));
            let conflict = |location: &Location, other: &Location, mine: f64, theirs: f64| {
                Rejection {
                location: location.clone(),
                field: "value".into(),
                value: Some(mine.to_string()),
                reason: "duplicate_key",
                message_vi: format!("{}, cột value: {element_code} của đơn vị {code} kỳ {period_code} được khai hai lần với giá trị khác nhau ({mine} ở đây, {theirs} ở {}); cả hai đều bị loại, hãy gửi lại một giá trị đúng",
                    location.vi(), other.vi().to_lowercase()),
                message_en: format!("{}, field value: {element_code} of unit {code} for {period_code} is given twice with different values ({mine} here, {theirs} at {}); both are refused: send one correct value",
                    location.en(), other.en()),
            }
            };
            let mine = value.unwrap_or(f64::NAN);
            self.conflicts.push((first.seq, conflict(&first_location, &r.location, first.value, mine)));
            return Err(conflict(&r.location, &first_location, mine, first.value));
        }
        group.push(seen);
        if !matches!(r.location, Location::Line(_)) {
            self.places.insert(seq, r.location.clone());
        }

        Ok(Checked {
            epoch,
            period: period_code,
            org_unit: code,
            data_element: element_code,
            disaggregation,
            value,
            deleted: r.deleted,
            comment: r.comment.map(str::trim).filter(|c| !c.is_empty()).map(nfc),
            stored_by: r.stored_by.map(str::trim).filter(|s| !s.is_empty()),
        })
    }

    /// Ends the submission: the accepted values (by `seq`) to take back, each with its rejection
    /// (located at that value): the first of two conflicting values, and every value in a broken
    /// cross-field rule.
    pub fn finish(self) -> Vec<(u32, Rejection)> {
        let mut out: Vec<(u32, Rejection)> = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for (first_seq, rejection) in self.conflicts.iter().cloned() {
            if taken.insert(first_seq) {
                out.push((first_seq, rejection));
            }
        }
        if self.rules.is_empty() {
            return out;
        }
        // Rules judge the values not refused as conflicting duplicates.
        let conflicted = taken.clone();
        let mut groups: Vec<_> = self.groups.iter().collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        for (key, values) in groups {
            let period = key.split('\0').next().unwrap_or_default();
            let live = |i: u16| values.iter().find(|s| s.element == i && !s.value.is_nan() && !conflicted.contains(&s.seq));
            for rule in &self.rules {
                let side = |elements: &[u16]| -> Option<(f64, Vec<Seen>)> {
                    let seen: Vec<Seen> = elements.iter().map(|&i| live(i).copied()).collect::<Option<_>>()?;
                    Some((seen.iter().map(|s| s.value).sum(), seen))
                };
                let (Some((left, left_seen)), Some((right, right_seen))) = (side(&rule.left), side(&rule.right)) else { continue };
                if rule.rule.operator.holds(left, right) {
                    continue;
                }
                let r = rule.rule;
                let rows: Vec<String> = left_seen.iter().chain(&right_seen).map(|s| s.row.to_string()).collect();
                for s in left_seen.iter().chain(&right_seen) {
                    if !taken.insert(s.seq) {
                        continue;
                    }
                    let location = self.places.get(&s.seq).cloned().unwrap_or(Location::Line(s.row.max(0) as u64));
                    out.push((s.seq, Rejection {
                        field: "value".into(),
                        value: Some(s.value.to_string()),
                        reason: "rule_violated",
                        message_vi: format!(
                            "{}, cột value: {} = {left} phải {} {} = {right} (quy tắc {}: {}); không biết số nào sai nên các số của dòng {} kỳ {period} đều bị loại, hãy kiểm tra và gửi lại",
                            location.vi(), r.left, r.operator.symbol(), r.right, r.code, r.name_vi, rows.join(", ")),
                        message_en: format!(
                            "{}, field value: {} = {left} must be {} {} = {right} (rule {}: {}); as it is unclear which figure is wrong, the values on rows {} for {period} are all refused: check and resend",
                            location.en(), r.left, r.operator.as_str(), r.right, r.code, r.name_en, rows.join(", ")),
                        location,
                    }));
                }
            }
        }
        out
    }

    fn unknown_unit(&self, code: &str, epoch: Epoch, period_code: &str, found: Option<&tonghop_core::AdminUnit>) -> (String, String) {
        if let Some(u) = found {
            return (
                format!("{code} ({}) là đơn vị cấp {}, không phải cấp xã; báo cáo theo từng xã/phường", u.full_name, level_vi(u.level)),
                format!("{code} ({}) is a {}, not a commune; report per commune", u.full_name, u.level.as_str()),
            );
        }
        let other_epoch = Epoch::ALL.into_iter().find(|e| *e != epoch).unwrap_or(epoch);
        let Some(other) = self.registry.get(other_epoch, code).filter(|u| u.level == Level::Commune) else {
            return (format!("không có xã/phường mã {code} trong kỳ {period_code}"), format!("there is no commune {code} in {period_code}"));
        };
        match epoch {
            // An old code used after the reform: say where the commune went.
            Epoch::Post2025 => {
                let went: Vec<_> = self.registry.successors(code).map(|e| (e.new_code.as_str(), e.new_full_name.as_str())).collect();
                let list = went.iter().map(|(c, n)| format!("{c} {n}")).collect::<Vec<_>>().join(", ");
                if went.is_empty() {
                    (
                        format!("mã {code} ({}) là mã trước 01/07/2025, không còn dùng trong kỳ {period_code}", other.full_name),
                        format!("{code} ({}) is a code from before 2025-07-01, not valid in {period_code}", other.full_name),
                    )
                } else {
                    (
                        format!("xã {code} ({}) đã được sáp nhập vào {list} từ ngày 01/07/2025; kỳ {period_code} hãy báo cáo theo mã mới", other.full_name),
                        format!("commune {code} ({}) was merged into {list} on 2025-07-01; report {period_code} under the new code", other.full_name),
                    )
                }
            }
            // A new code used before the reform.
            Epoch::Pre2025 => (
                format!("{code} {} chỉ có từ ngày 01/07/2025; kỳ {period_code} hãy dùng mã xã trước sáp nhập", other.full_name),
                format!("{code} {} exists only from 2025-07-01; report {period_code} under the commune code of the time", other.full_name),
            ),
        }
    }
}

fn level_vi(level: Level) -> &'static str {
    match level {
        Level::National => "quốc gia",
        Level::Province => "tỉnh",
        Level::District => "huyện",
        Level::Commune => "xã",
    }
}
