//! Browser sessions: actix-session over the database (`store`), the middleware that carries it, and
//! `TypedSession`, the one place that knows what a session holds (the signed-in user, when they signed in, the
//! session's `sid` for ID tokens, the CSRF token, and pending authorization requests).

pub mod store;

use actix_session::config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy};
use actix_session::{Session, SessionInsertError, SessionMiddleware};
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::crypto::secrets;
use crate::db::models::users::{self, User};
use crate::error::PageError;
use crate::state::AppState;

pub use store::{DbSessionStore, Lifetimes, is_live, purge_expired};

/// The session cookie's name over http (loopback only). It holds only the session key.
pub const COOKIE_NAME: &str = "porta_session";
/// The name over https: browsers accept a `__Host-` cookie only with `Secure`, `Path=/` and no `Domain`, so a
/// sibling subdomain (or a network attacker over plain http) cannot plant or overwrite it.
pub const HOST_COOKIE_NAME: &str = "__Host-porta_session";

/// The cookie name for an issuer.
pub fn cookie_name(https: bool) -> &'static str {
    if https { HOST_COOKIE_NAME } else { COOKIE_NAME }
}

/// The names of the values a session holds. The store mirrors some of them into columns.
pub mod keys {
    pub const USER_ID: &str = "uid";
    pub const AUTH_TIME: &str = "auth_time";
    pub const SID: &str = "sid";
    pub const IP: &str = "ip";
    pub const USER_AGENT: &str = "ua";
    pub const CSRF: &str = "csrf";
    /// RFC 8176 methods the sign-in used (`pwd`, `otp`, `hwk`, `user`, `mfa`).
    pub const AMR: &str = "amr";
    /// When a second factor (or a passkey) was last verified.
    pub const MFA_AT: &str = "mfa_at";
    /// A password checked, waiting for the second step (`SecondStepPending`).
    pub const SECOND_STEP: &str = "second_step";
    /// Everything that makes a session signed in.
    pub const SIGN_IN: &[&str] = &[USER_ID, AUTH_TIME, SID, IP, USER_AGENT, AMR, MFA_AT];
}

/// The key actix-session signs the cookie with, derived from the master key (with its own label, so it is not
/// the key that seals signing keys), so every instance sharing the master key accepts every other's cookies and
/// nobody without the master key can produce a validly signed cookie.
///
/// The signature is a second layer: the cookie's value is 256 random bits looked up by its SHA-256, so a forged
/// or altered cookie names no session anyway.
pub fn cookie_key(keys: &crate::keys::Keys) -> Key {
    Key::derive_from(
        keys.derive_secret(b"porta session cookie signing key v1")
            .as_slice(),
    )
}

/// The session middleware: database store, cookie `HttpOnly`, `SameSite=Lax`, `Secure` when the issuer is https,
/// no `Max-Age` (the cookie goes with the browser; the server ends the session after its lifetimes).
pub fn middleware(state: &AppState) -> SessionMiddleware<DbSessionStore> {
    let s = &state.settings;
    let lifetimes = Lifetimes::from_settings(&s.sessions);
    let store = DbSessionStore::new(state.db.clone(), state.clock.clone(), lifetimes);
    SessionMiddleware::builder(store, cookie_key(&state.keys))
        .cookie_name(cookie_name(s.issuer_is_https()).into())
        .cookie_http_only(true)
        .cookie_secure(s.issuer_is_https())
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".into())
        .cookie_content_security(CookieContentSecurity::Signed)
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

/// Wrap outside `middleware` (with `actix_web::middleware::from_fn`): when the session store fails, which only
/// happens when the database does, the person gets the "temporarily unavailable" page (503) instead of the
/// opaque 500 actix-session answers with.
pub async fn store_failure_page(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    next.call(req).await.map_err(|e| {
        tracing::warn!(error = %e, cause = ?e, "session store failed");
        let page = crate::web::error_page::render(&PageError::unavailable());
        actix_web::error::InternalError::from_response(e, page).into()
    })
}

/// Who is signed in, as the session records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub user_id: String,
    /// When the user last entered their password (unix seconds): the ID token's `auth_time`.
    pub auth_time: i64,
    /// The session id given to relying parties (the ID token's `sid`). Not the cookie's key.
    pub sid: String,
    /// How the user proved who they are (RFC 8176); `["pwd"]` for sessions older than multi-factor sign-in.
    pub amr: Vec<String>,
    /// When a second factor or a passkey was last verified.
    pub mfa_at: Option<i64>,
}

impl SignIn {
    /// The level the sign-in reached.
    pub fn level(&self) -> crate::web::authn::Level {
        crate::web::authn::Level::of_amr(&self.amr)
    }

    /// The most recent authentication step: the ID token's `auth_time`.
    pub fn last_auth(&self) -> i64 {
        self.mfa_at
            .map_or(self.auth_time, |m| m.max(self.auth_time))
    }

    /// The oldest step a request at `level` relies on (what `max_age` is measured against).
    pub fn oldest_for(&self, level: crate::web::authn::Level) -> i64 {
        match (level, self.mfa_at) {
            (crate::web::authn::Level::Pwd, _) | (_, None) => self.auth_time,
            (_, Some(m)) => m.min(self.auth_time),
        }
    }
}

/// A password checked for `user_id` at `pwd_at`, waiting for the second step; not a sign-in yet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecondStepPending {
    pub user_id: String,
    pub pwd_at: i64,
}

