//! The OpenID Connect endpoints. One module per endpoint; `routes` registers them all.

pub mod discovery;
pub mod jwks;

use actix_web::web;

/// The OpenID Connect routes. Paths are advertised through discovery, which is the contract.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let options = || web::method(actix_web::http::Method::OPTIONS);
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::discovery_get),
    )
    .route("/jwks.json", web::get().to(jwks::jwks_get));
    // Tokens (issue 5).
    cfg.route("/token", web::post().to(token::token_post))
        .route("/userinfo", web::get().to(userinfo::userinfo_get))
        .route("/userinfo", web::post().to(userinfo::userinfo_post))
        .route("/introspect", web::post().to(introspect::introspect_post))
        .route("/revoke", web::post().to(revoke::revoke_post))
        .route(par::PATH, web::post().to(par::par_post));
    // Device authorization grant (RFC 8628); its `/device` page is in `web::routes`.
    cfg.route(
        device_authorization::PATH,
        web::post().to(device_authorization::device_authorization_post),
    );
    // CORS preflights for browser apps (issue 13); introspection is for servers, so it has none.
    cfg.route(
        "/.well-known/openid-configuration",
        options().to(cors::public_options),
    )
    .route("/jwks.json", options().to(cors::public_options))
    .route("/token", options().to(cors::post_options))
    .route("/userinfo", options().to(cors::userinfo_options))
    .route("/revoke", options().to(cors::post_options));
}

// Browser sign-in (issue 4); routes registered in `web::routes`.
pub mod authorize;
pub mod end_session;

// Tokens (issue 5).
pub mod client_auth;
pub mod cors;
pub mod device_authorization;
pub mod dpop;
pub mod dpop_check;
pub mod introspect;
pub mod par;
pub mod revoke;
pub mod token;
pub mod userinfo;
