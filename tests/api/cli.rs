//! The `porta` binary's management commands, end to end, on both backends.

use assert_cmd::Command;

use crate::helpers::TestDb;

/// `porta` with a config file that points at `db` (the file is what `--config` reads in production too).
pub fn porta(db: &TestDb) -> Command {
    let config = db.dir.path().join("porta.toml");
    if !config.exists() {
        std::fs::write(
            &config,
            format!(
                "database_url = \"{}\"\nmaster_key_file = \"{}\"\n",
                db.url,
                db.dir.path().join("master.key").display()
            ),
        )
        .unwrap();
    }
    let mut cmd = Command::cargo_bin("porta").unwrap();
    cmd.current_dir(db.dir.path())
        .env_remove("PORTA_DATABASE_URL")
        .env_remove("PORTA_CONFIG")
        .arg("--config")
        .arg(config);
    cmd
}

/// Runs `porta ARGS --json` against `db`, which must succeed, and returns its output.
pub fn json(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let out = porta(db).args(args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_json(&out)
}

pub fn stdout_json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A failed command: non-zero, one line on stderr starting with `error:`.
pub fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        lines[0].contains(needle),
        "{err:?} should mention {needle:?}"
    );
}

fn user_count(db: &TestDb) -> usize {
    let out = porta(db).args(["user", "list", "--json"]).output().unwrap();
    assert!(out.status.success());
    stdout_json(&out).as_array().unwrap().len()
}

