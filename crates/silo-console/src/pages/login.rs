//! `/login` and `/logout`. The login form is protected by a double-submit token (a
//! cookie and a hidden field that must match; the guard checks them), since no session
//! exists yet. A refused login says the same thing for an unknown name and a wrong
//! password.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use maud::{html, DOCTYPE};
use serde::Deserialize;

use crate::accounts::{random_token, LoginRefused, Session, SESSION_SECS};
use crate::pages::{blocking, PageError, PageResult};
use crate::security::{cookie, set_cookie, LOGIN_COOKIE, SESSION_COOKIE};
use crate::Shared;

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[allow(dead_code)] // checked by the guard
    csrf: String,
    operator: String,
    password: String,
}

fn page(token: &str, error: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Sign in · silo console" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                main {
                    section.card.login {
                        h1 { "silo console" }
                        p.muted { "Operators sign in with the account `silo operator add` made." }
                        @if let Some(e) = error {
                            p.error data-testid="error" role="alert" { (e) }
                        }
                        form #login method="post" action="/login" {
                            input type="hidden" name="csrf" value=(token);
                            label { "Operator" input name="operator" autocomplete="username" required autofocus; }
                            label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                            button type="submit" { "Sign in" }
                        }
                    }
                }
            }
        }
    };
    let mut response = (status, body).into_response();
    if let Ok(v) = set_cookie(LOGIN_COOKIE, token, 3600).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

fn login_token(headers: &axum::http::HeaderMap) -> Result<String, PageError> {
    match cookie(headers, LOGIN_COOKIE) {
        Some(t) if t.len() >= 32 && t.len() <= 64 => Ok(t.to_owned()),
        _ => random_token(32).map_err(PageError::internal),
    }
}

/// `GET /login`.
pub async fn form(
    headers: axum::http::HeaderMap,
    session: Option<Extension<Session>>,
) -> PageResult {
    if session.is_some() {
        return Ok(Redirect::to("/inbox").into_response());
    }
    Ok(page(&login_token(&headers)?, None, StatusCode::OK))
}

/// `POST /login`.
pub async fn submit(
    State(shared): State<Shared>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> PageResult {
    let token = login_token(&headers)?;
    let operator = form.operator.trim().to_owned();
    let outcome = blocking(&shared, move |shared| {
        let now = silo_keys::now_unix();
        if !shared.setup.operators.contains_key(&operator) {
            // Same work and the same answer as a wrong password.
            let _ = shared.accounts.login("", &form.password, now);
            return Ok(Err(LoginRefused::BadCredentials));
        }
        shared
            .accounts
            .login(&operator, &form.password, now)
            .map_err(PageError::internal)
    })
    .await?;
    match outcome {
        Ok((_session, session_token)) => {
            let mut response = Redirect::to("/inbox").into_response();
            let headers = response.headers_mut();
            for c in [
                set_cookie(SESSION_COOKIE, &session_token, SESSION_SECS),
                set_cookie(LOGIN_COOKIE, "", 0),
            ] {
                if let Ok(v) = c.parse() {
                    headers.append(header::SET_COOKIE, v);
                }
            }
            Ok(response)
        }
        Err(LoginRefused::BadCredentials) => Ok(page(
            &token,
            Some("Unknown operator or wrong password."),
            StatusCode::UNAUTHORIZED,
        )),
        Err(LoginRefused::Locked { until }) => Ok(page(
            &token,
            Some(&format!(
                "Too many wrong passwords: this account is locked for {} more minutes.",
                until.saturating_sub(silo_keys::now_unix()).div_ceil(60)
            )),
            StatusCode::TOO_MANY_REQUESTS,
        )),
    }
}

/// `POST /logout`.
pub async fn logout(
    State(shared): State<Shared>,
    session: Option<Extension<Session>>,
) -> PageResult {
    if let Some(Extension(session)) = session {
        blocking(&shared, move |shared| {
            shared
                .accounts
                .logout(&session)
                .map_err(PageError::internal)
        })
        .await?;
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(v) = set_cookie(SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}
