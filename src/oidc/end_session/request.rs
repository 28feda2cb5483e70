//! The rules of RP-Initiated Logout 1.0 as plain functions: reading the request, whose `id_token_hint` names the
//! client, checking `post_logout_redirect_uri` against the registration, and deciding whether to sign out at once
//! or ask first.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::db::models::clients::Client;
use crate::session::SignIn;
use crate::web::csrf;

/// Longest `state` echoed back.
const MAX_STATE: usize = 2048;

/// The claims of an `id_token_hint` that matter here.
#[derive(Debug, Clone, Deserialize)]
pub struct HintClaims {
    pub sub: String,
    #[serde(deserialize_with = "one_or_many")]
    pub aud: Vec<String>,
    #[serde(default)]
    pub azp: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(de)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl HintClaims {
    /// The client the token was issued to: its only audience, or `azp` when it has several (OIDC Core 2).
    pub fn client_id(&self) -> Option<&str> {
        match self.aud.as_slice() {
            [one] => Some(one.as_str()),
            _ => self
                .azp
                .as_deref()
                .filter(|azp| self.aud.iter().any(|a| a == azp)),
        }
    }

    /// Whether the hint was issued in this very sign-in session.
    pub fn matches(&self, sign_in: &SignIn) -> bool {
        self.sub == sign_in.user_id && self.sid.as_deref().is_none_or(|sid| sid == sign_in.sid)
    }
}

/// The logout request after validation.
#[derive(Debug, Clone, Default)]
pub struct LogoutRequest {
    pub hint: Option<HintClaims>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    /// The form came from Porta's own confirmation page (or the account page).
    pub confirmed: bool,
    pub csrf_token: Option<String>,
}

/// Reads the parameters: empty values count as absent, repeated ones are refused. `verify_hint` checks a hint's
/// signature and issuer and returns its claims.
pub fn parse(
    params: &[(String, String)],
    verify_hint: impl FnOnce(&str) -> Option<HintClaims>,
) -> Result<LogoutRequest, String> {
    let mut values: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
        if values.insert(k.as_str(), v.as_str()).is_some() {
            return Err(format!("The parameter {k} was sent more than once."));
        }
    }
    let hint = values.get("id_token_hint").and_then(|t| verify_hint(t));
    let param_client = values.get("client_id").map(|s| s.to_string());
    let hint_client = hint
        .as_ref()
        .and_then(|h| h.client_id())
        .map(str::to_string);
    let client_id = match (param_client, hint_client) {
        (Some(p), Some(h)) if p != h => {
            return Err("The client_id does not match the id_token_hint.".into());
        }
        (Some(c), _) | (None, Some(c)) => Some(c),
        (None, None) => None,
    };
    let post_logout_redirect_uri = values
        .get("post_logout_redirect_uri")
        .map(|s| s.to_string());
    if post_logout_redirect_uri.is_some() && client_id.is_none() {
        return Err(
            "A post_logout_redirect_uri needs an id_token_hint or a client_id to check it against."
                .into(),
        );
    }
    Ok(LogoutRequest {
        hint,
        client_id,
        post_logout_redirect_uri,
        state: values
            .get("state")
            .filter(|s| s.len() <= MAX_STATE)
            .map(|s| s.to_string()),
        confirmed: values.contains_key("confirm"),
        csrf_token: values.get(csrf::FIELD).map(|s| s.to_string()),
    })
}

/// Checks `post_logout_redirect_uri` against the client's registered list (exact match).
pub fn check_redirect(req: &LogoutRequest, client: Option<&Client>) -> Result<(), String> {
    match (&req.post_logout_redirect_uri, client) {
        (None, _) => Ok(()),
        (Some(uri), Some(c)) if c.post_logout_redirect_uris.iter().any(|r| r == uri) => Ok(()),
        (Some(_), _) => Err(
            "The post_logout_redirect_uri is not registered for this application, so Porta will not send you there."
                .into(),
        ),
    }
}

