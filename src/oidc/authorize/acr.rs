//! What an authorization request asks of the sign-in's strength (OIDC Core 3.1.2.1 `acr_values`, 5.5.1.1 an
//! essential `acr` in the `claims` parameter), and the client's own demand (`require_mfa`). The request needs the
//! least demanding level among the values it names that Porta knows (any of them satisfies it); values Porta does
//! not know are ignored, unless the `acr` claim is essential and names only unknown values.

use crate::web::authn::Level;

/// Discovery's `acr_values_supported`.
pub fn supported() -> Vec<&'static str> {
    Level::ALL.iter().map(|l| l.acr()).collect()
}

/// The level a request asks for, and whether its `acr` claim is essential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asked {
    pub level: Option<Level>,
    pub essential: bool,
}

/// Why the parameters cannot be honoured: an OAuth error code and a fixed description.
pub type Refused = (&'static str, &'static str);

fn least<'a>(values: impl Iterator<Item = &'a str>) -> Option<Level> {
    values.filter_map(Level::from_acr).min()
}

/// Reads `acr_values` and the `claims` parameter's `id_token.acr` (`value`, `values`, `essential`).
pub fn parse(acr_values: Option<&str>, claims: Option<&str>) -> Result<Asked, Refused> {
    let mut asked = Asked {
        level: acr_values.and_then(|v| least(v.split(' ').filter(|s| !s.is_empty()))),
        essential: false,
    };
    let Some(claims) = claims else {
        return Ok(asked);
    };
    let json: serde_json::Value = serde_json::from_str(claims)
        .map_err(|_| ("invalid_request", "the claims parameter is not valid JSON"))?;
    if !json.is_object() {
        return Err((
            "invalid_request",
            "the claims parameter must be a JSON object",
        ));
    }
    let Some(acr) = json.get("id_token").and_then(|t| t.get("acr")) else {
        return Ok(asked);
    };
    let essential = acr.get("essential").and_then(|e| e.as_bool()) == Some(true);
    let mut named: Vec<&str> = Vec::new();
    if let Some(v) = acr.get("value").and_then(|v| v.as_str()) {
        named.push(v);
    }
    if let Some(vs) = acr.get("values").and_then(|v| v.as_array()) {
        named.extend(vs.iter().filter_map(|v| v.as_str()));
    }
    let from_claims = least(named.iter().copied());
    if essential && !named.is_empty() && from_claims.is_none() {
        return Err((
            "unmet_authentication_requirements",
            "none of the essential acr values is supported",
        ));
    }
    if from_claims.is_some() {
        asked.level = asked.level.max(from_claims);
    }
    asked.essential = essential;
    Ok(asked)
}

/// The level a request to `client` needs: what it asked for, and at least `mfa` when the client requires it.
pub fn required(asked: Asked, client_requires_mfa: bool) -> Level {
    let client = if client_requires_mfa {
        Level::Mfa
    } else {
        Level::Pwd
    };
    asked.level.unwrap_or(Level::Pwd).max(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_known_value_is_needed() {
        assert_eq!(parse(None, None).unwrap(), Asked::default());
        let a = parse(Some("phr urn:porta:acr:mfa gold"), None).unwrap();
        assert_eq!(a.level, Some(Level::Mfa));
        assert_eq!(parse(Some("gold"), None).unwrap().level, None);
        assert_eq!(required(Asked::default(), true), Level::Mfa);
        assert_eq!(
            required(parse(Some("phr"), None).unwrap(), true),
            Level::Phr
        );
    }

    #[test]
    fn essential_acr_in_claims() {
        let c = r#"{"id_token":{"acr":{"essential":true,"values":["phr"]}}}"#;
        let a = parse(None, Some(c)).unwrap();
        assert_eq!((a.level, a.essential), (Some(Level::Phr), true));
        let c = r#"{"id_token":{"acr":{"essential":true,"value":"gold"}}}"#;
        assert_eq!(
            parse(None, Some(c)).unwrap_err().0,
            "unmet_authentication_requirements"
        );
        assert_eq!(parse(None, Some("{")).unwrap_err().0, "invalid_request");
        let c = r#"{"userinfo":{"email":null}}"#;
        assert_eq!(
            parse(Some("urn:porta:acr:mfa"), Some(c)).unwrap().level,
            Some(Level::Mfa)
        );
    }
}
