//! What an authorization request needs next (OIDC Core 3.1.2.3 and 3.1.2.4): a sign-in, the person's consent, or
//! nothing more, in which case a code is issued (3.1.2.5). Plain functions over the request, the client, what the
//! session says and what the person has already granted.

use crate::crypto::secrets;
use crate::db::models::auth_codes::{self, NewAuthCode};
use crate::db::models::clients::Client;
use crate::db::models::session_clients;
use crate::db::{AnyConnection, StoreError};
use crate::domain::scope::Scopes;
use crate::session::SignIn;
use crate::web::authn::Level;

use super::request::AuthorizeRequest;

/// The authentication the request can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Nobody is signed in.
    None,
    /// A session from an earlier sign-in: the password (or passkey) at `auth_time`, a second factor at `mfa_at`,
    /// reaching `level`.
    Session {
        auth_time: i64,
        mfa_at: Option<i64>,
        level: Level,
    },
    /// The person has just signed in for this very request, reaching `level`: `prompt=login` and `max_age` are
    /// satisfied.
    Fresh { level: Level },
}

impl Auth {
    /// How the request can rely on a session's sign-in.
    pub fn of_session(s: &SignIn) -> Auth {
        Auth::Session {
            auth_time: s.auth_time,
            mfa_at: s.mfa_at,
            level: s.level(),
        }
    }

