//! Settings: built-in defaults, then a TOML file (`porta.toml`, `--config` or `PORTA_CONFIG`), then `PORTA_*`
//! environment variables (`PORTA_KEYS__ROTATION_PERIOD` sets `[keys] rotation_period`). Unknown keys are errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Environment variables with the `PORTA_` prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["CONFIG", "ADMIN_PASSWORD", "TEST_POSTGRES", "TEST_BROWSER"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The issuer identifier; every URL Porta publishes starts with it.
    pub issuer: String,
    /// Address to listen on.
    pub listen: String,
    /// `sqlite://PATH` or `postgres://...`.
    pub database_url: String,
    /// Connections in the pool.
    pub database_pool_size: u32,
    /// The master key file of the embedded deployment (created at first start).
    pub master_key_file: PathBuf,
    /// The master key itself (base64, 32 bytes), for several instances; wins over the file.
    #[serde(skip_serializing)]
    pub master_key: Option<String>,
    /// The master key before a rotation (base64), so instances open rows sealed under either during a roll-out.
    #[serde(skip_serializing)]
    pub master_key_previous: Option<String>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// Load balancers whose `X-Forwarded-For` is believed for the client address (throttling, audit).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub sessions: SessionSettings,
    pub login: LoginSettings,
    pub passwords: PasswordSettings,
    pub metrics: MetricsSettings,
    pub backchannel: BackchannelSettings,
    pub mfa: MfaSettings,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// How long a key signs before the next one takes over. The next key is published this long beforehand.
    #[serde(with = "humantime_serde")]
    pub rotation_period: Duration,
    /// RSA modulus size: 2048, 3072 or 4096.
    pub rsa_bits: usize,
    /// `Cache-Control: max-age` of the JWKS.
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    /// How often each instance reloads the key set from the database.
    #[serde(with = "humantime_serde")]
    pub key_refresh_interval: Duration,
    /// How long a superseded key stays published. Must cover every token and session it could have signed.
    #[serde(with = "humantime_serde")]
    pub retire_after: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    #[serde(with = "humantime_serde")]
    pub id_token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub code_ttl: Duration,
    /// The absolute lifetime of a refresh-token family: rotation never extends it.
    #[serde(with = "humantime_serde")]
    pub refresh_token_max_life: Duration,
    /// How long after a rotation the previous refresh token may still be used once more (two tabs refreshing at
    /// once) instead of counting as a leaked copy. Zero: never.
    #[serde(with = "humantime_serde")]
    pub refresh_reuse_grace: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionSettings {
    /// A session unused this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    #[serde(with = "humantime_serde")]
    pub max_life: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginSettings {
    /// Failures allowed (per account and per address) before sign-in is locked.
    pub max_failures: u32,
    /// The first lockout; each further failure doubles it.
    #[serde(with = "humantime_serde")]
    pub lockout: Duration,
    /// The longest lockout.
    #[serde(with = "humantime_serde")]
    pub max_lockout: Duration,
    /// Failures older than this are forgotten.
    #[serde(with = "humantime_serde")]
    pub failure_window: Duration,
    /// Password hashes (argon2, 19 MiB each) computed at once; further sign-ins wait their turn.
    pub max_concurrent_hashes: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordSettings {
    /// Shortest password accepted, in characters.
    pub min_length: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <token>`.
    #[serde(skip_serializing)]
    pub bearer_token: Option<String>,
}

/// Multi-factor sign-in (`[mfa]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaSettings {
    /// A user without a second factor whom an application asks for one is taken to enrolment and back; when off,
    /// the application gets `unmet_authentication_requirements`.
    pub enroll_on_demand: bool,
    /// The admin console demands a second factor (enrolled on first use).
    pub required_for_admins: bool,
    /// The name authenticator apps show for TOTP entries (the `issuer` of the `otpauth://` URI).
    pub totp_issuer: String,
    /// How long after the password the second step may be completed.
    #[serde(with = "humantime_serde")]
    pub second_step_timeout: Duration,
    /// How recent the last sign-in step must be to enrol or remove a factor on `/account`.
    #[serde(with = "humantime_serde")]
    pub recent_auth: Duration,
}

impl Default for MfaSettings {
    fn default() -> Self {
        MfaSettings {
            enroll_on_demand: true,
            required_for_admins: true,
            totp_issuer: "Porta".into(),
            second_step_timeout: Duration::from_secs(5 * MINUTE),
            recent_auth: Duration::from_secs(5 * MINUTE),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackchannelSettings {
    /// How long one delivery of a logout token may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Deliveries tried before a logout token is given up.
    pub max_attempts: u32,
    /// How often each instance looks for logout tokens to deliver.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            issuer: "http://localhost:8080".into(),
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/porta.db".into(),
            database_pool_size: 8,
            master_key_file: PathBuf::from("keys/master.key"),
            master_key: None,
            master_key_previous: None,
            log_format: LogFormat::Text,
            trusted_proxies: Vec::new(),
            keys: KeySettings::default(),
            tokens: TokenSettings::default(),
            sessions: SessionSettings::default(),
            login: LoginSettings::default(),
            passwords: PasswordSettings::default(),
            metrics: MetricsSettings::default(),
            backchannel: BackchannelSettings::default(),
            mfa: MfaSettings::default(),
        }
    }
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            rotation_period: Duration::from_secs(30 * DAY),
            rsa_bits: 2048,
            jwks_max_age: Duration::from_secs(10 * MINUTE),
            key_refresh_interval: Duration::from_secs(30),
            retire_after: Duration::from_secs(7 * DAY),
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            id_token_ttl: Duration::from_secs(HOUR),
            access_token_ttl: Duration::from_secs(10 * MINUTE),
            refresh_token_ttl: Duration::from_secs(30 * DAY),
            code_ttl: Duration::from_secs(60),
            refresh_token_max_life: Duration::from_secs(90 * DAY),
            refresh_reuse_grace: Duration::ZERO,
        }
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle_timeout: Duration::from_secs(8 * HOUR),
            max_life: Duration::from_secs(DAY),
        }
    }
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings {
            max_failures: 5,
            lockout: Duration::from_secs(30),
            max_lockout: Duration::from_secs(15 * MINUTE),
            failure_window: Duration::from_secs(15 * MINUTE),
            max_concurrent_hashes: 4,
        }
    }
}

