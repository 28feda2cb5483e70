//! Loading, checking and printing the settings.

use std::path::Path;
use std::time::Duration;

use super::load::{known_keys, unknown_env_vars};
use super::print::redact_url;
use super::*;

#[expect(
    clippy::result_large_err,
    reason = "figment's Jail API returns its own error type"
)]
fn load(toml: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut out = None;
    figment::Jail::expect_with(|jail| {
        jail.clear_env();
        jail.create_file("porta.toml", toml)?;
        for (k, v) in env {
            jail.set_env(k, v);
        }
        out = Some(Settings::load(Some(Path::new("porta.toml"))));
        Ok(())
    });
    out.unwrap()
}

#[test]
fn defaults_are_the_embedded_deployment() {
    let s = load("", &[]).unwrap();
    assert_eq!(s.database_url, "sqlite://data/porta.db");
    assert_eq!(s.listen, "127.0.0.1:8080");
    assert_eq!(s.issuer, "http://localhost:8080");
    assert_eq!(s.keys.rotation_period, Duration::from_secs(30 * DAY));
}

#[test]
fn mfa_settings_load_and_are_checked() {
    let s = load("", &[]).unwrap();
    assert!(s.mfa.enroll_on_demand && s.mfa.required_for_admins);
    let s = load(
        "[mfa]\nrequired_for_admins = false\n",
        &[("PORTA_MFA__ENROLL_ON_DEMAND", "false")],
    )
    .unwrap();
    assert!(!s.mfa.enroll_on_demand && !s.mfa.required_for_admins);
    assert!(known_keys().contains("mfa.second_step_timeout"));
    let e = load("[mfa]\ntotp_issuer = \"a:b\"\n", &[]).unwrap_err();
    assert!(e.0.contains("mfa.totp_issuer"), "{}", e.0);
}

#[test]
fn env_overrides_file_with_nested_keys_and_human_durations() {
    let s = load(
        "issuer = \"https://id.example.com\"\n[keys]\nrotation_period = \"10d\"\n",
        &[
            ("PORTA_KEYS__ROTATION_PERIOD", "20d"),
            ("PORTA_LISTEN", "0.0.0.0:9000"),
            ("PORTA_ADMIN_PASSWORD", "not a setting"),
        ],
    )
    .unwrap();
    assert_eq!(s.keys.rotation_period, Duration::from_secs(20 * DAY));
    assert_eq!(s.listen, "0.0.0.0:9000");
    assert_eq!(s.issuer, "https://id.example.com");
}

#[test]
fn bad_settings_are_named() {
    let e = load("colour = \"blue\"\n", &[]).unwrap_err().0;
    assert!(e.starts_with("colour: unknown setting"), "{e}");
    let e = load("[keys]\nrotation_period = \"banana\"\n", &[])
        .unwrap_err()
        .0;
    assert!(e.starts_with("keys.rotation_period:"), "{e}");
    let e = load("", &[("PORTA_KEYS__JWKS_MAX_AGE", "20d")])
        .unwrap_err()
        .0;
    assert!(
        e.contains("keys.rotation_period") && e.contains("keys.jwks_max_age"),
        "{e}"
    );
    let e = load("[keys]\nretire_after = \"1h\"\n", &[]).unwrap_err().0;
    assert!(e.starts_with("keys.retire_after"), "{e}");
    let e = load("issuer = \"http://id.example.com\"\n", &[])
        .unwrap_err()
        .0;
    assert!(e.starts_with("issuer:"), "{e}");
}

#[test]
fn environment_that_is_not_ours_is_ignored_with_a_warning() {
    // Kubernetes injects these into every pod of a Service named `porta`.
    let s = load(
        "",
        &[
            ("PORTA_PORT", "tcp://10.0.0.1:8080"),
            ("PORTA_SERVICE_HOST", "10.0.0.1"),
            ("PORTA_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
            ("PORTA_BIN", "/usr/local/bin/porta"),
            ("PORTA_LISTEN", "0.0.0.0:9000"),
        ],
    )
    .unwrap();
    assert_eq!(s.listen, "0.0.0.0:9000");
    let known = known_keys();
    let vars = [
        "PORTA_PORT",
        "PORTA_LISTEN",
        "PORTA_KEYS__RSA_BITS",
        "PORTA_CONFIG",
        "HOME",
    ];
    assert_eq!(
        unknown_env_vars(vars.iter().map(|v| v.to_string()), &known),
        vec!["PORTA_PORT".to_string()]
    );
    // A known setting with a bad value is still an error.
    let e = load("", &[("PORTA_KEYS__RSA_BITS", "many")]).unwrap_err().0;
    assert!(e.starts_with("keys.rsa_bits"), "{e}");
    // And an unknown key in the file too.
    assert!(load("[keys]\ncolour = 1\n", &[]).is_err());
}

#[test]
fn printed_config_hides_secrets() {
    let s = Settings {
        database_url: "postgres://porta:hunter2@db/porta".into(),
        master_key: Some("c2VjcmV0".into()),
        ..Settings::default()
    };
    let out = s.to_toml();
    assert!(
        !out.contains("hunter2") && !out.contains("c2VjcmV0"),
        "{out}"
    );
    assert!(out.contains("rotation_period = \"30days\""), "{out}");
}

#[test]
fn password_query_parameters_are_redacted() {
    let url = "postgres://porta@db/porta?sslmode=require&password=hunter2&SSLPassword=s3cret";
    let out = redact_url(url);
    assert!(!out.contains("hunter2") && !out.contains("s3cret"), "{out}");
    assert!(
        out.contains("sslmode=require") && out.contains("password=****"),
        "{out}"
    );
    assert_eq!(
        redact_url("sqlite://data/porta.db"),
        "sqlite://data/porta.db"
    );
}

#[test]
fn key_algorithms_default_to_every_family_and_require_rs256() {
    use crate::keys::Alg;
    assert_eq!(load("", &[]).unwrap().keys.algorithms, Alg::ALL.to_vec());
    let s = load("[keys]\nalgorithms = [\"RS256\", \"EdDSA\"]\n", &[]).unwrap();
    assert_eq!(s.keys.algorithms, vec![Alg::Rs256, Alg::EdDsa]);
    let s = load("", &[("PORTA_KEYS__ALGORITHMS", "[RS256,ES256]")]).unwrap();
    assert_eq!(s.keys.algorithms, vec![Alg::Rs256, Alg::Es256]);
    let e = load("[keys]\nalgorithms = [\"ES256\", \"EdDSA\"]\n", &[]).unwrap_err();
    assert!(
        e.0.contains("keys.algorithms") && e.0.contains("RS256"),
        "{}",
        e.0
    );
    let e = load("[keys]\nalgorithms = [\"RS256\", \"HS256\"]\n", &[]).unwrap_err();
    assert!(e.0.contains("keys.algorithms"), "{}", e.0);
    // `porta config check` prints the list.
    let printed = load("", &[]).unwrap().to_toml();
    assert!(
        printed.contains(r#"algorithms = ["RS256","ES256","EdDSA"]"#),
        "{printed}"
    );
}
