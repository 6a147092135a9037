//! Fuzzes what a client controls before any session is touched: the session header or
//! `Cookie` headers (`request_token`), the token verifier (`TokenKeys::open`, both token
//! formats) and session-ID
//! validation (`SessionId::parse`).
//!
//! Checked on every input, beyond "no panic": a token that verifies is exactly the token the
//! host would sign for that ID (no second spelling of a tag is accepted), and a token signed
//! with an unknown key never verifies; an ID that parses is 1–64 unreserved characters and
//! round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessionhost_wire::{SessionId, TokenKeys};

fuzz_target!(|data: &[u8]| {
    let keys = TokenKeys::new(&[[7u8; 32], [9u8; 32]]).expect("valid keys");
    let stranger = TokenKeys::new(&[[1u8; 32]]).expect("valid keys");

    // The first byte picks where the rest comes from, as the layer would see it.
    let (how, rest) = data.split_first().unwrap_or((&0, &[]));
    let token = match how % 3 {
        0 => sessionhost_wire::token::request_token(Some(rest), [], "sid"),
        1 => sessionhost_wire::token::request_token(None, rest.split(|b| *b == b'\n'), "sid"),
        _ => Some(String::from_utf8_lossy(rest).into_owned()),
    };
    if let Some(token) = token {
        if let Ok(claims) = keys.open(&token) {
            let canonical = match &claims.guest {
                Some(guest) => keys.sign_for(&claims.id, guest),
                None => keys.sign(&claims.id),
            };
            assert_eq!(canonical, token, "a verified token is the canonical one");
            assert_eq!(keys.verify(&token), Ok(claims.id));
            assert!(
                stranger.verify(&token).is_err(),
                "another key's tokens never verify"
            );
        }
    }

    let text = String::from_utf8_lossy(rest);
    if let Ok(id) = SessionId::parse(&text) {
        assert!(!id.is_empty() && id.len() <= SessionId::MAX_LEN);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        );
        assert_eq!(id.as_str(), text);
        // Every valid ID signs into a token that verifies back to it.
        assert_eq!(keys.verify(&keys.sign(&id)), Ok(id.clone()));
        // And, as a guest name, into a second-format token that says so.
        let claims = keys.open(&keys.sign_for(&id, &text)).expect("verifies");
        assert_eq!((claims.id, claims.guest.as_deref()), (id, Some(&*text)));
    }
});