impl Default for PasswordSettings {
    fn default() -> Self {
        PasswordSettings { min_length: 12 }
    }
}

impl Default for BackchannelSettings {
    fn default() -> Self {
        BackchannelSettings {
            timeout: Duration::from_secs(5),
            max_attempts: 10,
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// A configuration that cannot be used; the message names the setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads defaults, then `file` (or `porta.toml` when it exists), then the environment, and checks the result.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::load_with_env(file, Env::prefixed("PORTA_"))
    }

    fn load_with_env(file: Option<&Path>, env: Env) -> Result<Settings, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        match file {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file_exact(path));
            }
            None if Path::new("porta.toml").exists() => {
                fig = fig.merge(Toml::file_exact("porta.toml"))
            }
            None => {}
        }
        // Variables that name no setting (Kubernetes' `PORTA_PORT`, a script's `PORTA_BIN`) are not ours: warn and
        // leave them out. A known setting with a bad value stays an error.
        let known = known_keys();
        let unknown = unknown_env_vars(std::env::vars().map(|(k, _)| k), &known);
        if !unknown.is_empty() {
            eprintln!(
                "warning: ignoring environment variables that are not Porta settings: {}",
                unknown.join(", ")
            );
        }
        let env = env
            .ignore(NOT_SETTINGS)
            .filter(move |k| known.contains(&env_key(k.as_str())))
            .split("__");
        let settings: Settings = fig.merge(env).extract().map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rules a setting cannot express alone (DESIGN.md, timing rules).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let issuer =
            url::Url::parse(&self.issuer).map_err(|e| ConfigError(format!("issuer: {e}")))?;
        if !matches!(issuer.scheme(), "http" | "https")
            || issuer.query().is_some()
            || issuer.fragment().is_some()
            || self.issuer.ends_with('/')
        {
            return Err(ConfigError(
                "issuer: must be an http(s) URL without query, fragment or trailing slash".into(),
            ));
        }
        if issuer.scheme() == "http" && !crate::domain::redirect_uri::is_loopback(&issuer) {
            return Err(ConfigError(
                "issuer: must be https unless the host is loopback".into(),
            ));
        }
        crate::db::backend_of(&self.database_url)
            .map_err(|e| ConfigError(format!("database_url: {e}")))?;
        if self.database_pool_size == 0 {
            return Err(ConfigError("database_pool_size: must be at least 1".into()));
        }
        if !matches!(self.keys.rsa_bits, 2048 | 3072 | 4096) {
            return Err(ConfigError(
                "keys.rsa_bits: must be 2048, 3072 or 4096".into(),
            ));
        }
        let k = &self.keys;
        let prepublication = 2 * k.jwks_max_age + k.key_refresh_interval;
        if k.rotation_period < prepublication {
            return Err(ConfigError(format!(
                "keys.rotation_period ({}) must be at least 2 x keys.jwks_max_age + keys.key_refresh_interval ({}): \
                 the next key is published one rotation period before it signs",
                fmt(k.rotation_period),
                fmt(prepublication)
            )));
        }
        let hold = self.minimum_hold();
        if k.retire_after < hold {
            return Err(ConfigError(format!(
                "keys.retire_after ({}) must be at least max(tokens.id_token_ttl, tokens.access_token_ttl, \
                 sessions.max_life) + keys.jwks_max_age ({})",
                fmt(k.retire_after),
                fmt(hold)
            )));
        }
        for (name, d) in [
            ("tokens.id_token_ttl", self.tokens.id_token_ttl),
            ("tokens.access_token_ttl", self.tokens.access_token_ttl),
            ("tokens.code_ttl", self.tokens.code_ttl),
            ("sessions.idle_timeout", self.sessions.idle_timeout),
            ("keys.key_refresh_interval", k.key_refresh_interval),
        ] {
            if d.is_zero() {
                return Err(ConfigError(format!("{name}: must be longer than zero")));
            }
        }
        if self.login.max_failures == 0 {
            return Err(ConfigError("login.max_failures: must be at least 1".into()));
        }
        if self.login.max_concurrent_hashes == 0 {
            return Err(ConfigError(
                "login.max_concurrent_hashes: must be at least 1".into(),
            ));
        }
        if self.tokens.refresh_token_max_life < self.tokens.refresh_token_ttl {
            return Err(ConfigError(
                "tokens.refresh_token_max_life: must be at least tokens.refresh_token_ttl".into(),
            ));
        }
        if self.passwords.min_length == 0 || self.passwords.min_length > 128 {
            return Err(ConfigError(
                "passwords.min_length: must be between 1 and 128".into(),
            ));
        }
        if self.backchannel.timeout.is_zero() || self.backchannel.max_attempts == 0 {
            return Err(ConfigError(
                "backchannel: timeout and max_attempts must be more than zero".into(),
            ));
        }
        if self.mfa.second_step_timeout.is_zero() || self.mfa.recent_auth.is_zero() {
            return Err(ConfigError(
                "mfa: second_step_timeout and recent_auth must be longer than zero".into(),
            ));
        }
        let name = self.mfa.totp_issuer.trim();
        if name.is_empty() || name.len() > 64 || name.contains(':') {
            return Err(ConfigError(
                "mfa.totp_issuer: 1 to 64 characters, without ':'".into(),
            ));
        }
        Ok(())
    }

    /// The shortest hold that keeps every unexpired token and live session's `id_token_hint` verifiable.
    pub fn minimum_hold(&self) -> Duration {
        self.tokens
            .id_token_ttl
            .max(self.tokens.access_token_ttl)
            .max(self.sessions.max_life)
            + self.keys.jwks_max_age
    }

    /// Whether cookies must carry `Secure`.
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The database URL with any password hidden.
    pub fn redacted_database_url(&self) -> String {
        redact_url(&self.database_url)
    }

    /// The effective configuration as TOML, secrets left out.
    pub fn to_toml(&self) -> String {
        let mut s = String::new();
        let redacted = Settings {
            database_url: redact_url(&self.database_url),
            ..self.clone()
        };
        s.push_str(&toml_string(&redacted));
        if self.master_key.is_some() {
            s.push_str("# master_key is set (hidden)\n");
        }
        if self.master_key_previous.is_some() {
            s.push_str("# master_key_previous is set (hidden)\n");
        }
        s
    }
}

