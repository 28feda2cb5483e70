//! Reading the settings: defaults, then the TOML file, then `PORTA_*` variables; errors name the setting.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

use super::{ConfigError, Settings};

/// Environment variables with the `PORTA_` prefix that are not settings.
const NOT_SETTINGS: &[&str] = &["CONFIG", "ADMIN_PASSWORD", "TEST_POSTGRES", "TEST_BROWSER"];

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
}

/// Every setting's dotted name (`issuer`, `keys.rotation_period`), from the defaults plus the secrets they leave
/// out when printed.
pub(super) fn known_keys() -> std::collections::BTreeSet<String> {
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
pub(super) fn unknown_env_vars(
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
