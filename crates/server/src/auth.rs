//! Who may do what: API tokens (stored as SHA-256 hashes) with a role and a unit, and the
//! PostgreSQL users (stored as SCRAM-SHA-256 StoredKey and ServerKey), each with an optional
//! expiry; [`Access`] is the set the service checks against now (replaced whole when the
//! configuration file changes, see [`crate::reload`]).
//!
//! | role | submit | read (`/sql`, runs, any submission) | trigger runs |
//! |---|---|---|---|
//! | `commune` | values of its own commune | its own submissions | no |
//! | `district` | values of communes in it (pre-2025 epoch) | its own submissions | no |
//! | `province` | values of communes in it | its own submissions | no |
//! | `agency` | progress on the plan tasks it leads or co-operates on (`/api/plans/progress`) | its own submissions; the reviews of its province's plans | no |
//! | `analyst` | no | yes | no |
//! | `admin` | any unit | yes | yes |

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tonghop_core::{Epoch, Level, UnitRegistry};

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A commune health station: submits its own figures.
    Commune,
    /// A district health centre (pre-2025 epoch): submits for its communes.
    District,
    /// A provincial Department of Health: submits for units inside the province.
    Province,
    /// An agency of a plan (`catalog/plans/agencies.csv`: a Sở, a ban, a ngành): reports progress
    /// on the tasks it leads or co-operates on.
    Agency,
    /// Reads only.
    Analyst,
    /// Everything, including triggering runs.
    Admin,
}

impl Role {
    /// The level of unit the role needs, if any.
    fn level(self) -> Option<Level> {
        match self {
            Role::Commune => Some(Level::Commune),
            Role::District => Some(Level::District),
            Role::Province => Some(Level::Province),
            Role::Agency | Role::Analyst | Role::Admin => None,
        }
    }

    /// Reads every table and model.
    pub fn reads(self) -> bool {
        matches!(self, Role::Analyst | Role::Admin)
    }
}

/// One API token of the configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// A name for logs and `submissions.submitted_by` (e.g. `xa-phuc-xa`).
    pub name: String,
    /// The role.
    pub role: Role,
    /// The unit, `epoch:code` (commune, district and province roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The agency code of an agency token (`catalog/plans/agencies.csv`, e.g. `NA_SYT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency: Option<String>,
    /// SHA-256 of the token, hex.
    pub sha256: String,
    /// The last moment the token is valid: a date (valid through that day, Vietnam time, e.g.
    /// `expires = 2027-06-30`), or a date and time (Vietnam time unless it has an offset).
    /// Without it the token is valid until it is removed.
    #[serde(default, deserialize_with = "datetime", skip_serializing_if = "Option::is_none")]
    pub expires: Option<toml::value::Datetime>,
}

/// A TOML date or date-time, also accepted as a string.
fn datetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<toml::value::Datetime>, D::Error> {
    use serde::de::Error as _;
    match Option::<toml::Value>::deserialize(d)? {
        None => Ok(None),
        Some(toml::Value::Datetime(v)) => Ok(Some(v)),
        Some(toml::Value::String(s)) => s.parse().map(Some).map_err(|_| D::Error::custom(format!("{s:?} is not a date: write e.g. 2027-06-30"))),
        Some(other) => Err(D::Error::custom(format!("{other} is not a date: write e.g. 2027-06-30"))),
    }
}

/// When an `expires` / `valid_until` value ends: a date ends at midnight after it, Vietnam time
/// (UTC+7); a date-time without offset is Vietnam time.
pub fn expiry_instant(value: &toml::value::Datetime) -> Result<DateTime<Utc>, String> {
    let text = value.to_string();
    let vietnam = tonghop_core::period::vietnam_offset();
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(at.with_timezone(&Utc));
    }
    let local = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok().and_then(|d| d.succ_opt()).and_then(|d| d.and_hms_opt(0, 0, 0)));
    local
        .and_then(|l| l.and_local_timezone(vietnam).single())
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| format!("{text} is not a date or a date and time: write e.g. 2027-06-30 or 2027-06-30T17:00:00+07:00"))
}

fn expiry_of(value: Option<&toml::value::Datetime>) -> Option<DateTime<Utc>> {
    value.and_then(|v| expiry_instant(v).ok())
}

