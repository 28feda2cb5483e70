//! A small API (resource server) protected by Porta's access tokens, verified with the JWKS alone: no call to
//! Porta per request, no shared secret. See `resource_server/api.rs` for the rules it checks.
//!
//! ```text
//! porta api add --identifier https://api.example.com --name "Items" \
//!     --scope "items:read=Read your items" --scope "items:write=Change your items"
//! porta client add --name "Worker" --grant-type client_credentials --allowed-scope items:read
//! cargo run --example resource_server -- --issuer http://127.0.0.1:8080 --audience https://api.example.com --port 4000
//! TOKEN=$(curl -s -u ID:SECRET -d grant_type=client_credentials -d scope=items:read \
//!     http://127.0.0.1:8080/token | jq -r .access_token)
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:4000/items
//! ```
//!
//! Arguments or environment: `--issuer` / `RS_ISSUER` (default `http://127.0.0.1:8080`), `--audience` /
//! `RS_AUDIENCE` (this API's identifier), `--port` / `RS_PORT` (default 4000), `--read-scope` and
//! `--write-scope` (default `items:read`, `items:write`). The JWKS URL comes from Porta's discovery document.

use std::sync::Arc;

#[path = "resource_server/api.rs"]
mod api;

fn arg(name: &str, env: &str, default: Option<&str>) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == &format!("--{name}"))
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
        .or_else(|| default.map(str::to_string))
}

#[expect(
    clippy::disallowed_methods,
    reason = "a stand-alone API reads the real time; Porta's own code goes through clock.rs"
)]
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let issuer = arg("issuer", "RS_ISSUER", Some("http://127.0.0.1:8080")).unwrap_or_default();
    let audience = arg("audience", "RS_AUDIENCE", None)
        .ok_or_else(|| anyhow::anyhow!("--audience (this API's identifier) is required"))?;
    let port: u16 = arg("port", "RS_PORT", Some("4000"))
        .unwrap_or_default()
        .parse()?;
    let discovery: serde_json::Value =
        reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await?
            .json()
            .await?;
    let jwks_uri = discovery["jwks_uri"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("discovery has no jwks_uri"))?
        .to_string();
    let config = api::Config {
        issuer,
        jwks_uri,
        audience,
        read_scope: arg("read-scope", "RS_READ_SCOPE", Some("items:read")).unwrap_or_default(),
        write_scope: arg("write-scope", "RS_WRITE_SCOPE", Some("items:write")).unwrap_or_default(),
        now: Arc::new(system_now),
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    println!(
        "API on http://127.0.0.1:{port}: GET /items ({}), POST /items ({})",
        config.read_scope, config.write_scope
    );
    api::server(config, listener)?.await?;
    Ok(())
}
