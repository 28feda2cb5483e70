//! Passkeys and security keys (WebAuthn, with `webauthn-rs`). The relying-party id is the issuer's host, so
//! WebAuthn works only when that host is a domain name (`localhost` included): browsers refuse an IP address as
//! relying-party id, and `unavailable` says so for the pages.
//!
//! Credentials are registered as discoverable (resident) keys with user verification, so a passkey signs a person
//! in without a username; the same credentials serve as a second step after a password. Ceremony states travel
//! in the session between the start and the finish request.

use url::{Host, Url};
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, DiscoverableAuthentication,
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder,
};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why passkeys cannot be used with this issuer, if they cannot.
pub fn unavailable(issuer: &str) -> Option<&'static str> {
    match Url::parse(issuer).ok().as_ref().and_then(Url::host) {
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => Some(
            "Passkeys are unavailable here: Porta's address (its issuer) is an IP address, and browsers accept \
             passkeys only for a host name. An administrator can set the issuer to a name such as \
             http://localhost:8080.",
        ),
        None => Some("Passkeys are unavailable: Porta's issuer has no host."),
    }
}

/// The WebAuthn relying party for an issuer (`None` when `unavailable`).
pub fn relying_party(issuer: &str) -> Option<Webauthn> {
    if unavailable(issuer).is_some() {
        return None;
    }
    let url = Url::parse(issuer).ok()?;
    let origin = Url::parse(&url.origin().ascii_serialization()).ok()?;
    let rp_id = url.host_str()?.to_string();
    WebauthnBuilder::new(&rp_id, &origin)
        .ok()?
        .rp_name("Porta")
        .build()
        .ok()
}

/// The user handle WebAuthn stores with a passkey: the user's id when it is a UUID (it always is), else a UUID
/// derived from it.
pub fn user_handle(user_id: &str) -> Uuid {
    Uuid::parse_str(user_id).unwrap_or_else(|_| {
        let h = crate::crypto::secrets::hash_secret(user_id);
        let bytes = h.as_bytes();
        let mut b = [0u8; 16];
        b.copy_from_slice(&bytes[..16]);
        Uuid::from_bytes(b)
    })
}

/// The text form of a credential id (base64url), as stored.
pub fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Starts registering a discoverable credential for a user who already holds `existing` (excluded, so one
/// authenticator is not registered twice). Returns the options for the browser as JSON.
pub fn start_registration(
    rp: &Webauthn,
    user_id: &str,
    username: &str,
    display_name: &str,
    existing: &[Passkey],
) -> Result<(serde_json::Value, PasskeyRegistration), String> {
    let exclude: Vec<CredentialID> = existing.iter().map(|p| p.cred_id().clone()).collect();
    let (ccr, state): (CreationChallengeResponse, _) = rp
        .start_passkey_registration(
            user_handle(user_id),
            username,
            display_name,
            (!exclude.is_empty()).then_some(exclude),
        )
        .map_err(|e| e.to_string())?;
    // A passkey must work without a username: ask for a discoverable credential.
    let mut json = serde_json::to_value(&ccr).map_err(|e| e.to_string())?;
    if let Some(sel) = json
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(|v| v.as_object_mut())
    {
        sel.insert("requireResidentKey".into(), true.into());
        sel.insert("residentKey".into(), "required".into());
    }
    Ok((json, state))
}

pub fn finish_registration(
    rp: &Webauthn,
    credential: &RegisterPublicKeyCredential,
    state: &PasskeyRegistration,
) -> Result<Passkey, String> {
    rp.finish_passkey_registration(credential, state)
        .map_err(|e| e.to_string())
}

/// Starts a second step with the user's own credentials.
pub fn start_second_step(
    rp: &Webauthn,
    passkeys: &[Passkey],
) -> Result<(RequestChallengeResponse, PasskeyAuthentication), String> {
    rp.start_passkey_authentication(passkeys)
        .map_err(|e| e.to_string())
}

pub fn finish_second_step(
    rp: &Webauthn,
    credential: &PublicKeyCredential,
    state: &PasskeyAuthentication,
) -> Result<AuthenticationResult, String> {
    rp.finish_passkey_authentication(credential, state)
        .map_err(|e| e.to_string())
}

/// Starts a sign-in without a username: the browser offers whichever passkey the person has for Porta. The
/// page's script chooses the mediation (a button, or conditional on the username field).
pub fn start_passwordless(
    rp: &Webauthn,
) -> Result<(RequestChallengeResponse, DiscoverableAuthentication), String> {
    let (mut rcr, state) = rp
        .start_discoverable_authentication()
        .map_err(|e| e.to_string())?;
    rcr.mediation = None;
    Ok((rcr, state))
}

/// Which user and credential a passwordless answer names (to be looked up before `finish_passwordless`).
pub fn identify(rp: &Webauthn, credential: &PublicKeyCredential) -> Option<(Uuid, String)> {
    rp.identify_discoverable_authentication(credential)
        .ok()
        .map(|(u, id)| (u, credential_id_text(id)))
}

pub fn finish_passwordless(
    rp: &Webauthn,
    credential: &PublicKeyCredential,
    state: DiscoverableAuthentication,
    passkey: &Passkey,
) -> Result<AuthenticationResult, String> {
    rp.finish_discoverable_authentication_v2(credential, state, passkey)
        .map_err(|e| e.to_string())
}

/// A stored passkey, decoded.
pub fn decode(stored: &str) -> Option<Passkey> {
    serde_json::from_str(stored).ok()
}

pub fn encode(passkey: &Passkey) -> String {
    serde_json::to_string(passkey).unwrap_or_default()
}

/// The stored passkey after a use (signature counter, backup state), when it changed.
pub fn updated(passkey: &Passkey, result: &AuthenticationResult) -> Option<String> {
    let mut p = passkey.clone();
    match p.update_credential(result) {
        Some(true) => Some(encode(&p)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_issuers_cannot_have_passkeys() {
        assert!(unavailable("http://127.0.0.1:8080").is_some());
        assert!(unavailable("http://[::1]:8080").is_some());
        assert!(unavailable("http://localhost:8080").is_none());
        assert!(relying_party("http://localhost:8080").is_some());
        assert!(relying_party("https://id.example.com").is_some());
        assert!(relying_party("http://127.0.0.1:8080").is_none());
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(user_handle(&id).to_string(), id);
    }
}