/// What to do with a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// End the session (if any) and finish.
    SignOut,
    /// Ask the person first.
    Confirm,
}

pub fn decide(req: &LogoutRequest, signed_in: Option<&SignIn>) -> Decision {
    match signed_in {
        None => Decision::SignOut,
        Some(_) if req.confirmed => Decision::SignOut,
        Some(s) if req.hint.as_ref().is_some_and(|h| h.matches(s)) => Decision::SignOut,
        Some(_) => Decision::Confirm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn hint(sub: &str, aud: &[&str], sid: Option<&str>) -> HintClaims {
        HintClaims {
            sub: sub.into(),
            aud: aud.iter().map(|a| a.to_string()).collect(),
            azp: None,
            sid: sid.map(str::to_string),
        }
    }

    fn client() -> Client {
        Client {
            id: "app".into(),
            name: "App".into(),
            secret_hash: None,
            is_public: false,
            first_party: false,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
            grant_types: vec![],
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

    fn sign_in() -> SignIn {
        SignIn {
            user_id: "u1".into(),
            auth_time: 0,
            sid: "s1".into(),
            amr: vec!["pwd".into()],
            mfa_at: None,
        }
    }

    #[test]
    fn the_hint_names_the_client_and_must_agree_with_client_id() {
        let h = || Some(hint("u1", &["app"], Some("s1")));
        let r = parse(&pairs(&[("id_token_hint", "t")]), |_| h()).unwrap();
        assert_eq!(r.client_id.as_deref(), Some("app"));
        assert!(
            parse(
                &pairs(&[("id_token_hint", "t"), ("client_id", "other")]),
                |_| h()
            )
            .is_err()
        );
        let r = parse(
            &pairs(&[("id_token_hint", "bad"), ("client_id", "app")]),
            |_| None,
        )
        .unwrap();
        assert!(r.hint.is_none());
        assert_eq!(r.client_id.as_deref(), Some("app"));
        assert!(
            parse(
                &pairs(&[("post_logout_redirect_uri", "https://app.example.com/bye")]),
                |_| None
            )
            .is_err()
        );
        assert!(parse(&pairs(&[("state", "a"), ("state", "b")]), |_| None).is_err());
    }

    #[test]
    fn redirects_only_to_registered_uris() {
        let r = parse(
            &pairs(&[
                ("client_id", "app"),
                ("post_logout_redirect_uri", "https://app.example.com/bye"),
            ]),
            |_| None,
        )
        .unwrap();
        assert!(check_redirect(&r, Some(&client())).is_ok());
        let r = parse(
            &pairs(&[
                ("client_id", "app"),
                ("post_logout_redirect_uri", "https://evil.example.com/"),
            ]),
            |_| None,
        )
        .unwrap();
        assert!(check_redirect(&r, Some(&client())).is_err());
    }

    #[test]
    fn confirmation_unless_the_hint_is_for_this_session() {
        let s = sign_in();
        let mut r = LogoutRequest::default();
        assert_eq!(decide(&r, None), Decision::SignOut);
        assert_eq!(decide(&r, Some(&s)), Decision::Confirm);
        r.hint = Some(hint("u1", &["app"], Some("s1")));
        assert_eq!(decide(&r, Some(&s)), Decision::SignOut);
        r.hint = Some(hint("u1", &["app"], Some("old")));
        assert_eq!(decide(&r, Some(&s)), Decision::Confirm);
        r.hint = Some(hint("u2", &["app"], None));
        assert_eq!(decide(&r, Some(&s)), Decision::Confirm);
        r.confirmed = true;
        assert_eq!(decide(&r, Some(&s)), Decision::SignOut);
    }

    #[test]
    fn several_audiences_need_azp() {
        let mut h = hint("u", &["a", "b"], None);
        assert_eq!(h.client_id(), None);
        h.azp = Some("b".into());
        assert_eq!(h.client_id(), Some("b"));
        h.azp = Some("c".into());
        assert_eq!(h.client_id(), None);
    }
}
