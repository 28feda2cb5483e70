//! A small relying party for Porta, built on the standard `openidconnect` crate: discovery, the authorization
//! code flow with PKCE, the ID token verified from the JWKS (signature, nonce, at_hash), userinfo, a page showing
//! the claims, logout through Porta's `end_session_endpoint` (RP-Initiated Logout 1.0), and a back-channel
//! logout endpoint, `POST /backchannel-logout` (Back-Channel Logout 1.0), that ends the local sessions of an SSO
//! session Porta says has ended.
//!
//! ```text
//! porta client add --name "Demo" --first-party \
//!     --redirect-uri http://127.0.0.1:3000/callback --post-logout-redirect-uri http://127.0.0.1:3000/ \
//!     --backchannel-logout-uri http://127.0.0.1:3000/backchannel-logout --backchannel-logout-session-required
//! cargo run --example relying_party -- --issuer http://localhost:8080 --client-id ID --client-secret SECRET --port 3000
//! ```
//!
//! Settings come from arguments or the environment: `--issuer` / `RP_ISSUER` (default `http://localhost:8080`),
//! `--client-id` / `RP_CLIENT_ID`, `--client-secret` / `RP_CLIENT_SECRET` (leave out for a public client),
//! `--port` / `RP_PORT` (default 3000). Sessions live in memory; the session cookie's name carries the port, so
//! several relying parties on one host keep separate sessions.

use std::collections::HashMap;
use std::sync::Mutex;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreIdTokenClaims, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyAdditionalClaims,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};
use serde::Deserialize;

#[path = "relying_party/backchannel.rs"]
mod backchannel;

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
type CoreIdToken = IdToken<
    EmptyAdditionalClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

struct Config {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    port: u16,
}

impl Config {
    /// `--name value` arguments over `RP_*` environment variables over defaults.
    fn load() -> Result<Config, String> {
        let mut args: HashMap<String, String> = HashMap::new();
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            args.insert(name.to_string(), value);
        }
        let get = |name: &str, env: &str| {
            args.get(name)
                .cloned()
                .or_else(|| std::env::var(env).ok())
                .filter(|v| !v.is_empty())
        };
        Ok(Config {
            issuer: get("issuer", "RP_ISSUER").unwrap_or_else(|| "http://localhost:8080".into()),
            client_id: get("client-id", "RP_CLIENT_ID")
                .ok_or("set --client-id (or RP_CLIENT_ID)")?,
            client_secret: get("client-secret", "RP_CLIENT_SECRET"),
            port: get("port", "RP_PORT")
                .map(|p| p.parse().map_err(|_| format!("invalid port {p:?}")))
                .transpose()?
                .unwrap_or(3000),
        })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// A sign-in on its way: what the callback needs to finish it, keyed by `state`.
struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
}

/// A signed-in visitor.
struct Visitor {
    id_token: CoreIdToken,
    /// The Porta session (`sid`) and user (`sub`) behind it, matched by back-channel logout.
    sid: Option<String>,
    sub: String,
    claims: Vec<(String, String)>,
    userinfo: Vec<(String, String)>,
}

struct Rp {
    config: Config,
    client: Client,
    http: reqwest::Client,
    end_session: Option<openidconnect::EndSessionUrl>,
    /// Porta's JWKS, for logout tokens (fetched on the first one, again for an unknown kid).
    jwks_uri: String,
    jwks: Mutex<jsonwebtoken::jwk::JwkSet>,
    pending: Mutex<HashMap<String, Pending>>,
    visitors: Mutex<HashMap<String, Visitor>>,
}

impl Rp {
    fn cookie_name(&self) -> String {
        format!("rp_session_{}", self.config.port)
    }

