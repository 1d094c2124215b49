//! Bearer token texts: how they are made, read and checked.
//!
//! A token is `{prefix}{user id}.{id}.{secret}`: `tma_` an access token,
//! `tmr_` a refresh token (both of a login session, `id` its session id),
//! `tmk_` a personal API token (`id` the token's own).
//! The user id is in the clear so that the one Redis round trip of a
//! request can read the user's record (or, for a personal token, its
//! credential version) beside the token's; the id names the session or
//! the token; the secret (256 random bits, base64url) is what
//! proves the holder. Redis keeps only a BLAKE2b-256 digest of each
//! secret, so neither a dump nor a log line can be replayed as a token.
//! A digest of a random 256-bit secret needs no salt or slow hash: there
//! is nothing to guess.
//!
//! Opaque tokens instead of signed ones (JWT): every request reads the
//! session anyway, since a revocation must hold at the next request on
//! every instance, so a signature would save nothing, and opaque tokens
//! need no signing key to configure, share and rotate.

use std::fmt;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::Digest;
use subtle::ConstantTimeEq;
use taskmaster_shared::domain::{UserId, parse_id};
use taskmaster_shared::hex::{bytes_of, hex};

type Blake2b256 = blake2::Blake2b<blake2::digest::consts::U32>;

/// Random bytes of a session id (128 bits).
const ID_BYTES: usize = 16;
/// Random bytes of a secret (256 bits).
const SECRET_BYTES: usize = 32;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Access,
    Refresh,
    /// A personal API token: opens requests like an access token, but
    /// lives until revoked or its own expiry.
    Personal,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Access => "tma_",
            Kind::Refresh => "tmr_",
            Kind::Personal => "tmk_",
        }
    }
}

/// A token as presented, parsed without any I/O. Its secret is kept only
/// as a digest, and `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub user: UserId,
    /// The session's id, or the personal token's.
    pub id: String,
    /// BLAKE2b-256 of the secret, raw: it is compared on every request,
    /// and the stored hex is decoded for that (hex is made only to store).
    digest: [u8; 32],
    /// It came in a cookie (see [`super::cookie`]), not a header or body.
    pub in_cookie: bool,
    /// It came with a request that may change something (not GET, HEAD or
    /// OPTIONS): what a read-only personal token is refused.
    pub for_write: bool,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("kind", &self.kind)
            .field("user", &self.user)
            .field("id", &self.id)
            .field("for_write", &self.for_write)
            .finish_non_exhaustive()
    }
}

/// A newly made token: the text for the client (shown once) and the
/// digest to store.
pub struct Minted {
    pub text: String,
    pub digest: String,
}

fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A secret's digest, BLAKE2b-256 (stored as hex).
fn digest_of(secret: &str) -> [u8; 32] {
    Blake2b256::digest(secret.as_bytes()).into()
}

