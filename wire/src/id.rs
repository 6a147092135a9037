//! Session IDs: how they are made and which ones are accepted.
//!
//! A generated ID is 128 bits from a CSPRNG — rand's `ThreadRng` (ChaCha12, seeded from the
//! operating system and periodically reseeded; no system call per ID) — written as 22
//! characters of unpadded URL-safe base64, so it can go in a URL, a cookie or a header untouched. IDs chosen
//! by the application (one session per user or per room, say) are accepted when they are 1 to
//! [`SessionId::MAX_LEN`] characters of the URL "unreserved" set `A-Z a-z 0-9 - . _ ~`;
//! anything else is an [`IdError`] (the host's `invalid_session_id`). IDs are stored inline (no heap allocation) up to 23
//! bytes, which covers every generated ID.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use smol_str::SmolStr;

/// Why an ID was refused: it names the rule broken, never echoes the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid session id: {reason}")]
pub struct IdError {
    /// Which rule the ID breaks.
    pub reason: &'static str,
}

/// The ID of a session. Cheap to clone; compares and hashes as its text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(SmolStr);

impl SessionId {
    /// Longest accepted ID, in characters.
    pub const MAX_LEN: usize = 64;

    /// A new random ID: 128 bits from a CSPRNG seeded by the OS, 22 URL-safe characters.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let mut text = [0u8; 22];
        let n = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("22 bytes hold 16 bytes of base64");
        let text = std::str::from_utf8(&text[..n]).expect("base64 is ascii");
        Self(SmolStr::new_inline(text))
    }

    /// Validates an ID chosen by the application.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        validate(text)?;
        Ok(Self(SmolStr::new(text)))
    }

    /// Checks `text` against the rules of [`parse`](Self::parse) without building an ID.
    pub fn validate(text: &str) -> Result<(), IdError> {
        validate(text)
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(text: &str) -> Result<(), IdError> {
    if text.is_empty() {
        return Err(IdError { reason: "empty" });
    }
    if text.len() > SessionId::MAX_LEN {
        return Err(IdError {
            reason: "longer than 64 characters",
        });
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(IdError {
            reason: "only A-Z a-z 0-9 - . _ ~ are allowed",
        });
    }
    Ok(())
}

impl FromStr for SessionId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Deref for SessionId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({})", self.0)
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_ids_are_22_url_safe_chars_and_unique() {
        let ids: HashSet<_> = (0..10_000).map(|_| SessionId::generate()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in ids.iter().take(100) {
            assert_eq!(id.len(), 22);
            SessionId::parse(id).expect("a generated id is valid");
        }
    }

    #[test]
    fn generated_ids_carry_128_random_bits() {
        // Each ID decodes to 16 bytes, and over 4 096 IDs every one of the 128 bits is set
        // about half the time (a stuck or biased bit, or a shorter source, would show).
        let mut ones = [0u32; 128];
        for _ in 0..4096 {
            let raw = URL_SAFE_NO_PAD
                .decode(SessionId::generate().as_str())
                .expect("base64");
            assert_eq!(raw.len(), 16);
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += u32::from(raw[bit / 8] >> (bit % 8) & 1);
            }
        }
        for (bit, count) in ones.iter().enumerate() {
            assert!((1800..=2300).contains(count), "bit {bit} set {count} times");
        }
    }

    #[test]
    fn application_ids_are_validated() {
        assert!(SessionId::parse("room-42").is_ok());
        assert!(SessionId::parse("user_7.cart~a").is_ok());
        assert_eq!(SessionId::parse("").unwrap_err().reason, "empty");
        assert!(SessionId::parse("has space").is_err());
        assert!(SessionId::parse("slash/x").is_err());
        assert!(SessionId::parse("é").is_err());
        assert!(SessionId::parse(&"a".repeat(64)).is_ok());
        assert!(SessionId::parse(&"a".repeat(65)).is_err());
    }
}