impl TokenEntry {
    /// Problems with this entry.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push("sha256 must be 64 hex digits: make the entry with `tonghop token`".into());
        }
        match (self.role.level(), &self.unit) {
            (Some(level), None) => problems.push(format!("role {:?} needs unit = \"epoch:code\" of a {}", self.role, level.as_str())),
            (None, Some(_)) => problems.push(format!("role {:?} takes no unit: remove it", self.role)),
            (Some(_), Some(unit)) => {
                if parse_unit(unit).is_none() {
                    problems.push(format!("unit {unit:?}: write epoch:code, e.g. \"post2025:00004\""));
                }
            }
            (None, None) => {}
        }
        match (self.role, &self.agency) {
            (Role::Agency, None) => problems.push("role \"agency\" needs agency = \"CODE\" of catalog/plans/agencies.csv".into()),
            (Role::Agency, Some(_)) => {}
            (role, Some(_)) => problems.push(format!("role {role:?} takes no agency: remove it")),
            (_, None) => {}
        }
        if let Some(Err(e)) = self.expires.as_ref().map(expiry_instant) {
            problems.push(format!("expires: {e}"));
        }
        problems
    }
}

fn parse_unit(unit: &str) -> Option<(Epoch, String)> {
    unit.parse::<tonghop_core::units::UnitRef>().ok()?.with_epoch().ok()
}

/// A caller recognised by its token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The unit (epoch, code), for unit roles.
    pub unit: Option<(Epoch, String)>,
    /// The agency code, for the agency role.
    pub agency: Option<String>,
    /// When the token stops being valid.
    pub expires: Option<DateTime<Utc>>,
}

impl Caller {
    /// Whether the caller may submit values for commune `code` of `epoch`.
    pub fn may_submit_for(&self, registry: &UnitRegistry, epoch: Epoch, code: &str) -> bool {
        let Some((unit_epoch, unit_code)) = &self.unit else { return self.role == Role::Admin };
        if *unit_epoch != epoch {
            return false;
        }
        match self.role {
            Role::Commune => unit_code == code,
            Role::District => registry.get(epoch, code).and_then(|u| u.district_code.as_deref()) == Some(unit_code),
            Role::Province => registry.get(epoch, code).and_then(|u| u.province_code.as_deref()) == Some(unit_code),
            Role::Agency | Role::Analyst | Role::Admin => false,
        }
    }

    /// The value recorded in `submissions.submitted_by`.
    pub fn submitted_by(&self) -> String {
        format!("token:{}", self.name)
    }
}

/// The tokens of the configuration, by hash.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<String, Caller>,
}

