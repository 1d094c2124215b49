//! The rate limiter's Redis side (`P rate:*`, `lua/gcra.lua`): a request's
//! count rides in the round trip it already makes, as one more command of
//! its pipeline (or, for the scripts that write, inside the script).
//!
//! Counts are not durable data: they expire once a principal is back to a
//! full burst, are never written behind, and a Redis loss forgets them.

use std::net::IpAddr;
use std::sync::LazyLock;

use redis::{Pipeline, Script, ScriptInvocation, Value};
use taskmaster_shared::config::Rate;
use taskmaster_shared::domain::UserId;

use super::value::{array, u64_of};
use super::{Store, StoreError};

static METER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/gcra.lua"),
        "\n",
        include_str!("lua/meter.lua")
    ))
});

/// Whose requests are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    User(UserId),
    /// A personal API token, by its id (22 base64url characters): a
    /// script's own budget, apart from its user's interactive one.
    Token([u8; 22]),
    Owner,
    /// A client address on the account endpoints.
    AuthClient(IpAddr),
}

/// One request to count against a principal at a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meter {
    pub principal: Principal,
    pub rate: Rate,
    /// How many requests' worth to take at once, the first for this one
    /// (see `crate::ratelimit`'s leases).
    pub want: u32,
}

impl Meter {
    /// Milliseconds between requests at the sustained rate.
    pub(super) fn interval_ms(&self) -> f64 {
        60_000.0 / f64::from(self.rate.per_minute.max(1))
    }
}

/// What the count said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metered {
    pub allowed: bool,
    pub remaining: u32,
    /// Until the burst is whole again.
    pub reset_ms: u64,
    /// Until the next request would be let through (0 when this one was).
    pub retry_ms: u64,
    pub rate: Rate,
    /// Requests' worth taken (this one's included; 0 when refused).
    pub granted: u32,
    pub principal: Principal,
}

impl Store {
    pub(super) fn meter_key(&self, principal: Principal) -> String {
        match principal {
            Principal::User(id) => self.keys.rate_user(id.get()),
            Principal::Token(id) => self.keys.rate_token(std::str::from_utf8(&id).unwrap_or("")),
            Principal::Owner => self.keys.rate_owner(),
            Principal::AuthClient(ip) => self.keys.rate_auth(ip),
        }
    }

    fn meter_invocation(&self, meter: &Meter) -> ScriptInvocation<'static> {
        let mut inv = METER.prepare_invoke();
        inv.key(self.meter_key(meter.principal))
            .arg(meter.interval_ms())
            .arg(meter.rate.burst)
            .arg(meter.want);
        inv
    }

    /// Adds `meter`'s count to `pipe`, as its next command.
    pub(super) fn add_meter(&self, pipe: &mut Pipeline, meter: &Meter) {
        pipe.invoke_script(&self.meter_invocation(meter));
    }

    /// Sends a pipeline holding a count; loads the script first when
    /// Redis does not know it (after a restart), then sends it again:
    /// nothing in the failed pipeline was counted or written.
    pub(super) async fn query_metered(&self, pipe: &Pipeline) -> Result<Vec<Value>, StoreError> {
        match self.query::<Vec<Value>>(pipe).await {
            Err(StoreError::Redis(e))
                if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                let mut conn = taskmaster_shared::redis_pool::shared(&self.pool).await?;
                METER.prepare_invoke().load_async(&mut conn).await?;
                self.query(pipe).await
            }
            other => other,
        }
    }

    /// Counts one request alone: for a request that makes no other round
    /// trip before it acts (the owner header on most routes).
    pub async fn meter(&self, meter: &Meter) -> Result<Metered, StoreError> {
        let reply = self.eval(&self.meter_invocation(meter)).await?;
        parse_metered(reply, meter)
    }
}

/// Reads gcra's reply.
pub(super) fn parse_metered(reply: Value, meter: &Meter) -> Result<Metered, StoreError> {
    let items = array(reply).ok_or(StoreError::Malformed("rate count"))?;
    let n = |i: usize| items.get(i).and_then(u64_of);
    let (Some(allowed), Some(remaining), Some(reset_ms), Some(retry_ms)) = (n(0), n(1), n(2), n(3))
    else {
        return Err(StoreError::Malformed("rate count"));
    };
    let allowed = allowed == 1;
    Ok(Metered {
        allowed,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_ms,
        retry_ms,
        rate: meter.rate,
        granted: n(4).map_or(u32::from(allowed), |g| u32::try_from(g).unwrap_or(1)),
        principal: meter.principal,
    })
}
