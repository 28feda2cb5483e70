//! `porta api ...`: APIs (resource servers) and their scopes.

use clap::Subcommand;

use crate::config::Settings;
use crate::manage::Actor;
use crate::manage::apis as manage;

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// Register an API: its identifier is the access tokens' `aud` and the RFC 8707 `resource`.
    Add {
        /// An absolute URI, e.g. https://api.example.com
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: String,
        /// A scope, optionally with the description the consent page shows: SCOPE[=description] (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// List APIs with their scopes.
    List,
    /// Change an API's name or replace its scopes.
    Update {
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces the scopes: SCOPE[=description] (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Remove an API with its scopes (clients lose them).
    Remove {
        #[arg(long)]
        identifier: String,
    },
}

fn describe(a: &manage::ApiInfo) -> String {
    let mut out = format!("{} ({})", a.identifier, a.name);
    for s in &a.scopes {
        out.push_str(&format!(
            "\n  {:<24} {}",
            s.scope,
            s.description.as_deref().unwrap_or("")
        ));
    }
    out
}

pub fn run(cmd: &ApiCommand, json: bool, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let actor = Actor::cli();
    let mut conn = super::open(settings)?;
    match cmd {
        ApiCommand::Add {
            identifier,
            name,
            scopes,
        } => {
            let a = manage::add(&mut conn, identifier, name, scopes, &actor, now)?;
            super::output(json, &a, || format!("created API {}", describe(&a)))
        }
        ApiCommand::List => {
            let list = manage::list(&mut conn)?;
            super::output(json, &list, || {
                list.iter().map(describe).collect::<Vec<_>>().join("\n")
            })
        }
        ApiCommand::Update {
            identifier,
            name,
            scopes,
        } => {
            let scopes = (!scopes.is_empty()).then_some(scopes.as_slice());
            let a = manage::update(&mut conn, identifier, name.as_deref(), scopes, &actor, now)?;
            super::output(json, &a, || format!("updated API {}", describe(&a)))
        }
        ApiCommand::Remove { identifier } => {
            manage::remove(&mut conn, identifier, &actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "identifier": identifier, "removed": true }),
                || format!("removed API {identifier}"),
            )
        }
    }
}
