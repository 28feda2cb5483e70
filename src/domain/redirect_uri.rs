//! Redirect URIs as registered by clients (RFC 6749 3.1.2, RFC 8252): absolute, no fragment, no credentials, and
//! one of three kinds: https; http on a loopback host; or, for public (native) clients only, a private-use scheme
//! named after a reverse domain (`com.example.app:/callback`, RFC 8252 7.1).
//!
//! Matching (`matches`) is exact string comparison, with one exception: a registered `http://127.0.0.1/...` or
//! `http://[::1]/...` accepts any port (RFC 8252 7.3), because a native app listens on whatever port the operating
//! system gives it.

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

/// Schemes that must never receive an authorization response, whatever the client: they run code or read
/// local files in the browser (RFC 8252 8.4 leaves the rest to the server; these are the obvious ones).
const DANGEROUS_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "file",
    "vbscript",
    "blob",
    "filesystem",
    "about",
    "view-source",
];

/// What kind of redirect URI a registration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Https,
    /// `http` on a loopback host (RFC 8252 7.3).
    Loopback,
    /// A private-use scheme (RFC 8252 7.1): only public clients may register one.
    PrivateUse,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    uri: String,
    kind: Kind,
}

impl RedirectUri {
    /// An https or loopback-http URI: what confidential clients and back-channel logout URIs may use.
    pub fn parse(s: &str) -> Result<RedirectUri, String> {
        let u = Self::parse_any(s)?;
        if u.kind == Kind::PrivateUse {
            return Err(format!(
                "redirect URI {s:?} uses a private-use scheme, which only public (native) clients may register"
            ));
        }
        Ok(u)
    }

