//! One delivery attempt over HTTP (see the parent module).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use taskmaster_shared::config::WebhookConfig;
use taskmaster_shared::hex::hex;
use taskmaster_shared::webhook::{AllowedHosts, refused_address};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// A 2xx answer.
    Delivered { code: u16 },
    /// Worth trying again: another answer, a timeout, a refused or
    /// unreachable connection, an address refused this time.
    Failed { code: Option<u16>, error: String },
    /// Never worth trying again: the URL's own address is refused.
    Refused { error: String },
}

/// The signature of `body` sent at `timestamp` (Unix seconds): hex
/// HMAC-SHA256 under `secret` of `"{timestamp}.{body}"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// Resolves names for the client, refusing the whole answer when any
/// address is internal (unless the host is allowed): the address checked
/// is the one connected to, so a DNS answer that changes cannot slip past.
struct Guarded {
    allow: AllowedHosts,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allowed = self.allow.allows_host(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed
                && let Some((ip, why)) = found
                    .iter()
                    .find_map(|a| Some((a.ip(), refused_address(a.ip())?)))
            {
                return Err(format!("{host} resolves to {ip}, {why}").into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client deliveries go through.
#[derive(Clone)]
pub struct Sender {
    http: reqwest::Client,
    allow: AllowedHosts,
}

impl Sender {
    pub fn new(config: &WebhookConfig) -> Result<Sender, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent("taskmaster-webhooks")
            .dns_resolver(Arc::new(Guarded {
                allow: config.allow_hosts.clone(),
            }))
            .build()?;
        Ok(Sender {
            http,
            allow: config.allow_hosts.clone(),
        })
    }

    /// POSTs `payload` to `url` as delivery `id` of `event`, signed with
    /// `secret`; what came of it and how long it took.
    pub async fn send(
        &self,
        url: &str,
        secret: &str,
        id: &str,
        event: &str,
        payload: String,
    ) -> (Attempt, Duration) {
        let started = Instant::now();
        let parsed = match taskmaster_shared::webhook::check_url(url) {
            Ok(u) => u,
            Err(why) => {
                return (
                    Attempt::Refused {
                        error: format!("url {why}"),
                    },
                    started.elapsed(),
                );
            }
        };
        // An address in the URL itself is never resolved: check it here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::from(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::from(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.allow.allows(&parsed)
            && let Some(why) = refused_address(ip)
        {
            return (
                Attempt::Refused {
                    error: format!("{ip} is {why}"),
                },
                started.elapsed(),
            );
        }
        let timestamp = chrono::Utc::now().timestamp();
        let sig = signature(secret, timestamp, payload.as_bytes());
        let sent = self
            .http
            .post(parsed)
            .header("content-type", "application/json")
            .header("x-taskmaster-event", event)
            .header("x-taskmaster-delivery", id)
            .header("x-taskmaster-timestamp", timestamp.to_string())
            .header("x-taskmaster-signature", format!("sha256={sig}"))
            .body(payload)
            .send()
            .await;
        let attempt = match sent {
            Ok(answer) if answer.status().is_success() => Attempt::Delivered {
                code: answer.status().as_u16(),
            },
            Ok(answer) => Attempt::Failed {
                code: Some(answer.status().as_u16()),
                error: format!("answered {}", answer.status()),
            },
            Err(e) => Attempt::Failed {
                code: None,
                error: describe(&e),
            },
        };
        (attempt, started.elapsed())
    }
}

/// The error and its causes, in one line.
fn describe(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // RFC 4231's first test case's key and data, as the recipe builds it.
        let key = "key";
        let sig = signature(key, 1_733_390_000, b"{\"a\":1}");
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(b"key").expect("key");
        mac.update(b"1733390000.{\"a\":1}");
        assert_eq!(sig, hex(&mac.finalize().into_bytes()));
        assert_eq!(sig.len(), 64);
        assert_ne!(sig, signature(key, 1_733_390_001, b"{\"a\":1}"));
    }
}
