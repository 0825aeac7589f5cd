//! The value model: a profile per province, a model per commune, values per month (see the crate docs).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tonghop_core::{AdminUnit, DataElement, Epoch};

use crate::seed::Key;

/// Province-level means and probabilities, drawn once per (epoch, province) from the seed.
#[derive(Debug, Clone)]
pub(crate) struct ProvinceProfile {
    coverage: f64,
    health_management: f64,
    insured_visit_share: f64,
    high_risk_checked: f64,
    p_doctor: f64,
    p_midwife: f64,
    p_pharmacy: f64,
    p_traditional: f64,
    p_equipment: f64,
    p_criteria: f64,
    services_share: f64,
    village_worker_share: f64,
    services_listed: u64,
}

impl ProvinceProfile {
    pub(crate) fn draw(seed: u64, epoch: Epoch, province_code: &str) -> ProvinceProfile {
        let mut rng = Key::new(seed).str("province").str(epoch.as_str()).str(province_code).rng();
        let r = &mut rng;
        ProvinceProfile {
            coverage: r.random_range(0.85..0.98),
            health_management: r.random_range(0.70..0.97),
            insured_visit_share: r.random_range(0.80..0.97),
            high_risk_checked: r.random_range(0.60..0.95),
            // About one province in five has a real shortage of doctors.
            p_doctor: if r.random_bool(0.2) { r.random_range(0.55..0.80) } else { r.random_range(0.80..0.99) },
            p_midwife: r.random_range(0.85..0.99),
            p_pharmacy: r.random_range(0.75..0.98),
            p_traditional: r.random_range(0.60..0.95),
            p_equipment: r.random_range(0.60..0.95),
            p_criteria: r.random_range(0.70..0.98),
            services_share: r.random_range(0.80..0.97),
            village_worker_share: r.random_range(0.85..1.0),
            services_listed: r.random_range(60..=120),
        }
    }
}

/// A month index within the event span (1 to `span − 1`; month 0 is the first month, where a change
/// would not show): when a flag is gained or a doctor arrives or leaves. With a span of one month or
/// less, index 1, i.e. after the span.
fn event_month(rng: &mut ChaCha8Rng, span: u32) -> u32 {
    rng.random_range(1..span.max(2))
}

/// A 0/1 fact about a station: present from the start, from some month on, or never.
#[derive(Debug, Clone, Copy)]
struct Flag {
    /// First month index (0-based, counted from the first month of the span) with value 1; `None` =
    /// 0 throughout.
    from: Option<u32>,
}

impl Flag {
    /// Present with probability `p`; when absent, about one station in eight gains it at some month
    /// of the `span` months.
    fn draw(rng: &mut ChaCha8Rng, p: f64, span: u32) -> Flag {
        let present = rng.random_bool(p.clamp(0.0, 1.0));
        let gained = rng.random_bool(0.125);
        let month = event_month(rng, span);
        Flag {
            from: if present {
                Some(0)
            } else if gained {
                Some(month)
            } else {
                None
            },
        }
    }

    fn at(self, t: u32) -> u64 {
        u64::from(self.from.is_some_and(|m| t >= m))
    }
}

/// Everything about one commune that stays (nearly) fixed over the months of its epoch.
#[derive(Debug, Clone)]
pub(crate) struct CommuneModel {
    population: f64,
    coverage: f64,
    coverage_drift: f64,
    health_management: f64,
    health_management_drift: f64,
    visit_rate: f64,
    insured_visit_share: f64,
    high_risk_rate: f64,
    high_risk_checked: f64,
    high_risk_drift: f64,
    doctors: u64,
    /// (month index from which, new number of doctors): a doctor arrives or leaves within the span.
    doctor_change: Option<(u32, u64)>,
    midwife: Flag,
    pharmacy: Flag,
    traditional: Flag,
    criteria: Flag,
    equipment: Flag,
    villages: u64,
    villages_with_worker: u64,
    services_listed: u64,
    services_share: f64,
    services_drift: f64,
    /// Values of catalog elements this model does not know (a province's own additions), by catalog position.
    extra: Vec<u64>,
}

