//! The subcommands that have outgrown `main.rs`, one file each.

pub(crate) mod export;
