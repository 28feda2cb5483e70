//! Signing keys of three families (RS256, ES256, EdDSA; `alg`): generation (`generate`), encryption at rest (`master`, `seal`), the lifecycle derived from
//! timestamps (`lifecycle`), changes to the key table (`rotation`), and the in-memory key set every request reads
//! (`keyset`). `Keys` ties them together for a running instance: requests call `current()`, which never touches
//! the database; the job in `jobs.rs` calls `tick`, which rotates when due and reloads.

pub mod alg;
pub mod generate;
pub mod keyset;
pub mod lifecycle;
pub mod master;
pub mod reseal;
pub mod rotation;
pub mod seal;
pub mod signer;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use alg::Alg;
pub use generate::KeyGenerator;
pub use keyset::KeySet;
pub use lifecycle::{KeyState, Timing};
pub use master::{MasterKey, check_master_key};
pub use rotation::Changes;
pub use signer::KeySigner;

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::db::models::signing_keys::{self as rows, SigningKey};
use crate::db::{AnyConnection, Db, StoreError};

/// Errors of signing, verification and key management.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no signing key is active")]
    NoActiveKey,
    #[error("the token's alg is not the algorithm of its key's family")]
    UnsupportedAlgorithm,
    #[error("the token's kid is missing or unknown")]
    UnknownKid,
    #[error("invalid token: {0}")]
    Token(jsonwebtoken::errors::Error),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("serialization failed: {0}")]
    Serialize(serde_json::Error),
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("invalid key {0}")]
    InvalidKey(String),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("sealing failed: {0}")]
    Seal(String),
    #[error("cannot decrypt the private key of {0}: wrong master key, or the row was altered")]
    Unseal(String),
    #[error("no key {0}")]
    NotFound(String),
    #[error("key {0} is already revoked")]
    AlreadyRevoked(String),
    #[error("the next key {kid} has been published for less than the pre-publication time; it can sign from {}", crate::clock::format_time(*ready_at))]
    TooEarly { kid: String, ready_at: i64 },
    #[error("{0}")]
    Invalid(String),
    #[error("inconsistent key table: {0}")]
    Inconsistent(String),
    /// Internal: the rotation transaction needs this many more generated keys of a family.
    #[error("{1} more {0} keys needed")]
    NeedKeys(Alg, usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        KeyError::Store(e.into())
    }
}

/// Key sets indexed by the instant they take effect: the set at the last reload and, when a next key is
/// scheduled, the set from its activation on, so every instance switches signer at the same second without
/// waiting for its next reload.
struct Loaded {
    sets: Vec<(i64, Arc<KeySet>)>,
    /// Parsed signers by kid, kept across reloads: unsealing and parsing happen once per key, not per reload.
    signers: HashMap<String, Arc<KeySigner>>,
}

