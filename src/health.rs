//! Health checks for load balancers and orchestrators: `/healthz` (the process answers) and `/readyz` (the
//! database answers and a key can sign). Reasons are generic; the detail goes to the operator's log.

use actix_web::{HttpResponse, web};

use crate::state::AppState;

/// `GET /healthz`.
pub async fn healthz_get() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 only when the database answers and a signing key is active.
pub async fn readyz_get(state: web::Data<AppState>) -> HttpResponse {
    if !state.keys.current().can_sign() {
        return HttpResponse::ServiceUnavailable().json(
            serde_json::json!({ "status": "unavailable", "reason": "no active signing key" }),
        );
    }
    match state.db.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(e) => {
            // The detail (host names, driver messages) is for the operator's log, not for whoever asks.
            tracing::warn!(error = %e, "readiness check: the database does not answer");
            HttpResponse::ServiceUnavailable().json(
                serde_json::json!({ "status": "unavailable", "reason": "database unavailable" }),
            )
        }
    }
}
