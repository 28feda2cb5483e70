//! Recovery codes: ten single-use codes shown once, stored as SHA-256 hashes (they are random, so a fast hash is
//! enough), for the day the second factor is lost. Regenerating replaces every earlier code.

use crate::crypto::secrets;

/// Codes per set.
pub const COUNT: usize = 10;
/// Characters a code is drawn from: no 0/O, 1/I/L confusion.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
/// Characters per code, shown as two groups of five (about 50 bits).
const LEN: usize = 10;

/// A new set of codes, as the user will see them (`abcde-fghjk`).
pub fn generate() -> Vec<String> {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..COUNT)
        .map(|_| {
            let raw: String = (0..LEN)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..LEN / 2], &raw[LEN / 2..])
        })
        .collect()
}

/// A code as typed, reduced to its characters: case, spaces and dashes do not matter.
pub fn normalize(typed: &str) -> Option<String> {
    let s: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (s.len() == LEN && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// The stored form of a code (as typed or as generated).
pub fn hash(code: &str) -> Option<String> {
    normalize(code).map(|c| secrets::hash_secret(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_typing_is_forgiving() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        let c = &codes[0];
        assert_eq!(hash(c), hash(&c.to_uppercase().replace('-', " ")));
        assert!(hash("short").is_none());
        assert!(hash("0000000000").is_none());
    }
}