/// What a token is, now.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A token of the configuration, valid now.
    Valid(&'a Caller),
    /// A token of the configuration whose `expires` has passed.
    Expired(&'a Caller),
    /// Not a token of the configuration (never was, or removed).
    Unknown,
}

impl Tokens {
    /// Indexes valid entries (the configuration check reports the others).
    pub fn new(entries: &[TokenEntry]) -> Tokens {
        let by_hash = entries
            .iter()
            .filter(|e| e.problems().is_empty())
            .map(|e| {
                let caller = Caller {
                    name: e.name.clone(),
                    role: e.role,
                    unit: e.unit.as_deref().and_then(parse_unit),
                    agency: e.agency.clone(),
                    expires: expiry_of(e.expires.as_ref()),
                };
                (e.sha256.to_ascii_lowercase(), caller)
            })
            .collect();
        Tokens { by_hash }
    }

    /// The caller holding `token`, if it is known and valid now.
    pub fn caller(&self, token: &str) -> Option<&Caller> {
        match self.lookup(token, Utc::now()) {
            Lookup::Valid(c) => Some(c),
            _ => None,
        }
    }

    /// What `token` is at `now`.
    pub fn lookup(&self, token: &str, now: DateTime<Utc>) -> Lookup<'_> {
        self.lookup_hash(&hash_token(token), now)
    }

    /// What the token whose [`hash_token`] is `hash` is at `now` (a dashboard session keeps the
    /// hash, never the token, and looks it up at every request: a revoked token ends its sessions).
    pub fn lookup_hash(&self, hash: &str, now: DateTime<Utc>) -> Lookup<'_> {
        match self.by_hash.get(hash) {
            Some(c) if c.expires.is_some_and(|at| at <= now) => Lookup::Expired(c),
            Some(c) => Lookup::Valid(c),
            None => Lookup::Unknown,
        }
    }

    /// The callers, by token name.
    pub fn callers(&self) -> std::collections::BTreeMap<&str, &Caller> {
        self.by_hash.values().map(|c| (c.name.as_str(), c)).collect()
    }

    /// Checks that each unit of a token exists in the registry at the level its role needs.
    pub fn unknown_units(entries: &[TokenEntry], registry: &UnitRegistry) -> Vec<String> {
        let mut problems = Vec::new();
        for e in entries {
            let (Some(level), Some((epoch, code))) = (e.role.level(), e.unit.as_deref().and_then(parse_unit)) else { continue };
            match registry.get(epoch, &code) {
                Some(u) if u.level == level => {}
                Some(u) => problems.push(format!(
                    "token {:?}: unit {epoch}:{code} is a {}, the role {:?} needs a {}",
                    e.name,
                    u.level.as_str(),
                    e.role,
                    level.as_str()
                )),
                None => problems.push(format!("token {:?}: no unit {code} in the {epoch} epoch", e.name)),
            }
        }
        problems
    }

    /// Checks that the agency of each agency token is an agency (not a group) of `plans`.
    pub fn unknown_agencies(entries: &[TokenEntry], plans: &tonghop_core::plans::Plans) -> Vec<String> {
        let mut problems = Vec::new();
        for (e, code) in entries.iter().filter_map(|e| Some((e, e.agency.as_deref()?))) {
            match plans.agency(code) {
                Some(a) if !a.is_group() => {}
                Some(_) => problems.push(format!("token {:?}: {code} is a group of agencies; a token is for one agency of catalog/plans/agencies.csv", e.name)),
                None => problems.push(format!("token {:?}: agency {code} is not in catalog/plans/agencies.csv", e.name)),
            }
        }
        problems
    }
}

/// SHA-256 of a token, hex. Tokens are 256 random bits, so a fast hash is enough to store them.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A new random token (`th_` and 64 hex digits) and its configuration entry.
pub fn new_token(name: &str, role: Role, unit: Option<String>, agency: Option<String>) -> (String, TokenEntry) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("th_{}", hex::encode(bytes));
    let entry = TokenEntry { name: name.to_string(), role, unit, agency, sha256: hash_token(&token), expires: None };
    (token, entry)
}

/// One PostgreSQL user: SCRAM-SHA-256 with StoredKey and ServerKey kept, as PostgreSQL keeps them
/// (see [`crate::scram`]); neither the password nor anything that logs in without it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PgUser {
    /// Login name.
    pub name: String,
    /// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64; from `tonghop passwd`).
    pub scram: String,
    /// The last moment the login is valid (as PostgreSQL's `VALID UNTIL`), written as a token's
    /// `expires`; without it the user is valid until removed.
    #[serde(default, deserialize_with = "datetime", skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<toml::value::Datetime>,
}

impl PgUser {
    /// A user entry for `password`, with a fresh random salt.
    pub fn new(name: &str, password: &str) -> PgUser {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        PgUser { name: name.to_string(), scram: crate::scram::Verifier::new(password, &salt, crate::scram::ITERATIONS).line(), valid_until: None }
    }

    /// The verifier, or what is wrong with the line (with the fix).
    pub fn verifier(&self) -> Result<crate::scram::Verifier, String> {
        crate::scram::Verifier::parse(&self.scram)
    }

    /// Problems with this entry.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self.verifier().err().into_iter().collect();
        if let Some(Err(e)) = self.valid_until.as_ref().map(expiry_instant) {
            problems.push(format!("valid_until: {e}"));
        }
        problems
    }
}

/// A PostgreSQL login name, now.
#[derive(Debug)]
pub enum UserLookup<'a> {
    /// A configured user, valid now.
    Valid(&'a crate::scram::Verifier),
    /// A configured user whose `valid_until` has passed.
    Expired,
    /// Not a configured user (never was, or removed).
    Unknown,
}

/// The credentials the service checks now: its API tokens and PostgreSQL users. Built from the
/// configuration at start and again at each reload; requests and logins read the current one.
#[derive(Debug, Default)]
pub struct Access {
    /// API tokens.
    pub tokens: Tokens,
    users: HashMap<String, (crate::scram::Verifier, Option<DateTime<Utc>>)>,
    /// The configuration entries it was made from (a reload says what changed against them).
    pub(crate) entries: (Vec<TokenEntry>, Vec<PgUser>),
}

