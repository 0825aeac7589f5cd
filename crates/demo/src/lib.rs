//! Realistic synthetic commune submissions, deterministic by seed: the demo inbox of tonghop, and
//! the demo history written straight into the lake (`history.rs`, [`write_history`]).
//!
//! This crate owns the **demo data**: one CSV file per (commune, month), as a commune health station
//! would send it, written into an inbox folder with a modification time equal to the simulated time
//! the file was received. Nothing else in tonghop depends on it; the CLI calls [`generate`] (and
//! [`write_history`] for `tonghop demo-history`) and the
//! pipeline then ingests the folder like any real inbox.
//!
//! # What is generated
//!
//! - the demo country crosses the administrative reform of 2025-07-01: every commune of
//!   [`Epoch::Pre2025`] (10,035 communes) reports every month from 2024-01 to 2025-06 (18 months), and
//!   every commune of [`Epoch::Post2025`] (3,321 communes) every month from 2025-07 on. A month is
//!   generated only when its last day is before [`DemoConfig::until`]: until 2026-11-23 gives
//!   2024-01 … 2025-06 and 2025-07 … 2026-10, i.e. 10,035 × 18 + 3,321 × 16 = 233,766 (commune, month)
//!   reports; until 2025-09-15 gives 2024-01 … 2025-06 and 2025-07 … 2025-08 (10,035 × 18 + 3,321 × 2);
//!   until 2025-03-10 only 2024-01 … 2025-02 of the old communes (10,035 × 14);
//! - one file `out_dir/<period>/<province_code>/<commune_code>_<period>.csv`, e.g.
//!   `inbox/202603/01/00004_202603.csv`: UTF-8, `\n` line endings, header
//!   `period,org_unit,data_element,value`, then one row per catalog data element in catalog order, with
//!   integer values written without decimals;
//! - the modification time is the receipt time: 1–7 days after the month ends at a random time between
//!   07:00 and 17:00 Vietnam time (UTC+7, stored as UTC). About 3 % of files are **late**: received
//!   10–40 days after the month ends. *Late* means received more than 7 calendar days (Vietnam time)
//!   after the last day of the month;
//! - about 1 % of (commune, month) reports are never sent (no file). A report whose simulated receipt
//!   falls on or after `until` has not arrived yet and has no file either; both count as
//!   [`DemoSummary::missing_reports`];
//! - about 0.3 % of files carry **one invalid row** in place of a valid one, chosen among: a
//!   non-numeric value (`n/a`, or `"12,5a"` quoted because of its comma), a negative value, a 0/1
//!   element with value `2`, and an unknown data-element code (the real code with its last letter
//!   doubled, e.g. `DS_TONGG`). The other rows of the file stay valid.
//!
//! # The value model
//!
//! Three levels of randomness, each from its own RNG derived from the seed (see below):
//!
//! 1. **Province profile**, per (epoch, province): mean health-insurance coverage (0.85–0.98), mean
//!    share under health management (0.70–0.97), share of visits paid by insurance (0.80–0.97), share
//!    of high-risk people checked (0.60–0.95), probabilities that a station has a doctor (0.80–0.99;
//!    0.55–0.80 in about one province in five), a midwife (0.85–0.99), pharmacy staff (0.75–0.98),
//!    traditional-medicine staff (0.60–0.95), all essential equipment (0.60–0.95), that the commune
//!    meets the national criteria (0.70–0.98), the mean share of listed technical services performed
//!    (0.80–0.97), the share of villages with a trained health worker (0.85–1.0), and the length of
//!    the commune-level service list `DVKT_DM` (60–120, the same for all communes of the province).
//! 2. **Commune model**, per (epoch, commune), for the whole epoch: the population `DS_TONG` of the
//!    epoch's first demo month (January 2024 resp. July 2025; pre-2025
//!    2,000–20,000, post-2025 8,000–60,000 since a new commune is about three old ones merged, skewed
//!    towards small communes; wards (`Phường`) ×2 resp. ×1.6), so both epochs total about 100 million;
//!    the commune's own shares (province mean ± 3 pp, ± 5 pp for high-risk checks, services and
//!    villages) and their slow monthly increase; visits per inhabitant per month (2–4 %); share at high
//!    risk (8–15 %); doctors `TYT_BS` (0 with probability 1 − p_doctor, else mostly 1, sometimes 2–3;
//!    one station in twenty gains or loses a doctor at some month); the 0/1 facts `TYT_HS`,
//!    `TYT_DUOC`, `TYT_YHCT`, `XA_BTC`, `TTB_DU` (drawn from the province probability; one absent fact
//!    in eight turns to 1 at some month, never back); villages `THON_TONG` (3–25, post-2025 6–50) and
//!    those with a trained worker `THON_NVYT`. These events fall in any month but the first of the
//!    epoch's first 18 demo months (2024-02 … 2025-06 resp. 2025-08 … 2026-12), a span fixed so that
//!    it does not depend on `until`.
//! 3. **Month**, per (epoch, commune, month), with the month index counted from the epoch's first demo
//!    month, so that the model runs on across the new year (January 2025 follows December 2024 for
//!    an old commune, January 2026 follows December 2025 for a new one): population grows 0.05 % a
//!    month; `DS_BHYT`, `DS_QLSK`, `NCC_KSK`, `DVKT_TH` are the commune's share (plus its drift) of
//!    their whole, rounded and never above it; `KCB_TONG` = population × visit rate × a seasonal
//!    factor of the calendar month (fewer around Tết) × ±10 % noise, `KCB_BHYT` its insured part
//!    (± 1 pp noise); `NCC_TONG` ≈ population × high-risk share. Stocks are therefore smooth month to
//!    month, across the year boundary too, and flows vary.
//!
//! Catalog data elements the model does not know (a province's own additions) get a constant value
//! per commune: 0–100 for counts, 0/1 (mostly 1) for booleans.
//!
//! # Determinism
//!
//! Same seed and same configuration give byte-identical files and identical modification times. Each
//! RNG (ChaCha8) is seeded from a hand-written FNV-1a/SplitMix64 mix of the seed and the labels
//! (epoch, province or commune code, calendar month) — never `DefaultHasher` — so the values of a
//! commune do not depend on which other provinces are generated, nor on `until` (which only decides
//! which months and which receipts exist). The model only uses `+ − × ÷` and rounding on floats, which IEEE 754 makes
//! identical on every platform.
//!
//! Existing files in `out_dir` are overwritten; files that this run would not write (e.g. from another
//! seed) are not removed, so generate into an empty folder.
//!
//! ```no_run
//! use std::path::Path;
//! use tonghop_core::{Catalog, UnitRegistry};
//! use tonghop_demo::{generate, DemoConfig};
//!
//! let registry = UnitRegistry::load(Path::new("reference/admin-units")).unwrap();
//! let catalog = Catalog::load(Path::new("catalog")).unwrap();
//! let config = DemoConfig { seed: 42, until: chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), provinces: None };
//! let summary = generate(&registry, &catalog, &config, Path::new("inbox"), &|_files| {}).unwrap();
//! println!("{} files, {} missing reports", summary.files, summary.missing_reports);
//! ```
#![warn(missing_docs)]

