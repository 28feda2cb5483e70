//! Claim sets: the ID token (OIDC Core 2, 3.1.3.6), the access token (RFC 9068 2.2), and the profile and email
//! claims a scope releases (OIDC Core 5.4), shared by ID tokens and `/userinfo`.
//!
//! Access token audience (RFC 8707, DESIGN.md Tokens): the identifiers of the APIs whose scopes were granted, plus
//! the userinfo endpoint URL (`{issuer}/userinfo`) when `openid` was, which `/userinfo` requires (see
//! `tokens::authz`). One audience is a string, several an array (RFC 7519 4.1.3). An API that accepts Porta's
//! access tokens checks `iss`, that `aud` contains its identifier, `typ` = `at+jwt`, `exp` and `scope`.

use serde::{Deserialize, Serialize};

use crate::db::models::users::User;
use crate::domain::scope::Scopes;

/// The JOSE `typ` of an access token (RFC 9068 2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The JOSE `typ` of an ID token.
pub const ID_TOKEN_TYP: &str = "JWT";

/// Porta's own protected resource, `/userinfo`: the `aud` an access token needs there.
pub fn access_token_audience(issuer: &str) -> String {
    format!("{issuer}/userinfo")
}

/// Claims released by `profile` and `email` (OIDC Core 5.4). Absent values are left out, not sent as null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopedClaims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether an admin marked the address verified (`porta user update --email-verified`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

impl ScopedClaims {
    pub fn for_user(user: &User, scopes: &Scopes) -> ScopedClaims {
        let mut c = ScopedClaims::default();
        if scopes.contains("profile") {
            c.name = user.name.clone().filter(|n| !n.is_empty());
            c.preferred_username = Some(user.username.clone());
            c.updated_at = Some(user.updated_at);
        }
        if scopes.contains("email")
            && let Some(email) = user.email.clone().filter(|e| !e.is_empty())
        {
            c.email = Some(email);
            c.email_verified = Some(user.email_verified);
        }
        c
    }
}

/// The claims every scope-bearing token response can name.
pub const CLAIMS_SUPPORTED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "sid",
    "amr",
    "acr",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "groups",
    "roles",
];

/// An ID token (OIDC Core 2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    pub azp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub amr: Vec<String>,
    /// The authentication level the methods in `amr` reach (`web::authn::Level`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acr: Option<String>,
    #[serde(flatten)]
    pub scoped: ScopedClaims,
    #[serde(flatten)]
    pub authz: AuthzClaims,
}

/// A JWT `aud`: a string when there is one audience, an array when there are several (RFC 7519 4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audience(pub Vec<String>);

impl Audience {
    pub fn contains(&self, aud: &str) -> bool {
        self.0.iter().any(|a| a == aud)
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => ser.serialize_str(one),
            many => many.serialize(ser),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(Audience(match OneOrMany::deserialize(de)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }))
    }
}

/// The `groups` and `roles` claims (scopes `groups` and `roles`), in ID tokens, access tokens and userinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzClaims {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub roles: Option<Vec<String>>,
}

/// An access token (RFC 9068 2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The user's id, or the client's id for `client_credentials`.
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scope: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Present when a user signed in (absent for `client_credentials`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(flatten)]
    pub authz: AuthzClaims,
    /// The DPoP key the token is bound to (RFC 9449 6.1); such a token is refused as a plain bearer token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Confirmation>,
}

/// The `cnf` claim (RFC 7800) of a DPoP-bound token: the RFC 7638 thumbprint of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessTokenClaims {
    /// The token's scopes; an unparsable scope claim grants nothing.
    pub fn scopes(&self) -> Scopes {
        self.scope
            .as_deref()
            .and_then(|s| Scopes::parse(s).ok())
            .unwrap_or_default()
    }

    /// Whether a user (rather than a client acting for itself) is the subject.
    pub fn has_user(&self) -> bool {
        self.auth_time.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: "u1".into(),
            username: "ada".into(),
            email: Some("ada@example.com".into()),
            name: Some("Ada Lovelace".into()),
            password_hash: String::new(),
            is_admin: false,
            disabled: false,
            created_at: 1,
            updated_at: 2,
            credentials_changed_at: 0,
            email_verified: false,
        }
    }

    #[test]
    fn one_audience_is_a_string_several_an_array() {
        let one = Audience(vec!["a".into()]);
        assert_eq!(serde_json::to_value(&one).unwrap(), serde_json::json!("a"));
        let two = Audience(vec!["a".into(), "b".into()]);
        assert_eq!(
            serde_json::to_value(&two).unwrap(),
            serde_json::json!(["a", "b"])
        );
        for v in [serde_json::json!("a"), serde_json::json!(["a"])] {
            assert_eq!(serde_json::from_value::<Audience>(v).unwrap(), one);
        }
    }

    #[test]
    fn claims_follow_scope() {
        let none = ScopedClaims::for_user(&user(), &Scopes::parse("openid").unwrap());
        assert_eq!(none, ScopedClaims::default());
        let all = ScopedClaims::for_user(&user(), &Scopes::parse("openid profile email").unwrap());
        assert_eq!(all.preferred_username.as_deref(), Some("ada"));
        assert_eq!(all.email_verified, Some(false));
        let json = serde_json::to_value(&none).unwrap();
        assert_eq!(json, serde_json::json!({}));
    }
}
