//! What both processes expose about themselves: Prometheus metrics, and
//! (the api) whose `X-Request-Id` it keeps.
//!
//! Metrics are never public by accident. Without `METRICS_TOKEN`, only a
//! caller on the same machine gets them, and not through a reverse proxy:
//! the api refuses a `/metrics` request that carries `X-Forwarded-For`,
//! and syncd refuses to listen on a non-loopback address. With the token,
//! any caller that sends `Authorization: Bearer <token>` gets them.

use std::net::{IpAddr, SocketAddr};

use super::{Env, Secret};

/// Prometheus metrics of one process.
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    /// Whether metrics are kept at all (`METRICS=on|off`, default on). Off:
    /// every handle is a no-op and `/metrics` is 404 (the benchmark's
    /// baseline for what metrics cost).
    pub enabled: bool,
    /// The bearer token a scraper sends (`METRICS_TOKEN`); empty: loopback
    /// callers only.
    pub token: Secret,
}

impl MetricsConfig {
    pub(super) fn from_env(env: &mut Env<'_>) -> Self {
        let enabled = match env.string("METRICS", "on").to_ascii_lowercase().as_str() {
            "on" | "true" | "1" => true,
            "off" | "false" | "0" => false,
            _ => {
                env.problem("METRICS", "must be `on` or `off`");
                true
            }
        };
        let token = Secret::new(env.string("METRICS_TOKEN", ""));
        if !token.is_empty() && token.expose().len() < 16 {
            env.problem("METRICS_TOKEN", "must be at least 16 characters");
        }
        MetricsConfig { enabled, token }
    }
}

/// syncd's metrics listener (`SYNCD_METRICS_ADDR`, default
/// `127.0.0.1:7891`; `off` for none). A non-loopback address needs
/// `METRICS_TOKEN`.
pub(super) fn syncd_metrics_addr(env: &mut Env<'_>, metrics: &MetricsConfig) -> Option<SocketAddr> {
    let raw = env.string("SYNCD_METRICS_ADDR", "127.0.0.1:7891");
    if raw.eq_ignore_ascii_case("off") || !metrics.enabled {
        return None;
    }
    let addr: SocketAddr = match raw.parse() {
        Ok(addr) => addr,
        Err(_) => {
            env.problem(
                "SYNCD_METRICS_ADDR",
                &format!("= `{raw}` is not an address:port"),
            );
            return None;
        }
    };
    if !addr.ip().is_loopback() && metrics.token.is_empty() {
        env.problem(
            "SYNCD_METRICS_ADDR",
            "is not a loopback address: set METRICS_TOKEN too, or metrics would be public",
        );
    }
    Some(addr)
}

/// `TRUSTED_PROXIES`: the addresses whose `X-Request-Id` the api keeps
/// (comma-separated IPs; default the loopback addresses, where a reverse
/// proxy on the same machine connects from; `none` for no one).
pub(super) fn trusted_proxies(env: &mut Env<'_>) -> Vec<IpAddr> {
    let raw = env.string("TRUSTED_PROXIES", "127.0.0.1,::1");
    if raw.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse() {
            Ok(ip) => out.push(ip),
            Err(_) => env.problem(
                "TRUSTED_PROXIES",
                &format!("= `{part}` is not an IP address"),
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> (MetricsConfig, Option<SocketAddr>, Vec<String>) {
        let vars: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| vars.get(name).cloned();
        let mut env = Env::new(&lookup);
        let metrics = MetricsConfig::from_env(&mut env);
        let addr = syncd_metrics_addr(&mut env, &metrics);
        (metrics, addr, env.problems)
    }

    #[test]
    fn metrics_stay_on_loopback_unless_a_token_guards_them() {
        let (m, addr, problems) = with(&[]);
        assert!(m.enabled && m.token.is_empty() && problems.is_empty());
        assert_eq!(addr, Some("127.0.0.1:7891".parse().expect("addr")));
        let (_, _, problems) = with(&[("SYNCD_METRICS_ADDR", "0.0.0.0:9000")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (_, addr, problems) = with(&[
            ("SYNCD_METRICS_ADDR", "0.0.0.0:9000"),
            ("METRICS_TOKEN", "a-long-enough-token"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(addr, Some("0.0.0.0:9000".parse().expect("addr")));
        let (_, _, problems) = with(&[("METRICS_TOKEN", "short")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (m, addr, problems) = with(&[("METRICS", "off")]);
        assert!(!m.enabled && addr.is_none() && problems.is_empty());
        let (_, _, problems) = with(&[("METRICS", "maybe"), ("SYNCD_METRICS_ADDR", "nowhere")]);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