both_backends! {
    async fn users_from_the_cli(b: Backend) {
        let db = TestDb::new(b);
        let out = porta(&db)
            .args(["user", "add", "alice", "--email", "alice@example.com", "--name", "Alice", "--password-stdin", "--json"])
            .write_stdin("Marmalade-Lighthouse-51\n")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let user = stdout_json(&out);
        assert_eq!(user["username"], "alice");
        assert!(user.get("password_hash").is_none(), "the hash is never printed");

        let list = porta(&db).args(["user", "list", "--json"]).output().unwrap();
        let list = stdout_json(&list);
        assert_eq!(list[0]["email"], "alice@example.com");
        assert_eq!(list[0]["disabled"], false);

        porta(&db).args(["user", "disable", "alice"]).assert().success();
        let list = stdout_json(&porta(&db).args(["user", "list", "--json"]).output().unwrap());
        assert_eq!(list[0]["disabled"], true);
        porta(&db).args(["user", "enable", "alice"]).assert().success();

        porta(&db)
            .args(["user", "set-password", "alice", "--password-stdin"])
            .write_stdin("Pebble-Saffron-Trellis-6\n")
            .assert()
            .success();
        let text = porta(&db).args(["user", "list"]).output().unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("alice") && text.contains("active"), "{text}");
    }

    async fn bad_user_input_exits_non_zero_and_writes_nothing(b: Backend) {
        let db = TestDb::new(b);
        porta(&db).args(["user", "add", "alice", "--password-stdin"]).write_stdin("Juniper-Falcon-Mosaic-4
").assert().success();

        let dup = porta(&db).args(["user", "add", "alice", "--password-stdin"]).write_stdin("Juniper-Falcon-Mosaic-4
").output().unwrap();
        assert_one_line_error(&dup, "already exists");
        let empty = porta(&db).args(["user", "add", "bob", "--password-stdin"]).write_stdin("\n").output().unwrap();
        assert_one_line_error(&empty, "at least 12 characters");
        let common = porta(&db).args(["user", "add", "bob", "--password-stdin"]).write_stdin("password1234\n").output().unwrap();
        assert_one_line_error(&common, "too common");
        let no_tty = porta(&db).args(["user", "add", "carol"]).write_stdin("").output().unwrap();
        assert_one_line_error(&no_tty, "--password-stdin");
        let ghost = porta(&db).args(["user", "disable", "ghost"]).output().unwrap();
        assert_one_line_error(&ghost, "ghost");
        let bad_mail = porta(&db).args(["user", "add", "dave", "--email", "x", "--password-stdin"]).write_stdin("Juniper-Falcon-Mosaic-4
").output().unwrap();
        assert_one_line_error(&bad_mail, "email");

        assert_eq!(user_count(&db), 1);
    }

    async fn clients_from_the_cli(b: Backend) {
        let db = TestDb::new(b);
        let out = porta(&db)
            .args([
                "client", "add", "--name", "Wiki",
                "--redirect-uri", "https://wiki.example.com/cb",
                "--redirect-uri", "http://127.0.0.1:9000/cb",
                "--post-logout-redirect-uri", "https://wiki.example.com/",
                "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                "--first-party", "--json",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reg = stdout_json(&out);
        let id = reg["client_id"].as_str().unwrap().to_string();
        let secret = reg["client_secret"].as_str().unwrap().to_string();
        assert!(secret.len() >= 43, "256-bit secret");

        let public = stdout_json(
            &porta(&db)
                .args(["client", "add", "--name", "SPA", "--public", "--redirect-uri", "http://localhost:5173/cb", "--json"])
                .output()
                .unwrap(),
        );
        assert!(public.get("client_secret").is_none(), "public clients get no secret");

        let list = stdout_json(&porta(&db).args(["client", "list", "--json"]).output().unwrap());
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        let wiki = list.iter().find(|c| c["client_id"] == id).unwrap();
        assert_eq!(wiki["first_party"], true);
        assert!(!wiki.to_string().contains(&secret), "the secret is never listed");

        let rotated = stdout_json(&porta(&db).args(["client", "rotate-secret", &id, "--json"]).output().unwrap());
        assert_ne!(rotated["client_secret"], reg["client_secret"]);

        porta(&db).args(["client", "remove", &id]).assert().success();
        let list = stdout_json(&porta(&db).args(["client", "list", "--json"]).output().unwrap());
        assert_eq!(list.as_array().unwrap().len(), 1);
    }

    async fn bad_client_input_exits_non_zero_and_writes_nothing(b: Backend) {
        let db = TestDb::new(b);
        let bad_uri = porta(&db).args(["client", "add", "--name", "X", "--redirect-uri", "http://evil.example.com/cb"]).output().unwrap();
        assert_one_line_error(&bad_uri, "https");
        let malformed = porta(&db).args(["client", "add", "--name", "X", "--redirect-uri", "not a uri"]).output().unwrap();
        assert_one_line_error(&malformed, "not an absolute URL");
        let grant = porta(&db).args(["client", "add", "--name", "X", "--redirect-uri", "https://x.example/cb", "--grant-type", "password"]).output().unwrap();
        assert_one_line_error(&grant, "unknown grant type");
        let unknown = porta(&db).args(["client", "remove", "no-such-client"]).output().unwrap();
        assert_one_line_error(&unknown, "no-such-client");
        let unknown = porta(&db).args(["client", "rotate-secret", "no-such-client"]).output().unwrap();
        assert_one_line_error(&unknown, "no-such-client");
        let list = stdout_json(&porta(&db).args(["client", "list", "--json"]).output().unwrap());
        assert!(list.as_array().unwrap().is_empty());
    }

    async fn migrate_applies_then_reports_up_to_date(b: Backend) {
        let db = TestDb::new(b);
        let first = porta(&db).arg("migrate").output().unwrap();
        assert!(String::from_utf8_lossy(&first.stdout).contains("applied"));
        let second = porta(&db).arg("migrate").output().unwrap();
        assert!(String::from_utf8_lossy(&second.stdout).contains("up to date"));
    }
}

#[test]
fn config_check_prints_effective_settings_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("porta.toml");
    std::fs::write(&cfg, "database_url = \"postgres://porta:hunter2@db.internal/porta\"\n[keys]\nrotation_period = \"14d\"\n").unwrap();
    let out = Command::cargo_bin("porta")
        .unwrap()
        .current_dir(dir.path())
        .env("PORTA_MASTER_KEY", "c2VjcmV0LW1hc3Rlci1rZXk=")
        .env("PORTA_LISTEN", "0.0.0.0:9999")
        .args(["--config", cfg.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rotation_period = \"14days\""), "{text}");
    assert!(text.contains("listen = \"0.0.0.0:9999\""), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("c2VjcmV0"),
        "{text}"
    );
}

#[test]
fn bad_config_exits_with_one_line_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let run = |toml: &str, env: &[(&str, &str)]| {
        let cfg = dir.path().join("porta.toml");
        std::fs::write(&cfg, toml).unwrap();
        let mut cmd = Command::cargo_bin("porta").unwrap();
        cmd.current_dir(dir.path())
            .args(["--config", cfg.to_str().unwrap(), "config", "check"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    assert_one_line_error(&run("lisen = \"x\"\n", &[]), "lisen: unknown setting");
    assert_one_line_error(
        &run("", &[("PORTA_KEYS__ROTATION_PERIOD", "soon")]),
        "keys.rotation_period",
    );
    assert_one_line_error(&run("database_url = \"mysql://x\"\n", &[]), "database_url");
    assert_one_line_error(&run("[keys]\nrsa_bits = 1024\n", &[]), "keys.rsa_bits");
    let missing = Command::cargo_bin("porta")
        .unwrap()
        .args(["--config", "/nonexistent/porta.toml", "config", "check"])
        .output()
        .unwrap();
    assert_one_line_error(&missing, "does not exist");
}
