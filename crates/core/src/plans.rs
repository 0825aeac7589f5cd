//! Implementation plans as data: the plans a province issued to carry out Directive 25-CT/TW, their
//! tasks (each with lead and co-operating agencies and a deadline as written), their targets, and
//! the agencies that report progress. Read from the editable CSV files in `catalog/plans/`:
//!
//! | file | one row per |
//! |---|---|
//! | `plans.csv` | plan: `code`, `title_vi`, `document`, `issuing_body_vi`, `issued` (`2024-07-15` or `2024-07`), `epoch` and `unit_code` of the unit it covers, `source` |
//! | `agencies.csv` | agency or group of agencies: `code`, `name_vi`, `kind` (`agency` or `group`), `member_of` (group codes joined by `;`), `epoch` and `unit_code` of its province |
//! | `tasks.csv` | task: `plan`, `number`, `content_vi`, `lead_vi` and `cooperating_vi` (as written), `lead` and `cooperating` (agency or group codes joined by `;`), `deadline_vi` (as written, see [`Deadline::parse`]), `due_on` (optional: the date of a conditional deadline once it is known) |
//! | `targets.csv` | target of a plan: `plan`, `number`, `text_vi`, `indicator` (optional: the catalog indicator that measures it), `comparison`, `target_value`, `target_year` |
//!
//! A group (`UBND_HUYEN`, "UBND cấp huyện") stands for its members: an agency may report on a task
//! it leads or co-operates on, directly or through a group it is a member of.
//! [`Plans::load`] reports every problem of the four files at once, each naming the file, the row
//! and the fix. A project without `catalog/plans/` has no plans.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::text::{fold, nfc};
use crate::{Epoch, Error, Level, Period, PeriodType, Problems, Result, UnitRegistry};

/// The forms of deadline [`Deadline::parse`] reads, as shown in its messages.
pub const DEADLINE_FORMS: &str = "Quý 3/2024, Tháng 9/2024, 6 tháng đầu năm 2025, 9 tháng năm 2025, Năm 2025, Trước 30/6/2025, 30/6/2025, 2024-2025, \
     Nhiệm vụ thường xuyên, or a condition starting with \"Sau khi\", \"Khi có\" or \"Theo\" (no date; set due_on once it is known)";

/// A task's deadline, read from the plan's wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deadline {
    /// Due by the end of this day (`Quý 3/2024` → 2024-09-30).
    By(NaiveDate),
    /// A standing task ("Nhiệm vụ thường xuyên"): due at every reporting period.
    Recurring,
    /// Due after an event with no date yet ("Sau khi có Quyết định sắp xếp đơn vị hành chính").
    Conditional,
}