mod model;
mod seed;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use tonghop_core::catalog::ValueType;
use tonghop_core::{AdminUnit, Catalog, Epoch, Level, Period, UnitRegistry};

mod history;

pub use history::{months, write_history, HistorySummary, MonthSpan, DISAGGREGATIONS};

use crate::model::{CommuneModel, ProvinceProfile};
use crate::seed::Key;

/// Errors of demo generation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A province in [`DemoConfig::provinces`] is not a province of the epoch it was given with.
    #[error("province {code:?} does not exist in epoch {epoch} (province codes are epoch-specific)")]
    UnknownProvince {
        /// The epoch given.
        epoch: Epoch,
        /// The province code given.
        code: String,
    },
    /// A folder of the output tree could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A submission file could not be created or written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The modification time (the simulated receipt time) of a written file could not be set.
    #[error("cannot set the modification time of {path}: {source}")]
    SetModified {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `--disaggregations` out of range.
    #[error("--disaggregations must be 1 to {max}, not {given}")]
    Disaggregations {
        /// The number given.
        given: usize,
        /// The most there are.
        max: usize,
    },
    /// A month of the history lies in no epoch.
    #[error("month {month}: {reason}")]
    Month {
        /// The month.
        month: Period,
        /// Why.
        reason: String,
    },
    /// A history batch does not match its lake table (a column missing, or one the table lacks).
    #[error("table {table}: column {column} is not one the demo history writes or the table has")]
    Column {
        /// The lake table.
        table: &'static str,
        /// The column.
        column: String,
    },
    /// Arrow refused a history batch.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// The lake refused a history commit.
    #[error(transparent)]
    Lake(#[from] tonghop_lake::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// The seed every value and receipt time derives from.
    pub seed: u64,
    /// Months whose reporting month has ENDED on or before this date are generated ("to date"), i.e.
    /// months whose last day is before `until`. Reports whose simulated receipt falls on or after
    /// `until` have not arrived yet: no file, counted as missing.
    pub until: NaiveDate,
    /// Restrict to these provinces (epoch-specific codes), e.g. for fast tests; None = all.
    pub provinces: Option<Vec<(Epoch, String)>>,
}

/// What [`generate`] wrote.
///
/// `files + missing_reports` equals Σ over the two epochs of (communes of the epoch × months of the
/// epoch), e.g. 10,035 × 18 + 3,321 × 16 = 233,766 for a full run until 2026-11-23 (2024-01 … 2025-06
/// for the old communes, 2025-07 … 2026-10 for the new ones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Files written.
    pub files: usize,
    /// Data rows written (header lines not counted), invalid ones included.
    pub rows: usize,
    /// Invalid rows written (at most one per file).
    pub invalid_rows: usize,
    /// Files received more than 7 calendar days (Vietnam time) after the end of their month.
    pub late_files: usize,
    /// (commune, month) reports without a file: never sent, or not received before `until`.
    pub missing_reports: usize,
    /// Communes generated, both epochs together.
    pub communes: usize,
    /// Reporting months generated, both epochs together; the epochs share no month (e.g. 18 + 16 = 34
    /// until 2026-11-23).
    pub months: usize,
}

