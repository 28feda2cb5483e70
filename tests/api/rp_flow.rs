//! The whole code flow driven by a standard relying-party library (`openidconnect`) against a real server:
//! discovery, `/authorize`, the login form (POSTed by a cookie-keeping client), the code, the token request with
//! PKCE, the ID token verified through the JWKS (signature, nonce, at_hash), userinfo, and a refresh.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;

use crate::token_support::*;

/// The value of a hidden form field in a page.
pub fn form_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_string())
}

/// Follows the browser through `/authorize` and the login form until Porta redirects to `redirect_prefix`;
/// returns that callback URL.
pub async fn sign_in(
    browser: &reqwest::Client,
    base: &str,
    authorize_url: &str,
    username: &str,
    password: &str,
    redirect_prefix: &str,
) -> url::Url {
    let mut next = url::Url::parse(authorize_url).unwrap();
    let mut form: Option<Vec<(String, String)>> = None;
    for _ in 0..10 {
        let res = match form.take() {
            Some(f) => browser.post(next.clone()).form(&f).send().await.unwrap(),
            None => browser.get(next.clone()).send().await.unwrap(),
        };
        if res.status().is_redirection() {
            let loc = res.headers()["location"].to_str().unwrap().to_string();
            next = url::Url::parse(base).unwrap().join(&loc).unwrap();
            if next.as_str().starts_with(redirect_prefix) {
                return next;
            }
            continue;
        }
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{html}");
        let csrf = form_field(&html, "csrf_token").expect("a form with a CSRF token");
        let mut fields = vec![("csrf_token".to_string(), csrf)];
        if let Some(a) = form_field(&html, "authz") {
            fields.push(("authz".into(), a));
        }
        assert!(
            html.contains("action=\"/login\""),
            "expected the login form: {html}"
        );
        fields.push(("username".into(), username.into()));
        fields.push(("password".into(), password.into()));
        next = url::Url::parse(base).unwrap().join("/login").unwrap();
        form = Some(fields);
    }
    panic!("no redirect to {redirect_prefix}");
}

both_backends! {
    async fn openidconnect_crate_runs_the_code_flow(b: Backend) {
        let f = fixture(b).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let issuer = IssuerUrl::new(f.app.address.clone()).unwrap();
        let metadata = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .expect("discovery and JWKS");
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(f.web.client_id.clone()),
            Some(ClientSecret::new(Fixture::secret(&f.web).to_string())),
        )
        .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());

        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(pkce_challenge)
            .url();

        let browser = f.app.new_browser();
        let callback = sign_in(&browser, &f.app.address, auth_url.as_str(), "ada", USER_PASSWORD, REDIRECT).await;
        let params: std::collections::HashMap<_, _> = callback.query_pairs().into_owned().collect();
        assert_eq!(params.get("state"), Some(csrf.secret()));
        let code = params.get("code").expect("a code").clone();

        let tokens = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .unwrap()
            .set_pkce_verifier(pkce_verifier)
            .request_async(&http)
            .await
            .expect("token response");
        let id_token = tokens.id_token().expect("an ID token");
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &nonce).expect("ID token verifies through the JWKS");
        assert_eq!(claims.subject().as_str(), f.user.id);
        assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("ada"));
        assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
        assert!(claims.auth_time().is_some());
        let expected_hash = AccessTokenHash::from_token(
            tokens.access_token(),
            id_token.signing_alg().unwrap(),
            id_token.signing_key(&verifier).unwrap(),
        )
        .unwrap();
        assert_eq!(claims.access_token_hash(), Some(&expected_hash));

        let info: CoreUserInfoClaims = client
            .user_info(tokens.access_token().clone(), None)
            .unwrap()
            .request_async(&http)
            .await
            .expect("userinfo");
        assert_eq!(info.subject().as_str(), f.user.id);
        assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));

        let refreshed = client
            .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
            .unwrap()
            .request_async(&http)
            .await
            .expect("refresh");
        let refreshed_id = refreshed.id_token().expect("a refreshed ID token");
        // OIDC Core 12.2: no nonce in a refreshed ID token; same subject and auth_time.
        let again = refreshed_id.claims(&verifier, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("unexpected nonce".to_string()),
        }).expect("refreshed ID token verifies");
        assert_eq!(again.subject(), claims.subject());
        assert_eq!(again.auth_time(), claims.auth_time());
        assert_ne!(refreshed.refresh_token().unwrap().secret(), tokens.refresh_token().unwrap().secret());

        // The same code a second time: refused, and the first access token is revoked.
        let replay = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .request_async(&http)
            .await;
        assert!(replay.is_err());
        assert_eq!(f.userinfo(tokens.access_token().secret()).await.0, StatusCode::UNAUTHORIZED);
    }

    async fn a_signed_in_browser_gets_codes_without_the_form(b: Backend) {
        let f = fixture(b).await;
        let browser = f.app.new_browser();
        let authorize = |state: &str| {
            format!(
                "{}/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid&state={state}&nonce=n1\
                 &code_challenge={}&code_challenge_method=S256",
                f.app.address,
                f.web.client_id,
                url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
                challenge(VERIFIER),
            )
        };
        let first = sign_in(&browser, &f.app.address, &authorize("s1"), "ada", USER_PASSWORD, REDIRECT).await;
        let second = browser.get(authorize("s2")).send().await.unwrap();
        assert!(second.status().is_redirection());
        let loc = second.headers()["location"].to_str().unwrap();
        assert!(loc.starts_with(REDIRECT), "{loc}");
        for callback in [first, url::Url::parse(loc).unwrap()] {
            let code = callback.query_pairs().find(|(k, _)| k == "code").unwrap().1.to_string();
            let (s, _, body) = f
                .token(
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", VERIFIER),
                    ],
                    Some(&f.web),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{body}");
            // Both codes come from the one SSO session.
            assert!(claims_of(body["id_token"].as_str().unwrap())["sid"].is_string());
        }
    }
}
