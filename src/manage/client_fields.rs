//! The fields of a client registration, each validated on its own: grant types, redirect URIs, web origins,
//! signing algorithms, the name and the back-channel logout URI. `clients` combines them.

use crate::domain::redirect_uri::RedirectUri;
use crate::domain::web_origin::WebOrigin;
use crate::keys::Alg;

use super::ManageError;

/// The grant types a client can be registered for (`--grant-type`); `device_code` is accepted as a short name of
/// the device grant's `urn:ietf:params:oauth:grant-type:device_code`.
pub const GRANT_TYPES: &[&str] = crate::oidc::token::GRANT_TYPES;

/// The registered name of a grant type as typed (the device grant's short name expanded).
pub(super) fn grant_name(g: &str) -> &str {
    match g {
        "device_code" => crate::oidc::token::DEVICE_CODE_GRANT,
        other => other,
    }
}

/// Validates a list of URIs, refusing duplicates. Private-use schemes (`com.example.app:/callback`, RFC 8252 7.1)
/// only for public clients: a confidential client runs on a server, where such a URI means nothing.
pub fn parse_uris(uris: &[String], is_public: bool) -> Result<Vec<String>, ManageError> {
    let mut out: Vec<String> = Vec::new();
    for u in uris.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
        let parsed = if is_public {
            RedirectUri::parse_any(u)
        } else {
            RedirectUri::parse(u)
        }
        .map_err(ManageError::Invalid)?;
        if !out.iter().any(|o| o == parsed.as_str()) {
            out.push(parsed.into_string());
        }
    }
    Ok(out)
}

/// Validates a list of web origins, refusing duplicates; stored as browsers send them.
pub fn parse_origins(origins: &[String]) -> Result<Vec<String>, ManageError> {
    let mut out: Vec<String> = Vec::new();
    for o in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        let parsed = WebOrigin::parse(o).map_err(ManageError::Invalid)?;
        if !out.iter().any(|x| x == parsed.as_str()) {
            out.push(parsed.into_string());
        }
    }
    Ok(out)
}

/// A signing algorithm for a client's tokens; blank means RS256, which every relying party supports.
pub fn parse_alg(alg: &str) -> Result<String, ManageError> {
    let alg = alg.trim();
    if alg.is_empty() {
        return Ok("RS256".into());
    }
    let families = crate::keys::alg::Alg::ALL;
    families
        .iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(alg))
        .map(|a| a.as_str().to_string())
        .ok_or_else(|| {
            let names: Vec<&str> = families.iter().map(|a| a.as_str()).collect();
            ManageError::Invalid(format!(
                "unknown signing algorithm {alg:?}: use {}",
                names.join(", ")
            ))
        })
}

/// Refuses `alg` (as `parse_alg` returned it) when its key family is not among `enabled`: Porta would sign with
/// RS256 instead.
pub fn check_alg_enabled(
    what: &str,
    alg: &str,
    enabled: Option<&[Alg]>,
) -> Result<(), ManageError> {
    let Some(enabled) = enabled else {
        return Ok(());
    };
    if Alg::parse(alg).is_some_and(|a| enabled.contains(&a)) {
        return Ok(());
    }
    let names: Vec<&str> = enabled.iter().map(|a| a.as_str()).collect();
    Err(ManageError::Invalid(format!(
        "{what} {alg} is not enabled: add it to keys.algorithms (enabled: {})",
        names.join(", ")
    )))
}

pub(super) fn check_name(name: &str) -> Result<String, ManageError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ManageError::Invalid(
            "client name must be 1 to 200 characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// A back-channel logout URI is held to the rules of redirect URIs (absolute, no fragment, https unless
/// loopback): the provider POSTs tokens to it, so it must not be a plain-http address on the network.
/// Blank means none.
pub fn parse_backchannel_uri(uri: &str) -> Result<Option<String>, ManageError> {
    let uri = uri.trim();
    if uri.is_empty() {
        return Ok(None);
    }
    RedirectUri::parse(uri)
        .map(|u| Some(u.into_string()))
        .map_err(|e| ManageError::Invalid(e.replacen("redirect URI", "back-channel logout URI", 1)))
}