/// Probability that a (commune, month) report is never sent.
const P_NEVER_SENT: f64 = 0.01;
/// Probability that a report is late (10–40 days after the month ends).
const P_LATE: f64 = 0.03;
/// Probability that a file carries one invalid row.
const P_INVALID: f64 = 0.003;
/// Vietnam's offset from UTC, in seconds.
const UTC_OFFSET_SECS: i64 = 7 * 3600;
/// How many files between two calls of `progress`.
const PROGRESS_EVERY: u64 = 500;
/// The header of every file.
const HEADER: &str = "period,org_unit,data_element,value\n";

/// The first demo month of each epoch (2024-01, and 2025-07 when the reform takes effect): month
/// index 0 of the value model.
fn first_month(epoch: Epoch) -> Period {
    match epoch {
        Epoch::Pre2025 => Period::month(2024, 1),
        Epoch::Post2025 => Period::month(2025, 7),
    }
}

/// The last demo month of each epoch: 2025-06 for pre-2025 (the epoch ends with it); none for
/// post-2025, which runs on as far as [`DemoConfig::until`] allows.
fn last_month(epoch: Epoch) -> Option<Period> {
    match epoch {
        Epoch::Pre2025 => Some(Period::month(2025, 6)),
        Epoch::Post2025 => None,
    }
}

/// The number of months, from the first demo month of an epoch, over which the value model's events
/// (a flag gained, a doctor arriving or leaving) are spread: 2024-01 … 2025-06 and 2025-07 … 2026-12.
/// Fixed rather than taken from `until`, so that the values do not depend on `until`.
const EVENT_SPAN: u32 = 18;

/// The month after `period` (a month).
fn next_month(period: Period) -> Period {
    Period::month_of(period.end() + chrono::Days::new(1))
}

/// Months from `first` to `period` (both months): 0 for the same month, 1 for the next, and so on
/// across years.
fn months_since(first: Period, period: Period) -> i64 {
    (i64::from(period.year()) - i64::from(first.year())) * 12 + i64::from(period.start().month0()) - i64::from(first.start().month0())
}

