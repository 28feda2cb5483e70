//! Settings: built-in defaults, then a TOML file (`porta.toml`, `--config` or `PORTA_CONFIG`), then `PORTA_*`
//! environment variables (`PORTA_KEYS__ROTATION_PERIOD` sets `[keys] rotation_period`). Unknown keys in the file
//! are errors. This file holds the settings and their defaults; `load` reads them, `check` applies the rules no
//! single setting can express, `print` shows them with secrets hidden.

mod check;
mod load;
mod print;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

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
    /// Threads for blocking work (database, signing, argon2), shared out among the HTTP workers. Bounded so a
    /// burst of connections cannot grow hundreds of threads, each with its own stack and allocator arena (the
    /// default was 512 per process). Each worker gets its share, and the browsers a worker serves can only use
    /// its share: 8 in all halved the code flow's throughput on two cores, 16 and more did not
    /// (`benches/code-flow.sh` with `PORTA_BLOCKING_THREADS`).
    pub blocking_threads: usize,
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
    pub oauth: OAuthSettings,
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
    /// The key families that sign: `RS256` (always; OIDC Core section 15.1 requires it), `ES256`, `EdDSA`. Each
    /// has its own next, active and retiring keys; clients choose theirs (`id_token_alg`, `access_token_alg`).
    pub algorithms: Vec<crate::keys::Alg>,
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
    /// How long a device authorization request (RFC 8628) waits for the person to approve it.
    #[serde(with = "humantime_serde")]
    pub device_code_ttl: Duration,
    /// The polling interval a device is told to keep (RFC 8628 3.2 `interval`); `slow_down` adds 5 s.
    #[serde(with = "humantime_serde")]
    pub device_poll_interval: Duration,
    /// How old a DPoP proof (RFC 9449) may be, by its `iat`; a proof is accepted once within this window.
    #[serde(with = "humantime_serde")]
    pub dpop_max_age: Duration,
    /// Demand a server nonce in DPoP proofs (RFC 9449 8): derived from the master key and the time window, so every
    /// instance issues and accepts the same ones.
    pub dpop_nonce: bool,
}

/// OAuth protocol options (`[oauth]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthSettings {
    /// Every client must push its authorization requests (RFC 9126 `/par`); clients can also be told one by one
    /// (`porta client add --require-par`).
    pub require_par: bool,
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
            blocking_threads: 32,
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
            oauth: OAuthSettings::default(),
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
            algorithms: crate::keys::Alg::ALL.to_vec(),
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
            device_code_ttl: Duration::from_secs(10 * MINUTE),
            device_poll_interval: Duration::from_secs(5),
            dpop_max_age: Duration::from_secs(5 * MINUTE),
            dpop_nonce: false,
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
            max_concurrent_hashes: default_concurrent_hashes(),
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
    /// Whether cookies must carry `Secure`.
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// argon2 is CPU-bound: more checks at once than cores only adds 19 MiB each and makes every one slower.
fn default_concurrent_hashes() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4))
}
