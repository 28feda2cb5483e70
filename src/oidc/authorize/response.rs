//! The authorization response (RFC 6749 4.1.2, 4.1.2.1): a redirect with the parameters in the query, or with
//! `response_mode=form_post` a page whose form posts them to the client (OAuth 2.0 Form Post Response Mode). Every
//! response carries `iss` (RFC 9207) so clients can tell which provider answered.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::request::{AuthorizeRequest, ErrorRedirect, ResponseMode};

/// Whether the request that led here was a form POST (redirect with 303) or a GET (302).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Get,
    Post,
}

/// The one script Porta serves: it submits the form_post form at once. Without JavaScript the person presses
/// "Continue". The CSP allows exactly this script by its hash.
const AUTO_SUBMIT: &str = "document.forms[0].submit();";

fn auto_submit_csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(AUTO_SUBMIT.as_bytes()));
        format!(
            "default-src 'none'; script-src 'sha256-{hash}'; style-src 'self' 'unsafe-inline'; \
             form-action http: https:; frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    action: &'a str,
    fields: &'a [(&'static str, String)],
    script: &'static str,
}

/// A code for the client.
pub fn success(req: &AuthorizeRequest, code: &str, issuer: &str, via: Via) -> HttpResponse {
    let mut fields = vec![("code", code.to_string())];
    if let Some(s) = &req.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", issuer.to_string()));
    respond(&req.redirect_uri, req.response_mode, &fields, via)
}

/// An error for the client.
pub fn error(e: &ErrorRedirect, issuer: &str, via: Via) -> HttpResponse {
    let mut fields = vec![
        ("error", e.error.to_string()),
        ("error_description", e.error_description.clone()),
    ];
    if let Some(s) = &e.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", issuer.to_string()));
    respond(&e.redirect_uri, e.response_mode, &fields, via)
}

/// The redirect_uri with `fields` appended to its query (any query it already has is kept).
pub fn redirect_url(redirect_uri: &str, fields: &[(&str, String)]) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    if fields.is_empty() {
        return Some(redirect_uri.to_string());
    }
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in fields {
            q.append_pair(k, v);
        }
    }
    Some(url.to_string())
}

fn respond(
    redirect_uri: &str,
    mode: ResponseMode,
    fields: &[(&'static str, String)],
    via: Via,
) -> HttpResponse {
    match mode {
        ResponseMode::Query => match redirect_url(redirect_uri, fields) {
            Some(location) => {
                let status = match via {
                    Via::Get => StatusCode::FOUND,
                    Via::Post => StatusCode::SEE_OTHER,
                };
                crate::web::redirect(status, &location)
            }
            // Registered URIs are validated when registered; one that no longer parses is not followed.
            None => crate::web::error_page::render(&crate::error::PageError::bad_request(
                "The application's redirect_uri is not a valid URL.",
            )),
        },
        ResponseMode::FormPost => {
            let page = FormPostPage {
                action: redirect_uri,
                fields,
                script: AUTO_SUBMIT,
            };
            match page.render() {
                Ok(body) => crate::web::html_with_csp(StatusCode::OK, body, auto_submit_csp()),
                Err(e) => {
                    tracing::error!(error = %e, "template rendering failed");
                    crate::web::error_page::render(&crate::error::PageError::internal())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_appended_and_encoded() {
        let u = redirect_url(
            "https://app.example.com/cb?tenant=1",
            &[("code", "a b".into()), ("state", "x&y=z".into())],
        )
        .unwrap();
        assert_eq!(
            u,
            "https://app.example.com/cb?tenant=1&code=a+b&state=x%26y%3Dz"
        );
    }
}
