//! Rolled-up data elements as a DHIS2 data value set: files and/or a push.

use serde::Deserialize;

use super::{push_accepted, refuse, secret, Bare, Checks, ExportContext, ExportOutcome, PushRetry, DHIS2_PASSWORD_ENV, DHIS2_TOKEN_ENV};
use crate::{Auth, Dhis2Export, Dhis2Format, Dhis2Scope, Result};

/// A DHIS2 data value set of periods of one epoch (`tonghop export dhis2`, the pipeline's
/// `kind = "dhis2"`): written as files (`formats`) and/or pushed (`push`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dhis2Request {
    /// Period codes (months, quarters, six-months, years), all of one epoch, or words of
    /// [`tonghop_core::period::RELATIVE_PERIODS`] (`previous_month`, `previous_quarter`, …).
    pub periods: Vec<String>,
    /// Units whose subtrees are exported (`epoch:code`, a code, or `VN`; default: the nation).
    #[serde(default)]
    pub units: Vec<String>,
    /// Levels exported: commune, district (before the reform), province, national (default province).
    #[serde(default)]
    pub levels: Vec<String>,
    /// The id-scheme mapping file (CSV `kind,dhis2,tonghop`, as for ingest), relative to the
    /// context's files root.
    pub mapping: String,
    /// `json` and/or `csv` files to write (none: push only).
    #[serde(default)]
    pub formats: Vec<String>,
    /// A folder (files named `dhis2_<units>_<periods>.<format>`) or, with one format, a file; default
    /// the context's folder.
    #[serde(default)]
    pub to: Option<String>,
    /// The DHIS2 data set uid written as dataSet.
    #[serde(default)]
    pub data_set: Option<String>,
    /// Leave out (and count) values without a DHIS2 id instead of failing.
    #[serde(default)]
    pub skip_unmapped: bool,
    /// The DHIS2 base URL to push to (the request goes to `{push}/api/dataValueSets`).
    #[serde(default)]
    pub push: Option<String>,
    /// Basic authentication user; the password is read from `password_env`. Without it, a token in
    /// `token_env` is sent as `ApiToken` when set.
    #[serde(default)]
    pub user: Option<String>,
    /// The variable holding the password (default `TONGHOP_DHIS2_PASSWORD`).
    #[serde(default)]
    pub password_env: Option<String>,
    /// The variable holding a personal access token (default `TONGHOP_DHIS2_TOKEN`, optional; a
    /// variable named here must be set).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Send even when this payload was accepted before.
    #[serde(default)]
    pub force: bool,
    /// Requests and waits of the push.
    #[serde(default)]
    pub push_retry: PushRetry,
}

impl Dhis2Request {
    /// The periods as codes, relative words resolved.
    fn period_codes(&self, today: chrono::NaiveDate) -> Vec<String> {
        self.periods.iter().map(|p| tonghop_core::period::resolve_relative(p, today)).collect()
    }

    /// Every problem of the request, each saying what to change.
    pub fn problems(&self, checks: &Checks<'_>) -> Vec<String> {
        self.check(checks).0
    }

