//! Showing the effective settings (`porta config check`) with every secret hidden.

use super::Settings;

impl Settings {
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
pub(super) fn redact_url(url: &str) -> String {
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