/// The demo months of an epoch: from its first demo month to its last (if any), each month whose last
/// day is before `until`.
fn epoch_months(epoch: Epoch, until: NaiveDate) -> Vec<Period> {
    let last = last_month(epoch);
    std::iter::successors(Some(first_month(epoch)), |p| Some(next_month(*p))).take_while(|p| p.end() < until && last.is_none_or(|last| *p <= last)).collect()
}

/// The kinds of invalid row, picked uniformly.
#[derive(Debug, Clone, Copy)]
enum Invalid {
    NotApplicable,
    Malformed,
    Negative,
    BooleanTwo,
    UnknownElement,
}

const INVALID_KINDS: [Invalid; 5] = [Invalid::NotApplicable, Invalid::Malformed, Invalid::Negative, Invalid::BooleanTwo, Invalid::UnknownElement];

/// Writes the demo inbox into `out_dir` (see the crate docs) and returns what was written.
///
/// `progress(n)` is called with the number of files written since the previous call, every
/// few hundred files and once at the end.
pub fn generate(registry: &UnitRegistry, catalog: &Catalog, config: &DemoConfig, out_dir: &Path, progress: &dyn Fn(u64)) -> Result<DemoSummary> {
    let span = tracing::info_span!("demo_generate", seed = config.seed, until = %config.until, out_dir = %out_dir.display());
    let _entered = span.enter();

    let wanted: Option<HashSet<(Epoch, &str)>> = match &config.provinces {
        None => None,
        Some(list) => {
            for (epoch, code) in list {
                if registry.get(*epoch, code).is_none_or(|u| u.level != Level::Province) {
                    return Err(Error::UnknownProvince { epoch: *epoch, code: code.clone() });
                }
            }
            Some(list.iter().map(|(e, c)| (*e, c.as_str())).collect())
        }
    };
    let elements = &catalog.data_elements;
    let element_codes: HashSet<&str> = elements.iter().map(|e| e.code.as_str()).collect();

    let mut summary = DemoSummary::default();
    let mut pending: u64 = 0;
    let mut buffer = String::with_capacity(1024);

    for epoch in Epoch::ALL {
        let province_of = |u: &AdminUnit| u.province_code.clone().unwrap_or_default();
        let communes: Vec<&AdminUnit> =
            registry.at_level(epoch, Level::Commune).filter(|u| wanted.as_ref().is_none_or(|w| w.contains(&(epoch, province_of(u).as_str())))).collect();
        let first = first_month(epoch);
        let months = epoch_months(epoch, config.until);
        if communes.is_empty() {
            continue;
        }
        summary.communes += communes.len();
        if months.is_empty() {
            continue;
        }
        summary.months += months.len();

        let mut profiles: HashMap<String, ProvinceProfile> = HashMap::new();
        let models: Vec<CommuneModel> = communes
            .iter()
            .map(|u| {
                let province = province_of(u);
                let profile = profiles.entry(province.clone()).or_insert_with(|| ProvinceProfile::draw(config.seed, epoch, &province));
                CommuneModel::draw(config.seed, u, profile, elements, EVENT_SPAN)
            })
            .collect();
        let provinces: Vec<String> = {
            let mut p: Vec<String> = profiles.into_keys().collect();
            p.sort();
            p
        };
        tracing::info!(%epoch, communes = communes.len(), months = months.len(), "generating");

        for period in &months {
            let period_code = period.to_string();
            let month_dir = out_dir.join(&period_code);
            for province in &provinces {
                let dir = month_dir.join(province);
                std::fs::create_dir_all(&dir).map_err(|source| Error::CreateDir { path: dir.clone(), source })?;
            }
            let month_end = period.end();
            // The month index runs on across the year boundary within the epoch (Jan 2025 follows
            // Dec 2024), while the seasonal pattern and the RNG key follow the calendar month.
            let t = u32::try_from(months_since(first, *period)).expect("demo months follow the epoch's first");
            let month0 = period.start().month0();
            for (unit, model) in communes.iter().zip(&models) {
                let mut rng = Key::new(config.seed)
                    .str("month")
                    .str(epoch.as_str())
                    .str(&unit.code)
                    .u64(u64::from(period.year().unsigned_abs()) * 100 + u64::from(month0 + 1))
                    .rng();
                // A fixed sequence of draws, whatever their outcome, so that each draw means the same
                // thing in every run.
                let never_sent = rng.random_bool(P_NEVER_SENT);
                let late = rng.random_bool(P_LATE);
                let days: u64 = if late { rng.random_range(10..=40) } else { rng.random_range(1..=7) };
                let second_of_day: i64 = rng.random_range(7 * 3600..17 * 3600);
                let invalid = rng.random_bool(P_INVALID);
                let invalid_kind = INVALID_KINDS[rng.random_range(0..INVALID_KINDS.len())];
                let invalid_pick: usize = rng.random_range(0..1 << 16);
                let values = model.month_values(t, month0, elements, &mut rng);

                let received = month_end + chrono::Days::new(days);
                if never_sent || received >= config.until {
                    summary.missing_reports += 1;
                    continue;
                }
                let local_secs = received.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp() + second_of_day;
                let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs((local_secs - UTC_OFFSET_SECS).max(0) as u64);

                buffer.clear();
                buffer.push_str(HEADER);
                let bad_row = invalid.then(|| pick_invalid_row(invalid_kind, invalid_pick, catalog)).flatten();
                for (i, (element, value)) in elements.iter().zip(&values).enumerate() {
                    let code = unit.code.as_str();
                    match bad_row {
                        Some((row, kind)) if row == i => {
                            let _ = match kind {
                                Invalid::NotApplicable => writeln!(buffer, "{period_code},{code},{},n/a", element.code),
                                Invalid::Malformed => writeln!(buffer, "{period_code},{code},{},\"12,5a\"", element.code),
                                Invalid::Negative => writeln!(buffer, "{period_code},{code},{},-{}", element.code, (*value).max(1)),
                                Invalid::BooleanTwo => writeln!(buffer, "{period_code},{code},{},2", element.code),
                                Invalid::UnknownElement => {
                                    writeln!(buffer, "{period_code},{code},{},{value}", misspelt(&element.code, &element_codes))
                                }
                            };
                            summary.invalid_rows += 1;
                        }
                        _ => {
                            let _ = writeln!(buffer, "{period_code},{code},{},{value}", element.code);
                        }
                    }
                }
                let path = month_dir.join(unit.province_code.as_deref().unwrap_or_default()).join(format!("{}_{period_code}.csv", unit.code));
                write_file(&path, buffer.as_bytes(), mtime)?;
                summary.files += 1;
                summary.rows += elements.len();
                if late {
                    summary.late_files += 1;
                }
                pending += 1;
                if pending >= PROGRESS_EVERY {
                    progress(pending);
                    pending = 0;
                }
            }
        }
    }
    progress(pending);
    tracing::info!(
        files = summary.files,
        rows = summary.rows,
        invalid_rows = summary.invalid_rows,
        late_files = summary.late_files,
        missing_reports = summary.missing_reports,
        communes = summary.communes,
        months = summary.months,
        "demo inbox written"
    );
    Ok(summary)
}

