//! What a relying party sees of multi-factor sign-in, checked with the `openidconnect` crate: the ID token's `amr`
//! and `acr` after a password only, after step-up through `acr_values`, and for a client registered with
//! `require_mfa`.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use porta::clock::Clock;
use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::mfa_support::*;
use crate::sso::{get, hidden, location, post, submit_login};
use crate::token_support::*;

struct Rp {
    client: CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    http: reqwest::Client,
}

async fn rp(f: &Fixture) -> Rp {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(f.app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(f.web.client_id.clone()),
        Some(ClientSecret::new(Fixture::secret(&f.web).to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_string()).unwrap());
    Rp { client, http }
}

/// Runs the flow in `browser`: `step` answers each page Porta shows (login form, second step) until the callback;
/// returns the verified ID token's claims.
async fn flow(
    app: &TestApp,
    rp: &Rp,
    browser: &reqwest::Client,
    acr: Option<&str>,
    mut step: impl FnMut(&str) -> Option<(&'static str, String)>,
) -> CoreIdTokenClaims {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = rp
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    if let Some(a) = acr {
        req = req.add_auth_context_value(AuthenticationContextClass::new(a.into()));
    }
    let (url, _, nonce) = req.url();
    let mut res = get(browser, url.as_str()).await;
    for _ in 0..8 {
        let loc = location(&res);
        if loc.starts_with(REDIRECT) {
            let q: std::collections::HashMap<_, _> = url::Url::parse(&loc)
                .unwrap()
                .query_pairs()
                .into_owned()
                .collect();
            let code = q
                .get("code")
                .unwrap_or_else(|| panic!("no code: {loc}"))
                .clone();
            let tokens = rp
                .client
                .exchange_code(AuthorizationCode::new(code))
                .unwrap()
                .set_pkce_verifier(verifier)
                .request_async(&rp.http)
                .await
                .expect("tokens");
            let id = tokens.id_token().expect("an ID token");
            return id
                .claims(&rp.client.id_token_verifier(), &nonce)
                .expect("verifies")
                .clone();
        }
        if loc.starts_with("/login?") {
            res = submit_login(app, browser, &loc, "ada", USER_PASSWORD).await;
            continue;
        }
        let page = get(browser, &app.url(&loc)).await;
        if page.status().is_redirection() {
            res = page;
            continue;
        }
        assert_eq!(page.status(), StatusCode::OK, "{loc}");
        let html = page.text().await.unwrap();
        let (method, code) = step(&html).unwrap_or_else(|| panic!("no answer for {loc}: {html}"));
        let csrf = hidden(&html, "csrf_token").unwrap();
        let authz = hidden(&html, "authz").unwrap_or_default();
        res = post(
            browser,
            &app.url("/login/second"),
            &[
                ("csrf_token", &csrf),
                ("method", method),
                ("code", &code),
                ("authz", &authz),
            ],
        )
        .await;
    }
    panic!("no callback");
}

fn amr(c: &CoreIdTokenClaims) -> Vec<String> {
    c.auth_method_refs()
        .map(|v| v.iter().map(|m| m.to_string()).collect())
        .unwrap_or_default()
}

fn acr(c: &CoreIdTokenClaims) -> String {
    c.auth_context_ref()
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// Enrols TOTP for `ada` directly (as `/account/security` would after a confirming code); returns the secret.
async fn enrol_ada(f: &Fixture) -> String {
    let secret = porta::web::authn::totp::new_secret();
    let sealed = f
        .app
        .state
        .keys
        .seal_secret(
            &porta::web::authn::totp::seal_aad(&f.user.id),
            secret.as_bytes(),
        )
        .unwrap();
    let (user, s, now) = (f.user.clone(), sealed, f.app.clock.now());
    f.app
        .state
        .db
        .run(move |c| {
            porta::manage::mfa::enroll(
                c,
                &user,
                "Phone",
                porta::manage::mfa::Enrolment::Totp {
                    secret: &s,
                    step: 0,
                },
                &porta::manage::Actor::cli(),
                now,
            )
        })
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    secret
}

both_backends! {
    async fn the_rp_sees_amr_and_acr_after_password_and_after_step_up(b: Backend) {
        let f = fixture(b).await;
        let rp = rp(&f).await;
        let browser = f.app.new_browser();
        let pwd = flow(&f.app, &rp, &browser, None, |_| None).await;
        println!("password only: amr={:?} acr={}", amr(&pwd), acr(&pwd));
        assert_eq!(amr(&pwd), ["pwd"]);
        assert_eq!(acr(&pwd), "urn:porta:acr:pwd");

        let secret = enrol_ada(&f).await;
        f.app.clock.advance(30);
        let now = f.app.clock.now();
        // Step-up: the signed-in browser is asked only for the code, never the password again.
        let mut asked = Vec::new();
        let mfa = flow(&f.app, &rp, &browser, Some("urn:porta:acr:mfa"), |html| {
            asked.push(if html.contains("action=\"/login\"") { "password" } else { "code" });
            html.contains("id=\"totp-form\"").then(|| ("totp", totp(&secret, now)))
        })
        .await;
        assert_eq!(asked, ["code"]);
        println!("password + TOTP (step-up): amr={:?} acr={}", amr(&mfa), acr(&mfa));
        assert_eq!(amr(&mfa), ["pwd", "otp", "mfa"]);
        assert_eq!(acr(&mfa), "urn:porta:acr:mfa");
        assert_eq!(mfa.auth_time().map(|t| t.timestamp()), Some(now));
    }

    async fn require_mfa_makes_every_sign_in_to_the_client_multi_factor(b: Backend) {
        let f = fixture(b).await;
        let secret = enrol_ada(&f).await;
        let cid = f.web.client_id.clone();
        let now = f.app.clock.now();
        f.app.state.db.run(move |c| porta::manage::clients::update(c, &cid, &porta::manage::clients::ClientUpdate {
            require_mfa: Some(true),
            ..Default::default()
        }, &porta::manage::Actor::cli(), now)).await.map_err(|e| e.to_string()).unwrap();
        f.app.clock.advance(30);
        let rp = rp(&f).await;
        let browser = f.app.new_browser();
        let t = f.app.clock.now();
        let claims = flow(&f.app, &rp, &browser, None, |html| {
            html.contains("id=\"totp-form\"").then(|| ("totp", totp(&secret, t)))
        })
        .await;
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
        assert_eq!(acr(&claims), "urn:porta:acr:mfa");
    }
}
