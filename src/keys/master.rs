//! The master key: 32 random bytes that seal every RSA private key at rest (see `seal.rs`). It comes from
//! `PORTA_MASTER_KEY` / `master_key` (several instances share it) or from the file of the embedded deployment,
//! created with mode 0600 at first start. Its id, a short hash, is stored beside each sealed key so a wrong key is
//! recognised before any decryption is attempted, and so the master key can be rotated later.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{KeyError, seal};
use crate::config::Settings;
use crate::db::models::signing_keys::SigningKey;

/// Length of an AES-256 key.
pub const MASTER_KEY_LEN: usize = 32;

/// The master key and its id. `Debug` shows the id only.
#[derive(Clone)]
pub struct MasterKey {
    bytes: Zeroizing<[u8; MASTER_KEY_LEN]>,
    id: String,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> MasterKey {
        // The id is a hash of the key, not of anything secret-derived that could be brute-forced: 256 random bits.
        let digest = Sha256::new()
            .chain_update(b"porta master key id\0")
            .chain_update(bytes)
            .finalize();
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        MasterKey {
            bytes: Zeroizing::new(bytes),
            id,
        }
    }

    /// Parses the base64 form used in `PORTA_MASTER_KEY` and the key file.
    pub fn parse(text: &str) -> Result<MasterKey, KeyError> {
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| KeyError::MasterKey("the master key is not valid base64".into()))?,
        );
        let bytes: [u8; MASTER_KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            KeyError::MasterKey(format!(
                "the master key must be {MASTER_KEY_LEN} bytes (base64), got {}",
                decoded.len()
            ))
        })?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Result<MasterKey, KeyError> {
        use aws_lc_rs::rand::SecureRandom;
        let mut bytes = [0u8; MASTER_KEY_LEN];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::MasterKey("the system random generator failed".into()))?;
        let key = MasterKey::from_bytes(bytes);
        bytes.fill(0);
        Ok(key)
    }

    /// The short id stored beside each sealed key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A 256-bit secret for another purpose, named by `label` (domain separation: knowing one derived secret
    /// tells nothing about the master key or the others).
    pub fn derive_secret(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let digest = Sha256::new()
            .chain_update(b"porta derived secret\0")
            .chain_update(label)
            .chain_update(b"\0")
            .chain_update(self.bytes.as_slice())
            .finalize();
        Zeroizing::new(digest.into())
    }

    pub(crate) fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.bytes
    }

    fn encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_slice()))
    }
}

/// Where the configured master key comes from, for messages.
pub fn describe_source(settings: &Settings) -> String {
    if settings.master_key.is_some() {
        "PORTA_MASTER_KEY (master_key)".into()
    } else {
        format!("the master key file {}", settings.master_key_file.display())
    }
}

/// The configured master key: `master_key` when set, else the file. `Ok(None)` when neither exists; the file is
/// never created here (see `create_file`), so a missing key can be reported instead of silently replaced.
pub fn load(settings: &Settings) -> Result<Option<MasterKey>, KeyError> {
    if let Some(text) = settings.master_key.as_deref() {
        return MasterKey::parse(text).map(Some);
    }
    let path = &settings.master_key_file;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            warn_if_readable_by_others(path);
            MasterKey::parse(&text)
                .map(Some)
                .map_err(|e| KeyError::MasterKey(format!("{}: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::MasterKey(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The master key before a rotation (`master_key_previous`), if configured.
pub fn load_previous(settings: &Settings) -> Result<Option<MasterKey>, KeyError> {
    settings
        .master_key_previous
        .as_deref()
        .map(|text| {
            MasterKey::parse(text)
                .map_err(|e| KeyError::MasterKey(format!("master_key_previous: {e}")))
        })
        .transpose()
}

/// Writes `key` to a new file with mode 0600 (fails if it exists).
pub fn write_new_file(path: &Path, key: &MasterKey) -> Result<(), KeyError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| KeyError::MasterKey(format!("cannot create {}: {e}", path.display())))?;
    let mut text = key.encoded();
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| KeyError::MasterKey(format!("cannot write {}: {e}", path.display())))
}

/// Creates a new master key file with mode 0600. Fails if the file appeared meanwhile (`create_new`), so two
/// processes starting together cannot overwrite each other's key.
pub fn create_file(path: &Path) -> Result<MasterKey, KeyError> {
    let key = MasterKey::generate()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| KeyError::MasterKey(format!("cannot create {}: {e}", dir.display())))?;
    }
    write_new_file(path, &key)?;
    Ok(key)
}

