//! `porta group`, `porta api`, `porta client role`, the clients' allowed groups and scopes, and
//! `porta user show|update|remove`, end to end with `--json`.

use crate::cli::{assert_one_line_error, json, porta};
use crate::helpers::TestDb;

both_backends! {
    async fn groups_roles_apis_and_users_from_the_cli(b: Backend) {
        let db = TestDb::new(b);
        porta(&db).args(["user", "add", "ada", "--email", "ada@example.com", "--password-stdin"])
            .write_stdin("Juniper-Falcon-Mosaic-4\n").assert().success();

        let g = json(&db, &["group", "add", "staff", "--description", "Everyone at work"]);
        assert_eq!(g["name"], "staff");
        json(&db, &["group", "add", "admins"]);
        assert_one_line_error(&porta(&db).args(["group", "add", "staff"]).output().unwrap(), "already exists");
        assert_one_line_error(&porta(&db).args(["group", "add", "bad name"]).output().unwrap(), "letters, digits");
        assert_eq!(json(&db, &["group", "add-member", "staff", "ada"])["changed"], true);
        assert_eq!(json(&db, &["group", "add-member", "staff", "ada"])["changed"], false);
        assert_one_line_error(&porta(&db).args(["group", "add-member", "staff", "ghost"]).output().unwrap(), "ghost");
        assert_eq!(json(&db, &["group", "members", "staff"])["members"], serde_json::json!(["ada"]));
        let list = json(&db, &["group", "list"]);
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[1]["name"], "staff");
        assert_eq!(list[1]["members"], serde_json::json!(["ada"]));

        let api = json(&db, &["api", "add", "--identifier", "https://api.example.com", "--name", "Items",
            "--scope", "items:read=Read your items", "--scope", "items:write"]);
        assert_eq!(api["scopes"][0]["description"], "Read your items");
        assert_one_line_error(
            &porta(&db).args(["api", "add", "--identifier", "https://other.example.com", "--name", "Other", "--scope", "items:read"]).output().unwrap(),
            "unique across APIs",
        );
        assert_one_line_error(
            &porta(&db).args(["api", "add", "--identifier", "https://x.example.com", "--name", "X", "--scope", "openid"]).output().unwrap(),
            "Porta's own",
        );
        let updated = json(&db, &["api", "update", "--identifier", "https://api.example.com", "--name", "Items API", "--scope", "items:read=Read items"]);
        assert_eq!(updated["name"], "Items API");
        assert_eq!(updated["scopes"].as_array().unwrap().len(), 1);
        assert_eq!(json(&db, &["api", "list"]).as_array().unwrap().len(), 1);

        let client = json(&db, &["client", "add", "--name", "Wiki", "--redirect-uri", "https://wiki.example.com/cb",
            "--allowed-group", "staff", "--allowed-scope", "items:read"]);
        let id = client["client_id"].as_str().unwrap().to_string();
        assert_one_line_error(
            &porta(&db).args(["client", "add", "--name", "W", "--redirect-uri", "https://w.example.com/cb", "--allowed-group", "nobody"]).output().unwrap(),
            "nobody",
        );
        assert_one_line_error(
            &porta(&db).args(["client", "add", "--name", "W", "--redirect-uri", "https://w.example.com/cb", "--allowed-scope", "items:write"]).output().unwrap(),
            "items:write",
        );
        let role = json(&db, &["client", "role", "add", &id, "editor", "--group", "staff", "--group", "admins"]);
        assert_eq!(role["groups"], serde_json::json!(["admins", "staff"]));
        assert_eq!(json(&db, &["client", "role", "list", &id])[0]["role"], "editor");
        json(&db, &["client", "role", "remove", &id, "editor"]);
        assert_eq!(json(&db, &["client", "role", "list", &id]), serde_json::json!([]));
        assert_one_line_error(&porta(&db).args(["group", "remove", "staff"]).output().unwrap(), "allowed group");
        let c = json(&db, &["client", "update", &id, "--no-allowed-groups"]);
        assert_eq!(c["client_id"], id.as_str());
        assert_eq!(c["allowed_groups"], serde_json::json!([]));
        assert_eq!(c["allowed_scopes"], serde_json::json!(["items:read"]));

        let shown = json(&db, &["user", "show", "ada"]);
        assert_eq!(shown["groups"], serde_json::json!(["staff"]));
        assert_eq!(shown["sessions"], 0);
        assert!(shown.get("password_hash").is_none());
        let u = json(&db, &["user", "update", "ada", "--name", "Ada Lovelace", "--email-verified", "true"]);
        assert_eq!((u["name"].as_str(), u["email_verified"].as_bool()), (Some("Ada Lovelace"), Some(true)));
        assert_one_line_error(&porta(&db).args(["user", "update", "ada", "--email", "nope"]).output().unwrap(), "email");
        assert_eq!(json(&db, &["user", "remove", "ada"])["removed"], true);
        assert_one_line_error(&porta(&db).args(["user", "show", "ada"]).output().unwrap(), "ada");
        assert_eq!(json(&db, &["group", "members", "staff"])["members"], serde_json::json!([]));

        porta(&db).args(["user", "add", "bob", "--password-stdin"]).write_stdin("Juniper-Falcon-Mosaic-4\n").assert().success();
        assert_eq!(json(&db, &["group", "remove-member", "staff", "bob"])["changed"], false);
        json(&db, &["group", "add-member", "staff", "bob"]);
        assert_eq!(json(&db, &["group", "remove-member", "staff", "bob"])["changed"], true);
        json(&db, &["group", "remove", "staff"]);
        json(&db, &["api", "remove", "--identifier", "https://api.example.com"]);
        assert_eq!(json(&db, &["group", "list"]).as_array().unwrap().len(), 1);
    }
}
