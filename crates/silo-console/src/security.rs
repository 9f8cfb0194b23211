//! What every request passes before a page sees it: a loopback `Host` (no DNS
//! rebinding), for a `POST` an `Origin` that is the console's own (when the browser sends
//! one) and a CSRF token that matches the session's (or, for the login form, the login
//! cookie's), and the response headers that keep a page from being framed, sniffed or
//! made to run script from anywhere but `/assets/`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::accounts::Session;
use crate::Shared;

/// The session cookie.
pub const SESSION_COOKIE: &str = "silo_session";
/// The login form's CSRF cookie (double submit: no session exists yet).
pub const LOGIN_COOKIE: &str = "silo_login";
/// Largest form body.
pub const MAX_FORM: usize = 64 * 1024;

/// The Content-Security-Policy of every page: script and style only from the console's
/// own `/assets/`, nothing inline, no frames, forms only to itself.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for a console cookie: HttpOnly, SameSite=Strict, Secure
/// (browsers keep Secure cookies for `http://localhost` and `http://127.0.0.1`).
pub fn set_cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// True when `a` and `b` are equal, in time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// True for a `Host` header naming a loopback address: `localhost`, `127.x.y.z` or
/// `[::1]`, with or without a port.
pub fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || port.starts_with(':') => inside,
            _ => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// The form field `name` of an urlencoded body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The middleware: checks, then the signed-in session (if any) in the request's
/// extensions, then the security headers on whatever the page answered.
pub(crate) async fn guard(State(shared): State<Shared>, req: Request, next: Next) -> Response {
    let mut response = check_and_run(shared, req, next).await;
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        // Not `no-referrer`: with it browsers send `Origin: null` on our own forms.
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn check_and_run(shared: Shared, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !loopback_host(&host) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "the console answers only to a loopback Host (localhost, 127.0.0.1, [::1])",
        );
    }
    let session = match cookie(req.headers(), SESSION_COOKIE) {
        Some(token) => {
            let (shared, token) = (shared.clone(), token.to_owned());
            let found = tokio::task::spawn_blocking(move || {
                shared.accounts.session(&token, silo_keys::now_unix())
            })
            .await;
            match found {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "session lookup failed");
                    return refuse(StatusCode::INTERNAL_SERVER_ERROR, "session lookup failed");
                }
                Err(_) => {
                    return refuse(StatusCode::INTERNAL_SERVER_ERROR, "session lookup failed")
                }
            }
        }
        None => None,
    };
    // A session whose operator left the project file is no session.
    let session = session.filter(|s| shared.setup.operators.contains_key(&s.operator));
    if req.method() == Method::POST {
        let (mut parts, body) = req.into_parts();
        if let Some(origin) = parts.headers.get(header::ORIGIN) {
            let own = format!("http://{host}");
            if origin.to_str().ok() != Some(own.as_str()) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "CSRF: the request came from another origin",
                );
            }
        }
        if let Some(site) = parts.headers.get("sec-fetch-site") {
            if !matches!(site.to_str().unwrap_or(""), "same-origin" | "none") {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "CSRF: the request came from another site",
                );
            }
        }
        let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(b) => b,
            Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"),
        };
        let sent = form_field(&bytes, "csrf").unwrap_or_default();
        let expected = if parts.uri.path() == "/login" {
            cookie(&parts.headers, LOGIN_COOKIE).map(str::to_owned)
        } else {
            match &session {
                Some(s) => Some(s.csrf.clone()),
                None => return refuse(StatusCode::FORBIDDEN, "not signed in"),
            }
        };
        match expected {
            Some(e) if !sent.is_empty() && same_secret(&e, &sent) => {}
            _ => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "CSRF token missing or wrong: reload the page and try again",
                )
            }
        }
        if let Some(s) = session {
            parts.extensions.insert(s);
        }
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    let mut req = req;
    if let Some(s) = session {
        req.extensions_mut().insert::<Session>(s);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "127.0.0.1:8701",
            "localhost:8701",
            "LOCALHOST",
            "[::1]:8701",
            "127.1.2.3",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:8701",
            "127.0.0.1.evil.example",
            "[::1]evil",
            "10.0.0.1:8701",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; silo_session=tok; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok"));
        assert_eq!(cookie(&h, "silo"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        let c = set_cookie(SESSION_COOKIE, "x", 10);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
    }
}
