//! Message codecs: how typed Rust values become the bytes that cross the WIT.
//!
//! A session picks one codec for everything it exchanges with the host: init
//! args, calls, replies, casts, the events it publishes and the messages it
//! schedules with [`ctx::send_after`](crate::ctx::send_after). [`Json`] is the
//! default because guests written in other languages speak it too; `Bincode`
//! (cargo feature `bincode`) is smaller and faster for Rust-to-Rust protocols.
//!
//! Invariant shared by every codec: an **empty** input decodes exactly as the
//! JSON text `null` would, so `()` and `Option<T>` accept "no bytes" (the host
//! passes empty init args when `Host::start` was given none).
//!
//! The [`Codec`] trait is sealed: the set of codecs is closed so that
//! [`ctx`](crate::ctx) can encode with the session's codec without knowing it
//! at compile time.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes and decodes messages. Implemented by [`Json`] and `Bincode` only.
///
/// Errors are `String`s because they end up in a `result<_, string>` of the
/// WIT contract.
pub trait Codec: sealed::Sealed + 'static {
    /// Short lowercase name, used in error messages (`"json"`, `"bincode"`).
    const NAME: &'static str;

    /// Which codec this is, so [`ctx`](crate::ctx) can pick it at run time.
    #[doc(hidden)]
    const ID: CodecId;

    /// Encodes `value`.
    ///
    /// # Errors
    /// When `value` cannot be represented (a map with non-string keys in JSON,
    /// a `Serialize` impl that fails...).
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String>;

    /// Decodes a `T` from `bytes`; empty `bytes` decode as JSON `null` would.
    ///
    /// # Errors
    /// When `bytes` are not a valid encoding of a `T`, or have trailing bytes.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String>;
}

/// Run-time tag of a [`Codec`]; an implementation detail of [`crate::ctx`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecId {
    /// [`Json`].
    Json,
    /// [`Bincode`].
    #[cfg(feature = "bincode")]
    Bincode,
}

impl CodecId {
    /// Encodes `value` with the codec this tag names.
    pub(crate) fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, String> {
        match self {
            CodecId::Json => Json::encode(value),
            #[cfg(feature = "bincode")]
            CodecId::Bincode => Bincode::encode(value),
        }
    }
}

/// Decodes an empty input as the JSON text `null` would.
fn decode_empty<T: DeserializeOwned>() -> Result<T, String> {
    serde_json::from_slice(b"null").map_err(|e| format!("empty message: {e}"))
}

/// JSON through `serde_json`: the default, interoperable codec.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Json;

impl sealed::Sealed for Json {}

impl Codec for Json {
    const NAME: &'static str = "json";
    const ID: CodecId = CodecId::Json;

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        if bytes.is_empty() {
            return decode_empty();
        }
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// bincode 2 (standard configuration: little endian, variable-length
/// integers) through serde. Compact and fast, but only Rust guests and hosts
/// that share the Rust types can read it. Needs the cargo feature `bincode`.
///
/// bincode is not self-describing, so serde features that need
/// `deserialize_any` do not work with it: internally tagged
/// (`#[serde(tag = "...")]`), adjacently tagged and untagged enums,
/// `#[serde(flatten)]`, `serde_json::Value`. Use externally tagged enums.
#[cfg(feature = "bincode")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bincode;

#[cfg(feature = "bincode")]
impl sealed::Sealed for Bincode {}

#[cfg(feature = "bincode")]
impl Codec for Bincode {
    const NAME: &'static str = "bincode";
    const ID: CodecId = CodecId::Bincode;

    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
        bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
        if bytes.is_empty() {
            return decode_empty();
        }
        // bincode allocates a string or byte buffer of the length the message claims before
        // reading it: without a limit, 10 bytes claiming 2^60 bytes panic (found by
        // `fuzz/fuzz_targets/guest_codec.rs`), and a few bytes claiming megabytes exhaust a
        // small guest's memory (a trap). The limit is the smallest of a few sizes that is at
        // least 16 times the input, so a message can make the guest allocate no more than
        // that: through serde, everything bincode claims is a string or byte length, which a
        // valid message holds in full.
        let (value, read) = match bytes.len() {
            0..=0x1000 => decode_limited::<T, 0x1_0000>(bytes),
            0x1001..=0x1_0000 => decode_limited::<T, 0x10_0000>(bytes),
            0x1_0001..=0x10_0000 => decode_limited::<T, 0x100_0000>(bytes),
            _ => decode_limited::<T, 0x1000_0000>(bytes),
        }?;
        if read != bytes.len() {
            return Err(format!("{} trailing bytes", bytes.len() - read));
        }
        Ok(value)
    }
}

