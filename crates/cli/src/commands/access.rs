//! Who may use the service: `tonghop token` (API tokens) and `tonghop passwd` (PostgreSQL users).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use tonghop_core::Problems;

use crate::Loaded;

/// The roles `tonghop token` gives.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum RoleArg {
    Commune,
    District,
    Province,
    Agency,
    Analyst,
    Admin,
}

/// The flags of `tonghop token`: a new token, or `list` / `revoke`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    pub(crate) action: Option<TokenAction>,
    /// A name for logs and submissions.submitted_by (e.g. xa-phuc-xa).
    #[arg(long, required = true)]
    pub(crate) name: Option<String>,
    /// What the token may do.
    #[arg(long, value_enum, required = true)]
    pub(crate) role: Option<RoleArg>,
    /// The unit of a commune, district or province token, epoch:code (e.g. post2025:00004).
    #[arg(long)]
    pub(crate) unit: Option<String>,
    /// The agency of an agency token (catalog/plans/agencies.csv, e.g. NA_SYT).
    #[arg(long)]
    pub(crate) agency: Option<String>,
    /// The last day (Vietnam time) the token is valid, e.g. 2027-06-30; or a date and time.
    #[arg(long)]
    pub(crate) expires: Option<String>,
}

/// `tonghop token list` and `tonghop token revoke`.
#[derive(clap::Subcommand)]
pub(crate) enum TokenAction {
    /// List the tokens and PostgreSQL users of a configuration file: name, role, unit, expiry, state.
    List {
        /// The service configuration.
        #[arg(long, env = "TONGHOP_CONFIG")]
        config: PathBuf,
    },
    /// Remove a token from a configuration file (its comments and layout kept). A running service
    /// refuses it within seconds (it reads the file again when it changes).
    Revoke {
        /// The token's name.
        name: String,
        /// The service configuration.
        #[arg(long, env = "TONGHOP_CONFIG")]
        config: PathBuf,
    },
}

/// The flags of `tonghop passwd`.
#[derive(clap::Args)]
pub(crate) struct PasswdArgs {
    /// The login name.
    pub(crate) user: String,
}

/// `tonghop token`.
pub(crate) fn token(ctx: &Loaded, args: TokenArgs) -> Result<()> {
    let TokenArgs { action, name, role, unit, agency, expires } = args;
    match action {
        Some(TokenAction::List { config }) => return list(&config),
        Some(TokenAction::Revoke { name, config }) => return revoke(&config, &name),
        None => {}
    }
    let (Some(name), Some(role)) = (name, role) else { bail!("a new token needs --name and --role") };
    use tonghop_server::auth::Role;
    let role = match role {
        RoleArg::Commune => Role::Commune,
        RoleArg::District => Role::District,
        RoleArg::Province => Role::Province,
        RoleArg::Agency => Role::Agency,
        RoleArg::Analyst => Role::Analyst,
        RoleArg::Admin => Role::Admin,
    };
    let (token, mut entry) = tonghop_server::auth::new_token(&name, role, unit, agency);
    entry.expires = expires.map(|e| e.parse().with_context(|| format!("--expires {e:?}: write a date, e.g. 2027-06-30"))).transpose()?;
    let mut problems = Problems::from(entry.problems());
    problems.extend(tonghop_server::auth::Tokens::unknown_units(std::slice::from_ref(&entry), &ctx.registry));
    problems.extend(tonghop_server::auth::Tokens::unknown_agencies(std::slice::from_ref(&entry), &ctx.catalog.plans));
    problems.into_result().context("the token")?;
    eprintln!("token (give it to its holder now; it is not stored and cannot be shown again):");
    println!("{token}");
    eprintln!("\nadd to the service configuration:\n\n[[tokens]]\n{}", toml::to_string(&entry)?);
    Ok(())
}

/// `tonghop passwd`.
pub(crate) fn passwd(args: PasswdArgs) -> Result<()> {
    let PasswdArgs { user } = args;
    let password = match std::env::var("TONGHOP_PG_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if password.len() < 8 {
        bail!("the password is shorter than 8 characters; choose a longer one");
    }
    let entry = tonghop_server::auth::PgUser::new(&user, &password);
    println!("[[postgres.users]]\n{}", toml::to_string(&entry)?);
    Ok(())
}

/// `tonghop token list`.
fn list(path: &Path) -> Result<()> {
    let config = tonghop_server::ServerConfig::load(Some(path))?;
    let now = chrono::Utc::now();
    let local = |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&tonghop_core::period::vietnam_offset()).format("%Y-%m-%d %H:%M");
    let state = |at: Option<chrono::DateTime<chrono::Utc>>| match at {
        Some(at) if at <= now => format!("expired {}", local(at)),
        Some(at) => format!("valid until {}", local(at)),
        None => "valid".into(),
    };
    println!("{:<28} {:<9} {:<18} state", "token", "role", "unit or agency");
    for t in &config.tokens {
        let at = t.expires.as_ref().and_then(|e| tonghop_server::auth::expiry_instant(e).ok());
        println!("{:<28} {:<9} {:<18} {}", t.name, format!("{:?}", t.role).to_lowercase(), t.unit.as_deref().or(t.agency.as_deref()).unwrap_or("-"), state(at));
    }
    println!("\n{:<28} state", "postgres user");
    for u in &config.postgres.users {
        let at = u.valid_until.as_ref().and_then(|e| tonghop_server::auth::expiry_instant(e).ok());
        println!("{:<28} {}", u.name, state(at));
    }
    Ok(())
}

/// `tonghop token revoke`: the file is rewritten whole (a new file renamed over it), so a service
/// reading it meanwhile sees the old or the new content, never half of it.
fn revoke(path: &Path, name: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut doc: toml_edit::DocumentMut = text.parse().with_context(|| path.display().to_string())?;
    let Some(tokens) = doc.get_mut("tokens").and_then(|t| t.as_array_of_tables_mut()) else {
        bail!("{}: no [[tokens]] in this file", path.display());
    };
    let before = tokens.len();
    tokens.retain(|t| t.get("name").and_then(|v| v.as_str()) != Some(name));
    if tokens.len() == before {
        let names: Vec<&str> = tokens.iter().filter_map(|t| t.get("name").and_then(|v| v.as_str())).collect();
        bail!("{}: no token named {name:?} (tokens: {})", path.display(), names.join(", "));
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, doc.to_string()).with_context(|| format!("{}: cannot write beside it", path.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&temporary, meta.permissions());
    }
    std::fs::rename(&temporary, path).with_context(|| path.display().to_string())?;
    eprintln!("token {name:?} removed from {}; a running service refuses it within seconds", path.display());
    Ok(())
}
