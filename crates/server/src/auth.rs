//! Who may do what: API tokens (stored as SHA-256 hashes) with a role and a unit, and the
//! PostgreSQL users (stored as SCRAM-SHA-256 StoredKey and ServerKey).
//!
//! | role | submit | read (`/sql`, runs, any submission) | trigger runs |
//! |---|---|---|---|
//! | `commune` | values of its own commune | its own submissions | no |
//! | `district` | values of communes in it (pre-2025 epoch) | its own submissions | no |
//! | `province` | values of communes in it | its own submissions | no |
//! | `analyst` | no | yes | no |
//! | `admin` | any unit | yes | yes |

use std::collections::HashMap;

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
            Role::Analyst | Role::Admin => None,
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
    /// SHA-256 of the token, hex.
    pub sha256: String,
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
            Role::Analyst | Role::Admin => false,
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

impl Tokens {
    /// Indexes valid entries (the configuration check reports the others).
    pub fn new(entries: &[TokenEntry]) -> Tokens {
        let by_hash = entries
            .iter()
            .filter(|e| e.problems().is_empty())
            .map(|e| (e.sha256.to_ascii_lowercase(), Caller { name: e.name.clone(), role: e.role, unit: e.unit.as_deref().and_then(parse_unit) }))
            .collect();
        Tokens { by_hash }
    }

    /// The caller holding `token`, if it is known.
    pub fn caller(&self, token: &str) -> Option<&Caller> {
        self.by_hash.get(&hash_token(token))
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
}

/// SHA-256 of a token, hex. Tokens are 256 random bits, so a fast hash is enough to store them.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// A new random token (`th_` and 64 hex digits) and its configuration entry.
pub fn new_token(name: &str, role: Role, unit: Option<String>) -> (String, TokenEntry) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("th_{}", hex::encode(bytes));
    let entry = TokenEntry { name: name.to_string(), role, unit, sha256: hash_token(&token) };
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
}

impl PgUser {
    /// A user entry for `password`, with a fresh random salt.
    pub fn new(name: &str, password: &str) -> PgUser {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        PgUser { name: name.to_string(), scram: crate::scram::Verifier::new(password, &salt, crate::scram::ITERATIONS).line() }
    }

    /// The verifier, or what is wrong with the line (with the fix).
    pub fn verifier(&self) -> Result<crate::scram::Verifier, String> {
        crate::scram::Verifier::parse(&self.scram)
    }

    /// Problems with this entry.
    pub fn problems(&self) -> Vec<String> {
        self.verifier().err().into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_found_by_its_hash_only() {
        let (token, entry) = new_token("xa", Role::Commune, Some("post2025:00004".into()));
        assert!(entry.problems().is_empty(), "{:?}", entry.problems());
        assert!(!format!("{entry:?}").contains(&token[3..]), "the entry must not hold the token");
        let tokens = Tokens::new(&[entry]);
        assert_eq!(tokens.caller(&token).map(|c| c.name.as_str()), Some("xa"));
        assert!(tokens.caller("th_0000").is_none());
        assert!(tokens.caller(&token[..token.len() - 1]).is_none());
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
        assert!(!PgUser { name: "x".into(), scram: "plain".into() }.problems().is_empty());
    }
}