impl Deadline {
    /// Reads a deadline as plans write it (case, diacritics and spacing do not matter):
    /// `Quý 3/2024` or `Quý III/2024` (end of the quarter), `Tháng 9/2024`, `6 tháng đầu năm 2025`
    /// (30 June), `9 tháng năm 2025` (30 September), `Năm 2025` or `2025` (31 December),
    /// `Trước 30/6/2025` or `Trước ngày 30/6/2025` or `30/6/2025` (that day), `2024-2025` or
    /// `Giai đoạn 2024-2025` (end of the last year), `Nhiệm vụ thường xuyên` / `Thường xuyên` /
    /// `Hằng năm` (recurring), and conditions starting with `Sau khi`, `Khi có` or `Theo`.
    ///
    /// ```
    /// use tonghop_core::plans::Deadline;
    /// use chrono::NaiveDate;
    /// assert_eq!(Deadline::parse("Quý 3/2024"), Ok(Deadline::By(NaiveDate::from_ymd_opt(2024, 9, 30).unwrap())));
    /// assert_eq!(Deadline::parse("Nhiệm vụ\nthường xuyên"), Ok(Deadline::Recurring));
    /// assert!(Deadline::parse("Qúy ba").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the text and the accepted forms ([`DEADLINE_FORMS`]).
    pub fn parse(text: &str) -> std::result::Result<Deadline, String> {
        let f = fold(text).replace(" / ", "/").replace("ngay ", "");
        let refuse = || format!("deadline {:?} cannot be read; write one of: {DEADLINE_FORMS}", text.trim());
        if f.is_empty() {
            return Err(refuse());
        }
        if ["nhiem vu thuong xuyen", "thuong xuyen", "hang nam", "hàng năm", "nhiem vu hang nam"].contains(&f.as_str()) {
            return Ok(Deadline::Recurring);
        }
        if ["sau khi ", "khi co ", "theo "].iter().any(|p| f.starts_with(p)) {
            return Ok(Deadline::Conditional);
        }
        let year = |s: &str| s.trim().parse::<i32>().ok().filter(|y| (2000..=2100).contains(y));
        let end_of = |kind: PeriodType, y: i32, i: u32| Period::new(kind, y, i).map(|p| Deadline::By(p.end()));
        let date = |s: &str| -> Option<NaiveDate> {
            let parts: Vec<&str> = s.trim().split('/').collect();
            match parts.as_slice() {
                [d, m, y] => NaiveDate::from_ymd_opt(year(y)?, m.trim().parse().ok()?, d.trim().parse().ok()?),
                _ => None,
            }
        };
        let found = if let Some(rest) = f.strip_prefix("quy ") {
            rest.split_once('/').and_then(|(q, y)| {
                let q = match q.trim() {
                    "1" | "i" => 1,
                    "2" | "ii" => 2,
                    "3" | "iii" => 3,
                    "4" | "iv" => 4,
                    _ => return None,
                };
                end_of(PeriodType::Quarter, year(y)?, q)
            })
        } else if let Some(rest) = f.strip_prefix("thang ") {
            rest.split_once('/').and_then(|(m, y)| end_of(PeriodType::Month, year(y)?, m.trim().parse().ok()?))
        } else if let Some(rest) = f.strip_prefix("6 thang dau nam ") {
            year(rest).and_then(|y| end_of(PeriodType::HalfYear, y, 1))
        } else if let Some(rest) = f.strip_prefix("9 thang nam ").or_else(|| f.strip_prefix("9 thang dau nam ")) {
            year(rest).and_then(|y| NaiveDate::from_ymd_opt(y, 9, 30)).map(Deadline::By)
        } else if let Some(rest) = f.strip_prefix("truoc ") {
            date(rest).map(Deadline::By)
        } else if let Some(rest) = f.strip_prefix("nam ").or_else(|| f.strip_prefix("cuoi nam ")) {
            year(rest).and_then(|y| NaiveDate::from_ymd_opt(y, 12, 31)).map(Deadline::By)
        } else if let Some((a, b)) = f.strip_prefix("giai doan ").unwrap_or(&f).split_once('-') {
            match (year(a), year(b)) {
                (Some(a), Some(b)) if a <= b => NaiveDate::from_ymd_opt(b, 12, 31).map(Deadline::By),
                _ => None,
            }
        } else if let Some(y) = year(&f) {
            NaiveDate::from_ymd_opt(y, 12, 31).map(Deadline::By)
        } else {
            date(&f).map(Deadline::By)
        };
        found.ok_or_else(refuse)
    }

    /// `date`, `recurring` or `conditional`: the kind as SQL tables hold it.
    pub fn kind(&self) -> &'static str {
        match self {
            Deadline::By(_) => "date",
            Deadline::Recurring => "recurring",
            Deadline::Conditional => "conditional",
        }
    }

    /// The due date, for a dated deadline.
    pub fn due(&self) -> Option<NaiveDate> {
        match self {
            Deadline::By(d) => Some(*d),
            _ => None,
        }
    }
}

/// What an agency says of a task (the four states of the progress form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProgressStatus {
    /// Chưa triển khai.
    NotStarted,
    /// Đang triển khai.
    InProgress,
    /// Hoàn thành.
    Done,
    /// Hoàn thành quá hạn.
    DoneLate,
}

