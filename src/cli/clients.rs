//! `porta client ...`

use clap::Subcommand;

use crate::config::Settings;
use crate::db::models::clients;
use crate::manage::Actor;
use crate::manage::clients::{
    self as manage, ClientOptions, ClientUpdate, NewClientInput, Registered,
};

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
        /// authorization_code, refresh_token, client_credentials or urn:ietf:params:oauth:grant-type:device_code
        /// (short: device_code) (repeatable).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Skip the consent page for this client.
        #[arg(long)]
        first_party: bool,
        /// Where logout tokens are POSTed when a session this client took part in ends (https unless loopback).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// The client needs `sid` in logout tokens (Porta always sends it).
        #[arg(long)]
        backchannel_logout_session_required: bool,
        /// Refuse authorization requests without PKCE, even for a confidential client.
        #[arg(long)]
        require_pkce: bool,
        /// Only members of this group may sign in (repeatable; none: everyone).
        #[arg(long = "allowed-group")]
        allowed_groups: Vec<String>,
        /// An API scope the client may be granted (repeatable).
        #[arg(long = "allowed-scope")]
        allowed_scopes: Vec<String>,
        /// Every sign-in to this client is multi-factor (a second factor or a passkey).
        #[arg(long)]
        require_mfa: bool,
        /// An origin (scheme://host[:port]) of a browser app that calls the token, userinfo and revocation
        /// endpoints from JavaScript (repeatable).
        #[arg(long = "web-origin")]
        web_origins: Vec<String>,
        /// Accept authorization requests only through a pushed request (`/par`, RFC 9126).
        #[arg(long)]
        require_par: bool,
        /// Issue tokens only with a DPoP proof (RFC 9449).
        #[arg(long)]
        require_dpop: bool,
        /// The algorithm of the client's ID tokens: RS256 (default), ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// The algorithm of the client's access tokens: RS256 (default), ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        access_token_alg: Option<String>,
    },
    /// Change a client's settings; what is not named stays as it is.
    Update {
        /// Client ids are base64url and may start with '-'.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// A new display name.
        #[arg(long)]
        name: Option<String>,
        /// Replaces the redirect URIs (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Replaces the post-logout redirect URIs (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// Sets the back-channel logout URI.
        #[arg(long, conflicts_with = "no_backchannel_logout")]
        backchannel_logout_uri: Option<String>,
        /// Removes the back-channel logout URI: the client is no longer sent logout tokens.
        #[arg(long)]
        no_backchannel_logout: bool,
        /// Whether the client needs `sid` in logout tokens (Porta always sends it).
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        backchannel_logout_session_required: Option<bool>,
        /// Whether authorization requests without PKCE are refused.
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        require_pkce: Option<bool>,
        /// Replaces the groups whose members may sign in (repeatable).
        #[arg(long = "allowed-group", conflicts_with = "no_allowed_groups")]
        allowed_groups: Vec<String>,
        /// Lets everyone sign in again (removes the allowed groups).
        #[arg(long)]
        no_allowed_groups: bool,
        /// Replaces the API scopes the client may be granted (repeatable).
        #[arg(long = "allowed-scope", conflicts_with = "no_allowed_scopes")]
        allowed_scopes: Vec<String>,
        /// Removes every allowed API scope.
        #[arg(long)]
        no_allowed_scopes: bool,
        /// Whether every sign-in to this client must be multi-factor.
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        require_mfa: Option<bool>,
        /// Replaces the web origins of a browser app (repeatable).
        #[arg(long = "web-origin", conflicts_with = "no_web_origins")]
        web_origins: Vec<String>,
        /// Removes every web origin: no more CORS answers for this client.
        #[arg(long)]
        no_web_origins: bool,
        /// Whether authorization requests must come through `/par`.
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        require_par: Option<bool>,
        /// Whether tokens need a DPoP proof.
        #[arg(long, value_name = "true|false", action = clap::ArgAction::Set)]
        require_dpop: Option<bool>,
        /// The algorithm of the client's ID tokens: RS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        id_token_alg: Option<String>,
        /// The algorithm of the client's access tokens: RS256, ES256 or EdDSA.
        #[arg(long, value_name = "ALG")]
        access_token_alg: Option<String>,
    },
    /// Manage a client's app roles.
    #[command(subcommand)]
    Role(RoleCommand),
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

