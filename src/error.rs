//! The HTTP error types, one per kind of caller, each mapped once to a response:
//! - `OAuthError`: protocol endpoints (RFC 6749 5.2 JSON, `WWW-Authenticate` on 401, `Cache-Control: no-store`).
//! - `PageError`: browser pages, rendered with `templates/error.html`.
//!
//! Storage errors (`db::StoreError`) convert into both; internal causes are logged, never shown.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::db::StoreError;

#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    pub status: StatusCode,
    /// The `WWW-Authenticate` challenge for 401 answers.
    pub challenge: Option<String>,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            status,
            challenge: None,
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, d)
    }

    /// Client authentication failed (RFC 6749 5.2): 401 with a Basic challenge.
    pub fn invalid_client(d: impl Into<String>) -> Self {
        OAuthError {
            challenge: Some("Basic realm=\"porta\", charset=\"UTF-8\"".into()),
            ..Self::new("invalid_client", StatusCode::UNAUTHORIZED, d)
        }
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", StatusCode::BAD_REQUEST, d)
    }

    pub fn unsupported_token_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_token_type", StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST, d)
    }

    /// RFC 8707 2: the `resource` is not one the server issues tokens for.
    pub fn invalid_target(d: impl Into<String>) -> Self {
        Self::new("invalid_target", StatusCode::BAD_REQUEST, d)
    }

    /// A bearer token that is missing, expired or forged (RFC 6750 3.1).
    pub fn invalid_token(d: impl Into<String>) -> Self {
        let d = d.into();
        OAuthError {
            challenge: Some(format!(
                "Bearer realm=\"porta\", error=\"invalid_token\", error_description=\"{}\"",
                d.replace(['"', '\\'], "")
            )),
            ..Self::new("invalid_token", StatusCode::UNAUTHORIZED, d)
        }
    }

    /// RFC 8628 3.5: the person has not decided yet; poll again after the interval.
    pub fn authorization_pending(d: impl Into<String>) -> Self {
        Self::new("authorization_pending", StatusCode::BAD_REQUEST, d)
    }

    /// RFC 8628 3.5: polled before the interval was over; the interval grows by 5 seconds.
    pub fn slow_down(d: impl Into<String>) -> Self {
        Self::new("slow_down", StatusCode::BAD_REQUEST, d)
    }

    /// RFC 8628 3.5: the device code expired before it was approved and exchanged.
    pub fn expired_token(d: impl Into<String>) -> Self {
        Self::new("expired_token", StatusCode::BAD_REQUEST, d)
    }

    /// RFC 8628 3.5: the person denied the request.
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new("access_denied", StatusCode::BAD_REQUEST, d)
    }

    pub fn server_error() -> Self {
        Self::new(
            "server_error",
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not complete the request",
        )
    }

    pub fn temporarily_unavailable(d: impl Into<String>) -> Self {
        Self::new(
            "temporarily_unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            d,
        )
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let Some(ch) = &self.challenge
            && let Ok(v) = HeaderValue::from_str(ch)
        {
            res.insert_header((header::WWW_AUTHENTICATE, v));
        }
        res.json(serde_json::json!({
            "error": self.code,
            "error_description": self.description,
        }))
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                OAuthError::temporarily_unavailable("the service is temporarily unavailable")
            }
            other => {
                tracing::error!(error = %other, "storage error");
                OAuthError::server_error()
            }
        }
    }
}

/// An error shown to a person as a page.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        PageError {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Invalid request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Porta could not complete this request. Please try again.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Temporarily unavailable",
            "Porta cannot reach its database right now. Please try again in a moment.",
        )
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        crate::web::error_page::render(self)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                PageError::unavailable()
            }
            other => {
                tracing::error!(error = %other, "storage error");
                PageError::internal()
            }
        }
    }
}