impl ProgressStatus {
    /// Every status, in the form's order.
    pub const ALL: [ProgressStatus; 4] = [ProgressStatus::NotStarted, ProgressStatus::InProgress, ProgressStatus::Done, ProgressStatus::DoneLate];

    /// The code stored in the lake (`chua_trien_khai`, …).
    pub fn code(self) -> &'static str {
        match self {
            ProgressStatus::NotStarted => "chua_trien_khai",
            ProgressStatus::InProgress => "dang_trien_khai",
            ProgressStatus::Done => "hoan_thanh",
            ProgressStatus::DoneLate => "hoan_thanh_qua_han",
        }
    }

    /// The Vietnamese label (`Đang triển khai`).
    pub fn label_vi(self) -> &'static str {
        match self {
            ProgressStatus::NotStarted => "Chưa triển khai",
            ProgressStatus::InProgress => "Đang triển khai",
            ProgressStatus::Done => "Hoàn thành",
            ProgressStatus::DoneLate => "Hoàn thành quá hạn",
        }
    }

    /// Reads a code or a Vietnamese label (case and diacritics do not matter).
    ///
    /// ```
    /// use tonghop_core::plans::ProgressStatus;
    /// assert_eq!(ProgressStatus::parse("Đang triển khai"), Some(ProgressStatus::InProgress));
    /// assert_eq!(ProgressStatus::parse("hoan_thanh"), Some(ProgressStatus::Done));
    /// assert_eq!(ProgressStatus::parse("xong"), None);
    /// ```
    pub fn parse(text: &str) -> Option<ProgressStatus> {
        let f = fold(text);
        ProgressStatus::ALL.into_iter().find(|s| f == s.code() || f == fold(s.label_vi()))
    }

    /// The labels, for messages and drop-down lists.
    pub fn labels() -> Vec<&'static str> {
        ProgressStatus::ALL.iter().map(|s| s.label_vi()).collect()
    }
}

/// One plan.
#[derive(Debug, Clone, Deserialize)]
pub struct Plan {
    /// Stable code (`NA_KH_2024`): upper-case letters, digits and `_`.
    pub code: String,
    /// The title as issued.
    pub title_vi: String,
    /// The document number and symbol (`Kế hoạch số 183/KH-UBND`), as written.
    pub document: String,
    /// Who issued it (`Ủy ban nhân dân tỉnh Nghệ An`).
    pub issuing_body_vi: String,
    /// When: `YYYY-MM-DD` or `YYYY-MM`.
    pub issued: String,
    /// Epoch of `unit_code` (plans issued before 2025-07-01 name pre-reform units).
    pub epoch: String,
    /// The unit the plan covers (a province, a district or `VN`).
    pub unit_code: String,
    /// Where the rows were transcribed from.
    pub source: String,
}

impl Plan {
    /// The day it was issued (the first of the month when only the month is known).
    pub fn issued_on(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(&self.issued, "%Y-%m-%d").ok().or_else(|| NaiveDate::parse_from_str(&format!("{}-01", self.issued), "%Y-%m-%d").ok())
    }

    /// The plan's unit, epoch parsed.
    pub fn unit(&self) -> Option<(Epoch, &str)> {
        Some((self.epoch.parse().ok()?, self.unit_code.as_str()))
    }
}

/// An agency, or a group standing for its members.
#[derive(Debug, Clone, Deserialize)]
pub struct Agency {
    /// Stable code, unique over all provinces (`NA_SYT`).
    pub code: String,
    /// Vietnamese name (`Sở Y tế`).
    pub name_vi: String,
    /// `agency` or `group`.
    pub kind: String,
    /// Groups it belongs to, codes joined by `;`.
    #[serde(default)]
    pub member_of: Option<String>,
    /// Epoch of `unit_code`.
    pub epoch: String,
    /// Its province.
    pub unit_code: String,
}

impl Agency {
    /// Whether this row is a group.
    pub fn is_group(&self) -> bool {
        self.kind == "group"
    }

    /// The groups it belongs to.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        codes(self.member_of.as_deref())
    }
}

