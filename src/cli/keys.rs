//! `porta keys ...`: list the signing keys with their derived state, rotate now, revoke in an emergency. Changes
//! go through `keys::rotation` (one locked transaction with its audit row); running instances pick them up within
//! `keys.key_refresh_interval`.

use clap::Subcommand;
use serde::Serialize;

use crate::clock::format_time;
use crate::config::Settings;
use crate::db::models::signing_keys as rows;
use crate::keys::{
    self, Changes, KeyGenerator, MasterKey, Timing, lifecycle, master, reseal, rotation,
};

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, state, size, and their timestamps.
    List,
    /// Promote the pre-published next key of one family to sign now, and publish a new next key.
    Rotate {
        /// The key family: RS256 (the default), ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        alg: keys::Alg,
    },
    /// Emergency: remove a key from the JWKS at once and erase its private key. If it signs, the next key of its
    /// family takes over at once; other families are left alone.
    Revoke {
        /// A kid is base64url and may start with '-'.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// Why, for the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Seal every private key again under a new master key, in one transaction. Without --new-key-file a new
    /// key is generated into the configured master key file and the old one kept beside it (FILE.previous).
    RotateMaster {
        /// A file holding the new master key (base64 of 32 bytes), e.g. from `head -c 32 /dev/urandom | base64`.
        #[arg(long)]
        new_key_file: Option<std::path::PathBuf>,
    },
}

/// One line of `porta keys list`.
#[derive(Debug, Serialize)]
pub struct KeyListing {
    pub kid: String,
    pub state: lifecycle::KeyState,
    pub alg: String,
    pub bits: i32,
    pub created_at: i64,
    pub published_at: i64,
    pub activates_at: i64,
    pub superseded_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoke_reason: Option<String>,
    /// When the key leaves the JWKS and loses its private key, once scheduled.
    pub removal_due: Option<i64>,
    pub has_private_key: bool,
}

pub fn run(cmd: &KeysCommand, json: bool, settings: &Settings, now: i64) -> anyhow::Result<()> {
    let mut conn = super::open(settings)?;
    let timing = Timing::from_settings(&settings.keys);
    match cmd {
        KeysCommand::List => {
            let stored = rows::all(&mut conn)?;
            let list = listing(&stored, now, &timing);
            super::output(json, &list, || render(&list))
        }
        KeysCommand::Rotate { alg } => {
            let changes = change(settings, &mut conn, |c, ctx| {
                rotation::rotate_now(c, ctx, *alg, now, Some("cli"))
            })?;
            super::output(json, &changes_json(&changes), || {
                let mut s = match &changes.promoted {
                    Some(kid) => format!("now signing {alg}: {kid}"),
                    None => "no key was promoted".to_string(),
                };
                if !changes.created.is_empty() {
                    s.push_str(&format!(
                        "\npublished as next: {}",
                        changes.created.join(", ")
                    ));
                }
                s.push_str("\nrunning instances switch within keys.key_refresh_interval");
                s
            })
        }
        KeysCommand::Revoke { kid, reason } => {
            let changes = change(settings, &mut conn, |c, ctx| {
                rotation::revoke(c, ctx, kid, reason, now, Some("cli"))
            })?;
            super::output(json, &changes_json(&changes), || {
                let mut s = format!("revoked: {kid}");
                if let Some(p) = &changes.promoted {
                    s.push_str(&format!("\nnow signing: {p}"));
                }
                if !changes.created.is_empty() {
                    s.push_str(&format!(
                        "\npublished as next: {}",
                        changes.created.join(", ")
                    ));
                }
                if changes.early_activation {
                    s.push_str(
                        "\nwarning: the key now signing was published only recently; relying parties with an older \
                         cached JWKS refetch it on the unknown kid",
                    );
                }
                s
            })
        }
        KeysCommand::RotateMaster { new_key_file } => {
            let (done, staged_into) =
                rotate_master(settings, &mut conn, new_key_file.as_deref(), now)?;
            super::output(json, &done, || {
                let mut s = format!(
                    "re-sealed {} key(s) and {} TOTP seed(s) from master key {} to {}",
                    done.keys,
                    done.totp_secrets,
                    if done.from.is_empty() {
                        "-".to_string()
                    } else {
                        done.from.join(", ")
                    },
                    done.to
                );
                if let Some(file) = &staged_into {
                    s.push_str(&format!(
                        "\nthe new master key is in {}; the old one is kept in {}.previous until you delete it",
                        file.display(),
                        file.display()
                    ));
                }
                s.push_str(
                    "\nrestart every `porta serve` with the new key (master_key_previous = the old key lets \
                     instances open rows sealed under either during the roll-out)",
                );
                s
            })
        }
    }
}

