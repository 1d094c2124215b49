//! Login sessions in Redis (`P session:{sid}`, `P user:{id}:sessions`):
//! opened, rotated and ended by scripts (`lua/session_*.lua`), and read in
//! the round trip a bearer request already makes.
//!
//! Sessions are not durable data: they are never written behind, and a
//! Redis loss or a restore ends them (the restore also moves every user's
//! credential version, which ends them too). Users then log in again.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, Value};
use taskmaster_shared::domain::UserId;

use super::auth::{AUTH_COMMANDS, AuthRecord, Prefetch, parse_auth, take_meter};
use super::meter::{Meter, Metered, parse_metered};
use super::value::{string, u64_of};
use super::{Store, StoreError};

static OPEN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/session_open.lua")));
static REFRESH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/gcra.lua"),
        "\n",
        include_str!("lua/session_refresh.lua")
    ))
});
static CLOSE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/session_close.lua")));

/// Most sessions one user keeps open; a login beyond ends the oldest.
pub const MAX_SESSIONS_PER_USER: u32 = 100;

/// A session to open.
pub struct NewSession<'a> {
    pub user: UserId,
    pub id: &'a str,
    /// The credential version the password was checked against.
    pub version: u64,
    /// The record's text.
    pub record: &'a str,
    pub life: Duration,
    pub now_ms: u64,
}

/// A refresh to carry out.
pub struct Rotation<'a> {
    pub user: UserId,
    pub id: &'a str,
    /// The digest of the refresh secret presented.
    pub presented: &'a str,
    pub now_ms: u64,
    pub access_until: u64,
    pub access_digest: &'a str,
    pub refresh_digest: &'a str,
    pub life: Duration,
    /// The client's count at the account endpoints' rate.
    pub meter: Meter,
}

/// What came of a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotated {
    /// Done: the session holds the new digests.
    Done,
    /// Over the rate limit: nothing rotated.
    Limited,
    /// No such session (ended, expired, or never).
    NoSession,
    /// The refresh token was already used: the session is ended.
    Reused,
    /// The user's credential changed: the session is ended.
    Stale,
}

impl Store {
    /// Opens a session, unless user `user`'s credential version moved
    /// since the password was checked (`false` back).
    pub async fn open_session(&self, new: &NewSession<'_>) -> Result<bool, StoreError> {
        let uid = new.user.get();
        let mut inv = OPEN.prepare_invoke();
        inv.key(self.keys.user_cv(uid))
            .key(self.keys.user_sessions(uid))
            .key(self.keys.session(new.id))
            .arg(new.version)
            .arg(new.record)
            .arg(new.life.as_millis() as u64)
            .arg(new.now_ms)
            .arg(new.id)
            .arg(MAX_SESSIONS_PER_USER)
            .arg(self.keys.session_prefix());
        Ok(string(&self.eval(&inv).await?).as_deref() == Some("OK"))
    }

    /// Rotates a session's tokens (see [`Rotated`]).
    pub async fn rotate_session(&self, r: &Rotation<'_>) -> Result<(Rotated, Metered), StoreError> {
        let uid = r.user.get();
        let mut inv = REFRESH.prepare_invoke();
        inv.key(self.keys.session(r.id))
            .key(self.keys.user_cv(uid))
            .key(self.keys.user_sessions(uid))
            .key(self.meter_key(r.meter.principal))
            .arg(uid)
            .arg(r.presented)
            .arg(r.now_ms)
            .arg(r.access_until)
            .arg(r.access_digest)
            .arg(r.refresh_digest)
            .arg(r.life.as_millis() as u64)
            .arg(r.id)
            .arg(r.meter.interval_ms())
            .arg(r.meter.rate.burst);
        let mut reply = super::value::array(self.eval(&inv).await?)
            .ok_or(StoreError::Malformed("session refresh"))?;
        if reply.is_empty() {
            return Err(StoreError::Malformed("session refresh"));
        }
        let counts = reply.split_off(1);
        let metered = parse_metered(Value::Array(counts), &r.meter)?;
        let rotated = match string(&reply[0]).as_deref() {
            Some("OK") => Rotated::Done,
            Some("LIMITED") => Rotated::Limited,
            Some("NO_SESSION") => Rotated::NoSession,
            Some("REUSED") => Rotated::Reused,
            Some("STALE") => Rotated::Stale,
            _ => return Err(StoreError::Malformed("session refresh")),
        };
        Ok((rotated, metered))
    }