    /// As `parse`, and also a private-use scheme (RFC 8252 7.1), for public clients.
    pub fn parse_any(s: &str) -> Result<RedirectUri, String> {
        let u =
            Url::parse(s).map_err(|e| format!("redirect URI {s:?} is not an absolute URL: {e}"))?;
        if u.fragment().is_some() {
            return Err(format!("redirect URI {s:?} must not contain a fragment"));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(format!("redirect URI {s:?} must not contain credentials"));
        }
        let kind = match u.scheme() {
            "https" | "http" if u.host().is_none() => {
                return Err(format!("redirect URI {s:?} must have a host"));
            }
            "https" => Kind::Https,
            "http" if is_loopback(&u) => Kind::Loopback,
            "http" => {
                return Err(format!(
                    "redirect URI {s:?} must use https (http only on a loopback host)"
                ));
            }
            scheme if DANGEROUS_SCHEMES.contains(&scheme) => {
                return Err(format!("redirect URI {s:?} uses a forbidden scheme"));
            }
            // RFC 8252 7.1: a reverse domain name the app's publisher controls, so two apps do not claim the same
            // scheme by accident; a path after it (`com.example.app:/callback`), not an opaque string.
            scheme if scheme.contains('.') && !u.cannot_be_a_base() => Kind::PrivateUse,
            _ => {
                return Err(format!(
                    "redirect URI {s:?} must use https, http on a loopback host, or a private-use scheme named \
                     after a reverse domain (com.example.app:/callback)"
                ));
            }
        };
        // Keep the string as given: matching is exact.
        Ok(RedirectUri {
            uri: s.to_string(),
            kind,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn as_str(&self) -> &str {
        &self.uri
    }

    pub fn into_string(self) -> String {
        self.uri
    }
}

/// Whether a requested redirect URI matches a registered one: character for character, except that a
/// registration on a loopback IP literal accepts any port (RFC 8252 7.3), with scheme, host, path and query still
/// exact. Used everywhere a request's redirect URI is checked against a registration (`/authorize`, the re-check
/// before a code is issued); never for post-logout redirect URIs, which stay exact.
///
/// `localhost` stays exact on purpose (RFC 8252 8.3): the name can resolve to something other than the loopback
/// interface (a hosts file, a resolver), so an app that registers it gets exactly what it registered and no more.
pub fn matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => host_a == host_b && rest_a == rest_b,
        _ => false,
    }
}

/// `http://127.0.0.1[:port]<rest>` or `http://[::1][:port]<rest>` as (scheme and host, rest), the port dropped.
/// Textual on purpose: whatever follows the port must match the registration exactly, as written.
fn split_loopback(uri: &str) -> Option<(&'static str, &str)> {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        let Some(after) = uri.strip_prefix(host) else {
            continue;
        };
        let rest = match after.strip_prefix(':') {
            Some(port) => {
                let digits = port
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(port.len());
                port[..digits].parse::<u16>().ok()?;
                &port[digits..]
            }
            None => after,
        };
        // Anything else would be another host (`http://127.0.0.1.evil.example/`).
        if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') {
            return Some((host, rest));
        }
        return None;
    }
    None
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
            "com.example.app:/callback",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_use_schemes_only_for_native_apps_and_never_dangerous_ones() {
        for ok in [
            "com.example.app:/callback",
            "com.example.app:/oauth2redirect/porta?x=1",
            "com.example.app://callback",
        ] {
            let u = RedirectUri::parse_any(ok).unwrap();
            assert_eq!(u.kind(), Kind::PrivateUse, "{ok}");
            assert!(RedirectUri::parse(ok).is_err(), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "javascript://example.com/%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "data://x/y",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "about:blank",
            "myapp:/callback",
            "com.example.app:callback",
            "com.example.app:/cb#frag",
            "com.example.app://user:pw@host/cb",
        ] {
            assert!(RedirectUri::parse_any(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_literals_match_any_port_and_nothing_else_does() {
        let v4 = "http://127.0.0.1/callback";
        let v6 = "http://[::1]/callback";
        for (reg, req) in [
            (v4, "http://127.0.0.1:51004/callback"),
            (v4, "http://127.0.0.1/callback"),
            (
                "http://127.0.0.1:8080/callback",
                "http://127.0.0.1:9/callback",
            ),
            (v6, "http://[::1]:65535/callback"),
            ("http://127.0.0.1:80/cb?x=1", "http://127.0.0.1:1/cb?x=1"),
        ] {
            assert!(matches(reg, req), "{reg} {req}");
        }
        for (reg, req) in [
            // localhost stays exact (RFC 8252 8.3).
            (v4, "http://localhost:51004/callback"),
            (
                "http://localhost/callback",
                "http://localhost:51004/callback",
            ),
            // The other loopback family, another host, another scheme.
            (v4, "http://[::1]:51004/callback"),
            (v4, "http://127.0.0.2:51004/callback"),
            (v4, "https://127.0.0.1:51004/callback"),
            (v4, "http://127.0.0.1.evil.example:51004/callback"),
            (v4, "http://127.0.0.1:51004@evil.example/callback"),
            // Path and query stay exact.
            (v4, "http://127.0.0.1:51004/callback/"),
            (v4, "http://127.0.0.1:51004/Callback"),
            (v4, "http://127.0.0.1:51004/callback?x=1"),
            (v4, "http://127.0.0.1:/callback"),
            (v4, "http://127.0.0.1:99999/callback"),
            // Everything else is exact.
            (
                "https://app.example.com/cb",
                "https://app.example.com:443/cb",
            ),
            ("com.example.app:/cb", "com.example.app:/cb/"),
        ] {
            assert!(!matches(reg, req), "{reg} {req}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_uris_are_kept_verbatim(s in "\\PC{0,80}") {
            if let Ok(u) = RedirectUri::parse_any(&s) {
                prop_assert_eq!(u.as_str(), s.as_str());
            }
        }

        #[test]
        fn any_port_on_a_loopback_literal_and_nowhere_else(
            host in prop::sample::select(vec!["127.0.0.1", "[::1]", "localhost", "app.example.com", "127.0.0.2"]),
            port in any::<u16>(),
            path in "/[a-z]{0,8}",
            other in "/[a-z]{0,8}",
        ) {
            let registered = format!("http://{host}{path}");
            let requested = format!("http://{host}:{port}{path}");
            let literal = host == "127.0.0.1" || host == "[::1]";
            prop_assert_eq!(matches(&registered, &requested), literal);
            // A different path never matches, whatever the host.
            let elsewhere = format!("http://{host}:{port}{other}");
            prop_assert_eq!(matches(&registered, &elsewhere), literal && other == path);
        }

        #[test]
        fn matching_never_panics(a in "\\PC{0,60}", b in "\\PC{0,60}") {
            let _ = matches(&a, &b);
        }
    }
}
