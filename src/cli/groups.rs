//! `porta group ...`

use clap::Subcommand;

use crate::config::Settings;
use crate::manage::Actor;
use crate::manage::groups as manage;

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List groups with their members.
    List,
    /// Remove a group (its memberships, client admissions and role grants go with it).
    Remove { name: String },
    /// Put a user in a group.
    AddMember {
        name: String,
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// Take a user out of a group.
    RemoveMember {
        name: String,
        #[arg(allow_hyphen_values = true)]
        username: String,
    },
    /// List a group's members.
    Members { name: String },
}

pub fn run(cmd: &GroupCommand, json: bool, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let actor = Actor::cli();
    let mut conn = super::open(settings)?;
    match cmd {
        GroupCommand::Add { name, description } => {
            let g = manage::add(&mut conn, name, description.as_deref(), &actor, now)?;
            super::output(json, &g, || format!("created group {}", g.name))
        }
        GroupCommand::List => {
            let list = manage::list(&mut conn)?;
            super::output(json, &list, || {
                let mut out = format!("{:<24} {:<8} DESCRIPTION", "GROUP", "MEMBERS");
                for g in &list {
                    out.push_str(&format!(
                        "\n{:<24} {:<8} {}",
                        g.name,
                        g.members.len(),
                        g.description.as_deref().unwrap_or("")
                    ));
                }
                out
            })
        }
        GroupCommand::Remove { name } => {
            manage::remove(&mut conn, name, &actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "group": name, "removed": true }),
                || format!("removed group {name}"),
            )
        }
        GroupCommand::AddMember { name, username } => {
            let added = manage::add_member(&mut conn, name, username, &actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "group": name, "username": username, "changed": added }),
                || match added {
                    true => format!("added {username} to {name}"),
                    false => format!("{username} was already in {name}"),
                },
            )
        }
        GroupCommand::RemoveMember { name, username } => {
            let removed = manage::remove_member(&mut conn, name, username, &actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "group": name, "username": username, "changed": removed }),
                || match removed {
                    true => format!("removed {username} from {name}"),
                    false => format!("{username} was not in {name}"),
                },
            )
        }
        GroupCommand::Members { name } => {
            let members = manage::members(&mut conn, name)?;
            super::output(
                json,
                &serde_json::json!({ "group": name, "members": members }),
                || members.join("\n"),
            )
        }
    }
}