/// The typed view of the session. Extract it in handlers instead of `actix_session::Session`.
#[derive(Clone)]
pub struct TypedSession(Session);

impl FromRequest for TypedSession {
    type Error = <Session as FromRequest>::Error;
    type Future = std::future::Ready<Result<TypedSession, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Session::extract(req).into_inner().map(TypedSession))
    }
}

fn internal(e: SessionInsertError) -> PageError {
    tracing::error!(error = %e, "session state could not be written");
    PageError::internal()
}

impl TypedSession {
    /// A value stored under `key`; one that no longer decodes counts as absent.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).ok().flatten()
    }

    pub fn set<T: Serialize>(&self, key: &str, value: &T) -> Result<(), PageError> {
        self.0.insert(key, value).map_err(internal)
    }

    pub fn remove(&self, key: &str) {
        self.0.remove(key);
    }

    /// The sign-in this session holds, if any. Whether the user may still sign in is `current_user`'s job.
    pub fn sign_in_state(&self) -> Option<SignIn> {
        Some(SignIn {
            user_id: self.get(keys::USER_ID)?,
            auth_time: self.get(keys::AUTH_TIME)?,
            sid: self.get(keys::SID)?,
            amr: self
                .get(keys::AMR)
                .unwrap_or_else(|| vec![crate::web::authn::amr::PWD.to_string()]),
            mfa_at: self.get(keys::MFA_AT),
        })
    }

    /// Records a successful sign-in: a new session key (no fixation) and a new CSRF token. The same person
    /// signing in again (`prompt=login`, `max_age`) keeps the SSO session's `sid`, so the applications'
    /// sign-ins bound to it carry on; anyone else gets a new one.
    pub fn sign_in(
        &self,
        user_id: &str,
        auth_time: i64,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<SignIn, PageError> {
        let pwd = vec![crate::web::authn::amr::PWD.to_string()];
        self.sign_in_with(user_id, auth_time, pwd, None, ip, user_agent)
    }

    /// As `sign_in`, with the methods used and when a second factor was verified.
    pub fn sign_in_with(
        &self,
        user_id: &str,
        auth_time: i64,
        amr: Vec<String>,
        mfa_at: Option<i64>,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<SignIn, PageError> {
        let sid = match self.sign_in_state() {
            Some(previous) if previous.user_id == user_id => previous.sid,
            _ => secrets::random_token(),
        };
        self.0.renew();
        self.set(keys::USER_ID, &user_id)?;
        self.set(keys::AUTH_TIME, &auth_time)?;
        self.set(keys::SID, &sid)?;
        self.set(keys::IP, &ip)?;
        let ua: Option<String> = user_agent.map(|u| u.chars().take(256).collect());
        self.set(keys::USER_AGENT, &ua)?;
        self.set(keys::CSRF, &secrets::random_token())?;
        self.set(keys::AMR, &amr)?;
        self.set(keys::MFA_AT, &mfa_at)?;
        self.0.remove(keys::SECOND_STEP);
        Ok(SignIn {
            user_id: user_id.to_string(),
            auth_time,
            sid,
            amr,
            mfa_at,
        })
    }

    /// Step-up: the signed-in user verified another factor (`methods`) at `now`. The session key is renewed (the
    /// session gained privilege); `sid` and the password's `auth_time` stay.
    pub fn add_factor(&self, methods: &[&str], now: i64) -> Result<Option<SignIn>, PageError> {
        let Some(mut s) = self.sign_in_state() else {
            return Ok(None);
        };
        s.amr = crate::web::authn::combine(&s.amr, methods);
        s.mfa_at = Some(now);
        self.0.renew();
        self.set(keys::AMR, &s.amr)?;
        self.set(keys::MFA_AT, &s.mfa_at)?;
        Ok(Some(s))
    }

    /// A password checked, waiting for the second step.
    pub fn second_step(&self) -> Option<SecondStepPending> {
        self.get(keys::SECOND_STEP)
    }

    pub fn set_second_step(&self, pending: &SecondStepPending) -> Result<(), PageError> {
        self.set(keys::SECOND_STEP, pending)
    }

    pub fn clear_second_step(&self) {
        self.0.remove(keys::SECOND_STEP);
    }

    /// Gives the session a new key, keeping its state (after a password change: the old key stops working).
    pub fn renew(&self) {
        self.0.renew();
    }

    /// Ends the session: its row is deleted and the cookie cleared when the response goes out.
    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// Drops the sign-in but keeps the rest (CSRF token, pending requests), for a user who may no longer sign in.
    pub fn forget_sign_in(&self) {
        for k in keys::SIGN_IN {
            self.0.remove(k);
        }
    }

    /// The session's CSRF token, created on first use.
    pub fn csrf_token(&self) -> Result<String, PageError> {
        if let Some(t) = self.get::<String>(keys::CSRF) {
            return Ok(t);
        }
        let t = secrets::random_token();
        self.set(keys::CSRF, &t)?;
        Ok(t)
    }
}

/// The signed-in user, checked against the database: a deleted or disabled user's session is ended.
pub async fn current_user(
    state: &AppState,
    session: &TypedSession,
) -> Result<Option<(User, SignIn)>, PageError> {
    let Some(sign_in) = session.sign_in_state() else {
        return Ok(None);
    };
    let id = sign_in.user_id.clone();
    let user = state.db.run(move |c| users::by_id(c, &id)).await?;
    match user {
        Some(u) if !u.disabled => Ok(Some((u, sign_in))),
        _ => {
            session.forget_sign_in();
            Ok(None)
        }
    }
}
