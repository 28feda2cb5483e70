//! `/admin/audit`: the audit log, newest first, with paging and filters by action, actor and age.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Admin, PAGE_SIZE, page, respond};
use crate::clock::format_time;
use crate::db::models::audit::{self, AuditEntry, Filter};
use crate::session::TypedSession;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(audit_get));
}

pub struct Line {
    pub at: String,
    pub entry: AuditEntry,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    admin: &'a Admin,
    lines: Vec<Line>,
    action: String,
    actor: String,
    hours: String,
    page: i64,
    prev: Option<String>,
    next: Option<String>,
}

fn link(q: &HashMap<String, String>, page: i64) -> String {
    let mut params: Vec<(&str, String)> = ["action", "actor", "hours"]
        .iter()
        .filter_map(|k| q.get(*k).filter(|v| !v.is_empty()).map(|v| (*k, v.clone())))
        .collect();
    params.push(("page", page.to_string()));
    format!(
        "/admin/audit?{}",
        serde_urlencoded::to_string(params).unwrap_or_default()
    )
}

async fn audit_get(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    q: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    respond(
        async {
            let admin = super::admin(&req, &state, &session).await?;
            let page_no = q
                .get("page")
                .and_then(|p| p.parse::<i64>().ok())
                .unwrap_or(1)
                .clamp(1, 10_000);
            let hours = q
                .get("hours")
                .and_then(|h| h.parse::<i64>().ok())
                .filter(|h| *h > 0);
            let filter = Filter {
                action_prefix: q.get("action").cloned(),
                actor: q.get("actor").cloned(),
                since: hours.map(|h| state.now() - h.saturating_mul(3600)),
            };
            // One extra row tells whether a next page exists.
            let offset = (page_no - 1) * PAGE_SIZE;
            let mut entries = super::read(&state, move |c| {
                audit::list(c, &filter, PAGE_SIZE + 1, offset)
            })
            .await?;
            let has_next = entries.len() as i64 > PAGE_SIZE;
            entries.truncate(PAGE_SIZE as usize);
            let q = q.into_inner();
            Ok(page(&AuditPage {
                admin: &admin,
                lines: entries
                    .into_iter()
                    .map(|entry| Line {
                        at: format_time(entry.at),
                        entry,
                    })
                    .collect(),
                action: q.get("action").cloned().unwrap_or_default(),
                actor: q.get("actor").cloned().unwrap_or_default(),
                hours: hours.map(|h| h.to_string()).unwrap_or_default(),
                page: page_no,
                prev: (page_no > 1).then(|| link(&q, page_no - 1)),
                next: has_next.then(|| link(&q, page_no + 1)),
            }))
        }
        .await,
    )
}
