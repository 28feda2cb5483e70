//! Form parameters of the protocol endpoints (`/token`, `/introspect`, `/revoke`, `POST /userinfo`):
//! `application/x-www-form-urlencoded` (RFC 6749 3.2), size-limited, no parameter repeated (RFC 6749 3.1), and a
//! parameter sent without a value treated as omitted.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::OAuthError;

/// The largest form body accepted.
pub const MAX_BODY: usize = 16 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses a form body, refusing other content types, oversized bodies and repeated parameters.
    pub fn from_form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
        if body.is_empty() {
            return Ok(Params::default());
        }
        if !is_form(req) {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        if body.len() > MAX_BODY {
            return Err(OAuthError::invalid_request("the request body is too large"));
        }
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("the form body is malformed"))?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if pairs[..i].iter().any(|(n, _)| n == name) {
                // RFC 6749 4.1.2.1 / 5.2: fixed text, never what the request sent.
                return Err(OAuthError::invalid_request("a parameter is repeated"));
            }
        }
        Ok(Params(pairs))
    }

    /// Parameters already decoded (tests, query strings).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    /// Every parameter, in the order sent.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The value of `name`; an empty value counts as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn form(body: &str) -> Result<Params, OAuthError> {
        let req = TestRequest::default()
            .insert_header((
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=UTF-8",
            ))
            .to_http_request();
        Params::from_form(&req, body.as_bytes())
    }

    #[test]
    fn parses_decodes_and_treats_empty_as_absent() {
        let p = form("grant_type=authorization_code&code=a%2Bb+c&scope=").unwrap();
        assert_eq!(p.get("code"), Some("a+b c"));
        assert_eq!(p.get("scope"), None);
        assert!(p.require("scope").is_err());
    }

    #[test]
    fn refuses_repeats_and_other_content_types() {
        assert!(form("code=a&code=b").is_err());
        let req = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_http_request();
        assert!(Params::from_form(&req, b"{}").is_err());
    }
}
