//! Encryption at rest of RSA private keys: AES-256-GCM under the master key, a random 96-bit nonce per sealing,
//! and the kid as associated data, so a sealed blob copied onto another row does not open.
//!
//! Layout of a sealed blob: `version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::KeyError;
use super::master::MasterKey;

const VERSION: u8 = 1;

fn aead_key(master: &MasterKey) -> Result<LessSafeKey, KeyError> {
    let key = UnboundKey::new(&AES_256_GCM, master.bytes())
        .map_err(|_| KeyError::Seal("AES-256-GCM rejected the master key".into()))?;
    Ok(LessSafeKey::new(key))
}

/// Encrypts `plaintext` (a private key in DER) for the row `kid`.
pub fn seal(master: &MasterKey, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
    let key = aead_key(master)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| KeyError::Seal("the system random generator failed".into()))?;
    let mut in_out = plaintext.to_vec();
    let sealed = key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(kid.as_bytes()),
        &mut in_out,
    );
    if sealed.is_err() {
        // The buffer holds plaintext on failure; wipe it before it is dropped.
        zeroize::Zeroize::zeroize(&mut in_out);
        return Err(KeyError::Seal("AES-256-GCM sealing failed".into()));
    }
    let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&in_out);
    Ok(out)
}

/// Decrypts a blob sealed for `kid`. Fails on a wrong master key, a wrong kid, or any tampering.
pub fn open(master: &MasterKey, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let wrong = || KeyError::Unseal(kid.to_string());
    let (&version, rest) = sealed.split_first().ok_or_else(wrong)?;
    if version != VERSION || rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(wrong());
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
    let key = aead_key(master)?;
    let mut in_out = Zeroizing::new(ciphertext.to_vec());
    let len = key
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut in_out)
        .map_err(|_| wrong())?
        .len();
    in_out.truncate(len);
    Ok(in_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_kid_and_key() {
        let master = MasterKey::from_bytes([3; 32]);
        let sealed = seal(&master, "kid-1", b"private key der").unwrap();
        assert!(!sealed.windows(15).any(|w| w == b"private key der"));
        assert_eq!(
            open(&master, "kid-1", &sealed).unwrap().as_slice(),
            b"private key der"
        );
        assert!(
            open(&master, "kid-2", &sealed).is_err(),
            "kid is associated data"
        );
        assert!(open(&MasterKey::from_bytes([4; 32]), "kid-1", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(&master, "kid-1", &tampered).is_err());
        assert!(open(&master, "kid-1", &[]).is_err());
        assert!(open(&master, "kid-1", &[1, 2, 3]).is_err());
        assert_ne!(
            seal(&master, "kid-1", b"x").unwrap(),
            seal(&master, "kid-1", b"x").unwrap()
        );
    }
}
