//! Enrolling an authenticator app (TOTP, confirmed by a code) and the recovery codes shown once.

use super::*;

#[derive(Template)]
#[template(path = "account_totp.html")]
struct TotpPage<'a> {
    csrf_token: &'a str,
    uri: &'a str,
    secret: &'a str,
    qr_svg: &'a str,
    error: Option<&'a str>,
    authz: Option<&'a str>,
    return_to: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "account_codes.html")]
struct CodesPage<'a> {
    codes: &'a [String],
    next: &'a str,
}

/// `POST /account/security/totp`: a new secret, shown with its QR code, waiting for a confirming code.
pub async fn totp_start_post(
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, form.csrf_token.as_deref())?;
    let (authz, return_to) = (
        valid_authz(form.authz.as_deref()),
        local(form.return_to.as_deref()),
    );
    let Some((user, _)) = recently_signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    };
    let secret = totp::new_secret();
    session.set(
        TOTP_ENROL,
        &TotpEnrol {
            secret: secret.clone(),
            at: state.now(),
        },
    )?;
    totp_page(&state, &session, &user, &secret, authz, return_to, None)
}

fn totp_page(
    state: &AppState,
    session: &TypedSession,
    user: &User,
    secret: &str,
    authz: Option<&str>,
    return_to: Option<&str>,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let uri = totp::otpauth_uri(&state.settings.mfa.totp_issuer, &user.username, secret);
    let svg = totp::qr_svg(&uri).unwrap_or_default();
    let page = TotpPage {
        csrf_token: &csrf::token(session)?,
        uri: &uri,
        secret,
        qr_svg: &svg,
        error,
        authz,
        return_to,
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(status, &page))
}

/// `POST /account/security/totp/confirm`.
pub async fn totp_confirm_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    let form = form.into_inner();
    csrf::check(&session, form.csrf_token.as_deref())?;
    let (authz, return_to) = (
        valid_authz(form.authz.as_deref()),
        local(form.return_to.as_deref()),
    );
    let Some((user, sign_in)) = signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    };
    let now = state.now();
    let pending = session
        .get::<TotpEnrol>(TOTP_ENROL)
        .filter(|p| now.saturating_sub(p.at) <= TOTP_ENROL_TTL && p.at <= now);
    let Some(pending) = pending else {
        return show(
            &state,
            &session,
            authz,
            return_to,
            None,
            Some("That setup expired. Start again."),
        )
        .await;
    };
    if !recent(&state, &sign_in) {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(authz, return_to),
        ));
    }
    let Some(step) = totp::verify(&pending.secret, &form.code, now, None) else {
        let msg =
            "That code is not right. Check the time on your device and enter the current code.";
        return totp_page(
            &state,
            &session,
            &user,
            &pending.secret,
            authz,
            return_to,
            Some(msg),
        );
    };
    let sealed = state
        .keys
        .seal_secret(&totp::seal_aad(&user.id), pending.secret.as_bytes())
        .map_err(|e| {
            tracing::error!(error = %e, "sealing a TOTP seed failed");
            PageError::internal()
        })?;
    let (u, secret, name, who) = (user.clone(), sealed, form.name.clone(), actor(&req, &user));
    let result = state
        .db
        .run(move |c| {
            mfa::enroll(
                c,
                &u,
                &name,
                Enrolment::Totp {
                    secret: &secret,
                    step,
                },
                &who,
                now,
            )
        })
        .await;
    let codes = match result {
        Ok(codes) => codes,
        Err(e) => {
            let msg = refused(e)?;
            return totp_page(
                &state,
                &session,
                &user,
                &pending.secret,
                authz,
                return_to,
                Some(&msg),
            );
        }
    };
    session.remove(TOTP_ENROL);
    // The confirming code is a verified second factor: it counts for the request that sent the user here.
    session.add_factor(&[amr::OTP], now)?;
    let next = next_after(&session, codes, authz, return_to)?;
    Ok(crate::web::redirect(StatusCode::SEE_OTHER, &next))
}

/// `GET /account/security/codes`: recovery codes just made, shown once.
pub async fn codes_get(session: TypedSession) -> Result<HttpResponse, PageError> {
    let Some(new) = session.get::<NewCodes>(NEW_CODES) else {
        return Ok(crate::web::redirect(StatusCode::FOUND, "/account/security"));
    };
    session.remove(NEW_CODES);
    Ok(render(
        StatusCode::OK,
        &CodesPage {
            codes: &new.codes,
            next: &new.next,
        },
    ))
}

/// `POST /account/security/recovery`: a new set of recovery codes (the old ones stop working).
pub async fn recovery_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    form: web::Form<SecurityForm>,
) -> Result<HttpResponse, PageError> {
    csrf::check(&session, form.csrf_token.as_deref())?;
    let Some((user, _)) = recently_signed_in(&state, &session).await? else {
        return Ok(crate::web::redirect(
            StatusCode::SEE_OTHER,
            &reauth(None, None),
        ));
    };
    let (u, who, now) = (user.clone(), actor(&req, &user), state.now());
    match state
        .db
        .run(move |c| mfa::regenerate_recovery(c, &u, &who, now))
        .await
    {
        Ok(codes) => {
            session.set(
                NEW_CODES,
                &NewCodes {
                    codes,
                    next: "/account/security".into(),
                },
            )?;
            Ok(crate::web::redirect(
                StatusCode::SEE_OTHER,
                "/account/security/codes",
            ))
        }
        Err(e) => {
            let msg = refused(e)?;
            show(&state, &session, None, None, None, Some(&msg)).await
        }
    }
}