/// Re-seals every private key under the new master key: from `new_key_file`, or generated into the configured
/// key file (written beside it first, moved in place only after the transaction commits, so the database is never
/// sealed under a key that exists nowhere). Returns what was done and the file the generated key went to.
fn rotate_master(
    settings: &Settings,
    conn: &mut crate::db::AnyConnection,
    new_key_file: Option<&std::path::Path>,
    now: i64,
) -> anyhow::Result<(reseal::Resealed, Option<std::path::PathBuf>)> {
    let stored = rows::all(conn)?;
    let current = keys::check_master_key(settings, &stored)?;
    let previous = master::load_previous(settings)?;
    let openers: Vec<&MasterKey> = std::iter::once(&current).chain(previous.as_ref()).collect();
    if let Some(path) = new_key_file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
        );
        let target = MasterKey::parse(&text)?;
        return Ok((
            reseal::reseal_all(conn, &openers, &target, "cli", now)?,
            None,
        ));
    }
    if settings.master_key.is_some() {
        anyhow::bail!(
            "the master key comes from PORTA_MASTER_KEY (master_key): give the new one with --new-key-file FILE"
        );
    }
    let file = settings.master_key_file.clone();
    let staged = with_suffix(&file, ".new");
    let target = MasterKey::generate()?;
    master::write_new_file(&staged, &target)?;
    match reseal::reseal_all(conn, &openers, &target, "cli", now) {
        Ok(done) => {
            let kept = with_suffix(&file, ".previous");
            std::fs::rename(&file, &kept)
                .and_then(|_| std::fs::rename(&staged, &file))
                .map_err(|e| {
                    anyhow::anyhow!(
                        "the keys are re-sealed under the new master key, which is in {}; moving it to {} failed: \
                         {e}. Move it there by hand",
                        staged.display(),
                        file.display()
                    )
                })?;
            Ok((done, Some(file)))
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e.into())
        }
    }
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    s.into()
}

/// Runs a change with the master key checked against the stored keys (never replacing them).
fn change(
    settings: &Settings,
    conn: &mut crate::db::AnyConnection,
    f: impl FnOnce(&mut crate::db::AnyConnection, &rotation::Ctx<'_>) -> Result<Changes, keys::KeyError>,
) -> anyhow::Result<Changes> {
    let stored = rows::all(conn)?;
    let master = keys::check_master_key(settings, &stored)?;
    let generator = KeyGenerator::Rsa;
    let algorithms = keys::normalized(&settings.keys.algorithms);
    let ctx = rotation::Ctx {
        master: &master,
        generator: &generator,
        bits: settings.keys.rsa_bits,
        timing: Timing::from_settings(&settings.keys),
        algorithms: &algorithms,
    };
    Ok(f(conn, &ctx)?)
}

pub fn listing(stored: &[rows::SigningKey], now: i64, timing: &Timing) -> Vec<KeyListing> {
    let mut list: Vec<KeyListing> = lifecycle::view(stored, now, timing)
        .into_iter()
        .map(|v| KeyListing {
            kid: v.key.kid.clone(),
            state: v.state,
            alg: v.key.alg.clone(),
            bits: v.key.bits,
            created_at: v.key.created_at,
            published_at: v.key.published_at,
            activates_at: v.key.activates_at,
            superseded_at: v.key.superseded_at,
            revoked_at: v.key.revoked_at,
            revoke_reason: v.key.revoke_reason.clone(),
            removal_due: v.removal_due,
            has_private_key: v.key.sealed_private.is_some(),
        })
        .collect();
    // By family (RS256, ES256, EdDSA), newest first within each.
    let family = |alg: &str| keys::Alg::parse(alg).map_or(usize::MAX, |a| a as usize);
    list.sort_by(|a, b| {
        (family(&a.alg), b.activates_at, &a.kid).cmp(&(family(&b.alg), a.activates_at, &b.kid))
    });
    list
}

fn render(list: &[KeyListing]) -> String {
    let t = |s: Option<i64>| s.map(format_time).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "{:<43} {:<5} {:<8} {:<5} {:<20} {:<20} {:<20} {:<20} {:<20}",
        "KID",
        "ALG",
        "STATE",
        "BITS",
        "CREATED",
        "PUBLISHED",
        "ACTIVATES",
        "SUPERSEDED",
        "REMOVAL DUE"
    );
    for k in list {
        out.push_str(&format!(
            "\n{:<43} {:<5} {:<8} {:<5} {:<20} {:<20} {:<20} {:<20} {:<20}",
            k.kid,
            k.alg,
            k.state.as_str(),
            k.bits,
            format_time(k.created_at),
            format_time(k.published_at),
            format_time(k.activates_at),
            t(k.superseded_at),
            match k.state {
                lifecycle::KeyState::Revoked => format!("revoked {}", t(k.revoked_at)),
                lifecycle::KeyState::Retired => "removed".into(),
                _ => t(k.removal_due),
            }
        ));
    }
    if list.is_empty() {
        out.push_str("\n(no keys yet: `porta serve` creates them at first start)");
    }
    out
}

fn changes_json(c: &Changes) -> serde_json::Value {
    serde_json::json!({
        "promoted": c.promoted,
        "created": c.created,
        "revoked": c.revoked,
        "erased": c.erased,
        "early_activation": c.early_activation,
    })
}