/// One commune-month of a synthetic history (see [`history`]).
#[derive(Debug, Clone)]
pub struct HistoryMonth<'a> {
    /// The commune.
    pub unit: &'a AdminUnit,
    /// The month.
    pub period: Period,
    /// When the report arrived (UTC).
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// One value per catalog data element, in catalog order.
    pub values: Vec<u64>,
}

/// Generates a national history for benchmarks: every commune of `epoch` for every month of
/// `months` (which must lie in the epoch; they may span several years, e.g. 2020-01 … 2025-06 for
/// pre-2025, and need not be contiguous), with the value model of [`generate`] running on across the
/// years: the month index counts from the earliest month given, so population and shares keep
/// drifting month after month from it, and a station may gain a flag or a doctor at any month
/// between the earliest and the latest month given. The seasonal pattern follows the calendar month.
/// About 1 % of reports are never sent (not visited); 3 % arrive late. No invalid rows: the history
/// stands for data already accepted. `visit` is called once per report, in the order of `months`.
///
/// The values of a month depend on the seed, the month and the earliest and latest months given:
/// calls with one month each all start the model afresh at month index 0.
pub fn history(registry: &UnitRegistry, catalog: &Catalog, seed: u64, epoch: Epoch, months: &[Period], visit: &mut dyn FnMut(HistoryMonth)) -> Result<()> {
    let (Some(first), Some(last)) = (months.iter().min().copied(), months.iter().max().copied()) else { return Ok(()) };
    let span = u32::try_from(months_since(first, last) + 1).expect("months in order");
    let elements = &catalog.data_elements;
    let communes: Vec<&AdminUnit> = registry.at_level(epoch, Level::Commune).collect();
    let mut profiles: HashMap<String, ProvinceProfile> = HashMap::new();
    let models: Vec<CommuneModel> = communes
        .iter()
        .map(|u| {
            let province = u.province_code.clone().unwrap_or_default();
            let profile = profiles.entry(province.clone()).or_insert_with(|| ProvinceProfile::draw(seed, epoch, &province));
            CommuneModel::draw(seed, u, profile, elements, span)
        })
        .collect();
    for period in months {
        let t = u32::try_from(months_since(first, *period)).expect("no month before the earliest");
        for (unit, model) in communes.iter().zip(&models) {
            let mut rng = Key::new(seed)
                .str("history")
                .str(epoch.as_str())
                .str(&unit.code)
                .u64(u64::from(period.year().unsigned_abs()) * 100 + u64::from(period.start().month()))
                .rng();
            let never_sent = rng.random_bool(P_NEVER_SENT);
            let late = rng.random_bool(P_LATE);
            let days: u64 = if late { rng.random_range(10..=40) } else { rng.random_range(1..=7) };
            let second_of_day: i64 = rng.random_range(7 * 3600..17 * 3600);
            let values = model.month_values(t, period.start().month0(), elements, &mut rng);
            if never_sent {
                continue;
            }
            let received = period.end() + chrono::Days::new(days);
            let local = received.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp() + second_of_day;
            let received_at = chrono::DateTime::from_timestamp(local - UTC_OFFSET_SECS, 0).expect("valid time");
            visit(HistoryMonth { unit, period: *period, received_at, values });
        }
    }
    Ok(())
}

