//! The client settings for every kind of app and per-client signing algorithms: `--web-origin`, `--require-par`,
//! `--require-dpop`, `--id-token-alg`, `--access-token-alg` on `client add` and `client update`, and the same
//! fields in the admin console.

use porta::db::models::clients;
use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::{assert_one_line_error, json, porta};
use crate::helpers::{TestDb, spawn_app};
use crate::sso::{REDIRECT, get, hidden, post, sign_in_admin};

fn listed(db: &TestDb, id: &str) -> Value {
    json(db, &["client", "list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == id)
        .cloned()
        .unwrap()
}

both_backends! {
    async fn client_kind_settings_round_trip_and_bad_values_write_nothing(b: Backend) {
        let db = TestDb::new(b);
        let spa = json(&db, &["client", "add", "--name", "SPA", "--public",
            "--redirect-uri", "https://app.example.com/cb",
            "--web-origin", "https://App.Example.com/", "--web-origin", "http://127.0.0.1:5173",
            "--require-par", "--require-dpop", "--id-token-alg", "es256", "--access-token-alg", "EdDSA"]);
        let id = spa["client_id"].as_str().unwrap().to_string();
        let c = listed(&db, &id);
        // Stored as a browser sends the Origin header.
        assert_eq!(c["web_origins"], serde_json::json!(["https://app.example.com", "http://127.0.0.1:5173"]));
        assert_eq!(c["require_par"], true);
        assert_eq!(c["require_dpop"], true);
        assert_eq!(c["id_token_alg"], "ES256");
        assert_eq!(c["access_token_alg"], "EdDSA");

        let plain = json(&db, &["client", "add", "--name", "Web", "--redirect-uri", "https://web.example.com/cb"]);
        let c = listed(&db, plain["client_id"].as_str().unwrap());
        assert_eq!(c["web_origins"], serde_json::json!([]));
        assert_eq!((c["require_par"].clone(), c["require_dpop"].clone()), (false.into(), false.into()));
        assert_eq!((c["id_token_alg"].as_str(), c["access_token_alg"].as_str()), (Some("RS256"), Some("RS256")));

        let updated = json(&db, &["client", "update", &id, "--web-origin", "https://new.example.com",
            "--require-par", "false", "--id-token-alg", "RS256"]);
        assert_eq!(updated["web_origins"], serde_json::json!(["https://new.example.com"]));
        assert_eq!(updated["require_par"], false);
        assert_eq!(updated["require_dpop"], true, "not named, so unchanged");
        assert_eq!(updated["id_token_alg"], "RS256");
        assert_eq!(updated["access_token_alg"], "EdDSA");
        let cleared = json(&db, &["client", "update", &id, "--no-web-origins"]);
        assert_eq!(cleared["web_origins"], serde_json::json!([]));

        let before = json(&db, &["client", "list"]);
        for (args, says) in [
            (vec!["client", "add", "--name", "X", "--redirect-uri", "https://x.example.com/cb", "--web-origin", "https://x.example.com/app"], "scheme://host[:port]"),
            (vec!["client", "add", "--name", "X", "--redirect-uri", "https://x.example.com/cb", "--web-origin", "http://x.example.com"], "https"),
            (vec!["client", "add", "--name", "X", "--redirect-uri", "https://x.example.com/cb", "--id-token-alg", "HS256"], "unknown signing algorithm"),
            (vec!["client", "update", &id, "--access-token-alg", "none"], "unknown signing algorithm"),
            (vec!["client", "update", &id, "--web-origin", "*"], "web origin"),
        ] {
            assert_one_line_error(&porta(&db).args(&args).output().unwrap(), says);
        }
        assert_eq!(json(&db, &["client", "list"]), before, "a refused change writes nothing");
    }

    async fn the_console_sets_origins_par_dpop_and_algorithms(b: Backend) {
        let app = spawn_app(b).await;
        let admin = app.new_browser();
        sign_in_admin(&app, &admin).await;
        let page = get(&admin, &app.url("/admin/clients")).await.text().await.unwrap();
        assert!(page.contains("<option>EdDSA</option>"), "{page}");
        let token = hidden(&page, "csrf_token").unwrap();
        let res = post(&admin, &app.url("/admin/clients"), &[
            ("csrf_token", token.as_str()), ("name", "SPA"), ("redirect_uris", REDIRECT), ("public", "on"),
            ("grant_authorization_code", "on"), ("web_origins", "https://spa.example.com\nhttp://127.0.0.1:5173"),
            ("require_dpop", "on"), ("id_token_alg", "ES256"), ("access_token_alg", "RS256"),
        ]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let c = app.state.db.run(clients::list).await.unwrap().remove(0);
        assert_eq!(c.web_origins, ["https://spa.example.com", "http://127.0.0.1:5173"]);
        assert!(c.require_dpop && !c.require_par);
        assert_eq!((c.id_token_alg.as_str(), c.access_token_alg.as_str()), ("ES256", "RS256"));
        let path = format!("/admin/clients/{}", c.id);
        let html = get(&admin, &app.url(&path)).await.text().await.unwrap();
        assert!(html.contains("<option selected>ES256</option>"), "{html}");

        // A bad origin: a 400 page saying why, nothing changed.
        let res = post(&admin, &app.url(&path), &[
            ("csrf_token", token.as_str()), ("redirect_uris", REDIRECT), ("web_origins", "https://spa.example.com/app"),
            ("id_token_alg", "ES256"), ("access_token_alg", "RS256"),
        ]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("web origin"));

        let res = post(&admin, &app.url(&path), &[
            ("csrf_token", token.as_str()), ("redirect_uris", REDIRECT), ("web_origins", ""),
            ("require_par", "on"), ("id_token_alg", "EdDSA"), ("access_token_alg", "ES256"),
        ]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let id = c.id.clone();
        let now = app.state.db.run(move |c| clients::by_id(c, &id)).await.unwrap().unwrap();
        assert!(now.web_origins.is_empty() && now.require_par && !now.require_dpop);
        assert_eq!((now.id_token_alg.as_str(), now.access_token_alg.as_str()), ("EdDSA", "ES256"));
    }
}
