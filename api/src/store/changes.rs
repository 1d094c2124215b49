//! The change log's reads (`P changes`, laid out in `shared/src/keys/mod.rs`),
//! the credential checks of live feed connections and their WebSocket
//! tickets. The writes to the log are the write scripts' own.

use std::time::Duration;

use redis::Value;
use taskmaster_shared::domain::UserId;
use taskmaster_shared::position::Position;

use super::scripts::SCRIPTS;
use super::value::{array, string};
use super::{Nothing, Store, StoreError};

/// One raw entry: its position and fields.
pub type RawEntry = (Position, Vec<(String, Vec<u8>)>);

/// A page of the log after a position, with the log's bounds.
#[derive(Debug, Default)]
pub struct ChangesPage {
    pub entries: Vec<RawEntry>,
    /// The newest position ever trimmed: a reader before it missed entries.
    pub max_deleted: Position,
    /// The newest position ever written.
    pub last: Position,
}

impl ChangesPage {
    /// Whether the log still holds every entry after `p`: nothing after it
    /// was trimmed, and it is a position of this log (not past its end).
    pub fn holds_after(&self, p: Position) -> bool {
        p >= self.max_deleted && p <= self.last
    }
}

/// The credential a live connection stands on, checked again whenever the
/// log says it may have changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Owner,
    /// A password, verified against this credential version.
    Password {
        user: UserId,
        version: u64,
    },
    Session {
        user: UserId,
        id: String,
    },
    Token {
        user: UserId,
        id: String,
    },
}

impl Standing {
    /// Its text in a ticket record.
    pub fn to_record(&self) -> String {
        match self {
            Standing::Owner => "owner".to_owned(),
            Standing::Password { user, version } => format!("password {user} {version}"),
            Standing::Session { user, id } => format!("session {user} {id}"),
            Standing::Token { user, id } => format!("token {user} {id}"),
        }
    }

    pub fn from_record(text: &str) -> Option<Standing> {
        let mut parts = text.split(' ');
        let kind = parts.next()?;
        if kind == "owner" {
            return parts.next().is_none().then_some(Standing::Owner);
        }
        let user = UserId(parts.next()?.parse().ok()?);
        let last = parts.next()?.to_owned();
        if parts.next().is_some() || last.is_empty() {
            return None;
        }
        match kind {
            "password" => Some(Standing::Password {
                user,
                version: last.parse().ok()?,
            }),
            "session" => Some(Standing::Session { user, id: last }),
            "token" => Some(Standing::Token { user, id: last }),
            _ => None,
        }
    }

    pub fn user(&self) -> Option<UserId> {
        match self {
            Standing::Owner => None,
            Standing::Password { user, .. }
            | Standing::Session { user, .. }
            | Standing::Token { user, .. } => Some(*user),
        }
    }
}

pub(super) fn position(v: &Value) -> Option<Position> {
    Position::parse(&string(v)?)
}

/// Entries of an `XRANGE` reply (or of one stream of an `XREAD`).
pub(super) fn entries(v: Value) -> Result<Vec<RawEntry>, StoreError> {
    let bad = || StoreError::Malformed("change log entry");
    let mut out = Vec::new();
    for item in array(v).ok_or_else(bad)? {
        let mut parts = array(item).ok_or_else(bad)?.into_iter();
        let (Some(id), Some(flat)) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        let id = position(&id).ok_or_else(bad)?;
        let mut fields = Vec::new();
        let mut flat = array(flat).ok_or_else(bad)?.into_iter();
        while let (Some(f), Some(v)) = (flat.next(), flat.next()) {
            let value = match v {
                Value::BulkString(bytes) => bytes,
                other => string(&other).unwrap_or_default().into_bytes(),
            };
            fields.push((string(&f).ok_or_else(bad)?, value));
        }
        out.push((id, fields));
    }
    Ok(out)
}

/// A dedicated connection that blocks on the log: the process's one
/// reader (see `crate::feed::hub`).
pub struct ChangesReader {
    conn: redis::aio::MultiplexedConnection,
    stream: String,
}

/// How long one blocking read waits for a new entry.
pub const READ_BLOCK: Duration = Duration::from_secs(5);