/// The row (catalog position) to spoil and how, or `None` when the catalog offers no such row.
/// `BooleanTwo` needs a 0/1 element and `Negative` a count; each falls back to `n/a` without one.
fn pick_invalid_row(kind: Invalid, pick: usize, catalog: &Catalog) -> Option<(usize, Invalid)> {
    let elements = &catalog.data_elements;
    let of_type = |t: ValueType| elements.iter().enumerate().filter(|(_, e)| e.value_type == t).map(|(i, _)| i).collect::<Vec<_>>();
    let candidates: Vec<usize> = match kind {
        Invalid::BooleanTwo => of_type(ValueType::Boolean),
        Invalid::Negative => of_type(ValueType::Count),
        _ => (0..elements.len()).collect(),
    };
    if candidates.is_empty() {
        return (!elements.is_empty()).then(|| (pick % elements.len(), Invalid::NotApplicable));
    }
    Some((candidates[pick % candidates.len()], kind))
}

/// A typo of `code` that is not a catalog code: its last character doubled (`DS_TONG` → `DS_TONGG`).
fn misspelt(code: &str, known: &HashSet<&str>) -> String {
    let mut out = code.to_string();
    out.push(code.chars().last().unwrap_or('X'));
    while known.contains(out.as_str()) {
        out.push('X');
    }
    out
}

/// Writes one file with a single write and stamps its modification time through the same handle.
fn write_file(path: &Path, contents: &[u8], mtime: SystemTime) -> Result<()> {
    let mut file = std::fs::File::create(path).map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    file.write_all(contents).map_err(|source| Error::Write { path: path.to_path_buf(), source })?;
    file.set_modified(mtime).map_err(|source| Error::SetModified { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests;