    pub fn level(&self) -> Option<Level> {
        match self {
            Auth::None => None,
            Auth::Session { level, .. } | Auth::Fresh { level } => Some(*level),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Login,
    /// Signed in, but not strongly enough: the second step (or enrolment of a factor) first.
    SecondStep,
    Consent,
    Issue,
    /// Redirect with this error (`login_required`, `consent_required`).
    Fail(&'static str, &'static str),
}

/// Whether the person must sign in again for this request. `max_age` is measured from the oldest step the
/// requested level relies on, so every factor it needs is asked for again.
pub fn needs_login(req: &AuthorizeRequest, auth: Auth, now: i64) -> bool {
    match auth {
        Auth::None => true,
        Auth::Fresh { .. } => false,
        Auth::Session {
            auth_time, mfa_at, ..
        } => {
            let oldest = match (req.required_level, mfa_at) {
                (Level::Pwd, _) | (_, None) => auth_time,
                (_, Some(m)) => m.min(auth_time),
            };
            req.prompt.login
                || req
                    .max_age
                    .is_some_and(|max| max == 0 || now.saturating_sub(oldest) > max)
        }
    }
}

/// Whether the sign-in is weaker than the request needs (`acr_values`, the client's `require_mfa`).
pub fn needs_step_up(req: &AuthorizeRequest, auth: Auth) -> bool {
    auth.level().is_some_and(|l| l < req.required_level)
}

/// Whether the consent page must be shown: always on `prompt=consent`; otherwise for third-party clients whose
/// earlier grant does not cover every requested scope.
pub fn needs_consent(req: &AuthorizeRequest, client: &Client, granted: Option<&Scopes>) -> bool {
    req.prompt.consent
        || (!client.first_party && !granted.is_some_and(|g| req.scopes.is_subset_of(g)))
}

pub fn decide(
    req: &AuthorizeRequest,
    client: &Client,
    auth: Auth,
    granted: Option<&Scopes>,
    now: i64,
) -> Next {
    if needs_login(req, auth, now) {
        return if req.prompt.none {
            Next::Fail("login_required", "the user is not signed in")
        } else {
            Next::Login
        };
    }
    if needs_step_up(req, auth) {
        return if req.prompt.none {
            Next::Fail(
                "interaction_required",
                "the request needs a stronger sign-in than the session has",
            )
        } else {
            Next::SecondStep
        };
    }
    if needs_consent(req, client, granted) {
        return if req.prompt.none {
            Next::Fail(
                "consent_required",
                "the user has not consented to this client",
            )
        } else {
            Next::Consent
        };
    }
    Next::Issue
}

/// Issues an authorization code bound to everything the token endpoint must check, stores its hash, and returns
/// the code (256 random bits, shown once).
pub fn issue_code(
    conn: &mut AnyConnection,
    req: &AuthorizeRequest,
    sign_in: &SignIn,
    now: i64,
    ttl: i64,
) -> Result<String, StoreError> {
    let code = secrets::random_token();
    let code_hash = secrets::hash_secret(&code);
    auth_codes::insert(
        conn,
        &NewAuthCode {
            code_hash: code_hash.clone(),
            client_id: req.client_id.clone(),
            user_id: sign_in.user_id.clone(),
            sid: sign_in.sid.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scope: req.scopes.to_string(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: sign_in.last_auth(),
            amr: sign_in.amr.join(" "),
            created_at: now,
            expires_at: now.saturating_add(ttl),
        },
    )?;
    if let Some(jkt) = &req.dpop_jkt {
        auth_codes::bind_dpop(conn, &code_hash, jkt)?;
    }
    // The client is told when this session ends (back-channel logout).
    session_clients::record(conn, &sign_in.sid, &req.client_id, &sign_in.user_id, now)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::authorize::request::{Prompt, ResponseMode};

    fn req() -> AuthorizeRequest {
        AuthorizeRequest {
            client_id: "app".into(),
            redirect_uri: "https://app.example.com/cb".into(),
            response_mode: ResponseMode::Query,
            scopes: Scopes::parse("openid profile").unwrap(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            resource: None,
            required_level: Level::Pwd,
            dpop_jkt: None,
        }
    }

    fn client(first_party: bool) -> Client {
        Client {
            id: "app".into(),
            name: "App".into(),
            secret_hash: None,
            is_public: false,
            first_party,
            redirect_uris: vec!["https://app.example.com/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec!["authorization_code".into()],
            created_at: 0,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            require_pkce: false,
            require_mfa: false,
            web_origins: vec![],
            require_par: false,
            require_dpop: false,
            id_token_alg: "RS256".into(),
            access_token_alg: "RS256".into(),
        }
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn sign_in_rules() {
        let session = Auth::Session {
            auth_time: NOW - 100,
            mfa_at: None,
            level: Level::Pwd,
        };
        assert_eq!(
            decide(&req(), &client(true), Auth::None, None, NOW),
            Next::Login
        );
        assert_eq!(
            decide(&req(), &client(true), session, None, NOW),
            Next::Issue
        );
        let mut r = req();
        r.prompt.none = true;
        assert_eq!(
            decide(&r, &client(true), Auth::None, None, NOW).clone(),
            Next::Fail("login_required", "the user is not signed in")
        );
        let mut r = req();
        r.prompt.login = true;
        assert_eq!(decide(&r, &client(true), session, None, NOW), Next::Login);
        assert_eq!(
            decide(
                &r,
                &client(true),
                Auth::Fresh { level: Level::Pwd },
                None,
                NOW
            ),
            Next::Issue
        );
        let mut r = req();
        r.max_age = Some(100);
        assert_eq!(decide(&r, &client(true), session, None, NOW), Next::Issue);
        r.max_age = Some(99);
        assert_eq!(decide(&r, &client(true), session, None, NOW), Next::Login);
        r.max_age = Some(0);
        assert_eq!(
            decide(
                &r,
                &client(true),
                Auth::Session {
                    auth_time: NOW,
                    mfa_at: None,
                    level: Level::Pwd
                },
                None,
                NOW
            ),
            Next::Login
        );
    }

    #[test]
    fn step_up_rules() {
        let pwd = Auth::Session {
            auth_time: NOW - 100,
            mfa_at: None,
            level: Level::Pwd,
        };
        let mfa = Auth::Session {
            auth_time: NOW - 1000,
            mfa_at: Some(NOW - 10),
            level: Level::Mfa,
        };
        let mut r = req();
        r.required_level = Level::Mfa;
        assert_eq!(decide(&r, &client(true), pwd, None, NOW), Next::SecondStep);
        assert_eq!(decide(&r, &client(true), mfa, None, NOW), Next::Issue);
        assert_eq!(
            decide(
                &r,
                &client(true),
                Auth::Fresh { level: Level::Pwd },
                None,
                NOW
            ),
            Next::SecondStep
        );
        r.prompt.none = true;
        assert!(matches!(
            decide(&r, &client(true), pwd, None, NOW),
            Next::Fail("interaction_required", _)
        ));
        // max_age counts from the oldest step the level relies on: the password 1000 s ago.
        let mut r = req();
        r.required_level = Level::Mfa;
        r.max_age = Some(500);
        assert_eq!(decide(&r, &client(true), mfa, None, NOW), Next::Login);
        r.required_level = Level::Pwd;
        r.max_age = Some(1000);
        assert_eq!(decide(&r, &client(true), mfa, None, NOW), Next::Issue);
        let mut r = req();
        r.required_level = Level::Phr;
        assert_eq!(decide(&r, &client(true), mfa, None, NOW), Next::SecondStep);
    }

    #[test]
    fn consent_rules() {
        let session = Auth::Session {
            auth_time: NOW,
            mfa_at: None,
            level: Level::Pwd,
        };
        let some = Scopes::parse("openid").unwrap();
        let all = Scopes::parse("openid profile email").unwrap();
        assert_eq!(
            decide(&req(), &client(false), session, None, NOW),
            Next::Consent
        );
        assert_eq!(
            decide(&req(), &client(false), session, Some(&some), NOW),
            Next::Consent
        );
        assert_eq!(
            decide(&req(), &client(false), session, Some(&all), NOW),
            Next::Issue
        );
        assert_eq!(
            decide(&req(), &client(true), session, None, NOW),
            Next::Issue
        );
        let mut r = req();
        r.prompt.consent = true;
        assert_eq!(
            decide(&r, &client(true), session, Some(&all), NOW),
            Next::Consent
        );
        let mut r = req();
        r.prompt.none = true;
        assert!(matches!(
            decide(&r, &client(false), session, None, NOW),
            Next::Fail("consent_required", _)
        ));
    }
}
