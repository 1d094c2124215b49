//! Cookie sessions, for browser clients: the same login session as the
//! bearer tokens, carried in HTTP-only cookies instead of the answer body.
//!
//! * `tm_access`: the access token (`HttpOnly`, `SameSite=Lax`, `Secure`
//!   when `COOKIE_SECURE`), for `ACCESS_TOKEN_TTL`;
//! * `tm_refresh`: the refresh token, same attributes, for
//!   `REFRESH_TOKEN_TTL`: `POST /auth/refresh` without a body uses it;
//! * `tm_csrf`: the CSRF token, readable by the page (not `HttpOnly`).
//!
//! Cookies travel with every request a browser makes, whoever made the
//! page, so a state-changing request authenticated by cookie must also
//! carry `X-CSRF-Token` with the session's CSRF token: a page of another
//! site can neither read the cookie nor set the header. (The edge refuses
//! cross-site writes by their `Origin` too; `SameSite=Lax` keeps the
//! cookies off cross-site posts; this is the third lock.) The CSRF token is
//! a digest of the session id, which only the session's holder knows, so
//! it needs no storage and survives refreshes.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method};
use blake2::Digest;
use subtle::ConstantTimeEq;
use taskmaster_shared::hex::hex;

use super::token::{Kind, Token};

pub const ACCESS: &str = "tm_access";
pub const REFRESH: &str = "tm_refresh";
pub const CSRF: &str = "tm_csrf";
/// The header that must repeat the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

type Blake2b128 = blake2::Blake2b<blake2::digest::consts::U16>;

/// The CSRF token of session `sid`.
pub fn csrf_of(sid: &str) -> String {
    let mut hasher = Blake2b128::new();
    hasher.update(b"taskmaster csrf\0");
    hasher.update(sid.as_bytes());
    hex(&hasher.finalize())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn get<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn token_in(headers: &HeaderMap, name: &str, kind: Kind) -> Option<Token> {
    let mut token = Token::parse(get(headers, name)?).filter(|t| t.kind == kind)?;
    token.in_cookie = true;
    Some(token)
}

/// The access token of the `tm_access` cookie, when it holds one.
pub fn access_token(headers: &HeaderMap) -> Option<Token> {
    token_in(headers, ACCESS, Kind::Access)
}

/// The refresh token of the `tm_refresh` cookie, when it holds one.
pub fn refresh_token(headers: &HeaderMap) -> Option<Token> {
    token_in(headers, REFRESH, Kind::Refresh)
}

/// Whether a request authenticated by the cookie of session `sid` may go
/// on: safe methods always; others only with the session's CSRF token.
pub fn csrf_passes(method: &Method, headers: &HeaderMap, sid: &str) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) || csrf_matches(headers, sid)
}

/// Whether the request's `X-CSRF-Token` is session `sid`'s, compared in
/// constant time.
pub fn csrf_matches(headers: &HeaderMap, sid: &str) -> bool {
    headers
        .get(CSRF_HEADER)
        .is_some_and(|v| bool::from(v.as_bytes().ct_eq(csrf_of(sid).as_bytes())))
}

/// The cookies of a session just opened or refreshed.
pub struct Jar<'a> {
    pub access: &'a str,
    pub refresh: &'a str,
    pub sid: &'a str,
    pub access_secs: u64,
    pub refresh_secs: u64,
    pub secure: bool,
}

fn cookie(name: &str, value: &str, max_age: u64, http_only: bool, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; Max-Age={max_age}; SameSite=Lax");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

impl Jar<'_> {
    /// Sets the three cookies on an answer.
    pub fn set(&self, headers: &mut HeaderMap) {
        let csrf = csrf_of(self.sid);
        for value in [
            cookie(ACCESS, self.access, self.access_secs, true, self.secure),
            cookie(REFRESH, self.refresh, self.refresh_secs, true, self.secure),
            cookie(CSRF, &csrf, self.refresh_secs, false, self.secure),
        ] {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(SET_COOKIE, v);
            }
        }
    }
}

/// Clears the three cookies (a logout).
pub fn clear(headers: &mut HeaderMap, secure: bool) {
    for name in [ACCESS, REFRESH, CSRF] {
        if let Ok(v) = HeaderValue::from_str(&cookie(name, "", 0, name != CSRF, secure)) {
            headers.append(SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_in_any_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; tm_access=xyz"));
        h.append(COOKIE, HeaderValue::from_static("tm_refresh=r ; b=2"));
        assert_eq!(get(&h, ACCESS), Some("xyz"));
        assert_eq!(get(&h, REFRESH), Some("r"));
        assert_eq!(get(&h, CSRF), None);
        assert_eq!(get(&h, "tm_acc"), None);
    }

    #[test]
    fn unsafe_methods_need_the_sessions_own_csrf_token() {
        let sid = "AbCdEfGhIjKlMnOpQrStUv";
        let mut h = HeaderMap::new();
        assert!(csrf_passes(&Method::GET, &h, sid));
        assert!(!csrf_passes(&Method::POST, &h, sid));
        h.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_of("another")).expect("hv"),
        );
        assert!(!csrf_passes(&Method::DELETE, &h, sid));
        h.insert(
            CSRF_HEADER,
            HeaderValue::from_str(&csrf_of(sid)).expect("hv"),
        );
        assert!(csrf_passes(&Method::PUT, &h, sid));
    }

    #[test]
    fn session_cookies_are_http_only_and_lax_and_secure_when_asked() {
        let mut h = HeaderMap::new();
        Jar {
            access: "tma_1.a.b",
            refresh: "tmr_1.a.c",
            sid: "a",
            access_secs: 900,
            refresh_secs: 60,
            secure: true,
        }
        .set(&mut h);
        let set: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(set.len(), 3);
        assert!(set[0].starts_with("tm_access=tma_1.a.b;") && set[0].contains("HttpOnly"));
        assert!(
            set.iter()
                .all(|c| c.contains("SameSite=Lax") && c.contains("Secure"))
        );
        assert!(set[2].starts_with("tm_csrf=") && !set[2].contains("HttpOnly"));
    }
}
