//! Native apps (RFC 8252, issue 13) over real HTTP: a loopback redirect on a port the app picked at run time, a
//! real listener receiving the code, the token exchange with the same redirect URI; what is still refused
//! (`localhost` against an IP literal, other hosts, other paths); private-use schemes for public clients only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use porta::clock::Clock;
use porta::manage::Actor;
use porta::manage::clients::{self as manage_clients, ClientUpdate, NewClientInput, Registered};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};
use crate::sso::{CHALLENGE, get, location, query, sign_in_admin};
use crate::token_support::{VERIFIER, post_form};

/// Registers a client with `redirect_uris`; public clients need no secret.
async fn register(
    app: &TestApp,
    redirect_uris: &[&str],
    is_public: bool,
) -> Result<Registered, String> {
    let now = app.clock.now();
    let input = NewClientInput {
        name: "Native".into(),
        redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
        post_logout_redirect_uris: vec![],
        is_public,
        grant_types: vec![],
        first_party: true,
    };
    app.state
        .db
        .run(move |c| manage_clients::add(c, &input, &Actor::cli(), now))
        .await
        .map_err(|e| e.to_string())
}

fn authorize(app: &TestApp, client_id: &str, redirect_uri: &str) -> String {
    let q = serde_urlencoded::to_string([
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "st-native"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    app.url(&format!("/authorize?{q}"))
}

async fn exchange(
    app: &TestApp,
    client_id: &str,
    code: &str,
    redirect_uri: &str,
) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
    ];
    let (s, _, b) = post_form(app, "/token", &form, None).await;
    (s, b)
}

/// What an app's loopback listener does (RFC 8252 7.3): accept one request, answer it, and hand back its target.
fn one_shot_listener(listener: TcpListener) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the browser comes back");
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        let body = "You can close this window.";
        write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    })
}

both_backends! {
    async fn a_native_app_gets_its_code_on_the_port_it_chose(backend: Backend) {
        let app = spawn_app(backend).await;
        let native = register(&app, &["http://127.0.0.1/callback"], true).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let redirect = format!("http://127.0.0.1:{}/callback", listener.local_addr().unwrap().port());
        let received = one_shot_listener(listener);

        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let res = get(&browser, &authorize(&app, &native.client_id, &redirect)).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let back = location(&res);
        assert!(back.starts_with(&format!("{redirect}?")), "{back}");
        // The browser follows the redirect to the app's listener.
        let res = reqwest::get(&back).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let target = received.join().unwrap();
        let q = query(&target);
        assert_eq!(q["state"], "st-native");
        let code = q["code"].clone();

        // The token request repeats the redirect URI of the authorization request, port included.
        let other_port = redirect.replace("/callback", "1/callback");
        let (status, body) = exchange(&app, &native.client_id, &code, &other_port).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        let (status, body) = exchange(&app, &native.client_id, &code, "http://127.0.0.1/callback").await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
        let (status, body) = exchange(&app, &native.client_id, &code, &redirect).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["id_token"].is_string() && body["refresh_token"].is_string());

        // The IPv6 literal works the same way.
        let v6 = register(&app, &["http://[::1]/callback"], true).await.unwrap();
        let res = get(&browser, &authorize(&app, &v6.client_id, "http://[::1]:61234/callback")).await;
        assert!(location(&res).starts_with("http://[::1]:61234/callback?"), "{}", location(&res));
    }

    async fn only_the_port_of_a_loopback_literal_may_differ(backend: Backend) {
        let app = spawn_app(backend).await;
        let native = register(&app, &["http://127.0.0.1/callback", "http://localhost/cb"], true).await.unwrap();
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        for refused in [
            // localhost is exact (RFC 8252 8.3), and never stands in for the IP literal.
            "http://localhost:50123/callback",
            "http://localhost:50123/cb",
            // Other hosts and schemes.
            "http://127.0.0.2:50123/callback",
            "http://[::1]:50123/callback",
            "https://127.0.0.1:50123/callback",
            "https://evil.example.com/callback",
            "http://127.0.0.1.evil.example:50123/callback",
            // The path and query stay exact.
            "http://127.0.0.1:50123/callback/",
            "http://127.0.0.1:50123/Callback",
            "http://127.0.0.1:50123/callback?next=/admin",
            "http://127.0.0.1:50123/",
        ] {
            let res = get(&browser, &authorize(&app, &native.client_id, refused)).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{refused}");
            assert!(res.headers().get(LOCATION).is_none(), "{refused}");
            let html = res.text().await.unwrap();
            assert!(html.contains("not registered"), "{refused}");
        }
        let res = get(&browser, &authorize(&app, &native.client_id, "http://localhost/cb")).await;
        assert!(location(&res).starts_with("http://localhost/cb?"));
    }

    async fn private_use_schemes_are_for_public_clients(backend: Backend) {
        let app = spawn_app(backend).await;
        let scheme = "com.example.app:/oauth2redirect";
        let native = register(&app, &[scheme], true).await.unwrap();
        let err = register(&app, &[scheme], false).await.unwrap_err();
        assert!(err.contains("private-use"), "{err}");
        for dangerous in ["javascript:alert(1)", "data:text/html,hi", "file:///etc/passwd", "myapp:/cb"] {
            assert!(register(&app, &[dangerous], true).await.is_err(), "{dangerous}");
        }
        // Nor may a confidential client add one later.
        let web = register(&app, &["https://app.example.com/cb"], false).await.unwrap();
        let (now, id) = (app.clock.now(), web.client_id.clone());
        let change = ClientUpdate { redirect_uris: Some(vec![scheme.into()]), ..Default::default() };
        let err = app
            .state
            .db
            .run(move |c| manage_clients::update(c, &id, &change, &Actor::cli(), now))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("private-use"), "{err}");

        // The app's scheme receives the code, and the exchange repeats it.
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let res = get(&browser, &authorize(&app, &native.client_id, scheme)).await;
        assert_eq!(res.status(), StatusCode::FOUND);
        let back = location(&res);
        assert!(back.starts_with(&format!("{scheme}?")), "{back}");
        let code = url::Url::parse(&back).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let (status, body) = exchange(&app, &native.client_id, &code, scheme).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
