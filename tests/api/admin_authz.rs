//! The console's groups, user profile and removal, and a client's allowed groups and roles, over plain HTTP.

use porta::db::models::{audit, client_roles, users};
use reqwest::StatusCode;

use crate::helpers::{TestApp, spawn_app};
use crate::sso::{get, hidden, location, post, register, sign_in_admin};

async fn csrf(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    let res = get(b, &app.url(path)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    hidden(&res.text().await.unwrap(), "csrf_token").expect("csrf token")
}

both_backends! {
    async fn groups_users_and_client_access_from_the_console(b: Backend) {
        let app = spawn_app(b).await;
        let browser = app.new_browser();
        sign_in_admin(&app, &browser).await;
        let token = csrf(&app, &browser, "/admin/groups").await;

        let res = post(&browser, &app.url("/admin/groups"), &[("csrf_token", &token), ("name", "ops/oncall"), ("description", "Pager")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(location(&res).starts_with("/admin/group?name=ops%2Foncall"), "{}", location(&res));
        let res = post(&browser, &app.url("/admin/group/members"), &[("csrf_token", &token), ("name", "ops/oncall"), ("username", "admin"), ("action", "add")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = get(&browser, &app.url("/admin/group?name=ops%2Foncall")).await.text().await.unwrap();
        assert!(html.contains("Group ops/oncall") && html.contains("/admin/users/admin"), "{html}");
        let html = get(&browser, &app.url("/admin/users/admin")).await.text().await.unwrap();
        assert!(html.contains("ops/oncall"), "the user page lists the groups");
        // Without the CSRF token nothing happens.
        let res = post(&browser, &app.url("/admin/group/members"), &[("name", "ops/oncall"), ("username", "admin"), ("action", "remove")]).await;
        assert_ne!(res.status(), StatusCode::SEE_OTHER);

        // Profile.
        let res = post(&browser, &app.url("/admin/users/admin/profile"), &[("csrf_token", &token), ("name", "Root"), ("email", "root@example.com"), ("email_verified", "on")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let admin = app.state.db.run(|c| users::by_username(c, "admin")).await.unwrap().unwrap();
        assert_eq!((admin.name.as_deref(), admin.email.as_deref(), admin.email_verified), (Some("Root"), Some("root@example.com"), true));

        // A client admitting only the group, with a role.
        let client_id = register(&app, "Wiki", true).await;
        let path = format!("/admin/clients/{client_id}");
        let res = post(&browser, &app.url(&format!("{path}/access")), &[("csrf_token", &token), ("allowed_groups", "ops/oncall"), ("allowed_scopes", "")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = post(&browser, &app.url(&format!("{path}/roles")), &[("csrf_token", &token), ("role", "editor"), ("groups", "ops/oncall"), ("action", "add")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = get(&browser, &app.url(&path)).await.text().await.unwrap();
        assert!(html.contains("value=\"ops/oncall\"") && html.contains("editor"), "{html}");
        let cid = client_id.clone();
        let roles = app.state.db.run(move |c| client_roles::list(c, &cid)).await.unwrap();
        assert_eq!(roles[0].groups, ["ops/oncall"]);
        let res = post(&browser, &app.url(&format!("{path}/access")), &[("csrf_token", &token), ("allowed_groups", "nobody")]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);

        // An API with scopes, its scopes replaced, then allowed to the client.
        let res = post(&browser, &app.url("/admin/apis"), &[("csrf_token", &token), ("identifier", "https://api.example.com"), ("name", "Items"), ("scopes", "items:read=Read your items\nitems:write")]).await;
        assert_eq!(location(&res), "/admin/apis?notice=API+registered.");
        let res = post(&browser, &app.url("/admin/api/scopes"), &[("csrf_token", &token), ("identifier", "https://api.example.com"), ("scopes", "items:read=Read items")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = get(&browser, &app.url("/admin/apis")).await.text().await.unwrap();
        assert!(html.contains("items:read=Read items") && !html.contains("items:write"), "{html}");
        let res = post(&browser, &app.url(&format!("{path}/access")), &[("csrf_token", &token), ("allowed_groups", "ops/oncall"), ("allowed_scopes", "items:read")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = post(&browser, &app.url("/admin/api/remove?identifier=https%3A%2F%2Fapi.example.com"), &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/admin/apis?notice=API+removed.");

        // A group a client admits cannot go (the client would admit everyone); once it admits nobody in
        // particular, the group is removed after confirmation. Then a user.
        let res = post(&browser, &app.url("/admin/group/remove?name=ops%2Foncall"), &[("csrf_token", &token)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = post(&browser, &app.url(&format!("{path}/access")), &[("csrf_token", &token), ("allowed_groups", "")]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let res = get(&browser, &app.url("/admin/group/remove?name=ops%2Foncall")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = post(&browser, &app.url("/admin/group/remove?name=ops%2Foncall"), &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/admin/groups?notice=Group+removed.");
        let add = app.state.db.run(|c| porta::manage::users::add(c, &porta::manage::users::NewUserInput {
            username: "bob".into(), password: "Velvet-Compass-Quarry-17".into(), ..Default::default()
        }, &Default::default(), &porta::manage::Actor::cli(), 1)).await;
        assert!(add.is_ok());
        let res = post(&browser, &app.url("/admin/users/bob/remove"), &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/admin/users?notice=User+removed.");
        assert!(app.state.db.run(|c| users::by_username(c, "bob")).await.unwrap().is_none());
        let filter = audit::Filter { action_prefix: Some("user.remove".into()), ..Default::default() };
        let rows = app.state.db.run(move |c| audit::list(c, &filter, 10, 0)).await.unwrap();
        assert_eq!((rows[0].target.as_deref(), rows[0].actor.as_deref()), (Some("bob"), Some("admin")));
    }
}
