//! Session tokens: what a client holds to prove which session it owns.
//!
//! A token is the session ID, the name of the session's guest, and an HMAC-SHA256 tag of both
//! in unpadded URL-safe base64: `<id>:<guest>.<tag>` ([`TokenKeys::sign_for`]). Only the host
//! can make a tag, so a client cannot choose or guess an ID (session fixation needs the
//! attacker to plant an ID the host then adopts; strict mode never adopts one without a valid
//! tag), nor change the guest its session is restarted with. Tags are checked in constant
//! time.
//!
//! Tokens of the first format, `<id>.<tag>` (the tag of the ID alone, [`TokenKeys::sign`]),
//! still verify; they name no guest. The two cannot be confused: IDs and guest names never
//! contain `:`, and the two formats' tags are computed over messages that differ (the second
//! starts with `v2` and a NUL byte, which no ID contains).
//!
//! [`TokenKeys`] holds the current signing key plus older ones still accepted, so keys can be
//! rotated without logging everyone out: new tokens are signed with the first key, tokens
//! signed with any listed key verify.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::SessionId;

type HmacSha256 = Hmac<Sha256>;

/// Length of an encoded tag (32 bytes of base64, unpadded).
const TAG_LEN: usize = 43;
/// Shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// Why signing keys were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The list was empty.
    #[error("at least one signing key is needed")]
    NoKeys,
    /// A key is shorter than [`MIN_KEY_BYTES`].
    #[error("signing key {index} is {len} bytes; at least {MIN_KEY_BYTES} are needed")]
    TooShort {
        /// Its position in the list (0: the current key).
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not of the form `<id>.<tag>`, or the ID is not a valid session ID.
    #[error("malformed session token")]
    Malformed,
    /// The tag does not match: forged, tampered with, or signed with an unknown key.
    #[error("session token signature does not verify")]
    BadSignature,
}

/// What a genuine token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The session.
    pub id: SessionId,
    /// Its guest, for tokens of the second format (`<id>:<guest>.<tag>`).
    pub guest: Option<String>,
}

/// The message the tag of a second-format token is computed over.
fn v2_message(id: &str, guest: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(4 + id.len() + guest.len());
    message.extend_from_slice(b"v2\0");
    message.extend_from_slice(id.as_bytes());
    message.push(0);
    message.extend_from_slice(guest.as_bytes());
    message
}

/// Signing keys: the first signs, all verify.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Vec<HmacSha256>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({} keys)", self.keys.len())
    }
}

