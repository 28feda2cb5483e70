//! The authorization request's parsing rules, case by case.

use super::*;
use proptest::prelude::*;

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn client(is_public: bool) -> Client {
    Client {
        id: "app".into(),
        name: "App".into(),
        secret_hash: None,
        is_public,
        first_party: false,
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        created_at: 0,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        require_pkce: false,
        require_mfa: false,
        web_origins: vec![],
        require_par: false,
        require_dpop: false,
        id_token_alg: "RS256".into(),
        access_token_alg: "RS256".into(),
    }
}

fn params(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut base: Vec<(String, String)> = [
        ("client_id", "app"),
        ("redirect_uri", "https://app.example.com/cb"),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "xyz"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        base.retain(|(bk, _)| bk != k);
        base.push((k.to_string(), v.to_string()));
    }
    base
}

fn without(name: &str) -> Vec<(String, String)> {
    params(&[]).into_iter().filter(|(k, _)| k != name).collect()
}

fn redirect_error(r: Result<AuthorizeRequest, AuthorizeError>) -> ErrorRedirect {
    match r {
        Err(AuthorizeError::Redirect(e)) => e,
        other => panic!("expected an error redirect, got {other:?}"),
    }
}

#[test]
fn a_good_request_parses() {
    let r = parse(
        &params(&[("nonce", "n-1"), ("max_age", "60"), ("login_hint", "alice")]),
        Some(&client(false)),
    )
    .unwrap();
    assert_eq!(r.client_id, "app");
    assert_eq!(r.scopes.to_string(), "openid profile");
    assert_eq!(r.state.as_deref(), Some("xyz"));
    assert_eq!(r.nonce.as_deref(), Some("n-1"));
    assert_eq!(r.max_age, Some(60));
    assert_eq!(r.login_hint.as_deref(), Some("alice"));
    assert_eq!(r.response_mode, ResponseMode::Query);
    assert_eq!(r.prompt, Prompt::default());
}

#[test]
fn unknown_client_or_redirect_uri_is_a_page_never_a_redirect() {
    assert!(matches!(
        parse(&params(&[]), None),
        Err(AuthorizeError::Page(_))
    ));
    assert!(matches!(
        parse(&without("client_id"), Some(&client(false))),
        Err(AuthorizeError::Page(_))
    ));
    assert!(matches!(
        parse(&without("redirect_uri"), Some(&client(false))),
        Err(AuthorizeError::Page(_))
    ));
    for bad in [
        "https://evil.example.com/cb",
        "https://app.example.com/cb/",
        "https://app.example.com/cb?x=1",
        "https://APP.example.com/cb",
    ] {
        let r = parse(&params(&[("redirect_uri", bad)]), Some(&client(false)));
        assert!(matches!(r, Err(AuthorizeError::Page(_))), "{bad}");
    }
    let mut twice = params(&[]);
    twice.push(("redirect_uri".into(), "https://evil.example.com/cb".into()));
    assert!(matches!(
        parse(&twice, Some(&client(false))),
        Err(AuthorizeError::Page(_))
    ));
}

#[test]
fn a_native_app_uses_any_port_on_its_loopback_literal() {
    let mut native = client(true);
    native.redirect_uris = vec![
        "http://127.0.0.1/callback".into(),
        "com.example.app:/callback".into(),
    ];
    for ok in [
        "http://127.0.0.1:49152/callback",
        "http://127.0.0.1/callback",
        "com.example.app:/callback",
    ] {
        let r = parse(
            &params(&[
                ("redirect_uri", ok),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ]),
            Some(&native),
        )
        .unwrap();
        // The request's own URI, port included, is where the code goes and what the token request must repeat.
        assert_eq!(r.redirect_uri, ok);
    }
    // Errors go back to the port that asked.
    let e = redirect_error(parse(
        &params(&[("redirect_uri", "http://127.0.0.1:49152/callback")]),
        Some(&native),
    ));
    assert_eq!(e.redirect_uri, "http://127.0.0.1:49152/callback");
    for bad in [
        "http://localhost:49152/callback",
        "http://127.0.0.1:49152/callback/",
        "http://[::1]:49152/callback",
        "com.example.app:/callback/x",
        "com.example.evil:/callback",
    ] {
        let r = parse(&params(&[("redirect_uri", bad)]), Some(&native));
        assert!(matches!(r, Err(AuthorizeError::Page(_))), "{bad}");
    }
}