/// Whether `text` is `len` base64url characters (what [`random`] makes).
fn is_random_text(text: &str, bytes: usize) -> bool {
    text.len() == (bytes * 4).div_ceil(3)
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new single-use secret (a WebSocket ticket): its text, and the hex
/// digest it is stored by.
pub fn new_secret() -> (String, String) {
    let text = random(SECRET_BYTES);
    let digest = hex(&digest_of(&text));
    (text, digest)
}

/// The digest a presented secret of [`new_secret`]'s shape is stored by;
/// `None` for any other text.
pub fn secret_digest(text: &str) -> Option<String> {
    is_random_text(text, SECRET_BYTES).then(|| hex(&digest_of(text)))
}

/// A new session id.
pub fn new_id() -> String {
    random(ID_BYTES)
}

/// Makes a token of `kind` for `user` and session `id`.
pub fn mint(kind: Kind, user: UserId, id: &str) -> Minted {
    let secret = random(SECRET_BYTES);
    let digest = hex(&digest_of(&secret));
    Minted {
        text: format!("{}{}.{id}.{secret}", kind.prefix(), user.get()),
        digest,
    }
}

impl Token {
    /// Reads a token of any kind; `None` unless it has exactly the shape
    /// [`mint`] makes.
    pub fn parse(text: &str) -> Option<Token> {
        let (kind, rest) = [Kind::Access, Kind::Refresh, Kind::Personal]
            .into_iter()
            .find_map(|kind| Some((kind, text.strip_prefix(kind.prefix())?)))?;
        let mut parts = rest.split('.');
        let (Some(user), Some(id), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if !is_random_text(id, ID_BYTES) || !is_random_text(secret, SECRET_BYTES) {
            return None;
        }
        Some(Token {
            kind,
            user: UserId(parse_id(user)?),
            id: id.to_owned(),
            digest: digest_of(secret),
            in_cookie: false,
            for_write: false,
        })
    }

    /// Whether this token's secret is the one `stored` is the digest of,
    /// compared in constant time.
    pub fn matches(&self, stored: &str) -> bool {
        bytes_of::<32>(stored).is_some_and(|stored| bool::from(self.digest.ct_eq(&stored)))
    }

    /// The digest of its secret, as stored (hex).
    pub fn digest(&self) -> String {
        hex(&self.digest)
    }

    /// Whom its requests count against: a personal token is a principal
    /// of its own, a session's token counts against its user.
    pub fn principal(&self) -> crate::store::Principal {
        use crate::store::Principal;
        match (self.kind, <[u8; 22]>::try_from(self.id.as_bytes())) {
            (Kind::Personal, Ok(id)) => Principal::Token(id),
            _ => Principal::User(self.user),
        }
    }

    /// Where its record is: a login session's, or a personal token's.
    pub fn record_key(&self) -> crate::store::TokenRecordKey<'_> {
        match self.kind {
            Kind::Personal => crate::store::TokenRecordKey::Personal(&self.id),
            Kind::Access | Kind::Refresh => crate::store::TokenRecordKey::Session(&self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_parses_back_and_matches_only_its_own_digest() {
        let id = new_id();
        let minted = mint(Kind::Access, UserId(42), &id);
        let token = Token::parse(&minted.text).expect("parses");
        assert_eq!(token.kind, Kind::Access);
        assert_eq!(token.user, UserId(42));
        assert_eq!(token.id, id);
        assert!(token.matches(&minted.digest));
        let other = mint(Kind::Access, UserId(42), &id);
        assert!(!token.matches(&other.digest));
    }

    #[test]
    fn a_stored_digest_is_matched_only_as_64_lower_case_hex_digits() {
        let minted = mint(Kind::Personal, UserId(3), &new_id());
        let token = Token::parse(&minted.text).expect("parses");
        assert_eq!(token.digest(), minted.digest);
        for bad in [
            String::new(),
            minted.digest[1..].to_owned(),
            format!("{}0", minted.digest),
            minted.digest.to_uppercase(),
            format!("{}g", &minted.digest[1..]),
        ] {
            assert!(!token.matches(&bad), "{bad}");
        }
    }

    #[test]
    fn tokens_of_any_other_shape_are_refused() {
        let good = mint(Kind::Refresh, UserId(7), &new_id()).text;
        assert!(Token::parse(&good).is_some());
        let (head, secret) = good.rsplit_once('.').expect("dots");
        for bad in [
            String::new(),
            "tma_".to_owned(),
            good.replace("tmr_", "tmx_"),
            good.replace("tmr_", "tmk"),
            good.replace("tmr_7", "tmr_0"),
            good.replace("tmr_7", "tmr_-7"),
            format!("{head}.{}", &secret[1..]),
            format!("{head}.{secret}A"),
            format!("{head}.{}+", &secret[1..]),
            format!("{good}.extra"),
            good.replacen('.', "..", 1),
        ] {
            assert!(Token::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn secrets_carry_256_random_bits_and_never_show_in_debug() {
        let a = mint(Kind::Access, UserId(1), &new_id());
        let b = mint(Kind::Access, UserId(1), &new_id());
        assert_ne!(a.text, b.text);
        let secret = a.text.rsplit('.').next().expect("secret");
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).expect("b64").len(), 32);
        let shown = format!("{:?}", Token::parse(&a.text).expect("parses"));
        assert!(
            !shown.contains(secret) && !shown.contains(&a.digest),
            "{shown}"
        );
    }
}
