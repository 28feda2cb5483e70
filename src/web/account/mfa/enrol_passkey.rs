//! Enrolling a passkey or security key: the registration challenge and its answer, as JSON for
//! `/static/webauthn.js`.

use super::*;

#[derive(Debug, Deserialize)]
pub struct PasskeyOptions {
    csrf_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasskeyFinish {
    csrf_token: Option<String>,
    credential: RegisterPublicKeyCredential,
    #[serde(default)]
    name: String,
    authz: Option<String>,
    return_to: Option<String>,
}

fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "error": message }))
}

/// `POST /account/security/passkey/options`: a registration challenge (JSON).
pub async fn passkey_options(
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<PasskeyOptions>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, body.csrf_token.as_deref())?;
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        let why =
            webauthn::unavailable(&state.settings.issuer).unwrap_or("Passkeys are unavailable.");
        return Ok(json_error(StatusCode::BAD_REQUEST, why));
    };
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "Sign in first."));
    };
    if !recent(&state, &sign_in) {
        return Ok(json_error(
            StatusCode::UNAUTHORIZED,
            "Sign in again first: changing how you sign in needs a recent sign-in.",
        ));
    }
    let uid = user.id.clone();
    let existing: Vec<_> = state
        .db
        .run(move |c| mfa_factors::for_user(c, &uid))
        .await?
        .iter()
        .filter(|f| f.kind == kind::WEBAUTHN)
        .filter_map(|f| f.credential.as_deref().and_then(webauthn::decode))
        .collect();
    let display = user
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| user.username.clone());
    let (options, st) =
        webauthn::start_registration(&rp, &user.id, &user.username, &display, &existing).map_err(
            |e| {
                tracing::error!(error = %e, "passkey registration challenge failed");
                PageError::internal()
            },
        )?;
    session.set(PASSKEY_ENROL, &(user.id.clone(), st))?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(options))
}

/// `POST /account/security/passkey/finish`: stores the new passkey (JSON answer: where to go next).
pub async fn passkey_finish(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Json<PasskeyFinish>,
) -> Result<HttpResponse, PageError> {
    let body = body.into_inner();
    csrf::check(&session, body.csrf_token.as_deref())?;
    let Some((uid, st)) = session.get::<(String, PasskeyRegistration)>(PASSKEY_ENROL) else {
        return Ok(json_error(StatusCode::BAD_REQUEST, "Start again."));
    };
    session.remove(PASSKEY_ENROL);
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "Sign in first."));
    };
    if user.id != uid || !recent(&state, &sign_in) {
        return Ok(json_error(StatusCode::UNAUTHORIZED, "Sign in again first."));
    }
    let Some(rp) = webauthn::relying_party(&state.settings.issuer) else {
        return Err(PageError::internal());
    };
    let passkey = match webauthn::finish_registration(&rp, &body.credential, &st) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            return Ok(json_error(
                StatusCode::BAD_REQUEST,
                "The passkey could not be registered.",
            ));
        }
    };
    let cred_id = webauthn::credential_id_text(passkey.cred_id());
    let stored = webauthn::encode(&passkey);
    let (u, name, who, now) = (
        user.clone(),
        body.name.clone(),
        actor(&req, &user),
        state.now(),
    );
    let result = state
        .db
        .run(move |c| {
            let what = Enrolment::Passkey {
                credential_id: &cred_id,
                credential: &stored,
            };
            mfa::enroll(c, &u, &name, what, &who, now)
        })
        .await;
    let codes = match result {
        Ok(codes) => codes,
        Err(e) => return Ok(json_error(StatusCode::BAD_REQUEST, &refused(e)?)),
    };
    // Registering with user verification proves the authenticator: it counts as the step asked for.
    session.add_factor(&[amr::HWK, amr::USER], now)?;
    let (authz, return_to) = (
        valid_authz(body.authz.as_deref()),
        local(body.return_to.as_deref()),
    );
    let next = next_after(&session, codes, authz, return_to)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({ "next": next })))
}
