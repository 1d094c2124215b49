//! Messages between the api (and operators) and syncd.
//!
//! * Control requests are published as JSON [`ControlRequest`] on the
//!   channel `P control`; syncd answers each exactly once with a
//!   [`ControlReply`] on the request's `reply_to` channel
//!   (`P control:reply:{id}`); [`call`] does both sides' waiting. Actions: `force` (flush now), `status`,
//!   `backup` (flush, then write a backup file), `restore` (args
//!   `discard_pending`, `from`: rebuild Redis from PostgreSQL, or from a
//!   backup file first), `audit` (args a [`crate::audit::Query`]: a page of
//!   the audit log PostgreSQL holds); anything else is an error.
//! * Every request is signed: `sig` is an HMAC-SHA256, under the shared
//!   `CONTROL_SECRET`, of its id, reply channel, `issued_at` (Unix seconds)
//!   and action. syncd refuses a request whose signature does not verify
//!   or that was issued more than [`SIGNATURE_MAX_AGE_SECS`] away from its
//!   clock, so a process that can publish on Redis but lacks the secret
//!   can neither restore nor force anything, nor replay an old request.
//! * While a restore runs, syncd keeps `P maintenance` set (JSON
//!   `{"since","reason"}`): the api answers data requests 503 with
//!   `Retry-After`, and the write scripts refuse.
//! * syncd's heartbeat writes a [`SyncdStatus`] as JSON to `P syncd:status`
//!   with a TTL of [`STATUS_TTL_SECS`]: a missing key means no syncd runs.

use serde::{Deserialize, Serialize};

use crate::hex::hex;

mod call;
mod status;

pub use call::{CallError, REPUBLISH_FOR_SECS, REPUBLISH_SECS, call};

pub use status::{
    AuditBacklog, BackupFile, Counts, PostgresTarget, RECENT_BACKUPS, SyncdStatus, write_behind_lag,
};

/// How often syncd refreshes its status.
pub const HEARTBEAT_SECS: u64 = 2;
/// The status key's TTL: a few missed heartbeats and it is gone.
pub const STATUS_TTL_SECS: u64 = 10;
/// The lease's TTL: a standby takes over this long after the active syncd
/// stopped renewing it.
pub const LEASE_TTL_MS: u64 = 6_000;
/// How often every api instance checks the `maintenance` key.
pub const MAINTENANCE_POLL_MS: u64 = 100;
/// How long syncd waits after raising `maintenance` before it changes
/// anything, so every api instance has seen the flag (several polls).
pub const MAINTENANCE_SETTLE_MS: u64 = 500;
/// What the api tells clients to wait during maintenance (`Retry-After`).
pub const MAINTENANCE_RETRY_AFTER_SECS: u64 = 5;

/// How far from syncd's clock a request's `issued_at` may be.
pub const SIGNATURE_MAX_AGE_SECS: i64 = 60;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// What syncd is asked to do: the control protocol's actions, parsed
/// once (by [`ControlRequest::parse`]) and then applied. On the wire it is
/// the request's `action` and `args`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", content = "args", rename_all = "snake_case")]
pub enum Action {
    /// Flush every pending row now.
    Force,
    /// The active syncd's status record.
    Status,
    /// Flush, then write a backup file.
    Backup,
    /// Rebuild Redis from PostgreSQL (from a backup file first, if named).
    Restore(RestoreArgs),
    /// A page of audit records from PostgreSQL (`crate::audit::Page`).
    Audit(crate::audit::Query),
}

/// The arguments of [`Action::Restore`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreArgs {
    /// Drop pending rows PostgreSQL will not take (saved to a file first).
    #[serde(default)]
    pub discard_pending: bool,
    /// A backup file in `BACKUP_DIR` to load into PostgreSQL first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl Action {
    /// The action's name on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Force => "force",
            Action::Status => "status",
            Action::Backup => "backup",
            Action::Restore(_) => "restore",
            Action::Audit(_) => "audit",
        }
    }
}

/// One control request: `{"id","action","args","reply_to","issued_at","sig"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlRequest {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
    pub reply_to: String,
    /// When it was signed (Unix seconds).
    pub issued_at: i64,
    /// Hex HMAC-SHA256 of the rest (see [`ControlRequest::mac`]).
    pub sig: String,
}

/// What arrived on the control channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Request(ControlRequest),
    /// A request whose action or arguments are not understood: it is still
    /// answered (as failed, with the reason), since its sender waits.
    Invalid {
        id: String,
        reply_to: String,
        error: String,
    },
}