impl Access {
    /// The valid entries of a configuration.
    pub fn new(tokens: &[TokenEntry], users: &[PgUser]) -> Access {
        let by_name = users.iter().filter_map(|u| u.verifier().ok().map(|v| (u.name.clone(), (v, expiry_of(u.valid_until.as_ref()))))).collect();
        Access { tokens: Tokens::new(tokens), users: by_name, entries: (tokens.to_vec(), users.to_vec()) }
    }

    /// What PostgreSQL login name `name` is at `now`.
    pub fn user(&self, name: &str, now: DateTime<Utc>) -> UserLookup<'_> {
        match self.users.get(name) {
            Some((_, Some(until))) if *until <= now => UserLookup::Expired,
            Some((verifier, _)) => UserLookup::Valid(verifier),
            None => UserLookup::Unknown,
        }
    }

    /// The PostgreSQL users, by name, with their expiry.
    pub fn users(&self) -> std::collections::BTreeMap<&str, Option<DateTime<Utc>>> {
        self.users.iter().map(|(n, (_, until))| (n.as_str(), *until)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_by_its_hash_only() {
        let (token, entry) = new_token("xa", Role::Commune, Some("post2025:00004".into()), None);
        assert!(entry.problems().is_empty(), "{:?}", entry.problems());
        assert!(!format!("{entry:?}").contains(&token[3..]), "the entry must not hold the token");
        let tokens = Tokens::new(&[entry]);
        assert_eq!(tokens.caller(&token).map(|c| c.name.as_str()), Some("xa"));
        assert!(tokens.caller("th_0000").is_none());
        assert!(tokens.caller(&token[..token.len() - 1]).is_none());
    }

    #[test]
    fn a_date_expires_at_the_end_of_that_day_in_vietnam() {
        let at = |s: &str| expiry_instant(&s.parse().unwrap()).unwrap().to_rfc3339();
        assert_eq!(at("2027-06-30"), "2027-06-30T17:00:00+00:00");
        assert_eq!(at("2027-06-30T08:00:00"), "2027-06-30T01:00:00+00:00");
        assert_eq!(at("2027-06-30T08:00:00Z"), "2027-06-30T08:00:00+00:00");
        assert!(expiry_instant(&"08:00:00".parse().unwrap()).is_err());

        let (token, mut entry) = new_token("xa", Role::Analyst, None, None);
        entry.expires = Some("2027-06-30".parse().unwrap());
        let text = toml::to_string(&entry).unwrap();
        assert!(text.contains("expires = 2027-06-30\n"), "{text}");
        let read: TokenEntry = toml::from_str(&text.replace("2027-06-30", "\"2027-06-30\"")).unwrap();
        assert_eq!(read.expires, entry.expires, "a quoted date is read too");
        let tokens = Tokens::new(&[entry]);
        let day = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(matches!(tokens.lookup(&token, day("2027-06-30T16:59:59Z")), Lookup::Valid(_)));
        assert!(matches!(tokens.lookup(&token, day("2027-06-30T17:00:00Z")), Lookup::Expired(_)));
        assert!(matches!(tokens.lookup("th_x", day("2027-06-30T17:00:00Z")), Lookup::Unknown));
        assert!(toml::from_str::<TokenEntry>("name = \"a\"\nrole = \"analyst\"\nsha256 = \"00\"\nexpires = \"soon\"")
            .unwrap_err()
            .to_string()
            .contains("not a date"));
    }

    #[test]
    fn a_scram_entry_keeps_neither_the_password_nor_the_salted_password() {
        let user = PgUser::new("analyst", "mật khẩu");
        assert!(user.problems().is_empty(), "{:?}", user.problems());
        let verifier = user.verifier().unwrap();
        let salt = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, user.scram.split(['$', ':']).nth(2).unwrap()).unwrap();
        assert_eq!(verifier, crate::scram::Verifier::new("mật khẩu", &salt, crate::scram::ITERATIONS));
        let salted = datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password("mật khẩu", &salt, 4096);
        assert!(!user.scram.contains(&base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &salted)));
        assert!(!PgUser { name: "x".into(), scram: "plain".into(), valid_until: None }.problems().is_empty());
    }
}