fn toml_string(s: &Settings) -> String {
    // Durations print as human strings through humantime_serde; figment's own TOML writer is not public.
    let value = serde_json::to_value(s).expect("settings serialize");
    let mut out = String::new();
    let mut tables = String::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            match v {
                serde_json::Value::Object(inner) => {
                    tables.push_str(&format!("\n[{k}]\n"));
                    for (ik, iv) in inner {
                        tables.push_str(&format!("{ik} = {iv}\n"));
                    }
                }
                serde_json::Value::Null => {}
                other => out.push_str(&format!("{k} = {other}\n")),
            }
        }
    }
    out + &tables
}

/// Query parameters that carry a secret in a libpq URL (`?password=`, `?sslpassword=`).
const SECRET_PARAMS: &[&str] = &["password", "sslpassword"];

/// Hides a password in a database URL: the userinfo part and any password query parameter.
fn redact_url(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_string();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("****"));
    }
    let secret = |k: &str| SECRET_PARAMS.iter().any(|s| k.eq_ignore_ascii_case(s));
    if u.query_pairs().any(|(k, _)| secret(&k)) {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "****".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Every setting's dotted name (`issuer`, `keys.rotation_period`), from the defaults plus the secrets they leave
/// out when printed.
fn known_keys() -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(Settings::default()) {
        for (k, v) in map {
            if let serde_json::Value::Object(inner) = v {
                keys.extend(inner.keys().map(|ik| format!("{k}.{ik}")));
            }
            keys.insert(k);
        }
    }
    keys.extend(["master_key", "master_key_previous", "metrics.bearer_token"].map(str::to_string));
    keys
}