    /// The problems, and the id mapping when it could be read (so that a run reads it once).
    fn check(&self, checks: &Checks<'_>) -> (Vec<String>, Option<tonghop_formats::IdMapping>) {
        let mut out = Vec::new();
        if self.periods.is_empty() {
            out.push("no periods; add periods = [\"2026Q1\"]".to_string());
        }
        let mut epochs = std::collections::BTreeSet::new();
        for period in &self.periods {
            match tonghop_core::period::parse_relative(period, checks.today) {
                Err(e) => out.push(e),
                Ok(parsed) => {
                    epochs.insert(tonghop_core::Epoch::of_units_for(&parsed));
                    out.extend(crate::dhis2::check_dhis2_period(&parsed).err().map(|e| e.to_string()));
                }
            }
        }
        if epochs.len() > 1 {
            out.push("periods of both epochs; export each epoch on its own".to_string());
        }
        for level in &self.levels {
            if crate::dhis2::parse_level(level).is_none() {
                out.push(format!("level {level:?} is not one of commune, district, province, national"));
            }
        }
        if let (true, Some(registry)) = (out.is_empty(), checks.registry) {
            out.extend(Dhis2Scope::resolve(registry, &self.period_codes(checks.today), &self.units, &self.levels).err().map(|e| e.to_string()));
        }
        let mapping = tonghop_formats::IdMapping::load(&checks.files_root.join(&self.mapping)).map_err(|e| out.push(format!("mapping: {e}"))).ok();
        for f in &self.formats {
            if Dhis2Format::parse(f).is_none() {
                out.push(format!("format {f:?} is not \"json\" or \"csv\""));
            }
        }
        if self.formats.is_empty() && self.push.is_none() {
            out.push("writes nothing; add formats = [\"json\"] and/or push = \"https://<dhis2 server>\"".to_string());
        }
        if let Some(url) = &self.push {
            out.extend(crate::push::request_url(crate::PushKind::Dhis2, url).err().map(|e| e.to_string()));
        }
        (out, mapping)
    }

    /// The authentication of the push, from the environment.
    fn auth(&self) -> Result<Auth> {
        Ok(match &self.user {
            Some(user) => {
                let variable = self.password_env.as_deref().unwrap_or(DHIS2_PASSWORD_ENV);
                let password = secret(Some(variable), variable, || format!("the DHIS2 password of {user}"))?.unwrap_or_default();
                Auth::Basic { user: user.clone(), password }
            }
            None => secret(self.token_env.as_deref(), DHIS2_TOKEN_ENV, || "the DHIS2 access token".to_string())?.map(Auth::ApiToken).unwrap_or_default(),
        })
    }

    /// Gathers the values, writes the files, then pushes; one line each.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Invalid`] listing the problems; [`crate::Error::MissingSecret`] before
    /// anything is sent; the gathering's errors ([`crate::Error::Unmapped`], …);
    /// [`crate::Error::PushNotAccepted`] when DHIS2 did not take the values (the push is in `export_log`).
    #[tracing::instrument(skip_all, fields(periods = ?self.periods))]
    pub async fn run(&self, ctx: &ExportContext<'_>) -> Result<ExportOutcome> {
        let (problems, mapping) = ctx.check(|c| self.check(c));
        refuse("the DHIS2 export", problems)?;
        let mapping = mapping.expect("a request without problems has read its mapping");
        let auth = match &self.push {
            Some(_) => Some(self.auth()?),
            None => None,
        };
        let scope = Dhis2Scope::resolve(ctx.registry, &self.period_codes(ctx.today), &self.units, &self.levels)?;
        let export = Dhis2Export::gather(ctx.engine, &scope, &mapping, &self.mapping, self.data_set.clone(), self.skip_unmapped).await?;
        let mut line = format!("{}: {} value(s)", scope.label(), export.set.data_values.len());
        if export.skipped > 0 {
            let list = |items: &[String]| if items.is_empty() { "none".to_string() } else { items.join(", ") };
            line.push_str(&format!(
                "; {} left out without a DHIS2 id (units: {}; data elements: {})",
                export.skipped,
                list(&export.unmapped_units),
                list(&export.unmapped_elements)
            ));
        }
        let record = ctx.record(scope.label());
        let mut outcome = ExportOutcome { lines: vec![line], files: Vec::new(), pushes: Vec::new(), record };
        for format in self.formats.iter().filter_map(|f| Dhis2Format::parse(f)) {
            let target = ctx.target(self.to.as_deref(), &scope.file_name(format), format.extension(), Bare::Folder)?;
            let url = target.store(export.to_bytes(format)?, &outcome.record).await?;
            outcome.lines.push(format!("written to {url}"));
            outcome.files.push(url);
        }
        if let (Some(target), Some(auth)) = (&self.push, auth) {
            let request = export.push_request(&scope, target, auth, self.push_retry.policy(), self.force, &outcome.record);
            let entry = push_accepted(ctx.lake, &request).await?;
            outcome.lines.push(entry.one_line());
            outcome.pushes.push(entry);
        }
        Ok(outcome)
    }
}