/// The keys of a running instance (in `AppState` as `keys`).
pub struct Keys {
    clock: SharedClock,
    master: MasterKey,
    /// The master key before a rotation (`master_key_previous`): opens rows not yet re-sealed, never seals.
    previous: Option<MasterKey>,
    generator: KeyGenerator,
    bits: usize,
    timing: Timing,
    /// The enabled families (`keys.algorithms`).
    algorithms: Vec<Alg>,
    loaded: RwLock<Loaded>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("master", &self.master)
            .field("generator", &self.generator)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// The key set in force now. Cheap (a read lock and an `Arc` clone); never touches the database.
    pub fn current(&self) -> Arc<KeySet> {
        let now = self.clock.now();
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded
            .sets
            .iter()
            .rev()
            .find(|(from, _)| *from <= now)
            .or(loaded.sets.first())
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| Arc::new(KeySet::empty()))
    }

    /// Checks the master key against the stored keys, creates the first keys on an empty table, and loads the set.
    /// Refuses (never replaces keys) when sealed keys exist and the master key is missing or different.
    pub async fn bootstrap(
        db: &Db,
        settings: &Settings,
        clock: SharedClock,
        generator: KeyGenerator,
    ) -> anyhow::Result<Keys> {
        let stored = db.run(rows::all).await?;
        let master = check_master_key(settings, &stored)?;
        let mut keys = Keys::new(master, clock, generator, settings);
        keys.previous = master::load_previous(settings)?;
        keys.ensure(db).await?;
        keys.reload(db).await?;
        Ok(keys)
    }

    /// A `Keys` with nothing loaded yet; `bootstrap` is the usual way in.
    pub fn new(
        master: MasterKey,
        clock: SharedClock,
        generator: KeyGenerator,
        settings: &Settings,
    ) -> Keys {
        Keys {
            clock,
            master,
            previous: None,
            generator,
            bits: settings.keys.rsa_bits,
            timing: Timing::from_settings(&settings.keys),
            algorithms: normalized(&settings.keys.algorithms),
            loaded: RwLock::new(Loaded {
                sets: Vec::new(),
                signers: HashMap::new(),
            }),
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// The enabled families (`keys.algorithms`), RS256 first.
    pub fn algorithms(&self) -> &[Alg] {
        &self.algorithms
    }

    /// A secret derived from the master key for another purpose (the session cookie's signing key).
    pub fn derive_secret(&self, label: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
        self.master.derive_secret(label)
    }

    /// Seals a secret Porta must read back (a TOTP seed) under the current master key, bound to `aad`. The text
    /// form names the master key (`sealed:<master key id>:<base64>`), so `keys rotate-master` can seal it again.
    pub fn seal_secret(&self, aad: &str, plain: &[u8]) -> Result<String, KeyError> {
        seal_text(&self.master, aad, plain)
    }

    /// Opens what `seal_secret` made, with the current or the previous master key.
    pub fn open_secret(&self, aad: &str, stored: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        let (id, _) = sealed_text_parts(stored)?;
        open_text(self.master_for(id)?, aad, stored)
    }

    pub fn master_key_id(&self) -> &str {
        self.master.id()
    }

    /// The configured master key with this id: the current one or, during a roll-out, the previous one.
    fn master_for(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.master)
            .chain(self.previous.as_ref())
            .find(|m| m.id() == id)
    }

    /// The context rotation functions need.
    pub fn ctx(&self) -> rotation::Ctx<'_> {
        rotation::Ctx {
            master: &self.master,
            generator: &self.generator,
            bits: self.bits,
            timing: self.timing,
            algorithms: &self.algorithms,
        }
    }

    /// Rebuilds the in-memory sets from the database at the clock's now.
    pub async fn reload(&self, db: &Db) -> Result<(), KeyError> {
        self.reload_at(db, self.clock.now()).await
    }

    /// Rebuilds the in-memory sets from the database at `now`.
    pub async fn reload_at(&self, db: &Db, now: i64) -> Result<(), KeyError> {
        let stored = db.run(rows::all).await?;
        self.load_rows(&stored, now)
    }

    /// Rebuilds the in-memory sets from `stored` at `now`; synchronous, for callers on a blocking thread.
    pub fn load_rows(&self, stored: &[SigningKey], now: i64) -> Result<(), KeyError> {
        let previous = {
            let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
            loaded.signers.clone()
        };
        // Signers for the key active now and the next one of each enabled family; the sets below need them.
        let mut signers = HashMap::new();
        let wanted = self.algorithms.iter().flat_map(|&a| {
            [
                lifecycle::active_at(stored, a, now),
                lifecycle::next_at(stored, a, now),
            ]
        });
        for key in wanted.flatten() {
            if let Some(s) = previous.get(&key.kid) {
                signers.insert(key.kid.clone(), s.clone());
                continue;
            }
            let Some(sealed) = key.sealed_private.as_deref() else {
                continue;
            };
            let Some(master) = self.master_for(&key.master_key_id) else {
                return Err(KeyError::MasterKey(format!(
                    "key {} is sealed under master key {}, but the configured master key is {}",
                    key.kid,
                    key.master_key_id,
                    self.master.id()
                )));
            };
            let der = seal::open(master, &key.kid, sealed)?;
            signers.insert(key.kid.clone(), Arc::new(KeySigner::from_row(key, &der)?));
        }
        let build = |at| KeySet::build(stored, at, &self.timing, &signers, &self.algorithms);
        let mut sets = vec![(now, Arc::new(build(now)?))];
        // One set per upcoming activation (families rotate independently), in time order.
        let mut activations: Vec<i64> = self
            .algorithms
            .iter()
            .filter_map(|&a| lifecycle::next_at(stored, a, now).map(|k| k.activates_at))
            .collect();
        activations.sort_unstable();
        activations.dedup();
        for at in activations {
            sets.push((at, Arc::new(build(at)?)));
        }
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        *loaded = Loaded { sets, signers };
        Ok(())
    }

    /// Rotates if due (creating the first keys on an empty table), erases retired private keys; reloads after a
    /// change. Returns what changed.
    pub async fn ensure(&self, db: &Db) -> Result<Changes, KeyError> {
        self.ensure_at(db, self.clock.now()).await
    }

    /// `ensure` at `now`.
    pub async fn ensure_at(&self, db: &Db, now: i64) -> Result<Changes, KeyError> {
        let changes = self
            .change(db, move |c, ctx| rotation::ensure(c, ctx, now))
            .await?;
        if !changes.is_empty() {
            tracing::info!(created = ?changes.created, erased = ?changes.erased, "signing keys changed");
        }
        Ok(changes)
    }

    /// The periodic work of one instance: `ensure`, then `reload`. A failure leaves the previous set in force.
    pub async fn tick(&self, db: &Db) -> Result<Changes, KeyError> {
        self.tick_at(db, self.clock.now()).await
    }

    /// `tick` at `now`.
    pub async fn tick_at(&self, db: &Db, now: i64) -> Result<Changes, KeyError> {
        let changes = self.ensure_at(db, now).await?;
        self.reload_at(db, now).await?;
        Ok(changes)
    }

    /// `porta keys rotate` from a running instance (admin pages): promotes the next key of family `alg`, then
    /// reloads at once.
    pub async fn rotate_now(
        &self,
        db: &Db,
        alg: Alg,
        actor: Option<String>,
    ) -> Result<Changes, KeyError> {
        let now = self.clock.now();
        let changes = self
            .change(db, move |c, ctx| {
                rotation::rotate_now(c, ctx, alg, now, actor.as_deref())
            })
            .await?;
        self.reload(db).await?;
        Ok(changes)
    }

    /// Emergency revocation from a running instance: removes `kid` at once, then reloads at once.
    pub async fn revoke(
        &self,
        db: &Db,
        kid: String,
        reason: String,
        actor: Option<String>,
    ) -> Result<Changes, KeyError> {
        let now = self.clock.now();
        let changes = self
            .change(db, move |c, ctx| {
                rotation::revoke(c, ctx, &kid, &reason, now, actor.as_deref())
            })
            .await?;
        self.reload(db).await?;
        Ok(changes)
    }

    /// Runs one rotation-module change on the blocking pool with this instance's master key, generator and timing.
    async fn change<F>(&self, db: &Db, f: F) -> Result<Changes, KeyError>
    where
        F: FnOnce(&mut AnyConnection, &rotation::Ctx<'_>) -> Result<Changes, KeyError>
            + Send
            + 'static,
    {
        let (master, generator, bits, timing, algorithms) = (
            self.master.clone(),
            self.generator.clone(),
            self.bits,
            self.timing,
            self.algorithms.clone(),
        );
        db.run(move |c| {
            let ctx = rotation::Ctx {
                master: &master,
                generator: &generator,
                bits,
                timing,
                algorithms: &algorithms,
            };
            f(c, &ctx)
        })
        .await
    }
}

/// The enabled families in `Alg::ALL` order, each once, RS256 always (the config check refuses a list without it).
pub fn normalized(algorithms: &[Alg]) -> Vec<Alg> {
    Alg::ALL
        .into_iter()
        .filter(|a| *a == Alg::Rs256 || algorithms.contains(a))
        .collect()
}

/// `sealed:<master key id>:<base64 of seal::seal>`: a secret sealed under a master key, as text.
pub fn seal_text(master: &MasterKey, aad: &str, plain: &[u8]) -> Result<String, KeyError> {
    use base64::Engine;
    let sealed = seal::seal(master, aad, plain)?;
    Ok(format!(
        "sealed:{}:{}",
        master.id(),
        base64::engine::general_purpose::STANDARD.encode(sealed)
    ))
}

/// The master key id and the blob of a sealed text.
pub fn sealed_text_parts(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix("sealed:")?.rsplit_once(':')
}

/// Opens a sealed text with `master` (which must be the one it names).
pub fn open_text(
    master: &MasterKey,
    aad: &str,
    stored: &str,
) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    use base64::Engine;
    let (id, b64) = sealed_text_parts(stored)?;
    if id != master.id() {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    seal::open(master, aad, &blob).ok()
}