/// bincode decoding that claims at most `LIMIT` bytes (see [`Bincode::decode`]).
#[cfg(feature = "bincode")]
fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
) -> Result<(T, usize), String> {
    let config = bincode::config::standard().with_limit::<LIMIT>();
    bincode::serde::decode_from_slice(bytes, config).map_err(|e| e.to_string())
}

mod sealed {
    //! Keeps [`Codec`](super::Codec) closed to the codecs of this crate.

    /// Implemented by the crate's codecs only.
    pub trait Sealed {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "op", rename_all = "snake_case")]
    enum Msg {
        Incr { by: Option<i64> },
        Get,
    }

    /// Externally tagged: the only enum representation bincode supports.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Plain {
        Add { sku: String, qty: u32 },
        Clear,
    }

    fn round_trip<C: Codec>() {
        let add = Plain::Add {
            sku: "a-1".into(),
            qty: 3,
        };
        for msg in [add, Plain::Clear] {
            let bytes = C::encode(&msg).expect("encode");
            assert_eq!(C::decode::<Plain>(&bytes).expect("decode"), msg);
        }
        let state = (Some(-5_i64), vec![1_u8, 2], String::from("s"));
        let bytes = C::encode(&state).expect("encode");
        assert_eq!(
            C::decode::<(Option<i64>, Vec<u8>, String)>(&bytes),
            Ok(state)
        );
    }

    fn empty_is_null<C: Codec>() {
        assert_eq!(C::decode::<()>(b""), Ok(()));
        assert_eq!(C::decode::<Option<u32>>(b""), Ok(None));
        let err = C::decode::<Plain>(b"").expect_err("an enum is not null");
        assert!(err.starts_with("empty message: "), "{err}");
    }

    #[test]
    fn json_round_trip() {
        round_trip::<Json>();
        for msg in [Msg::Incr { by: Some(-3) }, Msg::Incr { by: None }, Msg::Get] {
            let bytes = Json::encode(&msg).expect("encode");
            assert_eq!(Json::decode::<Msg>(&bytes).expect("decode"), msg);
        }
    }

    #[test]
    fn json_wire_format_is_plain_json() {
        assert_eq!(
            Json::encode(&Msg::Incr { by: Some(2) }),
            Ok(br#"{"op":"incr","by":2}"#.to_vec())
        );
        let decoded: Msg = Json::decode(br#"{"op":"incr"}"#).expect("absent option");
        assert_eq!(decoded, Msg::Incr { by: None });
    }

    #[test]
    fn json_empty_is_null() {
        empty_is_null::<Json>();
    }

    #[test]
    fn json_decode_errors_are_readable() {
        let err = Json::decode::<Msg>(br#"{"op":"nope"}"#).expect_err("unknown variant");
        assert!(err.contains("unknown variant `nope`"), "{err}");
        let err = Json::decode::<Msg>(b"{not json").expect_err("syntax");
        assert!(err.contains("line 1"), "{err}");
        assert!(Json::decode::<Msg>(br#"{"op":"get"} trailing"#).is_err());
    }

    #[test]
    fn codec_id_encodes_like_its_codec() {
        assert_eq!(CodecId::Json.encode(&Msg::Get), Json::encode(&Msg::Get));
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_round_trip() {
        round_trip::<Bincode>();
        assert_eq!(CodecId::Bincode.encode(&7_u32), Bincode::encode(&7_u32));
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_lengths_beyond_the_input_are_refused_without_allocating() {
        // A string claiming ~2^64 bytes: a capacity-overflow panic before the limit (found
        // by the guest_codec fuzz target, as a map key).
        let crash = b"\xfd\xff\xff\xff\xfd\xff\xff\xff\xff";
        let err = Bincode::decode::<String>(crash).expect_err("a length beyond the input");
        assert!(err.to_lowercase().contains("limit"), "{err}");
        // A short message claiming a megabyte string is refused by the limit, not allocated.
        let mut claim = Bincode::encode(&"y".repeat(1 << 20)).unwrap();
        claim.truncate(16);
        let err = Bincode::decode::<String>(&claim).expect_err("a claim beyond the limit");
        assert!(err.to_lowercase().contains("limit"), "{err}");
        // A large valid message still decodes.
        let big = "x".repeat(200_000);
        assert_eq!(
            Bincode::decode::<String>(&Bincode::encode(&big).unwrap()),
            Ok(big)
        );
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_empty_is_null() {
        empty_is_null::<Bincode>();
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_rejects_garbage_and_trailing_bytes() {
        let mut bytes = Bincode::encode(&5_u8).expect("encode");
        bytes.push(0);
        let err = Bincode::decode::<u8>(&bytes).expect_err("trailing");
        assert_eq!(err, "1 trailing bytes");
        assert!(Bincode::decode::<String>(&[200]).is_err());
    }
}