    fn visitor_id(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(&self.cookie_name())
            .map(|c| c.value().to_string())
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = Config::load().map_err(std::io::Error::other)?;
    // No redirects: an OIDC client must not follow them (SSRF).
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(std::io::Error::other)?;
    let issuer = IssuerUrl::new(config.issuer.clone()).map_err(std::io::Error::other)?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
        .await
        .map_err(|e| {
            std::io::Error::other(format!("discovery at {} failed: {e}", config.issuer))
        })?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let jwks_uri = metadata.jwks_uri().url().to_string();
    let redirect =
        RedirectUrl::new(format!("{}/callback", config.base())).map_err(std::io::Error::other)?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(config.client_id.clone()),
        config.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect);
    let port = config.port;
    println!(
        "relying party on {} (issuer {})",
        config.base(),
        config.issuer
    );
    let rp = web::Data::new(Rp {
        config,
        client,
        http,
        end_session,
        jwks_uri,
        jwks: Mutex::new(jsonwebtoken::jwk::JwkSet { keys: Vec::new() }),
        pending: Mutex::new(HashMap::new()),
        visitors: Mutex::new(HashMap::new()),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(rp.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/logout", web::get().to(logout))
            .route(
                "/backchannel-logout",
                web::post().to(backchannel::backchannel_logout),
            )
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}

/// The claims page, or a sign-in link.
async fn home(rp: web::Data<Rp>, req: HttpRequest) -> HttpResponse {
    let visitors = rp.visitors.lock().unwrap_or_else(|p| p.into_inner());
    let body = match rp.visitor_id(&req).and_then(|id| visitors.get(&id)) {
        Some(v) => format!(
            "<h1>Signed in</h1><h2>ID token claims (verified from the JWKS)</h2>{}\
             <h2>Userinfo</h2>{}<p><a href=\"/logout\">Sign out</a></p>",
            table(&v.claims),
            table(&v.userinfo)
        ),
        None => {
            "<h1>Not signed in</h1><p><a href=\"/login\">Sign in with Porta</a></p>".to_string()
        }
    };
    page(&format!("Relying party on port {}", rp.config.port), &body)
}

/// Starts the code flow: PKCE, nonce and state, then off to Porta.
async fn login(rp: web::Data<Rp>) -> HttpResponse {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    rp.pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(state.secret().clone(), Pending { verifier, nonce });
    redirect(url.as_str())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Finishes the code flow: exchanges the code, verifies the ID token, reads userinfo, starts a local session.
async fn callback(rp: web::Data<Rp>, q: web::Query<CallbackQuery>) -> HttpResponse {
    if let Some(e) = &q.error {
        let d = q.error_description.as_deref().unwrap_or("");
        return page(
            "Sign-in failed",
            &format!("<p>{}: {}</p>", escape(e), escape(d)),
        );
    }
    let (Some(code), Some(state)) = (&q.code, &q.state) else {
        return page("Sign-in failed", "<p>The callback carries no code.</p>");
    };
    let pending = rp
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(state);
    let Some(pending) = pending else {
        return page("Sign-in failed", "<p>Unknown or reused state.</p>");
    };
    match finish(&rp, code, pending).await {
        Ok(visitor) => {
            let id = CsrfToken::new_random().secret().clone();
            rp.visitors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), visitor);
            let cookie = Cookie::build(rp.cookie_name(), id)
                .path("/")
                .http_only(true)
                .same_site(SameSite::Lax)
                .finish();
            HttpResponse::SeeOther()
                .cookie(cookie)
                .insert_header((header::LOCATION, "/"))
                .finish()
        }
        Err(e) => page("Sign-in failed", &format!("<p>{}</p>", escape(&e))),
    }
}

async fn finish(rp: &Rp, code: &str, pending: Pending) -> Result<Visitor, String> {
    let tokens = rp
        .client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(pending.verifier)
        .request_async(&rp.http)
        .await
        .map_err(|e| format!("token request failed: {e}"))?;
    let id_token = tokens
        .id_token()
        .ok_or("no ID token in the response")?
        .clone();
    let verifier = rp.client.id_token_verifier();
    let claims: CoreIdTokenClaims = id_token
        .claims(&verifier, &pending.nonce)
        .map_err(|e| format!("ID token rejected: {e}"))?
        .clone();
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token.signing_alg().map_err(|e| e.to_string())?;
        let key: &CoreJsonWebKey = id_token.signing_key(&verifier).map_err(|e| e.to_string())?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
            .map_err(|e| e.to_string())?;
        if &actual != expected {
            return Err("at_hash does not match the access token".into());
        }
    }
    let userinfo: CoreUserInfoClaims = rp
        .client
        .user_info(tokens.access_token().clone(), None)
        .map_err(|e| e.to_string())?
        .request_async(&rp.http)
        .await
        .map_err(|e| format!("userinfo failed: {e}"))?;
    // Shown from the verified token's payload, so claims the library has no field for (`sid`) appear too.
    let shown = raw_claims(&id_token.to_string()).unwrap_or_else(|| flatten(&claims));
    let sid = shown
        .iter()
        .find(|(k, _)| k == "sid")
        .and_then(|(_, v)| serde_json::from_str::<String>(v).ok());
    Ok(Visitor {
        sid,
        sub: claims.subject().to_string(),
        id_token,
        claims: shown,
        userinfo: flatten(&userinfo),
    })
}

/// Ends the local session, then Porta's through the end_session_endpoint with `id_token_hint`.
async fn logout(rp: web::Data<Rp>, req: HttpRequest) -> HttpResponse {
    let visitor = rp.visitor_id(&req).and_then(|id| {
        rp.visitors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
    });
    let mut gone = Cookie::build(rp.cookie_name(), "").path("/").finish();
    gone.make_removal();
    let target = match (&rp.end_session, visitor) {
        (Some(endpoint), Some(v)) => {
            let back = PostLogoutRedirectUrl::new(format!("{}/", rp.config.base()));
            let mut request = LogoutRequest::from(endpoint.clone())
                .set_id_token_hint(&v.id_token)
                .set_client_id(ClientId::new(rp.config.client_id.clone()));
            if let Ok(back) = back {
                request = request.set_post_logout_redirect_uri(back);
            }
            request.http_get_url().to_string()
        }
        _ => "/".to_string(),
    };
    HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, target))
        .finish()
}

/// The payload of a compact JWS (already verified) as rows.
fn raw_claims(jwt: &str) -> Option<Vec<(String, String)>> {
    use base64::Engine;
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some(flatten(&value))
}

/// A claims object as sorted (name, JSON value) rows.
fn flatten<T: serde::Serialize>(claims: &T) -> Vec<(String, String)> {
    match serde_json::to_value(claims) {
        Ok(serde_json::Value::Object(map)) => {
            let mut rows: Vec<_> = map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            rows.sort();
            rows
        }
        _ => Vec::new(),
    }
}

fn table(rows: &[(String, String)]) -> String {
    let mut out = String::from("<table>");
    for (k, v) in rows {
        out.push_str(&format!(
            "<tr><th>{}</th><td><code>{}</code></td></tr>",
            escape(k),
            escape(v)
        ));
    }
    out.push_str("</table>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
             <style>body{{font-family:sans-serif;max-width:50rem;margin:2rem auto}}th{{text-align:left;padding-right:1rem}}</style>\
             </head><body><p><em>{t}</em></p>{body}</body></html>",
            t = escape(title)
        ))
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}