impl CommuneModel {
    /// Draws the model of `unit`. Events (a flag gained, a doctor arriving or leaving) fall at some
    /// month index from 1 to `span − 1`, month index 0 being the first month of the commune's series.
    pub(crate) fn draw(seed: u64, unit: &AdminUnit, province: &ProvinceProfile, elements: &[DataElement], span: u32) -> CommuneModel {
        let epoch = unit.epoch;
        let key = Key::new(seed).str("commune").str(epoch.as_str()).str(&unit.code);
        let mut rng = key.rng();
        let r = &mut rng;
        let ward = unit.unit_type == "Phường";
        // Skewed towards small communes (u² has mean 1/3). After the 2025 reform communes are about three
        // old communes merged, so the ranges differ by epoch; both give a national total near 100 million.
        let u: f64 = r.random();
        let population = match epoch {
            Epoch::Pre2025 => (2_000.0 + 18_000.0 * u * u) * if ward { 2.0 } else { 1.0 },
            Epoch::Post2025 => (8_000.0 + 52_000.0 * u * u) * if ward { 1.6 } else { 1.0 },
        };
        let villages = match epoch {
            Epoch::Pre2025 => r.random_range(3..=25u64),
            Epoch::Post2025 => r.random_range(6..=50u64),
        };
        let doctors = if r.random_bool(province.p_doctor) {
            // Mostly one doctor, sometimes two or three.
            match r.random_range(0..10u32) {
                0..=6 => 1,
                7..=8 => 2,
                _ => 3,
            }
        } else {
            0
        };
        let doctor_change = r.random_bool(0.05).then(|| {
            let month = event_month(r, span);
            let new = if doctors == 0 || (doctors < 3 && r.random_bool(0.6)) { doctors + 1 } else { doctors - 1 };
            (month, new)
        });
        let jitter = |r: &mut ChaCha8Rng, mean: f64, pp: f64| (mean + r.random_range(-pp..pp)).clamp(0.0, 0.995);
        let village_share = jitter(r, province.village_worker_share, 0.05).max(0.5);
        let mut model = CommuneModel {
            population,
            coverage: jitter(r, province.coverage, 0.03),
            coverage_drift: r.random_range(0.0003..0.0015),
            health_management: jitter(r, province.health_management, 0.03),
            health_management_drift: r.random_range(0.0005..0.003),
            visit_rate: r.random_range(0.02..0.04),
            insured_visit_share: jitter(r, province.insured_visit_share, 0.03),
            high_risk_rate: r.random_range(0.08..0.15),
            high_risk_checked: jitter(r, province.high_risk_checked, 0.05),
            high_risk_drift: r.random_range(0.0..0.004),
            doctors,
            doctor_change,
            midwife: Flag::draw(r, province.p_midwife, span),
            pharmacy: Flag::draw(r, province.p_pharmacy, span),
            traditional: Flag::draw(r, province.p_traditional, span),
            criteria: Flag::draw(r, province.p_criteria, span),
            equipment: Flag::draw(r, province.p_equipment, span),
            villages,
            villages_with_worker: ((villages as f64 * village_share).round() as u64).min(villages),
            services_listed: province.services_listed,
            services_share: jitter(r, province.services_share, 0.05),
            services_drift: r.random_range(0.0..0.002),
            extra: Vec::new(),
        };
        model.extra = elements
            .iter()
            .map(|e| {
                if Element::of(&e.code).is_some() {
                    return 0;
                }
                let mut r = key.str("element").str(&e.code).rng();
                match e.value_type {
                    tonghop_core::catalog::ValueType::Boolean => u64::from(r.random_bool(0.8)),
                    tonghop_core::catalog::ValueType::Count => r.random_range(0..=100),
                }
            })
            .collect();
        model
    }

