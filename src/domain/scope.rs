//! Scope sets (RFC 6749 3.3): space-separated, order-free, duplicates ignored. Porta knows `openid`, `profile`,
//! `email` and `offline_access`; unknown scopes are refused with `invalid_scope`.

use std::collections::BTreeSet;

pub const SUPPORTED: &[&str] = &["openid", "profile", "email", "offline_access"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a scope parameter, refusing malformed and unknown scopes.
    pub fn parse(s: &str) -> Result<Scopes, String> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            // RFC 6749 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return Err("malformed scope".into());
            }
            if !SUPPORTED.contains(&token) {
                return Err(format!("unknown scope {token:?}"));
            }
            set.insert(token.to_string());
        }
        Ok(Scopes(set))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn without(&self, scope: &str) -> Scopes {
        Scopes(self.0.iter().filter(|s| *s != scope).cloned().collect())
    }
}

impl std::fmt::Display for Scopes {
    /// The canonical form: sorted, single spaces. Stored and compared in this form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<&str> = self.iter().collect();
        f.write_str(&v.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_canonicalises() {
        let s = Scopes::parse("profile openid  openid email").unwrap();
        assert_eq!(s.to_string(), "email openid profile");
        assert!(s.contains("openid"));
        assert!(Scopes::parse("openid").unwrap().is_subset_of(&s));
        assert!(Scopes::parse("openid admin").is_err());
        assert!(Scopes::parse("open\"id").is_err());
        assert!(Scopes::parse("").unwrap().is_empty());
    }

    proptest! {
        #[test]
        fn canonical_form_round_trips(s in "[a-z_ \\t\"]{0,40}") {
            if let Ok(parsed) = Scopes::parse(&s) {
                prop_assert_eq!(Scopes::parse(&parsed.to_string()).unwrap(), parsed);
            }
        }
    }
}