/// The master key to use with the stored keys: refuses a missing or different key when sealed keys exist, and
/// creates the key file only when nothing is sealed yet.
pub fn check_master_key(settings: &Settings, stored: &[SigningKey]) -> anyhow::Result<MasterKey> {
    let sealed: Vec<&SigningKey> = stored
        .iter()
        .filter(|k| k.sealed_private.is_some())
        .collect();
    let source = describe_source(settings);
    let previous = load_previous(settings)?;
    match load(settings)? {
        Some(master) => {
            let ring: Vec<&MasterKey> = std::iter::once(&master).chain(previous.as_ref()).collect();
            for k in &sealed {
                let Some(opener) = ring.iter().find(|m| m.id() == k.master_key_id) else {
                    anyhow::bail!(
                        "the signing keys in the database are sealed under master key {}, but {source} holds \
                         master key {}. Configure the master key the keys were created with (or set it as \
                         master_key_previous during a rotation); Porta will not replace the existing signing keys",
                        k.master_key_id,
                        master.id()
                    );
                };
                // Same id, so the right key unless the row was tampered with; prove it by opening the key.
                if let Some(blob) = k.sealed_private.as_deref() {
                    seal::open(opener, &k.kid, blob)
                        .map_err(|e| anyhow::anyhow!("{e} (master key from {source})"))?;
                }
            }
            Ok(master)
        }
        None if !sealed.is_empty() => anyhow::bail!(
            "{} signing key(s) in the database are sealed under master key {}, but {source} is missing. Restore \
             it (or set PORTA_MASTER_KEY); Porta will not replace the existing signing keys",
            sealed.len(),
            sealed[0].master_key_id
        ),
        // `master::load` returns `None` only when no master key is configured and the file does not exist.
        None => {
            let key = match create_file(&settings.master_key_file) {
                Ok(key) => key,
                // Another process starting at the same moment created it first: use theirs.
                Err(_) if settings.master_key_file.exists() => load(settings)?
                    .ok_or_else(|| anyhow::anyhow!("{source} appeared but cannot be read"))?,
                Err(e) => return Err(e.into()),
            };
            tracing::info!(path = %settings.master_key_file.display(), id = key.id(), "created the master key");
            Ok(key)
        }
    }
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the master key file is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_secrets_agree_per_master_key_and_differ_per_label() {
        let (a, b) = (
            MasterKey::from_bytes([7u8; 32]),
            MasterKey::from_bytes([7u8; 32]),
        );
        let label = b"porta session cookie signing key v1";
        assert_eq!(
            *a.derive_secret(label),
            *b.derive_secret(label),
            "instances agree"
        );
        assert_ne!(
            *a.derive_secret(label),
            *a.derive_secret(b"another purpose")
        );
        assert_ne!(
            *a.derive_secret(label),
            *MasterKey::from_bytes([8u8; 32]).derive_secret(label)
        );
        assert_ne!(a.derive_secret(label).as_slice(), a.bytes().as_slice());
    }

    #[test]
    fn parse_checks_length_and_encoding() {
        assert!(MasterKey::parse("not base64!").is_err());
        assert!(MasterKey::parse(&STANDARD.encode([1u8; 16])).is_err());
        let k = MasterKey::parse(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(k.id().len(), 16);
        assert_eq!(k.id(), MasterKey::from_bytes([7u8; 32]).id());
        assert_ne!(k.id(), MasterKey::from_bytes([8u8; 32]).id());
        assert!(!format!("{k:?}").contains(&STANDARD.encode([7u8; 32])));
    }

    #[test]
    fn file_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let k = create_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            create_file(&path).is_err(),
            "an existing key is never overwritten"
        );
        let settings = Settings {
            master_key_file: path,
            ..Settings::default()
        };
        assert_eq!(load(&settings).unwrap().unwrap().id(), k.id());
    }

    #[test]
    fn missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            master_key_file: dir.path().join("absent.key"),
            ..Settings::default()
        };
        assert!(load(&settings).unwrap().is_none());
    }
}