    /// The values of month index `t` (0 = the first month of the commune's series, which may run over
    /// several years), one per catalog element, in catalog order. `calendar_month0` is the month of
    /// the year (0 = January), for the seasonal pattern. `rng` is the (commune, month) stream and
    /// supplies the month-to-month noise of the flows.
    pub(crate) fn month_values(&self, t: u32, calendar_month0: u32, elements: &[DataElement], rng: &mut ChaCha8Rng) -> Vec<u64> {
        // Seasonal pattern of visits: fewer around Tết (February), more in the rainy season.
        const SEASON: [f64; 12] = [1.05, 0.85, 1.0, 1.0, 1.05, 1.1, 1.1, 1.05, 1.0, 1.0, 1.0, 0.95];
        let tf = f64::from(t);
        // Only + − × ÷ and rounding: IEEE-exact everywhere, so files are identical on every platform.
        let population = (self.population * (1.0 + 0.0005 * tf)).round();
        let share = |base: f64, drift: f64| (base + drift * tf).min(0.995);
        let part = |whole: u64, share: f64| ((whole as f64 * share).round() as u64).min(whole);
        let ds_tong = population as u64;
        let visit_noise: f64 = rng.random_range(0.9..1.1);
        let insured_noise: f64 = rng.random_range(-0.01..0.01);
        let kcb_tong = (population * self.visit_rate * SEASON[calendar_month0 as usize % 12] * visit_noise).round() as u64;
        let ncc_tong = (population * self.high_risk_rate).round() as u64;
        let doctors = match self.doctor_change {
            Some((from, n)) if t >= from => n,
            _ => self.doctors,
        };
        elements
            .iter()
            .enumerate()
            .map(|(i, e)| match Element::of(&e.code) {
                Some(Element::DsTong) => ds_tong,
                Some(Element::DsBhyt) => part(ds_tong, share(self.coverage, self.coverage_drift)),
                Some(Element::DsQlsk) => part(ds_tong, share(self.health_management, self.health_management_drift)),
                Some(Element::KcbTong) => kcb_tong,
                Some(Element::KcbBhyt) => part(kcb_tong, (self.insured_visit_share + insured_noise).clamp(0.0, 1.0)),
                Some(Element::NccTong) => ncc_tong,
                Some(Element::NccKsk) => part(ncc_tong, share(self.high_risk_checked, self.high_risk_drift)),
                Some(Element::TytBs) => doctors,
                Some(Element::TytHs) => self.midwife.at(t),
                Some(Element::TytDuoc) => self.pharmacy.at(t),
                Some(Element::TytYhct) => self.traditional.at(t),
                Some(Element::ThonTong) => self.villages,
                Some(Element::ThonNvyt) => self.villages_with_worker,
                Some(Element::XaBtc) => self.criteria.at(t),
                Some(Element::DvktDm) => self.services_listed,
                Some(Element::DvktTh) => part(self.services_listed, share(self.services_share, self.services_drift)),
                Some(Element::TtbDu) => self.equipment.at(t),
                None => self.extra[i],
            })
            .collect()
    }
}

/// The data elements of the seeded Directive 25 catalog this model knows how to fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    DsTong,
    DsBhyt,
    DsQlsk,
    KcbTong,
    KcbBhyt,
    NccTong,
    NccKsk,
    TytBs,
    TytHs,
    TytDuoc,
    TytYhct,
    ThonTong,
    ThonNvyt,
    XaBtc,
    DvktDm,
    DvktTh,
    TtbDu,
}

impl Element {
    fn of(code: &str) -> Option<Element> {
        Some(match code {
            "DS_TONG" => Element::DsTong,
            "DS_BHYT" => Element::DsBhyt,
            "DS_QLSK" => Element::DsQlsk,
            "KCB_TONG" => Element::KcbTong,
            "KCB_BHYT" => Element::KcbBhyt,
            "NCC_TONG" => Element::NccTong,
            "NCC_KSK" => Element::NccKsk,
            "TYT_BS" => Element::TytBs,
            "TYT_HS" => Element::TytHs,
            "TYT_DUOC" => Element::TytDuoc,
            "TYT_YHCT" => Element::TytYhct,
            "THON_TONG" => Element::ThonTong,
            "THON_NVYT" => Element::ThonNvyt,
            "XA_BTC" => Element::XaBtc,
            "DVKT_DM" => Element::DvktDm,
            "DVKT_TH" => Element::DvktTh,
            "TTB_DU" => Element::TtbDu,
            _ => return None,
        })
    }
}
