//! The rules no single setting can express: the issuer's form, the timing rules of the key lifecycle
//! (DESIGN.md), and the bounds of each section.

use std::time::Duration;

use super::{ConfigError, Settings};

impl Settings {
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
        if self.blocking_threads == 0 {
            return Err(ConfigError("blocking_threads: must be at least 1".into()));
        }
        if !matches!(self.keys.rsa_bits, 2048 | 3072 | 4096) {
            return Err(ConfigError(
                "keys.rsa_bits: must be 2048, 3072 or 4096".into(),
            ));
        }
        if !self.keys.algorithms.contains(&crate::keys::Alg::Rs256) {
            return Err(ConfigError(
                "keys.algorithms: must include \"RS256\" (OpenID Connect requires it; ES256 and EdDSA are optional)"
                    .into(),
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
            ("tokens.device_code_ttl", self.tokens.device_code_ttl),
            (
                "tokens.device_poll_interval",
                self.tokens.device_poll_interval,
            ),
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
        if self.tokens.dpop_max_age.is_zero() {
            return Err(ConfigError(
                "tokens.dpop_max_age: must be longer than zero".into(),
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
}

fn fmt(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}
