//! `porta client ...`

use clap::Subcommand;

use crate::config::Settings;
use crate::db::models::clients;
use crate::manage::Actor;
use crate::manage::clients::{self as manage, NewClientInput, Registered};

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a relying party. The secret is printed once.
    Add {
        #[arg(long)]
        name: String,
        /// An allowed redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// An allowed post-logout redirect URI (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE required).
        #[arg(long)]
        public: bool,
        /// authorization_code, refresh_token or client_credentials (repeatable).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Skip the consent page for this client.
        #[arg(long)]
        first_party: bool,
    },
    /// List clients.
    List,
    /// Remove a client.
    Remove {
        /// Client ids are base64url and may start with '-'.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Issue a new secret; the old one stops working at once.
    RotateSecret {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

fn print_registered(json: bool, r: &Registered) -> anyhow::Result<()> {
    super::output(json, r, || match &r.client_secret {
        Some(s) => format!(
            "client_id:     {}\nclient_secret: {s}\n(the secret is shown only now)",
            r.client_id
        ),
        None => format!("client_id: {} (public client, no secret)", r.client_id),
    })
}

pub fn run(cmd: &ClientCommand, json: bool, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let actor = Actor::cli();
    let mut conn = super::open(settings)?;
    match cmd {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            grant_types,
            first_party,
        } => {
            let input = NewClientInput {
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                is_public: *public,
                grant_types: grant_types.clone(),
                first_party: *first_party,
            };
            let r = manage::add(&mut conn, &input, &actor, now)?;
            print_registered(json, &r)
        }
        ClientCommand::List => {
            let list = clients::list(&mut conn)?;
            super::output(json, &list, || {
                let mut out = format!(
                    "{:<24} {:<24} {:<12} REDIRECT URIS",
                    "CLIENT ID", "NAME", "TYPE"
                );
                for c in &list {
                    out.push_str(&format!(
                        "\n{:<24} {:<24} {:<12} {}",
                        c.id,
                        c.name,
                        if c.is_public {
                            "public"
                        } else {
                            "confidential"
                        },
                        c.redirect_uris.join(" ")
                    ));
                }
                out
            })
        }
        ClientCommand::Remove { client_id } => {
            manage::remove(&mut conn, client_id, &actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "client_id": client_id, "removed": true }),
                || format!("removed client {client_id}"),
            )
        }
        ClientCommand::RotateSecret { client_id } => {
            let r = manage::rotate_secret(&mut conn, client_id, &actor, now)?;
            print_registered(json, &r)
        }
    }
}