impl ControlRequest {
    /// A request signed with `secret`, issued now.
    pub fn signed(id: String, action: Action, reply_to: String, secret: &[u8]) -> Self {
        let issued_at = chrono::Utc::now().timestamp();
        let sig = hex(&Self::mac(secret, &id, &action, &reply_to, issued_at));
        ControlRequest {
            id,
            action,
            reply_to,
            issued_at,
            sig,
        }
    }

    /// The MAC over everything that decides what the request does and
    /// where its answer goes, each part length-prefixed so none can run
    /// into the next.
    fn mac(secret: &[u8], id: &str, action: &Action, reply_to: &str, issued_at: i64) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
            .expect("HMAC takes a key of any length");
        let action = serde_json::to_string(action).unwrap_or_default();
        for part in [id.as_bytes(), reply_to.as_bytes(), action.as_bytes()] {
            mac.update(&(part.len() as u64).to_le_bytes());
            mac.update(part);
        }
        mac.update(&issued_at.to_le_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Whether the request was signed with `secret` within
    /// [`SIGNATURE_MAX_AGE_SECS`] of `now` (Unix seconds).
    pub fn verify(&self, secret: &[u8], now: i64) -> Result<(), &'static str> {
        use subtle::ConstantTimeEq;
        if (now - self.issued_at).abs() > SIGNATURE_MAX_AGE_SECS {
            return Err(
                "the request's issued_at is too far from syncd's clock (stale, replayed, or a clock off by over a minute)",
            );
        }
        let expected = hex(&Self::mac(
            secret,
            &self.id,
            &self.action,
            &self.reply_to,
            self.issued_at,
        ));
        if bool::from(expected.as_bytes().ct_eq(self.sig.as_bytes())) {
            Ok(())
        } else {
            Err(
                "the request is unsigned or its signature does not match (CONTROL_SECRET must be the same for the api, syncd and taskmaster-ctl)",
            )
        }
    }

    /// Parses a request; `Err` when not even its id and reply channel can
    /// be read (then nobody can be answered).
    pub fn parse(payload: &str) -> Result<Incoming, serde_json::Error> {
        #[derive(Deserialize)]
        struct Envelope {
            id: String,
            reply_to: String,
            #[serde(flatten)]
            rest: serde_json::Map<String, serde_json::Value>,
        }
        let Envelope {
            id,
            reply_to,
            mut rest,
        } = serde_json::from_str(payload)?;
        let issued_at = rest
            .remove("issued_at")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let sig = match rest.remove("sig") {
            Some(serde_json::Value::String(sig)) => sig,
            _ => String::new(),
        };
        // No `args`, `null` and `{}` all mean "no arguments": a restore
        // then has its defaults, the other actions take none.
        let action = rest.remove("action").unwrap_or_default();
        let args = rest
            .remove("args")
            .filter(|a| !a.is_null() && a.as_object().is_none_or(|m| !m.is_empty()));
        let mut wire = serde_json::Map::new();
        if action == "restore" {
            wire.insert("args".into(), args.unwrap_or_else(|| serde_json::json!({})));
        } else if let Some(args) = args {
            wire.insert("args".into(), args);
        }
        wire.insert("action".into(), action);
        Ok(
            match serde_json::from_value::<Action>(serde_json::Value::Object(wire)) {
                Ok(action) => Incoming::Request(ControlRequest {
                    id,
                    action,
                    reply_to,
                    issued_at,
                    sig,
                }),
                Err(e) => Incoming::Invalid {
                    id,
                    reply_to,
                    error: format!("invalid request: {e}"),
                },
            },
        )
    }
}

/// Why an action did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// Refused with nothing changed; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// Tried and failed.
    #[error("{0}")]
    Failed(String),
}

/// syncd's single answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlReply {
    pub id: String,
    pub ok: bool,
    #[serde(default)]
    pub result: serde_json::Value,
    #[serde(default)]
    pub error: Option<String>,
    /// Set when the action exists in the protocol but not yet in syncd.
    #[serde(default)]
    pub unsupported: bool,
    /// Set when the action was refused and nothing was changed (the error
    /// says why and what to do).
    #[serde(default)]
    pub refused: bool,
}

impl ControlReply {
    /// The answer to request `id` with this outcome.
    pub fn new(id: String, outcome: Result<serde_json::Value, ActionError>) -> Self {
        let (ok, result, error, refused) = match outcome {
            Ok(result) => (true, result, None, false),
            Err(ActionError::Refused(e)) => (false, serde_json::Value::Null, Some(e), true),
            Err(ActionError::Failed(e)) => (false, serde_json::Value::Null, Some(e), false),
        };
        ControlReply {
            id,
            ok,
            result,
            error,
            unsupported: false,
            refused,
        }
    }

