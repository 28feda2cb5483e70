//! Redirect URIs as registered by clients: absolute, no fragment, https unless the host is loopback (RFC 6749
//! 3.1.2, RFC 8252 7.3). Matching at `/authorize` is exact string comparison against the registered list.

use std::net::IpAddr;

use url::{Host, Url};

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    pub fn parse(s: &str) -> Result<RedirectUri, String> {
        let u =
            Url::parse(s).map_err(|e| format!("redirect URI {s:?} is not an absolute URL: {e}"))?;
        if u.fragment().is_some() {
            return Err(format!("redirect URI {s:?} must not contain a fragment"));
        }
        if u.cannot_be_a_base() || u.host().is_none() {
            return Err(format!("redirect URI {s:?} must have a host"));
        }
        match u.scheme() {
            "https" => {}
            "http" if is_loopback(&u) => {}
            _ => {
                return Err(format!(
                    "redirect URI {s:?} must use https (http only on a loopback host)"
                ));
            }
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(format!("redirect URI {s:?} must not contain credentials"));
        }
        // Keep the string as given: matching is exact.
        Ok(RedirectUri(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "http://[::1]:8000/cb",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "/relative",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "javascript:alert(1)",
            "https://user:pw@app.example.com/",
            "",
            "ftp://127.0.0.1/",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_uris_are_kept_verbatim(s in "\\PC{0,80}") {
            if let Ok(u) = RedirectUri::parse(&s) {
                prop_assert_eq!(u.as_str(), s.as_str());
            }
        }
    }
}
