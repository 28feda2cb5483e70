//! `porta user ...`

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;

use crate::config::Settings;
use crate::db::models::users;
use crate::manage::Actor;
use crate::manage::users::{self as manage, NewUserInput};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Grant access to the admin console.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Refuse sign-in for a user.
    Disable {
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// Allow sign-in again.
    Enable {
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// Set a new password.
    SetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Show a user's profile, groups and sessions.
    Show {
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// Change a user's profile; what is not named stays as it is (an empty value clears it).
    Update {
        #[arg(allow_hyphen_values = true)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        email_verified: Option<bool>,
    },
    /// Remove a user: their sessions end and their tokens, consents and memberships go.
    Remove {
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// A user's second factors: list them, or remove them all (`porta user mfa reset`).
    #[command(subcommand)]
    Mfa(super::mfa::MfaCommand),
}

/// Reads a password from stdin (`--password-stdin`) or asks twice on a terminal.
fn read_password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!("no terminal to ask for a password: pass --password-stdin");
    }
    let pw = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Repeat password: ")?;
    if pw != again {
        anyhow::bail!("the passwords do not match");
    }
    Ok(pw)
}

pub fn run(cmd: &UserCommand, json: bool, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let actor = Actor::cli();
    match cmd {
        UserCommand::Add {
            username,
            email,
            name,
            admin,
            password_stdin,
        } => {
            let password = read_password(*password_stdin)?;
            let mut conn = super::open(settings)?;
            let user = manage::add(
                &mut conn,
                &NewUserInput {
                    username: username.clone(),
                    email: email.clone(),
                    name: name.clone(),
                    password,
                    is_admin: *admin,
                },
                &settings.passwords,
                &actor,
                now,
            )?;
            super::output(json, &user, || {
                format!("created user {} ({})", user.username, user.id)
            })
        }
        UserCommand::List => {
            let mut conn = super::open(settings)?;
            let list = users::list(&mut conn, None, i64::MAX, 0)?;
            super::output(json, &list, || {
                let mut out = format!(
                    "{:<24} {:<30} {:<6} {:<8}",
                    "USERNAME", "EMAIL", "ADMIN", "STATUS"
                );
                for u in &list {
                    out.push_str(&format!(
                        "\n{:<24} {:<30} {:<6} {:<8}",
                        u.username,
                        u.email.as_deref().unwrap_or("-"),
                        if u.is_admin { "yes" } else { "no" },
                        if u.disabled { "disabled" } else { "active" }
                    ));
                }
                out
            })
        }
        UserCommand::Disable { username } | UserCommand::Enable { username } => {
            let disable = matches!(cmd, UserCommand::Disable { .. });
            let mut conn = super::open(settings)?;
            manage::set_disabled(&mut conn, username, disable, &actor, now)?;
            let status = if disable { "disabled" } else { "enabled" };
            super::output(
                json,
                &serde_json::json!({ "username": username, "status": status }),
                || format!("{status} user {username}"),
            )
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let password = read_password(*password_stdin)?;
            let mut conn = super::open(settings)?;
            manage::set_password(
                &mut conn,
                username,
                &password,
                &settings.passwords,
                &actor,
                now,
            )?;
            super::output(json, &serde_json::json!({ "username": username }), || {
                format!("password changed for {username}")
            })
        }
        UserCommand::Show { username } => {
            let mut conn = super::open(settings)?;
            let d = manage::show(&mut conn, username)?;
            super::output(json, &d, || {
                let u = &d.user;
                format!(
                    "username:       {}\nid:             {}\nname:           {}\nemail:          {}{}\n\
                     admin:          {}\nstatus:         {}\ngroups:         {}\nsessions:       {}",
                    u.username,
                    u.id,
                    u.name.as_deref().unwrap_or("-"),
                    u.email.as_deref().unwrap_or("-"),
                    if u.email_verified { " (verified)" } else { "" },
                    if u.is_admin { "yes" } else { "no" },
                    if u.disabled { "disabled" } else { "active" },
                    if d.groups.is_empty() {
                        "-".to_string()
                    } else {
                        d.groups.join(" ")
                    },
                    d.sessions
                )
            })
        }
        UserCommand::Update {
            username,
            email,
            name,
            email_verified,
        } => {
            let mut conn = super::open(settings)?;
            let change = users::ProfileChange {
                email: email.clone().map(Some),
                name: name.clone().map(Some),
                email_verified: *email_verified,
            };
            let u = manage::update(&mut conn, username, &change, &actor, now)?;
            super::output(json, &u, || format!("updated user {}", u.username))
        }
        UserCommand::Remove { username } => {
            let mut conn = super::open(settings)?;
            manage::remove(&mut conn, username, &actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "username": username, "removed": true }),
                || format!("removed user {username}"),
            )
        }
        UserCommand::Mfa(cmd) => super::mfa::run(cmd, json, settings, now),
    }
}
