//! Where a browser request comes from: state-changing requests that a
//! browser sent from another site are refused (CSRF), and every answer
//! carries the CORS headers that fit the configured origins.
//!
//! A browser attaches cached Basic credentials to a cross-site form post,
//! and a `text/plain` form body passes for JSON here, as it did for the
//! reference, whose clients (`curl -d`) send no JSON content type. So the
//! request's origin is judged, not its content type: a `POST`, `PUT` or
//! `DELETE` whose `Origin` is neither the api's own (the `Host` it was sent
//! to) nor one of `CORS_ORIGINS`, or that carries `Sec-Fetch-Site:
//! cross-site` without an `Origin`, is answered 403. Browsers send those
//! headers on such requests and no page can forge them; clients that are
//! not browsers send neither and pass as before.
//!
//! CORS: without `CORS_ORIGINS`, answers carry the reference's
//! `Access-Control-Allow-Origin: *`, which browsers honour only for
//! requests without credentials. With it, a listed origin is echoed back
//! with `Access-Control-Allow-Credentials: true`, and others get no
//! `Access-Control-Allow-Origin` at all.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::Response;

/// The answer to a refused cross-site request.
pub const REFUSED: &str = "Cross-site request refused: a page of another origin may not change data here (an operator can allow an origin with CORS_ORIGINS)";

/// The configured origins.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// Lower-case `scheme://host[:port]`, as `CORS_ORIGINS` listed them.
    allowed: Vec<String>,
}

impl Origins {
    pub fn new(allowed: &[String]) -> Self {
        Origins {
            allowed: allowed.to_vec(),
        }
    }

    /// Whether the answer depends on the request's `Origin` (some origins
    /// are listed), so the edge must keep it.
    pub fn echoes(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// Why the request must be refused (403), if it must.
    pub fn refusal(&self, method: &Method, headers: &HeaderMap) -> Option<&'static str> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return None;
        }
        let trusted = match headers.get(header::ORIGIN) {
            Some(origin) => self.trusted(origin, headers.get(header::HOST)),
            None => !headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site")),
        };
        (!trusted).then_some(REFUSED)
    }

    /// Whether a WebSocket handshake must be refused (403): it comes from
    /// a page of an origin that is neither listed nor the api's own.
    /// Browsers send cookies with a handshake whatever page opens it, and
    /// the same-origin policy does not guard WebSockets, so every origin
    /// is judged, not only those of writes.
    pub fn refuses_socket(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::ORIGIN)
            .is_some_and(|origin| !self.trusted(origin, headers.get(header::HOST)))
    }

    /// A listed origin, or the api's own: its host and port are the `Host`
    /// the request was sent to (behind a proxy, the proxy must pass `Host`
    /// on, as `deploy/nginx/taskmaster.conf` does).
    fn trusted(&self, origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        if self.allowed.contains(&origin) {
            return true;
        }
        let Some(host) = host.and_then(|h| h.to_str().ok()) else {
            return false;
        };
        origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .is_some_and(|own| own.eq_ignore_ascii_case(host))
    }

    /// Adds the CORS headers for a request that came with `origin`.
    pub fn cors_headers(&self, origin: Option<&HeaderValue>, response: &mut Response) {
        let h = response.headers_mut();
        if self.allowed.is_empty() {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        } else {
            h.insert(header::VARY, HeaderValue::from_static("Origin"));
            let listed = origin.filter(|o| {
                o.to_str()
                    .is_ok_and(|o| self.allowed.iter().any(|a| a.eq_ignore_ascii_case(o)))
            });
            if let Some(origin) = listed {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "Content-Type, Authorization, X-Owner-Password, X-CSRF-Token, X-Request-Id, \
                 If-Match, If-None-Match, Idempotency-Key",
            ),
        );
        // What a page's script may read of an answer beyond the safelisted
        // headers: the paging links and totals, tags, request ids, replays
        // and the rate limit.
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "Link, X-Total-Count, ETag, X-Request-Id, Idempotent-Replayed, Retry-After, \
                 RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset",
            ),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changing_requests_from_other_sites_are_refused() {
        let open = Origins::default();
        let listed = Origins::new(&["https://app.example".to_owned()]);
        let host = ("host", "api.example:7890");
        type Case<'a> = (&'a Origins, Method, &'a [(&'a str, &'a str)], bool);
        let cases: [Case<'_>; 11] = [
            // (policy, method, headers, refused)
            (&open, Method::POST, &[host], false),
            (
                &open,
                Method::GET,
                &[
                    host,
                    ("origin", "https://evil.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
                false,
            ),
            (
                &open,
                Method::POST,
                &[
                    host,
                    ("origin", "https://evil.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
                true,
            ),
            (&open, Method::PUT, &[host, ("origin", "null")], true),
            (
                &open,
                Method::DELETE,
                &[host, ("sec-fetch-site", "cross-site")],
                true,
            ),
            (
                &open,
                Method::POST,
                &[host, ("sec-fetch-site", "none")],
                false,
            ),
            (
                &open,
                Method::POST,
                &[
                    host,
                    ("origin", "http://api.example:7890"),
                    ("sec-fetch-site", "same-origin"),
                ],
                false,
            ),
            (
                &open,
                Method::POST,
                &[host, ("origin", "http://API.example:7890")],
                false,
            ),
            (
                &open,
                Method::POST,
                &[host, ("origin", "http://api.example:7891")],
                true,
            ),
            (
                &listed,
                Method::POST,
                &[
                    host,
                    ("origin", "https://app.example"),
                    ("sec-fetch-site", "cross-site"),
                ],
                false,
            ),
            (
                &listed,
                Method::POST,
                &[host, ("origin", "https://other.example")],
                true,
            ),
        ];
        for (i, (policy, method, pairs, refused)) in cases.into_iter().enumerate() {
            let map: HeaderMap = pairs
                .iter()
                .map(|(k, v)| {
                    (
                        header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                        HeaderValue::from_str(v).expect("value"),
                    )
                })
                .collect();
            assert_eq!(
                policy.refusal(&method, &map).is_some(),
                refused,
                "case {i}: {method} {pairs:?}"
            );
        }
    }
}
