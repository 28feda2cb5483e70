//! Scope sets (RFC 6749 3.3): space-separated, order-free, duplicates ignored. Parsing checks the syntax only:
//! which scopes a request may have (Porta's own `SUPPORTED` ones and the API scopes a client is allowed) is
//! decided by `tokens::authz`, and unknown ones are ignored there (OIDC Core 3.1.2.1).

use std::collections::BTreeSet;

/// The scopes Porta itself defines (discovery's `scopes_supported`); API scopes come from the database.
pub const SUPPORTED: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "groups",
    "roles",
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a scope parameter, refusing malformed scope tokens (unknown names are kept for the caller to judge).
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
            if token.len() > 128 {
                return Err("scope name too long".into());
            }
            set.insert(token.to_string());
        }
        Ok(Scopes(set))
    }

    /// A set of already-valid scope names.
    pub fn from_known<'a>(names: impl IntoIterator<Item = &'a str>) -> Scopes {
        Scopes(names.into_iter().map(str::to_string).collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
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
        assert!(Scopes::parse("openid admin").unwrap().contains("admin"));
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
