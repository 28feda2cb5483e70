//! The error page shown to people for bad requests, refused access and outages.

use actix_web::HttpResponse;
use askama::Template;

use crate::error::PageError;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorTemplate<'a> {
    title: &'a str,
    message: &'a str,
    status: u16,
}

pub fn render(e: &PageError) -> HttpResponse {
    let t = ErrorTemplate {
        title: &e.title,
        message: &e.message,
        status: e.status.as_u16(),
    };
    let body = t.render().unwrap_or_else(|_| {
        "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
    });
    super::html(e.status, body)
}