/// One task of a plan.
#[derive(Debug, Clone, Deserialize)]
pub struct Task {
    /// The plan's code.
    pub plan: String,
    /// Its number in the plan (`1`, `2a`).
    pub number: String,
    /// The task as written.
    pub content_vi: String,
    /// The lead agencies as written (`Sở Y tế; UBND cấp huyện`).
    pub lead_vi: String,
    /// The lead agencies' codes, joined by `;`.
    pub lead: String,
    /// The co-operating agencies as written.
    #[serde(default)]
    pub cooperating_vi: Option<String>,
    /// Their codes, joined by `;`.
    #[serde(default)]
    pub cooperating: Option<String>,
    /// The deadline as written.
    pub deadline_vi: String,
    /// The date a conditional deadline fell on, once known (`YYYY-MM-DD`).
    #[serde(default)]
    pub due_on: Option<NaiveDate>,
    /// Parsed from `deadline_vi` (and `due_on`) by [`Plans::load`].
    #[serde(skip, default = "conditional")]
    pub deadline: Deadline,
}

fn conditional() -> Deadline {
    Deadline::Conditional
}

impl Task {
    /// The lead codes (agencies or groups).
    pub fn lead_codes(&self) -> impl Iterator<Item = &str> {
        codes(Some(&self.lead))
    }

    /// The co-operating codes.
    pub fn cooperating_codes(&self) -> impl Iterator<Item = &str> {
        codes(self.cooperating.as_deref())
    }
}

/// A target a plan sets (its "Mục tiêu cụ thể").
#[derive(Debug, Clone, Deserialize)]
pub struct PlanTarget {
    /// The plan's code.
    pub plan: String,
    /// Its number in the plan's list.
    pub number: String,
    /// The target as written.
    pub text_vi: String,
    /// The catalog indicator that measures it, when there is one.
    #[serde(default)]
    pub indicator: Option<String>,
    /// `>` or `>=`, with an indicator.
    #[serde(default)]
    pub comparison: Option<String>,
    /// The value to reach, with an indicator.
    #[serde(default)]
    pub target_value: Option<f64>,
    /// The year it is due.
    pub target_year: i32,
}

fn codes(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or("").split(';').map(str::trim).filter(|c| !c.is_empty())
}

/// Every plan of the project.
#[derive(Debug, Clone, Default)]
pub struct Plans {
    /// Plans.
    pub plans: Vec<Plan>,
    /// Agencies and groups.
    pub agencies: Vec<Agency>,
    /// Tasks, in file order.
    pub tasks: Vec<Task>,
    /// Targets of the plans.
    pub targets: Vec<PlanTarget>,
}

fn read_rows<T: for<'de> Deserialize<'de>>(path: &Path, problems: &mut Problems) -> Vec<(usize, T)> {
    let mut reader = match csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path) {
        Ok(r) => r,
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, row) in reader.deserialize::<T>().enumerate() {
        match row {
            Ok(r) => out.push((i + 2, r)),
            Err(e) => problems.push(format!("{} row {}: {e}", path.display(), i + 2)),
        }
    }
    out
}

