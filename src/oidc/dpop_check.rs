//! DPoP (RFC 9449) at Porta's endpoints: reading the one `DPoP` header, what a proof must match there (the
//! endpoint's public URL, the server nonces when `tokens.dpop_nonce` is on), the replay cache, and the error
//! answers: `invalid_dpop_proof` / `use_dpop_nonce` as JSON at `/token` (RFC 9449 5, 8), and a `DPoP` challenge
//! at `/userinfo` (RFC 9449 7.1). The proof itself is checked by `dpop::verify`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};

use crate::db::models::dpop_jtis;
use crate::db::{AnyConnection, StoreError};
use crate::error::OAuthError;
use crate::oidc::dpop::{self, DpopError, Expected, Proof};
use crate::state::AppState;

/// The header a proof travels in, and the one a server nonce travels in.
pub const DPOP: &str = "DPoP";
pub const DPOP_NONCE: &str = "DPoP-Nonce";

/// What proofs must match at one endpoint, at one instant.
#[derive(Debug, Clone)]
pub struct Dpop {
    url: String,
    nonces: Option<[String; 2]>,
    now: i64,
    max_age: i64,
}

impl Dpop {
    /// For the endpoint at `path` (under the issuer: `htu` names the public URL, whatever proxy is in front).
    pub fn at(state: &AppState, path: &str) -> Dpop {
        let now = state.now();
        let max_age = i64::try_from(state.settings.tokens.dpop_max_age.as_secs()).unwrap_or(300);
        let nonces = state.settings.tokens.dpop_nonce.then(|| {
            let secret = state.keys.derive_secret(b"dpop nonce");
            dpop::nonces(secret.as_slice(), now, max_age)
        });
        Dpop {
            url: format!("{}{path}", state.settings.issuer),
            nonces,
            now,
            max_age,
        }
    }

    pub fn max_age(&self) -> i64 {
        self.max_age
    }

    /// The nonce to hand out, when nonces are on.
    pub fn nonce(&self) -> Option<&str> {
        self.nonces.as_ref().map(|n| n[0].as_str())
    }

    /// The request's proof, checked (all but replay), or `None` when it sent none. `access_token`: the token it
    /// presents to a protected resource, which the proof's `ath` must hash.
    pub fn proof(
        &self,
        req: &HttpRequest,
        access_token: Option<&str>,
    ) -> Result<Option<Proof>, DpopError> {
        let mut values = req.headers().get_all(DPOP);
        let Some(value) = values.next() else {
            return Ok(None);
        };
        // RFC 9449 4.3 step 1: exactly one proof.
        if values.next().is_some() {
            return Err(DpopError::Invalid("send one DPoP header"));
        }
        let proof = value
            .to_str()
            .map_err(|_| DpopError::Invalid("the DPoP proof is not a JWT"))?;
        let expected = Expected {
            method: req.method().as_str(),
            url: &self.url,
            access_token,
            nonces: self.nonces.as_ref().map(|n| n.as_slice()),
            now: self.now,
            max_age: self.max_age,
        };
        dpop::verify(proof, &expected).map(Some)
    }

    /// Adds the current nonce to a response, when nonces are on (RFC 9449 8.2: a client picks up new ones).
    pub fn with_nonce(&self, mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
        if let Some(n) = self.nonce() {
            builder.insert_header((DPOP_NONCE, n.to_string()));
        }
        builder
    }

    /// The `/token` answer to a refused proof: 400 `invalid_dpop_proof`, or `use_dpop_nonce` with a nonce.
    pub fn token_error(&self, e: &DpopError) -> HttpResponse {
        let err = match e {
            DpopError::Invalid(d) => invalid_proof(d),
            DpopError::UseNonce => OAuthError {
                code: "use_dpop_nonce",
                description: e.to_string(),
                status: StatusCode::BAD_REQUEST,
                challenge: None,
            },
        };
        self.add_nonce(err.error_response())
    }

    /// The protected resource's answer to a refused proof (RFC 9449 7.1, 9): 401 with a `DPoP` challenge.
    pub fn resource_error(&self, e: &DpopError) -> HttpResponse {
        let code = match e {
            DpopError::Invalid(_) => "invalid_dpop_proof",
            DpopError::UseNonce => "use_dpop_nonce",
        };
        let err = OAuthError {
            code,
            description: e.to_string(),
            status: StatusCode::UNAUTHORIZED,
            challenge: Some(challenge(code, &e.to_string())),
        };
        self.add_nonce(err.error_response())
    }

    fn add_nonce(&self, mut res: HttpResponse) -> HttpResponse {
        if let Some(v) = self.nonce().and_then(|n| HeaderValue::from_str(n).ok()) {
            res.headers_mut()
                .insert(header::HeaderName::from_static("dpop-nonce"), v);
        }
        res
    }
}

/// `invalid_dpop_proof` (RFC 9449 5) at the token endpoint.
pub fn invalid_proof(description: &str) -> OAuthError {
    OAuthError {
        code: "invalid_dpop_proof",
        description: description.to_string(),
        status: StatusCode::BAD_REQUEST,
        challenge: None,
    }
}

/// A `WWW-Authenticate: DPoP` challenge (RFC 9449 7.1) with an error code and fixed text.
pub fn challenge(code: &str, description: &str) -> String {
    format!(
        "DPoP algs=\"{}\", error=\"{code}\", error_description=\"{}\"",
        dpop::ALGS.join(" "),
        description.replace(['"', '\\'], "")
    )
}

/// Records the proof in the shared replay cache, in its own write transaction (so it stays recorded whatever
/// happens to the request next); `false` when it was already used (RFC 9449 11.1).
pub fn first_use(
    conn: &mut AnyConnection,
    proof: &Proof,
    max_age: i64,
) -> Result<bool, StoreError> {
    crate::db::write_tx(conn, |c| {
        dpop_jtis::remember(c, &proof.replay_key(), proof.remember_until(max_age))
    })
}
