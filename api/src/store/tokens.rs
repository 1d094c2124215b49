//! Personal API tokens in Redis (`P token:{id}`, `P user:{id}:tokens`):
//! made, revoked and marked used by scripts (`lua/token_*.lua`), listed
//! with one `SORT … GET`, and read on every request in the round trip it
//! already makes (see [`Store::session_with`]).
//!
//! Unlike login sessions they are durable: each script marks the user
//! dirty, and syncd writes the user's tokens behind with its row.

use redis::Value;
use taskmaster_shared::api_token::TokenRecord;
use taskmaster_shared::domain::UserId;

use super::scripts::SCRIPTS;
use super::value::u64_of;
use super::{Store, StoreError, Written};

/// Most personal tokens one user holds.
pub const MAX_TOKENS_PER_USER: u32 = 50;

impl Store {
    /// Stores a new token `id` with its `record` (refused: `NotFound` when
    /// the user is gone or deactivated, `Conflict` when its role moved,
    /// `TooMany` at [`MAX_TOKENS_PER_USER`]).
    pub async fn create_token(
        &self,
        id: &str,
        record: &TokenRecord,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.token_create, now);
        inv.arg(record.user)
            .arg(id)
            .arg(record.to_record())
            .arg(MAX_TOKENS_PER_USER);
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    /// Revokes `user`'s token `id` (refused `NotFound` when it has none
    /// of that id).
    pub async fn delete_token(
        &self,
        user: UserId,
        id: &str,
        now: &str,
    ) -> Result<Written<()>, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.token_delete, now);
        inv.arg(user.get()).arg(id);
        Ok(self.write(&inv).await?.map(|_| ()))
    }

    /// Marks `user`'s token `id` used at `now_ms`, unless it was marked
    /// less than `gap_ms` before; whether it was marked.
    pub async fn touch_token(
        &self,
        user: UserId,
        id: &str,
        now: &str,
        now_ms: u64,
        gap_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut inv = self.write_call(&SCRIPTS.token_touch, now);
        inv.arg(user.get()).arg(id).arg(now_ms).arg(gap_ms);
        Ok(u64_of(&self.eval(&inv).await?) == Some(1))
    }

    /// `user`'s tokens with their ids, in no particular order.
    pub async fn tokens(&self, user: UserId) -> Result<Vec<(String, TokenRecord)>, StoreError> {
        let reply: Value = self
            .query_one(
                redis::cmd("SORT")
                    .arg(self.keys.user_tokens(user.get()))
                    .arg("BY")
                    .arg("nosort")
                    .arg("GET")
                    .arg("#")
                    .arg("GET")
                    .arg(self.keys.api_token_pattern()),
            )
            .await?;
        Ok(TokenRecord::listed(reply, user.get()))
    }
}
