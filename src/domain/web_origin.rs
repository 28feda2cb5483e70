//! Web origins of browser apps (`porta client add --web-origin`): the `Origin` a browser sends (RFC 6454), so
//! scheme, host and port only. Stored and compared in their serialized form, which is what browsers send.

use url::Url;

use super::redirect_uri::is_loopback;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebOrigin(String);

impl WebOrigin {
    pub fn parse(s: &str) -> Result<WebOrigin, String> {
        let u = Url::parse(s.trim())
            .map_err(|e| format!("web origin {s:?} is not an absolute URL: {e}"))?;
        if u.cannot_be_a_base() || u.host().is_none() {
            return Err(format!("web origin {s:?} must have a host"));
        }
        if !u.username().is_empty()
            || u.password().is_some()
            || u.path() != "/"
            || u.query().is_some()
            || u.fragment().is_some()
        {
            return Err(format!(
                "web origin {s:?} must be scheme://host[:port] with nothing after it"
            ));
        }
        match u.scheme() {
            "https" => {}
            "http" if is_loopback(&u) => {}
            _ => {
                return Err(format!(
                    "web origin {s:?} must use https (http only on a loopback host)"
                ));
            }
        }
        // The ASCII serialization drops a default port and lowercases the host, as the Origin header does.
        Ok(WebOrigin(u.origin().ascii_serialization()))
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

    #[test]
    fn keeps_the_form_browsers_send() {
        for (given, stored) in [
            ("https://App.Example.com", "https://app.example.com"),
            ("https://app.example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            (
                "https://app.example.com:8443",
                "https://app.example.com:8443",
            ),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
            ("http://localhost:3000", "http://localhost:3000"),
        ] {
            assert_eq!(WebOrigin::parse(given).unwrap().as_str(), stored, "{given}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_origin() {
        for bad in [
            "app.example.com",
            "https://app.example.com/app",
            "https://app.example.com/?x=1",
            "https://app.example.com/#x",
            "https://user@app.example.com",
            "http://app.example.com",
            "null",
            "*",
            "file:///tmp",
        ] {
            assert!(WebOrigin::parse(bad).is_err(), "{bad}");
        }
    }
}