    /// The outcome, typed again: `Ok(result)`, or why not.
    pub fn outcome(self) -> Result<serde_json::Value, ActionError> {
        let error = || self.error.clone().unwrap_or_default();
        match (self.ok, self.refused || self.unsupported) {
            (true, _) => Ok(self.result),
            (false, true) => Err(ActionError::Refused(error())),
            (false, false) => Err(ActionError::Failed(error())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(payload: &str) -> Incoming {
        ControlRequest::parse(payload).expect("envelope")
    }

    fn request(action: Action) -> Incoming {
        Incoming::Request(ControlRequest {
            id: "r1".into(),
            action,
            reply_to: "tm:control:reply:r1".into(),
            issued_at: 0,
            sig: String::new(),
        })
    }

    #[test]
    fn requests_are_parsed_once_into_their_action() {
        let head = r#""id":"r1","reply_to":"tm:control:reply:r1""#;
        let cases = [
            (r#""action":"force""#, request(Action::Force)),
            (r#""action":"force","args":{}"#, request(Action::Force)),
            (r#""action":"status","args":null"#, request(Action::Status)),
            (r#""action":"backup""#, request(Action::Backup)),
            (
                r#""action":"restore""#,
                request(Action::Restore(RestoreArgs::default())),
            ),
            (
                r#""action":"restore","args":{"discard_pending":true,"from":"a.gz"}"#,
                request(Action::Restore(RestoreArgs {
                    discard_pending: true,
                    from: Some("a.gz".into()),
                })),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(&format!("{{{head},{body}}}")), expected, "{body}");
        }
        for body in [
            r#""action":"explode""#,
            r#""action":"restore","args":{"discard_pending":"yes"}"#,
            r#""action":"restore","args":{"nuke":true}"#,
            r#""action":"force","args":{"x":1}"#,
            r#""args":{}"#,
        ] {
            assert!(
                matches!(parse(&format!("{{{head},{body}}}")), Incoming::Invalid { ref id, .. } if id == "r1"),
                "{body}"
            );
        }
        assert!(ControlRequest::parse(r#"{"action":"force"}"#).is_err());
        assert!(ControlRequest::parse("not json").is_err());
    }

    #[test]
    fn a_request_goes_out_in_the_shape_it_is_parsed_from() {
        for action in [
            Action::Force,
            Action::Restore(RestoreArgs {
                discard_pending: true,
                from: None,
            }),
        ] {
            let sent = ControlRequest::signed("x".into(), action.clone(), "r".into(), b"k");
            let wire = serde_json::to_string(&sent).expect("json");
            assert_eq!(parse(&wire), Incoming::Request(sent), "{wire}");
        }
    }

    #[test]
    fn only_a_fresh_request_signed_with_the_secret_verifies() {
        let secret = b"shared-secret";
        let sent = ControlRequest::signed(
            "r1".into(),
            Action::Restore(RestoreArgs::default()),
            "tm:control:reply:r1".into(),
            secret,
        );
        let now = sent.issued_at;
        assert_eq!(sent.verify(secret, now), Ok(()));
        assert_eq!(sent.verify(secret, now + SIGNATURE_MAX_AGE_SECS), Ok(()));
        assert!(
            sent.verify(secret, now + SIGNATURE_MAX_AGE_SECS + 1)
                .is_err()
        );
        assert!(sent.verify(b"another-secret", now).is_err());
        let tampered = [
            ControlRequest {
                action: Action::Restore(RestoreArgs {
                    discard_pending: true,
                    from: None,
                }),
                ..sent.clone()
            },
            ControlRequest {
                reply_to: "tm:control:reply:evil".into(),
                ..sent.clone()
            },
            ControlRequest {
                issued_at: now + 1,
                ..sent.clone()
            },
            ControlRequest {
                sig: String::new(),
                ..sent.clone()
            },
        ];
        for request in tampered {
            assert!(request.verify(secret, now).is_err(), "{request:?}");
        }
    }

    #[test]
    fn replies_carry_refused_and_failed_apart() {
        for outcome in [
            Ok(serde_json::json!({"rows": 3})),
            Err(ActionError::Refused("nothing was changed".into())),
            Err(ActionError::Failed("disk full".into())),
        ] {
            let reply = ControlReply::new("i".into(), outcome.clone());
            let wire = serde_json::to_string(&reply).expect("json");
            let back: ControlReply = serde_json::from_str(&wire).expect("parsed");
            assert_eq!(back.outcome(), outcome, "{wire}");
        }
    }
}
