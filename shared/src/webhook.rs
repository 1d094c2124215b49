//! Webhooks: a registered hook as stored in Redis (`P webhook:{id}`, see
//! [`crate::keys`]) and PostgreSQL (`webhooks`), and the events it may
//! name.
//!
//! A hook is the owner's (global, no group) or a group's (made by the
//! group's admin, it receives only what concerns the group). Its `secret`
//! signs every delivery; it is shown once, when the hook is made, and never
//! serialised ([`Webhook`] skips it).

use serde::Serialize;

use crate::model::Fields;

/// The events a hook may name: each row type's three, or all of one
/// type's (`task.*`).
pub const EVENTS: [&str; 12] = [
    "task.created",
    "task.updated",
    "task.deleted",
    "task.*",
    "user.created",
    "user.updated",
    "user.deleted",
    "user.*",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.*",
];

/// A registered webhook, as answered (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "id": 3, "group_id": 1, "url": "https://hooks.example.com/taskmaster",
    "events": ["task.created", "task.updated"], "active": true, "created_by": 2,
    "created_at": "2026-12-05T09:31:00Z", "updated_at": "2026-12-05T09:31:00Z"
}))]
pub struct Webhook {
    #[schema(minimum = 1)]
    pub id: u64,
    /// The group whose events it receives; `null`: the owner's, for every
    /// event.
    pub group_id: Option<u64>,
    #[schema(max_length = 2048)]
    pub url: String,
    /// Sorted, without repeats.
    pub events: Vec<String>,
    pub active: bool,
    /// Who made it (`null`: the owner header).
    pub created_by: Option<u64>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    #[schema(ignore)]
    pub secret: String,
}

impl Webhook {
    /// Reads a hook from its hash; `None` when the hash is empty or
    /// malformed.
    pub fn from_fields(f: &Fields) -> Option<Webhook> {
        let get = |name: &str| f.get(name).map(String::as_str).unwrap_or("");
        let number = |name: &str| get(name).parse::<u64>().ok();
        let events: Vec<String> = get("events")
            .split(',')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        Some(Webhook {
            id: number("id")?,
            group_id: number("group"),
            url: f.get("url")?.clone(),
            events,
            active: get("active") != "0",
            created_by: number("created_by"),
            created_at: get("created_at").to_owned(),
            updated_at: get("updated_at").to_owned(),
            secret: f.get("secret")?.clone(),
        })
    }

    /// Whether it receives `event` (`task.created`, …).
    pub fn wants(&self, event: &str) -> bool {
        let kind = event.split('.').next().unwrap_or_default();
        self.events
            .iter()
            .any(|e| e == event || e.strip_suffix(".*") == Some(kind))
    }
}

/// The longest URL a hook may have.
pub const MAX_URL: usize = 2_048;

/// Checks a hook's URL as given: `http` or `https`, a host, no user name
/// or password (a secret in a URL ends up in logs), at most [`MAX_URL`]
/// bytes. The address it resolves to is checked separately
/// ([`refused_address`]), when it is registered and at every delivery.
pub fn check_url(text: &str) -> Result<url::Url, &'static str> {
    if text.len() > MAX_URL {
        return Err("must be at most 2048 characters");
    }
    let url = url::Url::parse(text).map_err(|_| "must be an absolute http or https URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL");
    }
    if url.host().is_none() {
        return Err("must name a host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password (use the hook's secret)");
    }
    Ok(url)
}

/// Why a hook may not be delivered to `ip`, if it may not: loopback,
/// private, link-local (the cloud metadata services among them), shared
/// (carrier-grade NAT), unique-local, unspecified, broadcast, multicast or
/// reserved addresses; an IPv4 address inside IPv6 is judged as IPv4.
pub fn refused_address(ip: std::net::IpAddr) -> Option<&'static str> {
    use std::net::IpAddr;
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => {
                return if v6.is_loopback() {
                    Some("a loopback address")
                } else if v6.is_unspecified() {
                    Some("an unspecified address")
                } else if v6.is_multicast() {
                    Some("a multicast address")
                } else if v6.is_unicast_link_local() {
                    Some("a link-local address")
                } else if v6.is_unique_local() {
                    Some("a private (unique local) address")
                } else {
                    None
                };
            }
        },
    };
    let [a, b, ..] = v4.octets();
    if v4.is_loopback() {
        Some("a loopback address")
    } else if v4.is_private() {
        Some("a private address")
    } else if v4.is_link_local() {
        Some("a link-local address (cloud metadata lives there)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if a == 0 || v4.is_unspecified() {
        Some("an unspecified address")
    } else if v4.is_broadcast() || v4.is_multicast() || a >= 240 {
        Some("a broadcast, multicast or reserved address")
    } else {
        None
    }
}