fn is_code(code: &str) -> bool {
    !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

impl Plans {
    /// Loads `plans.csv`, `agencies.csv`, `tasks.csv` and `targets.csv` from `dir`
    /// (`catalog/plans`) and checks them against the units and the catalog's indicators, reporting
    /// every problem at once. No folder: no plans.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPlans`] with every problem, each naming the file and row.
    #[tracing::instrument(level = "debug", skip(registry, indicators), fields(dir = %dir.display()))]
    pub fn load(dir: &Path, registry: &UnitRegistry, indicators: &[String]) -> Result<Plans> {
        if !dir.is_dir() {
            return Ok(Plans::default());
        }
        let mut problems = Problems::default();
        let file = |name: &str| dir.join(name);
        let plans = read_rows::<Plan>(&file("plans.csv"), &mut problems);
        let agencies = read_rows::<Agency>(&file("agencies.csv"), &mut problems);
        let tasks = read_rows::<Task>(&file("tasks.csv"), &mut problems);
        let targets = if file("targets.csv").exists() { read_rows::<PlanTarget>(&file("targets.csv"), &mut problems) } else { Vec::new() };
        let at = |name: &str, row: usize| format!("{} row {row}", file(name).display());
        let unit_problem = |epoch: &str, code: &str| -> Option<String> {
            match epoch.parse::<Epoch>() {
                Err(_) => Some(format!("epoch {epoch:?} must be pre2025 or post2025")),
                Ok(e) if registry.get(e, code).is_none() => {
                    Some(format!("unit {epoch}:{code} is not a unit of that epoch (codes were reused in 2025: check the epoch)"))
                }
                Ok(_) => None,
            }
        };

        let mut plan_codes = HashSet::new();
        for (row, p) in &plans {
            let at = at("plans.csv", *row);
            if !is_code(&p.code) {
                problems.push(format!("{at}: code {:?} must be upper-case letters, digits and _", p.code));
            }
            if !plan_codes.insert(p.code.as_str()) {
                problems.push(format!("{at}: plan {} appears twice; codes must be unique", p.code));
            }
            if p.issued_on().is_none() {
                problems.push(format!("{at}: issued {:?} must be a date (2024-07-15) or a month (2024-07)", p.issued));
            }
            if let Some(problem) = unit_problem(&p.epoch, &p.unit_code) {
                problems.push(format!("{at}: {problem}"));
            }
        }

        let mut agency_codes: HashMap<&str, &Agency> = HashMap::new();
        for (row, a) in &agencies {
            let at = at("agencies.csv", *row);
            if !is_code(&a.code) {
                problems.push(format!("{at}: code {:?} must be upper-case letters, digits and _", a.code));
            }
            if agency_codes.insert(a.code.as_str(), a).is_some() {
                problems.push(format!("{at}: agency {} appears twice; codes must be unique", a.code));
            }
            if a.kind != "agency" && a.kind != "group" {
                problems.push(format!("{at}: kind {:?} must be agency or group", a.kind));
            }
            match unit_problem(&a.epoch, &a.unit_code) {
                Some(problem) => problems.push(format!("{at}: {problem}")),
                None => {
                    let level = a.epoch.parse().ok().and_then(|e| registry.get(e, &a.unit_code)).map(|u| u.level);
                    if level != Some(Level::Province) {
                        problems.push(format!("{at}: unit {}:{} must be the agency's province", a.epoch, a.unit_code));
                    }
                }
            }
        }
        for (row, a) in &agencies {
            for g in a.groups() {
                match agency_codes.get(g) {
                    Some(group) if group.is_group() => {}
                    Some(_) => problems.push(format!("{}: member_of names {g}, which is an agency, not a group", at("agencies.csv", *row))),
                    None => problems.push(format!("{}: member_of names {g}, which is not in agencies.csv", at("agencies.csv", *row))),
                }
            }
        }

        let mut task_keys = HashSet::new();
        let mut parsed = Vec::with_capacity(tasks.len());
        for (row, mut t) in tasks {
            let at = format!("{} (plan {}, task {})", at("tasks.csv", row), t.plan, t.number);
            if !plan_codes.contains(t.plan.as_str()) {
                problems.push(format!("{at}: plan {} is not in plans.csv", t.plan));
            }
            if t.number.is_empty() || !task_keys.insert((t.plan.clone(), t.number.clone())) {
                problems.push(format!("{at}: the number must be given and unique within the plan"));
            }
            if t.lead_codes().next().is_none() {
                problems.push(format!("{at}: lead names no agency; write agency codes of agencies.csv joined by ;"));
            }
            for (field, code) in t.lead_codes().map(|c| ("lead", c)).chain(t.cooperating_codes().map(|c| ("cooperating", c))) {
                if !agency_codes.contains_key(code) {
                    let known: Vec<String> = agency_codes.keys().map(|k| k.to_string()).collect();
                    let hint = crate::text::closest(&known, code).map(|k| format!(" (did you mean {k}?)")).unwrap_or_default();
                    problems.push(format!("{at}: {field} names {code}, which is not in agencies.csv{hint}"));
                }
            }
            match Deadline::parse(&t.deadline_vi) {
                Ok(Deadline::Conditional) => t.deadline = t.due_on.map_or(Deadline::Conditional, Deadline::By),
                Ok(d) if t.due_on.is_some() => {
                    problems.push(format!("{at}: due_on is only for a conditional deadline; {:?} already says when ({d:?})", t.deadline_vi));
                    t.deadline = d;
                }
                Ok(d) => t.deadline = d,
                Err(e) => problems.push(format!("{at}: {e}")),
            }
            t.content_vi = nfc(&t.content_vi).into_owned();
            t.lead_vi = nfc(&t.lead_vi).into_owned();
            t.deadline_vi = nfc(&t.deadline_vi).into_owned();
            t.cooperating_vi = t.cooperating_vi.map(|c| nfc(&c).into_owned());
            parsed.push(t);
        }

        for (row, t) in &targets {
            let at = format!("{} (plan {}, target {})", at("targets.csv", *row), t.plan, t.number);
            if !plan_codes.contains(t.plan.as_str()) {
                problems.push(format!("{at}: plan {} is not in plans.csv", t.plan));
            }
            match (&t.indicator, &t.comparison, t.target_value) {
                (None, None, None) => {}
                (Some(i), Some(c), Some(_)) => {
                    if !indicators.iter().any(|k| k == i) {
                        problems.push(format!("{at}: indicator {i} is not in catalog/indicators.csv"));
                    }
                    if c != ">" && c != ">=" {
                        problems.push(format!("{at}: comparison {c:?} must be \">\" or \">=\""));
                    }
                }
                _ => problems.push(format!("{at}: indicator, comparison and target_value go together: give all three or none")),
            }
        }
        problems.into_result().map_err(|problems| Error::InvalidPlans { path: dir.to_path_buf(), problems })?;
        let nfc_owned = |s: &str| nfc(s).into_owned();
        Ok(Plans {
            plans: plans
                .into_iter()
                .map(|(_, mut p)| {
                    p.title_vi = nfc_owned(&p.title_vi);
                    p.issuing_body_vi = nfc_owned(&p.issuing_body_vi);
                    p.document = nfc_owned(&p.document);
                    p
                })
                .collect(),
            agencies: agencies
                .into_iter()
                .map(|(_, mut a)| {
                    a.name_vi = nfc_owned(&a.name_vi);
                    a
                })
                .collect(),
            tasks: parsed,
            targets: targets
                .into_iter()
                .map(|(_, mut t)| {
                    t.text_vi = nfc_owned(&t.text_vi);
                    t
                })
                .collect(),
        })
    }

    /// The plan with this code.
    pub fn plan(&self, code: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.code == code)
    }

    /// The agency or group with this code.
    pub fn agency(&self, code: &str) -> Option<&Agency> {
        self.agencies.iter().find(|a| a.code == code)
    }

    /// The tasks of a plan, in file order.
    pub fn tasks_of<'a>(&'a self, plan: &'a str) -> impl Iterator<Item = &'a Task> + 'a {
        self.tasks.iter().filter(move |t| t.plan == plan)
    }

    /// The task `number` of `plan`.
    pub fn task(&self, plan: &str, number: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.plan == plan && t.number == number)
    }

    /// The codes an agency answers to: its own and its groups' (and theirs, transitively).
    pub fn identities(&self, agency: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo = vec![agency.to_string()];
        while let Some(code) = todo.pop() {
            if out.insert(code.clone()) {
                if let Some(a) = self.agency(&code) {
                    todo.extend(a.groups().map(str::to_string));
                }
            }
        }
        out
    }

    /// The agencies (not groups) a list of codes stands for: groups expanded to their members.
    pub fn members<'a>(&'a self, codes: impl Iterator<Item = &'a str>) -> Vec<&'a Agency> {
        let wanted: Vec<&str> = codes.collect();
        let mut out: Vec<&Agency> =
            self.agencies.iter().filter(|a| !a.is_group() && self.identities(&a.code).iter().any(|i| wanted.contains(&i.as_str()))).collect();
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }

    /// `lead`, `cooperating` or `None`: the part `agency` plays in a task.
    pub fn role_in(&self, agency: &str, task: &Task) -> Option<&'static str> {
        let ids = self.identities(agency);
        if task.lead_codes().any(|c| ids.contains(c)) {
            Some("lead")
        } else if task.cooperating_codes().any(|c| ids.contains(c)) {
            Some("cooperating")
        } else {
            None
        }
    }

    /// The plan's unit in today's (post-2025) units: itself, or for a pre-2025 province the
    /// province most of its communes went into.
    pub fn unit_today(&self, plan: &Plan, registry: &UnitRegistry) -> Option<(Epoch, String)> {
        let (epoch, code) = plan.unit()?;
        match epoch {
            Epoch::Post2025 => Some((epoch, code.to_string())),
            Epoch::Pre2025 => registry.successor_province(code).map(|c| (Epoch::Post2025, c.to_string())),
        }
    }
}