    /// Ends session `id` of `user`, or every session of `user` when `id`
    /// is `None`; how many were ended.
    pub async fn end_sessions(&self, user: UserId, id: Option<&str>) -> Result<u64, StoreError> {
        let mut inv = CLOSE.prepare_invoke();
        inv.key(self.keys.user_sessions(user.get()))
            .key(self.keys.changes())
            .arg(self.keys.session_prefix())
            .arg(id.unwrap_or(""))
            .arg(user.get())
            .arg(crate::acting::context().to_string())
            .arg(crate::clock::now());
        u64_of(&self.eval(&inv).await?).ok_or(StoreError::Malformed("session close"))
    }

    /// The token's record (a session's or a personal token's, see
    /// [`TokenRecordKey`]) and `prefetch`'s data, in one round trip (one
    /// `MGET` when the data is one key): what a bearer request about the
    /// caller's own data reads. A personal token's also reads user
    /// `user`'s credential version (`who`; a deactivated or deleted user
    /// has none above 0); a session's record alone tells, since whatever
    /// ends a session deletes it (`who` is then `None`).
    pub async fn session_with<P: Prefetch>(
        &self,
        user: UserId,
        record: TokenRecordKey<'_>,
        prefetch: &P,
        meter: Option<&Meter>,
    ) -> Result<SessionRead<Option<u64>, P::Output>, StoreError> {
        // [version,] record.
        let version = match record {
            TokenRecordKey::Session(_) => None,
            TokenRecordKey::Personal(_) => Some(self.keys.user_cv(user.get())),
        };
        let read_version = version.is_some();
        let heads: Vec<String> = version
            .into_iter()
            .chain([record.key(&self.keys)])
            .collect();
        let (heads, data, metered) = self.heads_with(&heads, prefetch, meter).await?;
        Ok(SessionRead {
            who: read_version
                .then(|| u64_of(&heads[0]).filter(|v| *v > 0))
                .flatten(),
            session: heads.last().and_then(string),
            data,
            metered,
        })
    }

    /// User `user`'s auth record, the token's record and `prefetch`'s
    /// data, in one round trip: what any other bearer request reads.
    pub async fn session_record_with<P: Prefetch>(
        &self,
        user: UserId,
        record: TokenRecordKey<'_>,
        prefetch: &P,
        meter: Option<&Meter>,
    ) -> Result<SessionRead<Option<AuthRecord>, P::Output>, StoreError> {
        let mut pipe = redis::pipe();
        if let Some(m) = meter {
            self.add_meter(&mut pipe, m);
        }
        self.auth_commands(&mut pipe, user);
        pipe.cmd("GET").arg(record.key(&self.keys));
        prefetch.commands(&self.keys, &mut pipe);
        let mut replies = self.send(&pipe, meter.is_some()).await?;
        let metered = take_meter(&mut replies, meter)?;
        if replies.len() < AUTH_COMMANDS + 1 {
            return Err(StoreError::Malformed("session replies"));
        }
        let mut rest = replies.split_off(AUTH_COMMANDS);
        let data = rest.split_off(1);
        Ok(SessionRead {
            who: parse_auth(user, replies)?,
            session: string(&rest[0]),
            data: P::parse(data)?,
            metered,
        })
    }
}

/// Where a bearer token's record is.
#[derive(Debug, Clone, Copy)]
pub enum TokenRecordKey<'a> {
    /// A login session's (`P session:{id}`).
    Session(&'a str),
    /// A personal API token's (`P token:{id}`).
    Personal(&'a str),
}

impl TokenRecordKey<'_> {
    fn key(self, keys: &taskmaster_shared::keys::Keys) -> String {
        match self {
            TokenRecordKey::Session(id) => keys.session(id),
            TokenRecordKey::Personal(id) => keys.api_token(id),
        }
    }
}

/// What a bearer request read: who the user is (its credential version,
/// or its whole auth record), the session's record, the request's data,
/// and its count.
pub struct SessionRead<W, D> {
    pub who: W,
    pub session: Option<String>,
    pub data: D,
    pub metered: Option<Metered>,
}
