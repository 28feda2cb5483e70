//! `porta user mfa list USERNAME` and `porta user mfa reset USERNAME`: a user's second factors from the command
//! line; the reset is the way back in for someone (an administrator too) who lost them.

use clap::Subcommand;

use crate::clock::format_time;
use crate::config::Settings;
use crate::db::models::users;
use crate::manage::Actor;
use crate::manage::mfa;

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// List a user's factors (type, name, created, last used) and unused recovery codes.
    List {
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// Remove every factor and recovery code of a user, and end their sessions.
    Reset {
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
}

pub fn run(cmd: &MfaCommand, json: bool, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let mut conn = super::open(settings)?;
    match cmd {
        MfaCommand::List { username } => {
            let user = users::by_username(&mut conn, username)?
                .ok_or_else(|| anyhow::anyhow!("no user named {username:?}"))?;
            let list = mfa::list(&mut conn, &user.id)?;
            super::output(json, &list, || {
                let mut out = format!("{:<10} {:<24} {:<22} LAST USED", "TYPE", "NAME", "CREATED");
                for f in &list.factors {
                    out.push_str(&format!(
                        "\n{:<10} {:<24} {:<22} {}",
                        f.kind,
                        f.name,
                        format_time(f.created_at),
                        f.last_used_at
                            .map(format_time)
                            .unwrap_or_else(|| "never".into())
                    ));
                }
                if list.factors.is_empty() {
                    out.push_str("\n(no factors: password only)");
                }
                out.push_str(&format!(
                    "\nrecovery codes left: {}",
                    list.recovery_codes_left
                ));
                out
            })
        }
        MfaCommand::Reset { username } => {
            let n = mfa::reset(&mut conn, username, &Actor::cli(), now)?;
            super::output(
                json,
                &serde_json::json!({ "username": username, "factors_removed": n }),
                || {
                    format!(
                        "removed {n} factor(s) and the recovery codes of {username}; their sessions ended"
                    )
                },
            )
        }
    }
}
