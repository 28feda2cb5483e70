//! `GET /.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 3): the metadata of what Porta
//! serves, built once at start from the settings and served as precomputed bytes.
//!
//! It advertises only what works. An issue that lands an endpoint adds its fields in `Discovery::from_settings`
//! (and a line to the snapshot test), nothing else.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::config::Settings;

/// The discovery document. Optional members are left out until the feature behind them exists.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// Exactly the configured issuer (section 3; compared byte for byte by relying parties, section 4.3).
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    pub jwks_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// RFC 8628 4: where devices start the device authorization grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<&'static str>,
    /// Subject identifiers are the same for every client.
    pub subject_types_supported: Vec<&'static str>,
    /// The enabled key families (`keys.algorithms`; RS256 always). Userinfo and introspection answer plain JSON,
    /// so no other `*_signing_alg_values_supported` member applies.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<&'static str>,
    /// RFC 8414 2: introspection is for confidential clients only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// RFC 8414 2: public clients revoke their own tokens with `none`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    /// Back-Channel Logout 1.0, section 2.1: clients may register a `backchannel_logout_uri`.
    pub backchannel_logout_supported: bool,
    /// Logout tokens always carry `sid`.
    pub backchannel_logout_session_supported: bool,
    /// The authentication levels an ID token's `acr` can name and `acr_values` can ask for (issue 11).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub acr_values_supported: Vec<&'static str>,
    /// The `claims` parameter is read for an essential `acr` (OIDC Core 5.5.1.1).
    pub claims_parameter_supported: bool,
    /// RFC 9126 5: where clients push authorization requests.
    pub pushed_authorization_request_endpoint: String,
    /// RFC 9126 5: whether every client must (`oauth.require_par`); clients can also be told one by one.
    pub require_pushed_authorization_requests: bool,
    /// OIDC Discovery 3 (default true when omitted, hence sent): `/authorize` takes no request object by
    /// reference; the only `request_uri` it accepts is one `/par` issued, which the PAR endpoint above announces.
    pub request_uri_parameter_supported: bool,
    /// RFC 9449 5.1: the algorithms of DPoP proofs `/token` and `/userinfo` verify.
    pub dpop_signing_alg_values_supported: Vec<&'static str>,
}

impl Discovery {
    /// The metadata for what is served now.
    pub fn from_settings(settings: &Settings) -> Discovery {
        let url = |path: &str| format!("{}{path}", settings.issuer);
        Discovery {
            issuer: settings.issuer.clone(),
            authorization_endpoint: Some(url(crate::oidc::authorize::PATH)),
            token_endpoint: Some(url("/token")),
            userinfo_endpoint: Some(url("/userinfo")),
            jwks_uri: url("/jwks.json"),
            end_session_endpoint: Some(url(crate::oidc::end_session::PATH)),
            introspection_endpoint: Some(url("/introspect")),
            revocation_endpoint: Some(url("/revoke")),
            device_authorization_endpoint: Some(url(crate::oidc::device_authorization::PATH)),
            // Porta's own scopes only: API scopes change at runtime while these bytes are built once at startup,
            // and an API's clients learn its scopes from whoever runs it (OIDC Discovery: "SHOULD", not all).
            scopes_supported: crate::domain::scope::SUPPORTED.to_vec(),
            response_types_supported: crate::oidc::authorize::RESPONSE_TYPES.to_vec(),
            response_modes_supported: crate::oidc::authorize::RESPONSE_MODES.to_vec(),
            grant_types_supported: crate::oidc::token::GRANT_TYPES.to_vec(),
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: crate::keys::normalized(
                &settings.keys.algorithms,
            )
            .into_iter()
            .map(crate::keys::Alg::as_str)
            .collect(),
            token_endpoint_auth_methods_supported: crate::oidc::client_auth::AUTH_METHODS.to_vec(),
            claims_supported: crate::tokens::claims::CLAIMS_SUPPORTED.to_vec(),
            code_challenge_methods_supported: vec!["S256"],
            introspection_endpoint_auth_methods_supported: vec![
                "client_secret_basic",
                "client_secret_post",
            ],
            revocation_endpoint_auth_methods_supported: crate::oidc::client_auth::AUTH_METHODS
                .to_vec(),
            backchannel_logout_supported: true,
            backchannel_logout_session_supported: true,
            acr_values_supported: crate::oidc::authorize::acr::supported(),
            claims_parameter_supported: true,
            pushed_authorization_request_endpoint: url(crate::oidc::par::PATH),
            require_pushed_authorization_requests: settings.oauth.require_par,
            request_uri_parameter_supported: false,
            dpop_signing_alg_values_supported: crate::oidc::dpop::ALGS.to_vec(),
        }
    }
}

/// The serialized document, shared by every worker (`web::Data`).
#[derive(Debug, Clone)]
pub struct DiscoveryDocument(pub web::Bytes);

impl DiscoveryDocument {
    pub fn new(discovery: &Discovery) -> Result<DiscoveryDocument, serde_json::Error> {
        Ok(DiscoveryDocument(web::Bytes::from(serde_json::to_vec(
            discovery,
        )?)))
    }
}

pub async fn discovery_get(doc: web::Data<DiscoveryDocument>) -> HttpResponse {
    crate::oidc::cors::public(&mut HttpResponse::Ok())
        .insert_header((header::CONTENT_TYPE, "application/json"))
        // Changes only with a restart (configuration or version); an hour keeps relying parties current.
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(doc.0.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_is_exact_and_only_working_features_are_listed() {
        let settings = Settings {
            issuer: "https://id.example.com/tenant".into(),
            ..Settings::default()
        };
        let v: serde_json::Value = serde_json::from_slice(
            &DiscoveryDocument::new(&Discovery::from_settings(&settings))
                .unwrap()
                .0,
        )
        .unwrap();
        assert_eq!(v["issuer"], "https://id.example.com/tenant");
        assert_eq!(v["backchannel_logout_supported"], true);
        assert_eq!(v["backchannel_logout_session_supported"], true);
        assert_eq!(v["jwks_uri"], "https://id.example.com/tenant/jwks.json");
        assert_eq!(
            v["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256", "EdDSA"])
        );
        let mut rsa_only = settings.clone();
        rsa_only.keys.algorithms = vec![crate::keys::Alg::Rs256];
        assert_eq!(
            Discovery::from_settings(&rsa_only).id_token_signing_alg_values_supported,
            ["RS256"]
        );
        assert_eq!(v["token_endpoint"], "https://id.example.com/tenant/token");
        assert_eq!(
            v["introspection_endpoint"],
            "https://id.example.com/tenant/introspect"
        );
        assert_eq!(
            v["revocation_endpoint"],
            "https://id.example.com/tenant/revoke"
        );
        assert_eq!(
            v["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(
            v["device_authorization_endpoint"],
            "https://id.example.com/tenant/device_authorization"
        );
        assert_eq!(
            v["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
        );
        assert_eq!(
            v["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(
            v["pushed_authorization_request_endpoint"],
            "https://id.example.com/tenant/par"
        );
        assert_eq!(v["require_pushed_authorization_requests"], false);
        assert_eq!(v["request_uri_parameter_supported"], false);
        assert_eq!(
            v["dpop_signing_alg_values_supported"],
            serde_json::json!(["ES256", "EdDSA", "RS256"])
        );
    }
}
