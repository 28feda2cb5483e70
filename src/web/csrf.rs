//! CSRF protection for every form: a random token per session (synchronizer token pattern), put in each form as
//! the hidden field `csrf_token` and compared in constant time on every POST. Sign-in replaces it.

use actix_web::http::StatusCode;

use crate::crypto::secrets::ct_eq;
use crate::error::PageError;
use crate::session::TypedSession;

/// The hidden form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// The token to embed in a form, created for this session on first use.
pub fn token(session: &TypedSession) -> Result<String, PageError> {
    session.csrf_token()
}

/// Checks a submitted token against the session's: a missing token is a bad request (400); one that does not match,
/// or a session without a token, is refused (403).
pub fn check(session: &TypedSession, submitted: Option<&str>) -> Result<(), PageError> {
    let Some(submitted) = submitted.filter(|s| !s.is_empty()) else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Missing security token",
            "This form arrived without its security token. Go back, reload the page and try again.",
        ));
    };
    match session.get::<String>(crate::session::keys::CSRF) {
        Some(expected) if ct_eq(&expected, submitted) => Ok(()),
        _ => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )),
    }
}