impl Plans {
    /// A small made-up plan for examples and tests (`T_KH_2024`, pre2025 province 40, issued
    /// 2024-07-15) of four tasks: the health department `T_SYT` leads 1 (Quý 3/2024) and 3 (Năm
    /// 2025), co-operates on 2 (recurring, led by `T_SNV`) through the group `T_SO`, and has no part
    /// in 4; `T_STC` is in no task.
    ///
    /// ```
    /// let plans = tonghop_core::plans::Plans::example();
    /// let task = plans.task("T_KH_2024", "2").unwrap();
    /// assert_eq!(plans.role_in("T_SYT", task), Some("cooperating"));
    /// assert_eq!(plans.role_in("T_SYT", plans.task("T_KH_2024", "4").unwrap()), None);
    /// ```
    pub fn example() -> Plans {
        let plan = Plan {
            code: "T_KH_2024".into(),
            title_vi: "Kế hoạch thực hiện Chỉ thị số 25-CT/TW".into(),
            document: "Kế hoạch số 183/KH-UBND".into(),
            issuing_body_vi: "Ủy ban nhân dân tỉnh".into(),
            issued: "2024-07-15".into(),
            epoch: "pre2025".into(),
            unit_code: "40".into(),
            source: "example".into(),
        };
        let agency = |code: &str, name: &str, kind: &str, member_of: Option<&str>| Agency {
            code: code.into(),
            name_vi: name.into(),
            kind: kind.into(),
            member_of: member_of.map(str::to_string),
            epoch: "post2025".into(),
            unit_code: "40".into(),
        };
        let task = |number: &str, lead: &str, cooperating: Option<&str>, deadline_vi: &str| Task {
            plan: "T_KH_2024".into(),
            number: number.into(),
            content_vi: format!("Nhiệm vụ số {number}: củng cố trạm y tế xã"),
            lead_vi: lead.into(),
            lead: lead.into(),
            cooperating_vi: cooperating.map(str::to_string),
            cooperating: cooperating.map(str::to_string),
            deadline_vi: deadline_vi.into(),
            due_on: None,
            deadline: Deadline::parse(deadline_vi).expect("a deadline form Deadline::parse reads"),
        };
        Plans {
            plans: vec![plan],
            agencies: vec![
                agency("T_SYT", "Sở Y tế", "agency", Some("T_SO")),
                agency("T_SNV", "Sở Nội vụ", "agency", Some("T_SO")),
                agency("T_SO", "Các sở, ngành", "group", None),
                agency("T_STC", "Sở Tài chính", "agency", None),
            ],
            tasks: vec![
                task("1", "T_SYT", Some("T_SNV"), "Quý 3/2024"),
                task("2", "T_SNV", Some("T_SO"), "Nhiệm vụ thường xuyên"),
                task("3", "T_SYT", None, "Năm 2025"),
                task("4", "T_SNV", None, "Năm 2025"),
            ],
            targets: Vec::new(),
        }
    }
}

