//! The console's pages: one module per page, sharing the layout and helpers here. Every
//! value is put into the page by maud, which escapes it.

pub mod admin;
pub mod audit;
pub mod inbox;
pub mod login;
pub mod task;
pub mod tasks;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, Markup, DOCTYPE};

use crate::accounts::Session;
use crate::{Flash, OperatorProfile, Shared};

/// Why a page was not shown.
#[derive(Debug)]
pub enum PageError {
    /// Not signed in: go to the login page.
    Login,
    /// Signed in, but not allowed.
    Forbidden(String),
    /// No such thing.
    NotFound(String),
    /// The request makes no sense.
    Bad(String),
    /// Our fault; logged, and the operator sees a short message.
    Internal(String),
}

impl PageError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<silo_router::StoreError> for PageError {
    fn from(e: silo_router::StoreError) -> Self {
        Self::internal(e)
    }
}

impl From<silo_router::KernelError> for PageError {
    fn from(e: silo_router::KernelError) -> Self {
        use silo_router::{KernelError, StoreError};
        match &e {
            KernelError::UnknownTask(_) | KernelError::Store(StoreError::UnknownTask(_)) => {
                Self::NotFound(e.to_string())
            }
            KernelError::Store(StoreError::Transition(_)) | KernelError::NotTakenBy { .. } => {
                Self::Bad(e.to_string())
            }
            KernelError::Routing(_) => Self::Bad(e.to_string()),
            _ => Self::internal(e),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::Login => return Redirect::to("/login").into_response(),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Self::Bad(m) => (StatusCode::BAD_REQUEST, m),
            Self::Internal(m) => {
                tracing::error!(error = %m, "console page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "something went wrong on the server; the log has the details".to_owned(),
                )
            }
        };
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { "silo console" }
                    link rel="stylesheet" href="/assets/console.css";
                }
                body {
                    main {
                        section.card {
                            h1 { (status.canonical_reason().unwrap_or("Error")) }
                            p data-testid="error" { (message) }
                            p { a href="/inbox" { "Back to the inbox" } }
                        }
                    }
                }
            }
        };
        (status, page).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

/// The signed-in operator, or a redirect to the login page.
pub fn signed_in(session: Option<Extension<Session>>) -> Result<Session, PageError> {
    session.map(|Extension(s)| s).ok_or(PageError::Login)
}

/// The operator's profile from the project file.
pub fn profile<'a>(
    shared: &'a Shared,
    session: &Session,
) -> Result<&'a OperatorProfile, PageError> {
    shared
        .setup
        .operators
        .get(&session.operator)
        .ok_or(PageError::Login)
}

/// The admin's profile, or 403.
pub fn admin<'a>(shared: &'a Shared, session: &Session) -> Result<&'a OperatorProfile, PageError> {
    let p = profile(shared, session)?;
    if p.admin {
        Ok(p)
    } else {
        Err(PageError::Forbidden(format!(
            "operator `{}` is not an admin (`admin: true` under operators: in silo.yaml)",
            session.operator
        )))
    }
}

/// Runs `f` on a blocking thread (SQLite, the membrane): pages never block the reactor.
pub async fn blocking<T: Send + 'static>(
    shared: &Shared,
    f: impl FnOnce(&Shared) -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || f(&shared))
        .await
        .map_err(|e| PageError::internal(format!("a page handler stopped: {e}")))?
}

/// The page frame: navigation, who is signed in, the sign-out form, a flash message.
pub fn layout(
    title: &str,
    session: &Session,
    profile: &OperatorProfile,
    flash: Option<Flash>,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · silo console" }
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                header {
                    span.brand { "silo" }
                    nav {
                        a href="/inbox" { "Inbox" }
                        a href="/tasks" { "Tasks" }
                        @if profile.admin {
                            a href="/admin" { "Admin" }
                            a href="/audit" { "Audit" }
                        }
                    }
                    div.who {
                        span data-testid="operator" { (session.operator) " · " (profile.pool) " pool" }
                        form #logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some(f) = flash {
                        div.flash.ok[f.ok].denied[!f.ok] data-testid="flash" role="status" { (f.text) }
                    }
                    (content)
                }
            }
        }
    }
}

/// A hidden CSRF field for a form.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// `GET /`: to the inbox (or the login page).
pub async fn home(State(_): State<Shared>, session: Option<Extension<Session>>) -> PageResult {
    signed_in(session)?;
    Ok(Redirect::to("/inbox").into_response())
}

/// Cents as dollars: `123456` → `$1,234.56` (other currencies get their code).
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let whole = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let symbol = if currency.eq_ignore_ascii_case("USD") {
        "$"
    } else {
        ""
    };
    let code = if symbol.is_empty() {
        format!(" {currency}")
    } else {
        String::new()
    };
    format!("{sign}{symbol}{grouped}.{:02}{code}", abs % 100)
}

/// How long ago `then` was, shortly: `42 s`, `5 min`, `3 h 10 min`, `2 d`.
pub fn age(then: u64, now: u64) -> String {
    let s = now.saturating_sub(then);
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_age_read_well() {
        assert_eq!(money(100_000, "USD"), "$1,000.00");
        assert_eq!(money(12_000, "USD"), "$120.00");
        assert_eq!(money(5, "USD"), "$0.05");
        assert_eq!(money(-1599, "USD"), "-$15.99");
        assert_eq!(money(123_456_789, "EUR"), "1,234,567.89 EUR");
        assert_eq!(age(100, 142), "42 s");
        assert_eq!(age(0, 3 * 3600 + 600), "3 h 10 min");
        assert_eq!(age(500, 100), "0 s");
    }
}