impl ChangesReader {
    /// The entries after `after`, at most `count`, waiting up to
    /// [`READ_BLOCK`] for the first.
    pub async fn next(
        &mut self,
        after: Position,
        count: usize,
    ) -> Result<Vec<RawEntry>, StoreError> {
        let reply: Value = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(after.to_string())
            .query_async(&mut self.conn)
            .await?;
        let Some(streams) = array(reply) else {
            return Err(StoreError::Malformed("XREAD"));
        };
        let mut out = Vec::new();
        for stream in streams {
            let mut parts = array(stream).unwrap_or_default().into_iter();
            if let Some(list) = parts.nth(1) {
                out.extend(entries(list)?);
            }
        }
        Ok(out)
    }
}

impl Store {
    /// A connection of its own for [`ChangesReader`].
    pub async fn changes_reader(&self) -> Result<ChangesReader, StoreError> {
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(READ_BLOCK + Duration::from_secs(5)));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        Ok(ChangesReader {
            conn,
            stream: self.keys.changes(),
        })
    }

    /// Up to `count` entries after `after`, with the log's bounds.
    pub async fn changes_after(
        &self,
        after: Position,
        count: usize,
    ) -> Result<ChangesPage, StoreError> {
        let mut inv = self.read_call(&SCRIPTS.changes_page);
        inv.arg(after.to_string()).arg(count);
        let reply = array(self.eval(&inv).await?).ok_or(StoreError::Malformed("changes_page"))?;
        let mut parts = reply.into_iter();
        let (Some(max_deleted), Some(last), Some(list)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(StoreError::Malformed("changes_page"));
        };
        Ok(ChangesPage {
            max_deleted: position(&max_deleted).ok_or(StoreError::Malformed("changes_page"))?,
            last: position(&last).ok_or(StoreError::Malformed("changes_page"))?,
            entries: entries(list)?,
        })
    }

    /// The log's bounds alone.
    pub async fn changes_bounds(&self) -> Result<ChangesPage, StoreError> {
        // After the largest position there is nothing: the script answers
        // the bounds and no entries.
        let end = Position {
            ms: u64::MAX,
            seq: u64::MAX,
        };
        self.changes_after(end, 1).await
    }

    /// Whether `standing` still holds: the password's version is current,
    /// the session still exists, the token still exists and its user is
    /// active.
    pub async fn standing_holds(&self, standing: &Standing) -> Result<bool, StoreError> {
        let k = &self.keys;
        match standing {
            Standing::Owner => Ok(true),
            Standing::Password { user, version } => {
                Ok(self.version_with(*user, &Nothing, None).await?.0 == Some(*version))
            }
            Standing::Session { id, .. } => {
                let n: u64 = self
                    .query_one(redis::cmd("EXISTS").arg(k.session(id)))
                    .await?;
                Ok(n == 1)
            }
            Standing::Token { user, id } => {
                let mut pipe = redis::pipe();
                pipe.cmd("GET").arg(k.user_cv(user.get()));
                pipe.cmd("EXISTS").arg(k.api_token(id));
                let (cv, n): (Option<u64>, u64) = self.query(&pipe).await?;
                Ok(cv.is_some_and(|v| v > 0) && n == 1)
            }
        }
    }

    /// Stores a WebSocket ticket (by its digest) for `life`.
    pub async fn put_ws_ticket(
        &self,
        digest: &str,
        standing: &Standing,
        life: Duration,
    ) -> Result<(), StoreError> {
        self.query_one::<()>(
            redis::cmd("SET")
                .arg(self.keys.ws_ticket(digest))
                .arg(standing.to_record())
                .arg("PX")
                .arg(life.as_millis() as u64),
        )
        .await
    }

    /// Takes a WebSocket ticket: its standing, once.
    pub async fn take_ws_ticket(&self, digest: &str) -> Result<Option<Standing>, StoreError> {
        let record: Option<String> = self
            .query_one(redis::cmd("GETDEL").arg(self.keys.ws_ticket(digest)))
            .await?;
        Ok(record.as_deref().and_then(Standing::from_record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standing_survives_its_ticket_record_and_nothing_else_passes() {
        for s in [
            Standing::Owner,
            Standing::Password {
                user: UserId(3),
                version: 17,
            },
            Standing::Session {
                user: UserId(3),
                id: "abc_DEF-1".into(),
            },
            Standing::Token {
                user: UserId(9),
                id: "t0k".into(),
            },
        ] {
            assert_eq!(Standing::from_record(&s.to_record()), Some(s));
        }
        for bad in [
            "",
            "owner x",
            "password 3",
            "password x 1",
            "session 3",
            "session 3 a b",
            "root 1 2",
        ] {
            assert_eq!(Standing::from_record(bad), None, "{bad:?}");
        }
    }
}