/// Where the plans live in a project.
pub fn plans_dir(catalog_dir: &Path) -> PathBuf {
    catalog_dir.join("plans")
}

/// The reporting periods a review may cover: a half-year (`2026S1`), nine months (`2026N9`) or a
/// year (`2026`); quarters too (`2026Q1`).
pub fn review_period(text: &str) -> std::result::Result<Period, String> {
    let p: Period = text.parse().map_err(|e: Error| e.to_string())?;
    match p.kind() {
        PeriodType::Quarter | PeriodType::HalfYear | PeriodType::NineMonths | PeriodType::Year => Ok(p),
        _ => Err(format!("a review covers a quarter, a half-year, nine months or a year (2026Q1, 2026S1, 2026N9, 2026), not {text}")),
    }
}

/// The day a review's statuses are computed at: the period's last day, or `today` when the
/// period has not ended.
pub fn review_as_of(period: &Period, today: NaiveDate) -> NaiveDate {
    period.end().min(today)
}

/// "ngày 05 tháng 01 năm 2027" as Decree 30/2020/NĐ-CP writes dates (days below 10 and the
/// months 1 and 2 with a leading zero).
pub fn date_line(date: NaiveDate) -> String {
    let month = if date.month() <= 2 { format!("{:02}", date.month()) } else { date.month().to_string() };
    format!("ngày {:02} tháng {month} năm {}", date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> Deadline {
        Deadline::By(NaiveDate::from_ymd_opt(y, m, day).unwrap())
    }

    #[test]
    fn every_deadline_form_is_read() {
        for (text, want) in [
            ("Quý 3/2024", d(2024, 9, 30)),
            ("Quý 2/2025", d(2025, 6, 30)),
            ("quý IV / 2025", d(2025, 12, 31)),
            ("Tháng 2/2024", d(2024, 2, 29)),
            ("6 tháng đầu năm 2025", d(2025, 6, 30)),
            ("9 tháng năm 2025", d(2025, 9, 30)),
            ("Năm 2025", d(2025, 12, 31)),
            ("2026", d(2026, 12, 31)),
            ("Trước 30/6/2025", d(2025, 6, 30)),
            ("Trước ngày 15/10/2024", d(2024, 10, 15)),
            ("30/6/2025", d(2025, 6, 30)),
            ("2024-2025", d(2025, 12, 31)),
            ("Giai đoạn 2024 - 2025", d(2025, 12, 31)),
            ("Nhiệm vụ\nthường xuyên", Deadline::Recurring),
            ("Thường xuyên", Deadline::Recurring),
            ("Hằng năm", Deadline::Recurring),
            ("Sau khi có Quyết định sắp xếp đơn vị hành chính", Deadline::Conditional),
            ("Theo hướng dẫn của Bộ Y tế", Deadline::Conditional),
        ] {
            assert_eq!(Deadline::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn an_unreadable_deadline_names_the_accepted_forms() {
        for text in ["Quý 5/2024", "Qúy ba năm nay", "31/2/2025", "2025-2024", "", "Tháng 13/2025"] {
            let e = Deadline::parse(text).unwrap_err();
            assert!(e.contains("Nhiệm vụ thường xuyên") && e.contains("Quý 3/2024"), "{e}");
        }
    }

    #[test]
    fn dates_are_written_as_decree_30_says() {
        assert_eq!(date_line(NaiveDate::from_ymd_opt(2027, 1, 5).unwrap()), "ngày 05 tháng 01 năm 2027");
        assert_eq!(date_line(NaiveDate::from_ymd_opt(2026, 7, 15).unwrap()), "ngày 15 tháng 7 năm 2026");
    }

    #[test]
    fn statuses_read_codes_and_labels() {
        for s in ProgressStatus::ALL {
            assert_eq!(ProgressStatus::parse(s.code()), Some(s));
            assert_eq!(ProgressStatus::parse(&s.label_vi().to_uppercase()), Some(s));
        }
    }
}
