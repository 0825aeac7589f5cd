//! Who may use the service: `tonghop token` (API tokens) and `tonghop passwd` (PostgreSQL users).

use anyhow::{bail, Context, Result};
use tonghop_core::Problems;

use crate::Loaded;

/// The roles `tonghop token` gives.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum RoleArg {
    Commune,
    District,
    Province,
    Analyst,
    Admin,
}

/// The flags of `tonghop token`.
#[derive(clap::Args)]
pub(crate) struct TokenArgs {
    /// A name for logs and submissions.submitted_by (e.g. xa-phuc-xa).
    #[arg(long)]
    pub(crate) name: String,
    /// What the token may do.
    #[arg(long, value_enum)]
    pub(crate) role: RoleArg,
    /// The unit of a commune, district or province token, epoch:code (e.g. post2025:00004).
    #[arg(long)]
    pub(crate) unit: Option<String>,
}

/// The flags of `tonghop passwd`.
#[derive(clap::Args)]
pub(crate) struct PasswdArgs {
    /// The login name.
    pub(crate) user: String,
}

/// `tonghop token`.
pub(crate) fn token(ctx: &Loaded, args: TokenArgs) -> Result<()> {
    let TokenArgs { name, role, unit } = args;
    use tonghop_server::auth::Role;
    let role = match role {
        RoleArg::Commune => Role::Commune,
        RoleArg::District => Role::District,
        RoleArg::Province => Role::Province,
        RoleArg::Analyst => Role::Analyst,
        RoleArg::Admin => Role::Admin,
    };
    let (token, entry) = tonghop_server::auth::new_token(&name, role, unit);
    let mut problems = Problems::from(entry.problems());
    problems.extend(tonghop_server::auth::Tokens::unknown_units(std::slice::from_ref(&entry), &ctx.registry));
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
