//! The `porta` command line: argument definitions and dispatch. Every command takes the same `--config`.

mod apis;
mod clients;
mod db;
mod groups;
mod keys;
mod mfa;
mod users;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "porta",
    version,
    about = "Porta: an OpenID Connect single-sign-on identity provider"
)]
pub struct Cli {
    /// TOML config file (default: porta.toml when present).
    #[arg(long, global = true, env = "PORTA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Porta over HTTP.
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Manage groups and their members.
    #[command(subcommand)]
    Group(groups::GroupCommand),
    /// Manage relying-party clients.
    #[command(subcommand)]
    Client(clients::ClientCommand),
    /// Manage APIs (resource servers) and their scopes.
    #[command(subcommand)]
    Api(apis::ApiCommand),
    /// Manage the signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Move the data to another database.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Write a consistent copy of the SQLite database while Porta keeps serving (PostgreSQL: use pg_dump).
    Backup {
        /// The new file to write.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration and print the effective settings (secrets hidden).
    Check,
}

/// Loads the settings or fails with one line naming the setting.
pub fn load_settings(cli: &Cli) -> anyhow::Result<Settings> {
    Settings::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

/// Runs a non-serving command.
pub fn run(cli: &Cli, settings: Settings) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match &cli.command {
        Command::Serve => unreachable!("serve is started by main"),
        Command::Config(ConfigCommand::Check) => {
            if cli.json {
                let mut v = serde_json::to_value(&settings)?;
                v["database_url"] = serde_json::Value::String(settings.redacted_database_url());
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", settings.to_toml());
            }
            Ok(())
        }
        Command::Migrate => {
            let db = crate::db::Db::connect(&settings.database_url, 1)?;
            let applied = db.migrate().context("applying migrations")?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied {m}");
            }
            Ok(())
        }
        Command::User(cmd) => users::run(cmd, cli.json, &settings, now),
        Command::Group(cmd) => groups::run(cmd, cli.json, &settings, now),
        Command::Client(cmd) => clients::run(cmd, cli.json, &settings, now),
        Command::Api(cmd) => apis::run(cmd, cli.json, &settings, now),
        Command::Keys(cmd) => keys::run(cmd, cli.json, &settings, now),
        Command::Backup { file } => backup(cli.json, &settings, file),
        Command::Db(cmd) => db::run(cmd, cli.json, &settings),
    }
}

/// `porta backup FILE`.
fn backup(json: bool, settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let mut conn = open(settings)?;
    let bytes = crate::db::backup::sqlite_backup(&mut conn, file)?;
    let shown = file.display().to_string();
    output(
        json,
        &serde_json::json!({ "file": shown, "bytes": bytes }),
        || {
            format!(
                "wrote {shown} ({bytes} bytes). Restore: stop Porta, copy it to the database_url's path, start. \
                 Keep the master key ({}) apart from backups: without it the signing keys cannot be opened.",
                settings.master_key_file.display()
            )
        },
    )
}

/// Opens the database for a management command.
fn open(settings: &Settings) -> anyhow::Result<crate::db::PooledConn> {
    let db = crate::startup::open_database(settings)?;
    Ok(db.conn()?)
}

/// Prints `value` as JSON, or `text` otherwise.
fn output<T: serde::Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_starting_with_a_hyphen_are_values_not_flags() {
        // Client ids and kids are base64url: about one in 64 starts with '-'.
        for args in [
            &["porta", "client", "remove", "-abc"][..],
            &["porta", "client", "rotate-secret", "-abc"],
            &["porta", "keys", "revoke", "-oYgl", "--reason", "x"],
            &["porta", "user", "disable", "-bob"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }
}
