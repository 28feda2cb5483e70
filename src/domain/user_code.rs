//! The user code of the device authorization grant (RFC 8628 6.1): eight characters from twenty consonants that
//! cannot be mistaken for each other or for digits (no vowels, so no words either), about 34.6 bits, drawn from
//! the OS CSPRNG and shown as `XXXX-XXXX`. What a person types is compared without case, dashes or spaces.

use rand::Rng;

/// RFC 8628 6.1's example alphabet: `BCDFGHJKLMNPQRSTVWXZ`.
pub const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a code (the dash aside).
pub const LEN: usize = 8;

/// A user code in its normal form: eight letters of `ALPHABET`, upper case, no dash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh random code.
    pub fn generate() -> UserCode {
        let mut rng = rand::rngs::OsRng;
        UserCode(
            (0..LEN)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    /// What a person typed, ignoring case, dashes and white space; `None` when it cannot be a code.
    pub fn parse(typed: &str) -> Option<UserCode> {
        if typed.len() > 64 {
            return None;
        }
        let normal: String = typed
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = normal.len() == LEN && normal.bytes().all(|b| ALPHABET.contains(&b));
        valid.then_some(UserCode(normal))
    }

    /// `XXXX-XXXX`, as shown to the person.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..LEN / 2], &self.0[LEN / 2..])
    }

    /// The stored form: the SHA-256 of the normal form.
    pub fn hash(&self) -> String {
        crate::crypto::secrets::hash_secret(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_codes_use_the_alphabet_and_read_back() {
        for _ in 0..200 {
            let c = UserCode::generate();
            assert_eq!(c.0.len(), LEN);
            assert!(c.0.bytes().all(|b| ALPHABET.contains(&b)));
            let shown = c.display();
            assert_eq!(shown.len(), LEN + 1);
            assert_eq!(UserCode::parse(&shown), Some(c.clone()));
            assert_eq!(UserCode::parse(&shown.to_lowercase()), Some(c));
        }
        assert_ne!(UserCode::generate(), UserCode::generate());
    }

    #[test]
    fn typing_is_forgiving_but_the_letters_are_not() {
        let c = UserCode::parse("bcdf-ghjk").unwrap();
        assert_eq!(c.display(), "BCDF-GHJK");
        assert_eq!(UserCode::parse(" BCDF GHJK "), Some(c.clone()));
        assert_eq!(UserCode::parse("BCDFGHJK"), Some(c.clone()));
        assert_eq!(c.hash(), UserCode::parse("b-c-d-f-g-h-j-k").unwrap().hash());
        // Vowels, digits and lookalikes are never part of a code.
        assert_eq!(UserCode::parse("BCDF-GHJA"), None);
        assert_eq!(UserCode::parse("BCDF-GHJ0"), None);
        assert_eq!(UserCode::parse("BCDF-GHJ"), None);
        assert_eq!(UserCode::parse("BCDF-GHJKL"), None);
        assert_eq!(UserCode::parse(""), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_normal_forms(s in "\\PC{0,80}") {
            if let Some(c) = UserCode::parse(&s) {
                prop_assert_eq!(c.0.len(), LEN);
                prop_assert!(c.0.bytes().all(|b| ALPHABET.contains(&b)));
            }
        }
    }
}