/// Hosts a hook may reach although they resolve to a refused address
/// (`WEBHOOK_ALLOW_HOSTS`): names compared without case, or addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub fn parse(text: &str) -> AllowedHosts {
        AllowedHosts(
            text.split(',')
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    /// Whether the host of `url` is allowed whatever it resolves to.
    pub fn allows(&self, url: &url::Url) -> bool {
        match url.host() {
            Some(url::Host::Domain(d)) => self.allows_host(d),
            Some(url::Host::Ipv4(ip)) => self.allows_host(&ip.to_string()),
            Some(url::Host::Ipv6(ip)) => self.allows_host(&ip.to_string()),
            None => false,
        }
    }

    /// Whether host name (or address) `host` is allowed.
    pub fn allows_host(&self, host: &str) -> bool {
        self.0.contains(&host.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_hook_reads_from_its_hash_and_never_shows_its_secret() {
        let hook = Webhook::from_fields(&fields(&[
            ("id", "3"),
            ("group", ""),
            ("url", "https://x.example/h"),
            ("events", "task.*,user.deleted"),
            ("active", "1"),
            ("secret", "s3cr3t-s3cr3t-s3cr3t"),
            ("created_at", "T"),
            ("updated_at", "T"),
        ]))
        .expect("a hook");
        assert_eq!((hook.group_id, hook.created_by), (None, None));
        assert!(hook.wants("task.updated") && hook.wants("user.deleted"));
        assert!(!hook.wants("user.created") && !hook.wants("group.deleted"));
        let json = serde_json::to_string(&hook).expect("json");
        assert!(!json.contains("s3cr3t"), "{json}");
        assert!(Webhook::from_fields(&fields(&[("id", "3")])).is_none());
    }

    #[test]
    fn urls_must_be_plain_http_or_https_with_a_host() {
        let table = [
            ("https://hooks.example.com/a?b=c", true),
            ("http://127.0.0.1:8080/h", true),
            ("ftp://example.com/h", false),
            ("https://user:pw@example.com/h", false),
            ("https://", false),
            ("/relative", false),
            ("javascript:alert(1)", false),
            ("file:///etc/passwd", false),
        ];
        for (url, ok) in table {
            assert_eq!(check_url(url).is_ok(), ok, "{url}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(MAX_URL))).is_err());
    }

    #[test]
    fn loopback_private_link_local_and_metadata_addresses_are_refused() {
        let table = [
            ("127.0.0.1", true),
            ("10.1.2.3", true),
            ("172.16.0.1", true),
            ("192.168.1.1", true),
            ("169.254.169.254", true),
            ("100.64.0.1", true),
            ("0.0.0.0", true),
            ("255.255.255.255", true),
            ("224.0.0.1", true),
            ("::1", true),
            ("::", true),
            ("fe80::1", true),
            ("fd00:ec2::254", true),
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.0.0.1", true),
            ("93.184.216.34", false),
            ("2606:2800:220:1::", false),
            ("172.32.0.1", false),
        ];
        for (ip, refused) in table {
            let ip: std::net::IpAddr = ip.parse().expect(ip);
            assert_eq!(refused_address(ip).is_some(), refused, "{ip}");
        }
    }

    #[test]
    fn allowed_hosts_match_names_without_case_and_addresses() {
        let allowed = AllowedHosts::parse(" Receiver.Local , 127.0.0.1,[::1]");
        for (url, ok) in [
            ("http://receiver.local:9000/h", true),
            ("http://RECEIVER.local/h", true),
            ("http://127.0.0.1:1/h", true),
            ("http://[::1]:1/h", true),
            ("http://127.0.0.2/h", false),
            ("http://other.local/h", false),
        ] {
            assert_eq!(allowed.allows(&check_url(url).expect(url)), ok, "{url}");
        }
        assert!(!AllowedHosts::default().allows(&check_url("http://127.0.0.1/").expect("url")));
    }
}