/// The dotted name a `PORTA_` variable (without its prefix) would set: `KEYS__ROTATION_PERIOD` is
/// `keys.rotation_period`.
fn env_key(var: &str) -> String {
    var.to_ascii_lowercase().replace("__", ".")
}

/// The `PORTA_*` variables among `vars` that name no setting (and are not one of Porta's other variables).
fn unknown_env_vars(
    vars: impl Iterator<Item = String>,
    known: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let mut unknown: Vec<String> = vars
        .filter_map(|v| {
            let rest = v.strip_prefix("PORTA_")?;
            let ours = NOT_SETTINGS.iter().any(|n| n.eq_ignore_ascii_case(rest));
            (!ours && !known.contains(&env_key(rest))).then_some(v)
        })
        .collect();
    unknown.sort();
    unknown
}

fn fmt(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// One line naming the setting: `keys.rotation_period: invalid duration "banana"`.
fn describe(e: figment::Error) -> ConfigError {
    let e = e
        .into_iter()
        .next()
        .expect("a figment error holds at least one error");
    let mut path: Vec<String> = e.path.clone();
    if path.first().map(String::as_str) == Some("default") {
        path.remove(0);
    }
    let kind = match &e.kind {
        figment::error::Kind::UnknownField(f, _) => {
            // Some providers already put the field in the path, others stop at its table.
            if path.last() != Some(f) {
                path.push(f.clone());
            }
            "unknown setting".to_string()
        }
        other => other.to_string(),
    };
    let source = e
        .metadata
        .as_ref()
        .map(|m| format!(" (from {})", m.name))
        .unwrap_or_default();
    if path.is_empty() {
        ConfigError(format!("invalid configuration: {kind}{source}"))
    } else {
        ConfigError(format!("{}: {kind}{source}", path.join(".")))
    }
}

#[cfg(test)]
mod tests {
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
}