#[test]
fn protocol_errors_redirect_with_state() {
    let c = client(false);
    for (extra, code) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "profile")], "invalid_scope"),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (
            vec![
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "plain"),
            ],
            "invalid_request",
        ),
        (vec![("code_challenge", CHALLENGE)], "invalid_request"),
        (vec![("code_challenge_method", "S256")], "invalid_request"),
        (vec![("request", "eyJ...")], "request_not_supported"),
        (vec![("response_mode", "fragment")], "invalid_request"),
    ] {
        let e = redirect_error(parse(&params(&extra), Some(&c)));
        assert_eq!(e.error, code, "{extra:?}");
        assert_eq!(e.state.as_deref(), Some("xyz"), "{extra:?}");
        assert_eq!(e.redirect_uri, "https://app.example.com/cb");
    }
    assert_eq!(
        redirect_error(parse(&without("response_type"), Some(&c))).error,
        "invalid_request"
    );
    assert_eq!(
        redirect_error(parse(&without("scope"), Some(&c))).error,
        "invalid_request"
    );
    let mut twice = params(&[]);
    twice.push(("scope".into(), "openid".into()));
    assert_eq!(
        redirect_error(parse(&twice, Some(&c))).error,
        "invalid_request"
    );
}

#[test]
fn public_clients_need_pkce_s256() {
    let e = redirect_error(parse(&params(&[]), Some(&client(true))));
    assert_eq!(e.error, "invalid_request");
    let r = parse(
        &params(&[
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]),
        Some(&client(true)),
    )
    .unwrap();
    assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
}

#[test]
fn empty_values_are_absent_and_unknown_parameters_ignored() {
    let r = parse(
        &params(&[("nonce", ""), ("ui_locales", "de"), ("colour", "blue")]),
        Some(&client(false)),
    )
    .unwrap();
    assert_eq!(r.nonce, None);
    let e = redirect_error(parse(
        &params(&[("response_type", "")]),
        Some(&client(false)),
    ));
    assert_eq!(e.error, "invalid_request");
}

#[test]
fn prompt_and_response_mode() {
    let r = parse(
        &params(&[("prompt", "login consent"), ("response_mode", "form_post")]),
        Some(&client(false)),
    )
    .unwrap();
    assert!(r.prompt.login && r.prompt.consent && !r.prompt.none);
    assert_eq!(r.response_mode, ResponseMode::FormPost);
    let r = parse(&params(&[("prompt", "none")]), Some(&client(false))).unwrap();
    assert!(r.prompt.none);
    // An error after response_mode is known goes back the same way.
    let e = redirect_error(parse(
        &params(&[("response_mode", "form_post"), ("scope", "email")]),
        Some(&client(false)),
    ));
    assert_eq!(e.response_mode, ResponseMode::FormPost);
}

#[test]
fn offline_access_needs_the_refresh_grant() {
    let mut c = client(false);
    let r = parse(&params(&[("scope", "openid offline_access")]), Some(&c)).unwrap();
    assert!(r.scopes.contains("offline_access"));
    c.grant_types = vec!["authorization_code".into()];
    let r = parse(&params(&[("scope", "openid offline_access")]), Some(&c)).unwrap();
    assert!(!r.scopes.contains("offline_access"));
}

#[test]
fn overlong_values_are_refused() {
    let long_state = "s".repeat(MAX_STATE + 1);
    let e = redirect_error(parse(
        &params(&[("state", &long_state)]),
        Some(&client(false)),
    ));
    assert_eq!((e.error, e.state), ("invalid_request", None));
    let long_nonce = "n".repeat(MAX_NONCE + 1);
    let e = redirect_error(parse(
        &params(&[("nonce", &long_nonce)]),
        Some(&client(false)),
    ));
    assert_eq!(e.error, "invalid_request");
}

#[test]
fn requests_survive_the_session_round_trip() {
    let r = parse(
        &params(&[("scope", "openid email profile")]),
        Some(&client(false)),
    )
    .unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<AuthorizeRequest>(&json).unwrap(), r);
}

proptest! {
    #[test]
    fn never_panics_and_never_redirects_elsewhere(
        pairs in proptest::collection::vec(
            (prop::sample::select(vec!["client_id", "redirect_uri", "response_type", "scope", "state",
                "prompt", "max_age", "code_challenge", "code_challenge_method", "response_mode", "nonce"]),
             "\\PC{0,20}"),
            0..12)
    ) {
        let params: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        if let Err(AuthorizeError::Redirect(e)) = parse(&params, Some(&client(false))) {
            prop_assert_eq!(e.redirect_uri, "https://app.example.com/cb");
        }
    }
}