impl TokenKeys {
    /// Keys from raw secrets, current first. Each must be at least [`MIN_KEY_BYTES`] long.
    pub fn new<K: AsRef<[u8]>>(secrets: &[K]) -> Result<Self, KeyError> {
        if secrets.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let keys = secrets
            .iter()
            .enumerate()
            .map(|(index, secret)| {
                let secret = secret.as_ref();
                if secret.len() < MIN_KEY_BYTES {
                    return Err(KeyError::TooShort {
                        index,
                        len: secret.len(),
                    });
                }
                // HMAC takes keys of any length; the error arm cannot be reached.
                HmacSha256::new_from_slice(secret).map_err(|_| KeyError::TooShort {
                    index,
                    len: secret.len(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// One fresh random key (for a host without a configured key: its tokens die with it).
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        Self::new(&[secret]).expect("a 32-byte key is valid")
    }

    fn tag(&self, message: &[u8]) -> String {
        let mut mac = self.keys[0].clone();
        mac.update(message);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A token of the first format for `id` (`<id>.<tag>`, no guest), signed with the
    /// current key. The HTTP layer issues [`sign_for`](Self::sign_for) tokens.
    pub fn sign(&self, id: &SessionId) -> String {
        format!("{id}.{}", self.tag(id.as_bytes()))
    }

    /// The token for `id`, a session of `guest` (`<id>:<guest>.<tag>`), signed with the
    /// current key. `guest` must be a valid guest name (the characters of an ID).
    pub fn sign_for(&self, id: &SessionId, guest: &str) -> String {
        debug_assert!(SessionId::validate(guest).is_ok(), "guest name {guest:?}");
        format!("{id}:{guest}.{}", self.tag(&v2_message(id, guest)))
    }

    /// The session ID in `token`, if its tag verifies with one of the keys (either format).
    pub fn verify(&self, token: &str) -> Result<SessionId, TokenError> {
        self.open(token).map(|claims| claims.id)
    }

    /// What `token` says, if its tag verifies with one of the keys (either format).
    pub fn open(&self, token: &str) -> Result<Claims, TokenError> {
        let (head, tag) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        if tag.len() != TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (id, guest) = match head.split_once(':') {
            Some((id, guest)) => {
                SessionId::validate(guest).map_err(|_| TokenError::Malformed)?;
                (id, Some(guest))
            }
            None => (head, None),
        };
        let id = SessionId::parse(id).map_err(|_| TokenError::Malformed)?;
        let mut raw = [0u8; 32];
        match URL_SAFE_NO_PAD.decode_slice(tag, &mut raw) {
            Ok(32) => {}
            _ => return Err(TokenError::Malformed),
        }
        let message = match guest {
            Some(guest) => v2_message(&id, guest),
            None => id.as_bytes().to_vec(),
        };
        for key in &self.keys {
            let mut mac = key.clone();
            mac.update(&message);
            // `verify_slice` compares in constant time.
            if mac.verify_slice(&raw).is_ok() {
                return Ok(Claims {
                    id,
                    guest: guest.map(str::to_owned),
                });
            }
        }
        Err(TokenError::BadSignature)
    }
}

/// The token a request carries: the value of the session header if there is one (invalid
/// UTF-8 replaced, so that it fails verification rather than being ignored), else the value of
/// the first cookie named `cookie_name` across the `Cookie` headers. Unverified.
pub fn request_token<'a>(
    header: Option<&[u8]>,
    cookie_headers: impl IntoIterator<Item = &'a [u8]>,
    cookie_name: &str,
) -> Option<String> {
    if let Some(value) = header {
        return Some(String::from_utf8_lossy(value).into_owned());
    }
    cookie_headers
        .into_iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == cookie_name)
        .map(|c| c.value().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: u8) -> TokenKeys {
        TokenKeys::new(&[[secret; 32]]).unwrap()
    }

    #[test]
    fn signed_tokens_verify() {
        assert_eq!(
            keys(1).sign_for(&SessionId::generate(), "g").len(),
            22 + 3 + TAG_LEN
        );
        let k = keys(1);
        let id = SessionId::generate();
        let token = k.sign(&id);
        assert_eq!(token.len(), 22 + 1 + TAG_LEN);
        assert_eq!(k.verify(&token), Ok(id));
    }

    #[test]
    fn forged_tampered_and_malformed_tokens_fail() {
        let k = keys(1);
        let id = SessionId::generate();
        let token = k.sign(&id);
        // Another key's token.
        assert_eq!(keys(2).verify(&token), Err(TokenError::BadSignature));
        // Tampered ID, same tag.
        let (_, tag) = token.split_once('.').unwrap();
        let other = SessionId::generate();
        assert_eq!(
            k.verify(&format!("{other}.{tag}")),
            Err(TokenError::BadSignature)
        );
        // Tampered tag.
        let mut bad = token.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            k.verify(std::str::from_utf8(&bad).unwrap()),
            Err(TokenError::BadSignature)
        );
        for junk in [
            "",
            ".",
            "abc",
            "abc.def",
            &format!("{id}."),
            "a b.c",
            &"x".repeat(5000),
        ] {
            assert_eq!(k.verify(junk), Err(TokenError::Malformed), "{junk:?}");
        }
        // An unsigned bare ID is never adopted.
        assert_eq!(k.verify(&id), Err(TokenError::Malformed));
    }

    #[test]
    fn old_keys_still_verify_and_new_tokens_use_the_first() {
        let old = keys(1);
        let id = SessionId::generate();
        let old_token = old.sign(&id);
        let rotated = TokenKeys::new(&[[2u8; 32], [1u8; 32]]).unwrap();
        assert_eq!(rotated.verify(&old_token), Ok(id.clone()));
        assert_eq!(keys(2).verify(&rotated.sign(&id)), Ok(id));
    }

    #[test]
    fn tokens_carry_their_guest_and_cannot_be_moved_to_another() {
        let k = keys(1);
        let id = SessionId::parse("a.b").unwrap();
        let token = k.sign_for(&id, "cart.v2");
        assert!(token.starts_with("a.b:cart.v2."), "{token}");
        assert_eq!(
            k.open(&token),
            Ok(Claims {
                id: id.clone(),
                guest: Some("cart.v2".into())
            })
        );
        assert_eq!(k.verify(&token), Ok(id.clone()));
        // The same tag with another guest, or read as a first-format token, fails.
        let tag = token.rsplit_once('.').unwrap().1;
        assert_eq!(
            k.open(&format!("a.b:counter.{tag}")),
            Err(TokenError::BadSignature)
        );
        assert_eq!(k.open(&format!("a.b.{tag}")), Err(TokenError::BadSignature));
        // First-format tokens still verify, with no guest.
        assert_eq!(k.open(&k.sign(&id)), Ok(Claims { id, guest: None }));
        for junk in ["a:.x", ":g.x", "a:b c.x", "a:b:c.x"] {
            let junk = format!("{}{}", &junk[..junk.len() - 1], tag);
            assert_eq!(k.open(&junk), Err(TokenError::Malformed), "{junk}");
        }
    }

    #[test]
    fn the_header_wins_over_cookies_and_the_named_cookie_is_found() {
        let cookies = [&b"a=1; sid=abc.def"[..], b"sid=later"];
        assert_eq!(
            request_token(None, cookies, "sid").as_deref(),
            Some("abc.def")
        );
        assert_eq!(
            request_token(Some(b"tok\xff"), cookies, "sid").as_deref(),
            Some("tok\u{fffd}")
        );
        assert_eq!(request_token(None, [&b"\xff=1"[..]], "sid"), None);
        assert_eq!(request_token(None, [&b"other=1"[..]], "sid"), None);
    }

    #[test]
    fn short_keys_are_refused() {
        let short = TokenKeys::new(&[&[1u8; 32][..], &[0u8; 16][..]]).unwrap_err();
        assert_eq!(short, KeyError::TooShort { index: 1, len: 16 });
        assert!(short.to_string().contains("at least 32"), "{short}");
        assert_eq!(TokenKeys::new::<&[u8]>(&[]).unwrap_err(), KeyError::NoKeys);
    }
}