#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Grant ROLE in the client to the members of each --group (replaces the role's groups).
    Add {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        role: String,
        /// A group whose members get the role (repeatable, at least one).
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
    /// List the client's roles and the groups that grant them.
    List {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Remove a role from the client.
    Remove {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        role: String,
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
            backchannel_logout_uri,
            backchannel_logout_session_required,
            require_pkce,
            allowed_groups,
            allowed_scopes,
            require_mfa,
            web_origins,
            require_par,
            require_dpop,
            id_token_alg,
            access_token_alg,
        } => {
            let input = NewClientInput {
                name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                post_logout_redirect_uris: post_logout_redirect_uris.clone(),
                is_public: *public,
                grant_types: grant_types.clone(),
                first_party: *first_party,
            };
            let options = ClientOptions {
                backchannel_logout_uri: backchannel_logout_uri.clone(),
                backchannel_logout_session_required: *backchannel_logout_session_required,
                require_pkce: *require_pkce,
                allowed_groups: allowed_groups.clone(),
                allowed_scopes: allowed_scopes.clone(),
                require_mfa: *require_mfa,
                web_origins: web_origins.clone(),
                require_par: *require_par,
                require_dpop: *require_dpop,
                id_token_alg: id_token_alg.clone(),
                access_token_alg: access_token_alg.clone(),
                enabled_algs: Some(crate::keys::normalized(&settings.keys.algorithms)),
            };
            let r = manage::add_with(&mut conn, &input, &options, &actor, now)?;
            print_registered(json, &r)
        }
        ClientCommand::Update {
            client_id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            no_backchannel_logout,
            backchannel_logout_session_required,
            require_pkce,
            allowed_groups,
            no_allowed_groups,
            allowed_scopes,
            no_allowed_scopes,
            require_mfa,
            web_origins,
            no_web_origins,
            require_par,
            require_dpop,
            id_token_alg,
            access_token_alg,
        } => {
            let list = |v: &Vec<String>, none: bool| (none || !v.is_empty()).then(|| v.clone());
            let change = ClientUpdate {
                name: name.clone(),
                redirect_uris: (!redirect_uris.is_empty()).then(|| redirect_uris.clone()),
                post_logout_redirect_uris: (!post_logout_redirect_uris.is_empty())
                    .then(|| post_logout_redirect_uris.clone()),
                backchannel_logout_uri: if *no_backchannel_logout {
                    Some(None)
                } else {
                    backchannel_logout_uri.clone().map(Some)
                },
                backchannel_logout_session_required: *backchannel_logout_session_required,
                require_pkce: *require_pkce,
                allowed_groups: list(allowed_groups, *no_allowed_groups),
                allowed_scopes: list(allowed_scopes, *no_allowed_scopes),
                require_mfa: *require_mfa,
                web_origins: list(web_origins, *no_web_origins),
                require_par: *require_par,
                require_dpop: *require_dpop,
                id_token_alg: id_token_alg.clone(),
                access_token_alg: access_token_alg.clone(),
                enabled_algs: Some(crate::keys::normalized(&settings.keys.algorithms)),
            };
            let c = manage::update(&mut conn, client_id, &change, &actor, now)?;
            let access = crate::manage::access::of_client(&mut conn, client_id)?;
            let mut value = serde_json::to_value(&c)?;
            value["allowed_groups"] = serde_json::json!(access.allowed_groups);
            value["allowed_scopes"] = serde_json::json!(access.allowed_scopes);
            super::output(json, &value, || {
                format!(
                    "updated client {}\n  name: {}\n  redirect URIs: {}\n  post-logout redirect URIs: {}\n  \
                     back-channel logout URI: {}{}\n  require PKCE: {}\n  require MFA: {}\n  allowed groups: {}\n  \
                     allowed API scopes: {}\n  web origins: {}\n  require PAR: {}\n  require DPoP: {}\n  \
                     ID token algorithm: {}\n  access token algorithm: {}",
                    c.id,
                    c.name,
                    c.redirect_uris.join(" "),
                    c.post_logout_redirect_uris.join(" "),
                    c.backchannel_logout_uri.as_deref().unwrap_or("(none)"),
                    if c.backchannel_logout_session_required {
                        " (session required)"
                    } else {
                        ""
                    },
                    c.require_pkce,
                    c.require_mfa,
                    if access.allowed_groups.is_empty() {
                        "(everyone)".to_string()
                    } else {
                        access.allowed_groups.join(" ")
                    },
                    access.allowed_scopes.join(" "),
                    c.web_origins.join(" "),
                    c.require_par,
                    c.require_dpop,
                    c.id_token_alg,
                    c.access_token_alg
                )
            })
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
        ClientCommand::Role(cmd) => run_role(cmd, json, &mut conn, &actor, now),
    }
}

fn run_role(
    cmd: &RoleCommand,
    json: bool,
    conn: &mut crate::db::AnyConnection,
    actor: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    use crate::manage::roles;
    match cmd {
        RoleCommand::Add {
            client_id,
            role,
            groups,
        } => {
            let r = roles::add(conn, client_id, role, groups, actor, now)?;
            super::output(json, &r, || {
                format!(
                    "role {} in {client_id}: groups {}",
                    r.role,
                    r.groups.join(" ")
                )
            })
        }
        RoleCommand::List { client_id } => {
            let list = roles::list(conn, client_id)?;
            super::output(json, &list, || {
                let mut out = format!("{:<24} GROUPS", "ROLE");
                for r in &list {
                    out.push_str(&format!("\n{:<24} {}", r.role, r.groups.join(" ")));
                }
                out
            })
        }
        RoleCommand::Remove { client_id, role } => {
            roles::remove(conn, client_id, role, actor, now)?;
            super::output(
                json,
                &serde_json::json!({ "client_id": client_id, "role": role, "removed": true }),
                || format!("removed role {role} from {client_id}"),
            )
        }
    }
}
